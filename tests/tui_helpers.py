"""Helpers for driving the app with Pilot: wait on conditions instead of sleeping blindly."""

from __future__ import annotations

import asyncio

from gdtui.engine import resolve
from gdtui.tui.widgets.rmse_log import RmseLog

TIMEOUT = 60.0


async def wait_for(pilot, predicate, timeout: float = TIMEOUT, what: str = "condition") -> None:
    """Until `predicate()` holds: each turn handles the messages pending (pilot.pause waits for the screen to
    process them) and then gives the loop a moment. `timeout` only guards against a hang: a slow machine
    just takes more turns."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(0.02)


async def refreshed(pilot, frames: int = 2) -> None:
    """Wait until the app has handled the messages queued now, then `frames` screen refreshes more: layout,
    scrolls deferred to after a refresh, and what they schedule in turn have all run by then."""
    app = pilot.app
    done = []

    def mark(left: int) -> None:
        if left:
            app.call_after_refresh(mark, left - 1)
        else:
            done.append(True)

    app.call_after_refresh(mark, frames - 1)
    await wait_for(pilot, lambda: done, what=f"{frames} screen refreshes")


async def replies_read(pilot) -> None:
    """Wait until the app has read every reply the session has written to its pipe so far, and handled it."""
    session = pilot.app.session
    await wait_for(
        pilot, lambda: session.conn is None or not session.conn.poll(), what="the session's replies to be read"
    )
    await pilot.pause()


async def ready(pilot, timeout: float = TIMEOUT) -> None:
    app = pilot.app
    # past loading torch, and past reading a CSV file (the session reads one before the run starts on it)
    await wait_for(pilot, lambda: app.state not in ("loading", "reading"), timeout, "the session's first run")


async def drawn(pilot) -> None:
    """Force a frame now (the app spaces its frames by 4x their cost, which a slow machine can stretch beyond any
    fixed pause), wait until it has been drawn, then let the screen refresh."""
    app = pilot.app
    await replies_read(pilot)  # replies already sent are read first
    app.frames.dirty = True
    app.frames.last = float("-inf")
    await wait_for(pilot, lambda: not app.frames.dirty, what="a frame")
    await refreshed(pilot)


async def palette_pick(pilot, text: str) -> None:
    """Type `text` into the open command palette, wait until its search highlights a command that says it, and
    press enter (the search runs in a worker: enter before it answers would pick nothing)."""
    from textual.command import CommandPalette
    from textual.widgets import OptionList

    await pilot.press(*text)

    def found() -> bool:
        screen = pilot.app.screen
        if not isinstance(screen, CommandPalette):
            return False
        options = screen.query_one(OptionList)
        index = options.highlighted
        return index is not None and text in str(options.get_option_at_index(index).prompt)

    await wait_for(pilot, found, what=f"the palette to offer {text!r}")
    await pilot.press("enter")


async def press_and_wait(pilot, key: str, predicate, what: str) -> None:
    await pilot.press(key)
    await wait_for(pilot, predicate, what=what)


async def run_to_done(pilot) -> None:
    """Wait for the session, press space, wait for "done" and a frame."""
    await ready(pilot)
    await press_and_wait(pilot, "space", lambda: pilot.app.state == "done", "done")
    await drawn(pilot)


async def field(pilot, name: str):
    """Wait for the session and the hyperparameters form, then focus the field `name` and return it."""
    app = pilot.app
    await ready(pilot)
    await wait_for(pilot, lambda: app.params.ready, what="the form")
    widget = app.query_one(f"#f-{name}")
    widget.focus()
    await pilot.pause()
    return widget


def log_texts(app) -> list[str]:
    return list(app.query_one(RmseLog).lines)


def config(**overrides):
    preset = overrides.pop("preset", "fastai-quadratic")
    return resolve(preset, **overrides)


def stub_tui(monkeypatch) -> dict:
    """`gdtui` (the TUI command) run in-process with neither a session process nor an app: the dict returned
    gets the config and the CSV data the command line would have spawned the session with."""
    import os

    spawned: dict = {}

    class Session:
        def spawn(self, config, csv=None, **start):
            spawned.update(config=config, csv=csv, **start)

        def stop(self):
            pass

    class App:
        return_code = 0

        def __init__(self, config, start, session, lanes=(), hint=None):
            spawned.update(hint=hint)

        def run(self):
            pass

    monkeypatch.setattr("gdtui.tui.client.SessionClient", Session)
    monkeypatch.setattr("gdtui.tui.app.GdtuiApp", App)
    monkeypatch.setattr(os, "_exit", lambda code: None)
    return spawned
