"""The journal: a run's record appended as it happens (JSON lines), so a killed gdtui loses nothing of its story.

Why: the record (gdtui.engine.record) is the run; a TOML snapshot holds it when the user asks (`W`), the journal
holds it always. Each line is one event, flushed as it is written: a new race, a lane (added, branched,
restarted), a change at its epoch, a lane removed, the focus, the epochs reached. A journal cut mid-line (the
process killed while writing) loads up to its last complete line. Torch-free.

    {"gdtui": "journal", "version": 1}
    {"race": [LANE, ...], "focus": 0}
    {"lane": LANE}                          a lane added, branched or restarted (it replaces one of its id)
    {"change": 0, "epoch": 1910, "settings": {"lr": 0.0001}}
    {"remove": 1}
    {"focus": 2}
    {"reached": {"0": 2000, "2": 1500}}
    {"checkpoint": 0, "epoch": 9000, "since": 4000, "history": B64, "snapshot": B64}
    {"end": true}                           the gdtui that wrote it quit as it should

LANE is {"id": 0, "start": {SETTINGS}, "changes": [{"epoch": E, SETTINGS}], "origin": [SOURCE, EPOCH] or null}
with SETTINGS under the command line's names, as a TOML snapshot holds them. A checkpoint (every few seconds
of training, and at the end) holds a lane's history since its last one (`Trainer.history_bytes`) and its state
then (`Trainer.snapshot`), so a resume replays seconds of epochs, not the run, and keeps every snapshot of the
chain as a checkpoint (a revisit of its past replays from the nearest); a lane's chain of checkpoints starts
anew with each `lane` event for it.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import fields, replace
from typing import IO, Any

from gdtui.engine.config import ConfigError, RunConfig
from gdtui.engine.record import LaneRecord, Record, RecordError, change_of, encoded_change, finite

VERSION = 1
HEADER = {"gdtui": "journal", "version": VERSION}  # and the writing process's pid
MAX_LINE = 1 << 28  # an event is a few hundred bytes, a checkpoint a few MB: longer is no journal of ours


def settings_of(config: RunConfig) -> dict[str, Any]:
    """A config's settings as a journal holds them (None left out)."""
    out: dict[str, Any] = {}
    for f in fields(RunConfig):
        value = getattr(config, f.name)
        if f.name == "schedule" and value is not None:  # as a TOML snapshot holds it: a table a part
            from gdtui.engine.schedules import tables

            out["schedule"] = tables(value)
        elif value is not None:
            out[f.name.replace("_", "-")] = list(value) if isinstance(value, tuple) else finite(value)
    return out


def lane_of(lane: LaneRecord) -> dict[str, Any]:
    return {
        "id": lane.id,
        "start": settings_of(lane.start),
        "changes": [{k: finite(v) for k, v in encoded_change(c).items()} for c in lane.changes],
        "origin": list(lane.origin) if lane.origin is not None else None,
    }


class Journal:
    """A journal being written: `write(record)` appends what changed since the last record it was given, as
    events, each line flushed; `reached(record)` the epochs each lane stands at."""

    def __init__(self, path: str) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
        size = os.fstat(fd).st_size
        cut = size > 0 and os.pread(fd, 1, size - 1) != b"\n"  # a line cut by a kill: ended before ours
        self.handle: IO[str] = os.fdopen(fd, "a", encoding="utf-8")
        if cut:
            self.handle.write("\n")
        try:  # held while the run goes on: a gdtui started meanwhile sees the journal is in use
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (ImportError, OSError):
            pass
        self.last: Record | None = None
        self.epochs: dict[int, int] = {}
        self.saved: dict[int, int] = {}  # each lane's last checkpointed epoch (its chain's end)
        self._line({**HEADER, "pid": os.getpid()})

    def _line(self, event: dict[str, Any]) -> None:
        self.handle.write(json.dumps(event, separators=(",", ":")) + "\n")
        self.handle.flush()

    def write(self, record: Record) -> None:
        """Append the events that take the last record written to `record`."""
        last = self.last
        self.last = record
        if last is None:
            self._line({"race": [lane_of(lane) for lane in record.lanes], "focus": record.focus})
            return
        before = {lane.id: lane for lane in last.lanes}
        now = {lane.id: lane for lane in record.lanes}
        for lane_id in before:
            if lane_id not in now:
                self._line({"remove": lane_id})
        for lane in record.lanes:
            old = before.get(lane_id := lane.id)
            if (
                old is None
                or old.start != lane.start
                or lane.reached < old.reached
                or (
                    lane.changes[: len(old.changes)] != old.changes  # restarted, reset, or another history
                )
            ):
                self._line({"lane": lane_of(lane)})
                self.saved.pop(lane_id, None)
                continue
            for change in lane.changes[len(old.changes) :]:
                settings = {k: finite(v) for k, v in encoded_change(change).items() if k != "epoch"}
                self._line({"change": lane_id, "epoch": change.epoch, "settings": settings})
        if record.focus != last.focus:
            self._line({"focus": record.focus})

    def reached(self, record: Record) -> None:
        """Append the epochs the lanes stand at, if any moved since the last time."""
        epochs = {lane.id: lane.reached for lane in record.lanes}
        if epochs != self.epochs:
            self.epochs = epochs
            self._line({"reached": {str(k): v for k, v in epochs.items()}})

    def checkpoint(self, lane_id: int, epoch: int, history: bytes, snapshot: bytes) -> None:
        """A lane's state at `epoch` and its history since its last checkpoint (`history`: the epochs after it)."""
        since = self.saved.get(lane_id, 0)
        text = base64.b64encode
        event = {"checkpoint": lane_id, "epoch": epoch, "since": since}
        self._line({**event, "history": text(history).decode(), "snapshot": text(snapshot).decode()})
        self.saved[lane_id] = epoch

    def end(self) -> None:
        """The run closed as it should: a resume is not needed (`{"end": true}`)."""
        self._line({"end": True})

    def close(self) -> None:
        try:
            self.handle.close()
        except OSError:
            pass


def _start(path: str, number: int, settings: Any) -> RunConfig:
    from gdtui.engine.config import check_combination
    from gdtui.engine.presets import resolve
    from gdtui.engine.tomlconfig import KEYS, ConfigFileError, checked_settings

    if not isinstance(settings, dict):
        raise RecordError(f"{path}:{number}: a lane's start is not a table of settings")
    schedule = settings.get("schedule")
    if isinstance(schedule, list) and schedule and all(isinstance(part, list) for part in schedule):
        settings = {**settings, "schedule": _tupled(schedule)}  # as a journal held it before: [name, [[arg, v]]]
    try:
        checked = checked_settings(f"{path}:{number}", settings, KEYS)
        preset = checked.pop("preset", None)
        base = resolve(preset)
        return check_combination(base.replace(**checked))
    except ConfigFileError as error:
        raise RecordError(str(error)) from None
    except ConfigError as error:
        raise RecordError(f"{path}:{number}: {error.field.replace('_', '-')}: {error.message}") from None


def _tupled(value: Any) -> Any:
    return tuple(_tupled(v) for v in value) if isinstance(value, list) else value


def _lane(path: str, number: int, value: Any) -> LaneRecord:
    if not isinstance(value, dict) or not isinstance(value.get("id"), int) or isinstance(value.get("id"), bool):
        raise RecordError(f"{path}:{number}: not a lane")
    changes = value.get("changes") or []
    origin = value.get("origin")
    try:
        listed = tuple(change_of(c) for c in changes) if isinstance(changes, list) else None
    except ConfigError as error:
        raise RecordError(f"{path}:{number}: {error.field.replace('_', '-')}: {error.message}") from None
    if listed is None:
        raise RecordError(f"{path}:{number}: a lane's changes are not a list")
    if origin is not None and not (
        isinstance(origin, list) and len(origin) == 2 and all(isinstance(v, int) and v >= 0 for v in origin)
    ):
        raise RecordError(f"{path}:{number}: a lane's origin is not [lane, epoch]")
    return LaneRecord(
        value["id"], _start(path, number, value.get("start")), listed, 0, tuple(origin) if origin else None
    )


def _lines(path: str) -> Iterator[tuple[int, str, str | None]]:
    """Each line with its number and the next line (None after the last), read as it goes."""
    try:
        handle = open(path, encoding="utf-8", errors="strict")
    except OSError as error:
        raise RecordError(f"{path}: {error.strerror or error}") from None
    with handle:
        try:
            line = handle.readline(MAX_LINE + 1)
            number = 1
            while line:
                after = handle.readline(MAX_LINE + 1)
                yield number, line, after or None
                line, number = after, number + 1
        except UnicodeDecodeError:
            raise RecordError(f"{path}: not UTF-8 text: not a journal") from None


def load(path: str) -> Record:
    """The record a journal holds, events folded in order; a last line cut short (a kill mid-write) is left
    out. Each lane's last checkpoint at or before the epoch it reached rides along (Record.checkpoints: lane id
    -> (snapshot, history bytes from epoch 0)), and the snapshots of its checkpoints before that one
    (Record.snapshots: lane id -> snapshots in epoch order), those a run resumed from this journal wrote
    before its resume included (each of the same lane: its start and its changes up to then the lane's now); a
    lane that run had not checkpointed yet (killed within seconds) stands at its last checkpoint before. RecordError
    names the file and the line."""
    lanes: list[LaneRecord] = []
    focus = 0
    reached: dict[int, int] = {}
    chains: dict[int, list[tuple[int, str, str]]] = {}  # lane id -> (epoch, history b64, snapshot b64)
    before: dict[int, list[tuple[LaneRecord, list[tuple[int, str, str]]]]] = {}  # lane id -> earlier races' chains
    for number, line, after in _lines(path):
        if len(line) > MAX_LINE:
            raise RecordError(f"{path}:{number}: a line longer than {MAX_LINE:,} characters: not a journal")
        try:
            event = json.loads(line)
        except ValueError:
            if after is None and not line.endswith("\n"):
                break  # cut by a kill mid-write: what came before stands
            if after is not None and after.startswith('{"gdtui"'):
                continue  # cut by a kill, then a resumed run went on writing
            raise RecordError(f"{path}:{number}: not a JSON line") from None
        if not isinstance(event, dict):
            raise RecordError(f"{path}:{number}: not an event")
        if number == 1 and event.get("gdtui") != "journal":
            raise RecordError(f"{path}: not a gdtui journal (its first line says what it is)")
        if "gdtui" in event:  # the header, again where a resumed run went on writing
            if event.get("version") != VERSION:
                raise RecordError(f"{path}: a journal of version {event.get('version')!r}, this gdtui reads {VERSION}")
            continue
        if "race" in event:
            race = event["race"]
            if not isinstance(race, list) or not race:
                raise RecordError(f"{path}:{number}: a race without lanes")
            for lane in lanes:  # a race again (a resumed run's): its lanes' chains kept, as it had them
                if chains.get(lane.id):
                    before.setdefault(lane.id, []).append((lane, chains[lane.id]))
            lanes = [_lane(path, number, lane) for lane in race]
            focus = event.get("focus", lanes[0].id)
            reached, chains = {}, {}
        elif "lane" in event:
            lane = _lane(path, number, event["lane"])
            at = next((i for i, old in enumerate(lanes) if old.id == lane.id), None)
            if at is None:
                lanes.append(lane)
            else:
                lanes[at] = lane
            reached.pop(lane.id, None)
            chains.pop(lane.id, None)
        elif "change" in event:
            at = next((i for i, old in enumerate(lanes) if old.id == event["change"]), None)
            if at is None:
                raise RecordError(f"{path}:{number}: a change of lane {event['change']!r}, which is not in the race")
            try:
                change = change_of({"epoch": event.get("epoch"), **(event.get("settings") or {})})
            except (ConfigError, TypeError) as error:
                why = error.message if isinstance(error, ConfigError) else str(error)
                raise RecordError(f"{path}:{number}: {why}") from None
            lanes[at] = replace(lanes[at], changes=(*lanes[at].changes, change))
        elif "remove" in event:
            lanes = [lane for lane in lanes if lane.id != event["remove"]]
            chains.pop(event["remove"], None)
            before.pop(event["remove"], None)
        elif "focus" in event:
            focus = event["focus"]
        elif "end" in event:
            pass
        elif "reached" in event:
            epochs = event["reached"]
            if not isinstance(epochs, dict):
                raise RecordError(f"{path}:{number}: reached is not a table of epochs")
            reached = {int(k): int(v) for k, v in epochs.items() if str(k).isdigit() and isinstance(v, int)}
        elif "checkpoint" in event:
            chain = chains.setdefault(event["checkpoint"], [])
            since, epoch = event.get("since"), event.get("epoch")
            history, snapshot = event.get("history"), event.get("snapshot")
            if (
                since == (chain[-1][0] if chain else 0)  # a chain from epoch 0, or none at all
                and isinstance(epoch, int)
                and isinstance(history, str)
                and isinstance(snapshot, str)
            ):
                chain.append((epoch, history, snapshot))
        else:
            raise RecordError(f"{path}:{number}: an event gdtui does not know")
    if not lanes:
        raise RecordError(f"{path}: a journal without a race")
    for lane in lanes:  # a lane the last race has not checkpointed yet: its last checkpoint before, if its own
        if not chains.get(lane.id):
            for old, chain in before.get(lane.id, []):  # within the epochs it reached (not a lane restarted since)
                links = [link for link in chain if link[0] <= reached.get(lane.id, 0)]
                if links and _agrees(old, lane, links[-1][0]):
                    chains[lane.id] = links
    kept = tuple(replace(lane, reached=max(reached.get(lane.id, 0), _last(chains.get(lane.id)))) for lane in lanes)
    ids = [lane.id for lane in kept]
    saved, snapshots = {}, {}
    for lane in kept:
        chain = [link for link in chains.get(lane.id, []) if link[0] <= lane.reached]
        if chain:
            earlier = {
                link[0]: link[2]
                for old, older in before.get(lane.id, [])
                for link in older
                if link[0] < chain[0][0] and _agrees(old, lane, link[0])
            }
            earlier.update((link[0], link[2]) for link in chain[:-1])
            try:
                pieces = [base64.b64decode(link[1], validate=True) for link in chain]
                history = _columns([link[0] for link in chain], pieces)
                saved[lane.id] = (base64.b64decode(chain[-1][2], validate=True), history)
                snapshots[lane.id] = tuple(base64.b64decode(earlier[at], validate=True) for at in sorted(earlier))
            except ValueError:
                raise RecordError(f"{path}: lane {lane.id}'s checkpoints are not base64, or not whole") from None
    return Record(kept, focus if focus in ids else ids[0], saved, snapshots)


def _agrees(old: LaneRecord, lane: LaneRecord, epoch: int) -> bool:
    """Whether `old` (a lane of an earlier race of the journal) ran as `lane` up to `epoch`: the same start and
    the same changes up to then (a run is its start and its changes: its snapshot at `epoch` is the lane's)."""
    return old.start == lane.start and [c for c in old.changes if c.epoch <= epoch] == [
        c for c in lane.changes if c.epoch <= epoch
    ]


def _columns(epochs: list[int], pieces: list[bytes]) -> bytes:
    """A lane's history from epoch 0, column after column (as `Trainer.history_bytes(0)` gives it), from its
    checkpoints' pieces: each holds the epochs since the one before, column after column."""
    if len(pieces) == 1:
        return pieces[0]
    spans = [epoch - before for before, epoch in zip([0, *epochs], epochs)]
    widths = {len(piece) // (8 * span) for piece, span in zip(pieces, spans) if span > 0}
    if len(widths) != 1 or any(len(piece) != 8 * span * min(widths) for piece, span in zip(pieces, spans)):
        raise ValueError("checkpoints of different widths")
    width = widths.pop()
    return b"".join(
        piece[8 * span * k : 8 * span * (k + 1)] for k in range(width) for piece, span in zip(pieces, spans)
    )


def _last(chain: list[tuple[int, str, str]] | None) -> int:
    return chain[-1][0] if chain else 0


def read(path: str) -> Record:
    """A record from either encoding: a journal (JSON lines, its first line a gdtui journal header) or a TOML
    snapshot. RecordError names the file and what is wrong."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as error:
        raise RecordError(f"{path}: {error.strerror or error}") from None
    if head.lstrip().startswith(b"{"):
        return load(path)
    from gdtui.engine.tomlconfig import ConfigFileError, load_record

    try:
        return load_record(path)
    except ConfigFileError as error:
        raise RecordError(str(error)) from None
