"""Where the TUI's journals go: one file per session in the user's state folder, the latest KEEP kept.

Why: a journal is how a killed gdtui comes back (`gdtui resume`); it must be there without the user asking, and
must not pile up. `--journal FILE` names one instead, `--no-journal` turns it off, and a served tab keeps none
(its record reaches the person in the browser with `W`).
"""

from __future__ import annotations

import os
from datetime import datetime

KEEP = 20  # journals kept in the state folder: the oldest go when a new one starts
SUFFIX = ".jsonl"


def folder() -> str:
    """The user's state folder for gdtui (platformdirs' user_state_dir; $XDG_STATE_HOME on Linux)."""
    from platformdirs import user_state_dir

    return user_state_dir("gdtui")


def journals() -> list[str]:
    """The journals in the state folder, oldest first."""
    try:
        names = [n for n in os.listdir(folder()) if n.startswith("gdtui-") and n.endswith(SUFFIX)]
    except OSError:
        return []
    paths = [os.path.join(folder(), n) for n in names]
    return sorted(paths, key=lambda path: (os.stat(path).st_mtime, path))


def new_journal() -> str:
    """A new journal's path in the state folder (created empty), the oldest beyond KEEP - 1 removed."""
    os.makedirs(folder(), exist_ok=True)
    for old in journals()[: max(0, len(journals()) - (KEEP - 1))]:
        try:
            os.unlink(old)
        except OSError:
            pass
    stem = os.path.join(folder(), f"gdtui-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    path = stem + SUFFIX
    n = 2
    while True:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            return path
        except FileExistsError:
            path, n = f"{stem}-{n}{SUFFIX}", n + 1


def latest() -> str | None:
    """The journal to resume: the newest one left unfinished (its gdtui killed), else the newest one with a run
    in it; None if there is none."""
    found = [path for path in journals() if os.path.getsize(path) > 0]
    unended = [path for path in found if unfinished(path)]
    chosen = unended or found
    return chosen[-1] if chosen else None


def unfinished(path: str) -> bool:
    """Whether a journal holds a run (past its header) but not its end (its gdtui killed), and no gdtui writes it
    now (a writer holds a lock on it)."""
    try:
        with open(path, "rb") as handle:
            if _locked(handle.fileno()):
                return False
            head = handle.read(4096)
            handle.seek(max(0, os.path.getsize(path) - 64))
            tail = handle.read()
    except OSError:
        return False
    started = head.count(b"\n") >= 2 or len(head) == 4096  # a race after the header
    return started and not tail.rstrip(b"\n").endswith(b'{"end":true}')


def _locked(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # no locks here: a journal in use looks unfinished, the hint is only a hint
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def resume_hint() -> str | None:
    """What a gdtui started after a killed one says: how to resume the run it left."""
    path = latest()
    if path is None or not unfinished(path):
        return None
    return f"the last gdtui ended without closing its run: gdtui resume {path}"
