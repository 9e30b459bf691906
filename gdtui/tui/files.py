"""The files the TUI writes itself (the settings as TOML, the Code view's script): always a new file, whole or
not at all.

Why: a key that writes a file must never replace one, leave an empty file behind on a full disk (an empty TOML
loads as the defaults), or end the app in a read-only folder: the user gets a notice naming the file instead.
"""

from __future__ import annotations

import os
from datetime import datetime

from gdtui.engine.history import claim_new, write_atomic


def new_name(preset: str, ext: str) -> str:
    """`gdtui-<preset>-<time>.<ext>` in the working directory (claimed anew by `write_new`)."""
    return os.path.abspath(f"gdtui-{preset}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.{ext}")


def write_new(wanted: str, text: str) -> str:
    """Write `text` to a file that did not exist: `wanted`, else wanted-2, wanted-3... Returns its path. On
    failure the OSError names the file, and no file is left behind."""
    path = wanted
    try:
        path = claim_new(wanted)
        try:
            write_atomic(path, text)
        except BaseException:
            os.unlink(path)  # the empty file claim_new made
            raise
    except OSError as error:
        error.filename = error.filename or path
        raise
    return path


def failure(error: OSError) -> str:
    """ "FILE: why", for a notice."""
    return f"{error.filename}: {error.strerror or error}" if error.filename else str(error.strerror or error)
