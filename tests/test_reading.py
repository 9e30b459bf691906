"""A large CSV is read by the session a slice at a time, its progress shown, the pipe read between slices: the
TUI paints first, escape cancels the read (the file is never read twice), and a key pressed meanwhile is
dropped with a notice. The interleavings are forced: in-process the pipe delivers each command once so many
progress reports have been sent; in the TUI the session's reader waits at a gate the test opens."""

from __future__ import annotations

import sys

import torch

from gdtui.engine import protocol as p
from gdtui.engine import resolve
from gdtui.engine import session as session_module
from gdtui.engine.csvfile import read_xy
from gdtui.tui.app import GdtuiApp
from gdtui.tui.client import SessionClient
from tests.tui_helpers import ready, stub_tui, wait_for

ROWS = 3000


def big_csv(tmp_path, rows=ROWS):
    path = tmp_path / "big.csv"
    path.write_text("x,y\n" + "".join(f"{i / rows},{2 * i / rows + 1}\n" for i in range(rows)))
    return str(path)


class ProgressPipe:
    """Delivers `commands` one by one, each once `after` Reading reports have been sent since the last."""

    def __init__(self, commands, after):
        self.commands, self.after, self.replies, self.since = list(commands), after, [], 0

    def poll(self):
        return bool(self.commands) and self.since >= self.after

    def recv(self):
        self.since = 0
        return self.commands.pop(0) if self.commands else p.Quit()

    def send(self, reply):
        self.replies.append(reply)
        self.since += isinstance(reply, p.Reading)

    def close(self):
        pass


def serve(config, commands, after, monkeypatch):
    monkeypatch.setattr("gdtui.engine.csvfile.SLICE_ROWS", 100)
    pipe = ProgressPipe(commands, after)
    session = session_module.Session(pipe)
    session.loop(config)
    return session, pipe.replies


def test_the_session_reads_a_csv_a_slice_at_a_time_and_says_how_far(tmp_path, monkeypatch):
    path = big_csv(tmp_path)
    session, replies = serve(resolve("linear-manual", data=path), [], 0, monkeypatch)
    fractions = [r.fraction for r in replies if isinstance(r, p.Reading)]
    assert len(fractions) >= ROWS // 100 and fractions[0] == 0.0
    assert fractions == sorted(fractions) and fractions[-1] <= 1.0
    ready = next(r for r in replies if isinstance(r, p.Ready))
    assert replies.index(ready) > max(i for i, r in enumerate(replies) if isinstance(r, p.Reading))
    assert ready.info.n_points == ROWS and ready.info.config.data == path
    whole = read_xy(path)  # the data read in slices is the data read at once (as the run's float32)
    assert sorted(session.trainer.data.x.tolist()) == sorted(torch.tensor(list(whole.x), dtype=torch.float32).tolist())


def test_a_key_during_the_read_is_dropped_with_a_notice_and_cancel_stops_it(tmp_path, monkeypatch):
    """A step after 5 reports is refused, said; a cancel after 5 more stops the read where it is (no Ready on
    the file's data) and the run starts on the preset's own data."""
    path = big_csv(tmp_path)
    session, replies = serve(resolve("linear-manual", data=path), [p.Step(), p.CancelRead()], 5, monkeypatch)
    errors = [r for r in replies if isinstance(r, p.Error)]
    assert [e.field for e in errors] == ["step", "data"]
    assert "reading" in errors[0].message and "escape cancels" in errors[0].message
    assert errors[1].message == f"reading {path} cancelled"
    assert len([r for r in replies if isinstance(r, p.Reading)]) < ROWS // 100  # stopped part way
    readies = [r for r in replies if isinstance(r, p.Ready)]
    assert [r.info.config.data for r in readies] == ["article"]  # linear-manual's own data, never the file's
    assert [r.count for r in replies if isinstance(r, p.Seen)] == [1, 2]
    assert session.state() == "ready"


def test_a_new_csv_chosen_mid_run_is_read_with_the_old_run_kept_until_it_is(tmp_path, monkeypatch):
    path = big_csv(tmp_path)
    config = resolve("linear-manual")
    commands = [p.Step(), p.Configure(config.replace(data=path)), p.CancelRead(), p.Step()]
    monkeypatch.setattr("gdtui.engine.csvfile.SLICE_ROWS", 100)
    pipe = ProgressPipe(commands, 0)
    session = session_module.Session(pipe)
    session.loop(config)
    replies = pipe.replies
    assert [e.message for e in replies if isinstance(e, p.Error)] == [f"reading {path} cancelled"]
    assert session.trainer.config.data == "article" and session.trainer.epoch == 2  # the old run, stepped on


GATED = """
import os, sys, time
from gdtui.engine import csvfile

real = csvfile.read_xy_job
GATE = os.environ["GDTUI_TEST_GATE"]


def gated(path, rows=100):
    job = real(path, rows=100)
    first = True
    while True:
        try:
            fraction = next(job)
        except StopIteration as done:
            return done.value
        yield fraction
        while first and not os.path.exists(GATE):  # the test opens the gate: the read waits, slice by slice
            time.sleep(0.005)
            yield fraction
        first = False


csvfile.read_xy_job = gated
from gdtui.engine import session
session.main()
"""


def gated_session(monkeypatch, tmp_path):
    gate = tmp_path / "gate"
    monkeypatch.setenv("GDTUI_TEST_GATE", str(gate))
    monkeypatch.setattr(SessionClient, "command", (sys.executable, "-c", GATED))
    return gate


def notices(app):
    return [n.message for n in app._notifications]


async def test_the_tui_shows_the_read_drops_keys_and_escape_cancels(tmp_path, monkeypatch):
    gated_session(monkeypatch, tmp_path)
    path = big_csv(tmp_path)
    app = GdtuiApp(resolve("linear-manual", data=path))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.state == "reading", what="the read under way")
        assert "reading big.csv…" in str(app.status.render()) and "escape cancels" in str(app.status.render())
        sent = app.session.sent
        await pilot.press("s")
        await wait_for(pilot, lambda: any("Not done: reading big.csv" in n for n in notices(app)), what="notice")
        assert app.session.sent == sent  # dropped, not queued behind the read
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.state == "ready", what="the preset's own run")
        assert any(f"reading {path} cancelled" in n for n in notices(app))
        assert app.config.data == "article"


async def test_the_tui_runs_on_the_file_once_it_is_read(tmp_path, monkeypatch):
    gate = gated_session(monkeypatch, tmp_path)
    path = big_csv(tmp_path)
    app = GdtuiApp(resolve("linear-manual", data=path))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.state == "reading", what="the read under way")
        gate.touch()
        await ready(pilot)
        await wait_for(pilot, lambda: app.state == "ready", what="the run on the file")
        assert app.config.data == path and f"{ROWS:,} points" in app.sub_title


def test_the_tui_command_line_leaves_a_big_csv_to_the_session(tmp_path, monkeypatch):
    """Over TUI_READS_UP_TO bytes the command line only checks the file: the session reads it, once."""

    from gdtui.cli import main

    path = big_csv(tmp_path)
    reads = []
    real = read_xy
    monkeypatch.setattr("gdtui.cli.common.read_xy", lambda p: reads.append(p) or real(p))
    monkeypatch.setattr("gdtui.cli.common.TUI_READS_UP_TO", 1000)
    spawned = stub_tui(monkeypatch)
    main(["--preset", "linear-manual", "--data", path])
    assert reads == [] and spawned["csv"] is None and spawned["config"].data == path
    monkeypatch.setattr("gdtui.cli.common.TUI_READS_UP_TO", 10**9)
    main(["--preset", "linear-manual", "--data", path])
    assert reads == [path] and spawned["csv"].path == path  # a small file: read here, handed on
