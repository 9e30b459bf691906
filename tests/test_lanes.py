"""Lanes: a race of runs on one dataset. Each lane equals its solo run bit for bit; lanes advance in lockstep;
a branch carries its source's parameters and optimizer state. References are solo runs (Trainer(config),
what `gdtui run` drives) and literal torch loops on the fastai article's data."""

from __future__ import annotations

import math

import pytest
import torch

from gdtui.engine import ConfigError, resolve
from gdtui.engine.lanes import MAX_LANES, Race
from gdtui.engine.presets import PRESETS
from gdtui.engine.trainer import Trainer
from tests.test_engine import article_setup, function, mse, values


def columns(trainer):
    h = trainer.history
    return [list(h.loss), list(h.rmse), list(h.test_loss), list(h.grad_norm), list(h.lr), h.status] + [
        list(h.params[n]) for n in h.names
    ]


def same(a, b):
    """Equal history columns, NaN equal to NaN (an absent test loss is NaN)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, str) or isinstance(y, str):
            if x != y:
                return False
        elif len(x) != len(y) or not all(p == q or (p != p and q != q) for p, q in zip(x, y)):
            return False
    return True


def race_to_the_end(race, budget=None, max_epochs=None):
    """Run the race until no lane can go on; check lockstep at every report. Returns the reports."""
    reports = []
    while any(lane.active for lane in race.lanes):
        chunks = race.run_chunk(max_epochs=max_epochs, budget=budget)
        assert chunks, "an active race trained nothing"
        ends = {chunk.last for lane_id, chunk in chunks.items() if race.lane(lane_id).active}
        assert len(ends) <= 1, f"lanes out of step: {chunks}"
        reports.append(chunks)
    return reports


LANE_SETTINGS = [
    {"optimizer": "gd"},
    {"optimizer": "sgd", "momentum": 0.9},
    {"optimizer": "adam", "lr": 0.01},
]


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_lane_equals_its_solo_run(preset):
    configs = [resolve(preset, **settings) for settings in LANE_SETTINGS]
    race = Race(configs[0])
    for config in configs[1:]:
        race.add(config)
    race_to_the_end(race, max_epochs=7)
    for lane, config in zip(race.lanes, configs):
        solo = Trainer(config)
        solo.run(config.epochs)
        assert lane.trainer.epoch == config.epochs
        assert same(columns(lane.trainer), columns(solo)), (preset, config.optimizer)


def test_lanes_of_different_models_each_equal_their_solo_run():
    configs = [
        resolve("fastai-quadratic"),
        resolve("fastai-quadratic", model="poly", degree=3, lr=1e-7),
        resolve("fastai-quadratic", model="linear", lr=1e-3),
        resolve("fastai-quadratic", model="nn-linear", optimizer="sgd", lr=1e-3),
    ]
    race = Race(configs[0])
    for config in configs[1:]:
        race.add(config)
    race_to_the_end(race)
    for lane, config in zip(race.lanes, configs):
        solo = Trainer(config)
        solo.run(config.epochs)
        assert lane.trainer.names == solo.names
        assert same(columns(lane.trainer), columns(solo)), config.model


def test_lanes_with_the_same_model_start_from_the_same_parameters():
    race = Race(resolve("qiita-quadratic"))
    race.add(resolve("qiita-quadratic", optimizer="adam", lr=0.1))
    first, second = (lane.trainer.model.flat().tolist() for lane in race.lanes)
    assert first == second


def test_the_race_is_in_lockstep_and_a_lane_that_stops_lets_the_others_go_on():
    """A diverging lane stops where it diverges, a lane with a smaller budget at its budget; at every report
    the running lanes stand at the same epoch."""
    race = Race(resolve("fastai-quadratic", epochs=3000))
    race.add(resolve("fastai-quadratic", lr=1.0, epochs=3000))  # diverges within a few epochs
    race.add(resolve("fastai-quadratic", optimizer="adam", lr=0.05, epochs=700))
    race.add(resolve("fastai-quadratic", optimizer="sgd", momentum=0.5, epochs=3000))
    reports = race_to_the_end(race, budget=0.002)
    assert len(reports) > 3  # the budget really cut the race into chunks
    epochs = [lane.trainer.epoch for lane in race.lanes]
    assert epochs[0] == 3000 and epochs[2] == 700 and epochs[3] == 3000
    assert race.lanes[1].trainer.status == "diverged" and epochs[1] < 10
    solo = Trainer(resolve("fastai-quadratic", lr=1.0, epochs=3000))
    solo.run(3000)
    assert same(columns(race.lanes[1].trainer), columns(solo))


def test_eight_lanes_diverging_in_one_chunk():
    race = Race(resolve("fastai-quadratic", lr=1.0, epochs=100))
    for k in range(1, 8):
        race.add(resolve("fastai-quadratic", lr=1.0 + k, epochs=100))
    chunks = race.run_chunk()
    assert len(chunks) == 8 and all(chunk.status == "diverged" for chunk in chunks.values())
    assert not any(lane.active for lane in race.lanes)
    assert race.run_chunk() == {}


def test_a_lane_added_later_catches_up_before_the_leaders_go_on():
    race = Race(resolve("fastai-quadratic", epochs=500))
    race.run_chunk(max_epochs=200)
    lane = race.add(resolve("fastai-quadratic", optimizer="adam", lr=0.01, epochs=500))
    chunks = race.run_chunk(max_epochs=50)
    assert list(chunks) == [lane.id] and lane.trainer.epoch == 50 and race.lanes[0].trainer.epoch == 200
    race_to_the_end(race, max_epochs=100)
    solo = Trainer(resolve("fastai-quadratic", optimizer="adam", lr=0.01, epochs=500))
    solo.run(500)
    assert same(columns(lane.trainer), columns(solo))


@pytest.mark.parametrize(
    "settings", [{"optimizer": "adam", "lr": 0.05}, {"optimizer": "sgd", "momentum": 0.9}, {"optimizer": "rmsprop"}]
)
def test_a_branch_that_keeps_its_settings_continues_its_source_exactly(settings):
    """Adam's moments and the momentum buffer are state: a branch at epoch k must carry them."""
    config = resolve("fastai-quadratic", epochs=60, **settings)
    race = Race(config)
    race.run_chunk(max_epochs=25)
    branch = race.branch(0, 10)
    assert branch.origin == (0, 10) and branch.trainer.epoch == 10
    assert same(
        [column[:10] if not isinstance(column, str) else column for column in columns(race.lanes[0].trainer)],
        columns(branch.trainer),
    )
    race_to_the_end(race)
    assert same(columns(branch.trainer), columns(race.lanes[0].trainer))


def test_a_branch_replays_the_live_changes_its_source_took():
    config = resolve("fastai-quadratic", optimizer="adam", lr=0.1, epochs=12)
    race = Race(config)
    source = race.lanes[0].trainer
    source.run(3)
    source.update(lr=0.02)
    source.run(5)  # epoch 8
    branch = race.branch(0, 6).trainer
    source.run(4)
    branch.run(6)
    # the literal loop: Adam at 0.1 for 3 epochs, then 0.02
    time, speed, params = article_setup()
    optimizer = torch.optim.Adam([params], lr=0.1)
    reference = []
    for epoch in range(12):
        if epoch == 3:
            optimizer.param_groups[0]["lr"] = 0.02
        loss = mse(function(time, params), speed)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        reference.append((loss.item(), params.tolist()))
    for trainer in (source, branch):
        assert [(r.loss, values(r)) for r in trainer.history] == reference


def test_a_branch_with_settings_of_its_own():
    """sgd with momentum for 5 epochs, then the branch switches to Adam at lr 0.01 (fresh Adam state), the
    source goes on: both against the literal loops."""
    race = Race(resolve("fastai-quadratic", optimizer="sgd", momentum=0.9, epochs=9))
    race.run_chunk(max_epochs=5)
    branch = race.branch(0, 5, optimizer="adam", lr=0.01)
    race_to_the_end(race)
    assert branch.trainer.epoch == 9 and branch.trainer.config.optimizer == "adam"

    def reference(switch):
        time, speed, params = article_setup()
        optimizer = torch.optim.SGD([params], lr=1e-5, momentum=0.9)
        out = []
        for epoch in range(9):
            if epoch == 5 and switch:
                optimizer = torch.optim.Adam([params], lr=0.01)
            loss = mse(function(time, params), speed)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            out.append((loss.item(), params.tolist()))
        return out

    assert [(r.loss, values(r)) for r in race.lanes[0].trainer.history] == reference(False)
    assert [(r.loss, values(r)) for r in branch.trainer.history] == reference(True)


def test_a_branch_from_a_diverged_lanes_last_finite_epoch():
    """lr 4e-5 is just past fastai's limit (3.54e-5): the run grows for some 170 epochs until the loss
    overflows. A branch can start from its last finite epoch (its values, not the overflow), and from an
    earlier one at lr 1e-5 it converges."""
    race = Race(resolve("fastai-quadratic", lr=4e-5, epochs=2000))
    race.run_chunk()
    source = race.lanes[0].trainer
    assert source.status == "diverged" and source.epoch > 100
    last = source.epoch - 1
    assert math.isfinite(source.history.loss[last - 1])
    with pytest.raises(ConfigError):
        race.branch(0, source.epoch)
    at_last = race.branch(0, last).trainer
    assert at_last.status == "ok" and at_last.epoch == last
    assert [list(at_last.history.params[n]) for n in at_last.names] == [
        list(source.history.params[n])[:last] for n in source.names
    ]
    calm = race.branch(0, last - 40, lr=1e-5).trainer
    race_to_the_end(race)
    assert at_last.status == "diverged" and at_last.epoch == last + 1  # its next loss overflows, as the source's
    assert calm.status == "ok" and calm.epoch == 2000 and calm.history.rmse[-1] < calm.history.rmse[last - 40]


def test_lanes_share_the_data_and_refuse_other_data():
    race = Race(resolve("fastai-quadratic"))
    lane = race.add(resolve("fastai-quadratic", optimizer="adam"))
    assert lane.trainer.data.x is race.lanes[0].trainer.data.x
    with pytest.raises(ConfigError) as refused:
        race.add(resolve("fastai-quadratic", seed=1))
    assert refused.value.field == "seed"


def test_at_most_eight_lanes_and_never_fewer_than_one():
    race = Race(resolve("fastai-quadratic"))
    with pytest.raises(ConfigError):
        race.remove(0)
    for _ in range(MAX_LANES - 1):
        race.add(resolve("fastai-quadratic"))
    with pytest.raises(ConfigError):
        race.add(resolve("fastai-quadratic"))
    race.remove(3)
    assert [lane.id for lane in race.lanes] == [0, 1, 2, 4, 5, 6, 7]


@pytest.mark.parametrize(
    "settings",
    [
        {"optimizer": "adam", "lr": 0.05},
        {"optimizer": "sgd", "momentum": 0.9},
        {"optimizer": "rmsprop", "momentum": 0.5},
        {"preset": "linear-module", "accumulate_grad": True},
        {"optimizer": "gd"},
    ],
)
@pytest.mark.parametrize("at", [0, 6, 7, 8, 21, 30])
def test_a_branch_from_a_checkpoint_is_the_source_exactly(settings, at, monkeypatch):
    """Checkpoints every 7 epochs (the optimizer state, accumulated gradients): a branch restores the last one
    at or before its epoch and replays the rest, with changes made before, at and after checkpoints."""
    monkeypatch.setattr(Trainer, "CHECKPOINT_EVERY", 7)
    settings = dict(settings)
    preset = settings.pop("preset", "fastai-quadratic")
    race = Race(resolve(preset, epochs=40, **settings))
    source = race.lanes[0].trainer
    source.run(5)
    lr_5 = source.config.lr * 0.5
    source.update(lr=lr_5)
    source.run(9)  # epoch 14: a checkpoint
    source.update(lr=source.config.lr * 3)
    source.run(16)  # epoch 30
    replayed = []
    real_run = Trainer.run
    monkeypatch.setattr(Trainer, "run", lambda self, n, *a, **k: replayed.append(n) or real_run(self, n, *a, **k))
    branch = race.branch(0, at).trainer
    monkeypatch.setattr(Trainer, "run", real_run)
    assert branch.epoch == at and sum(replayed) < 7  # from the checkpoint at or before `at`: at most 6 epochs
    head = source.history.head(at)
    assert same(
        columns(branch),
        [list(head.loss), list(head.rmse), list(head.test_loss), list(head.grad_norm), list(head.lr), head.status]
        + [list(head.params[n]) for n in head.names],
    )
    for epoch, lr in ((5, lr_5), (14, source.config.lr)):  # changes after the branch point: it makes them too
        if epoch > at:
            branch.run(epoch - branch.epoch)
            branch.update(lr=lr)
    source.run(10)
    branch.run(40 - branch.epoch)
    assert branch.epoch == source.epoch == 40
    assert same(columns(branch), columns(source))


def test_a_lane_catching_up_stops_at_its_own_budget():
    race = Race(resolve("fastai-quadratic", epochs=100))
    race.run_chunk(max_epochs=50)
    short = race.add(resolve("fastai-quadratic", epochs=20))
    branch = race.branch(0, 10, epochs=30)
    race_to_the_end(race)
    assert short.trainer.epoch == 20 and branch.trainer.epoch == 30 and race.lanes[0].trainer.epoch == 100


def test_a_branch_switches_optimizer_and_momentum_together():
    """From sgd without momentum to nesterov with 0.9: checked together, as a new run would be; a refused
    switch leaves no trace."""
    race = Race(resolve("fastai-quadratic", optimizer="sgd", momentum=0.0, epochs=10))
    race.run_chunk(max_epochs=5)
    branch = race.branch(0, 5, optimizer="nesterov", momentum=0.9).trainer
    assert branch.config.optimizer == "nesterov" and branch.optimizer.param_groups[0]["momentum"] == 0.9
    source = race.lanes[0].trainer
    before = (source.config, list(source.changes), source.optimizer)
    with pytest.raises(ConfigError):
        source.switch(optimizer="nesterov", momentum=0.0)
    with pytest.raises(ConfigError):
        source.switch(accumulate_grad="false")
    assert (source.config, list(source.changes), source.optimizer) == before


def test_a_diverged_lane_branches_from_its_last_finite_epoch_by_default():
    race = Race(resolve("fastai-quadratic", lr=1.0, epochs=100))
    race.run_chunk()
    source = race.lanes[0].trainer
    branch = race.branch(0)
    assert branch.origin == (0, source.epoch - 1) and branch.trainer.status == "ok"


def test_a_budgeted_chunk_of_several_units_caps_its_epochs_by_their_cost():
    """Units after the first follow its epochs without a clock of their own: a budgeted chunk runs at most
    budget / (the last chunk's seconds per lockstep epoch) epochs, PROBE_EPOCHS before that is known."""
    from gdtui.engine.lanes import PROBE_EPOCHS

    race = Race(resolve("fastai-quadratic", epochs=10_000))
    race.add(resolve("fastai-quadratic", epochs=10_000, model="linear"))  # another model: another unit
    chunks = race.run_chunk(budget=60.0)
    assert {len(c) for c in chunks.values()} == {PROBE_EPOCHS}
    assert race.epoch_cost is not None and race.epoch_cost > 0
    race.epoch_cost = 0.01
    chunks = race.run_chunk(budget=0.05)
    assert {len(c) for c in chunks.values()} == {5} and len(chunks) == 2
    chunks = race.run_chunk(max_epochs=40)  # no budget (a step, gdtui run): no cap
    assert {len(c) for c in chunks.values()} == {40}
    alone = Race(resolve("fastai-quadratic", epochs=100))
    assert len(alone.run_chunk(budget=60.0)[0]) == 100  # one unit keeps its own clock: no cap
