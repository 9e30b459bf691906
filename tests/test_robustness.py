"""Robustness of the TUI: bad values in every field, a key storm, resizes while running, and quitting."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from textual import events

from gdtui.engine import protocol as p
from gdtui.tui.app import GdtuiApp
from gdtui.tui.widgets.hyperparams import INPUTS, OPTIONAL, REQUIRED
from gdtui.tui.widgets.rmse_log import RmseLog
from gdtui.tui.widgets.status import STATES, StatusLine
from tests.tui_helpers import config, ready, wait_for

SIZE = (120, 36)

# Values each field must refuse as typed (its validator marks them, with the reason).
BAD_TYPED = {
    "lr": ["abc", "0", "-1", "nan", "inf", "1e400", "", "1e7"],
    "momentum": ["1", "1.5", "-0.1", "x", "nan"],
    "epochs": ["0", "-5", "2.5", "abc", "1e12", "99999999999"],
    "seed": ["-1", "x", "1.5", "99999999999999999999"],
    "device": ["gpu", "cuda:x", "tpu", ""],
    "data": [""],
    "points": ["0", "-3", "abc", "1e9", "100000000"],
    "noise": ["-1", "nan", "inf", "x"],
    "degree": ["0", "12", "x"],
    "test_fraction": ["1", "-0.1", "x", "inf"],
    "init": ["1,,2", "a=1,2", "x", "1,nan,2"],
    "target_rmse": ["-1", "x", "inf"],
    "patience": ["0", "1.5", "x"],
    "batch_size": ["0", "-2", "x", "1.5"],
    "schedule": ["step", "warmup", "step:step_size=0", "step:gama=0.5", "cosine+step:step_size=2", "onecycle"],
}
# rows of synthetic data and of the mlp: typed into in test_app_options; the formula row (a formula model, or
# "formula…" chosen): typed into in test_app_formula
SHOWN_LATER = {"x_range", "hidden", "formula"}
# The optimizers' own settings: rows shown for the optimizer that has them, each typed into below.
BAD_SETTINGS = {
    "adam": {"betas": ["0.9", "1,0.9", "x,y", "0.9,1"], "eps": ["-1", "x", "nan"], "weight_decay": ["-1", "x"]},
    "rmsprop": {"alpha": ["-0.1", "x"], "centered": ["maybe"]},
    "sgd": {"dampening": ["-0.1", "2", "x"]},
    "adagrad": {"lr_decay": ["-1", "x"], "initial_accumulator": ["-1", "x"]},
}


def test_every_input_field_is_covered():
    settings = {field for fields in BAD_SETTINGS.values() for field in fields}
    assert set(BAD_TYPED) | SHOWN_LATER | settings == set(INPUTS) | set(OPTIONAL) | set(REQUIRED)


async def type_into(pilot, field: str, text: str) -> None:
    box = pilot.app.query_one(f"#f-{field}")
    box.focus()
    box.value = text
    await pilot.press("enter")
    await pilot.pause()


async def wait_for_lr_doubled(pilot) -> None:
    """Press ] and wait for the session's answer (the app's lr changes only on it). The session answers in
    order, so by then every reply to a command sent before ] has arrived and been handled."""
    app = pilot.app
    lr = app.config.lr
    await pilot.press("right_square_bracket")
    await wait_for(pilot, lambda: app.config.lr == 2 * lr, what="the answer to ]")


async def test_bad_values_in_every_field_are_refused_and_the_run_keeps_its_config():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        before = app.config
        for field, values in BAD_TYPED.items():
            for text in values:
                await type_into(pilot, field, text)
                box = app.query_one(f"#f-{field}")
                assert box.has_class("-invalid"), (field, text)
                error = str(app.query_one("#field-error").render())
                assert error.startswith(f"{field}:") and len(error) > len(field) + 3, (field, text, error)
                assert app.config == before, (field, text)
            await pilot.press("escape")
        # Had a value been sent, the session's answer to it (a refusal, a new run or a live change) would come
        # before its answer to ], which doubles the lr in effect: once that arrives, nothing else changed.
        await wait_for_lr_doubled(pilot)
        assert app.config == before.replace(lr=2 * before.lr)
        assert not any(n.title in ("not applied", "reset") for n in app._notifications)
        await pilot.press("s")
        await wait_for(pilot, lambda: app.query_one(RmseLog).rows == 1, what="a step with the old config")


@pytest.mark.parametrize("optimizer", list(BAD_SETTINGS))
async def test_bad_optimizer_settings_are_refused_and_the_run_keeps_its_config(optimizer):
    fields = BAD_SETTINGS[optimizer]
    app = GdtuiApp(config(optimizer=optimizer, momentum=0.9 if optimizer == "sgd" else None))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        before = app.config
        for field, values in fields.items():
            for text in values:
                await type_into(pilot, field, text)
                assert app.query_one(f"#f-{field}").has_class("-invalid"), (optimizer, field, text)
                assert app.config == before, (optimizer, field, text)
            await pilot.press("escape")
        await wait_for_lr_doubled(pilot)  # nothing sent before ] was applied
        assert app.config == before.replace(lr=2 * before.lr)


async def test_unavailable_device_and_broken_csv_are_noticed_and_not_applied(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("x,y\n1,2\n3\n")
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        before = app.config
        cases = [
            ("device", "cuda:7", "cuda:7"),
            ("device", "mps", "mps"),
            ("data", str(tmp_path / "missing.csv"), "missing.csv"),
            ("data", str(tmp_path), "directory"),
            ("data", str(empty), "no data rows"),
            ("data", str(ragged), "ragged.csv:3"),
        ]
        for field, text, said in cases:
            await type_into(pilot, field, text)
            await wait_for(
                pilot,
                lambda said=said: any(said in n.message for n in app._notifications),
                what=f"a notice naming {said}",
            )
            await wait_for(
                pilot,
                lambda f=field: app.query_one(f"#f-{f}").value == str(getattr(before, f)),
                what=f"{field} reverted",
            )
            assert app.config == before
        await pilot.press("escape")
        await pilot.press("s")
        await wait_for(pilot, lambda: app.query_one(RmseLog).rows == 1, what="a step with the old config")


# Every binding of the app, the keys that move between panes, and escape (leaves a field, closes a screen).
STORM_KEYS = [
    "s",
    "space",
    "r",
    "right_square_bracket",
    "left_square_bracket",
    "l",
    "w",
    "question_mark",
    "escape",
    "tab",
    "shift+tab",
    "ctrl+p",
    "t",
    "p",
    # lanes: add, branch, remove, focus (a storm races up to 8 lanes)
    "a",
    "b",
    "x",
    "1",
    "2",
    "3",
    "8",
]
TEXT = "0123456789.-e ax"


async def test_key_storm(tmp_path, monkeypatch):
    """2,000 random presses while training runs; invariants checked after every press."""
    monkeypatch.chdir(tmp_path)
    rng = random.Random(20261122)
    app = GdtuiApp(config(epochs=1_000_000_000))
    resets = 0
    sent = app.session.send

    def counting_send(command):
        nonlocal resets
        # each may show a lower epoch
        if isinstance(command, p.Reset | p.Configure | p.AddLane | p.BranchLane | p.RemoveLane | p.FocusLane):
            resets += 1
        sent(command)

    app.session.send = counting_send
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("space")
        driver = app._driver
        last_epoch, falls = 0, 0
        for n in range(2000):
            if n % 250 == 249:  # the backlog bounded: on a loaded machine 2,000 keys unhandled outlast Pilot's 30 s
                await pilot.pause()
            if rng.random() < 0.15 and app.screen is app.screen_stack[0]:
                field = rng.choice(INPUTS)
                app.query_one(f"#f-{field}").focus()
                keys = [rng.choice(TEXT) for _ in range(rng.randint(1, 4))] + ["enter", "escape"]
            else:
                keys = [rng.choice(STORM_KEYS)]
            for key in keys:
                char = key if len(key) == 1 else {"space": " ", "enter": "\r", "tab": "\t"}.get(key)
                event = events.Key(key, char)
                event.set_sender(app)
                driver.send_message(event)
            await asyncio.sleep(0)  # let the app take the keys in, without waiting for it to be idle
            status = app.query_one(StatusLine)
            assert status.state in STATES
            assert app.state in STATES
            if status.epoch < last_epoch:
                falls += 1
                # each reset (or new run) sent may lower the counter once, whenever the session answers
                assert falls <= resets, "the epoch counter fell without a reset"
            last_epoch = status.epoch
        # Then the log holds exactly the epochs run since the last reset: ask the session itself how many it
        # has (an export answers with its count, after every reply to what the storm sent) and look at the log
        # and the status line at the moment that answer is handled.
        seen = []
        notify = app.notify
        await wait_for(pilot, lambda: app.session.sent == app.seen, what="the session caught up")
        lanes = app.race.lanes
        focused = lanes.get(lanes.focus)
        name = "final.csv" if len(lanes) == 1 else f"final-lane{focused.number}.csv"

        def noting(message, *args, **kwargs):
            if "written to" in message and message.rstrip().endswith(name):
                seen.append((int(message.split()[0]), app.query_one(RmseLog).rows, app.query_one(StatusLine).epoch))
            return notify(message, *args, **kwargs)

        app.notify = noting
        sent(p.Export(str(tmp_path / "final.csv")))
        await wait_for(pilot, lambda: seen, what="the session's count of its epochs")
        ((epochs, logged, shown),) = seen
        assert logged == epochs == shown
    assert app.session.process is None


async def test_resizes_while_running():
    app = GdtuiApp(config(epochs=1_000_000_000))
    async with app.run_test(size=(200, 60)) as pilot:
        await ready(pilot)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "running", what="running")
        for size in [(80, 24), (40, 12), (120, 36)]:
            await pilot.resize_terminal(*size)
            # the screen takes the new size after the app has handled the resize (and marked it too small)
            await wait_for(pilot, lambda size=size: tuple(app.screen.size) == size, what=f"the screen at {size}")
            assert app.screen.has_class("too-small") == (size == (40, 12))
        epoch = app.query_one(StatusLine).epoch
        await wait_for(pilot, lambda: app.query_one(StatusLine).epoch > epoch, what="training goes on")
        assert app.query_one("#plot").size.width > 40
        assert app.state == "running"


# --------------------------------------------------------------------------------------------------------------
# The training process dies (CUDA out of memory, the OOM killer): the app says why and r starts a new one
# --------------------------------------------------------------------------------------------------------------


async def test_a_killed_session_is_reported_and_a_new_one_starts_on_r_or_a_change():
    app = GdtuiApp(config(epochs=1_000_000_000))
    async with app.run_test(size=SIZE) as pilot:

        async def kill_while_running():
            await ready(pilot)
            await pilot.press("space")
            await wait_for(pilot, lambda: app.query_one(RmseLog).rows > 0, what="training")
            process = app.session.process
            process.send_signal(signal.SIGKILL)
            await wait_for(pilot, lambda: app.state == "ended", what="the loss noticed")
            return process

        first = await kill_while_running()
        assert any("killed by SIGKILL" in n.message for n in app._notifications)
        assert "r restarts it" in str(app.query_one(StatusLine).render())
        await pilot.press("s")
        await wait_for(
            pilot,
            lambda: any("press r to start a new one" in n.message for n in app._notifications),
            what="the notice that s needs a new process",
        )
        assert app.state == "ended" and not app.session.alive
        lr = app.config.lr
        await pilot.press("right_square_bracket")  # a change starts a new process with it
        await ready(pilot)
        assert app.session.alive and app.session.process is not first
        assert app.config.lr == 2 * lr and app.state == "ready" and app.query_one(RmseLog).rows == 0

        second = await kill_while_running()
        await pilot.press("r")
        await ready(pilot)
        assert app.session.alive and app.session.process is not second and app.config.lr == 2 * lr
        await pilot.press("s")
        await wait_for(pilot, lambda: app.query_one(RmseLog).rows == 1, what="a step in the new session")
    assert first.poll() is not None and second.poll() is not None and app.session.process is None


async def test_a_session_that_fails_shows_its_last_error_line(tmp_path, monkeypatch):
    (tmp_path / "torch.py").write_text("raise RuntimeError('CUDA error: out of memory')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the session process finds this torch first
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.state == "ended", what="the failure noticed")
        assert any("exit status 1: RuntimeError: CUDA error: out of memory" in n.message for n in app._notifications)


async def test_closing_while_the_form_is_built_raises_nothing():
    """The hyperparameters form mounts just after the first frame; closing the app meanwhile is quiet."""
    for delay in (0, 0.02, 0.05, 0.08, 0.11, 0.15):
        app = GdtuiApp(config())
        async with app.run_test(size=SIZE):
            await asyncio.sleep(delay)
        assert app._exception is None and app.return_code in (0, None)


def test_the_session_imports_this_gdtui_from_any_directory(tmp_path):
    import gdtui
    from gdtui.tui.client import _child_env

    found = subprocess.run(
        [sys.executable, "-c", "import gdtui; print(gdtui.__file__)"],
        env=_child_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert os.path.samefile(found, gdtui.__file__)


# --------------------------------------------------------------------------------------------------------------
# Quitting a real process in a pseudo-terminal
# --------------------------------------------------------------------------------------------------------------


def session_pids(parent: int) -> set[int]:
    """The session processes `parent` started (other tests' sessions, in another worker, are not its)."""
    pids = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as handle:
                    is_session = b"gdtui.engine.session" in handle.read()
                with open(f"/proc/{name}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if is_session and ppid == parent:
                pids.add(int(name))
    return pids


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (a zombie has ended)."""
    running = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] != "Z":
                    running.add(pid)
        except OSError:
            pass
    return running


def read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    import select

    out = b""
    end = time.monotonic() + timeout
    while needle not in out and time.monotonic() < end:
        ready_fds, _, _ = select.select([fd], [], [], 0.1)
        if ready_fds:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return out


@pytest.mark.parametrize("how", ["q", "ctrl+q", "ctrl+c", "SIGTERM", "SIGHUP", "hangup"])
def test_quit_mid_run_in_a_terminal(how):
    import pty

    master, slave = pty.openpty()
    os.set_blocking(master, False)
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="120", LINES="36")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gdtui", "--epochs", "1000000000", "--run"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    try:
        out = read_until(master, b"epochs/s", 90)
        assert b"epochs/s" in out, out[-2000:]
        sessions = session_pids(proc.pid)  # training: its session is running
        assert len(sessions) == 1
        if how == "hangup":  # the SSH link drops: the terminal goes away, then SIGHUP arrives
            os.close(master)
            master = None
            proc.send_signal(signal.SIGHUP)
        elif how.startswith("SIG"):
            proc.send_signal(getattr(signal, how))
        else:
            os.write(master, {"q": b"q", "ctrl+q": b"\x11", "ctrl+c": b"\x03"}[how])
        # Keep reading, as a terminal does: an app whose output nobody reads blocks on its next write.
        end = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < end:
            if master is not None:
                out += read_until(master, b"\x00never", 0.1)
            else:
                time.sleep(0.1)
        if proc.poll() is None:
            raise AssertionError(f"gdtui did not exit after {how}; screen tail: {out[-1500:]!r}")
        code = proc.returncode
        if master is not None:
            out += read_until(master, b"\x00never", 0.3)
    finally:
        if proc.poll() is None:
            proc.kill()
        if master is not None:
            os.close(master)
    assert b"Traceback" not in out
    if how != "hangup":
        # a key quits with 0; a signal ends gdtui with 128 + its number, as a shell reports it (issue 24)
        assert code == (128 + getattr(signal, how) if how.startswith("SIG") else 0)
        assert b"\x1b[?1049l" in out  # left the alternate screen: the terminal is restored
    deadline = time.monotonic() + 30
    while alive(sessions) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(sessions)
