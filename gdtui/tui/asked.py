"""What the app last asked of its session, until the session has confirmed it.

Why: a key is composed on what the user last asked for, not on what the session has confirmed so far. With
slow epochs the session answers late: three quick `]` must still give lr x8, and space space on a running run
must leave it running. The session acknowledges every command it has obeyed ("seen", n); until it has seen
all that was sent, what was asked overrides what was confirmed.
"""

from __future__ import annotations

from typing import Any


class Asked:
    """The run state and live values asked for since the session last caught up."""

    def __init__(self) -> None:
        self.running: bool | None = None  # None: nothing asked, the session's own state stands
        self.live: dict[str, Any] = {}
        self.focus: int | None = None  # the lane last asked to focus (None: the session's focus stands)

    def clear(self) -> None:
        self.running = None
        self.live.clear()
        self.focus = None

    def is_running(self, state: str) -> bool:
        """Whether the run is (or is about to be) running: the last run/pause asked, else the session's state."""
        return self.running if self.running is not None else state == "running"

    def value(self, field: str, confirmed: Any) -> Any:
        """The live value last asked for `field`, else the confirmed one."""
        return self.live.get(field, confirmed)
