"""--rng single: torch.manual_seed(seed) once, then every draw from torch's global generator in a tutorial's order
(the data, the model, each epoch's shuffle by a DataLoader without a generator), against the tutorial's own
loop written out here; lanes share the loader's order; gdtui's own draws never touch that stream."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gdtui.engine import resolve
from gdtui.engine.config import ConfigError
from gdtui.engine.trainer import Trainer


def tutorial(epochs: int, batch_size: int | None, model_kind: str = "mlp", lr: float = 0.05, shuffle: bool = True):
    """A tutorial as it is written: seed once, draw the data, build the model, then a DataLoader(shuffle=True)
    without a generator; torch.optim.SGD; an epoch's loss is the mean of its batch losses."""
    torch.manual_seed(7)
    x = torch.linspace(-3, 3, 16)
    y = 2 * x + 1
    y = y + 0.5 * torch.randn(16)
    if model_kind == "mlp":
        model = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))
    else:
        model = nn.Sequential(nn.Linear(1, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    batches = [(x, y)]  # the whole set at once
    if batch_size is not None:
        batches = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle)
    losses = []
    for _ in range(epochs):
        epoch_losses = []
        for xb, yb in batches:
            preds = model(xb.unsqueeze(-1)).squeeze(-1)
            loss = ((preds - yb) ** 2).mean()
            loss.backward()
            epoch_losses.append(loss.item())
            optimizer.step()
            optimizer.zero_grad()
        losses.append(sum(epoch_losses) / len(epoch_losses))
    return losses


def gdtui(epochs: int, batch_size: int | None, model: str = "mlp", **more) -> Trainer:
    config = resolve(
        rng="single",
        data="linear",
        points=16,
        noise=0.5,
        seed=7,
        model=model,
        hidden=(8,),
        optimizer="sgd",
        lr=0.05,
        epochs=epochs,
        batch_size=batch_size,
        **more,
    )
    trainer = Trainer(config)
    trainer.run(epochs)
    return trainer


@pytest.mark.parametrize("batch_size", [4, 5])
def test_shuffled_mini_batches_draw_from_the_one_stream_as_a_tutorial(batch_size):
    trainer = gdtui(6, batch_size)
    assert list(trainer.history.loss) == tutorial(6, batch_size)


def test_the_mlp_is_drawn_after_the_data_not_seeded_again():
    trainer = gdtui(3, None)
    assert list(trainer.history.loss) == tutorial(3, None)
    split = Trainer(trainer.config.replace(rng="split"))
    assert not torch.equal(split.initial, trainer.initial)  # split seeds the model again, as the articles do


def test_nn_linear_and_an_unshuffled_loader_draw_from_the_one_stream():
    trainer = gdtui(5, 4, model="nn-linear")
    assert list(trainer.history.loss) == tutorial(5, 4, model_kind="linear")
    kept = gdtui(5, 4, shuffle=False)
    assert list(kept.history.loss) == tutorial(5, 4, shuffle=False)


def test_every_lane_shares_the_loaders_order_and_starts_from_the_one_model():
    from gdtui.engine.lanes import Race

    race = Race(gdtui(1, 4).config.replace(epochs=5))
    race.add(race.lanes[0].trainer.config.replace(lr=0.1))
    while any(not lane.trainer.done for lane in race.lanes):
        race.run_chunk(2)
    assert list(race.lanes[0].trainer.history.loss) == tutorial(5, 4)
    assert list(race.lanes[1].trainer.history.loss) == tutorial(5, 4, lr=0.1)


@pytest.mark.parametrize(
    ("field", "value"), [("batch_size", 5), ("shuffle", False), ("hidden", (4,)), ("init", (0.0,) * 25)]
)
def test_a_lane_with_another_loader_is_refused_naming_why(field, value):
    trainer = gdtui(1, 4)
    with pytest.raises(ConfigError) as refused:
        trainer.sibling(trainer.config.replace(**{field: value}))
    assert refused.value.field == field and "one loader serves them all" in refused.value.message


def test_one_batch_of_the_whole_set_is_still_permuted_as_a_tutorials_loader_permutes_it():
    trainer = gdtui(4, 16)
    assert list(trainer.history.loss) == tutorial(4, 16)


def test_a_race_of_lanes_that_would_need_their_own_stream_exits_2_naming_why():
    from click.testing import CliRunner

    from gdtui.cli.root import cli

    common = ["run", "--rng", "single", "--data", "linear", "--points", "16", "--model", "mlp", "--batch-size", "4"]
    for vary, option in (("hidden=4,8", "'--hidden'"), ("batch-size=4,8", "'--batch-size'")):
        result = CliRunner().invoke(cli, [*common, "--vary", vary, "--epochs", "2"])
        assert result.exit_code == 2 and option in result.output and "one loader serves them all" in result.output


def test_gdtuis_own_draws_never_touch_the_stream():
    from gdtui.engine.landscape import params_at

    trainer = gdtui(2, 4)
    torch.randn(100)  # anything drawing from torch's global generator meanwhile
    params_at(trainer, 1)
    trainer.run(3)
    assert list(trainer.history.loss) == tutorial(5, 4)
    assert list(trainer.replay(4).history.loss) == tutorial(4, 4)  # a replay from its checkpoint, bit for bit


def test_split_stays_as_it_was():
    split = Trainer(gdtui(1, 4).config.replace(rng="split", epochs=3))
    split.run(3)
    assert list(split.history.loss) != tutorial(3, 4)  # the batches' order from a generator of its own
    assert resolve().rng == "split"


@pytest.mark.parametrize(
    "args",
    [
        ["--model", "mlp", "--hidden", "8", "--batch-size", "4"],
        ["--model", "nn-linear", "--batch-size", "5", "--no-shuffle"],
        ["--model", "nn-linear", "--optimizer", "adam", "--lr", "0.1"],
    ],
    ids=["mlp-shuffled", "nn-linear-unshuffled", "nn-linear-full-batch"],
)
def test_the_exported_script_seeds_once_and_prints_gdtuis_log(args, tmp_path):
    from tests.test_knob_scripts import script_prints_the_log

    common = ["--rng", "single", "--data", "linear", "--points", "16", "--noise", "0.5", "--seed", "7"]
    script_prints_the_log([*common, "--optimizer", "sgd", "--lr", "0.05", *args], tmp_path, 6)
