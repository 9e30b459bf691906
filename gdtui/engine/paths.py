"""A lane's path through two of its parameters, thinned for drawing as it grows.

Why: a run of a million epochs is a million points, and a view draws at most a few thousand cells. The session
thins a lane's whole history when the landscape view asks for it, the app then grows that path with each
report; both go through `Path`, so they keep the same points. The one rule: a path keeps its first point,
its latest point and its turning points (where the sign of either coordinate's step changes; a NaN step counts
as 0); each time the turns kept (with the first point) pass `cap`, every other one is dropped, counting back
from the latest. The latest turn always stays, so a path seeded from another's points goes on as that one
would: thinning all at once and growing point by point (or chunk by chunk) keep the same list. Older stretches
are thinned more often than recent ones. Torch-free (numpy, to thin a long history at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

CAP = 2048
Point = tuple[float, float]
Values = Sequence[float] | npt.NDArray[np.float64]  # a column of a history, a report or a test
_T = TypeVar("_T")


def _halve(kept: list[_T]) -> list[_T]:
    """The first and every other one after it, counting back from the last (which stays)."""
    return kept[:1] + kept[1 + len(kept) % 2 :: 2]


def _admit(kept: list[_T], new: list[_T], cap: int) -> list[_T]:
    """`kept` (extended in place) with `new` appended one at a time, halved whenever it passes `cap`."""
    i = 0
    while i < len(new):
        room = max(cap + 1 - len(kept), 1)  # appends until the next halving
        kept.extend(new[i : i + room])
        i += room
        if len(kept) > cap:
            kept = _halve(kept)
    return kept


def _signs(v: npt.NDArray[np.float64]) -> npt.NDArray[np.int8]:
    """The sign of each step along the last axis (-1, 0 or 1; 0 for NaN)."""
    step = np.diff(v)
    return (step > 0).astype(np.int8) - (step < 0)


class Path:
    """A thinned 2-D path: `points` holds the first point, the turning points kept and the latest point."""

    def __init__(self, cap: int = CAP) -> None:
        self.cap = cap
        self.kept: list[Point] = []  # the first point and the turns kept
        self.last: Point | None = None  # the latest point (kept only if it turns later)
        self._heading: tuple[int, int] | None = None  # the signs of the latest step
        self.count = 0  # points seen

    @classmethod
    def of(cls, xs: Values, ys: Values, cap: int = CAP) -> Path:
        path = cls(cap)
        path.extend(xs, ys)
        return path

    @classmethod
    def seeded(cls, points: list[Point], count: int | None = None, cap: int = CAP) -> Path:
        """A path that goes on from `points`, another path's `points` (the session's `thinned_path` of a lane)."""
        path = cls(cap)
        if points:
            path.kept, path.last = list(points[:-1]) or [points[0]], points[-1]
            path.count = count if count is not None else len(points)
            if len(points) > 1:  # the step before the last point heads as the stretch from the latest turn does
                (x0, y0), (x1, y1) = points[-2], points[-1]
                heads = _signs(np.array([[x0, x1], [y0, y1]]))
                path._heading = (int(heads[0, 0]), int(heads[1, 0]))
        return path

    def add(self, x: float, y: float) -> None:
        self.extend((x,), (y,))

    def extend(self, xs: Values, ys: Values) -> None:
        if len(xs) and self.last is None:
            self.last = (float(xs[0]), float(ys[0]))
            self.kept, self.count = [self.last], 1
            xs, ys = xs[1:], ys[1:]
        if not len(xs) or self.last is None:
            return
        xy = np.empty((2, len(xs) + 1))  # the previous latest point, then the new ones
        xy[:, 0], xy[0, 1:], xy[1, 1:] = self.last, xs, ys
        heads = _signs(xy)  # the headings of the new steps, a column each
        turns = np.empty(heads.shape[1], dtype=bool)  # turns[j]: point j (0: the previous latest) is a turn
        turns[1:] = (heads[:, 1:] != heads[:, :-1]).any(axis=0)
        turns[0] = self._heading is not None and (int(heads[0, 0]), int(heads[1, 0])) != self._heading
        x, y = xy
        at = np.flatnonzero(turns)
        if len(at) > self.cap:  # a long history at once: thin the positions (the kept as -n..-1), then take points
            slots = _admit(list(range(-len(self.kept), 0)), at.tolist(), self.cap)
            self.kept = [self.kept[s] if s < 0 else (float(x[s]), float(y[s])) for s in slots]
        elif len(at):
            self.kept = _admit(self.kept, list(zip(x[at].tolist(), y[at].tolist())), self.cap)
        self.last = (float(x[-1]), float(y[-1]))
        self._heading = (int(heads[0, -1]), int(heads[1, -1]))
        self.count += len(turns)

    @property
    def points(self) -> list[Point]:
        if self.last is None:
            return []
        return self.kept + [self.last] if self.count > 1 else list(self.kept)
