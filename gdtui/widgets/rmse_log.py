"""The RMSE log: one row per epoch, newest in view, a bounded tail.

Why: a million epochs must not become a million rows in the widget; the engine keeps the whole history
(exportable at any time), the widget keeps the last `max_lines`. Textual's plain-text Log renders only the
lines in view (RichLog renders every line it is given: 40 ms per chunk measured in a key storm), and a chunk
of epochs is written in one call.
"""

from __future__ import annotations

from textual.widgets import Log

TAIL = 2000


def _g(value) -> str:
    return "-" if value is None else f"{value:.6g}"


def format_row(result) -> str:
    params = " ".join(f"{name}={value:.6g}" for name, value in result.params)
    flag = "diverged " if result.status == "diverged" else ""
    return f"{result.epoch:<7} {result.rmse!r:<22} {_g(result.loss):<11} {_g(result.test_loss):<11} {flag}{params}"


HEADER = f"{'epoch':<7} {'RMSE':<22} {'loss':<11} {'test loss':<11} parameters"


class RmseLog(Log):
    """Epoch rows: epoch, RMSE at full precision, loss, test loss, parameters. `rows` counts every epoch
    written since the last reset; the widget keeps the last TAIL of them."""

    def __init__(self, **kwargs):
        super().__init__(max_lines=TAIL, auto_scroll=True, **kwargs)
        self.rows = 0

    def reset_rows(self) -> None:
        self.clear()
        self.rows = 0

    def add_chunk(self, chunk) -> None:
        """Rows for a chunk of epochs; only the ones the tail keeps are formatted."""
        self.rows += len(chunk)
        self.write_lines([format_row(r) for r in chunk.results(max(0, len(chunk) - TAIL))])
