"""Snapshots of the main layouts: 80x24, 120x36, a diverged run, and the help screen."""

from __future__ import annotations

from gdtui.tui.app import GdtuiApp
from gdtui.tui.widgets.help import HelpScreen
from tests.tui_helpers import config, drawn, ready, wait_for


def steps(n: int):
    async def run_before(pilot) -> None:
        await ready(pilot)
        for i in range(1, n + 1):
            await pilot.press("s")
            await wait_for(pilot, lambda i=i: pilot.app.query_one("#log").rows == i, what=f"epoch {i}")
        await drawn(pilot)

    return run_before


def test_layout_120x36(snap_compare):
    assert snap_compare(GdtuiApp(config()), terminal_size=(120, 36), run_before=steps(3))


def test_layout_80x24(snap_compare):
    assert snap_compare(GdtuiApp(config()), terminal_size=(80, 24), run_before=steps(3))


def test_diverged(snap_compare):
    async def run_before(pilot) -> None:
        await ready(pilot)
        await pilot.press("space")
        await wait_for(pilot, lambda: pilot.app.state == "diverged", what="diverged")
        await drawn(pilot)

    assert snap_compare(GdtuiApp(config(lr=1.0, epochs=100)), terminal_size=(120, 36), run_before=run_before)


def test_help(snap_compare):
    async def run_before(pilot) -> None:
        await ready(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), what="the help screen")
        await drawn(pilot)

    assert snap_compare(GdtuiApp(config()), terminal_size=(120, 36), run_before=run_before)
