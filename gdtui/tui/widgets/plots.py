"""The two plots: predictions against the data, and RMSE over epochs.

Why: a frame must never take the app down (a failed one shows a notice instead), must stay cheap with 8 lanes
(the event loop stays free for keys while training runs), and must read as the articles' matplotlib figures
do: the data on top in its own marker, each lane's fitted function a smooth line, the legend above the plot,
never over it, the axes named as the article names them. Both are drawn by gdtui.tui.widgets.figure as ANSI
text, cut here into strips with one style per escape sequence (each decoded once, by Rich): the strips are
the ones Textual makes of the same text (tested). Axes stay still while training (y-limits from the data, as
the seeds' set_ylim); predictions beyond them are counted in the title.
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
from textual.widget import Widget

from gdtui.tui.widgets.figure import (
    EMPTY,
    Axis,
    Block,
    Canvas,
    Extrema,
    Item,
    _block,
    epoch_ticks,
    header,
    layout,
    log_ticks,
    nice_ticks,
    render,
    ticks_that_fit,
)

if TYPE_CHECKING:
    from typing import Self

__all__ = ["LIMIT", "LossCurve", "PredictionPlot", "epoch_ticks", "log_ticks"]

Color = str | tuple[int, int, int]  # a name (the terminal's own colour) or RGB
LIMIT = 1e15  # beyond this a value is off any sensible axis (the LR test's plot drops it)
SGR = re.compile(r"(\x1b\[[0-9;]*m)")
RESET = "\x1b[0m"
CURSOR: Color = (128, 128, 128)
PREDICTED: Color = (
    230,
    159,
    0,
)  # the theory's curve on the loss curve  # the loss curve's line at the epoch in view (time travel)
DATA = ("●", "blue", "◆", "green")  # train and test data: marker and colour, drawn over every line


class SafePlot(Widget):
    """A plot drawn as strips, whose frame can never take the app down, and which times its frames."""

    DEFAULT_CSS = "SafePlot { width: 1fr; height: 1fr; }"
    render_cost = 0.0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._strips: list[Strip] | None = None
        self._styles: dict[str, Style] = {}

    def draw(self, width: int, height: int) -> str:
        """The plot as ANSI text at this size (the subclass's)."""
        raise NotImplementedError

    def replot(self) -> None:
        """Draw anew at the next frame (what it shows is read then, at the size it has then)."""
        self.refresh()

    def refresh(self, *regions: Region, **kwargs: bool) -> Self:
        self._strips = None
        return super().refresh(*regions, **kwargs)

    def _text(self) -> str:
        width, height = self.size
        try:
            return self.draw(width, height) if width > 2 and height > 0 else ""
        except Exception as error:  # a failed frame must not end the session
            return f"plot unavailable: {error}"

    def render(self) -> RenderResult:
        return Text.from_ansi(self._text())

    def frame(self) -> list[Strip]:
        """The plot as one strip per row, at the widget's size (what a redraw costs)."""
        start = time.perf_counter()
        width, height = self.size
        base = self.visual_style.rich_style
        # offsets as Textual's own strips carry them (text selection), so the two are identical
        strips = [
            self._strip(line, base).adjust_cell_length(width, base).apply_offsets(0, y)
            for y, line in enumerate(self._text().split("\n")[:height])
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


def _legend(lanes: Sequence[tuple[str, Color, Any]], swatch: str) -> list[Item]:
    """A lane's legend entry: its label ("2 lr 2e-05"), or its number alone where the row has no room; in the
    lanes' order."""

    def number(label: str) -> int:
        head = label.split(" ", 1)[0]
        return int(head) if head.isdigit() else 0

    ordered = sorted(lanes, key=lambda lane: number(lane[0]))
    return [Item(swatch, color, label, label.split(" ", 1)[0]) for label, color, _ in ordered if label]


def _axis_rows(height: int) -> int:
    """How many y ticks a plot of `height` rows gets: one every three rows or so."""
    return max(2, (height - 4) // 3 + 1)


class PredictionPlot(SafePlot):
    """Data (train and test told apart) on top of each lane's fitted function, or of its values at the data
    points (`v`)."""

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
        self.show_line = True  # each lane's fitted function as a line (v: its values at the data points)
        self.names = ("x", "y")  # the axes' names, as the article names them
        self.viewing: tuple[int, list[float], str] | None = None  # time travel: epoch, its predictions, parameters

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

    def draw(self, width: int, height: int) -> str:
        lo, hi = self.ylim
        xs = [v for v in (*self.x, *self.line_x) if math.isfinite(v)] or [0.0, 1.0]
        x0, x1 = min(xs), max(xs)
        if not x1 > x0:
            x0, x1 = x0 - 0.5, x1 + 0.5
        y = Axis(lo, hi, *nice_ticks(lo, hi, _axis_rows(height)), name=self.names[1])
        _, cols, rows = layout(width, height, y)
        x = Axis(x0, x1, *ticks_that_fit(x0, x1, cols), name=self.names[0])
        canvas = Canvas(cols, rows, x, y)
        n = len(self.x)
        line = self.show_line and bool(self.line_x)
        dense = n > cols // 2  # a cloud: each point a braille dot, not a cell
        preds = self.preds if self.viewing is None else self.viewing[1]
        lanes = [*self.others, (self.label, self.color, preds)]
        clipped = 0
        for _, color, preds in lanes:
            if not preds:
                continue
            at_data = preds[:n]
            clipped += sum(1 for p in at_data if p < lo or p > hi)
            if line and len(preds) > n:
                canvas.line(self.line_x, preds[n:], color)
                continue
            inside = [(px, p) for px, p in zip(self.x, at_data) if lo <= p <= hi]
            if dense:
                canvas.dots([px for px, _ in inside], [p for _, p in inside], color)
            else:
                for px, p in inside:
                    canvas.mark(px, p, "•", color)
            for px, p in zip(self.x, at_data):
                if p < lo or p > hi:
                    canvas.mark(px, min(max(p, lo), hi), "x", color)
        train, test = (self.x[: self.n_train], self.y[: self.n_train]), (self.x[self.n_train :], self.y[self.n_train :])
        for (dx, dy), marker, color in ((train, *DATA[:2]), (test, *DATA[2:])):
            if dense:
                canvas.dots(dx, dy, color)
            else:
                for px, py in zip(dx, dy):
                    canvas.mark(px, py, marker, color)
        items = [Item(DATA[0], DATA[1], "train data" if test[0] else "data", "train" if test[0] else "data")]
        if test[0]:
            items.append(Item(DATA[2], DATA[3], "test data", "test"))
        swatch = "━" if line else "•"
        items += _legend(lanes, swatch) if self.others else [Item(swatch, self.color, self.label, "fit")]
        title = "Predictions vs data"
        titles = (
            [f"{title}  ({clipped} predictions off-scale)", f"{title}  ({clipped} off-scale)"]
            + [f"{clipped} predictions off-scale", f"{clipped} off-scale"]
            if clipped
            else [title, "Predictions"]
        )
        if self.viewing is not None:
            epoch, _, params = self.viewing
            at = f"Predictions at epoch {epoch:,}"
            off = f"  ({clipped} off-scale)" if clipped else ""
            titles = [f"{at}: {params}{off}", f"{at}{off}", f"epoch {epoch:,}"] if params else [f"{at}{off}", at]
        return render(width, height, header(width, titles, items), canvas)


class LossCurve(SafePlot):
    """RMSE over epochs since the last reset: every finite epoch (long runs as each column's lowest and highest
    value, so a spike is never lost), a diverged lane's last finite epoch marked ✕. A log scale is chosen when
    the values span more than three decades; `log_scale` set (l) overrides that choice."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rmse = array("d")
        self.forced: bool | None = None  # the scale l asked for; None: chosen from the values
        self.auto_log = False  # the choice made at the last frame
        self.label, self.color = "", cast(Color, "red")  # the focused lane's line
        self.others: list[tuple[str, Color, array[float]]] = []  # the other lanes': label, color, RMSE
        self.extrema = Extrema()
        self.drawn: list[list[tuple[float, float]]] = []  # the last frame's points of each lane: (epoch, RMSE)
        self.cursor: int | None = None  # time travel: the epoch in view, a line across the plot
        self.predicted: list[tuple[float, float]] = []  # the theory's RMSE at some epochs (the Theory view)

    @property
    def log_scale(self) -> bool:
        return self.auto_log if self.forced is None else self.forced

    @log_scale.setter
    def log_scale(self, on: bool) -> None:
        self.forced = on

    def draw(self, width: int, height: int) -> str:
        lanes = [*self.others, (self.label, self.color, self.rmse)]
        self.extrema.forget([series for _, _, series in lanes])
        n = max(len(series) for _, _, series in lanes)
        size = _block_size(n, width - 10)
        summaries = [self._summary(series, size) for _, _, series in lanes]
        low = min((s[1] for summary in summaries for s in summary), default=math.inf)
        positive = min((s[4] for summary in summaries for s in summary), default=math.inf)
        high = max((s[3] for summary in summaries for s in summary), default=-math.inf)
        decades = math.log10(high / positive) if 0 < positive <= high < math.inf else 0.0
        self.auto_log = decades > 3
        log = self.log_scale
        if log:
            low = positive
        ok = high >= low and math.isfinite(low)
        lo, hi = (math.log10(low), math.log10(high)) if log and ok else (low, high) if ok else (0.0, 1.0)
        if not hi > lo:
            pad = 0.5 if log else abs(lo) * 0.1 or 1.0
            lo, hi = lo - pad, hi + pad
        ticks = log_ticks(lo, hi, _axis_rows(height)) if log else nice_ticks(lo, hi, _axis_rows(height))
        y = Axis(lo, hi, *ticks, name="RMSE")
        _, cols, rows = layout(width, height, y)
        x = Axis(1, max(n, 2), *epoch_ticks(max(n, 1), max(2, min(5, cols // 12))), name="epoch")
        canvas = Canvas(cols, rows, x, y)
        diverged = False
        self.drawn = []
        cursor = self.cursor if self.cursor is not None and 1 <= self.cursor <= len(self.rmse) else None
        if cursor is not None:  # under the lanes' lines, which keep their colors where they cross it
            canvas.line([cursor, cursor], [lo, hi], CURSOR)
        for (_, color, series), summary in zip(lanes, summaries):
            points = _columns(summary, canvas, log) if size > 1 else _points(summary, log)
            last = _last_finite(series)
            end = None if last is None or (log and series[last] <= 0) else (last + 1.0, series[last])
            if end is not None and (not points or points[-1][0] < end[0]):
                points.append(end)
            scale = math.log10 if log else float
            canvas.line([p[0] for p in points], [scale(p[1]) for p in points], color)
            self.drawn.append(points)
            if end is not None and last is not None and last < len(series) - 1:  # diverged: its last finite epoch
                diverged = True
                canvas.mark(end[0], scale(end[1]), "✕", color)
        shown = [(e, v) for e, v in self.predicted if e <= max(n, 2) and math.isfinite(v) and (v > 0 or not log)]
        if shown:  # dotted, over the lines: the prediction beside the measured run
            scale_of = math.log10 if log else float
            for e, v in shown[:: max(1, len(shown) // max(cols // 6, 1))]:
                canvas.mark(e, scale_of(v), "·", PREDICTED)
        if cursor is not None and math.isfinite(value := self.rmse[cursor - 1]) and (value > 0 or not log):
            canvas.mark(cursor, math.log10(value) if log else value, "●", self.color)
        if log:
            titles = (
                ["RMSE over epochs (log scale)", "RMSE (log scale)"]
                if self.forced
                else [
                    f"RMSE over epochs (log scale: the values span {decades:.0f} decades)",
                    f"RMSE (log scale: {decades:.0f} decades)",
                    "RMSE (log scale)",
                ]
            )
        elif self.auto_log:
            titles = [f"RMSE over epochs (linear scale; the values span {decades:.0f} decades)", "RMSE (linear)"]
        else:
            titles = ["RMSE over epochs", "RMSE"]
        if self.cursor is not None:
            titles = [f"{title} · epoch {self.cursor:,}" for title in titles] + titles
        items = _legend(lanes, "━") if self.others else []
        if shown:
            items.append(Item("·", PREDICTED, "theory", "theory"))
        if diverged:
            items.append(Item("✕", None, "diverged: its last finite epoch", "diverged"))
        return render(width, height, header(width, titles, items), canvas)

    def _summary(self, series: array[float], size: int) -> list[Block]:
        """The series as blocks of `size` epochs (one a value while it is short), the last one partial."""
        if size == 1:
            return [(i, v, i, v, v if v > 0 else math.inf) for i, v in enumerate(series) if math.isfinite(v)]
        blocks = [b for b in self.extrema.blocks(series, size) if b is not EMPTY]
        covered = len(series) // size * size
        tail = _block(series, covered, len(series)) if covered < len(series) else None
        return blocks + ([tail] if tail is not None else [])


def _block_size(n: int, cols: int) -> int:
    """1 (every epoch drawn) while a series has at most four epochs a column, else the power of two that
    makes one to two blocks a column."""
    cols = max(cols, 1)
    return 1 if n <= 4 * cols else 2 ** math.ceil(math.log2(n / (2 * cols)))


def _points(values: list[Block], log: bool) -> list[tuple[float, float]]:
    """Every finite epoch (on a log scale, every one above 0) as (epoch, value)."""
    return [(i + 1.0, v) for i, v, _, _, _ in values if v > 0 or not log]


def _columns(blocks: list[Block], canvas: Canvas, log: bool) -> list[tuple[float, float]]:
    """Each column's lowest and highest value, in the order of their epochs, as (epoch, value)."""
    columns: dict[int, list[Any]] = {}
    scale = 2 * canvas.cols - 1
    for lo_i, lo, hi_i, hi, positive in blocks:
        if log:
            if positive == math.inf:
                continue
            lo, lo_i = (positive, lo_i) if lo > 0 else (positive, hi_i)
        col = round(canvas.x.unit((lo_i + hi_i) / 2 + 1) * scale) // 2
        kept = columns.get(col)
        if kept is None:
            columns[col] = [lo_i, lo, hi_i, hi]
            continue
        if lo < kept[1]:
            kept[0], kept[1] = lo_i, lo
        if hi > kept[3]:
            kept[2], kept[3] = hi_i, hi
    points: list[tuple[float, float]] = []
    for col in sorted(columns):
        low_i, low, high_i, high = columns[col]
        pair = sorted({(low_i + 1.0, low), (high_i + 1.0, high)})
        points += pair
    return points


def _last_finite(series: array[float]) -> int | None:
    """The index of the last finite value (a diverged lane ends with the epoch it diverged at)."""
    i = len(series) - 1
    while i >= 0 and not math.isfinite(series[i]):
        i -= 1
    return i if i >= 0 else None
