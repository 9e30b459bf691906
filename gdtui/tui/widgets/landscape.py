"""The landscape view: the loss over two parameters as a heatmap of half-block cells, with every lane's path.

Why: the contours of the loss with the path on them are what make a learning rate that is too big visible.
plotext's matrix_plot cost ~65 ms a frame at 70x24 and a braille path over it cut a black band through the
colors; here each terminal cell is a "▀" whose foreground is one grid row and background the next (two grid
rows per terminal row), and a path recolors the half-cells it crosses, so nothing is hidden. The colors are
viridis (its yellow end left out) in 16 bands of the log of the loss: brightness rises steadily, so the picture
reads in grayscale and under NO_COLOR, and the band edges are the contours. The heat is cached per grid and
size; a frame only lays the paths over it. Torch-free: it draws a `surface.Landscape` the session sent.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from math import isfinite

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from gdtui.engine.surface import Landscape

RGB = tuple[int, int, int]
Marks = dict[tuple[int, int], tuple[str, RGB]]  # (terminal row, column) -> a character and its color
# matplotlib's viridis at eight of its nine stops: its lightness rises monotonically from end to end
VIRIDIS: tuple[RGB, ...] = (
    (68, 1, 84),
    (71, 44, 122),
    (59, 81, 139),
    (44, 113, 142),
    (33, 144, 141),
    (39, 173, 129),
    (92, 200, 99),
    (170, 220, 50),
)  # its last stop, (253, 231, 37), left out: a yellow as bright as the lanes' own would hide their paths
BANDS = 16
PLAIN = Style()  # never None: Textual's NO_COLOR filter reads every segment's style
RAMP = " .:-=+*#%@"  # the bands without color (NO_COLOR): ever denser characters as the loss rises
MARGIN = 9  # columns of y-axis labels
HALF = "▀"
TEXT: RGB = (230, 230, 230)
DIM: RGB = (150, 150, 150)


def band_color(band: int) -> RGB:
    """The color of band 0..BANDS-1 (darkest to brightest), sampled from viridis."""
    t = band / (BANDS - 1) * (len(VIRIDIS) - 1)
    i = min(int(t), len(VIRIDIS) - 2)
    f = t - i
    a, b = VIRIDIS[i], VIRIDIS[i + 1]
    return (round(a[0] + f * (b[0] - a[0])), round(a[1] + f * (b[1] - a[1])), round(a[2] + f * (b[2] - a[2])))


# at 85% of viridis's brightness, so that the lanes' colors (some as bright as its yellow) stand out on it
PALETTE = tuple((round(r * 0.85), round(g * 0.85), round(b * 0.85)) for r, g, b in map(band_color, range(BANDS)))


def bands(loss: Sequence[Sequence[float]]) -> tuple[list[list[int]], float, float]:
    """Each grid value's band, by the log of its loss between the grid's lowest and highest (a zero loss counts
    as a millionth of the highest); non-finite values take the top band. Returns the bands, lowest, highest."""
    levels, lo, hi = _bands(loss)
    return levels.tolist(), lo, hi


def _bands(loss: Sequence[Sequence[float]]) -> tuple[np.ndarray, float, float]:
    """`bands` as an array (numpy: a grid is thousands of values, redone for every grid the session sends)."""
    values = np.asarray(loss, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.full(values.shape, BANDS - 1, dtype=np.int64), math.nan, math.nan
    lo, hi = float(values[finite].min()), float(values[finite].max())
    floor = lo if lo > 0 else max(hi * 1e-6, 1e-300)
    bottom, top = math.log10(floor), math.log10(max(hi, floor))
    scale = (BANDS - 1e-9) / (top - bottom) if top > bottom else 0.0
    with np.errstate(invalid="ignore"):
        levels = ((np.log10(np.maximum(np.where(finite, values, floor), floor)) - bottom) * scale).astype(np.int64)
    levels[~finite] = BANDS - 1
    return levels, lo, hi


def clip(
    a: tuple[float, float], b: tuple[float, float], box: tuple[float, float, float, float]
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The part of the segment a-b inside box (x0, x1, y0, y1), by Liang and Barsky's method; None if none."""
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, ax - box[0]), (dx, box[1] - ax), (-dy, ay - box[2]), (dy, box[3] - ay)):
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
    return (ax + t0 * dx, ay + t0 * dy), (ax + t1 * dx, ay + t1 * dy)


@functools.lru_cache(maxsize=1 << 16)
def _walk(c0: int, h0: int, c1: int, h1: int) -> tuple[tuple[int, int], ...]:
    """The cells of a straight segment from cell (c0, h0) to cell (c1, h1), both ends included."""
    dc, dh = c1 - c0, h1 - h0
    steps = max(abs(dc), abs(dh), 1)
    return tuple((round(c0 + dc * k / steps), round(h0 + dh * k / steps)) for k in range(steps + 1))


def fmt(v: float) -> str:
    return f"{v:.3g}"


@dataclass(frozen=True)
class LanePath:
    """A lane's path as the view draws it: its color, its points (thinned) and whether it is the focused one."""

    color: RGB
    points: Sequence[tuple[float, float]]
    focused: bool = False
    label: str = "•"  # drawn along the path where there is no color (NO_COLOR): the lane's number


class LandscapeView(Widget):
    """Draws a Landscape with the lanes' paths, its minimum and each lane's current point."""

    DEFAULT_CSS = "LandscapeView { height: 1fr; min-height: 5; }"

    render_cost = 0.0

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.grid: Landscape | None = None
        self.paths: list[LanePath] = []
        self.note = "the landscape: waiting for the session"
        self._heat: tuple[object, tuple[int, int], list[list[int]], float, float] | None = None
        self._strips: list[Strip] | None = None
        self._built_for = Size(0, 0)
        self._styles: dict[tuple[RGB | None, RGB | None, bool], Style] = {}

    # what the app sets -----------------------------------------------------------------------------------

    @property
    def colorless(self) -> bool:
        """NO_COLOR: the bands are drawn as characters (Textual would strip or gray the colors)."""
        return bool(getattr(self.app, "no_color", False))

    def area(self) -> tuple[int, int]:
        """The heatmap's cells: the grid the view wants is (columns, 2 x rows)."""
        width, height = self.size
        return max(2, width - MARGIN), max(1, height - 3)

    def show(self, grid: Landscape | None, paths: list[LanePath], note: str = "") -> None:
        self.grid, self.paths, self.note = grid, paths, note
        self.replot()

    def replot(self) -> None:
        self._strips = None
        self.refresh()

    # drawing ---------------------------------------------------------------------------------------------

    def _style(self, fg: RGB | None, bg: RGB | None = None, bold: bool = False) -> Style:
        key = (fg, bg, bold)
        style = self._styles.get(key)
        if style is None:
            style = self._styles[key] = Style(
                color=None if fg is None else f"rgb({fg[0]},{fg[1]},{fg[2]})",
                bgcolor=None if bg is None else f"rgb({bg[0]},{bg[1]},{bg[2]})",
                bold=bold,
            )
        return style

    def _heat_cells(self, grid: Landscape, cols: int, rows: int) -> tuple[list[list[int]], float, float]:
        """The band of each half-cell (2*rows x cols, top row first), cached per grid and size."""
        cached = self._heat
        if cached is not None and cached[0] is grid and cached[1] == (cols, rows):
            return cached[2], cached[3], cached[4]
        levels, lo, hi = _bands(grid.loss)
        gy, gx = levels.shape
        # screen half-rows from the top (the grid's last row, highest y, first), and columns, sampled
        ys = [gy - 1 - min(gy - 1, h * gy // (2 * rows)) for h in range(2 * rows)]
        xs = [min(gx - 1, c * gx // cols) for c in range(cols)]
        heat: list[list[int]] = levels[np.ix_(ys, xs)].tolist()
        self._heat = (grid, (cols, rows), heat, lo, hi)
        return heat, lo, hi

    def _to_cell(self, grid: Landscape, cols: int, rows: int, x: float, y: float) -> tuple[float, float]:
        x0, x1, y0, y1 = grid.xs[0], grid.xs[-1], grid.ys[0], grid.ys[-1]
        c = (x - x0) / (x1 - x0) * (cols - 1) if x1 != x0 else 0.0
        h = (y1 - y) / (y1 - y0) * (2 * rows - 1) if y1 != y0 else 0.0
        return c, h

    def _lay_paths(
        self, grid: Landscape, cells: list[list[RGB]], trail: dict[tuple[int, int], str], cols: int, rows: int
    ) -> Marks:
        """Recolor the half-cells each path crosses (and note its label in `trail`, by terminal cell); return
        the marks of the current points. A path's segments are walked from cell to cell (each walk cached: a
        path moved on by a point keeps nearly all of them), its cells gathered in a set and painted once, so a
        zig-zag across the valley that retraces itself costs what its distinct cells cost."""
        marks: Marks = {}
        half = 2 * rows
        box = (-0.5, cols - 0.5, -0.5, half - 0.5)
        x0, x1, y0, y1 = grid.xs[0], grid.xs[-1], grid.ys[0], grid.ys[-1]
        sx = (cols - 1) / (x1 - x0) if x1 != x0 else 0.0
        sy = (half - 1) / (y1 - y0) if y1 != y0 else 0.0
        for path in sorted(self.paths, key=lambda p: p.focused):  # the focused lane's on top
            points = [((x - x0) * sx, (y1 - y) * sy) for x, y in path.points if isfinite(x) and isfinite(y)]
            if not points:
                continue
            painted: set[tuple[int, int]] = set()
            prev = points[0]
            pc, ph = round(prev[0]), round(prev[1])
            painted.add((pc, ph))
            for cur in points[1:]:
                cc, ch = round(cur[0]), round(cur[1])
                if cc == pc and ch == ph:
                    prev = cur
                    continue
                if 0 <= pc < cols and 0 <= cc < cols and 0 <= ph < half and 0 <= ch < half:
                    painted.update(_walk(pc, ph, cc, ch))
                else:  # a far-off point: only what is in view, walked between the clipped ends
                    seen = clip(prev, cur, box)
                    if seen is not None:
                        (c0, h0), (c1, h1) = seen
                        painted.update(_walk(round(c0), round(h0), round(c1), round(h1)))
                prev, pc, ph = cur, cc, ch
            color, label = path.color, path.label
            for c, h in painted:
                if 0 <= c < cols and 0 <= h < half:
                    cells[h][c] = color
                    trail[(h // 2, c)] = label
            if 0 <= pc < cols and 0 <= ph < half:
                marks[(ph // 2, pc)] = ("●" if path.focused else "•", color)
        return marks

    def _build(self) -> list[Strip]:
        width, height = self.size
        grid = self.grid
        if grid is None or height < 4 or width < MARGIN + 4:
            blank = [Strip([Segment(" " * width, PLAIN)]) for _ in range(height)]
            if height:
                blank[0] = Strip([Segment(self.note[:width].ljust(width), self._style(TEXT))])
            return blank
        cols, rows = self.area()
        heat, lo, hi = self._heat_cells(grid, cols, rows)
        cells = [[PALETTE[band] for band in row] for row in heat]
        trail: dict[tuple[int, int], str] = {}
        marks = self._lay_paths(grid, cells, trail, cols, rows)
        if grid.minimum is not None:
            i, j = grid.names.index(grid.pair[0]), grid.names.index(grid.pair[1])
            mx, my = grid.minimum[i], grid.minimum[j]
        else:
            mx, my = grid.lowest[0], grid.lowest[1]
        mc, mh = (round(v) for v in self._to_cell(grid, cols, rows, mx, my))
        if 0 <= mc < cols and 0 <= mh < 2 * rows:
            marks.setdefault((mh // 2, mc), ("✕", TEXT))
        strips = [self._title(width, lo, hi)]
        labels = {0: grid.ys[-1], rows - 1: grid.ys[0], (rows - 1) // 2: grid.ys[len(grid.ys) // 2]}
        colorless = self.colorless
        styles = self._styles
        for r in range(rows):
            label = fmt(labels[r]).rjust(MARGIN - 1)[: MARGIN - 1] + "┤" if r in labels else " " * (MARGIN - 1) + "│"
            segments = [Segment(label, self._style(DIM))]
            if colorless:  # a character per cell: its mark, the path crossing it, or its band's density
                line = "".join(
                    marks[(r, c)][0]
                    if (r, c) in marks
                    else trail.get((r, c)) or RAMP[heat[2 * r][c] * len(RAMP) // BANDS]
                    for c in range(cols)
                )
                strips.append(Strip([*segments, Segment(line, PLAIN)]))
                continue
            top, bottom = cells[2 * r], cells[2 * r + 1]
            run_style: Style | None = None
            run = ""
            for c in range(cols):
                mark = marks.get((r, c))
                if mark is not None:
                    char, color = mark
                    style = self._style(color, PALETTE[heat[2 * r + 1][c]], True)
                else:
                    fg, bg = top[c], bottom[c]
                    style, char = styles.get((fg, bg, False)) or self._style(fg, bg), HALF
                if style is run_style:
                    run += char
                else:
                    if run:
                        segments.append(Segment(run, run_style))
                    run, run_style = char, style
            if run:
                segments.append(Segment(run, run_style))
            strips.append(Strip(segments))
        strips.append(Strip([Segment(self._x_ticks(grid, cols), self._style(DIM))]))
        strips.append(Strip([Segment(self._x_name(grid, width), self._style(TEXT))]))
        return strips[:height] + [Strip([Segment(" " * width, PLAIN)])] * max(0, height - len(strips))

    def _title(self, width: int, lo: float, hi: float) -> Strip:
        grid = self.grid
        assert grid is not None
        palette = PALETTE if width >= 100 else PALETTE[::2]
        bar = RAMP if self.colorless else "█" * len(palette)
        left = f"↑ {grid.pair[1]}   loss over {grid.pair[0]} × {grid.pair[1]}"
        if grid.subsampled:
            left += f" · on a {grid.points:,}-point subsample"
        if self.note:
            left += f" · {self.note}"
        scale = f" {fmt(lo)} " if math.isfinite(lo) else " "
        right_end = f" {fmt(hi)} (log)" if math.isfinite(hi) else ""
        room = width - len(scale) - len(bar) - len(right_end)
        left = left[: max(0, room - 1)].ljust(max(0, room))
        segments = [Segment(left, self._style(TEXT)), Segment(scale, self._style(DIM))]
        if self.colorless:
            segments.append(Segment(bar, PLAIN))
        else:
            segments += [Segment("█", self._style(color)) for color in palette]
        segments.append(Segment(right_end, self._style(DIM)))
        return Strip(segments).crop(0, width)

    @staticmethod
    def _x_ticks(grid: Landscape, cols: int) -> str:
        line = [" "] * (MARGIN + cols)
        count = max(2, min(6, cols // 14))
        for k in range(count):
            c = round(k * (cols - 1) / (count - 1))
            value = grid.xs[min(len(grid.xs) - 1, c * len(grid.xs) // cols)] if k < count - 1 else grid.xs[-1]
            text = fmt(value)
            start = max(0, min(MARGIN + c - len(text) // 2, MARGIN + cols - len(text)))
            if all(ch == " " for ch in line[max(0, start - 1) : start + len(text) + 1]):
                line[start : start + len(text)] = list(text)
        return "".join(line)

    def _x_name(self, grid: Landscape, width: int) -> str:
        name = f"{grid.pair[0]} →"
        legend = "● now  ✕ least-squares minimum" if grid.minimum is not None else "● now  ✕ lowest in view"
        middle = (MARGIN + (width - MARGIN) // 2) - len(name) // 2
        line = (" " * middle + name).ljust(width)
        if len(line.rstrip()) + 2 + len(legend) <= width:
            line = line[: width - len(legend)] + legend
        return line[:width]

    def render_line(self, y: int) -> Strip:
        if self._strips is None or self._built_for != self.size:
            start = time.perf_counter()
            self._strips, self._built_for = self._build(), self.size
            self.render_cost = time.perf_counter() - start
        return self._strips[y] if y < len(self._strips) else Strip([])
