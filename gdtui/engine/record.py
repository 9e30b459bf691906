"""The run as a record: every lane's start, every change with the epoch it took effect, every branch's origin and
the epoch each lane reached. Two encodings of one value: the snapshot (TOML, `W` and `--save-config`) and the
journal (JSON lines, appended as the run goes); one reader (gdtui.engine.journal.read) loads either.

Why: gdtui is deterministic to the bit, so a lane's start settings and its changes, replayed, are the lane:
`--config`, `gdtui run --config`, resume and replay are all views of this one value. A branch is recorded whole
(its source's start and changes up to the branch, then its own), so it never depends on a lane that may be gone;
its origin is kept for the lanes table. Torch-free: the app may read a record as well as the session.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gdtui.engine.config import CHECKS, LIVE_FIELDS, SWITCH_FIELDS, ConfigError, RunConfig

CHANGE_FIELDS = LIVE_FIELDS | SWITCH_FIELDS  # what a run takes while it goes on


@dataclass(frozen=True)
class Change:
    """Settings a lane took after `epoch` (from epoch + 1 on)."""

    epoch: int
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class LaneRecord:
    """One lane: its id, the settings of its last start, its changes since, the epoch it reached, and (a branch)
    the lane and epoch it branched from."""

    id: int
    start: RunConfig
    changes: tuple[Change, ...] = ()
    reached: int = 0
    origin: tuple[int, int] | None = None

    @property
    def config(self) -> RunConfig:
        """The settings it has at the epoch it reached: its start with every change taken."""
        config = self.start
        for change in self.changes:
            if change.epoch <= self.reached:
                config = config.replace(**change.settings)
        return config


@dataclass(frozen=True)
class Record:
    """A race: its lanes in order, and the focused lane's id."""

    lanes: tuple[LaneRecord, ...]
    focus: int = 0
    checkpoints: Mapping[int, Any] = field(default_factory=dict, compare=False)  # lane id -> its last (journal)
    # lane id -> the snapshots of its journal's checkpoints before that last one, in epoch order (a resume keeps
    # them as checkpoints, so its past replays from the nearest one: `Trainer.resume_from`'s `earlier`)
    snapshots: Mapping[int, tuple[bytes, ...]] = field(default_factory=dict, compare=False)

    def lane(self, lane_id: int) -> LaneRecord:
        for lane in self.lanes:
            if lane.id == lane_id:
                return lane
        raise KeyError(f"no lane {lane_id}")


class RecordError(ValueError):
    """A record that cannot be used: the message names the file and what is wrong."""


def check_change(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A change's settings, each checked as its option checks it (ConfigError names the field)."""
    checked: dict[str, Any] = {}
    for name, value in settings.items():
        if name not in CHANGE_FIELDS:
            raise ConfigError(name, f"{name} cannot change within a run")
        if name == "accumulate_grad":
            if not isinstance(value, bool):
                raise ConfigError(name, f"{value!r} is not true or false")
            checked[name] = value
        elif value is None or value == "none":  # a setting unset (momentum): "none" in a file
            checked[name] = None
        else:
            checked[name] = CHECKS[name](value if isinstance(value, (str, bool, list, tuple)) else str(value))
    return checked


def check_epoch(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**12:
        raise ConfigError("epoch", f"{what}: {value!r} is not an epoch (a whole number from 0)")
    return value


def change_of(value: Any) -> Change:
    """A Change from its encoded form, a table/dict of `epoch` and settings, checked."""
    if not isinstance(value, Mapping) or "epoch" not in value:
        raise ConfigError("changes", f"{_shown(value)} is not a change: give its epoch and its settings")
    settings = {k.replace("-", "_"): v for k, v in value.items() if k != "epoch"}
    return Change(check_epoch(value["epoch"], "a change's epoch"), check_change(settings))


def encoded_change(change: Change) -> dict[str, Any]:
    """A change as the encodings hold it: its epoch, then its settings under their option names."""
    return {"epoch": change.epoch, **{k.replace("_", "-"): v for k, v in change.settings.items()}}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def finite(value: Any) -> Any:
    """A value JSON can hold as a number (inf and nan as strings the checks read back)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if value != value else ("inf" if value > 0 else "-inf")
    return value
