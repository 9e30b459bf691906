"""`gdtui landscape` and `gdtui lr-find`: the CSV grid against the loss computed point by point from the
articles' data written out here, the minimum against least squares, the lr limit against 2/λmax of 2/n·XᵀX,
the ramp's lrs, --out, --json, divergence (exit 3, grid still written) and one-line errors (exit 2).

Each case calls `gdtui.cli.main([...])` in-process (it returns the exit code) with capsys, as test_cli does.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re

import numpy as np
import pytest
import torch

from gdtui.cli import main


def cli(capsys, *args):
    """Run `gdtui ARGS` in-process: (exit code, stdout, stderr)."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def fastai_data():
    """The fastai article's data (seed 000), as it writes it."""
    torch.manual_seed(2021)
    time = torch.arange(0, 20).float()
    speed = torch.rand(20) * 5 + 0.8 * (time - 7.5) ** 2 + 1
    return time.double().tolist(), speed.double().tolist()


LINEAR_MANUAL = ([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0])


def named(line: str, name: str) -> float:
    """The value of `name=value` in a summary line."""
    match = re.search(rf"(?:^|\s){name}=(\S+)", line)
    assert match, (name, line)
    return float(match.group(1))


def summary_line(text: str, prefix: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, text
    return lines[0]


def grid_rows(text: str) -> tuple[list[str], list[list[float]]]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], [[float(v) for v in row] for row in rows[1:]]


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


# --- landscape: the grid ----------------------------------------------------------------------------------------


def test_the_fastai_grid_is_the_mse_computed_point_by_point(capsys):
    code, out, err = cli(capsys, "landscape", "--preset", "fastai-quadratic", "--size", "7x5")
    assert code == 0, err
    header, rows = grid_rows(out)  # stdout is the CSV alone: the summary went to stderr
    assert header == ["a", "b", "loss"]
    assert len(rows) == 7 * 5
    c = named(summary_line(err, "held:"), "c")
    t, speed = fastai_data()
    for a, b, loss in rows[:14] + rows[-7:]:  # the first two grid rows and the last
        total = 0.0
        for ti, si in zip(t, speed):
            total += (a * ti**2 + b * ti + c - si) ** 2
        assert loss == pytest.approx(total / len(t), rel=1e-9)
    assert sorted({r[0] for r in rows}) == [r[0] for r in rows[:7]]  # a varies along a grid row, b down the rows
    assert len({r[1] for r in rows}) == 5


def test_the_linear_manual_grid_is_the_mse_computed_point_by_point(capsys):
    code, out, err = cli(capsys, "landscape", "--preset", "linear-manual", "--size", "4x3", "--epoch", "7")
    assert code == 0, err
    header, rows = grid_rows(out)
    assert header == ["w", "b", "loss"]
    assert len(rows) == 12
    x, y = LINEAR_MANUAL
    for w, b, loss in rows:
        mse = sum((w * xi + b - yi) ** 2 for xi, yi in zip(x, y)) / len(x)
        assert loss == pytest.approx(mse, rel=1e-9)
    assert "held: none" in err
    assert "path: epochs 0..7" in err


def test_the_default_grid_is_120_by_72_over_the_first_two_parameters(capsys):
    code, out, err = cli(capsys, "landscape", "--preset", "linear-manual")
    assert code == 0, err
    header, rows = grid_rows(out)
    assert header == ["w", "b", "loss"] and len(rows) == 120 * 72
    assert "at epoch 100 of 100" in summary_line(err, "landscape:")


@pytest.mark.parametrize("pair", ["a,c", "c,b"])
def test_the_pair_option_chooses_the_axes(capsys, pair):
    code, out, err = cli(capsys, "landscape", "--pair", pair, "--size", "3x2")
    assert code == 0, err
    p1, p2 = pair.split(",")
    assert out.splitlines()[0] == f"{p1},{p2},loss"
    held = ({"a", "b", "c"} - {p1, p2}).pop()
    assert f"held: {held}=" in err


# --- landscape: the summary -------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset, names", [("fastai-quadratic", "abc"), ("linear-manual", "wb")])
def test_the_minimum_is_the_least_squares_fit(capsys, preset, names):
    code, out, err = cli(capsys, "landscape", "--preset", preset, "--size", "2x2")
    assert code == 0, err
    if preset == "fastai-quadratic":
        t, y = fastai_data()
        design = np.array([[ti * ti, ti, 1.0] for ti in t])
    else:
        x, y = LINEAR_MANUAL
        design = np.array([[xi, 1.0] for xi in x])
    solution = np.linalg.lstsq(design, np.array(y), rcond=None)[0]
    line = summary_line(err, "minimum (least squares):")
    assert [named(line, n) for n in names] == pytest.approx(solution.tolist(), rel=1e-8, abs=1e-12)
    residual = design @ solution - np.array(y)
    assert float(line.rsplit("loss: ", 1)[1]) == pytest.approx(float((residual**2).mean()), rel=1e-6, abs=1e-20)


def test_the_json_summary_holds_the_curvature_the_path_and_the_data(capsys):
    code, out, err = cli(capsys, "landscape", "--size", "3x2", "--epoch", "4", "--json")
    assert code == 0, err
    *points, summary = json_lines(out)
    assert len(points) == 6 and all(set(p) == {"a", "b", "loss"} for p in points)
    assert summary["event"] == "summary" and summary["pair"] == ["a", "b"] and summary["epoch"] == 4
    # the held c and the path's end are the parameters `gdtui run --epochs 4` ends on
    _, run_out, _ = cli(capsys, "run", "--epochs", "4", "--json")
    params = json.loads(run_out.splitlines()[-1])["params"]
    assert summary["held"] == {"c": params["c"]}
    assert len(summary["path"]) == 5 and summary["path"][-1] == [params["a"], params["b"]]
    t, _ = fastai_data()
    X = torch.tensor([[ti * ti, ti, 1.0] for ti in t], dtype=torch.float64)
    eigenvalues = torch.linalg.eigvalsh(2 / len(t) * X.T @ X).tolist()
    assert summary["hessian_eigenvalues"] == pytest.approx(eigenvalues, rel=1e-9)
    assert summary["lr_limit"] == pytest.approx(2 / eigenvalues[-1], rel=1e-9)
    assert summary["lr"] == 1e-5 and summary["lr_exceeds_limit"] is False
    assert summary["points"] == 20 and summary["subsampled"] is False
    lowest = min(points, key=lambda p: p["loss"])
    assert summary["lowest"] == lowest


def test_the_text_summary_names_the_limit_the_path_and_the_data(capsys):
    code, _, err = cli(capsys, "landscape", "--size", "2x2", "--epoch", "3")
    assert code == 0, err
    curvature = summary_line(err, "curvature:")
    assert "lr limit 2/λmax: 3.5398" in curvature and "run's lr: 1e-05 (not above the limit)" in curvature
    assert summary_line(err, "path:").startswith("path: epochs 0..3, from a=")
    assert summary_line(err, "data:") == "data: 20 training points"


def test_large_data_is_said_to_be_subsampled(capsys):
    args = ["--data", "linear", "--points", "12000", "--model", "linear", "--lr", "0.01", "--epochs", "2"]
    code, out, err = cli(capsys, "landscape", *args, "--size", "2x2", "--out", "/dev/null")
    assert code == 0, err
    assert "data: computed on a fixed subsample of 10,000 of 12,000 points, drawn from the seed" in out


def test_an_l1_run_has_no_minimum_and_no_limit(capsys):
    code, out, err = cli(capsys, "landscape", "--preset", "linear-module", "--size", "3x3", "--epoch", "5", "--json")
    assert code == 0, err
    *points, summary = json_lines(out)
    assert summary["minimum"] is None and summary["lr_limit"] is None and summary["lr_exceeds_limit"] is None
    _, text, err = cli(capsys, "landscape", "--preset", "linear-module", "--size", "3x3", "--epoch", "5")
    assert "minimum: none (loss l1)" in err and "lr limit 2/λmax: unknown" in err


# --- landscape: --out, divergence -------------------------------------------------------------------------------


def test_out_writes_the_grid_and_the_summary_goes_to_stdout(capsys, tmp_path):
    path = tmp_path / "grid.csv"
    code, out, err = cli(capsys, "landscape", "--pair", "b,c", "--size", "3x4", "--out", str(path))
    assert code == 0, err
    header, rows = grid_rows(path.read_text())
    assert header == ["b", "c", "loss"] and len(rows) == 12
    assert out.startswith("landscape: b x c, 3x4 grid") and err == ""


def test_out_with_json_writes_json_lines(capsys, tmp_path):
    path = tmp_path / "grid.jsonl"
    code, out, err = cli(capsys, "landscape", "--size", "2x3", "--out", str(path), "--json")
    assert code == 0, err
    assert [set(p) for p in json_lines(path.read_text())] == [{"a", "b", "loss"}] * 6
    assert json.loads(out)["event"] == "summary"


def test_a_diverging_run_is_gridded_at_its_last_finite_epoch_and_exits_3(capsys):
    code, out, err = cli(capsys, "landscape", "--lr", "1e-4", "--epochs", "200", "--size", "3x3", "--json")
    assert code == 3
    *points, summary = json_lines(out)  # strict JSON: a non-finite loss would be null
    assert len(points) == 9 and summary["status"] == "diverged"
    at = summary["epoch"]
    assert 0 < at < 200 and len(summary["path"]) == at + 1
    assert all(math.isfinite(v) for v in summary["held"].values())
    assert summary["lr_exceeds_limit"] is True
    assert err.strip().splitlines()[-1].startswith("gdtui: diverged at epoch ")
    assert f"the landscape is at epoch {at}" in err


# --- lr-find ----------------------------------------------------------------------------------------------------


def fastai_hessian():
    t, _ = fastai_data()
    X = torch.tensor([[ti * ti, ti, 1.0] for ti in t], dtype=torch.float64)
    return 2 / len(t) * X.T @ X


def test_lr_find_json_gives_the_curvature_limit_and_a_geometric_ramp(capsys):
    code, out, err = cli(capsys, "lr-find", "--start", "1e-7", "--end", "1", "--steps", "30", "--json")
    assert code == 0, err
    *steps, summary = json_lines(out)
    eigenvalues = torch.linalg.eigvalsh(fastai_hessian()).tolist()
    assert summary["hessian_eigenvalues"] == pytest.approx(eigenvalues, rel=1e-9)
    assert summary["lr_limit"] == pytest.approx(2 / eigenvalues[-1], rel=1e-9)
    assert f"{summary['lr_limit']:.3g}" == "3.54e-05"
    assert summary["lr"] == 1e-5
    assert 2 <= len(steps) <= 30
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
    ratio = (1 / 1e-7) ** (1 / 29)
    assert [s["lr"] for s in steps] == pytest.approx([1e-7 * ratio**k for k in range(len(steps))], rel=1e-12)
    finite = [(s["loss"], s["lr"]) for s in steps if s["loss"] is not None]
    assert summary["suggestion"] == min(finite)[1] / 10
    assert all(set(s) == {"step", "lr", "loss", "smoothed"} for s in steps)


def test_lr_find_prints_the_ramp_the_suggestion_and_the_limit(capsys):
    code, out, err = cli(capsys, "lr-find", "--preset", "linear-manual", "--steps", "10")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["step", "lr", "loss", "smoothed"]
    table = [line.split() for line in lines[1:] if line.split()[0].isdigit()]
    assert 2 <= len(table) <= 10 and float(table[0][1]) == 1e-8
    suggestion = summary_line(out, "suggestion:")
    assert "(the lr of the lowest raw loss, divided by 10)" in suggestion
    lowest = min((float(row[2]), float(row[1])) for row in table if math.isfinite(float(row[2])))
    assert float(suggestion.split()[1]) == lowest[1] / 10
    x, _ = LINEAR_MANUAL
    X = torch.tensor([[xi, 1.0] for xi in x], dtype=torch.float64)
    top = torch.linalg.eigvalsh(2 / len(x) * X.T @ X).max().item()
    limit = summary_line(out, "curvature at the initial parameters:")
    assert float(re.search(r"lr limit 2/λmax: (\S+)", limit).group(1)) == pytest.approx(2 / top, rel=1e-9)
    assert "run's lr: 0.01" in limit


def test_lr_find_on_l1_has_an_unknown_limit(capsys):
    code, out, err = cli(capsys, "lr-find", "--preset", "linear-module", "--steps", "5", "--json")
    assert code == 0, err
    summary = json_lines(out)[-1]
    assert summary["lr_limit"] is None and summary["hessian_eigenvalues"] == [0.0, 0.0]


# --- exit code 2: one line naming the option ---------------------------------------------------------------------


BAD = [
    (["landscape", "--pair", "a"], "--pair"),
    (["landscape", "--pair", "a,a"], "--pair"),
    (["landscape", "--pair", "a,z"], "--pair"),
    (["landscape", "--pair", "w,b"], "--pair"),
    (["landscape", "--pair", "a,b,c"], "--pair"),
    (["landscape", "--pair", ""], "--pair"),
    (["landscape", "--preset", "linear-manual", "--pair", "a,b"], "--pair"),
    (["landscape", "--size", "1x5"], "--size"),
    (["landscape", "--size", "5x1001"], "--size"),
    (["landscape", "--size", "5"], "--size"),
    (["landscape", "--size", "axb"], "--size"),
    (["landscape", "--size", "5x5x5"], "--size"),
    (["landscape", "--size", "-3x4"], "--size"),
    (["landscape", "--size", "2.5x4"], "--size"),
    (["landscape", "--size", ""], "--size"),
    (["landscape", "--epoch", "-1"], "--epoch"),
    (["landscape", "--epoch", "11"], "--epoch"),
    (["landscape", "--epochs", "5", "--epoch", "6"], "--epoch"),
    (["landscape", "--epoch", "x"], "--epoch"),
    (["landscape", "--epoch", "2.5"], "--epoch"),
    (["landscape", "--out", "/no/such/dir/grid.csv"], "--out"),
    (["landscape", "--lr", "abc"], "--lr"),
    (["lr-find", "--start", "0"], "--start"),
    (["lr-find", "--start", "-1"], "--start"),
    (["lr-find", "--start", "nan"], "--start"),
    (["lr-find", "--start", "inf"], "--start"),
    (["lr-find", "--start", "abc"], "--start"),
    (["lr-find", "--start", "1e7"], "--start"),
    (["lr-find", "--end", "1e-9"], "--end"),
    (["lr-find", "--start", "1", "--end", "1"], "--end"),
    (["lr-find", "--end", "1e7"], "--end"),
    (["lr-find", "--end", "inf"], "--end"),
    (["lr-find", "--end", "nan"], "--end"),
    (["lr-find", "--steps", "1"], "--steps"),
    (["lr-find", "--steps", "0"], "--steps"),
    (["lr-find", "--steps", "10001"], "--steps"),
    (["lr-find", "--steps", "2.5"], "--steps"),
    (["lr-find", "--steps", "abc"], "--steps"),
]


@pytest.mark.parametrize("args, option", BAD, ids=[" ".join(args) for args, _ in BAD])
def test_a_bad_value_exits_2_with_one_line_naming_the_option(capsys, args, option):
    code, out, err = cli(capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and f"'{option}'" in lines[0]
    assert out == ""


def test_a_bad_pair_says_which_parameters_exist(capsys):
    _, _, err = cli(capsys, "landscape", "--pair", "a,z")
    assert "it has a, b, c" in err
