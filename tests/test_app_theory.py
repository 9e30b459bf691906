"""The Theory view (issue 29): the focused lane's theory beside its run, B and M applying the best lr and pair,
the prediction on the loss curve, and the lanes it does not apply to. The numbers themselves are tested against
numpy and literal loops in tests/test_theory.py; here, that the view shows the engine's and follows the lane.
"""

from __future__ import annotations

import math

from gdtui.engine.theory import best_lr, best_pair, problem
from gdtui.engine.trainer import Trainer
from gdtui.tui.app import GdtuiApp
from tests.test_audit_app import caught_up
from tests.tui_helpers import config, drawn, ready, wait_for

SIZE = (120, 36)


async def test_the_theory_view_follows_the_focused_lane_and_applies_the_best_settings():
    cfg = config(epochs=40)
    p = problem(Trainer(cfg))
    app = GdtuiApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("t", "t", "t")  # predictions, loss curve, landscape, theory
        assert app.tabs.active == "tab-theory"
        await wait_for(pilot, lambda: app.theory.known is not None and app.theory.known.why is None, what="theory")
        text = str(app.query_one("#theory-text").render())
        assert "κ 218,451" in text and "0.98·c − 0.20·b" in text and "(slowest)" in text
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "done" and caught_up(app), what="done")
        await drawn(pilot)
        assert app.theory.disagree is None and app.curve.predicted  # float32 within its tolerance of the theory
        await pilot.press("B")  # the exact best lr: a live change, and the theory follows it
        await wait_for(pilot, lambda: app.config.lr == best_lr(p), what="the best lr")
        await wait_for(pilot, lambda: app.theory.known is not None and "at lr 3.5398" in app.theory.known.lines[4])
        await drawn(pilot)  # the focused lane's dot on the rate map moved with its lr
        assert (best_lr(p), 0.0) in [(lr, beta) for lr, beta, _, focused in app.theory.rate_map.lanes if focused]
        assert list(app.theory.rate_map.eigenvalues) == p.positive.tolist()
        await pilot.press("M")  # the best pair: gd becomes sgd with that momentum
        lr, beta = best_pair(p)
        await wait_for(
            pilot,
            lambda: app.config.optimizer == "sgd" and app.config.lr == lr and app.config.momentum == beta,
            what="the best pair",
        )
        await pilot.press("a", "down")  # another lane, then adam on it: the theory says why it does not apply
        await wait_for(pilot, lambda: len(app.race.lanes) == 2 and caught_up(app), what="a lane")
        app.apply("optimizer", "adam")
        await wait_for(pilot, lambda: app.theory.known is not None and app.theory.known.why is not None, what="why")
        assert "adam" in str(app.query_one("#theory-text").render())
        assert app.curve.predicted == []
        await pilot.pause()
        # nothing is waited for: the milestones and the rate map stay empty, not "waiting for the theory"
        assert "waiting" not in app.theory.plot.draw(60, 12) and "waiting" not in str(app.theory.rate_map.render())


async def test_the_prediction_on_the_loss_curve_is_the_runs_own_within_float64s_tolerance():
    cfg = config(epochs=30, dtype="float64", optimizer="sgd", momentum=0.9)
    app = GdtuiApp(cfg)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.tabs.active = "tab-theory"
        await wait_for(pilot, lambda: app.theory.known is not None, what="theory")
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "done" and caught_up(app), what="done")
        lane = app.race.lanes.get(app.race.focus)
        assert lane is not None and app.theory.known is not None
        for epoch, rmse in zip(app.theory.known.epochs, app.theory.known.rmse):
            assert math.isclose(rmse, lane.series[epoch - 1], rel_tol=1e-9), epoch


async def test_the_status_line_says_where_the_run_left_the_prediction():
    from gdtui.engine import protocol as p

    app = GdtuiApp(config(epochs=12))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.tabs.active = "tab-theory"
        await wait_for(pilot, lambda: app.theory.known is not None, what="theory")
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "done" and caught_up(app), what="done")
        assert app.status.theory_off is None  # float32 holds within its tolerance
        known = app.theory.known
        assert known is not None
        off = tuple(r * (1.01 if e >= 5 else 1.0) for e, r in zip(known.epochs, known.rmse))  # a prediction 1% off
        app.route(p.TheoryKnown(**{**known.__dict__, "rmse": off}))
        await drawn(pilot)
        assert app.status.theory_off == 5 and "the run left the theory at epoch 5" in str(app.status.render())
        app.tabs.active = "tab-preds"  # the view hidden: no claim
        await wait_for(pilot, lambda: app.status.theory_off is None, what="no claim")
