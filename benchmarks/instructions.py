"""Instructions counted by callgrind: the engine-overhead figure without the machine's noise.

Why: on a shared 2-core VM, wall-clock ratios of whole processes move by several percent between runs, more
than the overhead they measure. callgrind counts the instructions a process executes, the same count on a
quiet machine and a busy one. Startup (interpreter, imports, building the run) is counted on whole processes
run for one epoch; the cost of an epoch is counted inside one process, between two client requests sent by a
small C helper (built here with gcc), over epochs that follow a warm-up.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from common import GDTUI, HERE, PYTHON, ROOT, SEED_LOOP

TOGGLE_C = """#include <valgrind/callgrind.h>
void count_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void count_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; CALLGRIND_DUMP_STATS; }
"""
COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def missing() -> str | None:
    """Why instructions cannot be counted here, or None if they can."""
    if not shutil.which("valgrind"):
        return "valgrind is not installed"
    if not shutil.which("gcc"):
        return "gcc is not installed"
    if not Path("/usr/include/valgrind/callgrind.h").exists():
        return "valgrind's callgrind.h is not installed"
    return None


def build_helper(directory: str) -> str:
    source = Path(directory) / "count.c"
    library = Path(directory) / "libcount.so"
    source.write_text(TOGGLE_C)
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", str(source), "-o", str(library)], check=True, timeout=120)
    return str(library)


def count(argv: list[str], directory: str, whole: bool, env: dict | None = None) -> int:
    """Instructions callgrind collected running `argv` (whole process, or only between the helper's calls)."""
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={directory}/callgrind.%p"]
    if not whole:
        command.append("--instr-atstart=no")
    proc = subprocess.run(
        command + argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=1800,
        cwd=ROOT,
        env=env,
    )
    found = COLLECTED.findall(proc.stderr)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"callgrind {' '.join(argv)} exited {proc.returncode}: {proc.stderr[-400:]}")
    return int(found[-1])


def engine_instructions(preset: str, epochs: int, counted: int) -> dict:
    """Whole-process instructions of `gdtui run` and of the seed loop, for `epochs` epochs: startup counted
    whole, plus `epochs` times the per-epoch count measured over `counted` epochs."""
    gdtui = [PYTHON] + GDTUI if len(GDTUI) == 1 else GDTUI  # valgrind runs the interpreter, not the script
    with tempfile.TemporaryDirectory(prefix="gdtui-cg-") as directory:
        env = dict(os.environ, GDTUI_COUNT_LIBRARY=build_helper(directory), GDTUI_COUNT_EPOCHS=str(counted))
        start_g = count(gdtui + ["run", "--quiet", "--preset", preset, "--epochs", "1"], directory, True)
        start_s = count([PYTHON, str(SEED_LOOP), "1"], directory, True)
        per = {}
        for side in ("gdtui", "seed"):
            argv = [PYTHON, str(HERE / "run.py"), "--worker", f"count_{side}"]
            per[side] = count(argv, directory, False, env) / counted
    return dict(
        start_g=start_g,
        start_s=start_s,
        epoch_g=per["gdtui"],
        epoch_s=per["seed"],
        total_g=start_g + (epochs - 1) * per["gdtui"],
        total_s=start_s + (epochs - 1) * per["seed"],
    )
