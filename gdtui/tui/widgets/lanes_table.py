"""The lanes table: one row a lane, its color, what sets it apart, its settings, epoch, RMSE and state.

Why: a race is read as a table: which lane is which, where each stands. Up and down (or 1-8) focus a lane,
the one the hyperparameters pane edits and the RMSE log shows. Shown only while there are several lanes. The
columns keep their order: where every column does not fit (80 columns with the pane shown), the settings columns
give way, since "apart" already names what sets each lane apart; which columns are shown depends on the width,
never on a label: a long "apart" is cut to the room left. The swatch keeps its lane's color on the cursor's row.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from gdtui.tui.lanes import LanesModel, LaneView
from gdtui.tui.messages import FocusLane

COLUMNS = ("", "#", "apart", "optimizer", "lr", "mom", "loss", "epoch", "RMSE", "state")
COMPACT = (0, 1, 2, 7, 8, 9)  # where all do not fit: the swatch, the number, "apart", epoch, RMSE and state
APART = 2
SHORTEST = 8  # "apart" is cut to fit, to no fewer characters than this (or than its longest label, if shorter)


class LanesTable(DataTable[Any]):
    """Posts FocusLane(id) when the user moves to another lane's row."""

    def __init__(self, **kwargs: Any) -> None:
        # the cells' own colors over the cursor's (the swatch is the lane's color, on every row)
        super().__init__(
            cursor_type="row", zebra_stripes=False, show_cursor=True, cursor_foreground_priority="renderable", **kwargs
        )
        self._columns: list[Any] = []
        self.display = False  # shown with a second lane
        self._ids: list[int] = []
        self._kept: tuple[tuple[int, ...], int | None] = ((), None)  # the columns shown, the room "apart" is cut to
        self._model: LanesModel | None = None
        self._focus: int | None = None

    def on_resize(self) -> None:
        if self._model is not None:
            self.show(self._model, self._focus)

    def _fit(self, rows: list[list[Any]]) -> tuple[tuple[int, ...], int]:
        """Every column if they fit the table's width (each cell padded by one on either side) with "apart" cut to
        no fewer than SHORTEST characters, else COMPACT; and the room "apart" has."""
        widths = [len(name) for name in COLUMNS]
        for cells in rows:
            widths = [max(w, len(str(cell))) for w, cell in zip(widths, cells)]
        pad = 2 * self.cell_padding
        every = tuple(range(len(COLUMNS)))
        if not self.size.width:
            return every, widths[APART]
        for kept in (every, COMPACT):
            room = self.size.width - sum(widths[i] + pad for i in kept if i != APART) - pad
            if room >= min(SHORTEST, widths[APART]):
                break
        return kept, max(room, len(COLUMNS[APART]))

    def show(self, model: LanesModel, focus: int | None = None) -> None:
        """Draw `model`'s lanes, the cursor on `focus` (the lane last asked for; default the focused one): cells
        in place while the lanes stay the same (so the cursor stays where the user put it), rows anew when lanes
        come or go."""
        self._model, self._focus = model, focus
        full = [self._cells(model, lane) for lane in model.lanes]
        kept, room = self._fit(full)
        cut = any(len(cells[APART]) > room for cells in full)
        for cells in full:
            if len(cells[APART]) > room:
                cells[APART] = cells[APART][: room - 1] + "…"
        rows = [[cells[i] for i in kept] for cells in full]
        ids = [lane.id for lane in model.lanes]
        with self.prevent(DataTable.RowHighlighted):
            if (kept, room if cut else None) != self._kept:  # a column never narrows: a new cut makes it anew
                self.clear(columns=True)
                self._columns = self.add_columns(*(COLUMNS[i] for i in kept))
                self._kept, self._ids = (kept, room if cut else None), []
            if ids != self._ids:
                self.clear()
                for lane_id, cells in zip(ids, rows):
                    self.add_row(*cells, key=str(lane_id))
                self._ids = ids
            else:
                for lane_id, cells in zip(ids, rows):
                    for column, value in zip(self._columns, cells):
                        self.update_cell(str(lane_id), column, value, update_width=True)
            focus = model.focus if focus is None else focus
            if focus in ids and self.cursor_row != ids.index(focus):
                self.move_cursor(row=ids.index(focus), animate=False)

    @staticmethod
    def _cells(model: LanesModel, lane: LaneView) -> list[Any]:
        c = lane.config
        state = lane.status if lane.status == "diverged" else ("done" if lane.epoch >= c.epochs else "")
        momentum = f"{c.effective_momentum:g}" if c.uses_momentum else "-"
        rmse = "-" if lane.rmse is None else f"{lane.rmse:.6g}"
        return [
            Text("■", style=lane.rich_color),
            str(lane.number),
            model.apart(lane),
            c.optimizer,
            f"{c.lr:g}",
            momentum,
            c.loss,
            str(lane.epoch),
            rmse,
            state,
        ]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        # only the user's moves (the table has the focus): a redraw's own cursor moves are not a choice
        if self.has_focus and event.row_key.value is not None:
            self.post_message(FocusLane(int(event.row_key.value)))
