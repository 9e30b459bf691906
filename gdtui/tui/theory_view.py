"""The Theory view: why the focused lane converges as it does, beside its run (gdtui.engine.theory).

Why: the status line says whether a run diverges; this says why it crawls, for the learner's own data, model
and settings: the eigen-directions of the loss, κ, each direction's rate, the epochs to the target, the best
lr and momentum (B and M apply them to the focused lane), the loss split by direction over the epochs, and the
predicted curve drawn on the loss curve beside the measured one. The session computes it only while the view
is up, and anew after every change of the focused lane; where the prediction and the run part by more than
the dtype's tolerance, the view says at which epoch.
"""

from __future__ import annotations

import math

from textual.widgets import Static

from gdtui.engine import protocol as p
from gdtui.engine.dynamics import applies
from gdtui.tui.lanes import LanesModel
from gdtui.tui.routes import Routes
from gdtui.tui.shell import Shell
from gdtui.tui.widgets.plots import LossCurve
from gdtui.tui.widgets.status import StatusLine
from gdtui.tui.widgets.theory import MilestonesPlot, RateMap

# How far the run's RMSE may be from the prediction (relative) before the view says they disagree: float64
# holds to 1e-9 (tested); float32 to about 1e-6 while the loss is well above its rounding floor (measured on
# the presets over 3,000 epochs: 3e-7 to 1e-6), and near the floor rounding alone moves it by percents.
TOLERANCE = {"float64": 1e-7, "float32": 1e-4}
FLOOR = 1e-3  # below this fraction of the first epoch's RMSE, float rounding is not a disagreement


class TheoryControl:
    """The theory of the focused lane: asked while shown, drawn as text, milestones and a predicted curve."""

    def __init__(
        self,
        shell: Shell,
        text: Static,
        plot: MilestonesPlot,
        rate_map: RateMap,
        curve: LossCurve,
        lanes: LanesModel,
        status: StatusLine,
    ) -> None:
        self.shell, self.text, self.plot, self.curve, self.lanes = shell, text, plot, curve, lanes
        self.rate_map, self.status = rate_map, status
        self.dirty = False
        self.shown = False
        self.known: p.TheoryKnown | None = None
        self.disagree: int | None = None  # the first epoch where the run left the prediction

    def set_shown(self, shown: bool) -> None:
        if shown != self.shown:
            self.shown = shown
            self.shell.send(p.WatchTheory(shown))
            if not shown:  # no theory is kept up to date: no claim about it
                self.status.theory_off = None

    # keys -----------------------------------------------------------------------------------------------

    def action_best_lr(self) -> None:
        """B: the exact best lr, 2/(λ1 + λn), to the focused lane."""
        known = self.known
        if known is None or known.best_lr is None:
            self.shell.notify("No theory of this run (t shows the Theory view).", title="theory")
            return
        self.shell.apply("lr", known.best_lr)

    def action_best_pair(self) -> None:
        """M: the exact best momentum pair to the focused lane (a gd lane becomes sgd with that momentum)."""
        known = self.known
        if known is None or known.best_pair is None:
            self.shell.notify("No theory of this run (t shows the Theory view).", title="theory")
            return
        lr, beta = known.best_pair
        if self.shell.config.optimizer != "sgd":
            self.shell.apply("optimizer", "sgd")
        self.shell.apply("momentum", beta)
        self.shell.apply("lr", lr)

    # replies --------------------------------------------------------------------------------------------

    def replies(self) -> Routes:
        return {p.TheoryKnown: self.on_theory, p.Ready: self.on_ready, p.Results: lambda _: self.check()}

    def on_ready(self, reply: p.Ready) -> None:
        self.known, self.disagree = None, None
        self.status.theory_off = None
        self.curve.predicted = []
        self.rate_map.eigenvalues = ()
        self.plot.off = self.rate_map.off = False
        self.text.update("the theory: computing…" if self.shown else "")

    def on_theory(self, reply: p.TheoryKnown) -> None:
        if reply.lane != self.lanes.focus:
            return
        self.known = reply
        if reply.why is not None:
            self.text.update(f"The theory does not apply to this lane: {reply.why}. The loss curve shows the run.")
            self.plot.epochs, self.plot.shares, self.curve.predicted = [], [], []
            self.status.theory_off = None
        else:
            self.plot.epochs, self.plot.directions = list(reply.epochs), list(reply.directions)
            self.plot.shares = [list(share) for share in reply.shares]
            self.curve.predicted = [(float(e), r) for e, r in zip(reply.epochs, reply.rmse)]
        self.rate_map.eigenvalues = reply.eigenvalues if reply.why is None else ()
        self.plot.off = self.rate_map.off = reply.why is not None
        self.rate_map.sweep = reply.sweep
        self.check()
        self.shell.redraw()

    def draw(self) -> None:
        """Once a frame while shown: the lanes of the focused lane's problem as dots on the rate map (their lr and
        momentum as the session last confirmed them: a live change moves the dot)."""
        if not self.shown:
            return
        focused = self.lanes.get(self.lanes.focus)
        dots = []
        for lane in self.lanes.lanes:
            c = lane.config
            same = focused is not None and (c.model, c.loss) == (focused.config.model, focused.config.loss)
            if same and applies(c) is None:
                dots.append((c.lr, c.effective_momentum, lane.color, lane.id == self.lanes.focus))
        if dots != self.rate_map.lanes:
            self.rate_map.lanes = dots
            self.rate_map.refresh()

    def check(self) -> None:
        """Where the focused lane's RMSE left the prediction (the text's last line says so)."""
        known, lane = self.known, self.lanes.get(self.lanes.focus)
        if known is None or known.why is not None or lane is None:
            return
        series = lane.series
        self.plot.now = len(series)
        tolerance = TOLERANCE.get(self.shell.config.dtype, 1e-4)
        floor = FLOOR * series[0] if len(series) else 0.0
        self.disagree = None
        for epoch, predicted in zip(known.epochs, known.rmse):
            if epoch > len(series):
                break
            measured = series[epoch - 1]
            if measured > floor and not math.isclose(measured, predicted, rel_tol=tolerance):
                self.disagree = epoch
                break
        self.status.theory_off = self.disagree
        lines = list(known.lines)
        if self.disagree is not None:
            lines.append(f"⚠ the run left the prediction at epoch {self.disagree:,} (beyond {tolerance:g} relative)")
        self.text.update("\n".join(lines))
        self.shell.redraw()
