"""The app's landscape: what the view asks the session for (the pair, the span, the grid's size), the grids and
the lanes' paths it draws, the focused lane's curvature for the status line, and the LR range test.

Why: the landscape is the app's third view, with keys and replies of its own; its state lives here, beside the
lanes model, so app.py only routes keys and replies. The session computes every number (the grid, the paths'
thinning, the curvature, the ramp); this module only asks and draws. Torch-free.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import TYPE_CHECKING, Any

from textual.widgets import TabbedContent

from gdtui.engine import protocol as p
from gdtui.engine.history import Chunk
from gdtui.engine.protocol import Span
from gdtui.engine.surface import Curvature, Landscape
from gdtui.tui.lanes import COLORS, LanesModel
from gdtui.tui.race_view import describe
from gdtui.tui.routes import Routes
from gdtui.tui.shell import Shell
from gdtui.tui.widgets.landscape import LandscapeView, LanePath
from gdtui.tui.widgets.status import StatusLine

if TYPE_CHECKING:
    from gdtui.engine.paths import Path  # numpy: loaded with the first paths, not with the app

ZOOM = 2.0
MAX_HALF = 1e15  # a span's half width at most: beyond, a float32 model's loss overflows on most of the grid
MIN_HALF = 1e-9  # and at least, relative to its center (or to 1 near 0): a grid's columns stay distinct floats


def half_width(center: float, wanted: float) -> float:
    """`wanted`, clamped to the half widths whose grid stays finite and distinct about `center`."""
    return min(max(wanted, MIN_HALF * max(abs(center), 1.0)), MAX_HALF)


class LandscapeControl:
    """The landscape view's state and keys: `shown` while its tab is active (the session computes grids only
    then), the pair and span asked for, and the paths, grown from every report between grids."""

    def __init__(
        self, shell: Shell, view: LandscapeView, tabs: TabbedContent, status: StatusLine, lanes: LanesModel
    ) -> None:
        self.shell, self.view, self.tabs, self.status, self.lanes = shell, view, tabs, status, lanes
        self.shown = False
        self.pair: tuple[str, str] | None = None
        self.span: Span | None = None  # None: the session's default (every path and the minimum)
        self.asked: tuple[Any, ...] | None = None
        self.grid: Landscape | None = None
        self.paths: dict[int, Path] = {}
        self.curvature: Curvature | None = None
        self.names: tuple[str, ...] = ()
        self.viewing: dict[str, float] | None = None  # time travel: the focused lane's parameters at the epoch in view
        self.dirty = False

    # asking -------------------------------------------------------------------------------------------------

    def set_shown(self, shown: bool) -> None:
        if shown == self.shown:
            return
        self.shown = shown
        if shown:
            self.ask(force=True)
        else:
            self.asked = None
            self.shell.send(p.UnwatchLandscape())

    def ask(self, force: bool = False) -> None:
        """Tell the session what the view needs (its pair, span and the widget's size), if that changed."""
        if not self.shown:
            return
        cols, rows = self.view.area()
        want = (self.pair, self.span, (cols, 2 * rows))
        if (force or want != self.asked) and self.shell.send(p.WatchLandscape(*want)):
            self.asked = want

    # keys ---------------------------------------------------------------------------------------------------

    def _show_view(self) -> bool:
        """Bring the landscape tab up; False (the key does nothing more) if it was not up."""
        if self.tabs.active != "tab-land":
            self.tabs.active = "tab-land"
            return False
        return self.grid is not None

    def action_pair(self) -> None:
        if not self._show_view():
            return
        pairs = list(combinations(self.names, 2))
        if len(pairs) < 2:
            self.shell.notify(f"The model has only {' and '.join(self.names)}.", title="landscape")
            return
        # on what was last asked for: a second o before the first grid arrives goes one pair further
        current = self.pair or (self.grid.pair if self.grid is not None else pairs[0])
        self.pair = pairs[(pairs.index(current) + 1) % len(pairs)] if current in pairs else pairs[0]
        self.span = None
        self.ask()

    def action_choose_pair(self) -> None:
        """Type the pair by name (any two of the model's parameters), in a small screen of its own."""
        from gdtui.tui.widgets.pair import PairScreen

        self.tabs.active = "tab-land"
        if len(self.names) < 2:
            self.shell.notify("The model has fewer than two parameters: no landscape.", title="landscape")
            return
        current = self.pair or (self.grid.pair if self.grid is not None else None)

        def chosen(pair: tuple[str, str] | None) -> None:
            if pair is not None:
                self.pair, self.span = pair, None
                self.ask()

        self.shell.push_screen(PairScreen(self.names, current), chosen)

    def action_zoom(self, factor: float) -> None:
        """Zoom in (factor < 1) or out about the span's center."""
        if not self._show_view():
            return
        (x0, x1), (y0, y1) = self._shown_span()
        cx, cy, old_x, old_y = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
        hx, hy = half_width(cx, old_x * factor), half_width(cy, old_y * factor)
        if math.isclose(hx, old_x, rel_tol=1e-6) and math.isclose(hy, old_y, rel_tol=1e-6):
            self.shell.notify("The landscape zooms no further this way: 0 fits it again.", title="landscape")
            return
        self.span = ((cx - hx, cx + hx), (cy - hy, cy + hy))
        self.ask()

    def action_recenter(self) -> None:
        """The same span, centered on the focused lane's current point."""
        if not self._show_view():
            return
        point = self._current_point()
        if point is None or not all(map(math.isfinite, point)):
            return  # no point yet, or a diverged lane's
        (x0, x1), (y0, y1) = self._shown_span()
        hx, hy = half_width(point[0], (x1 - x0) / 2), half_width(point[1], (y1 - y0) / 2)
        self.span = ((point[0] - hx, point[0] + hx), (point[1] - hy, point[1] + hy))
        self.ask()

    def action_fit(self) -> None:
        """Back to the default span: every path and the minimum."""
        if self._show_view():
            self.span = None
            self.ask()

    def action_lr_find(self) -> None:
        if self.shell.send(p.FindLr()):
            self.shell.notify("Ramping the lr from 1e-08 to 10 from the lane's start…", title="LR range test")

    def on_lr_found(self, reply: p.LrFound) -> None:
        """The LR test's curves, in a screen whose pick (enter) the lane takes as its lr."""
        from gdtui.tui.widgets.lr_find import LrFindScreen

        if reply.lane != self.lanes.focus:
            return  # the focus moved on while the ramp ran

        def apply(lr: float | None) -> None:
            if lr is not None:
                self.shell.apply("lr", lr)

        screen = LrFindScreen(reply.result, self.shell.config.lr, describe(self.lanes, reply.lane))
        self.shell.push_screen(screen, apply)

    def _shown_span(self) -> Span:
        """The span last asked for (two quick + zoom twice), or the one in view where the session chose it."""
        if self.span is not None:
            return self.span
        grid = self.grid
        assert grid is not None
        return (grid.xs[0], grid.xs[-1]), (grid.ys[0], grid.ys[-1])

    def _current_point(self) -> tuple[float, float] | None:
        path = self.paths.get(self.lanes.focus)
        return path.last if path is not None else None

    # replies ------------------------------------------------------------------------------------------------

    def replies(self) -> Routes:
        return {
            p.Ready: lambda reply: self.on_ready(reply.info.names),
            p.Results: lambda reply: self.extend(reply.lane, reply.chunk),
            p.CurvatureKnown: self.on_curvature,
            p.LandscapeReady: self.on_landscape,
            p.LrFound: self.on_lr_found,
        }

    def on_curvature(self, reply: p.CurvatureKnown) -> None:
        if reply.lane == self.lanes.focus:
            self.curvature = reply.curvature
            self.status.limit = reply.curvature.lr_limit
            self.status.uncomputed = not reply.curvature.computed

    def on_ready(self, names: tuple[str, ...]) -> None:
        """A new run, a reset or a change of lanes: the paths start anew with the next grid."""
        if names != self.names:
            self.names, self.pair, self.span = names, None, None
        self.paths = {}
        self.grid = None if names != getattr(self.grid, "names", names) else self.grid
        self.dirty = True

    def on_landscape(self, reply: p.LandscapeReady) -> None:
        if reply.lane != self.lanes.focus or not self.shown:
            return
        self.grid = reply.grid
        self.names = reply.grid.names
        if reply.paths is not None:
            from gdtui.engine.paths import Path

            self.paths = {lane: Path.seeded(points) for lane, points in reply.paths.items()}
        self.on_curvature(p.CurvatureKnown(reply.lane, reply.curvature))
        self.dirty = True
        self.shell.redraw()

    def extend(self, lane_id: int, chunk: Chunk) -> None:
        """A lane's new epochs (a Chunk) grow its path."""
        path, grid = self.paths.get(lane_id), self.grid
        if path is None or grid is None or len(chunk) == 0 or tuple(chunk.names) != grid.names:
            return
        i, j = grid.names.index(grid.pair[0]), grid.names.index(grid.pair[1])
        path.extend(chunk.params[i], chunk.params[j])
        self.dirty = True

    # drawing ------------------------------------------------------------------------------------------------

    def draw(self) -> None:
        """Lay the paths over the grid (once a frame, when the view is up), and ask again if the view resized."""
        if not self.shown:
            return
        self.ask()
        self.dirty = False
        model = self.lanes
        several = len(model) > 1
        lanes = []
        for lane_id, path in self.paths.items():
            lane = model.get(lane_id)
            color = lane.color if lane is not None and several else COLORS[0]
            label = str(lane.number) if lane is not None and several else "•"
            lanes.append(LanePath(color, path.points, lane_id == model.focus, label))
        grid = self.grid
        note = "" if grid is not None else "the landscape: computing…"
        if grid is None and len(self.names) == 1:
            note = f"the landscape needs two parameters: this model has one, {self.names[0]}"
        pinned = None
        if grid is not None and self.viewing is not None and all(name in self.viewing for name in grid.pair):
            pinned = (self.viewing[grid.pair[0]], self.viewing[grid.pair[1]])
        self.view.show(grid, lanes, note, pinned)
