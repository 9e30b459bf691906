"""--standardize (issue 29): feature scaling, the model trained on its design's non-constant columns standardised
(mean 0, population std over the training points), its parameters the scaled model's, its predictions, loss and
RMSE in the data's units.

Each run is checked number for number against a literal torch loop that standardises the columns by hand; the
exported script prints gdtui run's log; a race puts the raw problem beside the scaled one on the same data; the
setting survives TOML, the journal and --config; the mlp (and a model without its constant term) is refused;
and the condition number κ of fastai-quadratic's design, 218,451 raw and 57 standardised, is computed here with
numpy's eigh on a design matrix built in the test.
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import torch

from gdtui.cli import main
from gdtui.cli.common import epoch_line
from gdtui.engine import resolve
from gdtui.engine.lanes import Race
from gdtui.engine.script import script
from gdtui.engine.trainer import Trainer
from tests.test_script import export, run_lines, run_scripts


def cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def run_json(*args: str) -> tuple[list[dict], dict]:
    code, out, err = cli("run", "--json", *args)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    return records[:-1], records[-1]


def by_hand(column: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """A column's mean and population standard deviation, as docs/options.md states them: over the training
    points, in float64, then rounded to the run's dtype."""
    wide = column.double()
    mean, std = wide.mean(), wide.std(correction=0)
    assert float(std) == pytest.approx(float(np.std(wide.numpy(), ddof=0)), rel=1e-12)  # population: ddof=0
    return mean.to(dtype), std.to(dtype)


def fastai_data(dtype: torch.dtype, points: int = 20) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """fastai-quadratic's data and initial parameters, drawn as its notebook draws them."""
    torch.manual_seed(2021)
    time = torch.arange(0, points).float()
    speed = torch.rand(points) * 5.0 + 0.8 * (time - 7.5) ** 2 + 1
    torch.randn(3)  # the notebook's throw-away draw
    params = torch.randn(3, dtype=dtype)
    return time.to(dtype), speed.to(dtype), params


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_quadratic_matches_a_literal_loop_on_standardised_columns(dtype):
    """fastai-quadratic with t² and t standardised by hand: gd at lr 0.1, far past the raw limit of 3.5e-5."""
    torch_dtype = getattr(torch, dtype)
    t, speed, init = fastai_data(torch_dtype)
    m2, s2 = by_hand(t**2, torch_dtype)
    m1, s1 = by_hand(t, torch_dtype)
    params = init.clone().requires_grad_()
    expected = []
    for _ in range(40):
        a, b, c = params
        preds = a * ((t**2 - m2) / s2) + (b * ((t - m1) / s1)) + c
        loss = ((preds - speed) ** 2).mean()
        loss.backward()
        params.data -= 0.1 * params.grad.data
        params.grad = None
        expected.append((loss.item(), loss.item() ** 0.5, params.tolist()))
    epochs, summary = run_json("--standardize", "--lr", "0.1", "--epochs", "40", "--dtype", dtype)
    got = [(e["loss"], e["rmse"], [e["params"][n] for n in "abc"]) for e in epochs]
    assert got == expected
    assert summary["standardized"] == {
        "mean": {"a": float(m2), "b": float(m1)},
        "std": {"a": float(s2), "b": float(s1)},
    }
    # an accelerator's loop (every value read back once a chunk) computes the same, on the CPU too
    for readback in ("chunk", "epoch"):
        trainer = Trainer(resolve("fastai-quadratic", standardize=True, lr=0.1, epochs=40, dtype=dtype), readback)
        trainer.run(40)
        assert list(trainer.history.loss) == [loss for loss, _, _ in expected]
    # the raw run still prints the article's log, and nothing of standardisation
    raw, raw_summary = run_json("--epochs", "3")
    assert [e["rmse"] for e in raw] == [74.96194346966999, 36.43029986215973, 22.692756149058336]
    assert "standardized" not in raw_summary


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_poly_with_a_test_split_takes_its_statistics_from_the_training_points(dtype):
    """A cubic on x, x², x³ standardised over the first 75% of the points (the test points' x reach further),
    Adam; the test loss is in the data's units, on the same statistics."""
    torch_dtype = getattr(torch, dtype)
    torch.manual_seed(7)
    x = torch.linspace(-3.0, 3.0, 24, dtype=torch_dtype)
    y = 0.5 * x**3 - 2 * x
    y = y + 0.5 * torch.randn(24, dtype=torch_dtype)
    params = torch.randn(4, dtype=torch_dtype).requires_grad_()
    n_train = 18
    xt, yt, xs, ys = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    stats = [by_hand(xt**k, torch_dtype) for k in (1, 2, 3)]
    assert float(stats[0][0]) != float(x.double().mean())  # the training points' mean, not all the points'
    mean = torch.stack([torch.zeros((), dtype=torch_dtype), *(m for m, _ in stats)])
    std = torch.stack([torch.ones((), dtype=torch_dtype), *(s for _, s in stats)])

    def predict(v: torch.Tensor) -> torch.Tensor:
        powers = torch.arange(0, 4, dtype=torch_dtype)
        return ((v.unsqueeze(-1) ** powers - mean) / std) @ params

    optimizer = torch.optim.Adam([params], lr=0.05)
    expected = []
    for _ in range(30):
        loss = ((predict(xt) - yt) ** 2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        with torch.inference_mode():
            test = ((predict(xs) - ys) ** 2).mean().item()
        expected.append((loss.item(), test, params.tolist()))
    args = ["--preset", "qiita-quadratic", "--data", "cubic", "--points", "24", "--noise", "0.5", "--seed", "7"]
    args += ["--model", "poly", "--degree", "3", "--test-fraction", "0.25", "--optimizer", "adam", "--lr", "0.05"]
    epochs, _ = run_json(*args, "--epochs", "30", "--dtype", dtype, "--standardize")
    assert [(e["loss"], e["test_loss"], [e["params"][f"c{k}"] for k in range(4)]) for e in epochs] == expected


def test_nn_linear_feeds_its_layer_the_standardised_column():
    """nn.Linear(1, 1) on (x - mean) / std, SGD with momentum, float64."""
    torch.manual_seed(3)
    x = torch.linspace(-1.0, 5.0, 16, dtype=torch.float64)
    y = 2 * x + 1
    y = y + 0.2 * torch.randn(16, dtype=torch.float64)
    torch.manual_seed(3)
    layer = torch.nn.Linear(1, 1).to(dtype=torch.float64)
    mean, std = by_hand(x, torch.float64)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.5)
    expected = []
    for _ in range(20):
        loss = ((layer(((x - mean) / std).unsqueeze(-1)).squeeze(-1) - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        expected.append((loss.item(), [layer.weight.item(), layer.bias.item()]))
    args = ["--data", "linear", "--x-range", "-1,5", "--points", "16", "--noise", "0.2", "--seed", "3"]
    args += ["--model", "nn-linear", "--optimizer", "sgd", "--momentum", "0.5", "--lr", "0.1", "--dtype", "float64"]
    epochs, _ = run_json(*args, "--epochs", "20", "--standardize")
    assert [(e["loss"], [e["params"]["weight"], e["params"]["bias"]]) for e in epochs] == expected


EXPORTED = [
    ["--standardize", "--lr", "0.1", "--epochs", "30"],
    ["--standardize", "--lr", "0.1", "--dtype", "float64", "--optimizer", "sgd", "--momentum", "0.9"],
    ["--standardize", "--preset", "qiita-quadratic", "--test-fraction", "0.3", "--loss", "l1", "--lr", "0.5"],
    ["--standardize", "--data", "cubic", "--model", "poly", "--degree", "3", "--batch-size", "5", "--lr", "0.05"],
    ["--standardize", "--preset", "linear-manual", "--init", "w=1,b=-1", "--lr", "0.3", "--epochs", "40"],
    ["--standardize", "--preset", "linear-module", "--accumulate-grad", "--epochs", "30"],
    ["--standardize", "--data", "sine", "--model", "poly", "--degree", "5", "--optimizer", "adam", "--lr", "0.1"],
]


def test_the_exported_script_prints_gdtui_runs_log(tmp_path):
    paths = [export(str(tmp_path / f"scaled{i}.py"), *args) for i, args in enumerate(EXPORTED)]
    text = open(paths[0]).read()
    assert "standardisation" in text and "correction=0" in text
    for args, lines in zip(EXPORTED, run_scripts(paths)):
        assert lines and lines == run_lines(*args), args


def test_a_changed_run_exports_its_changes_on_the_scaled_model(tmp_path):
    trainer = Trainer(resolve("fastai-quadratic", standardize=True, lr=0.05, epochs=20))
    trainer.run(6)
    trainer.switch(optimizer="adam", lr=0.2)
    trainer.run(14)
    path = tmp_path / "changed.py"
    path.write_text(script(trainer.start_config, trainer.changes, trainer.data.n_train))
    (lines,) = run_scripts([str(path)])
    assert lines == [epoch_line(trainer.history.result(k)) for k in range(trainer.epoch)]


def test_a_race_of_the_raw_problem_against_the_scaled_one():
    """`--vary standardize=false,true`: each lane prints its solo run's lines, the raw lane the plain run's."""
    code, out, _ = cli("run", "--epochs", "8", "--lr", "2e-5", "--vary", "standardize=false,true")
    assert code == 0
    raw = [line.removeprefix("lane 1 (raw)  ") for line in out.splitlines() if line.startswith("lane 1 (raw)  ")]
    tag = "lane 2 (standardized)  "
    scaled = [line.removeprefix(tag) for line in out.splitlines() if line.startswith(tag)]
    assert raw == run_lines("--epochs", "8", "--lr", "2e-5")
    assert scaled == run_lines("--epochs", "8", "--lr", "2e-5", "--standardize") != raw
    code, _, _ = cli("run", "--epochs", "2", "--vary", "standardize=no,yes")  # any boolean word
    assert code == 0


def test_lanes_of_a_race_and_their_branches_are_their_solo_runs():
    """In an engine Race (stacked where it can be: never a standardised lane with a raw one), each lane trains
    as its solo Trainer; a branch of the scaled lane replays it bit for bit."""
    base = resolve("qiita-quadratic", epochs=30)
    race = Race(base)
    race.add(base.replace(standardize=True, lr=0.05))
    race.add(base.replace(lr=5e-5))
    race.add(base.replace(standardize=True, lr=0.2))
    while any(not lane.trainer.done for lane in race.lanes):
        race.run_chunk(7)
    for lane in race.lanes:
        solo = Trainer(lane.trainer.config)
        solo.run(30)
        assert list(lane.trainer.history.rmse) == list(solo.history.rmse)
    branch = race.branch(race.lanes[1].id, 12, lr=0.1)
    branch.trainer.run(18)
    alone = Trainer(base.replace(standardize=True, lr=0.05))
    alone.run(12)
    alone.switch(lr=0.1)
    alone.run(18)
    assert list(branch.trainer.history.loss) == list(alone.history.loss)


def test_toml_journal_and_config_round_trip(tmp_path):
    from gdtui.engine.journal import Journal, read
    from gdtui.engine.tomlconfig import dump, load_record

    raw = resolve("fastai-quadratic", epochs=5)
    scaled = raw.replace(standardize=True, lr=0.1)
    path = tmp_path / "race.toml"
    path.write_text(dump([raw, scaled]))
    assert "standardize = false" in path.read_text() and "standardize = true" in path.read_text()
    assert [lane.start for lane in load_record(str(path)).lanes] == [raw, scaled]
    journal_path = str(tmp_path / "race.jsonl")
    journal = Journal(journal_path)
    journal.write(load_record(str(path)))
    journal.end()
    journal.close()
    assert [lane.start for lane in read(journal_path).lanes] == [raw, scaled]
    # --config: the file's scaled lane runs as `gdtui run --standardize`
    code, out, _ = cli("run", "--config", str(path))
    assert code == 0
    tag = "lane 2 (lr 0.1, standardized)  "
    assert [line.removeprefix(tag) for line in out.splitlines() if line.startswith(tag)] == run_lines(
        "--epochs", "5", "--lr", "0.1", "--standardize"
    )
    hand = tmp_path / "hand.toml"
    hand.write_text("standardize = true\nlr = 0.1\nepochs = 5\n")
    assert run_lines("--config", str(hand)) == run_lines("--epochs", "5", "--lr", "0.1", "--standardize")
    hand.write_text('standardize = "yes"\n')
    code, _, err = cli("run", "--config", str(hand))
    assert code == 2 and "standardize" in err and "not true or false" in err


@pytest.mark.parametrize(
    "args",
    [
        ["--model", "mlp", "--standardize"],
        ["--model", "mlp", "--vary", "standardize=false,true"],
        ["--standardize", "--vary", "model=quadratic,mlp"],
    ],
)
def test_the_mlp_is_refused_naming_it(args):
    code, out, err = cli("run", *args)
    assert code == 2 and out == ""
    assert "mlp" in err and "standardize" in err and len(err.strip().splitlines()) == 1


def test_a_model_without_its_constant_term_is_refused_and_the_toml_mlp_too(tmp_path):
    code, _, err = cli("run", "--model", "linear", "--data", "linear", "--no-bias", "--standardize")
    assert code == 2 and "'--standardize'" in err and "bias" in err
    path = tmp_path / "mlp.toml"
    path.write_text('model = "mlp"\nstandardize = true\n')
    code, _, err = cli("run", "--config", str(path))
    assert code == 2 and "mlp" in err


def fastai_designs() -> tuple[np.ndarray, np.ndarray]:
    """fastai-quadratic's design [t², t, 1], raw and with t² and t standardised (numpy, ddof=0)."""
    t = np.arange(20, dtype=np.float64)
    raw = np.stack([t**2, t, np.ones_like(t)], axis=1)
    scaled = raw.copy()
    for k in (0, 1):
        scaled[:, k] = (raw[:, k] - raw[:, k].mean()) / raw[:, k].std()
    return raw, scaled


def kappa(design: np.ndarray) -> float:
    eigenvalues = np.linalg.eigh(design.T @ design)[0]
    return float(eigenvalues[-1] / eigenvalues[0])


def test_landscape_reports_kappa_of_both_designs():
    raw, scaled = fastai_designs()
    expected_raw, expected_scaled = kappa(raw), kappa(scaled)
    assert round(expected_raw) == 218_451 and round(expected_scaled) == 57
    for flag in ([], ["--standardize"]):
        code, out, _ = cli("landscape", *flag, "--size", "3x3", "--epoch", "0", "--json")
        assert code == 0
        summary = json.loads(out.splitlines()[-1])
        assert summary["standardize"] == bool(flag)
        # the standardised design's statistics are the run's, rounded to float32: within 1e-6 of exact ones
        assert summary["kappa"]["raw"] == pytest.approx(expected_raw, rel=1e-9)
        assert summary["kappa"]["standardized"] == pytest.approx(expected_scaled, rel=1e-6)
        # the landscape's curvature is the run's own model's: 2/n·XᵀX of the design it trains on
        design = scaled if flag else raw
        hessian = np.linalg.eigh(2 / 20 * design.T @ design)[0]
        assert summary["hessian_eigenvalues"] == pytest.approx(hessian.tolist(), rel=1e-6 if flag else 1e-9)
    assert summary["lr_limit"] == pytest.approx(2 / hessian[-1], rel=1e-6)  # 0.51, from 3.54e-5 raw
    code, _, err = cli("landscape", "--standardize", "--size", "3x3", "--epoch", "0")
    assert code == 0
    (line,) = [line for line in err.splitlines() if line.startswith("condition number")]
    assert "raw design 218450.6" in line and "standardized design 56.67" in line and "(the run's)" in line
    assert err.startswith("landscape of the standardized model")


def test_features_and_the_minimum_are_the_scaled_models():
    from gdtui.engine.landscape import features, minimum

    raw, scaled = fastai_designs()
    trainer = Trainer(resolve("fastai-quadratic", standardize=True))
    design = features(trainer, trainer.data.x_train).numpy()
    np.testing.assert_allclose(design, scaled, rtol=1e-6, atol=1e-6)  # statistics rounded to float32
    y = trainer.data.y_train.double().numpy()
    best = np.linalg.lstsq(design, y, rcond=None)[0]
    assert minimum(trainer) == pytest.approx(best.tolist(), rel=1e-9)
    # the same fit as the raw model's least squares, in the data's units
    raw_best = np.linalg.lstsq(raw, y, rcond=None)[0]
    np.testing.assert_allclose(design @ best, raw @ raw_best, rtol=1e-9)


async def test_the_pane_starts_a_scaled_run_and_says_its_params_are_the_scaled_models():
    from gdtui.tui.app import GdtuiApp
    from tests.test_app_options import SIZE, applied, pick, shown_rmse, solo
    from tests.tui_helpers import config, field, run_to_done

    start = config(epochs=5)
    scaled = config(epochs=5, standardize=True)
    app = GdtuiApp(start)
    async with app.run_test(size=SIZE) as pilot:
        await field(pilot, "lr")
        assert app.query_one("#row-standardize").display and not app.query_one("#scaled-note").display
        await pick(pilot, "standardize", True)
        await applied(pilot, scaled)
        note = str(app.query_one("#scaled-note").render())
        assert app.query_one("#scaled-note").display and "a,b,c" in note and "scaled x" in note
        assert "scaled model" in str(app.query_one("#f-standardize").tooltip)
        await run_to_done(pilot)
        assert shown_rmse(app) == solo(scaled) != solo(start)
        await pick(pilot, "model", "mlp")  # refused: the pane keeps the scaled quadratic
        await pilot.pause()
        assert app.config == scaled
