"""The lanes the app holds: what the session last said of each (settings, epoch, status), and what the views
draw of them (a color, what sets each apart, its predictions and its RMSE over epochs).

Why: with several runs on screen, the app's state is no longer one config and one state word. The lanes
table, the plots and the keys all draw from this one model, which the session's replies update; app.py only
routes messages to it. Torch-free.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gdtui.colours import LANE_RGB
from gdtui.engine.config import RunConfig
from gdtui.engine.vary import LANE_FIELDS, lane_label

# Okabe and Ito's palette (gdtui.colours, which `gdtui figure` shares): as RGB for plotext (a theme does not
# remap them) and as hex for Rich (the lanes table). The data is drawn in the theme's blue and green.
_RGB = LANE_RGB
COLORS: tuple[tuple[int, int, int], ...] = _RGB
RICH_COLORS = tuple(f"#{r:02x}{g:02x}{b:02x}" for r, g, b in _RGB)
APART_FIELDS = LANE_FIELDS  # what the lanes table shows as setting a lane apart


@dataclass
class LaneView:
    """One lane as the app draws it."""

    id: int
    number: int
    config: RunConfig
    origin: tuple[int, int] | None
    epoch: int
    status: str
    color: tuple[int, int, int]
    rich_color: str
    rmse: float | None = None
    stopped: str = ""  # why it stands where it does (Trainer.stop_reason)
    series: array[float] = field(default_factory=lambda: array("d"))
    preds: list[float] | None = None


class LanesModel:
    """The race as the app knows it; the focused lane is the one the pane edits and the log shows."""

    def __init__(self) -> None:
        self.lanes: list[LaneView] = []
        self.focus = 0

    def __len__(self) -> int:
        return len(self.lanes)

    def get(self, lane_id: int) -> LaneView | None:
        return next((lane for lane in self.lanes if lane.id == lane_id), None)

    def numbered(self, number: int) -> LaneView | None:
        return self.lanes[number - 1] if 1 <= number <= len(self.lanes) else None

    def set_lanes(self, infos: Iterable[Any], focus: int) -> None:
        """The session's list of lanes (LaneInfo): new lanes get the first free color, gone ones are dropped."""
        old = {lane.id: lane for lane in self.lanes}
        lanes: list[LaneView] = []
        for number, info in enumerate(infos, start=1):
            lane = old.get(info.id)
            if lane is None:
                used = {lane.color for lane in old.values()} | {lane.color for lane in lanes}
                k = next((i for i, c in enumerate(COLORS) if c not in used), 0)
                lane = LaneView(
                    info.id, number, info.config, info.origin, info.epoch, info.status, COLORS[k], RICH_COLORS[k]
                )
            lane.number, lane.config, lane.origin = number, info.config, info.origin
            if info.epoch < len(lane.series):  # reset, or restarted with new settings: its past is gone
                del lane.series[info.epoch :]
                lane.rmse = lane.series[-1] if lane.series else None
                lane.preds = None if info.epoch == 0 else lane.preds
            lane.epoch, lane.status, lane.stopped = info.epoch, info.status, info.stopped
            lanes.append(lane)
        self.lanes, self.focus = lanes, focus

    def extend(self, lane_id: int, chunk: Any) -> None:
        """A lane's new epochs (a Chunk): its epoch, status, RMSE, series and predictions."""
        lane = self.get(lane_id)
        if lane is None:
            return
        lane.series.extend(chunk.rmse)
        lane.epoch, lane.status = chunk.last, chunk.status
        lane.rmse = chunk.rmse[-1] if len(chunk.rmse) else lane.rmse
        if chunk.preds is not None:
            lane.preds = list(chunk.preds)

    def set_history(self, lane_id: int, rmse: Sequence[float], preds: Sequence[float] | None) -> None:
        lane = self.get(lane_id)
        if lane is not None:
            lane.series = array("d", rmse)
            lane.rmse = rmse[-1] if len(rmse) else None
            lane.epoch = len(rmse)
            lane.preds = list(preds) if preds is not None else lane.preds

    def apart(self, lane: LaneView) -> str:
        """What sets a lane apart from the first ("lr 2e-05, adam"); a branch says where it came from."""
        base = self.lanes[0].config if self.lanes else lane.config
        parts = []
        if lane.origin is not None:
            source = self.get(lane.origin[0])
            parts.append(f"from {source.number if source else '?'}@{lane.origin[1]}")
        for name in APART_FIELDS:
            value = getattr(lane.config, name)
            if name == "momentum":
                value, other = lane.config.effective_momentum, base.effective_momentum
            else:
                other = getattr(base, name)
            if value == other or (name == "degree" and lane.config.model != "poly"):
                continue
            parts.append(f"mom {value:g}" if name == "momentum" else lane_label(name, value))
        if lane is self.lanes[0] and not parts:
            return f"{lane.config.optimizer}, lr {lane.config.lr:g}"
        return ", ".join(parts) or "same"
