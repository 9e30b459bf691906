"""The run as a record in the TUI (issue 27): a journal made by keys, the training process killed, the run resumed
to the same epoch with the same next log lines; `W` writes the record, and `gdtui run --config` prints the log
the TUI showed.

The reference is a solo Trainer that takes the same change at the same epoch by hand.
"""

from __future__ import annotations

import json

from gdtui.cli import main
from gdtui.engine.journal import read
from gdtui.engine.trainer import Trainer
from gdtui.tui.app import GdtuiApp
from gdtui.tui.client import SessionClient
from tests.test_audit_app import caught_up
from tests.tui_helpers import config, ready, wait_for

SIZE = (120, 36)


def spawned(cfg, **start) -> tuple[SessionClient, GdtuiApp]:
    """A session spawned as the CLI spawns it (with a journal, a speed...), and an app on it."""
    session = SessionClient()
    session.spawn(cfg, **start)
    return session, GdtuiApp(cfg, session=session)


def reference(cfg, epochs: int) -> list[float]:
    """The run with lr doubled after epoch 5, by hand."""
    trainer = Trainer(cfg)
    trainer.run(5)
    trainer.update(lr=cfg.lr * 2)
    trainer.run(epochs - 5)
    return list(trainer.history.rmse)


async def steps(pilot, epochs: int) -> None:
    """s to epoch 5, ] (lr x2), s to `epochs`, and wait until the session has obeyed them all."""
    app = pilot.app
    await ready(pilot)
    for epoch in range(epochs):
        if epoch == 5:
            await pilot.press("right_square_bracket")
        await pilot.press("s")
    await wait_for(pilot, lambda: caught_up(app) and app.status.epoch == epochs, what=f"epoch {epochs}")


async def test_a_journal_made_by_keys_resumes_bit_for_bit_after_the_session_is_killed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cfg = config(epochs=12)
    journal = str(tmp_path / "lesson.jsonl")
    session, app = spawned(cfg, journal=journal)
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot, 8)  # lr x2 after epoch 5
        assert session.process is not None
        session.process.kill()  # kill -9 the training process: the journal holds the run
        session.process.wait()
    record = read(journal)
    (lane,) = record.lanes
    assert lane.reached == 8 and [(c.epoch, dict(c.settings)) for c in lane.changes] == [(5, {"lr": 2e-5})]

    _, app = spawned(lane.start, record=record, resume=True, journal=journal)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.state == "paused" and app.status.epoch == 8, what="resumed at epoch 8")
        series = app.race.lanes.lanes[0].series
        assert list(series) == reference(cfg, 8)
        await pilot.press("s")
        await pilot.press("s")
        await wait_for(pilot, lambda: caught_up(app) and app.status.epoch == 10, what="epoch 10")
        assert list(app.race.lanes.lanes[0].series) == reference(cfg, 10)  # the same next lines
        assert app.config.lr == 2e-5
        await pilot.press("W")
        written = sorted(tmp_path.glob("gdtui-*.toml"))
        await wait_for(pilot, lambda: bool(sorted(tmp_path.glob("gdtui-*.toml"))), what="W's file")
        written = sorted(tmp_path.glob("gdtui-*.toml"))
    text = written[0].read_text()
    assert "changes = [{epoch = 5, lr = 2e-05}]" in text and "reached = 10" in text
    assert read(journal).lanes[0].reached == 10  # the same journal went on

    # the record W wrote: `gdtui run --config` prints what the TUI showed (and goes on to the run's 12 epochs)
    capsys.readouterr()
    assert main(["run", "--config", str(written[0]), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["rmse"] for line in lines if line.get("event") == "epoch"] == reference(cfg, 12)


def test_run_config_of_w_s_record_prints_the_tui_s_log(tmp_path, capsys):
    cfg = config(epochs=12)
    path = tmp_path / "w.toml"
    from gdtui.engine.lanes import Race
    from gdtui.engine.tomlconfig import dump_record

    race = Race(cfg)
    trainer = race.lanes[0].trainer
    trainer.run(5)
    trainer.update(lr=2e-5)
    trainer.run(5)
    path.write_text(dump_record(race.record(0)))
    assert main(["run", "--config", str(path), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    rmse = [line["rmse"] for line in lines if line.get("event") == "epoch"]
    assert rmse == reference(cfg, 12)


async def test_a_training_process_killed_under_the_tui_is_rebuilt_where_it_stood(tmp_path):
    cfg = config(epochs=30)
    journal = str(tmp_path / "j.jsonl")
    session, app = spawned(cfg, journal=journal)
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot, 7)
        dead = session.process
        assert dead is not None
        dead.kill()  # the OOM killer, say
        await wait_for(pilot, lambda: session.process is not dead and app.state == "paused", what="a new process")
        await wait_for(pilot, lambda: app.status.epoch == 7, what="rebuilt to epoch 7")
        assert any("rebuilds the race where it stood" in n.message for n in app._notifications)
        assert list(app.race.lanes.lanes[0].series) == reference(cfg, 7)
        await pilot.press("s")
        await wait_for(pilot, lambda: caught_up(app) and app.status.epoch == 8, what="epoch 8")
        assert list(app.race.lanes.lanes[0].series) == reference(cfg, 8)
        await pilot.press("r")  # r keeps its meaning: back to the start
        await wait_for(pilot, lambda: caught_up(app) and app.status.epoch == 0, what="reset")


def test_gdtui_resume_opens_the_latest_journal_where_it_stood_and_a_new_gdtui_says_how(monkeypatch, tmp_path):
    from gdtui.cli.journals import new_journal
    from gdtui.engine.journal import Journal
    from gdtui.engine.lanes import Race
    from tests.tui_helpers import stub_tui

    race = Race(config(epochs=3000))
    trainer = race.lanes[0].trainer
    trainer.run(1000)
    path = new_journal()
    journal = Journal(path)
    journal.write(race.record(0))
    journal.reached(race.record(0))
    journal.checkpoint(0, 1000, trainer.history_bytes(0), trainer.snapshot())  # a last line of some 100 KB
    journal.handle.close()  # killed: no end, no lock
    spawned = stub_tui(monkeypatch)
    assert main(["--preset", "linear-manual"]) == 0
    assert spawned["hint"] == f"the last gdtui ended without closing its run: gdtui resume {path}"
    spawned.clear()
    main(["resume"])
    record = spawned["record"]
    assert spawned["resume"] and spawned["journal"] == path and record.lanes[0].reached == 1000
    # a journal that ended as it should: no hint
    again = Journal(path)
    again.end()
    again.close()
    spawned.clear()
    main(["--preset", "linear-manual", "--no-journal"])
    assert spawned["hint"] is None and spawned["journal"] is None


async def test_the_palette_s_figure_writes_the_race_drawn_by_gdtui_figure(tmp_path, monkeypatch):
    import pytest

    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    app = GdtuiApp(config(epochs=6))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        for _ in range(3):
            await pilot.press("s")
        await wait_for(pilot, lambda: caught_up(app) and app.status.epoch == 3, what="epoch 3")
        app.action_view("settings", "figure", "loss")
        await wait_for(
            pilot, lambda: any(n.title == "figure" and "written" in n.message for n in app._notifications), what="drawn"
        )
        assert app.settings.drawing is not None
        await app.settings.drawing
    (png,) = tmp_path.glob("gdtui-*-loss.png")
    from PIL import Image

    with Image.open(png) as image:
        assert image.size[0] > 200 and image.size[1] > 100


async def test_a_run_quit_as_it_should_resumes_from_its_checkpoint_at_once(tmp_path):
    cfg = config(epochs=1000)
    journal = str(tmp_path / "j.jsonl")
    session, app = spawned(cfg, journal=journal)
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot, 9)
        await pilot.press("q")
    assert session.process is None  # stopped: it wrote its checkpoint and its end
    record = read(journal)
    assert record.lanes[0].reached == 9 and set(record.checkpoints) == {0}
    _, app = spawned(cfg, record=record, resume=True, journal=journal)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.state == "paused" and app.status.epoch == 9, what="resumed at epoch 9")
        assert list(app.race.lanes.lanes[0].series) == reference(cfg, 9)
        assert app.log_view.rows == 9  # the log's epochs came whole with the history
        await pilot.press("s")
        await wait_for(pilot, lambda: caught_up(app) and app.status.epoch == 10, what="epoch 10")
        assert list(app.race.lanes.lanes[0].series) == reference(cfg, 10)


async def test_lt_and_gt_halve_and_double_the_playback_speed_and_the_status_line_says_it():
    cfg = config(epochs=1000)
    session, app = spawned(cfg, speed=4.0)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: app.status.pace == 4.0, what="the speed shown")
        assert "speed 4 ep/s (< >)" in str(app.status.render())
        await pilot.press("less_than_sign")
        await wait_for(pilot, lambda: app.status.pace == 2.0, what="halved")
        await pilot.press("greater_than_sign")
        await pilot.press("greater_than_sign")
        await wait_for(pilot, lambda: app.status.pace == 8.0, what="doubled twice")


def test_the_session_trains_no_faster_than_its_speed():
    """The session's clock moves only while it waits for its next epoch (by hand: no test waits on time): at 4
    epochs a second it waits a quarter of a second before each epoch after the first, and the Pause that comes
    during the sixth wait finds it at epoch 6."""
    from gdtui.engine import protocol as p
    from gdtui.engine.session import Session
    from tests.test_audit_engine import ScriptedPipe

    clock = [100.0]
    waits: list[float] = []

    class Paced(ScriptedPipe):
        def poll(self, timeout=0.0):
            if timeout:  # the session waits for its next epoch: the time passes
                waits.append(timeout)
                clock[0] += timeout
            return super().poll(timeout)

    pipe = Paced(lambda: 0, [(0, p.Run()), (lambda replies: len(waits) >= 6, p.Pause())])
    session = Session(pipe)
    session.clock = lambda: clock[0]
    cfg = config(epochs=1000)
    session.loop(cfg, None, p.Start(cfg, speed=4.0))
    assert session.trainer is not None and session.trainer.epoch == 6
    assert waits == [0.25] * 6
    states = [r for r in pipe.replies if isinstance(r, p.State)]
    assert states[-1].speed == 4.0 and states[-1].state == "paused"


def test_speed_options_reach_the_session_and_replay_plays_from_the_start(monkeypatch, tmp_path):
    from gdtui.engine.journal import Journal
    from gdtui.engine.lanes import Race
    from tests.tui_helpers import stub_tui

    spawned = stub_tui(monkeypatch)
    assert main(["--speed", "3", "--no-journal"]) == 0
    assert spawned["speed"] == 3.0
    race = Race(config(epochs=30))
    race.lanes[0].trainer.run(4)
    path = str(tmp_path / "j.jsonl")
    journal = Journal(path)
    journal.write(race.record(0))
    journal.reached(race.record(0))
    t = race.lanes[0].trainer
    journal.checkpoint(0, t.epoch, t.history_bytes(0), t.snapshot())
    journal.close()
    spawned.clear()
    assert main(["replay", path, "--speed", "2"]) == 0
    assert spawned["speed"] == 2.0 and spawned["resume"] and spawned["record"].lanes[0].reached == 4
    assert spawned["record"].checkpoints == {}  # a replay plays from the start
    assert main(["--speed", "0"]) == 2
