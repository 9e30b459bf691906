"""Reading a user's CSV of two numeric columns, with errors that name the file and the line.

Why: a broken CSV is the commonest bad input; the user must learn which file and which line is at fault,
never see a traceback. Torch-free so the command line and the TUI can check a file before torch loads.
"""

from __future__ import annotations

import csv
import math
import os

FLOAT32_MAX = 3.4028234663852886e38


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


class DataError(ValueError):
    """The data cannot be used; the message names the file and, where it can, the line."""


def read_xy(path: str) -> tuple[list[float], list[float]]:
    """The x and y columns of a CSV file: two numeric columns, an optional header, blank lines skipped."""
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory, not a CSV file")
    xs: list[float] = []
    ys: list[float] = []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle, skipinitialspace=True)
            first = True
            for row in reader:
                cells = [cell.strip() for cell in row]
                if not any(cells):
                    continue
                where = f"{path}:{reader.line_num}"
                if len(cells) != 2:
                    raise DataError(f"{where}: expected 2 columns (x,y), found {len(cells)}")
                values = [_number(cell) for cell in cells]
                if first and values == [None, None]:  # a header row: two names
                    first = False
                    continue
                first = False
                if None in values:
                    raise DataError(f"{where}: not a number: {','.join(cells)!r}")
                x, y = values
                if not (math.isfinite(x) and math.isfinite(y)):
                    raise DataError(f"{where}: not a finite number: {','.join(cells)!r}")
                if abs(x) > FLOAT32_MAX or abs(y) > FLOAT32_MAX:
                    raise DataError(f"{where}: too large for float32: {','.join(cells)!r}")
                xs.append(x)
                ys.append(y)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file") from None
    except csv.Error as error:
        raise DataError(f"{path}: {error}") from None
    except OSError as error:
        raise DataError(f"{path}: {error.strerror or error}") from None
    if not xs:
        raise DataError(f"{path}: no data rows (expected two numeric columns x,y)")
    return xs, ys
