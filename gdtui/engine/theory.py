"""Why it converges: the exact dynamics of the user's own problem, for models linear in their parameters.

Why: gdtui shows whether a run diverges (2/λmax); this says why it crawls. With MSE or SSE and a model linear in
its parameters (predictions = Φθ), the loss is the quadratic L(θ) = L* + ½ eᵀAe, e = θ - θ*, A = (2/n)ΦᵀΦ (SSE:
2ΦᵀΦ), and full-batch gradient descent with torch's momentum (v ← βv + ∇L, θ ← θ - lr·v; β = 0: plain gd) moves
each eigen-direction of A on its own: (z, v) ← M(z, v), M = [[1 - lr·λ, -lr·β], [λ, β]]. So the run can be
predicted epoch by epoch (the log's loss at epoch k is L at the parameters after k - 1 steps), the slowest
direction named, the epochs to a target counted over every direction, and the best lr and momentum given, as
distill's "Why Momentum Really Works" teaches on a made-up problem. Everything here is float64 numpy on the
training set's design matrix; a run changed mid-way is predicted segment by segment from the state its record
gives at each change.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from gdtui.engine import dynamics
from gdtui.engine.config import RunConfig
from gdtui.engine.dynamics import applies
from gdtui.engine.trainer import Trainer

Floats = npt.NDArray[np.float64]
SCAN_BLOCK = 4096  # epochs scanned at once when a momentum run's loss is searched for its target
SCAN_LIMIT = 10_000_000  # epochs a momentum run is scanned for its target; beyond, an estimate from its rate
SHOWN = 8  # significant digits of a best lr shown (rounded toward stability)


@dataclass(frozen=True)
class Problem:
    """The training loss as a quadratic: A's eigenvalues (ascending) and eigenvectors (columns), the minimum θ*
    and L*, and how the loss turns into the log's RMSE (RMSE² = loss / `per_point`)."""

    names: tuple[str, ...]
    eigenvalues: Floats
    vectors: Floats
    minimum: Floats
    loss_min: float
    per_point: float  # 1 for MSE, n for SSE
    weights: Floats | None = None  # with weight decay: the loss's own eigenvalues (`eigenvalues` are A + wd·I's)
    offset: Floats | None = None  # with weight decay: where the step's minimum lies from the loss's, by direction

    @property
    def loss_weights(self) -> Floats:
        return self.eigenvalues if self.weights is None else self.weights

    @property
    def loss_offset(self) -> Floats:
        return np.zeros_like(self.eigenvalues) if self.offset is None else self.offset

    @property
    def floor(self) -> float:
        """The least loss the step reaches: L*, or with weight decay the loss at its own minimum."""
        return self.loss_min + 0.5 * float(self.loss_offset**2 @ self.loss_weights)

    @property
    def positive(self) -> Floats:
        """The eigenvalues that shape the loss (a direction of eigenvalue 0 never moves it)."""
        scale = max(float(self.eigenvalues[-1]), 0.0)
        return self.eigenvalues[self.eigenvalues > scale * 1e-12]

    @property
    def kappa(self) -> float:
        lam = self.positive
        return float(lam[-1] / lam[0]) if len(lam) else math.inf

    def rmse(self, loss: float) -> float:
        return math.sqrt(max(loss, 0.0) / self.per_point)

    def loss_of_rmse(self, rmse: float) -> float:
        return rmse * rmse * self.per_point

    def direction(self, k: int, digits: int = 2) -> str:
        """Eigen-direction k written in the parameters' names, its largest part positive: "0.98·c - 0.20·b"."""
        v = self.vectors[:, k]
        v = v if v[np.argmax(np.abs(v))] >= 0 else -v
        order = [i for i in np.argsort(-np.abs(v)) if abs(v[i]) >= 0.05][:4]
        text = ""
        for i in order:
            sign = "−" if v[i] < 0 else "+"
            part = f"{abs(v[i]):.{digits}f}·{self.names[i]}"
            text += part if not text else f" {sign} {part}"
        return text if v[order[0]] >= 0 else f"−{text}"


def problem(trainer: Trainer) -> Problem:
    """The focused problem of `trainer`'s run: its design matrix on the training set, float64."""
    from gdtui.engine.landscape import features

    why = applies(trainer.config)
    if why is not None:
        raise ValueError(why)
    x = trainer.data.x_train.cpu().double()
    y = trainer.data.y_train.cpu().double().numpy()
    phi = features(trainer, x).numpy()
    n = len(y)
    scale = 2.0 / n if trainer.config.loss == "mse" else 2.0
    a = scale * (phi.T @ phi)
    eigenvalues, vectors = np.linalg.eigh(a)
    minimum = np.linalg.lstsq(phi, y, rcond=None)[0]
    residual = phi @ minimum - y
    loss_min = float(residual @ residual) * (scale / 2.0)
    return Problem(trainer.names, eigenvalues, vectors, minimum, loss_min, 1.0 if trainer.config.loss == "mse" else n)


def decayed(p: Problem, decay: float) -> Problem:
    """The problem sgd's weight decay makes of `p`: its step follows A + decay·I (every eigenvalue raised by it)
    toward that matrix's own minimum, while the loss the log prints stays `p`'s."""
    if not decay:
        return p
    lam, q = p.eigenvalues, p.vectors
    mu = lam + decay
    shrink = q @ np.diag(lam / mu) @ q.T @ p.minimum  # the minimum of L + decay/2·|θ|²
    offset = q.T @ (shrink - p.minimum)
    return Problem(p.names, mu, q, shrink, p.loss_min, p.per_point, lam, offset)


def for_config(p: Problem, config: RunConfig) -> Problem:
    return decayed(p, config.weight_decay or 0.0)


def _damped(beta: float, dampening: float) -> float:
    """The dampening that acts: torch's buffer takes (1 - dampening)·gradient, and there is no buffer at β = 0."""
    return dampening if beta > 0 else 0.0


def _matrices(p: Problem, lr: float, beta: float, dampening: float = 0.0) -> Floats:
    """Each direction's step (z, v) ← M(z, v), stacked: (n, 2, 2)."""
    lam = p.eigenvalues * (1 - _damped(beta, dampening))
    m = np.empty((len(lam), 2, 2))
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = 1 - lr * lam, -lr * beta, lam, beta
    return m


def rates(p: Problem, lr: float, beta: float, dampening: float = 0.0) -> Floats:
    """Each direction's rate: the largest modulus of its step's eigenvalues (gd: |1 - lr·λ|)."""
    return dynamics.rates(p.eigenvalues, lr * (1 - _damped(beta, dampening)), beta)


def rate(p: Problem, lr: float, beta: float, dampening: float = 0.0) -> float:
    """The run's rate: its slowest direction's (directions of eigenvalue 0 left out)."""
    shaped = p.eigenvalues > max(float(p.eigenvalues[-1]), 0.0) * 1e-12
    return float(rates(p, lr, beta, dampening)[shaped].max()) if shaped.any() else 0.0


@dataclass
class State:
    """Where a run stands in the eigenbasis: each direction's error z and momentum buffer v."""

    z: Floats
    v: Floats
    fresh: bool = False  # no momentum buffer yet: torch's first step puts the gradient in it, undamped

    @classmethod
    def at(cls, p: Problem, params: Any, buffer: Any = None) -> State:
        z = p.vectors.T @ (np.asarray(params, np.float64) - p.minimum)
        v = np.zeros_like(z) if buffer is None else p.vectors.T @ np.asarray(buffer, np.float64)
        return cls(z, v, buffer is None)


def _first(p: Problem, state: State, lr: float, beta: float, dampening: float) -> State | None:
    """The first step by hand where the matrix would be wrong: a fresh buffer that dampening would damp."""
    if not (state.fresh and _damped(beta, dampening)):
        return None
    v = p.eigenvalues * state.z
    return State(state.z - lr * v, v)


def _loss(p: Problem, z: Floats) -> Floats:
    """The loss at errors z (..., n)."""
    shifted = z + p.loss_offset
    return p.loss_min + 0.5 * (shifted * shifted) @ p.loss_weights


def _advance(m: Floats, state: State, steps: int) -> State:
    if steps == 0:
        return state
    power = np.linalg.matrix_power(m, steps) if steps else np.broadcast_to(np.eye(2), m.shape)
    zv = np.einsum("nij,nj->ni", power, np.stack([state.z, state.v], axis=1))
    return State(zv[:, 0], zv[:, 1])


def losses_at(
    p: Problem, state: State, lr: float, beta: float, epochs: Any, dampening: float = 0.0
) -> tuple[Floats, Floats]:
    """The log's loss at each of `epochs` (ascending, ≥ 1: the loss before that epoch's step, from `state` as
    it stands before epoch 1), and each direction's share of it above L* (½λz²): (len,), (len, n)."""
    m = _matrices(p, lr, beta, dampening)
    wanted = np.asarray(epochs, np.int64)
    out = np.empty(len(wanted))
    parts = np.empty((len(wanted), len(p.eigenvalues)))
    done, now = 0, state
    with np.errstate(over="ignore", invalid="ignore"):
        for k, epoch in enumerate(wanted.tolist()):
            if done == 0 and epoch > 1 and (first := _first(p, now, lr, beta, dampening)) is not None:
                now, done = first, 1
            now = _advance(m, now, epoch - 1 - done)
            done = epoch - 1
            shifted = now.z + p.loss_offset
            parts[k] = 0.5 * p.loss_weights * shifted * shifted
            out[k] = p.loss_min + parts[k].sum()
    return out, parts


def epochs_to(
    p: Problem, state: State, lr: float, beta: float, target_loss: float, dampening: float = 0.0
) -> int | None:
    """The first epoch whose log loss is at or below `target_loss` (None: never: the target is below the least
    loss the step reaches, or the run does not converge); past SCAN_LIMIT epochs of a momentum run, estimated
    from its rate."""
    if target_loss <= p.floor:
        return None
    if _loss(p, state.z) <= target_loss:
        return 1
    r = rate(p, lr, beta, dampening)
    if r >= 1:
        return None
    first = _first(p, state, lr, beta, dampening)
    if first is not None:  # torch's first step, by hand; the matrix from the second on
        after = epochs_to(p, first, lr, beta, target_loss, dampening)
        return None if after is None else after + 1
    m = _matrices(p, lr, beta, dampening)
    if beta == 0 and p.offset is None:  # every direction shrinks monotonically: bisect on the closed form
        lo, hi = 1, 2
        while losses_at(p, state, lr, beta, [hi])[0][0] > target_loss:
            lo, hi = hi, hi * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if losses_at(p, state, lr, beta, [mid])[0][0] > target_loss else (lo, mid)
        return hi
    powers = np.empty((SCAN_BLOCK, *m.shape))  # M^0 .. M^(SCAN_BLOCK-1), by doubling
    powers[0] = np.eye(2)
    size, step = 1, m
    while size < SCAN_BLOCK:
        powers[size : 2 * size] = powers[:size] @ step
        size, step = 2 * size, step @ step
    jump = step  # M^SCAN_BLOCK
    to_z, from_v = np.ascontiguousarray(powers[:, :, 0, 0]), np.ascontiguousarray(powers[:, :, 0, 1])
    zv = np.stack([state.z, state.v], axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, SCAN_LIMIT, SCAN_BLOCK):
            z = to_z * zv[:, 0] + from_v * zv[:, 1]  # each direction's error at the block's epochs
            below = np.nonzero(_loss(p, z) <= target_loss)[0]
            if len(below):
                return start + int(below[0]) + 1
            zv = np.einsum("nij,nj->ni", jump, zv)
    gap = (_loss(p, zv[:, 0]) - p.floor) / (target_loss - p.floor)
    return SCAN_LIMIT + math.ceil(math.log(max(float(gap), 1.0)) / (-2 * math.log(r)))


def best_lr(p: Problem) -> float:
    """Plain gd's best lr, 2/(λ1 + λn): its rate (κ - 1)/(κ + 1)."""
    lam = p.positive
    return 2.0 / float(lam[0] + lam[-1])


def best_pair(p: Problem) -> tuple[float, float]:
    """The best heavy-ball pair: lr = (2/(√λ1 + √λn))², β = ((√λn - √λ1)/(√λn + √λ1))²: rate (√κ - 1)/(√κ + 1)."""
    lam = p.positive
    s1, sn = math.sqrt(float(lam[0])), math.sqrt(float(lam[-1]))
    return (2.0 / (s1 + sn)) ** 2, ((sn - s1) / (sn + s1)) ** 2


def toward_stability(p: Problem, lr: float, beta: float, dampening: float = 0.0) -> tuple[float, float]:
    """`lr` rounded down and `beta` up to the fewest digits (SHOWN or more) whose pair still converges: the
    optima sit within parts per million of the stability edge, and a pair rounded to nearest may cross it."""
    for digits in range(SHOWN, 17):
        exponent = math.floor(math.log10(lr)) - digits + 1
        shown_lr = math.floor(lr / 10**exponent) * 10**exponent
        shown_lr = float(f"{shown_lr:.{digits}g}")
        shown_beta = beta if beta == 0 else min(math.ceil(beta * 10**digits) / 10**digits, float(np.nextafter(1, 0)))
        if rate(p, shown_lr, shown_beta, dampening) < 1:
            return shown_lr, shown_beta
    return lr, beta


@dataclass(frozen=True)
class Theory:
    """What the theory says of a run's settings from `state` (gdtui theory, the TUI's Theory view)."""

    problem: Problem
    lr: float
    momentum: float
    rate: float
    target_rmse: float
    epochs: int | None  # to the target at the run's settings
    best_lr: float
    best_lr_shown: float
    best_lr_rate: float
    best_lr_epochs: int | None
    best_pair: tuple[float, float]
    best_pair_shown: tuple[float, float]
    best_pair_rate: float
    best_pair_epochs: int | None
    lr_limit: float  # the stability edge at the run's momentum, (2 + 2β)/λmax
    dampening: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def slowest(self) -> int:
        """The index of the run's slowest direction."""
        lam = self.problem.eigenvalues
        shaped = lam > max(float(lam[-1]), 0.0) * 1e-12
        r = np.where(shaped, rates(self.problem, self.lr, self.momentum, self.dampening), -1.0)
        return int(np.argmax(r))

    def line(self) -> str:
        """One line a learner can read."""
        p = self.problem
        k = self.slowest
        shrink = f"× {self.rate:.7g}" if self.rate < 1 else f"× {self.rate:.4g}: it grows, the run diverges"
        text = f"the slowest direction, {p.direction(k)} (λ {p.eigenvalues[k]:.3g}), shrinks {shrink} an epoch"
        if self.rate < 1:
            text += f"; RMSE {self.target_rmse:.3g} in {_count(self.epochs)} epochs"
        lr, (plr, pbeta) = self.best_lr_shown, self.best_pair_shown
        text += f"; at the best lr {lr:.{SHOWN}g}, {_count(self.best_lr_epochs)}"
        text += f"; with momentum (lr {plr:.{SHOWN}g}, β {pbeta!r}), {_count(self.best_pair_epochs)}"
        return text

    def record(self) -> dict[str, Any]:
        p = self.problem
        return {
            "eigenvalues": p.eigenvalues.tolist(),
            "directions": [
                {"eigenvalue": float(p.eigenvalues[k]), "vector": dict(zip(p.names, p.vectors[:, k].tolist()))}
                for k in range(len(p.names))
            ],
            "kappa": p.kappa,
            "least_squares": {"params": dict(zip(p.names, p.minimum.tolist())), "rmse": p.rmse(p.loss_min)},
            "lr": self.lr,
            "momentum": self.momentum,
            "rate": self.rate,
            "lr_limit": self.lr_limit,
            "target_rmse": self.target_rmse,
            "epochs_to_target": self.epochs,
            "best_lr": {"lr": self.best_lr, "shown": self.best_lr_shown, "rate": self.best_lr_rate},
            "best_lr_epochs": self.best_lr_epochs,
            "best_momentum": {
                "lr": self.best_pair[0],
                "momentum": self.best_pair[1],
                "shown": {"lr": self.best_pair_shown[0], "momentum": self.best_pair_shown[1]},
                "rate": self.best_pair_rate,
            },
            "best_momentum_epochs": self.best_pair_epochs,
            "line": self.line(),
        }


def _count(epochs: int | None) -> str:
    if epochs is None:
        return "never (unreachable)"
    if epochs >= 1_000_000:
        return f"about {epochs / 1e6:.3g}M"
    if epochs >= 100_000:
        return f"about {round(epochs, -3) // 1000:,}k"
    return f"{epochs:,}"


def theory(loss: Problem, config: RunConfig, params: Any, buffer: Any = None) -> Theory:
    """The theory of `config`'s settings on the loss `loss`, from `params` (and the momentum buffer, if any):
    with weight decay, of the step's own problem (gdtui.engine.theory.decayed); with dampening, its buffer
    takes (1 - dampening)·gradient, so the best pair's lr is raised by 1/(1 - dampening)."""
    p = for_config(loss, config)
    state = State.at(p, params, buffer)
    lr, beta, damp = config.lr, config.effective_momentum, config.dampening or 0.0
    target = config.target_rmse if config.target_rmse is not None else p.rmse(p.loss_min) * 1.01
    target_loss = p.loss_of_rmse(target)
    blr = best_lr(p)
    pair_lr, pair_beta = best_pair(p)
    pair = (pair_lr / (1 - damp), pair_beta)
    start = State.at(p, p.minimum + p.vectors @ state.z)  # the same errors, its buffer empty (a fresh start)
    return Theory(
        problem=p,
        lr=lr,
        momentum=beta,
        rate=rate(p, lr, beta, damp),
        target_rmse=target,
        epochs=epochs_to(p, state, lr, beta, target_loss, damp),
        best_lr=blr,
        best_lr_shown=toward_stability(p, blr, 0.0)[0],
        best_lr_rate=rate(p, blr, 0.0),
        best_lr_epochs=epochs_to(p, start, blr, 0.0, target_loss),
        best_pair=pair,
        best_pair_shown=toward_stability(p, *pair, damp),
        best_pair_rate=rate(p, *pair, damp),
        best_pair_epochs=epochs_to(p, start, *pair, target_loss, damp),
        lr_limit=(2 + 2 * beta) / ((1 - _damped(beta, damp)) * float(p.eigenvalues[-1])),
        dampening=damp,
    )


def of_trainer(trainer: Trainer) -> Theory:
    """The theory of `trainer`'s run from its initial parameters (gdtui theory)."""
    return theory(problem(trainer), trainer.start_config, trainer.initial.cpu().double().numpy())


def segments(trainer: Trainer) -> list[tuple[int, RunConfig]]:
    """The run's segments: (the epoch each starts after, its settings), from its start and each change."""
    config = trainer.start_config
    out = [(0, config)]
    for epoch, change in trainer.changes:
        config = config.replace(**{k: v for k, v in change.items() if hasattr(config, k)})
        out.append((epoch, config))
    return out


def predicted_run(trainer: Trainer, epochs: Any) -> tuple[Floats, Floats]:
    """The log's loss at `epochs` (ascending, ≥ 1) as the theory predicts the run, segment by segment: each from
    the state the record gives at its change (its parameters, and its momentum buffer from the step before),
    the last one on to the epoch budget. Returns the losses and each direction's share above L*."""
    from gdtui.engine.landscape import params_at

    loss = problem(trainer)
    wanted = np.asarray(epochs, np.int64)
    out, parts = np.empty(len(wanted)), np.empty((len(wanted), len(loss.names)))
    cuts = segments(trainer)
    for k, (begin, config) in enumerate(cuts):
        end = cuts[k + 1][0] if k + 1 < len(cuts) else None
        mine = (wanted > begin) & (wanted <= end if end is not None else True)
        if not mine.any():
            continue
        p = for_config(loss, config)
        if begin == 0:
            state = State.at(p, trainer.initial.cpu().double().numpy())
        else:
            before, after = np.array(params_at(trainer, begin - 1)), np.array(params_at(trainer, begin))
            lr_step = trainer.history.lr[begin - 1]
            beta = cuts[k - 1][1].effective_momentum
            state = State.at(p, after, (before - after) / lr_step if beta > 0 and lr_step > 0 else None)
        damp = config.dampening or 0.0
        losses, shares = losses_at(p, state, config.lr, config.effective_momentum, wanted[mine] - begin, damp)
        out[mine], parts[mine] = losses, shares
    return out, parts


SCHEDULED_UP_TO = 50_000  # epochs a scheduled run is predicted epoch by epoch (its lr changes every epoch)


def schedule_path(config: RunConfig, epochs: int) -> tuple[Floats, Floats] | None:
    """The lr and momentum of each epoch 1..`epochs` of a full-batch run under `config`'s schedule, as torch's
    scheduler sets them (gdtui.engine.schedules.build over a stand-in optimizer); None without a schedule, or
    with one that follows the loss (plateau)."""
    if config.schedule is None or any(name == "plateau" for name, _ in config.schedule):
        return None
    import torch

    from gdtui.engine.schedules import build

    beta = config.effective_momentum
    holder = torch.optim.SGD([torch.zeros(1)], lr=config.lr, momentum=beta)
    holder._opt_called = True  # type: ignore[attr-defined]  # stepped by hand: torch would warn otherwise
    scheduler = build(config.schedule, holder, config.epochs, 1, config.optimizer, beta)
    lrs, betas = np.empty(epochs), np.empty(epochs)
    for k in range(epochs):
        group = holder.param_groups[0]
        lrs[k], betas[k] = group["lr"], group.get("momentum", beta)
        if k + 1 < min(epochs, config.epochs):
            scheduler.step()
    return lrs, betas


def scheduled_losses(
    p: Problem, state: State, lrs: Floats, betas: Floats, epochs: Any, dampening: float = 0.0
) -> tuple[Floats, Floats]:
    """As `losses_at`, the lr and momentum of each epoch given (`lrs[k]`, `betas[k]`: epoch k + 1's step)."""
    wanted = set(np.asarray(epochs, np.int64).tolist())
    last = max(wanted)
    out, parts = [], []
    z, v, fresh = state.z.copy(), state.v.copy(), state.fresh
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(1, last + 1):
            if epoch in wanted:
                shifted = z + p.loss_offset
                share = 0.5 * p.loss_weights * shifted * shifted
                parts.append(share)
                out.append(p.loss_min + share.sum())
            if epoch == last:
                break
            lr, beta = float(lrs[epoch - 1]), float(betas[epoch - 1])
            g = p.eigenvalues * z
            v = g if fresh or beta == 0 else beta * v + (1 - _damped(beta, dampening)) * g
            fresh = beta == 0  # a buffer from the first momentum step on
            z = z - lr * v
    return np.array(out), np.array(parts)


def report(trainer: Trainer) -> Generator[None, None, dict[str, Any]]:
    """What the TUI's Theory view shows of the focused lane, a stage at a time (the session reads its pipe
    between): `why` it does not apply, or its lines, the predicted RMSE at sample epochs up to the epoch budget
    (the run as recorded, segment by segment), each direction's share of the loss above L* at them, the
    directions' labels and the exact best lr and pair (for the keys that apply them)."""
    why = applies(trainer.config) or applies(trainer.start_config)
    if why is None and any(applies(config) for _, config in segments(trainer)):
        why = "a segment of the run is outside the theory (its optimizer or loss changed)"
    if why is not None:
        return {"why": why}
    loss = problem(trainer)
    yield
    config = trainer.config
    from gdtui.engine.landscape import params_at

    found = theory(loss, config, params_at(trainer))
    p = found.problem
    yield
    budget = max(config.epochs, trainer.epoch, 1)
    epochs = np.unique(np.concatenate([np.linspace(1, budget, 300), np.geomspace(1, budget, 100)]).astype(np.int64))
    path = schedule_path(config, budget) if config.schedule is not None and budget <= SCHEDULED_UP_TO else None
    sweep: tuple[tuple[float, float], ...] = ()
    schedule_line: list[str] = []
    if config.schedule is not None:
        if path is None or trainer.changes:
            why_not = "a live change" if path is not None else "its lr follows the loss, or it is too long"
            return {"why": f"a scheduled run the theory does not predict ({why_not}): the loss curve shows the run"}
        lrs, betas = path
        losses, shares = scheduled_losses(
            p, State.at(p, trainer.initial.cpu().double().numpy()), lrs, betas, epochs, found.dampening
        )
        edge = (2 + 2 * betas) / ((1 - _damped(float(betas.max()), found.dampening)) * float(p.eigenvalues[-1]))
        above = np.nonzero(lrs > edge)[0]
        crossing = f"above it at epochs {above[0] + 1:,} to {above[-1] + 1:,}" if len(above) else "never above it"
        schedule_line = [
            f"the schedule's lr goes from {lrs.min():.4g} to {lrs.max():.4g} against the stability edge "
            f"{edge.min():.4g}: {crossing} (its path is the line on the rate map)"
        ]
        sweep = tuple((float(lr), float(b)) for lr, b in zip(lrs[epochs - 1], betas[epochs - 1]))
    else:
        losses, shares = predicted_run(trainer, epochs)
    k = found.slowest
    beta = found.momentum
    lines = [
        f"κ {p.kappa:,.6g} · eigenvalues {', '.join(f'{v:.3g}' for v in p.eigenvalues)}"
        f" · least squares RMSE {p.rmse(p.loss_min):.6g}",
        *(
            f"λ {p.eigenvalues[i]:<10.3g} {p.direction(i):<28} × {r:.7g} an epoch{' (slowest)' if i == k else ''}"
            for i, r in enumerate(rates(p, found.lr, beta, found.dampening).tolist())
        ),
        *(
            [
                f"weight decay {config.weight_decay:g}: every eigenvalue raised by it; the step's minimum is not the "
                f"least squares': its RMSE {p.rmse(p.floor):.6g}"
            ]
            if config.weight_decay
            else []
        ),
        f"at lr {found.lr:g}, momentum {beta:g}: rate {found.rate:.7g}; stable below lr (2+2β)/λmax "
        f"{found.lr_limit:.6g}; RMSE {found.target_rmse:.4g} in {_count(found.epochs)} epochs",
        f"best lr {found.best_lr_shown!r}: rate {found.best_lr_rate:.7g}, {_count(found.best_lr_epochs)} epochs (B)",
        f"best momentum lr {found.best_pair_shown[0]!r}, β {found.best_pair_shown[1]!r}: rate "
        f"{found.best_pair_rate:.7g}, {_count(found.best_pair_epochs)} epochs (M)",
        found.line(),
        *schedule_line,
    ]
    return {
        "why": None,
        "lines": tuple(lines),
        "epochs": tuple(epochs.tolist()),
        "rmse": tuple(math.sqrt(max(v, 0.0) / p.per_point) if math.isfinite(v) else math.inf for v in losses.tolist()),
        "shares": tuple(tuple(column) for column in shares.T.tolist()),
        "directions": tuple(p.direction(i) for i in range(len(p.names))),
        "best_lr": found.best_lr,
        "best_pair": found.best_pair,
        "eigenvalues": tuple(p.positive.tolist()),
        "sweep": sweep,
    }
