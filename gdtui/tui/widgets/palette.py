"""The command palette, safe against a key storm.

Why: Textual's palette defers work (a search worker, the "busy" and "No matches found" timers, the watchers
they trigger) and each deferred piece looks up the palette's parts when it runs; if the palette has closed meanwhile
(ctrl+p, a search, escape), the lookup raises NoMatches and ends the app. Two quick enters also select twice,
and the second dismiss pops the screen below. Here only the screen on top may dismiss itself, and every
deferred callback does nothing once the palette is closing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from textual import work
from textual.command import CommandPalette
from textual.css.query import NoMatches


class SafeCommandPalette(CommandPalette):
    _dismissed = False

    @property
    def closing(self) -> bool:
        """Whether the palette is dismissed or no longer the screen on top (its parts may be gone)."""
        return self._dismissed or not self.is_attached or not self.is_active

    def dismiss(self, result: Any = None) -> Any:
        if self.app.screen is not self:
            return None
        self._dismissed = True
        self._stop_busy_countdown()
        self._stop_no_matches_countdown()
        return super().dismiss(result)

    def _guarded(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """`callback`, skipped on a closing palette and quiet if the palette's parts are gone."""

        @functools.wraps(callback)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            if self.closing:
                return None
            try:
                result = callback(*args, **kwargs)
                if hasattr(result, "__await__"):
                    result = await result
                return result
            except NoMatches:
                return None  # the palette closed while the callback ran

        return guarded

    def set_timer(self, delay: float, callback: Any = None, *args: Any, **kwargs: Any) -> Any:
        # (call_later and call_after_refresh stay as they are: Textual's pilot and screen machinery wait on them)
        return super().set_timer(delay, self._guarded(callback) if callback else callback, *args, **kwargs)

    def _watch__list_visible(self) -> None:
        if self.closing:
            return
        try:
            super()._watch__list_visible()
        except NoMatches:
            pass

    async def _watch__show_busy(self) -> None:
        if self.closing:
            return
        try:
            await super()._watch__show_busy()
        except NoMatches:
            pass

    def _refresh_command_list(self, *args: Any, **kwargs: Any) -> None:
        if self.closing:
            return
        try:
            super()._refresh_command_list(*args, **kwargs)
        except NoMatches:
            pass

    @work(exclusive=True, group=CommandPalette._GATHER_COMMANDS_GROUP, exit_on_error=False)
    async def _gather_commands(self, search_value: str) -> None:
        if self.closing:
            return
        try:
            await CommandPalette._gather_commands.__wrapped__(self, search_value)  # type: ignore[attr-defined]
        except NoMatches:
            pass  # the palette closed while searching
