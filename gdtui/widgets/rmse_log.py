"""The RMSE log: one row per epoch, newest in view, a bounded tail.

Why: a million epochs must not become a million rows in the widget; the engine keeps the whole history
(exportable at any time), the widget keeps the last `max_lines`. A chunk of epochs is written as one
block, so a fast run costs one write per chunk, not one per epoch.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

TAIL = 2000


def _g(value) -> str:
    return "-" if value is None else f"{value:.6g}"


def format_row(result) -> str:
    params = " ".join(f"{name}={value:.6g}" for name, value in result.params)
    flag = "diverged " if result.status == "diverged" else ""
    return f"{result.epoch:<7} {result.rmse!r:<22} {_g(result.loss):<11} {_g(result.test_loss):<11} {flag}{params}"


HEADER = f"{'epoch':<7} {'RMSE':<22} {'loss':<11} {'test loss':<11} parameters"


class RmseLog(RichLog):
    """Epoch rows: epoch, RMSE at full precision, loss, test loss, parameters."""

    def __init__(self, **kwargs):
        super().__init__(max_lines=TAIL, wrap=False, markup=False, highlight=False, auto_scroll=True, **kwargs)
        self.rows = 0

    def reset_rows(self) -> None:
        self.clear()
        self.rows = 0

    def add_results(self, results) -> None:
        self.rows += len(results)
        tail = results[-TAIL:]
        self.write(Text("\n".join(format_row(r) for r in tail), no_wrap=True), scroll_end=True)
