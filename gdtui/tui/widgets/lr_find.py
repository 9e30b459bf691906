"""The LR range test's result: the loss along the ramp, with 2/λmax and the suggestion, and a learning rate to
pick from it and apply to the lane with the keyboard.

Why: the suggestion is a rule of thumb (the lr of the lowest raw loss, divided by 10); the curve is what tells
whether it is a good one, and 2/λmax where plain gradient descent stops converging. The ramp ends in inf or nan
when it diverges, and plotext raises on those: only finite values below the plots' limit are drawn or picked,
and a failed frame shows a notice instead of taking the app down. Both axes are drawn as log10 of the values
and labelled with the values (plotext's own log axis prints 1e-8 as 0.00000001). Torch-free: it shows a
`surface.LrFind` the session sent.
"""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static
from textual_plotext import PlotextPlot

from gdtui.engine.surface import LrFind
from gdtui.tui.widgets.plots import LIMIT, log_ticks

RGB = tuple[int, int, int]
RAW: RGB = (90, 150, 255)
SMOOTHED: RGB = (255, 160, 40)
LIMIT_LINE: RGB = (235, 70, 70)
SUGGESTION_LINE: RGB = (70, 200, 110)
PICKED: RGB = (225, 90, 225)
EMPTY = "the ramp found no finite loss"
RULE = "lowest raw loss ÷ 10"
HINT = "←/→ pick an lr along the ramp · enter applies it to the lane · escape closes"
SHORT_HINT = "←/→ pick an lr · enter applies it · escape closes"


def _style(color: RGB, bold: bool = False) -> str:
    return ("bold " if bold else "") + "rgb({},{},{})".format(*color)


def _usable(lr: float, loss: float) -> bool:
    return math.isfinite(lr) and lr > 0 and math.isfinite(loss) and abs(loss) < LIMIT


def finite_points(result: LrFind) -> list[int]:
    """The ramp's steps that can be drawn and picked: a positive finite lr and a finite loss below the limit."""
    return [i for i, (lr, loss) in enumerate(zip(result.lrs, result.losses)) if _usable(lr, loss)]


def first_pick(result: LrFind, points: list[int]) -> int | None:
    """Where the pick starts (a position in `points`): the step nearest the suggestion in log space, else the
    lowest loss; None when nothing is finite."""
    if not points:
        return None
    suggestion = result.suggestion
    if suggestion is not None and math.isfinite(suggestion) and suggestion > 0:
        target = math.log(suggestion)
        return min(range(len(points)), key=lambda k: abs(math.log(result.lrs[points[k]]) - target))
    return min(range(len(points)), key=lambda k: result.losses[points[k]])


class LrFindPlot(PlotextPlot):
    """The raw and the smoothed loss against the lr, the lines at 2/λmax and at the suggestion, and the pick."""

    def __init__(self, result: LrFind, lane: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result = result
        self.lane = lane
        self.picked: int | None = None  # a step of the ramp
        self.error: str | None = None  # the last failed frame's error

    def render(self) -> RenderResult:
        try:
            if not self.draw():
                return Text(EMPTY, style="dim")
            return super().render()
        except Exception as error:  # plotext internals: a failed frame must not end the session
            message = f"plot unavailable: {error}"
            if message != self.error:
                self.error = message
                self.call_later(self.notify, message, title="LR range test", severity="warning")
            return Text(message, style="dim")

    def draw(self) -> bool:
        """Lay the plot out; False when there is nothing finite to draw."""
        result, plt = self.result, self.plt
        plt.clear_data()
        plt.clear_figure()
        raw = [(lr, v) for lr, v in zip(result.lrs, result.losses) if _usable(lr, v)]
        smooth = [(lr, v) for lr, v in zip(result.lrs, result.smoothed) if _usable(lr, v)]
        if not raw:
            return False
        values = [v for _, v in raw + smooth]
        log_y = all(v > 0 for v in values)

        def y(v: float) -> float:
            return math.log10(v) if log_y else v

        lines = [
            (x, color)
            for x, color in ((result.lr_limit, LIMIT_LINE), (result.suggestion, SUGGESTION_LINE))
            if x is not None and math.isfinite(x) and 0 < x < LIMIT
        ]
        xs = [math.log10(lr) for lr, _ in raw + smooth] + [math.log10(x) for x, _ in lines]
        lo, hi = min(xs), max(xs)
        pad = (hi - lo) * 0.02 or 0.5
        plt.xlim(lo - pad, hi + pad)
        plt.xticks(*log_ticks(lo, hi))
        for x, color in lines:
            plt.vline(math.log10(x), color)
        for series, color in ((smooth, SMOOTHED), (raw, RAW)):  # raw on top: the pick is on it
            if series:
                plt.plot([math.log10(lr) for lr, _ in series], [y(v) for _, v in series], color=color, marker="braille")
        if log_y:
            plt.yticks(*log_ticks(min(map(y, values)), max(map(y, values))))
        if self.picked is not None and _usable(result.lrs[self.picked], result.losses[self.picked]):
            lr, loss = result.lrs[self.picked], result.losses[self.picked]
            plt.scatter([math.log10(lr)], [y(loss)], color=PICKED, marker="◆")
        return True


class Hint(Static):
    """The keys, shortened where the box is too narrow for the whole line."""

    def render(self) -> RenderResult:
        return HINT if self.size.width >= len(HINT) else SHORT_HINT


class LrFindScreen(ModalScreen[float | None]):
    """The LR range test of a lane; dismisses with the picked lr (enter) or None (escape, q)."""

    DEFAULT_CSS = """
    LrFindScreen {
        align: center middle;
    }
    #lrfind-box {
        width: 90%;
        max-width: 110;
        height: 80%;
        min-height: 14;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    #lrfind-plot {
        height: 1fr;
        content-align: center middle;  /* the notices; a plot fills the widget */
    }
    #lrfind-key, #lrfind-info {
        height: auto;
    }
    #lrfind-hint {
        height: 1;
        color: $text-muted;
    }
    """

    BINDINGS = [
        Binding("left,h", "move(-1)", "Lower lr", tooltip="the previous step of the ramp"),
        Binding("right,l", "move(1)", "Higher lr", tooltip="the next step of the ramp"),
        Binding("home", "jump(0)", "First", tooltip="the ramp's first finite step"),
        Binding("end", "jump(-1)", "Last", tooltip="the ramp's last finite step"),
        Binding("s", "suggestion", "Suggestion", tooltip="back to the step nearest the suggestion"),
        Binding("enter", "apply", "Apply", tooltip="apply the picked lr to the lane"),
        Binding("escape,q", "close", "Close", tooltip="close without changing the lane"),
    ]

    def __init__(self, result: LrFind, lr: float, lane: str) -> None:
        super().__init__()
        self.result = result
        self.lr = lr
        self.lane = lane
        self.points = finite_points(result)
        self.start = first_pick(result, self.points)
        self.pick = self.start  # a position in self.points
        self._done = False

    @property
    def picked_lr(self) -> float | None:
        """The lr enter would apply (None when the ramp found nothing finite)."""
        return None if self.pick is None else self.result.lrs[self.points[self.pick]]

    def compose(self) -> ComposeResult:
        with Vertical(id="lrfind-box"):
            yield LrFindPlot(self.result, self.lane, id="lrfind-plot")
            yield Static(self._key(), id="lrfind-key")
            yield Static(id="lrfind-info")
            yield Hint(id="lrfind-hint", markup=False)

    def on_mount(self) -> None:
        # the title on the border costs the plot no row; Textual cuts it short where the box is narrow
        self.query_one("#lrfind-box").border_title = f"LR range test — {self.lane}"
        self._show()

    def _key(self) -> Text:
        key, drawn = Text(), bool(self.points)
        for mark, label, color, shown in (
            ("━ ", "raw loss", RAW, drawn),
            ("━ ", "smoothed", SMOOTHED, drawn),
            ("│ ", "2/λmax", LIMIT_LINE, drawn and self.result.lr_limit is not None),
            ("│ ", "suggestion", SUGGESTION_LINE, drawn and self.result.suggestion is not None),
            ("◆ ", "picked", PICKED, drawn),
        ):
            if shown:
                key.append(mark, style=_style(color, bold=True))
                key.append(label + "   ")
        key.rstrip()
        return key

    def info(self) -> Text:
        """The picked lr and its loss, the suggestion and its rule, 2/λmax, the lane's lr, and a warning."""
        result, limit, lr = self.result, self.result.lr_limit, self.picked_lr
        text = Text()
        if lr is None or self.pick is None:
            text.append(EMPTY, style="bold")
            text.append(": nothing to apply")
        else:
            step = self.points[self.pick]
            text.append("picked lr ")
            text.append(f"{lr:.3g}", style=_style(PICKED, bold=True))
            text.append(f" · raw loss {result.losses[step]:.4g} · step {step + 1} of {len(result.lrs)}")
        suggestion = f"{result.suggestion:.3g} ({RULE})" if result.suggestion is not None else "none"
        text.append(f"\nsuggestion {suggestion} · 2/λmax ")
        text.append(f"{limit:.3g}" if limit is not None else "unknown")
        text.append(f"\nlane lr now {self.lr:.3g}")
        if lr is not None and limit is not None:
            if lr > limit:
                text.append(" · ")
                text.append("above 2/λmax: plain gradient descent diverges", style=_style(LIMIT_LINE, bold=True))
            else:
                text.append(" · at or below 2/λmax", style="dim")
        return text

    def _show(self) -> None:
        plot = self.query_one(LrFindPlot)
        plot.picked = None if self.pick is None else self.points[self.pick]
        plot.refresh()
        self.query_one("#lrfind-info", Static).update(self.info())

    def _on_top(self) -> bool:
        # Keys queued before the first dismiss still arrive here: only the screen on top acts on them.
        return not self._done and self.app.screen is self

    def action_move(self, step: int) -> None:
        if self._on_top() and self.pick is not None:
            self.pick = min(max(self.pick + step, 0), len(self.points) - 1)
            self._show()

    def action_jump(self, where: int) -> None:
        if self._on_top() and self.pick is not None:
            self.pick = where % len(self.points)
            self._show()

    def action_suggestion(self) -> None:
        if self._on_top() and self.start is not None:
            self.pick = self.start
            self._show()

    def action_apply(self) -> None:
        if self._on_top():
            self._done = True
            self.dismiss(self.picked_lr)

    def action_close(self) -> None:
        if self._on_top():
            self._done = True
            self.dismiss(None)
