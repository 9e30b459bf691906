"""Reading a user's CSV of two numeric columns, with errors that name the file and the line.

Why: a broken CSV is the commonest bad input; the user must learn which file and which line is at fault,
never see a traceback. Numbers are plain ASCII decimals (float() would also take `1_0` and Arabic-Indic
digits); a value the run's float32 cannot hold is refused, and one it rounds to zero is reported, never
changed silently. Torch-free so the command line and the TUI can check a file before torch loads. Under
`gdtui serve` (GDTUI_SERVED in the environment) a message never quotes the file's content, only its name, the
line and the reason: the person in the browser may not read the server's files.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import stat
import struct
from array import array
from collections.abc import Generator, Iterator
from dataclasses import dataclass

from gdtui.engine.config import FLOAT32_MAX, MAX_POINTS

MAX_LINE = 4096  # characters in a line: two numbers and their spaces take a few dozen
SLICE_ROWS = 10_000  # rows read between two looks at the session's pipe (some 35 ms)
SERVED_ENV = "GDTUI_SERVED"  # set for each tab of `gdtui serve` (gdtui.engine.served)
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


class DataError(ValueError):
    """The data cannot be used; the message names the file and, where it can, the line."""


@dataclass(frozen=True)
class CsvData:
    """The x and y columns of a CSV file as doubles, and warnings about its values (each naming its line)."""

    path: str
    x: array[float]
    y: array[float]
    warnings: tuple[str, ...] = ()


def _number(cell: str) -> float | None:
    return float(cell) if NUMBER.fullmatch(cell) else None


def _quoted(text: str) -> str:
    """`: 'text'` to end a message with the row at fault; nothing when served (the row is the file's content)."""
    return "" if os.environ.get(SERVED_ENV) else f": {text!r}"


def _float32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


def _open(path: str) -> io.TextIOWrapper:
    """`path` opened for reading text, if it is a regular file (checked on the open file: a FIFO is opened
    without waiting for a writer, then refused; /dev/zero and a directory are refused, never read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a CSV file") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise DataError(f"{path}: is a directory, not a CSV file")
        if not stat.S_ISREG(mode):
            raise DataError(f"{path}: not a regular file (a device, a pipe or a socket), not a CSV file")
        os.set_blocking(fd, True)
        return open(fd, newline="", encoding="utf-8-sig")
    except BaseException:
        os.close(fd)
        raise


def _lines(handle: io.TextIOWrapper, path: str) -> Iterator[str]:
    """The file's lines, each read at most MAX_LINE characters at a time: a longer one is refused by its number
    (a file of one endless line is never held in memory)."""
    number = 0
    while line := handle.readline(MAX_LINE + 2):  # room for its \r\n
        number += 1
        if len(line.rstrip("\r\n")) > MAX_LINE:
            raise DataError(f"{path}:{number}: a line longer than {MAX_LINE:,} characters, not x,y")
        yield line


def read_xy(path: str) -> CsvData:
    """The x and y columns of a CSV file: two numeric columns, an optional header, blank lines skipped, a UTF-8
    byte-order mark allowed. A regular file only, its lines and its rows bounded (MAX_LINE, MAX_POINTS)."""
    job = read_xy_job(path)
    while True:
        try:
            next(job)
        except StopIteration as done:
            data: CsvData = done.value
            return data


def check_readable(path: str) -> int:
    """The size of `path` if it is a regular file gdtui can open (DataError naming it if not), without reading it."""
    with _open(path) as handle:
        return os.fstat(handle.fileno()).st_size


def read_xy_job(path: str, rows: int | None = None) -> Generator[float, None, CsvData]:
    """`read_xy` a slice at a time: yields the fraction of the file read after every `rows` rows (SLICE_ROWS),
    returns the data. A reader that stops asking (a cancelled read) leaves the file closed, nothing behind."""
    rows = rows or SLICE_ROWS
    xs: array[float] = array("d")
    ys: array[float] = array("d")
    warnings: list[str] = []
    reader = None
    try:
        with _open(path) as handle:
            size = max(os.fstat(handle.fileno()).st_size, 1)
            raw = handle.buffer.raw  # type: ignore[attr-defined]  # its position: how far the file is read
            reader = csv.reader(_lines(handle, path), skipinitialspace=True)
            first = True
            for row in reader:
                cells = [cell.strip() for cell in row]
                if not any(cells):
                    continue
                where = f"{path}:{reader.line_num}"
                if len(cells) != 2:
                    raise DataError(f"{where}: expected 2 columns (x,y), found {len(cells)}")
                values = [_number(cell) for cell in cells]
                if first and all(v is None and not _looks_numeric(c) for v, c in zip(values, cells)):
                    first = False  # a header row: two names
                    continue
                first = False
                text = ",".join(cells)
                if values[0] is None or values[1] is None:
                    raise DataError(f"{where}: not a plain decimal number{_quoted(text)}")
                x, y = values[0], values[1]
                if not (math.isfinite(x) and math.isfinite(y)) or abs(x) > FLOAT32_MAX or abs(y) > FLOAT32_MAX:
                    raise DataError(f"{where}: too large for float32{_quoted(text)}")
                if any(_float32(v) == 0 and _nonzero(cell) for v, cell in zip((x, y), cells)):
                    shown = f"{text!r}" if not os.environ.get(SERVED_ENV) else "a value"
                    warnings.append(f"{where}: {shown} underflows to 0 in float32")
                if len(xs) == MAX_POINTS:
                    raise DataError(f"{where}: more than {MAX_POINTS:,} rows")
                xs.append(x)
                ys.append(y)
                if len(xs) % rows == 0:
                    yield min(raw.tell() / size, 1.0)
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text file") from None
    except csv.Error as error:
        raise DataError(f"{path}:{reader.line_num if reader else 0}: {error}") from None
    except OSError as error:
        raise DataError(f"{path}: {error.strerror or error}") from None
    if not xs:
        raise DataError(f"{path}: no data rows (expected two numeric columns x,y)")
    return CsvData(path, xs, ys, tuple(warnings))


def _nonzero(cell: str) -> bool:
    """Whether a number's text is not zero (1e-400 is, though float() already makes it 0.0)."""
    mantissa = re.split("[eE]", cell)[0]
    return any(c in "123456789" for c in mantissa)


def _looks_numeric(cell: str) -> bool:
    """Whether a cell is a number float() reads but gdtui refuses (`1_0`, `inf`, other scripts' digits): such a
    first row is bad data, not a header."""
    try:
        float(cell)
    except ValueError:
        return False
    return True
