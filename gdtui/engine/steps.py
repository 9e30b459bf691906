"""One step explained, as data and as text (what `gdtui explain` prints, and the TUI's `e` shows).

Why: torch-free, so the app can receive a step from its session and show the very lines the command prints;
the engine's explain (gdtui.engine.explain) computes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _g(value: float) -> str:
    return f"{value:.6g}"


@dataclass(frozen=True)
class ParamStep:
    """One parameter's share of a step: its value before, its gradient, the optimizer's state for it after the
    step (momentum buffer, Adam's m and v, RMSprop's and Adagrad's accumulators), the update, its value after."""

    name: str
    before: float
    grad: float
    state: dict[str, float]
    update: float
    after: float


@dataclass(frozen=True)
class StepExplained:
    """Epoch `epoch` of a run, one step: the full-batch step, or batch `batch` of the epoch's `batches`. The loss
    before it and after it (on the same `points` points: the training set, or the batch), the first-order
    prediction of the change (gradient · update), the optimizer's settings, its step count and bias corrections
    (Adam), and each parameter's part."""

    epoch: int
    optimizer: str
    lr: float
    momentum: float | None
    loss_before: float
    loss_after: float
    predicted: float
    params: tuple[ParamStep, ...]
    counters: dict[str, float] = field(default_factory=dict)
    lr_limit: float | None = None  # 2/λmax of the loss at the parameters before the step (plain gd's limit)
    finite_difference: tuple[float, ...] | None = None  # the gradient by central differences, on request
    layers: tuple[tuple[str, float], ...] = ()  # an mlp's layers: (tensor, |update| / |value|)
    batch: int | None = None  # the batch of the epoch (1-based); None: a full-batch step
    batches: int = 1  # the epoch's batches
    points: int = 0  # the points the step's loss and gradient are on (the batch's, or the training set's)

    @property
    def on(self) -> str:
        """The data the loss is on: "batch" or "training set"."""
        return "training set" if self.batch is None else "batch"

    @property
    def actual(self) -> float:
        return self.loss_after - self.loss_before

    def record(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "epoch": self.epoch,
            "batch": self.batch,
            "batches": self.batches,
            "loss_on": self.on,
            "points": self.points,
            "optimizer": self.optimizer,
            "lr": self.lr,
            "momentum": self.momentum,
            "loss_before": self.loss_before,
            "loss_after": self.loss_after,
            "change": self.actual,
            "first_order_change": self.predicted,
            "counters": self.counters,
            "lr_limit": self.lr_limit,
            "finite_difference": self.finite_difference,
            "layers": [{"tensor": name, "update_to_value": ratio} for name, ratio in self.layers],
            "params": [
                {
                    "name": p.name,
                    "before": p.before,
                    "grad": p.grad,
                    "update": p.update,
                    "after": p.after,
                    "state": p.state,
                }
                for p in self.params
            ],
        }


def step_lines(step: StepExplained) -> list[str]:
    """The step as `gdtui explain` prints it: a heading, a table of the parameters (an mlp's 12 largest
    updates), the optimizer's counters, the layers' update-to-value ratios, the lr against 2/λmax, the loss."""
    lines: list[str] = []
    momentum = "" if step.momentum is None else f", momentum {step.momentum:g}"
    where = "" if step.batch is None else f", batch {step.batch} of {step.batches} ({step.points} points)"
    lines.append(f"epoch {step.epoch}{where}: {step.optimizer}, lr {step.lr:g}{momentum}")
    keys = sorted({key for p in step.params for key in p.state})
    checked = step.finite_difference
    head = ["param", "before", "gradient", *(["finite diff."] if checked else []), *keys, "update", "after"]
    rows = [
        [
            p.name,
            _g(p.before),
            _g(p.grad),
            *([_g(checked[k])] if checked else []),
            *(_g(p.state[key]) for key in keys),
            _g(p.update),
            _g(p.after),
        ]
        for k, p in enumerate(step.params)
    ]
    if len(rows) > 12:  # an mlp: the parameters with the largest updates
        order = sorted(range(len(rows)), key=lambda k: -abs(step.params[k].update))[:12]
        rows = [rows[k] for k in sorted(order)]
        lines.append(f"the 12 of {len(step.params)} parameters with the largest updates:")
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    counters = ", ".join(f"{k} {v:g}" for k, v in step.counters.items())
    if counters:
        lines.append(counters)
    for name, ratio in step.layers:
        lines.append(f"{name}: |update| / |value| {ratio:.3g}")
    data = "" if step.batch is None else f" on batch {step.batch}"
    if step.lr_limit is not None:
        compare = ">" if step.lr > step.lr_limit else "<"
        lines.append(f"lr {step.lr:g} {compare} 2/λmax{data} {step.lr_limit:.3g} (plain gradient descent's limit here)")
    lines.append(
        f"loss{data} {step.loss_before!r} -> {step.loss_after!r}: changed by {step.actual:.6g}, "
        f"the gradient promised {step.predicted:.6g} (gradient · update)"
    )
    return lines
