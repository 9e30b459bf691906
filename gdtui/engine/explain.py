"""One step explained: for an epoch of a run, every parameter's value before the step, its gradient, the
optimizer's state after it, the update and the value after; the loss before and after, and the change the
gradient promised (gradient · update) beside the one that came.

Why: a learner sees the loss fall and asks what one step did. The run is replayed to the epoch before (bit for
bit, from its checkpoints) and that epoch is taken again in the open, as the trainer takes it: its result is
checked against the run's own record of that epoch, so what is explained is what happened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from gdtui.engine.losses import LOSSES
from gdtui.engine.optim import PlainGD, stepper
from gdtui.engine.trainer import Trainer


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
    """Epoch `epoch` of a run, one full-batch step: the loss before it and after it (on the same training data),
    the first-order prediction of the change (gradient · update), the optimizer's settings, its step count and
    bias corrections (Adam), and each parameter's part."""

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

    @property
    def actual(self) -> float:
        return self.loss_after - self.loss_before

    def record(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "epoch": self.epoch,
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


class ExplainError(ValueError):
    """A step that cannot be explained (an epoch out of the run, mini-batches...): the message says why."""


def explain(trainer: Trainer, epoch: int, check: bool = False) -> StepExplained:
    """Epoch `epoch` (1 to the run's last) of `trainer`'s run, explained. The run is replayed to the epoch
    before; the epoch is taken again and checked against the run's record of it. With `check`, the gradient is
    also computed by central differences of the loss (in float64), to set beside autograd's."""
    if not 1 <= epoch <= trainer.epoch:
        raise ExplainError(f"epoch {epoch} is not in the run: it has epochs 1 to {trainer.epoch}")
    if trainer.config.batch_size is not None and trainer.config.batch_size < trainer.data.n_train:
        raise ExplainError("a step of mini-batches is not explained yet: explain a full-batch run")
    if trainer.summarized:
        raise ExplainError("a model of more than 1,024 parameters is not explained one parameter at a time")
    twin = trainer.replay(epoch - 1)
    model, optimizer = twin.model, twin.optimizer
    x, y = twin.data.x_train, twin.data.y_train
    loss_fn = LOSSES[twin.config.loss]
    params = model.parameters()
    before = model.flat().double().cpu()
    loss = loss_fn(model(x), y)
    loss.backward()
    grads = torch.cat([p.grad.reshape(-1) for p in params]).double().cpu()  # type: ignore[union-attr]
    stepper(optimizer)()
    state = _state(optimizer, params)
    if not twin.config.accumulate_grad:
        optimizer.zero_grad()
    after = model.flat().double().cpu()
    with torch.no_grad():
        loss_after = loss_fn(model(x), y).item()
    recorded = [trainer.history.params[name][epoch - 1] for name in trainer.names]
    if after.tolist() != recorded:  # never seen: the step taken again must be the run's own
        raise ExplainError(f"epoch {epoch} taken again differs from the run's record of it")
    update = after - before
    steps = tuple(
        ParamStep(
            name,
            float(before[k]),
            float(grads[k]),
            {key: values[k] for key, values in state.items() if isinstance(values, list)},
            float(update[k]),
            float(after[k]),
        )
        for k, name in enumerate(trainer.names)
    )
    counters = {key: float(value) for key, value in state.items() if not isinstance(value, list)}
    from gdtui.engine.landscape import curvature

    try:
        limit = curvature(trainer, before.tolist()).lr_limit
    except ValueError:  # a model with no landscape
        limit = None
    differences = _central_differences(trainer, before) if check else None
    group = optimizer.param_groups[0]
    if "betas" in group and "step" in counters:
        beta1, beta2 = group["betas"]
        t = counters["step"]
        counters["bias_correction1"] = 1 - beta1**t
        counters["bias_correction2"] = 1 - beta2**t
    return StepExplained(
        epoch,
        twin.config.optimizer,
        float(group["lr"]),
        twin.config.momentum if twin.config.uses_momentum else None,
        loss.item(),
        loss_after,
        math.fsum((grads * update).tolist()),
        steps,
        counters,
        limit,
        differences,
        _layers(model, before, after),
    )


def _central_differences(trainer: Trainer, at: torch.Tensor) -> tuple[float, ...]:
    """d loss / d p_k at `at`, by (L(p + h e_k) - L(p - h e_k)) / 2h in float64, h scaled to each value."""
    from gdtui.engine.landscape import losses_at

    rows = []
    steps = []
    for k in range(len(at)):
        h = 1e-6 * max(1.0, abs(float(at[k])))
        up, down = at.clone(), at.clone()
        up[k] += h
        down[k] -= h
        rows += [up, down]
        steps.append(h)
    losses = losses_at(trainer, torch.stack(rows)).tolist()
    return tuple((losses[2 * k] - losses[2 * k + 1]) / (2 * h) for k, h in enumerate(steps))


def _layers(model: Any, before: torch.Tensor, after: torch.Tensor) -> tuple[tuple[str, float], ...]:
    """An mlp's tensors (weight and bias of each layer), each with the norm of its update over the norm of its
    value before: nn-zero-to-hero's update-to-data ratio. None for the tutorials' named scalars."""
    module = getattr(model, "module", None)
    if module is None:
        return ()
    out = []
    start = 0
    for name, tensor in module.named_parameters():
        n = tensor.numel()
        value, update = before[start : start + n], after[start : start + n] - before[start : start + n]
        norm = float(torch.linalg.vector_norm(value))
        out.append((name, float(torch.linalg.vector_norm(update)) / norm if norm else math.inf))
        start += n
    return tuple(out)


def _state(optimizer: Any, params: list[torch.Tensor]) -> dict[str, Any]:
    """The optimizer's state after its step: each per-parameter tensor as a list of floats in the flat order of
    the parameters (names), each scalar (Adam's step count) as a number."""
    if isinstance(optimizer, PlainGD):
        return {}
    out: dict[str, Any] = {}
    for p in params:
        for key, value in optimizer.state.get(p, {}).items():
            if isinstance(value, torch.Tensor) and value.shape == p.shape:
                out.setdefault(key, []).extend(value.detach().double().cpu().reshape(-1).tolist())
            elif isinstance(value, torch.Tensor) and value.numel() == 1:
                out[key] = float(value)
            elif isinstance(value, (int, float)):
                out[key] = float(value)
    return out
