"""One step explained (issue 28, points 2-4 in part): the step of an epoch taken again in the open and compared,
number for number, with the fastai article's loop written out by hand (the article's own update for gd,
torch.optim for the others), for gd, sgd with momentum, adam and rmsprop; and `gdtui explain`."""

from __future__ import annotations

import json

import pytest
import torch

from gdtui.cli import main
from gdtui.engine import resolve
from gdtui.engine.explain import ExplainError, explain
from gdtui.engine.trainer import Trainer
from tests.test_engine import article_setup, function, mse

EPOCH = 4


def literal(name: str, lr: float, momentum: float = 0.0) -> dict:
    """The article's loop to epoch EPOCH, the step of that epoch kept whole: the parameters before it, the
    gradient, the optimizer's state after it, the parameters after it, the loss before and after."""
    time, speed, params = article_setup()
    optimizer = {
        "gd": None,
        "sgd": lambda: torch.optim.SGD([params], lr=lr, momentum=momentum),
        "adam": lambda: torch.optim.Adam([params], lr=lr),
        "rmsprop": lambda: torch.optim.RMSprop([params], lr=lr, momentum=momentum),
    }[name]
    opt = optimizer() if optimizer else None
    kept: dict = {}
    for epoch in range(1, EPOCH + 1):
        loss = mse(function(time, params), speed)
        loss.backward()
        if epoch == EPOCH:
            kept.update(before=params.tolist(), grad=params.grad.tolist(), loss=loss.item())
        if opt is None:
            params.data = params.data - lr * params.grad  # the article's own step
            params.grad = None
        else:
            opt.step()
            if epoch == EPOCH:
                kept["state"] = {k: v.tolist() for k, v in opt.state[params].items() if v.shape == params.shape}
            opt.zero_grad()
    kept.update(after=params.tolist(), loss_after=mse(function(time, params), speed).item())
    return kept


CASES = [("gd", 1e-5, None), ("sgd", 2e-6, 0.9), ("adam", 0.1, None), ("rmsprop", 0.01, 0.5)]


@pytest.mark.parametrize(("name", "lr", "momentum"), CASES)
def test_a_step_explained_is_the_article_s_step_number_for_number(name, lr, momentum):
    config = resolve("fastai-quadratic", optimizer=name, lr=lr, momentum=momentum, epochs=10)
    trainer = Trainer(config)
    trainer.run(7)  # the run went on past the epoch explained
    step = explain(trainer, EPOCH)
    want = literal(name, lr, momentum or 0.0)
    assert [p.before for p in step.params] == want["before"]
    assert [p.grad for p in step.params] == want["grad"]
    assert [p.after for p in step.params] == want["after"]
    assert [p.update for p in step.params] == [a - b for a, b in zip(want["after"], want["before"])]
    for key, values in want.get("state", {}).items():
        assert [p.state[key] for p in step.params] == values
    assert step.loss_before == want["loss"] and step.loss_after == want["loss_after"]
    assert step.predicted == pytest.approx(sum(g * u for g, u in zip(want["grad"], [p.update for p in step.params])))
    if name == "adam":
        assert step.counters["step"] == EPOCH
        assert step.counters["bias_correction1"] == pytest.approx(1 - 0.9**EPOCH)
        assert step.counters["bias_correction2"] == pytest.approx(1 - 0.999**EPOCH)


def test_a_step_after_a_change_is_explained_with_the_settings_it_ran_with():
    trainer = Trainer(resolve("fastai-quadratic", epochs=10))
    trainer.run(3)
    trainer.update(lr=3e-5)
    trainer.run(3)
    step = explain(trainer, 5)
    assert step.lr == 3e-5 and step.params[0].after == trainer.history.params["a"][4]
    assert explain(trainer, 2).lr == 1e-5


def test_what_cannot_be_explained_says_why():
    trainer = Trainer(resolve("fastai-quadratic", epochs=10))
    trainer.run(3)
    with pytest.raises(ExplainError, match="epochs 1 to 3"):
        explain(trainer, 4)
    batched = Trainer(resolve("qiita-quadratic", batch_size=4, epochs=3))
    batched.run(2)
    with pytest.raises(ExplainError, match="mini-batches"):
        explain(batched, 1)


def test_gdtui_explain_prints_the_step_and_its_json(capsys):
    assert main(["explain", "--epoch", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("epoch 3: gd, lr 1e-05\n") and "param  before" in out
    assert "loss 514.961181640625 ->" in out  # the article's third epoch: 22.692756149058336 squared
    assert main(["explain", "--epoch", "3", "--optimizer", "adam", "--lr", "0.1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["epoch"] == 3 and [p["name"] for p in record["params"]] == ["a", "b", "c"]
    assert set(record["params"][0]["state"]) == {"exp_avg", "exp_avg_sq"}
    assert main(["explain", "--epoch", "11"]) == 2


def test_the_limit_the_finite_differences_and_an_mlp_s_layers():
    from tests.test_session_landscape import fastai_hessian_limit

    trainer = Trainer(resolve("fastai-quadratic", epochs=5))
    trainer.run(5)
    step = explain(trainer, 3, check=True)
    assert step.lr_limit == pytest.approx(fastai_hessian_limit(), rel=1e-9)
    assert step.finite_difference is not None
    for p, estimate in zip(step.params, step.finite_difference):
        assert estimate == pytest.approx(p.grad, rel=1e-3)
    mlp = Trainer(resolve("linear-manual", model="mlp", hidden=(4,), data="sine", optimizer="adam", lr=0.02, epochs=5))
    mlp.run(5)
    step = explain(mlp, 3)
    assert [name for name, _ in step.layers] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    first = torch.tensor([p.before for p in step.params[:4]], dtype=torch.float64)  # 0.weight: 4 values
    moved = torch.tensor([p.update for p in step.params[:4]], dtype=torch.float64)
    assert step.layers[0][1] == pytest.approx(float(moved.norm() / first.norm()), rel=1e-12)
