"""The LR range test screen: the pick starts at the suggestion, moves along the ramp's finite points, enter applies
it and escape closes without; the warning above 2/λmax; an empty ramp and a failed frame cannot crash it."""

from __future__ import annotations

import math
from dataclasses import replace

from rich.text import Text
from textual.app import App
from textual.widgets import Static

from gdtui.engine.surface import LrFind
from gdtui.tui.widgets.lr_find import EMPTY, LrFindPlot, LrFindScreen
from tests.tui_helpers import wait_for

LANE = "lane 2: adam, lr 0.05"
NO_ANSWER = object()


def ramp(steps: int = 40, limit: float | None = 1e-3, suggestion: bool = True) -> LrFind:
    """A geometric ramp from 1e-8, a factor of 10**0.25 a step: the loss falls to a valley at step 24, climbs, and
    the last step is inf."""
    lrs = [1e-8 * 10 ** (k / 4) for k in range(steps)]
    losses = [1.0 + (k - 24) ** 2 / 50 for k in range(steps - 1)] + [math.inf]
    smoothed, average = [], 0.0
    for k, loss in enumerate(losses):
        average = 0.9 * average + 0.1 * loss
        smoothed.append(average / (1 - 0.9 ** (k + 1)))
    best = min(range(steps - 1), key=lambda k: losses[k])
    return LrFind(lrs, losses, smoothed, lrs[best] / 10 if suggestion else None, limit)


class Host(App[None]):
    def __init__(self, result: LrFind, lr: float = 0.05) -> None:
        super().__init__()
        self.ramp, self.lr = result, lr
        self.answer: object = NO_ANSWER

    def on_mount(self) -> None:
        def record(lr: float | None) -> None:
            self.answer = lr

        self.push_screen(LrFindScreen(self.ramp, self.lr, LANE), record)


async def opened(pilot) -> LrFindScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, LrFindScreen), what="the LR screen")
    await pilot.pause()
    return pilot.app.screen


async def answer(pilot, *keys: str) -> object:
    await pilot.press(*keys)
    await wait_for(pilot, lambda: pilot.app.answer is not NO_ANSWER, what="the screen to dismiss")
    return pilot.app.answer


def info(screen: LrFindScreen) -> str:
    content = screen.query_one("#lrfind-info", Static).content
    return content.plain if isinstance(content, Text) else str(content)


async def test_enter_applies_the_step_nearest_the_suggestion():
    result = ramp()
    app = Host(result)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await opened(pilot)
        assert screen.picked_lr == result.lrs[20]  # the valley is at step 24; ÷ 10 is four steps of 10**0.25 down
        assert await answer(pilot, "enter") == result.lrs[20]
        assert not isinstance(app.screen, LrFindScreen)


async def test_right_twice_moves_two_steps_on():
    result = ramp()
    app = Host(result)
    async with app.run_test(size=(120, 36)) as pilot:
        await opened(pilot)
        assert await answer(pilot, "right", "right", "enter") == result.lrs[22]


async def test_left_h_and_l_move_and_s_goes_back_to_the_suggestion():
    result = ramp()
    app = Host(result)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await opened(pilot)
        await pilot.press("left", "h", "h")
        assert screen.picked_lr == result.lrs[17]
        await pilot.press("l")
        assert screen.picked_lr == result.lrs[18]
        await pilot.press("s")
        assert screen.picked_lr == result.lrs[20]


async def test_end_goes_to_the_last_finite_point_and_home_to_the_first():
    result = ramp()
    app = Host(result)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await opened(pilot)
        await pilot.press("end")
        assert screen.picked_lr == result.lrs[-2]  # the last step is inf
        await pilot.press("right")  # the end stays the end
        assert screen.picked_lr == result.lrs[-2]
        await pilot.press("home", "left")
        assert screen.picked_lr == result.lrs[0]
        assert await answer(pilot, "end", "enter") == result.lrs[-2]


async def test_escape_and_q_close_with_none():
    for key in ("escape", "q"):
        app = Host(ramp())
        async with app.run_test(size=(120, 36)) as pilot:
            await opened(pilot)
            assert await answer(pilot, "right", key) is None
            assert not isinstance(app.screen, LrFindScreen)


async def test_the_info_warns_above_the_limit_only():
    result = ramp(limit=None)
    result = replace(result, lr_limit=result.lrs[20])  # the first pick is at the limit; one step on is above it
    app = Host(result)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await opened(pilot)
        text = info(screen)
        assert "above 2/λmax" not in text
        assert "2/λmax 0.001" in text
        assert "lowest raw loss ÷ 10" in text and "suggestion 0.001" in text
        assert "lane lr now 0.05" in text
        assert f"raw loss {result.losses[20]:.4g}" in text
        await pilot.press("right")
        await wait_for(pilot, lambda: "above 2/λmax" in info(screen), what="the warning")
        assert "plain gradient descent diverges" in info(screen)
        await pilot.press("left")
        await wait_for(pilot, lambda: "above 2/λmax" not in info(screen), what="the warning to go")


async def test_an_unknown_limit_says_unknown_and_never_warns():
    app = Host(ramp(limit=None))
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await opened(pilot)
        assert "2/λmax unknown" in info(screen)
        await pilot.press("end")
        await pilot.pause()
        assert "above 2/λmax" not in info(screen)


async def test_without_a_suggestion_the_pick_starts_at_the_lowest_loss():
    result = ramp(suggestion=False)
    app = Host(result)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await opened(pilot)
        assert "suggestion none" in info(screen)
        assert await answer(pilot, "s", "enter") == result.lrs[24]


async def test_an_all_inf_ramp_opens_and_enter_gives_none():
    inf = math.inf
    result = LrFind([1e-8, 1e-7, 1e-6], [inf, math.nan, inf], [inf, inf, inf], None, 1e-3)
    app = Host(result)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await opened(pilot)
        plot = screen.query_one(LrFindPlot)
        assert screen.picked_lr is None
        assert EMPTY in info(screen)
        assert EMPTY in str(plot.render())
        await pilot.press("left", "right", "home", "end", "s")
        assert plot.error is None
        assert await answer(pilot, "enter") is None
        assert not app._notifications


async def test_non_finite_and_huge_losses_are_skipped_by_the_pick():
    lrs = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2]
    result = LrFind(lrs, [1.0, math.nan, 0.5, 1e20, 2.0], [1.0, math.nan, 0.8, 1e19, 1.5], 1e-5, None)
    app = Host(result)
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await opened(pilot)
        assert screen.points == [0, 2, 4]
        assert screen.picked_lr in (1e-6, 1e-4)  # 1e-5 itself is nan: a neighbour, equally near in log space
        await pilot.press("home", "right", "right")
        assert screen.picked_lr == 1e-2
        assert screen.query_one(LrFindPlot).error is None


async def test_the_plot_renders_without_an_error():
    for size in ((120, 36), (80, 24), (40, 14)):
        app = Host(ramp())
        async with app.run_test(size=size) as pilot:
            screen = await opened(pilot)
            await pilot.press("right", "end", "home")
            await pilot.pause()
            plot = screen.query_one(LrFindPlot)
            assert plot.size.width > 0 and plot.size.height > 0
            drawn = str(plot.render())
            assert "plot unavailable" not in drawn
            assert "◆" in drawn or size[1] < 24  # a plot two rows high has no room for the marker
            assert plot.error is None
            assert not app._notifications
            assert screen.query_one("#lrfind-box").border_title == f"LR range test — {LANE}"


async def test_a_failed_frame_shows_a_notice_instead_of_raising(monkeypatch):
    def broken(self) -> bool:
        raise ValueError("plotext broke")

    monkeypatch.setattr(LrFindPlot, "draw", broken)
    app = Host(ramp())
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await opened(pilot)
        plot = screen.query_one(LrFindPlot)
        await wait_for(pilot, lambda: plot.error is not None, what="the failed frame")
        assert "plot unavailable: plotext broke" in str(plot.render())
        await wait_for(pilot, lambda: len(app._notifications) == 1, what="the notice")
        assert await answer(pilot, "enter") == app.ramp.lrs[20]  # the keys still work
