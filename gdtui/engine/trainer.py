"""The trainer: one run of gradient descent that steps epoch by epoch and reports immutable results.

Why: the headless command and the TUI drive this same object, so a config and a seed give the same
numbers in both. Epochs run in chunks. On an accelerator every per-epoch value stays on the device and the
chunk is read back in one transfer (one host synchronisation per chunk, not per epoch), which keeps a GPU
busy; on the CPU, where a read costs no synchronisation, each value is read as it is made, which is the
cheaper way there. Both ways give the same numbers (tested). Each Trainer owns its data, parameters,
optimizer and history, so several can live side by side.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from gdtui.engine.checkpoints import Checkpoints
from gdtui.engine.config import (
    CHECKS,
    DATA_FIELDS,
    LIVE_FIELDS,
    OPTIMIZER_SETTINGS,
    SINGLE_STREAM_FIELDS,
    SWITCH_FIELDS,
    ConfigError,
    RunConfig,
    batched,
    check_combination,
    unset_for,
)
from gdtui.engine.csvfile import CsvData
from gdtui.engine.data import Dataset, build_data, plot_sample
from gdtui.engine.device import resolve_device
from gdtui.engine.epochs import EpochLoops, _doubles
from gdtui.engine.epochs import _tensor as _tensor  # stack.py's
from gdtui.engine.history import RECORDED_UP_TO, Chunk, EpochResult, History
from gdtui.engine.losses import LOSSES
from gdtui.engine.models import Model, build_model, standardized
from gdtui.engine.optim import build_optimizer, set_hyperparameters, set_settings
from gdtui.engine.scheduling import Scheduled

_BUILD_LOCK = threading.Lock()
LINE_POINTS = 120  # the fitted function's x, across the data's range, for the predictions plot's line


class TrainingError(RuntimeError):
    """An epoch failed inside torch (say, an optimizer whose state a change left inconsistent). The epochs
    completed before it are recorded; `chunk` holds them (None if there were none), `error` is torch's."""

    def __init__(self, error: Exception, chunk: Chunk | None):
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error
        self.chunk = chunk


class Trainer(Checkpoints, Scheduled, EpochLoops):
    """A run: `step()` trains one epoch, `run(n)` up to n; `update(lr=...)` applies from the next epoch;
    `reset()` returns to the initial parameters. Raises DataError, DeviceError or ConfigError on bad input.
    `readback` ("epoch" or "chunk") overrides how values come back from the device (default: by device);
    `csv` is the config's CSV data already read (else it is read from its path). Its parts live beside it:
    the checkpoints, replays and journal snapshots (checkpoints.py), the lr schedule (scheduling.py) and the
    epoch loops (epochs.py)."""

    def __init__(self, config: RunConfig, readback: str | None = None, csv: CsvData | None = None):
        self.device = resolve_device(config.device)
        self.readback = readback or ("epoch" if self.device.type == "cpu" else "chunk")
        if self.readback not in ("epoch", "chunk"):
            raise ValueError(f"readback must be 'epoch' or 'chunk', not {readback!r}")
        # The articles draw from torch's global generator; fork it so several trainers never disturb each
        # other (or the caller), and build under a lock so two threads never interleave their draws.
        # Only the CPU generator is seeded (torch.manual_seed would reseed every CUDA device for good): the data
        # and the initial parameters are drawn on the CPU, as the articles draw them, then moved.
        with _BUILD_LOCK, torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(config.seed)
            data = build_data(config, csv)
            self._rng_after_data = torch.get_rng_state()
            model = build_model(config, self.device)
            self._stream = torch.get_rng_state()  # --rng single: where the batches' order goes on drawing
        self._setup(config, data, data.to(self.device), model)

    def sibling(self, config: RunConfig) -> Trainer:
        """A new run of `config` on this run's data (shared, not copied), from the initial parameters its solo
        run would draw: `Trainer(config)` exactly, without building the data again. `config` may differ in the
        model, the optimizer and the other settings of a lane (vary.LANE_FIELDS), not in what defines the data."""
        differing = [f for f in DATA_FIELDS if getattr(config, f) != getattr(self.config, f)]
        if differing:
            raise ConfigError(differing[0], f"a lane shares its data: {differing[0]} must stay as it is")
        if config.rng == "single":
            differing = [f for f in SINGLE_STREAM_FIELDS if getattr(config, f) != getattr(self.config, f)]
            if differing:
                name = differing[0].replace("_", "-")
                why = "with --rng single every lane starts from one model and one loader serves them all"
                raise ConfigError(differing[0], f"{why}: {name} must stay as it is")
        twin = Trainer.__new__(Trainer)
        twin.device, twin.readback, twin._rng_after_data = self.device, self.readback, self._rng_after_data
        twin._stream = self._stream  # --rng single: the batches' order of the race's first lane, shared
        with _BUILD_LOCK, torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self._rng_after_data)  # where its solo run draws its parameters
            model = build_model(config, self.device)
        twin._setup(config, self._host_data, self.data, model)
        return twin

    def _setup(self, config: RunConfig, host_data: Dataset, data: Dataset, model: Model) -> None:
        self.config = config
        self._host_data = host_data
        self.data: Dataset = data
        self.model = model
        if config.standardize:  # the design's statistics over the training points, as the host holds them
            model.scale = standardized(model, host_data.x_train, self.device)
        self.names = self.model.names
        self.summarized = len(self.names) > RECORDED_UP_TO  # the history keeps the parameters' norm only
        self.initial = self.model.flat()
        self._loss_fn = LOSSES[config.loss]
        self._metric_is_loss = config.loss == "mse"
        self._sample = plot_sample(host_data.x, host_data.y)
        # predictions are made on the plot sample, then on LINE_POINTS x across the data (the fitted function)
        x = host_data.x
        self.line_x = torch.linspace(float(x.min()), float(x.max()), LINE_POINTS, dtype=x.dtype)
        sample_x = self.data.x[self._sample.to(self.device)]
        self._sample_x = torch.cat([sample_x, self.line_x.to(self.device)])
        self.history = History((), len(self.names)) if self.summarized else History(self.names)
        self.stopped: str | None = None  # the stop rule that ended the run ("target-rmse", "patience")
        self._best, self._since_best = float("inf"), 0
        self.reset()

    @property
    def epoch(self) -> int:
        return len(self.history)

    @property
    def status(self) -> str:
        return self.history.status

    @property
    def done(self) -> bool:
        held = self.hold is not None and self.epoch >= self.hold
        return self.epoch >= self.config.epochs or self.stopped is not None or held

    @property
    def stop_reason(self) -> str:
        """Why the run stands where it does: "epochs" (its budget), "target-rmse", "patience", "diverged", or
        "" while it can go on."""
        if self.status == "diverged":
            return "diverged"
        if self.stopped is not None:
            return self.stopped
        return "epochs" if self.epoch >= self.config.epochs else ""

    def _stop_rule(self) -> Callable[[float, float], str | None] | None:
        """The stop rules (--target-rmse, --patience) as a check of each epoch's loss and RMSE (None without
        rules: the loops pay nothing)."""
        target, patience = self.config.target_rmse, self.config.patience
        if target is None and patience is None:
            return None

        def rule(loss: float, rmse: float) -> str | None:
            if target is not None and rmse <= target:  # the RMSE as the log prints it
                return "target-rmse"
            if patience is not None:
                if loss < self._best:
                    self._best, self._since_best = loss, 0
                else:
                    self._since_best += 1
                    if self._since_best >= patience:
                        return "patience"
            return None

        return rule

    def _rules_from_history(self) -> None:
        """The stop rules' state (the best loss and the epochs since) as the history leaves it."""
        self._best, self._since_best, self.stopped = float("inf"), 0, None
        rule = self._stop_rule()
        if rule is None:
            return
        for loss, rmse in zip(self.history.loss, self.history.rmse):
            self.stopped = rule(loss, rmse) or self.stopped

    @property
    def plot_data(self) -> tuple[list[float], list[float], int]:
        """The plot sample of the data: x, y and how many of them (the leading ones) are training points."""
        idx = self._sample
        return (self.data.x.cpu()[idx].tolist(), self.data.y.cpu()[idx].tolist(), int((idx < self.data.n_train).sum()))

    def reset(self) -> None:
        """Back to the initial parameters with a fresh optimizer and an empty history."""
        self.model.load_flat(self.initial)
        for p in self.model.parameters():
            p.grad = None
        self.optimizer = build_optimizer(self.config, self.model.parameters())
        self._build_schedule(self.config)
        self.history.clear()
        self._shuffle = torch.Generator()  # the batches' order, epoch by epoch: from the seed, or the one stream
        if self.config.rng == "single":
            self._shuffle.set_state(self._stream)
        else:
            self._shuffle.manual_seed(self.config.seed)
        self._rules_from_history()
        self._flat_last = self.initial  # the parameters after the history's last epoch
        self.start_config = self.config  # the run as it started: with `changes`, all it takes to replay it
        self.changes: list[tuple[int, dict[str, Any]]] = []  # (epoch, changes made after that epoch)
        self._pending: list[tuple[int, dict[str, Any]]] = []  # a record's changes still to come (`schedule`)
        self.hold: int | None = None  # train no further than this epoch (a resumed run stops where it stood)
        self._start_checkpoints()

    def schedule(self, changes: Iterable[tuple[int, Mapping[str, Any]]]) -> None:
        """Changes to take as the run goes (a record's): each after its epoch, as the run that made them took
        it. `run_chunk` stops at each one's epoch and takes it there; a reset drops those not taken."""
        self._pending = sorted(((at, dict(change)) for at, change in changes if at >= self.epoch), key=lambda c: c[0])
        self.take_due()

    def take_due(self) -> bool:
        """Take the scheduled changes whose epoch the run has reached; whether any was taken."""
        taken = False
        while self._pending and self._pending[0][0] <= self.epoch:
            self.switch(**self._pending.pop(0)[1])
            taken = True
        return taken

    def until_change(self) -> int | None:
        """Epochs until the next scheduled change (None: none to come)."""
        return self._pending[0][0] - self.epoch if self._pending else None

    def follow(self, changes: Iterable[tuple[int, Mapping[str, Any]]], epoch: int) -> None:
        """Go on to `epoch`, taking each of `changes` after its epoch (those past `epoch` left out)."""
        self.schedule([(at, change) for at, change in changes if at <= epoch])
        while self.epoch < epoch and self.status == "ok" and self.stopped is None:
            if self.run_chunk(epoch - self.epoch) is None:
                break
        self.take_due()

    def switch(self, **changes: Any) -> RunConfig:
        """Change the optimizer, the loss, gradient accumulation, lr, momentum or epochs (checked together, as
        a new run is) from the next epoch on, keeping the parameters and, unless the optimizer changes, its
        state (a new optimizer starts fresh). Recorded in `changes`."""
        unknown = set(changes) - LIVE_FIELDS - SWITCH_FIELDS
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))} within a run")
        checked: dict[str, Any] = {}
        for field, value in changes.items():
            if value is None:
                continue
            if field == "accumulate_grad":
                if not isinstance(value, bool):
                    raise ConfigError(field, f"{value!r} is not true or false")
                checked[field] = value
            else:
                checked[field] = CHECKS[field](value)
        if checked.get("optimizer", self.config.optimizer) != self.config.optimizer:  # its settings the new lacks
            checked = {**unset_for(checked["optimizer"], self.config.replace(**checked)), **checked}
        config = check_combination(self.config.replace(**checked))  # the checks a new run passes
        if self.scheduler is not None:
            self._check_schedule_change(config)
        if config.optimizer != self.config.optimizer:
            self.optimizer = build_optimizer(config, self.model.parameters())
            if self.scheduler is not None:
                self._carry_schedule(config)
        else:
            cycled = [g["betas"][0] for g in self.optimizer.param_groups] if self._cycles_betas() else None
            set_settings(self.optimizer, {f: checked[f] for f in OPTIMIZER_SETTINGS if f in checked})
            for group, beta1 in zip(self.optimizer.param_groups, cycled or ()):  # onecycle's β1 stands
                group["betas"] = (beta1, *group["betas"][1:])
            momentum = checked.get("momentum") if config.uses_momentum else None
            lr = checked.get("lr") if self.scheduler is None else None  # scheduled: the schedule's base lr, below
            set_hyperparameters(self.optimizer, lr=lr, momentum=momentum)
        if self.scheduler is not None and config.lr != self.config.lr:  # the schedule's base lr
            self._scale_schedule(config.lr / self.config.lr)
        self.config = config
        self._loss_fn = LOSSES[config.loss]
        self._metric_is_loss = config.loss == "mse"
        self.changes.append((self.epoch, checked))
        return config

    def update(self, **changes: Any) -> RunConfig:
        """Change lr, momentum or epochs (checked) from the next epoch on, keeping all state."""
        unknown = set(changes) - LIVE_FIELDS
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))} without a new run")
        return self.switch(**changes)

    @torch.no_grad()
    def predict(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """Predictions of the current parameters on x (default: the plot sample)."""
        return self.model.predict(self._sample_x if x is None else x.to(self.device))

    @torch.no_grad()
    def predictions_of(self, flat: torch.Tensor) -> tuple[float, ...]:
        """The predictions of the parameters `flat` on the plot sample, then the fitted function at `line_x`:
        what a chunk's `preds` holds for its last epoch."""
        return tuple(self.model.predict(self._sample_x, flat.to(self.initial.dtype).to(self.device)).tolist())

    def step(self) -> EpochResult:
        """Train one epoch; a diverged run returns its last result again."""
        results = self.run(1)
        return results[0] if results else self.history.result(self.epoch - 1)

    def run(
        self, max_epochs: int, budget: float | None = None, should_stop: Callable[[], bool] | None = None
    ) -> list[EpochResult]:
        """Train up to `max_epochs` epochs (see `run_chunk`) and return one result per epoch."""
        chunk = self.run_chunk(max_epochs, budget, should_stop)
        return chunk.results() if chunk is not None else []

    def run_chunk(
        self, max_epochs: int, budget: float | None = None, should_stop: Callable[[], bool] | None = None
    ) -> Chunk | None:
        """Train up to `max_epochs` epochs, stopping early after `budget` seconds or when `should_stop()` is
        true (checked between epochs), or at the first non-finite loss or parameter (status "diverged").
        Returns the epochs as columns (None if nothing ran); they are also appended to `history`. An epoch
        that fails inside torch raises TrainingError after the epochs before it are recorded."""
        self.take_due()
        if self._pending:
            max_epochs = min(max_epochs, self._pending[0][0] - self.epoch)
        if self.hold is not None:
            max_epochs = min(max_epochs, self.hold - self.epoch)
        if self.status == "diverged" or max_epochs < 1:
            return None
        lr = self.optimizer.param_groups[0]["lr"]
        self._epoch_lrs = [lr]  # the lr of each epoch, the next one's appended as a schedule's step sets it
        deadline = time.perf_counter() + budget if budget is not None else None
        if self._batched():
            epochs = self._epochs_batched
        elif self.readback == "epoch" or self.summarized:  # a large model's epoch outweighs a read
            epochs = self._epochs_read_each
        else:
            epochs = self._epochs_read_once
        scalars, flat, grad, failure = epochs(max_epochs, deadline, should_stop)
        lrs = self._epoch_lrs if self.scheduler is not None else None  # each epoch's, as the schedule set it
        chunk = self.record(scalars, flat, grad, lr, lrs) if len(scalars) else None
        if failure is not None:
            self.restore()
            raise TrainingError(failure, chunk)
        self.take_due()
        return chunk

    def restore(self) -> None:
        """Back to exactly where the history ends, after an epoch failed part way (its gradient may have
        accumulated, its step may have run): the run replayed to its last recorded epoch lends its state."""
        try:
            twin = self.replay(self.epoch)
        except Exception:  # the run stays as the failure left it
            return
        self.model, self.optimizer, self._flat_last = twin.model, twin.optimizer, twin._flat_last
        self.scheduler, self._lr_holder = twin.scheduler, twin._lr_holder

    def _batched(self) -> bool:
        return batched(self.config, self.data.n_train)

    def record(
        self, scalars: torch.Tensor, flat: torch.Tensor, grad: torch.Tensor, lr: float, lrs: list[float] | None = None
    ) -> Chunk:
        """Turn a chunk's values (float64 CPU tensors: loss, metric and test loss by epoch; parameters after
        each epoch; gradients) into a Chunk, cut at the first divergent epoch, and extend the history."""
        # the loss, the RMSE's mean square, the test loss and every parameter: any of them overflowing diverges
        finite = torch.isfinite(scalars).all(dim=1) & torch.isfinite(flat).all(dim=1)
        n, status = len(finite), "ok"
        if not bool(finite.all()):
            n, status = int((~finite).nonzero()[0]) + 1, "diverged"
        norms = torch.linalg.vector_norm(grad[:n], dim=1)
        columns = torch.cat([scalars[:n], norms[:, None], flat[:n]], dim=1).T.contiguous().numpy()
        loss, metric, test, grad_norm, *params = (array("d", row.tobytes()) for row in columns)
        rmse = [m**0.5 for m in metric]  # as the articles print it: (loss.item()) ** 0.5
        dtype = self.initial.dtype  # rows go back to the device narrowed on the host first, as mps needs
        norm = None
        if self.summarized:  # `flat` holds the parameters' norms; the loops kept the last flat
            norm, params = params[0], []
        else:
            self._flat_last = flat[n - 1].to(dtype).to(self.device)
        # the predictions of the parameters the log's last row shows: after the chunk's last epoch
        preds = tuple(self.model.predict(self._sample_x, self._flat_last).tolist())
        chunk = Chunk(
            first=self.epoch + 1,
            loss=loss,
            rmse=_doubles(rmse),
            test_loss=test if self.data.has_test else None,
            params=params,
            grad_norm=grad_norm,
            lr=lr if lrs is None else lrs[n - 1],
            names=self.history.names,
            status=status,
            preds=preds,
            norm=norm,
            count=len(self.names) if self.summarized else 0,
            lrs=None if lrs is None else _doubles(lrs[:n]),
        )
        self.history.extend(chunk)
        self._cut_checkpoints()
        return chunk
