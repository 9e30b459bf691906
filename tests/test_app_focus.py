"""Every report names its lane, and the app credits it to that lane whatever it has focused meanwhile.

Two interleavings are forced, not raced: the session's replies held back in the pipe while the focus moves
(every key composed before any reply is read), and a focus storm while the race runs (each key pressed once
new epochs have arrived since the last). Either way each lane's loss curve holds exactly its epochs, each the
RMSE its solo run prints, and the log, the curve and the status line show the lane last focused.
"""

from __future__ import annotations

from gdtui.engine import resolve
from gdtui.engine.trainer import Trainer
from gdtui.tui.app import GdtuiApp
from tests.test_audit_app import caught_up, hold_replies, release_replies
from tests.tui_helpers import ready, wait_for

SIZE = (120, 36)
BASE = {"preset": "fastai-quadratic", "epochs": 1_000_000_000}
LANES = [{}, {"lr": 2e-5}, {"optimizer": "adam", "lr": 0.05}]


def race_app() -> GdtuiApp:
    configs = [resolve(**BASE, **lane) for lane in LANES]
    return GdtuiApp(configs[0], start=True, lanes=configs[1:])


def solo_rmse(lane: dict, epochs: int) -> list[float]:
    trainer = Trainer(resolve(**BASE, **lane))
    trainer.run(epochs)
    return list(trainer.history.rmse)


def epochs_so_far(app) -> int:
    return sum(lane.epoch for lane in app.race.lanes.lanes)


async def settle(pilot) -> None:
    """Pause the race and wait until the session has obeyed every command and its replies are all read."""
    app = pilot.app
    await pilot.press("space")
    await wait_for(pilot, lambda: caught_up(app) and app.state == "paused", what="paused, every command obeyed")


def assert_each_lane_is_its_own(app, focused_number: int) -> None:
    lanes = app.race.lanes.lanes
    assert len(lanes) == len(LANES)
    epoch = lanes[0].epoch
    assert epoch > 0 and all(lane.epoch == epoch for lane in lanes)  # lockstep, paused at one epoch
    for lane, settings in zip(lanes, LANES):
        assert len(lane.series) == lane.epoch, (lane.number, len(lane.series), lane.epoch)
        assert list(lane.series) == solo_rmse(settings, epoch)
    focused = app.race.lanes.get(app.race.focus)
    assert focused.number == focused_number
    assert app.status.epoch == epoch
    lines = app.log_view.lines
    first = int(lines[0].split()[0])
    # the log holds the focused lane's epochs, each once and in order, up to the last, each with its RMSE
    assert [int(line.split()[0]) for line in lines] == list(range(first, epoch + 1))
    assert [float(line.split()[1]) for line in lines] == list(focused.series[first - 1 :])
    assert app.config == focused.config


async def test_replies_held_back_while_the_focus_moves_are_credited_to_their_lanes():
    app = race_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: len(app.race.lanes) == 3 and epochs_so_far(app) > 0, what="the race runs")
        hold_replies(app)
        await pilot.press("2", "1", "2", "3", "2")  # composed on the focus asked for: 1 -> 2 is not skipped
        await wait_for(pilot, lambda: app.session.conn.poll(), what="replies waiting in the pipe")
        assert app.asked.focus == app.race.lanes.lanes[1].id
        release_replies(app)
        await settle(pilot)
        assert_each_lane_is_its_own(app, 2)


async def test_a_focus_storm_while_running_leaves_every_curve_its_own_epochs():
    app = race_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: len(app.race.lanes) == 3 and epochs_so_far(app) > 0, what="the race runs")
        keys = "2121312132"
        for key in keys:
            before = epochs_so_far(app)
            await pilot.press(key)
            await wait_for(pilot, lambda b=before: epochs_so_far(app) > b, what="new epochs after the key")
        await settle(pilot)
        assert_each_lane_is_its_own(app, int(keys[-1]))
        await wait_for(pilot, lambda: app.curve.rmse is app.race.lanes.get(app.race.focus).series, what="a frame")
