"""What the landscape functions return: plain values, torch-free, so the session can send them to the app (which
never imports torch) and the CLI can print them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Curvature:
    """The curvature of the training loss at some parameters: its Hessian (None for a large model, whose Hessian
    is never built), its eigenvalues (ascending: every one with the Hessian, else the smallest and the largest,
    from Hessian-vector products) and the learning rate above which plain gradient descent diverges there,
    2/λmax (None when λmax is not positive or was not computed)."""

    hessian: list[list[float]] | None
    eigenvalues: list[float]
    lr_limit: float | None
    constant: bool  # the same everywhere (MSE: the Hessian is 2/n·XᵀX)
    computed: bool = True  # False: the time budget ran out first (no eigenvalues, no limit)

    @property
    def every(self) -> bool:
        """Whether `eigenvalues` holds every eigenvalue (the Hessian was built), not only the two extremes."""
        return self.hessian is not None


@dataclass(frozen=True)
class Landscape:
    """The training loss over a grid of two parameters (`loss[row][col]` at ys[row], xs[col]), the others held
    at `held`; the minimum (least squares) or, without one, the lowest grid point."""

    pair: tuple[str, str]
    xs: list[float]
    ys: list[float]
    loss: list[list[float]]
    held: list[float]
    minimum: list[float] | None
    lowest: tuple[float, float, float]  # x, y and loss of the lowest grid point
    points: int  # training points the grid was computed on
    subsampled: bool
    names: tuple[str, ...] = ()  # the model's parameters, in the order of `held` and `minimum`


@dataclass(frozen=True)
class LrFind:
    """An LR range test: the learning rates tried, the loss at each step (before its update), the smoothed loss,
    the suggestion, and 2/λmax where the curvature gives it."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float | None
    lr_limit: float | None
    curvature: Curvature | None = None  # at the initial parameters, whence lr_limit
