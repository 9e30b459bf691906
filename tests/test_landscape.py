"""The loss landscape engine: grid values against the loss computed point by point, the minimum against the
normal equations, the Hessian against 2/n·XᵀX written out here, every preset's lr limit against 2/λmax, and
the LR range test (which leaves its lane untouched)."""

from __future__ import annotations

import math

import pytest
import torch

from gdtui.engine import landscape as land
from gdtui.engine import resolve
from gdtui.engine.presets import PRESETS
from gdtui.engine.trainer import Trainer


def trained(preset="fastai-quadratic", epochs=10, **settings):
    trainer = Trainer(resolve(preset, epochs=epochs, **settings))
    trainer.run(epochs)
    return trainer


def design(trainer):
    """The features of each model as its article writes the prediction: a*t²+b*t+c, w*x+b, c0+c1*x+..."""
    x = trainer.data.x_train.double()
    if trainer.config.model == "quadratic":
        return torch.stack([x * x, x, torch.ones_like(x)], dim=1)
    if trainer.config.model in ("linear", "nn-linear"):
        return torch.stack([x, torch.ones_like(x)], dim=1)
    return torch.stack([x**i for i in range(trainer.config.degree + 1)], dim=1)


def test_grid_values_are_the_loss_computed_point_by_point():
    trainer = trained()
    grid = land.landscape(trainer, ("a", "c"), size=(7, 5))
    t, speed = trainer.data.x_train.double(), trainer.data.y_train.double()
    b = grid.held[1]
    assert len(grid.loss) == 5 and all(len(row) == 7 for row in grid.loss)
    for r, c_value in enumerate(grid.ys):
        for k, a_value in enumerate(grid.xs):
            total = 0.0
            for ti, yi in zip(t.tolist(), speed.tolist()):
                total += (a_value * ti**2 + b * ti + c_value - yi) ** 2
            assert grid.loss[r][k] == pytest.approx(total / len(t), rel=1e-12)
    assert grid.held == [trainer.history.params[n][-1] for n in ("a", "b", "c")]


def test_the_grid_at_an_epoch_holds_that_epochs_parameters_and_an_l1_grid_is_its_loss():
    trainer = trained("linear-module", epochs=30)
    grid = land.landscape(trainer, ("weight", "bias"), size=(4, 3), epoch=5)
    assert grid.held == [trainer.history.params[n][4] for n in ("weight", "bias")]
    x, y = trainer.data.x_train.double().tolist(), trainer.data.y_train.double().tolist()
    for r, bias in enumerate(grid.ys):
        for k, weight in enumerate(grid.xs):
            expected = sum(abs(weight * xi + bias - yi) for xi, yi in zip(x, y)) / len(x)
            assert grid.loss[r][k] == pytest.approx(expected, rel=1e-12)
    assert grid.minimum is None  # no closed form for l1: the lowest grid point stands in
    assert grid.lowest[2] == min(min(row) for row in grid.loss)


def test_the_default_span_holds_the_path_and_the_minimum():
    trainer = trained(epochs=50)
    grid = land.landscape(trainer, ("a", "b"), size=(10, 10))
    best = grid.minimum
    assert grid.xs[0] < best[0] < grid.xs[-1] and grid.ys[0] < best[1] < grid.ys[-1]
    for a, b in zip(trainer.history.params["a"], trainer.history.params["b"]):
        assert grid.xs[0] < a < grid.xs[-1] and grid.ys[0] < b < grid.ys[-1]


@pytest.mark.parametrize("preset", ["fastai-quadratic", "qiita-quadratic", "linear-manual"])
def test_the_minimum_is_the_least_squares_fit(preset):
    trainer = trained(preset)
    X, y = design(trainer), trainer.data.y_train.double()
    normal = torch.linalg.solve(X.T @ X, X.T @ y)  # the normal equations XᵀX β = Xᵀy
    assert land.minimum(trainer) == pytest.approx(normal.tolist(), rel=1e-6, abs=1e-9)


def test_the_fastai_valley_is_the_one_the_issue_describes():
    """RMSE 1.47 at the least-squares fit; eigenvalues about 0.26, 16 and 56,499; lr above 3.54e-5 diverges."""
    trainer = trained()
    best = land.minimum(trainer)
    X, y = design(trainer), trainer.data.y_train.double()
    rmse = ((X @ torch.tensor(best, dtype=torch.float64) - y) ** 2).mean().sqrt().item()
    assert round(rmse, 2) == 1.47
    found = land.curvature(trainer)
    assert [round(e, 2) for e in found.eigenvalues[:2]] == [0.26, 15.98]
    assert round(found.eigenvalues[2]) == 56499
    assert f"{found.lr_limit:.3g}" == "3.54e-05"


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_presets_lr_limit_is_two_over_the_largest_eigenvalue(preset):
    trainer = trained(preset)
    X, n = design(trainer), len(trainer.data.x_train)
    found = land.curvature(trainer)
    if trainer.config.loss == "mse":
        hessian = 2 / n * X.T @ X
        assert found.constant
    else:  # l1: piecewise linear, no curvature anywhere it is smooth
        hessian = torch.zeros(X.shape[1], X.shape[1], dtype=torch.float64)
    assert torch.allclose(torch.tensor(found.hessian, dtype=torch.float64), hessian, rtol=1e-10, atol=1e-12)
    top = torch.linalg.eigvalsh(hessian).max().item()
    if top > 0:
        assert found.lr_limit == pytest.approx(2 / top, rel=1e-10)
    else:
        assert found.lr_limit is None


def test_the_huber_hessian_counts_the_points_inside_delta():
    trainer = trained("fastai-quadratic", loss="huber", lr=1e-4, epochs=200)
    X, y = design(trainer), trainer.data.y_train.double()
    params = torch.tensor([trainer.history.params[n][-1] for n in ("a", "b", "c")], dtype=torch.float64)
    inside = ((X @ params - y).abs() < 1.0).double()
    hessian = (X.T * inside) @ X / len(y)
    found = land.curvature(trainer)
    assert torch.allclose(torch.tensor(found.hessian, dtype=torch.float64), hessian, atol=1e-12)
    assert not found.constant


def test_large_data_is_gridded_on_a_fixed_subsample():
    trainer = trained("fastai-quadratic", data="linear", points=30_000, model="linear", lr=0.01, epochs=3)
    first = land.landscape(trainer, ("w", "b"), size=(3, 3))
    again = land.landscape(trainer, ("w", "b"), size=(3, 3))
    assert first.subsampled and first.points == land.MAX_POINTS
    assert first.loss == again.loss


@pytest.mark.parametrize("pair", [("a", "a"), ("a", "z"), ("w", "b")])
def test_a_bad_pair_is_refused(pair):
    with pytest.raises(ValueError):
        land.landscape(trained(), pair)


def test_the_lr_range_test_ramps_stops_and_leaves_the_lane_untouched():
    trainer = trained(epochs=20)
    before = (list(trainer.history.loss), trainer.model.flat().tolist(), trainer.epoch)
    found = land.lr_find(trainer)
    assert (list(trainer.history.loss), trainer.model.flat().tolist(), trainer.epoch) == before
    ratio = (10 / 1e-8) ** (1 / 99)
    assert found.lrs == pytest.approx([1e-8 * ratio**k for k in range(len(found.lrs))], rel=1e-12)
    assert len(found.lrs) < 100  # the loss blew up long before lr 10
    last = found.losses[-1]
    assert not math.isfinite(last) or last > 4 * min(found.losses[:-1])
    assert all(loss <= 4 * min(found.losses[: k + 1]) for k, loss in enumerate(found.losses[:-1]))
    # the ramp's first step is plain gradient descent from the initial parameters at lr 1e-8
    solo = Trainer(resolve("fastai-quadratic", lr=1e-8, epochs=1))
    assert found.losses[0] == solo.step().loss
    lowest = min(zip(found.losses, found.lrs))
    assert found.suggestion == lowest[1] / 10
    assert found.lr_limit == pytest.approx(land.curvature(trainer, land.params_at(trainer, 0)).lr_limit)
    assert found.smoothed[0] == pytest.approx(found.losses[0])


@pytest.mark.parametrize("args", [{"start": 0}, {"start": 1, "end": 0.5}, {"end": 1e7}, {"steps": 1}])
def test_bad_ramps_are_refused(args):
    with pytest.raises(ValueError):
        land.lr_find(trained(), **args)


@pytest.mark.parametrize("preset", ["fastai-quadratic", "qiita-quadratic", "linear-manual"])
def test_the_suggestion_lands_below_the_limit_on_every_preset_that_has_one(preset):
    found = land.lr_find(Trainer(resolve(preset)))
    assert found.lr_limit is not None and found.suggestion is not None
    assert found.suggestion < found.lr_limit
    lowest = min(zip(found.losses, found.lrs))[1]
    assert found.suggestion == lowest / 10  # the rule the README states


def test_the_minimum_and_the_default_span_are_the_same_bits_every_call():
    trainer = Trainer(resolve("fastai-quadratic", epochs=30))
    trainer.run(30)
    held = []  # allocations of every size between calls: a kernel that depends on alignment would show
    minima, spans = set(), set()
    for k in range(100):
        held.append(torch.empty(7 * k + 1))
        minima.add(tuple(land.minimum(trainer)))
        grid = land.landscape(trainer, ("a", "b"), size=(6, 4))
        spans.add((grid.xs[0], grid.xs[-1], grid.ys[0], grid.ys[-1]))
    assert len(minima) == 1 and len(spans) == 1
