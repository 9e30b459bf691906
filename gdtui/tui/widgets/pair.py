"""Choosing the landscape's pair by name: two of the model's parameters typed as P1,P2, with completion.

Why: `o` steps through the pairs one at a time, which is right for a quadratic's three and no way to reach
w2.7,b1.3 among an mlp's 1,176 pairs. Typing the names (completed from the model's own, checked as typed, as
`gdtui landscape --pair` checks them) reaches any pair in a few keys.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Static


def parse_pair(text: str, names: tuple[str, ...]) -> tuple[str, str] | str:
    """`P1,P2` as a pair of the model's parameter names, or the reason it is not one."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        return "give two parameters, P1,P2"
    unknown = [p for p in parts if p not in names]
    if unknown:
        return f"{unknown[0]} is not a parameter of the model"
    if parts[0] == parts[1]:
        return "give two different parameters"
    return parts[0], parts[1]


class PairValidator(Validator):
    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__()
        self.names = names

    def validate(self, value: str) -> ValidationResult:
        found = parse_pair(value, self.names)
        return self.failure(found) if isinstance(found, str) else self.success()


class NameSuggester(Suggester):
    """Completes the name being typed (the first, or the one after the comma) from the model's names."""

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.names = names

    async def get_suggestion(self, value: str) -> str | None:
        head, comma, tail = value.rpartition(",")
        typed = tail.strip()
        if not typed:
            return None
        match = next((n for n in self.names if n.startswith(typed) and n != typed), None)
        return None if match is None else f"{head}{comma}{match}"


class PairScreen(ModalScreen[tuple[str, str] | None]):
    """Asks for the pair; enter applies a valid one, escape leaves the pair as it was."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, names: tuple[str, ...], current: tuple[str, str] | None) -> None:
        super().__init__()
        self.names = names
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="pair-box"):
            shown = ", ".join(self.names[:12]) + (f" … ({len(self.names)} in all)" if len(self.names) > 12 else "")
            yield Static(f"the landscape's pair, P1,P2 (→ completes a name): {shown}", id="pair-help")
            yield Input(
                value=",".join(self.current) if self.current else "",
                placeholder="P1,P2",
                validators=[PairValidator(self.names)],
                suggester=NameSuggester(self.names),
                id="pair-input",
            )
            yield Static("", id="pair-error")

    def on_mount(self) -> None:
        self.query_one("#pair-box").border_title = "Landscape pair"
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        result = event.validation_result
        reason = "" if result is None or result.is_valid else "; ".join(result.failure_descriptions)
        self.query_one("#pair-error", Static).update(reason)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        found = parse_pair(event.value, self.names)
        if isinstance(found, str):
            self.query_one("#pair-error", Static).update(found)
            return
        self.dismiss(found)

    def action_cancel(self) -> None:
        if self.app.screen is self:
            self.dismiss(None)
