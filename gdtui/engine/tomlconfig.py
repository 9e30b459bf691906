"""Run settings in a TOML file: `--config FILE.toml` reads them, `--save-config FILE` and the TUI write them:
the snapshot encoding of a run's record (gdtui.engine.record).

Why: a tutorial's settings (or a whole race) are worth keeping beside the notebook they came from and loading
back to the same run. The top level holds a run's settings under the command line's names (`lr`, `batch-size`,
`init = [0.5, -1, 2]`; "none" for a setting left unset); each `[[lane]]` table adds a lane with the settings
that set it apart. A lane's record rides along: `changes = [{epoch = 1910, lr = 0.0001}]` (settings it took
after an epoch), `reached = 2000` (the epoch it stood at), `from = {lane = 1, epoch = 40}` (a branch: the lane,
numbered from 1 in the file's order, and the epoch). Every value passes the check its option passes, and an
unknown key or a bad value is named with the file and the key. tomllib reads; the writing is plain (scalars,
arrays of numbers and inline tables only, every string escaped). Torch-free.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields
from typing import Any

from gdtui.engine.config import CHECKS, DATA_FIELDS, OPTIMIZER_SETTINGS, ConfigError, RunConfig, check_lanes
from gdtui.engine.record import Change, LaneRecord, Record, change_of, check_epoch, encoded_change

BOOLEANS = ("accumulate_grad", "bias", "shuffle", "standardize")
# "none": not set
OPTIONAL = ("momentum", "init", "x_range", "target_rmse", "patience", "batch_size", *OPTIMIZER_SETTINGS)
KEYS = tuple(f.name for f in fields(RunConfig))
LISTS = ("init", "x_range", "hidden", "betas")  # the keys that take an array (of numbers)
MAX_BYTES = 1 << 20  # a settings file is a few hundred bytes; a race of 8 lanes a few KiB
_SHORT = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
ESCAPES = {**{c: f"\\u{c:04x}" for c in (*range(0x20), 0x7F)}, **{ord(k): v for k, v in _SHORT.items()}}


RECORD_KEYS = ("changes", "reached", "from")  # a lane's record beside its settings


class ConfigFileError(ValueError):
    """A TOML settings file that cannot be used: `message` names the file and the key."""


@dataclass(frozen=True)
class Extras:
    """A lane's record in the file beside its settings: its changes, the epoch it reached, its origin (a lane
    number from 1 in the file's order, and an epoch)."""

    changes: tuple[Change, ...] = ()
    reached: int = 0
    origin: tuple[int, int] | None = None


def _key(name: str) -> str:
    return name.replace("-", "_")


def _shown(value: Any) -> str:
    """A value as an error line shows it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _value(path: str, key: str, value: Any) -> Any:
    """A file's value for `key`, its shape checked (TOML's type), then its value as its option checks it."""
    where = f"{path}: {key.replace('_', '-')}"
    if key in OPTIONAL and value == "none":
        return None
    if key in BOOLEANS or key == "centered":
        if not isinstance(value, bool):
            raise ConfigFileError(f"{where}: {_shown(value)} is not true or false")
        return value
    if key == "preset":
        if not isinstance(value, str):
            raise ConfigFileError(f"{where}: {_shown(value)} is not a preset name")
        return value
    if key == "schedule":  # a table ({name = "step", step_size = 30}), an array of them (a chain), or a spec
        try:
            return CHECKS[key](value)
        except ConfigError as error:
            raise ConfigFileError(f"{where}: {error.message}") from None
    if key in OPTIONAL and value == "none":
        return None
    if isinstance(value, list):
        if key not in LISTS:
            raise ConfigFileError(f"{where}: {_shown(value)} is a list; give one value")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ConfigFileError(f"{where}: {_shown(value)} is not a list of numbers")
    elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigFileError(f"{where}: {_shown(value)} is not a value for it")
    try:
        return CHECKS[key](value if isinstance(value, (list, str)) else str(value))
    except ConfigError as error:
        raise ConfigFileError(f"{where}: {error.message}") from None
    except (TypeError, ValueError, OverflowError):  # a shape the checks above let through: never a traceback
        raise ConfigFileError(f"{where}: {_shown(value)} is not a value for it") from None


def _extras(path: str, table: dict[str, Any], lanes: int) -> Extras:
    """The record keys of a table (removed from it), checked."""
    found = {key: table.pop(key) for key in RECORD_KEYS if key in table}
    try:
        changes = found.get("changes", [])
        if not isinstance(changes, list):
            raise ConfigError("changes", f"{_shown(changes)} is not a list of {{epoch = N, setting = value}}")
        reached = check_epoch(found.get("reached", 0), "reached")
        origin = None
        if "from" in found:
            where = found["from"]
            if not isinstance(where, dict) or set(where) != {"lane", "epoch"}:
                raise ConfigError("from", f"{_shown(where)} is not {{lane = N, epoch = E}}")
            lane, epoch = where["lane"], check_epoch(where["epoch"], "from")
            if isinstance(lane, bool) or not isinstance(lane, int) or not 1 <= lane <= lanes:
                raise ConfigError("from", f"lane {_shown(lane)} is not a lane of the file (1 to {lanes})")
            origin = (lane, epoch)
        listed = tuple(change_of(c) for c in changes)
    except ConfigError as error:
        raise ConfigFileError(f"{path}: {error.field.replace('_', '-')}: {error.message}") from None
    if [c.epoch for c in listed] != sorted(c.epoch for c in listed):
        raise ConfigFileError(f"{path}: changes: not in the order of their epochs")
    return Extras(listed, reached, origin)


def checked_settings(path: str, table: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """A table's settings under their field names, each checked (ConfigFileError names `path` and the key)."""
    out: dict[str, Any] = {}
    for name, value in table.items():
        key = _key(name)
        if key not in allowed:
            raise ConfigFileError(f"{path}: unknown key {_shown(name)}")
        out[key] = _value(path, key, value)
    return out


def load(path: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[Extras]]:
    """The run's settings and each [[lane]]'s, checked (ConfigFileError names the file and the key), and each
    lane's record (the top level's first). The file is read up to MAX_BYTES (what is longer is no settings file:
    /dev/zero is refused, not read forever), as UTF-8."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as error:
        raise ConfigFileError(f"{path}: {error.strerror or error}") from None
    if len(data) > MAX_BYTES:
        raise ConfigFileError(f"{path}: larger than {MAX_BYTES // 1024} KiB: not a settings file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigFileError(f"{path}: not UTF-8 text (byte {error.start})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigFileError(f"{path}: not TOML: {error}") from None
    except RecursionError:
        raise ConfigFileError(f"{path}: not TOML: nested too deep") from None
    except ValueError as error:  # an integer past Python's digit limit
        raise ConfigFileError(f"{path}: not TOML: {str(error).split(';')[0]}") from None
    lanes = document.pop("lane", [])
    if not isinstance(lanes, list) or not all(isinstance(lane, dict) for lane in lanes):
        raise ConfigFileError(f"{path}: lane must be [[lane]] tables")
    if lanes:  # counted before any lane is checked: the top level is the first lane
        try:
            check_lanes(1 + len(lanes), "config", f" (the top level and {len(lanes)} [[lane]] tables)")
        except ConfigError as error:
            raise ConfigFileError(f"{path}: {error.message}") from None
    count = 1 + len(lanes)
    extras = [_extras(path, document, count)]
    extras += [_extras(f"{path} [[lane]] {n}", lane, count) for n, lane in enumerate(lanes, start=1)]
    base = checked_settings(path, document, KEYS)
    lane_keys = tuple(k for k in KEYS if k not in DATA_FIELDS)
    settings = [checked_settings(f"{path} [[lane]] {n}", lane, lane_keys) for n, lane in enumerate(lanes, start=1)]
    return base, settings, extras


def assemble(configs: list[RunConfig], extras: list[Extras]) -> Record:
    """The record of a file's lanes: their start settings (the file's, with what the command line overrides) and
    their extras; lane ids are their places in the file, from 0."""
    lanes = []
    for n, (config, extra) in enumerate(zip(configs, extras)):
        origin = None if extra.origin is None else (extra.origin[0] - 1, extra.origin[1])
        lanes.append(LaneRecord(n, config, extra.changes, extra.reached, origin))
    return Record(tuple(lanes))


def load_record(path: str) -> Record:
    """The record a TOML file holds, every lane's settings checked together (ConfigFileError names the file)."""
    from gdtui.engine.config import check_combination
    from gdtui.engine.presets import resolve

    base, lanes, extras = load(path)
    try:
        first = resolve(**base)
        configs = [first, *(check_combination(first.replace(**lane)) for lane in lanes)]
    except ConfigError as error:
        raise ConfigFileError(f"{path}: {error.field.replace('_', '-')}: {error.message}") from None
    return assemble(configs, extras)


def _string(text: str) -> str:
    """A TOML basic string holding `text` exactly: quotes, backslashes and every control character escaped (a
    path with a newline loads back). A lone surrogate (a path's undecodable bytes) has no TOML form: refused."""
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise ConfigFileError(f"{_shown(text)} is not Unicode text: TOML cannot hold it")
    return '"' + text.translate(ESCAPES) + '"'


def _setting(key: str, value: Any) -> str:
    """A setting's TOML value: a schedule as a table (a chain: an array of tables), others as `_toml` writes them."""
    if key == "schedule" and isinstance(value, tuple):
        from gdtui.engine.schedules import tables

        parts = ["{" + ", ".join(f"{k} = {_toml(v)}" for k, v in t.items()) + "}" for t in tables(value)]
        return parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return _toml(value)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if value != value else ("inf" if value > 0 else "-inf"))
    if isinstance(value, int):
        return str(value)
    return _string(str(value))


def dump(configs: list[RunConfig]) -> str:
    """TOML that loads back to these lanes (each from epoch 0, as it is set now)."""
    return dump_record(Record(tuple(LaneRecord(n, config) for n, config in enumerate(configs))))


def dump_record(record: Record) -> str:
    """TOML that loads back to this record: every start setting of the first lane (None ones left out), then a
    [[lane]] table for each other lane with what sets its start apart; each lane's changes, the epoch it reached
    and where it branched from beside its settings."""
    first, *others = record.lanes
    numbers = {lane.id: n for n, lane in enumerate(record.lanes, start=1)}
    lines = ["# gdtui record: gdtui --config FILE (or gdtui run --config FILE)"]
    for key in KEYS:
        value = getattr(first.start, key)
        if value is not None:
            lines.append(f"{key.replace('_', '-')} = {_setting(key, value)}")
    lines += _record_lines(first, numbers)
    for lane in others:
        lines += ["", "[[lane]]"]
        for key in KEYS:
            if key in DATA_FIELDS:
                continue
            value, base = getattr(lane.start, key), getattr(first.start, key)
            if value != base:
                lines.append(f"{key.replace('_', '-')} = {_setting(key, value if value is not None else 'none')}")
        lines += _record_lines(lane, numbers)
    return "\n".join(lines) + "\n"


def _record_lines(lane: LaneRecord, numbers: dict[int, int]) -> list[str]:
    lines = []
    if lane.changes:
        tables = (
            "{" + ", ".join(f"{k} = {_toml('none' if v is None else v)}" for k, v in encoded_change(c).items()) + "}"
            for c in lane.changes
        )
        lines.append(f"changes = [{', '.join(tables)}]")
    if lane.reached:
        lines.append(f"reached = {lane.reached}")
    if lane.origin is not None and lane.origin[0] in numbers:  # a source since removed: a lane of its own
        lines.append(f"from = {{lane = {numbers[lane.origin[0]]}, epoch = {lane.origin[1]}}}")
    return lines
