"""What every part of the session (gdtui.engine.session) shares: its pipe, its race and its focused lane.

Why: the Session class is made of parts, each a mixin in its own module (session_race: the race made and
remade; session_jobs: the work done a slice at a time; session_landscape: the landscape view; session_journal:
the journal). A part must not import session.py (an import cycle), so what they all use of the session is
declared here, and the session's own methods a part calls are declared to mypy alone (they exist on Session).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from gdtui.engine import protocol as p

if TYPE_CHECKING:
    from gdtui.engine.lanes import Race
    from gdtui.engine.trainer import Trainer


class Pipe(Protocol):
    """The session's end of its pipe (a multiprocessing Connection; tests script their own)."""

    def send(self, obj: p.Reply) -> None: ...
    def recv(self) -> p.Command: ...
    def poll(self, timeout: float = 0.0) -> bool: ...
    def close(self) -> None: ...


class SessionPart:
    """The session's state its parts share (Session.__init__ sets it), and the session's methods they call."""

    conn: Pipe
    race: Race | None
    focus: int  # the focused lane's id
    running: bool

    @property
    def trainer(self) -> Trainer | None:
        return None if self.race is None else self.race.lane(self.focus).trainer

    if TYPE_CHECKING:  # Session's own (gdtui.engine.session)

        def chunk_seconds(self) -> float: ...
        def obey(self, what: str, work: Callable[[], None], acknowledge: bool = True) -> None: ...
        def send_ready(self) -> None: ...
        def send_lanes(self) -> None: ...
        def send_history(self, lane_id: int | None = None) -> None: ...
        def send_state(self) -> None: ...
        def release(self) -> None: ...
