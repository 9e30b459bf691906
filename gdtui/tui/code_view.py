"""The app's Code view: when to ask the session for the focused lane's script, and where to show it.

Why: the script follows the run (a new lr, a branch, another lane focused), so it is asked for again after each
change the session confirms while the view is open; the view itself (gdtui.tui.widgets.code) only draws and writes.
Torch-free: the session writes the script (gdtui.engine.script). Under `gdtui serve` the view's `w` delivers the
script to the browser as a download instead of writing it into the server's folder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gdtui.engine import protocol as p
from gdtui.engine.served import Served
from gdtui.tui.lanes import LanesModel
from gdtui.tui.race_view import describe
from gdtui.tui.routes import Routes
from gdtui.tui.shell import Shell

if TYPE_CHECKING:
    from gdtui.tui.widgets.code import CodeScreen  # rich's syntax highlighting: loaded when first opened


class CodeControl:
    """Opens and closes the Code screen (`toggle`), asks for the script while it is open (`refresh`)."""

    def __init__(self, shell: Shell, lanes: LanesModel) -> None:
        self.shell, self.lanes = shell, lanes
        self.screen: CodeScreen | None = None

    @property
    def open(self) -> bool:
        return self.screen is not None and self.shell.showing(self.screen)

    def toggle(self) -> None:
        if self.open:
            assert self.screen is not None
            self.screen.action_close()
            return
        from gdtui.tui.widgets.code import CodeScreen, DeliveredCodeScreen

        screen = (CodeScreen if Served.from_env() is None else DeliveredCodeScreen)(self.shell.config.preset)
        if self.shell.send(p.GetScript()):
            self.screen = screen
            self.shell.push_screen(screen)

    def refresh(self) -> None:
        """After a change the session confirmed (settings, lanes, focus): the script anew, if it shows."""
        if self.open:
            self.shell.send(p.GetScript())

    def replies(self) -> Routes:
        """The script anew after a change the session confirmed; the script itself."""
        return {
            p.Ready: lambda _: self.refresh(),
            p.Lanes: lambda _: self.refresh(),
            p.Applied: lambda reply: self.refresh() if reply.lane == self.lanes.focus else None,
            p.ScriptReady: self.on_script,
        }

    def on_script(self, reply: p.ScriptReady) -> None:
        if not self.open or reply.lane != self.lanes.focus:
            return  # closed, or the focus moved on: a newer script is on its way
        assert self.screen is not None
        changes = reply.text.count("# changed in gdtui after epoch")
        made = f" · {changes} change{'s' if changes != 1 else ''} made during the run" if changes else ""
        self.screen.show(reply.text, describe(self.lanes, reply.lane) + made)  # not its epoch: not redrawn per epoch
