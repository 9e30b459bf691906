"""What the trainer's parts share: the attributes and methods its mixins read of the trainer and of each other.

Why: `Trainer` is put together from mixins (checkpoints.py, scheduling.py, epochs.py) so that no one class
grows past a reader's reach; each mixin uses state the trainer makes and methods another part defines. This
base declares them once for the type checker, and nothing else: the attributes are annotations (the trainer
sets them) and the methods are declared under TYPE_CHECKING only, so at run time nothing here stands in front
of the real ones, while mypy checks every real one against its declaration here. It imports no part of the
trainer, so the parts never import trainer.py (no import cycle).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import Self

    import torch

    from gdtui.engine.config import RunConfig
    from gdtui.engine.data import Dataset
    from gdtui.engine.history import Chunk, History
    from gdtui.engine.models import Model
    from gdtui.engine.optim import Optimizer


class TrainerBase:
    """The trainer as its parts see it (declarations only; `Trainer` is the one class that has them all)."""

    CHECKPOINT_EVERY: int  # epochs between checkpoints (Checkpoints sets it; tests set it on Trainer)
    device: torch.device
    config: RunConfig  # the settings now (after the changes taken)
    start_config: RunConfig  # the run as it started: with `changes`, all it takes to replay it
    changes: list[tuple[int, dict[str, Any]]]  # (epoch, changes made after that epoch)
    data: Dataset  # on the device
    model: Model
    optimizer: Optimizer
    scheduler: Any  # torch's lr scheduler (None without a schedule)
    _lr_holder: Any  # the optimizer the scheduler steps: the run's, or plain gd's stand-in
    history: History
    names: tuple[str, ...]
    summarized: bool  # the history keeps the parameters' norm only (a large model)
    initial: torch.Tensor  # the parameters at epoch 0
    stopped: str | None  # the stop rule that ended the run
    _flat_last: torch.Tensor  # the parameters after the history's last epoch
    _shuffle: torch.Generator  # the batches' order
    _loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    _metric_is_loss: bool
    _epoch_lrs: list[float]  # the chunk's lr of each epoch, as the schedule sets them

    if TYPE_CHECKING:

        @property
        def epoch(self) -> int: ...

        @property
        def status(self) -> str: ...

        def sibling(self, config: RunConfig) -> Self: ...

        def switch(self, **changes: Any) -> RunConfig: ...

        def schedule(self, changes: Iterable[tuple[int, Mapping[str, Any]]]) -> None: ...

        def take_due(self) -> bool: ...

        def run_chunk(
            self, max_epochs: int, budget: float | None = None, should_stop: Callable[[], bool] | None = None
        ) -> Chunk | None: ...

        def _batched(self) -> bool: ...

        def _stop_rule(self) -> Callable[[float, float], str | None] | None: ...

        def _rules_from_history(self) -> None: ...

        def checkpoint(self, epoch: int) -> None: ...

        def _schedule_steps(
            self, batched: bool
        ) -> tuple[Callable[[float], None] | None, Callable[[], None] | None]: ...

        def _schedule_state(self) -> dict[str, Any] | None: ...

        def _load_schedule(self, state: Mapping[str, Any]) -> None: ...
