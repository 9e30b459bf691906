"""The pictures of the predictions and the loss curve (issue 26, points 1 to 3): the data on top, the fitted
function a braille line, axes named as the article names them, short tick labels, legends above the plot,
8 rows of canvas at 80x24, every finite epoch of a diverging run, min and max per column, the log scale
chosen when the values span more than three decades."""

from __future__ import annotations

import math
import re
from array import array

import pytest

from gdtui.tui.app import GdtuiApp
from gdtui.tui.widgets.figure import fmt, nice_ticks
from gdtui.tui.widgets.plots import LossCurve, PredictionPlot
from tests.tui_helpers import config, drawn, press_and_wait, ready, run_to_done, wait_for

ANSI = re.compile(r"\x1b\[[0-9;]*m")
BRAILLE = re.compile("[\u2801-\u28ff]")


def rows(widget) -> list[str]:
    """A plot's rows as drawn now."""
    return ["".join(segment.text for segment in widget.render_line(y)) for y in range(widget.size.height)]


def canvas_rows(lines: list[str]) -> list[str]:
    """The rows of the plotting area: below the header, above the x axis."""
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    return lines[1:bottom]


def tick_labels(lines: list[str]) -> list[str]:
    """The y axis's tick labels and the x axis's."""
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    ys = [line.split("┤")[0].strip() for line in lines[1:bottom] if "┤" in line]
    return ys + lines[bottom + 1].split()


def race_over(app) -> bool:
    """Every lane at its epoch budget or diverged, and the app says so."""
    lanes = app.race.lanes.lanes
    return app.state in ("done", "diverged") and all(
        lane.epoch >= lane.config.epochs or lane.status == "diverged" for lane in lanes
    )


def text(curve, width: int = 80, height: int = 14) -> list[str]:
    return ANSI.sub("", curve.draw(width, height)).split("\n")


# --- units: ticks, the loss curve's reduction and scale ------------------------------------------------------


@pytest.mark.parametrize(
    ("lo", "hi"), [(17.1, 952269352423953.2), (-1e-7, 3e-7), (0.5, 9.5), (1.0, 1.0003), (-100.0, 100.0)]
)
def test_tick_labels_keep_a_few_significant_digits(lo, hi):
    ticks, labels = nice_ticks(lo, hi, 5)
    assert 2 <= len(ticks) <= 5 and len(set(labels)) == len(labels)
    assert all(len(label) <= 7 for label in labels), labels
    assert all(lo - (hi - lo) * 1e-6 <= t <= hi for t in ticks[1:])
    assert fmt(952269352423953.2) == "9.52e14" and fmt(100.0) == "100" and fmt(1e-5) == "1e-5"


def test_a_spike_in_a_long_run_is_kept_by_the_min_and_max_of_its_column():
    curve = LossCurve()
    curve.rmse = array("d", [10.0] * 100_000)
    curve.rmse[54_321] = 90.0  # one epoch in 100,000: a stride of 250 would step over it
    lines = text(curve)
    (points,) = curve.drawn
    assert max(v for _, v in points) == 90.0 and (54_322.0, 90.0) in points
    assert len(points) <= 2 * 80 + 1  # at most two points a column (and the last epoch)
    top = canvas_rows(lines)[0]
    assert BRAILLE.search(top), "the spike reaches the top row"


def test_every_finite_epoch_of_a_diverged_lane_is_drawn_to_its_end_and_marked():
    values = [10.0 * 1.3**i for i in range(168)] + [math.inf]  # 1.5e20 at its last finite epoch
    curve = LossCurve()
    curve.rmse = array("d", values)
    lines = text(curve)
    (points,) = curve.drawn
    assert points[-1] == (168.0, values[167]) and max(v for _, v in points) == values[167]
    assert curve.log_scale and "log scale" in lines[0] and "diverged" in lines[0]
    assert "✕" in "".join(canvas_rows(lines))


def test_the_log_scale_is_chosen_past_three_decades_and_l_overrides_it():
    curve = LossCurve()
    curve.rmse = array("d", [100.0, 10.0, 1.0])  # two decades: linear
    assert "log" not in text(curve)[0] and not curve.log_scale
    curve.rmse = array("d", [100.0, 10.0, 1.0, 0.01])  # four decades: log, said in the title
    lines = text(curve, width=100)
    assert curve.log_scale and "log scale: the values span 4 decades" in lines[0]
    curve.log_scale = not curve.log_scale  # what l does
    lines = text(curve, width=100)
    assert not curve.log_scale and "linear" in lines[0]
    assert all(len(label) <= 7 for label in tick_labels(lines))


# --- the app ---------------------------------------------------------------------------------------------------


async def test_every_data_point_stays_visible_over_the_fitted_line():
    app = GdtuiApp(config(preset="linear-manual"))
    async with app.run_test(size=(120, 36)) as pilot:
        await run_to_done(pilot)
        plot = app.query_one(PredictionPlot)
        lines = rows(plot)
        area = canvas_rows(lines)
        cells = [(r, line.index("●")) for r, line in enumerate(area) if "●" in line]
        assert sum(line.count("●") for line in area) == 4  # x = 1, 2, 3, 4: the fit passes through them all
        columns = [c for _, c in cells]  # top row first: y = 2x, so each higher one further right
        assert len(cells) == 4 and columns == sorted(columns, reverse=True) and len(set(columns)) == 4
        assert sum(len(BRAILLE.findall(line)) for line in area) > 40  # the fitted function: a braille line
        assert "data" in lines[0] and "predictions" in lines[0]  # the legend, above the plot
        assert not any("data" in line or "predictions" in line for line in lines[1:-1])
        assert lines[-1].split() == ["y", "x"]  # the axes' names
        await pilot.press("v")  # the values at the data points instead
        await wait_for(pilot, lambda: not BRAILLE.search("".join(canvas_rows(rows(plot)))), what="points")
        assert "●" in "".join(canvas_rows(rows(plot)))


async def test_fastai_axes_are_time_and_speed_and_tick_labels_stay_short():
    app = GdtuiApp(config(lr=1.0, epochs=100))
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await press_and_wait(pilot, "space", lambda: app.state == "diverged", "diverged")
        await drawn(pilot)
        plot, curve = app.query_one(PredictionPlot), app.query_one(LossCurve)
        assert rows(plot)[-1].split() == ["speed", "time"]
        app.tabs.active = "tab-curve"
        await drawn(pilot)
        assert curve.log_scale  # spans many decades: log, chosen
        await pilot.press("l")  # linear: the labels that read 952269352423953.2
        await wait_for(pilot, lambda: "linear" in rows(curve)[0], what="a linear frame")
        labels = tick_labels(rows(curve))
        assert labels and all(len(label) <= 7 for label in labels), labels
        assert rows(curve)[-1].split() == ["RMSE", "epoch"]


async def test_a_lane_that_diverges_ends_its_curve_at_its_last_finite_epoch():
    base = config(epochs=200)
    app = GdtuiApp(base, lanes=[base.replace(lr=4e-5)])  # above 2/λmax: diverges at epoch 168
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: len(app.race.lanes) == 2, what="the lanes")
        await press_and_wait(pilot, "space", lambda: race_over(app), "both lanes stopped")
        app.tabs.active = "tab-curve"
        await drawn(pilot)
        curve = app.query_one(LossCurve)
        lane = app.race.lanes.lanes[1]
        finite = [v for v in lane.series if math.isfinite(v)]
        diverged, _ = curve.drawn  # the other lanes first, the focused one on top
        assert lane.status == "diverged" and not math.isfinite(lane.series[-1])
        assert diverged[-1] == (float(len(finite)), finite[-1]) and len(finite) >= 160
        assert max(v for _, v in diverged) == max(finite)
        lines = rows(curve)
        assert "✕" in "".join(canvas_rows(lines)) and "diverged" in lines[0]


def race(base):
    return [base.replace(lr=base.lr * f) for f in (0.5, 2, 3, 4)] + [
        base.replace(optimizer="adam", lr=0.05),
        base.replace(optimizer="sgd", momentum=0.9),
        base.replace(optimizer="rmsprop", lr=0.01),
    ]


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
async def test_eight_lanes_have_their_legend_above_the_plot_and_every_plot_keeps_8_rows(size):
    base = config(epochs=20)
    app = GdtuiApp(base, lanes=race(base))
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: len(app.race.lanes) == 8, what="8 lanes")
        await press_and_wait(pilot, "space", lambda: race_over(app), "done")
        for tab, plot in (("tab-preds", app.plot), ("tab-curve", app.curve)):
            app.tabs.active = tab
            await drawn(pilot)
            lines = rows(plot)
            assert len(canvas_rows(lines)) >= 8, (tab, size)
            header = list(plot.render_line(0))
            swatches = {s.style.color.triplet for s in header if s.text == "━" and s.style.color}
            assert swatches == {tuple(lane.color) for lane in app.race.lanes.lanes}  # every lane's colour
            assert all(str(n) in lines[0] for n in range(1, 9))
            assert not any("━" in line for line in lines[1:])  # no legend inside the plot
        app.tabs.active = "tab-land"
        await drawn(pilot)
        assert app.landscape.size.height >= 12
        if size == (120, 36):
            assert app.query_one("#lanes").size.height >= 9  # the whole table: the lanes' names by colour


async def test_a_single_lane_keeps_8_rows_of_canvas_at_80x24_with_the_pane_shown():
    app = GdtuiApp(config())
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await press_and_wait(pilot, "s", lambda: app.query_one("#log").rows == 1, "epoch 1")
        for tab, plot in (("tab-preds", app.plot), ("tab-curve", app.curve)):
            app.tabs.active = tab
            await drawn(pilot)
            assert len(canvas_rows(rows(plot))) >= 8
        assert app.params.display and app.query_one("#log").size.height >= 5
