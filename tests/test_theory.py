"""The theory of the user's own problem (issue 29): every number against an independent computation written out
here: numpy's eigh on the design matrix built by hand, and literal float64 loops of gd and of momentum 0.9.
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch

from gdtui.cli import main
from gdtui.engine import resolve
from gdtui.engine.schedules import check_schedule
from gdtui.engine.theory import State, epochs_to, losses_at, of_trainer, predicted_run, problem, rate
from gdtui.engine.trainer import Trainer


def design(trainer: Trainer) -> tuple[np.ndarray, np.ndarray]:
    """fastai-quadratic's design matrix by hand: t², t, 1 for a·t² + b·t + c."""
    t = trainer.data.x_train.double().numpy()
    return np.stack([t**2, t, np.ones_like(t)], axis=1), trainer.data.y_train.double().numpy()


def literal_losses(trainer: Trainer, lr: float, beta: float, epochs: int) -> list[float]:
    """The article's loop in float64, with torch's momentum written out: the loss before each epoch's step."""
    t = trainer.data.x_train.double()
    y = trainer.data.y_train.double()
    params = trainer.initial.double().clone().requires_grad_()
    buffer = torch.zeros(3, dtype=torch.float64)
    out = []
    for _ in range(epochs):
        a, b, c = params
        loss = ((a * t**2 + b * t + c - y) ** 2).mean()
        out.append(loss.item())
        loss.backward()
        with torch.no_grad():
            assert params.grad is not None
            buffer = beta * buffer + params.grad
            params -= lr * buffer
            params.grad = None
    return out


def spectral_radius(lam: float, lr: float, beta: float) -> float:
    return float(max(abs(np.linalg.eigvals(np.array([[1 - lr * lam, -lr * beta], [lam, beta]])))))


def test_the_problems_geometry_is_numpys_eigh_of_its_design_matrix():
    trainer = Trainer(resolve("fastai-quadratic"))
    phi, _ = design(trainer)
    values, vectors = np.linalg.eigh(2 / len(phi) * phi.T @ phi)
    p = problem(trainer)
    np.testing.assert_allclose(p.eigenvalues, values, rtol=1e-10)
    for k in range(3):
        assert abs(abs(float(p.vectors[:, k] @ vectors[:, k])) - 1) < 1e-10
    assert math.isclose(p.kappa, values[-1] / values[0], rel_tol=1e-9) and round(p.kappa) == 218_451
    assert p.direction(0) == "0.98·c − 0.20·b"  # the slowest: mostly the intercept
    assert round(float(p.eigenvalues[0]), 2) == 0.26 and round(float(p.eigenvalues[-1])) == 56_499


def test_the_predicted_log_holds_to_1e9_for_gd_and_momentum_against_a_literal_loop_and_gdtui_run(capsys):
    for optimizer, beta in (("gd", 0.0), ("sgd", 0.9)):
        cfg = resolve("fastai-quadratic", optimizer=optimizer, momentum=beta or None, epochs=1000, dtype="float64")
        trainer = Trainer(cfg)
        p = problem(trainer)
        predicted = losses_at(p, State.at(p, trainer.initial.double().numpy()), cfg.lr, beta, [10, 100, 1000])[0]
        literal = literal_losses(trainer, cfg.lr, beta, 1000)
        for epoch, loss in zip((10, 100, 1000), predicted):
            assert math.isclose(loss, literal[epoch - 1], rel_tol=1e-9), (optimizer, epoch)
        args = ["run", "--preset", "fastai-quadratic", "--optimizer", optimizer, "--epochs", "1000"]
        args += ["--dtype", "float64", "--json"] + (["--momentum", "0.9"] if beta else [])
        assert main(args) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        logged = [row["loss"] for row in rows if row.get("event", "epoch") == "epoch"]
        for epoch, loss in zip((10, 100, 1000), predicted):
            assert math.isclose(loss, logged[epoch - 1], rel_tol=1e-9), (optimizer, epoch)


def test_the_rates_the_best_lr_and_the_best_pair_rounded_toward_stability():
    trainer = Trainer(resolve("fastai-quadratic"))
    found = of_trainer(trainer)
    lam = np.linalg.eigvalsh(2 / 20 * design(trainer)[0].T @ design(trainer)[0])
    l1, ln = lam[0], lam[-1]
    kappa = ln / l1
    assert math.isclose(found.rate, max(abs(1 - 1e-5 * v) for v in lam), rel_tol=1e-12)
    assert math.isclose(1 - found.rate, 2.6e-6, rel_tol=0.01)  # "1 - 2.6e-6 an epoch at lr 1e-5"
    assert math.isclose(found.best_lr, 2 / (l1 + ln), rel_tol=1e-10)
    assert math.isclose(found.best_lr_rate, (kappa - 1) / (kappa + 1), rel_tol=1e-9)
    lr, beta = found.best_pair
    assert math.isclose(lr, (2 / (math.sqrt(l1) + math.sqrt(ln))) ** 2, rel_tol=1e-10)
    assert math.isclose(beta, ((math.sqrt(ln) - math.sqrt(l1)) / (math.sqrt(ln) + math.sqrt(l1))) ** 2, rel_tol=1e-10)
    assert math.isclose(found.best_pair_rate, (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1), rel_tol=1e-6)
    # the optima sit at the stability edge: shown rounded toward stability, never across it
    assert found.best_lr_shown <= found.best_lr and found.best_lr_shown * ln < 2
    assert str(found.best_lr_shown).startswith("3.5398467")
    shown_lr, shown_beta = found.best_pair_shown
    assert shown_lr <= lr and shown_beta >= beta
    assert max(spectral_radius(v, shown_lr, shown_beta) for v in lam) < 1
    assert max(spectral_radius(v, 7.05e-5, 0.9915) for v in lam) > 1  # rounded to nearest: it diverges
    assert 3.54e-5 * ln > 2 and 2 / ln == found.lr_limit  # 3.54e-5 diverges too
    # the epochs to RMSE 1.48 (the least squares' + 1%): about 1.7M, 643k and 3,400
    assert found.epochs is not None and 1_650_000 < found.epochs < 1_750_000
    assert found.best_lr_epochs is not None and 630_000 < found.best_lr_epochs < 660_000
    assert found.best_pair_epochs is not None and 3_300 < found.best_pair_epochs < 3_500


def test_the_epochs_to_a_target_are_those_of_a_literal_loop():
    trainer = Trainer(resolve("fastai-quadratic", dtype="float64"))
    p = problem(trainer)
    lr, beta = 5e-5, 0.95
    target = 5.0  # RMSE
    start = State.at(p, trainer.initial.double().numpy())
    counted = epochs_to(p, start, lr, beta, target**2)
    literal = literal_losses(trainer, lr, beta, 20_000)
    first = next(k + 1 for k, loss in enumerate(literal) if math.sqrt(loss) <= target)
    assert counted == first
    gd_literal = literal_losses(trainer, 3e-5, 0.0, 3_000)
    reached = gd_literal[-1] * (1 + 1e-12)  # the loss the loop prints at epoch 3,000 (it falls every epoch)
    assert epochs_to(p, start, 3e-5, 0.0, reached) == next(
        k + 1 for k, loss in enumerate(gd_literal) if loss <= reached
    )
    assert epochs_to(p, start, lr, beta, p.loss_min * 0.99) is None  # below the least squares: unreachable
    assert epochs_to(p, start, 4e-5, 0.0, reached) is None  # above 2/λmax: it diverges
    assert rate(p, 4e-5, 0.0) > 1


def test_a_run_changed_mid_way_is_predicted_segment_by_segment():
    cfg = resolve("fastai-quadratic", optimizer="sgd", momentum=0.9, epochs=60, dtype="float64")
    trainer = Trainer(cfg)
    trainer.run(20)
    trainer.update(lr=2e-5, momentum=0.5)
    trainer.run(40)
    epochs = [1, 10, 20, 21, 30, 60]
    predicted, shares = predicted_run(trainer, epochs)
    for epoch, loss in zip(epochs, predicted):
        assert math.isclose(loss, trainer.history.loss[epoch - 1], rel_tol=1e-7), epoch
    assert np.allclose(shares.sum(axis=1) + problem(trainer).loss_min, predicted, rtol=1e-12)


def test_where_the_theory_does_not_apply_it_says_why(capsys):
    for args, why in (
        (["--optimizer", "adam"], "adam is not gradient descent"),
        (["--model", "mlp"], "the mlp is not linear"),
        (["--batch-size", "4"], "mini-batches"),
        (["--loss", "l1"], "l1 loss is not quadratic"),
        (["--accumulate-grad"], "accumulated gradients"),
    ):
        assert main(["theory", "--preset", "fastai-quadratic", *args]) == 0
        assert why in capsys.readouterr().out
    assert main(["theory", "--preset", "fastai-quadratic", "--json", "--epochs-at", "10,100"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["applies"] and [row["epoch"] for row in found["predicted"]] == [10, 100]
    assert round(found["predicted"][0]["rmse"], 2) == 18.04  # the article's RMSE after 10 epochs
    assert main(["theory", "--preset", "fastai-quadratic", "--epochs-at", "ten"]) == 2


def test_the_rate_map_is_each_directions_2x2_iteration_written_out():
    from gdtui.engine.dynamics import KINDS, kinds, rate_map

    lam = np.array([0.5, 3.0, 40.0])
    lrs = np.array([1e-3, 0.02, 0.04, 0.06])
    betas = np.array([0.0, 0.5, 0.9])
    rate, slow, fast = rate_map(lam, lrs, betas)
    for i, beta in enumerate(betas):
        for j, lr in enumerate(lrs):
            assert math.isclose(rate[i, j], max(spectral_radius(v, lr, beta) for v in lam), rel_tol=1e-12)
    # plain gd: monotone below 1/λ, oscillating between 1/λ and 2/λ, diverging past it
    assert [KINDS[k] for k in kinds(np.array(40.0), np.array([0.01, 0.04, 0.06]), 0.0)] == [
        "monotone",
        "oscillation",
        "divergence",
    ]
    # momentum: real roots for a tiny lr·λ (monotone), complex past (1 - √β)² (ripples)
    assert KINDS[int(kinds(np.array(1.0), 1e-4, 0.9))] == "monotone"
    assert KINDS[int(kinds(np.array(1.0), 0.5, 0.9))] == "ripples"
    assert KINDS[int(slow[0, 0])] == "monotone" and KINDS[int(fast[0, 3])] == "divergence"


def test_weight_decay_and_dampening_are_predicted_against_torchs_sgd_in_a_literal_loop(capsys):
    for decay, dampening, beta in ((0.5, 0.0, 0.0), (0.5, 0.3, 0.9), (0.0, 0.6, 0.9)):
        cfg = resolve(
            "fastai-quadratic",
            optimizer="sgd",
            momentum=beta or None,
            weight_decay=decay or None,
            dampening=dampening or None,
            epochs=1000,
            dtype="float64",
        )
        trainer = Trainer(cfg)
        t, y = trainer.data.x_train.double(), trainer.data.y_train.double()
        params = trainer.initial.double().clone().requires_grad_()
        optimizer = torch.optim.SGD([params], lr=cfg.lr, momentum=beta, dampening=dampening, weight_decay=decay)
        literal = []
        for _ in range(1000):
            a, b, c = params
            loss = ((a * t**2 + b * t + c - y) ** 2).mean()  # the loss the log prints (no decay term in it)
            literal.append(loss.item())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        found = of_trainer(trainer)
        start = State.at(found.problem, trainer.initial.double().numpy())
        predicted = losses_at(found.problem, start, cfg.lr, beta, [1, 2, 10, 100, 1000], dampening)[0]
        for epoch, loss in zip((1, 2, 10, 100, 1000), predicted):
            assert math.isclose(loss, literal[epoch - 1], rel_tol=1e-9), (decay, dampening, epoch)
        if decay:  # every eigenvalue raised by the decay
            plain = problem(trainer)
            np.testing.assert_allclose(found.problem.eigenvalues, plain.eigenvalues + decay, rtol=1e-12)
        args = ["theory", "--preset", "fastai-quadratic", "--optimizer", "sgd", "--json", "--epochs-at", "100"]
        args += ["--weight-decay", str(decay)] if decay else []
        args += ["--dampening", str(dampening), "--momentum", str(beta)] if dampening else []
        assert main(args) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed["applies"] and math.isclose(printed["predicted"][0]["loss"], literal[99], rel_tol=1e-6)


def test_the_status_lines_limit_takes_weight_decay_and_dampening_as_torchs_sgd_does():
    from gdtui.engine.limits import lr_limit

    lam = np.array([0.5, 4.0])
    for decay, dampening, beta in ((0.5, 0.0, 0.0), (0.5, 0.4, 0.9), (0.0, 0.4, 0.5)):
        cfg = resolve(
            "fastai-quadratic",
            optimizer="sgd",
            momentum=beta or None,
            weight_decay=decay or None,
            dampening=dampening or None,
        )
        found = lr_limit(cfg, float(lam[-1]))
        assert found is not None
        for factor, bounded in ((0.98, True), (1.02, False)):
            params = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
            optimizer = torch.optim.SGD(
                [params], lr=factor * found[0], momentum=beta, dampening=dampening, weight_decay=decay
            )
            for _ in range(3000):
                optimizer.zero_grad()
                (0.5 * (torch.tensor(lam) * params**2).sum()).backward()
                optimizer.step()
            assert (params.abs().max().item() < 1.0) == bounded, (decay, dampening, beta, factor)


def test_a_scheduled_run_is_predicted_with_torchs_scheduler_and_its_path_against_the_edge():
    from gdtui.engine.theory import report, schedule_path, scheduled_losses

    for optimizer, beta, spec in (("gd", 0.0, "step:step_size=30,gamma=0.5"), ("sgd", 0.9, "cosine")):
        cfg = resolve(
            "fastai-quadratic", optimizer=optimizer, momentum=beta or None, epochs=120, dtype="float64", lr=3e-5
        ).replace(schedule=check_schedule(spec))
        trainer = Trainer(cfg)
        t, y = trainer.data.x_train.double(), trainer.data.y_train.double()
        params = trainer.initial.double().clone().requires_grad_()
        optimizer_ = torch.optim.SGD([params], lr=cfg.lr, momentum=beta)
        scheduler = (
            torch.optim.lr_scheduler.StepLR(optimizer_, step_size=30, gamma=0.5)
            if spec.startswith("step")
            else torch.optim.lr_scheduler.CosineAnnealingLR(optimizer_, T_max=120)
        )
        literal = []
        for _ in range(120):
            a, b, c = params
            loss = ((a * t**2 + b * t + c - y) ** 2).mean()
            literal.append(loss.item())
            optimizer_.zero_grad()
            loss.backward()
            optimizer_.step()
            scheduler.step()
        path = schedule_path(cfg, 120)
        assert path is not None
        found = of_trainer(trainer)
        start = State.at(found.problem, trainer.initial.double().numpy())
        predicted = scheduled_losses(found.problem, start, *path, [1, 31, 60, 120])[0]
        for epoch, loss in zip((1, 31, 60, 120), predicted):
            assert math.isclose(loss, literal[epoch - 1], rel_tol=1e-9), (spec, epoch)
        trainer.run(120)
        assert list(path[0]) == list(trainer.history.lr)  # the lrs the run took
        generator = report(trainer)
        try:
            while True:
                next(generator)
        except StopIteration as done:
            shown = done.value
        assert shown["why"] is None and shown["sweep"] and "stability edge" in shown["lines"][-1]
