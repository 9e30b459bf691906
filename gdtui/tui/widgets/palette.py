"""The command palette, safe against a key storm.

Why: Textual's palette defers work (a search worker, the "busy" and "No matches found" timers, the watchers
they trigger) and each deferred piece looks up the palette's parts when it runs; if the palette has closed meanwhile
(ctrl+p, a search, escape), the lookup raises NoMatches and ends the app. Two quick enters also select twice,
and the second dismiss pops the screen below. Here only the screen on top may dismiss itself, and every
deferred callback does nothing once the palette is closing.

The palette also runs the entry the user sees: its search runs in a worker, so an enter typed right after the
text would pick from the list of an earlier search ("focus lane 2", enter: "Add a lane" ran instead). An
enter that comes before the search of what was typed has answered waits for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from textual import on, work
from textual.command import CommandInput, CommandPalette
from textual.css.query import NoMatches
from textual.widgets import Input


class SafeCommandPalette(CommandPalette):
    _dismissed = False
    _answered: str | None = None  # the text whose search the list shows
    _enter_waiting = False  # an enter came before the search of the text typed had answered

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

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        """Enter picks from the list of the text typed: it waits for that search if it has not answered yet."""
        typed = self.query_one(CommandInput).value.strip()
        if self._list_visible and typed and typed != self._answered:
            event.stop()
            event.prevent_default()  # not CommandPalette's own handler, which would pick from the stale list
            self._enter_waiting = True

    @work(exclusive=True, group=CommandPalette._GATHER_COMMANDS_GROUP, exit_on_error=False)
    async def _gather_commands(self, search_value: str) -> None:
        if self.closing:
            return
        try:
            await CommandPalette._gather_commands.__wrapped__(self, search_value)  # type: ignore[attr-defined]
        except NoMatches:
            return  # the palette closed while searching
        if self.closing or search_value != self.query_one(CommandInput).value.strip():
            return  # cancelled: a newer search is under way
        self._answered = search_value
        if self._enter_waiting:
            self._enter_waiting = False
            self._select_or_command()
