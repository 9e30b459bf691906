"""Figure 11's measurements, the run as a record: what journaling costs a session's training, and how long a
resume of a long run takes.

Why: issue 27 asks a journal (every change, the epochs reached every 2 s, each lane's checkpoint every 5 s) to
cost at most 1% of training time, and a 10^6-epoch fastai-quadratic run to resume in under 5 s with its loss
curve whole (from its last checkpoint, not replayed from epoch 0).
"""

from __future__ import annotations

import os
import tempfile
import time

from bounded import Session, _import_gdtui


def settled(session: Session, states: tuple[str, ...], timeout: float) -> None:
    """Read the session's replies until its state is one of `states`."""
    from gdtui.engine import protocol as p

    while session.until(p.State, timeout=timeout).state not in states:
        pass


def train(epochs: int, journal: str | None) -> float:
    """Seconds a session process takes from Run to done over `epochs` fastai-quadratic epochs, journaled or not."""
    _import_gdtui()
    from gdtui.engine import protocol as p
    from gdtui.engine import resolve

    session = Session(resolve("fastai-quadratic", epochs=epochs), journal=journal)
    session.until(p.Ready)
    start = time.perf_counter()
    session.send(p.Run())
    settled(session, ("done", "diverged"), 3600)
    elapsed = time.perf_counter() - start
    session.close()
    return elapsed


def resume(epochs: int) -> dict:
    """A journal of a finished `epochs`-epoch run (written by a session that quit as it should), then a new
    session resumed from it: seconds from the spawn to its every lane standing where it stood, with the whole
    RMSE column in hand (its History); and the journal's size."""
    _import_gdtui()
    from gdtui.engine import protocol as p
    from gdtui.engine import resolve
    from gdtui.engine.journal import read

    folder = tempfile.mkdtemp(prefix="gdtui-bench-")
    path = os.path.join(folder, "run.jsonl")
    train(epochs, path)
    size = os.path.getsize(path)
    record = read(path)
    start = time.perf_counter()
    session = Session(resolve("fastai-quadratic", epochs=epochs), record=record, resume=True, journal=path)
    history = session.until(p.History, timeout=600)
    settled(session, ("paused", "done"), 600)
    elapsed = time.perf_counter() - start
    session.close()
    os.unlink(path)
    os.rmdir(folder)
    return {"seconds": elapsed, "rows": len(history.rmse), "bytes": size}
