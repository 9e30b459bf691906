"""One step explained (issue 28, points 2-4 in part): the step of an epoch taken again in the open and compared,
number for number, with the fastai article's loop written out by hand (the article's own update for gd,
torch.optim for the others), for gd, sgd with momentum, adam and rmsprop; and `gdtui explain`."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from gdtui.cli import main
from gdtui.engine import resolve
from gdtui.engine.explain import ExplainError, explain
from gdtui.engine.trainer import Trainer
from tests.test_engine import article_setup, function, mse

EPOCH = 4
SEED = 2021  # fastai-quadratic's seed: its batches' generator is torch.Generator().manual_seed(seed)


def literal(name: str, lr: float, momentum: float = 0.0, batch_size: int | None = None, batch: int = 0) -> dict:
    """The article's loop to epoch EPOCH, the step of that epoch kept whole: the parameters before it, the
    gradient, the optimizer's state after it, the parameters after it, the loss before and after (on the step's
    data). With `batch_size`, each epoch is a pass of torch's DataLoader over the data, reshuffled by a generator
    seeded from the run's seed (as `--batch-size` documents it), a step per batch; the step kept is batch `batch`
    (1-based; 0: the epoch's last), and the loop still takes the epoch's remaining batches."""
    time, speed, params = article_setup()
    optimizer = {
        "gd": None,
        "sgd": lambda: torch.optim.SGD([params], lr=lr, momentum=momentum),
        "adam": lambda: torch.optim.Adam([params], lr=lr),
        "rmsprop": lambda: torch.optim.RMSprop([params], lr=lr, momentum=momentum),
    }[name]
    opt = optimizer() if optimizer else None
    loader = [(time, speed)]  # full batch: the whole data, every epoch
    if batch_size is not None:
        generator = torch.Generator().manual_seed(SEED)
        loader = DataLoader(TensorDataset(time, speed), batch_size=batch_size, shuffle=True, generator=generator)
    last = len(loader)
    kept: dict = {}
    for epoch in range(1, EPOCH + 1):
        for b, (xb, yb) in enumerate(loader, 1):
            here = epoch == EPOCH and b == (batch or last)
            loss = mse(function(xb, params), yb)
            loss.backward()
            if here:
                kept.update(before=params.tolist(), grad=params.grad.tolist(), loss=loss.item(), points=len(xb))
            if opt is None:
                params.data = params.data - lr * params.grad  # the article's own step
                params.grad = None
            else:
                opt.step()
                if here:
                    kept["state"] = {k: v.tolist() for k, v in opt.state[params].items() if v.shape == params.shape}
                opt.zero_grad()
            if here:
                kept.update(after=params.tolist(), loss_after=mse(function(xb, params), yb).item(), x=xb)
    kept["epoch_end"] = params.tolist()
    return kept


CASES = [("gd", 1e-5, None), ("sgd", 2e-6, 0.9), ("adam", 0.1, None), ("rmsprop", 0.01, 0.5)]


def assert_is_the_literal_step(step, want):
    assert [p.before for p in step.params] == want["before"]
    assert [p.grad for p in step.params] == want["grad"]
    assert [p.after for p in step.params] == want["after"]
    assert [p.update for p in step.params] == [a - b for a, b in zip(want["after"], want["before"])]
    for key, values in want.get("state", {}).items():
        assert [p.state[key] for p in step.params] == values
    assert step.loss_before == want["loss"] and step.loss_after == want["loss_after"]
    assert step.points == want["points"]
    assert step.predicted == pytest.approx(sum(g * u for g, u in zip(want["grad"], [p.update for p in step.params])))


@pytest.mark.parametrize(("name", "lr", "momentum"), CASES)
def test_a_step_explained_is_the_article_s_step_number_for_number(name, lr, momentum):
    config = resolve("fastai-quadratic", optimizer=name, lr=lr, momentum=momentum, epochs=10)
    trainer = Trainer(config)
    trainer.run(7)  # the run went on past the epoch explained
    step = explain(trainer, EPOCH)
    want = literal(name, lr, momentum or 0.0)
    assert_is_the_literal_step(step, want)
    assert (step.batch, step.batches, step.on) == (None, 1, "training set")
    if name == "adam":
        assert step.counters["step"] == EPOCH
        assert step.counters["bias_correction1"] == pytest.approx(1 - 0.9**EPOCH)
        assert step.counters["bias_correction2"] == pytest.approx(1 - 0.999**EPOCH)


@pytest.mark.parametrize(("name", "lr", "momentum"), CASES)
@pytest.mark.parametrize("batch", [None, 2])
def test_a_batch_s_step_explained_is_the_dataloader_loop_s_step(name, lr, momentum, batch):
    """20 points in batches of 6: 4 batches, the last of 2 points; by default the epoch's last is explained."""
    config = resolve("fastai-quadratic", optimizer=name, lr=lr, momentum=momentum, batch_size=6, epochs=10)
    trainer = Trainer(config)
    trainer.run(7)
    step = explain(trainer, EPOCH, batch=batch)
    want = literal(name, lr, momentum or 0.0, batch_size=6, batch=batch or 0)
    assert_is_the_literal_step(step, want)
    assert (step.batch, step.batches, step.points, step.on) == (batch or 4, 4, 2 if batch is None else 6, "batch")
    assert [trainer.history.params[n][EPOCH - 1] for n in "abc"] == want["epoch_end"]  # the loop is the run's
    if name == "adam":  # a step per batch
        assert step.counters["step"] == (EPOCH - 1) * 4 + (batch or 4)
    record = step.record()
    assert (record["batch"], record["batches"], record["loss_on"]) == (batch or 4, 4, "batch")


def test_a_batch_s_limit_and_finite_differences_are_the_batch_s_loss():
    trainer = Trainer(resolve("fastai-quadratic", batch_size=6, epochs=5))
    trainer.run(5)
    step = explain(trainer, EPOCH, check=True, batch=2)
    xb = literal("gd", 1e-5, batch_size=6, batch=2)["x"].double()
    assert step.finite_difference is not None
    for p, estimate in zip(step.params, step.finite_difference):
        assert estimate == pytest.approx(p.grad, rel=1e-3)
    design = torch.stack([xb**2, xb, torch.ones_like(xb)], dim=1)
    top = torch.linalg.eigvalsh(2 / len(xb) * design.T @ design)[-1]  # the batch's MSE: H = 2/n XᵀX
    assert step.lr_limit == pytest.approx(2 / float(top), rel=1e-9)


def test_a_step_after_a_change_is_explained_with_the_settings_it_ran_with():
    trainer = Trainer(resolve("fastai-quadratic", epochs=10))
    trainer.run(3)
    trainer.update(lr=3e-5)
    trainer.run(3)
    step = explain(trainer, 5)
    assert step.lr == 3e-5 and step.params[0].after == trainer.history.params["a"][4]
    assert explain(trainer, 2).lr == 1e-5


def test_a_batch_past_a_checkpoint_starts_from_the_epoch_before():
    """Replayed from a checkpoint (every 128 epochs), the batches' generator with it: batch 1 of epoch 170 starts
    where the run stood after epoch 169, and the epoch taken again lands on the run's epoch 170."""
    trainer = Trainer(resolve("fastai-quadratic", batch_size=6, optimizer="adam", lr=0.05, epochs=200))
    trainer.run(200)
    step = explain(trainer, 170, batch=1)
    assert [p.before for p in step.params] == [trainer.history.params[n][168] for n in "abc"]
    assert step.counters["step"] == 169 * 4 + 1


def test_what_cannot_be_explained_says_why():
    trainer = Trainer(resolve("fastai-quadratic", epochs=10))
    trainer.run(3)
    with pytest.raises(ExplainError, match="epochs 1 to 3"):
        explain(trainer, 4)
    with pytest.raises(ExplainError, match="full-batch") as refused:
        explain(trainer, 2, batch=1)
    assert refused.value.field == "batch"
    batched = Trainer(resolve("qiita-quadratic", batch_size=4, epochs=3))
    batched.run(2)
    count = -(-batched.data.n_train // 4)
    assert explain(batched, 1).batch == count
    for batch in (0, count + 1):
        with pytest.raises(ExplainError, match=f"batch {batch} is not in the epoch: it has batches 1 to {count}"):
            explain(batched, 1, batch=batch)
    batched.history.params["a"][0] += 1e-6  # a record the epoch taken again does not land on
    with pytest.raises(ExplainError, match="differs from the run's record"):
        explain(batched, 1, batch=1)


def test_gdtui_explain_prints_the_step_and_its_json(capsys):
    assert main(["explain", "--epoch", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("epoch 3: gd, lr 1e-05\n") and "param  before" in out
    assert "loss 514.961181640625 ->" in out  # the article's third epoch: 22.692756149058336 squared
    assert main(["explain", "--epoch", "3", "--optimizer", "adam", "--lr", "0.1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["epoch"] == 3 and [p["name"] for p in record["params"]] == ["a", "b", "c"]
    assert set(record["params"][0]["state"]) == {"exp_avg", "exp_avg_sq"}
    assert (record["batch"], record["batches"], record["loss_on"], record["points"]) == (None, 1, "training set", 20)
    assert main(["explain", "--epoch", "11"]) == 2


def test_gdtui_explain_a_batch(capsys):
    args = ["explain", "--epoch", str(EPOCH), "--batch-size", "6", "--optimizer", "rmsprop", "--lr", "0.01"]
    assert main([*args, "--momentum", "0.5"]) == 0
    out = capsys.readouterr().out
    want = literal("rmsprop", 0.01, 0.5, batch_size=6)
    assert out.startswith(f"epoch {EPOCH}, batch 4 of 4 (2 points): rmsprop, lr 0.01, momentum 0.5\n")
    assert f"loss on batch 4 {want['loss']!r} -> {want['loss_after']!r}:" in out
    assert main([*args, "--momentum", "0.5", "--batch", "2", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    want = literal("rmsprop", 0.01, 0.5, batch_size=6, batch=2)
    assert (record["batch"], record["batches"], record["loss_on"], record["points"]) == (2, 4, "batch", 6)
    assert [p["grad"] for p in record["params"]] == want["grad"]
    assert [p["state"]["square_avg"] for p in record["params"]] == want["state"]["square_avg"]
    assert record["loss_before"] == want["loss"] and record["loss_after"] == want["loss_after"]
    for batch in ("5", "0"):
        assert main([*args, "--batch", batch]) == 2
        err = capsys.readouterr().err
        assert "'--batch'" in err and "batches 1 to 4" in err
    assert main(["explain", "--epoch", "3", "--batch", "1"]) == 2
    err = capsys.readouterr().err
    assert "'--batch'" in err and "full-batch" in err


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
