"""A training session served over a pipe: the engine's command loop for a UI, run in a child process.

Why: torch and the UI must not share one interpreter. In a thread, the UI's Python work competes with
training for the GIL (measured: a silent app cost 22%, the best threaded design ran at 0.67 of headless
speed); in its own process the trainer runs at full speed on its own core, torch loads there while the UI
paints at once, and a dead parent (a dropped SSH link) closes the pipe, which ends the child.

Protocol: the typed commands and replies of gdtui.engine.protocol, over a multiprocessing Connection. The
session serves a race of lanes (gdtui.engine.lanes); every report names its lane.
While a landscape is watched, the session recomputes it when the focused lane, the pair, the span or the size
change, when an automatic span no longer holds the current point, or when a held parameter has moved by more
than a cell (its path's range over the grid's columns); a block of grid points at a time between chunks, at
most CHUNK_SECONDS of them, so training is never held up by more than a chunk.
Every command takes effect at an epoch boundary: a running chunk looks at the pipe between epochs, at most
once every LOOK_SECONDS (a look is a system call, some 3 µs, on epochs of ~120 µs).
States: loading, ready, running, paused, done, diverged.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gdtui.engine import protocol as p
from gdtui.engine.config import DATA_FIELDS, ConfigError, RunConfig, check_combination, linear_in_params
from gdtui.engine.csvfile import CsvData
from gdtui.engine.protocol import LaneInfo, SessionInfo
from gdtui.engine.record import Record
from gdtui.engine.surface import Curvature, Landscape

if TYPE_CHECKING:
    from gdtui.engine.history import Chunk
    from gdtui.engine.journal import Journal
    from gdtui.engine.lanes import Race
    from gdtui.engine.trainer import Trainer

CHUNK_SECONDS = 0.1
NO_CURVATURE = Curvature([], [], None, False)  # a model with no landscape (one parameter...)
LOG_TAIL = 2000  # the epochs a UI's log keeps
LOOK_SECONDS = 0.001
JOURNAL_SECONDS = 2.0  # how often the journal takes the epochs reached while training runs
CHECKPOINT_SECONDS = 5.0  # how often it takes each lane's state and history (a resume replays at most these)
LOCAL_LIMIT_SECONDS = 2.0  # how often a training mlp's local lr limit (its curvature where it stands) is renewed


def main() -> None:
    """`python -m gdtui.engine.session FD`: serve the session on the socket FD (the UI started us with our
    standard streams on /dev/null, so no library output can reach the terminal it draws on)."""
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(int(sys.argv[1]))
    try:
        start = conn.recv()
    except (EOFError, OSError):
        return
    serve(conn, start.config, start.csv, start)


def serve(conn: Pipe, config: RunConfig, csv: CsvData | None = None, start: p.Start | None = None) -> None:
    """Build a Trainer for `config` (from `csv`, its CSV data already read; or the race of `start`'s record),
    then obey commands from `conn` until quit or EOF."""
    import warnings

    warnings.filterwarnings("ignore")
    try:
        Session(conn).loop(config, csv, start)
    except (EOFError, BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


class Pipe(Protocol):
    """The session's end of its pipe (a multiprocessing Connection; tests script their own)."""

    def send(self, obj: p.Reply) -> None: ...
    def recv(self) -> p.Command: ...
    def poll(self, timeout: float = 0.0) -> bool: ...
    def close(self) -> None: ...


@dataclass
class Watch:
    """What the UI's landscape view asked for, and the grid last computed for it."""

    pair: tuple[str, str] | None
    span: tuple[tuple[float, float], tuple[float, float]] | None
    size: tuple[int, int]
    paths_wanted: bool = True
    computed: tuple[Any, ...] | None = None  # (focus, pair, span asked, size) of the grid sent
    held: list[float] | None = None
    tolerance: list[float] | None = None
    shown_span: tuple[tuple[float, float], tuple[float, float]] | None = None
    job: Any = None  # a landscape_job generator under way, with its key
    job_key: tuple[Any, ...] | None = None


@dataclass
class Reading:
    """A CSV file being read before a run can start on it, and what to do if the read fails or is cancelled."""

    path: str
    failed: Callable[[], object]


@dataclass
class Job:
    """A long computation done a slice at a time between chunks (a generator: each `next()` a slice; its return
    value is the result), and what to do with its result."""

    work: Generator[None, None, Any]
    done: Callable[[Any], None]


class Session:
    """The engine's command loop: a race of lanes (one, unless the UI adds more) on one dataset, driven by
    commands from `conn`, reporting on them. `trainer` is the focused lane's: the one the UI edits and logs."""

    def __init__(self, conn: Pipe):
        self.conn = conn
        self.race: Race | None = None
        self.focus = 0  # the focused lane's id
        self.running = False
        self.refused: str | None = None  # the field the last build refused
        self.seen = 0  # commands obeyed (the first config, sent with the spawn, is not counted)
        self.watch: Watch | None = None
        self.curved_at = 0.0  # when the focused mlp's curvature was last asked for while training
        self.theory_shown = False  # the Theory view is up: its theory follows the focused lane's changes
        self.reading: Reading | None = None  # a CSV file read before a run can start on it
        self.jobs: dict[str, Job] = {}  # the curvature, the LR range test: each under way, by what it is
        from gdtui.engine.served import Served

        self.served = Served.from_env()  # a tab of `gdtui serve`: the files it may read, the models it may build
        self.journal: Journal | None = None  # where the run's record is appended as it goes
        self.noted = 0.0  # when the journal last took the epochs reached
        self.speed: float | None = None  # epochs a second at most (a playback speed); None: as fast as it trains
        self.pace: tuple[float, int] | None = None  # when the paced run (re)started, and its lead epoch then
        self.clock: Callable[[], float] = time.perf_counter  # the playback speed's clock
        self.saved = time.perf_counter()  # when the journal last took the lanes' checkpoints

    @property
    def trainer(self) -> Trainer | None:
        return None if self.race is None else self.race.lane(self.focus).trainer

    def state(self) -> str:
        race, t = self.race, self.trainer
        if self.reading is not None:
            return "reading"
        if race is None or t is None:
            return "loading"
        if self.running:
            return "running"
        if not any(lane.active for lane in race.lanes):
            return "diverged" if t.status == "diverged" else "done"
        return "ready" if all(lane.trainer.epoch == 0 for lane in race.lanes) else "paused"

    def send_lanes(self) -> None:
        assert self.race is not None
        lanes = tuple(
            LaneInfo(
                lane.id,
                lane.trainer.config,
                lane.origin,
                lane.trainer.epoch,
                lane.trainer.status,
                lane.trainer.stop_reason,
            )
            for lane in self.race.lanes
        )
        self.conn.send(p.Lanes(lanes, self.focus))

    def send_history(self, lane_id: int | None = None) -> None:
        """A lane's past (default: the focused one's), for a UI that shows it anew (after a change of focus or
        of lanes, a resume): its whole RMSE column (the loss curve) and its last epochs (the log)."""
        assert self.race is not None
        lane_id = self.focus if lane_id is None else lane_id
        t = self.race.lane(lane_id).trainer
        tail = t.history.tail(LOG_TAIL, tuple(t.predict().tolist()))
        self.conn.send(p.History(lane_id, t.history.rmse, tail))

    def send_state(self) -> None:
        self.conn.send(p.State(self.focus, self.state(), self.trainer.epoch if self.trainer else 0, self.speed))

    def build(
        self, config: RunConfig, csv: CsvData | None = None, record: Record | None = None, resume: bool = False
    ) -> bool:
        """A new race of one lane for `config`, or of `record`'s lanes (its CSV read first, a slice at a time,
        unless `csv` holds it); False, with the error sent, if it cannot be built. With `resume`, each lane of
        the record trains to the epoch it reached, then the race pauses."""
        from gdtui.engine.csvfile import DataError
        from gdtui.engine.device import DeviceError
        from gdtui.engine.lanes import Race

        if self.read_first(config, csv, lambda data: self.build(config, data), self.send_state):
            return True
        self.refused = None
        try:
            kept = csv if csv is not None and config.data == csv.path else None
            for lane in record.lanes if record is not None else ():
                self.allowed(lane.start)
            race = Race(self.allowed(config), csv=kept) if record is None else Race.of_record(record, csv=kept)
        except DeviceError as error:
            self.refused = "device"
            self.conn.send(p.Error("device", str(error)))
            return False
        except DataError as error:
            self.refused = "data"
            self.conn.send(p.Error("data", str(error)))
            return False
        except ConfigError as error:
            self.refused = error.field
            self.conn.send(p.Error(error.field, error.message))
            return False
        except (EOFError, OSError):
            raise
        except Exception as error:  # an allocation that fails (a huge model), a bug: the session stays up
            self.refused = "configure"
            self.conn.send(p.Error("configure", f"configure failed: {type(error).__name__}: {error}"))
            return False
        ids = [lane.id for lane in race.lanes]
        self.race, self.focus = race, record.focus if record is not None and record.focus in ids else ids[0]
        self.running = False
        if record is not None and resume:  # every lane back where it stood: trained there, then paused
            for built, kept_lane in zip(race.lanes, record.lanes):
                built.trainer.hold = kept_lane.reached
            self.running = any(built.active for built in race.lanes)
            if not self.running:
                self.release()
        self.send_ready()
        self.send_lanes()
        if any(built.trainer.epoch for built in race.lanes):  # resumed from checkpoints: every lane's past at once
            for lane_id in sorted(ids, key=lambda lane_id: lane_id == self.focus):
                self.send_history(lane_id)
        self.send_state()
        return True

    def allowed(self, config: RunConfig) -> RunConfig:
        """`config`, if a served tab may run it (its data in the served folder, its model within the size
        limit; the app checks first, this is the session's own guard); else ConfigError."""
        if self.served is not None:
            self.served.check_data(config.data)
            self.served.check_params(config)
        return config

    def rebuild(self, config: RunConfig) -> bool:
        """The focused lane's new settings. Alone, it is a new run; in a race, a change of its own settings
        (optimizer, loss, model...) restarts that lane alone, and a change of the data restarts every lane on
        the new data, each with its own settings."""
        race = self.race
        if race is None or len(race.lanes) == 1:
            return self.build(config)
        focused = race.lane(self.focus).trainer.config
        if all(getattr(config, f) == getattr(focused, f) for f in DATA_FIELDS):
            try:
                race.replace(self.focus, self.allowed(config))
            except ConfigError as error:
                self.conn.send(p.Error(error.field, error.message))
                return False
            self.running = False
            self.send_ready()
            self.send_lanes()
            self.send_state()
            return True
        data = {f: getattr(config, f) for f in DATA_FIELDS}
        focus_at = [lane.id for lane in race.lanes].index(self.focus)
        configs = [config if lane.id == self.focus else lane.trainer.config.replace(**data) for lane in race.lanes]
        if self.read_first(configs[0], None, lambda csv: self.relaunch(configs, focus_at, csv), self.send_state):
            return True
        return self.relaunch(configs, focus_at)

    def relaunch(self, configs: list[RunConfig], focus_at: int, csv: CsvData | None = None) -> bool:
        """Every lane anew on new data (`csv`, if read): the first built, the others added, the focus kept."""
        if not self.build(configs[0], csv):
            return False
        assert self.race is not None
        try:
            for lane_config in configs[1:]:
                self.race.add(check_combination(lane_config))
        except ConfigError as error:
            self.conn.send(p.Error(error.field, error.message))
        self.focus = self.race.lanes[min(focus_at, len(self.race.lanes) - 1)].id
        self.send_ready()
        self.send_lanes()
        self.send_state()
        return True

    def send_ready(self) -> None:
        """Describe the run as it starts (after a build, or a reset): data sample and initial predictions."""
        t = self.trainer
        assert t is not None
        x, y, n_train = t.plot_data
        self.conn.send(
            p.Ready(
                self.focus,
                SessionInfo(
                    t.config,
                    str(t.device),
                    t.names,
                    x,
                    y,
                    n_train,
                    len(t.data.x),
                    t.data.label,
                    tuple(t.predict().tolist()),
                    t.data.has_test,
                    t.data.warnings,
                    tuple(t.line_x.tolist()),
                ),
            )
        )
        self.start_curvature(t)
        self.send_theory()
        if self.watch is not None:  # new lanes, a reset or a new focus: the grid and the app's paths start anew
            self.watch.paths_wanted = True
            self.watch.job = self.watch.job_key = None

    def start_curvature(self, t: Trainer) -> None:
        """Compute the focused lane's curvature at its current parameters, a slice at a time (the first slice now:
        a small model's is done in it, and its CurvatureKnown follows the Ready at once); a new one replaces it."""
        from gdtui.engine.landscape import curvature_job

        lane = self.focus
        try:
            self.start_job("curvature", curvature_job(t), lambda found: self.conn.send(p.CurvatureKnown(lane, found)))
        except ValueError:  # a model with no landscape
            self.conn.send(p.CurvatureKnown(lane, NO_CURVATURE))

    def start_job(self, name: str, work: Generator[None, None, Any], done: Callable[[Any], None]) -> None:
        """Start `work` (replacing a job of the same name) and do its first slice now."""
        before = self.jobs.get(name)
        self.jobs[name] = Job(work, done)
        try:
            self.tend_job(name, slices=1)
        except Exception:
            if before is not None and name not in self.jobs:  # a request refused at once keeps the one under way
                self.jobs[name] = before
            raise

    def tend_jobs(self) -> None:
        """Advance every job under way: up to CHUNK_SECONDS of slices while training runs, else until done or a
        command waits."""
        for name in list(self.jobs):
            self.obey(name, lambda: self.tend_job(name), acknowledge=False)  # noqa: B023 (called at once)

    def tend_job(self, name: str, slices: int | None = None) -> None:
        job = self.jobs.get(name)
        if job is None:
            return
        end = time.perf_counter() + CHUNK_SECONDS
        done = 0
        try:
            while True:
                if slices is None and self.conn.poll():  # a command first: a slice can take tens of ms
                    return
                try:
                    next(job.work)
                except StopIteration as finished:
                    if self.jobs.get(name) is job:
                        del self.jobs[name]
                    job.done(finished.value)
                    return
                done += 1
                if slices is not None and done >= slices:
                    return
                if time.perf_counter() > end:
                    return
        except BaseException:
            if self.jobs.get(name) is job:  # a job that failed is dropped (obey reports it)
                del self.jobs[name]
            raise

    def read_first(
        self, config: RunConfig, csv: CsvData | None, then: Callable[[CsvData], object], failed: Callable[[], object]
    ) -> bool:
        """Whether `config`'s CSV file must be read before its run is built: if so, the read starts (a job, a
        slice at a time, its progress reported); `then(data)` builds once it is read, `failed()` runs after a
        read that failed (its error sent) or was cancelled."""
        from gdtui.engine.config import DATA_ARTICLE, SYNTHETIC

        if config.data == DATA_ARTICLE or config.data in SYNTHETIC or (csv is not None and csv.path == config.data):
            return False
        try:
            self.allowed(config)
        except ConfigError:
            return False  # never read: the build refuses it, saying why
        self.running = False
        self.reading = Reading(config.data, failed)
        self.conn.send(p.Reading(config.data, 0.0))

        def built(data: CsvData | None) -> None:
            if data is not None:
                then(data)

        self.start_job("read", self._read(self.reading), built)
        return True

    def _read(self, reading: Reading) -> Generator[None, None, CsvData | None]:
        from gdtui.engine.csvfile import DataError, read_xy_job

        job = read_xy_job(reading.path)
        try:
            while True:
                try:
                    fraction = next(job)
                except StopIteration as read:
                    self.reading = None
                    data: CsvData = read.value
                    return data
                self.conn.send(p.Reading(reading.path, fraction))
                yield
        except DataError as error:
            self.reading = None
            self.conn.send(p.Error("data", str(error)))
            reading.failed()
            return None
        finally:
            job.close()

    def cancel_read(self) -> None:
        reading, job = self.reading, self.jobs.pop("read", None)
        if reading is None:
            return
        self.reading = None
        if job is not None:
            job.work.close()
        self.conn.send(p.Error("data", f"reading {reading.path} cancelled"))
        reading.failed()

    def start(
        self, config: RunConfig, csv: CsvData | None = None, record: Record | None = None, resume: bool = False
    ) -> None:
        """The first run: `config`'s, or the race `record` holds (trained to where each lane stood with
        `resume`), its CSV read first; a missing device: the same on the cpu; anything else, or a read
        cancelled: the preset itself."""
        from gdtui.engine.presets import PRESETS

        if self.read_first(
            config,
            csv,
            lambda data: self.start(config, data, record, resume),
            lambda: self.start(PRESETS[config.preset].config),
        ):
            return
        if record is not None and self.build(config, csv, record, resume):
            return
        if not self.build(config, csv):
            # The notice is sent. A missing device: the same run on the cpu; anything else: the preset itself.
            if self.refused != "device" or not self.build(config.replace(device="cpu"), csv):
                self.build(PRESETS[config.preset].config)

    def loop(self, config: RunConfig, csv: CsvData | None = None, first: p.Start | None = None) -> None:
        record, resume = (first.record, first.resume) if first is not None else (None, False)
        self.speed = first.speed if first is not None else None
        if first is not None and first.journal is not None:
            self.open_journal(first.journal)
        self.obey("configure", lambda: self.start(config, csv, record, resume), acknowledge=False)
        conn = self.conn
        while True:
            wait = self.pace_wait() if self.running else 0.0  # a playback speed: seconds to the next epoch
            if self.running and wait <= 0:
                self.obey("run", self.chunk, acknowledge=False)
            if self.watch is not None:
                self.obey("landscape", self.tend_landscape, acknowledge=False)
            if self.jobs:
                self.tend_jobs()
            busy = (self.running and wait <= 0) or self.landscape_pending() or self.jobs
            if busy and not conn.poll():
                continue
            if not busy and wait > 0 and not conn.poll(wait):  # paced: nothing to do until the next epoch
                continue
            try:
                command = conn.recv()
            except (EOFError, OSError):
                raise
            except Exception as error:  # a command that cannot be read (unpickled): said, and the session goes on
                conn.send(p.Error("pipe", f"a command could not be read: {type(error).__name__}: {error}"))
                continue
            if isinstance(command, p.Quit):
                self.close_journal()
                return
            self.obey(command_name(command), lambda: self.handle(command))  # noqa: B023 (called at once)

    def obey(self, what: str, work: Callable[[], None], acknowledge: bool = True) -> None:
        """Do `work` for `command`, then acknowledge it ("seen", count of commands obeyed). Whatever the engine
        raises becomes an error reply naming the command, and the session goes on (paused) with the run as it
        stands: the epochs that completed are reported first."""
        try:
            self._obey(what, work)
            self.note()
        finally:
            if acknowledge:
                self.seen += 1
                self.conn.send(p.Seen(self.seen))

    def _obey(self, what: str, work: Callable[[], None]) -> None:
        from gdtui.engine.lanes import RaceError
        from gdtui.engine.trainer import TrainingError

        try:
            work()
        except (EOFError, OSError):
            raise  # the pipe itself: the UI is gone
        except Exception as error:
            self.running = False
            if isinstance(error, RaceError):
                self.report(error.chunks)
            elif isinstance(error, TrainingError) and error.chunk is not None:
                self.conn.send(p.Results(self.focus, error.chunk))
            self.conn.send(p.Error(what, f"{what} failed: {error}"))
            if self.trainer is not None:
                self.send_state()

    def pace_wait(self) -> float:
        """Seconds until the next epoch may run at the playback speed (0: now, or no speed set)."""
        if self.speed is None or self.race is None:
            return 0.0
        lead = max(lane.trainer.epoch for lane in self.race.lanes)
        now = self.clock()
        if self.pace is None or lead < self.pace[1]:
            self.pace = (now, lead)
        began, first = self.pace
        return began + (lead - first) / self.speed - now

    def due(self) -> int | None:
        """Epochs the playback speed allows now (None: no speed set)."""
        if self.speed is None or self.pace is None or self.race is None:
            return None
        lead = max(lane.trainer.epoch for lane in self.race.lanes)
        began, first = self.pace
        return max(1, int((self.clock() - began) * self.speed) + 1 - (lead - first))

    def chunk(self, max_epochs: int | None = None) -> None:
        """A report's worth of epochs for every lane, in lockstep (`max_epochs` for a step: one each; at a
        playback speed, the epochs it allows by now)."""
        race = self.race
        assert race is not None
        budget, stop = (None, None) if max_epochs else (CHUNK_SECONDS, self._command_waiting())
        if max_epochs is None:
            max_epochs = self.due()
        before = {lane.id: lane.trainer.config for lane in race.lanes}
        chunks = race.run_chunk(max_epochs, budget=budget, should_stop=stop)
        for lane in race.lanes:  # a record's change taken at its epoch: the lane's settings now
            if lane.trainer.config != before.get(lane.id, lane.trainer.config):
                self.conn.send(p.Applied(lane.id, lane.trainer.config))
        if not any(lane.active for lane in race.lanes):
            self.running = False
            self.release()
        self.report(chunks)
        t = self.trainer
        now = time.perf_counter()
        if t is not None and not linear_in_params(t.config) and now - self.curved_at > LOCAL_LIMIT_SECONDS:
            self.curved_at = now  # its local limit moves with it: computed again every few seconds it trains
            if "curvature" not in self.jobs:
                self.start_curvature(t)
        if any(race.lane(lane_id).trainer.stopped for lane_id in chunks):  # a stop rule ended a lane: say why
            self.send_lanes()
        self.send_state()

    def release(self) -> None:
        """A resumed race stands where it stood: its lanes train on from here when asked (their holds go)."""
        assert self.race is not None
        for lane in self.race.lanes:
            lane.trainer.hold = None

    # the journal -------------------------------------------------------------------------------------------

    def open_journal(self, path: str) -> None:
        from gdtui.engine.journal import Journal

        try:
            self.journal = Journal(path)
        except OSError as error:
            self.conn.send(p.Error("journal", f"{path}: {error.strerror or error}: the run is not journaled"))

    def note(self) -> None:
        """Append to the journal what changed in the race since the last note, and every JOURNAL_SECONDS (and
        when training stops) the epochs the lanes reached. A journal that cannot be written is said, then
        dropped: the run goes on."""
        journal, race = self.journal, self.race
        if journal is None or race is None:
            return
        try:
            record = race.record(self.focus)
            journal.write(record)
            now = time.perf_counter()
            if now >= self.noted + JOURNAL_SECONDS or not self.running:
                journal.reached(record)
                self.noted = now
            if now >= self.saved + CHECKPOINT_SECONDS:
                self.checkpoint(journal)
                self.saved = now
        except OSError as error:
            self.journal = None
            journal.close()
            self.conn.send(p.Error("journal", f"{journal.path}: {error.strerror or error}: no longer journaled"))

    def checkpoint(self, journal: Journal) -> None:
        """Each lane's state and its history since its last checkpoint, into the journal (those that moved)."""
        assert self.race is not None
        for lane in self.race.lanes:
            t = lane.trainer
            since = journal.saved.get(lane.id, 0)
            if t.epoch > since:
                journal.checkpoint(lane.id, t.epoch, t.history_bytes(since), t.snapshot())

    def close_journal(self) -> None:
        if self.journal is not None:
            self.running = False
            self.saved = -math.inf  # a checkpoint of every lane that moved: a resume after a quit is at once
            self.note()
            try:
                self.journal.end()
            except OSError:
                pass
            self.journal.close()
            self.journal = None

    def report(self, chunks: dict[int, Chunk]) -> None:
        """Send new epochs, a report per lane (each naming its lane), the focused lane's last."""
        for lane_id, chunk in sorted(chunks.items(), key=lambda item: item[0] == self.focus):
            self.conn.send(p.Results(lane_id, chunk))

    def _command_waiting(self) -> Callable[[], bool]:
        """A should_stop for run_chunk: is a command waiting? Asked of the pipe at most every LOOK_SECONDS."""
        poll, clock = self.conn.poll, time.perf_counter
        next_look = clock()

        def waiting() -> bool:
            nonlocal next_look
            now = clock()
            if now < next_look:
                return False
            next_look = now + LOOK_SECONDS
            return poll()

        return waiting

    def handle(self, command: p.Command) -> None:
        t = self.trainer
        if isinstance(command, p.CancelRead):
            self.cancel_read()
            return
        if self.reading is not None:  # dropped, and said: nothing waits silently behind a read
            name = command_name(command)
            self.conn.send(p.Error(name, f"{name} not done: reading {self.reading.path} (escape cancels it)"))
            return
        if isinstance(command, p.Configure):
            if not self.rebuild(command.config):
                self.send_state()
            return
        if t is None:
            return
        race = self.race
        assert race is not None
        match command:
            case p.Step():
                self.running = False
                if any(lane.active for lane in race.lanes):  # never past the budget, however many were queued
                    self.chunk(1)
                else:
                    self.send_state()
            case p.Run():
                self.running = any(lane.active for lane in race.lanes)
                self.pace = None
                self.send_state()
            case p.Pause():
                self.running = False
                self.send_state()
            case p.Reset():
                self.running = False
                race.reset()
                self.send_ready()
                self.send_lanes()
                self.send_state()
            case p.AddLane() | p.BranchLane() | p.RemoveLane() | p.FocusLane():
                self.lanes_command(command)
            case p.WatchLandscape(pair, span, size):
                self.watch = Watch(pair, span, size)
            case p.UnwatchLandscape():
                self.watch = None
            case p.FindLr():
                self.find_lr(t, command)
            case p.Update(changes):
                try:
                    config = t.update(**changes)
                except ConfigError as error:
                    self.conn.send(p.Error(error.field, error.message))
                else:
                    self.conn.send(p.Applied(self.focus, config))
                    self.send_theory()
                    if self.running and t.done:
                        self.running = False
                    self.send_state()
            case p.Speed(epochs_per_second):
                self.speed = None if epochs_per_second is None else max(0.01, float(epochs_per_second))
                self.pace = None
                self.send_state()
            case p.WatchTheory(shown):
                self.theory_shown = shown
                self.send_theory()
            case p.Revisit(epoch):
                self.revisit(t, epoch)
            case p.Explain(epoch, batch, check):
                from gdtui.engine.explain import ExplainError, explain

                try:  # a model of at most 1,024 parameters: at most a checkpoint's spacing of epochs replayed
                    self.conn.send(p.Explained(self.focus, explain(t, epoch, check, batch)))
                except ExplainError as error:
                    self.conn.send(p.Error(f"explain {error.field}", str(error)))
            case p.GetRecord(purpose):
                self.conn.send(p.RecordReady(race.record(self.focus), purpose))
            case p.GetScript():  # the focused lane as a plain torch script: its start and the changes it took
                from gdtui.engine.script import script

                self.conn.send(p.ScriptReady(self.focus, script(t.start_config, t.changes, t.data.n_train)))
            case p.Export(wanted):
                self.export(wanted)

    def send_theory(self) -> None:
        """The focused lane's theory, when its view is up (a job: a stage a slice)."""
        t = self.trainer
        if not self.theory_shown or t is None:
            return
        from gdtui.engine.theory import report

        lane = self.focus
        self.start_job("theory", report(t), lambda found: self.conn.send(p.TheoryKnown(lane, **found)))

    def revisit(self, t: Trainer, epoch: int | None) -> None:
        """The focused lane after `epoch` (time travel), read from its history or replayed a slice at a time;
        None: back to the present, a revisit under way dropped."""
        from gdtui.engine.revisit import revisiting

        self.jobs.pop("revisit", None)
        if epoch is None:
            return
        lane, at, latest = self.focus, min(max(epoch, 0), t.epoch), t.epoch

        def found(revisited: tuple[tuple[float, ...], tuple[float, ...]]) -> None:
            if self.trainer is t and t.epoch >= at:  # not reset meanwhile
                result = t.history.result(at - 1) if at else None
                self.conn.send(p.Revisited(lane, at, latest, *revisited, result))

        self.start_job("revisit", revisiting(t, at), found)

    def find_lr(self, t: Trainer, ask: p.FindLr) -> None:
        from gdtui.engine.landscape import lr_find_job

        ramp = {name: value for name, value in vars(ask).items() if value is not None}
        lane = self.focus
        try:
            self.start_job("lr_find", lr_find_job(t, **ramp), lambda found: self.conn.send(p.LrFound(lane, found)))
        except ValueError as error:
            self.conn.send(p.Error("lr_find", str(error)))

    def export(self, wanted: str) -> None:
        """Every lane's history: the path as given for one lane, path-lane1, path-lane2... for several."""
        race = self.race
        assert race is not None
        for number, lane in enumerate(race.lanes, start=1):
            path = wanted
            if len(race.lanes) > 1:
                stem, ext = os.path.splitext(wanted)
                path = f"{stem}-lane{number}{ext}"
            try:
                written, rows = lane.trainer.history.write_new(path)
            except OSError as error:
                self.conn.send(p.Error("export", f"{path}: {error.strerror or error}"))
                return
            self.conn.send(p.Exported(lane.id, written, rows))

    # the landscape ---------------------------------------------------------------------------------------

    def landscape_pending(self) -> bool:
        """Whether a grid is under way (the loop goes on computing it while no command waits)."""
        return self.watch is not None and self.watch.job is not None

    def _wanted(self, watch: Watch, t: Trainer) -> tuple[Any, ...] | None:
        """The key of the grid the view needs now, or None if the one sent still holds."""
        names = t.names
        if len(names) < 2:
            return None
        pair = watch.pair if watch.pair and all(n in names for n in watch.pair) else (names[0], names[1])
        key = (self.focus, pair, watch.span, watch.size)
        if watch.paths_wanted or key != watch.computed or watch.held is None or watch.tolerance is None:
            return key
        from gdtui.engine.landscape import params_at

        now = params_at(t)
        i, j = names.index(pair[0]), names.index(pair[1])
        if any(
            abs(a - b) > tol for k, (a, b, tol) in enumerate(zip(now, watch.held, watch.tolerance)) if k not in (i, j)
        ):
            return key
        if watch.span is None and watch.shown_span is not None:
            (x0, x1), (y0, y1) = watch.shown_span
            if not (x0 <= now[i] <= x1 and y0 <= now[j] <= y1):
                return key
        return None

    def tend_landscape(self) -> None:
        """Start the grid the view needs, and compute blocks of it: up to CHUNK_SECONDS of them while training
        runs, else until done or a command waits."""
        try:
            self._tend_landscape()
        except Exception:
            self.watch = None  # reported by obey; the view asks again when it is next shown
            raise

    def _tend_landscape(self) -> None:
        from gdtui.engine.landscape import landscape_job

        watch, t, race = self.watch, self.trainer, self.race
        if watch is None or t is None or race is None:
            return
        key = self._wanted(watch, t)
        if key is not None and key != watch.job_key:
            others = [lane.trainer for lane in race.lanes if lane.id != self.focus]
            try:
                grid = landscape_job(t, key[1], key[3], key[2], paths=others)
            except ValueError as error:  # a model with no landscape
                self.watch = None
                self.conn.send(p.Error("landscape", str(error)))
                return
            watch.job, watch.job_key = _with_curvature(t, grid), key
        if watch.job is None:
            return
        end = time.perf_counter() + CHUNK_SECONDS
        while not self.conn.poll():  # a command first: a slice can take tens of ms
            try:
                next(watch.job)
            except StopIteration as done:
                assert watch.job_key is not None
                self._send_landscape(watch, t, watch.job_key, done.value)
                return
            if time.perf_counter() > end:
                return

    def _send_landscape(self, watch: Watch, t: Trainer, key: tuple[Any, ...], done: Any) -> None:
        import numpy as np

        from gdtui.engine.landscape import same_axes, sampled_params, thinned_path

        grid, curve = done
        race = self.race
        assert race is not None
        pair = grid.pair
        watch.job = watch.job_key = None
        watch.computed, watch.held = key, grid.held
        watch.shown_span = ((grid.xs[0], grid.xs[-1]), (grid.ys[0], grid.ys[-1]))
        # A held parameter's cell: its path's range (and the distance to the minimum) over the grid's columns.
        held = np.asarray(grid.held, np.float64)
        seen = [held[None, :], sampled_params(t)]
        if grid.minimum is not None:
            seen.append(np.asarray(grid.minimum, np.float64)[None, :])
        values = np.concatenate(seen)
        moved = np.fmax.reduce(values, axis=0) - np.fmin.reduce(values, axis=0)  # NaN left out, as max() did
        spread = np.fmax(np.fmax(moved, np.abs(held) * 1e-3), 1e-12)
        watch.tolerance = (spread / key[3][0]).tolist()
        paths = None
        if watch.paths_wanted:
            paths = {lane.id: thinned_path(lane.trainer, pair) for lane in race.lanes if same_axes(lane.trainer, t)}
            watch.paths_wanted = False
        self.conn.send(p.LandscapeReady(self.focus, grid, paths, curve))

    def lanes_command(self, command: p.AddLane | p.BranchLane | p.RemoveLane | p.FocusLane) -> None:
        """Add a copy of the focused lane, branch it, remove a lane (never the last) or focus one."""
        race = self.race
        assert race is not None
        try:
            match command:
                case p.AddLane(changes):
                    config = race.lane(self.focus).trainer.config.replace(**changes)
                    self.focus = race.add(self.allowed(check_combination(config))).id
                case p.BranchLane(epoch, changes):
                    self.focus = race.branch(self.focus, epoch, **changes).id
                case p.RemoveLane(lane):
                    race.remove(self.focus if lane is None else lane)
                    if self.focus not in [lane.id for lane in race.lanes]:
                        self.focus = race.lanes[0].id
                case p.FocusLane(lane):
                    self.focus = race.lane(lane).id
        except (ConfigError, KeyError) as error:
            field = error.field if isinstance(error, ConfigError) else "lanes"
            message = error.message if isinstance(error, ConfigError) else str(error.args[0])
            self.conn.send(p.Error(field, message))
            return
        self.send_ready()
        self.send_lanes()  # before its History: a new lane is in the app's model when its past comes
        self.send_history()
        self.send_state()


def _with_curvature(t: Trainer, grid: Generator[None, None, Landscape]) -> Generator[None, None, Any]:
    """A landscape_job, then the curvature at its held parameters, both a slice at a time: (grid, curvature)."""
    from gdtui.engine.landscape import curvature_job

    done = yield from grid
    try:
        curve = yield from curvature_job(t, done.held)
    except ValueError:  # a model with no landscape
        curve = NO_CURVATURE
    return done, curve


def command_name(command: p.Command) -> str:
    """What a command is called in an error reply ("step failed: ..."): its class name in snake case."""
    name = type(command).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


if __name__ == "__main__":
    from gdtui.engine import session

    session.main()
