"""`--vary FIELD=V1,V2,...`: the lanes of a comparison, one for each combination of the values given.

Why: a sweep is how a learner asks "which lr?" or "is Adam better here?" in one command. Each value is
checked by the same check its own option uses, so `--vary lr=abc` is refused as `--lr abc` is. Torch-free,
so the command line refuses a bad value before torch loads. A value that is a list itself (an init, the layers
of an mlp) is separated from the next by `;`: `init=1,2,3;0,0,0` is two lanes, `hidden=8;8,4` a lane of one
layer of 8 and one of layers of 8 and 4 (`hidden=8,16` stays two one-layer lanes).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from gdtui.engine.config import CHECKS, OPTIMIZER_SETTINGS, ConfigError, RunConfig, check_combination, check_lanes

# The settings a lane may hold apart from the others (every field of RunConfig but DATA_FIELDS, which the
# lanes share), in the order the lanes table and `gdtui run` say what sets a lane apart. `--vary` takes these.
LANE_FIELDS = (
    "optimizer",
    "lr",
    "schedule",
    "momentum",
    "loss",
    "epochs",
    "accumulate_grad",
    "model",
    "degree",
    "bias",
    "standardize",
    "target_rmse",
    "patience",
    "batch_size",
    "shuffle",
    "hidden",
    "activation",
    "init",
    *OPTIMIZER_SETTINGS,
)
VARY_FIELDS = LANE_FIELDS
# values that are lists themselves: V1;V2 separates them (init, betas: always)
LIST_FIELDS = ("init", "hidden", "betas")
BOOLEAN_FIELDS = ("accumulate_grad", "bias", "shuffle", "standardize", "centered")
_BOOLEAN = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def _check(field: str, text: str) -> Any:
    if field in BOOLEAN_FIELDS:
        value = _BOOLEAN.get(text.strip().lower())
        if value is None:
            raise ConfigError(field, f"{text!r} is not true or false")
        return value
    return CHECKS[field](text)


def _split(spec: str) -> tuple[str, list[str]]:
    """`FIELD=V1,V2,...` as the field and its values' texts, unchecked (cheap: a product is counted on these)."""
    name, sep, values = spec.partition("=")
    field = name.strip().lower().replace("-", "_")
    if not sep or not field:
        raise ConfigError("vary", f"{spec!r}: give FIELD=V1,V2,... (for example lr=1e-5,2e-5)")
    if field not in VARY_FIELDS:
        shown = ", ".join(f.replace("_", "-") for f in VARY_FIELDS)
        raise ConfigError("vary", f"{spec!r}: {name.strip()} is not a lane setting; vary one of {shown}")
    split = ";" if field in ("init", "betas") or (field in LIST_FIELDS and ";" in values) else ","
    if field == "schedule":  # a schedule holds commas: `|` separates schedules
        split = "|"
    texts = values.split(split)
    if not values.strip() or any(not text.strip() for text in texts):
        raise ConfigError("vary", f"{spec!r}: a value is missing")
    return field, texts


def _checked(field: str, texts: list[str]) -> list[Any]:
    checked = []
    for text in texts:
        try:
            checked.append(_check(field, text))
        except ConfigError as error:
            raise ConfigError("vary", f"{field.replace('_', '-')}={text.strip()}: {error.message}") from None
    return checked


def parse_vary(spec: str) -> tuple[str, list[Any]]:
    """`FIELD=V1,V2,...` as the field and its checked values; ConfigError("vary", ...) names what is wrong."""
    field, texts = _split(spec)
    return field, _checked(field, texts)


def lane_configs(base: RunConfig, specs: list[str]) -> list[tuple[str, RunConfig]]:
    """One (label, config) per combination of the varied values (a product, in the order given), each
    checked as a run; the label says what sets the lane apart ("lr 2e-05, adam"). The product is counted
    before any value is checked or any lane built: past MAX_LANES it is refused at once."""
    split = [_split(spec) for spec in specs]
    fields = [field for field, _ in split]
    if len(set(fields)) != len(fields):
        raise ConfigError("vary", f"{next(f for f in fields if fields.count(f) > 1)} is varied twice")
    counts = [len(texts) for _, texts in split]
    check_lanes(math.prod(counts), "vary", f" ({' x '.join(map(str, counts))})" if len(counts) > 1 else "")
    axes = [(field, _checked(field, texts)) for field, texts in split]
    lanes = []
    for combo in itertools.product(*(values for _, values in axes)):
        changes = dict(zip(fields, combo))
        label = ", ".join(lane_label(field, value) for field, value in changes.items())
        try:
            config = check_combination(base.replace(**changes))
        except ConfigError as error:
            raise ConfigError("vary", f"lane {label}: {error.message}") from None
        lanes.append((label, config))
    return lanes


def lane_label(field: str, value: Any) -> str:
    """How a lane's setting reads where lanes are told apart: "adam", "lr 2e-05", "no-bias"..."""
    name = field.replace("_", "-")
    if field == "init" and value is not None:  # V1,V2,... or, named, NAME=V,...
        named = bool(value) and isinstance(value[0], tuple)
        return "init " + ",".join(f"{v[0]}={v[1]:g}" if named else f"{v:g}" for v in value)
    if field in ("hidden", "betas") and value is not None:
        return f"{field} " + ",".join(f"{v:g}" for v in value)
    if field == "centered" and value is not None:
        return "centered" if value else "not centered"
    if value is None:
        return f"no {name}"
    if field == "schedule":
        from gdtui.engine.schedules import spec

        return f"schedule {spec(value)}"
    if field in ("optimizer", "loss", "model", "activation"):
        return str(value)
    if field == "accumulate_grad":
        return "accumulate-grad" if value else "zero-grad"
    if field == "bias":
        return "bias" if value else "no-bias"
    if field == "shuffle":
        return "shuffle" if value else "no-shuffle"
    if field == "standardize":
        return "standardized" if value else "raw"
    return f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"
