"""Losses, and RMSE as the seeds print it.

Why: the seeds write MSE by hand, `((preds-targets)**2).mean()`, and print `loss.item() ** 0.5`; using
that exact expression keeps every printed digit. SSE is PyTorch's examples' `(y_pred - y).pow(2).sum()`; L1
and Huber come from torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mse(preds: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return ((preds - targets) ** 2).mean()


def sse(preds: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The sum of squared errors, as PyTorch's own examples write it: (y_pred - y).pow(2).sum()."""
    return (preds - targets).pow(2).sum()


def l1(preds: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(preds, targets)


def huber(preds: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.huber_loss(preds, targets, delta=1.0)


LOSSES = {"mse": mse, "sse": sse, "l1": l1, "huber": huber}
