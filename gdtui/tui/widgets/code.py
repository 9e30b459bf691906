"""The Code view: the focused lane as the plain PyTorch script that prints the same log, and a key to write it.

Why: "what loop is this, exactly?" is where a learner goes after the instrument. The script comes from the
engine (gdtui.engine.script, through the session), so the view only shows it, highlighted and read-only. It is
a full screen of its own, not a modal one: the run's keys (space, s, ], [, 1-8...) still act while it shows,
and the script follows each change they make.
"""

from __future__ import annotations

from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from gdtui.tui.files import failure, keep, new_name, write_new


class CodeScreen(Screen[None]):
    """Shows a script (`show()`); `w` writes it to a new file in the working directory; escape or c closes."""

    BINDINGS = [
        Binding("escape,c", "close", "Close"),
        Binding("w", "write", "Write script", tooltip="write the script to a .py file"),
    ]

    def __init__(self, preset: str) -> None:
        super().__init__()
        self.preset = preset
        self.text = ""
        self.label = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="code-box"):  # arrows and page keys scroll it
            yield Static("the script is on its way from the training process…", id="code")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        box = self.query_one("#code-box")
        box.border_title = "Code"
        box.focus()

    def show(self, text: str, label: str) -> None:
        """Show `text`, the script of `label` (say "lane 2: lr 2e-05 · epoch 12")."""
        self.text, self.label = text, label
        box = self.query_one("#code-box")
        box.border_title = f"Code · {label}"
        box.border_subtitle = "python FILE prints this run's log · w writes it · escape closes"
        self.query_one("#code", Static).update(
            Syntax(text, "python", theme="ansi_dark", line_numbers=True, word_wrap=True)
        )

    def action_write(self) -> None:
        if not self.text:
            self.notify("The script has not arrived yet.", title="code")
            return
        try:
            path = write_new(new_name(self.preset, "py"), self.text)
        except OSError as error:
            self.notify(failure(error), title="script not written", severity="error")
            return
        self.notify(f"python {path} prints the same log", title="script written")

    def action_close(self) -> None:
        if self.app.screen is self:  # keys queued before the first close arrive here too
            self.dismiss()


class DeliveredCodeScreen(CodeScreen):
    """The Code screen of a served app: `w` hands the script to the browser as a download."""

    def action_write(self) -> None:
        if not self.text:
            super().action_write()  # says the script has not arrived yet
            return
        name = keep(self.app, new_name(self.preset, "py"), self.text)
        self.notify(f"downloaded as {name}: python {name} prints the same log", title="script downloaded")
