"""The session's journal: its race's record appended to a file as it goes (gdtui.engine.journal), to resume from.

Why: a killed gdtui should lose nothing of its run, and a resume should not replay it all: after each command or chunk
the journal takes what changed in the race, every JOURNAL_SECONDS the epochs the lanes reached, and every
CHECKPOINT_SECONDS each lane's state and history, so a resume replays at most seconds of training. A journal
that cannot be written is said and dropped: the run goes on without it.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from gdtui.engine import protocol as p
from gdtui.engine.session_part import SessionPart

if TYPE_CHECKING:
    from gdtui.engine.journal import Journal

JOURNAL_SECONDS = 2.0  # how often the journal takes the epochs reached while training runs
CHECKPOINT_SECONDS = 5.0  # how often it takes each lane's state and history (a resume replays at most these)


class SessionJournal(SessionPart):
    """Where the run's record is appended (None: not journaled), and when it last took the epochs and the
    lanes' checkpoints."""

    journal: Journal | None
    noted: float  # when the journal last took the epochs reached
    saved: float  # when the journal last took the lanes' checkpoints

    def open_journal(self, path: str) -> None:
        """Journal the run into `path` (an error said if it cannot be opened: the run is not journaled)."""
        from gdtui.engine.journal import Journal

        try:
            self.journal = Journal(path)
        except OSError as error:
            self.conn.send(p.Error("journal", f"{path}: {error.strerror or error}: the run is not journaled"))

    def note(self) -> None:
        """Append to the journal what changed in the race since the last note, and every JOURNAL_SECONDS (and
        when training stops) the epochs the lanes reached. A journal that cannot be written is said, then
        dropped: the run goes on."""
        journal, race = self.journal, self.race
        if journal is None or race is None:
            return
        try:
            record = race.record(self.focus)
            journal.write(record)
            now = time.perf_counter()
            if now >= self.noted + JOURNAL_SECONDS or not self.running:
                journal.reached(record)
                self.noted = now
            if now >= self.saved + CHECKPOINT_SECONDS:
                self.checkpoint(journal)
                self.saved = now
        except OSError as error:
            self.journal = None
            journal.close()
            self.conn.send(p.Error("journal", f"{journal.path}: {error.strerror or error}: no longer journaled"))

    def checkpoint(self, journal: Journal) -> None:
        """Each lane's state and its history since its last checkpoint, into the journal (those that moved)."""
        assert self.race is not None
        for lane in self.race.lanes:
            t = lane.trainer
            since = journal.saved.get(lane.id, 0)
            if t.epoch > since:
                journal.checkpoint(lane.id, t.epoch, t.history_bytes(since), t.snapshot())

    def close_journal(self) -> None:
        """End the journal (on a quit): training stops, and every lane that moved is checkpointed first."""
        if self.journal is not None:
            self.running = False
            self.saved = -math.inf  # a checkpoint of every lane that moved: a resume after a quit is at once
            self.note()
            try:
                self.journal.end()
            except OSError:
                pass
            self.journal.close()
            self.journal = None
