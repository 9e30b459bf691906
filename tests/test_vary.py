"""`gdtui run --vary`: a lane per combination, each printing what its solo `gdtui run` prints, ranked at the
end; every bad value refused as its own option refuses it."""

from __future__ import annotations

import json

import pytest

from gdtui.cli import main


def run(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def epoch_lines(out):
    return [line for line in out.splitlines() if line.startswith("epoch ")]


def test_each_lane_prints_its_solo_runs_lines(capsys):
    code, out, err = run(
        capsys,
        "run",
        "--preset",
        "qiita-quadratic",
        "--epochs",
        "6",
        "--vary",
        "lr=1e-4,5e-5",
        "--vary",
        "optimizer=gd,sgd",
    )
    assert code == 0 and err == ""
    lanes = [
        ("lr 0.0001, gd", "1e-4", "gd"),
        ("lr 0.0001, sgd", "1e-4", "sgd"),
        ("lr 5e-05, gd", "5e-5", "gd"),
        ("lr 5e-05, sgd", "5e-5", "sgd"),
    ]
    lines = out.splitlines()
    for number, (label, lr, optimizer) in enumerate(lanes, start=1):
        _, solo, _ = run(
            capsys, "run", "--preset", "qiita-quadratic", "--epochs", "6", "--lr", lr, "--optimizer", optimizer
        )
        tag = f"lane {number} ({label})  "
        mine = [line.removeprefix(tag) for line in lines if line.startswith(tag)]
        assert mine == epoch_lines(solo)
    # epoch by epoch, lane by lane
    assert [line.split("  ")[0] for line in lines[:8]] == [f"lane {n} ({lanes[n - 1][0]})" for n in (1, 2, 3, 4)] * 2


def test_the_summary_ranks_the_lanes_by_final_rmse(capsys):
    code, out, _ = run(capsys, "run", "--epochs", "5", "--vary", "lr=1e-6,1e-5,2e-5")
    assert code == 0
    table = out.splitlines()[-4:]
    assert table[0].split() == ["rank", "lane", "setting", "status", "epochs", "RMSE"]
    rows = [line.split() for line in table[1:]]
    finals = {}
    for lane, lr in ((1, "1e-6"), (2, "1e-5"), (3, "2e-5")):
        _, solo, _ = run(capsys, "run", "--epochs", "5", "--lr", lr)
        finals[lane] = float(epoch_lines(solo)[-1].split("RMSE: ")[1].split()[0])
    assert [int(row[1]) for row in rows] == sorted(finals, key=finals.get)
    assert [float(row[-1]) for row in rows] == sorted(finals.values())
    assert [row[0] for row in rows] == ["1", "2", "3"]


def test_json_lines_carry_the_lane_and_its_settings(capsys):
    code, out, _ = run(capsys, "run", "--json", "--epochs", "3", "--vary", "optimizer=gd,adam", "--vary", "lr=0.01")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    epochs = [r for r in records if r["event"] == "epoch"]
    assert [r["lane"] for r in epochs[:2]] == [
        {"number": 1, "optimizer": "gd", "lr": 0.01},
        {"number": 2, "optimizer": "adam", "lr": 0.01},
    ]
    assert len(epochs) == 6
    summary = records[-1]
    assert summary["event"] == "summary" and [s["rank"] for s in summary["lanes"]] == [1, 2]
    rmses = [s["rmse"] for s in summary["lanes"]]
    assert rmses == sorted(rmses)


def test_a_lane_that_diverges_exits_3_naming_it_and_the_others_finish(capsys):
    code, out, err = run(capsys, "run", "--epochs", "50", "--vary", "lr=1e-5,1")
    assert code == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gdtui: lane 2 (lr 1) diverged at epoch ")
    assert any(line.startswith("lane 1 (lr 1e-05)  epoch 50 ") for line in out.splitlines())
    assert out.splitlines()[-1].split()[:4] == ["2", "2", "lr", "1"]  # ranked last
    assert out.splitlines()[-2].split()[:2] == ["1", "1"]


def test_out_writes_one_file_per_lane_as_its_solo_run_would(capsys, tmp_path):
    out = tmp_path / "race.csv"
    code, _, _ = run(capsys, "run", "--quiet", "--epochs", "4", "--vary", "optimizer=gd,adam", "--out", str(out))
    assert code == 0
    for number, optimizer in ((1, "gd"), (2, "adam")):
        solo = tmp_path / f"solo-{optimizer}.csv"
        run(capsys, "run", "--quiet", "--epochs", "4", "--optimizer", optimizer, "--out", str(solo))
        assert (tmp_path / f"race-lane{number}.csv").read_text() == solo.read_text()


@pytest.mark.parametrize(
    "spec, said",
    [
        ("lr=abc", "lr=abc"),
        ("lr=0", "lr=0"),
        ("lr=1e-5,-1", "lr=-1"),
        ("momentum=1", "momentum=1"),
        ("optimizer=gd,foo", "optimizer=foo"),
        ("loss=l3", "loss=l3"),
        ("epochs=0", "epochs=0"),
        ("epochs=2.5", "epochs=2.5"),
        ("model=cubic", "model=cubic"),
        ("degree=12", "degree=12"),
        ("accumulate-grad=maybe", "accumulate-grad=maybe"),
        ("seed=1,2", "seed"),
        ("data=sine", "data"),
        ("lr", "'lr'"),
        ("lr=", "'lr='"),
        ("lr=1e-5,", "'lr=1e-5,'"),
        ("=1", "'=1'"),
        ("init=1,2,3;", "a value is missing"),
        ("init=1,x,3", "init=1,x,3"),
        ("init=1,2", "not 2"),
        ("init=a=1,b=2,z=3", "name every parameter"),
        ("hidden=8;0", "hidden=0"),
        ("activation=gelu", "activation=gelu"),
    ],
)
def test_every_bad_vary_value_exits_2_naming_it(capsys, spec, said):
    code, out, err = run(capsys, "run", "--vary", spec)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--vary" in lines[0] and said in lines[0], err


def test_bad_combinations_of_vary_exit_2(capsys):
    for args, said in (
        (["--vary", "lr=1e-5", "--vary", "lr=2e-5"], "lr is varied twice"),
        (["--vary", "optimizer=nesterov", "--vary", "momentum=0,0.9"], "nesterov needs a momentum > 0"),
        (["--vary", "lr=1,2,3", "--vary", "optimizer=gd,adam,sgd"], "at most 8"),
    ):
        code, _, err = run(capsys, "run", *args)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "--vary" in lines[0] and said in lines[0], err


def test_accumulate_grad_and_models_vary(capsys):
    code, out, _ = run(capsys, "run", "--preset", "linear-module", "--epochs", "3", "--vary", "accumulate-grad=no,yes")
    assert code == 0
    for number, flag, label in ((1, "--zero-grad", "zero-grad"), (2, "--accumulate-grad", "accumulate-grad")):
        _, solo, _ = run(capsys, "run", "--preset", "linear-module", "--epochs", "3", flag)
        tag = f"lane {number} ({label})  "
        assert [line.removeprefix(tag) for line in out.splitlines() if line.startswith(tag)] == epoch_lines(solo)
    code, out, _ = run(capsys, "run", "--epochs", "3", "--vary", "model=quadratic,poly", "--vary", "lr=1e-7")
    assert code == 0 and len([line for line in out.splitlines() if line.startswith("lane ")]) == 6


def test_init_and_hidden_vary_by_lane_with_semicolons(capsys):
    """List values are separated by ';': each lane prints what its solo run with that --init (or --hidden) prints."""
    code, out, _ = run(capsys, "run", "--epochs", "4", "--vary", "init=1,2,3;a=0,b=0,c=0.5")
    assert code == 0
    for number, init, label in ((1, "1,2,3", "init 1,2,3"), (2, "0,0,0.5", "init a=0,b=0,c=0.5")):
        _, solo, _ = run(capsys, "run", "--epochs", "4", "--init", init)
        tag = f"lane {number} ({label})  "
        assert [line.removeprefix(tag) for line in out.splitlines() if line.startswith(tag)] == epoch_lines(solo)
    sine = ["--data", "sine", "--model", "mlp", "--epochs", "3"]
    code, out, _ = run(capsys, "run", *sine, "--vary", "hidden=8;8,4")
    assert code == 0
    for number, hidden in ((1, "8"), (2, "8,4")):
        _, solo, _ = run(capsys, "run", *sine, "--hidden", hidden)
        tag = f"lane {number} (hidden {hidden})  "
        assert [line.removeprefix(tag) for line in out.splitlines() if line.startswith(tag)] == epoch_lines(solo)
    code, out, _ = run(capsys, "run", *sine, "--vary", "hidden=8,16")  # commas alone: one layer each
    assert code == 0 and "lane 2 (hidden 16)" in out
