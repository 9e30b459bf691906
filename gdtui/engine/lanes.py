"""Lanes: several runs from one start on the same data, raced in lockstep, and branched from any epoch.

Why: the questions a learner brings are comparisons (is this lr too big, is Adam better here, what did
forgetting zero_grad do), answered by runs side by side from the same initial parameters on the same data.
Each lane is a Trainer, a run value of its own built as its solo run is built (on the shared data), so a
lane's numbers are its solo run's, bit for bit. A race advances its lanes in lockstep: at every report the
running lanes stand at the same epoch. A branch replays its source lane's run (its start and every change
made along the way) up to the epoch it branches from, so it carries the parameters and the optimizer state
the source had there, exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gdtui.engine import stack
from gdtui.engine.config import LIVE_FIELDS, MAX_LANES, SWITCH_FIELDS, ConfigError, RunConfig
from gdtui.engine.csvfile import CsvData
from gdtui.engine.history import Chunk
from gdtui.engine.record import Change, LaneRecord, Record
from gdtui.engine.trainer import Trainer, TrainingError

PROBE_EPOCHS = 8  # a budgeted chunk of several units, before their cost per epoch is known


@dataclass
class Lane:
    """One run of a race: its id (stable while the race lasts), its trainer, and where it branched from."""

    id: int
    trainer: Trainer
    origin: tuple[int, int] | None = None  # (source lane id, epoch) for a branch

    @property
    def active(self) -> bool:
        """Whether the lane can train further (not done, not diverged)."""
        t = self.trainer
        return not t.done and t.status != "diverged"


class Race:
    """A set of lanes on one dataset. `run_chunk()` advances every active lane in lockstep; `add()`,
    `branch()` and `remove()` change the set. Raises ConfigError for a lane the race cannot hold."""

    def __init__(self, config: RunConfig, csv: CsvData | None = None, readback: str | None = None):
        first = Trainer(config, readback=readback, csv=csv)
        self.lanes: list[Lane] = [Lane(0, first)]
        self._next_id = 1
        self.epoch_cost: float | None = None  # seconds a lockstep epoch of every unit took in the last chunk

    @classmethod
    def of_record(cls, record: Record, csv: CsvData | None = None, readback: str | None = None) -> Race:
        """The race a record holds, every lane from epoch 0 with its changes scheduled (each taken at its epoch
        as the race runs), its id and origin as recorded; a lane with a journaled checkpoint (`record.checkpoints`)
        stands where that checkpoint stood instead, its history whole."""
        first, *others = record.lanes
        race = cls(first.start, csv=csv, readback=readback)
        race.lanes[0].id, race.lanes[0].origin = first.id, first.origin
        for other in others:
            if len(race.lanes) >= MAX_LANES:
                raise ConfigError("lanes", f"a race holds at most {MAX_LANES} lanes")
            race.lanes.append(Lane(other.id, race.lanes[0].trainer.sibling(other.start), other.origin))
        race._next_id = max(lane.id for lane in race.lanes) + 1
        for built, kept in zip(race.lanes, record.lanes):
            changes = [(c.epoch, dict(c.settings)) for c in kept.changes]
            saved = record.checkpoints.get(kept.id)
            if saved is None:
                built.trainer.schedule(changes)
            else:
                built.trainer.resume_from(saved[0], saved[1], changes, record.snapshots.get(kept.id, ()))
        return race

    def record(self, focus: int) -> Record:
        """The race as a record: each lane's last start, its changes since, the epoch it reached, its origin."""
        lanes = []
        for lane in self.lanes:
            t = lane.trainer
            changes = tuple(Change(at, dict(change)) for at, change in t.changes)
            lanes.append(LaneRecord(lane.id, t.start_config, changes, t.epoch, lane.origin))
        return Record(tuple(lanes), focus)

    def lane(self, lane_id: int) -> Lane:
        for lane in self.lanes:
            if lane.id == lane_id:
                return lane
        raise KeyError(f"no lane {lane_id}")

    def _new_lane(self, trainer: Trainer, origin: tuple[int, int] | None = None) -> Lane:
        if len(self.lanes) >= MAX_LANES:
            raise ConfigError("lanes", f"a race holds at most {MAX_LANES} lanes")
        lane = Lane(self._next_id, trainer, origin)
        self._next_id += 1
        self.lanes.append(lane)
        return lane

    def add(self, config: RunConfig) -> Lane:
        """A new lane of `config` from epoch 0, on the race's data (its solo run, exactly)."""
        return self._new_lane(self.lanes[0].trainer.sibling(config))

    def replace(self, lane_id: int, config: RunConfig) -> Lane:
        """Lane `lane_id` starts again from epoch 0 with `config` (same data), in its place."""
        lane = self.lane(lane_id)
        lane.trainer, lane.origin = self.lanes[0].trainer.sibling(config), None
        return lane

    def remove(self, lane_id: int) -> None:
        """Remove a lane; the last one stays."""
        if len(self.lanes) == 1:
            raise ConfigError("lanes", "the last lane stays")
        self.lanes.remove(self.lane(lane_id))

    def branch(self, lane_id: int, epoch: int | None = None, **changes: Any) -> Lane:
        """A new lane that starts from lane `lane_id` as it was after `epoch` (default: its latest finite one), its
        parameters and optimizer state both, then takes `changes` (lr, optimizer, loss...) from there on."""
        source = self.lane(lane_id).trainer
        last_finite = source.epoch - (1 if source.status == "diverged" else 0)
        epoch = last_finite if epoch is None else epoch
        if not 0 <= epoch <= last_finite:
            raise ConfigError("epoch", f"lane {lane_id} can branch from epochs 0 to {last_finite}, not {epoch}")
        trainer = source.replay(epoch)
        unknown = set(changes) - LIVE_FIELDS - SWITCH_FIELDS
        if unknown:
            raise ConfigError(sorted(unknown)[0], f"a branch keeps its source's {sorted(unknown)[0]}")
        if changes:
            trainer.switch(**changes)
        return self._new_lane(trainer, (lane_id, epoch))

    def reset(self) -> None:
        """Every lane back to epoch 0 with its current settings (a branch becomes a run of its own)."""
        for lane in self.lanes:
            lane.trainer.reset()
            lane.origin = None

    def run_chunk(
        self, max_epochs: int | None = None, budget: float | None = None, should_stop: Callable[[], bool] | None = None
    ) -> dict[int, Chunk]:
        """Advance the active lanes in lockstep, at most `max_epochs` each, for about `budget` seconds in all
        (stopping early when `should_stop()`). Lanes behind the leaders (a lane added from epoch 0) catch up
        first; the leaders wait for them. Returns each lane's new epochs, by lane id."""
        active = [lane for lane in self.lanes if lane.active]
        if not active:
            return {}
        lead = max(lane.trainer.epoch for lane in active)
        behind = [lane for lane in active if lane.trainer.epoch < lead]
        chunks: dict[int, Chunk] = {}
        if behind:  # catching up, within the budget: the leaders stand still
            deadline = None if budget is None else time.perf_counter() + budget
            for lane in behind:
                cap = lead - lane.trainer.epoch  # never past the leaders (nor, in _run_unit, its own budget)
                self._run_unit(
                    [lane], cap if max_epochs is None else min(cap, max_epochs), deadline, should_stop, chunks
                )
            return chunks
        units = [active]  # one lane: nothing to stack (and nothing to probe)
        if len(active) > 1:
            units = [[active[i] for i in unit] for unit in stack.groups([lane.trainer for lane in active])]
        first, *others = units
        share = None if budget is None else budget * len(first) / len(active)
        if others and budget is not None:
            # the other units follow the first unit's epochs without a clock of their own (the race stays in
            # lockstep): the epochs are capped so that all of them fit the budget, by the last chunk's cost
            cap = PROBE_EPOCHS if self.epoch_cost is None else max(1, int(budget / self.epoch_cost))
            max_epochs = cap if max_epochs is None else min(max_epochs, cap)
        started = time.perf_counter()
        deadline = None if share is None else started + share
        n = self._run_unit(first, max_epochs, deadline, should_stop, chunks)
        if n == 0:
            return chunks
        for unit in others:  # exactly as many epochs as the first unit ran: the race stays in lockstep
            self._run_unit(unit, n, None, None, chunks)
        if others:
            self.epoch_cost = (time.perf_counter() - started) / n
        return chunks

    def _run_unit(
        self,
        unit: list[Lane],
        max_epochs: int | None,
        deadline: float | None,
        should_stop: Callable[[], bool] | None,
        chunks: dict[int, Chunk],
    ) -> int:
        """Train a unit of lanes (stacked, or one lane alone) up to `max_epochs` each, never past a lane's own
        budget; put their chunks in `chunks`. Returns how many epochs the unit ran. Raises RaceError."""
        wants = []
        for lane in unit:
            t = lane.trainer
            t.take_due()
            want = t.config.epochs - t.epoch
            due = t.until_change()  # a recorded change comes first: the chunk stops at its epoch
            want = want if due is None else min(want, due)
            want = want if t.hold is None else min(want, t.hold - t.epoch)
            wants.append(want if max_epochs is None else min(want, max_epochs))
        if len(unit) == 1:
            lane = unit[0]
            left = None if deadline is None else max(deadline - time.perf_counter(), 0.0)
            try:
                chunk = lane.trainer.run_chunk(wants[0], left, should_stop)
            except TrainingError as failed:
                if failed.chunk is not None:
                    chunks[lane.id] = failed.chunk
                raise RaceError(failed.error, chunks) from failed
            if chunk is None:
                return 0
            chunks[lane.id] = chunk
            return len(chunk)
        try:
            stacked, ran = stack.run_stacked([lane.trainer for lane in unit], wants, deadline, should_stop)
        except stack.StackFailed as failed:
            for lane, part in zip(unit, failed.chunks):
                if part is not None:
                    chunks[lane.id] = part
            raise RaceError(failed.error, chunks) from failed
        for lane, part in zip(unit, stacked):
            if part is not None:
                chunks[lane.id] = part
            lane.trainer.take_due()
        return ran


class RaceError(TrainingError):
    """An epoch failed inside torch in a race. The epochs completed before it are recorded; `chunks` holds
    them by lane id (every lane's, this call's), and every lane stands where its history ends."""

    def __init__(self, error: Exception, chunks: dict[int, Chunk]):
        super().__init__(error, None)
        self.chunks = chunks
