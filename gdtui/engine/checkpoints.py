"""A run's checkpoints and the journal's side of it: what a replay needs besides the history, kept every
CHECKPOINT_EVERY epochs within a budget, and a run's state written to and read back from its journal.

Why: a branch, a revisit or a failed epoch's restore replays the run from its last checkpoint at or before an
epoch, not from epoch 0, and a journaled run resumes bit for bit from its snapshot; both need the state the
history does not hold (the optimizer's, the gradients where they accumulate, the batches' generator, the
schedule's, a large model's parameters). Kept compact (`_pack`: one bytes object per checkpoint, not tensor
objects) and within CHECKPOINT_BYTES (`_thin`), so a long run's memory stays bounded.
"""

from __future__ import annotations

import copy
from array import array
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any, Self

import torch

from gdtui.engine.config import RunConfig
from gdtui.engine.optim import PlainGD
from gdtui.engine.trainerbase import TrainerBase


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


class Checkpoints(TrainerBase):
    """The run's checkpoints, its replays from them and its journal's snapshots (a mixin of `Trainer`)."""

    CHECKPOINT_EVERY = 128  # epochs between checkpoints: a branch replays at most this many epochs
    # What a run's checkpoints may hold (a large model's are megabytes each): past it, every other one goes and
    # they are kept twice as far apart, so a branch replays more epochs but memory stays bounded.
    CHECKPOINT_BYTES = 256 * 2**20

    _checkpoints: list[Checkpoint]  # in epoch order
    _spacing: int  # epochs between the checkpoints kept (doubled when over budget)
    _kept: int  # the checkpoints' bytes
    _layouts: dict[tuple[Any, ...], tuple[Any, ...]]  # the optimizer states' layouts, shared by checkpoints

    def _start_checkpoints(self) -> None:
        """None kept yet, at the run's own spacing (a reset's)."""
        self._checkpoints = []
        self._spacing = self.CHECKPOINT_EVERY
        self._kept = 0
        self._layouts = {}

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

    def _cut_checkpoints(self) -> None:
        """Drop the checkpoints past the history's end (epochs a divergence cut)."""
        while self._checkpoints and self._checkpoints[-1].epoch > self.epoch:
            self._kept -= self._checkpoints.pop().size

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

    def replay(self, epoch: int) -> Self:
        """A new trainer standing where this run stood after `epoch`: its history, parameters and optimizer
        state, bit for bit, and every change it took up to then (a change made after `epoch` included, as it
        takes effect from the next one). From the last checkpoint at or before `epoch`, then epoch by epoch."""
        replaying = self.replaying(epoch, None)
        while True:
            try:
                next(replaying)
            except StopIteration as done:
                trainer: Self = done.value
                return trainer

    def replaying(self, epoch: int, budget: float | None = 0.05) -> Generator[None, None, Self]:
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


def _on_cpu(value: Any) -> Any:
    """An optimizer's state with its tensors copied to the CPU (what torch.save keeps the same on any device)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, dict):
        return {k: _on_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_cpu(v) for v in value)
    return value
