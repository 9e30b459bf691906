"""The run as a record (issue 27): a race's starts, its changes at their epochs and its branches, in two
encodings (a TOML snapshot, a journal of JSON lines) that one reader loads back to the same race.

The reference for a lane changed mid-run is the fastai article's loop written out with the change made by
hand (tests.test_audit_engine.reference_loop); a rebuilt race is compared with the race it was recorded from.
"""

from __future__ import annotations

import json

import pytest

from gdtui.cli import main
from gdtui.engine import resolve
from gdtui.engine.journal import Journal, read
from gdtui.engine.journal import load as load_journal
from gdtui.engine.lanes import Race
from gdtui.engine.record import Change, RecordError
from gdtui.engine.tomlconfig import dump_record
from tests.test_audit_engine import reference_loop


def race_with_a_story() -> Race:
    """Three lanes: lane 0's lr changed after epoch 3 and its momentum after 6 (sgd); lane 1 adam from 0; lane 2 a
    branch of lane 0 at epoch 5 with lr 2e-5; run to 12 epochs each."""
    race = Race(resolve("fastai-quadratic", optimizer="sgd", momentum=0.0, epochs=12))
    first = race.lanes[0].trainer
    first.run(3)
    first.update(lr=3e-5)
    first.run(3)
    first.update(momentum=0.5)
    race.add(resolve("fastai-quadratic", optimizer="adam", lr=0.1, epochs=12))
    race.branch(0, 5, lr=2e-5)
    while any(lane.active for lane in race.lanes):
        race.run_chunk(max_epochs=100)
    return race


def story(tmp_path):
    """A snapshot of fastai-quadratic run 8 epochs, its lr changed to 3e-5 after epoch 3: its path."""
    race = Race(resolve("fastai-quadratic", epochs=8))
    trainer = race.lanes[0].trainer
    trainer.run(3)
    trainer.update(lr=3e-5)
    trainer.run(5)
    path = tmp_path / "story.toml"
    path.write_text(dump_record(race.record(0)))
    return path


def logs(race: Race) -> dict[int, list[tuple[float, float]]]:
    return {lane.id: [(r.loss, r.rmse) for r in lane.trainer.history] for lane in race.lanes}


def test_a_race_rebuilt_from_its_record_trains_every_lane_as_it_did():
    race = race_with_a_story()
    record = race.record(focus=2)
    assert [lane.id for lane in record.lanes] == [0, 1, 2] and record.focus == 2
    first, _, branch = record.lanes
    assert [(c.epoch, dict(c.settings)) for c in first.changes] == [(3, {"lr": 3e-5}), (6, {"momentum": 0.5})]
    assert branch.origin == (0, 5) and branch.start == first.start  # a branch recorded whole
    assert [(c.epoch, dict(c.settings)) for c in branch.changes] == [(3, {"lr": 3e-5}), (5, {"lr": 2e-5})]
    again = Race.of_record(record)
    while any(lane.active for lane in again.lanes):
        again.run_chunk(max_epochs=100)
    assert logs(again) == logs(race)
    assert [lane.origin for lane in again.lanes] == [None, None, (0, 5)]


def test_a_lane_changed_mid_run_is_the_article_s_loop_with_the_change_made_by_hand(tmp_path, capsys):
    path = story(tmp_path)
    text = path.read_text()
    assert "changes = [{epoch = 3, lr = 3e-05}]" in text and "reached = 8" in text
    assert main(["run", "--config", str(path)]) == 0
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    reference = reference_loop("gd", 8, {3: {"lr": 3e-5}})  # the lr changed from the 4th epoch on
    assert printed == [f"epoch {n}  RMSE: {loss**0.5!r}  loss: {loss!r}" for n, (loss, _) in enumerate(reference, 1)]


def test_run_config_prints_each_lane_of_a_recorded_race_as_it_trained(tmp_path, capsys):
    race = race_with_a_story()
    path = tmp_path / "race.toml"
    path.write_text(dump_record(race.record(0)))
    assert "from = {lane = 1, epoch = 5}" in path.read_text()
    assert main(["run", "--config", str(path), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    epochs = [line for line in lines if line.get("event") == "epoch"]
    for number, lane in enumerate(race.lanes, start=1):
        printed = [e["loss"] for e in epochs if e["lane"]["number"] == number]
        assert printed == [r.loss for r in lane.trainer.history]


def test_a_snapshot_and_a_journal_load_back_to_the_same_record(tmp_path):
    race = race_with_a_story()
    record = race.record(focus=1)
    snapshot = tmp_path / "race.toml"
    snapshot.write_text(dump_record(record))
    journal = tmp_path / "race.jsonl"
    writer = Journal(str(journal))
    writer.write(record)
    writer.reached(record)
    writer.close()
    for path in (snapshot, journal):
        loaded = read(str(path))
        assert [(lane.start, lane.changes, lane.reached, lane.origin) for lane in loaded.lanes] == [
            (lane.start, lane.changes, lane.reached, lane.origin) for lane in record.lanes
        ]
    assert read(str(journal)).focus == 1


def test_a_journal_grows_by_events_and_a_line_cut_by_a_kill_is_left_out(tmp_path):
    race = Race(resolve("fastai-quadratic", epochs=20))
    path = tmp_path / "j.jsonl"
    journal = Journal(str(path))
    journal.write(race.record(0))
    race.lanes[0].trainer.run(4)
    race.lanes[0].trainer.update(lr=2e-5)
    journal.write(race.record(0))
    lane = race.add(resolve("fastai-quadratic", lr=3e-5, epochs=20))
    journal.write(race.record(lane.id))
    branch = race.branch(0, 2)
    journal.write(race.record(branch.id))
    race.remove(lane.id)
    journal.write(race.record(0))
    journal.reached(race.record(0))
    journal.close()
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [next(iter(e)) for e in events] == [
        "gdtui",
        "race",
        "change",
        "lane",
        "focus",
        "lane",
        "focus",
        "remove",
        "focus",
        "reached",
    ]
    loaded = load_journal(str(path))
    assert [lane.id for lane in loaded.lanes] == [0, branch.id] and loaded.focus == 0
    assert loaded.lanes[0].changes == (Change(4, {"lr": 2e-5}),) and loaded.lanes[0].reached == 4
    # killed mid-line: the last complete event stands
    whole = path.read_text()
    cut = whole[: whole.rindex("{")] + '{"reached": {"0": 9'
    path.write_text(cut)
    assert load_journal(str(path)).lanes[0].reached == 0
    path.write_text(whole.replace('"change"', '"chnage"', 1))
    with pytest.raises(RecordError, match=r"j\.jsonl:3: an event gdtui does not know"):
        load_journal(str(path))


def test_a_record_file_with_a_bad_change_exits_2_naming_the_file_and_key(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('preset = "fastai-quadratic"\nchanges = [{epoch = 3, lr = -1}]\n')
    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "lr" in err and err.count("\n") == 1
    path.write_text('preset = "fastai-quadratic"\nchanges = [{epoch = 3, seed = 4}]\n')
    assert main(["run", "--config", str(path)]) == 2
    assert "seed cannot change within a run" in capsys.readouterr().err


def test_a_journal_cut_by_a_kill_then_resumed_loads_whole(tmp_path):
    race = Race(resolve("fastai-quadratic", epochs=20))
    path = tmp_path / "j.jsonl"
    journal = Journal(str(path))
    journal.write(race.record(0))
    journal.handle.write('{"reached": {"0": 1')  # killed mid-line
    journal.handle.close()
    race.lanes[0].trainer.run(3)
    race.lanes[0].trainer.update(lr=2e-5)
    again = Journal(str(path))  # the resumed session goes on in the same journal
    again.write(race.record(0))
    again.reached(race.record(0))
    again.close()
    loaded = load_journal(str(path))
    assert loaded.lanes[0].changes == (Change(3, {"lr": 2e-5}),) and loaded.lanes[0].reached == 3


def test_figure_config_draws_a_recorded_race_with_its_changes(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import gdtui.figures as figures

    path = story(tmp_path)
    drawn = []
    real = figures.loss_figure
    monkeypatch.setattr(figures, "loss_figure", lambda scene, dpi: drawn.append(scene) or real(scene, dpi))
    out = tmp_path / "loss.png"
    assert main(["figure", "--config", str(path), "--kind", "loss", "--out", str(out), "--dpi", "40"]) == 0
    reference = [loss for loss, _ in reference_loop("gd", 8, {3: {"lr": 3e-5}})]
    assert drawn[0].lanes[0].loss == reference and out.stat().st_size > 0


def test_a_journal_s_checkpoints_resume_every_kind_of_lane_bit_for_bit_without_replaying_the_run(tmp_path):
    base = resolve("fastai-quadratic", optimizer="sgd", momentum=0.5, epochs=400)
    race = Race(base)
    race.add(base.replace(optimizer="adam", lr=0.05))
    race.add(base.replace(batch_size=5, lr=1e-5))  # mini-batches, reshuffled each epoch
    race.add(base.replace(accumulate_grad=True, optimizer="gd", lr=1e-6, momentum=None))
    path = tmp_path / "j.jsonl"
    journal = Journal(str(path))
    journal.write(race.record(0))
    for lane in race.lanes:
        lane.trainer.run(30)
    race.lanes[0].trainer.update(lr=2e-5)
    race.branch(1, 20, lr=0.01)
    journal.write(race.record(0))
    while race.lanes[0].trainer.epoch < 100:
        race.run_chunk(max_epochs=10)
    for lane in race.lanes:  # checkpoints at 100, then the race goes on to 117
        journal.checkpoint(lane.id, lane.trainer.epoch, lane.trainer.history_bytes(0), lane.trainer.snapshot())
    while race.lanes[0].trainer.epoch < 117:
        race.run_chunk(max_epochs=1)
    journal.write(race.record(0))
    journal.reached(race.record(0))
    journal.close()
    record = load_journal(str(path))
    assert set(record.checkpoints) == {lane.id for lane in race.lanes}
    again = Race.of_record(record)
    assert [lane.trainer.epoch for lane in again.lanes] == [100] * 5  # from the checkpoints, not from 0
    for built, kept in zip(again.lanes, record.lanes):
        built.trainer.hold = kept.reached
    while any(lane.active for lane in again.lanes):
        again.run_chunk(max_epochs=100)
    assert logs(again) == logs(race)
    for lane in [*race.lanes, *again.lanes]:
        lane.trainer.hold = None
    for _ in range(50):  # and they go on alike
        race.run_chunk(max_epochs=1)
        again.run_chunk(max_epochs=1)
    assert logs(again) == logs(race)
    assert [lane.trainer.config for lane in again.lanes] == [lane.trainer.config for lane in race.lanes]


def test_export_script_of_a_record_takes_its_changes_and_prints_its_log(tmp_path, capsys):
    import subprocess
    import sys

    path = story(tmp_path)
    out = tmp_path / "story.py"
    assert main(["export-script", "--config", str(path), "-o", str(out)]) == 0
    printed = subprocess.run([sys.executable, str(out)], capture_output=True, text=True, check=True).stdout
    reference = reference_loop("gd", 8, {3: {"lr": 3e-5}})
    lines = [line for line in printed.splitlines() if line.startswith("epoch ")]
    assert lines == [f"epoch {n}  RMSE: {loss**0.5!r}  loss: {loss!r}" for n, (loss, _) in enumerate(reference, 1)]


def test_a_lane_that_was_reset_is_recorded_from_its_last_start(tmp_path, capsys):
    race = Race(resolve("fastai-quadratic", epochs=6))
    trainer = race.lanes[0].trainer
    trainer.run(3)
    trainer.update(lr=3e-5)
    trainer.run(2)
    race.reset()  # back to epoch 0 with the settings it has now: lr 3e-5 from the start
    trainer.run(4)
    (lane,) = race.record(0).lanes
    assert lane.start.lr == 3e-5 and lane.changes == () and lane.reached == 4
    path = tmp_path / "reset.toml"
    path.write_text(dump_record(race.record(0)))
    assert main(["run", "--config", str(path), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    reference = [loss for loss, _ in reference_loop("gd", 6, {}, lr=3e-5)]
    assert [line["loss"] for line in lines if line.get("event") == "epoch"] == reference


def test_a_journal_of_several_checkpoints_resumes_its_history_column_by_column(tmp_path):
    base = resolve("fastai-quadratic", optimizer="sgd", momentum=0.5, epochs=90)
    race = Race(base)
    path = tmp_path / "j.jsonl"
    journal = Journal(str(path))
    journal.write(race.record(0))
    trainer = race.lanes[0].trainer
    since = 0
    for epoch in (10, 35, 60):  # three checkpoints, each with the epochs since the one before
        trainer.run(epoch - trainer.epoch)
        journal.checkpoint(0, trainer.epoch, trainer.history_bytes(since), trainer.snapshot())
        since = epoch
    journal.reached(race.record(0))
    journal.close()
    again = Race.of_record(load_journal(str(path))).lanes[0].trainer
    assert again.epoch == 60
    for column in ("loss", "rmse", "grad_norm", "lr"):
        assert list(getattr(again.history, column)) == list(getattr(trainer.history, column)), column
    assert again.history.params == trainer.history.params
    trainer.run(30)
    again.run(30)
    assert list(again.history.rmse) == list(trainer.history.rmse)  # and it goes on alike
