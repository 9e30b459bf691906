"""Stacked lanes: several runs of one model on one dataset computed as one tensor with a leading lane dimension.

Why: at tutorial sizes an epoch costs Python and autograd overhead, not arithmetic, so eight lanes cost eight
times one. Stacked, the forward pass, the loss and the backward pass run once for all of them; each lane keeps
its own parameters (leaf tensors, read into the stack each epoch) and steps its own optimizer (torch.optim's
code, untouched), so its numbers stay its solo run's bit for bit. That holds where every lane's reduction runs
the way a solo run's does: on the CPU, below torch's parallel grain (a larger reduction is split across threads
differently), for the models whose stacked forward is the same arithmetic element for element. nn-linear is
not one of them: its stacked form (a batched baddbmm for nn.Linear's addmm) agreed at the first step and drifted
a few epochs later on an AVX-512 machine, so its lanes train alone. Everything else trains lane by lane too
(`stack_key` says which). Tested against solo runs in tests/test_stack.py.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from math import isfinite

import torch
import torch.nn.functional as F

from gdtui.engine.history import Chunk
from gdtui.engine.losses import LOSSES, mse
from gdtui.engine.models import Linear, Model, Polynomial, Quadratic
from gdtui.engine.optim import stepper
from gdtui.engine.trainer import Trainer, _tensor

MAX_STACK_POINTS = 8192  # below torch's parallel grain (32,768): every reduction runs as a solo run's does

Slots = list[torch.Tensor]


def _quadratic(slots: Slots, t: torch.Tensor) -> torch.Tensor:
    params = slots[0]  # (lanes, 3): the article's a*(t**2)+(b*t)+c with a lane column for each of a, b, c
    a, b, c = params[:, 0:1], params[:, 1:2], params[:, 2:3]
    return a * (t**2) + (b * t) + c


def _linear(slots: Slots, x: torch.Tensor) -> torch.Tensor:
    w, b = slots
    return w * x + b


def _polynomial(slots: Slots, x: torch.Tensor) -> torch.Tensor:
    params = slots[0]  # one matrix-vector product a lane, as a solo run's (a matrix product rounds otherwise)
    powers = x.unsqueeze(-1) ** torch.arange(params.shape[1], device=x.device, dtype=x.dtype)
    return torch.stack([powers @ p for p in params.unbind(0)])


FORWARDS: dict[type[Model], Callable[[Slots, torch.Tensor], torch.Tensor]] = {
    Quadratic: _quadratic,
    Linear: _linear,
    Polynomial: _polynomial,
}


def _flat(slots: Slots, lanes: int) -> list[float]:
    """Every lane's parameters, lane after lane, in the order of its names."""
    if len(slots) == 1:
        return slots[0].detach().reshape(-1).tolist()
    return torch.cat([s.detach().reshape(lanes, -1) for s in slots], dim=1).reshape(-1).tolist()


def _mse(preds: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((preds - y) ** 2).mean(dim=1)


def _sse(preds: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (preds - y).pow(2).sum(dim=1)


def _l1(preds: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (preds - y).abs().mean(dim=1)  # what F.l1_loss computes (abs of the difference, then the mean)


def _huber(preds: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.huber_loss(preds, y.expand_as(preds), reduction="none", delta=1.0).mean(dim=1)


ROW_LOSSES = {"mse": _mse, "sse": _sse, "l1": _l1, "huber": _huber}


def stack_key(trainer: Trainer) -> tuple[object, ...] | None:
    """What lanes must share to be stacked with this one (None: it trains on its own)."""
    data = trainer.data
    if trainer.device.type != "cpu" or trainer.readback != "epoch" or type(trainer.model) not in FORWARDS:
        return None
    if not trainer.config.bias or trainer.config.standardize:  # (the stacked forms are the raw models' with a bias)
        return None
    if trainer.config.target_rmse is not None or trainer.config.patience is not None:  # rules stop it alone
        return None
    if trainer.config.batch_size is not None:  # mini-batches train alone
        return None
    if trainer.scheduler is not None:  # a schedule steps with its own run's epochs: it trains alone
        return None
    if data.n_train > MAX_STACK_POINTS or len(data.x) - data.n_train > MAX_STACK_POINTS:
        return None
    if not agrees(trainer):
        return None
    return (type(trainer.model), len(trainer.names), id(data), trainer.config.loss)


_AGREES: dict[tuple[object, ...], bool] = {}


def agrees(trainer: Trainer) -> bool:
    """Whether, on this machine, two stacked lanes of this trainer's model, loss and data shape compute the
    losses, gradients and test losses their solo runs compute, bit for bit (tried once per shape: how torch
    reduces depends on the shapes and the threads, not on the values)."""
    data = trainer.data
    key: tuple[object, ...] = (type(trainer.model), len(trainer.names), data.n_train, len(data.x))
    key += (trainer.config.loss, trainer.config.dtype, torch.get_num_threads())
    if key not in _AGREES:
        _AGREES[key] = _probe(trainer)
    return _AGREES[key]


def _probe(trainer: Trainer) -> bool:
    data, name = trainer.data, trainer.config.loss
    models = [copy.deepcopy(trainer.model) for _ in range(2)]
    models[1].load_flat(models[1].flat() * 1.37 + 0.11)
    solo: list[list[float]] = []
    for model in models:
        for p in model.parameters():
            p.grad = None
        preds = model(data.x_train)
        loss = LOSSES[name](preds, data.y_train)
        loss.backward()
        with torch.inference_mode():
            metric = mse(preds.detach(), data.y_train)
            held = LOSSES[name](model(data.x_test), data.y_test) if data.has_test else metric
        grads = [g for p in model.parameters() for g in p.grad.reshape(-1).tolist()]  # type: ignore[union-attr]
        solo.append([loss.item(), metric.item(), held.item(), *grads])
        for p in model.parameters():
            p.grad = None
    forward, row_loss = FORWARDS[type(trainer.model)], ROW_LOSSES[name]
    slots = [torch.stack(column) for column in zip(*(m.parameters() for m in models))]
    preds = forward(slots, data.x_train)
    loss = row_loss(preds, data.y_train)
    loss.sum().backward()
    with torch.inference_mode():
        metric = _mse(preds.detach(), data.y_train)
        detached = [s.detach() for s in slots]
        held = row_loss(forward(detached, data.x_test), data.y_test) if data.has_test else metric
    stacked = []
    for j, model in enumerate(models):
        grads = [g for p in model.parameters() for g in p.grad.reshape(-1).tolist()]  # type: ignore[union-attr]
        stacked.append([loss[j].item(), metric[j].item(), held[j].item(), *grads])
    return stacked == solo


def groups(trainers: Sequence[Trainer]) -> list[list[int]]:
    """Indices of `trainers` in units that train together: stackable ones by key, the others alone."""
    units: list[list[int]] = []
    by_key: dict[tuple[object, ...], list[int]] = {}
    for i, trainer in enumerate(trainers):
        key = stack_key(trainer)
        if key is None:
            units.append([i])
        elif key in by_key:
            by_key[key].append(i)
        else:
            by_key[key] = unit = [i]
            units.append(unit)
    return units


class StackFailed(Exception):
    """An epoch failed inside torch while lanes were stacked: the epochs before it are recorded (`chunks`, by
    trainer), and every lane is back where its history ends; `error` is torch's."""

    def __init__(self, error: Exception, chunks: list[Chunk | None]):
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error
        self.chunks = chunks


def run_stacked(
    trainers: Sequence[Trainer],
    wants: Sequence[int],
    deadline: float | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[list[Chunk | None], int]:
    """Train `trainers` (one stack key) together, trainer i for up to `wants[i]` epochs; stop them all after
    `deadline` (a perf_counter time) or when `should_stop()`. A lane leaves after its first non-finite loss, as
    its solo run stops. Returns each trainer's chunk and how many stacked epochs ran. Raises StackFailed."""
    count = len(trainers)
    first = trainers[0]
    data = first.data
    x, y = data.x_train, data.y_train
    forward = FORWARDS[type(first.model)]
    row_loss = ROW_LOSSES[first.config.loss]
    metric_is_loss = first.config.loss == "mse"
    test = data.has_test
    every = first.CHECKPOINT_EVERY
    lrs = [t.optimizer.param_groups[0]["lr"] for t in trainers]
    losses: list[list[float]] = [[] for _ in trainers]
    metrics: list[list[float]] = [[] for _ in trainers]
    tests: list[list[float]] = [[] for _ in trainers]
    flats: list[list[float]] = [[] for _ in trainers]
    grads: list[list[float]] = [[] for _ in trainers]
    start = first.epoch
    if any(t.epoch != start for t in trainers):
        raise ValueError("stacked lanes stand at the same epoch")
    running = [i for i in range(count) if wants[i] > 0 and trainers[i].status != "diverged"]
    ran, failure = 0, None
    while running:
        members = [trainers[i] for i in running]
        leaves = [t.model.parameters() for t in members]
        k = sum(p.numel() for p in leaves[0])
        steps = [stepper(t.optimizer) for t in members]
        cleared = [p for t, lane in zip(members, leaves) if not t.config.accumulate_grad for p in lane]
        try:
            slots = [torch.stack(column) for column in zip(*leaves)]
            ones = torch.ones(len(members), dtype=x.dtype, device=x.device)
            while True:
                preds = forward(slots, x)
                loss = row_loss(preds, y)
                loss.backward(ones)  # the lanes are independent: each leaf gets its own loss's gradient
                values = loss.tolist()
                scores = values if metric_is_loss else _mse(preds.detach(), y).tolist()
                grad = torch.cat([p.grad.reshape(-1) for lane in leaves for p in lane]).tolist()  # type: ignore[union-attr]
                for step in steps:
                    step()
                for p in cleared:  # what zero_grad() does (set_to_none), without its profiler record
                    p.grad = None
                slots = [torch.stack(column) for column in zip(*leaves)]
                flat = _flat(slots, len(members))
                if test:
                    with torch.inference_mode():
                        held = row_loss(forward([s.detach() for s in slots], data.x_test), data.y_test).tolist()
                ran += 1
                for j, i in enumerate(running):
                    losses[i].append(values[j])
                    metrics[i].append(scores[j])
                    flats[i] += flat[j * k : (j + 1) * k]
                    grads[i] += grad[j * k : (j + 1) * k]
                    if test:
                        tests[i].append(held[j])
                epoch = start + ran
                if epoch % every == 0:
                    for t in members:
                        t.checkpoint(epoch)
                stopped = deadline is not None and time.perf_counter() >= deadline
                stopped = stopped or (should_stop is not None and should_stop())
                leaving = [i for i, v in zip(running, values) if not isfinite(v) or len(losses[i]) >= wants[i]]
                if stopped:
                    running = []
                    break
                if leaving:  # restack without them
                    running = [i for i in running if i not in leaving]
                    break
        except Exception as error:  # keep the epochs that completed, drop the one that failed
            failure = error
            break
    chunks: list[Chunk | None] = []
    for i, trainer in enumerate(trainers):
        n = len(losses[i])
        if n == 0:
            chunks.append(None)
            continue
        loss_t = _tensor(losses[i])
        scalars = torch.stack([loss_t, _tensor(metrics[i]), _tensor(tests[i]) if test else loss_t], dim=1)
        chunks.append(trainer.record(scalars, _tensor(flats[i]).view(n, -1), _tensor(grads[i]).view(n, -1), lrs[i]))
    if failure is not None:
        for trainer in trainers:
            trainer.restore()
        raise StackFailed(failure, chunks) from failure
    return chunks, ran
