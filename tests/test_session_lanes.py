"""The session serves a race: lanes added, branched, removed and focused by command, run in lockstep, each
equal to its solo run; updates go to the focused lane; w writes every lane. Driven through the scripted
pipe of test_audit_engine (each command delivered at a given epoch)."""

from __future__ import annotations

from gdtui.engine import protocol as p
from gdtui.engine import resolve
from gdtui.engine.trainer import Trainer
from tests.test_audit_engine import errors, serve
from tests.test_lanes import columns, same


def lanes_replies(replies):
    return [r for r in replies if isinstance(r, p.Lanes)]


def solo(config, epochs, changes=()):
    trainer = Trainer(config)
    for at, change in changes:
        trainer.run(at - trainer.epoch)
        trainer.update(**change)
    trainer.run(epochs - trainer.epoch)
    return trainer


def test_lanes_added_by_command_race_to_the_end_each_its_solo_run(monkeypatch):
    config = resolve("fastai-quadratic", epochs=30)
    script = [
        (0, p.AddLane({"optimizer": "adam", "lr": 0.05})),
        (0, p.AddLane({"optimizer": "sgd", "momentum": 0.9, "lr": 1e-6})),
        (0, p.Run()),
    ]
    session, replies = serve(config, script, monkeypatch)
    assert errors(replies) == []
    lanes = lanes_replies(replies)[-1]
    assert [info.id for info in lanes.lanes] == [0, 1, 2] and lanes.focus == 2  # the last added is focused
    assert session.state() == "done"
    for lane, settings in zip(
        session.race.lanes, ({}, {"optimizer": "adam", "lr": 0.05}, {"optimizer": "sgd", "momentum": 0.9, "lr": 1e-6})
    ):
        assert same(columns(lane.trainer), columns(solo(resolve("fastai-quadratic", epochs=30, **settings), 30)))
    reports = [r for r in replies if isinstance(r, p.Results)]
    assert {r.lane for r in reports} == {0, 1, 2}  # every report names its lane
    for lane in (0, 1, 2):  # each lane's reports, in order, are its epochs 1 to 30 once each
        epochs = [e for r in reports if r.lane == lane for e in range(r.chunk.first, r.chunk.last + 1)]
        assert epochs == list(range(1, 31))
    # lockstep: between two states, the lanes' reports all end at one epoch
    batch: list[int] = []
    for r in replies:
        if isinstance(r, p.Results):
            batch.append(r.chunk.last)
        elif isinstance(r, p.State) and batch:
            assert len(set(batch)) == 1 and len(batch) == 3, batch
            batch = []


def test_updates_go_to_the_focused_lane_and_focus_moves(monkeypatch):
    config = resolve("fastai-quadratic", epochs=12)
    script = [
        (0, p.AddLane({})),
        (0, p.Run()),
        (4, p.Update({"lr": 2e-5})),
        (6, p.FocusLane(0)),
        (6, p.Update({"lr": 5e-6})),
    ]
    session, replies = serve(config, script, monkeypatch)
    assert errors(replies) == []
    first, second = (lane.trainer for lane in session.race.lanes)
    assert [change for _, change in second.changes] == [{"lr": 2e-5}]
    assert [change for _, change in first.changes] == [{"lr": 5e-6}]
    assert first.epoch == second.epoch == 12
    assert same(columns(first), columns(solo(config, 12, first.changes)))
    assert same(columns(second), columns(solo(config, 12, second.changes)))


def test_a_branch_by_command_continues_its_source(monkeypatch):
    config = resolve("fastai-quadratic", optimizer="adam", lr=0.05, epochs=40)
    script = [
        (0, p.Run()),
        (20, p.Pause()),
        (20, p.BranchLane(10, {})),
        (20, p.BranchLane(None, {"lr": 0.01})),
        (20, p.Run()),
    ]
    session, replies = serve(config, script, monkeypatch)
    assert errors(replies) == []
    source, at_10, latest = (lane.trainer for lane in session.race.lanes)
    assert [lane.origin for lane in session.race.lanes] == [None, (0, 10), (1, 10)]  # the focused lane branched
    assert same(columns(at_10), columns(source))
    assert latest.epoch == 40 and latest.changes[-1] == (10, {"lr": 0.01})


def test_removing_lanes_and_refusals(monkeypatch):
    config = resolve("fastai-quadratic", epochs=5)
    script = [
        (0, p.AddLane({"lr": 2e-5})),
        (0, p.RemoveLane(None)),
        (0, p.RemoveLane(None)),
        (0, p.FocusLane(7)),
        (0, p.AddLane({"optimizer": "nesterov", "momentum": 0})),
        (0, p.Step()),
    ]
    session, replies = serve(config, script, monkeypatch)
    assert [e.field for e in errors(replies)] == ["lanes", "lanes", "momentum"]
    assert [lane.id for lane in session.race.lanes] == [0] and session.focus == 0
    assert session.trainer.epoch == 1


def test_w_writes_every_lane(monkeypatch, tmp_path):
    config = resolve("fastai-quadratic", epochs=3)
    path = str(tmp_path / "race.csv")
    script = [(0, p.AddLane({"optimizer": "adam"})), (0, p.Run()), (6, p.Export(path))]
    session, replies = serve(config, script, monkeypatch)
    written = [r for r in replies if isinstance(r, p.Exported)]
    assert written == [
        p.Exported(0, str(tmp_path / "race-lane1.csv"), 3),
        p.Exported(1, str(tmp_path / "race-lane2.csv"), 3),
    ]


def test_a_new_setting_restarts_its_lane_and_new_data_every_lane(monkeypatch):
    config = resolve("fastai-quadratic", epochs=10)
    script = [
        (0, p.AddLane({"optimizer": "adam", "lr": 0.05})),
        (0, p.Run()),
        (20, p.Configure(config.replace(optimizer="adam", lr=0.05, loss="l1"))),
        (20, p.FocusLane(0)),
        (20, p.Configure(config.replace(seed=7))),
    ]
    session, replies = serve(config, script, monkeypatch)
    assert errors(replies) == []
    first, second = session.race.lanes
    assert first.trainer.config == config.replace(seed=7)
    assert second.trainer.config == config.replace(optimizer="adam", lr=0.05, loss="l1", seed=7)
    assert first.trainer.epoch == second.trainer.epoch == 0
    assert first.trainer.data.x is second.trainer.data.x
    session.race.run_chunk()
    assert same(columns(second.trainer), columns(solo(second.trainer.config, 10)))
