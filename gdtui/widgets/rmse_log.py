"""The RMSE log: one row per epoch, newest in view, a bounded tail.

Why: a million epochs must not become a million rows in the widget; the engine keeps the whole history
(exportable at any time), the widget keeps the last TAIL rows. It renders only the rows in view (the Line
API), formats only the rows the tail keeps, and a chunk of epochs is written in one call. Textual's RichLog
renders every row it is given (40 ms a chunk, measured in a key storm) and its Log measures widths in a
thread worker that can outlive the app; rows here are ASCII, so their width is their length.
"""

from __future__ import annotations

from collections import deque

from rich.segment import Segment
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

TAIL = 2000


def _g(value) -> str:
    return "-" if value is None else f"{value:.6g}"


def format_row(result) -> str:
    params = " ".join(f"{name}={value:.6g}" for name, value in result.params)
    flag = "diverged " if result.status == "diverged" else ""
    return f"{result.epoch:<7} {result.rmse!r:<22} {_g(result.loss):<11} {_g(result.test_loss):<11} {flag}{params}"


HEADER = f"{'epoch':<7} {'RMSE':<22} {'loss':<11} {'test loss':<11} parameters"


class RmseLog(ScrollView, can_focus=True):
    """Epoch rows: epoch, RMSE at full precision, loss, test loss, parameters. `rows` counts every epoch
    written since the last reset; the widget keeps the last TAIL of them and follows the newest unless the
    user has scrolled up."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._lines: deque[str] = deque(maxlen=TAIL)
        self._width = 0
        self._pending_follow = False
        self.rows = 0

    @property
    def lines(self) -> list[str]:
        return list(self._lines)

    def reset_rows(self) -> None:
        self._lines.clear()
        self._width = 0
        self.rows = 0
        self.virtual_size = Size(0, 0)
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def add_chunk(self, chunk) -> None:
        """Rows for a chunk of epochs; only the ones the tail keeps are formatted."""
        self.rows += len(chunk)
        lines = [format_row(r) for r in chunk.results(max(0, len(chunk) - TAIL))]
        follow = self._pending_follow or self.scroll_y >= self.max_scroll_y
        self._lines.extend(lines)
        self._width = max(self._width, max(map(len, lines)))
        self.virtual_size = Size(self._width, len(self._lines))
        if follow and not self._pending_follow:  # once the new size is laid out
            self._pending_follow = True
            self.call_after_refresh(self._follow)
        self.refresh()

    def _follow(self) -> None:
        self._pending_follow = False
        self.scroll_end(animate=False, x_axis=False)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        style = self.rich_style
        if index >= len(self._lines):
            return Strip.blank(width, style)
        text = self._lines[index][scroll_x: scroll_x + width]
        return Strip([Segment(text.ljust(width), style)], width)
