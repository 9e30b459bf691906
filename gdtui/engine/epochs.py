"""The epoch loops: three ways of training a chunk of epochs, one of which `Trainer.run_chunk` picks.

Why: each is written for where its time goes. On the CPU a read costs no synchronisation, so each value is
read as it is made (`_epochs_read_each`); on an accelerator every value stays on the device until the chunk
ends and comes back in one transfer (`_epochs_read_once`); mini-batches go through torch's DataLoader
(`_epochs_batched`). All three give the same numbers (tested) and hand back the same `Epochs` for
`Trainer.record`; they stay apart from the trainer's bookkeeping so that each loop reads as one piece.
"""

from __future__ import annotations

import struct
import time
from array import array
from collections.abc import Callable
from math import isfinite
from typing import TYPE_CHECKING

import torch

from gdtui.engine.data import StreamSampler
from gdtui.engine.losses import mse
from gdtui.engine.optim import PlainGD, stepper
from gdtui.engine.trainerbase import TrainerBase

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

StopCheck = Callable[[], bool]
# a chunk's loss, metric and test loss by epoch, parameters, gradients (float64 CPU tensors), and the failure
Epochs = tuple[torch.Tensor, torch.Tensor, torch.Tensor, Exception | None]


class EpochLoops(TrainerBase):
    """The trainer's epoch loops and the batches they draw (a mixin of `Trainer`)."""

    def batches(self) -> DataLoader[tuple[torch.Tensor, ...]]:
        """How an epoch of mini-batches draws its batches: torch's DataLoader over the training set, each pass
        reshuffled from the run's batches' generator (or in the data's order). A whole pass draws from that
        generator as an epoch does: iterated to its end, it leaves the run where its next epoch starts."""
        from torch.utils.data import DataLoader, TensorDataset

        config, data = self.config, self.data
        dataset = TensorDataset(data.x_train, data.y_train)
        if config.rng == "single":  # a DataLoader without a generator, its draws from the one stream
            sampler = StreamSampler(len(dataset), self._shuffle) if config.shuffle else None
            return DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, generator=self._shuffle)
        return DataLoader(
            dataset,
            batch_size=config.batch_size,
            shuffle=config.shuffle,
            generator=self._shuffle if config.shuffle else None,
        )

    def _epochs_batched(self, max_epochs: int, deadline: float | None, should_stop: StopCheck | None) -> Epochs:
        """Mini-batch gradient descent, each epoch a pass of torch's own DataLoader over the training set
        (reshuffled every epoch from the run's seed, or in the data's order): an update per batch; the epoch's
        loss is the mean of its batch losses, each taken before its own update (and the RMSE the root of the
        mean of the batches' mean squared errors); the gradient norm is the last batch's. Each batch's loss is
        read as it is made, on any device."""
        model, optimizer, data = self.model, self.optimizer, self.data
        config = self.config
        loader = self.batches()
        params = model.parameters()
        loss_fn, metric_is_loss = self._loss_fn, self._metric_is_loss
        zero = not config.accumulate_grad
        test = data.has_test
        every = self.CHECKPOINT_EVERY
        step = stepper(optimizer)
        tick, per_batch = self._schedule_steps(batched=True)
        rule = self._stop_rule()
        summarize = self.summarized
        rows: list[list[float]] = []
        failure = None
        try:
            for epoch in range(self.epoch + 1, self.epoch + 1 + max_epochs):
                losses: list[float] = []
                squares: list[float] = []
                grad: list[float] = []
                for xb, yb in loader:
                    preds = model(xb)
                    loss = loss_fn(preds, yb)
                    loss.backward()
                    losses.append(loss.item())
                    if not metric_is_loss:
                        squares.append(mse(preds.detach(), yb).item())
                    grads = torch.cat([p.grad.reshape(-1) for p in params])  # type: ignore[union-attr]
                    grad = [_norm(grads)] if summarize else grads.tolist()
                    step()
                    if zero:
                        optimizer.zero_grad()
                    if per_batch is not None:
                        per_batch()
                value = sum(losses) / len(losses)
                square = value if metric_is_loss else sum(squares) / len(squares)
                held = value
                if test:
                    with torch.inference_mode():
                        held = loss_fn(model(data.x_test), data.y_test).item()
                if summarize:
                    self._flat_last = model.flat()
                    rows.append([value, square, held, _norm(self._flat_last), *grad])
                else:
                    rows.append([value, square, held, *model.flat().tolist(), *grad])
                if tick is not None:
                    tick(value)
                if epoch % every == 0:
                    self.checkpoint(epoch)
                if not isfinite(value) or (summarize and not _finite(rows[-1][1:4])):
                    break
                if rule is not None:
                    self.stopped = rule(value, square**0.5)
                    if self.stopped is not None:
                        break
                if deadline is not None and time.perf_counter() >= deadline:
                    break
                if should_stop is not None and should_stop():
                    break
        except Exception as error:  # keep the epochs that completed, drop the one that failed
            failure = error
        n, k = len(rows), 1 if summarize else len(self.names)
        if n == 0:
            empty = torch.zeros(0, 3, dtype=torch.float64)
            return empty, empty, empty, failure
        table = torch.tensor(rows, dtype=torch.float64)
        return table[:, :3], table[:, 3 : 3 + k], table[:, 3 + k :], failure

    def _epochs_read_each(self, max_epochs: int, deadline: float | None, should_stop: StopCheck | None) -> Epochs:
        """The CPU loop: each value is read as soon as it exists (on the CPU a read costs no synchronisation,
        and a Python float is cheaper to keep than a tensor). Stops after the first non-finite loss."""
        model, optimizer, data = self.model, self.optimizer, self.data
        x, y = data.x_train, data.y_train
        params = model.parameters()
        loss_fn, metric_is_loss = self._loss_fn, self._metric_is_loss
        zero = not self.config.accumulate_grad
        test = data.has_test
        p0 = params[0]
        single = len(params) == 1 and p0.dim() == 1
        every = self.CHECKPOINT_EVERY
        step = stepper(optimizer)
        tick = self._schedule_steps(batched=False)[0]
        rule = self._stop_rule()
        summarize = self.summarized  # norms only: a float each for the parameters and the gradient
        losses: list[float] = []
        metrics: list[float] = []
        tests: list[float] = []
        flats: list[float] = []
        grads: list[float] = []
        failure = None
        try:
            for epoch in range(self.epoch + 1, self.epoch + 1 + max_epochs):
                preds = model(x)
                loss = loss_fn(preds, y)
                loss.backward()
                value = loss.item()
                losses.append(value)
                if not metric_is_loss:
                    metrics.append(mse(preds.detach(), y).item())
                # (backward() has just made every .grad: never None here)
                if summarize:
                    grads.append(_norm(torch.cat([p.grad.reshape(-1) for p in params])))  # type: ignore[union-attr]
                else:
                    grads += p0.grad.tolist() if single else torch.cat([p.grad.reshape(-1) for p in params]).tolist()  # type: ignore[union-attr]
                step()
                if zero:
                    optimizer.zero_grad()
                if summarize:
                    self._flat_last = model.flat()
                    flats.append(_norm(self._flat_last))
                else:
                    flats += p0.tolist() if single else model.flat().tolist()
                if test:
                    with torch.inference_mode():
                        tests.append(loss_fn(model(data.x_test), data.y_test).item())
                if tick is not None:
                    tick(value)
                if epoch % every == 0:
                    self.checkpoint(epoch)
                if not isfinite(value):
                    break
                if summarize and not _finite([metrics[-1] if metrics else 0.0, tests[-1] if test else 0.0, flats[-1]]):
                    break  # the epoch `record` cuts at: the flat kept is then the one it needs
                if rule is not None:
                    self.stopped = rule(value, (metrics[-1] if metrics else value) ** 0.5)
                    if self.stopped is not None:
                        break
                if deadline is not None and time.perf_counter() >= deadline:
                    break
                if should_stop is not None and should_stop():
                    break
        except Exception as error:  # keep the epochs that completed, drop the one that failed
            failure, k = error, 1 if summarize else len(self.names)
            n = len(tests) if test else len(flats) // k
            del losses[n:], metrics[n:], tests[n:], flats[n * k :], grads[n * k :]
        n = len(losses)
        if n == 0:
            empty = torch.zeros(0, 3, dtype=torch.float64)
            return empty, empty, empty, failure
        scalars = torch.stack([_tensor(losses), _tensor(metrics or losses), _tensor(tests or losses)], dim=1)
        return scalars, _tensor(flats).view(n, -1), _tensor(grads).view(n, -1), failure

    def _epochs_read_once(self, max_epochs: int, deadline: float | None, should_stop: StopCheck | None) -> Epochs:
        """The accelerator loop: every value stays on the device until the chunk ends and is read back in one
        transfer, so the device never waits for the host within a chunk."""
        model, optimizer, data = self.model, self.optimizer, self.data
        x, y = data.x_train, data.y_train
        params = model.parameters()
        loss_fn, metric_is_loss = self._loss_fn, self._metric_is_loss
        zero = not self.config.accumulate_grad
        test = data.has_test
        single = len(params) == 1
        p0 = params[0]
        # Plain GD updates out of place, so each epoch's parameter tensor survives as its own snapshot;
        # torch.optim updates in place, so its parameters are copied. A gradient is a fresh tensor each
        # epoch unless gradients accumulate.
        snapshot_free = single and isinstance(optimizer, PlainGD)
        every = self.CHECKPOINT_EVERY
        step = stepper(optimizer)
        tick = self._schedule_steps(batched=False)[0]
        grad_fresh = single and zero
        rule = self._stop_rule()  # with rules, each epoch's loss is read (one synchronisation an epoch)
        losses: list[torch.Tensor] = []
        metrics: list[torch.Tensor] = []
        tests: list[torch.Tensor] = []
        flats: list[torch.Tensor] = []
        grads: list[torch.Tensor] = []
        failure = None
        try:
            for epoch in range(self.epoch + 1, self.epoch + 1 + max_epochs):
                preds = model(x)
                loss = loss_fn(preds, y)
                loss.backward()
                losses.append(loss.detach())
                if not metric_is_loss:
                    metrics.append(mse(preds.detach(), y))
                # (backward() has just made every .grad: never None here)
                grads.append(p0.grad if grad_fresh else torch.cat([p.grad.reshape(-1) for p in params]))  # type: ignore[arg-type, union-attr]
                step()
                if zero:
                    optimizer.zero_grad()
                flats.append(p0.data if snapshot_free else model.flat())
                if test:
                    with torch.inference_mode():
                        tests.append(loss_fn(model(data.x_test), data.y_test))
                if tick is not None:
                    tick(float(losses[-1]))
                if epoch % every == 0:
                    self.checkpoint(epoch)
                if rule is not None:
                    square = float(metrics[-1] if metrics else losses[-1])
                    self.stopped = rule(float(losses[-1]), square**0.5)
                    if self.stopped is not None:
                        break
                if deadline is not None and time.perf_counter() >= deadline:
                    break
                if should_stop is not None and should_stop():
                    break
        except Exception as error:  # keep the epochs that completed, drop the one that failed
            failure = error
            n = len(tests) if test else len(flats)
            del losses[n:], metrics[n:], tests[n:], flats[n:], grads[n:]
        n = len(losses)
        if n == 0:
            empty = torch.zeros(0, 3, dtype=torch.float64)
            return empty, empty, empty, failure
        loss_t = torch.stack(losses)
        scalars = torch.stack(
            [loss_t, torch.stack(metrics) if metrics else loss_t, torch.stack(tests) if tests else loss_t], dim=1
        )
        flat, grad = torch.stack(flats).reshape(n, -1), torch.stack(grads).reshape(n, -1)
        # the chunk's one transfer; widened to float64 on the host (mps has no float64)
        table = torch.cat([scalars, flat, grad], dim=1).cpu().double()
        k = flat.shape[1]
        return table[:, :3], table[:, 3 : 3 + k], table[:, 3 + k :], failure


def _norm(values: torch.Tensor) -> float:
    """The Euclidean norm of a flat tensor, in float64 (a float32 weight's square never overflows there)."""
    return float(torch.linalg.vector_norm(values, dtype=torch.float64))


def _finite(values: list[float]) -> bool:
    return all(isfinite(v) for v in values)


def _doubles(values: list[float]) -> array[float]:
    """Python floats as an array('d'), through struct (array('d', list) parses every element on its own)."""
    return array("d", struct.pack(f"{len(values)}d", *values))


def _tensor(values: list[float]) -> torch.Tensor:
    """Python floats as a float64 CPU tensor sharing their array (torch.tensor(list) inspects every element)."""
    return torch.frombuffer(_doubles(values), dtype=torch.float64)
