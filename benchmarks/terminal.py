"""gdtui in a real terminal for the benchmarks: a private tmux server, read through control-mode clients.

Why: key latency, live throughput and first paint are what a person at a terminal sees, so they are timed on
a real pane, and the cost of looking at it is kept small and printed. The server has its own socket and is
killed at the end. The screen is read through one control-mode client (`tmux -C`), capturing only the rows
that matter (tmux's capture cost grows with the rows: a few status rows cost ~1-2 ms here, the whole 120x36
pane ~10 ms, and a spawned `tmux capture-pane` as much again); key latency is also timed from the pane's
output stream (PaneStream), with no polling at all.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time

from common import PANE, alive, descendants

STATUS_RE = re.compile(r"^\s*(loading torch…|loading|ready|running|paused|done|diverged)\b.*?│\s*epoch (\d+)/(\d+)")


# ------------------------------------------------------------------------------------------------ tmux


class Tmux:
    """A private tmux server (socket gdtui-bench-PID) with a keeper session and one control-mode client.

    Commands go through the control client, so a capture-pane or a send-keys costs a round trip on a pipe,
    not a process spawn. `close()` kills every session, every process the panes started, and the server.
    """

    def __init__(self):
        if not shutil.which("tmux"):
            raise RuntimeError("tmux is not installed")
        self.socket = f"gdtui-bench-{os.getpid()}"
        self.base = ["tmux", "-u", "-L", self.socket, "-f", "/dev/null"]
        self.ctl = None
        self.pids: set[int] = set()
        env = dict(os.environ, LANG=os.environ.get("LANG", "C.UTF-8"))
        env.pop("TMUX", None)
        self.env = env
        subprocess.run(
            self.base + ["new-session", "-d", "-s", "keeper", "-x", str(PANE[0]), "-y", str(PANE[1]), "sleep 86400"],
            check=True,
            timeout=10,
            env=env,
        )
        self.ctl = subprocess.Popen(
            self.base + ["-C", "attach-session", "-t", "keeper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            env=env,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._block(10)  # the attach itself answers with one block
        self.cmd("refresh-client -f no-output")
        ok, out = self.cmd("display-message -p '#{socket_path}'")
        self.socket_path = out[0].strip() if ok and out else None
        self.killed = 0

    def _read(self) -> None:
        for line in iter(self.ctl.stdout.readline, b""):
            self.lines.put(line)
        self.lines.put(None)

    def _block(self, timeout: float) -> tuple[bool, list[str]]:
        deadline = time.monotonic() + timeout
        out, inside = [], False
        while True:
            try:
                raw = self.lines.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                raise TimeoutError("tmux control client did not answer") from None
            if raw is None:
                raise RuntimeError("tmux control client ended")
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith("%begin"):
                inside, out = True, []
            elif inside and line.startswith(("%end", "%error")):
                return line.startswith("%end"), out
            elif inside:
                out.append(line)

    def cmd(self, command: str, timeout: float = 10) -> tuple[bool, list[str]]:
        self.ctl.stdin.write((command + "\n").encode())
        return self._block(timeout)

    def launch(self, name: str, argv: list[str]) -> float:
        """Start `argv` in a new detached session `name`; returns the perf_counter time just before."""
        line = " ".join(_quote(a) for a in argv)
        start = time.perf_counter()
        ok, out = self.cmd(f"new-session -d -s {name} -x {PANE[0]} -y {PANE[1]} {_quote('exec ' + line)}")
        if not ok:
            raise RuntimeError(f"tmux new-session failed: {out}")
        ok, out = self.cmd(f"display-message -p -t {name} '#{{pane_pid}}'")
        if ok and out and out[0].strip().isdigit():
            self.pids.add(int(out[0]))
        return start

    def capture(self, name: str, rows: tuple[int, int] | None = None) -> list[str]:
        """The pane's text, or only rows first..last (tmux's capture cost grows with the rows: ~0.3 ms each here)."""
        span = f" -S {rows[0]} -E {rows[1]}" if rows else ""
        ok, out = self.cmd(f"capture-pane -p -t {name}{span}")
        if not ok:
            raise RuntimeError(f"tmux capture-pane failed (did the app exit?): {out}")
        return out

    def keys(self, name: str, *keys: str) -> None:
        self.cmd(f"send-keys -t {name} {' '.join(keys)}")

    def has(self, name: str) -> bool:
        return self.cmd(f"has-session -t {name}")[0]

    def note_children(self) -> None:
        """Remember every process the panes started (the app and its session process), to end them later."""
        for pid in list(self.pids):
            self.pids.update(descendants(pid))

    def quit(self, name: str, timeout: float = 8) -> None:
        """Press q, wait for the app to exit, then kill the session whatever happened."""
        self.note_children()
        try:
            if self.has(name):
                self.keys(name, "q")
                deadline = time.monotonic() + timeout
                while self.has(name) and time.monotonic() < deadline:
                    time.sleep(0.05)
        finally:
            if self.has(name):
                self.cmd(f"kill-session -t {name}")
            self._reap(timeout=3)

    def _reap(self, timeout: float) -> None:
        """Wait for the panes' processes to end; SIGKILL, by pid, any still alive after `timeout`."""
        deadline = time.monotonic() + timeout
        while any(alive(p) for p in self.pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in list(self.pids):
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                    self.killed += 1
                except OSError:
                    pass
        self.pids.clear()

    def close(self) -> None:
        self.note_children()
        try:
            subprocess.run(self.base + ["kill-server"], timeout=10, capture_output=True)
        except Exception:
            pass
        if self.ctl is not None:
            try:
                self.ctl.wait(5)
            except subprocess.TimeoutExpired:
                self.ctl.kill()
        self._reap(timeout=3)
        if self.socket_path:
            try:
                os.unlink(self.socket_path)
            except OSError:
                pass


class PaneStream:
    """A read-only control client attached to one session: the pane's output as tmux reads it from the pty,
    timestamped on arrival. Watching the byte stream costs tmux nothing extra (it forwards output to any
    attached client), so it shows when the app wrote a word, without the cost and granularity of polling."""

    ESCAPE = re.compile(rb"\\([0-7]{3})")

    def __init__(self, tmux: Tmux, name: str):
        self.proc = subprocess.Popen(
            tmux.base + ["-C", "attach-session", "-r", "-t", name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            env=tmux.env,
        )
        self.cond = threading.Condition()
        self.chunks: list[tuple[float, str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in iter(self.proc.stdout.readline, b""):
            if raw.startswith(b"%output "):
                now = time.perf_counter()
                data = self.ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), raw.split(b" ", 2)[2].rstrip(b"\n"))
                with self.cond:
                    self.chunks.append((now, data.decode("utf-8", "replace")))
                    self.cond.notify_all()

    def mark(self) -> None:
        """Forget the output so far: the next wait looks only at what comes after this call."""
        with self.cond:
            self.chunks = []

    def wait_for(self, word: str, timeout: float) -> float | None:
        """perf_counter time at which `word` arrived in the output after the last mark(), or None."""
        deadline = time.perf_counter() + timeout
        seen, tail = 0, ""
        with self.cond:
            while True:
                while seen < len(self.chunks):
                    at, text = self.chunks[seen]
                    seen += 1
                    if word in tail + text:
                        return at
                    tail = (tail + text)[-len(word) :]
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(5)
        except Exception:
            self.proc.kill()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def status_of(lines: list[str]) -> tuple[str, int, int] | None:
    """(state, epoch, epochs) from the status line on screen, or None while it is not drawn."""
    for line in reversed(lines):
        m = STATUS_RE.match(line)
        if m:
            return m.group(1).split()[0].rstrip("…"), int(m.group(2)), int(m.group(3))
    return None


STATUS_ROWS = (PANE[1] - 4, PANE[1] - 1)  # the status line is the second row from the bottom
TITLE_ROWS = (0, 0)  # the Hyperparameters pane's border title


def wait_screen(tmux: Tmux, name: str, found, timeout: float, interval: float, rows=STATUS_ROWS):
    """Poll the pane's `rows` until `found(lines)` is truthy; return (value, perf_counter time seen, polls)."""
    deadline = time.perf_counter() + timeout
    polls = 0
    while True:
        lines = tmux.capture(name, rows)
        now = time.perf_counter()
        polls += 1
        value = found(lines)
        if value:
            return value, now, polls
        if now > deadline:
            raise TimeoutError(f"{name}: not seen in {timeout:.0f} s; screen ends with: {lines[-3:]}")
        if interval:
            time.sleep(interval)
