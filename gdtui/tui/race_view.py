"""The app's lanes: the keys that add, branch, remove and focus lanes, the ready comparisons of the command
palette, and the session's reports that keep the lanes model, the table, the log and the plots up to date.

Why: every report names its lane (gdtui.engine.protocol), and this view credits each one to that lane in the
lanes model (gdtui.tui.lanes), whatever the user has focused meanwhile. The log, the loss curve and the
predictions show the lane the session has focused: a Ready names it, the History that follows fills the log,
and the loss curve is that lane's own series in the model, so a lane's curve always has as many values as it
has epochs. Keys compose on the focus last asked for (gdtui.tui.asked), so 2 1 2 1 pressed faster than the
session answers still ends on lane 1.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import Any

from textual.app import SystemCommand
from textual.widget import Widget

from gdtui.engine import protocol as p
from gdtui.engine.config import LIVE_FIELDS, MAX_LANES
from gdtui.tui.lanes import LanesModel, LaneView
from gdtui.tui.routes import Routes
from gdtui.tui.shell import Shell
from gdtui.tui.widgets.lanes_table import LanesTable
from gdtui.tui.widgets.plots import LossCurve, PredictionPlot
from gdtui.tui.widgets.rmse_log import RmseLog
from gdtui.tui.widgets.status import StatusLine

ARTICLE_YLIM = {"fastai-quadratic": (-100.0, 100.0), "qiita-quadratic": (-75.0, 120.0)}
PLOTS_ROWS = 14  # the plots' tabs and a plot with 8 rows of canvas: app.tcss's #plots min-height
LOG_ROWS = 5  # the RMSE log's borders, header and two rows
MIN_PACE, MAX_PACE = 0.125, 100_000.0  # playback speeds (epochs a second) `<` and `>` go between
ARTICLE_AXES = {"fastai-quadratic": ("time", "speed")}  # the predictions' axes, as the article names them
COMPARISONS: list[tuple[str, str, list[dict[str, Any]]]] = [
    (
        "Compare learning rates ×0.5 ×2 ×4",
        "three lanes beside the focused one",
        [{"lr": 0.5}, {"lr": 2.0}, {"lr": 4.0}],
    ),
    (
        "Compare optimizers: gd, sgd (momentum 0.9), nesterov, adam, rmsprop",
        "a lane for each, beside the focused one",
        [
            {"optimizer": "gd"},
            {"optimizer": "sgd", "momentum": 0.9},
            {"optimizer": "nesterov", "momentum": 0.9},
            {"optimizer": "adam"},
            {"optimizer": "rmsprop"},
        ],
    ),
    ("Compare zero_grad with accumulated gradients", "the focused lane with the other choice", [{"flip": True}]),
]


def describe(lanes: LanesModel, lane_id: int) -> str:
    """ "lane 2: lr 2e-05" for a lane of the race, "the run" where it is gone."""
    lane = lanes.get(lane_id)
    return f"lane {lane.number}: {lanes.apart(lane)}" if lane is not None else "the run"


class RaceView:
    """Lane keys and reports: it holds the lanes model and draws the table, the log and the plots from it."""

    def __init__(
        self,
        shell: Shell,
        table: LanesTable,
        log: RmseLog,
        plot: PredictionPlot,
        curve: LossCurve,
        status: StatusLine,
    ) -> None:
        self.shell = shell
        self.table, self.log, self.plot, self.curve, self.status = table, log, plot, curve, status
        self.lanes = LanesModel()
        self.dirty = False

    @property
    def focus(self) -> int:
        """The lane the session has focused: the one the log and the plots show."""
        return self.lanes.focus

    # keys ---------------------------------------------------------------------------------------------------

    def action_add_lane(self, changes: dict[str, Any] | None = None) -> None:
        """A copy of the focused lane from epoch 0 (focused: the next edit sets it apart)."""
        if not self._room(1):
            return
        if self.shell.send(p.AddLane(dict(changes or {}))):
            self._compose_on(self.shell.config, changes)

    def action_branch_lane(self) -> None:
        """The focused lane from the epoch selected in the RMSE log (its latest if the log follows)."""
        if self._room(1) and self.shell.send(p.BranchLane(self.log.selected_epoch())):
            self._compose_on(self.shell.config)

    def action_remove_lane(self) -> None:
        if len(self.lanes) <= 1:
            self.shell.notify("The last lane stays: a for another lane first.", title="lanes")
            return
        focus = self._asked_focus()
        rest = [lane for lane in self.lanes.lanes if lane.id != focus]
        if self.shell.send(p.RemoveLane(focus)):
            self._compose_on(rest[0].config)
            self.shell.asked.focus = rest[0].id

    def action_focus_lane(self, number: int) -> None:
        lane = self.lanes.numbered(number)
        if lane is None:
            if len(self.lanes) > 1:
                self.shell.notify(f"There is no lane {number}: lanes 1 to {len(self.lanes)}.", title="lanes")
            return
        self.focus_lane(lane.id)

    def focus_lane(self, lane_id: int) -> None:
        """Focus a lane (a key, or the table's cursor): keys after this compose on it."""
        lane = self.lanes.get(lane_id)
        if lane is None or lane.id == self._asked_focus():
            return
        if self.shell.send(p.FocusLane(lane.id)):
            self._compose_on(lane.config)
            self.shell.asked.focus = lane.id

    def _asked_focus(self) -> int:
        asked = self.shell.asked.focus
        return self.lanes.focus if asked is None else asked

    def _compose_on(self, config: Any, changes: dict[str, Any] | None = None) -> None:
        """Keys after this compose on `config`'s live values (its lr, for `]`), with `changes` over them."""
        self.shell.asked.live = {name: getattr(config, name) for name in LIVE_FIELDS} | dict(changes or {})

    def _room(self, wanted: int) -> bool:
        if len(self.lanes) + wanted > MAX_LANES:
            self.shell.notify(f"A race holds at most {MAX_LANES} lanes: x removes the focused one.", title="lanes")
            return False
        return True

    def compare(self, variants: list[dict[str, Any]]) -> None:
        """Lanes beside the focused one, each the focused lane's settings with one variant (lr as a factor)."""
        config = self.shell.config
        wanted = []
        for variant in variants:
            if "flip" in variant:
                wanted.append({"accumulate_grad": not config.accumulate_grad})
            elif "lr" in variant:
                wanted.append({"lr": config.lr * variant["lr"]})
            elif variant.get("optimizer") != config.optimizer:
                wanted.append(dict(variant))
        if not wanted or not self._room(len(wanted)):
            return
        if all(self.shell.send(p.AddLane(changes)) for changes in wanted):
            self._compose_on(config, wanted[-1])

    def lane_commands(self) -> Iterator[SystemCommand]:
        for title, help_text, variants in COMPARISONS:
            yield SystemCommand(title, help_text, lambda v=variants: self.compare(v))
        yield SystemCommand("Add a lane (a copy of the focused one)", "a", self.action_add_lane)
        yield SystemCommand("Branch the focused lane", "b", self.action_branch_lane)
        yield SystemCommand("Remove the focused lane", "x", self.action_remove_lane)
        for n in range(1, MAX_LANES + 1):
            yield SystemCommand(f"Focus lane {n}", str(n), lambda n=n: self.action_focus_lane(n))

    # reports ------------------------------------------------------------------------------------------------

    def replies(self) -> Routes:
        return {
            p.Ready: self.on_ready,
            p.Lanes: self.on_lanes,
            p.Results: self.on_results,
            p.History: self.on_history,
            p.Applied: self.on_applied,
            p.State: self.on_state,
        }

    def on_state(self, reply: p.State) -> None:
        self.status.pace = reply.speed

    def action_speed(self, factor: float) -> None:
        """`<` and `>`: halve or double the playback speed (epochs a second); from full speed, `<` starts at half
        the rate measured; past MAX_PACE it is full speed again."""
        now = self.status.pace
        if now is None:
            if factor >= 1:
                self.shell.notify("already as fast as it trains (< slows it down)", title="speed")
                return
            now = max(self.status.speed, 2.0)
        wanted = now * factor
        self.shell.send(p.Speed(None if wanted > MAX_PACE else max(wanted, MIN_PACE)))

    def on_ready(self, reply: p.Ready) -> None:
        """The session focused `reply.lane` anew: its data, and a log that starts over (its History follows)."""
        info = reply.info
        self.lanes.focus = reply.lane
        ylim = ARTICLE_YLIM.get(info.config.preset) if info.config.data == "article" else None
        self.plot.set_data(info.x, info.y, info.n_train, ylim)
        self.plot.line_x = list(info.line_x)
        self.plot.names = (
            ARTICLE_AXES.get(info.config.preset, ("x", "y")) if info.config.data == "article" else ("x", "y")
        )
        self.log.reset_rows(info.has_test)
        self.plot.set_preds(info.preds)
        self.status.epoch = 0
        self._changed()

    def on_lanes(self, reply: p.Lanes) -> None:
        self.lanes.set_lanes(reply.lanes, reply.focus)
        focused = self.lanes.get(self.lanes.focus)
        self.status.stopped = focused.stopped if focused is not None else ""  # "done" says why
        if focused is None or focused.config.schedule is None:
            self.status.scheduled_lr = None
        self._changed()

    def on_results(self, reply: p.Results) -> None:
        """A lane's new epochs, credited to the lane the report names."""
        self.lanes.extend(reply.lane, reply.chunk)
        if reply.lane == self.lanes.focus:
            self.log.add_chunk(reply.chunk)
            self.plot.set_preds(reply.chunk.preds)
            self._scheduled_lr(reply.lane, reply.chunk.lr)
        self._changed()

    def on_history(self, reply: p.History) -> None:
        tail = reply.tail
        self.lanes.set_history(reply.lane, reply.rmse, tail.preds if tail else None)
        if reply.lane == self.lanes.focus and tail is not None:
            self.log.add_chunk(tail)
            self.plot.set_preds(tail.preds)
            self.status.epoch = tail.last
            self._scheduled_lr(reply.lane, tail.lr)
        self._changed()

    def _scheduled_lr(self, lane_id: int, lr: float) -> None:
        """The status line's lr: a scheduled lane's last epoch's (the config's lr is the schedule's base)."""
        lane = self.lanes.get(lane_id)
        self.status.scheduled_lr = lr if lane is not None and lane.config.schedule is not None else None

    def on_applied(self, reply: p.Applied) -> None:
        """A live change a lane took."""
        lane = self.lanes.get(reply.lane)
        if lane is not None:
            lane.config = reply.config
            self._changed()

    def _changed(self) -> None:
        """The loss curve is the focused lane's own series (never a copy that could drift from it)."""
        focused = self.lanes.get(self.lanes.focus)
        self.curve.rmse = focused.series if focused is not None else array("d")
        self.dirty = True
        self.shell.redraw()

    # drawing ------------------------------------------------------------------------------------------------

    def draw(self) -> None:
        """The table and the plots' lanes, from the model (once a frame, not once a report)."""
        self.dirty = False
        model = self.lanes
        several = len(model) > 1
        self.table.display = several
        if several:
            self._fit_table(len(model))
            self.table.show(model, self._asked_focus())
        focused = model.get(model.focus)
        others = [lane for lane in model.lanes if lane.id != model.focus] if several else []
        self.plot.others = [(self._legend(lane), lane.color, lane.preds or []) for lane in others]
        self.curve.others = [(self._legend(lane), lane.color, lane.series) for lane in others]
        if focused is not None and several:
            self.plot.label, self.plot.color = self._legend(focused), focused.color
            self.curve.label, self.curve.color = self._legend(focused), focused.color
        else:
            self.plot.label, self.plot.color = "predictions", "red"
            self.curve.label, self.curve.color = "", "red"  # one lane: as gdtui always drew it

    def _fit_table(self, lanes: int) -> None:
        """The lanes table gives way to the plots and the log on a short terminal: it scrolls (its cursor on the
        focused lane) rather than squeeze a plot below 8 rows; the plots' legends name every lane's colour."""
        column = self.table.parent
        room = (column.size.height if isinstance(column, Widget) else 0) - PLOTS_ROWS - LOG_ROWS
        self.table.styles.max_height = max(room, 2) if room < lanes + 1 else None

    def _legend(self, lane: LaneView) -> str:
        return f"{lane.number} {self.lanes.apart(lane)}"[:20]
