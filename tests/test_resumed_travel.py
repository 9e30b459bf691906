"""Time travel in a large model resumed from its journal (issue 28, its last line).

A large model's past is replayed from its checkpoints. A run resumed from its journal keeps the journal's
snapshots as checkpoints (not only the last), so an epoch before the resume replays from the nearest snapshot,
not from epoch 0; and the checkpoints a revisit's replay takes on its way are given back to the run, so a second
visit near there replays at most a spacing of epochs. The reference is the same run trained uninterrupted.
"""

from __future__ import annotations

import pytest
import torch

from gdtui.engine import resolve
from gdtui.engine.journal import Journal
from gdtui.engine.journal import load as load_journal
from gdtui.engine.lanes import Race
from gdtui.engine.record import Record
from gdtui.engine.revisit import revisiting
from gdtui.engine.trainer import Trainer

HIDDEN = (32, 32)  # 1,153 parameters: over RECORDED_UP_TO (1,024), the history keeps their norm only
EVERY = 8  # the checkpoints' spacing here (CHECKPOINT_EVERY, 128 in a run)
SAVED = (21, 45, 70)  # where the journal took a snapshot (every few seconds: any epoch); then its last, at 100
LAST = 100
CHANGE = 30  # lr halved after this epoch (between two snapshots)

SETTINGS = {
    "adam, lr changed": {"optimizer": "adam"},
    "sgd mini-batches": {"optimizer": "sgd", "momentum": 0.5, "points": 20, "batch_size": 6},
    "gd accumulating, scheduled": {"accumulate_grad": True, "lr": 0.001, "schedule": "exponential:gamma=0.99"},
}


def config(**settings):
    from gdtui.engine.schedules import check_schedule

    settings = {"lr": 0.05, **settings}
    if "schedule" in settings:
        settings["schedule"] = check_schedule(settings["schedule"])
    return resolve("linear-manual", model="mlp", hidden=HIDDEN, data="sine", epochs=400, **settings)


def drain(generator):
    while True:
        try:
            next(generator)
        except StopIteration as done:
            return done.value


@pytest.fixture(autouse=True)
def spacing(monkeypatch):
    monkeypatch.setattr(Trainer, "CHECKPOINT_EVERY", EVERY)


@pytest.fixture
def replays(monkeypatch):
    """Each trainer that ran epochs since: [the epoch it started from, the epoch it stood at], by trainer."""
    ran: dict[Trainer, list[int]] = {}
    real = Trainer.run_chunk

    def counted(self, max_epochs, budget=None, should_stop=None):
        before = self.epoch
        chunk = real(self, max_epochs, budget, should_stop)
        ran.setdefault(self, [before, before])[1] = self.epoch
        return chunk

    monkeypatch.setattr(Trainer, "run_chunk", counted)
    return ran


def journaled(tmp_path, cfg, saved=SAVED, change: bool = True) -> tuple[str, Trainer]:
    """A run journaled as the session journals it: its race, a change, a snapshot at each of `saved` (each with
    the history since the one before), then its last at LAST; returns the journal and the run."""
    race = Race(cfg)
    run = race.lanes[0].trainer
    path = str(tmp_path / "j.jsonl")
    journal = Journal(path)
    journal.write(race.record(0))
    for epoch in (*saved, LAST):
        while run.epoch < epoch:
            run.run(min(epoch, CHANGE if change and run.epoch < CHANGE else epoch) - run.epoch)
            if change and run.epoch == CHANGE:
                run.update(lr=run.config.lr / 2)
                journal.write(race.record(0))
        since = journal.saved.get(0, 0)
        journal.checkpoint(0, run.epoch, run.history_bytes(since), run.snapshot())
    journal.reached(race.record(0))
    journal.close()
    return path, run


def resumed(record: Record) -> Trainer:
    """The lane resumed as the session resumes it (Race.of_record), with its journal's earlier snapshots."""
    (lane,) = record.lanes
    trainer = Race.of_record(record).lanes[0].trainer
    assert trainer.start_config == lane.start
    return trainer


def uninterrupted(cfg, epochs, change: bool = True) -> dict[int, tuple[torch.Tensor, tuple[float, ...]]]:
    """The run trained uninterrupted (its lr halved after CHANGE, as the journaled one's): its parameters and
    their predictions after each of `epochs`."""
    trainer, seen = Trainer(cfg), {}
    for epoch in sorted(epochs):
        if change and trainer.epoch <= CHANGE < epoch:
            trainer.run(CHANGE - trainer.epoch)
            trainer.update(lr=cfg.lr / 2)
        trainer.run(epoch - trainer.epoch)
        seen[epoch] = (trainer.model.flat().clone(), tuple(trainer.predict().tolist()))
    return seen


def starts(ran: dict[Trainer, list[int]]) -> list[tuple[int, int]]:
    """The replays since: (the epoch each started from, the epoch it reached)."""
    return sorted((start, end) for start, end in ran.values())


def replayed_from(ran: dict[Trainer, list[int]], start: int, end: int) -> bool:
    """One replay from `start` to `end`, or two (one thread changed a number: replayed again as the run trained)."""
    return starts(ran) in ([(start, end)], [(start, end), (start, end)])


@pytest.mark.parametrize("settings", SETTINGS.values(), ids=SETTINGS.keys())
def test_a_resumed_large_model_revisits_its_past_from_the_nearest_snapshot_bit_for_bit(tmp_path, settings, replays):
    cfg = config(**settings)
    path, run = journaled(tmp_path, cfg)
    record = load_journal(path)
    assert record.lanes[0].start == cfg and record.lanes[0].reached == LAST
    assert epochs_of(record.snapshots[0]) == list(SAVED)
    trainer = resumed(record)
    assert trainer.summarized and trainer.epoch == LAST
    assert [c.epoch for c in trainer._checkpoints] == [*SAVED, LAST]  # the journal's, at the epochs it took them
    assert [c.changes for c in trainer._checkpoints] == [0, 1, 1, 1]  # the lr change after epoch 30 between
    assert [e for e, _ in trainer.kept_flats()] == [0, *SAVED, LAST]
    reference = uninterrupted(cfg, (*SAVED, CHANGE, 50, 56, 59, 60, 90))
    replays.clear()
    for epoch in SAVED:  # a snapshot's parameters: read, not replayed
        assert torch.equal(dict(trainer.kept_flats())[epoch], reference[epoch][0])
        assert drain(revisiting(trainer, epoch))[1] == reference[epoch][1]
    assert starts(replays) == []
    params, preds = drain(revisiting(trainer, 60))
    assert params == () and preds == reference[60][1]
    assert replayed_from(replays, 45, 60)  # from the snapshot before, not from epoch 0
    # the checkpoints that replay took on its way (every EVERY epochs, before epoch 60) are the run's now
    assert [c.epoch for c in trainer._checkpoints] == [21, 45, 48, 56, 70, LAST]
    replays.clear()
    assert drain(revisiting(trainer, 59))[1] == reference[59][1]
    assert replayed_from(replays, 56, 59)  # a second visit near there: from a checkpoint given back
    replays.clear()
    assert drain(revisiting(trainer, 56))[1] == reference[56][1]
    assert starts(replays) == []  # read
    for epoch, nearest in ((CHANGE, 21), (90, 70)):  # the change's epoch; past the last snapshot before the resume
        replays.clear()
        assert drain(revisiting(trainer, epoch))[1] == reference[epoch][1]
        assert replayed_from(replays, nearest, epoch), epoch
    assert [c.epoch for c in trainer._checkpoints] == [21, 24, 45, 48, 56, 70, 72, 80, 88, LAST]
    replays.clear()
    assert torch.equal(trainer.replay(50).model.flat(), reference[50][0])
    assert starts(replays) == [(48, 50)]
    # the checkpoints given back never disturbed the run: it goes on as the uninterrupted one
    trainer.run(40)
    run.run(40)
    assert list(trainer.history.loss) == list(run.history.loss) and list(trainer.history.norm) == list(run.history.norm)
    assert torch.equal(trainer.model.flat(), run.model.flat())
    assert [c.epoch for c in trainer._checkpoints] == [
        21,
        24,
        45,
        48,
        56,
        70,
        72,
        80,
        88,
        LAST,
        *range(104, 140, EVERY),
    ]


def test_a_journal_of_one_snapshot_still_loads_and_revisits_from_epoch_0(tmp_path, replays):
    cfg = config(optimizer="adam")
    path, run = journaled(tmp_path, cfg, saved=(), change=False)
    record = load_journal(path)
    assert record.snapshots == {0: ()} and set(record.checkpoints) == {0}
    trainer = Trainer(cfg)  # as a resume called it before: no earlier snapshots
    snapshot, history = record.checkpoints[0]
    trainer.resume_from(snapshot, history, [])
    assert trainer.epoch == LAST and [c.epoch for c in trainer._checkpoints] == [LAST]
    reference = uninterrupted(cfg, (30,), change=False)
    replays.clear()
    assert drain(revisiting(trainer, 30))[1] == reference[30][1]
    assert replayed_from(replays, 0, 30)
    assert [c.epoch for c in trainer._checkpoints] == [8, 16, 24, LAST]  # given back: a second visit is near
    trainer.run(20)
    run.run(20)
    assert list(trainer.history.loss) == list(run.history.loss)


def go_on(path: str, record: Record, to: int, checkpoint: bool) -> Race:
    """A run resumed from its journal goes on writing it, as the session does: a new header and race, the epochs
    reached; then trains to `to` and (`checkpoint`) journals its checkpoint, its history from epoch 0."""
    race = Race.of_record(record)
    trainer = race.lanes[0].trainer
    journal = Journal(path)
    journal.write(race.record(0))
    journal.reached(race.record(0))
    trainer.run(to - trainer.epoch)
    journal.reached(race.record(0))
    if checkpoint:
        journal.checkpoint(0, trainer.epoch, trainer.history_bytes(0), trainer.snapshot())
    journal.close()
    return race


def epochs_of(snapshots) -> list[int]:
    import io

    return [int(torch.load(io.BytesIO(s), weights_only=True)["epoch"]) for s in snapshots]


def test_a_journal_resumed_and_written_on_keeps_the_snapshots_from_before_its_resume(tmp_path, replays):
    cfg = config(optimizer="adam")
    path, run = journaled(tmp_path, cfg)
    go_on(path, load_journal(path), 120, checkpoint=True)
    record = load_journal(path)
    assert record.lanes[0].reached == 120 and epochs_of(record.snapshots[0]) == [*SAVED, LAST]
    trainer = resumed(record)
    assert [c.epoch for c in trainer._checkpoints] == [*SAVED, LAST, 120]
    reference = uninterrupted(cfg, (60,))
    replays.clear()
    assert drain(revisiting(trainer, 60))[1] == reference[60][1]
    assert replayed_from(replays, 45, 60)
    run.run(20)
    assert list(trainer.history.loss) == list(run.history.loss)


def test_a_journal_resumed_then_killed_before_its_first_checkpoint_resumes_from_the_one_before(tmp_path):
    cfg = config(optimizer="adam")
    path, run = journaled(tmp_path, cfg)
    go_on(path, load_journal(path), 110, checkpoint=False)  # killed: no checkpoint of its own yet
    record = load_journal(path)
    assert record.lanes[0].reached == 110 and epochs_of(record.snapshots[0]) == list(SAVED)
    trainer = resumed(record)
    assert trainer.epoch == LAST and [c.epoch for c in trainer._checkpoints] == [*SAVED, LAST]
    trainer.run(10)
    run.run(10)
    assert list(trainer.history.loss) == list(run.history.loss)
    # a lane restarted in the resumed race (its lane event): not its checkpoints before
    race = Race.of_record(load_journal(path))
    journal = Journal(path)
    journal.write(race.record(0))
    race.lanes[0].trainer.update(lr=0.01)
    race.reset()
    race.lanes[0].trainer.run(3)
    journal.write(race.record(0))
    journal.reached(race.record(0))
    journal.close()
    record = load_journal(path)
    assert record.lanes[0].reached == 3 and record.checkpoints == {} and record.snapshots == {}


def test_a_scheduled_run_s_journal_loads_its_schedule_and_one_written_before_as_well(tmp_path):
    import json

    cfg = config(schedule="linear-warmup:start_factor=0.1,total_iters=6+multistep:milestones=4/11,gamma=0.3")
    path, _ = journaled(tmp_path, cfg, saved=(), change=False)
    assert load_journal(path).lanes[0].start == cfg
    lines = open(path).read().splitlines()
    race = json.loads(lines[1])
    race["race"][0]["start"]["schedule"] = json.loads(json.dumps(cfg.schedule))  # as a journal held it before
    (tmp_path / "old.jsonl").write_text("\n".join([lines[0], json.dumps(race), *lines[2:]]) + "\n")
    assert load_journal(str(tmp_path / "old.jsonl")).lanes[0].start == cfg


def test_a_record_without_snapshots_is_as_before():
    record = Record(())
    assert record.snapshots == {} and record.checkpoints == {}


def test_the_journal_s_snapshots_stay_within_the_checkpoints_budget_and_replay_still_holds(tmp_path, monkeypatch):
    cfg = config(optimizer="adam")
    path, _ = journaled(tmp_path, cfg, saved=(5, 13, 21, 29, 37, 45, 53, 61, 69), change=False)
    record = load_journal(path)
    size = resumed(record)._checkpoints[0].size
    monkeypatch.setattr(Trainer, "CHECKPOINT_BYTES", int(3.5 * size))
    trainer = resumed(record)
    epochs = [c.epoch for c in trainer._checkpoints]
    assert 1 <= len(epochs) <= 3 and epochs == sorted(epochs) and trainer._spacing > EVERY
    assert trainer._kept == sum(c.size for c in trainer._checkpoints) <= 3.5 * size
    reference = uninterrupted(cfg, (9, 50, 99), change=False)
    for epoch in (9, 50, 99):
        assert drain(revisiting(trainer, epoch))[1] == reference[epoch][1]
        epochs = [c.epoch for c in trainer._checkpoints]
        assert epochs == sorted(epochs) and trainer._kept <= 3.5 * size


def test_a_revisit_gives_back_only_a_replay_of_the_run_as_it_stands(monkeypatch):
    from gdtui.engine import revisit

    cfg = config(optimizer="adam")
    trainer = Trainer(cfg)
    trainer.run(20)
    trainer.update(lr=0.01)
    trainer.run(20)
    assert revisit._same_run(trainer.replay(10), trainer) and revisit._same_run(trainer.replay(30), trainer)
    visit = revisiting(trainer, 30)
    next(visit)  # its replay under way (a slice at a time, from the checkpoint at 24); then the run is reset:
    monkeypatch.setattr(Trainer, "CHECKPOINT_EVERY", 2 * EVERY)  # (its checkpoints every 16 epochs from now)
    trainer.reset()  # from epoch 0 with lr 0.01, another run
    trainer.run(40)
    assert not revisit._same_run(trainer.replay(10), Trainer(cfg))
    monkeypatch.setattr(revisit, "_as_recorded", lambda replayed, run: True)  # as if its epochs were the run's
    drain(visit)
    assert [c.epoch for c in trainer._checkpoints] == [16, 32]  # none of the run before its reset
    drain(revisiting(trainer, 30))
    assert [c.epoch for c in trainer._checkpoints] == [16, 32]  # its own replay's: on its spacing, held already
