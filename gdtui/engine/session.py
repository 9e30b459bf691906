"""A training session served over a pipe: the engine's command loop for a UI, run in a child process.

Why: torch and the UI must not share one interpreter. In a thread, the UI's Python work competes with
training for the GIL (measured: a silent app cost 22%, the best threaded design ran at 0.67 of headless
speed); in its own process the trainer runs at full speed on its own core, torch loads there while the UI
paints at once, and a dead parent (a dropped SSH link) closes the pipe, which ends the child.

Protocol (tuples over a multiprocessing Connection):
  UI -> session: ("step",) ("run",) ("pause",) ("reset",) ("update", {lr|momentum|epochs: value})
                 ("config", RunConfig) ("export", path) ("quit",)
                 (export writes a new file: path, else path-2, path-3...)
  session -> UI: ("ready", SessionInfo) (after a build or a reset) ("results", Chunk, state) ("state", state, epoch)
                 ("config", RunConfig) ("error", field, message) ("exported", path, rows)
                 ("seen", n) after obeying each command: n commands obeyed so far
Every command takes effect at an epoch boundary: a running chunk looks at the pipe between epochs, at most
once every LOOK_SECONDS (a look is a system call, some 3 µs, on epochs of ~120 µs).
States: loading, ready, running, paused, done, diverged.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gdtui.engine.config import ConfigError, RunConfig
from gdtui.engine.csvfile import CsvData

if TYPE_CHECKING:
    from gdtui.engine.trainer import Trainer

CHUNK_SECONDS = 0.1
LOOK_SECONDS = 0.001


@dataclass(frozen=True)
class SessionInfo:
    """What the UI needs to draw a new run: its config, device, parameter names, a plot sample of the data
    (x, y, of which the first n_train are training points), the data's size and whether it has a test split."""

    config: RunConfig
    device: str
    names: tuple[str, ...]
    x: list[float]
    y: list[float]
    n_train: int
    n_points: int
    label: str
    preds: tuple[float, ...]
    has_test: bool
    warnings: tuple[str, ...] = ()


def main() -> None:
    """`python -m gdtui.engine.session FD`: serve the session on the socket FD (the UI started us with our
    standard streams on /dev/null, so no library output can reach the terminal it draws on)."""
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(int(sys.argv[1]))
    try:
        _, config, csv = conn.recv()
    except (EOFError, OSError):
        return
    serve(conn, config, csv)


def serve(conn: Pipe, config: RunConfig, csv: CsvData | None = None) -> None:
    """Build a Trainer for `config` (from `csv`, its CSV data already read), then obey commands from `conn`
    until quit or EOF."""
    import warnings

    warnings.filterwarnings("ignore")
    try:
        Session(conn).loop(config, csv)
    except (EOFError, BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


class Pipe(Protocol):
    """The session's end of its pipe (a multiprocessing Connection; tests script their own)."""

    def send(self, obj: Any) -> None: ...
    def recv(self) -> Any: ...
    def poll(self) -> bool: ...
    def close(self) -> None: ...


class Session:
    """The engine's command loop: one run (a Trainer), driven by commands from `conn`, reporting on it."""

    def __init__(self, conn: Pipe):
        self.conn = conn
        self.trainer: Trainer | None = None
        self.running = False
        self.refused: str | None = None  # the field the last build refused
        self.seen = 0  # commands obeyed (the first config, sent with the spawn, is not counted)

    def state(self) -> str:
        t = self.trainer
        if t is None:
            return "loading"
        if t.status == "diverged":
            return "diverged"
        if t.done and not self.running:
            return "done"
        if self.running:
            return "running"
        return "ready" if t.epoch == 0 else "paused"

    def send_state(self) -> None:
        self.conn.send(("state", self.state(), self.trainer.epoch if self.trainer else 0))

    def build(self, config: RunConfig, csv: CsvData | None = None) -> bool:
        from gdtui.engine.csvfile import DataError
        from gdtui.engine.device import DeviceError
        from gdtui.engine.trainer import Trainer

        self.refused = None
        try:
            trainer = Trainer(config, csv=csv if csv is not None and config.data == csv.path else None)
        except DeviceError as error:
            self.refused = "device"
            self.conn.send(("error", "device", str(error)))
            return False
        except DataError as error:
            self.refused = "data"
            self.conn.send(("error", "data", str(error)))
            return False
        except ConfigError as error:
            self.refused = error.field
            self.conn.send(("error", error.field, error.message))
            return False
        self.trainer = trainer
        self.running = False
        self.send_ready()
        self.send_state()
        return True

    def send_ready(self) -> None:
        """Describe the run as it starts (after a build, or a reset): data sample and initial predictions."""
        t = self.trainer
        assert t is not None
        x, y, n_train = t.plot_data
        self.conn.send(
            (
                "ready",
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
                ),
            )
        )

    def loop(self, config: RunConfig, csv: CsvData | None = None) -> None:
        if not self.build(config, csv):
            # The notice is sent. A missing device: the same run on the cpu; anything else: the preset itself.
            from gdtui.engine.presets import PRESETS

            if self.refused != "device" or not self.build(config.replace(device="cpu")):
                self.build(PRESETS[config.preset].config)
        conn = self.conn
        while True:
            if self.running:
                self.obey(("run",), self.chunk, acknowledge=False)
            if self.running and not conn.poll():
                continue
            command = conn.recv()
            if command[0] == "quit":
                return
            self.obey(command, lambda: self.handle(command))  # noqa: B023 (called at once)

    def obey(self, command: tuple[Any, ...], work: Callable[[], None], acknowledge: bool = True) -> None:
        """Do `work` for `command`, then acknowledge it ("seen", count of commands obeyed). Whatever the engine
        raises becomes an error reply naming the command, and the session goes on (paused) with the run as it
        stands: the epochs that completed are reported first."""
        try:
            self._obey(command, work)
        finally:
            if acknowledge:
                self.seen += 1
                self.conn.send(("seen", self.seen))

    def _obey(self, command: tuple[Any, ...], work: Callable[[], None]) -> None:
        from gdtui.engine.trainer import TrainingError

        try:
            work()
        except (EOFError, OSError):
            raise  # the pipe itself: the UI is gone
        except Exception as error:
            self.running = False
            if isinstance(error, TrainingError) and error.chunk is not None:
                self.conn.send(("results", error.chunk, self.state()))
            self.conn.send(("error", command[0], f"{command[0]} failed: {error}"))
            if self.trainer is not None:
                self.send_state()

    def chunk(self) -> None:
        t = self.trainer
        assert t is not None
        chunk = t.run_chunk(t.config.epochs - t.epoch, budget=CHUNK_SECONDS, should_stop=self._command_waiting())
        if t.done or t.status == "diverged":
            self.running = False
        if chunk is not None:
            self.conn.send(("results", chunk, self.state()))

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

    def handle(self, command: tuple[Any, ...]) -> None:
        kind = command[0]
        t = self.trainer
        if kind == "config":
            if not self.build(command[1]):
                self.send_state()
            return
        if t is None:
            return
        if kind == "step":
            self.running = False
            chunk = t.run_chunk(1) if not t.done else None  # never past the budget, however many were queued
            if chunk is not None:
                self.conn.send(("results", chunk, self.state()))
            else:
                self.send_state()
        elif kind == "run":
            self.running = t.status != "diverged" and not t.done
            self.send_state()
        elif kind == "pause":
            self.running = False
            self.send_state()
        elif kind == "reset":
            self.running = False
            t.reset()
            self.send_ready()
            self.send_state()
        elif kind == "update":
            try:
                config = t.update(**command[1])
            except ConfigError as error:
                self.conn.send(("error", error.field, error.message))
            else:
                self.conn.send(("config", config))
                if self.running and t.done:
                    self.running = False
                self.send_state()
        elif kind == "export":
            try:
                path, rows = t.history.write_new(command[1])
            except OSError as error:
                self.conn.send(("error", "export", f"{command[1]}: {error.strerror or error}"))
            else:
                self.conn.send(("exported", path, rows))


if __name__ == "__main__":
    from gdtui.engine import session

    session.main()
