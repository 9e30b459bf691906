"""The app's Code view: when to ask the session for the focused lane's script, and where to show it.

Why: the script follows the run (a new lr, a branch, another lane focused), so it is asked for again after each
change the session confirms while the view is open; the view itself (gdtui.tui.widgets.code) only draws and writes.
Torch-free: the session writes the script (gdtui.engine.script).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gdtui.tui import messages
from gdtui.tui.widgets.code import CodeScreen

if TYPE_CHECKING:
    from gdtui.tui.app import GdtuiApp


class CodeControl:
    """Opens and closes the Code screen (`toggle`), asks for the script while it is open (`refresh`)."""

    def __init__(self, app: GdtuiApp) -> None:
        self.app = app
        self.screen: CodeScreen | None = None

    @property
    def open(self) -> bool:
        return self.screen is not None and self.screen in self.app.screen_stack

    def toggle(self) -> None:
        if self.open:
            assert self.screen is not None
            self.screen.action_close()
            return
        if self.app._session_gone():
            return
        self.screen = CodeScreen(self.app.config.preset)
        self.app.push_screen(self.screen)
        self.app.session.send("script")

    def refresh(self) -> None:
        """After a change the session confirmed (settings, lanes, focus): the script anew, if it shows."""
        if self.open and not self.app._session_gone():
            self.app.session.send("script")

    def on_script(self, event: messages.ScriptReady) -> None:
        if not self.open or event.lane != self.app.race.lanes.focus:
            return  # closed, or the focus moved on: a newer script is on its way
        assert self.screen is not None
        lane = self.app.race.lanes.get(event.lane)
        label = f"lane {lane.number}: {self.app.race.lanes.apart(lane)}" if lane is not None else "the run"
        changes = event.text.count("# changed in gdtui after epoch")
        made = f" · {changes} change{'s' if changes != 1 else ''} made during the run" if changes else ""
        self.screen.show(event.text, label + made)  # not its epoch: the view is not redrawn as epochs go by
