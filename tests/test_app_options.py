"""The run settings of the hyperparameters pane beyond the classic ones (loss sse, init, x range, bias, dtype and
the stop rules), driven with Pilot: each typed or picked, applied to the run, and the run's numbers those of a
solo Trainer with the same settings; bad values refused with the engine's reason."""

from __future__ import annotations

from gdtui.engine.config import RunConfig
from gdtui.engine.trainer import Trainer
from gdtui.tui.app import GdtuiApp
from gdtui.tui.widgets.status import StatusLine
from tests.tui_helpers import config, field, log_texts, press_and_wait, run_to_done, wait_for

SIZE = (120, 36)


def solo(settings: RunConfig) -> list[float]:
    """The RMSE of every epoch of a run alone, as far as its budget or a stop rule lets it go."""
    trainer = Trainer(settings)
    trainer.run(settings.epochs)
    return list(trainer.history.rmse)


def shown_rmse(app) -> list[float]:
    """The focused lane's RMSE over epochs, as the lanes model holds it; the log must print the same."""
    lane = app.race.lanes.get(app.race.lanes.focus)
    series = list(lane.series)
    assert [float(text.split()[1]) for text in log_texts(app)] == series
    return series


def status(app) -> str:
    return str(app.query_one(StatusLine).render())


async def type_in(pilot, name: str, text: str) -> None:
    """Focus the field, type `text` over its value (focus selects it) and press enter."""
    await field(pilot, name)
    await pilot.press(*(text or ["backspace"]))
    await pilot.press("enter")


async def applied(pilot, expected: RunConfig) -> None:
    """Wait until the session runs `expected` from epoch 0, then leave the field (its text is in effect)."""
    app = pilot.app
    await wait_for(pilot, lambda: app.config == expected and app.state == "ready", what=f"the run on {expected}")
    await pilot.press("escape")


async def pick(pilot, name: str, value: object) -> None:
    """Pick `value` in the dropdown `name`."""
    select = await field(pilot, name)
    select.value = value


async def round_trip(pilot) -> None:
    """Double the lr with ] and wait for the answer: every reply to what was sent before it has arrived."""
    app = pilot.app
    lr = app.config.lr
    await press_and_wait(pilot, "right_square_bracket", lambda: app.config.lr == 2 * lr, "the answer to ]")


async def test_loss_sse_from_the_dropdown():
    start, expected = config(lr=1e-6), config(lr=1e-6, loss="sse")
    app = GdtuiApp(start)
    async with app.run_test(size=SIZE) as pilot:
        await pick(pilot, "loss", "sse")
        await applied(pilot, expected)
        await run_to_done(pilot)
        assert shown_rmse(app) == solo(expected) != solo(start)
        assert len(solo(expected)) == 10


async def test_init_positional_named_and_cleared():
    positional, named = config(init=(0.5, -1.0, 2.0)), config(init=(0.25, -2.0, 1.0))
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        box = await field(pilot, "init")
        assert box.value == "" and "a,b,c" in box.placeholder
        assert not app.query_one("#row-x_range").display  # the article's data: no x range
        assert not app.query_one("#row-bias").display  # the quadratic keeps its constant term
        await type_in(pilot, "init", "0.5,-1,2")
        await applied(pilot, positional)
        assert box.value == "0.5,-1,2"
        await run_to_done(pilot)
        assert shown_rmse(app) == solo(positional) != solo(config())
        await type_in(pilot, "init", "c=1, a=0.25, b=-2")  # named, in any order: the model's order in effect
        await applied(pilot, named)
        await run_to_done(pilot)
        assert shown_rmse(app) == solo(named)
        await type_in(pilot, "init", "")  # empty: drawn as the preset draws them
        await applied(pilot, config())
        await run_to_done(pilot)
        assert shown_rmse(app) == solo(config())


async def test_x_range_of_synthetic_data():
    start, expected = config(data="linear"), config(data="linear", x_range=(-1.0, 2.0))
    app = GdtuiApp(start)
    async with app.run_test(size=SIZE) as pilot:
        box = await field(pilot, "x_range")
        assert app.query_one("#row-x_range").display and box.value == "" and box.placeholder == "-3,3"
        await type_in(pilot, "x_range", "-1,2")
        await applied(pilot, expected)
        await run_to_done(pilot)
        assert shown_rmse(app) == solo(expected) != solo(start)
        assert min(app.plot.x) >= -1 and max(app.plot.x) <= 2


async def test_bias_no_from_the_keyboard():
    start = config(preset="linear-manual", epochs=20)
    expected = start.replace(bias=False)
    app = GdtuiApp(start)
    async with app.run_test(size=SIZE) as pilot:
        select = await field(pilot, "bias")
        assert app.query_one("#row-bias").display and select.value is True
        await pilot.press("enter")
        await wait_for(pilot, lambda: select.expanded, what="the list open")
        await pilot.press("down", "enter")
        await applied(pilot, expected)
        await run_to_done(pilot)
        assert shown_rmse(app) == solo(expected) != solo(start)
        assert "b=" not in log_texts(app)[-1] and "w=" in log_texts(app)[-1]


async def test_dtype_float64():
    expected = config(dtype="float64")
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await pick(pilot, "dtype", "float64")
        await applied(pilot, expected)
        await run_to_done(pilot)
        assert shown_rmse(app) == solo(expected) != solo(config())


async def test_target_rmse_stops_the_run_and_says_so():
    expected = config(target_rmse=30.0)
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        box = await field(pilot, "target_rmse")
        assert box.value == ""
        await type_in(pilot, "target_rmse", "30")
        await applied(pilot, expected)
        await run_to_done(pilot)
        await wait_for(pilot, lambda: "done — target RMSE reached" in status(app), what="the reason in the status")
        rmse = shown_rmse(app)
        assert rmse == solo(expected) and len(rmse) == 3 < expected.epochs and rmse[-1] <= 30 < rmse[-2]
        assert "epoch 3/10" in status(app)


async def test_patience_stops_the_run_and_says_so():
    start = config(preset="linear-module")
    expected = start.replace(patience=3)
    app = GdtuiApp(start)
    async with app.run_test(size=SIZE) as pilot:
        await type_in(pilot, "patience", "3")
        await applied(pilot, expected)
        await run_to_done(pilot)
        await wait_for(
            pilot, lambda: "done — loss stopped improving (patience)" in status(app), what="the reason in the status"
        )
        rmse = shown_rmse(app)
        assert rmse == solo(expected) and len(rmse) < expected.epochs
        await press_and_wait(pilot, "r", lambda: app.state == "ready", "reset")
        assert app.query_one(StatusLine).stopped == "" and status(app).startswith("ready")  # gone with the run


async def test_bad_init_is_refused_with_its_reason():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        box = await field(pilot, "init")
        for bad in ("1,,2", "a=1,2", "x", "1,nan,2"):  # not a value: the field says why, nothing is sent
            await type_in(pilot, "init", bad)
            await wait_for(pilot, lambda: "init:" in str(app.query_one("#field-error").render()), what="the reason")
            assert box.has_class("-invalid"), bad
            await pilot.press("escape")
            await wait_for(pilot, lambda: box.value == "", what="the value in effect shown again")
        await round_trip(pilot)  # a value sent would have been answered before ]
        assert app.config == config(lr=2e-5)
        assert not any(n.title in ("not applied", "reset") for n in app._notifications)
        for bad, said in (("1,2", "3 parameters"), ("a=1,b=2,w=3", "a, b, c")):  # values the model refuses
            await type_in(pilot, "init", bad)
            await wait_for(
                pilot,
                lambda said=said: any(
                    n.message.startswith("init:") and said in n.message and n.title == "not applied"
                    for n in app._notifications
                ),
                what=f"a notice naming init ({bad})",
            )
            await wait_for(pilot, lambda: box.value == "", what="init reverted")
            await pilot.press("escape")
        await round_trip(pilot)
        assert app.config == config(lr=4e-5)
        assert not any(n.title == "reset" for n in app._notifications)
        await run_to_done(pilot)
        assert shown_rmse(app) == solo(config(lr=4e-5))


async def test_batch_size_shuffle_and_an_mlp_from_the_pane():
    start = config(epochs=4)
    batched = config(epochs=4, batch_size=5)
    in_order = config(epochs=4, batch_size=5, shuffle=False)
    app = GdtuiApp(start)
    async with app.run_test(size=SIZE) as pilot:
        await field(pilot, "lr")  # the form is built
        assert not app.query_one("#row-shuffle").display and not app.query_one("#row-hidden").display
        await type_in(pilot, "batch_size", "5")
        await applied(pilot, batched)
        assert app.query_one("#row-shuffle").display  # shuffling is a question only with batches
        await run_to_done(pilot)
        assert shown_rmse(app) == solo(batched) != solo(start)
        await pick(pilot, "shuffle", False)
        await applied(pilot, in_order)
        await run_to_done(pilot)
        assert shown_rmse(app) == solo(in_order) != solo(batched)
        mlp = in_order.replace(model="mlp")
        await pick(pilot, "model", "mlp")
        await applied(pilot, mlp)
        assert app.query_one("#row-hidden").display and app.query_one("#f-hidden").value == "16"
        wide = mlp.replace(hidden=(8, 4), activation="relu")
        await type_in(pilot, "hidden", "8,4")
        await applied(pilot, mlp.replace(hidden=(8, 4)))
        await pick(pilot, "activation", "relu")
        await applied(pilot, wide)
        await run_to_done(pilot)
        assert shown_rmse(app) == solo(wide)
        assert "params, norm" in log_texts(app)[-1]  # an mlp's log sums its weights up


async def test_v_draws_the_fitted_function_and_shift_w_saves_every_lane_as_toml(tmp_path, monkeypatch):
    import torch

    from gdtui.engine.tomlconfig import load
    from gdtui.engine.trainer import LINE_POINTS

    monkeypatch.chdir(tmp_path)
    base = config(preset="linear-manual", epochs=30)
    app = GdtuiApp(base, lanes=[base.replace(lr=0.02, batch_size=2)])
    async with app.run_test(size=SIZE) as pilot:
        await run_to_done(pilot)
        await wait_for(pilot, lambda: len(app.race.lanes) == 2 and app.state == "done", what="both lanes done")
        assert app.plot.show_line  # the fitted function is drawn as a line by default
        await pilot.press("v")
        assert not app.plot.show_line and app.tabs.active == "tab-preds"  # v: its values at the data points
        assert app.plot.line_x == torch.linspace(1.0, 4.0, LINE_POINTS).tolist()
        trainer = Trainer(base)
        trainer.run(30)
        line = trainer.model.predict(torch.linspace(1.0, 4.0, LINE_POINTS)).tolist()  # the last row's parameters
        await wait_for(pilot, lambda: app.plot.preds is not None and app.plot.preds[4:] == line, what="the line")
        await pilot.press("W")
        await wait_for(pilot, lambda: list(tmp_path.glob("*.toml")), what="the settings file")
        settings, lanes, extras = load(str(next(tmp_path.glob("*.toml"))))
        assert settings["lr"] == 0.01 and lanes == [{"lr": 0.02, "batch_size": 2}]
        assert [extra.reached for extra in extras] == [30, 30]
