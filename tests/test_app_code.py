"""The Code view (c): the focused lane as a PyTorch script, following the run's changes, written with w; the
written script, run by a separate Python, prints the log the TUI showed."""

from __future__ import annotations

from gdtui.tui.app import GdtuiApp
from gdtui.tui.widgets.code import CodeScreen
from tests.script_runner import run_script
from tests.tui_helpers import config, log_texts, press_and_wait, ready, wait_for

SIZE = (120, 36)


def code_screen(app) -> CodeScreen | None:
    return app.screen if isinstance(app.screen, CodeScreen) else None


async def test_the_code_view_follows_the_run_and_writes_a_script_that_prints_its_log(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = GdtuiApp(config(epochs=16))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("c")
        await wait_for(pilot, lambda: code_screen(app) is not None and "torch.manual_seed(2021)" in app.screen.text)
        screen = code_screen(app)
        assert "lr = 1e-05" in screen.text and "epochs = 16" in screen.text
        assert "lane 1" in screen.label and "change" not in screen.label
        # the run's keys act while the code shows: lr x2 after epoch 5, halved after epoch 12
        for n in range(1, 6):
            await press_and_wait(pilot, "s", lambda n=n: len(log_texts(app)) == n, f"epoch {n}")
        await press_and_wait(pilot, "right_square_bracket", lambda: "if epoch == 6:" in screen.text, "the change")
        assert "lr = 2e-05" in screen.text
        for n in range(6, 13):
            await press_and_wait(pilot, "s", lambda n=n: len(log_texts(app)) == n, f"epoch {n}")
        await press_and_wait(pilot, "left_square_bracket", lambda: "if epoch == 13:" in screen.text, "the second")
        assert "2 changes made during the run" in screen.label
        await pilot.press("w")
        await wait_for(pilot, lambda: list(tmp_path.glob("gdtui-fastai-quadratic-*.py")), what="the script file")
        await press_and_wait(pilot, "space", lambda: app.state == "done", "done")
        logged = [text.split()[1] for text in log_texts(app)]
        await pilot.press("escape")
        await wait_for(pilot, lambda: code_screen(app) is None, what="the view to close")
        await pilot.press("c")
        await wait_for(pilot, lambda: code_screen(app) is not None, what="the view again")
        await pilot.press("c")
        await wait_for(pilot, lambda: code_screen(app) is None, what="c to close it")
    (path,) = tmp_path.glob("gdtui-fastai-quadratic-*.py")
    done = run_script(str(path))
    assert done.returncode == 0, done.stderr
    printed = [line.split()[3] for line in done.stdout.splitlines() if line.startswith("epoch ")]
    assert len(logged) == 16 and printed == logged


async def test_the_code_view_shows_the_focused_lane():
    app = GdtuiApp(config(epochs=5))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await press_and_wait(pilot, "a", lambda: len(app.race.lanes.lanes) == 2, "a second lane")
        await pilot.press("c")
        await wait_for(pilot, lambda: code_screen(app) is not None and "lane 2" in app.screen.label, what="lane 2")
        await pilot.press("1")
        await wait_for(pilot, lambda: "lane 1" in app.screen.label, what="lane 1's script")
        assert "torch.manual_seed(2021)" in app.screen.text


async def test_the_code_view_writes_a_formula_and_one_random_stream_as_the_script_that_prints_its_log(
    tmp_path, monkeypatch
):
    """--model FORMULA and --rng single in the Code view: the formula's function and torch seeded once, and the
    script written with w prints the log the TUI showed."""
    from gdtui.engine.config import check_model

    monkeypatch.chdir(tmp_path)
    model = check_model("a*sin(b*x) + c")
    app = GdtuiApp(config(model=model, data="sine", init=(2.0, 1.0, 0.0), rng="single", batch_size=6, epochs=4))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("c")
        await wait_for(pilot, lambda: code_screen(app) is not None and "def predict" in app.screen.text)
        text = code_screen(app).text
        assert "return a * torch.sin(b * x) + c" in text and "a, b, c = params" in text
        assert "torch.manual_seed(2021)  # --rng single" in text and "shuffle=True, generator=None" in text
        await pilot.press("w")
        await wait_for(pilot, lambda: list(tmp_path.glob("gdtui-*.py")), what="the script file")
        await pilot.press("escape")
        await wait_for(pilot, lambda: code_screen(app) is None, what="the view to close")
        await press_and_wait(pilot, "space", lambda: app.state == "done", "done")
        logged = [text.split()[1] for text in log_texts(app)]
    (path,) = tmp_path.glob("gdtui-*.py")
    done = run_script(str(path))
    assert done.returncode == 0, done.stderr
    printed = [line.split()[3] for line in done.stdout.splitlines() if line.startswith("epoch ")]
    assert len(logged) == 4 and printed == logged
