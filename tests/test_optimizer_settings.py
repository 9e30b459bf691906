"""The optimizers' own settings (issue 30, points 1 and 6): `--betas`, `--eps`, `--alpha`, `--centered`,
`--dampening`, `--weight-decay`, `--lr-decay`, `--initial-accumulator`, each against torch's optimizer built with
it in the fastai article's loop written out here, number for number; live changes against a loop that sets
param_groups between steps; refusals; --vary; TOML; export-script; explain."""

from __future__ import annotations

import json

import pytest
import torch

from gdtui.cli import main
from gdtui.engine import resolve
from gdtui.engine.config import ConfigError
from gdtui.engine.explain import explain
from gdtui.engine.record import Change, LaneRecord, Record
from gdtui.engine.script import script
from gdtui.engine.tomlconfig import dump_record, load_record
from gdtui.engine.trainer import Trainer

EPOCHS = 8


def article():
    """The fastai article's data and parameters: torch.manual_seed(2021); time; speed; a discarded randn(3)."""
    torch.manual_seed(2021)
    time = torch.arange(0, 20).float()
    speed = torch.rand(20) * 5 + 0.8 * (time - 7.5) ** 2 + 1
    torch.randn(3).requires_grad_()
    return time, speed, torch.randn(3).requires_grad_()


def literal(make, epochs=EPOCHS, changes=None):
    """The article's loop with torch's optimizer `make(params)`: each epoch's loss; `changes[epoch]` sets
    param_groups keys after that epoch."""
    time, speed, params = article()
    opt = make([params])
    losses = []
    for epoch in range(1, epochs + 1):
        a, b, c = params
        loss = ((a * time**2 + b * time + c - speed) ** 2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
        for key, value in (changes or {}).get(epoch, {}).items():
            for group in opt.param_groups:
                group[key] = value
    return losses, params.tolist()


def gdtui_losses(args):
    """`gdtui run --json ARGS`'s losses and final parameters."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["run", "--json", "--epochs", str(EPOCHS), *args]) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    epochs = [line for line in lines if "loss" in line and "epoch" in line]
    return [line["loss"] for line in epochs], lines


S = torch.optim
CASES = [
    (["--optimizer", "adam", "--lr", "0.1", "--betas", "0.8,0.95"], lambda p: S.Adam(p, lr=0.1, betas=(0.8, 0.95))),
    (["--optimizer", "adam", "--lr", "0.1", "--eps", "0.5"], lambda p: S.Adam(p, lr=0.1, eps=0.5)),
    (["--optimizer", "adamw", "--lr", "0.1", "--weight-decay", "0.5"], lambda p: S.AdamW(p, lr=0.1, weight_decay=0.5)),
    (
        ["--optimizer", "rmsprop", "--lr", "0.01", "--alpha", "0.9", "--centered", "--eps", "1e-4"],
        lambda p: S.RMSprop(p, lr=0.01, alpha=0.9, centered=True, eps=1e-4),
    ),
    (
        ["--optimizer", "sgd", "--lr", "1e-5", "--momentum", "0.9", "--dampening", "0.5", "--weight-decay", "0.1"],
        lambda p: S.SGD(p, lr=1e-5, momentum=0.9, dampening=0.5, weight_decay=0.1),
    ),
    (
        ["--optimizer", "nesterov", "--lr", "1e-5", "--weight-decay", "2"],
        lambda p: S.SGD(p, lr=1e-5, momentum=0.9, nesterov=True, weight_decay=2.0),
    ),
    (
        ["--optimizer", "adagrad", "--lr", "0.5", "--lr-decay", "0.1", "--initial-accumulator", "2", "--eps", "1e-3"],
        lambda p: S.Adagrad(p, lr=0.5, lr_decay=0.1, initial_accumulator_value=2.0, eps=1e-3),
    ),
]


@pytest.mark.parametrize(("args", "make"), CASES)
def test_each_setting_is_torch_s_number_for_number(args, make):
    losses, _ = gdtui_losses(args)
    assert losses == literal(make)[0]


def test_a_live_change_is_the_loop_that_sets_param_groups():
    t = Trainer(resolve("fastai-quadratic", optimizer="adam", lr=0.1, epochs=EPOCHS))
    t.run(3)
    t.update(betas=(0.5, 0.9), weight_decay=0.2)
    t.run(2)
    t.update(eps=0.01)
    t.run(EPOCHS - t.epoch)
    mine = [t.history.result(i).loss for i in range(t.epoch)]
    changes = {3: {"betas": (0.5, 0.9), "weight_decay": 0.2}, 5: {"eps": 0.01}}
    want, params = literal(lambda p: S.Adam(p, lr=0.1), changes=changes)
    assert mine == want and t.model.flat().tolist() == params
    # the record replays it, and export-script prints the same log
    rows = script(t.start_config, t.changes, t.data.n_train)
    assert 'group["betas"] = (0.5, 0.9)' in rows and 'group["eps"] = 0.01' in rows


def test_centered_is_refused_live_after_the_first_step():
    t = Trainer(resolve("fastai-quadratic", optimizer="rmsprop", lr=0.01, epochs=EPOCHS))
    t.update(centered=True)  # before the first step: torch builds its state centred
    t.run(2)
    with pytest.raises(ConfigError, match="first step") as error:
        t.update(centered=False)
    assert error.value.field == "centered" and t.config.centered is True
    t.update(alpha=0.5)  # alpha, eps, weight decay: live
    t.run(2)
    want = literal(lambda p: S.RMSprop(p, lr=0.01, centered=True), epochs=4, changes={2: {"alpha": 0.5}})[0]
    assert [t.history.result(i).loss for i in range(4)] == want


def test_a_switch_drops_the_settings_the_new_optimizer_has_not():
    t = Trainer(resolve("fastai-quadratic", optimizer="adam", lr=0.1, betas=(0.8, 0.9), epochs=EPOCHS))
    t.run(2)
    t.switch(optimizer="sgd", lr=1e-5)
    assert t.config.betas is None and t.changes[-1][1]["betas"] is None
    lane = LaneRecord(0, t.start_config, tuple(Change(at, s) for at, s in t.changes), t.epoch)
    assert lane.config == t.config


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--weight-decay", "0.1"], "gd has no weight-decay"),
        (["--optimizer", "sgd", "--betas", "0.9,0.99"], "sgd has no betas"),
        (["--optimizer", "adam", "--alpha", "0.9"], "adam has no alpha"),
        (["--optimizer", "adam", "--centered"], "adam has no centered"),
        (["--optimizer", "rmsprop", "--lr-decay", "0.1"], "rmsprop has no lr-decay"),
        (["--optimizer", "adamw", "--initial-accumulator", "1"], "adamw has no initial-accumulator"),
        (["--optimizer", "adagrad", "--dampening", "0.1"], "adagrad has no dampening"),
        (["--optimizer", "nesterov", "--dampening", "0.1"], "nesterov takes no dampening"),
        (["--optimizer", "adam", "--betas", "0.9"], "'--betas'"),
        (["--optimizer", "adam", "--betas", "0.9,1"], "'0.9,1'"),
        (["--optimizer", "adam", "--eps", "-1"], "'--eps'"),
        (["--optimizer", "rmsprop", "--alpha", "nan"], "'--alpha'"),
        (["--optimizer", "sgd", "--dampening", "2"], "'--dampening'"),
        (["--optimizer", "sgd", "--weight-decay", "abc"], "'abc'"),
        (["--optimizer", "adagrad", "--lr-decay", "-0.5"], "'--lr-decay'"),
        (["--optimizer", "adagrad", "--initial-accumulator", "x"], "'--initial-accumulator'"),
    ],
)
def test_refusals_exit_2_with_one_line(args, named, capsys):
    assert main(["run", "--epochs", "1", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and named in err


def test_vary_over_a_setting(capsys):
    args = ["run", "--optimizer", "adam", "--lr", "0.1", "--epochs", "3", "--vary", "betas=0.9,0.999;0.5,0.9"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "betas 0.5,0.9" in out
    assert main(["run", "--optimizer", "adam", "--epochs", "1", "--vary", "weight-decay=0,0.1", "--vary", "eps=x"]) == 2
    assert "eps=x" in capsys.readouterr().err


def test_toml_round_trip(tmp_path):
    start = resolve(
        "fastai-quadratic", optimizer="rmsprop", lr=0.01, alpha=0.9, centered=True, eps=1e-6, weight_decay=0.1
    )
    other = resolve("fastai-quadratic", optimizer="adam", lr=0.1, betas=(0.5, 0.9))
    changes = (Change(3, {"alpha": 0.5}), Change(4, {"weight_decay": 0.0}))
    record = Record((LaneRecord(0, start, changes, 6), LaneRecord(1, other)))
    path = tmp_path / "run.toml"
    path.write_text(dump_record(record))
    assert load_record(str(path)) == record
    assert "betas = [0.5, 0.9]" in path.read_text() and "centered = true" in path.read_text()


def test_export_script_prints_the_same_log(tmp_path):
    from gdtui.cli.common import epoch_line
    from tests.test_script import run_lines, run_scripts

    cases = [[*CASES[i][0], "--epochs", "5"] for i in (0, 3, 6)]
    paths = []
    for n, args in enumerate(cases):
        paths.append(str(tmp_path / f"s{n}.py"))
        assert main(["export-script", *args, "-o", paths[-1]]) == 0
    t = Trainer(resolve("fastai-quadratic", optimizer="sgd", momentum=0.9, lr=1e-5, epochs=6))
    t.run(2)
    t.update(dampening=0.5, weight_decay=0.3)
    t.run(4)
    paths.append(str(tmp_path / "changed.py"))
    with open(paths[-1], "w") as handle:
        handle.write(script(t.start_config, t.changes, t.data.n_train))
    wanted = [run_lines(*args) for args in cases] + [[epoch_line(t.history.result(e)) for e in range(t.epoch)]]
    assert run_scripts(paths) == wanted


def test_explain_follows_adam_s_betas():
    t = Trainer(resolve("fastai-quadratic", optimizer="adam", lr=0.1, betas=(0.5, 0.8), epochs=6))
    t.run(6)
    step = explain(t, 4)
    assert step.counters["bias_correction1"] == pytest.approx(1 - 0.5**4)
    assert step.counters["bias_correction2"] == pytest.approx(1 - 0.8**4)
    time, speed, params = article()
    opt = S.Adam([params], lr=0.1, betas=(0.5, 0.8))
    for _ in range(4):
        before = params.tolist()
        a, b, c = params
        ((a * time**2 + b * time + c - speed) ** 2).mean().backward()
        opt.step()
        opt.zero_grad()
    assert [p.before for p in step.params] == before and [p.after for p in step.params] == params.tolist()
    assert [p.state["exp_avg"] for p in step.params] == opt.state[params]["exp_avg"].tolist()


def test_the_pane_shows_each_setting_for_its_optimizers_only():
    from gdtui.tui.widgets.hyperparams import EngineCheck, shown, visible

    adam = resolve("fastai-quadratic", optimizer="adam", lr=0.1, betas=(0.8, 0.9))
    assert visible("betas", adam) and visible("weight_decay", adam) and not visible("alpha", adam)
    assert not any(visible(f, resolve("fastai-quadratic")) for f in ("betas", "eps", "weight_decay", "dampening"))
    assert shown("betas", adam) == "0.8,0.9" and shown("eps", adam) == ""  # empty: torch's default
    assert not EngineCheck("betas").validate("0.9,1").is_valid and EngineCheck("centered").validate("yes").is_valid


def test_the_theory_takes_weight_decay(capsys):
    assert main(["theory", "--optimizer", "sgd", "--weight-decay", "0.1"]) == 0
    assert "does not apply" not in capsys.readouterr().out  # its numbers: tests/test_theory.py
