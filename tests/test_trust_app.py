"""What the user sees is what the run does, in the TUI: nothing changes that the user did not ask for, the palette
runs the entry shown, the landscape's zoom stays finite, files written by a key are whole or absent, and a
signal ends gdtui as a shell expects. Each test fails without its fix (issue 24)."""

from __future__ import annotations

import asyncio
import errno
import math
import os
import signal

from gdtui.engine import resolve
from gdtui.tui.app import GdtuiApp
from gdtui.tui.widgets.palette import SafeCommandPalette
from tests.test_audit_app import caught_up
from tests.tui_helpers import config, drawn, field, ready, wait_for

SIZE = (120, 36)


def notices(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def test_tabbing_through_the_pane_changes_nothing():
    """The LR test's pick (an lr of 17 digits) and a noise of 11 digits show rounded; tabbing past them applies
    nothing: no command is sent, the run keeps its exact values."""
    lr, noise = 1.2328467394420657e-05, 5.0123456789
    app = GdtuiApp(config(preset="linear-manual", data="linear", noise=noise))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        app.apply("lr", lr)
        await wait_for(pilot, lambda: caught_up(app) and app.config.lr == lr, what="the exact lr")
        assert app.query_one("#f-lr").value == "1.23285e-05"
        sent = app.session.sent
        await field(pilot, "lr")
        for _ in range(30):  # every field of the pane, and round again
            await pilot.press("tab")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.focused is app.log_view, what="the keys back to the run")
        await pilot.pause()
        assert app.session.sent == sent, "leaving a field untouched sent a command"
        assert app.config.lr == lr and app.config.noise == noise
        assert not any("restarts" in text or "not applied" in text for text in notices(app))


async def test_enter_applies_the_field_and_gives_the_keys_back():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        box = await field(pilot, "lr")
        box.value = ""
        await pilot.press(*"2e-5", "enter")
        await wait_for(pilot, lambda: caught_up(app) and app.config.lr == 2e-5, what="lr 2e-5 applied")
        assert app.focused is app.log_view
        await pilot.press("s")  # a run key, not a character typed into the field
        await wait_for(pilot, lambda: app.status.epoch == 1, what="a step")
        assert box.value == "2e-05"


async def test_a_refused_value_keeps_the_field():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        box = await field(pilot, "lr")
        box.value = ""
        await pilot.press(*"abc", "enter")
        await pilot.pause()
        assert app.focused is box and "not applied" in str(app.query_one("#field-error").render())


async def test_the_palette_runs_the_entry_the_user_sees(monkeypatch):
    """ctrl+p, "focus lane 2", enter before the search of that text has answered: the enter waits for it, and
    lane 2 is focused (before the fix it picked from the previous search's list)."""
    released = asyncio.Event()
    search = SafeCommandPalette._search_for

    async def held(self, value):
        if value == "focus lane 2":
            await released.wait()
        async for hit in search(self, value):
            yield hit

    monkeypatch.setattr(SafeCommandPalette, "_search_for", held)
    base = config()
    app = GdtuiApp(base, lanes=[base.replace(lr=2e-5), base.replace(lr=4e-5)])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: len(app.race.lanes) == 3 and caught_up(app), what="three lanes")
        first = app.race.lanes.lanes[0].id
        assert app.race.focus == first
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, SafeCommandPalette), what="the palette")
        await pilot.press(*"focus lane 2")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SafeCommandPalette)  # waiting for the search, not picking a stale entry
        sent = app.session.sent
        released.set()
        await wait_for(pilot, lambda: app.session.sent > sent and caught_up(app), what="the entry run and obeyed")
        assert len(app.race.lanes) == 3
        assert app.race.focus == app.race.lanes.lanes[1].id


async def test_a_thousand_zooms_each_way_never_crash():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("t", "t")
        await wait_for(pilot, lambda: app.land.grid is not None, what="the first grid")
        for key in ["minus"] * 1000 + ["plus"] * 1000:
            app.action_view("land", "action_zoom", 2.0 if key == "minus" else 0.5)
            (x0, x1), (y0, y1) = app.land.span
            assert all(math.isfinite(v) for v in (x0, x1, y0, y1)) and x0 < x1 and y0 < y1
        await pilot.press("minus", "plus")
        span = app.land.span
        await wait_for(
            pilot,
            lambda: app.land.grid is not None and (app.land.grid.xs[0], app.land.grid.xs[-1]) == span[0],
            what="the grid of the last span",
        )
        await drawn(pilot)
        assert app.is_running and app.state != "ended"
        assert any("zooms no further" in text for text in notices(app))


async def test_the_pane_says_how_linear_manual_starts_and_labels_fit():
    app = GdtuiApp(config(preset="linear-manual"))
    async with app.run_test(size=SIZE) as pilot:
        box = await field(pilot, "init")
        assert box.placeholder == "w = b = 0"
        app.apply("model", "mlp")
        await wait_for(pilot, lambda: caught_up(app) and app.config.model == "mlp", what="an mlp")
        await pilot.pause()
        label = app.query_one("#row-activation .name")
        assert label.region.width >= len("activation") + 1


async def test_w_in_a_read_only_folder_and_on_a_full_disk(tmp_path, monkeypatch):
    """W and the Code view's w: a notice naming the file, the app still up, and no file left behind."""
    import gdtui.tui.files as files

    monkeypatch.chdir(tmp_path)
    claim = files.claim_new

    def read_only(path):
        raise PermissionError(errno.EACCES, "Permission denied", path)

    def full(path, text):
        with open(path, "w") as handle:  # a start, as a real write would make, then the disk is full
            handle.write(text[:1])
        raise OSError(errno.ENOSPC, "No space left on device")

    app = GdtuiApp(config(epochs=3))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        monkeypatch.setattr(files, "claim_new", read_only)
        await pilot.press("W")
        await wait_for(pilot, lambda: any("settings not written" in t for t in notices(app)), what="the notice")
        assert any(f"{tmp_path}/gdtui-fastai-quadratic-" in t and "Permission denied" in t for t in notices(app))
        monkeypatch.setattr(files, "claim_new", claim)
        monkeypatch.setattr(files, "write_atomic", full)
        await pilot.press("W")
        await wait_for(pilot, lambda: any("No space left" in t for t in notices(app)), what="the full disk")
        await pilot.press("c")
        await wait_for(pilot, lambda: app.code.open and app.code.screen.text, what="the script")
        await pilot.press("w")
        await wait_for(pilot, lambda: any("script not written" in t for t in notices(app)), what="the notice")
        assert os.listdir(tmp_path) == []  # no empty TOML or script left to load as the defaults
        assert app.is_running


async def test_a_seed_change_that_rereads_a_deleted_csv_says_what_changed(tmp_path):
    data = tmp_path / "mine.csv"
    data.write_text("x,y\n1,2\n2,4\n3,6\n")
    app = GdtuiApp(resolve("linear-manual", data=str(data)))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        data.unlink()
        app.apply("seed", 7)
        await wait_for(pilot, lambda: any("not applied" in t for t in notices(app)), what="the refusal")
        refusal = next(t for t in notices(app) if "not applied" in t)
        assert "seed not changed" in refusal and "mine.csv" in refusal
        assert app.config.seed == resolve("linear-manual").seed
        assert app.query_one("#f-seed").value == str(app.config.seed)


async def test_sigterm_ends_gdtui_with_status_143_and_reaps_its_training_process():
    app = GdtuiApp(config())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        process = app.session.process
        os.kill(os.getpid(), signal.SIGTERM)
        await wait_for(pilot, lambda: app._exit, what="the app to exit")
    assert app.return_code == 128 + signal.SIGTERM
    assert process.poll() is not None and app.session.process is None
