"""The Theory view's plot: the loss above the least squares', split by eigen-direction over the epochs.

Why: distill's milestones figure, for the learner's own problem: each direction's share of the loss falls at
its own rate, so one sees which direction is done and which still crawls (a log scale: the shares span many
decades). The epoch the run has reached is a line across it.
"""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text
from textual.widget import Widget

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
        self.off = False  # the theory does not apply to the lane: nothing to wait for

    def draw(self, width: int, height: int) -> str:
        positive = [v for share in self.shares for v in share if v > 0 and math.isfinite(v)]
        if not self.epochs or not positive:
            return "" if self.off else "the loss by eigen-direction: waiting for the theory"
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
            items.append(Item("━", color, label, label.split(" ")[0]))
        titles = ["The loss above the least squares', by eigen-direction", "Loss by direction"]
        return render(width, height, header(width, titles, items), canvas)


SWEEP = (230, 159, 0)  # a schedule's path on the rate map
KIND_MARKS = ("·", "~", "±", "✕")  # monotone, ripples, oscillation, divergence (gdtui.engine.dynamics.KINDS)


class RateMap(Widget):
    """The (lr, momentum) plane of the focused lane's problem: each cell shaded by the rate there (the slowest
    direction's: bright where it converges in few epochs, dark where it crawls, red where it diverges) and
    marked by how the fastest direction moves; the lanes of the same problem as dots (● the focused one)."""

    DEFAULT_CSS = "RateMap { height: 1fr; min-height: 6; }"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.eigenvalues: tuple[float, ...] = ()
        self.lanes: list[tuple[float, float, tuple[int, int, int], bool]] = []  # lr, β, colour, focused
        self.sweep: tuple[tuple[float, float], ...] = ()  # a schedule's (lr, β) over the epochs: its path
        self.off = False  # the theory does not apply to the lane: nothing to wait for

    def axes(self, cols: int, rows: int) -> tuple[Any, Any]:
        """The lr of each column (log-spaced about the stability edges) and the β of each row (top: 0.999)."""
        import numpy as np

        lam = self.eigenvalues
        hi = 4.0 / lam[-1] * 1.25
        lo = 2.0 / (lam[0] + lam[-1]) / 1e4
        lrs = np.geomspace(lo, hi, cols)
        betas = 1 - 10.0 ** (-3.0 * np.arange(rows - 1, -1, -1) / max(rows - 1, 1))
        betas[-1] = 0.0
        return lrs, betas

    def render(self) -> Text:
        import numpy as np

        from gdtui.engine.dynamics import KINDS, rate_map, rates

        width, height = self.size
        if len(self.eigenvalues) == 0 or width < 20 or height < 4:
            return Text("" if self.off else "the rate map: waiting for the theory")
        label = 7
        cols, rows = width - label - 1, height - 2
        lrs, betas = self.axes(cols, rows)
        lam = np.asarray(self.eigenvalues, np.float64)
        rate, _, fast = rate_map(lam, lrs, betas)
        dots: dict[tuple[int, int], tuple[str, tuple[int, int, int]]] = {}
        for lr, beta in self.sweep:  # under the lanes' dots: the path the schedule takes over the epochs
            if lr > 0:
                col = int(np.argmin(np.abs(np.log(lrs) - math.log(lr))))
                dots[(int(np.argmin(np.abs(betas - beta))), col)] = ("━", SWEEP)
        for lane_lr, lane_beta, color, is_focused in self.lanes:
            if lane_lr <= 0:
                continue
            col = int(np.argmin(np.abs(np.log(lrs) - math.log(lane_lr))))
            row = int(np.argmin(np.abs(betas - lane_beta)))
            if (row, col) not in dots or is_focused:
                dots[(row, col)] = ("●" if is_focused else "•", color)
        text = Text(no_wrap=True, overflow="crop")
        text.append("rate map β╲lr", style="bold")
        text.append(" · bright: fast · dark: slow · ✕ diverges · ~ ripples · ± oscillates\n")
        for r in range(rows):
            beta = betas[r]
            text.append(f"{beta:<{label}.3g}"[:label] + "│")
            for c in range(cols):
                mark, color = dots.get((r, c), (KIND_MARKS[int(fast[r, c])], (0, 0, 0)))
                value = float(rate[r, c])
                background = _shade(value)
                fg = color if (r, c) in dots else (230, 230, 230)
                bold = "bold " if (r, c) in dots else ""
                text.append(mark, style=f"{bold}{_rgb(fg)} on {_rgb(background)}")
            text.append("\n")
        text.append(" " * label + f"└ lr {lrs[0]:.2g} … {lrs[-1]:.2g}")
        for lr, beta, _, is_focused in self.lanes:
            if is_focused:
                k_slow, k_fast = rate_map(lam, np.array([lr]), np.array([beta]))[1:]
                slowest, fastest = KINDS[int(k_slow[0, 0])], KINDS[int(k_fast[0, 0])]
                text.append(f"   ● rate {float(rates(lam, lr, beta).max()):.7g}: slowest {slowest}, fastest {fastest}")
        return text


def _shade(rate: float) -> tuple[int, int, int]:
    """A cell's colour: red past the edge; else from bright (an e-fold in an epoch) to dark (in 10⁷ epochs)."""
    if not rate < 1:
        return (120, 20, 20)
    folds = 1.0 / max(-math.log(max(rate, 1e-300)), 1e-300)  # epochs per e-fold of the slowest direction
    t = min(max(math.log10(max(folds, 1.0)) / 7.0, 0.0), 1.0)
    return (int(40 + 180 * (1 - t) * 0.6), int(40 + 180 * (1 - t)), int(60 + 120 * (1 - t) * 0.4))


def _rgb(color: tuple[int, int, int]) -> str:
    return "rgb({},{},{})".format(*color)
