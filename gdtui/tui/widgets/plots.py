"""The two plots: predictions against the data, and RMSE over epochs.

Why: plotext raises on inf, on values near 1e308 and on empty labelled series, and a raise inside render
kills the app; every series is filtered here before plotting, and a failed render shows a notice instead.
Axes stay still while training (y-limits from the data, as the seeds' set_ylim), predictions beyond them are
clipped to the edge and counted in the title.

A frame is drawn through the Line API: plotext's ANSI text is cut into strips here, with one style per
escape sequence (each decoded once, by Rich), instead of going through Rich Text and Textual's content
pipeline. The strips are the same (tested), and a frame costs a third as much: the event loop stays free
for keys while training runs.
"""

from __future__ import annotations

import math
import re
import time
from array import array
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual.geometry import Region
from textual.strip import Strip
from textual_plotext import PlotextPlot

if TYPE_CHECKING:
    from typing import Self

Color = str | tuple[int, int, int]  # a plotext color: a name or RGB
LIMIT = 1e15
CURVE_POINTS = 400
SGR = re.compile(r"(\x1b\[[0-9;]*m)")
RESET = "\x1b[0m"


def _finite_pairs(xs: Iterable[float], ys: Iterable[float]) -> list[tuple[float, float]]:
    return [(x, y) for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y) and abs(y) < LIMIT]


class SafePlot(PlotextPlot):
    """A PlotextPlot drawn as strips, whose frame can never take the app down, and which times its frames."""

    render_cost = 0.0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._strips: list[Strip] | None = None
        self._styles: dict[str, Style] = {}

    def refresh(self, *regions: Region, **kwargs: bool) -> Self:
        self._strips = None
        return super().refresh(*regions, **kwargs)

    def render(self) -> RenderResult:
        try:
            return super().render()
        except Exception as error:  # plotext internals: a failed frame must not end the session
            return Text(f"plot unavailable: {error}", style="dim")

    def frame(self) -> list[Strip]:
        """The plot as one strip per row, at the widget's size (what a redraw costs)."""
        start = time.perf_counter()
        width, height = self.size
        base = self.visual_style.rich_style
        try:
            plot = self._plot
            plot.plotsize(width, height)
            plot._set_size(width, height)  # as PlotextPlot.render does (textual-plotext issue 5)
            plot.theme(self._get_plotext_theme_name(self.app.theme))
            text = plot.build()
        except Exception as error:  # plotext internals: a failed frame must not end the session
            text = f"plot unavailable: {error}"
        # offsets as Textual's own strips carry them (text selection), so the two are identical
        strips = [
            self._strip(line, base).adjust_cell_length(width, base).apply_offsets(0, y)
            for y, line in enumerate(text.split("\n")[:height])
        ]
        strips += [Strip.blank(width, base)] * (height - len(strips))
        self.render_cost = time.perf_counter() - start
        return strips

    def _strip(self, line: str, base: Style) -> Strip:
        segments: list[Segment] = []
        codes = ""
        for part in SGR.split(line):
            if part.startswith("\x1b["):
                codes = "" if part == RESET else codes + part
            elif part:
                style = self._styles.get(codes)
                if style is None:  # Rich decodes each escape sequence once, as Text.from_ansi would
                    style = Text.from_ansi(codes + "x").get_style_at_offset(self.app.console, 0)
                    self._styles[codes] = style
                segments.append(Segment(part, base + style))
        return Strip(segments)

    def render_line(self, y: int) -> Strip:
        if (
            self._strips is None
            or len(self._strips) != self.size.height
            or (self._strips and self._strips[0].cell_length != self.size.width)
        ):
            self._strips = self.frame()
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)


class PredictionPlot(SafePlot):
    """Data (train and test told apart) and the current predictions, as two scatter series."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.x: list[float] = []
        self.y: list[float] = []
        self.n_train = 0
        self.preds: list[float] | None = None
        self.ylim = (0.0, 1.0)
        self.label, self.color = "predictions", cast(Color, "red")  # the focused lane's
        self.others: list[tuple[str, Color, list[float]]] = []  # the other lanes': label, color, predictions
        self.line_x: list[float] = []  # predictions go on past the sample points with the fitted function here
        self.show_line = False  # draw each lane's fitted function as a line, not its values at the data

    def set_data(
        self, x: Iterable[float], y: Iterable[float], n_train: int, ylim: tuple[float, float] | None = None
    ) -> None:
        """New data: fix the y-limits (from the preset's article, or the data padded by a quarter)."""
        self.x, self.y, self.n_train = list(x), list(y), n_train
        self.preds = None
        finite = [v for v in self.y if math.isfinite(v)] or [0.0, 1.0]
        lo, hi = min(finite), max(finite)
        pad = (hi - lo) * 0.25 or 1.0
        self.ylim = ylim or (lo - pad, hi + pad)

    def set_preds(self, preds: Sequence[float] | None) -> None:
        """Keep the newest predictions when finite; a non-finite set (divergence) keeps the last finite one."""
        if preds is not None and all(math.isfinite(p) for p in preds):
            self.preds = list(preds)

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        lo, hi = self.ylim
        n = self.n_train
        train = _finite_pairs(self.x[:n], self.y[:n])
        test = _finite_pairs(self.x[n:], self.y[n:])
        if train:
            plt.scatter([p[0] for p in train], [p[1] for p in train], color="blue", label="train data")
        if test:
            plt.scatter([p[0] for p in test], [p[1] for p in test], color="green", label="test data")
        clipped = 0
        line = self.show_line and bool(self.line_x)
        for label, color, preds in [*self.others, (self.label, self.color, self.preds)]:
            if not preds:
                continue
            px, py, off = [], [], 0
            for x, p in zip(self.line_x, preds[len(self.x) :]) if line else zip(self.x, preds):
                if not math.isfinite(x) or not math.isfinite(p):
                    continue
                if p < lo or p > hi:
                    off += 1
                    p = min(max(p, lo), hi)
                px.append(x)
                py.append(p)
            if px and line:
                plt.plot(px, py, color=color, label=label)
            elif px:
                plt.scatter(px, py, color=color, marker="x" if off else "dot", label=label)
            clipped += off
        plt.ylim(lo, hi)
        title = "Predictions vs data"
        if clipped:  # plotext drops a title wider than the plot: the longest that fits
            room = self.size.width - 2
            title = next(
                (
                    text
                    for text in (
                        f"{title}  ({clipped} predictions off-scale, drawn at the edge)",
                        f"{title}  ({clipped} off-scale)",
                        f"{clipped} predictions off-scale",
                    )
                    if len(text) <= room
                ),
                f"{clipped} off-scale",
            )
        plt.title(title)
        self.refresh()


def log_ticks(lo: float, hi: float, n: int = 5) -> tuple[list[float], list[str]]:
    """Tick positions between log10 values lo and hi, labelled with the values themselves: whole decades when
    the range spans several, else n evenly spaced (plotext's own log axis prints 1e14 as 100000000000000.0000000)."""
    if hi - lo < 1e-9:
        ticks = [lo]
    elif hi - lo >= n - 1:  # decades, down from the top one
        step = math.ceil((hi - lo) / (n - 1))
        ticks = [float(t) for t in range(math.floor(hi), math.ceil(lo) - 1, -step)][::-1]
    else:
        ticks = [lo + (hi - lo) * i / (n - 1) for i in range(n)]
    for digits in range(3, 17):  # as few digits as tell the ticks apart (a curve that barely moves)
        labels = [f"{10**t:.{digits}g}" for t in ticks]
        if len(set(labels)) == len(labels):
            break
    return ticks, labels


def epoch_ticks(last: int, n: int = 5) -> tuple[list[int], list[str]]:
    """Whole-epoch ticks for an axis from epoch 1 to `last`: multiples of a round step (1, 2 or 5 times a
    power of ten, the nearest to the range over n - 1), labelled compactly (20k, 1.5M)."""
    raw = max(last - 1, 1) / (n - 1)
    steps = [m * 10**k for k in range(len(str(last)) + 1) for m in (1, 2, 5)]
    step = min(steps, key=lambda s: abs(math.log(s / raw)))
    ticks = list(range(step, last + 1, step)) if step > 1 else list(range(1, last + 1))
    ticks = ticks or [last]

    def label(t: int) -> str:
        return str(t) if t < 10_000 else f"{t / 1000:g}k" if t < 1_000_000 else f"{t / 1_000_000:g}M"

    return ticks, [label(t) for t in ticks]


class LossCurve(SafePlot):
    """RMSE over epochs since the last reset, downsampled to a few hundred points; `log_scale` draws log10 of
    it, with the axis labelled in RMSE."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rmse = array("d")
        self.log_scale = False
        self.label, self.color = "", cast(Color, "red")  # the focused lane's line
        self.others: list[tuple[str, Color, array[float]]] = []  # the other lanes': label, color, RMSE

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        log = self.log_scale
        lines = [*self.others, (self.label, self.color, self.rmse)]
        n = max(len(series) for _, _, series in lines)
        stride = max(1, n // CURVE_POINTS)
        low, high = math.inf, -math.inf
        for label, color, series in lines:
            m = len(series)
            xs, ys = [], []
            for i in [*range(0, m, stride), *([m - 1] if m and (m - 1) % stride else [])]:
                v = series[i]
                if math.isfinite(v) and v < LIMIT and (v > 0 or not log):
                    xs.append(i + 1)
                    ys.append(math.log10(v) if log else v)
            if xs:
                plt.plot(xs, ys, color=color, marker="braille", label=label or None)
                low, high = min(low, *ys), max(high, *ys)
        if high >= low:
            plt.xticks(*epoch_ticks(n))  # type: ignore[arg-type]  # the stub wants list[float]; ints are fine
            if log:
                plt.yticks(*log_ticks(low, high))
        plt.title("RMSE over epochs (log scale)" if log else "RMSE over epochs")
        plt.xlabel("epoch")
        self.refresh()
