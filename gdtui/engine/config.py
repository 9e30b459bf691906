"""Run configuration: one frozen value that says everything a run needs.

Why: the command line, the TUI and (later) several runs side by side all describe a run the same way, and
the same config with the same seed must give the same numbers everywhere. Every check a user's typed value
must pass lives here, once, torch-free, so the CLI's click types and the TUI's input validators share it.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

# the checks' bounds and error live in gdtui.engine.bounds (the schedules check against them): named here too
from gdtui.engine.bounds import FLOAT32_MAX as FLOAT32_MAX
from gdtui.engine.bounds import MAX_DEGREE as MAX_DEGREE
from gdtui.engine.bounds import MAX_EPOCHS as MAX_EPOCHS
from gdtui.engine.bounds import MAX_LANES as MAX_LANES
from gdtui.engine.bounds import MAX_LR as MAX_LR
from gdtui.engine.bounds import MAX_NOISE as MAX_NOISE
from gdtui.engine.bounds import MAX_POINTS as MAX_POINTS
from gdtui.engine.bounds import MAX_SEED as MAX_SEED
from gdtui.engine.bounds import ConfigError as ConfigError
from gdtui.engine.formula import Formula, FormulaError, parse

MODELS = ("quadratic", "linear", "nn-linear", "poly", "mlp")
ACTIVATIONS = ("tanh", "relu", "sigmoid")
MAX_HIDDEN = 1024  # units in a hidden layer
MAX_LAYERS = 8
LOSSES = ("mse", "sse", "l1", "huber")
OPTIMIZERS = ("gd", "sgd", "nesterov", "adam", "adamw", "rmsprop", "adagrad")
SYNTHETIC = ("linear", "quadratic", "cubic", "sine")
DTYPES = ("float32", "float64")
RNGS = ("split", "single")
X_RANGE = (-3.0, 3.0)  # synthetic data's x, unless --x-range says otherwise
DATA_ARTICLE = "article"

_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run. Build one with `gdtui.engine.presets.resolve()`; change one with `.replace()`."""

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
    # the optimizers' own settings, named as torch names them (None: torch's default; OPTIMIZER_SETTINGS says
    # which optimizer has which)
    betas: tuple[float, float] | None = None  # adam, adamw
    eps: float | None = None  # adam, adamw, rmsprop, adagrad
    alpha: float | None = None  # rmsprop
    centered: bool | None = None  # rmsprop
    dampening: float | None = None  # sgd (nesterov: 0 only, as torch says)
    weight_decay: float | None = None  # every torch optimizer (not gd)
    lr_decay: float | None = None  # adagrad
    initial_accumulator: float | None = None  # adagrad (torch's initial_accumulator_value)
    epochs: int = 10
    seed: int = 2021
    device: str = "cpu"
    test_fraction: float = 0.0
    accumulate_grad: bool = False
    x_range: tuple[float, float] | None = None  # synthetic data's x range (None: X_RANGE)
    bias: bool = True  # linear, nn-linear and poly: False drops the constant term
    init: tuple[float, ...] | None = None  # initial parameters in the order of the model's names (None: drawn)
    dtype: str = "float32"  # of the data and the parameters
    target_rmse: float | None = None  # stop once the RMSE is at or below it
    patience: int | None = None  # stop once the loss has not improved for this many epochs
    hidden: tuple[int, ...] = (16,)  # mlp: units of each hidden layer
    activation: str = "tanh"  # mlp: between the layers
    batch_size: int | None = None  # mini-batches of this many training points (None: the whole set at once)
    shuffle: bool = True  # with batches: reshuffled every epoch from the run's seed (False: the data's order)
    # the model trains on its design's non-constant columns standardised (mean 0, population std 1 over the
    # training points); its parameters are the standardised model's, its predictions in the data's units
    standardize: bool = False
    # an lr schedule (gdtui.engine.schedules): torch.optim.lr_scheduler's, as (name, ((arg, value), ...)) parts
    schedule: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] | None = None
    # the random draws: "split" seeds the data, the model and the batches' order each from the seed, as the
    # articles do; "single" seeds torch once and draws all of them from one stream in a tutorial's order
    rng: str = "split"

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


# The optimizers' own settings, and the optimizers that have each (torch's; gd, written out, has none).
OPTIMIZER_SETTINGS = {
    "betas": ("adam", "adamw"),
    "eps": ("adam", "adamw", "rmsprop", "adagrad"),
    "alpha": ("rmsprop",),
    "centered": ("rmsprop",),
    "dampening": ("sgd", "nesterov"),
    "weight_decay": ("sgd", "nesterov", "adam", "adamw", "rmsprop", "adagrad"),
    "lr_decay": ("adagrad",),
    "initial_accumulator": ("adagrad",),
}
# Fields a live run takes from its next epoch on (centered only before the first step: torch then builds the
# state it needs; initial_accumulator never, Adagrad's state is built with it).
LIVE_FIELDS = frozenset({"lr", "momentum", "epochs", *(set(OPTIMIZER_SETTINGS) - {"initial_accumulator"})})
# Fields a run (a branch) can switch between epochs, keeping its parameters.
SWITCH_FIELDS = frozenset({"optimizer", "loss", "accumulate_grad"})
# Fields that define the data (and the device it lives on): every lane of a race shares them.
DATA_FIELDS = ("preset", "data", "points", "noise", "seed", "device", "test_fraction", "x_range", "dtype", "rng")
# What every lane of a --rng single race shares besides: one model drawn (every lane starts from it) and one
# loader serving them all, its order drawn once from the stream the model left.
SINGLE_STREAM_FIELDS = ("batch_size", "shuffle", "model", "degree", "hidden", "activation", "bias", "init")


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


def _numbers(field: str, text: object) -> tuple[float, ...]:
    if isinstance(text, (tuple, list)):
        return tuple(_number(field, v) for v in text)
    parts = str(text).split(",")
    if not str(text).strip() or any(not p.strip() for p in parts):
        raise ConfigError(field, f"{text!r}: give numbers separated by commas")
    return tuple(_number(field, p) for p in parts)


def check_x_range(text: object) -> tuple[float, float]:
    values = _numbers("x_range", text)
    if len(values) != 2 or not values[0] < values[1]:
        raise ConfigError("x_range", f"{text!r}: give LO,HI with LO < HI")
    return values[0], values[1]


def check_init(text: object) -> tuple[float, ...] | tuple[tuple[str, float], ...]:
    """V1,V2,... (in the order of the model's parameter names) or NAME=V,... (names checked with the model)."""
    if isinstance(text, (tuple, list)):
        if all(isinstance(v, (tuple, list)) for v in text):
            return tuple((str(n), _number("init", v)) for n, v in text)
        return _numbers("init", text)
    parts = [p.strip() for p in str(text).split(",")]
    if not str(text).strip() or any(not p for p in parts):
        raise ConfigError("init", f"{text!r}: give V1,V2,... or NAME=V,...")
    if any("=" in p for p in parts):
        if not all("=" in p for p in parts):
            raise ConfigError("init", f"{text!r}: name every value (NAME=V,...) or none")
        pairs = [p.split("=", 1) for p in parts]
        names = [n.strip() for n, _ in pairs]
        if len(set(names)) != len(names):
            raise ConfigError("init", f"{text!r}: a parameter is named twice")
        return tuple((n.strip(), _number("init", v)) for n, v in pairs)
    return tuple(_number("init", p) for p in parts)


def check_hidden(text: object) -> tuple[int, ...]:
    parts = list(text) if isinstance(text, (tuple, list)) else str(text).split(",")
    if not parts or any(not str(p).strip() for p in parts):
        raise ConfigError("hidden", f"{text!r}: give the units of each hidden layer, N[,N...]")
    values = tuple(_whole("hidden", p) for p in parts)
    if len(values) > MAX_LAYERS or not all(1 <= v <= MAX_HIDDEN for v in values):
        raise ConfigError("hidden", f"{text!r}: 1 to {MAX_LAYERS} layers of 1 to {MAX_HIDDEN} units")
    return values


def check_batch_size(text: object) -> int:
    value = _whole("batch_size", text)
    if not 1 <= value <= MAX_POINTS:
        raise ConfigError("batch_size", f"must be between 1 and {MAX_POINTS:,} (got {text})")
    return value


def check_target_rmse(text: object) -> float:
    value = _number("target_rmse", text)
    if value < 0:
        raise ConfigError("target_rmse", f"must be >= 0 (got {text})")
    return value


def check_patience(text: object) -> int:
    value = _whole("patience", text)
    if not 1 <= value <= MAX_EPOCHS:
        raise ConfigError("patience", f"must be between 1 and {MAX_EPOCHS:,} (got {text})")
    return value


def check_betas(text: object) -> tuple[float, float]:
    values = _numbers("betas", text)
    if len(values) != 2 or not all(0 <= v < 1 for v in values):
        raise ConfigError("betas", f"{text!r}: give B1,B2, each in [0, 1)")
    return values[0], values[1]


def _at_least_0(field: str, top: float = MAX_LR) -> Callable[[object], float]:
    def check(text: object) -> float:
        value = _number(field, text)
        if not 0 <= value <= top:
            raise ConfigError(field, f"must be >= 0 and at most {top:g} (got {text})")
        return value

    return check


def _fraction(field: str) -> Callable[[object], float]:
    def check(text: object) -> float:
        value = _number(field, text)
        if not 0 <= value <= 1:
            raise ConfigError(field, f"must be in [0, 1] (got {text})")
        return value

    return check


def check_centered(text: object) -> bool:
    if isinstance(text, bool):
        return text
    value = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}
    found = value.get(str(text).strip().lower())
    if found is None:
        raise ConfigError("centered", f"{text!r} is not true or false")
    return found


def check_model(text: object) -> str:
    """One of MODELS, or a formula in x and its parameters (gdtui.engine.formula), normalised: "a * sin(b * x)"."""
    value = str(text).strip()
    if value.lower() in MODELS:
        return value.lower()
    try:
        formula = parse(str(text).rstrip())  # its columns as typed: leading spaces counted
    except FormulaError as error:
        raise ConfigError("model", f"{text!r} is not one of {', '.join(MODELS)} nor a formula: {error}") from None
    if "x" not in _names_in(formula.text):
        raise ConfigError("model", f"{text!r} is not one of {', '.join(MODELS)} nor a formula of x (no x in it)")
    return formula.text


def _names_in(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def formula_of(config: RunConfig) -> Formula | None:
    """The config's model as a parsed Formula, or None for one of MODELS."""
    return None if config.model in MODELS else _parsed(config.model)


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> Formula:
    return parse(text)


def batched(config: RunConfig, n_train: int) -> bool:
    """Whether epochs go by mini-batches through a DataLoader: a batch size below the training points, or with
    --rng single any shuffled batch size (a tutorial's loader permutes even one batch of the whole set)."""
    size = config.batch_size
    if size is None:
        return False
    return size < n_train or (config.rng == "single" and config.shuffle)


def linear_in_params(config: RunConfig) -> bool:
    """Whether the model is linear in its parameters (every model but the mlp and a formula that is not): its
    loss is then a quadratic of them, with a least-squares minimum, an exact Hessian and the theory's rates."""
    formula = formula_of(config)
    return config.model != "mlp" and (formula is None or formula.linear)


def param_names(config: RunConfig) -> tuple[str, ...]:
    """The model's parameter names, in the order of `flat()` (torch-free: the CLI checks --init before torch)."""
    formula = formula_of(config)
    if formula is not None:
        return formula.names
    if config.model == "quadratic":
        return ("a", "b", "c")
    if config.model == "linear":
        return ("w", "b") if config.bias else ("w",)
    if config.model == "nn-linear":
        return ("weight", "bias") if config.bias else ("weight",)
    if config.model == "mlp":  # layer k's weights wk.i (row by row) and biases bk.i, as nn.Sequential holds them
        sizes = (1, *config.hidden, 1)
        weights: list[str] = []
        for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes), start=1):
            weights += [f"w{k}.{i}" for i in range(n_in * n_out)] + [f"b{k}.{i}" for i in range(n_out)]
        return tuple(weights)
    return tuple(f"c{i}" for i in range(0 if config.bias else 1, config.degree + 1))


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
    "loss": _choice("loss", LOSSES),
    "optimizer": _choice("optimizer", OPTIMIZERS),
    "dtype": _choice("dtype", DTYPES),
    "x_range": check_x_range,
    "init": check_init,
    "target_rmse": check_target_rmse,
    "patience": check_patience,
    "batch_size": check_batch_size,
    "hidden": check_hidden,
    "activation": _choice("activation", ACTIVATIONS),
    "schedule": lambda value: _schedules().check_schedule(value),
    "rng": _choice("rng", RNGS),
    "model": check_model,
    "betas": check_betas,
    "eps": _at_least_0("eps", 1.0),
    "alpha": _fraction("alpha"),
    "centered": check_centered,
    "dampening": _fraction("dampening"),
    "weight_decay": _at_least_0("weight_decay"),
    "lr_decay": _at_least_0("lr_decay"),
    "initial_accumulator": _at_least_0("initial_accumulator"),
}


def check_settings(config: RunConfig) -> None:
    """Refuse a setting the optimizer has not (ConfigError naming the setting and the optimizer), and nesterov
    with a dampening, as torch refuses it."""
    for field, owners in OPTIMIZER_SETTINGS.items():
        if getattr(config, field) is not None and config.optimizer not in owners:
            name = field.replace("_", "-")
            raise ConfigError(field, f"{config.optimizer} has no {name} (it is a setting of {', '.join(owners)})")
    if config.optimizer == "nesterov" and config.dampening:
        raise ConfigError("dampening", "nesterov takes no dampening (torch: Nesterov needs zero dampening)")


def unset_for(optimizer: str, config: RunConfig) -> dict[str, None]:
    """The settings of `config` that `optimizer` has not, unset: what a switch to it drops."""
    return {
        f: None
        for f, owners in OPTIMIZER_SETTINGS.items()
        if getattr(config, f) is not None and optimizer not in owners
    }


def check_lanes(count: int, field: str, what: str = "") -> None:
    """Refuse a race of `count` lanes past MAX_LANES (ConfigError naming `field`), before any lane is built."""
    if count > MAX_LANES:
        raise ConfigError(field, f"{count:,} lanes{what}: a race holds at most {MAX_LANES}")


def _schedules() -> Any:
    from gdtui.engine import schedules  # it imports this module's checks

    return schedules


def check_combination(config: RunConfig) -> RunConfig:
    """Checks that need several fields at once; returns the config unchanged or raises ConfigError."""
    _schedules().check_with(config.schedule, config.optimizer)
    if config.optimizer == "nesterov" and config.effective_momentum <= 0:
        raise ConfigError("momentum", "nesterov needs a momentum > 0")
    check_settings(config)
    if config.model not in MODELS:
        if not config.bias:
            raise ConfigError("bias", "a formula writes its own terms: --no-bias is for linear, nn-linear, poly")
        if config.standardize:
            raise ConfigError("standardize", "standardize takes quadratic, linear, nn-linear, poly, not a formula")
    if not config.bias and config.model in ("quadratic", "mlp"):
        raise ConfigError(
            "bias", f"the {config.model} model keeps its constant terms (--no-bias: linear, nn-linear, poly)"
        )
    if config.standardize and config.model == "mlp":
        raise ConfigError(
            "standardize", "the mlp has no design matrix: standardize takes quadratic, linear, nn-linear, poly"
        )
    if config.standardize and not config.bias:  # (x - mean)/std without a constant term is another model
        raise ConfigError(
            "standardize", "a centred column needs the constant term: standardize keeps the bias (no --no-bias)"
        )
    if config.init is not None:
        names = param_names(config)
        given = config.init
        if given and isinstance(given[0], tuple):  # NAME=V,...: in the model's order
            named = dict(given)
            unknown = [n for n in named if n not in names]
            if unknown or len(named) != len(names):
                raise ConfigError("init", f"name every parameter of the {config.model} model: {', '.join(names)}")
            config = config.replace(init=tuple(float(named[n]) for n in names))
        elif len(given) != len(names):
            raise ConfigError(
                "init", f"the {config.model} model has {len(names)} parameters ({', '.join(names)}), not {len(given)}"
            )
        if config.dtype == "float32":  # checked in the run's dtype, as a CSV value is: float32 would make it inf
            big = next((v for v in config.init if abs(v) > FLOAT32_MAX), None)
            if big is not None:
                too_large = f"{big:g} is too large for float32 (at most {FLOAT32_MAX:.7g}; --dtype float64 holds it)"
                raise ConfigError("init", too_large)
    return config
