"""Bring your own tutorial: each option of `gdtui run` against the loop a tutorial writes, written out literally
here (a sum-of-squares loss, initial values, a model without a bias...), compared number for number."""

from __future__ import annotations

import json

import pytest
import torch

from gdtui.cli import main


def run_json(capsys, *args):
    """`gdtui run --json ARGS` in-process: the epoch objects and the summary."""
    code = main(["run", "--json", *args])
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines()]
    epochs = [line for line in lines if line.get("event") == "epoch"]
    return code, epochs, lines[-1]


def sse_reference(epochs, lr):
    """linear-manual's data and start with PyTorch's examples' loss, `(y_pred - y).pow(2).sum()`."""
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    y = 2 * x
    w = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    out = []
    for _ in range(epochs):
        y_pred = w * x + b
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        out.append((loss.item(), ((y_pred - y) ** 2).mean().item() ** 0.5))
        w.data = w.data - lr * w.grad
        b.data = b.data - lr * b.grad
        w.grad = None
        b.grad = None
    return out, (w.item(), b.item())


def test_sse_is_the_sum_of_squares_and_rmse_stays_the_root_of_the_mean(capsys):
    code, epochs, _ = run_json(capsys, "--preset", "linear-manual", "--loss", "sse", "--epochs", "30")
    assert code == 0
    expected, (w, b) = sse_reference(30, 0.01)
    assert [(e["loss"], e["rmse"]) for e in epochs] == expected
    assert (epochs[-1]["params"]["w"], epochs[-1]["params"]["b"]) == (w, b)


@pytest.mark.parametrize("loss", ["sse"])
def test_a_new_loss_races_in_lanes_as_its_solo_run(loss):
    from gdtui.engine import resolve
    from gdtui.engine.lanes import Race
    from gdtui.engine.trainer import Trainer

    base = resolve("linear-manual", epochs=25)
    race = Race(base)
    race.add(base.replace(loss=loss))
    race.add(base.replace(loss=loss, lr=0.005))
    while any(lane.active for lane in race.lanes):
        race.run_chunk(None)
    for lane, config in zip(race.lanes[1:], (base.replace(loss=loss), base.replace(loss=loss, lr=0.005))):
        solo = Trainer(config)
        solo.run(25)
        assert list(lane.trainer.history.loss) == list(solo.history.loss)
        assert list(lane.trainer.history.rmse) == list(solo.history.rmse)


def test_the_sse_landscape_has_the_least_squares_minimum_and_the_hessian_two_xtx():
    from gdtui.engine import landscape as land
    from gdtui.engine import resolve
    from gdtui.engine.trainer import Trainer

    trainer = Trainer(resolve("fastai-quadratic", loss="sse"))
    t = torch.arange(0, 20).double()
    design = torch.stack([t**2, t, torch.ones_like(t)], dim=1)
    hessian = 2 * design.T @ design  # the sum's: n times the mean's 2/n·XᵀX
    found = land.curvature(trainer)
    assert found.constant
    assert torch.allclose(torch.tensor(found.hessian, dtype=torch.float64), hessian, rtol=1e-12)
    assert found.lr_limit == pytest.approx(2 / float(torch.linalg.eigvalsh(hessian)[-1]), rel=1e-12)
    assert land.minimum(trainer) == land.minimum(Trainer(resolve("fastai-quadratic")))  # the same argmin
