"""The landscape view: the loss over two parameters as a heatmap of half-block cells, with every lane's path.

Why: the contours of the loss with the path on them are what make a learning rate that is too big visible.
plotext's matrix_plot cost ~65 ms a frame at 70x24; here each terminal cell is a "▀" whose foreground is one
grid row and background the next (two grid rows per terminal row). A path is a thin line of braille dots in its
lane's color over the band of the cells it crosses (trace.py), so a zig-zag across the valley stays a line and
the heat around it stays in view; a path is cut where it leaves the view for good, with an arrow there, so a
diverged lane's flight out never paints the view. The marks: ○ a path's start, ● and • the lanes' current
points, ✕ the least-squares minimum of all the parameters (not of the slice: the held ones are not at theirs),
◆ the lowest point of the slice in view; the legend names those in view, in as many words as fit. The colors
are viridis (its yellow end left out) in 16 bands of the log of the loss: brightness rises steadily, so the
picture reads in grayscale and under NO_COLOR, and the band edges are the contours. The heat is cached per grid
and size; a frame only lays the paths over it. Torch-free: it draws a `surface.Landscape` the session sent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from math import isfinite
from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from gdtui.engine.surface import Landscape
from gdtui.tui.lazy import lazy_import

if TYPE_CHECKING:
    import numpy as np
else:
    np = lazy_import("numpy")  # loaded with the first grid drawn, not with the app

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
    from gdtui.tui.widgets.trace import clip_segments

    out, keep = clip_segments(np.array([[a[0], a[1], b[0], b[1]]], dtype=np.float64), box)
    if not keep[0]:
        return None
    x0, y0, x1, y1 = out[0].tolist()
    return (x0, y0), (x1, y1)


def fmt(v: float) -> str:
    return f"{v:.3g}"


@dataclass(frozen=True)
class LanePath:
    """A lane's path as the view draws it: its color, its points (thinned) and whether it is the focused one."""

    color: RGB
    points: Sequence[tuple[float, float]]
    focused: bool = False
    label: str = "•"  # its current point's mark where there is no color (NO_COLOR): the lane's number


class LandscapeView(Widget):
    """Draws a Landscape with the lanes' paths, both minima and each lane's current point."""

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
        self._exited: str | None = None  # the arrow of a path that left the view, for the legend
        self.pinned: tuple[float, float] | None = None

    # what the app sets -----------------------------------------------------------------------------------

    @property
    def colorless(self) -> bool:
        """NO_COLOR: the bands are drawn as characters (Textual would strip or gray the colors)."""
        return bool(getattr(self.app, "no_color", False))

    def area(self) -> tuple[int, int]:
        """The heatmap's cells: the grid the view wants is (columns, 2 x rows)."""
        width, height = self.size
        return max(2, width - MARGIN), max(1, height - 3)

    def show(
        self, grid: Landscape | None, paths: list[LanePath], note: str = "", pinned: tuple[float, float] | None = None
    ) -> None:
        """`pinned`: the focused lane's point at the epoch in view (time travel), its ● there, not at its end."""
        self.grid, self.paths, self.note, self.pinned = grid, paths, note, pinned
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

    def _lay_paths(self, grid: Landscape, cols: int, rows: int) -> tuple[np.ndarray, list[RGB | None], Marks, Marks]:
        """Each path as braille dots, cut where it leaves the view for good: the bits of each cell, the color of
        each cell's topmost path (a row-major list, None where none passes), the marks of the paths' starts and
        exits, and those of their current points. A cell where a path turns is a full braille cell (⣿), a knot
        on its line. The focused lane's path is drawn over the others'."""
        from gdtui.tui.widgets.trace import cells, dots, to_dots, trace, turns

        width, height = 2 * cols, 4 * rows
        span = (grid.xs[0], grid.xs[-1], grid.ys[0], grid.ys[-1])
        bits = np.zeros((rows, cols), dtype=np.uint8)
        owner = np.full((rows, cols), -1, dtype=np.int64)
        along: Marks = {}
        ends: Marks = {}
        self._exited = None
        order = sorted(self.paths, key=lambda p: p.focused)
        for k, path in enumerate(order):
            if not len(path.points):
                continue
            seen = trace(to_dots(path.points, span, width, height), width, height)
            mine = cells(dots(seen.segments, width, height))
            for x, y in turns(seen.segments).tolist():
                mine[_cell((x, y), cols, rows)] = 0xFF
            bits |= mine
            owner[mine != 0] = k
            color = path.color
            if seen.start is not None:
                along[_cell(seen.start, cols, rows)] = ("○", color)
            if seen.exit is not None:
                along[_cell(seen.exit[:2], cols, rows)] = (seen.exit[2], color)
                self._exited = seen.exit[2]
            if seen.end is not None:
                end = "●" if path.focused and self.pinned is None else (path.label if self.colorless else "•")
                ends[_cell(seen.end, cols, rows)] = (end, color)
            if path.focused and self.pinned is not None:
                ((x, y),) = to_dots([self.pinned], span, width, height).tolist()
                if 0 <= x <= width - 1 and 0 <= y <= height - 1:
                    ends[_cell((x, y), cols, rows)] = ("●", color)
        colors: list[RGB | None] = [None if k < 0 else order[k].color for k in owner.ravel().tolist()]
        return bits, colors, along, ends

    def _minima(self, grid: Landscape, cols: int, rows: int) -> Marks:
        """The least-squares minimum of all the parameters (✕, where the model has one) and the lowest point of
        the slice in view (◆), each where it falls in view; the ◆ is left out where the ✕ covers it."""
        from gdtui.tui.widgets.trace import to_dots

        width, height = 2 * cols, 4 * rows
        span = (grid.xs[0], grid.xs[-1], grid.ys[0], grid.ys[-1])
        marks: Marks = {}
        places = []
        if grid.minimum is not None:
            i, j = grid.names.index(grid.pair[0]), grid.names.index(grid.pair[1])
            places.append(("✕", (grid.minimum[i], grid.minimum[j])))
        places.append(("◆", (grid.lowest[0], grid.lowest[1])))
        for char, point in places:
            x, y = to_dots([point], span, width, height)[0].tolist()
            if isfinite(x) and isfinite(y) and -0.5 <= x <= width - 0.5 and -0.5 <= y <= height - 0.5:
                marks.setdefault(_cell((x, y), cols, rows), (char, TEXT))
        return marks

    def _build(self) -> list[Strip]:
        from gdtui.tui.widgets.trace import braille

        width, height = self.size
        grid = self.grid
        if grid is None or height < 4 or width < MARGIN + 4:
            blank = [Strip([Segment(" " * width, PLAIN)]) for _ in range(height)]
            if height:
                blank[0] = Strip([Segment(self.note[:width].ljust(width), self._style(TEXT))])
            return blank
        cols, rows = self.area()
        heat, lo, hi = self._heat_cells(grid, cols, rows)
        bits, colors, along, ends = self._lay_paths(grid, cols, rows)
        minima = self._minima(grid, cols, rows)
        marks = {**along, **minima, **ends}  # the current points over the minima over the starts and exits
        strips = [self._title(width, lo, hi)]
        labels = {0: grid.ys[-1], rows - 1: grid.ys[0], (rows - 1) // 2: grid.ys[len(grid.ys) // 2]}
        colorless = self.colorless
        styles = self._styles
        codes = bits.tolist()
        for r in range(rows):
            label = fmt(labels[r]).rjust(MARGIN - 1)[: MARGIN - 1] + "┤" if r in labels else " " * (MARGIN - 1) + "│"
            segments = [Segment(label, self._style(DIM))]
            line_bits = codes[r]
            top, bottom = heat[2 * r], heat[2 * r + 1]
            if colorless:  # a character per cell: its mark, the path crossing it, or its band's density
                line = "".join(
                    marks[(r, c)][0]
                    if (r, c) in marks
                    else (braille(line_bits[c]) if line_bits[c] else RAMP[top[c] * len(RAMP) // BANDS])
                    for c in range(cols)
                )
                strips.append(Strip([*segments, Segment(line, PLAIN)]))
                continue
            run_style: Style | None = None
            run = ""
            for c in range(cols):
                mark = marks.get((r, c))
                if mark is not None or line_bits[c]:  # over the cell's two bands' middle
                    char, color = mark or (braille(line_bits[c]), colors[r * cols + c])
                    style = self._style(color, PALETTE[(top[c] + bottom[c]) // 2], mark is not None)
                else:
                    fg, bg = PALETTE[top[c]], PALETTE[bottom[c]]
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
        started = any(char == "○" for char, _ in along.values())
        strips.append(self._legend(grid, width, {char for char, _ in minima.values()}, started))
        return strips[:height] + [Strip([Segment(" " * width, PLAIN)])] * max(0, height - len(strips))

    def _title(self, width: int, lo: float, hi: float) -> Strip:
        """The y axis's name, what is drawn and the color scale: the scale shortened before the title is, the
        notes (a subsample, the view's own) cut to what room is left."""
        grid = self.grid
        assert grid is not None
        a, b = grid.pair
        lefts = [f"↑ {b}   loss over {a} × {b}", f"↑ {b}  loss over {a} × {b}", f"↑ {b}  loss"]
        ends = (fmt(lo), fmt(hi)) if math.isfinite(lo) and math.isfinite(hi) else None
        scales: list[tuple[int, str]] = [(16, " (log)")] if width >= 100 else []
        scales += [(8, " (log)"), (8, " log"), (4, " log"), (0, "")]
        candidates = [(left, scale) for scale in scales[:-1] for left in lefts[:2]]
        candidates += [(lefts[2], scale) for scale in scales]
        right = 0
        bar = ""
        for left, (swatches, unit) in candidates:
            if self.colorless:  # the bands' characters, every one or every other
                bar = (RAMP if swatches >= 8 else RAMP[::2]) if swatches else ""
            else:
                bar = "█" * swatches
            right = 0 if ends is None or not bar else len(ends[0]) + len(ends[1]) + len(bar) + len(unit) + 3
            if len(left) + right <= width:
                break
        notes = [f"on a {grid.points:,}-point subsample"] if grid.subsampled else []
        notes += [self.note] if self.note else []
        room = width - right
        for note in notes:
            extra = f" · {note}"
            if len(left) + len(extra) > room:
                extra = extra[: max(0, room - len(left) - 1)] + "…" if room - len(left) > 4 else ""
            left += extra
        segments = [Segment(left[:room].ljust(max(0, room)), self._style(TEXT))]
        if ends is not None and right:
            segments.append(Segment(f" {ends[0]} ", self._style(DIM)))
            if self.colorless:
                segments.append(Segment(bar, PLAIN))
            else:
                segments += [Segment("█", self._style(color)) for color in PALETTE[:: BANDS // swatches]]
            segments.append(Segment(f" {ends[1]}{unit}", self._style(DIM)))
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

    def _legend(self, grid: Landscape, width: int, minima: set[str], started: bool) -> Strip:
        """The x axis's name under the y axis's labels, then what each mark in view means, in as many words as
        fit: the ✕ is the least-squares minimum of all the parameters (the others are not held there), the ◆
        the lowest point of the slice drawn."""
        name = f"{grid.pair[0]} →"
        name = (name if len(name) < MARGIN else grid.pair[0][: MARGIN - 4] + "… →").rjust(MARGIN - 1) + " "
        lowest = ("lowest point of this slice", "lowest of this slice", "min, slice")
        if grid.minimum is None:
            lowest = ("lowest point in view", "lowest in view", "lowest")
        entries: list[tuple[str, tuple[str, ...]] | None] = [
            ("○", ("start", "start", "", "")) if started else None,
            ("●", ("now", "now", "now", "")),
            (self._exited, ("left the view", "left view", "out")) if self._exited else None,
            ("✕", ("least-squares minimum (all parameters)", "least-squares min, all params", "min, all params"))
            if "✕" in minima
            else None,
            ("◆", lowest) if "◆" in minima else None,
        ]
        room = width - MARGIN
        legend = ""
        for level in range(4):
            words = [f"{glyph} {texts[min(level, len(texts) - 1)]}" for glyph, texts in filter(None, entries)]
            legend = ("  " if level < 2 else " ").join(w for w in words if len(w) > 2)
            if len(legend) <= room:
                break
        line = name + legend[:room].rjust(room)
        return Strip([Segment(line[:width].ljust(width), self._style(TEXT))])

    def render_line(self, y: int) -> Strip:
        if self._strips is None or self._built_for != self.size:
            start = time.perf_counter()
            self._strips, self._built_for = self._build(), self.size
            self.render_cost = time.perf_counter() - start
        return self._strips[y] if y < len(self._strips) else Strip([])


def _cell(dot: tuple[float, float], cols: int, rows: int) -> tuple[int, int]:
    """The terminal cell (row, column) of a point in dots (one on the view's edge, half a dot out, counts in)."""
    return min(max(round(dot[1]), 0), 4 * rows - 1) // 4, min(max(round(dot[0]), 0), 2 * cols - 1) // 2
