"""The model's formula row: `--model FORMULA` typed in the hyperparameters pane, checked as it is typed.

Why: a formula refused must say where it goes wrong. The row checks the text with the engine's own check (the
command line's --model), and under it a mark shows carets beneath the offending part, where the field shows it
(it scrolls when the text is longer than the field), and the engine's sentence naming the part and its column.
Only `gdtui.engine.formula.parse` locates the part: it is torch-free, and imported when a formula is first checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Input, Static

from gdtui.engine.config import CHECKS, ConfigError

if TYPE_CHECKING:
    from gdtui.engine.formula import FormulaError

FORMULA_CHOICE = "formula…"  # the model list's last choice: it opens the formula row
FORMULA_PLACEHOLDER = "a*sin(b*x) + c"
LABEL_WIDTH = 11  # the rows' labels (#params .name in app.tcss): the field starts past them


def located(text: str) -> FormulaError | None:
    """The formula's error as the engine's parser gives it for `text` as typed (its column counts the leading
    spaces the field shows), or None when it parses."""
    from gdtui.engine.formula import FormulaError, parse

    try:
        parse(text)
    except FormulaError as error:
        return error
    return None


def formula_problem(text: str) -> str | None:
    """Why the engine refuses `text` as a model, or None when it takes it (empty: nothing typed, nothing to
    apply). A formula's own error names the part and its column in the text as typed."""
    if not text.strip():
        return None
    try:
        CHECKS["model"](text)
    except ConfigError as refusal:
        error = located(text)
        if error is None:
            return refusal.message
        return error.message.split(" (allowed:")[0]  # the row's tooltip lists what is allowed: 2 lines, not 8
    return None


class FormulaCheck(Validator):
    """The engine's check of --model for the formula row."""

    def validate(self, value: str) -> ValidationResult:
        problem = formula_problem(value)
        return self.success() if problem is None else self.failure(problem)


def carets(text: str, error: FormulaError | None, scroll: int, width: int) -> str:
    """`^` under the offending part of `text` as a field `width` cells wide, scrolled by `scroll` cells, shows
    it (one `^` where the text ends for a part missing there); "" when the part is out of view or not located."""
    if error is None or width <= 0:
        return ""
    start = cell_len(text[: error.column - 1]) - scroll
    length = max(1, cell_len(error.part))
    end = min(start + length, width)
    start = max(start, 0)
    if start >= end:
        return ""
    return " " * start + "^" * (end - start)


class FormulaInput(Input):
    """The formula's field: its mark follows the text and the field's horizontal scroll."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.mark: FormulaMark | None = None

    def watch_scroll_x(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_x(old_value, new_value)
        if self.mark is not None and round(old_value) != round(new_value):
            self.mark.follow(self)


class FormulaMark(Static):
    """Under the formula row: carets under the part refused, then why (and whether it was applied)."""

    DEFAULT_CSS = """
    FormulaMark {
        color: $error;
        height: auto;
    }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", markup=False, **kwargs)  # type: ignore[arg-type]
        self.note = ""  # " — not applied" after a refusal, until the text changes

    def follow(self, box: Input) -> None:
        """Show the check of the field's text as it stands (nothing when it is valid)."""
        problem = formula_problem(box.value)
        if problem is None:
            self.update("")
            self.display = False
            return
        error = located(box.value)
        row = box.parent  # the row's label stands left of the field; the mark starts where the row does
        indent = box.region.x - row.region.x if isinstance(row, Widget) and box.region.width else 0
        marks = carets(box.value, error, round(box.scroll_x), box.content_region.width)
        lines = [" " * (indent if indent > 0 else LABEL_WIDTH) + marks] if marks else []
        self.update("\n".join([*lines, f"formula: {problem}{self.note}"]))
        self.display = True

    def refused(self, problem: str) -> None:
        """A text refused as the field is left: the field shows the model in effect again, the mark why."""
        self.update(f"formula: {problem} — not applied")
        self.display = True
