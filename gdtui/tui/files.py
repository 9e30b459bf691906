"""The files the TUI writes itself (the settings as TOML, the Code view's script): always a new file, whole or
not at all.

Why: a key that writes a file must never replace one, leave an empty file behind on a full disk (an empty TOML
loads as the defaults), or end the app in a read-only folder: the user gets a notice naming the file instead.
Under `gdtui serve` nothing lands in the server's folder: each file reaches the person in the browser as a
download (Textual's deliver_text / deliver_binary, which textual-serve hands to the browser), and the history the
training process writes goes to a private temporary folder, is read back as a download and removed.
"""

from __future__ import annotations

import io
import os
import tempfile
from datetime import datetime
from typing import BinaryIO, Protocol, TextIO

from gdtui.engine.history import claim_new, write_atomic
from gdtui.engine.served import Served

_private: tempfile.TemporaryDirectory[str] | None = None  # a served app's folder for what its session writes


class Delivers(Protocol):
    """What hands a file to the person at the app (a Textual App: a download when served)."""

    def deliver_text(self, path_or_file: str | TextIO, *, save_filename: str | None = None) -> str | None: ...

    def deliver_binary(self, path_or_file: str | BinaryIO, *, save_filename: str | None = None) -> str | None: ...


def new_name(preset: str, ext: str) -> str:
    """`gdtui-<preset>-<time>.<ext>` in the working directory (claimed anew by `write_new`); when served, in a
    private temporary folder of this app's instead (its content is delivered as a download from there)."""
    name = f"gdtui-{preset}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.{ext}"
    if Served.from_env() is None:
        return os.path.abspath(name)
    global _private
    _private = _private or tempfile.TemporaryDirectory(prefix="gdtui-served-")  # removed when the app ends
    return os.path.join(_private.name, name)


def keep(app: Delivers, wanted: str, text: str) -> str:
    """`text` kept for the user: written to a new file (`write_new`) in a terminal; when served, delivered as a
    download named as `wanted`'s file, nothing written. Returns the file's path, or the download's name."""
    if Served.from_env() is None:
        return write_new(wanted, text)
    name = os.path.basename(wanted)
    app.deliver_text(io.StringIO(text), save_filename=name)
    return name


def deliver_written(app: Delivers, path: str) -> str:
    """The file at `path` (one the session wrote in the private folder) delivered as a download and removed;
    the download's name."""
    handle = open(path, "rb")  # delivered from the open file: its name is gone at once
    os.unlink(path)
    name = os.path.basename(path)
    app.deliver_binary(handle, save_filename=name)
    return name


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
