"""The trainer: one run of gradient descent that steps epoch by epoch and reports immutable results.

Why: the headless command and the TUI drive this same object, so a config and a seed give the same
numbers in both. Epochs run in chunks: per-epoch values stay on the device and are read back once per
chunk (one host synchronisation per chunk, not per epoch), which keeps a GPU busy and the CPU loop lean.
Each Trainer owns its data, parameters, optimizer and history, so several can live side by side.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import torch

from gdtui.engine.config import CHECKS, LIVE_FIELDS, RunConfig
from gdtui.engine.data import Dataset, build_data, plot_sample
from gdtui.engine.device import resolve_device
from gdtui.engine.history import Chunk, EpochResult, History
from gdtui.engine.losses import LOSSES, mse
from gdtui.engine.models import build_model
from gdtui.engine.optim import PlainGD, build_optimizer, set_hyperparameters

_BUILD_LOCK = threading.Lock()


class Trainer:
    """A run: `step()` trains one epoch, `run(n)` up to n; `update(lr=...)` applies from the next epoch;
    `reset()` returns to the initial parameters. Raises DataError, DeviceError or ConfigError on bad input."""

    def __init__(self, config: RunConfig):
        self.device = resolve_device(config.device)
        # The articles draw from torch's global generator; fork it so several trainers never disturb each
        # other (or the caller), and build under a lock so two threads never interleave their draws.
        with _BUILD_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            data = build_data(config)
            self.model = build_model(config, self.device)
        self.config = config
        self.data: Dataset = data.to(self.device)
        self.names = self.model.names
        self._initial = self.model.flat()
        self._loss_fn = LOSSES[config.loss]
        self._metric_is_loss = config.loss == "mse"
        self._sample = plot_sample(data.x, data.y)
        self._sample_x = self.data.x[self._sample.to(self.device)]
        self.history = History(self.names)
        self.reset()

    @property
    def epoch(self) -> int:
        return len(self.history)

    @property
    def status(self) -> str:
        return self.history.status

    @property
    def done(self) -> bool:
        return self.epoch >= self.config.epochs

    @property
    def plot_data(self) -> tuple[list[float], list[float], int]:
        """The plot sample of the data: x, y and how many of them (the leading ones) are training points."""
        idx = self._sample
        return (self.data.x.cpu()[idx].tolist(), self.data.y.cpu()[idx].tolist(),
                int((idx < self.data.n_train).sum()))

    def reset(self) -> None:
        """Back to the initial parameters with a fresh optimizer and an empty history."""
        self.model.load_flat(self._initial)
        for p in self.model.parameters():
            p.grad = None
        self.optimizer = build_optimizer(self.config, self.model.parameters())
        self.history.clear()
        self._flat_before = self._initial

    def update(self, **changes) -> RunConfig:
        """Change lr, momentum or epochs (checked) from the next epoch on, keeping all state."""
        unknown = set(changes) - LIVE_FIELDS
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))} without a new run")
        checked = {k: CHECKS[k](v) for k, v in changes.items() if v is not None}
        self.config = self.config.replace(**checked)
        set_hyperparameters(self.optimizer, lr=checked.get("lr"),
                            momentum=checked.get("momentum") if self.config.uses_momentum else None)
        return self.config

    @torch.no_grad()
    def predict(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """Predictions of the current parameters on x (default: the plot sample)."""
        return self.model.predict(self._sample_x if x is None else x.to(self.device))

    def step(self) -> EpochResult:
        """Train one epoch; a diverged run returns its last result again."""
        results = self.run(1)
        return results[0] if results else self.history.result(self.epoch - 1)

    def run(self, max_epochs: int, budget: float | None = None,
            should_stop: Callable[[], bool] | None = None) -> list[EpochResult]:
        """Train up to `max_epochs` epochs (see `run_chunk`) and return one result per epoch."""
        chunk = self.run_chunk(max_epochs, budget, should_stop)
        return chunk.results() if chunk is not None else []

    def run_chunk(self, max_epochs: int, budget: float | None = None,
                  should_stop: Callable[[], bool] | None = None) -> Chunk | None:
        """Train up to `max_epochs` epochs, stopping early after `budget` seconds or when `should_stop()` is
        true (checked between epochs), or at the first non-finite loss or parameter (status "diverged").
        Returns the epochs as columns (None if nothing ran); they are also appended to `history`."""
        if self.status == "diverged" or max_epochs < 1:
            return None
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
        grad_fresh = single and zero
        lr = optimizer.param_groups[0]["lr"]
        losses, metrics, tests, flats, grads = [], [], [], [], []
        deadline = time.perf_counter() + budget if budget is not None else None
        for _ in range(max_epochs):
            preds = model(x)
            loss = loss_fn(preds, y)
            loss.backward()
            losses.append(loss.detach())
            if not metric_is_loss:
                metrics.append(mse(preds.detach(), y))
            grads.append(p0.grad if grad_fresh else torch.cat([p.grad.reshape(-1) for p in params]))
            optimizer.step()
            if zero:
                optimizer.zero_grad()
            flats.append(p0.data if snapshot_free else model.flat())
            if test:
                with torch.inference_mode():
                    tests.append(loss_fn(model(data.x_test), data.y_test))
            if deadline is not None and time.perf_counter() >= deadline:
                break
            if should_stop is not None and should_stop():
                break
        return self._record(losses, metrics, tests, flats, grads, lr)

    def _record(self, losses, metrics, tests, flats, grads, lr) -> Chunk:
        """Read a chunk back from the device in one transfer, find divergence, extend the history."""
        n = len(losses)
        loss_t = torch.stack(losses).double()
        flat_t = torch.stack(flats).reshape(n, -1).double()
        columns = [
            loss_t,
            torch.stack(metrics).double() if metrics else loss_t,
            torch.stack(tests).double() if tests else torch.zeros_like(loss_t),
            torch.linalg.vector_norm(torch.stack(grads).reshape(n, -1), dim=1).double(),
            (~(torch.isfinite(loss_t) & torch.isfinite(flat_t).all(dim=1))).double(),
            *flat_t.T,
        ]
        table = torch.stack(columns).tolist()  # the one host synchronisation of the chunk
        loss_v, metric_v, test_v, grad_v, bad, *param_v = table
        status = "ok"
        if 1.0 in bad:
            n = bad.index(1.0) + 1
            status = "diverged"
            loss_v, metric_v, test_v, grad_v = loss_v[:n], metric_v[:n], test_v[:n], grad_v[:n]
            param_v = [column[:n] for column in param_v]
        before = self._flat_before if n == 1 else flat_t[n - 2]
        preds = tuple(self.model.predict(self._sample_x, before.to(self._initial.dtype)).tolist())
        chunk = Chunk(first=self.epoch + 1, loss=loss_v, rmse=[m ** 0.5 for m in metric_v],
                      test_loss=test_v if tests else None, params=param_v, grad_norm=grad_v, lr=lr,
                      names=self.names, status=status, preds=preds)
        self._flat_before = flat_t[n - 1].to(self._initial.dtype)
        self.history.extend(chunk)
        return chunk
