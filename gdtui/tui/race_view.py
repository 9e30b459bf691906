"""The app's lanes: the keys that add, branch, remove and focus lanes, the ready comparisons of the command
palette, and the replies that keep the lanes model, the table and the plots up to date.

Why: a race is the app's second subject beside the run itself; its keys and replies live here, on the
lanes model (gdtui/lanes.py), so app.py stays the shell that routes keys and replies. Mixed into GdtuiApp.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from textual.app import SystemCommand

from gdtui.engine.config import LIVE_FIELDS, MAX_LANES, RunConfig
from gdtui.tui import messages
from gdtui.tui.lanes import LanesModel, LaneView

if TYPE_CHECKING:
    from gdtui.tui.app import GdtuiApp

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


class RaceView:
    """Lane keys and replies for the app: it holds the lanes model and draws the table and plots from it."""

    def __init__(self, app: GdtuiApp) -> None:
        self.app = app
        self.lanes = LanesModel()
        self.dirty = False

    # keys ---------------------------------------------------------------------------------------------------

    def action_add_lane(self, changes: dict[str, Any] | None = None) -> None:
        """A copy of the focused lane from epoch 0 (focused: the next edit sets it apart)."""
        if self.app._session_gone() or not self._room(1):
            return
        self.app.asked.live = {name: getattr(self.app.config, name) for name in LIVE_FIELDS} | dict(changes or {})
        self.app.session.send("add", dict(changes or {}))

    def action_branch_lane(self) -> None:
        """The focused lane from the epoch selected in the RMSE log (its latest if the log follows)."""
        if self.app._session_gone() or not self._room(1):
            return
        self.app.asked.live = {name: getattr(self.app.config, name) for name in LIVE_FIELDS}
        self.app.session.send("branch", self.app.log_view.selected_epoch(), {})

    def action_remove_lane(self) -> None:
        if self.app._session_gone():
            return
        if len(self.lanes) <= 1:
            self.app.notify("The last lane stays: a for another lane first.", title="lanes")
            return
        rest = [lane for lane in self.lanes.lanes if lane.id != self.lanes.focus]
        self._ask_focus(rest[0])
        self.app.session.send("remove", None)

    def action_focus_lane(self, number: int) -> None:
        lane = self.lanes.numbered(number)
        if lane is None:
            if len(self.lanes) > 1:
                self.app.notify(f"There is no lane {number}: lanes 1 to {len(self.lanes)}.", title="lanes")
            return
        self._focus(lane)

    def table_focus(self, event: messages.FocusLane) -> None:
        lane = self.lanes.get(event.lane)
        if lane is not None:
            self._focus(lane)

    def _focus(self, lane: LaneView) -> None:
        if lane.id == self.lanes.focus or self.app._session_gone():
            return
        self._ask_focus(lane)
        self.lanes.focus = lane.id
        self.app.session.send("focus", lane.id)

    def _ask_focus(self, lane: LaneView) -> None:
        """Keys after this compose on the lane about to be focused (its lr, for `]`)."""
        self.app.asked.live = {name: getattr(lane.config, name) for name in LIVE_FIELDS}

    def _room(self, wanted: int) -> bool:
        if len(self.lanes) + wanted > MAX_LANES:
            self.app.notify(f"A race holds at most {MAX_LANES} lanes: x removes the focused one.", title="lanes")
            return False
        return True

    def compare(self, variants: list[dict[str, Any]]) -> None:
        """Lanes beside the focused one, each the focused lane's settings with one variant (lr as a factor)."""
        config: RunConfig = self.app.config
        wanted = []
        for variant in variants:
            if "flip" in variant:
                wanted.append({"accumulate_grad": not config.accumulate_grad})
            elif "lr" in variant:
                wanted.append({"lr": config.lr * variant["lr"]})
            elif variant.get("optimizer") != config.optimizer:
                wanted.append(dict(variant))
        if not wanted or self.app._session_gone() or not self._room(len(wanted)):
            return
        for changes in wanted:
            self.app.session.send("add", changes)
        self.app.asked.live = {name: getattr(config, name) for name in LIVE_FIELDS} | wanted[-1]

    def lane_commands(self) -> Iterator[SystemCommand]:
        for title, help_text, variants in COMPARISONS:
            yield SystemCommand(title, help_text, lambda v=variants: self.compare(v))
        yield SystemCommand("Add a lane (a copy of the focused one)", "a", self.action_add_lane)
        yield SystemCommand("Branch the focused lane", "b", self.action_branch_lane)
        yield SystemCommand("Remove the focused lane", "x", self.action_remove_lane)
        for n in range(1, MAX_LANES + 1):
            yield SystemCommand(f"Focus lane {n}", str(n), lambda n=n: self.action_focus_lane(n))

    # replies ------------------------------------------------------------------------------------------------

    def config_applied(self, config: RunConfig) -> None:
        """A live change the focused lane took."""
        lane = self.lanes.get(self.lanes.focus)
        if lane is not None:
            lane.config = config
            self.dirty = self.app._dirty = True

    def on_lanes_changed(self, event: messages.LanesChanged) -> None:
        self.lanes.set_lanes(event.lanes, event.focus)
        focused = self.lanes.get(self.lanes.focus)
        self.app.status.stopped = focused.stopped if focused is not None else ""  # "done" says why
        self.dirty = self.app._dirty = True

    def on_lane_results(self, event: messages.LaneResults) -> None:
        for lane_id, chunk in event.chunks.items():
            self.lanes.extend(lane_id, chunk)
        self.dirty = self.app._dirty = True

    def on_lane_history(self, event: messages.LaneHistory) -> None:
        tail = event.tail
        self.lanes.set_history(event.lane, event.rmse, tail.preds if tail else None)
        self.app.curve.clear()
        self.app.curve.extend(event.rmse)
        if tail is not None:
            self.app.log_view.add_chunk(tail)
            self.app.plot.set_preds(tail.preds)
            self.app.status.epoch = tail.last
        self.dirty = self.app._dirty = True

    def draw_lanes(self) -> None:
        """The table and the plots' other lanes, from the model (once a frame, not once a reply)."""
        self.dirty = False
        model = self.lanes
        several = len(model) > 1
        self.app.lanes_table.display = several
        if several:
            self.app.lanes_table.show(model)
        focused = model.get(model.focus)
        others = [lane for lane in model.lanes if lane.id != model.focus] if several else []
        self.app.plot.others = [(self._legend(lane), lane.color, lane.preds or []) for lane in others]
        self.app.curve.others = [(self._legend(lane), lane.color, lane.series) for lane in others]
        if focused is not None and several:
            self.app.plot.label, self.app.plot.color = self._legend(focused), focused.color
            self.app.curve.label, self.app.curve.color = self._legend(focused), focused.color
        else:
            self.app.plot.label, self.app.plot.color = "predictions", "red"
            self.app.curve.label, self.app.curve.color = "", "red"  # one lane: as gdtui always drew it

    def _legend(self, lane: LaneView) -> str:
        return f"{lane.number} {self.lanes.apart(lane)}"[:20]
