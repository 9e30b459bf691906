"""Typing the epoch to travel to (`g`): a whole number from 0 (the initial parameters) to the lane's latest.

Why: `,` and `.` move an epoch at a time, which is right near the present and no way to reach epoch 1,913 of
a million. Textual's Integer validator checks the number as it is typed.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.validation import Integer
from textual.widgets import Input, Static


class EpochScreen(ModalScreen[int | None]):
    """Asks for an epoch; enter travels to a valid one, escape leaves the view as it was."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, latest: int, current: int | None) -> None:
        super().__init__()
        self.latest, self.current = latest, current

    def compose(self) -> ComposeResult:
        with Vertical(id="epoch-box"):
            yield Static(f"the epoch to view, 0 (the start) to {self.latest:,} (L: back to live)", id="epoch-help")
            yield Input(
                value="" if self.current is None else str(self.current),
                placeholder=f"0 to {self.latest}",
                type="integer",
                validators=[Integer(minimum=0, maximum=self.latest, failure_description=self._range())],
                id="epoch-input",
            )
            yield Static("", id="epoch-error")

    def _range(self) -> str:
        return f"an epoch from 0 to {self.latest:,}"

    def on_mount(self) -> None:
        self.query_one("#epoch-box").border_title = "Go to epoch"
        self.query_one(Input).focus()

    def on_key(self, event: events.Key) -> None:
        """Keys typed right after `g`, dispatched before the field had the focus (a terminal sends `g100⏎` at
        once): the field never saw them, so they reach the screen; they go to the field all the same."""
        field = self.query_one(Input)
        if event.character is not None and event.character.isdigit():
            field.insert_text_at_cursor(event.character)
            event.stop()
        elif event.key == "enter":
            event.stop()
            self.on_input_submitted(Input.Submitted(field, field.value, field.validate(field.value)))

    def on_input_changed(self, event: Input.Changed) -> None:
        result = event.validation_result
        reason = "" if result is None or result.is_valid else self._range()
        self.query_one("#epoch-error", Static).update(reason)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        result = event.validation_result
        if (result is not None and not result.is_valid) or not event.value.strip():
            self.query_one("#epoch-error", Static).update(self._range())
            return
        self.dismiss(int(event.value))

    def action_cancel(self) -> None:
        if self.app.screen is self:
            self.dismiss(None)
