"""Figure 10's measurements, bounded computation: a session process driven over its socket as the app drives it
(Start, then commands), and `gdtui lr-find` as a whole process.

Why: issue 24 found settings that froze the session (an mlp's whole Hessian at every start: 12-30 s before a
64,64 mlp's first epoch, 4.7 GB for 96,96, the OOM killer for 1024,1024). What must hold: a 64,64 mlp's first
epoch comes within 0.5 s of linear-manual's; a 1024,1024 mlp's session answers a command within 100 ms while it
trains and computes its curvature, under 2 GB; `gdtui lr-find` on a 96,96 mlp ends within 10 s and 1 GB.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection

from common import GDTUI, PYTHON, ROOT, proc_status


def _import_gdtui():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


class Session:
    """A session process started as SessionClient.spawn starts it."""

    def __init__(self, config, **start):
        from gdtui.engine import protocol as p

        ours, theirs = socket.socketpair()
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [PYTHON, "-m", "gdtui.engine.session", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        theirs.close()
        self.conn = Connection(ours.detach())
        self.conn.send(p.Start(config, None, **start))
        self.sent = 0
        self.curvature = None  # the last curvature the session sent

    def send(self, command) -> None:
        self.sent += 1
        self.conn.send(command)

    def until(self, kind, timeout: float = 300.0):
        """Read replies until one of `kind`; return it."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.conn.poll(0.05):
                reply = self.conn.recv()
                if hasattr(reply, "curvature"):
                    self.curvature = reply.curvature
                if isinstance(reply, kind):
                    return reply
        raise RuntimeError(f"no {kind.__name__} within {timeout} s")

    def peak(self) -> int | None:
        return proc_status(self.process.pid, "VmHWM")

    def close(self) -> None:
        from gdtui.engine import protocol as p

        try:
            self.conn.send(p.Quit())
        except OSError:
            pass
        self.conn.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def first_epoch(**settings) -> float:
    """Seconds from the session's launch to its first epoch's Results, Run sent at once."""
    _import_gdtui()
    from gdtui.engine import protocol as p
    from gdtui.engine import resolve

    session = Session(resolve("linear-manual", **settings))
    session.send(p.Run())
    session.until(p.Results)
    elapsed = time.perf_counter() - session.started
    session.close()
    return elapsed


def keys_while_busy(hidden: tuple[int, ...], keys: int) -> dict:
    """An mlp session running, its curvature under way: the time from each command (pause, run, an lr) to its
    acknowledgment (Seen), and the session's peak RSS."""
    _import_gdtui()
    from gdtui.engine import protocol as p
    from gdtui.engine import resolve

    session = Session(resolve("linear-manual", model="mlp", hidden=hidden, data="sine", epochs=10**6))
    session.until(p.Ready)
    session.send(p.Run())
    session.until(p.Seen)
    latencies = []
    commands = [p.Pause(), p.Run(), p.Update({"lr": 1e-3})]
    for k in range(keys):
        start = time.perf_counter()
        session.send(commands[k % len(commands)])
        while True:
            reply = session.until(p.Seen)
            if reply.count >= session.sent:
                break
        latencies.append(time.perf_counter() - start)
    curvature = session.curvature or session.until(p.CurvatureKnown, timeout=60).curvature
    peak = session.peak()
    session.close()
    return {"latencies": latencies, "peak": peak, "computed": curvature.computed}


def lr_find_cli() -> dict:
    """`gdtui lr-find --model mlp --hidden 96,96 --data sine --steps 10`: wall seconds and peak RSS."""
    argv = [*GDTUI, "lr-find", "--model", "mlp", "--hidden", "96,96", "--data", "sine", "--steps", "10"]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    out = proc.stdout.read().decode() if proc.stdout else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"lr-find exited {proc.returncode}")
    line = next((x for x in out.splitlines() if x.startswith("curvature at")), "")
    return {"seconds": elapsed, "peak": usage.ru_maxrss * 1024, "curvature": line}
