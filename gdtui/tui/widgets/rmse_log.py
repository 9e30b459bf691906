"""The RMSE log: one row per epoch, newest in view, a bounded tail.

Why: a million epochs must not become a million rows in the widget; the engine keeps the whole history
(exportable at any time), the widget keeps the last TAIL rows. A chunk of epochs is kept as it came (the
session's columns) and a row is formatted only when it is drawn (the Line API): while training, thousands of
epochs a second arrive and a dozen rows are in view, and the event loop stays free for keys. Textual's
RichLog renders every row it is given (40 ms a chunk, measured in a key storm) and its Log measures widths in
a thread worker that can outlive the app; rows here are ASCII, so their width is their length.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from rich.segment import Segment
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from gdtui.engine.history import SUMMARY_OVER, Chunk, EpochResult, params_text
from gdtui.tui.messages import TravelTo

TAIL = 2000


def _g(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def format_row(result: EpochResult) -> str:
    """An epoch as a log row; the test-loss column is there only for a run with a test split."""
    params = params_text(result)
    flag = "diverged " if result.status == "diverged" else ""
    test = "" if result.test_loss is None else f"{_g(result.test_loss):<11} "
    return f"{result.epoch:<7} {result.rmse!r:<22} {_g(result.loss):<11} {test}{flag}{params}"


def header(has_test: bool) -> str:
    """The column names, aligned with `format_row`."""
    test = f"{'test loss':<11} " if has_test else ""
    return f"{'epoch':<7} {'RMSE':<22} {'loss':<11} {test}parameters"


def _widest(values: Iterable[float], spec: str) -> int:
    return max(map(len, map(spec.format, values)), default=1)


def width_bound(chunk: Chunk) -> int:
    """The width of the widest row of `chunk`, or a little more, measured column by column without
    formatting the rows (the log's horizontal extent)."""
    g = "{:.6g}"
    test = max(11, _widest(chunk.test_loss, g)) + 1 if chunk.test_loss is not None else 0
    params = sum(len(name) + 1 + _widest(column, g) for name, column in zip(chunk.names, chunk.params))
    if len(chunk.names) > SUMMARY_OVER or chunk.norm is not None:
        params = 40
    return (
        max(7, len(str(chunk.last)))
        + 1
        + max(22, _widest(chunk.rmse, "{!r}"))
        + 1
        + max(11, _widest(chunk.loss, g))
        + 1
        + test
        + (len("diverged ") if chunk.status == "diverged" else 0)
        + params
        + (max(0, len(chunk.names) - 1) if len(chunk.names) <= SUMMARY_OVER else 0)
    )


class RmseLog(ScrollView, can_focus=True):
    """Epoch rows under a header line: epoch, RMSE at full precision, loss, test loss (with a test split),
    parameters. `rows` counts every epoch written since the last reset; the widget keeps the last TAIL of
    them and follows the newest unless the user has scrolled up. The header stays on top and scrolls
    sideways with the rows."""

    COMPONENT_CLASSES = {"rmse-log--header", "rmse-log--cursor"}
    DEFAULT_CSS = "RmseLog > .rmse-log--cursor { background: $accent 40%; text-style: bold; }"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rows: deque[tuple[Chunk, int]] = deque(maxlen=TAIL)  # (chunk, index in it)
        self.header = header(False)
        self._width = len(self.header)
        self._pending_follow = False
        self._at_end = True
        self.rows = 0
        self.cursor: int | None = None  # time travel: the epoch in view, its row highlighted
        self.border_title = "RMSE log"

    @property
    def lines(self) -> list[str]:
        """The rows the widget keeps, as text."""
        return [self._line(i) for i in range(len(self._rows))]

    def _line(self, index: int) -> str:
        chunk, i = self._rows[index]
        return format_row(chunk.result(i))

    def reset_rows(self, has_test: bool = False) -> None:
        """No rows; the columns of a run with (or without) a test split."""
        self._rows.clear()
        self.header = header(has_test)
        self._width = len(self.header)
        self.rows = 0
        self.virtual_size = Size(self._width, 1)
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def add_chunk(self, chunk: Chunk) -> None:
        """Rows for a chunk of epochs, formatted when drawn."""
        n = len(chunk)
        self.rows += n
        follow = self.cursor is None and (self._pending_follow or self.scroll_y >= self.max_scroll_y)
        self._rows.extend((chunk, i) for i in range(max(0, n - TAIL), n))
        self._width = max(self._width, width_bound(chunk))
        self.virtual_size = Size(self._width, len(self._rows) + 1)
        if follow:
            self._schedule_follow()
        self.refresh()

    def _schedule_follow(self) -> None:
        """Scroll to the newest row once the new size is laid out (once, however often it is asked)."""
        if not self._pending_follow:
            self._pending_follow = True
            self.call_after_refresh(self._follow)

    def _follow(self) -> None:
        self._pending_follow = False
        self.scroll_end(animate=False, x_axis=False)

    def _first(self) -> int:
        """The epoch of the first row kept."""
        chunk, i = self._rows[0]
        return chunk.first + i

    def show_epoch(self, epoch: int | None) -> None:
        """Put the cursor on `epoch`'s row (time travel) and scroll it into view, the last row shown (where the
        log keeps it: its last TAIL epochs); None: no cursor, the log follows the newest again."""
        self.cursor = epoch
        if epoch is None:
            self._schedule_follow()
        elif self._rows and 0 <= (index := epoch - self._first()) < len(self._rows):
            top = int(self.scroll_y)
            if not top <= index < top + self._page():
                self.scroll_to(y=max(0, index - self._page() + 1), animate=False)
        self.refresh()

    def action_scroll_up(self) -> None:
        """Up: with an epoch in view, the cursor an epoch back; else the log scrolls."""
        if self.cursor is None:
            super().action_scroll_up()
        else:
            self.post_message(TravelTo(self.cursor - 1))

    def action_scroll_down(self) -> None:
        if self.cursor is None:
            super().action_scroll_down()
        else:
            self.post_message(TravelTo(self.cursor + 1))

    def on_click(self, event: events.Click) -> None:
        """A click on a row travels to its epoch."""
        index = int(self.scroll_y) + event.y - 1
        if event.y >= 1 and 0 <= index < len(self._rows):
            self.post_message(TravelTo(self._first() + index))

    def selected_epoch(self) -> int | None:
        """The epoch in view (the cursor's), else the epoch of the last row in view when the log is scrolled
        back; None when it follows the newest."""
        if self.cursor is not None:
            return self.cursor
        if not self._rows or self._at_end:
            return None
        index = min(int(self.scroll_y) + self._page() - 1, len(self._rows) - 1)
        chunk, i = self._rows[index]
        return chunk.first + i

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)  # the header takes a line of the view

    def action_page_down(self) -> None:
        self.scroll_to(y=self.scroll_y + self._page(), animate=False)

    def action_page_up(self) -> None:
        self.scroll_to(y=self.scroll_y - self._page(), animate=False)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._at_end = new_value >= self.max_scroll_y

    def on_resize(self) -> None:
        # a smaller view keeps its offset, which would hide the newest rows: the newest stay in view
        if self._at_end:
            self._schedule_follow()

    def render_line(self, y: int) -> Strip:
        # Line 0 of the view is always the header; below it, the rows from the vertical offset on (the
        # virtual height counts the header, so the last row is in view at the end of the scroll).
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        style = self.rich_style
        if y == 0:
            text, style = self.header, style + self.get_component_rich_style("rmse-log--header")
        elif (index := scroll_y + y - 1) < len(self._rows):
            text = self._line(index)
            if self.cursor is not None and self._first() + index == self.cursor:
                style = style + self.get_component_rich_style("rmse-log--cursor")
        else:
            return Strip.blank(width, style)
        return Strip([Segment(text[scroll_x : scroll_x + width].ljust(width), style)], width)
