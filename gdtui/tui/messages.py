"""The Textual messages of the app: the session's replies as they come, and what its widgets ask of it.

Why: the session's vocabulary is gdtui.engine.protocol (typed replies, each naming its lane); the client posts
each one to the app wrapped in a SessionReply, and the app routes it to the views by its type. None of them
may be replaced by a newer one: each carries epochs for the log.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from gdtui.engine.protocol import Reply


@dataclass
class SessionReply(Message):
    """A reply of the session (gdtui.engine.protocol), as it came down the pipe."""

    reply: Reply


@dataclass
class SessionLost(Message):
    """The session process is gone (it crashed or was killed); `reason` says how, with its last error line."""

    reason: str


@dataclass
class FieldChanged(Message):
    """The user committed a valid value in the hyperparameters pane."""

    field: str
    value: object


@dataclass
class FieldLeft(Message):
    """The user pressed enter in a field of the pane: the keys go back to the run."""


@dataclass
class FocusLane(Message):
    """The user moved to a lane in the lanes table."""

    lane: int


@dataclass
class TravelTo(Message):
    """The RMSE log asks to view an epoch (its cursor moved, or a row was clicked): time travel."""

    epoch: int
