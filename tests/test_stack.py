"""Stacked lanes: lanes of one model on one dataset computed as one tensor. Each stacked lane must equal its solo
run bit for bit (the solo run is `Trainer(config)`, what `gdtui run` drives; one test writes the article's loop
out literally); where a stacked form would round differently it must not be used."""

from __future__ import annotations

import pytest
import torch

from gdtui.engine import resolve
from gdtui.engine import stack as stack_module
from gdtui.engine.config import OPTIMIZERS
from gdtui.engine.lanes import Race, RaceError
from gdtui.engine.models import Polynomial
from gdtui.engine.trainer import Trainer
from tests.test_audit_engine import fail_once
from tests.test_engine import article_setup, function, mse
from tests.test_lanes import columns, race_to_the_end, same

EVERY_OPTIMIZER = [{"optimizer": name} for name in OPTIMIZERS if name != "nesterov"] + [
    {"optimizer": "nesterov", "momentum": 0.8},
    {"optimizer": "sgd", "momentum": 0.9, "accumulate_grad": True},
]
STEP_SIZES = {"gd": 1e-5, "sgd": 1e-6, "nesterov": 1e-6, "adam": 0.05, "adamw": 0.05, "rmsprop": 0.01, "adagrad": 0.5}


def lane_configs(base: dict, epochs: int, settings=EVERY_OPTIMIZER):
    return [
        resolve(
            base.get("preset", "fastai-quadratic"),
            epochs=epochs,
            **{"lr": STEP_SIZES[s["optimizer"]], **s},
            **{k: v for k, v in base.items() if k != "preset"},
        )
        for s in settings
    ]


def raced(configs, **run):
    race = Race(configs[0])
    for config in configs[1:]:
        race.add(config)
    units = stack_module.groups([lane.trainer for lane in race.lanes])
    race_to_the_end(race, **run)
    return race, units


def assert_solo(race, configs):
    for lane, config in zip(race.lanes, configs):
        solo = Trainer(config)
        solo.run(config.epochs)
        assert same(columns(lane.trainer), columns(solo)), (config.model, config.loss, config.optimizer)


CASES = [
    {},
    {"loss": "l1"},
    {"loss": "huber", "test_fraction": 0.25},
    {"preset": "linear-manual"},
    {"preset": "linear-manual", "loss": "huber"},
    {"model": "poly", "degree": 3, "data": "cubic", "points": 40},
    {"model": "quadratic", "data": "sine", "points": 1000, "test_fraction": 0.2},
    {"model": "linear", "data": "quadratic", "points": 1000, "loss": "huber"},
]


@pytest.mark.parametrize("base", CASES, ids=lambda b: ",".join(f"{k}={v}" for k, v in b.items()) or "fastai")
def test_stacked_lanes_of_every_optimizer_equal_their_solo_runs(base):
    """Eight lanes, every optimizer (and accumulated gradients), in chunks that cross a checkpoint."""
    configs = lane_configs(base, 150)
    race, units = raced(configs, max_epochs=64)
    assert units == [list(range(len(configs)))], "these lanes were meant to be stacked"
    assert_solo(race, configs)


def test_stacked_lanes_equal_the_articles_loop_written_out():
    """The fastai article's loop, once with its own step and once with torch.optim.Adam, from one start."""
    configs = [resolve("fastai-quadratic", epochs=40), resolve("fastai-quadratic", optimizer="adam", lr=0.1, epochs=40)]
    race, units = raced(configs, max_epochs=16)
    assert units == [[0, 1]]
    time, speed, params = article_setup()
    start = params.detach().clone()
    expected = []
    for _ in range(40):
        loss = mse(function(time, params), speed)
        loss.backward()
        params.data -= 1e-5 * params.grad.data
        params.grad = None
        expected.append(loss.item())
    params = start.clone().requires_grad_()
    adam = torch.optim.Adam([params], lr=0.1)
    expected_adam = []
    for _ in range(40):
        loss = mse(function(time, params), speed)
        loss.backward()
        adam.step()
        adam.zero_grad()
        expected_adam.append(loss.item())
    assert list(race.lanes[0].trainer.history.loss) == expected
    assert list(race.lanes[1].trainer.history.loss) == expected_adam


def test_a_stacked_form_that_rounds_differently_is_not_used(monkeypatch):
    """One matrix product for every lane's polynomial rounds otherwise than a solo run's matrix-vector product:
    the probe refuses it, and the lanes train one by one, each still its solo run."""

    def one_product(slots, x):
        params = slots[0]
        return params @ (x.unsqueeze(-1) ** torch.arange(params.shape[1], dtype=x.dtype)).T

    monkeypatch.setitem(stack_module.FORWARDS, Polynomial, one_product)
    monkeypatch.setattr(stack_module, "_AGREES", {})
    configs = lane_configs({"model": "poly", "degree": 5, "data": "cubic", "points": 200}, 60)[:4]
    race, units = raced(configs, max_epochs=25)
    assert units == [[0], [1], [2], [3]]
    assert_solo(race, configs)


@pytest.mark.parametrize("base", [{"preset": "linear-module"}, {"preset": "linear-module", "loss": "mse"}])
def test_nn_linear_lanes_train_alone_each_its_solo_run(base):
    """nn.Linear's stacked form agreed at a first step and drifted later (AVX-512): its lanes are not stacked."""
    configs = lane_configs(base, 150)
    race, units = raced(configs, max_epochs=64)
    assert units == [[k] for k in range(len(configs))]
    assert_solo(race, configs)


def test_large_data_is_not_stacked():
    points = stack_module.MAX_STACK_POINTS + 1
    race = Race(resolve("fastai-quadratic", data="linear", points=points))
    race.add(resolve("fastai-quadratic", data="linear", points=points, optimizer="adam"))
    assert stack_module.groups([lane.trainer for lane in race.lanes]) == [[0], [1]]


def test_stacked_lanes_leave_at_their_own_divergence_or_budget_and_the_rest_go_on():
    settings = [
        {"optimizer": "gd"},
        {"optimizer": "gd", "lr": 0.001},  # diverges after a few epochs
        {"optimizer": "adam", "epochs": 70},  # a smaller budget
        {"optimizer": "gd", "lr": 0.0001},  # diverges later
        {"optimizer": "sgd", "momentum": 0.9},
    ]
    configs = [resolve("fastai-quadratic", **{"epochs": 300, "lr": STEP_SIZES[s["optimizer"]], **s}) for s in settings]
    race, units = raced(configs, max_epochs=100)
    assert units == [[0, 1, 2, 3, 4]]
    statuses = [lane.trainer.status for lane in race.lanes]
    assert statuses[1] == statuses[3] == "diverged"
    assert race.lanes[1].trainer.epoch < race.lanes[3].trainer.epoch < 100
    assert race.lanes[2].trainer.epoch == 70 and race.lanes[0].trainer.epoch == 300
    assert_solo(race, configs)


def test_a_stop_request_stops_every_stacked_lane_at_the_same_epoch():
    configs = lane_configs({}, 500)[:4]
    race = Race(configs[0])
    for config in configs[1:]:
        race.add(config)
    asked = {"n": 0}

    def stop():
        asked["n"] += 1
        return asked["n"] == 37

    chunks = race.run_chunk(should_stop=stop)
    assert {chunk.last for chunk in chunks.values()} == {37}
    race_to_the_end(race)
    assert_solo(race, configs)


def test_an_epoch_that_fails_while_stacked_reports_every_lanes_epochs_and_the_race_goes_on(monkeypatch):
    """torch raises in the 30th Adam step: every lane keeps (and reports) its 29 epochs, stands where its history
    ends, and the race then runs on as the solo runs."""
    fail_once(monkeypatch, torch.optim.Adam, "step", lambda n: n == 30)
    configs = lane_configs({}, 200)[:3] + lane_configs({}, 200)[4:5]  # gd, sgd, adam, rmsprop
    race = Race(configs[0])
    for config in configs[1:]:
        race.add(config)
    with pytest.raises(RaceError) as failed:
        race.run_chunk(max_epochs=100)
    assert sorted(failed.value.chunks) == [lane.id for lane in race.lanes]
    assert {(chunk.first, chunk.last) for chunk in failed.value.chunks.values()} == {(1, 29)}
    assert [lane.trainer.epoch for lane in race.lanes] == [29] * 4
    monkeypatch.undo()
    race_to_the_end(race, max_epochs=64)
    assert_solo(race, configs)
