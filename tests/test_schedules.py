"""--schedule: torch.optim.lr_scheduler's schedules, number for number against torch's own scheduler in a plain
loop written out here (the fastai-quadratic article's data and model), with torch's SGD and the hand-written gd;
their refusals, --vary, TOML, branches and replays, the exported script and the log's lr column."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from torch.optim import lr_scheduler

from gdtui.cli.root import cli
from gdtui.engine import resolve
from gdtui.engine.schedules import check_schedule
from gdtui.engine.trainer import Trainer
from tests.script_runner import run_script
from tests.test_knob_scripts import script_prints_the_log

EPOCHS = 24


def article(batch_size: int | None = None):
    """The fastai article's data and initial parameters (seed 2021), as its code draws them."""
    torch.manual_seed(2021)
    time = torch.arange(0, 20).float()
    speed = torch.rand(20) * 5 + 0.8 * (time - 7.5) ** 2 + 1
    torch.randn(3)  # the notebook displayed this one and threw it away
    params = torch.randn(3).requires_grad_()
    return time, speed, params


def reference(optimizer: str, lr: float, make, epochs: int = EPOCHS, plateau: bool = False, batch_size=None):
    """The loop a learner writes: torch's scheduler stepped after each epoch (or batch); returns (losses, lrs)."""
    time, speed, params = article()

    def mse(preds, targets):
        return ((preds - targets) ** 2).mean()

    if optimizer == "gd":
        holder = torch.optim.SGD([torch.zeros(1)], lr=lr)  # a stand-in: it only holds the lr
    else:
        holder = torch.optim.SGD([params], lr=lr, momentum=0.9 if optimizer == "sgdm" else 0.0)
    holder._opt_called = True  # type: ignore[attr-defined]
    scheduler = make(holder)
    losses, lrs = [], []
    batches = [(time, speed)]
    if batch_size is not None:
        batches = [(time[i : i + batch_size], speed[i : i + batch_size]) for i in range(0, 20, batch_size)]
    for _ in range(epochs):
        lrs.append(holder.param_groups[0]["lr"])
        epoch_losses = []
        for xb, yb in batches:
            a, b, c = params
            loss = mse(a * (xb**2) + (b * xb) + c, yb)
            loss.backward()
            epoch_losses.append(loss.item())
            if optimizer == "gd":
                params.data = params.data - holder.param_groups[0]["lr"] * params.grad
                params.grad = None
            else:
                holder.step()
                holder.zero_grad()
            if batch_size is not None and isinstance(scheduler, lr_scheduler.OneCycleLR):
                scheduler.step()
        value = sum(epoch_losses) / len(epoch_losses)
        losses.append(value)
        if plateau:
            scheduler.step(value)
        elif not isinstance(scheduler, lr_scheduler.OneCycleLR) or batch_size is None:
            scheduler.step()
    return losses, lrs


def gdtui_run(optimizer: str, lr: float, spec: str, epochs: int = EPOCHS, **more) -> Trainer:
    name = "sgd" if optimizer == "sgdm" else optimizer
    momentum = 0.9 if optimizer == "sgdm" else None
    config = resolve(optimizer=name, lr=lr, momentum=momentum, epochs=epochs, schedule=check_schedule(spec), **more)
    trainer = Trainer(config)
    while not trainer.done and trainer.status == "ok":
        trainer.run_chunk(min(7, epochs - trainer.epoch))  # chunks that cross the milestones
    return trainer


SCHEDULES = [
    ("step:step_size=5,gamma=0.5", lambda o: lr_scheduler.StepLR(o, step_size=5, gamma=0.5)),
    ("multistep:milestones=4/11,gamma=0.3", lambda o: lr_scheduler.MultiStepLR(o, milestones=[4, 11], gamma=0.3)),
    ("exponential:gamma=0.9", lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9)),
    ("cosine", lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=EPOCHS)),
    ("cosine:T_max=10,eta_min=1e-7", lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=1e-7)),
    ("cosine-restarts:T_0=3,T_mult=2", lambda o: lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2)),
    (
        "linear-warmup:start_factor=0.1,total_iters=6",
        lambda o: lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=6),
    ),
    (
        "linear-warmup:start_factor=0.1,total_iters=5+cosine:T_max=12",
        lambda o: lr_scheduler.SequentialLR(
            o,
            schedulers=[
                lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=5),
                lr_scheduler.CosineAnnealingLR(o, T_max=12),
            ],
            milestones=[5],
        ),
    ),
    (
        "linear-warmup:total_iters=3+cosine",
        lambda o: lr_scheduler.SequentialLR(
            o,
            schedulers=[lr_scheduler.LinearLR(o, total_iters=3), lr_scheduler.CosineAnnealingLR(o, T_max=EPOCHS - 3)],
            milestones=[3],
        ),
    ),
]


@pytest.mark.parametrize("optimizer", ["gd", "sgd", "sgdm"])
@pytest.mark.parametrize(("spec", "make"), SCHEDULES, ids=[s for s, _ in SCHEDULES])
def test_each_schedule_is_torchs(optimizer, spec, make):
    lr = 1e-5
    losses, lrs = reference(optimizer, lr, make)
    trainer = gdtui_run(optimizer, lr, spec)
    assert list(trainer.history.lr) == lrs
    assert list(trainer.history.loss) == losses


@pytest.mark.parametrize("optimizer", ["gd", "sgdm"])
def test_plateau_steps_on_the_epochs_loss(optimizer):
    losses, lrs = reference(
        optimizer, 1e-4, lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=0.5, patience=1), plateau=True
    )
    trainer = gdtui_run(optimizer, 1e-4, "plateau:factor=0.5,patience=1")
    assert len(set(lrs)) > 1  # it reduced the lr
    assert list(trainer.history.lr) == lrs and list(trainer.history.loss) == losses


@pytest.mark.parametrize("optimizer", ["gd", "sgdm"])
def test_onecycle_with_mini_batches_steps_per_batch(optimizer):
    top = 1e-4 if optimizer == "gd" else 1e-5  # (its momentum cycles: sgd's 0.9 becomes 0.85 to 0.95)
    make = lambda o: lr_scheduler.OneCycleLR(  # noqa: E731
        o, max_lr=top, total_steps=EPOCHS * 4, cycle_momentum=optimizer == "sgdm"
    )
    losses, lrs = reference(optimizer, 1e-5, make, batch_size=5)
    trainer = gdtui_run(optimizer, 1e-5, f"onecycle:max_lr={top}", batch_size=5, shuffle=False)
    assert trainer.status == "ok"
    assert list(trainer.history.lr) == lrs and list(trainer.history.loss) == losses
    with pytest.raises(Exception, match="epochs"):
        trainer.update(epochs=EPOCHS + 1)


def test_onecycle_whole_batch():
    make = lambda o: lr_scheduler.OneCycleLR(o, max_lr=1e-4, total_steps=EPOCHS, cycle_momentum=False)  # noqa: E731
    losses, lrs = reference("gd", 1e-5, make)
    trainer = gdtui_run("gd", 1e-5, "onecycle:max_lr=1e-4")
    assert list(trainer.history.lr) == lrs and list(trainer.history.loss) == losses


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--schedule", "step"], "step_size"),
        (["--schedule", "step:step_size=3,gama=0.5"], "gama"),
        (["--schedule", "exponential:gamma=abc"], "gamma"),
        (["--schedule", "cosine:T_max=0"], "T_max"),
        (["--schedule", "multistep:milestones=5/3"], "milestones"),
        (["--schedule", "warmup"], "warmup"),
        (["--schedule", "cosine+step:step_size=2"], "cosine"),
        (["--schedule", "onecycle:max_lr=0.1", "--optimizer", "adagrad"], "adagrad"),
        (["--vary", "schedule=step|step:step_size=2"], "step_size"),
    ],
)
def test_refusals_exit_2_naming_the_argument(args, named):
    result = CliRunner().invoke(cli, ["run", "--epochs", "2", *args])
    assert result.exit_code == 2, result.output
    assert named in result.output and "Traceback" not in result.output


def test_the_log_shows_lr_only_with_a_schedule():
    plain = CliRunner().invoke(cli, ["run", "--epochs", "3"]).output
    assert "lr:" not in plain
    scheduled = CliRunner().invoke(cli, ["run", "--epochs", "4", "--schedule", "step:step_size=2,gamma=0.5"]).output
    lines = [line for line in scheduled.splitlines() if line.startswith("epoch")]
    assert [line.rsplit("lr: ", 1)[1] for line in lines] == ["1e-05", "1e-05", "5e-06", "5e-06"]


def test_vary_separates_schedules_with_a_bar():
    args = ["run", "--epochs", "4", "--vary", "schedule=step:step_size=3,gamma=0.5|cosine"]
    out = CliRunner().invoke(cli, args).output
    assert "lane 1 (schedule step:step_size=3,gamma=0.5)  epoch 4" in out
    assert "lr: 5e-06" in out and "lane 2 (schedule cosine)" in out
    solo = gdtui_run("gd", 1e-5, "cosine", epochs=4)
    assert f"loss: {solo.history.loss[-1]!r}  lr: {solo.history.lr[-1]!r}" in out


def test_toml_round_trip(tmp_path):
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    first.write_text(
        'epochs = 6\nschedule = [{name = "linear-warmup", start_factor = 0.5, total_iters = 2}, {name = "cosine"}]\n'
        '[[lane]]\nschedule = {name = "multistep", milestones = [2, 4], gamma = 0.5}\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    out = runner.invoke(cli, ["run", "-q", "--config", str(first), "--save-config", str(second)])
    assert out.exit_code == 0, out.output
    text = second.read_text(encoding="utf-8")
    assert 'schedule = [{name = "linear-warmup", start_factor = 0.5, total_iters = 2}, {name = "cosine"}]' in text
    assert 'schedule = {name = "multistep", milestones = [2, 4], gamma = 0.5}' in text
    third = tmp_path / "c.toml"
    runner.invoke(cli, ["run", "-q", "--config", str(second), "--save-config", str(third)])
    assert third.read_text(encoding="utf-8") == text
    bad = tmp_path / "bad.toml"
    bad.write_text('schedule = {name = "step", gamma = 0.1}\n', encoding="utf-8")
    result = runner.invoke(cli, ["run", "--config", str(bad)])
    assert result.exit_code == 2 and "step_size" in result.output


@pytest.mark.parametrize(
    "spec", ["step:step_size=3,gamma=0.5", "plateau:factor=0.5,patience=1", "onecycle:max_lr=1e-5"]
)
def test_branch_and_replay_equal_the_solo_run(spec, monkeypatch):
    monkeypatch.setattr(Trainer, "CHECKPOINT_EVERY", 4)  # replays start from checkpoints holding the schedule
    solo = gdtui_run("sgdm", 1e-5, spec, epochs=20, batch_size=5, shuffle=False)
    assert solo.status == "ok" and solo.epoch == 20
    for epoch in (0, 5, 9, 13):
        twin = solo.replay(epoch)
        assert list(twin.history.lr) == list(solo.history.lr[:epoch])
        twin.run_chunk(20 - twin.epoch)
        assert list(twin.history.loss) == list(solo.history.loss) and list(twin.history.lr) == list(solo.history.lr)


def test_a_journal_snapshot_resumes_bit_for_bit():
    solo = gdtui_run("gd", 1e-5, "cosine-restarts:T_0=3,T_mult=2", epochs=20)
    half = gdtui_run("gd", 1e-5, "cosine-restarts:T_0=3,T_mult=2", epochs=20)
    half.hold = None
    fresh = Trainer(half.start_config)
    part = Trainer(half.start_config)
    part.run(9)
    fresh.resume_from(part.snapshot(), part.history_bytes(0), [])
    fresh.run_chunk(20 - fresh.epoch)
    assert list(fresh.history.loss) == list(solo.history.loss) and list(fresh.history.lr) == list(solo.history.lr)


def test_a_live_lr_change_scales_the_schedule_and_replays():
    run = Trainer(resolve(epochs=16, schedule=check_schedule("step:step_size=4,gamma=0.5")))
    run.run(6)
    run.update(lr=2e-5)
    run.run(10)
    assert run.history.lr[6] == 2 * run.history.lr[5] and run.history.lr[8] == run.history.lr[7] / 2
    twin = run.replay(6)
    twin.run(10)
    assert list(twin.history.loss) == list(run.history.loss) and list(twin.history.lr) == list(run.history.lr)


@pytest.mark.parametrize(
    "args",
    [
        ["--schedule", "step:step_size=3,gamma=0.5"],
        [
            "--schedule",
            "linear-warmup:start_factor=0.2,total_iters=3+cosine",
            "--optimizer",
            "sgd",
            "--momentum",
            "0.5",
        ],
        ["--schedule", "plateau:factor=0.5,patience=1", "--optimizer", "adam", "--lr", "0.5"],
        ["--schedule", "onecycle:max_lr=1e-5", "--batch-size", "6", "--optimizer", "sgd", "--momentum", "0.9"],
    ],
)
def test_the_exported_script_prints_gdtuis_log(args, tmp_path):
    script_prints_the_log(args, tmp_path, 9)


def test_the_status_line_shows_a_scheduled_runs_last_lr():
    from gdtui.tui.widgets.status import StatusLine

    status = StatusLine()
    status.lr = 1e-5  # the config's: the schedule's base lr
    assert status._lr(False) == "lr 1e-05"
    status.scheduled_lr = 5e-06  # the last epoch's, from the focused lane's report
    assert status._lr(False) == "lr 5e-06"


def record_prints_its_log(tmp_path, text: str) -> tuple[list[str], str]:
    """`gdtui export-script --config R` of the record `text` writes a script whose epoch lines, with no warning,
    are `gdtui run --config R`'s; returns those lines and the script."""
    record = tmp_path / "r.toml"
    record.write_text(text)
    runner = CliRunner()
    log = runner.invoke(cli, ["run", "--config", str(record)])
    assert log.exit_code == 0, log.output
    path = tmp_path / "run.py"
    result = runner.invoke(cli, ["export-script", "--config", str(record), "-o", str(path)])
    assert result.exit_code == 0, result.output
    done = run_script(str(path))
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr
    expected = [line for line in log.output.splitlines() if line.startswith("epoch")]
    assert done.stdout.splitlines() == expected and expected
    return expected, path.read_text()


@pytest.mark.parametrize("optimizer", ["gd", "sgd"])
def test_the_exported_script_of_a_scheduled_run_changed_live_prints_its_log(optimizer, tmp_path):
    """A new base lr mid-run scales the schedule, in the script as in gdtui (its record's change at epoch 4)."""
    expected, _ = record_prints_its_log(
        tmp_path,
        f'preset = "fastai-quadratic"\noptimizer = "{optimizer}"\nepochs = 12\n'
        'schedule = {name = "step", step_size = 3, gamma = 0.5}\nchanges = [{epoch = 4, lr = 2e-5}]\n',
    )
    assert len(expected) == 12


@pytest.mark.parametrize(
    ("start", "changes"),
    [
        ('optimizer = "gd"', '{epoch = 4, optimizer = "sgd", momentum = 0.5}'),
        ('optimizer = "sgd"', '{epoch = 4, optimizer = "gd"}, {epoch = 8, optimizer = "adam", lr = 0.5}'),
        ('optimizer = "adam"\nlr = 0.5', '{epoch = 3, optimizer = "rmsprop", lr = 0.01}'),
    ],
    ids=["gd-sgd", "sgd-gd-adam", "adam-rmsprop"],
)
def test_the_script_of_a_scheduled_run_whose_optimizer_changed_prints_its_log(start, changes, tmp_path):
    """A new optimizer mid-run takes the schedule on where it was (its state and lr), in the script as in gdtui;
    a chained schedule, so the carried state is SequentialLR's."""
    expected, _ = record_prints_its_log(
        tmp_path,
        f'preset = "fastai-quadratic"\n{start}\nepochs = 12\n'
        'schedule = [{name = "linear-warmup", start_factor = 0.5, total_iters = 2}, {name = "step", step_size = 3, '
        f"gamma = 0.5}}]\nchanges = [{changes}]\n",
    )
    assert len(expected) == 12
    lrs = [float(line.rsplit("lr: ", 1)[1]) for line in expected]
    assert lrs[4] != lrs[3] or lrs[8] != lrs[7]  # the schedule went on across the change


def test_onecycle_keeps_cycling_beta1_when_a_live_betas_change_sets_beta2():
    """onecycle owns adam's β1 (its momentum, cycled step by step, as torch's OneCycleLR sets it); a live --betas
    change takes its β2 from the next step on and leaves the β1 the cycle reached. Against a plain loop."""
    time, speed, params = article()
    optimizer = torch.optim.Adam([params], lr=0.05)
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=0.5, total_steps=10 * 4)
    losses = []
    for epoch in range(10):
        if epoch == 4:  # changed after epoch 4: β2 only
            for group in optimizer.param_groups:
                group["betas"] = (group["betas"][0], 0.99)
        epoch_losses = []
        for i in range(0, 20, 5):
            a, b, c = params
            loss = ((a * (time[i : i + 5] ** 2) + (b * time[i : i + 5]) + c - speed[i : i + 5]) ** 2).mean()
            loss.backward()
            epoch_losses.append(loss.item())
            optimizer.step()
            optimizer.zero_grad()
            scheduler.step()
        losses.append(sum(epoch_losses) / len(epoch_losses))
    trainer = gdtui_run("adam", 0.05, "onecycle:max_lr=0.5", epochs=10, batch_size=5, shuffle=False)
    trainer.reset()
    trainer.run(4)
    trainer.update(betas="0.9,0.99")
    trainer.run(6)
    assert list(trainer.history.loss) == losses
    assert trainer.optimizer.param_groups[0]["betas"][1] == 0.99


@pytest.mark.parametrize(
    ("optimizer", "change", "field"),
    [("adam", {"betas": "0.8,0.999"}, "betas"), ("sgdm", {"momentum": "0.5"}, "momentum")],
)
def test_onecycle_refuses_a_live_change_of_the_momentum_it_cycles(optimizer, change, field):
    from gdtui.engine.config import ConfigError

    trainer = gdtui_run(optimizer, 0.05, "onecycle:max_lr=0.5", epochs=6, batch_size=5)
    with pytest.raises(ConfigError) as refused:
        trainer.update(**change)
    assert refused.value.field == field and "onecycle cycles" in refused.value.message


def test_the_script_of_onecycle_with_a_new_beta2_prints_its_log(tmp_path):
    expected, text = record_prints_its_log(
        tmp_path,
        'preset = "fastai-quadratic"\noptimizer = "adam"\nlr = 0.05\nepochs = 10\nbatch_size = 5\nshuffle = false\n'
        'schedule = {name = "onecycle", max_lr = 0.5}\nchanges = [{epoch = 4, betas = [0.9, 0.99]}]\n',
    )
    assert 'group["betas"] = (group["betas"][0], 0.99)' in text and len(expected) == 10


@pytest.mark.parametrize(
    "text",
    [
        # a new epoch budget leaves the schedule as it was built (cosine's T_max, onecycle's steps)
        'optimizer = "sgd"\nepochs = 12\nschedule = {name = "cosine"}\nchanges = [{epoch = 4, epochs = 14}]\n',
        'optimizer = "sgd"\nmomentum = 0.9\nepochs = 12\nschedule = {name = "onecycle", max_lr = 1e-4}\n'
        "changes = [{epoch = 4, epochs = 10}]\n",
        'optimizer = "sgd"\nepochs = 12\nschedule = {name = "cosine"}\nchanges = [{epoch = 0, epochs = 14}]\n',
        # the hand-written gd's per-batch lr in the article's own step function
        'epochs = 3\nbatch_size = 5\nschedule = {name = "onecycle", max_lr = 1e-4}\n',
        # a switch drops the settings the new optimizer has not, as gdtui's does
        'optimizer = "adam"\nlr = 0.1\nbetas = [0.8, 0.99]\nepochs = 8\n'
        'changes = [{epoch = 5, optimizer = "sgd", lr = 1e-5}]\n',
        # a switch to gd in a chained schedule with mini-batches: its stand-in stepped, no warning
        'optimizer = "adam"\nlr = 0.1\nepochs = 6\nbatch_size = 6\nshuffle = false\nschedule = [{name = '
        '"linear-warmup", total_iters = 2}, {name = "cosine"}]\nchanges = [{epoch = 1, optimizer = "gd", lr = 1e-5}]\n',
    ],
    ids=["cosine-longer", "onecycle-shorter", "cosine-at-0", "gd-onecycle-batches", "betas-then-sgd", "chain-to-gd"],
)
def test_the_script_of_a_record_takes_its_changes_as_gdtui_does(text, tmp_path):
    record_prints_its_log(tmp_path, 'preset = "fastai-quadratic"\n' + text)


def test_a_records_change_refused_at_its_epoch_exits_2_naming_it(tmp_path):
    record = tmp_path / "r.toml"
    record.write_text(
        'preset = "fastai-quadratic"\noptimizer = "sgd"\nmomentum = 0.9\nepochs = 12\n'
        'schedule = {name = "onecycle", max_lr = 1e-4}\nchanges = [{epoch = 0, epochs = 14}]\n'
    )
    from gdtui.cli.root import main

    assert main(["run", "--config", str(record)]) == 2
