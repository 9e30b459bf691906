"""Lanes in the TUI: a adds, b branches, x removes, 1-8 and the table focus; the pane edits and the log shows
the focused lane; the race runs in lockstep, every lane its solo run; the palette's ready comparisons."""

from __future__ import annotations

from gdtui.engine import resolve
from gdtui.engine.trainer import Trainer
from gdtui.tui.app import GdtuiApp
from gdtui.tui.widgets.lanes_table import LanesTable
from tests.test_audit_app import caught_up, hold_replies, release_replies
from tests.tui_helpers import config, drawn, ready, refreshed, wait_for

SIZE = (120, 36)


def lanes_of(app):
    return app.race.lanes.lanes


async def add_lane(pilot, n):
    app = pilot.app
    await pilot.press("a")
    await wait_for(pilot, lambda: len(lanes_of(app)) == n and caught_up(app), what=f"{n} lanes")


def solo_rmse(config, epochs):
    trainer = Trainer(config)
    trainer.run(epochs)
    return list(trainer.history.rmse)


async def test_a_race_from_the_keyboard():
    """a, ] on the new lane, a, optimizer adam on the third, space: three lanes, each its solo run; the table
    lists them with what sets each apart."""
    app = GdtuiApp(config(epochs=200))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        table = app.query_one(LanesTable)
        assert not table.display  # one lane: no table
        await add_lane(pilot, 2)
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: caught_up(app) and app.config.lr == 2e-5, what="lr x2 on lane 2")
        await add_lane(pilot, 3)
        app.apply("optimizer", "adam")
        await wait_for(pilot, lambda: caught_up(app) and app.config.optimizer == "adam", what="adam on lane 3")
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "done", what="done")
        await wait_for(pilot, lambda: table.display and table.row_count == 3, what="the table")
        expected = [
            resolve("fastai-quadratic", epochs=200),
            resolve("fastai-quadratic", epochs=200, lr=2e-5),
            resolve("fastai-quadratic", epochs=200, lr=2e-5, optimizer="adam"),
        ]
        for lane, lane_config in zip(lanes_of(app), expected):
            assert lane.config == lane_config
            assert list(lane.series) == solo_rmse(lane_config, 200)
        assert [app.race.lanes.apart(lane) for lane in lanes_of(app)] == ["gd, lr 1e-05", "lr 2e-05", "adam, lr 2e-05"]
        cells = ["gd, lr 1e-05", "lr 2e-05", "adam, lr 2e-05"]  # drawn once a frame: wait for the frame
        await wait_for(pilot, lambda: [str(table.get_row_at(i)[2]) for i in range(3)] == cells, what="the cells")
        # the focused lane is the last added: the log shows its epochs, the plots draw the others too
        assert app.config.optimizer == "adam" and app.log_view.rows == 200
        await wait_for(pilot, lambda: len(app.plot.others) == len(app.curve.others) == 2, what="the plots' lanes")


async def test_focus_moves_the_pane_and_the_log_and_keys_compose_on_it():
    app = GdtuiApp(config(epochs=30))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await add_lane(pilot, 2)
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: caught_up(app) and app.config.lr == 2e-5, what="lane 2 at 2e-5")
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "done", what="done")
        hold_replies(app)
        await pilot.press("1", "left_square_bracket")  # lane 1 (lr 1e-5), halved before any confirmation
        release_replies(app)
        await wait_for(pilot, lambda: caught_up(app) and app.race.lanes.focus == 0, what="lane 1")
        assert app.config.lr == 5e-6
        assert [lane.config.lr for lane in lanes_of(app)] == [5e-6, 2e-5]
        assert app.log_view.rows == 30 and app.status.epoch == 30
        first_row = app.log_view.lines[0]
        assert first_row.split()[1] == repr(solo_rmse(resolve("fastai-quadratic", epochs=30), 1)[0])
        await pilot.press("2")
        await wait_for(pilot, lambda: caught_up(app) and app.race.lanes.focus == 1, what="lane 2")
        assert app.config.lr == 2e-5 and app.params.config.lr == 2e-5


async def test_b_branches_from_the_epoch_in_view_and_x_removes():
    app = GdtuiApp(config(epochs=60, optimizer="adam", lr=0.05))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "done", what="done")
        await pilot.press("b")  # the log follows the newest row: from the latest epoch
        await wait_for(pilot, lambda: len(lanes_of(app)) == 2 and caught_up(app), what="a branch")
        assert lanes_of(app)[1].origin == (0, 60)
        table = app.query_one(LanesTable)  # it appears with the second lane, and the log follows its new rows
        await wait_for(pilot, lambda: table.display and not app.log_view._pending_follow, what="the log at rest")
        # the log scrolled back shows the epoch at the bottom of its view; b branches from what it shows
        app.log_view.focus()

        def scrolled_back() -> bool:
            """Scrolled to the top and staying there: asked again while a follow of the branch's rows, or a
            relayout, scrolls it back to the end (their timing is the machine's)."""
            log = app.log_view
            if log.scroll_y != 0 or log.selected_epoch() is None:
                log.scroll_to(y=0, animate=False)
                return False
            return True

        await wait_for(pilot, scrolled_back, what="the log scrolled back")
        shown = app.log_view.selected_epoch()
        assert shown == app.log_view.scrollable_content_region.height - 1  # rows 1..shown in view, a header
        epoch = 10
        app.log_view.selected_epoch = lambda: epoch  # as if scrolled there, whatever the layout does meanwhile
        await pilot.press("b")
        await wait_for(pilot, lambda: len(lanes_of(app)) == 3 and caught_up(app), what="a second branch")
        branch = lanes_of(app)[2]
        assert branch.origin == (1, epoch) and app.status.epoch == epoch and app.log_view.rows == epoch
        await pilot.press("x")
        await wait_for(pilot, lambda: len(lanes_of(app)) == 2 and caught_up(app), what="removed")
        await pilot.press("x")
        await wait_for(pilot, lambda: len(lanes_of(app)) == 1 and caught_up(app), what="removed again")
        await pilot.press("x")
        await wait_for(pilot, lambda: any("last lane stays" in n.message for n in app._notifications), what="kept")
        await drawn(pilot)  # the table shows or hides with the frame that draws the lanes model
        assert len(lanes_of(app)) == 1 and not app.query_one(LanesTable).display


async def test_the_palettes_ready_comparisons():
    app = GdtuiApp(config(epochs=5))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        commands["Compare learning rates ×0.5 ×2 ×4"].callback()
        await wait_for(pilot, lambda: len(lanes_of(app)) == 4 and caught_up(app), what="4 lanes")
        assert [lane.config.lr for lane in lanes_of(app)] == [1e-5, 5e-6, 2e-5, 4e-5]
        commands["Compare optimizers: gd, sgd (momentum 0.9), nesterov, adam, rmsprop"].callback()
        await wait_for(pilot, lambda: len(lanes_of(app)) == 8 and caught_up(app), what="8 lanes")
        assert [lane.config.optimizer for lane in lanes_of(app)[4:]] == ["sgd", "nesterov", "adam", "rmsprop"]
        commands["Compare zero_grad with accumulated gradients"].callback()
        await wait_for(pilot, lambda: any("at most 8" in n.message for n in app._notifications), what="full")
        assert len(lanes_of(app)) == 8


async def test_four_lanes_at_80x24_and_no_crash_down_to_40x12():
    app = GdtuiApp(config(epochs=100_000))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        for n in (2, 3, 4):
            await add_lane(pilot, n)
        await pilot.press("space")
        await wait_for(pilot, lambda: all(lane.epoch > 0 for lane in lanes_of(app)), what="racing")
        table = app.query_one(LanesTable)
        await wait_for(pilot, lambda: table.display and table.row_count == 4, what="the table")
        await wait_for(pilot, lambda: table.region.height >= 3 and app.log_view.region.height >= 3, what="laid out")
        for size in ((60, 18), (40, 12), (80, 24)):
            await pilot.resize_terminal(*size)
            await wait_for(pilot, lambda size=size: app.screen.size == size, what=f"the screen at {size}")
            await refreshed(pilot)  # drawn at that size
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "paused", what="paused")
        epochs = {lane.epoch for lane in lanes_of(app)}
        assert len(epochs) == 1  # lockstep
        # at 80 columns with the pane shown, the settings give way, the others in their order; all of them at 120
        app.race.dirty = True
        await drawn(pilot)
        labels = [str(column.label) for column in table.columns.values()]
        assert labels == ["", "#", "apart", "epoch", "RMSE", "state"], labels
        cells = table.get_row_at(0)
        assert cells[3] == str(lanes_of(app)[0].epoch) and cells[4] == f"{lanes_of(app)[0].rmse:.6g}"
        widths = {str(c.label): c.get_render_width(table) for c in table.columns.values()}
        assert widths["RMSE"] >= len(cells[3]) + 2  # the column grew with the numbers written into it
        await pilot.resize_terminal(120, 36)
        await wait_for(
            pilot,
            lambda: [str(c.label) for c in table.columns.values()][2:5] == ["apart", "optimizer", "lr"],
            what="every column at 120",
        )


async def test_the_app_opens_with_the_lanes_of_vary():
    base = config(epochs=50)
    extra = [base.replace(lr=2e-5), base.replace(optimizer="adam", lr=0.05, loss="l1")]
    app = GdtuiApp(base, lanes=extra)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: len(lanes_of(app)) == 3 and caught_up(app), what="three lanes")
        assert [lane.config for lane in lanes_of(app)] == [base, *extra]
        assert app.race.lanes.focus == lanes_of(app)[0].id and app.config == base


def test_gdtui_vary_hands_the_session_its_lanes(monkeypatch):
    import os

    from gdtui.cli import main

    seen = {}

    class Session:
        def spawn(self, config, csv=None, record=None, **start):
            seen.update(spawned=config, lanes=[lane.start for lane in record.lanes[1:]])

        def stop(self):
            pass

    class App:
        return_code = 0

        def __init__(self, config, start, session, hint=None):
            seen.update(config=config)

        def run(self):
            pass

    monkeypatch.setattr("gdtui.tui.client.SessionClient", Session)
    monkeypatch.setattr("gdtui.tui.app.GdtuiApp", App)
    monkeypatch.setattr(os, "_exit", lambda code: None)
    main(["--vary", "lr=1e-5,2e-5", "--vary", "optimizer=gd,adam"])
    base = resolve("fastai-quadratic")
    assert seen["spawned"] == seen["config"] == base
    assert seen["lanes"] == [
        base.replace(optimizer="adam"),
        base.replace(lr=2e-5),
        base.replace(lr=2e-5, optimizer="adam"),
    ]


async def test_removing_the_focused_lane_while_it_runs_and_lanes_of_other_models():
    """A poly lane and a linear lane beside the quadratic one: each drawn; x on the running, focused lane
    leaves the race running on the others."""
    base = config(epochs=1_000_000)
    lanes = [base.replace(model="poly", degree=3, lr=1e-7), base.replace(model="linear", lr=1e-3)]
    app = GdtuiApp(base, lanes=lanes)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: len(lanes_of(app)) == 3 and caught_up(app), what="three lanes")
        await pilot.press("space")
        await wait_for(pilot, lambda: all(lane.epoch > 0 and lane.preds for lane in lanes_of(app)), what="racing")
        await wait_for(
            pilot,
            lambda: len(app.plot.others) == 2 and all(p for _, _, p in app.plot.others),
            what="the other lanes drawn",
        )
        await pilot.press("2")
        await wait_for(pilot, lambda: caught_up(app) and app.config.model == "poly", what="the poly lane")
        assert app.log_view.lines[-1].count("=") == 4  # c0..c3: the log speaks of the lane's own parameters
        await pilot.press("x")
        await wait_for(pilot, lambda: len(lanes_of(app)) == 2 and caught_up(app), what="removed")
        assert app.state == "running" and [lane.config.model for lane in lanes_of(app)] == ["quadratic", "linear"]
        epoch = min(lane.epoch for lane in lanes_of(app))
        await wait_for(pilot, lambda: min(lane.epoch for lane in lanes_of(app)) > epoch, what="the race goes on")


async def test_r_resets_every_lane():
    app = GdtuiApp(config(epochs=40), lanes=[config(epochs=40, lr=2e-5)])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: len(lanes_of(app)) == 2 and caught_up(app), what="two lanes")
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "done", what="done")
        assert all(len(lane.series) == 40 for lane in lanes_of(app))
        await pilot.press("r")
        await wait_for(pilot, lambda: app.state == "ready" and caught_up(app), what="reset")
        assert all(lane.epoch == 0 and len(lane.series) == 0 and lane.rmse is None for lane in lanes_of(app))
        assert lanes_of(app)[1].preds is None and app.log_view.rows == 0
        await pilot.press("s")
        await wait_for(pilot, lambda: all(lane.epoch == 1 for lane in lanes_of(app)), what="one step each")
