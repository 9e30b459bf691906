"""Time travel: any epoch of the focused lane in view, while the run goes on.

Why: gdtui shows the present; a learner who saw something happen at epoch 40 goes back to it. This view owns
the epoch in view (None: the present) and asks the session for the lane as it stood then (a Revisit); the
reply puts that epoch in every view: the predictions, a cursor on the loss curve and in the RMSE log, the
landscape's ● on its path, the parameters in the plot's title and the status line ("viewing epoch 1,913 of
20,000 · live: L"). Training goes on meanwhile; `b` branches from the epoch in view (the log's cursor).
Keys: `,` and `.` one epoch back and forward (held: continuous), `g` types an epoch, `L` back to live; the
log's up and down move its cursor, a click on a row travels to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gdtui.engine import protocol as p
from gdtui.engine.history import params_text
from gdtui.tui.lanes import LanesModel
from gdtui.tui.routes import Routes
from gdtui.tui.shell import Shell
from gdtui.tui.widgets.plots import LossCurve, PredictionPlot
from gdtui.tui.widgets.rmse_log import RmseLog
from gdtui.tui.widgets.status import StatusLine

if TYPE_CHECKING:
    from gdtui.tui.landscape_view import LandscapeControl
    from gdtui.tui.widgets.step import StepScreen


class TravelControl:
    """The epoch in view and the keys that move it; the Revisited replies that show it."""

    def __init__(
        self,
        shell: Shell,
        lanes: LanesModel,
        log: RmseLog,
        plot: PredictionPlot,
        curve: LossCurve,
        status: StatusLine,
        land: LandscapeControl,
    ) -> None:
        self.shell, self.lanes, self.log, self.plot, self.curve = shell, lanes, log, plot, curve
        self.status, self.land = status, land
        self.epoch: int | None = None  # the epoch in view; None: the present
        self.shown: p.Revisited | None = None  # the session's reply for it (the views show it once it comes)
        self.names: tuple[str, ...] = ()  # the focused lane's parameters
        self.step_screen: StepScreen | None = None  # `e`: the step explained, while it shows

    @property
    def latest(self) -> int:
        """The focused lane's last epoch trained."""
        lane = self.lanes.get(self.lanes.focus)
        return len(lane.series) if lane is not None else 0

    # keys -----------------------------------------------------------------------------------------------

    def action_back(self) -> None:
        """`,`: one epoch back (from the present: the epoch before the latest)."""
        now = self.latest if self.epoch is None else self.epoch
        if now <= 0:
            self.shell.notify("Epoch 0 is the start: nothing before it.", title="time travel")
            return
        self.go(now - 1)

    def action_forward(self) -> None:
        """`.`: one epoch forward; past the latest, back to the present."""
        if self.epoch is None:
            self.shell.notify("Already live: , goes back an epoch, g to an epoch.", title="time travel")
        elif self.epoch >= self.latest:
            self.live()
        else:
            self.go(self.epoch + 1)

    def action_goto(self) -> None:
        """`g`: type an epoch, in a small screen of its own."""
        from gdtui.tui.widgets.epoch import EpochScreen

        def chosen(epoch: int | None) -> None:
            if epoch is not None:
                self.go(epoch)

        self.shell.push_screen(EpochScreen(self.latest, self.epoch), chosen)

    def action_live(self) -> None:
        """`L`: back to the present."""
        if self.epoch is not None:
            self.live()

    def action_explain(self) -> None:
        """`e`: the step that led to the epoch in view (live: the latest), explained with its numbers."""
        from gdtui.tui.widgets.step import StepScreen

        epoch = self.latest if self.epoch is None else self.epoch
        if epoch < 1:
            self.shell.notify("No step yet: epoch 0 is the start (s trains one).", title="step")
            return
        screen = StepScreen(self.explain, self.move, epoch)
        self.step_screen = screen
        self.shell.push_screen(screen, lambda _: setattr(self, "step_screen", None))
        self.explain(epoch, None, False)

    def explain(self, epoch: int, batch: int | None, check: bool) -> None:
        self.shell.send(p.Explain(epoch, batch, check))

    def move(self, delta: int) -> None:
        """The step screen's `,` and `.`: the epoch in view moves, and its step is explained."""
        epoch = (self.latest if self.epoch is None else self.epoch) + delta
        if 1 <= epoch <= self.latest:
            self.go(epoch)
            screen = self.step_screen
            self.explain(epoch, None, screen.check if screen is not None else False)

    def go(self, epoch: int) -> None:
        """Put `epoch` of the focused lane in view (within 0 and its latest)."""
        epoch = min(max(epoch, 0), self.latest)
        if self.shell.send(p.Revisit(epoch)):
            self.epoch = epoch
            self.log.show_epoch(epoch)
            self.curve.cursor = epoch
            self.status.viewing = (epoch, self.latest)
            self.shell.redraw()

    def live(self) -> None:
        """Back to the present: every view follows the run again."""
        was = self.epoch
        self.epoch, self.shown = None, None
        self.log.show_epoch(None)
        self.plot.viewing = None
        self.curve.cursor = None
        self.land.viewing = None
        self.status.viewing = None
        if was is not None:
            self.shell.send(p.Revisit(None))
        self.shell.redraw()

    # replies --------------------------------------------------------------------------------------------

    def replies(self) -> Routes:
        return {
            p.Revisited: self.on_revisited,
            p.Ready: self.on_ready,
            p.Results: self.on_results,
            p.Explained: self.on_explained,
        }

    def on_explained(self, reply: p.Explained) -> None:
        screen = self.step_screen
        if screen is not None and reply.lane == self.lanes.focus and self.shell.showing(screen):
            screen.show(reply.step)

    def on_ready(self, reply: p.Ready) -> None:
        """The focused lane starts anew, or another is focused: back to the present."""
        self.names = reply.info.names
        self.live()

    def on_revisited(self, reply: p.Revisited) -> None:
        if reply.lane != self.lanes.focus or reply.epoch != self.epoch:
            return  # a lane no longer focused, or an epoch already left
        self.shown = reply
        names = self.names
        if reply.result is not None:
            params = params_text(reply.result)
        else:
            params = " ".join(f"{n}={v:.6g}" for n, v in zip(names, reply.params)) if len(names) <= 8 else ""
        self.plot.viewing = (reply.epoch, list(reply.preds), params)
        self.land.viewing = dict(zip(names, reply.params)) if reply.params else None
        self.status.viewing = (reply.epoch, max(reply.latest, self.latest))
        self.shell.redraw()

    def on_results(self, reply: p.Results) -> None:
        """The focused lane trains on while an epoch is in view: "of M" follows it."""
        if self.epoch is not None and reply.lane == self.lanes.focus:
            self.status.viewing = (self.epoch, self.latest)
