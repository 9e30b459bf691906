"""The Theory view's plot: the loss above the least squares', split by eigen-direction over the epochs.

Why: distill's milestones figure, for the learner's own problem: each direction's share of the loss falls at
its own rate, so one sees which direction is done and which still crawls (a log scale: the shares span many
decades). The epoch the run has reached is a line across it.
"""

from __future__ import annotations

import math
from typing import Any

from gdtui.colours import LANE_RGB
from gdtui.tui.widgets.figure import Axis, Canvas, Item, epoch_ticks, header, layout, log_ticks, render
from gdtui.tui.widgets.plots import CURSOR, SafePlot, _axis_rows


DECADES = 12  # the shares shown below the largest


class MilestonesPlot(SafePlot):
    """Each eigen-direction's share of the loss above L* (½λz²) at the predicted epochs, on a log scale."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epochs: list[int] = []
        self.shares: list[list[float]] = []  # one list a direction
        self.directions: list[str] = []
        self.now = 0  # the epoch the run has reached

    def draw(self, width: int, height: int) -> str:
        positive = [v for share in self.shares for v in share if v > 0 and math.isfinite(v)]
        if not self.epochs or not positive:
            return "the loss by eigen-direction: waiting for the theory"
        hi = math.log10(max(positive))
        lo = max(math.log10(min(positive)), hi - DECADES)  # a direction that is done falls off the bottom
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        y = Axis(lo, hi, *log_ticks(lo, hi, _axis_rows(height)), name="loss share")
        _, cols, rows = layout(width, height, y)
        last = max(self.epochs[-1], 2)
        x = Axis(1, last, *epoch_ticks(last, max(2, min(5, cols // 12))), name="epoch")
        canvas = Canvas(cols, rows, x, y)
        if 1 <= self.now <= last:
            canvas.line([self.now, self.now], [lo, hi], CURSOR)
        items = []
        for k, (share, label) in enumerate(zip(self.shares, self.directions)):
            color = LANE_RGB[k % len(LANE_RGB)]
            points = [(e, max(math.log10(v), lo)) for e, v in zip(self.epochs, share) if v > 0 and math.isfinite(v)]
            canvas.line([e for e, _ in points], [v for _, v in points], color)
            items.append(Item("━", color, label, label.split("·")[-1]))
        titles = ["The loss above the least squares', by eigen-direction", "Loss by direction"]
        return render(width, height, header(width, titles, items), canvas)
