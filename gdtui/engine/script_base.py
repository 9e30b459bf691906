"""What the script writer's parts share: the preset articles' names, the numbers and settings as Python text,
and the attributes and methods each part reads of the writer and of the others.

Why: the writer (`_Writer` in script.py) is put together from parts (script_data.py, script_model.py,
script_optimizer.py) so that no one class grows past a reader's reach. As trainerbase.py does for the trainer,
`WriterBase` declares what the parts use once, for the type checker, and nothing else: the attributes are
annotations (the writer sets them) and the methods are declared under TYPE_CHECKING only, so at run time nothing
here stands in front of the real ones. It imports no part of the writer, so no part imports script.py (no import
cycle). Torch-free, as the writer is: it only writes text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gdtui.engine.config import OPTIMIZER_SETTINGS, RunConfig

Change = tuple[int, Mapping[str, Any]]


@dataclass(frozen=True)
class Names:
    """What the preset's article calls things."""

    x: str = "x"
    y: str = "y"
    fn: str = "predict"  # the model function (quadratic, poly)
    arg: str = "x"
    targets: str = "targets"  # mse's second argument
    preds: str = "preds"
    lr: str = "lr"
    train: tuple[str, str, str, str] = ("x_train", "y_train", "x_test", "y_test")
    step: str | None = None  # the article's function for one step, called by the loop (None: inline)


STYLES = {
    "fastai-quadratic": Names(x="time", y="speed", fn="function", arg="t", step="apply_step"),
    "qiita-quadratic": Names(x="X", y="Y", fn="func", arg="x", targets="actual", step="step"),
    "linear-module": Names(x="X", y="y", train=("XTrain", "yTrain", "XTest", "yTest")),
    "linear-manual": Names(x="x_data", y="y_data", preds="y_pred", lr="learning_rate"),
}


def _num(value: float) -> str:
    return repr(float(value))


def _settings(config: RunConfig) -> dict[str, Any]:
    """The optimizer's own settings the config sets, under torch's names (as gdtui.engine.optim passes them)."""
    names = {"initial_accumulator": "initial_accumulator_value"}
    return {names.get(f, f): getattr(config, f) for f in OPTIMIZER_SETTINGS if getattr(config, f) is not None}


def _setting(value: Any) -> str:
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(_num(v) for v in value) + ")"
    return _num(value)


class WriterBase:
    """The writer as its parts see it (declarations only; `_Writer` is the one class that has them all)."""

    start: RunConfig  # the settings at the first epoch
    later: list[tuple[int, RunConfig]]  # (epoch it was made after, the settings from then on) of each change
    total: int  # the epochs the run takes in all
    scheduled_epochs: int  # the epochs its schedule was built for (a later change of epochs leaves it)
    configs: list[RunConfig]  # the settings of each phase: the start's, then each change's
    n: Names  # what the preset's article calls things
    gd_only: bool  # plain gd in every phase
    any_gd: bool  # plain gd in some phase
    loss_fixed: str | None  # the loss, when no phase changes it
    zero_fixed: bool | None  # whether the gradients are cleared, when no phase changes it
    nn: bool  # a torch.nn model (nn-linear, mlp)
    test: bool  # a test split
    batched: bool  # mini-batches (a batch size smaller than the training set)
    call: str  # the model's prediction of `{x}` (the model part sets it)

    if TYPE_CHECKING:

        def emit(self, *lines: str) -> None: ...

        @property
        def x_train(self) -> tuple[str, str]: ...
