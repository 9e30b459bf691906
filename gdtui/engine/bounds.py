"""The bounds every input is checked against, and the error that names the input at fault.

Why: the run's settings (gdtui.engine.config) and the lr schedules (gdtui.engine.schedules) check their values
against the same bounds and fail the same way; kept here, neither module imports the other to do so.
"""

from __future__ import annotations

MAX_EPOCHS = 1_000_000_000
MAX_POINTS = 10_000_000
MAX_DEGREE = 9
MAX_SEED = 2**63 - 1
MAX_LR = 1e6
MAX_NOISE = 1e12
MAX_LANES = 8  # lanes in a race: the TUI's, `gdtui run --vary`'s and a TOML file's
FLOAT32_MAX = 3.4028234663852886e38  # the largest finite float32


class ConfigError(ValueError):
    """A value a user gave is not acceptable; `field` names the option at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message
