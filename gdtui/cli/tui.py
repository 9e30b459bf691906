"""Opening the TUI: its session process spawned first (torch loads there while Textual loads here), then the
app, and both ended and reaped however the app ends.

Why: `gdtui`, `gdtui resume` and `gdtui replay` open the same TUI on different records; the signal handling that
makes SIGTERM and SIGHUP end it with 128 + the signal's number lives here once.
"""

from __future__ import annotations

import os
import signal
import sys

from gdtui.cli.common import ENDING_SIGNALS
from gdtui.engine.csvfile import CsvData
from gdtui.engine.record import Record


def launch(
    record: Record,
    csv: CsvData | None,
    start: bool = False,
    resume: bool = False,
    journal: str | None = None,
    hint: str | None = None,
    speed: float | None = None,
) -> None:
    """Open the TUI on `record`'s race (see protocol.Start), and leave the process with the app's status."""
    from gdtui.tui.client import SessionClient

    config = record.lanes[0].start
    session = SessionClient()
    code = 0
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])  # as it was: restored once the session is gone
    try:
        session.spawn(config, csv, record=record, resume=resume, journal=journal, speed=speed)
        from gdtui.tui.app import GdtuiApp

        app = GdtuiApp(config, start=start, session=session, hint=hint)
        app.run()  # the app ends itself on SIGTERM / SIGHUP, with 128 + the signal's number
        code = app.return_code or 0
    finally:
        # A signal from here on must not cut the session's end short: it is held (the process ends with it).
        signal.pthread_sigmask(signal.SIG_BLOCK, ENDING_SIGNALS)
        session.stop()  # the session process is ended and reaped, however the app ended
    held = sorted(set(signal.sigpending()) & set(ENDING_SIGNALS))
    if held and not code:  # it came as the app ended: the exit status still says so
        code = 128 + held[0]
    for _ in held:  # taken, not left pending: the mask goes back as it was (an in-process caller lives on)
        signal.sigtimedwait(ENDING_SIGNALS, 0)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    # The terminal is restored and the session is gone. If the terminal itself is gone (a dropped SSH link),
    # Textual's input thread can spin on end-of-file and keep the process alive: leave without waiting on it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
