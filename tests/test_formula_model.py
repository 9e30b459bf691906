"""--model FORMULA through gdtui: the run against the same function written by hand in torch, a formula linear
in its parameters treated as gdtui's linear models (least squares, exact Hessian, the limit, the theory), one
that is not as the mlp is (the lowest point in view, the local limit), refusals, TOML, --vary and the script."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gdtui.cli.root import cli
from gdtui.engine import resolve
from gdtui.engine.config import check_model, linear_in_params
from gdtui.engine.landscape import curvature, minimum
from gdtui.engine.limits import notes
from gdtui.engine.theory import problem
from gdtui.engine.trainer import Trainer
from tests.test_knob_scripts import script_prints_the_log


def sine_data():
    """`--data sine` (seed 2021, 20 points on [-3, 3], noise 5), as a tutorial draws it."""
    torch.manual_seed(2021)
    x = torch.linspace(-3, 3, 20)
    y = 3 * torch.sin(x)
    y = y + 5.0 * torch.randn(20)
    return x, y


def by_hand(epochs: int, lr: float, params: torch.Tensor):
    """a*sin(b*x) + c written by hand, torch.optim.SGD on its MSE."""
    x, y = sine_data()
    params = params.clone().requires_grad_()
    optimizer = torch.optim.SGD([params], lr=lr)
    losses = []
    for _ in range(epochs):
        a, b, c = params
        loss = ((a * torch.sin(b * x) + c - y) ** 2).mean()
        loss.backward()
        losses.append(loss.item())
        optimizer.step()
        optimizer.zero_grad()
    return losses, params.detach()


def formula_run(model: str, epochs: int, **more) -> Trainer:
    config = resolve(model=check_model(model), data="sine", optimizer="sgd", lr=0.05, epochs=epochs, **more)
    trainer = Trainer(config)
    trainer.run(epochs)
    return trainer


def test_a_formula_trains_as_the_function_written_by_hand():
    trainer = formula_run("a*sin(b*x) + c", 12, init=(2.0, 1.0, 0.0))
    losses, params = by_hand(12, 0.05, torch.tensor([2.0, 1.0, 0.0]))
    assert list(trainer.history.loss) == losses
    assert torch.equal(trainer.model.flat(), params)
    assert trainer.names == ("a", "b", "c")


def test_without_init_its_parameters_are_drawn_after_the_data_as_the_quadratics():
    trainer = formula_run("a*sin(b*x) + c", 3)
    sine_data()
    torch.randn(3)  # the default preset's (fastai-quadratic's) draw thrown away, as for every model it runs
    drawn = torch.randn(3)
    assert torch.equal(trainer.initial, drawn)
    assert list(trainer.history.loss) == by_hand(3, 0.05, drawn)[0]


def test_init_by_name_in_the_formulas_order():
    named = formula_run("a*sin(b*x) + c", 2, init=(("c", 0.0), ("b", 1.0), ("a", 2.0)))
    assert named.initial.tolist() == [2.0, 1.0, 0.0]


def test_a_formula_linear_in_its_parameters_is_one_of_gdtuis_linear_models():
    """a*x + b: the least-squares minimum, the exact Hessian, its limit 2/λmax and the theory, as the linear
    model's (whose design is the same, [x, 1]), against numpy on the design written out."""
    formula, linear = formula_run("a*x + b", 1), formula_run("linear", 1)
    assert linear_in_params(formula.config) and "local" not in " ".join(notes(formula.config))
    x, y = sine_data()
    design = np.stack([x.double().numpy(), np.ones(20)], axis=1)
    expected = np.linalg.lstsq(design, y.double().numpy(), rcond=None)[0]
    assert np.allclose(minimum(formula), expected, rtol=1e-12, atol=1e-12)
    hessian = 2 / 20 * design.T @ design
    found = curvature(formula)
    assert np.allclose(found.hessian, hessian, rtol=1e-12) and found.constant
    assert math.isclose(found.lr_limit, 2 / np.linalg.eigvalsh(hessian)[-1], rel_tol=1e-12)
    assert np.allclose(problem(formula).eigenvalues, problem(linear).eigenvalues, rtol=1e-12)
    assert list(formula.history.loss) == list(linear.history.loss)  # a*x + b is w*x + b, bit for bit


def test_a_formula_not_linear_has_no_minimum_and_a_local_limit():
    trainer = formula_run("a*sin(b*x) + c", 2, init=(2.0, 1.0, 0.0))
    assert not linear_in_params(trainer.config) and minimum(trainer) is None
    assert "local" in " ".join(notes(trainer.config))
    with pytest.raises(ValueError, match="not linear in its parameters"):
        problem(trainer)
    at = trainer.model.flat().double()
    x, y = (t.double() for t in sine_data())

    def loss(p):
        return ((p[0] * torch.sin(p[1] * x) + p[2] - y) ** 2).mean()

    expected = torch.autograd.functional.hessian(loss, at)
    found = curvature(trainer)
    assert np.allclose(found.hessian, expected.numpy(), rtol=1e-10) and not found.constant


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--model", "__import__('os').system('true')"], "\"__import__('os').system\" at column 1: an attribute"),
        (["--model", "a*x + exec('1')"], "\"exec('1')\" at column 7: a call of exec is not allowed"),
        (["--model", "x.real*a"], "an attribute is not allowed"),
        (["--model", "a*b"], "no x in it"),
        (["--model", "a*x", "--standardize"], "not a formula"),
        (["--model", "a*x", "--no-bias"], "a formula writes its own terms"),
        (["--model", "a*x+b", "--init", "1,2,3"], "2 parameters (a, b)"),
    ],
)
def test_a_bad_formula_exits_2_with_one_line_naming_the_option(args, says):
    result = CliRunner().invoke(cli, ["run", "--epochs", "1", *args])
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 2 and len(errors) == 1 and says in errors[0] and "Invalid value for '--" in errors[0]


def test_toml_and_vary_hold_a_formula(tmp_path):
    runner = CliRunner()
    saved = tmp_path / "f.toml"
    first = runner.invoke(
        cli,
        [
            "run",
            "--model",
            "a*sin(b*x)+c",
            "--data",
            "sine",
            "--init",
            "2,1,0",
            "--epochs",
            "3",
            "--save-config",
            str(saved),
        ],
    )
    assert first.exit_code == 0 and 'model = "a * sin(b * x) + c"' in saved.read_text()
    again = runner.invoke(cli, ["run", "--config", str(saved)])
    assert [line for line in again.output.splitlines() if line.startswith("epoch")] == [
        line for line in first.output.splitlines() if line.startswith("epoch")
    ]
    race = runner.invoke(cli, ["run", "--vary", "model=quadratic,a*x**2 + b*x + c", "--epochs", "3"])
    lines = [line for line in race.output.splitlines() if "epoch 3" in line]
    assert len(lines) == 2 and lines[0].split("epoch 3")[1] == lines[1].split("epoch 3")[1]  # the same model


@pytest.mark.parametrize(
    "args",
    [
        ["--model", "a*sin(b*x) + c", "--data", "sine", "--init", "2,1,0", "--optimizer", "adam", "--lr", "0.05"],
        ["--model", "a*exp(-x**2/2) + b*x", "--data", "cubic", "--optimizer", "sgd", "--lr", "0.01"],
        ["--model", "w*x", "--data", "linear", "--batch-size", "4", "--optimizer", "sgd", "--lr", "0.01"],
    ],
    ids=["sine", "linear-gauss", "one-parameter"],
)
def test_the_exported_script_of_a_formula_prints_gdtuis_log(args, tmp_path):
    script_prints_the_log(args, tmp_path, 6)
