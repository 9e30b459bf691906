"""What a tab of `gdtui serve` may do: read data from the served folder only, and build models up to a size.

Why: under `gdtui serve` the person at the keys is not the server's user. The data field must not read any file
the server's user can read (a CSV error once echoed a password file's line), and a tab must not build a model
that takes the machine's memory from the rest of the class. The server hands its tabs these rules in one
environment variable (`GDTUI_SERVED`, JSON), which the app and its training process inherit; the checks are
torch-free and UI-free, so the app checks a value before sending it and the session can check it again.
"""

from __future__ import annotations

import ipaddress
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from gdtui.engine.config import DATA_ARTICLE, SYNTHETIC, ConfigError, RunConfig, param_names
from gdtui.engine.csvfile import SERVED_ENV

ENV = SERVED_ENV
# An mlp of 256,256 (66,305 parameters) fits: a tab of it holds about what any tab holds (some 0.5 GB RSS with
# adam); one of 1024,1024 (1,051,649) holds twice that and peaks near 1 GB (benchmarks/serve_memory.py).
DEFAULT_MAX_PARAMS = 100_000


@dataclass(frozen=True)
class Served:
    """The rules of a served tab: `data_dir` (a real path) holds the files it may read, `data` (a real path, or
    None) is the server's own --data, allowed wherever it lies, `max_params` bounds a lane's model."""

    data_dir: str
    data: str | None = None
    max_params: int = DEFAULT_MAX_PARAMS

    def env(self) -> str:
        """The value of GDTUI_SERVED that says these rules."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Served | None:
        """The rules this process runs under, or None when it is not served (in a terminal)."""
        text = (os.environ if environ is None else environ).get(ENV)
        if not text:
            return None
        given = json.loads(text)
        return cls(str(given["data_dir"]), given.get("data"), int(given["max_params"]))

    def check_data(self, value: str) -> str:
        """The real path of a CSV file the tab may read (relative to the data folder), or ConfigError("data")
        saying why not: outside the folder (symlinks resolved), missing, or not a regular file. Built-in data
        passes as it is."""
        if value in (DATA_ARTICLE, *SYNTHETIC):
            return value
        if self.data is not None and os.path.realpath(value) == self.data:
            return self.data  # the server's own --data, as it was given (relative to the server's folder)
        real = os.path.realpath(os.path.join(self.data_dir, value))
        if real != self.data and os.path.commonpath([real, self.data_dir]) != self.data_dir:
            raise ConfigError("data", f"{value}: outside the served data folder; gdtui serve reads files there only")
        try:
            mode = os.stat(real).st_mode
        except OSError:
            raise ConfigError("data", f"{value}: no such file in the served data folder") from None
        if not stat.S_ISREG(mode):
            raise ConfigError("data", f"{value}: not a regular file, not a CSV file")
        return real

    def check_params(self, config: RunConfig, field: str = "model") -> None:
        """ConfigError(`field`) if `config`'s model has more parameters than a served tab may build."""
        count = len(param_names(config))
        if count > self.max_params:
            raise ConfigError(
                field, f"{count:,} parameters: gdtui serve builds at most {self.max_params:,} (--max-params)"
            )


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, as a server binds to it or a Host header names it) is this machine's
    own: localhost, 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
