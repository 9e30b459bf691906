"""Run configuration: one frozen value that says everything a run needs.

Why: the command line, the TUI and (later) several runs side by side all describe a run the same way, and
the same config with the same seed must give the same numbers everywhere. Every check a user's typed value
must pass lives here, once, torch-free, so the CLI's click types and the TUI's input validators share it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

MODELS = ("quadratic", "linear", "nn-linear", "poly")
LOSSES = ("mse", "l1", "huber")
OPTIMIZERS = ("gd", "sgd", "nesterov", "adam", "adamw", "rmsprop", "adagrad")
SYNTHETIC = ("linear", "quadratic", "cubic", "sine")
DATA_ARTICLE = "article"

MAX_EPOCHS = 1_000_000_000
MAX_POINTS = 10_000_000
MAX_DEGREE = 9
MAX_SEED = 2**63 - 1
MAX_LR = 1e6
MAX_NOISE = 1e12

_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class ConfigError(ValueError):
    """A value a user gave is not acceptable; `field` names the option at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run. Build one with `resolve()`; change one with `.replace()`."""

    preset: str = "fastai-quadratic"
    data: str = DATA_ARTICLE
    points: int = 20
    noise: float = 5.0
    model: str = "quadratic"
    degree: int = 2
    loss: str = "mse"
    optimizer: str = "gd"
    lr: float = 1e-5
    momentum: float | None = None
    epochs: int = 10
    seed: int = 2021
    device: str = "cpu"
    test_fraction: float = 0.0
    accumulate_grad: bool = False

    def replace(self, **changes: Any) -> RunConfig:
        return replace(self, **changes)

    @property
    def effective_momentum(self) -> float:
        if self.momentum is not None:
            return self.momentum
        return 0.9 if self.optimizer == "nesterov" else 0.0

    @property
    def uses_momentum(self) -> bool:
        return self.optimizer in ("sgd", "nesterov", "rmsprop")


# Fields a live run takes from its next epoch on.
LIVE_FIELDS = frozenset({"lr", "momentum", "epochs"})
# Fields a run (a branch) can switch between epochs, keeping its parameters.
SWITCH_FIELDS = frozenset({"optimizer", "loss", "accumulate_grad"})
# Fields that define the data (and the device it lives on): every lane of a race shares them.
DATA_FIELDS = ("preset", "data", "points", "noise", "seed", "device", "test_fraction")


def _stripped(field: str, text: object) -> object:
    if isinstance(text, str):
        text = text.strip()
        if not text:
            raise ConfigError(field, "a number is required")
    return text


def _number(field: str, text: object) -> float:
    text = _stripped(field, text)
    try:
        value = float(text)  # type: ignore[arg-type]  # whatever float() refuses is refused here
    except (TypeError, ValueError):
        raise ConfigError(field, f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise ConfigError(field, f"{text} is not a finite number")
    return value


def _whole(field: str, text: object) -> int:
    text = _stripped(field, text)
    try:
        return int(str(text), 10)
    except (TypeError, ValueError):
        raise ConfigError(field, f"{text!r} is not a whole number") from None


def check_lr(text: object) -> float:
    value = _number("lr", text)
    if not 0 < value <= MAX_LR:
        raise ConfigError("lr", f"must be > 0 and at most {MAX_LR:g} (got {text})")
    return value


def check_momentum(text: object) -> float:
    value = _number("momentum", text)
    if not 0 <= value < 1:
        raise ConfigError("momentum", f"must be in [0, 1) (got {text})")
    return value


def check_epochs(text: object) -> int:
    value = _whole("epochs", text)
    if not 1 <= value <= MAX_EPOCHS:
        raise ConfigError("epochs", f"must be between 1 and {MAX_EPOCHS:,} (got {text})")
    return value


def check_seed(text: object) -> int:
    value = _whole("seed", text)
    if not 0 <= value <= MAX_SEED:
        raise ConfigError("seed", f"must be between 0 and 2**63-1 (got {text})")
    return value


def check_points(text: object) -> int:
    value = _whole("points", text)
    if not 1 <= value <= MAX_POINTS:
        raise ConfigError("points", f"must be between 1 and {MAX_POINTS:,} (got {text})")
    return value


def check_noise(text: object) -> float:
    value = _number("noise", text)
    if not 0 <= value <= MAX_NOISE:
        raise ConfigError("noise", f"must be >= 0 and at most {MAX_NOISE:g} (got {text})")
    return value


def check_degree(text: object) -> int:
    value = _whole("degree", text)
    if not 1 <= value <= MAX_DEGREE:
        raise ConfigError("degree", f"must be between 1 and {MAX_DEGREE} (got {text})")
    return value


def check_test_fraction(text: object) -> float:
    value = _number("test_fraction", text)
    if not 0 <= value < 1:
        raise ConfigError("test_fraction", f"must be in [0, 1) (got {text})")
    return value


def check_device(text: object) -> str:
    value = str(text).strip().lower()
    if not _DEVICE_RE.match(value):
        raise ConfigError("device", f"{text!r} is not a device: use auto, cpu, cuda, cuda:N or mps")
    if value.startswith("cuda:"):
        value = f"cuda:{int(value[5:])}"  # cuda:01 is cuda:1 (torch.device refuses the leading zero)
    return value


def _choice(field: str, choices: tuple[str, ...]) -> Callable[[object], str]:
    def check(text: object) -> str:
        value = str(text).strip().lower()
        if value not in choices:
            raise ConfigError(field, f"{text!r} is not one of {', '.join(choices)}")
        return value

    return check


def check_data(text: object) -> str:
    value = str(text).strip()
    if not value:
        raise ConfigError("data", "give 'article', a synthetic function or a CSV file")
    if value.lower() in (DATA_ARTICLE, *SYNTHETIC):
        return value.lower()
    return value  # a CSV path; read and checked when the data is loaded


CHECKS: dict[str, Callable[[object], Any]] = {
    "lr": check_lr,
    "momentum": check_momentum,
    "epochs": check_epochs,
    "seed": check_seed,
    "points": check_points,
    "noise": check_noise,
    "degree": check_degree,
    "test_fraction": check_test_fraction,
    "device": check_device,
    "data": check_data,
    "model": _choice("model", MODELS),
    "loss": _choice("loss", LOSSES),
    "optimizer": _choice("optimizer", OPTIMIZERS),
}


def check_combination(config: RunConfig) -> RunConfig:
    """Checks that need several fields at once; returns the config unchanged or raises ConfigError."""
    if config.optimizer == "nesterov" and config.effective_momentum <= 0:
        raise ConfigError("momentum", "nesterov needs a momentum > 0")
    return config


def resolve(preset: str | None = None, **overrides: Any) -> RunConfig:
    """The config of `preset` with every non-None override applied and checked."""
    from gdtui.engine.presets import PRESETS

    name = preset or "fastai-quadratic"
    if name not in PRESETS:
        raise ConfigError("preset", f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    config = PRESETS[name].config
    known = {f.name for f in fields(RunConfig)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in known:
            raise ConfigError(key, f"unknown setting {key!r}")
        changes[key] = CHECKS[key](value) if key in CHECKS else value
    return check_combination(config.replace(**changes))
