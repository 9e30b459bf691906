"""Heavy-ball dynamics of one eigen-direction, pure math: torch-free, so the app's rate map calls it too.

Why: on a quadratic loss, full-batch gd with torch's momentum (v ← βv + λz, z ← z - lr·v) moves each
eigen-direction of eigenvalue λ by the 2x2 iteration M = [[1 - lr·λ, -lr·β], [λ, β]]; its roots r² - (1 + β -
lr·λ)r + β = 0 say everything: their largest modulus is the direction's rate, and their kind is how it moves
(monotone: real positive roots; ripples: complex roots, a spiral; oscillation: a negative root, the sign flips
every epoch; divergence: a root outside the unit circle). gdtui.engine.theory builds on it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gdtui.engine.config import RunConfig, linear_in_params

Floats = npt.NDArray[np.float64]
KINDS = ("monotone", "ripples", "oscillation", "divergence")


def roots(lam: Floats, lr: Floats | float, beta: Floats | float) -> tuple[npt.NDArray[np.complex128], ...]:
    """The two roots of each direction's iteration (broadcast over λ, lr and β)."""
    trace = 1 + np.asarray(beta, np.float64) - np.asarray(lr, np.float64) * lam
    disc = np.sqrt((trace * trace - 4 * np.asarray(beta, np.float64)).astype(complex))
    return (trace + disc) / 2, (trace - disc) / 2


def rates(lam: Floats, lr: Floats | float, beta: Floats | float) -> Floats:
    """Each direction's rate: the largest modulus of its roots (gd: |1 - lr·λ|)."""
    r1, r2 = roots(lam, lr, beta)
    out: Floats = np.maximum(np.abs(r1), np.abs(r2))
    return out


def kinds(lam: Floats, lr: Floats | float, beta: Floats | float) -> npt.NDArray[np.int64]:
    """How each direction moves, as an index of KINDS."""
    r1, r2 = roots(lam, lr, beta)
    radius = np.maximum(np.abs(r1), np.abs(r2))
    complex_ = np.abs(r1.imag) > 1e-15
    negative = ~complex_ & (np.minimum(r1.real, r2.real) < 0) & (np.abs(np.minimum(r1.real, r2.real)) > 1e-15)
    out = np.where(radius >= 1, 3, np.where(complex_, 1, np.where(negative, 2, 0)))
    return out.astype(np.int64)


def rate_map(lam: Floats, lrs: Floats, betas: Floats) -> tuple[Floats, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Over the plane of `lrs` by `betas` (rows: β, columns: lr): the rate (the slowest direction's), and how the
    slowest and the fastest directions move there (KINDS indices). `lam`: the eigenvalues that shape the loss."""
    lr, beta = np.meshgrid(lrs, betas)
    every = rates(lam[:, None, None], lr[None], beta[None])
    rate: Floats = every.max(axis=0)
    slow = kinds(np.array(lam[0]), lr, beta)
    fast = kinds(np.array(lam[-1]), lr, beta)
    slow = np.where(rate >= 1, 3, slow)
    return rate, slow, fast


def applies(config: RunConfig, model_linear: bool = True) -> str | None:
    """Why the theory does not apply to `config` (None: it does)."""
    if not model_linear or not linear_in_params(config):
        what = "the mlp" if config.model == "mlp" else config.model
        return f"{what} is not linear in its parameters: its loss is no quadratic, its curvature changes as it moves"
    if config.loss not in ("mse", "sse"):
        return f"the {config.loss} loss is not quadratic in the parameters"
    if config.batch_size is not None:
        return "mini-batches: each step sees another loss (the theory is of full-batch steps)"
    if config.accumulate_grad:
        return "accumulated gradients: each step adds every gradient since the start (zero_grad is not called)"
    if config.optimizer not in ("gd", "sgd"):
        return f"{config.optimizer} is not gradient descent with heavy-ball momentum (gd, sgd)"
    return None
