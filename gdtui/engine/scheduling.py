"""A run's lr schedule, as the trainer steps it: torch's scheduler over the run's optimizer, kept in step
through the run's changes and its checkpoints.

Why: a schedule touches the trainer at many points (each epoch's or batch's step, a change of lr, epochs or
optimizer, a checkpoint, a replay); kept together here, the trainer's loops and changes each call one method.
For plain gd, which is no torch optimizer, the scheduler steps a stand-in that holds only the lr, which the
hand-written step reads each epoch (`_sync_lr`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import torch

from gdtui.engine.config import ConfigError, RunConfig
from gdtui.engine.optim import PlainGD
from gdtui.engine.trainerbase import TrainerBase


def _beta1(config: RunConfig) -> float:
    """The β1 adam and adamw step with (torch's 0.9 unless --betas sets it)."""
    return config.betas[0] if config.betas is not None else 0.9


class Scheduled(TrainerBase):
    """The trainer's lr schedule (a mixin of `Trainer`): `scheduler` and the lr holder it steps."""

    def _build_schedule(self, config: RunConfig) -> None:
        """The run's lr scheduler (None without a schedule), torch's own, over the optimizer; for plain gd over a
        stand-in torch optimizer that only holds the lr, which the hand-written step reads each epoch."""
        self.scheduler = None
        self._lr_holder = self.optimizer
        if config.schedule is None:
            return
        from gdtui.engine.schedules import build

        if isinstance(self.optimizer, PlainGD):
            self._lr_holder = torch.optim.SGD([torch.zeros(1)], lr=config.lr)
        self._lr_holder._opt_called = True  # stepped through `stepper` (unwrapped): torch would warn otherwise
        batches = -(-self.data.n_train // config.batch_size) if self._batched() else 1  # type: ignore[operator]
        self.scheduler = build(
            config.schedule, self._lr_holder, config.epochs, batches, config.optimizer, config.effective_momentum
        )
        self._sync_lr()

    def _sync_lr(self) -> None:
        """Plain gd's lr from its stand-in (the scheduler's)."""
        if isinstance(self.optimizer, PlainGD) and self._lr_holder is not self.optimizer:
            self.optimizer.param_groups[0]["lr"] = self._lr_holder.param_groups[0]["lr"]

    def _schedule_steps(self, batched: bool) -> tuple[Callable[[float], None] | None, Callable[[], None] | None]:
        """The scheduler's step after each epoch (given the epoch's loss: plateau's) and after each batch
        (onecycle with mini-batches): (None, None) without a schedule."""
        scheduler = self.scheduler
        if scheduler is None:
            return None, None
        from torch.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau

        def per_batch() -> None:
            scheduler.step()
            self._sync_lr()

        by_batch = batched and isinstance(scheduler, OneCycleLR)
        plateau = isinstance(scheduler, ReduceLROnPlateau)
        lrs, group = self._epoch_lrs, self.optimizer.param_groups[0]

        def tick(loss: float) -> None:
            if plateau:
                scheduler.step(loss)
            elif not by_batch:
                scheduler.step()
            self._sync_lr()
            lrs.append(group["lr"])  # the next epoch's

        return tick, per_batch if by_batch else None

    def _check_schedule_change(self, config: RunConfig) -> None:
        """What a scheduled run refuses: onecycle's epochs past its total steps, or another optimizer."""
        from torch.optim.lr_scheduler import OneCycleLR

        if isinstance(self.scheduler, OneCycleLR):
            batches = -(-self.data.n_train // config.batch_size) if self._batched() else 1  # type: ignore[operator]
            most = self.scheduler.total_steps // batches
            if config.epochs > most:
                raise ConfigError("epochs", f"onecycle's steps end at epoch {most}: the epochs cannot go past it")
            if config.optimizer != self.config.optimizer:
                raise ConfigError("optimizer", "onecycle cycles this optimizer's momentum: it cannot change")
            if self.scheduler.cycle_momentum:  # its momentum (adam's β1) is the schedule's, step by step
                if config.uses_momentum and config.momentum != self.config.momentum:
                    raise ConfigError("momentum", "onecycle cycles the momentum: change the schedule's instead")
                if _beta1(config) != _beta1(self.config):
                    raise ConfigError("betas", "onecycle cycles β1 (its base and max momentum): only β2 can change")

    def _cycles_betas(self) -> bool:
        """Whether onecycle cycles β1 (adam's, adamw's): a new β2 then leaves the β1 it has reached."""
        from torch.optim.lr_scheduler import OneCycleLR

        scheduler = self.scheduler
        return isinstance(scheduler, OneCycleLR) and scheduler.cycle_momentum and scheduler.use_beta1

    def _carry_schedule(self, config: RunConfig) -> None:
        """The schedule goes on over a new optimizer: its scheduler's state and the lr it had reached."""
        old, holder = self.scheduler, self._lr_holder
        self._build_schedule(config)
        self.scheduler.load_state_dict(old.state_dict())
        for group, was in zip(self._lr_holder.param_groups, holder.param_groups):
            for key in ("lr", "initial_lr"):
                if key in was:
                    group[key] = was[key]
        self._sync_lr()

    def _schedule_state(self) -> dict[str, Any] | None:
        """The scheduler's state and the lr settings it keeps in the optimizer's groups (a copy)."""
        if self.scheduler is None:
            return None
        groups = [{k: v for k, v in g.items() if k != "params"} for g in self._lr_holder.param_groups]
        return copy.deepcopy({"scheduler": self.scheduler.state_dict(), "groups": groups})

    def _load_schedule(self, state: Mapping[str, Any]) -> None:
        if self.scheduler is None:
            return
        self.scheduler.load_state_dict(copy.deepcopy(state["scheduler"]))
        for group, kept in zip(self._lr_holder.param_groups, state["groups"]):
            group.update(copy.deepcopy(kept))
        self._sync_lr()

    def _scale_schedule(self, factor: float) -> None:
        """A new base lr in a scheduled run: the schedule's base lrs and the lr it has reached scale by
        new/old, and it goes on from there (onecycle's initial, max and min lr alike)."""
        for group in self._lr_holder.param_groups:
            for key in ("lr", "initial_lr", "max_lr", "min_lr"):
                if key in group:
                    group[key] = group[key] * factor
        for scheduler in (self.scheduler, *getattr(self.scheduler, "_schedulers", ())):
            if hasattr(scheduler, "base_lrs"):
                scheduler.base_lrs = [lr * factor for lr in scheduler.base_lrs]
            if hasattr(scheduler, "_last_lr"):
                scheduler._last_lr = [group["lr"] for group in self._lr_holder.param_groups]
        self._sync_lr()
