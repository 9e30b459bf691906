"""The learning rate above which a run's optimizer diverges, from its loss's largest Hessian eigenvalue λmax, and
only where such a limit holds: what the status line compares the lr with.

Why: 2/λmax is plain gradient descent's limit, not every optimizer's. On a quadratic loss each eigen-direction
of the Hessian (eigenvalue λ, h = lr·λ) moves on its own, and torch's updates give these exact edges:

- gd, and sgd without momentum (θ ← θ - lr·g): e ← (1 - h)e, stable while h < 2, so lr < 2/λmax;
- heavy-ball momentum, torch.optim.SGD(momentum=β) (v ← βv + g, θ ← θ - lr·v): the step's matrix
  [[1 - h, -β], [h, β]] (on (e, lr·v)) has trace 1 + β - h and determinant β; its roots stay inside the unit
  circle while 0 < h < 2 + 2β, so lr < (2 + 2β)/λmax;
- Nesterov's, torch.optim.SGD(momentum=β, nesterov=True) (v ← βv + g, θ ← θ - lr·(g + βv)): the matrix
  [[1 - h(1 + β), -β²], [h, β]] (on (e, lr·v) of the step before) has trace 1 + β - h(1 + β) and determinant
  β(1 - h); Jury's test leaves 1 + trace + determinant = 2 + 2β - h(1 + 2β) > 0 as the binding condition, so
  lr < 2(1 + β)/((1 + 2β)λmax). (tests/test_limits.py checks each edge against torch's own updates.)

Adam, AdamW, RMSprop and Adagrad divide each step by a running size of the gradient: their step does not scale
with lr·λ, so no such limit holds and none is given.

Where the limit holds only near the point it was computed at, it is marked "local": an mlp's loss is no
quadratic (its Hessian changes as it moves), nor is a loss other than MSE or SSE (Huber's Hessian depends on
which residuals are within its threshold; L1's is zero almost everywhere, so there is no λmax to give one). The
limit there is the local stability edge at the parameters λmax was computed at, not a guarantee.

Two cases change what the limit means:

- mini-batches (`batch_size`): λmax is the full training set's, and the limit is marked "full batch": a
  reference for how sharp the loss is, not a verdict. Each batch's loss has its own Hessian (their mean is the
  full set's), and a run's stability depends on them all: measured on a 40-point quadratic fit reshuffled every
  epoch, plain gd diverged at 0.9·2/λmax with batches of one point, and stayed bounded at 1.1 times it with
  batches of ten; heavy-ball momentum 0.9 diverged at half its limit with batches of four. The per-batch limit
  at a step is what `gdtui explain` (and the TUI's `e`) gives.
- accumulated gradients (`accumulate_grad`, the gradient never cleared): each step adds every gradient since the
  start, like a momentum of 1 (plain gd's e ← (2 - h)e - e_previous, undamped for any h < 4; with momentum it
  grows). No lr makes such a run converge, so no limit is given.

Torch-free, pure arithmetic: the app imports it.
"""

from __future__ import annotations

import math

from gdtui.engine.config import RunConfig, linear_in_params

PLAIN = "2/λmax"
HEAVY_BALL = "(2+2β)/λmax"
NESTEROV = "2(1+β)/((1+2β)λmax)"
# Each form as a narrow status line writes it (the same quotient, fewer characters).
SHORT = {PLAIN: "2/λmax", HEAVY_BALL: "(2+2β)/λ", NESTEROV: "2(1+β)/(1+2β)/λ"}
ADAPTIVE = ("adam", "adamw", "rmsprop", "adagrad")  # their steps are divided by the gradient's running size
QUADRATIC_LOSSES = ("mse", "sse")  # with a model linear in its parameters, a loss whose Hessian is constant
LOCAL = "local"
FULL_BATCH = "full batch"


def relative_limit(config: RunConfig) -> tuple[float, str] | None:
    """The limit as a multiple of plain gradient descent's 2/λmax, and its form; None where no limit holds (an
    adaptive optimizer, accumulated gradients, an optimizer this module does not know)."""
    if config.accumulate_grad or config.optimizer in ADAPTIVE:
        return None
    beta = config.effective_momentum
    if config.optimizer == "gd" or (config.optimizer == "sgd" and beta == 0):
        return 1.0, PLAIN
    if config.optimizer == "sgd":
        return 1.0 + beta, HEAVY_BALL
    if config.optimizer == "nesterov":
        return (1.0 + beta) / (1.0 + 2.0 * beta), NESTEROV
    return None


def lr_limit(config: RunConfig, lambda_max: float) -> tuple[float, str] | None:
    """The lr above which `config`'s optimizer diverges on a loss whose largest Hessian eigenvalue is
    `lambda_max`, and the limit's form ("2/λmax", "(2+2β)/λmax", "2(1+β)/((1+2β)λmax)"); None where no limit
    holds (see the module's docstring) or λmax is not a positive finite number. `notes(config)` says whether the
    limit is local or the full batch's."""
    found = relative_limit(config)
    if found is None or not (math.isfinite(lambda_max) and lambda_max > 0):
        return None
    factor, form = found
    # sgd's weight decay raises every eigenvalue by it; dampening scales what the momentum buffer takes in
    decay = config.weight_decay or 0.0
    damped = (config.dampening or 0.0) if config.effective_momentum > 0 else 0.0
    return factor * 2.0 / ((lambda_max + decay) * (1.0 - damped)), form


def notes(config: RunConfig) -> tuple[str, ...]:
    """What qualifies `config`'s limit: "local" (an mlp, or a loss that is no quadratic: the Hessian changes with
    the point) and "full batch" (mini-batches: λmax is the whole training set's)."""
    found: list[str] = []
    if not linear_in_params(config) or config.loss not in QUADRATIC_LOSSES:
        found.append(LOCAL)
    if config.batch_size is not None:
        found.append(FULL_BATCH)
    return tuple(found)
