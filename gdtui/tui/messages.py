"""Every message the app's widgets and its training session exchange, in one place.

Why: the session's replies and the panes' requests are the app's whole vocabulary; keeping them together
makes the flow readable. None of them may be replaced by a newer one: each carries epochs for the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message

from gdtui.engine.config import RunConfig
from gdtui.engine.history import Chunk
from gdtui.engine.surface import Curvature, Landscape, LrFind

if TYPE_CHECKING:
    # For annotations only: the session module is the child process's entry point, and the app must never
    # load more of it than it needs (its top level is torch-free today; the UI need not rely on that).
    from gdtui.engine.session import SessionInfo


@dataclass
class Results(Message):
    """Epochs the session trained since its last report (a Chunk, column by column), and its state afterwards."""

    chunk: Chunk
    state: str


@dataclass
class SessionState(Message):
    state: str
    epoch: int


@dataclass
class SessionReady(Message):
    """A new run is built (at start, or after a change that needs new data or a new model)."""

    info: SessionInfo


@dataclass
class ConfigApplied(Message):
    """A live change (lr, momentum, epochs) was taken by the running trainer."""

    config: RunConfig


@dataclass
class SessionError(Message):
    """The session refused a change or a request; `field` names what was at fault."""

    field: str
    message: str


@dataclass
class SessionSeen(Message):
    """The session has obeyed `count` commands (of those sent since it started)."""

    count: int


@dataclass
class SessionLost(Message):
    """The session process is gone (it crashed or was killed); `reason` says how, with its last error line."""

    reason: str


@dataclass
class Exported(Message):
    path: str
    rows: int


@dataclass
class FieldChanged(Message):
    """The user committed a valid value in the hyperparameters pane."""

    field: str
    value: object


@dataclass
class LanesChanged(Message):
    """The race's lanes (LaneInfo each) and the focused lane's id, after any change of lanes."""

    lanes: list[Any]
    focus: int


@dataclass
class LaneResults(Message):
    """The epochs the lanes other than the focused one trained in the same report, by lane id."""

    chunks: dict[int, Chunk]


@dataclass
class LaneHistory(Message):
    """The focused lane's past after a change of focus or of lanes: its RMSE column and its last epochs."""

    lane: int
    rmse: Sequence[float]
    tail: Chunk | None


@dataclass
class FocusLane(Message):
    """The user moved to a lane in the lanes table."""

    lane: int


@dataclass
class CurvatureKnown(Message):
    """The focused lane's curvature (its lr limit 2/λmax), after each ready."""

    lane: int
    curvature: Curvature


@dataclass
class LandscapeReady(Message):
    """A grid for the landscape view, with every lane's thinned path when the view asked anew (else None)."""

    lane: int
    grid: Landscape
    paths: dict[int, list[tuple[float, float]]] | None
    curvature: Curvature


@dataclass
class LrFound(Message):
    """The LR range test of a lane."""

    lane: int
    result: LrFind


@dataclass
class ScriptReady(Message):
    """The focused lane as a plain PyTorch script (gdtui.engine.script)."""

    lane: int
    text: str
