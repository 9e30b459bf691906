"""A formula model and the rng row driven through the TUI with Pilot (issue 31): "formula…" chosen in the model
list opens the formula row, `a*sin(b*x) + c` typed there is applied as the model (a new run), and the run's RMSE
is that of the loop a learner writes for it on gdtui's synthetic sine data; hostile formulas are marked with the
part refused and its column, and nothing is applied; the rng row's single starts a new run drawn from one stream."""

from __future__ import annotations

import subprocess
import sys

import torch

from gdtui.engine.config import CHECKS, MODELS, ConfigError
from gdtui.engine.formula import FUNCTIONS
from gdtui.engine.trainer import Trainer
from gdtui.tui.app import GdtuiApp
from gdtui.tui.widgets.formula_field import FORMULA_CHOICE, carets, located
from gdtui.tui.widgets.hyperparams import TOOLTIPS
from gdtui.tui.widgets.rmse_log import RmseLog
from tests.tui_helpers import config, field, log_texts, press_and_wait, ready, wait_for

SIZE = (120, 36)
LR = 0.01
EPOCHS = 6
TYPED = "a*sin(b*x) + c"
FORMULA = "a * sin(b * x) + c"  # as the engine normalises it


def reference(init: tuple[float, ...] | None = None, epochs: int = EPOCHS, lr: float = LR) -> list[float]:
    """The RMSE of each epoch of a*sin(b*x) + c fitted by hand-written gradient descent (MSE, the step as
    fast.ai's loop writes it) to gdtui's synthetic sine data: torch.manual_seed(seed), then 20 points on
    [-3, 3], 3 sin(x) plus noise 5 randn, then fastai-quadratic's draws of the parameters."""
    torch.manual_seed(2021)
    x = torch.linspace(-3, 3, 20)
    y = 3 * torch.sin(x) + 5.0 * torch.randn(20)
    if init is None:
        torch.randn(3)  # the draw fastai's notebook showed and threw away
        params = torch.randn(3).requires_grad_()
    else:
        params = torch.tensor(init).requires_grad_()
    rmse = []
    for _ in range(epochs):
        a, b, c = params
        loss = ((a * torch.sin(b * x) + c - y) ** 2).mean()
        loss.backward()
        rmse.append(loss.item() ** 0.5)
        params.data -= lr * params.grad
        params.grad = None
    return rmse


def logged(app) -> list[float]:
    return [float(text.split()[1]) for text in log_texts(app)]


async def step_to(pilot, epoch: int) -> None:
    """Step (s) one epoch at a time up to `epoch`, each answered before the next."""
    log = pilot.app.query_one(RmseLog)
    while log.rows < epoch:
        rows = log.rows
        await press_and_wait(pilot, "s", lambda rows=rows: log.rows == rows + 1, f"epoch {rows + 1}")


async def choose(pilot, name: str, label: str) -> None:
    """Open the list `name` from the keyboard and pick `label` in it."""
    select = await field(pilot, name)
    await pilot.press("enter")
    await wait_for(pilot, lambda: select.expanded, what="the list open")
    options = select._options
    now = [value for _, value in options].index(select.value)
    step = [str(prompt) for prompt, _ in options].index(label) - now
    await pilot.press(*(["down"] * step if step >= 0 else ["up"] * -step), "enter")
    await wait_for(pilot, lambda: not select.expanded, what="the list closed")


async def open_formula(pilot):
    """Choose "formula…": the formula row opens and has the keys."""
    app = pilot.app
    await choose(pilot, "model", FORMULA_CHOICE)
    box = app.query_one("#f-formula")
    await wait_for(pilot, lambda: box.has_focus, what="the formula field focused")
    assert app.query_one("#row-formula").display and box.placeholder == "a*sin(b*x) + c"
    return box


def mark(app) -> str:
    return str(app.query_one("#formula-mark").render())


async def round_trip(pilot) -> None:
    """Double the lr with ] and wait for the answer: every reply to what was sent before it has arrived."""
    app = pilot.app
    lr = app.config.lr
    await press_and_wait(pilot, "right_square_bracket", lambda: app.config.lr == 2 * lr, "the answer to ]")


def test_the_formula_rows_words():
    assert CHECKS["model"](TYPED) == FORMULA
    assert all(name in TOOLTIPS["formula"] for name in FUNCTIONS)  # the tooltip names every function allowed
    error = located("a*x + x.real")
    assert error is not None and (error.part, error.column) == ("x.real", 7)
    assert carets("a*x + x.real", error, 0, 19) == " " * 6 + "^" * 6
    assert carets("a*x + x.real", error, 8, 19) == "^" * 4  # scrolled: the part's visible end
    assert carets("a*x + x.real", error, 0, 8) == " " * 6 + "^" * 2  # cut at the field's width
    assert carets("a*x + x.real", error, 12, 19) == ""  # out of view
    end = located("a*")  # a part missing at the end: one caret where the text ends
    assert end is not None and carets("a*", end, 0, 19) == "  ^"


def test_checking_a_formula_in_the_pane_loads_no_torch():
    """The app never imports torch: the formula row's check and mark parse with the engine's torch-free parser."""
    code = (
        "import sys\n"
        "import gdtui.tui.app\n"
        "from gdtui.engine import resolve\n"
        "from gdtui.tui.widgets.formula_field import formula_problem, located\n"
        "from gdtui.tui.widgets.hyperparams import placeholder, visible\n"
        "assert formula_problem('a*x + x.real') and located('a*x + x.real').column == 7\n"
        "assert formula_problem('a*sin(b*x) + c') is None\n"
        "formula = resolve(model='a*sin(b*x) + c')\n"
        "assert placeholder('init', formula) == 'drawn (a,b,c)' and not visible('standardize', formula)\n"
        "print('torch' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False"]


async def test_a_formula_typed_in_the_pane_runs_as_the_loop_written_for_it():
    start = config(data="sine", lr=LR, epochs=EPOCHS)
    app = GdtuiApp(start)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await step_to(pilot, 1)
        assert not app.query_one("#row-formula").display and app.query_one("#row-standardize").display
        box = await open_formula(pilot)
        await pilot.press(*TYPED)
        assert not box.has_class("-invalid") and not app.query_one("#formula-mark").display
        await pilot.press("enter")
        drawn = start.replace(model=FORMULA)
        await wait_for(pilot, lambda: app.config == drawn and app.state == "ready", what="the formula's run")
        assert any(n.message == "model changed: the run restarts from epoch 0" for n in app._notifications)
        assert app.query_one(RmseLog).rows == 0
        assert app.query_one("#f-model").value == FORMULA_CHOICE and box.value == FORMULA
        assert app.query_one("#f-init").placeholder == "drawn (a,b,c)"
        for row in ("formula", "model", "init"):
            assert app.query_one(f"#row-{row}").display, row
        for row in ("degree", "hidden", "activation", "bias", "standardize"):  # a formula writes its own terms
            assert not app.query_one(f"#row-{row}").display, row
        await step_to(pilot, 2)
        assert logged(app) == reference()[:2]
        # its parameters set in their order of appearance: a new run from them
        init = await field(pilot, "init")
        await pilot.press(*"2,1,0", "enter")
        given = drawn.replace(init=(2.0, 1.0, 0.0))
        await wait_for(pilot, lambda: app.config == given and app.state == "ready", what="the run from 2,1,0")
        assert init.value == "2,1,0"
        await step_to(pilot, EPOCHS)
        assert logged(app) == reference((2.0, 1.0, 0.0))
        assert "a=" in log_texts(app)[-1] and "c=" in log_texts(app)[-1]
        # a named model again: the formula row closes
        await choose(pilot, "model", "quadratic")
        named = given.replace(model="quadratic")
        await wait_for(pilot, lambda: app.config == named and app.state == "ready", what="the quadratic again")
        assert not app.query_one("#row-formula").display and app.query_one("#f-model").value == "quadratic"
        assert app.query_one("#row-standardize").display
        # a model of another number of parameters: the init that does not fit is dropped, and the notice says so
        await choose(pilot, "model", "linear")
        line = named.replace(model="linear", init=None)
        await wait_for(pilot, lambda: app.config == line and app.state == "ready", what="the line, drawn")
        assert any(
            n.message.startswith("init dropped: the linear model has 2 parameters (w, b)") for n in app._notifications
        )


async def test_hostile_formulas_are_marked_where_they_go_wrong_and_nothing_is_applied():
    start = config(data="sine", lr=LR, epochs=EPOCHS)
    app = GdtuiApp(start)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await step_to(pilot, 2)
        box = await open_formula(pilot)
        indent = box.region.x - app.query_one("#row-formula").region.x
        assert indent == 11  # the label's width: the carets stand under the field's text
        for text, part, column in (("__import__('os')", "__import__('os')", 1), ("a*x + x.real", "x.real", 7)):
            box.value = ""
            await pilot.press(*text)
            await pilot.pause()
            assert box.has_class("-invalid"), text
            with_reason = f'"{part}" at column {column}: '
            lines = mark(app).splitlines()
            assert lines[0] == " " * (indent + column - 1) + "^" * len(part), (text, lines)
            assert lines[1].startswith(f"formula: {with_reason}"), (text, lines)
            assert "not allowed" in mark(app)
            await pilot.press("enter")  # refused: the field keeps the keys and says why
            assert box.has_focus and box.value == text
            assert mark(app).endswith("— not applied")
        # the engine's check and the command line's: the same words
        try:
            CHECKS["model"]("a*x + x.real")
        except ConfigError as refusal:
            assert '"x.real" at column 7: an attribute is not allowed' in refusal.message
        else:
            raise AssertionError("x.real taken")
        # no x in it: the engine's reason, no part to mark
        box.value = ""
        await pilot.press(*"a + b")
        await pilot.pause()
        assert box.has_class("-invalid") and "no x in it" in mark(app) and "^" not in mark(app)
        # leaving it: nothing applied, the field shows no formula again, the mark why
        await pilot.press("tab")
        await pilot.pause()
        assert box.value == "" and mark(app).endswith("— not applied") and "no x in it" in mark(app)
        await round_trip(pilot)
        assert app.config == start.replace(lr=2 * LR) and app.query_one(RmseLog).rows == 2
        assert app.config.model in MODELS
        assert not any(n.title in ("not applied", "reset") for n in app._notifications)
        # fixed: applied, and the mark is gone
        box = await field(pilot, "formula")
        await pilot.press(*TYPED)
        await pilot.pause()
        assert not app.query_one("#formula-mark").display
        await pilot.press("enter")
        applied = start.replace(lr=2 * LR, model=FORMULA)
        await wait_for(pilot, lambda: app.config == applied and app.state == "ready", what="the formula's run")


def solo(settings) -> list[float]:
    trainer = Trainer(settings)
    trainer.run(settings.epochs)
    return list(trainer.history.rmse)


async def test_rng_single_from_the_pane_starts_a_new_run_drawn_from_one_stream():
    # nn.Linear on noisy data: split seeds torch again before the module, single draws it after the data
    start = config(preset="linear-module", data="sine", noise=1.0, epochs=3)
    single = start.replace(rng="single")
    assert solo(single) != solo(start)
    app = GdtuiApp(start)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await step_to(pilot, 2)
        assert logged(app) == solo(start)[:2]
        rng = await field(pilot, "rng")
        assert rng.value == "split" and "torch.manual_seed once" in str(rng.tooltip)
        await choose(pilot, "rng", "single")
        await wait_for(pilot, lambda: app.config == single and app.state == "ready", what="the run on one stream")
        assert any(n.message == "rng changed: the run restarts from epoch 0" for n in app._notifications)
        assert app.query_one(RmseLog).rows == 0 and rng.value == "single"
        await step_to(pilot, 3)
        assert logged(app) == solo(single)
        # a lane of its own batch size would need a loader of its own: refused, naming why
        await pilot.press("a")
        await wait_for(pilot, lambda: len(app.race.lanes) == 2, what="a second lane")
        await field(pilot, "batch_size")
        await pilot.press("4", "enter")
        await wait_for(
            pilot,
            lambda: any("one loader serves them all" in n.message for n in app._notifications),
            what="the refusal",
        )
        assert app.config.batch_size is None


async def test_a_formula_the_run_refuses_keeps_its_row_open_until_the_cause_is_fixed():
    start = config(preset="linear-manual", bias=False, epochs=EPOCHS)
    app = GdtuiApp(start)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        box = await open_formula(pilot)
        await pilot.press(*"a*x", "enter")  # valid alone: a formula writes its own terms, no --no-bias
        why = "bias: a formula writes its own terms: --no-bias is for linear, nn-linear, poly"
        await wait_for(
            pilot,
            lambda: any(n.title == "not applied" and n.message == why for n in app._notifications),
            what="the refusal",
        )
        assert app.config == start and app.query_one("#f-model").value == FORMULA_CHOICE
        assert app.query_one("#row-formula").display and box.value == "a*x"
        await choose(pilot, "bias", "yes")
        with_bias = start.replace(bias=True)
        await wait_for(pilot, lambda: app.config == with_bias and app.state == "ready", what="the bias back")
        assert app.query_one("#f-model").value == FORMULA_CHOICE and box.value == "a*x"
        box = await field(pilot, "formula")
        await pilot.press("end", "enter")  # the same text, tried again
        formula = with_bias.replace(model="a * x")
        await wait_for(pilot, lambda: app.config == formula and app.state == "ready", what="the formula's run")
        assert box.value == "a * x" and not app.query_one("#row-bias").display
