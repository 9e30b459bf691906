"""The help screen: every key, generated from the app's own bindings so it can never fall out of date."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

EXTRA = [
    ("tab / shift+tab", "move between panes and fields"),
    ("enter", "apply the value typed in a field"),
    ("escape", "leave a field: keys act on the run"),
    ("ctrl+p", "command palette: presets and actions"),
]


class HelpScreen(ModalScreen[None]):
    """Lists every key binding; any of escape, q or ? closes it."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self.keys = [(b.key_display or b.key, b.tooltip or b.description) for b in bindings]

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))  # a long description wraps within its own column
        table.add_column(no_wrap=True, min_width=14)
        table.add_column()
        for key, text in self.keys + EXTRA:
            table.add_row(key, text)
        with VerticalScroll(id="help-box"):  # scrolls (arrows, page keys) where the terminal is short
            yield Static("gdtui keys", id="help-title")
            yield Static(table, id="help-text")
            yield Static("escape, q or ? closes this help", id="help-end")

    def on_mount(self) -> None:
        box = self.query_one("#help-box")
        box.border_title = "Help"
        box.focus()

    def action_close(self) -> None:
        # Keys queued before the first close still arrive here: only the screen on top may close.
        if self.app.screen is self:
            self.dismiss()
