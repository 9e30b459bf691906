"""Import hygiene: the engine loads no UI library, and the config side of the engine and the CLI load no torch.

Each check runs in a fresh interpreter, since this test process has long since imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def loaded_after(*modules: str) -> set[str]:
    """Top-level names of every module loaded by importing `modules` in a fresh interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return {name.split(".")[0] for name in json.loads(proc.stdout.strip().splitlines()[-1])}


@pytest.fixture(scope="module")
def engine_modules() -> set[str]:
    return loaded_after("gdtui.engine", "gdtui.engine.trainer")


def test_engine_loads_no_ui(engine_modules):
    assert "torch" in engine_modules  # the trainer really was imported
    assert "gdtui" in engine_modules
    for ui in ("textual", "plotext", "textual_plotext"):
        assert ui not in engine_modules, ui


@pytest.mark.parametrize(
    "module",
    [
        "gdtui.engine",
        "gdtui.cli",
        "gdtui.engine.vary",
        "gdtui.cli.race_run",
        "gdtui.engine.surface",
        "gdtui.engine.paths",
    ],
)
def test_config_side_loads_no_torch(module):
    loaded = loaded_after(module)
    assert "gdtui" in loaded
    assert "torch" not in loaded
    assert "textual" not in loaded and "plotext" not in loaded
