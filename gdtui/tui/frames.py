"""When the app redraws its plots: at most ten frames a second, five while training runs, fewer when a frame
is slow, and only when something changed.

Why: log rows are written as each report arrives, but a plot costs milliseconds to draw; drawing once a frame
from the views' models, never once a report, keeps a fast run from flooding the screen.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from gdtui.tui.widgets.status import StatusLine

FRAME = 0.1


class Plot(Protocol):
    render_cost: float  # seconds its last frame took

    def replot(self) -> None: ...


class View(Protocol):
    def draw(self) -> None: ...


class Frames:
    """Draws the `plots` after their `views` (which set what they show) when `dirty`; measures epochs/s."""

    def __init__(self) -> None:
        self.status: StatusLine | None = None
        self.plots: Sequence[Plot] = ()
        self.views: Sequence[View] = ()
        self.dirty = False  # something to draw in the next frame
        self.last = 0.0
        self._speed_mark = (time.monotonic(), 0)

    def attach(self, status: StatusLine, plots: Sequence[Plot], views: Sequence[View]) -> None:
        """What to draw, once the app's widgets are mounted."""
        self.status, self.plots, self.views = status, plots, views

    def state_changed(self, running: bool, epoch: int) -> None:
        """The user is waiting for the new state word (space -> "paused"): it goes out in a frame of its own,
        cheap and at once, and the plots follow a frame later instead of holding it up."""
        now = time.monotonic()
        if running:
            self._speed_mark = (now, epoch)
        self.last = now

    def tick(self, running: bool) -> None:
        """Redraw if anything changed and the last frame is old enough (the session's core is its own, but the
        UI's frames must stay cheap)."""
        now = time.monotonic()
        if self.status is None:
            return
        if running:
            t0, e0 = self._speed_mark
            if now - t0 >= 0.5:
                self.status.speed = (self.status.epoch - e0) / (now - t0)
                self._speed_mark = (now, self.status.epoch)
        interval = max(2 * FRAME if running else FRAME, 4 * sum(plot.render_cost for plot in self.plots))
        if not self.dirty or now - self.last < interval:
            return
        self.dirty = False
        self.last = now
        for view in self.views:
            view.draw()
        for plot in self.plots:
            plot.replot()
