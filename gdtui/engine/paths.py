"""A lane's path through two of its parameters, thinned for drawing as it grows.

Why: a run of a million epochs is a million points, and a view draws at most a few thousand cells. A path keeps
its ends and its turning points (where either coordinate changes direction); past `cap` points it drops every
other interior point, so memory and drawing stay bounded however long the run. Torch-free: the session builds
a path from a lane's history, the app extends it with each report, and both thin it the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

CAP = 2048


def _sign(v: float) -> int:
    return (v > 0) - (v < 0)


class Path:
    """A thinned 2-D path: `points` holds the first point, the turning points (up to `cap` of them, thinned
    further by halving beyond) and always the latest point."""

    def __init__(self, cap: int = CAP) -> None:
        self.cap = cap
        self.kept: list[tuple[float, float]] = []
        self.last: tuple[float, float] | None = None  # the latest point (kept only if it turns later)
        self._heading: tuple[int, int] | None = None
        self.count = 0  # points seen

    @classmethod
    def of(cls, xs: Iterable[float], ys: Iterable[float], cap: int = CAP) -> Path:
        path = cls(cap)
        path.extend(xs, ys)
        return path

    @classmethod
    def seeded(cls, points: list[tuple[float, float]], count: int | None = None, cap: int = CAP) -> Path:
        """A path that goes on from `points`, already thinned (the session's `thinned_path` of a lane)."""
        path = cls(cap)
        if points:
            path.kept, path.last = list(points[:-1]) or [points[0]], points[-1]
            path.count = count if count is not None else len(points)
            if len(points) > 1:
                (x0, y0), (x1, y1) = points[-2], points[-1]
                path._heading = (_sign(x1 - x0), _sign(y1 - y0))
        return path

    def extend(self, xs: Iterable[float], ys: Iterable[float]) -> None:
        for x, y in zip(xs, ys):
            self.add(x, y)

    def add(self, x: float, y: float) -> None:
        self.count += 1
        last = self.last
        self.last = (x, y)
        if last is None:
            self.kept.append((x, y))
            return
        heading = (_sign(x - last[0]), _sign(y - last[1]))
        if self._heading is not None and heading != self._heading:
            self.kept.append(last)  # the previous point was a turn
            if len(self.kept) > self.cap:
                self.kept = self.kept[:1] + self.kept[2::2]
        self._heading = heading

    @property
    def points(self) -> list[tuple[float, float]]:
        if self.last is None:
            return []
        return self.kept + [self.last] if self.count > 1 else list(self.kept)
