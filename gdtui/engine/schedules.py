"""Learning-rate schedules: `--schedule SPEC`, torch.optim.lr_scheduler's own classes and argument names.

Why: a schedule is how a learner sees warm-up, decay and restarts change a descent; gdtui builds torch's own
schedulers, so a run's lrs are torch's to the bit. A spec reads `NAME:ARG=V,ARG=V` (`step:step_size=30,gamma=0.1`,
`multistep:milestones=30/80`); `A+B` chains schedules as SequentialLR does, each milestone at the end of the one
before. A config holds a schedule as a tuple of (name, ((arg, value), ...)) parts: hashable, torch-free.
The parsing and checks are torch-free; `build` imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from gdtui.engine.bounds import MAX_EPOCHS, MAX_LR, ConfigError

Part = tuple[str, tuple[tuple[str, Any], ...]]
Schedule = tuple[Part, ...]
REQUIRED = object()  # an argument without a default
FIELD = "schedule"


def _int(low: int) -> Callable[[str, Any], int]:
    def check(arg: str, value: Any) -> int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"{arg}={value!r} is not a whole number")
        if isinstance(value, float):
            value = int(value)
        try:
            number = int(str(value).strip(), 10)
        except ValueError:
            raise ValueError(f"{arg}={value!r} is not a whole number") from None
        if not low <= number <= MAX_EPOCHS:
            raise ValueError(f"{arg} must be between {low} and {MAX_EPOCHS:,} (got {value})")
        return number

    return check


def _float(low: float, high: float, low_open: bool = False, high_open: bool = False) -> Callable[[str, Any], float]:
    def check(arg: str, value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError(f"{arg}={value!r} is not a number")
        try:
            number = float(str(value).strip())
        except ValueError:
            raise ValueError(f"{arg}={value!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{arg}={value} is not a finite number")
        below = number <= low if low_open else number < low
        above = number >= high if high_open else number > high
        if below or above:
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            raise ValueError(f"{arg} must be in {left}{low:g}, {high:g}{right} (got {value})")
        return number

    return check


def _milestones(arg: str, value: Any) -> tuple[int, ...]:
    parts = list(value) if isinstance(value, (list, tuple)) else str(value).split("/")
    if not parts or any(not str(p).strip() for p in parts):
        raise ValueError(f"{arg}={value!r}: give epochs separated by / (30/80)")
    numbers = tuple(_int(1)(arg, p) for p in parts)
    if list(numbers) != sorted(set(numbers)):
        raise ValueError(f"{arg}={value!r}: the epochs must increase")
    return numbers


def _choice(*choices: str) -> Callable[[str, Any], str]:
    def check(arg: str, value: Any) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"{arg}={value!r} is not one of {', '.join(choices)}")
        return text

    return check


def _bool(arg: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"{arg}={value!r} is not true or false")


BIG = 1e12
POSITIVE = _float(0, BIG, low_open=True)
NONNEGATIVE = _float(0, BIG)
FRACTION = _float(0, 1, low_open=True, high_open=True)
MOMENTUM = _float(0, 1, high_open=True)

# name: (torch's class, {argument: (check, default or REQUIRED)}); a default None is torch's own (or, for
# cosine's T_max, the epochs the schedule has left in the run)
SCHEDULES: dict[str, tuple[str, dict[str, tuple[Callable[[str, Any], Any], Any]]]] = {
    "step": ("StepLR", {"step_size": (_int(1), REQUIRED), "gamma": (POSITIVE, None)}),
    "multistep": ("MultiStepLR", {"milestones": (_milestones, REQUIRED), "gamma": (POSITIVE, None)}),
    "exponential": ("ExponentialLR", {"gamma": (POSITIVE, REQUIRED)}),
    "cosine": ("CosineAnnealingLR", {"T_max": (_int(1), None), "eta_min": (NONNEGATIVE, None)}),
    "cosine-restarts": (
        "CosineAnnealingWarmRestarts",
        {"T_0": (_int(1), REQUIRED), "T_mult": (_int(1), None), "eta_min": (NONNEGATIVE, None)},
    ),
    "linear-warmup": (
        "LinearLR",
        {
            "start_factor": (_float(0, 1, low_open=True), None),
            "end_factor": (_float(0, 1), None),
            "total_iters": (_int(1), None),
        },
    ),
    "onecycle": (
        "OneCycleLR",
        {
            "max_lr": (_float(0, MAX_LR, low_open=True), REQUIRED),
            "pct_start": (FRACTION, None),
            "anneal_strategy": (_choice("cos", "linear"), None),
            "div_factor": (POSITIVE, None),
            "final_div_factor": (POSITIVE, None),
            "three_phase": (_bool, None),
            "base_momentum": (MOMENTUM, None),
            "max_momentum": (MOMENTUM, None),
        },
    ),
    "plateau": (
        "ReduceLROnPlateau",
        {
            "factor": (FRACTION, None),
            "patience": (_int(0), None),
            "threshold": (NONNEGATIVE, None),
            "threshold_mode": (_choice("rel", "abs"), None),
            "cooldown": (_int(0), None),
            "min_lr": (NONNEGATIVE, None),
            "eps": (NONNEGATIVE, None),
        },
    ),
}
ALONE = ("onecycle", "plateau")  # never in a chain: stepped per batch, or on the loss
LINEAR_WARMUP_ITERS = 5  # torch's LinearLR default total_iters


def _part(name: str, given: dict[str, Any]) -> Part:
    key = name.strip().lower()
    if key not in SCHEDULES:
        raise ConfigError(FIELD, f"{name.strip()!r} is not a schedule: use {', '.join(SCHEDULES)}")
    args = SCHEDULES[key][1]
    out: list[tuple[str, Any]] = []
    for arg in given:
        if arg not in args:
            raise ConfigError(FIELD, f"{key}: unknown argument {arg!r} (it takes {', '.join(args)})")
    for arg, (check, default) in args.items():
        if arg in given:
            try:
                out.append((arg, check(arg, given[arg])))
            except ValueError as error:
                raise ConfigError(FIELD, f"{key}: {error}") from None
        elif default is REQUIRED:
            raise ConfigError(FIELD, f"{key}: the argument {arg} is required ({key}:{arg}=...)")
    return key, tuple(out)


def _spec_part(text: str) -> Part:
    name, _, rest = text.partition(":")
    if not name.strip():
        raise ConfigError(FIELD, f"{text!r}: give NAME or NAME:ARG=V,... (for example step:step_size=30)")
    given: dict[str, Any] = {}
    if rest.strip():
        for item in rest.split(","):
            arg, sep, value = item.partition("=")
            if not sep or not arg.strip() or not value.strip():
                raise ConfigError(FIELD, f"{name.strip()}: {item.strip()!r} is not ARG=VALUE")
            if arg.strip() in given:
                raise ConfigError(FIELD, f"{name.strip()}: {arg.strip()} is given twice")
            given[arg.strip()] = value.strip()
    return _part(name, given)


def _table_part(table: Any) -> Part:
    if not isinstance(table, dict) or not isinstance(table.get("name"), str):
        raise ConfigError(FIELD, f'{table!r} is not a table {{name = "step", step_size = 30, ...}}')
    given = {k: v for k, v in table.items() if k != "name"}
    return _part(table["name"], given)


def _chained(parts: list[Part]) -> Schedule:
    if len(parts) > 1:
        for name, _ in parts:
            if name in ALONE:
                raise ConfigError(FIELD, f"{name} cannot be chained with other schedules")
        for name, args in parts[:-1]:
            if _length(name, dict(args)) is None:
                raise ConfigError(
                    FIELD, f"{name} has no end: only the last schedule of a chain may be {name} (a cosine needs T_max)"
                )
    return tuple(parts)


def check_schedule(value: object) -> Schedule | None:
    """A spec (`step:step_size=30,gamma=0.1`, chained with `+`), a TOML table or array of tables, a schedule
    already checked, or "none"; ConfigError("schedule", ...) names the argument at fault."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ConfigError(FIELD, "give NAME or NAME:ARG=V,... (for example cosine:T_max=100)")
        if text.lower() == "none":
            return None
        return _chained([_spec_part(p) for p in text.split("+")])
    if isinstance(value, dict):
        return _chained([_table_part(value)])
    if isinstance(value, (list, tuple)) and value:
        if all(isinstance(v, dict) for v in value):
            return _chained([_table_part(v) for v in value])
        if all(isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) for v in value):
            return _chained([_part(name, dict(args)) for name, args in value])
    raise ConfigError(FIELD, f"{value!r} is not a schedule")


def _length(name: str, args: dict[str, Any]) -> int | None:
    """The epochs a part of a chain lasts (None: it never ends)."""
    if name == "linear-warmup":
        return int(args.get("total_iters", LINEAR_WARMUP_ITERS))
    if name == "cosine":
        return args.get("T_max")
    return None


def spec(schedule: Schedule | None) -> str:
    """The schedule as `--schedule` takes it ("none" for none), read back to the same schedule: a number as short
    as it reads back exactly (gamma=0.5, gamma=0.123456789)."""
    if not schedule:
        return "none"
    return "+".join(
        name + (":" + ",".join(f"{a}={_text(v)}" for a, v in args) if args else "") for name, args in schedule
    )


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return "/".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{value:g}"
        return text if float(text) == value else repr(value)
    return str(value)


def tables(schedule: Schedule) -> list[dict[str, Any]]:
    """The schedule as TOML tables ({name = ..., arg = value}), one a part."""
    return [{"name": name, **{a: list(v) if isinstance(v, tuple) else v for a, v in args}} for name, args in schedule]


def check_with(schedule: Schedule | None, optimizer: str) -> None:
    """What a schedule refuses of the run: onecycle with adagrad (it has no momentum to cycle)."""
    if schedule and schedule[0][0] == "onecycle" and optimizer == "adagrad":
        raise ConfigError(FIELD, "onecycle is refused for adagrad (use another optimizer or schedule)")


def cycles_momentum(optimizer: str, momentum: float) -> bool:
    """Whether onecycle cycles this optimizer's momentum: those that have one (adam's beta1, sgd's and rmsprop's
    momentum when above 0, nesterov's)."""
    return optimizer in ("adam", "adamw", "nesterov") or (optimizer in ("sgd", "rmsprop") and momentum > 0)


def arguments(name: str, args: tuple[tuple[str, Any], ...], epochs: int, offset: int) -> dict[str, Any]:
    """The keyword arguments of torch's class for a part that starts `offset` epochs into a run of `epochs`."""
    kwargs = {a: list(v) if isinstance(v, tuple) else v for a, v in args}
    if name == "cosine" and "T_max" not in kwargs:
        kwargs["T_max"] = max(1, epochs - offset)
    return kwargs


def build(schedule: Schedule, optimizer: Any, epochs: int, batches: int, optimizer_name: str, momentum: float) -> Any:
    """torch's scheduler for `schedule` over `optimizer` (a torch optimizer, or the stand-in of plain gd) in a
    run of `epochs` epochs of `batches` batches (onecycle's total steps: their product)."""
    from torch.optim import lr_scheduler

    if schedule[0][0] == "onecycle":
        kwargs = arguments(*schedule[0], epochs, 0)
        kwargs["cycle_momentum"] = cycles_momentum(optimizer_name, momentum)
        return lr_scheduler.OneCycleLR(optimizer, total_steps=epochs * batches, **kwargs)
    if schedule[0][0] == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, **arguments(*schedule[0], epochs, 0))
    parts, milestones, offset = [], [], 0
    for i, (name, args) in enumerate(schedule):
        if i:
            milestones.append(offset)
        cls = getattr(lr_scheduler, SCHEDULES[name][0])
        parts.append(cls(optimizer, **arguments(name, args, epochs, offset)))
        offset += _length(name, dict(args)) or 0
    if len(parts) == 1:
        return parts[0]
    return lr_scheduler.SequentialLR(optimizer, schedulers=parts, milestones=milestones)


def code(schedule: Schedule, optimizer: str, epochs: str, batches: str, optimizer_name: str, momentum: float) -> str:
    """The Python that builds the scheduler (`lr_scheduler` is torch.optim.lr_scheduler) as `build` does."""

    def call(cls: str, kwargs: dict[str, Any], extra: str = "") -> str:
        text = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        return f"lr_scheduler.{cls}({optimizer}{extra}{', ' + text if text else ''})"

    name = schedule[0][0]
    if name == "onecycle":
        kwargs = arguments(*schedule[0], 0, 0)
        kwargs["cycle_momentum"] = cycles_momentum(optimizer_name, momentum)
        return call("OneCycleLR", kwargs, f", total_steps={epochs} * {batches}")
    if name == "plateau":
        return call("ReduceLROnPlateau", arguments(*schedule[0], 0, 0))
    calls, milestones, offset = [], [], 0
    for i, (part, args) in enumerate(schedule):
        if i:
            milestones.append(offset)
        kwargs = {a: list(v) if isinstance(v, tuple) else v for a, v in args}
        if part == "cosine" and "T_max" not in kwargs:
            calls.append(call("CosineAnnealingLR", kwargs, f", T_max=max(1, {epochs} - {offset})"))
        else:
            calls.append(call(SCHEDULES[part][0], kwargs))
        offset += _length(part, dict(args)) or 0
    if len(calls) == 1:
        return calls[0]
    inner = "".join(f"        {c},\n" for c in calls)
    head = f"lr_scheduler.SequentialLR(\n    {optimizer},\n    schedulers=[\n{inner}    ],\n"
    return head + f"    milestones={milestones},\n)"
