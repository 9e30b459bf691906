"""The engine: divergence, live lr changes, reset, side-by-side trainers, optimizers, losses, models, data,
splits, history files, plot sampling and devices.

References are hand loops written the way the seed articles write them (fastai-quadratic's data and
parameters, seed 000), or literal torch.optim loops; they are compared with the Trainer's results exactly.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import stat

import pytest
import torch
from torch import nn

from gdtui.engine import ConfigError, DataError, resolve
from gdtui.engine.data import PLOT_SAMPLE, plot_sample
from gdtui.engine.device import DeviceError, resolve_device
from gdtui.engine.trainer import Trainer

# --- the fastai article (seed 000), as written -------------------------------------------------------------


def article_setup():
    """torch.manual_seed(2021); time; speed; the discarded torch.randn(3); params = torch.randn(3)."""
    torch.manual_seed(2021)
    time = torch.arange(0, 20).float()
    speed = torch.rand(20) * 5 + 0.8 * (time - 7.5) ** 2 + 1
    torch.randn(3).requires_grad_()
    params = torch.randn(3).requires_grad_()
    return time, speed, params


def function(t, params):
    a, b, c = params
    return a * (t**2) + (b * t) + c


def mse(preds, targets):
    return ((preds - targets) ** 2).mean()


def article_loop(epochs, lr_of_epoch):
    """The article's apply_step loop; lr_of_epoch(i) gives lr for the i-th step (0-based).
    Returns one (rmse, loss, params after, grad norm, preds before) per step, stopping after the first
    non-finite loss or parameter (included)."""
    time, speed, params = article_setup()
    out = []
    for i in range(epochs):
        lr = lr_of_epoch(i)
        preds = function(time, params)
        loss = mse(preds, speed)
        loss.backward()
        grad_norm = torch.linalg.vector_norm(params.grad).item()
        params.data -= lr * params.grad.data
        params.grad = None
        out.append(((loss.item()) ** 0.5, loss.item(), params.tolist(), grad_norm, preds.detach().tolist()))
        if not (math.isfinite(loss.item()) and all(math.isfinite(v) for v in params.tolist())):
            break
    return out


def values(result):
    return [v for _, v in result.params]


# --- divergence ---------------------------------------------------------------------------------------------


def test_divergence_stops_at_first_non_finite_loss():
    reference = article_loop(50, lambda i: 1.0)
    n = len(reference)
    assert 1 < n < 50  # the hand loop does blow up, and not at once
    trainer = Trainer(resolve("fastai-quadratic", lr=1))
    results = trainer.run(50)
    assert len(results) == n
    assert [r.status for r in results] == ["ok"] * (n - 1) + ["diverged"]
    assert trainer.status == "diverged"
    assert trainer.epoch == n
    assert [r.rmse for r in results[:-1]] == [ref[0] for ref in reference[:-1]]
    assert not math.isfinite(results[-1].loss) or not all(map(math.isfinite, values(results[-1])))


def test_diverged_trainer_stays_put_and_reset_recovers():
    trainer = Trainer(resolve("fastai-quadratic", lr=1))
    results = trainer.run(50)
    last = results[-1]
    assert last.status == "diverged"
    assert trainer.run(10) == []
    again = trainer.step()
    assert (again.epoch, again.status, again.params) == (last.epoch, "diverged", last.params)
    assert again.loss == last.loss or (math.isnan(again.loss) and math.isnan(last.loss))
    assert trainer.epoch == last.epoch
    assert len(trainer.history) == last.epoch

    trainer.reset()
    assert trainer.status == "ok" and trainer.epoch == 0
    first = trainer.step()
    assert first.status == "ok"
    assert first.epoch == 1
    assert first.rmse == article_loop(1, lambda i: 1.0)[0][0] == 74.96194346966999


def test_divergence_on_a_non_finite_parameter_with_a_finite_loss(tmp_path):
    """x = y = 1e18: the first loss (1e36) is finite, the first update overflows w to inf."""
    path = tmp_path / "huge.csv"
    path.write_text("1e18,1e18\n1e18,1e18\n")
    # linear-manual's own loop on this data
    x_data = torch.tensor([1e18, 1e18])
    y_data = torch.tensor([1e18, 1e18])
    w = torch.tensor([0.0], requires_grad=True)
    b = torch.tensor([0.0], requires_grad=True)
    learning_rate = 1000.0
    y_pred = w * x_data + b
    loss = torch.mean((y_pred - y_data) ** 2)
    loss.backward()
    with torch.no_grad():
        w -= learning_rate * w.grad
        b -= learning_rate * b.grad
    assert math.isfinite(loss.item()) and not math.isfinite(w.item())

    trainer = Trainer(resolve("linear-manual", data=str(path), lr=learning_rate))
    results = trainer.run(10)
    assert len(results) == 1
    assert results[0].status == "diverged"
    assert results[0].loss == loss.item()
    assert trainer.status == "diverged"


# --- live changes, reset, side by side ------------------------------------------------------------------------


def test_lr_changed_mid_run_takes_effect_next_epoch():
    change_at = 4
    reference = article_loop(10, lambda i: 1e-5 if i < change_at else 3e-5)
    trainer = Trainer(resolve("fastai-quadratic"))
    results = trainer.run(change_at)
    config = trainer.update(lr=3e-5)
    assert config.lr == 3e-5 and trainer.config.lr == 3e-5
    results += [trainer.step() for _ in range(10 - change_at)]
    assert [r.rmse for r in results] == [ref[0] for ref in reference]
    assert [values(r) for r in results] == [ref[2] for ref in reference]
    assert [r.lr for r in results] == [1e-5] * change_at + [3e-5] * (10 - change_at)
    # and it is a real change: without it the numbers differ
    unchanged = Trainer(resolve("fastai-quadratic")).run(10)
    assert [r.rmse for r in unchanged][change_at + 1 :] != [r.rmse for r in results][change_at + 1 :]


def test_lr_change_keeps_optimizer_state():
    """Adam's moments survive an lr change: compare with a literal torch.optim.Adam loop."""
    time, speed, params = article_setup()
    optimizer = torch.optim.Adam([params], lr=0.1)
    reference = []
    for epoch in range(8):
        if epoch == 3:
            for group in optimizer.param_groups:
                group["lr"] = 0.02
        loss = mse(function(time, params), speed)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        reference.append((loss.item(), params.tolist()))

    trainer = Trainer(resolve("fastai-quadratic", optimizer="adam", lr=0.1))
    results = trainer.run(3)
    trainer.update(lr=0.02)
    results += trainer.run(5)
    assert [(r.loss, values(r)) for r in results] == reference


def test_momentum_changed_mid_run():
    time, speed, params = article_setup()
    optimizer = torch.optim.SGD([params], lr=1e-5, momentum=0.5)
    reference = []
    for epoch in range(6):
        if epoch == 2:
            optimizer.param_groups[0]["momentum"] = 0.8
        loss = mse(function(time, params), speed)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        reference.append((loss.item(), params.tolist()))
    trainer = Trainer(resolve("fastai-quadratic", optimizer="sgd", lr=1e-5, momentum=0.5))
    results = trainer.run(2)
    trainer.update(momentum=0.8)
    results += trainer.run(4)
    assert [(r.loss, values(r)) for r in results] == reference


def test_reset_returns_to_initial_params_and_reproduces():
    _, _, params = article_setup()
    initial = params.tolist()
    trainer = Trainer(resolve("fastai-quadratic"))
    assert trainer.model.flat().tolist() == initial
    first = trainer.run(7)
    assert trainer.model.flat().tolist() != initial
    trainer.reset()
    assert trainer.epoch == 0 and len(trainer.history) == 0 and trainer.status == "ok"
    assert trainer.model.flat().tolist() == initial
    second = trainer.run(7)
    assert [(r.epoch, r.loss, r.rmse, r.params) for r in second] == [(r.epoch, r.loss, r.rmse, r.params) for r in first]


def test_reset_clears_optimizer_state():
    trainer = Trainer(resolve("fastai-quadratic", optimizer="adam", lr=0.1))
    first = trainer.run(5)
    trainer.reset()
    second = trainer.run(5)
    assert [(r.loss, r.params) for r in second] == [(r.loss, r.params) for r in first]


def test_two_trainers_interleaved_match_each_alone():
    alone_a = Trainer(resolve("fastai-quadratic")).run(10)
    alone_b = Trainer(resolve("qiita-quadratic")).run(10)
    a = Trainer(resolve("fastai-quadratic"))
    b = Trainer(resolve("qiita-quadratic"))
    mixed_a, mixed_b = [], []
    for _ in range(10):
        mixed_a.append(a.step())
        mixed_b.append(b.step())
    assert [(r.rmse, r.params) for r in mixed_a] == [(r.rmse, r.params) for r in alone_a]
    assert [(r.rmse, r.params) for r in mixed_b] == [(r.rmse, r.params) for r in alone_b]
    assert [r.rmse for r in mixed_a] == [ref[0] for ref in article_loop(10, lambda i: 1e-5)]


def test_two_trainers_same_config_built_together():
    a = Trainer(resolve("fastai-quadratic"))
    b = Trainer(resolve("fastai-quadratic"))
    ra = a.run(3)
    b.update(lr=2e-5)
    rb = b.run(3)
    ra += a.run(3)
    assert [r.rmse for r in ra] == [ref[0] for ref in article_loop(6, lambda i: 1e-5)]
    assert [r.rmse for r in rb] == [ref[0] for ref in article_loop(3, lambda i: 2e-5)]


@pytest.mark.parametrize("bad", [0, -1, -1e-5, float("nan"), float("inf"), "abc", "", "1e400", 1e7])
def test_update_refuses_bad_lr(bad):
    trainer = Trainer(resolve("fastai-quadratic"))
    trainer.run(2)
    with pytest.raises(ConfigError) as info:
        trainer.update(lr=bad)
    assert info.value.field == "lr"
    assert trainer.config.lr == 1e-5
    rest = trainer.run(8)
    assert [r.rmse for r in rest] == [ref[0] for ref in article_loop(10, lambda i: 1e-5)][2:]


def test_update_refuses_fields_that_need_a_new_run():
    trainer = Trainer(resolve("fastai-quadratic"))
    with pytest.raises(ValueError):
        trainer.update(model="poly")
    with pytest.raises(ConfigError):
        trainer.update(epochs=0)
    with pytest.raises(ConfigError):
        trainer.update(momentum=1.0)


def test_results_are_immutable_and_carry_grad_norm_and_preds():
    reference = article_loop(5, lambda i: 1e-5)
    trainer = Trainer(resolve("fastai-quadratic"))
    stepped = [trainer.step() for _ in range(2)]
    chunk = trainer.run(2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stepped[0].loss = 0.0
    results = stepped + chunk
    assert [r.grad_norm for r in results] == pytest.approx([ref[3] for ref in reference[:4]], rel=1e-6)
    # predictions on the plot sample (the 20 points themselves, then the fitted function's) of the parameters
    # the result shows, after its update: the article's predictions at the start of the next step
    assert list(stepped[0].preds[:20]) == reference[1][4]
    assert list(stepped[1].preds[:20]) == reference[2][4]
    assert chunk[0].preds is None
    assert list(chunk[1].preds[:20]) == reference[4][4]
    assert len(chunk[1].preds) == 20 + len(trainer.line_x)
    xs, ys, n_train = trainer.plot_data
    time, speed, _ = article_setup()
    assert xs == time.tolist() and ys == speed.tolist() and n_train == 20


# --- optimizers -----------------------------------------------------------------------------------------------


OPTIMIZER_CASES = {
    "sgd": (dict(lr=1e-5, momentum=0.5), lambda p: torch.optim.SGD(p, lr=1e-5, momentum=0.5)),
    "nesterov": (dict(lr=1e-6), lambda p: torch.optim.SGD(p, lr=1e-6, momentum=0.9, nesterov=True)),
    "adam": (dict(lr=0.1), lambda p: torch.optim.Adam(p, lr=0.1)),
    "adamw": (dict(lr=0.1), lambda p: torch.optim.AdamW(p, lr=0.1)),
    "rmsprop": (dict(lr=0.01), lambda p: torch.optim.RMSprop(p, lr=0.01)),
    "adagrad": (dict(lr=0.5), lambda p: torch.optim.Adagrad(p, lr=0.5)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZER_CASES))
def test_optimizer_matches_literal_torch_optim_loop(name):
    settings, make = OPTIMIZER_CASES[name]
    time, speed, params = article_setup()
    optimizer = make([params])
    reference = []
    for epoch in range(6):
        preds = function(time, params)
        loss = mse(preds, speed)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        reference.append(((loss.item()) ** 0.5, params.tolist()))

    results = Trainer(resolve("fastai-quadratic", optimizer=name, **settings)).run(6)
    assert [(r.rmse, values(r)) for r in results] == reference
    assert all(r.status == "ok" for r in results)


def test_plain_gd_is_the_articles_step_not_torch_sgd():
    """gd must follow `params.data -= lr*grad`; the reference above for gd is the article itself."""
    results = Trainer(resolve("fastai-quadratic", optimizer="gd")).run(10)
    assert [(r.rmse, values(r)) for r in results] == [(ref[0], ref[2]) for ref in article_loop(10, lambda i: 1e-5)]


def test_plain_gd_update_rounds_as_the_articles_on_ten_parameters():
    """On ten parameters `p -= lr * grad` and torch's fused `p.add_(grad, alpha=-lr)` round differently;
    gd must be the former. (The forward is written as a matrix product here so that only the update differs.)"""
    lr = 1e-8
    trainer = Trainer(resolve(data="sine", points=200, noise=0.3, model="poly", degree=9, lr=lr, seed=3))
    x, y = trainer.data.x.clone(), trainer.data.y.clone()
    start = trainer.model.flat().clone()

    def loop(update):
        params = start.clone().requires_grad_()
        powers = torch.arange(len(params), dtype=x.dtype)
        out = []
        for epoch in range(30):
            loss = (((x.unsqueeze(-1) ** powers) @ params - y) ** 2).mean()
            loss.backward()
            update(params)
            params.grad = None
            out.append(params.tolist())
        return out

    def article_step(params):
        params.data -= lr * params.grad.data

    def fused_step(params):
        with torch.no_grad():
            params.add_(params.grad, alpha=-lr)

    reference = loop(article_step)
    assert reference != loop(fused_step)  # the two rules are distinguishable on this run
    assert [values(r) for r in trainer.run(30)] == reference


def test_nesterov_needs_momentum():
    with pytest.raises(ConfigError) as info:
        resolve("fastai-quadratic", optimizer="nesterov", momentum=0)
    assert info.value.field == "momentum"


# --- losses ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, loss_module, lr",
    [
        ("l1", nn.L1Loss(), 1e-4),
        ("huber", nn.HuberLoss(delta=1.0), 1e-4),
    ],
)
def test_non_mse_loss_with_rmse_computed_separately(name, loss_module, lr):
    time, speed, params = article_setup()
    reference = []
    for epoch in range(6):
        preds = function(time, params)
        loss = loss_module(preds, speed)
        rmse = mse(preds, speed).item() ** 0.5
        loss.backward()
        params.data -= lr * params.grad.data
        params.grad = None
        reference.append((loss.item(), rmse, params.tolist()))

    results = Trainer(resolve("fastai-quadratic", loss=name, lr=lr)).run(6)
    assert [(r.loss, r.rmse, values(r)) for r in results] == reference
    # the RMSE is not derived from this loss
    assert results[0].rmse != results[0].loss ** 0.5


# --- models ---------------------------------------------------------------------------------------------------


def test_poly_model_gradient_descent():
    config = resolve("fastai-quadratic", data="cubic", points=40, noise=0.5, model="poly", degree=3, lr=1e-3, seed=5)
    trainer = Trainer(config)
    assert trainer.names == ("c0", "c1", "c2", "c3")
    x, y = trainer.data.x.clone(), trainer.data.y.clone()
    params = trainer.model.flat().clone().requires_grad_()
    lr = 1e-3
    reference = []
    for epoch in range(20):
        c0, c1, c2, c3 = params
        preds = c0 + c1 * x + c2 * x**2 + c3 * x**3
        loss = ((preds - y) ** 2).mean()
        loss.backward()
        params.data -= lr * params.grad.data
        params.grad = None
        reference.append((loss.item(), params.tolist()))
    results = trainer.run(20)
    assert [r.loss for r in results] == pytest.approx([ref[0] for ref in reference], rel=1e-5)
    for result, (_, ref_params) in zip(results, reference):
        assert values(result) == pytest.approx(ref_params, rel=1e-5, abs=1e-7)
    assert results[-1].loss < results[0].loss


def test_poly_degree_sets_parameter_count():
    for degree in (1, 4, 9):
        trainer = Trainer(resolve("fastai-quadratic", data="linear", points=10, model="poly", degree=degree))
        assert len(trainer.run(1)[0].params) == degree + 1
    with pytest.raises(ConfigError):
        resolve("fastai-quadratic", model="poly", degree=0)


# --- synthetic data, splits -----------------------------------------------------------------------------------


def _polyfit_residual(x, y, degree):
    import numpy as np

    coeffs = np.polyfit(np.asarray(x, dtype=float), np.asarray(y, dtype=float), degree)
    return float(np.abs(np.polyval(coeffs, x) - np.asarray(y, dtype=float)).max())


def test_synthetic_quadratic_data():
    clean = Trainer(resolve(data="quadratic", points=500, noise=0, seed=3)).data
    assert len(clean.x) == 500 and clean.n_train == 500 and not clean.has_test
    xs, ys = clean.x.tolist(), clean.y.tolist()
    assert xs == sorted(xs) and len(set(xs)) == 500
    assert _polyfit_residual(xs, ys, 2) < 1e-4 * (max(ys) - min(ys) + 1)
    assert _polyfit_residual(xs, ys, 1) > 0.1  # really quadratic, not a line

    noisy = Trainer(resolve(data="quadratic", points=500, noise=2.0, seed=3)).data
    assert noisy.x.tolist() == xs
    diff = noisy.y - clean.y
    assert 1.7 < diff.std().item() < 2.3
    assert abs(diff.mean().item()) < 0.4

    same = Trainer(resolve(data="quadratic", points=500, noise=2.0, seed=3)).data
    other = Trainer(resolve(data="quadratic", points=500, noise=2.0, seed=4)).data
    assert torch.equal(same.y, noisy.y)
    assert not torch.equal(other.y, noisy.y)


@pytest.mark.parametrize("kind, degree", [("linear", 1), ("cubic", 3)])
def test_synthetic_kinds_noise_free(kind, degree):
    data = Trainer(resolve(data=kind, points=50, noise=0)).data
    assert len(data.x) == 50
    spread = max(data.y.tolist()) - min(data.y.tolist())
    assert _polyfit_residual(data.x.tolist(), data.y.tolist(), degree) < 1e-4 * (spread + 1)
    assert _polyfit_residual(data.x.tolist(), data.y.tolist(), degree - 1 if degree > 1 else 0) > 0.01


def test_synthetic_training_decreases_loss():
    results = Trainer(resolve(data="quadratic", points=100, noise=0.1, lr=1e-3, seed=1)).run(200)
    assert results[-1].loss < results[0].loss / 2


@pytest.mark.parametrize(
    "points, fraction, n_train",
    [
        (50, 0.2, 40),
        (10, 0.3, 7),
        (10, 0.25, 7),
        (20, 0.5, 10),
        (2, 0.9, 1),
        (2, 0.1, 1),
        (100, 0.01, 99),
    ],
)
def test_test_fraction_split_sizes(points, fraction, n_train):
    trainer = Trainer(resolve(data="linear", points=points, noise=0, test_fraction=fraction, epochs=1))
    data = trainer.data
    assert data.n_train == n_train
    assert len(data.x_train) == n_train and len(data.x_test) == points - n_train
    assert torch.equal(torch.cat([data.x_train, data.x_test]), data.x)  # leading points train
    result = trainer.step()
    assert result.test_loss is not None and math.isfinite(result.test_loss)


def test_no_split_means_no_test_loss():
    trainer = Trainer(resolve(data="linear", points=10, test_fraction=0))
    assert trainer.data.n_train == 10
    assert trainer.step().test_loss is None


def test_split_needs_two_points():
    with pytest.raises(DataError):
        Trainer(resolve(data="linear", points=1, test_fraction=0.5))


def test_test_loss_is_the_article_test_loss_after_the_step():
    """fastai recipe, first 15 points train, the last 5 test; test loss after each step, in inference mode."""
    time, speed, params = article_setup()
    lr = 1e-5
    xTrain, yTrain, xTest, yTest = time[:15], speed[:15], time[15:], speed[15:]
    reference = []
    for epoch in range(8):
        loss = mse(function(xTrain, params), yTrain)
        loss.backward()
        params.data -= lr * params.grad.data
        params.grad = None
        with torch.inference_mode():
            test_loss = mse(function(xTest, params), yTest)
        reference.append((loss.item(), test_loss.item(), params.tolist()))
    results = Trainer(resolve("fastai-quadratic", test_fraction=0.25)).run(8)
    assert [(r.loss, r.test_loss, values(r)) for r in results] == reference


# --- history files --------------------------------------------------------------------------------------------


def test_history_write_csv_and_json(tmp_path):
    trainer = Trainer(resolve("linear-module"))
    results = trainer.run(12)
    csv_path, json_path = tmp_path / "h.csv", tmp_path / "h.json"
    assert trainer.history.write(str(csv_path)) == 12
    assert trainer.history.write(str(json_path)) == 12
    assert sorted(os.listdir(tmp_path)) == ["h.csv", "h.json"]  # no temporary file left behind

    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12
    assert {"epoch", "loss", "rmse", "test_loss", "weight", "bias"} <= set(rows[0])
    for row, r in zip(rows, results):
        assert int(row["epoch"]) == r.epoch
        assert float(row["loss"]) == r.loss and float(row["rmse"]) == r.rmse
        assert float(row["test_loss"]) == r.test_loss
        assert (float(row["weight"]), float(row["bias"])) == tuple(values(r))

    records = json.loads(json_path.read_text())
    assert len(records) == 12
    for record, r in zip(records, results):
        assert record["epoch"] == r.epoch and record["loss"] == r.loss and record["rmse"] == r.rmse
        assert record["test_loss"] == r.test_loss
        assert record["params"] == dict(r.params)


def test_history_write_overwrites_and_handles_divergence(tmp_path):
    path = tmp_path / "run.json"
    path.write_text("old contents")
    trainer = Trainer(resolve("fastai-quadratic", lr=1))
    results = trainer.run(50)
    trainer.history.write(str(path))
    records = json.loads(path.read_text())  # strict JSON: non-finite numbers must have become null
    assert len(records) == len(results)
    assert records[-1]["status"] == "diverged"
    assert all(record["status"] == "ok" for record in records[:-1])
    assert records[0]["test_loss"] is None
    assert os.listdir(tmp_path) == ["run.json"]


def test_history_write_failure_leaves_no_temp_file(tmp_path):
    trainer = Trainer(resolve("linear-manual"))
    trainer.run(3)
    target = tmp_path / "taken.csv"
    target.mkdir()  # a directory where the file should go: the rename must fail
    with pytest.raises(OSError):
        trainer.history.write(str(target))
    assert os.listdir(tmp_path) == ["taken.csv"]
    assert os.listdir(target) == []


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_history_file_has_the_mode_open_would_give(tmp_path, umask):
    trainer = Trainer(resolve("linear-manual"))
    trainer.run(2)
    previous = os.umask(umask)
    try:
        trainer.history.write(str(tmp_path / "run.csv"))
        with open(tmp_path / "plain.csv", "w"):
            pass
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "run.csv").st_mode) == stat.S_IMODE(os.stat(tmp_path / "plain.csv").st_mode)


def test_history_file_keeps_the_mode_of_the_one_it_replaces(tmp_path):
    trainer = Trainer(resolve("linear-manual"))
    trainer.run(2)
    path = tmp_path / "run.csv"
    path.write_text("previous\n")
    os.chmod(path, 0o600)
    trainer.history.write(str(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and path.read_text().startswith("epoch,")


def test_history_write_on_a_file_system_without_modes(tmp_path, monkeypatch):
    import gdtui.engine.history as history_module

    def refused(fd, mode):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(history_module.os, "fchmod", refused)
    trainer = Trainer(resolve("linear-manual"))
    trainer.run(2)
    assert trainer.history.write(str(tmp_path / "run.csv")) == 2
    assert os.listdir(tmp_path) == ["run.csv"]


def test_history_write_is_atomic_when_interrupted(tmp_path, monkeypatch):
    """If the write is cut off before the rename, the old file is intact and no temporary file is left."""
    import gdtui.engine.history as history_module

    path = tmp_path / "run.csv"
    path.write_text("previous run\n")
    trainer = Trainer(resolve("linear-manual"))
    trainer.run(3)

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(history_module.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        trainer.history.write(str(path))
    assert path.read_text() == "previous run\n"
    assert os.listdir(tmp_path) == ["run.csv"]


# --- plot sampling ----------------------------------------------------------------------------------------------


def test_plot_sample_of_a_million_points_is_bounded_and_covers_x():
    n = 1_000_000
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(n, generator=generator) * 200 - 50  # shuffled, range about [-50, 150]
    y = torch.sin(x / 7) * 10 + torch.randn(n, generator=generator)
    idx = plot_sample(x, y)
    assert 0 < len(idx) <= PLOT_SAMPLE
    assert idx.dtype == torch.long
    assert len(torch.unique(idx)) == len(idx)
    assert int(idx.min()) >= 0 and int(idx.max()) < n
    span = (x.max() - x.min()).item()
    picked = x[idx]
    assert (picked.min() - x.min()).item() <= span / 40
    assert (x.max() - picked.max()).item() <= span / 40
    # no gap in x wider than a few grid cells: the whole range is drawn
    gaps = picked.sort().values.diff()
    assert gaps.max().item() <= span / 20
    ys = y[idx]
    yspan = (y.max() - y.min()).item()
    assert (ys.min() - y.min()).item() <= yspan / 10 and (y.max() - ys.max()).item() <= yspan / 10


def test_plot_sample_small_data_is_whole_and_limit_respected():
    x = torch.linspace(0, 1, 50)
    assert plot_sample(x, x).tolist() == list(range(50))
    big = torch.linspace(0, 1, 100_000)
    assert 0 < len(plot_sample(big, big**2, limit=100)) <= 100


def test_trainer_on_a_million_points_plots_a_sample():
    trainer = Trainer(resolve(data="sine", points=1_000_000, noise=0.1, lr=1e-3))
    xs, ys, n_train = trainer.plot_data
    assert 0 < len(xs) == len(ys) <= PLOT_SAMPLE
    assert n_train == len(xs)
    result = trainer.step()
    assert len(result.preds) == len(xs) + len(trainer.line_x)  # the sample, then the fitted function
    assert min(xs) <= -2.9 and max(xs) >= 2.9  # synthetic x spans [-3, 3]


# --- devices --------------------------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.device_count() > 3, reason="this machine has a cuda:3")
def test_missing_cuda_device_is_named():
    with pytest.raises(DeviceError, match="cuda:3"):
        resolve_device("cuda:3")
    with pytest.raises(DeviceError, match="cuda:3"):
        Trainer(resolve(device="cuda:3"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_plain_cuda_missing():
    with pytest.raises(DeviceError, match="cuda"):
        resolve_device("cuda")


@pytest.mark.skipif(
    bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()), reason="this machine has mps"
)
def test_missing_mps_is_named():
    with pytest.raises(DeviceError, match="mps"):
        resolve_device("mps")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_auto_device_is_cpu_here():
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    trainer = Trainer(resolve(device="auto"))
    assert trainer.device == torch.device("cpu")
    assert [r.rmse for r in trainer.run(10)] == [ref[0] for ref in article_loop(10, lambda i: 1e-5)]


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:x", "tpu", ""])
def test_bad_device_syntax_is_a_config_error(spec):
    with pytest.raises(ConfigError) as info:
        resolve_device(spec)
    assert info.value.field == "device"
    with pytest.raises(ConfigError):
        resolve(device=spec)


# --- stopping a chunk early -----------------------------------------------------------------------------------


def test_run_stops_when_asked_or_out_of_time():
    trainer = Trainer(resolve("fastai-quadratic"))
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) >= 3

    assert [r.epoch for r in trainer.run(100, should_stop=should_stop)] == [1, 2, 3]
    assert [r.epoch for r in trainer.run(100, budget=0.0)] == [4]
    assert trainer.run(0) == []
    rest = trainer.run(6)
    assert [r.rmse for r in rest] == [ref[0] for ref in article_loop(10, lambda i: 1e-5)][4:]


def test_session_looks_at_its_pipe_at_most_once_a_millisecond(monkeypatch):
    from gdtui.engine import session

    now = [100.0]
    monkeypatch.setattr(session.time, "perf_counter", lambda: now[0])

    class Pipe:
        looks, waiting = 0, False

        def poll(self):
            Pipe.looks += 1
            return Pipe.waiting

    waiting = session.Session(Pipe())._command_waiting()
    assert waiting() is False and Pipe.looks == 1  # the first epoch looks at once
    now[0] += 0.0004
    assert waiting() is False and Pipe.looks == 1  # within the millisecond: no system call
    Pipe.waiting = True
    now[0] += 0.0007
    assert waiting() is True and Pipe.looks == 2  # a command waits: the chunk stops here


# --- reading values back: each epoch (CPU) or once per chunk (accelerators) ----------------------------------


def history_columns(trainer):
    h = trainer.history
    return [
        list(h.loss),
        list(h.rmse),
        list(h.test_loss),
        list(h.grad_norm),
        list(h.lr),
        *(list(h.params[n]) for n in h.names),
        h.status,
    ]


def same_floats(a, b):
    """Equal lists of floats and statuses, NaN equal to NaN."""
    return len(a) == len(b) and all(x == y or (x != x and y != y) for x, y in zip(a, b))


@pytest.mark.parametrize(
    "preset, overrides",
    [
        ("fastai-quadratic", {}),
        ("fastai-quadratic", {"lr": 1}),  # diverges within a chunk
        ("qiita-quadratic", {"optimizer": "adam", "lr": 0.1}),
        ("linear-module", {"accumulate_grad": True}),  # gradients accumulate
        ("linear-manual", {"loss": "l1", "test_fraction": 0.25}),  # rmse apart from the loss; a test set
        (
            "linear-manual",
            {"model": "poly", "degree": 3, "data": "cubic", "optimizer": "sgd", "momentum": 0.9, "lr": 1e-3},
        ),
    ],
)
def test_reading_each_epoch_or_once_per_chunk_gives_the_same_run(preset, overrides):
    """The CPU reads each value as it is made; accelerators read a chunk at once. Forced here on the CPU, the
    two must give the same history, the same predictions and the same divergence, bit for bit."""
    each = Trainer(resolve(preset, **overrides), readback="epoch")
    once = Trainer(resolve(preset, **overrides), readback="chunk")
    assert Trainer(resolve(preset, **overrides)).readback == "epoch"  # the CPU's default
    for size in (1, 7, 1, 40, 3):
        a, b = each.run_chunk(size), once.run_chunk(size)
        assert (a is None) == (b is None)
        if a is not None:
            assert (a.first, a.last, a.status, a.preds) == (b.first, b.last, b.status, b.preds)
    assert each.epoch == once.epoch > 0
    for x, y in zip(history_columns(each), history_columns(once)):
        assert x == y if isinstance(x, str) else same_floats(x, y)
    if overrides.get("lr") == 1:
        assert each.status == "diverged" and each.epoch < 52


def test_history_write_to_a_pipe_writes_into_it_and_never_replaces_it(tmp_path):
    """`--out /dev/null` or a named pipe: what is not a regular file is written to, not renamed over."""
    import threading

    from gdtui.engine.history import write_atomic

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    write_atomic(str(fifo), "epoch,loss\n1,2.5\n")
    reader.join(10)
    assert got == ["epoch,loss\n1,2.5\n"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temporary file left beside it
