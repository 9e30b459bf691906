"""The app side of the outside audit: each fault it found, forced deterministically."""

from __future__ import annotations

import inspect

from textual import events

from gdtui.tui.app import GdtuiApp
from gdtui.tui.widgets.palette import SafeCommandPalette
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


def hold_replies(app):
    """Leave the session's replies unread in the pipe: every key after this is composed before any confirmation."""
    session = app.session
    session._loop.remove_reader(session.conn.fileno())


def release_replies(app):
    session = app.session
    session._loop.add_reader(session.conn.fileno(), session._readable)
    session._readable()


def caught_up(app):
    """Nothing the app asked for is outstanding, and the session has obeyed every command sent (the lanes of
    --vary are sent without asking anything: only the count tells that they are all in)."""
    return app.asked.running is None and not app.asked.live and app.seen >= app.session.sent


async def test_keys_are_composed_on_what_was_asked_not_on_what_was_confirmed():
    """Three ] before the session confirms any: lr x8, not x2. Space space on a running run: running again."""
    app = GdtuiApp(config(epochs=1_000_000_000, lr=1e-6))  # x8 stays below fastai's limit, 3.54e-5
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        hold_replies(app)
        await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket")
        release_replies(app)
        await wait_for(pilot, lambda: caught_up(app) and app.config.lr == 8e-6, what="lr x8")
        await pilot.press("space")
        await wait_for(pilot, lambda: caught_up(app) and app.state == "running", what="running")
        hold_replies(app)
        await pilot.press("space", "space")
        release_replies(app)
        await wait_for(pilot, lambda: caught_up(app) and app.state in ("running", "paused"), what="caught up")
        assert app.state == "running"
        epoch = app.status.epoch
        await wait_for(pilot, lambda: app.status.epoch > epoch, what="training goes on")
        hold_replies(app)
        await pilot.press("space", "left_square_bracket", "left_square_bracket", "space", "space")
        release_replies(app)
        await wait_for(pilot, lambda: caught_up(app) and app.state in ("running", "paused"), what="caught up")
        assert app.state == "paused" and app.config.lr == 2e-6


def type_ahead(app, *keys):
    """Keys as a fast typist (or a pasted burst over SSH) sends them: all at once, none waiting for the app."""
    chars = {"space": " ", "right_square_bracket": "]", "left_square_bracket": "["}
    for key in keys:
        event = events.Key(key, chars.get(key, key))
        event.set_sender(app)
        app._driver.send_message(event)


async def test_quick_keys_on_a_deliberately_slow_run():
    """Epochs of a degree-9 polynomial on 2,000,000 points take some 0.1 s: keys typed within one epoch still
    compose on what was asked."""
    app = GdtuiApp(config(data="cubic", points=2_000_000, model="poly", degree=9, lr=1e-9, epochs=1_000_000))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("space")
        await wait_for(pilot, lambda: app.status.epoch > 0, what="the first slow epoch")
        type_ahead(app, "right_square_bracket", "right_square_bracket", "right_square_bracket", "space", "space")
        await wait_for(pilot, lambda: caught_up(app) and app.config.lr == 8e-9, what="lr x8")
        assert app.asked.is_running(app.state) and app.state == "running"
        await pilot.press("space")
        await wait_for(pilot, lambda: caught_up(app) and app.state == "paused", what="paused")


async def test_a_csv_value_that_underflows_is_noticed_with_its_line(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("x,y\n1,2\n2,1e-50\n3,6\n")
    app = GdtuiApp(config(preset="linear-manual"))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: app.params.ready, what="the form")
        box = app.query_one("#f-data")
        box.focus()
        box.value = str(path)
        await pilot.press("enter")
        said = f"{path}:3: '2,1e-50' underflows to 0 in float32"
        await wait_for(pilot, lambda: any(said in n.message for n in app._notifications), what="the warning")
        assert app.config.data == str(path)


async def test_a_new_run_is_composed_on_what_was_asked():
    """] then, before the session confirms it, a change of optimizer: the new run has the doubled lr; a ]
    right after a preset change doubles the new preset's lr, not the old run's."""
    app = GdtuiApp(config(lr=1e-6))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        hold_replies(app)
        await pilot.press("right_square_bracket")
        app.apply("optimizer", "adam")
        release_replies(app)
        await wait_for(pilot, lambda: caught_up(app) and app.config.optimizer == "adam", what="the new run")
        assert app.config.lr == 2e-6
        hold_replies(app)
        app.apply("preset", "qiita-quadratic")
        await pilot.press("right_square_bracket")
        release_replies(app)
        await wait_for(pilot, lambda: caught_up(app) and app.config.preset == "qiita-quadratic", what="qiita")
        assert app.config.lr == 2e-4  # qiita's own 1e-4, doubled
