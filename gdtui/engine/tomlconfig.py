"""Run settings in a TOML file: `--config FILE.toml` reads them, `--save-config FILE` and the TUI write them.

Why: a tutorial's settings (or a whole race) are worth keeping beside the notebook they came from and loading
back to the same run. The top level holds a run's settings under the command line's names (`lr`, `batch-size`,
`init = [0.5, -1, 2]`; "none" for a setting left unset); each `[[lane]]` table adds a lane with the settings
that set it apart. Every value
passes the check its option passes, and an unknown key or a bad value is named with the file and the key.
tomllib reads; the writing is plain (scalars and arrays of numbers only). Torch-free.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import fields
from typing import Any

from gdtui.engine.config import CHECKS, DATA_FIELDS, ConfigError, RunConfig

BOOLEANS = ("accumulate_grad", "bias", "shuffle")
OPTIONAL = ("momentum", "init", "x_range", "target_rmse", "patience", "batch_size")  # "none": not set
KEYS = tuple(f.name for f in fields(RunConfig))


class ConfigFileError(ValueError):
    """A TOML settings file that cannot be used: `message` names the file and the key."""


def _key(name: str) -> str:
    return name.replace("-", "_")


def _value(path: str, key: str, value: Any) -> Any:
    """A file's value for `key`, checked as its option checks it."""
    where = f"{path}: {key.replace('_', '-')}"
    if key in BOOLEANS:
        if not isinstance(value, bool):
            raise ConfigFileError(f"{where}: {value!r} is not true or false")
        return value
    if key == "preset":
        if not isinstance(value, str):
            raise ConfigFileError(f"{where}: {value!r} is not a preset name")
        return value
    if key in OPTIONAL and value == "none":
        return None
    if isinstance(value, bool) or (isinstance(value, (dict, list)) and key not in ("init", "x_range", "hidden")):
        raise ConfigFileError(f"{where}: {value!r} is not a value for it")
    try:
        return CHECKS[key](value if isinstance(value, (list, str)) else str(value))
    except ConfigError as error:
        raise ConfigFileError(f"{where}: {error.message}") from None


def _settings(path: str, table: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in table.items():
        key = _key(name)
        if key not in allowed:
            raise ConfigFileError(f"{path}: unknown key {name!r}")
        out[key] = _value(path, key, value)
    return out


def load(path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run's settings and each [[lane]]'s, checked (ConfigFileError names the file and the key)."""
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as error:
        raise ConfigFileError(f"{path}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigFileError(f"{path}: not TOML: {error}") from None
    lanes = document.pop("lane", [])
    if not isinstance(lanes, list) or not all(isinstance(lane, dict) for lane in lanes):
        raise ConfigFileError(f"{path}: lane must be [[lane]] tables")
    base = _settings(path, document, KEYS)
    lane_keys = tuple(k for k in KEYS if k not in DATA_FIELDS)
    return base, [_settings(f"{path} [[lane]] {n}", lane, lane_keys) for n, lane in enumerate(lanes, start=1)]


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if value != value else ("inf" if value > 0 else "-inf"))
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dump(configs: list[RunConfig]) -> str:
    """TOML that loads back to these lanes: every setting of the first (None ones left out), then a [[lane]]
    table for each other lane with what sets it apart."""
    first, *others = configs
    lines = ["# gdtui settings: gdtui --config FILE (or gdtui run --config FILE)"]
    for key in KEYS:
        value = getattr(first, key)
        if value is not None:
            lines.append(f"{key.replace('_', '-')} = {_toml(value)}")
    for lane in others:
        lines += ["", "[[lane]]"]
        for key in KEYS:
            if key in DATA_FIELDS:
                continue
            value, base = getattr(lane, key), getattr(first, key)
            if value != base:
                lines.append(f"{key.replace('_', '-')} = {_toml(value if value is not None else 'none')}")
    return "\n".join(lines) + "\n"
