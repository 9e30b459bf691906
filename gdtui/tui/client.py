"""The UI's end of a training session: starts the session process and turns its replies into app messages.

Why: the app never imports torch and never blocks on training. Commands go down a pipe; replies are read
on the event loop when the pipe is readable (`loop.add_reader`), so no thread touches a widget. Commands are
never sent by a blocking write: the session may be blocked sending a large reply (a landscape grid) while we
write, and a writer blocked in the event loop would never read it (a deadlock: 1,100 zoom commands against 60 KB
grids froze the app in an audit). A command is written as far as the socket takes it (MSG_DONTWAIT); the rest
waits in a queue, written when the socket is writable (`loop.add_writer`), and a newer WatchLandscape replaces
an unsent one at the queue's end. The child's
standard error goes to a temporary file, never to the terminal the app draws on; if the child dies (CUDA out
of memory, the OOM killer), its last line tells the user why.
"""

from __future__ import annotations

import asyncio
import os
import signal
import site
import socket
import struct
import subprocess
import sys
import tempfile
from collections import deque
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import IO, TYPE_CHECKING

from gdtui.engine import protocol
from gdtui.engine.config import RunConfig
from gdtui.engine.csvfile import CsvData
from gdtui.engine.record import Record

if TYPE_CHECKING:
    # For annotations only: the CLI imports this module before Textual has loaded (torch loads meanwhile).
    from textual.message_pump import MessagePump


class SessionClient:
    """Owns one session process. `spawn()` starts it (before the UI has even loaded, so torch loads meanwhile);
    `attach()` routes its replies, as messages, to the app. `send()` never blocks on training."""

    command = (sys.executable, "-m", "gdtui.engine.session")  # the socket's descriptor is appended
    EXIT_WAIT = 10.0  # how long a process whose pipe closed may take to exit before it is reported anyway

    def __init__(self) -> None:
        self.target: MessagePump | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.conn: Connection | None = None
        self.sock: socket.socket | None = None  # the same socket as conn, for writes that never block
        self.sent = 0
        self.queue: deque[protocol.Command] = deque()  # commands not yet written
        self._out = bytearray()  # the rest of a command partly written
        self._writing = False  # whether the loop watches for the socket to be writable
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stderr: IO[bytes] | None = None
        self._report: asyncio.Task[None] | None = None
        self.journal: str | None = None  # where the session journals its race (a new one rebuilds from it)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def spawn(
        self,
        config: RunConfig,
        csv: CsvData | None = None,
        record: Record | None = None,
        resume: bool = False,
        journal: str | None = None,
        speed: float | None = None,
    ) -> None:
        """Start the session process (it imports torch, not us) and send it `config` (and its CSV data, if the
        command line has read it already), or the race of `record` (see protocol.Start)."""
        self._close_stderr()
        self._stderr = tempfile.TemporaryFile()
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [*self.command, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            close_fds=True,
            env=_child_env(),
        )
        theirs.close()
        self.adopt(ours)
        assert self.conn is not None
        self.journal = journal
        start = protocol.Start(config, csv, record, resume, journal, speed)
        self.conn.send(start)  # not counted, never acknowledged (the socket is empty)

    def left(self) -> Record | None:
        """The race the last session journaled (None without a journal, or one that cannot be read): what a new
        session rebuilds after this one died."""
        from gdtui.engine.journal import read
        from gdtui.engine.record import RecordError

        try:
            return read(self.journal) if self.journal else None
        except RecordError:
            return None

    def respawn(self, target: MessagePump, config: RunConfig, record: Record | None = None) -> None:
        """A new session process after the last one ended: `config` from epoch 0, or `record`'s race rebuilt to
        where each lane stood (journaled on in the same journal); its replies posted to `target`."""
        journal = self.journal
        self.stop()
        self.spawn(config, record=record, resume=record is not None, journal=journal if record else None)
        self.journal = journal
        self.attach(target)

    def adopt(self, sock: socket.socket) -> None:
        """Speak over `sock` (our end of the session's socket pair)."""
        self.sock = sock
        self.conn = Connection(os.dup(sock.fileno()))
        self.sent = 0
        self.queue.clear()
        self._out = bytearray()
        self._writing = False

    def attach(self, target: MessagePump) -> None:
        """Post the session's replies to `target` (the app), read on the running event loop."""
        self.target = target
        if self.conn is not None:
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self.conn.fileno(), self._readable)
            self._flush()

    @property
    def pending(self) -> int:
        """Commands not yet wholly written to the socket."""
        return len(self.queue) + (1 if self._out else 0)

    def send(self, command: protocol.Command) -> None:
        """Send a command without ever blocking; `sent` counts them, and the session acknowledges each one
        (protocol.Seen). A WatchLandscape replaces one still waiting at the queue's end (it is not counted)."""
        if self.conn is None:
            return
        if isinstance(command, protocol.WatchLandscape) and self.queue and isinstance(self.queue[-1], type(command)):
            self.queue[-1] = command
        else:
            self.sent += 1
            self.queue.append(command)
        self._flush()

    def _flush(self) -> None:
        """Write what the socket takes now; watch for it to be writable while anything is left."""
        sock = self.sock
        if sock is None:
            return
        try:
            while self._out or self.queue:
                if not self._out:
                    self._out = _frame(self.queue.popleft())
                written = sock.send(self._out, socket.MSG_DONTWAIT)
                del self._out[:written]
        except (BlockingIOError, InterruptedError):
            pass
        except (OSError, ValueError):
            self._lost()
            return
        self._watch_writable(bool(self._out or self.queue))

    def _watch_writable(self, wanted: bool) -> None:
        if self._loop is None or self.sock is None or wanted == self._writing:
            return
        if wanted:
            self._loop.add_writer(self.sock.fileno(), self._flush)
        else:
            self._loop.remove_writer(self.sock.fileno())
        self._writing = wanted

    def _readable(self) -> None:
        try:
            while self.conn is not None and self.conn.poll():
                self._dispatch(self.conn.recv())
        except (EOFError, OSError):
            self._lost()

    def _dispatch(self, reply: protocol.Reply) -> None:
        """Post one reply, as it came, to the app."""
        from gdtui.tui import messages

        if self.target is not None:  # never None: replies are read only once attached
            self.target.post_message(messages.SessionReply(reply))

    def _lost(self) -> None:
        was_open = self.conn is not None
        self._detach()
        if was_open and self.target is not None and self._loop is not None:
            # The pipe closes before the process has exited (torch's teardown, a crash handler): wait for its
            # real exit status without blocking the event loop, then report.
            self._report = self._loop.create_task(self._report_lost(self.process))

    async def _report_lost(self, process: subprocess.Popen[bytes] | None) -> None:
        from gdtui.tui import messages

        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.EXIT_WAIT
        while process is not None and process.poll() is None and loop.time() < deadline:
            await asyncio.sleep(0.02)
        if process is self.process and self.target is not None:
            self.target.post_message(messages.SessionLost(self.why_ended(wait=0)))

    def why_ended(self, wait: float = 0.0) -> str:
        """Why the session process is gone: how it exited, and the last line it wrote to standard error."""
        code = None
        if self.process is not None:
            try:
                code = self.process.wait(wait)
            except subprocess.TimeoutExpired:
                pass
        if code is None:
            how = "its pipe closed"
        elif code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exit status {code}"
        last = self._last_error_line()
        return f"{how}: {last}" if last else how

    def _last_error_line(self) -> str:
        if self._stderr is None:
            return ""
        try:
            size = self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, size - 4096))
            lines = [line.strip() for line in self._stderr.read().decode(errors="replace").splitlines()]
        except (OSError, ValueError):
            return ""
        return next((line for line in reversed(lines) if line), "")[:200]

    def _close_stderr(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
        self._stderr = None

    def _detach(self) -> None:
        if self.conn is not None:
            if self._loop is not None:
                try:
                    self._loop.remove_reader(self.conn.fileno())
                    if self._writing and self.sock is not None:
                        self._loop.remove_writer(self.sock.fileno())
                except (OSError, ValueError):
                    pass
            self.conn.close()
        if self.sock is not None:
            self.sock.close()
        self.conn, self.sock, self._writing = None, None, False
        self.queue.clear()
        self._out = bytearray()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the session to quit at its next epoch boundary, then make sure the process is gone. Quit is written
        only if the socket takes it now: if not, closing our end ends the session as well (its pipe closes). It
        is given `timeout` seconds (default: 0.5, or 5 while it journals: its last checkpoint and the journal's
        end are written as it quits) before it is killed."""
        if timeout is None:
            timeout = 5.0 if self.journal else 0.5
        if self.conn is not None:
            self.queue.append(protocol.Quit())
            self._flush()
        self._detach()
        if self.process is not None:
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self._close_stderr()


def _frame(command: protocol.Command) -> bytearray:
    """`command` as Connection.send writes it (Connection.recv reads it): its length, then its pickle."""
    data = ForkingPickler.dumps(command)
    return bytearray(struct.pack("!i", len(data)) + bytes(data))


def _child_env() -> dict[str, str]:
    """The environment for the session process, such that it imports this very gdtui: when gdtui runs from a
    source tree that is on our path but not the child's (another working directory), the tree goes first."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    installed = {os.path.abspath(p) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    if root not in installed:
        env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env
