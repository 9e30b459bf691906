"""The lr limits the status line shows (gdtui.engine.limits), each checked against the optimizer's own update on a
quadratic written out here in float64: plain gd at 2/λmax, torch's heavy-ball SGD at (2+2β)/λmax, torch's
Nesterov SGD at 2(1+β)/((1+2β)λmax), the last also found as the lr where torch's step map reaches spectral radius
1; none for adaptive optimizers or accumulated gradients; and the status line with Pilot: the focused lane's form
for sgd with momentum, none for adam, "(local)" for an mlp, following a live change of optimizer and momentum.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from gdtui.engine import protocol as p
from gdtui.engine.config import OPTIMIZERS
from gdtui.engine.limits import HEAVY_BALL, NESTEROV, PLAIN, lr_limit, notes
from gdtui.tui.app import GdtuiApp
from tests.tui_helpers import config, ready, replies_read, wait_for

SIZE = (120, 36)
BELOW, ABOVE = 0.98, 1.02  # of the limit
STEPS = 6000

# A quadratic L(θ) = ½θᵀAθ - bᵀθ with A's eigenvalues 0.5, 1.3 and 4 along a fixed rotation: λmax = 4.
ROTATION, _ = np.linalg.qr(np.array([[1.0, 2.0, 0.5], [-0.3, 1.0, 2.0], [1.5, -1.0, 1.0]]))
A = ROTATION @ np.diag([0.5, 1.3, 4.0]) @ ROTATION.T
B = np.array([1.0, -2.0, 0.5])
MINIMUM = np.linalg.solve(A, B)
LAMBDA_MAX = float(np.linalg.eigvalsh(A)[-1])


def settled(errors: list[float]) -> str:
    """The run "converges" if its distance to the minimum fell a million-fold, "diverges" if it grew so."""
    first, last = errors[0], errors[-1]
    if not math.isfinite(last) or last > 1e6 * first:
        return "diverges"
    return "converges" if last < 1e-6 * first else "neither"


def plain_gd(lr: float) -> str:
    theta = np.zeros(3)
    errors = [float(np.linalg.norm(theta - MINIMUM))]
    for _ in range(STEPS):
        theta = theta - lr * (A @ theta - B)
        errors.append(float(np.linalg.norm(theta - MINIMUM)))
    return settled(errors)


def torch_sgd(lr: float, beta: float, nesterov: bool, accumulate: bool = False, steps: int = STEPS) -> str:
    """torch.optim.SGD's own steps on the quadratic (its gradient from autograd), float64."""
    a, b = torch.tensor(A), torch.tensor(B)
    theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([theta], lr=lr, momentum=beta, nesterov=nesterov)
    errors = [float(np.linalg.norm(theta.detach().numpy() - MINIMUM))]
    for step in range(1, steps + 1):
        if not accumulate:
            optimizer.zero_grad()
        (0.5 * theta @ a @ theta - b @ theta).backward()
        optimizer.step()
        if step % 100 == 0:
            errors.append(float(np.linalg.norm(theta.detach().numpy() - MINIMUM)))
            if not math.isfinite(errors[-1]) or not 1e-9 * errors[0] < errors[-1] < 1e12:
                break  # diverged or converged past doubt
    return settled(errors)


def limit_of(**settings) -> tuple[float, str]:
    found = lr_limit(config(**settings), LAMBDA_MAX)
    assert found is not None
    return found


def test_plain_gd_converges_below_2_over_lambda_max_and_diverges_above():
    for settings in ({"optimizer": "gd"}, {"optimizer": "sgd"}, {"optimizer": "sgd", "momentum": 0.0}):
        limit, form = limit_of(**settings)
        assert form == PLAIN and limit == pytest.approx(2 / LAMBDA_MAX, rel=1e-15)
    limit = 2 / LAMBDA_MAX
    assert plain_gd(BELOW * limit) == "converges"
    assert plain_gd(ABOVE * limit) == "diverges"
    assert torch_sgd(BELOW * limit, 0.0, False) == "converges"  # torch's SGD without momentum: the same edge
    assert torch_sgd(ABOVE * limit, 0.0, False) == "diverges"


@pytest.mark.parametrize("beta", [0.5, 0.9])
def test_heavy_ball_momentum_converges_below_2_plus_2_beta_over_lambda_max_and_diverges_above(beta):
    limit, form = limit_of(optimizer="sgd", momentum=beta)
    assert form == HEAVY_BALL and limit == pytest.approx((2 + 2 * beta) / LAMBDA_MAX, rel=1e-15)
    assert torch_sgd(BELOW * limit, beta, nesterov=False) == "converges"
    assert torch_sgd(ABOVE * limit, beta, nesterov=False) == "diverges"


@pytest.mark.parametrize("beta", [0.5, 0.9])
def test_nesterov_converges_below_its_limit_and_diverges_above(beta):
    limit, form = limit_of(optimizer="nesterov", momentum=beta)
    assert form == NESTEROV and limit == pytest.approx(2 * (1 + beta) / ((1 + 2 * beta) * LAMBDA_MAX), rel=1e-15)
    assert torch_sgd(BELOW * limit, beta, nesterov=True) == "converges"
    assert torch_sgd(ABOVE * limit, beta, nesterov=True) == "diverges"
    heavy_ball = (2 + 2 * beta) / LAMBDA_MAX  # a lower edge than heavy-ball's: that one would say too much
    assert torch_sgd(BELOW * heavy_ball, beta, nesterov=True) == "diverges"


def step_matrix(lr: float, beta: float, nesterov: bool, lam: float = 1.0) -> np.ndarray:
    """torch's SGD step on L(θ) = ½λθ², read off as the linear map it is on (θ, momentum buffer)."""
    theta = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([theta], lr=lr, momentum=beta, nesterov=nesterov)
    columns = []
    for start in ((1.0, 0.0), (0.0, 1.0)):
        with torch.no_grad():
            theta.fill_(start[0])
        optimizer.state[theta] = {"momentum_buffer": torch.full((1,), start[1], dtype=torch.float64)}
        optimizer.zero_grad()
        (0.5 * lam * theta**2).sum().backward()
        optimizer.step()
        columns.append([theta.item(), optimizer.state[theta]["momentum_buffer"].item()])
    return np.array(columns).T


def edge(beta: float, nesterov: bool) -> float:
    """The lr (λ = 1) where torch's step map's spectral radius reaches 1, by bisection."""
    radius = lambda lr: max(abs(np.linalg.eigvals(step_matrix(lr, beta, nesterov))))  # noqa: E731
    low, high = 1e-3, 10.0
    assert radius(low) < 1 < radius(high)
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if radius(middle) < 1 else (low, middle)
    return (low + high) / 2


@pytest.mark.parametrize("beta", [0.1, 0.5, 0.9, 0.99])
def test_each_form_is_where_torch_s_own_step_map_reaches_spectral_radius_one(beta):
    nesterov, _ = limit_of(optimizer="nesterov", momentum=beta)
    heavy_ball, _ = limit_of(optimizer="sgd", momentum=beta)
    assert edge(beta, nesterov=True) == pytest.approx(nesterov * LAMBDA_MAX, rel=1e-9)
    assert edge(beta, nesterov=False) == pytest.approx(heavy_ball * LAMBDA_MAX, rel=1e-9)


def test_accumulated_gradients_converge_at_no_lr_so_no_limit_is_given():
    for lr in (0.1 * 2 / LAMBDA_MAX, 0.5 * 2 / LAMBDA_MAX):
        assert torch_sgd(lr, 0.0, nesterov=False, accumulate=True, steps=2000) == "neither"  # undamped: it swings
        assert torch_sgd(lr, 0.9, nesterov=False, accumulate=True) == "diverges"
    assert lr_limit(config(optimizer="sgd", accumulate_grad=True), LAMBDA_MAX) is None
    assert lr_limit(config(optimizer="gd", accumulate_grad=True), LAMBDA_MAX) is None


def test_no_limit_for_adaptive_optimizers_nor_without_a_positive_lambda_max():
    for name in OPTIMIZERS:
        found = lr_limit(config(optimizer=name), LAMBDA_MAX)
        assert (found is None) == (name in ("adam", "adamw", "rmsprop", "adagrad")), name
    assert lr_limit(config(optimizer="rmsprop", momentum=0.9), LAMBDA_MAX) is None
    for top in (0.0, -1.0, math.inf, math.nan):
        assert lr_limit(config(), top) is None


def test_the_notes_local_for_an_mlp_or_a_loss_that_is_no_quadratic_and_full_batch_with_mini_batches():
    assert notes(config()) == ()
    assert notes(config(loss="sse")) == ()
    assert notes(config(data="sine", model="mlp", hidden=(4,))) == ("local",)
    assert notes(config(loss="huber")) == ("local",)
    assert notes(config(batch_size=4)) == ("full batch",)
    assert notes(config(data="sine", model="mlp", hidden=(4,), batch_size=4)) == ("local", "full batch")


def test_the_limits_module_loads_no_torch():
    code = "import json, sys; import gdtui.engine.limits; print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = {name.split(".")[0] for name in json.loads(proc.stdout.strip().splitlines()[-1])}
    assert "torch" not in loaded and "textual" not in loaded


def fastai_lambda_max() -> float:
    t = torch.arange(0, 20).double()
    design = torch.stack([t**2, t, torch.ones_like(t)], dim=1)
    return float(torch.linalg.eigvalsh(2 / 20 * design.T @ design)[-1])


async def test_the_status_line_shows_the_focused_optimizer_s_limit_and_follows_live_changes():
    app = GdtuiApp(config(optimizer="sgd", momentum=0.9, epochs=30))
    top = fastai_lambda_max()

    def line() -> str:
        return str(app.status.render())

    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: "λmax" in line(), what="the limit")
        assert f"lr 1e-05 < (2+2β)/λmax {1.9 * 2 / top:.3g}" in line() and "local" not in line()
        app.send(p.Update({"momentum": 0.5}))  # the lr unchanged: the limit follows the momentum alone
        await wait_for(pilot, lambda: f"(2+2β)/λmax {1.5 * 2 / top:.3g}" in line(), what="β 0.5's limit")
        app.send(p.Configure(app.config.replace(optimizer="nesterov")))  # as the pane sends a new optimizer
        expected = f"lr 1e-05 < 2(1+β)/((1+2β)λmax) {2 * 1.5 / (2 * top):.3g}"
        await wait_for(pilot, lambda: expected in line(), what="Nesterov's limit")
        app.send(p.Configure(app.config.replace(optimizer="adam")))
        await wait_for(pilot, lambda: app.config.optimizer == "adam" and app.state == "ready", what="adam")
        await replies_read(pilot)  # its curvature too
        assert "λ" not in line() and "curvature" not in line() and "lr 1e-05" in line()
        app.send(p.Configure(app.config.replace(optimizer="gd", lr=1e-4)))
        await wait_for(pilot, lambda: f"lr 0.0001 > 2/λmax {2 / top:.3g}" in line(), what="gd's limit, exceeded")
        assert "(local)" not in line()


async def test_the_status_line_marks_an_mlp_s_limit_as_local():
    app = GdtuiApp(config(data="sine", model="mlp", hidden=(4,), epochs=5, optimizer="sgd", momentum=0.9))
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await wait_for(pilot, lambda: "λmax" in str(app.status.render()), what="the limit")
        text = str(app.status.render())
        assert "(2+2β)/λmax" in text and text.split("│")[2].strip().endswith("(local)"), text
