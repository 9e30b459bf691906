"""The hyperparameters pane: every setting of the run, validated as it is typed.

Why: a user must be able to change lr while training runs and see at once whether a value is acceptable.
Inputs use Textual validators built on the engine's own checks (the CLI refuses the same values); a value
is applied on Enter or when focus leaves the field, and only if valid.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static

from gdtui.engine.config import CHECKS, LOSSES, MODELS, OPTIMIZERS, ConfigError, RunConfig
from gdtui.engine.presets import PRESETS
from gdtui.messages import FieldChanged

SELECTS = {"preset": tuple(PRESETS), "model": MODELS, "optimizer": OPTIMIZERS, "loss": LOSSES}
INPUTS = ("lr", "momentum", "epochs", "seed", "device", "data", "points", "noise", "degree", "test_fraction")
LABELS = {"test_fraction": "test frac"}


class EngineCheck(Validator):
    """A Textual validator running the engine's check for one field."""

    def __init__(self, field: str) -> None:
        super().__init__()
        self.field = field

    def validate(self, value: str) -> ValidationResult:
        try:
            CHECKS[self.field](value)
        except ConfigError as error:
            return self.failure(error.message)
        return self.success()


def shown(field: str, config: RunConfig) -> str:
    value = getattr(config, field)
    if field == "momentum":
        value = config.effective_momentum
    return f"{value:g}" if isinstance(value, float) else str(value)


def field_of(widget: Widget) -> str:
    """The setting a form widget edits, from its id (`f-lr` edits lr)."""
    return (widget.id or "").removeprefix("f-")


class HyperParams(VerticalScroll, can_focus=False):
    """Posts FieldChanged(field, value) when the user commits a valid, changed value."""

    def __init__(self, config: RunConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.ready = False

    def compose(self) -> ComposeResult:
        # The first frame shows the values as text; the form (some 60 widgets, a third of the cost of the
        # first frame) replaces it right after, so the app paints at once.
        yield Static(self._preview(), id="preview")

    def _preview(self) -> str:
        fields = [*SELECTS, *INPUTS]
        return "\n".join(
            f"{LABELS.get(f, f):<10}{shown(f, self.config)}"
            for f in fields
            if (f != "momentum" or self.config.uses_momentum) and (f != "degree" or self.config.model == "poly")
        )

    def _form(self) -> list[Widget]:
        rows: list[Widget] = []
        for field, choices in SELECTS.items():
            rows.append(
                Horizontal(
                    Label(field, classes="name"),
                    Select(
                        [(c, c) for c in choices],
                        value=getattr(self.config, field),
                        allow_blank=False,
                        compact=True,
                        id=f"f-{field}",
                    ),
                    classes="row",
                )
            )
        for field in INPUTS:
            rows.append(
                Horizontal(
                    Label(LABELS.get(field, field), classes="name"),
                    Input(
                        shown(field, self.config),
                        id=f"f-{field}",
                        compact=True,
                        validators=[EngineCheck(field)],
                        validate_on=["changed", "submitted", "blur"],
                    ),
                    classes="row",
                    id=f"row-{field}",
                )
            )
        rows.append(Static("", id="field-error"))
        return rows

    def on_mount(self) -> None:
        self.border_title = "Hyperparameters"
        self.call_after_refresh(self._build_form)

    async def _build_form(self) -> None:
        if self.app._exit or not self.app.is_running:  # quit before the form was built
            return
        await self.mount_all(self._form())
        await self.query_one("#preview").remove()
        self.ready = True
        self.set_config(self.config)

    def set_config(self, config: RunConfig, revert: str | None = None) -> None:
        """Show `config`'s values; a field being typed in keeps its text unless it is the one to `revert`."""
        self.config = config
        if not self.ready:
            self.query_one("#preview", Static).update(self._preview())
            return
        with self.prevent(Input.Changed, Select.Changed):
            for field in SELECTS:
                select = self.query_one(f"#f-{field}", Select)
                if select.value != getattr(config, field):
                    select.value = getattr(config, field)
            for field in INPUTS:
                box = self.query_one(f"#f-{field}", Input)
                if not box.has_focus or field in ("lr", revert):
                    box.value = shown(field, config)
        self.query_one("#field-error", Static).update("")
        self._sync_visibility()

    def _sync_visibility(self) -> None:
        self.query_one("#row-momentum").display = self.config.uses_momentum
        self.query_one("#row-degree").display = self.config.model == "poly"

    def _commit(self, field: str, text: str, leaving: bool = False) -> None:
        error = self.query_one("#field-error", Static)
        try:
            value = CHECKS[field](text)
        except ConfigError as problem:
            error.update(f"{field}: {problem.message} — not applied")
            if leaving:  # the field shows again the value in effect; the message says why
                with self.prevent(Input.Changed):
                    self.query_one(f"#f-{field}", Input).value = shown(field, self.config)
            return
        error.update("")
        current = self.config.effective_momentum if field == "momentum" else getattr(self.config, field)
        if value != current:
            self.post_message(FieldChanged(field, value))

    def on_input_changed(self, event: Input.Changed) -> None:
        field = field_of(event.input)
        result = event.validation_result
        self.query_one("#field-error", Static).update(
            "" if result is None or result.is_valid else f"{field}: {'; '.join(result.failure_descriptions)}"
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._commit(field_of(event.input), event.value)

    def on_input_blurred(self, event: Input.Blurred) -> None:
        self._commit(field_of(event.input), event.value, leaving=True)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        field = field_of(event.select)
        if event.value != getattr(self.config, field):
            self.post_message(FieldChanged(field, event.value))
