"""The landscape in the TUI: t cycles to it, the session's grid is drawn with every lane's path, o cycles the
pair, + and - zoom, z re-centers, 0 fits; the status line shows 2/λmax beside the lr. And the view itself: a
colormap whose brightness rises, two grid rows per terminal row, axes named, marks for the current point and
the minimum, far-off points clipped."""

from __future__ import annotations

import math
from itertools import pairwise

import torch
from textual.app import App, ComposeResult

from gdtui.engine.surface import Landscape
from gdtui.engine.trainer import Trainer
from gdtui.tui.app import GdtuiApp
from gdtui.tui.widgets.landscape import HALF, PALETTE, RAMP, LandscapeView, LanePath, bands, clip
from tests.tui_helpers import config, drawn, ready, wait_for

SIZE = (120, 36)


def luminance(rgb):
    r, g, b = (c / 255 for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_the_colormap_brightens_steadily_and_the_bands_follow_the_log_of_the_loss():
    lights = [luminance(c) for c in PALETTE]
    assert all(a < b for a, b in pairwise(lights))  # readable in grayscale: order is brightness
    levels, lo, hi = bands([[1.0, 10.0, 100.0, 1000.0], [math.inf, math.nan, 1.0, 1000.0]])
    assert (lo, hi) == (1.0, 1000.0)
    assert levels[0] == [0, 5, 10, 15]  # equal steps in log: equal steps in band
    assert levels[1] == [15, 15, 0, 15]  # what is not finite takes the top band


def test_clip_keeps_what_is_in_view_of_a_far_off_segment():
    box = (0.0, 10.0, 0.0, 10.0)
    assert clip((5.0, 5.0), (5.0, 1e30), box) == ((5.0, 5.0), (5.0, 10.0))
    crossing = clip((-1e30, 5.0), (1e30, 5.0), box)  # both ends far off: float64 keeps it in view, on its line
    assert crossing is not None and all(0 <= x <= 10 and y == 5.0 for x, y in crossing)
    assert clip((20.0, 20.0), (30.0, 40.0), box) is None


def bowl(cols=30, rows=8):
    """The loss (x-1)² + (y+1)² written out on a grid from -3 to 3."""
    xs = [-3 + 6 * k / (cols - 1) for k in range(cols)]
    ys = [-3 + 6 * k / (rows - 1) for k in range(rows)]
    loss = [[(x - 1) ** 2 + (y + 1) ** 2 + 0.01 for x in xs] for y in ys]
    return Landscape(("w", "b"), xs, ys, loss, [0.0, 0.0], [1.0, -1.0], (1.0, -1.0, 0.01), 4, False, ("w", "b"))


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield LandscapeView(id="land")


async def test_the_view_draws_two_grid_rows_a_row_with_axes_paths_and_marks():
    async with Host().run_test(size=(9 + 30, 4 + 3)) as pilot:  # a margin, 30 columns, 4 rows (8 grid rows)
        view = pilot.app.query_one(LandscapeView)
        assert view.area() == (30, 4)
        grid = bowl()
        orange = (213, 94, 0)
        view.show(grid, [LanePath(orange, [(-3.0, 3.0), (3.0, 3.0), (3.0, -3.0)], True)])
        await pilot.pause()
        lines = [view.render_line(y) for y in range(7)]
        texts = [line.text for line in lines]
        assert texts[0].startswith("↑ b") and "a →" not in texts[-1] and "w →" in texts[-1]
        assert "-3" in texts[5] and "3" in texts[5]  # x ticks: the span's ends
        assert texts[1].startswith("       3┤") and texts[4].startswith("      -3┤")
        levels, _, _ = bands(grid.loss)
        cells = list(lines[2])[1:]  # the second terminal row: grid rows 5 and 4 (from the top)
        colors = []
        for seg in cells:
            colors += [(seg.style.color.triplet, seg.style.bgcolor.triplet, ch) for ch in seg.text]
        assert len(colors) == 30
        # the path runs along the right edge (x = 3): a thin line of braille dots in the lane's color
        assert colors[-1][0] == orange and "\u2801" <= colors[-1][2] <= "\u28ff"
        for c in range(29):
            top, bottom, char = colors[c]
            if char == HALF:
                assert tuple(top) == PALETTE[levels[5][c]] and tuple(bottom) == PALETTE[levels[4][c]]
        marks = "".join(texts[1:5])
        assert "●" in marks and "✕" in marks  # the focused lane's current point and the minimum


async def test_without_color_the_bands_are_characters_and_paths_their_lane_s_number(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    async with Host().run_test(size=(9 + 30, 4 + 3)) as pilot:
        view = pilot.app.query_one(LandscapeView)
        assert view.colorless
        grid = bowl()
        view.show(grid, [LanePath((213, 94, 0), [(-3.0, 3.0), (3.0, 3.0), (3.0, -3.0)], False, "2")])
        await pilot.pause()
        rows = [view.render_line(y).text[9:] for y in range(1, 5)]
        levels, _, _ = bands(grid.loss)
        for r, row in enumerate(rows):
            for c, char in enumerate(row[:29]):  # the last column is the path's
                if char not in "✕◆○2" and not "\u2800" <= char <= "\u28ff":
                    assert char == RAMP[levels[7 - 2 * r][c] * len(RAMP) // 16]  # the cell's top half, by density
        assert rows[-1][29] == "2"  # the lane's current point, in its lane's number
        assert all("\u2801" <= row[29] <= "\u28ff" for row in rows[1:-1])  # its path down the right edge
        assert len({ch for row in rows for ch in row[:29]}) >= 4  # bands to tell apart
        assert "✕" in "".join(rows)


def fastai_limit():
    t = torch.arange(0, 20).double()
    design = torch.stack([t**2, t, torch.ones_like(t)], dim=1)
    return 2 / float(torch.linalg.eigvalsh(2 / 20 * design.T @ design)[-1])


async def test_the_landscape_view_from_the_keyboard():
    app = GdtuiApp(config(epochs=30))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: "2/λmax" in str(app.status.render()), what="the lr limit")
        assert f"lr 1e-05 < 2/λmax {fastai_limit():.3g}" in str(app.status.render())
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "done", what="done")
        assert app.tabs.active == "tab-preds"
        await pilot.press("t")
        assert app.tabs.active == "tab-curve" and not app.land.shown
        await pilot.press("t")
        await wait_for(pilot, lambda: app.land.grid is not None, what="a grid")
        grid = app.land.grid
        assert app.tabs.active == "tab-land" and grid.pair == ("a", "b")
        cols, rows = app.landscape.area()
        assert (len(grid.xs), len(grid.ys)) == (cols, 2 * rows)
        path = app.land.paths[0]
        assert path.points[-1] == tuple(grid.held[:2])  # it ends where the lane is
        await drawn(pilot)
        assert "●" in "".join(app.landscape.render_line(y).text for y in range(app.landscape.size.height))

        await pilot.press("o")
        await wait_for(pilot, lambda: app.land.grid.pair == ("a", "c"), what="the next pair")
        await pilot.press("o", "o")
        await wait_for(pilot, lambda: app.land.grid.pair == ("a", "b"), what="back to the first pair")

        def width(g):
            return g.xs[-1] - g.xs[0], g.ys[-1] - g.ys[0]

        before = app.land.grid
        await pilot.press("plus")
        await wait_for(pilot, lambda: app.land.grid is not before, what="zoomed in")
        assert all(math.isclose(a, b / 2) for a, b in zip(width(app.land.grid), width(before)))
        zoomed = app.land.grid
        await pilot.press("minus", "minus")
        await wait_for(pilot, lambda: width(app.land.grid)[0] > 1.5 * width(zoomed)[0], what="zoomed out")
        await wait_for(pilot, lambda: math.isclose(width(app.land.grid)[0], 2 * width(before)[0]), what="x2")
        await pilot.press("z")
        now = app.land.paths[0].last
        await wait_for(
            pilot,
            lambda: math.isclose((app.land.grid.xs[0] + app.land.grid.xs[-1]) / 2, now[0]),
            what="centered on the lane",
        )
        assert math.isclose((app.land.grid.ys[0] + app.land.grid.ys[-1]) / 2, now[1])
        await pilot.press("0")
        await wait_for(pilot, lambda: math.isclose(width(app.land.grid)[0], width(before)[0] * 1), what="fit")
        assert app.land.grid.xs[0] == before.xs[0]
        await pilot.press("t")
        assert app.tabs.active == "tab-theory" and not app.land.shown
        await pilot.press("t")
        assert app.tabs.active == "tab-preds" and not app.land.shown


async def test_paths_grow_with_every_report_and_each_lane_has_its_own():
    base = config(epochs=40)
    app = GdtuiApp(base, lanes=[base.replace(lr=3e-5)])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: len(app.race.lanes) == 2, what="two lanes")
        await pilot.press("t", "t")
        await wait_for(pilot, lambda: app.land.grid is not None and len(app.land.paths) == 2, what="paths")
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "done", what="done")
        ends = {}
        for lane_id, lr in ((0, 1e-5), (1, 3e-5)):  # each path ends at its lane's solo run's last parameters
            solo = Trainer(base.replace(lr=lr))
            solo.run(40)
            ends[lane_id] = (solo.history.params["a"][-1], solo.history.params["b"][-1])
        await wait_for(pilot, lambda: all(app.land.paths[k].last == ends[k] for k in ends), what="grown")
        assert ends[0] != ends[1]


async def test_f_runs_the_lr_range_test_and_enter_applies_the_pick_to_the_focused_lane():
    from gdtui.tui.widgets.lr_find import LrFindScreen

    app = GdtuiApp(config(epochs=5))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, LrFindScreen), what="the LR range test")
        screen = app.screen
        ramp = screen.result
        assert ramp.lrs[0] == 1e-8 and math.isclose(ramp.lr_limit, fastai_limit(), rel_tol=1e-9)
        await pilot.press("right")
        picked = screen.picked_lr
        assert picked in ramp.lrs
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.config.lr == picked, what="the lr applied")
        assert app.status.epoch == 0  # the ramp ran beside the lane: it has not trained


async def test_the_view_says_when_the_grid_is_computed_on_a_subsample():
    app = GdtuiApp(config(preset="linear-manual", data="linear", points=12_000, epochs=3))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("t", "t")
        await wait_for(pilot, lambda: app.land.grid is not None, what="a grid")
        assert app.land.grid.subsampled and app.land.grid.points == 10_000
        await drawn(pilot)
        assert "on a 10,000-point subsample" in app.landscape.render_line(0).text


async def test_every_view_draws_under_no_color(monkeypatch):
    """NO_COLOR: Textual grays or strips every style; no view may hand it a segment it cannot read."""
    from gdtui.tui.widgets.lr_find import LrFindScreen

    monkeypatch.setenv("NO_COLOR", "1")
    app = GdtuiApp(config(epochs=20))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "done", what="done")
        for _ in range(4):  # the curve, the landscape, the theory, the predictions
            await pilot.press("t")
            await drawn(pilot)
        await wait_for(pilot, lambda: app.land.grid is not None, what="a grid")
        await pilot.press("t", "t")
        await drawn(pilot)
        assert any(ch in app.landscape.render_line(3).text for ch in ".:-=+*#%@")
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, LrFindScreen), what="the LR range test")
        await drawn(pilot)
        await pilot.press("escape", "question_mark")
        await drawn(pilot)
        assert app.is_running


async def test_a_model_of_one_parameter_says_it_has_no_pair():
    app = GdtuiApp(config(preset="linear-manual", bias=False))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("t", "t")
        await drawn(pilot)
        text = app.landscape.render_line(0).text
        assert "needs two parameters: this model has one, w" in text


async def test_shift_o_types_the_pair_of_an_mlp_by_name_with_completion():
    from gdtui.tui.widgets.pair import PairScreen, parse_pair

    names = ("w1.0", "w1.1", "b1.0")
    assert parse_pair("w1.0, b1.0", names) == ("w1.0", "b1.0")
    assert "not a parameter" in parse_pair("w1.0,zz", names)
    assert "different" in parse_pair("w1.0,w1.0", names)
    assert "two parameters" in parse_pair("w1.0", names)
    app = GdtuiApp(config(data="sine", model="mlp", hidden=(4,), epochs=5))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("t", "t")
        await wait_for(pilot, lambda: app.land.grid is not None, what="a grid")
        await pilot.press("O")
        await wait_for(pilot, lambda: isinstance(app.screen, PairScreen), what="the pair screen")
        field = app.screen.query_one("#pair-input")
        field.value = ""
        await pilot.press(*"w2.3,zz")
        await wait_for(pilot, lambda: "zz is not a parameter" in str(app.screen.query_one("#pair-error").render()))
        await pilot.press("enter")
        assert isinstance(app.screen, PairScreen)  # refused, still asking
        for _ in range(2):
            await pilot.press("backspace")
        await pilot.press(*"b1.")
        await wait_for(pilot, lambda: field._suggestion == "w2.3,b1.0", what="the completion")
        await pilot.press("right", "enter")
        await wait_for(pilot, lambda: app.land.grid is not None and app.land.grid.pair == ("w2.3", "b1.0"))
        await pilot.press("O", "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, PairScreen), what="escape to close it")
        assert app.land.pair == ("w2.3", "b1.0")
