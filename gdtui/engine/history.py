"""A run's whole history, kept compactly, and written to CSV or JSON atomically.

Why: a million epochs must not cost a million Python objects; one array of doubles per column does.
Writing goes through a temporary file and a rename, so an interrupted write never leaves half a file.
"""

from __future__ import annotations

import csv
import json
import math
import os
import stat
import tempfile
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

SUMMARY_OVER = 8  # more parameters than this (an mlp): their count and norm, not every weight
# More parameters than this (a large mlp): the history keeps their norm each epoch, not each parameter (a
# million weights an epoch cost seconds to record, and gigabytes over a run); their values are kept at the
# run's checkpoints instead.
RECORDED_UP_TO = 1024


def params_text(result: EpochResult, spec: str = ".6g", sep: str = " ") -> str:
    """An epoch's parameters as a log shows them: name=value each, or past SUMMARY_OVER their count and norm."""
    params = result.params
    if result.summary is not None:
        count, norm = result.summary
        return f"{count} params, norm {norm:{spec}}"
    if len(params) > SUMMARY_OVER:
        return f"{len(params)} params, norm {math.sqrt(math.fsum(v * v for _, v in params)):{spec}}"
    return sep.join(f"{name}={value:{spec}}" for name, value in params)


@dataclass(frozen=True)
class EpochResult:
    """What one epoch did. `loss`/`rmse` come from the forward pass before the update; `params` are the values
    after it; `preds` (predictions on the trainer's plot sample, after the update) is filled on the last result
    of each `Trainer.run()` call and on every `step()`."""

    epoch: int
    loss: float
    rmse: float
    test_loss: float | None
    params: tuple[tuple[str, float], ...]
    grad_norm: float
    lr: float
    status: str = "ok"
    preds: tuple[float, ...] | None = None
    summary: tuple[int, float] | None = None  # a large model's (parameter count, norm), its params left empty

    def record(self) -> dict[str, Any]:
        """A JSON-ready dict; non-finite numbers become None."""
        record: dict[str, Any] = {
            "epoch": self.epoch,
            "loss": _finite(self.loss),
            "rmse": _finite(self.rmse),
            "test_loss": _finite(self.test_loss),
            "params": {k: _finite(v) for k, v in self.params},
        }
        if self.summary is not None:
            record["param_count"], record["param_norm"] = self.summary[0], _finite(self.summary[1])
        return record | {"grad_norm": _finite(self.grad_norm), "lr": self.lr, "status": self.status}


@dataclass(frozen=True)
class Chunk:
    """Consecutive epochs from one `Trainer.run_chunk()`, column by column (cheap to keep, send and append).
    `preds` are the last epoch's predictions on the plot sample; `status` is the last epoch's. A large model's
    chunk (more than RECORDED_UP_TO parameters) has no names and no params: `norm` holds the parameters' norm
    after each epoch and `count` their number."""

    first: int
    loss: Sequence[float]
    rmse: Sequence[float]
    test_loss: Sequence[float] | None
    params: Sequence[Sequence[float]]
    grad_norm: Sequence[float]
    lr: float
    names: tuple[str, ...]
    status: str
    preds: tuple[float, ...] | None = None
    norm: Sequence[float] | None = None
    count: int = 0
    lrs: Sequence[float] | None = None  # each epoch's lr where a schedule moves it (`lr` is then the last one's)

    def __len__(self) -> int:
        return len(self.loss)

    @property
    def last(self) -> int:
        return self.first + len(self.loss) - 1

    def result(self, i: int) -> EpochResult:
        """Epoch `first + i` as an EpochResult (the last one carries the status and the predictions)."""
        last = i == len(self.loss) - 1
        return EpochResult(
            self.first + i,
            self.loss[i],
            self.rmse[i],
            None if self.test_loss is None else self.test_loss[i],
            tuple((name, column[i]) for name, column in zip(self.names, self.params)),
            self.grad_norm[i],
            self.lr if self.lrs is None else self.lrs[i],
            self.status if last else "ok",
            self.preds if last else None,
            None if self.norm is None else (self.count, self.norm[i]),
        )

    def results(self) -> list[EpochResult]:
        return [self.result(i) for i in range(len(self.loss))]


def _doubles(values: Sequence[float]) -> array[float]:
    """`values` as an array('d'); an array('d') is taken as it is (appending one is a copy of its bytes)."""
    return values if isinstance(values, array) and values.typecode == "d" else array("d", values)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class History:
    """Every epoch since the last reset, one `array('d')` per column. With `count` (a large model's parameter
    count), `names` is empty and `norm` holds the parameters' norm after each epoch instead."""

    def __init__(self, names: tuple[str, ...], count: int | None = None):
        self.names = names
        self.count = count
        self.clear()

    def clear(self) -> None:
        self.loss = array("d")
        self.rmse = array("d")
        self.test_loss = array("d")
        self.grad_norm = array("d")
        self.lr = array("d")
        self.params = {name: array("d") for name in self.names}
        self.norm = array("d")
        self.status = "ok"
        self.has_test = False  # whether the run holds out test data (a NaN test loss is a value then)

    def __len__(self) -> int:
        return len(self.loss)

    def tail(self, n: int, preds: tuple[float, ...] | None = None) -> Chunk | None:
        """The last `n` epochs as a Chunk (None before the first epoch)."""
        total = len(self)
        if total == 0:
            return None
        start = max(0, total - n)
        return Chunk(
            first=start + 1,
            loss=self.loss[start:],
            rmse=self.rmse[start:],
            test_loss=self.test_loss[start:] if self.has_test else None,
            params=[self.params[name][start:] for name in self.names],
            grad_norm=self.grad_norm[start:],
            lr=self.lr[-1],
            names=self.names,
            status=self.status,
            preds=preds,
            norm=self.norm[start:] if self.count is not None else None,
            count=self.count or 0,
            lrs=self.lr[start:],
        )

    def head(self, n: int) -> History:
        """A copy of the first `n` epochs."""
        head = History(self.names, self.count)
        head.loss, head.rmse, head.test_loss = self.loss[:n], self.rmse[:n], self.test_loss[:n]
        head.grad_norm, head.lr, head.norm = self.grad_norm[:n], self.lr[:n], self.norm[:n]
        head.params = {name: column[:n] for name, column in self.params.items()}
        head.status = self.status if n >= len(self) else "ok"
        head.has_test = self.has_test
        return head

    def extend(self, chunk: Chunk) -> None:
        n = len(chunk)
        self.loss += _doubles(chunk.loss)
        self.rmse += _doubles(chunk.rmse)
        self.has_test = chunk.test_loss is not None
        self.test_loss += _doubles(chunk.test_loss) if chunk.test_loss is not None else array("d", [math.nan]) * n
        self.grad_norm += _doubles(chunk.grad_norm)
        self.lr += array("d", [chunk.lr]) * n if chunk.lrs is None else _doubles(chunk.lrs)
        for name, column in zip(self.names, chunk.params):
            self.params[name] += _doubles(column)
        if chunk.norm is not None:
            self.norm += _doubles(chunk.norm)
        self.status = chunk.status

    def result(self, index: int) -> EpochResult:
        """The result of epoch `index + 1` (without predictions)."""
        test = self.test_loss[index]
        return EpochResult(
            epoch=index + 1,
            loss=self.loss[index],
            rmse=self.rmse[index],
            test_loss=test if self.has_test else None,
            params=tuple((name, self.params[name][index]) for name in self.names),
            grad_norm=self.grad_norm[index],
            lr=self.lr[index],
            status=self.status if index == len(self) - 1 else "ok",
            summary=None if self.count is None else (self.count, self.norm[index]),
        )

    def __iter__(self) -> Iterator[EpochResult]:
        return (self.result(i) for i in range(len(self)))

    def write(self, path: str) -> int:
        """Write the history to `path` (.json: a list of records; otherwise CSV), atomically; a symlink is
        written through to its target. Returns rows."""
        out = HistoryFile(path, self.names, self.count is not None)
        try:
            out.write(self)
            out.commit()
        except BaseException:
            out.discard()
            raise
        return len(self)

    def write_new(self, path: str) -> tuple[str, int]:
        """Write the history to a file that did not exist: `path`, else `stem-2.ext`, `stem-3.ext`... (see
        `claim_new`). Returns the path written and the rows."""
        candidate = claim_new(path)
        try:
            return candidate, self.write(candidate)
        except BaseException:
            os.unlink(candidate)
            raise


class HistoryFile:
    """A history written as it grows (`gdtui run --out`): the header (CSV) or the list's opening (.json) at once,
    then the rows each `write()` finds new, flushed, so a full disk or a dead pipe fails at the first write, not
    after the whole run. A regular file is written beside its name and renamed over it by `commit()` (nothing
    half-written: `discard()` removes it); what is not a regular file (/dev/null, a pipe) is written as it is.
    Byte for byte what `History.write` writes, which is this in one go. A large model's history (`summarized`)
    has one `param_norm` column where a small one's has a column per parameter."""

    def __init__(self, path: str, names: tuple[str, ...], summarized: bool = False) -> None:
        self.path = os.path.realpath(path)  # a symlink is written through to its target
        self.json = path.lower().endswith(".json")
        self.names = names
        self.rows = 0
        self.tmp: str | None = None
        try:
            special = not stat.S_ISREG(os.stat(self.path).st_mode)
        except FileNotFoundError:
            special = False
        if special:
            self.handle = open(self.path, "w", encoding="utf-8")
        else:
            fd, self.tmp = tempfile.mkstemp(prefix=".gdtui-", suffix=".tmp", dir=os.path.dirname(self.path))
            self.handle = os.fdopen(fd, "w", encoding="utf-8")
            try:
                os.fchmod(fd, _mode_for(self.path))
            except OSError:  # a file system without modes (vfat): its own default stands
                pass
        try:
            if self.json:
                self.handle.write("[")
            else:
                columns = ["param_norm"] if summarized else names
                header = ["epoch", "loss", "rmse", "test_loss", *columns, "grad_norm", "lr", "status"]
                csv.writer(self.handle, lineterminator="\n").writerow(header)
            self.handle.flush()
        except BaseException:
            self.discard()
            raise

    def write(self, history: History) -> None:
        """Append the rows of `history` not written yet, and flush them."""
        rows = range(self.rows, len(history))
        if self.json:
            for i in rows:
                record = json.dumps(history.result(i).record(), indent=1).replace("\n", "\n ")
                self.handle.write(("\n " if i == 0 else ",\n ") + record)
        else:
            writer = csv.writer(self.handle, lineterminator="\n")
            for i in rows:
                r = history.result(i)
                test = "" if r.test_loss is None else repr(r.test_loss)
                params = (repr(v) for _, v in r.params) if r.summary is None else [repr(r.summary[1])]
                writer.writerow(
                    [r.epoch, repr(r.loss), repr(r.rmse), test, *params, repr(r.grad_norm), repr(r.lr), r.status]
                )
        self.rows = len(history)
        self.handle.flush()

    def commit(self) -> None:
        """Finish the file: synced and renamed over its name (a regular file), or closed."""
        if self.json:
            self.handle.write("\n]\n" if self.rows else "]\n")
        self.handle.flush()
        if self.tmp is None:
            self.handle.close()
            return
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.tmp, self.path)
        self.tmp = None
        _sync_directory(os.path.dirname(self.path))

    def discard(self) -> None:
        """Leave nothing half-written: the temporary file goes (a special file is only closed)."""
        try:
            self.handle.close()
        except OSError:  # its buffer could not be written (the disk is full): closed all the same
            pass
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None


def claim_new(path: str) -> str:
    """A file that did not exist, created empty: `path`, else `stem-2.ext`, `stem-3.ext`... Each name is claimed
    with an exclusive create, so two writers (two gdtui in one folder) never share one."""
    stem, ext = os.path.splitext(path)
    n = 1
    while True:
        candidate = path if n == 1 else f"{stem}-{n}{ext}"
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            n += 1
            continue
        return candidate


def write_atomic(path: str, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path` and sync the directory, so the
    new name survives a crash. A symlink is followed: its target is replaced, the link stays. The file keeps
    the mode of the one it replaces, or gets the one a plain open() would give (mkstemp's own is 0600). What is
    not a regular file (/dev/null, a pipe, /dev/stdout) is written to as it is, never replaced."""
    path = os.path.realpath(path)
    try:
        special = not stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        special = False
    if special:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".gdtui-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            try:
                os.fchmod(handle.fileno(), _mode_for(path))
            except OSError:  # a file system without modes (vfat): its own default stands
                pass
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _sync_directory(directory)


def _sync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # a file system that cannot sync a directory
        pass
    finally:
        os.close(fd)


def _mode_for(path: str) -> int:
    """The mode `path` has, or the mode a new file gets under this process's umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        pass
    try:  # read, not set: setting the umask to learn it would race other threads creating files
        with open("/proc/self/status") as status:
            umask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0)
        os.umask(umask)
    return 0o666 & ~umask
