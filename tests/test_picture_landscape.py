"""The picture, issue 26's points 4 and 5: the landscape's paths as thin braille lines over the heat, a path cut
where it leaves the view for good (an arrow where it left), both minima marked and named, the title and legend
fitting at 80x24; the status line keeping every field at 80 columns; the lanes table's columns in their order
and the focused swatch in its color on the cursor's row."""

from __future__ import annotations

import math

from textual.app import App, ComposeResult

from gdtui.engine.surface import Landscape
from gdtui.tui.app import GdtuiApp
from gdtui.tui.widgets.landscape import HALF, PALETTE, LandscapeView, LanePath
from gdtui.tui.widgets.lanes_table import COLUMNS, LanesTable
from gdtui.tui.widgets.status import StatusLine
from tests.tui_helpers import config, drawn, ready, wait_for

ORANGE = (213, 94, 0)


def braille(char: str) -> bool:
    return "\u2801" <= char <= "\u28ff"


def bowl(cols=60, rows=16, minimum=(1.0, -1.0)):
    """The loss (x-1)² + (y+1)² on a grid from -3 to 3; `minimum` is the least-squares minimum of all the
    parameters (here w, b and a third, c, held elsewhere), which need not be the lowest point of the slice."""
    xs = [-3 + 6 * k / (cols - 1) for k in range(cols)]
    ys = [-3 + 6 * k / (rows - 1) for k in range(rows)]
    loss = [[(x - 1) ** 2 + (y + 1) ** 2 + 0.01 for x in xs] for y in ys]
    lowest = (1.0, -1.0, 0.01)
    return Landscape(("w", "b"), xs, ys, loss, [0.0, 0.0, 0.0], [*minimum, 2.0], lowest, 4, False, ("w", "b", "c"))


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield LandscapeView(id="land")


def cells(view: LandscapeView) -> list[list[tuple[str, object, object]]]:
    """The heat's cells, row by row: (character, foreground, background) past the y axis's labels."""
    rows = []
    for y in range(1, view.size.height - 2):
        row = []
        for seg in view.render_line(y):
            for char in seg.text:
                color = seg.style.color.triplet if seg.style.color else None
                bgcolor = seg.style.bgcolor.triplet if seg.style.bgcolor else None
                row.append((char, color and tuple(color), bgcolor and tuple(bgcolor)))
        rows.append(row[9:])
    return rows


async def test_a_zig_zag_across_the_valley_is_a_thin_line_of_dots_not_cells_of_color():
    async with Host().run_test(size=(9 + 60, 8 + 3)) as pilot:
        view = pilot.app.query_one(LandscapeView)
        # 10 swings from one side of the view to the other, creeping down: the old view painted every
        # half-cell they crossed, stripes the width of the view
        zigzag = [((-2.5 if k % 2 else 2.5), 2.5 - 1.2 * k) for k in range(5)]
        view.show(bowl(), [LanePath(ORANGE, zigzag, True)])
        await pilot.pause()
        grid = cells(view)
        painted = [(char, fg, bg) for row in grid for char, fg, bg in row if ORANGE in (fg, bg)]
        assert painted and all(bg != ORANGE for _, _, bg in painted)  # never a cell's background
        dots = [char for char, _, _ in painted if braille(char)]
        assert len(dots) >= len(painted) - 2  # every cell of the path is braille, but its two ends' marks
        assert sum(bin(ord(char) - 0x2800).count("1") for char in dots) < 6 * len(dots)  # thin, not full cells
        assert all(bg in PALETTE for _, _, bg in painted)  # over the heat: each cell keeps its band behind it
        heat = sum(1 for row in grid for char, _, _ in row if char == HALF)
        assert heat > 0.4 * sum(len(row) for row in grid)  # the heat's two half-cells where no path passes


async def test_a_diverged_path_stops_at_the_edge_it_left_by_and_never_paints_the_view():
    async with Host().run_test(size=(9 + 60, 8 + 3)) as pilot:
        view = pilot.app.query_one(LandscapeView)
        grid = bowl()
        inside = [(-2.0, 2.0), (0.0, 1.0), (2.0, 0.0)]
        out = (-5.0, -0.5)  # the swing that leaves the view, by the left edge
        flight = [(10.0, -1.0), (-50.0, -1.5), (1e3, -2.0), (-1e30, -2.5), (math.inf, math.nan)]
        view.show(grid, [LanePath(ORANGE, [*inside, out, *flight], True)])
        await pilot.pause()
        diverged = [view.render_line(y) for y in range(view.size.height)]
        texts = [strip.text for strip in diverged]
        rows = cells(view)
        left = [r for r, row in enumerate(rows) if row[0][:2] == ("←", ORANGE)]
        assert len(left) == 1  # where it left, on the left edge, pointing out
        for r in range(left[0] + 1, len(rows)):  # the swings across the view below it are not drawn
            assert all(ORANGE not in (fg, bg) for _, fg, bg in rows[r]), r
        assert "← left" in texts[-1]
        # the same picture as the path that ends where it left
        view.show(grid, [LanePath(ORANGE, [*inside, out], True)])
        await pilot.pause()
        cut = [view.render_line(y) for y in range(view.size.height)]
        assert [list(s) for s in cut] == [list(s) for s in diverged]


async def test_both_minima_are_marked_and_named_for_what_they_are():
    async with Host().run_test(size=(120, 14)) as pilot:
        view = pilot.app.query_one(LandscapeView)
        grid = bowl(minimum=(-2.0, 2.0))  # the least-squares minimum of w, b and c is not this slice's lowest
        view.show(grid, [LanePath(ORANGE, [(2.5, 2.5), (1.5, 0.5)], True)])
        await pilot.pause()
        texts = [view.render_line(y).text for y in range(view.size.height)]
        heat = "".join(texts[1:-2])
        assert "✕" in heat and "◆" in heat
        legend = texts[-1]
        assert "✕ least-squares minimum (all parameters)" in legend and "◆ lowest point of this slice" in legend
        assert "○ start" in legend and "● now" in legend and legend.startswith("     w →")
        # a model without a least-squares minimum (not MSE) shows the lowest point in view only
        no_minimum = Landscape(grid.pair, grid.xs, grid.ys, grid.loss, grid.held, None, grid.lowest, 4, False, ())
        view.show(no_minimum, [])
        await pilot.pause()
        texts = [view.render_line(y).text for y in range(view.size.height)]
        assert "✕" not in "".join(texts) and "◆ lowest point in view" in texts[-1]


async def test_the_title_and_legend_fit_every_width_down_to_the_80x24_layout():
    async with Host().run_test(size=(120, 12)) as pilot:
        view = pilot.app.query_one(LandscapeView)
        grid = bowl(minimum=(-2.0, 2.0))
        path = [(-2.5, 2.5), (2.0, 0.5), (-9.0, 0.0)]  # it leaves the view: the legend names its arrow too
        for width in (120, 80, 60, 46):  # 46: the view's width at 80x24 with the pane shown
            await pilot.resize_terminal(width, 12)
            await wait_for(pilot, lambda width=width: view.size.width == width, what=f"{width} columns")
            view.show(grid, [LanePath(ORANGE, path, True)])
            await pilot.pause()
            title, legend = view.render_line(0).text, view.render_line(view.size.height - 1).text
            assert title.startswith("↑ b  ") and "loss over w × b" in title, (width, title)
            assert "0.0111" in title and "32" in title, (width, title)  # the color scale's ends
            assert legend.startswith("     w →"), (width, legend)
            for glyph, word in (("✕", "all param"), ("◆", "slice"), ("←", "")):
                assert f"{glyph} " in legend and word in legend, (width, legend)
            assert len(title.rstrip()) <= width and len(legend.rstrip()) <= width


def status_fields(line: str) -> list[str]:
    return [field.strip() for field in line.split("│")]


class StatusHost(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")

    CSS = "#status { padding: 0 1; }"


async def test_the_status_line_keeps_every_field_at_80_columns_shortened():
    async with StatusHost().run_test(size=(80, 3)) as pilot:
        status = pilot.app.query_one(StatusLine)
        status.device, status.epochs, status.lr, status.limit = "cuda:0", 1_000_000, 4e-5, 3.54e-5
        status.state, status.epoch, status.speed = "running", 123_456, 12_345.0
        await pilot.pause()
        line = str(status.render())
        assert len(line) <= 78  # the line's width, within its padding
        assert status_fields(line) == [
            "running",
            "ep 123456/1000000",
            "lr 4e-05>2/λmax 3.54e-05",
            "12,345 ep/s",
            "cuda:0",
        ]
        status.state, status.epoch = "diverged", 168
        await pilot.pause()
        line = str(status.render())
        assert len(line) <= 78
        assert status_fields(line) == ["diverged (r resets)", "ep 168/1000000", "lr 4e-05>2/λmax 3.54e-05", "cuda:0"]
        await pilot.resize_terminal(160, 3)
        await wait_for(pilot, lambda: status.size.width > 150, what="160 columns")
        assert status_fields(str(status.render())) == [
            "diverged at epoch 168 — try a smaller lr (r resets)",
            "epoch 168/1000000",
            "lr 4e-05 > 2/λmax 3.54e-05",
            "device cuda:0",
        ]  # in full where they fit


async def test_the_landscape_at_80x24_a_race_with_a_diverged_lane():
    base = config(epochs=200)
    app = GdtuiApp(base, lanes=[base.replace(lr=3e-5), base.replace(lr=4e-5)])
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: len(app.race.lanes) == 3, what="three lanes")
        await pilot.press("space")
        await wait_for(pilot, lambda: app.state == "done" and app.race.lanes.lanes[2].status == "diverged", what="done")
        await pilot.press("t", "t")
        view = app.landscape

        def fitted() -> bool:
            grid = app.land.grid
            cols, rows = view.area()
            return grid is not None and (len(grid.xs), len(grid.ys)) == (cols, 2 * rows) and len(app.land.paths) == 3

        await wait_for(pilot, fitted, what="a grid of the view's size")
        await drawn(pilot)
        texts = [view.render_line(y).text for y in range(view.size.height)]
        width = view.size.width
        assert texts[0].startswith("↑ b  loss over a × b ") and texts[0].rstrip().endswith("log"), texts[0]
        legend = texts[-1]
        assert legend.startswith("     a →") and len(legend.rstrip()) <= width
        assert "✕ min, all params" in legend and "◆ min, slice" in legend, legend
        arrows = [char for char in "".join(texts[1:-2]) if char in "→↗↑↖←↙↓↘"]
        assert len(arrows) == 1 and f"{arrows[0]} out" in legend  # the diverged lane, where it left
        status = str(app.status.render())
        assert len(status) <= app.status.content_size.width <= 80
        assert all(field in status for field in ("done", "epoch 200/200", "lr 1e-05 < 2/λmax 3.54e-05", "cpu"))
        table = app.query_one(LanesTable)
        labels = [str(column.label) for column in table.columns.values()]
        assert labels == [name for name in COLUMNS if name in labels]  # in their order


async def test_the_lanes_table_keeps_its_columns_in_order_and_the_focused_swatch_its_color():
    base = config(epochs=20)
    long = base.replace(optimizer="rmsprop", momentum=0.9, lr=3e-5, loss="l1", batch_size=4, shuffle=False)
    app = GdtuiApp(base, lanes=[base.replace(lr=3e-5), long])
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: len(app.race.lanes) == 3, what="three lanes")
        table = app.query_one(LanesTable)
        await wait_for(pilot, lambda: table.display and table.row_count == 3, what="the table")
        await drawn(pilot)
        labels = [str(column.label) for column in table.columns.values()]
        assert labels == list(COLUMNS)  # a long label is cut, not a column dropped or moved
        apart = [str(table.get_row_at(k)[2]) for k in range(3)]
        assert apart[2].endswith("…") and len(apart[2]) < len(app.race.lanes.apart(app.race.lanes.lanes[2]))
        for focus in (0, 2):  # the swatch on the cursor's row is its lane's color
            await pilot.press(str(focus + 1))
            await wait_for(pilot, lambda focus=focus: table.cursor_row == focus, what="the cursor on the lane")
            await drawn(pilot)
            strip = table.render_line(1 + focus)
            swatch = next(seg for seg in strip if "■" in seg.text)
            assert tuple(swatch.style.color.triplet) == app.race.lanes.lanes[focus].color
        for size in ((100, 30), (80, 24)):
            await pilot.resize_terminal(*size)
            await wait_for(pilot, lambda size=size: app.screen.size == size, what=f"the screen at {size}")
            await drawn(pilot)
            labels = [str(column.label) for column in table.columns.values()]
            assert labels == [name for name in COLUMNS if name in labels] and "apart" in labels, labels


async def test_a_path_s_turns_are_knots_on_its_line_and_a_straight_run_has_none():
    async with Host().run_test(size=(9 + 60, 8 + 3)) as pilot:
        view = pilot.app.query_one(LandscapeView)
        straight = [(-2.5, 2.0), (0.0, 2.0), (2.5, 2.0)]  # three points on one line: no turn
        view.show(bowl(), [LanePath(ORANGE, straight, True)])
        await pilot.pause()
        assert not [c for row in cells(view) for c, fg, _ in row if c == "\u28ff" and fg == ORANGE]
        corner = [(-2.5, 2.0), (0.5, 2.0), (0.5, -2.5)]  # a right angle at (0.5, 2)
        view.show(bowl(), [LanePath(ORANGE, corner, True)])
        await pilot.pause()
        grid = cells(view)
        knots = [(r, c) for r, row in enumerate(grid) for c, (char, fg, _) in enumerate(row) if char == "\u28ff"]
        assert len(knots) == 1 and grid[knots[0][0]][knots[0][1]][1] == ORANGE
        r, c = knots[0]
        x = -3 + 6 * (c * 2 + 0.5) / (2 * 60 - 1)  # the knot's cell holds the corner's x (0.5) within a cell
        assert abs(x - 0.5) < 6 / 60 * 1.5
