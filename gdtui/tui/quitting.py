"""An App that quits quietly: what Textual does with keys and mounts still under way while the app shuts down.

Why: these guards are about Textual's lifecycle, not about gdtui; kept apart, the app's own class keeps to keys,
commands and replies.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.app import App
from textual.css.query import NoMatches


class QuietApp(App[Any]):
    """An App whose shutdown never shows a traceback for what the user's quitting interrupted."""

    def _handle_exception(self, error: Exception) -> None:
        # Quitting while the hyperparameters form is still being mounted (the first tenth of a second)
        # removes a Select's parts before its own mount handler looks them up: nothing is lost, so no
        # traceback for a user who quit.
        if (self._exit or not self.is_running) and isinstance(error, NoMatches):
            return
        super()._handle_exception(error)

    async def _on_key(self, event: events.Key) -> None:
        # Keys typed just before quitting are still queued while the app shuts its screens down; Textual's
        # own handler (called after this one) would look up bindings on an empty screen stack and fail.
        if self._exit or not self.screen_stack:
            event.prevent_default()
