"""The app side of the outside audit: each fault it found, forced deterministically."""

from __future__ import annotations

import inspect

from gdtui.app import GdtuiApp
from gdtui.widgets.palette import SafeCommandPalette
from tests.tui_helpers import config, ready, wait_for

SIZE = (120, 36)


async def test_palette_timers_fired_after_it_closed_do_nothing():
    """ctrl+p, a search with no match, escape: the palette's deferred callbacks (the "No matches" and "busy"
    timers) may still fire once it has closed. Forced: close it, then fire them by hand."""
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, SafeCommandPalette), what="the palette")
        palette = app.screen
        await pilot.press(*"zzqqxx")
        await wait_for(pilot, lambda: palette._no_matches_timer is not None, what="the no-matches countdown")
        # a Timer calls partial(palette.call_next, callback): the callback itself is its first argument
        no_matches = palette._no_matches_timer._callback.args[0]
        palette._start_busy_countdown()
        busy = palette._busy_timer._callback.args[0]
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, SafeCommandPalette), what="the palette closed")
        await wait_for(pilot, lambda: not palette.is_attached, what="the palette removed")
        for callback in (no_matches, busy):
            result = callback()
            if inspect.isawaitable(result):
                await result
        palette._watch__list_visible()  # the watchers those callbacks trigger query the removed list
        await palette._watch__show_busy()
        await pilot.pause()
        assert app.is_running and app.return_code is None
        await pilot.press("s")
        await wait_for(pilot, lambda: app.status.epoch == 1, what="a step after the palette closed")
