"""A plot drawn as text: a header row (the title and the legend), the y axis with its tick labels, a canvas of
braille dots (lines) and cell markers (data), the x axis with its ticks and tick labels, and the axes' names.

Why: plotext draws a line by interpolating every segment in Python, 14 ms for 8 lanes of 100 points at
120x36, and puts its legend inside the plotting area, over the data. Here a line is rasterized straight into
braille dots (2x4 a cell), the legend goes above the plot, the data's markers are drawn over every line, and
tick labels keep a few significant digits. The result is ANSI text, cut into strips as plotext's was.
Torch-free and numpy-free (the app's first frame must not wait for numpy).
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

Color = str | tuple[int, int, int]  # a name (the terminal's own colour) or RGB
NAMED = {"black": 0, "red": 1, "green": 2, "yellow": 3, "blue": 4, "magenta": 5, "cyan": 6, "white": 7}
BRAILLE = [" ", *(chr(0x2800 + b) for b in range(1, 256))]  # a cell's dots as its character (none: a space)
BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # a braille cell's dots: [row][column]
RESET = "\x1b[0m"
SGR = re.compile(r"\x1b\[[0-9;]*m")
BOLD = "\x1b[1m"
HEADER_ROWS, FOOTER_ROWS = 1, 3  # the header above the canvas; the x axis, its labels and the axes' names below


def sgr(color: Color | None) -> str:
    """The escape sequence that sets `color` as the foreground ("" for the default)."""
    if color is None:
        return ""
    if isinstance(color, tuple):
        return "\x1b[38;2;{};{};{}m".format(*color)
    return f"\x1b[38;5;{NAMED.get(color, 7)}m"


def fmt(value: float, digits: int = 3) -> str:
    """A tick label: at most `digits` significant digits, an exponent without '+' or leading zeros (9.5e14,
    1e-5), never 952269352423953.2."""
    if value != 0 and 1e-4 <= abs(value) < 1e5:  # plain: every digit before the point (100, not 1e2)
        digits = max(digits, math.floor(math.log10(abs(value))) + 1)
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return "0" if text in ("-0", "0") else text


def _labels(values: Sequence[float], digits: int = 2) -> list[str]:
    """As few significant digits as tell the values apart (from `digits`, at most 16)."""
    labels = [fmt(v, digits) for v in values]
    while len(set(labels)) < len(labels) and digits < 16:
        digits += 1
        labels = [fmt(v, digits) for v in values]
    return labels


def nice_ticks(lo: float, hi: float, n: int = 5) -> tuple[list[float], list[str]]:
    """At most `n` ticks (at least 2) within [lo, hi] at a round step (1, 2 or 5 times a power of ten), labelled
    compactly."""
    if not hi > lo:
        return [lo], [fmt(lo)]
    power = 10.0 ** math.floor(math.log10((hi - lo) / max(n, 2)))
    steps = [m * power * 10**k for k in (0, 1, 2) for m in (1, 2, 5)]

    def count(step: float) -> int:
        return math.floor(hi / step + 1e-9) - math.ceil(lo / step - 1e-9) + 1

    step = next((s for s in steps if count(s) <= max(n, 2)), steps[-1])
    if count(step) < 2:
        step = max((s for s in steps if count(s) >= 2), default=step)
    first = math.ceil(lo / step - 1e-9)
    ticks = [k * step for k in range(first, math.floor(hi / step + 1e-9) + 1)]
    ticks = [0.0 if abs(t) < step * 1e-9 else t for t in ticks] or [lo]
    return ticks, _labels(ticks)


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
    return ticks, _labels([10**t for t in ticks], 3)  # as few digits as tell them apart (a curve that barely moves)


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


@dataclass
class Item:
    """A legend entry: its swatch in its colour, then its label (`short` where the row has no room)."""

    swatch: str
    color: Color | None
    label: str
    short: str = ""


def header(width: int, titles: Sequence[str], items: Sequence[Item]) -> str:
    """The title and the legend in one row of `width`: the longest title that fits with the full labels, else
    with the short ones; else the legend alone, compact; else the shortest title cut to the width."""

    def legend(short: bool, gap: str = "  ") -> tuple[int, str]:
        labels = [item.short if short and item.short else item.label for item in items]
        size = sum(len(gap) + len(item.swatch) + 1 + len(label) for item, label in zip(items, labels))
        text = "".join(
            f"{gap}{sgr(item.color)}{item.swatch}{RESET if item.color else ''} {label}"
            for item, label in zip(items, labels)
        )
        return size, text

    for title in titles:
        for short in (False, True):
            size, text = legend(short)
            if len(title) + size <= width:
                return f"{BOLD}{title}{RESET}{text}"
    size, text = legend(True, " ")
    if items and size - 1 <= width:
        return text[1:]
    return f"{BOLD}{titles[-1][:width]}{RESET}" if titles else ""


def ticks_that_fit(lo: float, hi: float, cols: int) -> tuple[list[float], list[str]]:
    """As many round ticks as `cols` columns hold with their labels four apart (one every 8 columns at most)."""
    for n in range(max(cols // 8, 2), 1, -1):
        ticks, labels = nice_ticks(lo, hi, n)
        if sum(len(label) + 4 for label in labels) <= cols:
            return ticks, labels
    return nice_ticks(lo, hi, 2)


@dataclass
class Axis:
    """One axis: its limits, its ticks and their labels, its name."""

    lo: float
    hi: float
    ticks: Sequence[float] = ()
    labels: Sequence[str] = ()
    name: str = ""

    def scale(self, size: float) -> tuple[float, float]:
        """The origin and the factor that take a value to `size` times its unit (see unit)."""
        return (self.lo, size / (self.hi - self.lo)) if self.hi > self.lo else (self.lo - 1.0, size / 2.0)

    def unit(self, value: float) -> float:
        """Where `value` lies between the limits, 0 to 1 (beyond them outside)."""
        return (value - self.lo) / (self.hi - self.lo) if self.hi > self.lo else 0.5


@dataclass
class Canvas:
    """The plotting area: `cols` by `rows` cells of braille dots and markers, the last colour drawn in a cell
    winning it. A marker is drawn over the dots of its cell."""

    cols: int
    rows: int
    x: Axis
    y: Axis
    bits: list[int] = field(default_factory=list)
    colors: list[Color | None] = field(default_factory=list)
    marks: dict[int, tuple[str, Color | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bits = [0] * (self.cols * self.rows)
        self.colors = [None] * (self.cols * self.rows)

    def sub(self, x: float, y: float) -> tuple[float, float]:
        """A point in braille dots from the bottom-left corner."""
        return self.x.unit(x) * (2 * self.cols - 1), self.y.unit(y) * (4 * self.rows - 1)

    def cell(self, x: float, y: float) -> int | None:
        """The cell that holds a point, None outside the area (or not finite)."""
        sx, sy = self.sub(x, y)
        if not (-0.5 <= sx < 2 * self.cols - 0.5 and -0.5 <= sy < 4 * self.rows - 0.5):
            return None
        return (self.rows - 1 - round(sy) // 4) * self.cols + round(sx) // 2

    def _dot(self, sx: int, sy: int, color: Color | None) -> None:
        index = (self.rows - 1 - sy // 4) * self.cols + sx // 2
        if self.colors[index] != color:
            self.colors[index], self.bits[index] = color, 0
        self.bits[index] |= BITS[3 - sy % 4][sx % 2]

    def line(self, xs: Sequence[float], ys: Sequence[float], color: Color | None) -> None:
        """A polyline through the points, clipped at the area's edges; a point not finite breaks it."""
        prev: tuple[float, float] | None = None
        for x, y in zip(xs, ys):
            if not (math.isfinite(x) and math.isfinite(y)):
                prev = None
                continue
            point = self.sub(x, y)
            if prev is not None:
                self._segment(prev, point, color)
            elif len(xs) == 1:
                self._segment(point, point, color)
            prev = point

    def dots(self, xs: Sequence[float], ys: Sequence[float], color: Color | None) -> None:
        """One braille dot a point (those within the area)."""
        wide, tall = 2 * self.cols, 4 * self.rows
        (x0, kx), (y0, ky) = self.x.scale(wide - 1), self.y.scale(tall - 1)
        for x, y in zip(xs, ys):
            if not (math.isfinite(x) and math.isfinite(y)):
                continue
            sx, sy = round((x - x0) * kx), round((y - y0) * ky)
            if 0 <= sx < wide and 0 <= sy < tall:
                self._dot(sx, sy, color)

    def _segment(self, a: tuple[float, float], b: tuple[float, float], color: Color | None) -> None:
        clipped = _clip(a, b, 2 * self.cols - 1, 4 * self.rows - 1)
        if clipped is None:
            return
        (x0, y0), (x1, y1) = clipped
        steps = max(int(max(abs(x1 - x0), abs(y1 - y0))), 1)
        for i in range(steps + 1):
            t = i / steps
            self._dot(round(x0 + (x1 - x0) * t), round(y0 + (y1 - y0) * t), color)

    def mark(self, x: float, y: float, char: str, color: Color | None) -> None:
        """A marker in the cell that holds the point (nothing outside the area)."""
        index = self.cell(x, y) if math.isfinite(x) and math.isfinite(y) else None
        if index is not None:
            self.marks[index] = (char, color)

    def text_rows(self) -> list[str]:
        """Each row as ANSI text: its characters, a colour code where the colour changes."""
        chars = [BRAILLE[b] for b in self.bits]
        colors = list(self.colors)
        for index, (char, color) in self.marks.items():
            chars[index], colors[index] = char, color
        rows = []
        for r in range(self.rows):
            start, end = r * self.cols, (r + 1) * self.cols
            row_colors = colors[start:end]
            if not any(row_colors):
                rows.append("".join(chars[start:end]))
                continue
            out: list[str] = []
            current: Color | None = None
            for char, color in zip(chars[start:end], row_colors):
                if color != current and char != " ":  # a blank takes any colour: fewer segments to draw
                    out.append(RESET if color is None else sgr(color))
                    current = color
                out.append(char)
            rows.append("".join(out) + (RESET if current is not None else ""))
        return rows


def _clip(
    a: tuple[float, float], b: tuple[float, float], xmax: float, ymax: float
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The part of segment ab within [0, xmax] by [0, ymax] (Liang and Barsky), None if it misses."""
    (x0, y0), (x1, y1) = a, b
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, x0), (dx, xmax - x0), (-dy, y0), (dy, ymax - y0)):
        if p == 0:
            if q < 0:
                return None
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return None
    return (x0 + dx * t0, y0 + dy * t0), (x0 + dx * t1, y0 + dy * t1)


def layout(width: int, height: int, y: Axis) -> tuple[int, int, int]:
    """The y tick labels' width and the canvas's columns and rows for a plot of `width` by `height` cells."""
    label_width = max((len(label) for label in y.labels), default=1)
    return label_width, max(width - label_width - 2, 1), max(height - HEADER_ROWS - FOOTER_ROWS, 1)


def render(width: int, height: int, top: str, canvas: Canvas) -> str:
    """The whole plot as ANSI text, one line a row: `top` (the header), the y axis and the canvas, then the x
    axis with its ticks, their labels, and the axes' names (y's on the left, x's in the middle)."""
    x, y = canvas.x, canvas.y
    label_width = width - canvas.cols - 2
    y_rows: dict[int, str] = {}
    for tick, label in zip(y.ticks, y.labels):
        index = canvas.cell(x.lo if x.hi > x.lo else 0.0, tick)
        if index is not None:
            y_rows.setdefault(index // canvas.cols, label)
    lines = [top]
    for r, row in enumerate(canvas.text_rows()):
        lines.append(f"{y_rows.get(r, ''):>{label_width}}{'┤' if r in y_rows else '│'}{row}")
    axis = ["─"] * canvas.cols
    under = [" "] * (width + 8)
    end = -1
    for tick, label in zip(x.ticks, x.labels):
        col = round(x.unit(tick) * (2 * canvas.cols - 1)) // 2
        if not 0 <= col < canvas.cols:
            continue
        axis[col] = "┬"
        center = label_width + 1 + col
        start = min(max(center - len(label) // 2, end + 2), width - len(label))
        if start > end + 1 and start >= 0:
            under[start : start + len(label)] = label
            end = start + len(label) - 1
    lines.append(" " * label_width + "└" + "".join(axis))
    lines.append("".join(under[:width]).rstrip())
    names = f"{y.name:<{width}}"
    mid = max((width - len(x.name)) // 2, len(y.name) + 2)
    lines.append((names[:mid] + x.name)[:width].rstrip())
    # every row as wide as the plot, as plotext drew them (Textual pads a short row with a segment of its own)
    return "\n".join(line + " " * (width - len(SGR.sub("", line))) for line in lines[:height])


Block = tuple[int, float, int, float, float]  # index of the lowest, lowest, index of the highest, highest, lowest > 0
EMPTY: Block = (0, math.nan, 0, math.nan, math.inf)  # a block without a finite value


class Extrema:
    """Each column's lowest and highest value of long series (the loss curve's lanes), from blocks of
    consecutive epochs kept between frames: a spike is never lost, and a frame costs the number of blocks, not
    of epochs. A series only grows (a lane's RMSE over its epochs); one cut back or changed is read anew."""

    def __init__(self) -> None:
        self._kept: dict[int, tuple[int, tuple[float, ...], list[Block]]] = {}

    def blocks(self, series: array[float], size: int) -> list[Block]:
        """The series' whole blocks of `size` epochs (see _block), those without a finite value as EMPTY."""
        done: list[Block] = []
        kept = self._kept.get(id(series))
        if kept is not None and kept[0] == size and len(series) >= len(kept[2]) * size:
            if _same(kept[1], _ends(series, len(kept[2]) * size)):
                done = kept[2]
        for begin in range(len(done) * size, len(series) - size + 1, size):
            done.append(_block(series, begin, begin + size) or EMPTY)
        self._kept[id(series)] = (size, _ends(series, len(done) * size), done)
        return done

    def forget(self, keep: Sequence[array[float]]) -> None:
        """Drop the blocks of series no longer drawn."""
        ids = {id(series) for series in keep}
        for key in [key for key in self._kept if key not in ids]:
            del self._kept[key]


def _ends(series: array[float], covered: int) -> tuple[float, ...]:
    return (series[0], series[covered - 1]) if covered else ()


def _same(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return len(a) == len(b) and all(u == v or (u != u and v != v) for u, v in zip(a, b))


def _block(series: array[float], begin: int, end: int) -> Block | None:
    """Where the finite values of series[begin:end] are lowest and highest, and the lowest above 0 (a log
    scale's); C-speed min and max where every value is finite. None without a finite value."""
    chunk = series[begin:end]
    if math.isfinite(sum(chunk)):
        lo, hi = min(chunk), max(chunk)
        positive = lo if lo > 0 else min((v for v in chunk if v > 0), default=math.inf)
        return begin + chunk.index(lo), lo, begin + chunk.index(hi), hi, positive
    finite = [(v, begin + i) for i, v in enumerate(chunk) if math.isfinite(v)]
    if not finite:
        return None
    lo_v, lo_i = min(finite)
    hi_v, hi_i = max(finite)
    positive = min((v for v, _ in finite if v > 0), default=math.inf)
    return lo_i, lo_v, hi_i, hi_v, positive
