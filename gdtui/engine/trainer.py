"""The trainer: one run of gradient descent that steps epoch by epoch and reports immutable results.

Why: the headless command and the TUI drive this same object, so a config and a seed give the same
numbers in both. Epochs run in chunks. On an accelerator every per-epoch value stays on the device and the
chunk is read back in one transfer (one host synchronisation per chunk, not per epoch), which keeps a GPU
busy; on the CPU, where a read costs no synchronisation, each value is read as it is made, which is the
cheaper way there. Both ways give the same numbers (tested). Each Trainer owns its data, parameters,
optimizer and history, so several can live side by side.
"""

from __future__ import annotations

import copy
import struct
import threading
import time
from array import array
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from math import isfinite
from typing import TYPE_CHECKING, Any

import torch

from gdtui.engine.config import (
    CHECKS,
    DATA_FIELDS,
    LIVE_FIELDS,
    OPTIMIZER_SETTINGS,
    SINGLE_STREAM_FIELDS,
    SWITCH_FIELDS,
    ConfigError,
    RunConfig,
    check_combination,
    unset_for,
)
from gdtui.engine.csvfile import CsvData
from gdtui.engine.data import Dataset, StreamSampler, build_data, plot_sample
from gdtui.engine.device import resolve_device
from gdtui.engine.history import RECORDED_UP_TO, Chunk, EpochResult, History
from gdtui.engine.losses import LOSSES, mse
from gdtui.engine.models import Model, build_model, standardized
from gdtui.engine.optim import PlainGD, build_optimizer, set_hyperparameters, set_settings, stepper

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

_BUILD_LOCK = threading.Lock()
LINE_POINTS = 120  # the fitted function's x, across the data's range, for the predictions plot's line
StopCheck = Callable[[], bool]


@dataclass(frozen=True)
class PackedState:
    """An optimizer's per-parameter state: its layout (index, key, kind...), CPU tensors as bytes, others."""

    layout: tuple[tuple[Any, ...], ...]
    blob: bytes
    tensors: tuple[torch.Tensor, ...]


def _unpack(packed: PackedState) -> dict[int, dict[str, Any]]:
    state: dict[int, dict[str, Any]] = {}
    offset, tensors = 0, iter(packed.tensors)
    for entry in packed.layout:
        i, key, kind = entry[:3]
        if kind == "bytes":
            shape, dtype = entry[3], entry[4]
            count = 1
            for n in shape:
                count *= n
            size = count * torch.empty((), dtype=dtype).element_size()
            chunk = bytearray(packed.blob[offset : offset + size])
            offset += size
            value: Any = (
                torch.frombuffer(chunk, dtype=dtype).reshape(shape) if size else torch.empty(shape, dtype=dtype)
            )
        elif kind == "tensor":
            value = next(tensors).clone()
        else:
            value = copy.deepcopy(entry[3])
        state.setdefault(i, {})[key] = value
    return state


@dataclass(frozen=True)
class Checkpoint:
    """What a replay needs at an epoch besides the history: the settings then, how many changes came before,
    the optimizer's state and (where gradients accumulate) the gradients."""

    epoch: int
    config: RunConfig
    changes: int
    state: PackedState | None
    grads: list[torch.Tensor | None] | None
    shuffle: torch.Tensor | None = None  # the batches' generator state (mini-batches only)
    flat: torch.Tensor | None = None  # the parameters, where the history keeps only their norm (a large model)
    schedule: dict[str, Any] | None = None  # the lr scheduler's state and the lrs it set (a scheduled run)

    @property
    def size(self) -> int:
        """Its tensors' bytes, roughly (what the checkpoints' budget counts)."""
        state = self.state
        tensors = [t for t in (self.flat, *(self.grads or ()), *(state.tensors if state else ())) if t is not None]
        return sum(int(t.numel() * t.element_size()) for t in tensors) + (len(state.blob) if state else 0)


# a chunk's loss, metric and test loss by epoch, parameters, gradients (float64 CPU tensors), and the failure
Epochs = tuple[torch.Tensor, torch.Tensor, torch.Tensor, Exception | None]


def _beta1(config: RunConfig) -> float:
    """The β1 adam and adamw step with (torch's 0.9 unless --betas sets it)."""
    return config.betas[0] if config.betas is not None else 0.9


class TrainingError(RuntimeError):
    """An epoch failed inside torch (say, an optimizer whose state a change left inconsistent). The epochs
    completed before it are recorded; `chunk` holds them (None if there were none), `error` is torch's."""

    def __init__(self, error: Exception, chunk: Chunk | None):
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error
        self.chunk = chunk


class Trainer:
    """A run: `step()` trains one epoch, `run(n)` up to n; `update(lr=...)` applies from the next epoch;
    `reset()` returns to the initial parameters. Raises DataError, DeviceError or ConfigError on bad input.
    `readback` ("epoch" or "chunk") overrides how values come back from the device (default: by device);
    `csv` is the config's CSV data already read (else it is read from its path)."""

    CHECKPOINT_EVERY = 128  # epochs between checkpoints: a branch replays at most this many epochs
    # What a run's checkpoints may hold (a large model's are megabytes each): past it, every other one goes and
    # they are kept twice as far apart, so a branch replays more epochs but memory stays bounded.
    CHECKPOINT_BYTES = 256 * 2**20

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
                why = f"with --rng single one loader serves every lane, its order drawn once: {name} must stay"
                raise ConfigError(differing[0], f"{why} as it is")
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
        self._checkpoints: list[Checkpoint] = []
        self._spacing = self.CHECKPOINT_EVERY  # epochs between the checkpoints kept (doubled when over budget)
        self._kept = 0  # the checkpoints' bytes
        self._layouts: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def checkpoint(self, epoch: int) -> None:
        """Keep what a replay cannot read back from the history: the optimizer's state and, where gradients
        accumulate, the gradients (the parameters after every epoch are in the history, or, for a large model,
        kept here). Within CHECKPOINT_BYTES: past it, every other checkpoint goes and the spacing doubles."""
        if epoch % self._spacing:
            return
        state = None
        if not isinstance(self.optimizer, PlainGD):  # the per-parameter state only: the settings are `config`'s
            state = self._pack(self.optimizer.state_dict()["state"])
        grads = None
        if self.config.accumulate_grad:
            grads = [None if p.grad is None else p.grad.clone() for p in self.model.parameters()]
        shuffle = self._shuffle.get_state() if self._batched() else None
        flat = self.model.flat() if self.summarized else None
        point = Checkpoint(epoch, self.config, len(self.changes), state, grads, shuffle, flat, self._schedule_state())
        self._checkpoints.append(point)
        self._kept += point.size
        self._thin()

    def _thin(self) -> None:
        """Within CHECKPOINT_BYTES: past it the spacing doubles; the run's own checkpoints stay at its multiples,
        and one adopted from a journal (between the run's own) stays in a span of it that holds none of them."""
        every = self.CHECKPOINT_EVERY
        while self._kept > self.CHECKPOINT_BYTES and len(self._checkpoints) > 1:
            self._spacing *= 2
            spans: dict[int, list[Checkpoint]] = {}
            for c in self._checkpoints:
                spans.setdefault(c.epoch // self._spacing, []).append(c)
            kept = []
            for span in spans.values():
                on = [c for c in span if c.epoch % self._spacing == 0]
                kept += on or [c for c in span if c.epoch % every][:1]
            self._checkpoints = kept
            self._kept = sum(c.size for c in self._checkpoints)

    def snapshot(self) -> bytes:
        """What a journal keeps of this run at its epoch beside its history (`history_bytes`): the parameters,
        the optimizer's state, the gradients where they accumulate, the batches' generator, and how many of its
        changes it had taken; torch.save'd, CPU tensors and numbers only (torch.load with weights_only reads
        it)."""
        import io

        state = None if isinstance(self.optimizer, PlainGD) else self.optimizer.state_dict()["state"]
        grads = None
        if self.config.accumulate_grad:
            grads = [None if p.grad is None else p.grad.detach().cpu().clone() for p in self.model.parameters()]
        kept = {
            "epoch": self.epoch,
            "changes": len(self.changes),
            "flat": self._flat_last.detach().cpu().clone(),
            "state": _on_cpu(state),
            "grads": grads,
            "shuffle": self._shuffle.get_state() if self._batched() else None,
            "status": self.history.status,
            "has_test": self.history.has_test,
        }
        if self.scheduler is not None:
            kept["schedule"] = self._schedule_state()
        out = io.BytesIO()
        torch.save(kept, out)
        return out.getvalue()

    def history_bytes(self, start: int) -> bytes:
        """The history's epochs after `start`, column after column, as float64 bytes (this machine's order):
        loss, rmse, test loss, gradient norm, lr, then each parameter (or, for a large model, their norm)."""
        h = self.history
        columns = [h.loss, h.rmse, h.test_loss, h.grad_norm, h.lr]
        columns += [h.params[name] for name in h.names] if h.count is None else [h.norm]
        return b"".join(column[start:].tobytes() for column in columns)

    def resume_from(
        self,
        snapshot: bytes,
        history: bytes,
        changes: list[tuple[int, dict[str, Any]]],
        earlier: Iterable[bytes] = (),
    ) -> None:
        """Stand where a journaled run stood at its snapshot (this trainer fresh, built from the run's start):
        its history (`history`, every epoch's `history_bytes` from 0), the changes it had taken, its parameters,
        optimizer state, gradients and batches' generator, bit for bit. `changes`: all the run's, in order; those
        not yet taken are scheduled. The snapshot and the run's `earlier` ones (its journal's, in epoch order)
        become its checkpoints, so an epoch before it replays from the nearest (`adopt`), not from epoch 0."""
        import io

        kept = torch.load(io.BytesIO(snapshot), weights_only=True)
        epoch, taken = int(kept["epoch"]), int(kept["changes"])
        configs = [self.config]  # the settings after each change taken: a journaled checkpoint's config
        for _, change in changes[:taken]:  # the settings (and the optimizer) the run had then
            self.switch(**change)
            configs.append(self.config)
        self.changes = [(at, dict(change)) for at, change in changes[:taken]]
        h = self.history
        width = 5 + (len(h.names) if h.count is None else 1)
        values = array("d", history)
        if len(values) != width * epoch:
            raise ValueError(f"a snapshot of epoch {epoch} with {len(values)} history values, not {width * epoch}")
        columns = [values[k * epoch : (k + 1) * epoch] for k in range(width)]
        h.loss, h.rmse, h.test_loss, h.grad_norm, h.lr = columns[:5]
        if h.count is None:
            h.params = dict(zip(h.names, columns[5:]))
        else:
            h.norm = columns[5]
        h.status, h.has_test = str(kept["status"]), bool(kept["has_test"])
        flat = kept["flat"].to(self.initial.dtype).to(self.device)
        self.model.load_flat(flat)
        self._flat_last = flat
        if kept["state"] is not None:
            assert not isinstance(self.optimizer, PlainGD)
            groups = self.optimizer.state_dict()["param_groups"]
            self.optimizer.load_state_dict({"state": kept["state"], "param_groups": groups})
        if kept["grads"] is not None:
            for p, g in zip(self.model.parameters(), kept["grads"]):
                p.grad = None if g is None else g.to(p.device)
        if kept["shuffle"] is not None:
            self._shuffle.set_state(kept["shuffle"])
        if kept.get("schedule") is not None:
            self._load_schedule(kept["schedule"])
        self._rules_from_history()

        def point(kept: dict[str, Any]) -> Checkpoint | None:
            """A snapshot as `checkpoint` keeps that epoch (copies: the run's own state goes on from the last)."""
            at, count = int(kept["epoch"]), int(kept["changes"])
            if not 0 < at <= epoch or count > taken:
                return None
            state = None if kept["state"] is None else self._pack(kept["state"])
            grads = kept["grads"]
            if grads is not None:
                grads = [None if g is None else g.to(self.device, copy=True) for g in grads]
            flat = kept["flat"].to(self.initial.dtype).to(self.device, copy=True) if self.summarized else None
            return Checkpoint(at, configs[count], count, state, grads, kept["shuffle"], flat, kept.get("schedule"))

        for before in earlier:  # one at a time: within the checkpoints' budget as they come
            self.adopt([point(torch.load(io.BytesIO(before), weights_only=True))])
        self.adopt([point(kept)])
        self.schedule(changes[taken:])

    def adopt(self, points: Iterable[Checkpoint | None]) -> None:
        """Checkpoints of this run made elsewhere, kept beside its own: its journal's snapshots (`resume_from`)
        and those a replay of it took on its way (a revisit). The caller vouches they are this run's, bit for
        bit. Each is kept at an epoch the run has reached and holds none at, in epoch order; one at a multiple of
        CHECKPOINT_EVERY only where `checkpoint` keeps them (a multiple of the spacing), a journal's (any epoch)
        as the budget allows. Past CHECKPOINT_BYTES the spacing doubles and, of the checkpoints within each span
        of it, the first stays (those at its multiples, where the run took them; a journal's between)."""
        from bisect import bisect_left

        epochs = [c.epoch for c in self._checkpoints]
        for point in points:
            if point is None or not 0 < point.epoch <= self.epoch:
                continue
            at = point.epoch
            if at % self.CHECKPOINT_EVERY == 0 and at % self._spacing:
                continue
            i = bisect_left(epochs, at)
            if i < len(epochs) and epochs[i] == at:
                continue
            epochs.insert(i, at)
            self._checkpoints.insert(i, point)
            self._kept += point.size
        self._thin()

    def kept_flats(self) -> list[tuple[int, torch.Tensor]]:
        """A large model's parameters where its run keeps them (its history keeps their norm only): at epoch 0,
        at each checkpoint and after its last epoch, as (epoch, flat) in order."""
        kept = [(0, self.initial)]
        kept += [(c.epoch, c.flat) for c in self._checkpoints if c.flat is not None and 0 < c.epoch < self.epoch]
        if self.epoch:
            kept.append((self.epoch, self._flat_last))
        return kept

    def _pack(self, state: dict[int, dict[str, Any]]) -> PackedState:
        """An optimizer's state as compactly as it can be kept: one bytes object for every CPU tensor in it
        (a few hundred bytes, where tensor objects cost kilobytes), with a layout shared by checkpoints."""
        layout: list[tuple[Any, ...]] = []
        blobs: list[bytes] = []
        tensors: list[torch.Tensor] = []
        for i, entries in state.items():
            for key, value in entries.items():
                if isinstance(value, torch.Tensor):
                    if value.device.type == "cpu":
                        blobs.append(value.detach().contiguous().numpy().tobytes())
                        layout.append((i, key, "bytes", tuple(value.shape), value.dtype))
                    else:  # on a device, kept there: reading it back would wait for the device
                        tensors.append(value.detach().clone())
                        layout.append((i, key, "tensor"))
                else:
                    layout.append((i, key, "value", copy.deepcopy(value)))
        shape = tuple(layout)
        shared = self._layouts.setdefault(shape, shape)
        return PackedState(shared, b"".join(blobs), tuple(tensors))

    def replay(self, epoch: int) -> Trainer:
        """A new trainer standing where this run stood after `epoch`: its history, parameters and optimizer
        state, bit for bit, and every change it took up to then (a change made after `epoch` included, as it
        takes effect from the next one). From the last checkpoint at or before `epoch`, then epoch by epoch."""
        replaying = self.replaying(epoch, None)
        while True:
            try:
                next(replaying)
            except StopIteration as done:
                trainer: Trainer = done.value
                return trainer

    def replaying(self, epoch: int, budget: float | None = 0.05) -> Generator[None, None, Trainer]:
        """`replay(epoch)` a slice of about `budget` seconds at a time (None: at once), yielding between slices
        (a session reads its pipe there); returns the trainer."""
        point = next((c for c in reversed(self._checkpoints) if c.epoch <= epoch), None)
        if point is None:
            trainer, done = self.sibling(self.start_config), 0
            trainer.start_config = self.start_config
        else:
            trainer = self.sibling(point.config)
            trainer.start_config = self.start_config
            trainer.history = self.history.head(point.epoch)
            flat = point.flat
            if flat is None:
                flat = torch.tensor([trainer.history.params[n][-1] for n in self.names], dtype=self.initial.dtype)
            trainer.model.load_flat(flat.to(self.device))
            trainer._flat_last = trainer.model.flat()
            if point.state is not None:
                optimizer = trainer.optimizer
                assert not isinstance(optimizer, PlainGD)
                groups = optimizer.state_dict()["param_groups"]  # built from the checkpoint's config
                optimizer.load_state_dict({"state": _unpack(point.state), "param_groups": groups})
            if point.grads is not None:
                for p, g in zip(trainer.model.parameters(), point.grads):
                    p.grad = None if g is None else g.clone()
            if point.shuffle is not None:
                trainer._shuffle.set_state(point.shuffle)
            if point.schedule is not None:
                trainer._load_schedule(point.schedule)
            trainer.changes = list(self.changes[: point.changes])
            trainer._checkpoints = [c for c in self._checkpoints if c.epoch <= point.epoch]
            trainer._spacing = self._spacing
            trainer._kept = sum(c.size for c in trainer._checkpoints)
            done = point.changes
        # a change at `epoch` took effect from the next one: kept
        trainer.schedule([(at, change) for at, change in self.changes[done:] if at <= epoch])
        while trainer.epoch < epoch and trainer.status == "ok" and trainer.stopped is None:
            if trainer.run_chunk(epoch - trainer.epoch, budget) is None:
                break
            if budget is not None:
                yield
        trainer.take_due()
        trainer._rules_from_history()
        return trainer

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

    def _build_schedule(self, config: RunConfig) -> None:
        """The run's lr scheduler (None without a schedule), torch's own, over the optimizer; for plain gd over a
        stand-in torch optimizer that only holds the lr, which the hand-written step reads each epoch."""
        self.scheduler: Any = None
        self._lr_holder: Any = self.optimizer
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
        size = self.config.batch_size
        return size is not None and size < self.data.n_train

    def batches(self) -> DataLoader[tuple[torch.Tensor, ...]]:
        """How an epoch of mini-batches draws its batches: torch's DataLoader over the training set, each pass
        reshuffled from the run's batches' generator (or in the data's order). A whole pass draws from that
        generator as an epoch does: iterated to its end, it leaves the run where its next epoch starts."""
        from torch.utils.data import DataLoader, TensorDataset

        config, data = self.config, self.data
        dataset = TensorDataset(data.x_train, data.y_train)
        if config.rng == "single":  # a DataLoader without a generator, its draws from the one stream
            sampler = StreamSampler(len(dataset), self._shuffle) if config.shuffle else None
            return DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, generator=self._shuffle)
        return DataLoader(
            dataset,
            batch_size=config.batch_size,
            shuffle=config.shuffle,
            generator=self._shuffle if config.shuffle else None,
        )

    def _epochs_batched(self, max_epochs: int, deadline: float | None, should_stop: StopCheck | None) -> Epochs:
        """Mini-batch gradient descent, each epoch a pass of torch's own DataLoader over the training set
        (reshuffled every epoch from the run's seed, or in the data's order): an update per batch; the epoch's
        loss is the mean of its batch losses, each taken before its own update (and the RMSE the root of the
        mean of the batches' mean squared errors); the gradient norm is the last batch's. Each batch's loss is
        read as it is made, on any device."""
        model, optimizer, data = self.model, self.optimizer, self.data
        config = self.config
        loader = self.batches()
        params = model.parameters()
        loss_fn, metric_is_loss = self._loss_fn, self._metric_is_loss
        zero = not config.accumulate_grad
        test = data.has_test
        every = self.CHECKPOINT_EVERY
        step = stepper(optimizer)
        tick, per_batch = self._schedule_steps(batched=True)
        rule = self._stop_rule()
        summarize = self.summarized
        rows: list[list[float]] = []
        failure = None
        try:
            for epoch in range(self.epoch + 1, self.epoch + 1 + max_epochs):
                losses: list[float] = []
                squares: list[float] = []
                grad: list[float] = []
                for xb, yb in loader:
                    preds = model(xb)
                    loss = loss_fn(preds, yb)
                    loss.backward()
                    losses.append(loss.item())
                    if not metric_is_loss:
                        squares.append(mse(preds.detach(), yb).item())
                    grads = torch.cat([p.grad.reshape(-1) for p in params])  # type: ignore[union-attr]
                    grad = [_norm(grads)] if summarize else grads.tolist()
                    step()
                    if zero:
                        optimizer.zero_grad()
                    if per_batch is not None:
                        per_batch()
                value = sum(losses) / len(losses)
                square = value if metric_is_loss else sum(squares) / len(squares)
                held = value
                if test:
                    with torch.inference_mode():
                        held = loss_fn(model(data.x_test), data.y_test).item()
                if summarize:
                    self._flat_last = model.flat()
                    rows.append([value, square, held, _norm(self._flat_last), *grad])
                else:
                    rows.append([value, square, held, *model.flat().tolist(), *grad])
                if tick is not None:
                    tick(value)
                if epoch % every == 0:
                    self.checkpoint(epoch)
                if not isfinite(value) or (summarize and not _finite(rows[-1][1:4])):
                    break
                if rule is not None:
                    self.stopped = rule(value, square**0.5)
                    if self.stopped is not None:
                        break
                if deadline is not None and time.perf_counter() >= deadline:
                    break
                if should_stop is not None and should_stop():
                    break
        except Exception as error:  # keep the epochs that completed, drop the one that failed
            failure = error
        n, k = len(rows), 1 if summarize else len(self.names)
        if n == 0:
            empty = torch.zeros(0, 3, dtype=torch.float64)
            return empty, empty, empty, failure
        table = torch.tensor(rows, dtype=torch.float64)
        return table[:, :3], table[:, 3 : 3 + k], table[:, 3 + k :], failure

    def _epochs_read_each(self, max_epochs: int, deadline: float | None, should_stop: StopCheck | None) -> Epochs:
        """The CPU loop: each value is read as soon as it exists (on the CPU a read costs no synchronisation,
        and a Python float is cheaper to keep than a tensor). Stops after the first non-finite loss."""
        model, optimizer, data = self.model, self.optimizer, self.data
        x, y = data.x_train, data.y_train
        params = model.parameters()
        loss_fn, metric_is_loss = self._loss_fn, self._metric_is_loss
        zero = not self.config.accumulate_grad
        test = data.has_test
        p0 = params[0]
        single = len(params) == 1 and p0.dim() == 1
        every = self.CHECKPOINT_EVERY
        step = stepper(optimizer)
        tick = self._schedule_steps(batched=False)[0]
        rule = self._stop_rule()
        summarize = self.summarized  # norms only: a float each for the parameters and the gradient
        losses: list[float] = []
        metrics: list[float] = []
        tests: list[float] = []
        flats: list[float] = []
        grads: list[float] = []
        failure = None
        try:
            for epoch in range(self.epoch + 1, self.epoch + 1 + max_epochs):
                preds = model(x)
                loss = loss_fn(preds, y)
                loss.backward()
                value = loss.item()
                losses.append(value)
                if not metric_is_loss:
                    metrics.append(mse(preds.detach(), y).item())
                # (backward() has just made every .grad: never None here)
                if summarize:
                    grads.append(_norm(torch.cat([p.grad.reshape(-1) for p in params])))  # type: ignore[union-attr]
                else:
                    grads += p0.grad.tolist() if single else torch.cat([p.grad.reshape(-1) for p in params]).tolist()  # type: ignore[union-attr]
                step()
                if zero:
                    optimizer.zero_grad()
                if summarize:
                    self._flat_last = model.flat()
                    flats.append(_norm(self._flat_last))
                else:
                    flats += p0.tolist() if single else model.flat().tolist()
                if test:
                    with torch.inference_mode():
                        tests.append(loss_fn(model(data.x_test), data.y_test).item())
                if tick is not None:
                    tick(value)
                if epoch % every == 0:
                    self.checkpoint(epoch)
                if not isfinite(value):
                    break
                if summarize and not _finite([metrics[-1] if metrics else 0.0, tests[-1] if test else 0.0, flats[-1]]):
                    break  # the epoch `record` cuts at: the flat kept is then the one it needs
                if rule is not None:
                    self.stopped = rule(value, (metrics[-1] if metrics else value) ** 0.5)
                    if self.stopped is not None:
                        break
                if deadline is not None and time.perf_counter() >= deadline:
                    break
                if should_stop is not None and should_stop():
                    break
        except Exception as error:  # keep the epochs that completed, drop the one that failed
            failure, k = error, 1 if summarize else len(self.names)
            n = len(tests) if test else len(flats) // k
            del losses[n:], metrics[n:], tests[n:], flats[n * k :], grads[n * k :]
        n = len(losses)
        if n == 0:
            empty = torch.zeros(0, 3, dtype=torch.float64)
            return empty, empty, empty, failure
        scalars = torch.stack([_tensor(losses), _tensor(metrics or losses), _tensor(tests or losses)], dim=1)
        return scalars, _tensor(flats).view(n, -1), _tensor(grads).view(n, -1), failure

    def _epochs_read_once(self, max_epochs: int, deadline: float | None, should_stop: StopCheck | None) -> Epochs:
        """The accelerator loop: every value stays on the device until the chunk ends and is read back in one
        transfer, so the device never waits for the host within a chunk."""
        model, optimizer, data = self.model, self.optimizer, self.data
        x, y = data.x_train, data.y_train
        params = model.parameters()
        loss_fn, metric_is_loss = self._loss_fn, self._metric_is_loss
        zero = not self.config.accumulate_grad
        test = data.has_test
        single = len(params) == 1
        p0 = params[0]
        # Plain GD updates out of place, so each epoch's parameter tensor survives as its own snapshot;
        # torch.optim updates in place, so its parameters are copied. A gradient is a fresh tensor each
        # epoch unless gradients accumulate.
        snapshot_free = single and isinstance(optimizer, PlainGD)
        every = self.CHECKPOINT_EVERY
        step = stepper(optimizer)
        tick = self._schedule_steps(batched=False)[0]
        grad_fresh = single and zero
        rule = self._stop_rule()  # with rules, each epoch's loss is read (one synchronisation an epoch)
        losses: list[torch.Tensor] = []
        metrics: list[torch.Tensor] = []
        tests: list[torch.Tensor] = []
        flats: list[torch.Tensor] = []
        grads: list[torch.Tensor] = []
        failure = None
        try:
            for epoch in range(self.epoch + 1, self.epoch + 1 + max_epochs):
                preds = model(x)
                loss = loss_fn(preds, y)
                loss.backward()
                losses.append(loss.detach())
                if not metric_is_loss:
                    metrics.append(mse(preds.detach(), y))
                # (backward() has just made every .grad: never None here)
                grads.append(p0.grad if grad_fresh else torch.cat([p.grad.reshape(-1) for p in params]))  # type: ignore[arg-type, union-attr]
                step()
                if zero:
                    optimizer.zero_grad()
                flats.append(p0.data if snapshot_free else model.flat())
                if test:
                    with torch.inference_mode():
                        tests.append(loss_fn(model(data.x_test), data.y_test))
                if tick is not None:
                    tick(float(losses[-1]))
                if epoch % every == 0:
                    self.checkpoint(epoch)
                if rule is not None:
                    square = float(metrics[-1] if metrics else losses[-1])
                    self.stopped = rule(float(losses[-1]), square**0.5)
                    if self.stopped is not None:
                        break
                if deadline is not None and time.perf_counter() >= deadline:
                    break
                if should_stop is not None and should_stop():
                    break
        except Exception as error:  # keep the epochs that completed, drop the one that failed
            failure = error
            n = len(tests) if test else len(flats)
            del losses[n:], metrics[n:], tests[n:], flats[n:], grads[n:]
        n = len(losses)
        if n == 0:
            empty = torch.zeros(0, 3, dtype=torch.float64)
            return empty, empty, empty, failure
        loss_t = torch.stack(losses)
        scalars = torch.stack(
            [loss_t, torch.stack(metrics) if metrics else loss_t, torch.stack(tests) if tests else loss_t], dim=1
        )
        flat, grad = torch.stack(flats).reshape(n, -1), torch.stack(grads).reshape(n, -1)
        # the chunk's one transfer; widened to float64 on the host (mps has no float64)
        table = torch.cat([scalars, flat, grad], dim=1).cpu().double()
        k = flat.shape[1]
        return table[:, :3], table[:, 3 : 3 + k], table[:, 3 + k :], failure

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
        while self._checkpoints and self._checkpoints[-1].epoch > self.epoch:  # epochs cut after a divergence
            self._kept -= self._checkpoints.pop().size
        return chunk


def _on_cpu(value: Any) -> Any:
    """An optimizer's state with its tensors copied to the CPU (what torch.save keeps the same on any device)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, dict):
        return {k: _on_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_cpu(v) for v in value)
    return value


def _norm(values: torch.Tensor) -> float:
    """The Euclidean norm of a flat tensor, in float64 (a float32 weight's square never overflows there)."""
    return float(torch.linalg.vector_norm(values, dtype=torch.float64))


def _finite(values: list[float]) -> bool:
    return all(isfinite(v) for v in values)


def _doubles(values: list[float]) -> array[float]:
    """Python floats as an array('d'), through struct (array('d', list) parses every element on its own)."""
    return array("d", struct.pack(f"{len(values)}d", *values))


def _tensor(values: list[float]) -> torch.Tensor:
    """Python floats as a float64 CPU tensor sharing their array (torch.tensor(list) inspects every element)."""
    return torch.frombuffer(_doubles(values), dtype=torch.float64)
