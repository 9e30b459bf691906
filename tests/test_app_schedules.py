"""A scheduled run driven through the TUI with Pilot (issue 30): `gdtui --schedule SPEC`, the pane's schedule row
typed into (a new spec, a cleared one, a bad one, one the optimizer refuses) and `]` scaling a schedule's base lr,
each epoch's lr and RMSE checked against the loop a learner writes, torch.optim.SGD with torch's StepLR, on
linear-manual's data (x = 1, 2, 3, 4; y = 2x; w = b = 0)."""

from __future__ import annotations

import re

import pytest
import torch
from click.testing import CliRunner
from torch.optim import lr_scheduler

from gdtui.cli import main
from gdtui.cli.root import cli
from gdtui.engine.config import CHECKS, ConfigError
from gdtui.engine.schedules import check_schedule, spec
from gdtui.tui.app import GdtuiApp
from gdtui.tui.widgets.rmse_log import RmseLog
from gdtui.tui.widgets.status import StatusLine
from tests.tui_helpers import config, field, log_texts, press_and_wait, ready, stub_tui, wait_for

SIZE = (120, 36)
STEP = "step:step_size=2,gamma=0.5"
EPOCHS = 8


def reference(epochs: int = EPOCHS, scheduled: bool = True, double_at: int | None = None, lr: float = 0.01):
    """linear-manual with torch's SGD and StepLR(step_size=2, gamma=0.5) stepped after each epoch; at epoch
    `double_at` the schedule's base lr doubles (its base lrs and the lr it has reached). Returns (rmse, lrs)."""
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    y = 2 * x
    w = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([w, b], lr=lr)
    scheduler = lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5) if scheduled else None
    rmse, lrs = [], []
    for epoch in range(epochs):
        if epoch == double_at and scheduler is not None:
            for group in optimizer.param_groups:
                group["lr"] *= 2
                group["initial_lr"] *= 2
            scheduler.base_lrs = [base * 2 for base in scheduler.base_lrs]
        lrs.append(optimizer.param_groups[0]["lr"])
        loss = ((w * x + b - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        rmse.append(loss.item() ** 0.5)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return rmse, lrs


def logged(app) -> tuple[list[float], list[float]]:
    """The RMSE log's rows: their RMSE as printed, and the lr of each epoch the rows hold (as the session
    reported it; the TUI prints the last one in the status line)."""
    log = app.query_one(RmseLog)
    rmse = [float(text.split()[1]) for text in log_texts(app)]
    lrs = [chunk.result(i).lr for chunk, i in log._rows]
    return rmse, lrs


def status_lr(app) -> float:
    """The lr the status line shows ("lr 0.005 < 2/λmax ...")."""
    found = re.search(r"\blr ([^ <>]+)", str(app.query_one(StatusLine).render()))
    assert found is not None
    return float(found.group(1))


async def step_to(pilot, epoch: int) -> None:
    """Step (s) one epoch at a time up to `epoch`, each answered before the next."""
    log = pilot.app.query_one(RmseLog)
    while log.rows < epoch:
        rows = log.rows
        await press_and_wait(pilot, "s", lambda rows=rows: log.rows == rows + 1, f"epoch {rows + 1}")


async def type_in(pilot, name: str, text: str) -> None:
    """Focus the field, type `text` over its value (focus selects it) and press enter."""
    await field(pilot, name)
    await pilot.press(*(text or ["backspace"]))
    await pilot.press("enter")


async def round_trip(pilot) -> None:
    """Double the lr with ] and wait for the answer: every reply to what was sent before it has arrived."""
    app = pilot.app
    lr = app.config.lr
    await press_and_wait(pilot, "right_square_bracket", lambda: app.config.lr == 2 * lr, "the answer to ]")


def test_the_pane_shows_a_schedule_as_its_spec_read_back_exactly():
    for text in (STEP, "step:step_size=3,gamma=0.123456789", "linear-warmup:start_factor=0.1,total_iters=5+cosine"):
        schedule = check_schedule(text)
        assert spec(schedule) == text and check_schedule(spec(schedule)) == schedule


async def test_gdtui_schedule_shows_each_epochs_lr_as_torchs_step_lr(monkeypatch):
    spawned = stub_tui(monkeypatch)
    argv = ["--preset", "linear-manual", "--optimizer", "sgd", "--epochs", str(EPOCHS), "--schedule", STEP]
    assert main([*argv, "--no-journal"]) == 0
    start = spawned["config"]
    assert start == config(preset="linear-manual", optimizer="sgd", epochs=EPOCHS, schedule=STEP)
    rmse, lrs = reference()
    assert lrs == [0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025, 0.00125, 0.00125]
    app = GdtuiApp(start)
    async with app.run_test(size=SIZE) as pilot:
        box = await field(pilot, "schedule")
        assert box.value == STEP and box.placeholder == "none (constant lr)"
        await pilot.press("escape")
        for epoch in range(1, EPOCHS + 1):
            await step_to(pilot, epoch)
            assert logged(app) == (rmse[:epoch], lrs[:epoch])
            assert status_lr(app) == lrs[epoch - 1]  # the last epoch's, not the config's base lr
        assert app.config.lr == 0.01 and app.state == "done"


async def test_a_schedule_typed_mid_run_starts_a_new_run_on_it_and_an_empty_one_ends_it():
    start = config(preset="linear-manual", optimizer="sgd", epochs=EPOCHS)
    app = GdtuiApp(start)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.query_one("#f-schedule").value == ""
        await step_to(pilot, 3)
        assert logged(app)[1] == [0.01] * 3
        # the engine takes a schedule only with a new run: the run restarts from epoch 0, with a notice
        await type_in(pilot, "schedule", STEP)
        expected = start.replace(schedule=check_schedule(STEP))
        await wait_for(pilot, lambda: app.config == expected and app.state == "ready", what="the scheduled run")
        assert any(n.message == "schedule changed: the run restarts from epoch 0" for n in app._notifications)
        assert app.query_one(RmseLog).rows == 0 and app.query_one("#f-schedule").value == STEP
        await step_to(pilot, 5)
        rmse, lrs = reference()
        assert logged(app) == (rmse[:5], lrs[:5]) and status_lr(app) == lrs[4]
        # emptied: no schedule, a constant lr again
        await type_in(pilot, "schedule", "")
        await wait_for(pilot, lambda: app.config == start and app.state == "ready", what="the run without a schedule")
        await step_to(pilot, 3)
        rmse, lrs = reference(scheduled=False)
        assert logged(app) == (rmse[:3], lrs[:3]) == (rmse[:3], [0.01] * 3) and status_lr(app) == 0.01
        assert app.query_one("#f-schedule").value == ""


async def test_a_bad_schedule_is_marked_with_the_engines_reason_and_nothing_changes():
    bad = "step:gamma=0.5"
    with pytest.raises(ConfigError) as refusal:
        CHECKS["schedule"](bad)
    reason = refusal.value.message
    assert reason == "step: the argument step_size is required (step:step_size=...)"
    refused = CliRunner().invoke(cli, ["run", "--epochs", "2", "--schedule", bad])
    assert refused.exit_code == 2 and reason in refused.output  # the command line's own words
    start = config(preset="linear-manual", optimizer="sgd", epochs=EPOCHS, schedule=STEP)
    app = GdtuiApp(start)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await step_to(pilot, 2)
        box = await field(pilot, "schedule")
        await pilot.press(*bad)
        assert box.has_class("-invalid")
        assert str(app.query_one("#field-error").render()) == f"schedule: {reason}"
        await pilot.press("enter")  # refused: the field keeps the keys and says why
        assert box.has_focus
        assert str(app.query_one("#field-error").render()) == f"schedule: {reason} — not applied"
        await pilot.press("escape")  # leaving it shows the schedule in effect again
        assert box.value == STEP
        # had anything been sent, its answer would have come before the answer to ]
        await round_trip(pilot)
        assert app.config == start.replace(lr=0.02) and app.query_one(RmseLog).rows == 2
        assert not any(n.title in ("not applied", "reset") for n in app._notifications)


async def test_a_schedule_the_optimizer_refuses_is_not_applied_with_a_notice():
    start = config(preset="linear-manual", optimizer="adagrad", lr=0.5, epochs=EPOCHS)
    app = GdtuiApp(start)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await step_to(pilot, 1)
        await type_in(pilot, "schedule", "onecycle:max_lr=0.1")  # valid alone: refused with adagrad
        why = "schedule: onecycle is refused for adagrad (use another optimizer or schedule)"
        await wait_for(
            pilot,
            lambda: any(n.title == "not applied" and n.message == why for n in app._notifications),
            what="the refusal",
        )
        assert app.query_one("#f-schedule").value == ""
        await round_trip(pilot)
        assert app.config == start.replace(lr=1.0) and app.query_one(RmseLog).rows == 1


async def test_bracket_doubles_a_schedules_base_lr_from_the_next_epoch():
    app = GdtuiApp(config(preset="linear-manual", optimizer="sgd", epochs=EPOCHS, schedule=STEP))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await step_to(pilot, 3)
        await round_trip(pilot)  # ] after epoch 3: lr 0.01 -> 0.02, the schedule's base
        assert app.config.schedule == check_schedule(STEP)
        await step_to(pilot, EPOCHS)
        rmse, lrs = reference(double_at=3)
        plain = reference()[1]
        assert logged(app) == (rmse, lrs)
        assert lrs[:3] == plain[:3] and lrs[3:] == [2 * lr for lr in plain[3:]]  # doubled from the next epoch
        assert status_lr(app) == 2 * plain[-1] == 0.0025
