"""The session's landscape view: the loss surface over a pair of the focused lane's parameters, kept current.

Why: a grid costs many forward passes, so it is computed only when the view needs a new one, and a slice at a
time. While a landscape is watched, the session recomputes it when the focused lane, the pair, the span or the
size change, when an automatic span no longer holds the current point, or when a held parameter has moved by more
than a cell (its path's range over the grid's columns); a block of grid points at a time between chunks, at most
the session's CHUNK_SECONDS of them, so training is never held up by more than a chunk.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gdtui.engine import protocol as p
from gdtui.engine.session_jobs import NO_CURVATURE
from gdtui.engine.session_part import SessionPart

if TYPE_CHECKING:
    from gdtui.engine.surface import Landscape
    from gdtui.engine.trainer import Trainer


@dataclass
class Watch:
    """What the UI's landscape view asked for, and the grid last computed for it."""

    pair: tuple[str, str] | None
    span: tuple[tuple[float, float], tuple[float, float]] | None
    size: tuple[int, int]
    paths_wanted: bool = True
    computed: tuple[Any, ...] | None = None  # (focus, pair, span asked, size) of the grid sent
    held: list[float] | None = None
    tolerance: list[float] | None = None
    shown_span: tuple[tuple[float, float], tuple[float, float]] | None = None
    job: Any = None  # a landscape_job generator under way, with its key
    job_key: tuple[Any, ...] | None = None


class SessionLandscape(SessionPart):
    """The landscape the UI watches (None: no view up), computed between chunks and sent when done."""

    watch: Watch | None

    def landscape_pending(self) -> bool:
        """Whether a grid is under way (the loop goes on computing it while no command waits)."""
        return self.watch is not None and self.watch.job is not None

    def _wanted(self, watch: Watch, t: Trainer) -> tuple[Any, ...] | None:
        """The key of the grid the view needs now, or None if the one sent still holds."""
        names = t.names
        if len(names) < 2:
            return None
        pair = watch.pair if watch.pair and all(n in names for n in watch.pair) else (names[0], names[1])
        key = (self.focus, pair, watch.span, watch.size)
        if watch.paths_wanted or key != watch.computed or watch.held is None or watch.tolerance is None:
            return key
        from gdtui.engine.landscape import params_at

        now = params_at(t)
        i, j = names.index(pair[0]), names.index(pair[1])
        if any(
            abs(a - b) > tol for k, (a, b, tol) in enumerate(zip(now, watch.held, watch.tolerance)) if k not in (i, j)
        ):
            return key
        if watch.span is None and watch.shown_span is not None:
            (x0, x1), (y0, y1) = watch.shown_span
            if not (x0 <= now[i] <= x1 and y0 <= now[j] <= y1):
                return key
        return None

    def tend_landscape(self) -> None:
        """Start the grid the view needs, and compute blocks of it: up to CHUNK_SECONDS of them while training
        runs, else until done or a command waits."""
        try:
            self._tend_landscape()
        except Exception:
            self.watch = None  # reported by obey; the view asks again when it is next shown
            raise

    def _tend_landscape(self) -> None:
        from gdtui.engine.landscape import landscape_job

        watch, t, race = self.watch, self.trainer, self.race
        if watch is None or t is None or race is None:
            return
        key = self._wanted(watch, t)
        if key is not None and key != watch.job_key:
            others = [lane.trainer for lane in race.lanes if lane.id != self.focus]
            try:
                grid = landscape_job(t, key[1], key[3], key[2], paths=others)
            except ValueError as error:  # a model with no landscape
                self.watch = None
                self.conn.send(p.Error("landscape", str(error)))
                return
            watch.job, watch.job_key = _with_curvature(t, grid), key
        if watch.job is None:
            return
        end = time.perf_counter() + self.chunk_seconds()
        while not self.conn.poll():  # a command first: a slice can take tens of ms
            try:
                next(watch.job)
            except StopIteration as done:
                assert watch.job_key is not None
                self._send_landscape(watch, t, watch.job_key, done.value)
                return
            if time.perf_counter() > end:
                return

    def _send_landscape(self, watch: Watch, t: Trainer, key: tuple[Any, ...], done: Any) -> None:
        import numpy as np

        from gdtui.engine.landscape import same_axes, sampled_params, thinned_path

        grid, curve = done
        race = self.race
        assert race is not None
        pair = grid.pair
        watch.job = watch.job_key = None
        watch.computed, watch.held = key, grid.held
        watch.shown_span = ((grid.xs[0], grid.xs[-1]), (grid.ys[0], grid.ys[-1]))
        # A held parameter's cell: its path's range (and the distance to the minimum) over the grid's columns.
        held = np.asarray(grid.held, np.float64)
        seen = [held[None, :], sampled_params(t)]
        if grid.minimum is not None:
            seen.append(np.asarray(grid.minimum, np.float64)[None, :])
        values = np.concatenate(seen)
        moved = np.fmax.reduce(values, axis=0) - np.fmin.reduce(values, axis=0)  # NaN left out, as max() did
        spread = np.fmax(np.fmax(moved, np.abs(held) * 1e-3), 1e-12)
        watch.tolerance = (spread / key[3][0]).tolist()
        paths = None
        if watch.paths_wanted:
            paths = {lane.id: thinned_path(lane.trainer, pair) for lane in race.lanes if same_axes(lane.trainer, t)}
            watch.paths_wanted = False
        self.conn.send(p.LandscapeReady(self.focus, grid, paths, curve))


def _with_curvature(t: Trainer, grid: Generator[None, None, Landscape]) -> Generator[None, None, Any]:
    """A landscape_job, then the curvature at its held parameters, both a slice at a time: (grid, curvature)."""
    from gdtui.engine.landscape import curvature_job

    done = yield from grid
    try:
        curve = yield from curvature_job(t, done.held)
    except ValueError:  # a model with no landscape
        curve = NO_CURVATURE
    return done, curve
