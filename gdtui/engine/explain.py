"""One step explained: for an epoch of a run (with mini-batches, one batch of it), every parameter's value
before the step, its gradient, the optimizer's state after it, the update and the value after; the loss before
and after (on the data the step saw: the training set, or the batch), and the change the gradient promised
(gradient · update) beside the one that came.

Why: a learner sees the loss fall and asks what one step did. The run is replayed to the epoch before (bit for
bit, from its checkpoints) and that epoch is taken again in the open, as the trainer takes it (every batch of it,
drawn from the run's own generator, in its order): where it lands is checked against the run's own record of
that epoch, so what is explained is what happened.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from gdtui.engine.losses import LOSSES
from gdtui.engine.optim import PlainGD, stepper
from gdtui.engine.steps import ParamStep, StepExplained
from gdtui.engine.trainer import Trainer


class ExplainError(ValueError):
    """A step that cannot be explained (an epoch or a batch not in the run, a model too large...): the message
    says why, `field` what was asked ("epoch" or "batch")."""

    def __init__(self, message: str, field: str = "epoch"):
        super().__init__(message)
        self.field = field


def batch_count(trainer: Trainer) -> int | None:
    """How many batches an epoch of `trainer`'s run takes (the last may be smaller); None: one full batch."""
    size = trainer.config.batch_size
    if size is None or size >= trainer.data.n_train:
        return None
    return len(trainer.batches())


def check_batch(trainer: Trainer, batch: int | None) -> int | None:
    """The batch of an epoch to explain: `batch` (1-based) checked against the run, by default the epoch's last;
    None for a full-batch run (where no batch may be asked for)."""
    count = batch_count(trainer)
    if count is None:
        if batch is not None:
            raise ExplainError(
                f"the run takes one full-batch step an epoch (no batch size below its {trainer.data.n_train} "
                "training points): it has no batches to choose from",
                "batch",
            )
        return None
    if batch is None:
        return count
    if not 1 <= batch <= count:
        raise ExplainError(f"batch {batch} is not in the epoch: it has batches 1 to {count}", "batch")
    return batch


@dataclass(frozen=True)
class _Seen:
    """What the step explained saw and did: the parameters before and after, the gradient, the optimizer's state
    after, the loss before and after, and the data it was taken on."""

    before: torch.Tensor
    grads: torch.Tensor
    state: dict[str, Any]
    after: torch.Tensor
    loss_before: float
    loss_after: float
    x: torch.Tensor
    y: torch.Tensor


def _epoch_again(twin: Trainer, chosen: int | None) -> _Seen:
    """`twin`'s next epoch, taken as the trainer takes it: with mini-batches every batch of it, in the order the
    run's generator draws (batch `chosen` kept whole), else its one full-batch step."""
    model, optimizer, data = twin.model, twin.optimizer, twin.data
    loader: Iterable[Any] = [(data.x_train, data.y_train)] if chosen is None else twin.batches()
    loss_fn = LOSSES[twin.config.loss]
    params = model.parameters()
    step = stepper(optimizer)
    zero = not twin.config.accumulate_grad
    seen = None
    for b, (xb, yb) in enumerate(loader, 1):
        kept = b == (chosen or 1)
        before = model.flat().double().cpu() if kept else None
        loss = loss_fn(model(xb), yb)
        loss.backward()
        grads = torch.cat([p.grad.reshape(-1) for p in params]).double().cpu() if kept else None  # type: ignore[union-attr]
        step()
        state = _state(optimizer, params) if kept else {}
        if zero:
            optimizer.zero_grad()
        if before is not None and grads is not None:
            with torch.no_grad():
                loss_after = loss_fn(model(xb), yb).item()
            seen = _Seen(before, grads, state, model.flat().double().cpu(), loss.item(), loss_after, xb, yb)
    assert seen is not None  # the chosen batch is one of the epoch's
    return seen


def explain(trainer: Trainer, epoch: int, check: bool = False, batch: int | None = None) -> StepExplained:
    """Epoch `epoch` (1 to the run's last) of `trainer`'s run, explained: its one step, or with mini-batches
    batch `batch` of it (1-based; by default the epoch's last). The run is replayed to the epoch before; the
    epoch is taken again (every batch of it) and checked against the run's record of it. With `check`, the
    gradient is also computed by central differences of the loss (in float64, on the step's data), to set
    beside autograd's."""
    if not 1 <= epoch <= trainer.epoch:
        raise ExplainError(f"epoch {epoch} is not in the run: it has epochs 1 to {trainer.epoch}")
    chosen = check_batch(trainer, batch)
    if trainer.summarized:
        raise ExplainError("a model of more than 1,024 parameters is not explained one parameter at a time")
    twin = trainer.replay(epoch - 1)
    seen = _epoch_again(twin, chosen)
    recorded = [trainer.history.params[name][epoch - 1] for name in trainer.names]
    if twin.model.flat().double().cpu().tolist() != recorded:  # never seen: the epoch taken again is the run's
        raise ExplainError(f"epoch {epoch} taken again differs from the run's record of it")
    before, grads, state, after = seen.before, seen.grads, seen.state, seen.after
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
    from gdtui.engine.landscape import curvature, losses_at

    if chosen is None:
        try:
            limit = curvature(trainer, before.tolist()).lr_limit
        except ValueError:  # a model with no landscape
            limit = None
        differences = _central_differences(lambda flats: losses_at(trainer, flats), before) if check else None
    else:
        losses = _batch_losses(trainer, seen.x.cpu().double(), seen.y.cpu().double())
        limit = _batch_limit(losses, before)
        differences = _central_differences(losses, before) if check else None
    group = twin.optimizer.param_groups[0]
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
        seen.loss_before,
        seen.loss_after,
        math.fsum((grads * update).tolist()),
        steps,
        counters,
        limit,
        differences,
        _layers(twin.model, before, after),
        chosen,
        batch_count(trainer) or 1,
        len(seen.x),
    )


Losses = Callable[[torch.Tensor], torch.Tensor]  # a block of flat parameter vectors (G, P) -> their losses (G,)


def _batch_losses(trainer: Trainer, x: torch.Tensor, y: torch.Tensor) -> Losses:
    """The loss on one batch (x, y: float64 CPU) at flat parameter vectors, in float64, a block at a time."""
    from gdtui.engine.landscape import one_thread, predictor
    from gdtui.engine.stack import ROW_LOSSES

    predict, block = predictor(trainer, x)
    row_loss = ROW_LOSSES[trainer.config.loss]

    def losses(flats: torch.Tensor) -> torch.Tensor:
        with one_thread():
            return torch.cat([row_loss(predict(flats[k : k + block]), y) for k in range(0, len(flats), block)])

    return losses


def _batch_limit(losses: Losses, at: torch.Tensor) -> float | None:
    """2/λmax of a batch's loss at `at`, from its whole Hessian (None past the size whose Hessian the landscape
    builds whole, or where the loss curves nowhere upward)."""
    from gdtui.engine.landscape import FULL_HESSIAN_MAX

    if len(at) > FULL_HESSIAN_MAX:
        return None
    hessian = torch.autograd.functional.hessian(lambda p: losses(p.unsqueeze(0))[0], at)
    assert isinstance(hessian, torch.Tensor)
    top = float(torch.linalg.eigvalsh(hessian)[-1])
    return 2 / top if top > 0 and math.isfinite(top) else None


def _central_differences(losses: Losses, at: torch.Tensor) -> tuple[float, ...]:
    """d loss / d p_k at `at`, by (L(p + h e_k) - L(p - h e_k)) / 2h in float64, h scaled to each value."""
    rows = []
    steps = []
    for k in range(len(at)):
        h = 1e-6 * max(1.0, abs(float(at[k])))
        up, down = at.clone(), at.clone()
        up[k] += h
        down[k] -= h
        rows += [up, down]
        steps.append(h)
    values = losses(torch.stack(rows)).tolist()
    return tuple((values[2 * k] - values[2 * k + 1]) / (2 * h) for k, h in enumerate(steps))


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
