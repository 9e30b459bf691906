"""What a view may ask of the app: the small public interface the app offers its views.

Why: the views (lanes, landscape, code) own their state and widgets; what they need of the app is to send a
command, tell the user something, open a screen, ask for a frame, know the focused lane's settings and hand a
file to the user (Textual's deliver_text / deliver_binary: a download in a browser, under `gdtui serve`). A
Protocol says exactly that much, so no view imports the app or reaches into its privates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from textual.notifications import SeverityLevel
from textual.screen import Screen

from gdtui.engine.config import RunConfig
from gdtui.engine.protocol import Command
from gdtui.tui.asked import Asked
from gdtui.tui.files import Delivers


class Shell(Delivers, Protocol):
    """The app as its views see it."""

    asked: Asked  # what was asked of the session and not yet confirmed: keys compose on it
    state: str  # the session's state word (gdtui.tui.widgets.status.STATES); "ended": its process is gone

    @property
    def config(self) -> RunConfig:
        """The focused lane's settings, as the session last confirmed them."""
        ...

    def send(self, command: Command) -> bool:
        """Send `command` to the session; False (and a notice saying so) when its process has ended."""
        ...

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None: ...

    def push_screen(self, screen: Screen[Any], callback: Callable[[Any], None] | None = None) -> Any: ...

    def redraw(self) -> None:
        """Something the plots show changed: draw it in the next frame."""
        ...

    def apply(self, field: str, value: object) -> None:
        """Apply a change of the focused lane's settings, as the pane would (the LR test's pick)."""
        ...

    def restart(self, config: RunConfig) -> None:
        """A new session process for `config`, after the last one ended."""
        ...

    def showing(self, screen: Screen[Any]) -> bool:
        """Whether `screen` is on the app's screen stack."""
        ...
