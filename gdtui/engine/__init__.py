"""The UI-free engine: data recipes, models, losses, optimizers and a trainer, torch only.

Why: the TUI and the headless `gdtui run` drive this same engine. Importing this package loads no torch (the
config and presets are torch-free, so the TUI paints before torch loads); `gdtui.engine.trainer` loads it.
"""

from gdtui.engine.config import ConfigError, RunConfig
from gdtui.engine.csvfile import DataError
from gdtui.engine.presets import PRESETS, Preset, resolve

__all__ = ["PRESETS", "ConfigError", "DataError", "Preset", "RunConfig", "resolve"]
