"""A run as the plain PyTorch script that prints the same numbers: the Code view and `gdtui export-script`.

Why: gdtui's promise is that its numbers are the tutorial's numbers, and the code is where a learner goes
next. The script is written out from the run's starting settings and the changes made during it (an lr set at
epoch 5, an optimizer switched in a branch), in the preset article's own names (`time`/`speed`, `x_data`,
`learning_rate`), with only torch imported, and every expression as the engine computes it, so that
`python FILE` prints the log of `gdtui run` bit for bit. Torch-free: the generator only writes text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from gdtui import __version__
from gdtui.engine.config import DATA_ARTICLE, RunConfig, batched, unset_for
from gdtui.engine.script_base import STYLES, Change, Names, _num
from gdtui.engine.script_data import SYNTHETIC, DataPart
from gdtui.engine.script_model import ModelPart
from gdtui.engine.script_optimizer import OptimizerPart

DTYPE = {"float32": "torch.float32", "float64": "torch.float64"}
LOSS_DEFS = {
    "mse": ("def mse(preds, {t}):", "    return ((preds - {t}) ** 2).mean()"),
    "sse": ("def sse(preds, targets):", "    return (preds - targets).pow(2).sum()"),
    "l1": ("def l1(preds, targets):", "    return F.l1_loss(preds, targets)"),
    "huber": ("def huber(preds, targets):", "    return F.huber_loss(preds, targets, delta=1.0)"),
}


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
        change = dict(change)
        if change.get("optimizer", current.optimizer) != current.optimizer:  # the settings it has not are dropped
            change = {**unset_for(change["optimizer"], current.replace(**change)), **change}
        current = current.replace(**change)
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


class _Writer(DataPart, ModelPart, OptimizerPart):
    """The script, written piece by piece in the order it runs: the header, the losses and the loop here; the
    data, the model, and the optimizer with its schedule and the changes in the loop, from the parts."""

    def __init__(self, config: RunConfig, changes: Sequence[Change], n_train: int, command: str | None):
        self.start, self.later, self.total = phases(config, changes)
        self.scheduled_epochs = config.epochs  # a schedule's length: the run's epochs as it was built with them
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
        self.batched = batched(self.start, n_train)  # as the Trainer batches it
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

    def losses(self) -> None:
        used = sorted({c.loss for c in self.configs} | ({"mse"} if not self.rmse_is_loss else set()))
        for name in used:
            head, body = LOSS_DEFS[name]
            t = self.n.targets if name == "mse" else "targets"
            self.emit(head.format(t=t), body.format(t=t), "", "")

    # -- the loop ------------------------------------------------------------------------------------------

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
            if self.by_batch and self.any_gd:  # each batch's scheduled lr, read back into the global the step uses
                body.insert(0, f"global {n.lr}")
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
