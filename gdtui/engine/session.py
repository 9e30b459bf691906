"""A training session served over a pipe: the engine's command loop for a UI, run in a child process.

Why: torch and the UI must not share one interpreter. In a thread, the UI's Python work competes with
training for the GIL (measured: a silent app cost 22%, the best threaded design ran at 0.67 of headless
speed); in its own process the trainer runs at full speed on its own core, torch loads there while the UI
paints at once, and a dead parent (a dropped SSH link) closes the pipe, which ends the child.

Protocol: the typed commands and replies of gdtui.engine.protocol, over a multiprocessing Connection. The
session serves a race of lanes (gdtui.engine.lanes); every report names its lane.
Parts of the Session class live beside it, each a mixin: the race made and remade (session_race), the jobs done
a slice at a time between chunks (session_jobs), the landscape view (session_landscape), the journal
(session_journal), all on the state of session_part.
Every command takes effect at an epoch boundary: a running chunk looks at the pipe between epochs, at most
once every LOOK_SECONDS (a look is a system call, some 3 µs, on epochs of ~120 µs).
States: loading, ready, running, paused, done, diverged.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from gdtui.engine import protocol as p
from gdtui.engine.config import ConfigError, RunConfig, linear_in_params
from gdtui.engine.csvfile import CsvData
from gdtui.engine.protocol import LaneInfo, SessionInfo
from gdtui.engine.session_jobs import SessionJobs
from gdtui.engine.session_journal import SessionJournal
from gdtui.engine.session_landscape import SessionLandscape, Watch
from gdtui.engine.session_part import Pipe
from gdtui.engine.session_race import SessionRace

if TYPE_CHECKING:
    from gdtui.engine.history import Chunk
    from gdtui.engine.journal import Journal
    from gdtui.engine.lanes import Race
    from gdtui.engine.session_jobs import Job
    from gdtui.engine.session_race import Reading

CHUNK_SECONDS = 0.1
LOG_TAIL = 2000  # the epochs a UI's log keeps
LOOK_SECONDS = 0.001
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


class Session(SessionRace, SessionJobs, SessionLandscape, SessionJournal):
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

    def chunk_seconds(self) -> float:
        """CHUNK_SECONDS, read when asked, for the parts (which cannot import this module): the longest a run of
        a job's or a landscape's slices holds the loop up."""
        return CHUNK_SECONDS

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


def command_name(command: p.Command) -> str:
    """What a command is called in an error reply ("step failed: ..."): its class name in snake case."""
    name = type(command).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


if __name__ == "__main__":
    from gdtui.engine import session

    session.main()
