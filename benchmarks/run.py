#!/usr/bin/env python
"""gdtui's performance figures, each measured as a ratio against its baseline in one run.

Usage:  python benchmarks/run.py            full run (5 alternating rounds per whole-process figure, about 14 min)
        python benchmarks/run.py --quick    smoke run (fewer rounds and epochs; memory is extrapolated; about 4 min)
        python benchmarks/run.py --only 1,4 only some figures (numbers as in the table)

Why: issue 4 sets targets for engine overhead, live UI throughput, key latency, first paint, a million points,
a million epochs and the cuda path, each as a ratio measured on this machine. Every figure alternates its
two sides round by round and takes medians, so a neighbour's load drifting during the run hits both sides.

The terminal figures (2, 3, 4) run gdtui in a private tmux server (its own socket, killed at the end). The
screen is read through one tmux control-mode client (`tmux -C`), capturing only the rows that matter (tmux's
capture cost grows with the rows: a few status rows cost ~1-2 ms here, the whole 120x36 pane ~10 ms, and a
spawned `tmux capture-pane` as much again); key latency is also timed from the pane's output stream, with no
polling at all, and every cost of looking is printed. The in-process
figures (5, 6, 7) run in fresh child interpreters (`run.py --worker NAME`), so their memory and imports are
their own. Not part of CI: it measures, it does not judge the build.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
SEED_LOOP = HERE / "seed_loop.py"
PRESET = "fastai-quadratic"
PANE = (120, 36)
STATUS_RE = re.compile(r"^\s*(loading torch…|loading|ready|running|paused|done|diverged)\b.*?│\s*epoch (\d+)/(\d+)")


def gdtui_command() -> list[str]:
    """The gdtui console script next to this interpreter (not a pyenv shim, whose bash costs ~0.1 s a call)."""
    beside = Path(PYTHON).parent / "gdtui"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("gdtui")
    return [found] if found else [PYTHON, "-m", "gdtui"]


GDTUI = gdtui_command()


# ------------------------------------------------------------------------------------------------ helpers

def median(values):
    return statistics.median(values) if values else float("nan")


def timed_process(argv: list[str], timeout: float) -> float:
    """Wall seconds of one whole process, which must exit 0."""
    start = time.perf_counter()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          timeout=timeout, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[-400:]}")
    return elapsed


def alternate(rounds: int, a, b) -> tuple[list, list]:
    """Call a() and b() `rounds` times each, alternating which goes first, and return both lists."""
    xs, ys = [], []
    for i in range(rounds):
        if i % 2 == 0:
            xs.append(a())
            ys.append(b())
        else:
            ys.append(b())
            xs.append(a())
    return xs, ys


def worker(name: str, quick: bool, timeout: float) -> dict:
    """Run `run.py --worker name` in a fresh interpreter and return the dict it prints."""
    argv = [PYTHON, str(Path(__file__).resolve()), "--worker", name] + (["--quick"] if quick else [])
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"worker {name} exited {proc.returncode}: {proc.stderr[-800:]}")


def proc_status(pid: int | str, field: str) -> int | None:
    """A kB field (VmRSS, VmHWM) of /proc/PID/status, in bytes."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def role(pid: int) -> str:
    """'session', 'app' or the program name of a gdtui process, from its command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return f"pid {pid}"
    text = b" ".join(argv).decode(errors="replace")
    if "gdtui.engine.session" in text:
        return f"session (pid {pid})"
    if "gdtui" in text:
        return f"app (pid {pid})"
    return f"{Path(argv[0].decode(errors='replace')).name} (pid {pid})"


def cpu_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def cpu_shares(pids, seconds: float) -> dict[str, float]:
    """Each process's CPU use over `seconds` (1.0 = one core busy), plus the tmux server's, by role."""
    hz = os.sysconf("SC_CLK_TCK")
    watch = {role(p): p for p in pids}
    try:
        server = int(subprocess.run(["pgrep", "-f", "-o", "tmux.*gdtui-bench-%d" % os.getpid()], capture_output=True,
                                    text=True, timeout=5).stdout.split()[0])
        watch[f"tmux server (pid {server})"] = server
    except Exception:
        pass
    before = {k: cpu_ticks(p) for k, p in watch.items()}
    t = time.perf_counter()
    time.sleep(seconds)
    after = {k: cpu_ticks(p) for k, p in watch.items()}
    wall = time.perf_counter() - t
    return {k: (after[k] - before[k]) / hz / wall for k in watch if before[k] is not None and after[k] is not None}


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


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
        subprocess.run(self.base + ["new-session", "-d", "-s", "keeper", "-x", str(PANE[0]), "-y", str(PANE[1]),
                                    "sleep 86400"], check=True, timeout=10, env=env)
        self.ctl = subprocess.Popen(self.base + ["-C", "attach-session", "-t", "keeper"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0, env=env)
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
        self.proc = subprocess.Popen(tmux.base + ["-C", "attach-session", "-r", "-t", name], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0, env=tmux.env)
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
                    tail = (tail + text)[-len(word):]
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


# ------------------------------------------------------------------------------------------------ figures

class Bench:
    def __init__(self, quick: bool):
        self.quick = quick
        self.rows: list[dict] = []
        self.notes: list[str] = []
        self._tmux: Tmux | None = None
        self._n = 0

    @property
    def tmux(self) -> Tmux:
        if self._tmux is None:
            self._tmux = Tmux()
        return self._tmux

    def name(self, tag: str) -> str:
        self._n += 1
        return f"{tag}{self._n}"

    def row(self, figure, name, gdtui, baseline, ratio, target, ok, note=""):
        self.rows.append(dict(figure=figure, name=name, gdtui=gdtui, baseline=baseline, ratio=ratio,
                              target=target, ok=ok))
        if note:
            self.notes.append(f"[{figure}] {note}")

    def close(self):
        if self._tmux is not None:
            self._tmux.close()
            if self._tmux.killed:
                self.notes.append(f"[tmux] {self._tmux.killed} gdtui process(es) were still alive after q and "
                                  f"kill-session and were ended with SIGKILL")
            self._tmux = None

    # 1 -------------------------------------------------------------------------------------------------
    def engine_overhead(self):
        rounds, epochs = (2, 20000) if self.quick else (5, 20000)
        g_argv = GDTUI + ["run", "--quiet", "--preset", PRESET, "--epochs", str(epochs)]
        s_argv = [PYTHON, str(SEED_LOOP), str(epochs)]
        cpu = {"g": [], "s": []}

        def measure(argv, key):
            before = os.times()
            wall = timed_process(argv, timeout=600)
            after = os.times()
            cpu[key].append(after.children_user + after.children_system
                            - before.children_user - before.children_system)
            return wall

        g, s = alternate(rounds, lambda: measure(g_argv, "g"), lambda: measure(s_argv, "s"))
        ratio = median(g) / median(s)
        self.row("1", f"engine overhead: whole process, {epochs} epochs", f"{median(g):.2f} s", f"{median(s):.2f} s",
                 ratio, "<= 1.05", ratio <= 1.05,
                 f"gdtui run --quiet vs benchmarks/seed_loop.py, {rounds} rounds: gdtui {_list(g)} s, seed {_list(s)} s; "
                 f"CPU time (user+sys) ratio {median(cpu['g']) / median(cpu['s']):.3f}")
        # where the difference lies: per-epoch cost in one process, imports excluded
        r = worker("epoch20", self.quick, timeout=900)
        self.row("1b", "  per epoch in-process (info)", f"{r['trainer_us']:.0f} µs", f"{r['seed_us']:.0f} µs",
                 r["trainer_us"] / r["seed_us"], "-", None,
                 f"Trainer.run in chunks of 1000 vs the seed loop in one interpreter, {r['epochs']} epochs x "
                 f"{r['rounds']} rounds; import of gdtui.cli+trainer {r['import_s']:.2f} s vs import torch "
                 f"{r['torch_import_s']:.2f} s (same process, so both with a warm page cache)")

    # 2 -------------------------------------------------------------------------------------------------
    def live_ui(self):
        rounds, epochs = (2, 20000) if self.quick else (5, 20000)
        tmux = self.tmux
        app_argv = GDTUI + ["--preset", PRESET, "--epochs", str(epochs), "--run"]
        head_argv = GDTUI + ["run", "--quiet", "--preset", PRESET, "--epochs", str(epochs)]
        finals, starts, rates = [], [], []

        def ui():
            name = self.name("live")
            try:
                start = tmux.launch(name, app_argv)
                first = None
                deadline = start + 600
                while True:
                    lines = tmux.capture(name, STATUS_ROWS)
                    now = time.perf_counter()
                    st = status_of(lines)
                    if st and first is None and st[1] > 0:
                        first = now
                    if st and st[0] == "done":
                        break
                    if now > deadline:
                        raise TimeoutError(f"{name}: no 'done' in 600 s; screen ends with {lines[-3:]}")
                    time.sleep(0.02)
                finals.append(st[1])
                starts.append(first - start)
                rates.append(st[1] / (now - first) if now > first else float("nan"))
                return now - start
            finally:
                tmux.quit(name)

        u, h = alternate(rounds, ui, lambda: timed_process(head_argv, timeout=600))
        ratio = median(u) / median(h)
        bad = [f for f in finals if f != epochs]
        self.row("2", f"live UI: launch to 'done', {epochs} epochs", f"{median(u):.2f} s", f"{median(h):.2f} s",
                 ratio, "<= 1.15", ratio <= 1.15 and not bad,
                 f"tmux {PANE[0]}x{PANE[1]}, screen polled every 20 ms; UI {_list(u)} s, headless {_list(h)} s; "
                 f"of the UI's time, launch to the first epoch on screen {_list(starts)} s (median "
                 f"{median(starts):.2f} s), then {median(rates):.0f} epochs/s to 'done'"
                 + (f"; WRONG final epoch on screen: {bad}" if bad else ""))
        r = worker("session", self.quick, timeout=600)
        self.row("2b", "  session process alone (info, time ratio)", f"{r['session_eps']:.0f} ep/s",
                 f"{r['headless_eps']:.0f} ep/s", r["headless_eps"] / r["session_eps"], "-", None,
                 f"python -m gdtui.engine.session driven by a client that only reads its results, against "
                 f"Trainer.run(1000) in a loop in one process; {r['rounds']} alternating windows of "
                 f"{r['window']:g} s; no UI, so this isolates the session protocol's own cost")

    # 3 -------------------------------------------------------------------------------------------------
    def responsiveness(self):
        toggles = 4 if self.quick else 16
        tmux = self.tmux
        name = self.name("keys")
        interval = 0.005
        lat = {"paused": [], "running": []}
        pty = {"paused": [], "running": []}
        polls, rss, cpu, epoch_now = [], {}, {}, None
        stream = None
        try:
            tmux.launch(name, GDTUI + ["--preset", PRESET, "--epochs", "100000000", "--run"])
            wait_screen(tmux, name, lambda l: (s := status_of(l)) and s[0] == "running" and s[1] > 0,
                        timeout=120, interval=0.02)
            stream = PaneStream(tmux, name)
            time.sleep(1.0)  # full speed: chunks flowing, plots redrawing
            tmux.note_children()
            cpu = cpu_shares(tmux.pids, 2.0)
            # Even toggles are timed by polling the screen, odd ones by the pty stream alone (no polling load).
            for i in range(toggles):
                for want in ("paused", "running"):
                    stream.mark()
                    start = time.perf_counter()
                    tmux.keys(name, "Space")
                    if i % 2 == 0:
                        _, seen, n = wait_screen(tmux, name, lambda l, w=want: (s := status_of(l)) and s[0] == w,
                                                 timeout=30, interval=interval)
                        lat[want].append((seen - start) * 1000)
                        polls.append(n)
                    else:
                        at = stream.wait_for(want, timeout=30)
                        if at is None:
                            raise TimeoutError(f"'{want}' not written within 30 s of space")
                        pty[want].append((at - start) * 1000)
                        wait_screen(tmux, name, lambda l, w=want: (s := status_of(l)) and s[0] == w, timeout=30,
                                    interval=0.02)
                    time.sleep(0.3 if want == "paused" else 1.0)
            tmux.note_children()
            for pid in sorted(tmux.pids):
                value = proc_status(pid, "VmRSS")
                if value:
                    rss[role(pid)] = value
            epoch_now = status_of(tmux.capture(name, STATUS_ROWS))
        finally:
            if stream is not None:
                stream.close()
            tmux.quit(name)
        # the cost of looking: a capture-pane round trip through the control client, and as a spawned client
        probe = self.name("probe")
        try:
            tmux.launch(probe, GDTUI + ["--preset", PRESET])
            wait_screen(tmux, probe, lambda l: "Hyperparameters" in "".join(l), timeout=60, interval=0.01,
                        rows=TITLE_ROWS)
            ctl, full, spawn = [], [], []
            for _ in range(40):
                t = time.perf_counter()
                tmux.capture(probe, STATUS_ROWS)
                ctl.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                tmux.capture(probe)
                full.append((time.perf_counter() - t) * 1000)
            for _ in range(10):
                t = time.perf_counter()
                subprocess.run(tmux.base + ["capture-pane", "-p", "-t", probe], capture_output=True, timeout=10,
                               env=tmux.env)
                spawn.append((time.perf_counter() - t) * 1000)
        finally:
            tmux.quit(probe)
        look = f"{median(ctl):.1f} ms look"
        for want in ("paused", "running"):
            m = median(lat[want])
            self.row("3", f"keys: space -> '{want}', screen polled", f"{m:.1f} ms", look, m / 50, "<= 50 ms", m <= 50)
        for want in ("paused", "running"):
            m = median(pty[want])
            self.row("3", f"keys: space -> '{want}', pty stream", f"{m:.1f} ms", "-", m / 50, "<= 50 ms", m <= 50)
        self.notes.append(
            f"[3] {toggles} toggles each way while training at full speed (100M-epoch run), alternately timed "
            f"by the two methods. Screen polled: from "
            f"send-keys to the capture-pane that shows the word, polled every {interval * 1000:.0f} ms (median "
            f"{median(polls):.0f} polls); paused {_list(lat['paused'], 0)} ms, running {_list(lat['running'], 0)} ms. "
            f"Pty stream (odd toggles, no polling): from send-keys to the moment the word arrived in the pane's output through a read-only "
            f"control client (no polling); paused {_list(pty['paused'], 0)} ms, running {_list(pty['running'], 0)} ms. "
            f"Cost of looking (median): capture-pane of the {STATUS_ROWS[1] - STATUS_ROWS[0] + 1} status rows via the "
            f"control client {median(ctl):.2f} ms (what the polls use), of the whole {PANE[0]}x{PANE[1]} pane "
            f"{median(full):.2f} ms, whole pane via a spawned `tmux capture-pane` {median(spawn):.1f} ms. "
            f"Ratio = latency / 50 ms.")
        if cpu:
            parts = ", ".join(f"{label} {share:.0%}" for label, share in cpu.items())
            self.notes.append(f"[3] CPU while training at full speed (2 s window; 100% = one core): {parts}")
        if rss:
            parts = ", ".join(f"{who} {v / 2**20:.0f} MB" for who, v in sorted(rss.items()))
            self.notes.append(f"[3] resident memory of the app's processes at the end ({epoch_now}): {parts}")

    # 4 -------------------------------------------------------------------------------------------------
    def first_paint(self):
        rounds = 2 if self.quick else 5
        tmux = self.tmux

        def paint():
            name = self.name("paint")
            try:
                start = tmux.launch(name, GDTUI + ["--preset", PRESET])
                _, seen, _ = wait_screen(tmux, name, lambda l: "Hyperparameters" in "".join(l), timeout=120,
                                         interval=0.002, rows=TITLE_ROWS)
                return seen - start
            finally:
                tmux.quit(name)

        f, t = alternate(rounds, paint, lambda: timed_process([PYTHON, "-c", "import torch"], timeout=300))
        ratio = median(f) / median(t)
        self.row("4", "first paint vs python -c 'import torch'", f"{median(f):.2f} s", f"{median(t):.2f} s", ratio,
                 "< 0.35", ratio < 0.35,
                 f"launch in tmux to 'Hyperparameters' on screen (polled every 2 ms): {_list(f)} s; "
                 f"import torch {_list(t)} s")

    # 5 -------------------------------------------------------------------------------------------------
    def large_data(self):
        r = worker("plot", self.quick, timeout=900)
        ratio = r["big_ms"] / r["small_ms"]
        self.row("5a", f"plot render() 120x40, {r['points']:,} vs 20 points", f"{r['big_ms']:.1f} ms",
                 f"{r['small_ms']:.1f} ms", ratio, "<= 1.5", ratio <= 1.5,
                 f"PredictionPlot in App.run_test(size=(120, 40)), {r['reps']} alternating reps; plot sample "
                 f"{r['sample']} of {r['points']:,} points; replot() (Python side, before render) "
                 f"{r['big_replot_ms']:.1f} ms vs {r['small_replot_ms']:.1f} ms; Trainer build {r['build_s']:.1f} s")
        r = worker("epochs", self.quick, timeout=1200)
        ratio = r["bare_eps"] / r["trainer_eps"]
        self.row("5b", f"epoch cost, {r['points']:,} points (time ratio)", f"{r['trainer_eps']:.1f} ep/s",
                 f"{r['bare_eps']:.1f} ep/s", ratio, "report (~1)", None,
                 f"Trainer.run({r['epochs']}) vs a bare loop of the same quadratic and MSE on the same tensors, "
                 f"{r['rounds']} alternating rounds, loss.item() every epoch in the bare loop")

    # 6 -------------------------------------------------------------------------------------------------
    def long_run(self):
        r = worker("memory", self.quick, timeout=3600)
        growth = r["growth"] * r["scale"]
        extra = (f" (measured over {r['epochs']:,} epochs: {r['growth'] / 2**20:.1f} MB, extrapolated x{r['scale']:g})"
                 if r["scale"] != 1 else "")
        self.row("6", "memory growth, 1,000,000 epochs", f"{growth / 2**20:.1f} MB", "-", None, "< 200 MB",
                 growth < 200 * 2**20,
                 f"Trainer fastai-quadratic, run() in chunks of {r['chunk']:,}, results discarded; VmRSS "
                 f"{r['rss0'] / 2**20:.0f} -> {r['rss1'] / 2**20:.0f} MB, VmHWM {r['hwm'] / 2**20:.0f} MB, "
                 f"{r['bytes_per_epoch']:.0f} bytes/epoch, {r['seconds']:.0f} s{extra}")

    # 7 -------------------------------------------------------------------------------------------------
    def cuda_path(self):
        r = worker("syncs", self.quick, timeout=300)
        ok = r["per_epoch"] == 0 and r["static_loop"] == 0
        self.row("7", "host syncs per epoch in the chunk loop", f"{r['per_epoch']:g}", "1 (seed: loss.item())",
                 None, "0 (read once per chunk)", ok,
                 f"no GPU here: counted, not timed. Trainer.run's epoch loop has {r['static_loop']} host-reading "
                 f"calls in its source ({r['static_loop_calls'] or 'none'}); _record, once per chunk, has "
                 f"{r['static_record']} ({', '.join(r['static_record_calls'])}). Counted at run time by wrapping "
                 f"Tensor.item/tolist/cpu/numpy/__bool__/__float__/__int__: {r['per_chunk']:g} per chunk, "
                 f"{r['per_epoch']:g} per epoch (run(1) vs run({r['n']}))")

    FIGURES = {"1": "engine_overhead", "2": "live_ui", "3": "responsiveness", "4": "first_paint",
               "5": "large_data", "6": "long_run", "7": "cuda_path"}


def _list(values, digits=2) -> str:
    return "[" + ", ".join(f"{v:.{digits}f}" for v in values) + "]"


# ------------------------------------------------------------------------------------------------ workers
# Each runs in a fresh interpreter and prints one line: RESULT {json}.

def _import_gdtui():
    sys.path.insert(0, str(ROOT))


def work_epoch20(quick: bool) -> dict:
    t0 = time.perf_counter()
    import torch
    t1 = time.perf_counter()
    _import_gdtui()
    import gdtui.cli  # noqa: F401  (what `gdtui run` imports)
    from gdtui.engine.config import resolve
    from gdtui.engine.trainer import Trainer
    t2 = time.perf_counter()
    rounds, epochs = (2, 2000) if quick else (5, 5000)

    def trainer_side():
        t = Trainer(resolve(PRESET, epochs=epochs))
        start = time.perf_counter()
        while not t.done and t.status == "ok":
            t.run(min(epochs - t.epoch, 1000))
        return (time.perf_counter() - start) / epochs

    def seed_side():
        torch.manual_seed(2021)
        time_ = torch.arange(0, 20).float()
        speed = torch.rand(20) * 5 + 0.8 * (time_ - 7.5) ** 2 + 1
        torch.randn(3)
        params = torch.randn(3).requires_grad_()
        lr = 1e-5
        start = time.perf_counter()
        for _ in range(epochs):
            a, b, c = params
            preds = a * (time_**2) + (b * time_) + c
            loss = ((preds - speed) ** 2).mean()
            loss.backward()
            params.data -= lr * params.grad.data
            params.grad = None
            loss.item()
        return (time.perf_counter() - start) / epochs

    trainer_side(), seed_side()  # warm up
    tr, se = alternate(rounds, trainer_side, seed_side)
    return dict(trainer_us=median(tr) * 1e6, seed_us=median(se) * 1e6, epochs=epochs, rounds=rounds,
                import_s=t2 - t1, torch_import_s=t1 - t0)


def work_session(quick: bool) -> dict:
    """Epochs/s of the session process the TUI starts (fed by a client that only reads), against the headless
    loop (Trainer.run in chunks of 1000) in this process: how much the session protocol itself costs."""
    import socket
    from multiprocessing.connection import Connection

    _import_gdtui()
    from gdtui.engine.config import resolve
    from gdtui.engine.trainer import Trainer

    window, rounds = (2.0, 2) if quick else (4.0, 4)
    config = resolve(PRESET, epochs=100_000_000)
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen([PYTHON, "-m", "gdtui.engine.session", str(theirs.fileno())], pass_fds=[theirs.fileno()],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=ROOT)
    theirs.close()
    conn = Connection(ours.detach())
    trainer = Trainer(config)
    try:
        conn.send(("config", config))
        deadline = time.monotonic() + 120
        while True:
            if not conn.poll(max(deadline - time.monotonic(), 0)):
                raise TimeoutError("session not ready in 120 s")
            if conn.recv()[0] == "ready":
                break
        state = {"epoch": 0, "running": False}

        def drain(until: float) -> None:
            while True:
                left = until - time.perf_counter()
                if left <= 0 or not conn.poll(left):
                    return
                reply = conn.recv()
                if reply[0] == "results":
                    state["epoch"] = reply[1].last

        def session_side():
            conn.send(("run",))
            drain(time.perf_counter() + 0.5)  # reach full speed
            e0, t0 = state["epoch"], time.perf_counter()
            drain(t0 + window)
            rate = (state["epoch"] - e0) / (time.perf_counter() - t0)
            conn.send(("pause",))
            drain(time.perf_counter() + 0.3)
            return rate

        def headless_side():
            start, n = time.perf_counter(), 0
            while time.perf_counter() - start < window:
                n += len(trainer.run(1000))
            return n / (time.perf_counter() - start)

        headless_side()
        s_rates, h_rates = alternate(rounds, session_side, headless_side)
    finally:
        try:
            conn.send(("quit",))
        except OSError:
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return dict(session_eps=median(s_rates), headless_eps=median(h_rates), rounds=rounds, window=window)


def work_plot(quick: bool) -> dict:
    import asyncio

    _import_gdtui()
    from textual.app import App

    from gdtui.engine.config import resolve
    from gdtui.engine.trainer import Trainer
    from gdtui.widgets.plots import PredictionPlot

    points = 1_000_000
    start = time.perf_counter()
    big = Trainer(resolve(data="quadratic", points=points))
    build_s = time.perf_counter() - start
    small = Trainer(resolve(PRESET))
    cases = {}
    for key, trainer, ylim in (("big", big, None), ("small", small, (-100.0, 100.0))):
        x, y, n_train = trainer.plot_data
        cases[key] = (x, y, n_train, ylim, trainer.step().preds)
    reps = 8 if quick else 30

    class PlotApp(App):
        CSS = "PredictionPlot { width: 100%; height: 100%; }"

        def compose(self):
            yield PredictionPlot(id="plot")

    out = {"big": [], "small": [], "big_replot": [], "small_replot": []}

    async def main():
        app = PlotApp()
        async with app.run_test(size=(120, 40)) as pilot:
            plot = app.query_one(PredictionPlot)
            await pilot.pause()
            size = (plot.size.width, plot.size.height)
            for i in range(reps + 2):
                order = ("big", "small") if i % 2 == 0 else ("small", "big")
                for key in order:
                    x, y, n_train, ylim, preds = cases[key]
                    plot.set_data(x, y, n_train, ylim)
                    plot.set_preds(preds)
                    t = time.perf_counter()
                    plot.replot()
                    t_replot = time.perf_counter() - t
                    t = time.perf_counter()
                    rendered = plot.render()
                    t_render = time.perf_counter() - t
                    if "plot unavailable" in str(rendered):
                        raise RuntimeError(str(rendered))
                    if i >= 2:  # the first two are warm-up
                        out[key].append(t_render)
                        out[key + "_replot"].append(t_replot)
            return size

    size = asyncio.run(main())
    return dict(big_ms=median(out["big"]) * 1e3, small_ms=median(out["small"]) * 1e3,
                big_replot_ms=median(out["big_replot"]) * 1e3, small_replot_ms=median(out["small_replot"]) * 1e3,
                reps=reps, points=points, sample=len(cases["big"][0]), build_s=build_s, size=size)


def work_epochs(quick: bool) -> dict:
    _import_gdtui()
    import torch

    from gdtui.engine.config import resolve
    from gdtui.engine.trainer import Trainer

    points = 1_000_000
    trainer = Trainer(resolve(data="quadratic", points=points, epochs=1_000_000_000))
    x, y = trainer.data.x_train, trainer.data.y_train
    lr = trainer.config.lr
    params = trainer.model.flat().clone().requires_grad_()
    rounds, epochs = (2, 5) if quick else (5, 20)

    def bare():
        start = time.perf_counter()
        for _ in range(epochs):
            a, b, c = params
            preds = a * (x**2) + (b * x) + c
            loss = ((preds - y) ** 2).mean()
            loss.backward()
            params.data -= lr * params.grad.data
            params.grad = None
            loss.item()
        return time.perf_counter() - start

    def ours():
        start = time.perf_counter()
        trainer.run(epochs)
        return time.perf_counter() - start

    ours(), bare()
    tr, ba = alternate(rounds, ours, bare)
    del torch
    return dict(trainer_eps=epochs / median(tr), bare_eps=epochs / median(ba), epochs=epochs, rounds=rounds,
                points=points)


def work_memory(quick: bool) -> dict:
    _import_gdtui()
    import gc

    from gdtui.engine.config import resolve
    from gdtui.engine.trainer import Trainer

    total = 1_000_000
    chunk = 10_000
    epochs = (100_000 if quick else total) + chunk
    trainer = Trainer(resolve(PRESET, epochs=epochs))
    trainer.run(chunk)  # warm-up chunk: allocator pools, autograd graph caches
    gc.collect()
    rss0 = proc_status("self", "VmRSS")
    start = time.perf_counter()
    done = chunk
    while not trainer.done and trainer.status == "ok":
        trainer.run(min(chunk, epochs - trainer.epoch))
    seconds = time.perf_counter() - start
    gc.collect()
    rss1 = proc_status("self", "VmRSS")
    measured = trainer.epoch - done
    growth = rss1 - rss0
    return dict(growth=growth, rss0=rss0, rss1=rss1, hwm=proc_status("self", "VmHWM"), epochs=measured,
                chunk=chunk, scale=total / measured if quick else 1, bytes_per_epoch=growth / max(measured, 1),
                seconds=seconds)


HOST_READS = {"item", "tolist", "cpu", "numpy"}
HOST_CASTS = {"float", "int", "bool"}


def _host_calls(node) -> list[str]:
    calls = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            if isinstance(f, ast.Attribute) and f.attr in HOST_READS:
                calls.append(f".{f.attr}() line {sub.lineno}")
            elif isinstance(f, ast.Name) and f.id in HOST_CASTS:
                calls.append(f"{f.id}() line {sub.lineno}")
    return calls


def work_syncs(quick: bool) -> dict:
    _import_gdtui()
    import torch

    from gdtui.engine import trainer as trainer_module
    from gdtui.engine.config import resolve

    tree = ast.parse(Path(trainer_module.__file__).read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Trainer")
    methods = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
    loops = [n for n in ast.walk(methods["run"]) if isinstance(n, (ast.For, ast.While))]
    loop_calls = [c for loop in loops for c in _host_calls(loop)]
    record_calls = _host_calls(methods["_record"]) if "_record" in methods else []

    counter = {"n": 0}
    names = ["item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__"]
    originals = {name: getattr(torch.Tensor, name) for name in names}

    def wrap(fn):
        def counted(self, *args, **kwargs):
            counter["n"] += 1
            return fn(self, *args, **kwargs)
        return counted

    trainer = trainer_module.Trainer(resolve(PRESET, epochs=1_000_000))
    trainer.run(10)
    n = 1000
    for name in names:
        setattr(torch.Tensor, name, wrap(originals[name]))
    try:
        counter["n"] = 0
        trainer.run(1)
        one = counter["n"]
        counter["n"] = 0
        trainer.run(n)
        many = counter["n"]
    finally:
        for name, fn in originals.items():
            setattr(torch.Tensor, name, fn)
    per_epoch = (many - one) / (n - 1)
    return dict(per_epoch=per_epoch, per_chunk=one - per_epoch, n=n, static_loop=len(loop_calls),
                static_loop_calls=", ".join(loop_calls), static_record=len(record_calls),
                static_record_calls=record_calls)


WORKERS = {"epoch20": work_epoch20, "session": work_session, "plot": work_plot, "epochs": work_epochs, "memory": work_memory,
           "syncs": work_syncs}


# ------------------------------------------------------------------------------------------------ report

def machine() -> list[str]:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    code = ("import torch, textual, importlib.metadata as m; "
            "print(torch.__version__, m.version('textual'), m.version('plotext'), m.version('textual-plotext'), "
            "torch.get_num_threads())")
    try:
        versions = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=120).stdout.split()
        torch_v, textual_v, plotext_v, tp_v, threads = versions
    except Exception:
        torch_v = textual_v = plotext_v = tp_v = threads = "?"
    try:
        tmux_v = subprocess.run(["tmux", "-V"], capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        tmux_v = "no tmux"
    try:
        total = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    except Exception:
        total = 0
    return [
        f"machine: {model}, {os.cpu_count()} cores ({affinity} usable), {total / 2**30:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}",
        f"python {platform.python_version()} ({PYTHON}), torch {torch_v} ({threads} intra-op threads), "
        f"textual {textual_v}, plotext {plotext_v}, textual-plotext {tp_v}, {tmux_v}",
        f"gdtui: {' '.join(GDTUI)}  ({ROOT})",
    ]


def fmt_ratio(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def table(rows: list[dict]) -> str:
    head = ["#", "figure", "gdtui", "baseline", "ratio", "target", "result"]
    body = []
    for r in rows:
        ok = r["ok"]
        body.append([r["figure"], r["name"], r["gdtui"], r["baseline"], fmt_ratio(r["ratio"]), r["target"],
                     "info" if ok is None else ("PASS" if ok else "FAIL")])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(str(x).ljust(w) for x, w in zip(head, widths)), line]
    out += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in body]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and epochs: a smoke run")
    parser.add_argument("--only", help="comma-separated figure numbers (1-7)")
    parser.add_argument("--json", help="also write the rows and notes to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = WORKERS[args.worker](args.quick)
        print("RESULT " + json.dumps(result))
        return 0

    def on_term(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    wanted = args.only.split(",") if args.only else list(Bench.FIGURES)
    print("gdtui benchmarks" + (" (--quick: a smoke run, fewer rounds)" if args.quick else ""))
    for line in machine():
        print(line)
    load0 = os.getloadavg()
    print(f"load average at start: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}", flush=True)
    bench = Bench(args.quick)
    started = time.perf_counter()
    try:
        for key in wanted:
            method = getattr(bench, Bench.FIGURES[key.strip()])
            t = time.perf_counter()
            print(f"  figure {key} ...", end="", flush=True)
            try:
                method()
                print(f" {time.perf_counter() - t:.0f} s", flush=True)
            except Exception as error:  # one failed figure must not lose the others
                print(f" ERROR after {time.perf_counter() - t:.0f} s: {type(error).__name__}: {error}", flush=True)
                bench.rows.append(dict(figure=key, name=Bench.FIGURES[key], gdtui="error", baseline="-", ratio=None,
                                       target="-", ok=False))
                bench.notes.append(f"[{key}] ERROR {type(error).__name__}: {error}")
    finally:
        bench.close()
    load1 = os.getloadavg()
    print()
    print(table(bench.rows))
    print()
    for note in bench.notes:
        print(note)
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average at end: "
          f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} (other work on this machine skews wall-clock ratios)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": bench.rows, "notes": bench.notes}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
