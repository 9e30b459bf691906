"""The hyperparameters pane: every setting of the run, validated as it is typed.

Why: a user must be able to change lr while training runs and see at once whether a value is acceptable.
Inputs use Textual validators built on the engine's own checks (the CLI refuses the same values); a value
is applied on Enter or when focus leaves the field, and only if valid and typed: a field shows its value
rounded (lr 1.23285e-05), so tabbing through the pane must not apply what it shows. Enter gives the keys back
to the run. The optional settings (init, x range, the stop rules target and patience, the lr schedule) may be
left empty: None, the preset's own choice. The schedule reads as `--schedule` takes it (its SPEC text).
The model list ends with "formula…": it opens the formula row (gdtui.tui.widgets.formula_field), where a
formula typed (`--model FORMULA`) is checked as typed, its offending part marked, and applied as the model.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static

from gdtui.engine.config import (
    ACTIVATIONS,
    CHECKS,
    DTYPES,
    LOSSES,
    MODELS,
    OPTIMIZER_SETTINGS,
    OPTIMIZERS,
    RNGS,
    SYNTHETIC,
    X_RANGE,
    ConfigError,
    RunConfig,
    check_combination,
    param_names,
)
from gdtui.engine.presets import PRESETS, starts_at_zero
from gdtui.engine.schedules import spec
from gdtui.tui.messages import FieldChanged, FieldLeft
from gdtui.tui.widgets.formula_field import (
    FORMULA_CHOICE,
    FORMULA_PLACEHOLDER,
    FormulaCheck,
    FormulaInput,
    FormulaMark,
    formula_problem,
)

BIAS_CHOICES = (("yes", True), ("no", False))
SELECTS: dict[str, tuple[tuple[str, object], ...]] = {
    "preset": tuple((p, p) for p in PRESETS),
    "model": (*((m, m) for m in MODELS), (FORMULA_CHOICE, FORMULA_CHOICE)),
    "bias": BIAS_CHOICES,
    "standardize": BIAS_CHOICES,
    "optimizer": tuple((o, o) for o in OPTIMIZERS),
    "loss": tuple((loss, loss) for loss in LOSSES),
    "dtype": tuple((d, d) for d in DTYPES),
    "shuffle": BIAS_CHOICES,
    "activation": tuple((a, a) for a in ACTIVATIONS),
    "rng": tuple((r, r) for r in RNGS),
}
INPUTS = ("lr", "momentum", "epochs", "seed", "device", "data", "points", "noise", "degree", "test_fraction")
# Inputs whose empty value is valid and means None: the preset's draw, the default range, no stop rule, no schedule;
# the formula row empty: no formula typed, nothing to apply.
OPTIONAL = ("x_range", "init", "target_rmse", "patience", "batch_size", *OPTIMIZER_SETTINGS, "schedule", "formula")
REQUIRED = ("hidden",)  # further inputs that always hold a value
# The rows top to bottom (the order tab moves in).
ORDER = (
    "preset",
    "model",
    "formula",  # shown for a formula model, or once "formula…" is chosen
    "bias",
    "standardize",
    "optimizer",
    "loss",
    "lr",
    "momentum",
    *OPTIMIZER_SETTINGS,  # each shown only for the optimizers that have it
    "schedule",
    "epochs",
    "seed",
    "rng",
    "device",
    "dtype",
    "data",
    "points",
    "noise",
    "x_range",
    "degree",
    "hidden",
    "activation",
    "test_fraction",
    "batch_size",
    "shuffle",
    "init",
    "target_rmse",
    "patience",
)
LABELS = {
    "test_fraction": "test frac",
    "x_range": "x range",
    "target_rmse": "target",
    "batch_size": "batch",
    "standardize": "scaled x",
    "weight_decay": "wt decay",
    "initial_accumulator": "init accum",
}
TOOLTIPS = {
    "standardize": "--standardize: train on the design's non-constant columns (x, x², ...) standardised to mean 0 "
    "and std 1 over the training points. The parameters, init and the landscape's axes are then the scaled "
    "model's; the predictions, the loss and the RMSE stay in the data's units. Changing it starts a new run.",
    "formula": "--model FORMULA: the model as a formula in x and its parameters (any other names), as "
    "a*sin(b*x) + c: numbers, pi, e, + - * / **, and torch's sin cos tan exp log sqrt abs tanh sigmoid relu. "
    "Checked as typed (the part refused is marked); enter applies it, a new run. Its parameters are drawn as the "
    "quadratic's, or set by init in their order of appearance.",
    "rng": "split: the data, the model and the batches' order each seeded (the articles' way); single: "
    "torch.manual_seed once, then all of them from torch's one stream in a tutorial's order. "
    "Every lane shares it; changing it starts a new run.",
    "schedule": "--schedule: an lr schedule, torch.optim.lr_scheduler's (step:step_size=30,gamma=0.1, "
    "multistep:milestones=30/80, exponential:gamma=0.99, cosine, cosine-restarts:T_0=10, "
    "linear-warmup:start_factor=0.1,total_iters=5, onecycle:max_lr=0.1, plateau:factor=0.5,patience=10; "
    "A+B chains them). Empty: a constant lr. Changing it starts a new run; ] and [ scale its base lr.",
}
PLACEHOLDERS = {
    "x_range": f"{X_RANGE[0]:g},{X_RANGE[1]:g}",
    "target_rmse": "none (RMSE to stop)",
    "patience": "none (epochs)",
    "batch_size": "all (full batch)",
    "schedule": "none (constant lr)",
    "formula": FORMULA_PLACEHOLDER,
    **{f: "torch's" for f in OPTIMIZER_SETTINGS},
}
BIAS_MODELS = ("linear", "nn-linear", "poly")


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


def _exact(value: float) -> str:
    """A number as short as it reads back exactly (a field left untouched must not change the run)."""
    text = f"{value:g}"
    return text if float(text) == value else repr(value)


def is_formula(config: RunConfig) -> bool:
    """Whether the config's model is a formula (`--model FORMULA`), not one of the named models."""
    return config.model not in MODELS


def chosen(field: str, config: RunConfig) -> object:
    """What a list shows for `field`: the model list shows "formula…" for a formula."""
    if field == "model" and is_formula(config):
        return FORMULA_CHOICE
    return getattr(config, field)


def shown(field: str, config: RunConfig) -> str:
    if field == "formula":  # the formula in effect, as the engine normalised it; empty for a named model
        return config.model if is_formula(config) else ""
    if field == "model" and is_formula(config):
        return FORMULA_CHOICE
    value = getattr(config, field)
    if field == "momentum":
        value = config.effective_momentum
    if value is None:
        return ""
    if field == "schedule":  # as --schedule takes it: step:step_size=30,gamma=0.1
        return spec(value)
    if isinstance(value, bool):
        return next(label for label, choice in BIAS_CHOICES if choice == value)
    if isinstance(value, tuple):  # init, x_range: V1,V2,...
        return ",".join(_exact(v) for v in value)
    if field in OPTIONAL and isinstance(value, float):
        return _exact(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def placeholder(field: str, config: RunConfig) -> str:
    """What an empty optional field means; init names the model's parameters when they are few."""
    if field == "init":
        names = param_names(config)
        if starts_at_zero(config):  # linear-manual: w = b = 0
            zeros = " = ".join([*names, "0"])
            return zeros if len(zeros) <= 20 else "zeros"
        listed = ",".join(names)
        return f"drawn ({listed})" if len(listed) <= 12 else "drawn"
    return PLACEHOLDERS.get(field, "")


def visible(field: str, config: RunConfig) -> bool:
    """Whether a field's row is shown: the settings the run does not use are hidden."""
    if field == "momentum":
        return config.uses_momentum
    if field == "formula":
        return is_formula(config)
    if field == "degree":
        return config.model == "poly"
    if field == "bias":
        return config.model in BIAS_MODELS
    if field == "x_range":
        return config.data in SYNTHETIC
    if field in ("hidden", "activation"):
        return config.model == "mlp"
    if field == "shuffle":
        return config.batch_size is not None
    if field == "standardize":  # a formula writes its own terms: no --standardize, no --no-bias
        return config.model != "mlp" and not is_formula(config)
    if field in OPTIMIZER_SETTINGS:
        return config.optimizer in OPTIMIZER_SETTINGS[field]
    return True


def scaled_note(config: RunConfig) -> str:
    """What the pane says under `scaled x` when it is on: the parameters are the standardised model's."""
    if not config.standardize:
        return ""
    names = ",".join(param_names(config))
    return f"{names if len(names) <= 12 else 'the params'}: of scaled x (mean 0, std 1); preds in data units"


def field_of(widget: Widget) -> str:
    """The setting a form widget edits, from its id (`f-lr` edits lr)."""
    return (widget.id or "").removeprefix("f-")


class HyperParams(VerticalScroll, can_focus=False):
    """Posts FieldChanged(field, value) when the user commits a valid, changed value."""

    def __init__(self, config: RunConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.ready = False
        self.shown: dict[str, str] = {}  # what each input showed when last set: leaving it untouched applies nothing
        self.composing = False  # "formula…" chosen while the model is a named one: the formula row is open

    def compose(self) -> ComposeResult:
        # The first frame shows the values as text; the form (some 60 widgets, a third of the cost of the
        # first frame) replaces it right after, so the app paints at once.
        yield Static(self._preview(), id="preview")

    def _preview(self) -> str:
        lines = []
        for f in ORDER:
            if visible(f, self.config):
                lines.append(f"{LABELS.get(f, f):<11}{shown(f, self.config)}".rstrip())
                if f == "standardize" and self.config.standardize:
                    lines.append(scaled_note(self.config))
        return "\n".join(lines)

    def _form(self) -> list[Widget]:
        rows: list[Widget] = []
        for field in ORDER:
            box: Widget
            if field in SELECTS:
                box = Select(
                    list(SELECTS[field]),
                    value=chosen(field, self.config),
                    allow_blank=False,
                    compact=True,
                    id=f"f-{field}",
                )
            else:
                box = (FormulaInput if field == "formula" else Input)(
                    shown(field, self.config),
                    placeholder=placeholder(field, self.config),
                    id=f"f-{field}",
                    compact=True,
                    validators=[FormulaCheck() if field == "formula" else EngineCheck(field)],
                    validate_on=["changed", "submitted", "blur"],
                    valid_empty=field in OPTIONAL,
                )
            if field in TOOLTIPS:
                box.tooltip = TOOLTIPS[field]
            rows.append(
                Horizontal(Label(LABELS.get(field, field), classes="name"), box, classes="row", id=f"row-{field}")
            )
            if field == "standardize":
                rows.append(Static(scaled_note(self.config), id="scaled-note", markup=False))
            if isinstance(box, FormulaInput):
                box.mark = FormulaMark(id="formula-mark")
                rows.append(box.mark)
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
        if is_formula(config):
            self.composing = False  # the formula row stays open for the formula in effect
        with self.prevent(Input.Changed, Select.Changed):
            for field in SELECTS:
                select = self.query_one(f"#f-{field}", Select)
                value = FORMULA_CHOICE if field == "model" and self.composing else chosen(field, config)
                if select.value != value:
                    select.value = value
            for field in (*INPUTS, *OPTIONAL, *REQUIRED):
                box = self.query_one(f"#f-{field}", Input)
                if field == "formula" and self.composing:  # a formula being written keeps its text
                    if revert == "model":  # refused by the engine (a notice says why): enter may try it again
                        self.shown[field] = ""
                    continue
                if not box.has_focus or field in ("lr", revert) or (field == "formula" and revert == "model"):
                    box.value = self.shown[field] = shown(field, config)
            self.query_one("#f-init", Input).placeholder = placeholder("init", config)
        self.query_one("#field-error", Static).update("")
        self._sync_visibility()

    def _sync_visibility(self) -> None:
        for field in ORDER:
            self.query_one(f"#row-{field}").display = visible(field, self.config) or (
                field == "formula" and self.composing
            )
        self._mark_formula()
        note = self.query_one("#scaled-note", Static)
        note.update(scaled_note(self.config))
        note.display = bool(scaled_note(self.config))

    def _mark_formula(self, note: str = "") -> None:
        """The formula row's mark: its text checked as it stands, once the row has its place on screen."""
        box = self.query_one("#f-formula", FormulaInput)
        mark = self.query_one("#formula-mark", FormulaMark)
        mark.note = note
        if not self.query_one("#row-formula").display or formula_problem(box.value) is None:
            mark.update("")
            mark.display = False
            return
        mark.follow(box)
        self.call_after_refresh(mark.follow, box)  # where the field starts and how far it scrolled, laid out

    def _say(self, field: str, text: str) -> None:
        """Why a value is refused: under the formula row for a formula, at the pane's foot for any other field."""
        if field == "formula":
            self._mark_formula(" — not applied" if text.endswith(" — not applied") else "")
        else:
            self.query_one("#field-error", Static).update(text)

    def _value(self, field: str, text: str) -> object:
        """The value `text` gives `field`, as RunConfig holds it (ConfigError if it is not one)."""
        if field == "formula":  # a model: a formula, normalised (or a named model's name); None: nothing typed
            return CHECKS["model"](text) if text.strip() else None
        if field in OPTIONAL and not text.strip():
            return None  # empty: drawn, the default range, no stop rule, no schedule
        value = CHECKS[field](text)
        if field == "init" and value and isinstance(value[0], tuple):  # NAME=V,...: in the model's order
            try:
                value = check_combination(self.config.replace(init=value)).init
            except ConfigError:
                pass  # names the model does not have: the app refuses them with the engine's reason
        return value

    def _commit(self, field: str, text: str, leaving: bool = False) -> bool:
        """Apply `text` if the user typed it and it is valid; False if it is refused."""
        if text == self.shown.get(field):
            return True  # untouched: what it shows may be rounded, and the run keeps its exact value
        try:
            value = self._value(field, text)
        except ConfigError as problem:
            if field == "formula" and leaving:  # the field shows the formula in effect again, the mark why
                why = formula_problem(text) or problem.message
                with self.prevent(Input.Changed):
                    self.query_one("#f-formula", Input).value = self.shown[field] = shown(field, self.config)
                self.query_one("#formula-mark", FormulaMark).refused(why)
                return False
            self._say(field, f"{field}: {problem.message} — not applied")
            if leaving:  # the field shows again the value in effect; the message says why
                with self.prevent(Input.Changed):
                    self.query_one(f"#f-{field}", Input).value = self.shown[field] = shown(field, self.config)
            return False
        self._say(field, "")
        if field == "formula":  # applied as the model: a new run on it
            if value is not None and value != self.config.model:
                self.post_message(FieldChanged("model", value))
            return True
        current = self.config.effective_momentum if field == "momentum" else getattr(self.config, field)
        if value != current:
            self.post_message(FieldChanged(field, value))
        return True

    def on_input_changed(self, event: Input.Changed) -> None:
        field = field_of(event.input)
        result = event.validation_result
        failures = [] if result is None else result.failure_descriptions
        self._say(field, f"{field}: {'; '.join(failures)}" if failures else "")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter applies the field and gives the keys back to the run (leaving the field applies nothing more)."""
        event.stop()
        field = field_of(event.input)
        if self._commit(field, event.value):  # refused: the field keeps the keys, and says why
            self.shown[field] = event.value  # applied once: leaving the field applies it no more
            self.post_message(FieldLeft())

    def on_input_blurred(self, event: Input.Blurred) -> None:
        self._commit(field_of(event.input), event.value, leaving=True)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        field = field_of(event.select)
        if field == "model":
            self._choose_model(str(event.value))
            return
        if field == "preset":  # a preset's own model: a formula being written is dropped
            self.composing = False
        if event.value != getattr(self.config, field):
            self.post_message(FieldChanged(field, event.value))

    def _choose_model(self, value: str) -> None:
        """A named model applied (a new run on it); "formula…" opens the formula row and gives it the keys."""
        if value == FORMULA_CHOICE:
            if not is_formula(self.config):
                self.composing = True
                self._sync_visibility()
                self.call_after_refresh(self.query_one("#f-formula", Input).focus)
            return
        self.composing = False
        box = self.query_one("#f-formula", Input)
        with self.prevent(Input.Changed):
            box.value = self.shown["formula"] = shown("formula", self.config)
        self._sync_visibility()
        if value != self.config.model:
            self.post_message(FieldChanged("model", value))
