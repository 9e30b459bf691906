"""The TUI driven from the keyboard with Pilot: every binding and the state changes it causes."""

from __future__ import annotations

import csv
import io
import itertools
import math
import os

import pytest
import torch
from textual.widgets import TabbedContent
from torch import nn

from gdtui.tui.app import GdtuiApp
from gdtui.tui.widgets.hyperparams import HyperParams
from gdtui.tui.widgets.plots import LossCurve, PredictionPlot
from gdtui.tui.widgets.rmse_log import RmseLog
from gdtui.tui.widgets.status import StatusLine
from tests.tui_helpers import (
    config,
    field,
    log_texts,
    palette_pick,
    press_and_wait,
    ready,
    refreshed,
    run_to_done,
    wait_for,
)

# The fastai article's published log (seeds 000/001).
PUBLISHED = ["74.96194346966999", "36.43029986215973", "22.692756149058336"]
SIZE = (120, 36)


def rows(app) -> int:
    return app.query_one(RmseLog).rows


def article_epochs(lrs):
    """The fastai article's loop (seed 000), with the given lr at each epoch's update: for each epoch, the loss
    (the MSE whose square root the article prints) and the parameters after the update. Stops after the first
    epoch whose loss or parameters are not finite (a diverged run)."""
    torch.manual_seed(2021)
    time = torch.arange(0, 20).float()
    speed = torch.rand(20) * 5 + 0.8 * (time - 7.5) ** 2 + 1

    def function(t, params):
        a, b, c = params
        return a * (t**2) + (b * t) + c

    def mse(preds, targets):
        return ((preds - targets) ** 2).mean()

    torch.randn(3).requires_grad_()  # the notebook displayed this one and threw it away
    params = torch.randn(3).requires_grad_()
    epochs = []
    for lr in lrs:
        preds = function(time, params)
        loss = mse(preds, speed)
        loss.backward()
        params.data -= lr * params.grad.data
        params.grad = None
        epochs.append((loss.item(), params.tolist()))
        if not all(math.isfinite(v) for v in [loss.item(), *params.tolist()]):
            break
    return epochs


def article(lrs):
    """The fastai article's RMSE log, `(loss.item()) ** 0.5` each epoch."""
    return [loss**0.5 for loss, _ in article_epochs(lrs)]


def linear_module_epochs(epochs):
    """Seed 003's loop (the textbook one, zero_grad each epoch): for each epoch the L1 loss, the test loss, the
    RMSE of the training predictions and the parameters (weight, bias) after the update."""
    X = torch.arange(0, 1, 0.02).unsqueeze(dim=1)
    y = 0.7 * X + 0.3
    train_split = int(0.8 * len(X))
    xTrain, yTrain = X[:train_split], y[:train_split]
    xTest, yTest = X[train_split:], y[train_split:]
    torch.manual_seed(13)
    model = nn.Linear(in_features=1, out_features=1)
    lossfunction = nn.L1Loss()
    optimizer = torch.optim.SGD(params=model.parameters(), lr=0.1)
    log = []
    for _ in range(epochs):
        model.train()
        y_prediction = model(xTrain)
        loss = lossfunction(y_prediction, yTrain)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model.eval()
        with torch.inference_mode():
            test_loss = lossfunction(model(xTest), yTest)
        rmse = ((y_prediction.detach() - yTrain) ** 2).mean().item() ** 0.5
        log.append((loss.item(), test_loss.item(), rmse, [model.weight.item(), model.bias.item()]))
    return log


def row(epoch, rmse, loss, names, params, test_loss=None, diverged=False) -> str:
    """A log row as the log lays it out, written here on its own: the epoch in 7 columns, the RMSE's repr in
    22, the loss to 6 significant digits in 11, the test loss likewise (a run with a test split), "diverged"
    on the epoch that diverged, then name=value for every parameter to 6 significant digits."""
    test = "" if test_loss is None else f"{test_loss:<11.6g} "
    flag = "diverged " if diverged else ""
    values = " ".join(f"{name}={value:.6g}" for name, value in zip(names, params))
    return f"{epoch:<7} {rmse!r:<22} {loss:<11.6g} {test}{flag}{values}"


def article_rows(lrs) -> list[str]:
    """The fastai article's epochs as log rows (the last one flagged if the run diverged)."""
    epochs = article_epochs(lrs)
    diverged = not all(math.isfinite(v) for v in [epochs[-1][0], *epochs[-1][1]])
    return [
        row(n, loss**0.5, loss, "abc", params, diverged=diverged and n == len(epochs))
        for n, (loss, params) in enumerate(epochs, start=1)
    ]


def linear_module_rows(epochs) -> list[str]:
    return [
        row(n, rmse, loss, ("weight", "bias"), params, test_loss=test)
        for n, (loss, test, rmse, params) in enumerate(linear_module_epochs(epochs), start=1)
    ]


async def round_trip(pilot) -> None:
    """Double the lr with ] and wait for the session's answer: the session answers commands in order, so once
    the new lr is in effect, every reply to a command sent before ] has arrived and been handled. (The app's
    lr changes only on the session's answer.) Leaves the lr doubled."""
    app = pilot.app
    lr = app.config.lr
    await press_and_wait(pilot, "right_square_bracket", lambda: app.config.lr == 2 * lr, "the answer to ]")


async def after_frames(pilot, widget, frames: int = 2) -> None:
    """Wait until `widget` has handled the messages queued for it now, then `frames` screen refreshes more:
    anything it scheduled for after a refresh meanwhile (a follow, and the scroll_end that follow defers once
    more) has run by then."""
    done = []

    def mark(left: int) -> None:
        if left:
            widget.call_after_refresh(mark, left - 1)
        else:
            done.append(True)

    widget.call_later(mark, frames)
    await wait_for(pilot, lambda: done, what=f"{frames} refreshes of {widget}")


async def test_three_steps_print_the_article_log():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.state == "ready"
        for n in (1, 2, 3):
            await press_and_wait(pilot, "s", lambda n=n: rows(app) == n, f"epoch {n}")
        assert [text.split()[1] for text in log_texts(app)] == PUBLISHED
        assert app.state == "paused"
        assert app.query_one(PredictionPlot).preds is not None
        assert "paused" in str(app.query_one(StatusLine).render())


async def test_space_runs_to_done_with_every_epoch_logged():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await press_and_wait(pilot, "space", lambda: app.state == "done", "done")
        assert rows(app) == 10
        assert log_texts(app)[-1].split()[1] == repr(article([1e-5] * 10)[-1])
        assert len(app.query_one(LossCurve).rmse) == 10


async def test_pause_stops_at_the_next_epoch_boundary():
    app = GdtuiApp(config(epochs=1_000_000_000))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await press_and_wait(pilot, "space", lambda: app.state == "running", "running")
        await wait_for(pilot, lambda: rows(app) > 0, what="a first chunk")
        await press_and_wait(pilot, "space", lambda: app.state == "paused", "paused")
        paused_at = app.query_one(StatusLine).epoch
        assert paused_at > 0 and rows(app) == paused_at
        # a session still training after its "paused" would send epochs before its answer to ]
        await round_trip(pilot)
        assert app.state == "paused"
        assert app.query_one(StatusLine).epoch == paused_at
        assert rows(app) == paused_at
        assert log_texts(app)[-1].split()[0] == str(paused_at)


async def test_lr_typed_mid_run_applies_from_the_next_epoch():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        for n in (1, 2):
            await press_and_wait(pilot, "s", lambda n=n: rows(app) == n, f"epoch {n}")
        box = app.query_one("#f-lr")
        box.focus()
        box.value = "0.0001"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.config.lr == 1e-4, what="lr applied")
        await pilot.press("escape")
        for n in (3, 4):
            await press_and_wait(pilot, "s", lambda n=n: rows(app) == n, f"epoch {n}")
        logged = [float(text.split()[1]) for text in log_texts(app)]

    # lr 1e-4 from the third epoch's update on: the fourth epoch's RMSE is the first to show it.
    changed = article([1e-5, 1e-5, 1e-4, 1e-4])
    unchanged = article([1e-5] * 4)
    assert logged == changed
    assert logged[3] != unchanged[3]


async def test_lr_keys_double_and_halve():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await press_and_wait(pilot, "right_square_bracket", lambda: app.config.lr == 2e-5, "lr doubled")
        await press_and_wait(pilot, "left_square_bracket", lambda: app.config.lr == 1e-5, "lr halved")
        assert app.query_one("#f-lr").value == "1e-05"


async def test_lr_keys_change_the_updates_from_the_next_epoch():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        for n, key, lr in (
            (1, None, 1e-5),
            (2, "right_square_bracket", 2e-5),
            (3, "left_square_bracket", 1e-5),
            (4, None, 1e-5),
        ):
            if key:
                await press_and_wait(pilot, key, lambda lr=lr: app.config.lr == lr, f"lr {lr}")
            await press_and_wait(pilot, "s", lambda n=n: rows(app) == n, f"epoch {n}")
        await press_and_wait(pilot, "s", lambda: rows(app) == 5, "epoch 5")
        logged = [float(text.split()[1]) for text in log_texts(app)]
    # updates: epoch 1 with 1e-5, epoch 2 with 2e-5 (after ]), then 1e-5 again (after [)
    assert logged == article([1e-5, 2e-5, 1e-5, 1e-5, 1e-5])
    assert logged != article([1e-5] * 5)


@pytest.mark.parametrize("bad", ["abc", "0", "-1", "nan", "inf", "1e400", ""])
async def test_invalid_lr_is_refused_with_its_reason(bad):
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        box = app.query_one("#f-lr")
        box.focus()
        box.value = bad
        await pilot.press("enter")
        await wait_for(pilot, lambda: "lr:" in str(app.query_one("#field-error").render()), what="the reason")
        assert box.has_class("-invalid")
        await pilot.press("escape")
        # Had the value been sent, the session's answer (a refusal, or a new lr) would come before its answer
        # to ]; ] doubles the lr in effect, which must still be the preset's.
        await round_trip(pilot)
        assert app.config.lr == 2e-5
        assert not any(n.title == "not applied" for n in app._notifications)


async def test_lr_one_diverges_and_r_recovers():
    app = GdtuiApp(config(lr=1.0, epochs=100))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await press_and_wait(pilot, "space", lambda: app.state == "diverged", "diverged")
        status = str(app.query_one(StatusLine).render())
        epoch = app.query_one(StatusLine).epoch
        assert f"diverged at epoch {epoch}" in status and "smaller lr" in status
        preds = app.query_one(PredictionPlot).preds
        assert preds is not None and all(abs(p) < float("inf") for p in preds)
        await press_and_wait(pilot, "r", lambda: app.state == "ready", "reset")
        assert rows(app) == 0
        await press_and_wait(pilot, "s", lambda: rows(app) == 1, "a step after reset")
        assert PUBLISHED[0] in log_texts(app)[0]


async def test_quit_mid_run_leaves_no_process_behind():
    app = GdtuiApp(config(epochs=1_000_000_000))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await press_and_wait(pilot, "space", lambda: app.state == "running", "running")
        process = app.session.process
        await pilot.press("q")
        assert app.return_code == 0  # q itself quit (leaving run_test would close the app anyway)
    assert process.poll() is not None
    assert app.session.process is None


async def test_help_lists_every_key_and_closes():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: app.screen.query("#help-text"), what="the help screen")
        from rich.console import Console

        console = Console(width=72, record=True, file=io.StringIO())
        console.print(app.screen.query_one("#help-text").content)
        text = console.export_text()
        listed = {line.split("  ")[0].strip() for line in text.splitlines() if line.strip()}
        assert {
            "s",
            "space",
            "r",
            "]",
            "[",
            "l",
            "w",
            "p",
            "?",
            "q",
            "ctrl+q",
            "ctrl+c",
            "tab / shift+tab",
            "enter",
            "escape",
            "ctrl+p",
            "t",
        } <= listed
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.screen.query("#help-text"), what="the help screen to close")
        assert not app.screen.query("#help-text")


async def test_footer_shows_every_key_at_80_columns():
    app = GdtuiApp(config())
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await wait_for(
            pilot,
            lambda: (
                {k.action for k in app.query("FooterKey")} >= {b.action for b in app.BINDINGS if b.show}
                and all(k.region.width for k in app.query("FooterKey"))
            ),
            what="the footer to lay out its keys",
        )
        await refreshed(pilot)
        footer_keys = list(app.query("FooterKey"))
        palette = next(k for k in footer_keys if k.has_class("-command-palette"))
        keys = [k for k in footer_keys if k is not palette]
        assert {k.action for k in keys} == {b.action for b in app.BINDINGS if b.show}
        assert all(0 <= k.region.x and k.region.right <= palette.region.x for k in keys)


async def test_p_hides_the_hyperparameters_to_give_the_log_room():
    app = GdtuiApp(config(preset="linear-module", epochs=3))
    async with app.run_test(size=(80, 24)) as pilot:
        await run_to_done(pilot)
        log = app.query_one(RmseLog)
        narrow = log.outer_size.width
        app.query_one("#f-lr").focus()
        await pilot.press("escape", "p")
        await wait_for(
            pilot, lambda: not app.params.display and log.outer_size.width != narrow, what="the log to widen"
        )
        await refreshed(pilot)
        assert not app.params.display and log.outer_size.width == 80 > narrow
        assert all("bias=" in line for line in _shown(log)[1:4])  # more of each row in view, unscrolled
        await pilot.press("p")
        await wait_for(pilot, lambda: app.params.display and log.outer_size.width != 80, what="the log to narrow")
        await refreshed(pilot)
        assert app.params.display and log.outer_size.width == narrow


async def test_help_scrolls_to_its_last_line_in_a_short_terminal():
    app = GdtuiApp(config())
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        await wait_for(
            pilot,
            lambda: app.screen.query("#help-box") and app.screen.query_one("#help-box").region.height,
            what="the help box laid out",
        )
        await refreshed(pilot)
        box = app.screen.query_one("#help-box")
        assert box.max_scroll_y > 0 and box.scroll_y == 0  # 24 rows cannot hold every key
        await pilot.press("end")
        await wait_for(pilot, lambda: box.scroll_y == box.max_scroll_y, what="the help box scrolled to its end")
        assert box.scroll_y == box.max_scroll_y
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.screen.query("#help-box"), what="the help screen to close")
        assert not app.screen.query("#help-box")


async def test_l_toggles_the_log_scale_loss_curve():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        for n in (1, 2, 3):
            await press_and_wait(pilot, "s", lambda n=n: rows(app) == n, f"epoch {n}")
        await pilot.press("l")
        await pilot.pause()
        curve = app.query_one(LossCurve)
        assert curve.log_scale
        assert app.query_one("#plots").active == "tab-curve"
        await wait_for(
            pilot,
            lambda: any("RMSE over epochs (log scale)" in line for line in _drawn(curve)),
            what="a log-scale frame",
        )
        drawn = _drawn(curve)
        # the axis is labelled in RMSE (its ends are the first and the last epoch's), not in log10 of it
        axis = [line.split("┤")[0].strip() for line in drawn if "┤" in line]
        assert axis[0] == f"{float(PUBLISHED[0]):.3g}" and axis[-1] == f"{float(PUBLISHED[2]):.3g}"
        await pilot.press("l")
        assert not curve.log_scale


async def test_log_keeps_the_newest_row_in_view_when_the_terminal_shrinks():
    app = GdtuiApp(config(epochs=100, preset="linear-manual"))
    async with app.run_test(size=SIZE) as pilot:
        await run_to_done(pilot)
        log = app.query_one(RmseLog)
        assert log.scroll_y == log.max_scroll_y > 0
        before = log.size
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: log.size != before, what="the log resized")
        await after_frames(pilot, log)
        assert _shown(log)[-1].split()[0] == "100"  # the follow has run by now (the same wait as below)
        log.scroll_to(y=0, animate=False)  # scrolled up by the user: a resize leaves it there
        await wait_for(pilot, lambda: log.scroll_y == 0, what="scrolled to the top")
        before = log.size
        await pilot.resize_terminal(100, 30)
        await wait_for(pilot, lambda: log.size != before, what="the log resized again")
        await after_frames(pilot, log)
        assert log.scroll_y == 0 < log.max_scroll_y


def test_epoch_ticks_are_whole_round_epochs():
    from gdtui.tui.widgets.plots import epoch_ticks

    assert epoch_ticks(3) == ([1, 2, 3], ["1", "2", "3"])
    assert epoch_ticks(100) == ([20, 40, 60, 80, 100], ["20", "40", "60", "80", "100"])
    assert epoch_ticks(20000) == ([5000, 10000, 15000, 20000], ["5000", "10k", "15k", "20k"])
    assert epoch_ticks(1_500_000) == ([500_000, 1_000_000, 1_500_000], ["500k", "1M", "1.5M"])


def test_log_ticks_label_the_values_not_their_logarithms():
    from math import log10

    from gdtui.tui.widgets.plots import log_ticks

    ticks, labels = log_ticks(log10(18.0), log10(75.0))
    assert labels[0] == "18" and labels[-1] == "75" and len(labels) == 5
    assert all(a < b for a, b in itertools.pairwise(ticks))
    assert log_ticks(-10.0, 14.0) == ([-10.0, -4.0, 2.0, 8.0, 14.0], ["1e-10", "0.0001", "100", "1e8", "1e14"])
    assert log_ticks(1.0, 1.0) == ([1.0], ["10"])
    labels = log_ticks(log10(18.03), log10(18.04))[1]  # a curve that barely moves: labels still differ
    assert len(set(labels)) == 5 and labels[0] == "18.03" and labels[-1] == "18.04"


async def test_preset_change_resets_with_a_notice():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await press_and_wait(pilot, "s", lambda: rows(app) == 1, "epoch 1")
        app.query_one(HyperParams).query_one("#f-preset").value = "linear-manual"
        await wait_for(pilot, lambda: app.config.preset == "linear-manual", what="new preset")
        assert rows(app) == 0
        assert any("restarts" in n.message for n in app._notifications)
        await press_and_wait(pilot, "space", lambda: app.state == "done", "done")
        assert rows(app) == 100


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has cuda")
async def test_unavailable_device_at_start_runs_the_same_settings_on_the_cpu():
    app = GdtuiApp(config(device="cuda", lr=2e-5))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await wait_for(
            pilot,
            lambda: any("cuda" in n.message and "not available" in n.message for n in app._notifications),
            what="a notice naming the device",
        )
        assert app.config == config(device="cpu", lr=2e-5)  # the user's lr is kept
        await press_and_wait(pilot, "s", lambda: rows(app) == 1, "epoch 1")
        await press_and_wait(pilot, "s", lambda: rows(app) == 2, "epoch 2")
        assert [float(text.split()[1]) for text in log_texts(app)] == article([2e-5, 2e-5])


async def test_unavailable_device_keeps_the_current_one():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        box = app.query_one("#f-device")
        box.focus()
        box.value = "cuda:3"
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("cuda:3" in n.message for n in app._notifications), what="notice")
        assert app.config.device == "cpu"
        assert app.query_one("#f-device").value == "cpu"
        await pilot.press("escape")
        await press_and_wait(pilot, "s", lambda: rows(app) == 1, "a step still works")
        assert PUBLISHED[0] in log_texts(app)[0]


async def test_write_history_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await press_and_wait(pilot, "space", lambda: app.state == "done", "done")
        await pilot.press("w")
        await wait_for(pilot, lambda: list(tmp_path.glob("gdtui-fastai-quadratic-*.csv")), what="export")
    with open(next(tmp_path.glob("gdtui-fastai-quadratic-*.csv")), newline="") as handle:
        rows_ = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows_] == list(range(1, 11))
    assert [float(r["rmse"]) for r in rows_] == article([1e-5] * 10)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


@pytest.mark.parametrize("size", [(50, 15), (40, 12)])
async def test_too_small_terminal_shows_a_notice(size):
    app = GdtuiApp(config())
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        assert app.screen.has_class("too-small")
        await pilot.resize_terminal(120, 36)
        await pilot.pause()
        assert not app.screen.has_class("too-small")


async def test_run_flag_starts_training_at_once():
    app = GdtuiApp(config(), start=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.state == "done", what="done")
        assert rows(app) == 10


async def test_command_palette_offers_presets_and_actions():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        await palette_pick(pilot, "Preset: linear-manual")
        await wait_for(pilot, lambda: app.config.preset == "linear-manual", what="preset from the palette")
        await pilot.press("ctrl+p")
        await palette_pick(pilot, "Step one epoch")
        await wait_for(pilot, lambda: rows(app) == 1, what="a step from the palette")


async def test_command_palette_has_every_key_s_action():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        offered = {command.help for command in app.get_system_commands(app.screen)}
        keys = {
            b.key_display or b.key for b in app.BINDINGS if b.action not in ("quit", "leave_field")
        }  # quit and escape: Textual's own
        assert keys <= offered, keys - offered
        await pilot.press("ctrl+p")
        await palette_pick(pilot, "Double the learning rate")
        await wait_for(pilot, lambda: app.config.lr == 2e-5, what="lr doubled from the palette")


async def test_escape_leaves_a_dropdown_so_space_runs_again():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        select = await field(pilot, "optimizer")
        for opened in (False, True):  # a closed list, then an open one
            select.focus()
            await pilot.pause()
            if opened:
                await pilot.press("enter")
                await wait_for(pilot, lambda: select.expanded, what="the list open")
            await pilot.press("escape")
            await pilot.pause()
            assert app.focused is app.log_view and not select.expanded
        await press_and_wait(pilot, "space", lambda: app.state in ("running", "done"), "space runs")
        assert not select.expanded and app.config.optimizer == "gd"


async def test_a_refused_change_says_only_that_it_was_refused():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await press_and_wait(pilot, "s", lambda: rows(app) == 1, "epoch 1")
        box = await field(pilot, "data")
        box.value = "/nonexistent/data.csv"
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(n.title == "not applied" for n in app._notifications), what="refusal")
        await pilot.press("escape")
        await round_trip(pilot)  # every answer to the change has arrived
        assert not any("restarts" in n.message for n in app._notifications)
        assert rows(app) == 1 and app.config.data == "article"
        await press_and_wait(pilot, "s", lambda: rows(app) == 2, "the run goes on")


async def test_leaving_a_field_with_an_invalid_value_shows_the_value_in_effect():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        box = await field(pilot, "lr")
        box.value = "0"
        await pilot.press("escape")
        await wait_for(pilot, lambda: box.value == "1e-05", what="the value in effect shown again")
        assert "not applied" in str(app.query_one("#field-error").render())
        await round_trip(pilot)  # the lr in effect, as the session has it, is still the preset's
        assert app.config.lr == 2e-5
        assert not any(n.title == "not applied" for n in app._notifications)


async def test_s_after_divergence_says_what_to_do():
    app = GdtuiApp(config(lr=1.0, epochs=100))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await press_and_wait(pilot, "space", lambda: app.state == "diverged", "diverged")
        assert not any("diverged" in n.message for n in app._notifications)
        await pilot.press("s")
        await wait_for(pilot, lambda: any("diverged" in n.message for n in app._notifications), what="notice")


async def test_t_cycles_through_the_plots_the_landscape_and_the_theory():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        tabs = app.query_one(TabbedContent)
        assert tabs.active == "tab-preds"
        await pilot.press("t")
        assert tabs.active == "tab-curve"
        await pilot.press("t")
        assert tabs.active == "tab-land"
        await pilot.press("t")
        assert tabs.active == "tab-theory"
        await pilot.press("t")
        assert tabs.active == "tab-preds"


async def test_escape_still_closes_help_and_the_palette():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        for key in ("question_mark", "ctrl+p"):
            await pilot.press(key)
            await wait_for(pilot, lambda: app.screen is not app.screen_stack[0], what=f"{key} opens")
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is app.screen_stack[0], what=f"escape closes {key}")


async def test_queued_steps_stop_at_the_epoch_budget():
    app = GdtuiApp(config(epochs=2))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        for _ in range(5):  # sent before the first reply: the app cannot know yet
            app.action_step()
        await wait_for(pilot, lambda: app.state == "done", what="done")
        await round_trip(pilot)  # the session has answered all five steps
        assert rows(app) == 2 and app.query_one(StatusLine).epoch == 2 and app.state == "done"


async def test_page_keys_move_the_log_by_the_rows_in_view():
    app = GdtuiApp(config(preset="linear-manual"))
    async with app.run_test(size=(80, 24)) as pilot:
        await run_to_done(pilot)
        log = app.query_one(RmseLog)
        log.focus()
        await pilot.press("home")
        await pilot.pause()
        seen = []
        while True:
            seen += [int(line.split()[0]) for line in _shown(log)[1:] if line]
            if log.scroll_y >= log.max_scroll_y:
                break
            await pilot.press("pagedown")
            await pilot.pause()
        assert sorted(set(seen)) == list(range(1, 101))  # no row skipped


async def test_step_at_the_epoch_budget_is_refused_with_a_notice():
    app = GdtuiApp(config(epochs=2))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await press_and_wait(pilot, "space", lambda: app.state == "done", "done")
        await pilot.press("s")
        await wait_for(pilot, lambda: any("budget" in n.message for n in app._notifications), what="notice")
        await round_trip(pilot)  # a step sent anyway would have been answered by now
        assert rows(app) == 2 and app.query_one(StatusLine).epoch == 2 and app.state == "done"


async def test_write_twice_in_a_second_keeps_both_files(tmp_path, monkeypatch):
    from datetime import datetime

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 1, 2, 3, 4, 5)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("gdtui.tui.files.datetime", Frozen)
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("w")  # epoch 0: nothing to write
        await wait_for(pilot, lambda: any("nothing to write" in n.message for n in app._notifications), what="notice")
        await press_and_wait(pilot, "s", lambda: rows(app) == 1, "epoch 1")
        await pilot.press("w")
        await press_and_wait(pilot, "s", lambda: rows(app) == 2, "epoch 2")
        await pilot.press("w")
        await wait_for(pilot, lambda: len(list(tmp_path.glob("gdtui-*.csv"))) == 2, what="two files")
        await wait_for(pilot, lambda: any("1 epoch written" in n.message for n in app._notifications), what="notice")
    lengths = sorted(len(path.read_text().splitlines()) for path in tmp_path.glob("gdtui-*.csv"))
    assert lengths == [2, 3]  # a header and one row, a header and two


async def test_log_follows_the_newest_row_and_keeps_a_bounded_tail():
    from gdtui.tui.widgets.rmse_log import TAIL

    app = GdtuiApp(config(epochs=TAIL + 500))
    async with app.run_test(size=SIZE) as pilot:
        await run_to_done(pilot)
        log = app.query_one(RmseLog)
        assert log.rows == TAIL + 500
        assert len(log.lines) == TAIL
        assert log.lines[-1].split()[0] == str(TAIL + 500)
        assert log.scroll_y == log.max_scroll_y > 0


@pytest.mark.parametrize(
    "overrides, expected, diverges",
    [
        ({}, lambda: article_rows([1e-5] * 300), False),
        ({"lr": 1.0}, lambda: article_rows([1.0] * 300), True),  # the last row says so
        ({"preset": "linear-module"}, lambda: linear_module_rows(300), False),  # with its test-loss column
    ],
)
def test_log_rows_are_the_reference_loops_epochs(overrides, expected, diverges):
    from gdtui.engine.trainer import Trainer

    trainer = Trainer(config(**{"epochs": 1000, **overrides}))
    chunk = trainer.run_chunk(300)
    log = RmseLog()
    log.add_chunk(chunk)
    texts = expected()
    assert log.lines == texts and log.rows == len(texts)
    assert (len(texts) < 300 and " diverged " in texts[-1]) == diverges
    assert not any("diverged" in text for text in texts[:-1])


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"preset": "linear-module"},
        {"lr": 1.0},
        {"data": "sine", "test_fraction": 0.25, "model": "poly", "degree": 5},
    ],
)
def test_log_width_holds_every_row(overrides):
    from gdtui.engine.trainer import Trainer
    from gdtui.tui.widgets.rmse_log import width_bound

    trainer = Trainer(config(**{"epochs": 1000, **overrides}))
    chunk = trainer.run_chunk(300)
    log = RmseLog()
    log.add_chunk(chunk)
    widest = max(map(len, log.lines))
    assert widest <= width_bound(chunk) <= widest + 12


def _drawn(widget) -> list[str]:
    """A widget's lines as they are drawn now."""
    return ["".join(segment.text for segment in widget.render_line(y)) for y in range(widget.size.height)]


def _shown(log) -> list[str]:
    """The log's lines as drawn, top to bottom, trailing blanks dropped."""
    return [
        "".join(segment.text for segment in log.render_line(y)).rstrip()
        for y in range(log.scrollable_content_region.height)
    ]


async def test_log_rows_fit_at_120_columns_without_a_test_column():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await run_to_done(pilot)
        log = app.query_one(RmseLog)
        shown = _shown(log)
        assert shown[0].split() == ["epoch", "RMSE", "loss", "parameters"]
        assert shown[1:11] == article_rows([1e-5] * 10)  # every row whole, the last parameter included
        assert log.lines[-1].split()[-1].startswith("c=") and log.max_scroll_x == 0


async def test_log_header_names_the_test_loss_and_scrolls_sideways_with_the_rows():
    app = GdtuiApp(config(preset="linear-module", epochs=5))
    async with app.run_test(size=(80, 24)) as pilot:
        await run_to_done(pilot)
        log = app.query_one(RmseLog)
        assert log.header.split() == ["epoch", "RMSE", "loss", "test", "loss", "parameters"]
        assert _shown(log)[0] == log.header[: log.scrollable_content_region.width].rstrip()
        assert log.max_scroll_x > 0  # 80 columns cannot hold the parameters
        log.scroll_to(x=log.max_scroll_x, animate=False)
        await wait_for(pilot, lambda: log.scroll_x == log.max_scroll_x, what="the log scrolled sideways")
        await after_frames(pilot, log)
        width, x = log.scrollable_content_region.width, log.scroll_x
        shown = _shown(log)
        assert shown[0] == log.header[x : x + width].rstrip()
        rows_shown = len(shown) - 1  # the log's rows below the plots (8 rows of canvas at 80x24): it follows
        assert (
            rows_shown >= 4
            and shown[1:] == [text[x : x + width].rstrip() for text in linear_module_rows(5)][-rows_shown:]
        )
        assert "bias=" in shown[-1]


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
async def test_off_scale_predictions_are_counted_in_a_title_that_fits(size):
    app = GdtuiApp(config(lr=1.0, epochs=3))
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        for n in (1, 2):  # the second epoch's predictions are far beyond the article's y-limits
            await press_and_wait(pilot, "s", lambda n=n: rows(app) == n, f"epoch {n}")
        plot = app.query_one(PredictionPlot)
        await wait_for(
            pilot,
            lambda: any(
                f"{len(plot.x)} predictions off-scale" in line or f"{len(plot.x)} off-scale" in line
                for line in _drawn(plot)
            ),
            what="the off-scale count in the title",
        )


def _cells(strips):
    return [list(strip) for strip in strips]


@pytest.mark.parametrize("size", [(120, 36), (80, 24), (200, 60)])
async def test_plot_frames_are_the_strips_textual_makes_of_the_plotext_text(size):
    from textual.visual import Visual, visualize

    app = GdtuiApp(config(lr=1.0, epochs=3))
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        for n in (1, 2):  # the second epoch's predictions are off-scale: markers change, title grows
            await press_and_wait(pilot, "s", lambda n=n: rows(app) == n, f"epoch {n}")
            for tab, widget in (("tab-preds", app.query_one(PredictionPlot)), ("tab-curve", app.query_one(LossCurve))):
                app.query_one(TabbedContent).active = tab
                await pilot.pause()
                widget.replot()
                width, height = widget.size
                assert width > 20 and height > 5
                textual_strips = Visual.to_strips(
                    widget, visualize(widget, widget.render()), width, height, widget.visual_style
                )
                assert _cells(widget.frame()) == _cells(textual_strips)
