"""The app's landscape: what the view asks the session for (the pair, the span, the grid's size), the grids and
the lanes' paths it draws, the focused lane's curvature for the status line, and the LR range test.

Why: the landscape is the app's third view, with keys and replies of its own; its state lives here, beside the
lanes model, so app.py only routes keys and replies. The session computes every number (the grid, the paths'
thinning, the curvature, the ramp); this module only asks and draws. Torch-free.
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING, Any

from gdtui.engine.paths import Path
from gdtui.engine.surface import Curvature, Landscape
from gdtui.tui import messages
from gdtui.tui.lanes import COLORS
from gdtui.tui.widgets.landscape import LanePath

if TYPE_CHECKING:
    from gdtui.tui.app import GdtuiApp

Span = tuple[tuple[float, float], tuple[float, float]]
ZOOM = 2.0


class LandscapeControl:
    """The landscape view's state and keys: `shown` while its tab is active (the session computes grids only
    then), the pair and span asked for, and the paths, grown from every report between grids."""

    def __init__(self, app: GdtuiApp) -> None:
        self.app = app
        self.shown = False
        self.pair: tuple[str, str] | None = None
        self.span: Span | None = None  # None: the session's default (every path and the minimum)
        self.asked: tuple[Any, ...] | None = None
        self.grid: Landscape | None = None
        self.paths: dict[int, Path] = {}
        self.curvature: Curvature | None = None
        self.names: tuple[str, ...] = ()
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
            if not self.app._session_gone():
                self.app.session.send("landscape", None)

    def ask(self, force: bool = False) -> None:
        """Tell the session what the view needs (its pair, span and the widget's size), if that changed."""
        if not self.shown or self.app._session_gone():
            return
        cols, rows = self.app.landscape.area()
        want = (self.pair, self.span, (cols, 2 * rows))
        if force or want != self.asked:
            self.asked = want
            self.app.session.send("landscape", {"pair": self.pair, "span": self.span, "size": want[2]})

    # keys ---------------------------------------------------------------------------------------------------

    def _show_view(self) -> bool:
        """Bring the landscape tab up; False (the key does nothing more) if it was not up."""
        if self.app.tabs.active != "tab-land":
            self.app.tabs.active = "tab-land"
            return False
        return self.grid is not None

    def action_pair(self) -> None:
        if not self._show_view():
            return
        pairs = list(combinations(self.names, 2))
        if len(pairs) < 2:
            self.app.notify(f"The model has only {' and '.join(self.names)}.", title="landscape")
            return
        # on what was last asked for: a second o before the first grid arrives goes one pair further
        current = self.pair or (self.grid.pair if self.grid is not None else pairs[0])
        self.pair = pairs[(pairs.index(current) + 1) % len(pairs)] if current in pairs else pairs[0]
        self.span = None
        self.ask()

    def action_choose_pair(self) -> None:
        """Type the pair by name (any two of the model's parameters), in a small screen of its own."""
        from gdtui.tui.widgets.pair import PairScreen

        self.app.tabs.active = "tab-land"
        if len(self.names) < 2:
            self.app.notify("The model has fewer than two parameters: no landscape.", title="landscape")
            return
        current = self.pair or (self.grid.pair if self.grid is not None else None)

        def chosen(pair: tuple[str, str] | None) -> None:
            if pair is not None and not self.app._exit:
                self.pair, self.span = pair, None
                self.ask()

        self.app.push_screen(PairScreen(self.names, current), chosen)

    def action_zoom(self, factor: float) -> None:
        """Zoom in (factor < 1) or out about the span's center."""
        if not self._show_view():
            return
        (x0, x1), (y0, y1) = self._shown_span()
        cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 * factor, (y1 - y0) / 2 * factor
        self.span = ((cx - hx, cx + hx), (cy - hy, cy + hy))
        self.ask()

    def action_recenter(self) -> None:
        """The same span, centered on the focused lane's current point."""
        if not self._show_view():
            return
        point = self._current_point()
        if point is None:
            return
        (x0, x1), (y0, y1) = self._shown_span()
        hx, hy = (x1 - x0) / 2, (y1 - y0) / 2
        self.span = ((point[0] - hx, point[0] + hx), (point[1] - hy, point[1] + hy))
        self.ask()

    def action_fit(self) -> None:
        """Back to the default span: every path and the minimum."""
        if self._show_view():
            self.span = None
            self.ask()

    def action_lr_find(self) -> None:
        if not self.app._session_gone():
            self.app.notify("Ramping the lr from 1e-08 to 10 from the lane's start…", title="LR range test")
            self.app.session.send("lr_find", {})

    def _shown_span(self) -> Span:
        """The span last asked for (two quick + zoom twice), or the one in view where the session chose it."""
        if self.span is not None:
            return self.span
        grid = self.grid
        assert grid is not None
        return (grid.xs[0], grid.xs[-1]), (grid.ys[0], grid.ys[-1])

    def _current_point(self) -> tuple[float, float] | None:
        path = self.paths.get(self.app.race.lanes.focus)
        return path.last if path is not None else None

    # replies ------------------------------------------------------------------------------------------------

    def on_curvature(self, event: messages.CurvatureKnown) -> None:
        self.curvature = event.curvature
        self.app.status.limit = event.curvature.lr_limit

    def on_ready(self, names: tuple[str, ...]) -> None:
        """A new run, a reset or a change of lanes: the paths start anew with the next grid."""
        if names != self.names:
            self.names, self.pair, self.span = names, None, None
        self.paths = {}
        self.grid = None if names != getattr(self.grid, "names", names) else self.grid
        self.dirty = True

    def on_landscape(self, event: messages.LandscapeReady) -> None:
        if event.lane != self.app.race.lanes.focus or not self.shown:
            return
        self.grid = event.grid
        self.names = event.grid.names
        if event.paths is not None:
            self.paths = {lane: Path.seeded(points) for lane, points in event.paths.items()}
        self.on_curvature(messages.CurvatureKnown(event.lane, event.curvature))
        self.dirty = self.app._dirty = True

    def extend(self, lane_id: int, chunk: Any) -> None:
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
        model = self.app.race.lanes
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
        self.app.landscape.show(grid, lanes, note)
