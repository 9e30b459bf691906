"""Snapshots of the main layouts: 80x24, 120x36, a diverged run, the help screen and a race's landscape at 80x24."""

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


def test_landscape_80x24(snap_compare):
    """The landscape of a race at 80x24, one lane diverged: paths as thin lines, the diverged one cut where it
    left the view, both minima named, the title and legend whole; the lanes table in its columns' order."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await ready(pilot)
        await wait_for(pilot, lambda: len(app.race.lanes) == 3, what="three lanes")
        await pilot.press("space")
        lanes = app.race.lanes.lanes
        await wait_for(
            pilot,
            lambda: app.state == "done" and all(lane.epoch == 200 or lane.status == "diverged" for lane in lanes),
            what="the race run",
        )
        await pilot.press("t", "t")

        def fitted() -> bool:
            grid, (cols, rows) = app.land.grid, app.landscape.area()
            return grid is not None and (len(grid.xs), len(grid.ys)) == (cols, 2 * rows) and len(app.land.paths) == 3

        await wait_for(pilot, fitted, what="a grid of the view's size")
        await drawn(pilot)

    base = config(epochs=200)
    app = GdtuiApp(base, lanes=[base.replace(lr=3e-5), base.replace(lr=4e-5)])
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
