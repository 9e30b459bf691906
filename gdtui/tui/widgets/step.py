"""The step explained (`e`): for the epoch in view of the focused lane, what `gdtui explain` prints.

Why: the numbers of one step (each parameter's value before, gradient, optimizer state, update and value after;
the loss before and after beside the gradient's promise; the lr against its limit) are what a learner checks
by hand against the tutorial's formula. The screen shows the engine's own lines (gdtui.engine.steps), so the
TUI and the command say the same; `,` and `.` explain the epoch before or after, ← and → another batch of it
(with mini-batches), `d` checks the gradient by finite differences.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from gdtui.engine.steps import StepExplained, step_lines

# What the screen asks of its owner: explain (epoch, batch, check), and move the epoch in view by a step.
Ask = Callable[[int, "int | None", bool], None]


class StepScreen(ModalScreen[None]):
    """A step's numbers; escape or `e` closes it."""

    BINDINGS = [
        Binding("escape,e", "close", "Close"),
        Binding("comma", "epoch(-1)", "Epoch before", key_display=","),
        Binding("full_stop", "epoch(1)", "Epoch after", key_display="."),
        Binding("left", "batch(-1)", "Batch before", key_display="←"),
        Binding("right", "batch(1)", "Batch after", key_display="→"),
        Binding("d", "check", "Finite differences"),
    ]

    def __init__(self, ask: Ask, move: Callable[[int], None], epoch: int) -> None:
        super().__init__()
        self.ask, self.move = ask, move
        self.step: StepExplained | None = None
        self.epoch = epoch
        self.check = False

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="step-box"):
            yield Static(f"epoch {self.epoch}: explaining…", id="step-text")
            yield Static(", . epoch before / after · ← → batch · d finite differences · escape closes", id="step-keys")

    def on_mount(self) -> None:
        self.query_one("#step-box").border_title = "One step explained"

    def show(self, step: StepExplained) -> None:
        """The session's explanation of the step asked for."""
        self.step, self.epoch = step, step.epoch
        self.query_one("#step-text", Static).update(Text("\n".join(step_lines(step))))

    def action_close(self) -> None:
        if self.app.screen is self:
            self.dismiss(None)

    def action_epoch(self, delta: int) -> None:
        self.move(delta)

    def action_batch(self, delta: int) -> None:
        step = self.step
        if step is None or step.batch is None:
            self.notify("a full-batch run: one step an epoch", title="step")
            return
        batch = min(max(step.batch + delta, 1), step.batches)
        if batch != step.batch:
            self.ask(step.epoch, batch, self.check)

    def action_check(self) -> None:
        self.check = not self.check
        self.ask(self.epoch, None if self.step is None else self.step.batch, self.check)
