"""A run as the plain PyTorch script that prints the same numbers: the Code view and `gdtui export-script`.

Why: gdtui's promise is that its numbers are the tutorial's numbers, and the code is where a learner goes
next. The script is written out from the run's starting settings and the changes made during it (an lr set at
epoch 5, an optimizer switched in a branch), in the preset article's own names (`time`/`speed`, `x_data`,
`learning_rate`), with only torch imported, and every expression as the engine computes it, so that
`python FILE` prints the log of `gdtui run` bit for bit. Torch-free: the generator only writes text.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gdtui import __version__
from gdtui.engine.config import DATA_ARTICLE, OPTIMIZER_SETTINGS, X_RANGE, RunConfig, formula_of, param_names

Change = tuple[int, Mapping[str, Any]]


@dataclass(frozen=True)
class Names:
    """What the preset's article calls things."""

    x: str = "x"
    y: str = "y"
    fn: str = "predict"  # the model function (quadratic, poly)
    arg: str = "x"
    targets: str = "targets"  # mse's second argument
    preds: str = "preds"
    lr: str = "lr"
    train: tuple[str, str, str, str] = ("x_train", "y_train", "x_test", "y_test")
    step: str | None = None  # the article's function for one step, called by the loop (None: inline)


STYLES = {
    "fastai-quadratic": Names(x="time", y="speed", fn="function", arg="t", step="apply_step"),
    "qiita-quadratic": Names(x="X", y="Y", fn="func", arg="x", targets="actual", step="step"),
    "linear-module": Names(x="X", y="y", train=("XTrain", "yTrain", "XTest", "yTest")),
    "linear-manual": Names(x="x_data", y="y_data", preds="y_pred", lr="learning_rate"),
}
DTYPE = {"float32": "torch.float32", "float64": "torch.float64"}
SYNTHETIC = {
    "linear": "2 * {x} + 1",
    "quadratic": "0.8 * {x}**2 - {x} + 1",
    "cubic": "0.5 * {x}**3 - 2 * {x}",
    "sine": "3 * torch.sin({x})",
}
LOSS_DEFS = {
    "mse": ("def mse(preds, {t}):", "    return ((preds - {t}) ** 2).mean()"),
    "sse": ("def sse(preds, targets):", "    return (preds - targets).pow(2).sum()"),
    "l1": ("def l1(preds, targets):", "    return F.l1_loss(preds, targets)"),
    "huber": ("def huber(preds, targets):", "    return F.huber_loss(preds, targets, delta=1.0)"),
}
ACTIVATION = {"tanh": "nn.Tanh()", "relu": "nn.ReLU()", "sigmoid": "nn.Sigmoid()"}


def _num(value: float) -> str:
    return repr(float(value))


def _settings(config: RunConfig) -> dict[str, Any]:
    """The optimizer's own settings the config sets, under torch's names (as gdtui.engine.optim passes them)."""
    names = {"initial_accumulator": "initial_accumulator_value"}
    return {names.get(f, f): getattr(config, f) for f in OPTIMIZER_SETTINGS if getattr(config, f) is not None}


def _setting(value: Any) -> str:
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(_num(v) for v in value) + ")"
    return _num(value)


def _spaced(lines: list[str]) -> list[str]:
    """PEP 8's blank lines: two before a top-level def or class (and after its body), never more than two."""
    out: list[str] = []
    for line in lines:
        top = line.startswith(("def ", "class "))
        after_body = bool(out) and out[-1].startswith("    ") and line and not line.startswith((" ", "#"))
        if top or (after_body and _in_def(out)):
            while out and not out[-1]:
                out.pop()
            if out:
                out += ["", ""]
        if not line and len(out) >= 2 and not out[-1] and not out[-2]:
            continue
        out.append(line)
    return out


def _in_def(lines: list[str]) -> bool:
    """Whether the last top-level statement in `lines` opened a def or a class."""
    for line in reversed(lines):
        if line and not line.startswith(" "):
            return line.startswith(("def ", "class "))
    return False


def phases(config: RunConfig, changes: Sequence[Change]) -> tuple[RunConfig, list[tuple[int, RunConfig]], int]:
    """The run's settings at its first epoch (changes made before it folded in), each later change as (epoch it
    was made after, the settings from then on), and the number of epochs the run takes in all."""
    start = config
    later: list[tuple[int, RunConfig]] = []
    budget_at = 0
    current = config
    for at, change in changes:
        current = current.replace(**dict(change))
        if "epochs" in change:
            budget_at = at
        if at == 0:
            start = current
        else:
            later.append((at, current))
    return start, later, max(current.epochs, budget_at)


def script(config: RunConfig, changes: Sequence[Change], n_train: int, command: str | None = None) -> str:
    """The run that starts with `config` and takes `changes` ((epoch, fields) as Trainer.changes holds them) as
    a standalone PyTorch script printing `gdtui run`'s epoch lines. `n_train` (the trainer's training points)
    says whether a batch size makes mini-batches or the whole set at once, as the trainer trains it; `command`
    names what the script reproduces."""
    return _Writer(config, changes, n_train, command).text()


class _Writer:
    def __init__(self, config: RunConfig, changes: Sequence[Change], n_train: int, command: str | None):
        self.start, self.later, self.total = phases(config, changes)
        self.configs = [self.start, *(c for _, c in self.later)]
        self.command = command
        self.n = STYLES.get(config.preset, Names()) if config.data == DATA_ARTICLE else Names()
        self.lines: list[str] = []
        optimizers = {c.optimizer for c in self.configs}
        self.gd_only = optimizers == {"gd"}
        self.torch_only = "gd" not in optimizers
        self.any_gd = not self.torch_only
        losses = {c.loss for c in self.configs}
        self.loss_fixed = self.start.loss if len(losses) == 1 else None
        self.rmse_is_loss = losses == {"mse"}
        accumulate = {c.accumulate_grad for c in self.configs}
        self.zero_fixed: bool | None = not self.start.accumulate_grad if len(accumulate) == 1 else None
        self.nn = self.start.model in ("nn-linear", "mlp")
        self.test = self.start.test_fraction > 0
        size = self.start.batch_size
        self.batched = size is not None and size < n_train  # Trainer._batched
        if self.n.step is not None and self.start.model not in ("quadratic", "poly"):
            self.n = replace(self.n, step=None)  # the articles' step functions take `params`

    def emit(self, *lines: str) -> None:
        self.lines.extend(lines)

    def text(self) -> str:
        self.header()
        self.data()
        self.model()
        self.losses()
        self.optimizer()
        self.loop()
        return "\n".join(_spaced(self.lines)) + "\n"

    # -- pieces --------------------------------------------------------------------------------------------

    def header(self) -> None:
        c = self.start
        rmse = (
            "the root of the mean of its batches' mean squared errors"
            if self.batched
            else "the square root of the mean squared error on the training data"
        )
        self.emit(
            f'"""{c.preset}: gradient descent as gdtui ran it, as a plain PyTorch script.',
            "",
            f"Exported by gdtui {__version__}. Run with python, it prints each epoch's RMSE and loss",
            "(and test loss) as gdtui printed them, digit for digit. An epoch's RMSE is",
            f"{rmse}.",
            '"""',
        )
        if self.later:
            self.emit("# the changes made in gdtui during the run are the `if epoch == N:` lines in the loop")
        elif self.command:  # as a comment: a command may hold any character but a newline
            self.emit(f"# the same numbers as: {self.command.replace(chr(10), ' ')}")
        if c.standardize:
            self.emit(
                "# --standardize: the parameters are those of the model on the standardised design (`standardisation`",
                "# below); its predictions, the loss and the RMSE are in the data's units",
            )
        self.emit("")
        imports = []
        if self.start.data not in (DATA_ARTICLE, *SYNTHETIC):
            imports.append("import csv")
        imports.append("import math")
        imports.append("")
        imports.append("import torch")
        if any(c.loss in ("l1", "huber") for c in self.configs):
            imports.append("import torch.nn.functional as F")
        if self.nn:
            imports.append("from torch import nn")
        if self.batched:
            imports.append("from torch.utils.data import DataLoader, TensorDataset")
        if c.schedule is not None:
            imports.append("from torch.optim import lr_scheduler")
        self.emit(*imports, "")
        device = c.device
        if device == "auto":
            self.emit(
                'device = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() '
                'else "cpu"'
            )
        else:
            self.emit(f'device = "{device}"')
        once = "  # --rng single: seeded once; the data, the model, the batches' order from here" * (c.rng == "single")
        self.emit(f"dtype = {DTYPE[c.dtype]}", f"torch.manual_seed({c.seed}){once}", "")

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

    def model(self) -> None:
        c, n = self.start, self.n
        names = param_names(c)
        init = None if c.init is None else f"torch.tensor([{', '.join(_num(v) for v in c.init)}], dtype=dtype)"
        if self.nn:
            if c.rng == "single":
                self.emit("# --rng single: the model draws from the stream the data left (torch was seeded once)")
            else:
                self.emit(f"torch.manual_seed({c.seed})  # again, right before the model is built")
            if c.model == "nn-linear":
                bias = "" if c.bias else ", bias=False"
                self.emit(
                    "",
                    "",
                    "class LinearRegressionModel(nn.Module):",
                    "    def __init__(self):",
                    "        super().__init__()",
                    f"        self.linear_layer = nn.Linear(in_features=1, out_features=1{bias})",
                    "",
                    "    def forward(self, x: torch.Tensor):",
                    "        return self.linear_layer(x)",
                    "",
                    "",
                    "model = LinearRegressionModel().to(device=device, dtype=dtype)",
                )
            else:
                sizes = (1, *c.hidden, 1)
                layers = []
                for i in range(len(sizes) - 1):
                    if i:
                        layers.append(ACTIVATION[c.activation])
                    layers.append(f"nn.Linear({sizes[i]}, {sizes[i + 1]})")
                self.emit(f"model = nn.Sequential({', '.join(layers)}).to(device=device, dtype=dtype)")
            if init is not None:
                self.emit(
                    f"init = {init}.to(device)  # the initial values, in the order of model.parameters()",
                    "with torch.no_grad():",
                    "    start = 0",
                    "    for p in model.parameters():",
                    "        p.copy_(init[start : start + p.numel()].reshape(p.shape))",
                    "        start += p.numel()",
                )
            self.emit("parameters = list(model.parameters())", "")
            self.call = "model({x}.unsqueeze(-1)).squeeze(-1)"
            if c.standardize:
                self.standardisation("[{x}]")
                self.call = "model((({x} - mean[0]) / std[0]).unsqueeze(-1)).squeeze(-1)"
            return
        k = len(names)
        if init is None:
            if c.preset == "linear-manual":
                init = f"torch.zeros({k}, dtype=dtype)"
            else:
                if c.preset == "fastai-quadratic":
                    self.emit("torch.randn(3)  # the notebook displayed one draw and threw it away")
                init = f"torch.randn({k}, dtype=dtype)"
        if c.model == "linear":
            self.emit(f"init = {init}.to(device)")
            if c.bias:
                self.emit("w = init[:1].clone().requires_grad_()", "b = init[1:].clone().requires_grad_()")
                self.emit("parameters = [w, b]", "")
                self.call = "w * {x} + b"
                if c.standardize:
                    self.standardisation("[{x}]")
                    self.call = "w * (({x} - mean[0]) / std[0]) + b"
            else:
                self.emit("w = init.clone().requires_grad_()", "parameters = [w]", "")
                self.call = "w * {x}"
            return
        self.emit(f"params = {init}.to(device).requires_grad_()", "parameters = [params]", "", "")
        formula = formula_of(c)
        if formula is not None:  # --model FORMULA: its parameters unpacked from one tensor, as gdtui's are
            unpack = ", ".join(formula.names) + ("," if len(formula.names) == 1 else "")
            self.emit(f"def {n.fn}(x, params):", f"    {unpack} = params", f"    return {formula.source()}", "", "")
            self.call = f"{n.fn}({{x}}, params)"
            return
        first = 0 if c.bias else 1
        if c.standardize:
            if c.model == "quadratic":
                self.standardisation("[{x}**2, {x}]")
            else:
                powers = f"torch.arange({first}, {first + len(names)}, dtype=dtype)"
                self.standardisation(f"({{x}}.unsqueeze(-1) ** {powers}).unbind(-1)")
        if c.model == "quadratic":
            a = n.arg
            body = f"a * ({a}**2) + (b * {a}) + c"
            if c.standardize:
                body = f"a * (({a}**2 - mean[0]) / std[0]) + (b * (({a} - mean[1]) / std[1])) + c"
            self.emit(f"def {n.fn}({a}, params):", "    a, b, c = params", f"    return {body}")
        else:
            x = n.arg
            design = (
                f"(({x}.unsqueeze(-1) ** powers - mean) / std)" if c.standardize else f"({x}.unsqueeze(-1) ** powers)"
            )
            self.emit(
                f"def {n.fn}({x}, params):",
                f"    powers = torch.arange({first}, {first} + len(params), device={x}.device, dtype={x}.dtype)",
                f"    return {design} @ params",
            )
        self.emit("", "")
        self.call = f"{n.fn}({{x}}, params)"

    def standardisation(self, columns: str) -> None:
        """--standardize: the statistics of the design's `columns` (an expression of the training x, `{x}`)."""
        x = f"{self.x_train[0]}.cpu()"
        self.emit(
            "",
            "",
            "def standardisation(columns):",
            '    """--standardize: each column of the design to (column - mean) / std, with its mean and population',
            "    standard deviation (ddof=0) over the training points, in float64, then in the run's dtype; a constant",
            '    column (the ones of the constant term) keeps its values (mean 0, std 1)."""',
            "    means, stds = [], []",
            "    for column in columns:",
            "        wide = column.double().contiguous()",
            "        mean, std = wide.mean().to(dtype), wide.std(correction=0).to(dtype)",
            "        if std == 0:",
            "            mean, std = torch.zeros_like(mean), torch.ones_like(std)",
            "        means.append(mean)",
            "        stds.append(std)",
            "    return torch.stack(means).to(device), torch.stack(stds).to(device)",
            "",
            "",
            f"mean, std = standardisation({columns.format(x=x)})",
            "",
        )

    def losses(self) -> None:
        used = sorted({c.loss for c in self.configs} | ({"mse"} if not self.rmse_is_loss else set()))
        for name in used:
            head, body = LOSS_DEFS[name]
            t = self.n.targets if name == "mse" else "targets"
            self.emit(head.format(t=t), body.format(t=t), "", "")

    def optimizer_code(self, c: RunConfig) -> str:
        if c.optimizer == "gd":
            return "None"  # plain gradient descent, written out in the loop
        lr = f"lr={self.n.lr}"
        m = _num(c.effective_momentum)
        settings = "".join(f", {name}={_setting(value)}" for name, value in _settings(c).items())
        return {
            "sgd": f"torch.optim.SGD(parameters, {lr}, momentum={m}, nesterov=False{settings})",
            "nesterov": f"torch.optim.SGD(parameters, {lr}, momentum={m}, nesterov=True{settings})",
            "adam": f"torch.optim.Adam(parameters, {lr}{settings})",
            "adamw": f"torch.optim.AdamW(parameters, {lr}{settings})",
            "rmsprop": f"torch.optim.RMSprop(parameters, {lr}, momentum={m}{settings})",
            "adagrad": f"torch.optim.Adagrad(parameters, {lr}{settings})",
        }[c.optimizer]

    def optimizer(self) -> None:
        c, n = self.start, self.n
        self.emit(f"{n.lr} = {_num(c.lr)}", f"epochs = {self.total}")
        if not self.gd_only:
            gd = "  # plain gradient descent, written out in the loop" if c.optimizer == "gd" else ""
            self.emit(f"optimizer = {self.optimizer_code(c)}{gd}")
        if self.loss_fixed is None:
            self.emit(f"loss_fn = {c.loss}")
        if self.zero_fixed is None:
            self.emit(f"zero_grad = {not c.accumulate_grad}  # False: the gradients accumulate from step to step")
        if any(self._momentum_change(i) for i in range(len(self.later))):
            self.emit(
                "",
                "",
                "def set_momentum(optimizer, momentum):",
                '    """A new momentum from the next step on, as gdtui sets it: a buffer is dropped when it falls to 0',
                '    and starts anew when it rises from 0 (RMSprop\'s from zeros), once the optimizer has state."""',
                "    for group in optimizer.param_groups:",
                '        was, group["momentum"] = group["momentum"], momentum',
                "        if (was == 0) == (momentum == 0):",
                "            continue",
                '        for p in group["params"]:',
                "            state = optimizer.state.get(p)",
                "            if not state:",
                "                continue",
                '            state.pop("momentum_buffer", None)',
                "            if momentum > 0 and isinstance(optimizer, torch.optim.RMSprop):",
                '                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)',
                "",
            )
        if self.batched:
            xt, yt = self.x_train
            b = self.start.batch_size
            gen = f"torch.Generator().manual_seed({c.seed})" if c.shuffle and c.rng == "split" else "None"
            if c.rng == "single" and c.shuffle:
                self.emit("", "# a DataLoader without a generator: each epoch's order from torch's global one")
            self.emit(
                "",
                f"# mini-batches of {b}: an update per batch; an epoch's loss is the mean of its batch losses,"
                "# each taken before its own update, and its RMSE the root of the mean of their mean squared errors",
                "loader = DataLoader(",
                f"    TensorDataset({xt}, {yt}), batch_size={b}, shuffle={c.shuffle}, generator={gen}",
                ")",
            )
        if self.start.schedule is not None:
            self.schedule_code()
        if self.start.patience is not None:
            self.emit("best, since_best = math.inf, 0  # --patience: epochs since the loss last improved")
        self.emit("")

    @property
    def holder(self) -> str:
        """What holds the scheduled lr: the optimizer, or plain gd's stand-in (`lr_holder` names whichever holds
        it when the run has plain gd in any of its phases)."""
        return "lr_holder" if self.any_gd else "optimizer"

    def schedule_code(self) -> None:
        from gdtui.engine.schedules import code, spec

        c, n = self.start, self.n
        assert c.schedule is not None
        self.emit("", f"# --schedule {spec(c.schedule)}: torch's own scheduler, stepped after each epoch")
        if c.optimizer == "gd":
            self.emit(
                "# plain gradient descent reads its lr from a stand-in torch optimizer the scheduler drives",
                f"lr_holder = torch.optim.SGD([torch.zeros(1)], lr={n.lr})",
            )
        elif self.any_gd:
            self.emit("lr_holder = optimizer  # what holds the scheduled lr (a stand-in while gd steps)")
        batches = "len(loader)" if self.batched else "1"
        self.emit(f"scheduler = {code(c.schedule, self.holder, 'epochs', batches, c.optimizer, c.effective_momentum)}")
        if c.optimizer == "gd":
            self.emit(
                "lr_holder.step()  # it holds no gradient (nothing moves): torch expects a step before the scheduler's",
                f'{n.lr} = lr_holder.param_groups[0]["lr"]',
            )

    def scale_schedule(self, lr: float, was: float) -> list[str]:
        """A new base lr in a scheduled run, as gdtui takes it (Trainer._scale_schedule): the schedule's base lrs
        and the lr it has reached scale by new/old, and it goes on from there."""
        lines = [
            f"factor = {_num(lr)} / {_num(was)}  # a new base lr: the schedule scales by new/old",
            f"for group in {self.holder}.param_groups:",
            '    for key in ("lr", "initial_lr", "max_lr", "min_lr"):',
            "        if key in group:",
            "            group[key] = group[key] * factor",
            'for part in (scheduler, *getattr(scheduler, "_schedulers", ())):',
            '    if hasattr(part, "base_lrs"):',
            "        part.base_lrs = [base * factor for base in part.base_lrs]",
            '    if hasattr(part, "_last_lr"):',
            f'        part._last_lr = [group["lr"] for group in {self.holder}.param_groups]',
        ]
        if self.any_gd:
            lines.append(f'{self.n.lr} = lr_holder.param_groups[0]["lr"]')
        return lines

    def carry_schedule(self, after: RunConfig) -> list[str]:
        """A new optimizer in a scheduled run, as gdtui takes it (Trainer._carry_schedule): the scheduler is built
        again over it (or over plain gd's new stand-in), then goes on from the old one's state and lr."""
        from gdtui.engine.schedules import code

        assert after.schedule is not None
        holder, lr = self.holder, self.n.lr
        fresh = "plain gradient descent" if after.optimizer == "gd" else "a new optimizer starts afresh"
        lines = [
            f"state, groups = scheduler.state_dict(), [dict(group) for group in {holder}.param_groups]",
            f"optimizer = {self.optimizer_code(after)}  # {fresh}",
        ]
        if after.optimizer == "gd":
            lines.append(f"lr_holder = torch.optim.SGD([torch.zeros(1)], lr={_num(after.lr)})  # gd's stand-in")
        elif holder == "lr_holder":
            lines.append("lr_holder = optimizer")
        batches = "len(loader)" if self.batched else "1"
        built = code(after.schedule, holder, "epochs", batches, after.optimizer, after.effective_momentum)
        lines += [f"scheduler = {built}".splitlines()[0], *built.splitlines()[1:]]
        lines += [
            "scheduler.load_state_dict(state)  # the schedule goes on where it was",
            f"for group, was in zip({holder}.param_groups, groups):",
            '    for key in ("lr", "initial_lr"):',
            "        if key in was:",
            "            group[key] = was[key]",
        ]
        if self.any_gd:
            lines.append(f'{lr} = lr_holder.param_groups[0]["lr"]')
        return lines

    def schedule_step(self, loss: str) -> list[str]:
        """The scheduler's step (plateau's on the loss) and, for plain gd, its lr read back."""
        c = self.start
        assert c.schedule is not None
        lines = [f"scheduler.step({loss})" if c.schedule[0][0] == "plateau" else "scheduler.step()"]
        if self.any_gd:
            lines.append(f'{self.n.lr} = lr_holder.param_groups[0]["lr"]')
        return lines

    @property
    def by_batch(self) -> bool:
        """onecycle with mini-batches: its scheduler steps after each batch."""
        return self.batched and self.start.schedule is not None and self.start.schedule[0][0] == "onecycle"

    def _setting_line(self, key: str, value: Any) -> str:
        """A setting's new value; onecycle cycling adam's β1 keeps the β1 it has reached (a new β2 only)."""
        from gdtui.engine.schedules import cycles_momentum

        c = self.start
        cycled = c.schedule is not None and c.schedule[0][0] == "onecycle" and c.optimizer in ("adam", "adamw")
        if key == "betas" and cycled and cycles_momentum(c.optimizer, c.effective_momentum):
            return f'(group["betas"][0], {_num(value[1])})  # onecycle cycles β1'
        return _setting(value)

    def _momentum_change(self, i: int) -> bool:
        after, before = self.later[i][1], self.configs[i]
        return after.optimizer == before.optimizer and after.uses_momentum and after.momentum != before.momentum

    # -- the loop ------------------------------------------------------------------------------------------

    def changes(self) -> None:
        n = self.n
        for i, (at, after) in enumerate(self.later):
            before = self.configs[i]
            body: list[str] = []
            if after.optimizer != before.optimizer and self.start.schedule is not None:
                body += self.carry_schedule(after)
                if after.lr != before.lr:
                    body += self.scale_schedule(after.lr, before.lr)
            elif after.optimizer != before.optimizer:
                if after.lr != before.lr:
                    body.append(f"{n.lr} = {_num(after.lr)}")
                fresh = "plain gradient descent" if after.optimizer == "gd" else "a new optimizer starts afresh"
                body.append(f"optimizer = {self.optimizer_code(after)}  # {fresh}")
            else:
                if after.lr != before.lr and self.start.schedule is not None:
                    body += self.scale_schedule(after.lr, before.lr)
                elif after.lr != before.lr:
                    body.append(f"{n.lr} = {_num(after.lr)}")
                    if after.optimizer != "gd":
                        body += ["for group in optimizer.param_groups:", f'    group["lr"] = {n.lr}']
                if self._momentum_change(i):
                    body.append(f"set_momentum(optimizer, {_num(after.effective_momentum)})")
                changed = {k: v for k, v in _settings(after).items() if _settings(before).get(k) != v}
                if changed:  # the optimizer's own settings, from the next step on (its state kept)
                    body.append("for group in optimizer.param_groups:")
                    body += [f'    group["{k}"] = {self._setting_line(k, v)}' for k, v in changed.items()]
            if after.loss != before.loss:
                body.append(f"loss_fn = {after.loss}")
            if after.accumulate_grad != before.accumulate_grad:
                body.append(f"zero_grad = {not after.accumulate_grad}")
            if not body:
                continue
            self.emit(f"    if epoch == {at + 1}:  # changed in gdtui after epoch {at}")
            self.emit(*(f"        {line}" for line in body))

    def step_lines(self, x: str, y: str, batch: bool) -> list[str]:
        """One update: forward, loss, backward, the step, the gradients cleared (or kept)."""
        n = self.n
        preds = n.preds
        loss_fn = self.loss_fixed or "loss_fn"
        lines = [f"{preds} = {self.call.format(x=x)}", f"loss = {loss_fn}({preds}, {y})", "loss.backward()"]
        if batch:
            lines.append("losses.append(loss.item())")
            if not self.rmse_is_loss:
                lines.append(f"squares.append(mse({preds}.detach(), {y}).item())")
        elif not self.rmse_is_loss:
            lines.append(f"square = mse({preds}.detach(), {y}).item()")
        gd = ["for p in parameters:", f"    p.data = p.data - {n.lr} * p.grad"]
        clear_gd = ["for p in parameters:", "    p.grad = None"]
        if self.start.model == "quadratic":  # one tensor, as the articles step it
            gd, clear_gd = [f"params.data -= {n.lr} * params.grad.data"], ["params.grad = None"]
        if self.gd_only:
            step, clear = gd, clear_gd
        elif self.torch_only:
            step, clear = ["optimizer.step()"], ["optimizer.zero_grad()"]
        else:
            step = ["if optimizer is None:", *(f"    {s}" for s in gd), "else:", "    optimizer.step()"]
            clear = clear_gd
        lines += step
        if self.zero_fixed is None:
            lines += ["if zero_grad:", *(f"    {s}" for s in clear)]
        elif self.zero_fixed:
            lines += clear
        else:
            lines.append("# the gradients are not cleared: they accumulate from step to step (--accumulate-grad)")
        return lines

    def loop(self) -> None:
        c, n = self.start, self.n
        x, y = self.x_train
        pad = "    "
        body: list[str] = []
        if self.batched:
            body += ["losses = []" if self.rmse_is_loss else "losses, squares = [], []", "for xb, yb in loader:"]
            body += [f"    {s}" for s in self.step_lines("xb", "yb", batch=True)]
            if self.by_batch:
                body += [f"    {s}" for s in self.schedule_step("")]
            body.append("value = sum(losses) / len(losses)")
            if not self.rmse_is_loss:
                body.append("square = sum(squares) / len(squares)")
        else:
            body += self.step_lines(x, y, batch=False)
            body.append("value = loss.item()")
        returned = "value" if self.rmse_is_loss else "value, square"
        if n.step is not None:  # the article's own step function, its loss (and RMSE's square) returned
            self.emit("", f"def {n.step}(params):", *(f"{pad}{s}" for s in body), f"{pad}return {returned}", "", "")
            body = [f"{returned} = {n.step}(params)"]
        self.emit("for epoch in range(1, epochs + 1):")
        self.changes()
        if c.schedule is not None:
            self.emit(f'{pad}epoch_lr = {self.holder}.param_groups[0]["lr"]  # the lr the schedule set for this epoch')
        self.emit(*(f"{pad}{s}" for s in body))
        parts = ['f"epoch {epoch}  RMSE: {rmse!r}  loss: {value!r}']
        square = "value" if self.rmse_is_loss else "square"
        finite = ["math.isfinite(value)"] if self.rmse_is_loss else ["math.isfinite(value)", "math.isfinite(square)"]
        if self.test:
            xs, ys = n.train[2], n.train[3]
            loss_fn = self.loss_fixed or "loss_fn"
            self.emit(
                f"{pad}with torch.inference_mode():",
                f"{pad}    test_loss = {loss_fn}({self.call.format(x=xs)}, {ys}).item()",
            )
            parts.append("  test loss: {test_loss!r}")
            finite.append("math.isfinite(test_loss)")
        if c.schedule is not None:
            parts.append("  lr: {epoch_lr!r}")
        self.emit(f"{pad}rmse = {square}**0.5", f'{pad}print({"".join(parts)}")')
        if c.schedule is not None and not self.by_batch:
            self.emit(*(f"{pad}{s}" for s in self.schedule_step("value")))
        self.emit(f"{pad}finite = all(bool(torch.isfinite(p).all()) for p in parameters)")
        finite.append("finite")
        self.emit(
            f"{pad}# a loss or a parameter overflowed: the run diverged",
            f"{pad}if not ({' and '.join(finite)}):",
            f'{pad}    print(f"diverged at epoch {{epoch}} ({n.lr} {{{n.lr}:g}}): try a smaller {n.lr}")',
            f"{pad}    break",
        )
        if c.target_rmse is not None:
            self.emit(
                f"{pad}if rmse <= {_num(c.target_rmse)}:  # --target-rmse",
                f'{pad}    print(f"stopped: the RMSE reached {c.target_rmse:g} at epoch {{epoch}}")',
                f"{pad}    break",
            )
        if c.patience is not None:
            self.emit(
                f"{pad}if value < best:",
                f"{pad}    best, since_best = value, 0",
                f"{pad}else:",
                f"{pad}    since_best += 1",
                f"{pad}    if since_best >= {c.patience}:  # --patience",
                f'{pad}        print(f"stopped: the loss did not improve for {c.patience} epochs at epoch {{epoch}}")',
                f"{pad}        break",
            )
        if c.preset == "linear-manual" and c.model == "linear" and c.bias and c.data == DATA_ARTICLE:
            self.emit("", 'print(f"Optimized w: {w.item():.4f}, b: {b.item():.4f}")')
