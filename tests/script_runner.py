"""Exported scripts run as `python -I script.py` would run them, in one long-lived interpreter per test process.

Why: the tests that check an exported script prints gdtui's log ran each script in a new `python -I` process,
and each of those spent some 2.4 s importing torch before its first line: most of their time, across some fifty
scripts. Here one isolated interpreter (`-I`, working directory /, so gdtui cannot be imported from the checkout)
imports torch once and runs each script as `__main__` in a namespace of its own (`runpy.run_path`), its standard
output and error captured, every warning shown (never once per process), and its exit status reported as a
process's would be. Each script seeds torch itself before it draws, so one run leaves nothing the next reads.
"""

from __future__ import annotations

import atexit
import json
import selectors
import subprocess
import sys
from dataclasses import dataclass

RUNNER = r"""
import contextlib, io, json, runpy, sys, traceback, warnings
import torch  # once, for every script
out = sys.stdout
for line in sys.stdin:
    path = json.loads(line)
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), warnings.catch_warnings():
        warnings.simplefilter("always")
        try:
            runpy.run_path(path, run_name="__main__")
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
    out.write(json.dumps({"returncode": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}) + "\n")
    out.flush()
"""


@dataclass(frozen=True)
class Done:
    """What subprocess.run(..., capture_output=True, text=True) returns, in the parts the tests read."""

    returncode: int
    stdout: str
    stderr: str


_process: subprocess.Popen[str] | None = None


def _runner() -> subprocess.Popen[str]:
    global _process
    if _process is None or _process.poll() is not None:
        _process = subprocess.Popen(
            [sys.executable, "-I", "-c", RUNNER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd="/",
        )
        atexit.register(_process.kill)
    return _process


def run_script(path: str, timeout: float = 120) -> Done:
    """Run the script at `path` as `python -I path` would (from /), in the shared interpreter."""
    global _process
    process = _runner()
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(str(path)) + "\n")
    process.stdin.flush()
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            process.kill()
            _process = None
            raise TimeoutError(f"{path} ran past {timeout} s")
    line = process.stdout.readline()
    if not line:
        _process = None
        raise RuntimeError(f"the script runner died running {path}")
    return Done(**json.loads(line))
