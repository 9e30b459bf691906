"""Shared pieces of the benchmarks: where things are, timing whole processes, and reading /proc.

Why: every figure times processes the same way (alternating sides, medians) and looks at the same
processes (the app, its session, tmux); keeping that here keeps each figure's code about its figure.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
SEED_LOOP = HERE / "seed_loop.py"
PRESET = "fastai-quadratic"
PANE = (120, 36)


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
    proc = subprocess.run(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout, cwd=ROOT
    )
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
    argv = [PYTHON, str(HERE / "run.py"), "--worker", name] + (["--quick"] if quick else [])
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
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
        server = int(
            subprocess.run(
                ["pgrep", "-f", "-o", f"tmux.*gdtui-bench-{os.getpid()}"], capture_output=True, text=True, timeout=5
            ).stdout.split()[0]
        )
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


def _list(values, digits=2) -> str:
    return "[" + ", ".join(f"{v:.{digits}f}" for v in values) + "]"
