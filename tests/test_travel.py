"""Time travel (issue 28): any epoch of the focused lane in view while the run goes on, checked against
`gdtui run` at that epoch for a lane changed mid-run and for a branch taken from the past; and the engine's
revisit of a large model (replayed from a checkpoint) against a solo run stopped at that epoch.
"""

from __future__ import annotations

import json

from gdtui.cli import main
from gdtui.engine import protocol as p
from gdtui.engine.revisit import revisiting
from gdtui.engine.trainer import Trainer
from gdtui.tui.app import GdtuiApp
from tests.test_app_record import steps
from tests.test_audit_app import caught_up
from tests.tui_helpers import config, drawn, wait_for

SIZE = (120, 36)


def drain(generator):
    while True:
        try:
            next(generator)
        except StopIteration as done:
            return done.value


async def viewing(pilot, epoch: int) -> p.Revisited:
    """Wait until `epoch` of the focused lane is in view (the session's reply shown), and return that reply."""
    app = pilot.app
    await wait_for(pilot, lambda: app.travel.shown is not None and app.travel.shown.epoch == epoch, what=f"{epoch}")
    shown = app.travel.shown
    assert shown is not None
    return shown


async def test_time_travel_matches_gdtui_run_for_a_lane_changed_mid_run_and_a_branch(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    app = GdtuiApp(config(epochs=12))
    live: dict[tuple[int, int], tuple[float, ...]] = {}  # what the live run showed: (lane, epoch) -> predictions
    async with app.run_test(size=SIZE) as pilot:
        app.routes[p.Results].append(lambda r: live.__setitem__((r.lane, r.chunk.last), r.chunk.preds))
        await steps(pilot, 12)  # s to epoch 5, ] (lr x2), s to epoch 12: one epoch a report
        await pilot.press("g", "8", "enter")
        seen = {(0, 8): await viewing(pilot, 8)}
        assert app.plot.viewing is not None and app.plot.viewing[0] == 8
        assert app.curve.cursor == 8 and app.log_view.cursor == 8
        await drawn(pilot)
        assert "viewing epoch 8 of 12 · live: L" in str(app.status.render())
        await pilot.press("comma", "comma")
        seen[(0, 6)] = await viewing(pilot, 6)
        await pilot.press("full_stop")
        seen[(0, 7)] = await viewing(pilot, 7)
        assert app.log_view.selected_epoch() == 7
        await pilot.press("b")  # a branch from the epoch in view, focused; then a change of its own
        await wait_for(pilot, lambda: len(app.race.lanes) == 2 and caught_up(app), what="the branch")
        assert app.travel.epoch is None and app.plot.viewing is None  # a new lane in focus: live
        branch = app.race.lanes.lanes[1]
        assert branch.origin == (0, 7) and app.status.epoch == 7
        await pilot.press("s", "left_square_bracket", "s", "s")
        await wait_for(pilot, lambda: caught_up(app) and app.status.epoch == 10, what="the branch at 10")
        await pilot.press("g", "9", "enter")
        seen[(branch.id, 9)] = await viewing(pilot, 9)
        await pilot.press("L")
        await wait_for(pilot, lambda: app.plot.viewing is None and app.status.viewing is None, what="live")
        assert app.log_view.cursor is None and app.curve.cursor is None
        await pilot.press("W")
        await wait_for(pilot, lambda: bool(sorted(tmp_path.glob("gdtui-*.toml"))), what="W's file")
    # what was in view is what the live run showed at that epoch, bit for bit
    for (lane, epoch), shown in seen.items():
        assert shown.preds == live[(lane, epoch)], (lane, epoch)
    # and what `gdtui run` prints for that epoch of that lane, from the record W wrote
    written = sorted(tmp_path.glob("gdtui-*.toml"))[0]
    assert main(["run", "--config", str(written), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    printed = {(row["lane"]["number"], row["epoch"]): row for row in rows if row.get("event") == "epoch"}
    numbers = {0: 1, branch.id: 2}
    for (lane, epoch), shown in seen.items():
        row = printed[(numbers[lane], epoch)]
        assert dict(zip(("a", "b", "c"), shown.params)) == row["params"], (lane, epoch)
        assert shown.result is not None and shown.result.rmse == row["rmse"] and shown.result.loss == row["loss"]


async def test_training_goes_on_while_an_epoch_is_in_view_and_the_landscape_marks_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = GdtuiApp(config(epochs=400))
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot, 12)
        await pilot.press("comma")  # from live: the epoch before the latest
        shown = await viewing(pilot, 11)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "done" and caught_up(app), what="done")
        assert app.travel.epoch == 11 and app.plot.viewing is not None and app.plot.viewing[0] == 11
        await drawn(pilot)
        assert app.status.viewing == (11, 400)
        assert app.plot.viewing[1] == list(shown.preds) != app.plot.preds  # the live predictions are kept apart
        await pilot.press("t", "t")  # the landscape: its ● at the epoch in view
        await wait_for(pilot, lambda: app.landscape.grid is not None, what="a grid")
        await drawn(pilot)
        grid = app.landscape.grid
        assert grid is not None
        values = dict(zip(("a", "b", "c"), shown.params))
        assert app.landscape.pinned == (values[grid.pair[0]], values[grid.pair[1]])
        await pilot.press("full_stop")
        await viewing(pilot, 12)
        await pilot.press("g", "0", "enter")
        start = await viewing(pilot, 0)  # the initial parameters, and no log row
        assert start.result is None and start.params == tuple(Trainer(app.config).initial.double().tolist())
        await pilot.press("g", "5", "0", "0", "enter")  # out of range: the screen says so and stays
        await pilot.pause()
        assert "an epoch from 0 to 400" in str(app.screen.query_one("#epoch-error").render())
        await pilot.press("escape")
        await pilot.press("L")
        await wait_for(pilot, lambda: app.plot.viewing is None, what="live")
        await pilot.press("full_stop")  # live already: said, nothing moves
        await wait_for(pilot, lambda: any("Already live" in n.message for n in app._notifications), what="notice")


def test_a_large_models_epoch_is_replayed_from_its_checkpoint_bit_for_bit():
    cfg = config(preset="linear-manual", model="mlp", hidden=(40, 40), epochs=300)
    trainer = Trainer(cfg)
    assert trainer.summarized  # its history keeps the parameters' norm only
    trainer.run(300)
    solo = Trainer(cfg)
    solo.run(200)  # between checkpoints (every 128 epochs): replayed from epoch 128
    params, preds = drain(revisiting(trainer, 200))
    assert params == () and preds == tuple(solo.predict().tolist())
    solo.run(56)  # a checkpoint's own epoch: read, not replayed
    assert drain(revisiting(trainer, 256))[1] == tuple(solo.predict().tolist())
    first = Trainer(cfg)
    assert drain(revisiting(trainer, 0))[1] == tuple(first.predict().tolist())


def test_a_small_models_epoch_is_read_from_its_history():
    cfg = config(epochs=50)
    trainer = Trainer(cfg)
    trainer.run(50)
    solo = Trainer(cfg)
    solo.run(17)
    params, preds = drain(revisiting(trainer, 17))
    assert params == tuple(solo.model.flat().double().tolist())
    assert preds == tuple(solo.predict().tolist())
    try:
        drain(revisiting(trainer, 51))
    except ValueError as error:
        assert "epochs 0 to 50" in str(error)
    else:
        raise AssertionError("epoch 51 of a 50-epoch run was revisited")


async def test_e_shows_the_step_gdtui_explain_prints_for_the_epoch_in_view(tmp_path, monkeypatch, capsys):
    from gdtui.engine.steps import step_lines
    from gdtui.tui.widgets.step import StepScreen

    monkeypatch.chdir(tmp_path)
    app = GdtuiApp(config(epochs=12, batch_size=6))  # 20 points: batches of 6, 6, 6 and 2
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot, 12)
        await pilot.press("g", "8", "enter")
        await viewing(pilot, 8)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, StepScreen) and app.screen.step is not None, what="e")
        screen = app.screen
        assert isinstance(screen, StepScreen) and screen.step is not None
        shown = {(8, 4): screen.step}
        assert (screen.step.epoch, screen.step.batch, screen.step.batches) == (8, 4, 4)  # the epoch's last batch
        text = str(screen.query_one("#step-text").render())
        assert text.splitlines()[0] == step_lines(screen.step)[0] and "gradient · update" in text
        await pilot.press("left")  # another batch of the epoch
        await wait_for(pilot, lambda: screen.step is not None and screen.step.batch == 3, what="batch 3")
        shown[(8, 3)] = screen.step
        await pilot.press("full_stop")  # the epoch after: the view follows
        await wait_for(pilot, lambda: screen.step is not None and screen.step.epoch == 9, what="epoch 9")
        assert app.travel.epoch == 9
        shown[(9, 4)] = screen.step
        await pilot.press("d")
        await wait_for(pilot, lambda: screen.step is not None and screen.step.finite_difference, what="checked")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, StepScreen), what="closed")
        await pilot.press("W")
        await wait_for(pilot, lambda: bool(sorted(tmp_path.glob("gdtui-*.toml"))), what="W's file")
    written = str(sorted(tmp_path.glob("gdtui-*.toml"))[0])
    capsys.readouterr()
    for (epoch, batch), step in shown.items():
        assert main(["explain", "--config", written, "--epoch", str(epoch), "--batch", str(batch), "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(step.record())), (epoch, batch)


async def test_e_at_the_start_says_there_is_no_step_yet():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        await wait_for(pilot, lambda: any("No step yet" in n.message for n in app._notifications), what="notice")


def test_a_large_models_replay_on_one_thread_is_checked_against_the_record_and_falls_back(monkeypatch):
    import torch

    from gdtui.engine import revisit as revisit_module

    cfg = config(preset="linear-manual", model="mlp", hidden=(40, 40), epochs=200)
    trainer = Trainer(cfg)
    trainer.run(200)
    threads = torch.get_num_threads()
    solo = Trainer(cfg)
    solo.run(150)
    seen = []
    checked = revisit_module._as_recorded

    def refused_once(replayed, run):  # as if one thread had changed a number: replayed again, as the run trained
        seen.append(checked(replayed, run))
        return len(seen) > 1

    monkeypatch.setattr(revisit_module, "_as_recorded", refused_once)
    assert drain(revisiting(trainer, 150))[1] == tuple(solo.predict().tolist())
    assert seen == [True] and torch.get_num_threads() == threads  # the first replay was the record's, bit for bit
