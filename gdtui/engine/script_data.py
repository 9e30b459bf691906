"""The script's data: the preset article's own draw, a synthetic curve or a CSV file's two columns, on the
device, and its split into training and test points.

Why: a part of the script writer (`_Writer` in script.py, put together from parts as WriterBase declares),
kept apart because the data is written once, at the top, in the article's own names, and nothing else reads
it back but which tensors train (`x_train`: the loop, the loader and the standardisation).
"""

from __future__ import annotations

import os

from gdtui.engine.config import DATA_ARTICLE, X_RANGE
from gdtui.engine.script_base import WriterBase, _num

SYNTHETIC = {
    "linear": "2 * {x} + 1",
    "quadratic": "0.8 * {x}**2 - {x} + 1",
    "cubic": "0.5 * {x}**3 - 2 * {x}",
    "sine": "3 * torch.sin({x})",
}


class DataPart(WriterBase):
    """The script's data (a mixin of `_Writer`)."""

    def data(self) -> None:
        c, n = self.start, self.n
        x, y = n.x, n.y
        if c.data == DATA_ARTICLE:
            k, noise = c.points, _num(c.noise)
            if c.preset == "fastai-quadratic":
                self.emit(
                    f"{x} = torch.arange(0, {k}).float()",
                    f"{y} = torch.rand({k}) * {noise} + 0.8 * ({x} - 7.5) ** 2 + 1",
                )
            elif c.preset == "qiita-quadratic":
                self.emit(
                    f"{x} = torch.arange(0, {k}).float()", f"{y} = torch.rand({k}) * {noise} + 0.9 * ({x} - 3) ** 2 + 1"
                )
            elif c.preset == "linear-module":
                self.emit(
                    "weight, bias = 0.7, 0.3", f"{x} = torch.arange(0, 1, 1 / {k})[:{k}]", f"{y} = weight * {x} + bias"
                )
                if c.noise:
                    self.emit(f"{y} = {y} + {noise} * torch.randn(len({x}))")
            else:
                self.emit(f"{x} = torch.arange(1, {k} + 1).float()", f"{y} = 2 * {x}")
                if c.noise:
                    self.emit(f"{y} = {y} + {noise} * torch.randn({k})")
            if c.dtype != "float32":  # the article's data is float32: cast after it is drawn
                self.emit(f"{x}, {y} = {x}.to(dtype), {y}.to(dtype)")
        elif c.data in SYNTHETIC:
            lo, hi = c.x_range or X_RANGE
            self.emit(
                f"{x} = torch.linspace({_num(lo)}, {_num(hi)}, {c.points}, dtype=dtype)",
                f"{y} = {SYNTHETIC[c.data].format(x=x)}",
            )
            if c.noise:
                self.emit(f"{y} = {y} + {_num(c.noise)} * torch.randn({c.points}, dtype=dtype)")
        else:
            path = os.path.abspath(c.data)
            self.emit(
                "rows = []  # two columns x,y; blank lines skipped",
                f'with open({path!r}, newline="", encoding="utf-8-sig") as handle:',
                "    for row in csv.reader(handle, skipinitialspace=True):",
                "        cells = [cell.strip() for cell in row]",
                "        if any(cells):",
                "            rows.append(cells)",
                "try:",
                "    float(rows[0][0])",
                "except ValueError:",
                "    rows = rows[1:]  # a header row",
                f"{x} = torch.tensor([float(r[0]) for r in rows], dtype=torch.float64).to(dtype)",
                f"{y} = torch.tensor([float(r[1]) for r in rows], dtype=torch.float64).to(dtype)",
            )
        self.emit(f"{x}, {y} = {x}.to(device), {y}.to(device)")
        if self.test:
            xt, yt, xs, ys = n.train
            f = _num(c.test_fraction)
            self.emit(
                f"n_train = int((1 - {f}) * len({x}))  # the first points train, the rest test",
                f"n_train = min(max(n_train, 1), len({x}) - 1) if len({x}) > 1 else len({x})",
                f"{xt}, {yt} = {x}[:n_train], {y}[:n_train]",
                f"{xs}, {ys} = {x}[n_train:], {y}[n_train:]",
            )
        self.emit("")

    @property
    def x_train(self) -> tuple[str, str]:
        return (self.n.train[0], self.n.train[1]) if self.test else (self.n.x, self.n.y)
