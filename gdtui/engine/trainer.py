"""The trainer: one run of gradient descent that steps epoch by epoch and reports immutable results.

Why: the headless command and the TUI drive this same object, so a config and a seed give the same
numbers in both. Epochs run in chunks: per-epoch values stay on the device and are read back once per
chunk (one host synchronisation per chunk, not per epoch), which keeps a GPU busy and the CPU loop lean.
Each Trainer owns its data, parameters, optimizer and history, so several can live side by side.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Callable

import torch

from gdtui.engine.config import LIVE_FIELDS, RunConfig, check_epochs, check_lr, check_momentum
from gdtui.engine.data import Dataset, build_data, plot_sample
from gdtui.engine.device import resolve_device
from gdtui.engine.history import EpochResult, History
from gdtui.engine.losses import LOSSES, mse
from gdtui.engine.models import build_model
from gdtui.engine.optim import build_optimizer, set_hyperparameters

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
        checks = {"lr": check_lr, "momentum": check_momentum, "epochs": check_epochs}
        checked = {k: checks[k](v) for k, v in changes.items() if v is not None}
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
        """Train up to `max_epochs` epochs, stopping early after `budget` seconds or when `should_stop()` is
        true (checked between epochs), or at the first non-finite loss or parameter (status "diverged")."""
        if self.status == "diverged" or max_epochs < 1:
            return []
        model, optimizer, data = self.model, self.optimizer, self.data
        x, y = data.x_train, data.y_train
        params = model.parameters()
        loss_fn, metric_is_loss = self._loss_fn, self._metric_is_loss
        zero = not self.config.accumulate_grad
        test = data.has_test
        losses, metrics, tests, flats, grads, lrs = [], [], [], [], [], []
        deadline = time.perf_counter() + budget if budget is not None else None
        for _ in range(max_epochs):
            preds = model(x)
            loss = loss_fn(preds, y)
            loss.backward()
            losses.append(loss.detach())
            if not metric_is_loss:
                metrics.append(mse(preds.detach(), y))
            grads.append(torch.cat([p.grad.reshape(-1) for p in params]))
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            if zero:
                optimizer.zero_grad()
            flats.append(model.flat())
            if test:
                with torch.inference_mode():
                    tests.append(loss_fn(model(data.x_test), data.y_test))
            if deadline is not None and time.perf_counter() >= deadline:
                break
            if should_stop is not None and should_stop():
                break
        return self._record(losses, metrics, tests, flats, grads, lrs)

    def _record(self, losses, metrics, tests, flats, grads, lrs) -> list[EpochResult]:
        n = len(losses)
        loss_v = torch.stack(losses).tolist()
        metric_v = torch.stack(metrics).tolist() if metrics else loss_v
        test_v = torch.stack(tests).tolist() if tests else [None] * n
        flat_t = torch.stack(flats)
        grad_v = torch.linalg.vector_norm(torch.stack(grads), dim=1).tolist()
        flat_v = flat_t.tolist()
        finite = torch.isfinite(flat_t).all(dim=1).tolist()
        names = self.names
        first = self.epoch + 1
        results = []
        before = self._flat_before
        for i in range(n):
            ok = finite[i] and math.isfinite(loss_v[i])
            status = "ok" if ok else "diverged"
            results.append(EpochResult(first + i, loss_v[i], metric_v[i] ** 0.5, test_v[i],
                                       tuple(zip(names, flat_v[i])), grad_v[i], lrs[i], status))
            if not ok:
                n = i + 1
                break
            before = flat_t[i]
        last = results[-1]
        pre = self._flat_before if n == 1 else flat_t[n - 2]
        sample_preds = self.model.predict(self._sample_x, pre).tolist()
        results[-1] = EpochResult(last.epoch, last.loss, last.rmse, last.test_loss, last.params, last.grad_norm,
                                  last.lr, last.status, tuple(sample_preds))
        self._flat_before = before
        for r in results:
            self.history.append(r)
        return results
