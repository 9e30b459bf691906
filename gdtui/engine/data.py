"""Data recipes: each seed article's generator as the article writes it, synthetic data, and CSV files.

Why: fidelity to the articles depends on drawing the same random numbers in the same order, so each
article's recipe is written as the article writes it (torch.rand after torch.arange, the seed set where the
article sets it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.utils.data

from gdtui.engine.config import DATA_ARTICLE, X_RANGE, RunConfig
from gdtui.engine.csvfile import CsvData, DataError, read_xy

DTYPES = {"float32": torch.float32, "float64": torch.float64}
PLOT_SAMPLE = 100  # plotext draws ~0.05 ms a point: 100 points (+100 predictions) stay within 1.5x of 20 points


@dataclass(frozen=True)
class Dataset:
    """x and y as 1-D tensors (float32, or the run's dtype), split into the first `n_train` points (train)
    and the rest (test)."""

    x: torch.Tensor
    y: torch.Tensor
    n_train: int
    label: str
    warnings: tuple[str, ...] = ()  # about the values read (a CSV's value that underflows to 0, by line)

    @property
    def x_train(self) -> torch.Tensor:
        return self.x[: self.n_train]

    @property
    def y_train(self) -> torch.Tensor:
        return self.y[: self.n_train]

    @property
    def x_test(self) -> torch.Tensor:
        return self.x[self.n_train :]

    @property
    def y_test(self) -> torch.Tensor:
        return self.y[self.n_train :]

    @property
    def has_test(self) -> bool:
        return self.n_train < len(self.x)

    def to(self, device: torch.device) -> Dataset:
        return Dataset(self.x.to(device), self.y.to(device), self.n_train, self.label, self.warnings)


def _fastai(n: int, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    time = torch.arange(0, n).float()
    speed = torch.rand(n) * noise + 0.8 * (time - 7.5) ** 2 + 1
    return time, speed


def _qiita(n: int, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    X = torch.arange(0, n).float()
    Y = torch.rand(n) * noise + 0.9 * (X - 3) ** 2 + 1
    return X, Y


def _linear_module(n: int, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    w, b = 0.7, 0.3
    X = torch.arange(0, 1, 1 / n)[:n]
    y = w * X + b
    if noise:
        y = y + noise * torch.randn(len(X))
    return X, y


def _linear_manual(n: int, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    x_data = torch.arange(1, n + 1).float()
    y_data = 2 * x_data
    if noise:
        y_data = y_data + noise * torch.randn(n)
    return x_data, y_data


ARTICLE_RECIPES = {
    "fastai-quadratic": _fastai,
    "qiita-quadratic": _qiita,
    "linear-module": _linear_module,
    "linear-manual": _linear_manual,
}

TRUE_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": lambda x: 2 * x + 1,
    "quadratic": lambda x: 0.8 * x**2 - x + 1,
    "cubic": lambda x: 0.5 * x**3 - 2 * x,
    "sine": lambda x: 3 * torch.sin(x),
}


def _synthetic(
    kind: str, n: int, noise: float, x_range: tuple[float, float], dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.linspace(x_range[0], x_range[1], n, dtype=dtype)
    y = TRUE_FUNCTIONS[kind](x)
    if noise:
        y = y + noise * torch.randn(n, dtype=dtype)
    return x, y


def split_point(n: int, test_fraction: float) -> int:
    """How many leading points train: the first (1 - test_fraction) of them, as seed 003 splits."""
    if test_fraction <= 0:
        return n
    n_train = int((1 - test_fraction) * n)
    return min(max(n_train, 1), n - 1) if n > 1 else n


def build_data(config: RunConfig, csv: CsvData | None = None) -> Dataset:
    """The config's data, drawn from torch's global generator (seed it first, as the articles do). A CSV is read
    from its path, unless `csv` holds it already read (the TUI's command line read it to check it)."""
    warnings: tuple[str, ...] = ()
    dtype = DTYPES[config.dtype]
    if config.data == DATA_ARTICLE:  # as the article draws it (float32), then cast
        x, y = ARTICLE_RECIPES[config.preset](config.points, config.noise)
        x, y = x.to(dtype), y.to(dtype)
        label = f"{config.preset} (article data)"
    elif config.data in TRUE_FUNCTIONS:  # drawn in the run's dtype, as a tutorial in float64 writes it
        lo, hi = config.x_range or X_RANGE
        x, y = _synthetic(config.data, config.points, config.noise, (lo, hi), dtype)
        where = f" on [{lo:g}, {hi:g}]" if config.x_range else ""
        label = f"synthetic {config.data}{where}, {config.points} points, noise {config.noise:g}"
    else:  # read at full double precision, then cast
        table = csv or read_xy(config.data)
        x = torch.frombuffer(table.x, dtype=torch.float64).to(dtype)
        y = torch.frombuffer(table.y, dtype=torch.float64).to(dtype)
        label, warnings = config.data, table.warnings
    if config.test_fraction > 0 and len(x) < 2:
        raise DataError(f"{label}: a train/test split needs at least 2 points")
    return Dataset(x, y, split_point(len(x), config.test_fraction), label, warnings)


class StreamSampler(torch.utils.data.Sampler[int]):
    """RandomSampler without a generator of its own, as `DataLoader(shuffle=True)` builds it, drawing from
    `stream` where torch's would draw from its global generator (--rng single): each pass takes one int64 seed
    from the stream and permutes the points with a generator seeded by it."""

    def __init__(self, n: int, stream: torch.Generator) -> None:
        self.n, self.stream = n, stream

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        seed = int(torch.empty((), dtype=torch.int64).random_(generator=self.stream).item())
        order = torch.Generator()
        order.manual_seed(seed)
        yield from torch.randperm(self.n, generator=order).tolist()


def plot_sample(x: torch.Tensor, y: torch.Tensor, limit: int = PLOT_SAMPLE) -> torch.Tensor:
    """Indices of a faithful sample of at most `limit` points for plotting.

    Small data is shown whole. Large data is binned on a grid of cells over its x and y range (half as many
    columns as the limit, eight rows) and one point is kept per occupied cell, so every region that holds
    data is drawn and none twice; if more cells are occupied than the limit, every k-th of them is kept.
    """
    n = len(x)
    if n <= limit:
        return torch.arange(n)
    cols = max(limit // 2, 1)
    rows = 8

    def cell(v: torch.Tensor, k: int) -> torch.Tensor:
        lo, hi = v.min(), v.max()
        span = (hi - lo).clamp_min(1e-30)
        return ((v - lo) / span * (k - 1)).round().long()

    key = cell(x.float(), cols) * rows + cell(y.float(), rows)
    _, first = torch.unique(key, return_inverse=True)
    order = torch.arange(n, device=x.device)
    picked = torch.full((int(first.max()) + 1,), n, dtype=torch.long, device=x.device)
    picked = picked.scatter_reduce(0, first, order, reduce="amin").sort().values
    if len(picked) > limit:
        picked = picked[torch.linspace(0, len(picked) - 1, limit).round().long()]
    return picked.cpu()
