"""The loss landscape of a lane: its training loss over two of its parameters, the minimum, the curvature (the
Hessian, its eigenvalues and plain gradient descent's stability limit 2/λmax) and an LR range test.

Why: the contour picture with the parameters' path on it is what makes a learning rate that is too big visible,
and the curvature says exactly where "too big" begins (fastai-quadratic diverges above 3.54e-5). Every model
gdtui has but the mlp is linear in its parameters (predictions = features(x) @ params), so the grid is one matrix
product per block of grid points on float64 features (an mlp's grid calls its own module, vmapped), the minimum
under MSE is a least-squares fit, and the Hessian of MSE is the constant 2/n·XᵀX. UI-free: the app draws what
these functions return.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import torch

from gdtui.engine.config import MAX_LR
from gdtui.engine.models import MLP, FormulaModel, Linear, NNLinear, Polynomial, Quadratic, Slope, standardized
from gdtui.engine.paths import CAP, Path
from gdtui.engine.stack import ROW_LOSSES
from gdtui.engine.surface import Curvature, Landscape, LrFind
from gdtui.engine.trainer import Trainer

__all__ = [
    "Curvature",
    "Landscape",
    "LrFind",
    "conditioning",
    "curvature",
    "curvature_job",
    "landscape",
    "landscape_job",
    "lr_find",
    "lr_find_job",
]

T = TypeVar("T")
SQUARED = ("mse", "sse")  # losses whose minimum is the least-squares fit and whose Hessian is constant
MAX_POINTS = 10_000  # the grid is computed on a fixed subsample of larger data
BLOCK_ELEMENTS = 2_000_000  # grid points x data points computed at once


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread for the grid's small products: with two, waking the second costs more than it saves
    (a 111x66 grid on 20 points: 1.1 ms on one thread, 6.9 ms on two), and far more on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def features(trainer: Trainer, x: torch.Tensor) -> torch.Tensor:
    """The model's features of x in float64, one column per parameter in the order of its names: with
    --standardize, the standardised design the model trains on (its Scale's statistics), whose parameters the
    landscape's axes, the minimum and the curvature are."""
    design = raw_features(trainer, x)
    scale = trainer.model.scale
    if scale is None:
        return design
    return (design - scale.mean.cpu().double()) / scale.std.cpu().double()


def same_axes(one: Trainer, other: Trainer) -> bool:
    """Whether two lanes' parameters are points of one landscape: the same names, both raw or both standardised
    (a standardised lane's a, b, c are another model's coordinates)."""
    return one.names == other.names and one.config.standardize == other.config.standardize


def raw_features(trainer: Trainer, x: torch.Tensor) -> torch.Tensor:
    """The model's features of x in float64 before any standardisation (x, x², ... and the constant's ones)."""
    x = x.double()
    one = torch.ones_like(x)
    model = trainer.model
    if isinstance(model, Quadratic):
        return torch.stack([x**2, x, one], dim=1)
    if isinstance(model, (Linear, NNLinear)) and len(model.names) == 2:
        return torch.stack([x, one], dim=1)
    if isinstance(model, (Slope, NNLinear)):  # without a bias: w·x
        return x.unsqueeze(-1)
    if isinstance(model, Polynomial):
        return x.unsqueeze(-1) ** torch.arange(model.first, model.first + len(model.names), dtype=torch.float64)
    if isinstance(model, FormulaModel) and model.formula.linear:  # its design, as its terms compute it
        return torch.stack(model.columns(x), dim=1)
    raise ValueError(f"no landscape for the {trainer.config.model} model")


Predict = Callable[[torch.Tensor], torch.Tensor]  # a block of flat parameters (G, P) -> predictions (G, N)


def predictor(trainer: Trainer, x: torch.Tensor) -> tuple[Predict, int]:
    """The model's predictions on x for a block of flat parameter vectors, in float64, and how many grid points
    a block should hold. Linear in its parameters: one matrix product with its features; an mlp: its own
    nn.Sequential called with each vector's values (torch.func.functional_call, vmapped over the block)."""
    if not curved(trainer):
        design = features(trainer, x)
        return (lambda flats: flats @ design.T), max(1, BLOCK_ELEMENTS // max(len(x), 1))
    from torch.func import vmap

    model = trainer.model
    if isinstance(model, FormulaModel):  # its own closures on each vector's values, vmapped
        formula = model.formula
        return vmap(lambda flat: formula(x, flat.unbind(0))), max(1, BLOCK_ELEMENTS // max(len(x), 1))

    widest = max(trainer.config.hidden)
    # a block's parameter vectors count too: a large mlp's are a million values each
    block = min(BLOCK_ELEMENTS // max(len(x) * widest, 1), BLOCK_ELEMENTS // len(trainer.names))
    return vmap(_mlp_one(trainer, x)), max(1, block)


def curved(trainer: Trainer) -> bool:
    """Not linear in its parameters (the mlp, a formula such as a*sin(b*x)): no design, no least squares, a
    curvature that changes as it moves."""
    model = trainer.model
    return isinstance(model, MLP) or (isinstance(model, FormulaModel) and not model.formula.linear)


def _training_data(trainer: Trainer) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """The training points (CPU float64), a fixed subsample drawn from the run's seed beyond MAX_POINTS."""
    x, y = trainer.data.x_train.cpu().double(), trainer.data.y_train.cpu().double()
    if len(x) <= MAX_POINTS:
        return x, y, False
    generator = torch.Generator().manual_seed(trainer.config.seed)
    keep = torch.randperm(len(x), generator=generator)[:MAX_POINTS].sort().values
    return x[keep], y[keep], True


def params_at(trainer: Trainer, epoch: int | None = None) -> list[float]:
    """The parameters after `epoch` (0: the initial ones; default: the latest)."""
    epoch = trainer.epoch if epoch is None else epoch
    if not 0 <= epoch <= trainer.epoch:
        raise ValueError(f"epoch must be between 0 and {trainer.epoch}")
    if epoch == 0:
        return [float(v) for v in trainer.initial.cpu().double().tolist()]
    if trainer.summarized:  # kept at checkpoints; elsewhere replayed from the one before
        flat = dict(trainer.kept_flats()).get(epoch)
        if flat is None:
            flat = trainer.replay(epoch).model.flat()
        return [float(v) for v in flat.cpu().double().tolist()]
    return [trainer.history.params[name][epoch - 1] for name in trainer.names]


Floats = npt.NDArray[np.float64]


def pair_path(trainer: Trainer, pair: tuple[str, str]) -> tuple[npt.NDArray[np.int64], Floats, Floats]:
    """A lane's path through `pair`: the epochs whose parameters it keeps, from 0 (every epoch; a large model's
    checkpoints and its last), and the pair's values at them."""
    i, j = trainer.names.index(pair[0]), trainer.names.index(pair[1])
    if trainer.summarized:
        kept = trainer.kept_flats()
        flats = torch.stack([flat.cpu().double()[[i, j]] for _, flat in kept]).numpy()
        return np.array([e for e, _ in kept], np.int64), flats[:, 0], flats[:, 1]
    start = params_at(trainer, 0)

    def column(name: str, k: int) -> Floats:
        return np.concatenate(([start[k]], np.asarray(trainer.history.params[name], np.float64)))

    return np.arange(trainer.epoch + 1), column(pair[0], i), column(pair[1], j)


def sampled_params(trainer: Trainer, most: int = 64) -> npt.NDArray[np.float64]:
    """The parameters after some of the epochs run (every k-th, about `most` of them; a large model's kept ones),
    a row each (none before the first epoch)."""
    if trainer.summarized:
        kept = trainer.kept_flats()[1:]
        rows = [flat.cpu().double() for _, flat in kept[:: max(1, len(kept) // most)]]
        return torch.stack(rows).numpy() if rows else np.zeros((0, len(trainer.names)))
    if trainer.epoch == 0:
        return np.zeros((0, len(trainer.names)))
    stride = max(1, trainer.epoch // most)
    return np.array([np.asarray(trainer.history.params[n][::stride], np.float64) for n in trainer.names]).T


def loss_blocks(trainer: Trainer, count: int, rows: Callable[[int, int], torch.Tensor]) -> Iterator[torch.Tensor]:
    """The training loss at `count` parameter vectors, a block at a time; `rows(start, stop)` makes a block's
    vectors (float64, a row each) when it is due, so a grid of a large model's vectors never exists whole."""
    x, y, _ = _training_data(trainer)
    predict, block = predictor(trainer, x)
    row_loss = ROW_LOSSES[trainer.config.loss]
    for start in range(0, count, block):
        with one_thread():
            part = row_loss(predict(rows(start, min(count, start + block))), y)
        yield part


def losses_at(trainer: Trainer, flats: torch.Tensor) -> torch.Tensor:
    """The training loss at each row of `flats`, all blocks at once."""
    parts = list(loss_blocks(trainer, len(flats), lambda start, stop: flats[start:stop]))
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)


def minimum(trainer: Trainer) -> list[float] | None:
    """The parameters of least MSE (and SSE), by least squares (None for another loss: see `Landscape.lowest`).
    Solved by QR, which gives the same bits every call (MKL's lstsq was seen to differ in the last bit from call
    to call); a design of deficient rank falls back to lstsq."""
    if trainer.config.loss not in SQUARED or curved(trainer):
        return None
    x, y, _ = _training_data(trainer)
    design = features(trainer, x)
    if len(x) >= design.shape[1]:
        q, r = torch.linalg.qr(design)
        solution = torch.linalg.solve_triangular(r, (q.T @ y).unsqueeze(1), upper=True).squeeze(1)
        if bool(torch.isfinite(solution).all()) and bool((r.diagonal().abs() > 0).all()):
            return [float(v) for v in solution.tolist()]
    solution = torch.linalg.lstsq(design, y.unsqueeze(1), driver="gelsd").solution.squeeze(1)
    return [float(v) for v in solution.tolist()]


def conditioning(trainer: Trainer) -> tuple[float, float | None] | None:
    """κ = λmax/λmin of XᵀX (the Hessian of MSE is 2/n·XᵀX) for the model's raw design and for its standardised
    one (each non-constant column to mean 0 and std 1 over the training points, as --standardize trains it),
    whichever the run trains on: how far feature scaling rounds the loss's valleys (fastai-quadratic: 218,451 to
    57). inf where λmin is not positive (a design of deficient rank); the standardised one None without a bias
    (not standardised then) and for a formula (never standardised); None for an mlp."""
    if curved(trainer):
        return None
    x, _, _ = _training_data(trainer)
    raw = raw_features(trainer, x)
    if not trainer.config.bias or isinstance(trainer.model, FormulaModel):
        return _kappa(raw), None
    scale = trainer.model.scale or standardized(trainer.model, trainer.data.x_train.cpu())
    return _kappa(raw), _kappa((raw - scale.mean.cpu().double()) / scale.std.cpu().double())


def _kappa(design: torch.Tensor) -> float:
    eigenvalues = torch.linalg.eigvalsh(design.T @ design)
    low, high = float(eigenvalues[0]), float(eigenvalues[-1])
    return high / low if low > 0 else math.inf


def finish(job: Generator[None, None, T]) -> T:
    """Run a job (a generator computing a slice per `next()`) to its end and return its value."""
    while True:
        try:
            next(job)
        except StopIteration as done:
            value: T = done.value
            return value


FULL_HESSIAN_MAX = 128  # parameters up to which an mlp's Hessian is built whole (its every eigenvalue, exact)
BUDGET_SECONDS = 2.0  # the time a large model's eigenvalues may take, summed over its slices
TOLERANCE = 1e-4  # Lanczos stops once both extreme Ritz values' residuals are within this of the largest |λ|
SEED = 0  # the Lanczos start vector's seed: the same parameters give the same eigenvalues
SLICE_MACS = 2_000_000  # multiply-adds of one forward pass over a slice's block of points (a Hessian-vector
# product over a block costs some 6 of them: ~10 ms)
CHECK = 5  # Lanczos looks at its Ritz values every CHECK products
MEANS = ("mse", "l1", "huber")  # losses that are a mean over the points (sse: a sum)


def _mlp_one(trainer: Trainer, x: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """An mlp's predictions on x (float64) for one flat parameter vector: its nn.Sequential's layers in turn,
    each Linear as F.linear on views of the vector (what functional_call would do, without importing torch.func,
    which costs ~0.7 s at a session's first curvature)."""
    import torch.nn.functional as F
    from torch import nn

    assert isinstance(trainer.model, MLP)
    layers: list[tuple[nn.Module, int, torch.Size, int, int]] = []
    start = 0
    for layer in trainer.model.module:
        if isinstance(layer, nn.Linear):
            count = layer.weight.numel()
            layers.append((layer, start, layer.weight.shape, start + count, layer.out_features))
            start += count + layer.out_features
        else:
            layers.append((layer, 0, torch.Size(), 0, 0))
    column = x.double().unsqueeze(-1)

    def one(flat: torch.Tensor) -> torch.Tensor:
        h = column
        for layer, at, shape, bias, width in layers:
            if isinstance(layer, nn.Linear):
                h = F.linear(h, flat[at:bias].view(shape), flat[bias : bias + width])
            else:
                h = layer(h)
        return h.squeeze(-1)

    return one


def curvature(trainer: Trainer, flat: list[float] | None = None, budget: float = BUDGET_SECONDS) -> Curvature:
    """The curvature of the training loss at `flat` (default: the current parameters), all at once."""
    return finish(curvature_job(trainer, flat, budget))


def curvature_job(
    trainer: Trainer, flat: list[float] | None = None, budget: float = BUDGET_SECONDS
) -> Generator[None, None, Curvature]:
    """`curvature()` a slice at a time: each `next()` does a bounded piece of work (so a session reads its pipe
    between slices); the Curvature is the generator's return value.

    A model linear in its parameters, and an mlp of at most FULL_HESSIAN_MAX parameters, gets its whole Hessian
    (torch.autograd.functional.hessian, in one slice) and every eigenvalue. A larger mlp never builds it: the
    largest and the smallest eigenvalue (by value; the smallest may be negative) come from Lanczos on
    Hessian-vector products (reverse-over-reverse autograd), from a start vector drawn from SEED, in
    O(parameters) memory (three vectors, and one block's graph at a time), each product a block of points per
    slice. It stops when both extreme Ritz values'
    residuals are within TOLERANCE of the largest |λ|; once `budget` seconds (the time spent in its slices, not
    between them) pass first, the Curvature says it was not computed."""
    constant = trainer.config.loss in SQUARED and not curved(trainer)
    # the current parameters as the model holds them: the history's last, without a list of a million floats
    at = trainer.model.flat().cpu().double() if flat is None else torch.tensor(flat, dtype=torch.float64)
    if not isinstance(trainer.model, MLP) or len(at) <= FULL_HESSIAN_MAX:
        return _full_curvature(trainer, at, constant)
    return (yield from _lanczos(trainer, at, budget))


def _full_curvature(trainer: Trainer, at: torch.Tensor, constant: bool) -> Curvature:
    x, y, _ = _training_data(trainer)
    predict, _ = predictor(trainer, x)
    row_loss = ROW_LOSSES[trainer.config.loss]

    def loss(p: torch.Tensor) -> torch.Tensor:
        return row_loss(predict(p.unsqueeze(0)), y)[0]

    with one_thread():
        hessian = torch.autograd.functional.hessian(loss, at)
    assert isinstance(hessian, torch.Tensor)
    eigenvalues = torch.linalg.eigvalsh(hessian).tolist()
    return Curvature(hessian.tolist(), eigenvalues, _limit(eigenvalues[-1]), constant)


def _limit(top: float) -> float | None:
    return 2 / top if top > 0 and math.isfinite(top) else None


def _hvp_blocks(trainer: Trainer, at: torch.Tensor) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """The Hessian-vector product of the training loss at `at`, as one function per block of points (their sum
    is the whole product), each block small enough for a slice."""
    x, y, _ = _training_data(trainer)
    row_loss = ROW_LOSSES[trainer.config.loss]
    per_point = max(1, len(at))  # a forward pass costs about a multiply-add per parameter and point
    size = max(1, SLICE_MACS // per_point)
    blocks: list[Callable[[torch.Tensor], torch.Tensor]] = []
    for start in range(0, len(x), size):
        xb, yb = x[start : start + size], y[start : start + size]
        weight = len(xb) / len(x) if trainer.config.loss in MEANS else 1.0
        blocks.append(_block_product(_mlp_one(trainer, xb), row_loss, yb, weight, at))
    return blocks


def _block_product(
    one: Callable[[torch.Tensor], torch.Tensor],
    row_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    y: torch.Tensor,
    weight: float,
    at: torch.Tensor,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """v -> H_block·v at `at`, for the block's share (`weight`) of the loss: the gradient with its graph, then one
    backward pass through it (Pearlmutter's reverse-over-reverse, by torch.autograd: torch.func's grad imports
    torch._dynamo on its first call, 2.2 s measured, more than the whole budget). The graph is the block's alone
    and is dropped after each product, so memory stays that of one block."""

    def product(v: torch.Tensor) -> torch.Tensor:
        point = at.detach().requires_grad_(True)
        loss = row_loss(one(point).unsqueeze(0), y)[0] * weight
        (gradient,) = torch.autograd.grad(loss, point, create_graph=True)
        if gradient.grad_fn is None:  # the loss is linear here (relu's flat side): no curvature
            return torch.zeros_like(v)
        # d(g·v)/dp, not grad(g, grad_outputs=v): a tensor of grad_outputs imports torch.fx's symbolic shapes
        # (1.2 s) on the first call
        (out,) = torch.autograd.grad(gradient @ v, point, allow_unused=True)
        return torch.zeros_like(v) if out is None else out

    return product


def _lanczos(trainer: Trainer, at: torch.Tensor, budget: float) -> Generator[None, None, Curvature]:
    """The extreme eigenvalues of the Hessian at `at` by Lanczos (the three-term recurrence, three vectors kept:
    without reorthogonalisation copies of converged eigenvalues may appear, never wrong extremes)."""
    clock = time.perf_counter
    spent = 0.0
    began = clock()
    blocks = _hvp_blocks(trainer, at)
    n = len(at)
    generator = torch.Generator().manual_seed(SEED)
    v = torch.randn(n, dtype=torch.float64, generator=generator)
    v /= torch.linalg.vector_norm(v)
    v_prev = torch.zeros_like(v)
    alphas: list[float] = []
    betas: list[float] = []
    beta = 0.0
    for _ in range(n):
        w = torch.zeros_like(v)
        for product in blocks:
            with one_thread():
                w += product(v)
            spent += clock() - began
            if spent > budget:
                return Curvature(None, [], None, False, computed=False)
            yield None
            began = clock()
        alpha = float(w @ v)
        w -= alpha * v + beta * v_prev
        alphas.append(alpha)
        beta = float(torch.linalg.vector_norm(w))
        if len(alphas) % CHECK and beta > 1e-300:
            betas.append(beta)
            v_prev, v = v, w / beta
            continue
        tridiagonal = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
        theta, s = np.linalg.eigh(tridiagonal)  # numpy's: torch's took 14 ms a call, numpy's 5 on a busy machine
        low, high = float(theta[0]), float(theta[-1])
        scale = max(abs(low), abs(high))
        residuals = (beta * abs(float(s[-1, 0])), beta * abs(float(s[-1, -1])))
        if not (math.isfinite(low) and math.isfinite(high) and math.isfinite(beta)):
            return Curvature(None, [], None, False, computed=False)
        if max(residuals) <= TOLERANCE * scale or beta <= 1e-300:
            return Curvature(None, [low, high], _limit(high), False)
        betas.append(beta)
        v_prev, v = v, w / beta
    return Curvature(None, [float(theta[0]), float(theta[-1])], _limit(float(theta[-1])), False)


SANE = 4.0  # a default span holds a path while its loss stays within this factor of its first


def _path_bounds(trainer: Trainer, pair: tuple[str, str]) -> list[tuple[float, float]]:
    """The corners of the box holding a lane's path through `pair`, from its start, over the epochs whose
    parameters' loss stayed within SANE times the first (a diverging lane's flight out is left out)."""
    epochs, xs_kept, ys_kept = pair_path(trainer, pair)
    n = trainer.epoch
    corners = [(float(xs_kept[0]), float(ys_kept[0]))]
    if n == 0:
        return corners
    xs, ys = torch.from_numpy(xs_kept[1:]), torch.from_numpy(ys_kept[1:])
    loss = torch.frombuffer(trainer.history.loss, dtype=torch.float64)[:n]
    # the loss at the parameters after epoch k is the next epoch's (taken before its update); the last: its own
    at = torch.cat([loss[1:], loss[-1:]])[torch.from_numpy(epochs[1:] - 1)]
    keep = torch.isfinite(xs) & torch.isfinite(ys) & torch.isfinite(at) & (at <= SANE * loss[0])
    if bool(keep.any()):
        corners += [(float(xs[keep].min()), float(ys[keep].min())), (float(xs[keep].max()), float(ys[keep].max()))]
    return corners


def default_span(
    points: list[tuple[float, float]], pad: float = 0.15
) -> tuple[tuple[float, float], tuple[float, float]]:
    """A span holding every finite point (a path, the minimum...), padded on each side."""
    finite = [p for p in points if math.isfinite(p[0]) and math.isfinite(p[1])]
    spans = []
    for axis in (0, 1):
        lo, hi = min(p[axis] for p in finite), max(p[axis] for p in finite)
        width = hi - lo or max(abs(hi), 1.0)
        spans.append((lo - pad * width, hi + pad * width))
    return spans[0], spans[1]


def landscape(
    trainer: Trainer,
    pair: tuple[str, str],
    size: tuple[int, int] = (120, 72),
    span: tuple[tuple[float, float], tuple[float, float]] | None = None,
    epoch: int | None = None,
) -> Landscape:
    """The loss over a `size` (columns x rows) grid of the two named parameters, the others held at their values
    after `epoch` (default: the latest); the default span holds the lane's path and the minimum."""
    return finish(landscape_job(trainer, pair, size, span, epoch))


def landscape_job(
    trainer: Trainer,
    pair: tuple[str, str],
    size: tuple[int, int] = (120, 72),
    span: tuple[tuple[float, float], tuple[float, float]] | None = None,
    epoch: int | None = None,
    paths: list[Trainer] | None = None,
) -> Generator[None, None, Landscape]:
    """`landscape()` a block at a time: each `next()` computes one block of grid points (so a session can train
    between blocks); the Landscape is the generator's return value. The default span also holds the paths of
    `paths` (other lanes with the same parameters)."""
    names = list(trainer.names)
    unknown = [name for name in pair if name not in names]
    if unknown or pair[0] == pair[1]:
        raise ValueError(f"the pair must be two of {', '.join(names)}")
    i, j = names.index(pair[0]), names.index(pair[1])
    held = params_at(trainer, epoch)
    best = minimum(trainer)
    if span is None:  # every path from its start (while its loss stays sane), the minimum
        points = [(best[i], best[j])] if best is not None else []
        for lane in [trainer, *(paths or [])]:
            if same_axes(lane, trainer):
                points += _path_bounds(lane, pair)
        span = default_span(points)
    cols, rows = size
    xs = torch.linspace(span[0][0], span[0][1], cols, dtype=torch.float64)
    ys = torch.linspace(span[1][0], span[1][1], rows, dtype=torch.float64)
    point = torch.tensor(held, dtype=torch.float64)
    grid_x, grid_y = xs.repeat(rows), ys.repeat_interleave(cols)

    def block(start: int, stop: int) -> torch.Tensor:
        flats = point.repeat(stop - start, 1)
        flats[:, i], flats[:, j] = grid_x[start:stop], grid_y[start:stop]
        return flats

    x, _, subsampled = _training_data(trainer)
    parts: list[torch.Tensor] = []
    for part in loss_blocks(trainer, rows * cols, block):
        if parts:
            yield None  # between blocks: a grid of one block is computed in one go
        parts.append(part)
    loss = torch.cat(parts).view(rows, cols)
    at = int(torch.nan_to_num(loss, nan=math.inf).argmin())
    lowest = (float(xs[at % cols]), float(ys[at // cols]), float(loss.view(-1)[at]))
    return Landscape(
        (pair[0], pair[1]),
        xs.tolist(),
        ys.tolist(),
        loss.tolist(),
        held,
        best,
        lowest,
        len(x),
        subsampled,
        tuple(names),
    )


def lr_find(trainer: Trainer, *ramp: Any, **options: Any) -> LrFind:
    """The LR range test of `lr_find_job` (the same arguments), all at once."""
    return finish(lr_find_job(trainer, *ramp, **options))


def lr_find_job(
    trainer: Trainer,
    start: float = 1e-8,
    end: float = 10.0,
    steps: int = 100,
    stop_factor: float = 4.0,
    budget: float = BUDGET_SECONDS,
) -> Generator[None, None, LrFind]:
    """Ramp the lr exponentially from `start` to `end` over `steps` steps of the lane's optimizer, from the lane's
    initial parameters, stopping once the loss passes `stop_factor` times its best. The lane is untouched (the
    ramp runs on a fresh run of its start). The suggestion is the lr of the lowest raw loss, divided by 10; the
    curvature at the initial parameters gives the limit. A step (then a slice of the curvature) per `next()`;
    the LrFind is the generator's return value."""
    if not 0 < start < end <= MAX_LR:
        raise ValueError(f"the ramp needs 0 < start < end <= {MAX_LR:g}")
    if steps < 2:
        raise ValueError("the ramp needs at least 2 steps")
    probe = trainer.sibling(trainer.start_config.replace(epochs=steps))
    ratio = (end / start) ** (1 / (steps - 1))
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    average, beta = 0.0, 0.9
    for k in range(steps):
        if k:
            yield None
        lr = start * ratio**k
        probe.update(lr=lr)
        before = probe.epoch
        result = probe.step()
        if probe.epoch == before:  # diverged at the step before: nothing more to learn
            break
        loss = result.loss
        lrs.append(lr)
        losses.append(loss)
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta ** (k + 1)))
        if not math.isfinite(loss) or loss > stop_factor * min(losses):
            break
    del probe
    finite = [(loss, lr) for loss, lr in zip(losses, lrs) if math.isfinite(loss)]
    suggestion = min(finite)[1] / 10 if finite else None
    found = yield from curvature_job(trainer, params_at(trainer, 0), budget)
    return LrFind(lrs, losses, smoothed, suggestion, found.lr_limit, found)


def thinned_path(trainer: Trainer, pair: tuple[str, str], cap: int = CAP) -> list[tuple[float, float]]:
    """The lane's path through `pair` from its initial parameters, thinned by paths.Path (as the app grows it)."""
    _, xs, ys = pair_path(trainer, pair)
    return Path.of(xs, ys, cap).points
