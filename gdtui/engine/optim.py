"""Optimizers: the seeds' hand-written gradient descent, and torch.optim's.

Why: plain gradient descent must be written as the seeds write it (`p -= lr * grad`, grad cleared) to
reproduce their numbers; torch.optim's SGD computes `p.add_(grad, alpha=-lr)`, which rounds differently.
Every optimizer takes a new learning rate (and momentum) between steps without losing its state.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

from gdtui.engine.config import OPTIMIZER_SETTINGS, ConfigError, RunConfig

TORCH_NAMES = {"initial_accumulator": "initial_accumulator_value"}  # a setting's torch name, where it differs


class PlainGD:
    """p -= lr * p.grad for every parameter, then the gradient is cleared.

    The update is written as seed 002 writes it, `p.data = p.data - lr * p.grad` (the same arithmetic as
    seed 000's in-place `-=`): out of place, so the trainer can keep each epoch's values without a copy."""

    def __init__(self, params: list[torch.Tensor], lr: float):
        self.params = params
        self.param_groups: list[dict[str, Any]] = [{"lr": lr}]
        self.state: dict[torch.Tensor, dict[str, Any]] = {}  # none: the step is stateless

    def step(self) -> None:
        lr = self.param_groups[0]["lr"]
        for p in self.params:
            p.data = p.data - lr * p.grad

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


Optimizer = PlainGD | torch.optim.Optimizer


def build_optimizer(config: RunConfig, params: list[torch.Tensor]) -> Optimizer:
    """The config's optimizer over `params`; all expose `param_groups`, `step()` and `zero_grad()`."""
    name, lr, momentum = config.optimizer, config.lr, config.effective_momentum
    if name == "gd":
        return PlainGD(params, lr)
    settings = optimizer_settings(config)
    if name in ("sgd", "nesterov"):
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=name == "nesterov", **settings)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, **settings)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, **settings)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=momentum, **settings)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, **settings)
    raise ValueError(f"unknown optimizer {name!r}")


def optimizer_settings(config: RunConfig) -> dict[str, Any]:
    """The optimizer's own settings the config sets, under torch's keyword names (those unset: torch's defaults)."""
    settings = {}
    for field in OPTIMIZER_SETTINGS:
        value = getattr(config, field)
        if value is not None:
            settings[TORCH_NAMES.get(field, field)] = value
    return settings


def set_settings(optimizer: Optimizer, settings: dict[str, Any]) -> None:
    """The optimizer's own settings (config field names) from the next step on, keeping its state. `centered` is
    refused once RMSprop has state: torch builds its grad_avg at the first step only when centered is on. None
    leaves a setting as it is."""
    if "centered" in settings and any(optimizer.state.get(p) for g in optimizer.param_groups for p in g["params"]):
        if any(g["centered"] != settings["centered"] for g in optimizer.param_groups):
            raise ConfigError(
                "centered", "centered cannot change after the first step: torch builds its state at the first step"
            )
    for group in optimizer.param_groups:
        for field, value in settings.items():
            name = TORCH_NAMES.get(field, field)
            if value is None:
                continue  # unset: the optimizer keeps what it has
            if name not in group:
                raise ConfigError(field, f"{type(optimizer).__name__} has no {field.replace('_', '-')}")
            group[name] = value


def set_hyperparameters(optimizer: Optimizer, lr: float | None = None, momentum: float | None = None) -> None:
    """Change lr (and momentum where the optimizer has one) from the next step on, keeping its state.

    A momentum lowered to 0 drops the momentum buffer; one raised from 0 starts a new buffer as torch does at a
    first step (SGD from the next gradient, RMSprop from zeros). torch creates RMSprop's buffer only when the
    momentum is above 0 at its first step, and fails without it later."""
    for group in optimizer.param_groups:
        if lr is not None:
            group["lr"] = lr
        if momentum is None or "momentum" not in group:
            continue
        was, group["momentum"] = group["momentum"], momentum
        if (was == 0) == (momentum == 0):
            continue
        for p in group["params"]:
            state = optimizer.state.get(p)
            if not state:
                continue  # no step yet: torch builds the state it needs at the first one
            state.pop("momentum_buffer", None)
            if momentum > 0 and isinstance(optimizer, torch.optim.RMSprop):
                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)


def stepper(optimizer: Optimizer) -> Callable[[], object]:
    """The optimizer's step: torch.optim's own code, under no_grad as step() runs it, without the profiler
    record and hook wrapper around it (a third of a step's cost at tutorial sizes, and no arithmetic)."""
    if isinstance(optimizer, PlainGD):
        return optimizer.step
    raw = inspect.unwrap(type(optimizer).step)

    def step() -> object:
        with torch.no_grad():
            return raw(optimizer)

    return step
