"""Optimizers: the seeds' hand-written gradient descent, and torch.optim's.

Why: plain gradient descent must be written as the seeds write it (`p -= lr * grad`, grad cleared) to
reproduce their numbers; torch.optim's SGD computes `p.add_(grad, alpha=-lr)`, which rounds differently.
Every optimizer takes a new learning rate (and momentum) between steps without losing its state.
"""

from __future__ import annotations

import torch

from gdtui.engine.config import RunConfig


class PlainGD:
    """p -= lr * p.grad for every parameter, then the gradient is cleared.

    The update is written as seed 002 writes it, `p.data = p.data - lr * p.grad` (the same arithmetic as
    seed 000's in-place `-=`): out of place, so the trainer can keep each epoch's values without a copy."""

    def __init__(self, params: list[torch.Tensor], lr: float):
        self.params = params
        self.param_groups = [{"lr": lr}]

    def step(self) -> None:
        lr = self.param_groups[0]["lr"]
        for p in self.params:
            p.data = p.data - lr * p.grad

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


def build_optimizer(config: RunConfig, params: list[torch.Tensor]):
    """The config's optimizer over `params`; all expose `param_groups`, `step()` and `zero_grad()`."""
    name, lr, momentum = config.optimizer, config.lr, config.effective_momentum
    if name == "gd":
        return PlainGD(params, lr)
    if name in ("sgd", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=name == "nesterov")
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=momentum)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}")


def set_hyperparameters(optimizer, lr: float | None = None, momentum: float | None = None) -> None:
    """Change lr (and momentum where the optimizer has one) from the next step on, keeping its state."""
    for group in optimizer.param_groups:
        if lr is not None:
            group["lr"] = lr
        if momentum is not None and "momentum" in group:
            group["momentum"] = momentum
