"""Modules the app loads when first used, not when it starts.

Why: the first frame should come as soon as Textual can draw it; numpy (150 ms here) serves the landscape view
alone, which most sessions open late or never. importlib's LazyLoader makes the module object at once and runs
its code at the first attribute looked up on it.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_import(name: str) -> ModuleType:
    """The module `name`: the one already imported, or one whose code runs when it is first used."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module named {name!r}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
