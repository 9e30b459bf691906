"""A path over the landscape as a thin line of braille dots, cut where it leaves the view for good.

Why: a path painted as whole cells turns a zig-zag across the valley into full-width stripes, and a lane that
diverged swings across the view on every epoch of its flight out, painting it over. Braille gives each terminal
cell 2x4 dots, so a path is a line a dot wide over the heat. A path is drawn up to its last point in view, and
from there to the edge, where the view marks it with an arrow for the way it went: excursions that come back are
drawn (clipped at the edges), a flight out that never returns is not. Torch-free; numpy, since a frame draws a
few thousand segments that may each cross the view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

BRAILLE = 0x2800
# the bit of each dot of a braille cell, by its row (of 4) and column (of 2)
DOT_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.uint8)
ARROWS = "→↗↑↖←↙↓↘"  # by the heading's octant, counterclockwise from east
Floats = npt.NDArray[np.float64]
Box = tuple[float, float, float, float]  # x0, x1, y0, y1


def _leave(x: Floats, y: Floats, dx: Floats, dy: Floats, box: Box) -> tuple[Floats, npt.NDArray[np.bool_]]:
    """For segments from (x, y) along (dx, dy) (t from 0 to 1): the t where each leaves box (1 if it does not)
    and whether any of it is inside, by Liang and Barsky's method."""
    t0, t1 = np.zeros(len(x)), np.ones(len(x))
    keep = np.ones(len(x), dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for p, q in ((-dx, x - box[0]), (dx, box[1] - x), (-dy, y - box[2]), (dy, box[3] - y)):
            flat = p == 0
            keep &= ~(flat & (q < 0))
            t = q / np.where(flat, 1.0, p)
            t0 = np.where(~flat & (p < 0), np.maximum(t0, t), t0)
            t1 = np.where(~flat & (p > 0), np.minimum(t1, t), t1)
    return t1, keep & (t0 <= t1)


def clip_segments(segments: Floats, box: Box) -> tuple[Floats, npt.NDArray[np.bool_]]:
    """The part of each segment (rows x0, y0, x1, y1) inside box, and which segments have a part inside (the
    others' rows are meaningless). Each clipped end is where the segment leaves the box walked from its other
    end, so a far-off point (a diverged lane's 1e30) does not drown the near one in rounding."""
    x0, y0, x1, y1 = segments.T
    dx, dy = x1 - x0, y1 - y0
    ahead, keep = _leave(x0, y0, dx, dy, box)
    back, _ = _leave(x1, y1, -dx, -dy, box)
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.stack(
            [
                np.where(back >= 1, x0, x1 - back * dx),
                np.where(back >= 1, y0, y1 - back * dy),
                np.where(ahead >= 1, x1, x0 + ahead * dx),
                np.where(ahead >= 1, y1, y0 + ahead * dy),
            ],
            axis=1,
        )
    out[:, 0::2] = np.clip(out[:, 0::2], box[0], box[1])
    out[:, 1::2] = np.clip(out[:, 1::2], box[2], box[3])
    return out, keep


@dataclass(frozen=True)
class Trace:
    """What of a path the view draws, in dots (x right, y down): its segments (clipped to the view), its first
    point if in view, its last point if in view (None when it left for good) and where it left, with an arrow."""

    segments: Floats
    start: tuple[float, float] | None
    end: tuple[float, float] | None
    exit: tuple[float, float, str] | None


def trace(points: Floats, width: int, height: int) -> Trace:
    """The path `points` (n x 2, in dots) over a view of width x height dots, up to its last point in view and on
    to the edge it leaves by. Points that are not finite (a diverged lane's end) are left out."""
    box = (-0.5, width - 0.5, -0.5, height - 0.5)
    points = points[np.isfinite(points).all(axis=1)]
    inside = (points[:, 0] >= box[0]) & (points[:, 0] <= box[1]) & (points[:, 1] >= box[2]) & (points[:, 1] <= box[3])
    seen = np.flatnonzero(inside)
    if not len(seen):
        return Trace(np.empty((0, 4)), None, None, None)
    last = int(seen[-1])
    stop = min(last + 1, len(points) - 1)  # the segment that leaves for good, if any, is the last drawn
    segments, keep = clip_segments(np.concatenate([points[:stop], points[1 : stop + 1]], axis=1), box)
    start = (float(points[0, 0]), float(points[0, 1])) if inside[0] else None
    if last == len(points) - 1:
        return Trace(segments[keep], start, (float(points[-1, 0]), float(points[-1, 1])), None)
    x, y = segments[-1, 2], segments[-1, 3]
    dx, dy = points[last + 1] - points[last]
    octant = round(float(np.arctan2(-dy, dx)) / (np.pi / 4)) % 8
    return Trace(segments[keep], start, None, (float(x), float(y), ARROWS[octant]))


def turns(segments: Floats) -> Floats:
    """The points (in dots) where a drawn path turns: where a segment meets the next at an angle, or goes back
    along itself."""
    if len(segments) < 2:
        return np.empty((0, 2))
    a, b = segments[:-1], segments[1:]
    joined = (a[:, 2] == b[:, 0]) & (a[:, 3] == b[:, 1])
    d0, d1 = a[:, 2:] - a[:, :2], b[:, 2:] - b[:, :2]
    cross = d0[:, 0] * d1[:, 1] - d0[:, 1] * d1[:, 0]
    back = (d0 * d1).sum(axis=1) < 0
    return b[joined & ((cross != 0) | back), :2]


def dots(segments: Floats, width: int, height: int) -> npt.NDArray[np.bool_]:
    """The dots (height x width) the segments pass through, each walked from end to end a dot at a time. A
    segment retraced (a zig-zag across the valley goes back over its own lines) is walked once."""
    grid = np.zeros((height, width), dtype=bool)
    if not len(segments):
        return grid
    ends = np.rint(segments).astype(np.int64)
    ends[:, 0::2] = np.clip(ends[:, 0::2], 0, width - 1)
    ends[:, 1::2] = np.clip(ends[:, 1::2], 0, height - 1)
    a, b = ends[:, 1] * width + ends[:, 0], ends[:, 3] * width + ends[:, 2]
    keys = np.unique(np.minimum(a, b) * (width * height) + np.maximum(a, b))  # undirected, once each
    a, b = keys // (width * height), keys % (width * height)
    ax, ay, bx, by = a % width, a // width, b % width, b // width
    steps = np.maximum(np.abs(bx - ax), np.abs(by - ay))
    counts = steps + 1
    which = np.repeat(np.arange(len(keys)), counts)
    k = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    frac = k / np.maximum(steps, 1)[which]
    xs = np.rint(ax[which] + (bx - ax)[which] * frac).astype(np.int64)
    ys = np.rint(ay[which] + (by - ay)[which] * frac).astype(np.int64)
    grid[ys, xs] = True
    return grid


def cells(grid: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """Each terminal cell's braille bits, from the dots (4 rows x 2 columns of dots a cell)."""
    height, width = grid.shape
    blocks = grid.reshape(height // 4, 4, width // 2, 2)
    return np.einsum("rick,ik->rc", blocks.astype(np.uint8), DOT_BITS, dtype=np.uint8)


def braille(bits: int) -> str:
    return chr(BRAILLE + bits)


def to_dots(points: Sequence[tuple[float, float]], span: Box, width: int, height: int) -> Floats:
    """Points in the parameters' units to dots: span (x0, x1, y0, y1) onto 0..width-1 and height-1..0."""
    x0, x1, y0, y1 = span
    xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    out = np.empty_like(xy)
    with np.errstate(invalid="ignore", over="ignore"):
        out[:, 0] = (xy[:, 0] - x0) * ((width - 1) / (x1 - x0)) if x1 != x0 else 0.0
        out[:, 1] = (y1 - xy[:, 1]) * ((height - 1) / (y1 - y0)) if y1 != y0 else 0.0
    return out
