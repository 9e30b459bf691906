"""Models with named parameters, each computing its prediction as its article writes it.

Why: bit-for-bit fidelity needs the articles' own expressions (`a*(t**2)+(b*t)+c`, `w * x + b`, an
nn.Module around nn.Linear); named parameters let the log, the CLI and later exports speak of a, b, c.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn

from gdtui.engine.config import RunConfig, formula_of, param_names
from gdtui.engine.formula import Formula
from gdtui.engine.presets import starts_at_zero


@dataclass(frozen=True)
class Scale:
    """--standardize: each column of a model's design (one per parameter, in the order of its names) as the model
    sees it, (column - mean) / std, with the mean and the population standard deviation (ddof=0) of the column
    over the training points; a constant column (the bias's ones) keeps its values (mean 0, std 1). Tensors of
    the run's dtype, on its device."""

    mean: torch.Tensor
    std: torch.Tensor


class Model:
    """A prediction function of x with a list of parameter tensors and a name for every scalar in them; with a
    `scale` (--standardize), of x's design standardised."""

    names: tuple[str, ...]
    scale: Scale | None = None

    def parameters(self) -> list[torch.Tensor]:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def columns(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The columns of x's design, one per parameter in the order of `names`, each as the forward pass
        computes it (the constant term's: ones). Only a model linear in its parameters has them."""
        raise ValueError("only a model linear in its parameters has a design to standardise")

    def flat(self) -> torch.Tensor:
        """All parameter values as one detached 1-D tensor, in the order of `names`."""
        params = self.parameters()
        if len(params) == 1:
            return params[0].detach().reshape(-1).clone()
        return torch.cat([p.detach().reshape(-1) for p in params])

    def load_flat(self, values: torch.Tensor) -> None:
        """Set every parameter from a 1-D tensor laid out as `flat()` returns it."""
        start = 0
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(values[start : start + p.numel()].reshape(p.shape))
                start += p.numel()

    @torch.no_grad()
    def predict(self, x: torch.Tensor, flat: torch.Tensor | None = None) -> torch.Tensor:
        """Predictions for x, with the current parameters or with `flat` values in their place."""
        if flat is None:
            return self(x)
        saved = self.flat()
        self.load_flat(flat)
        try:
            return self(x)
        finally:
            self.load_flat(saved)


class Quadratic(Model):
    """a*t^2 + b*t + c with params = tensor([a, b, c]) (seeds 000-002)."""

    names = ("a", "b", "c")

    def __init__(self, params: torch.Tensor):
        self.params = params.requires_grad_()

    def parameters(self) -> list[torch.Tensor]:
        return [self.params]

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        a, b, c = self.params  # Tensor.__iter__ is untyped: a, b and c are Any
        if self.scale is not None:
            m, s = self.scale.mean, self.scale.std
            scaled: torch.Tensor = a * ((t**2 - m[0]) / s[0]) + (b * ((t - m[1]) / s[1])) + c
            return scaled
        y: torch.Tensor = a * (t**2) + (b * t) + c
        return y

    def columns(self, t: torch.Tensor) -> list[torch.Tensor]:
        return [t**2, t, torch.ones_like(t)]


class Linear(Model):
    """w*x + b with w and b as separate one-element tensors (seed 004)."""

    names = ("w", "b")

    def __init__(self, w: torch.Tensor, b: torch.Tensor):
        self.w = w.requires_grad_()
        self.b = b.requires_grad_()

    def parameters(self) -> list[torch.Tensor]:
        return [self.w, self.b]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale is not None:
            return self.w * ((x - self.scale.mean[0]) / self.scale.std[0]) + self.b
        return self.w * x + self.b

    def columns(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x, torch.ones_like(x)]


class Slope(Model):
    """w*x without a bias (--no-bias), as a tutorial of y = w·x writes it."""

    names = ("w",)

    def __init__(self, w: torch.Tensor):
        self.w = w.requires_grad_()

    def parameters(self) -> list[torch.Tensor]:
        return [self.w]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.w * x


class Polynomial(Model):
    """c0 + c1*x + ... + ck*x^k with params = tensor([c0, ..., ck]); without a bias, c1*x + ... + ck*x^k."""

    def __init__(self, params: torch.Tensor, first: int = 0):
        self.params = params.requires_grad_()
        self.first = first  # the lowest power: 1 without a bias
        self.names = tuple(f"c{i}" for i in range(first, first + len(params)))

    def parameters(self) -> list[torch.Tensor]:
        return [self.params]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        powers = torch.arange(self.first, self.first + len(self.params), device=x.device, dtype=x.dtype)
        if self.scale is not None:
            return ((x.unsqueeze(-1) ** powers - self.scale.mean) / self.scale.std) @ self.params
        return (x.unsqueeze(-1) ** powers) @ self.params

    def columns(self, x: torch.Tensor) -> list[torch.Tensor]:
        powers = torch.arange(self.first, self.first + len(self.params), device=x.device, dtype=x.dtype)
        return list((x.unsqueeze(-1) ** powers).unbind(-1))


class LinearRegressionModel(nn.Module):
    """The seed 003 module: one nn.Linear(1, 1) layer (without its bias for --no-bias)."""

    def __init__(self, bias: bool = True) -> None:
        super().__init__()
        self.linear_layer = nn.Linear(in_features=1, out_features=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.linear_layer(x)
        return y


class NNLinear(Model):
    """An nn.Module around nn.Linear(1, 1), fed x as a column as seed 003 does."""

    names: tuple[str, ...] = ("weight", "bias")

    def __init__(self, module: LinearRegressionModel):
        self.module = module
        if module.linear_layer.bias is None:
            self.names = ("weight",)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.module.parameters())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale is not None:
            x = (x - self.scale.mean[0]) / self.scale.std[0]
        y: torch.Tensor = self.module(x.unsqueeze(-1))
        return y.squeeze(-1)

    def columns(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x, torch.ones_like(x)] if len(self.names) == 2 else [x]


class MLP(Model):
    """A small multilayer perceptron, nn.Sequential(Linear(1, h), activation, ..., Linear(h, 1)), fed x as a
    column; its scalars are named wk.i and bk.i, layer by layer."""

    def __init__(self, module: nn.Sequential, names: tuple[str, ...]):
        self.module = module
        self.names = names

    def parameters(self) -> list[torch.Tensor]:
        return list(self.module.parameters())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.module(x.unsqueeze(-1))
        return y.squeeze(-1)


class FormulaModel(Model):
    """A Model computing a formula, with params = tensor([one value per name]) unpacked as `a, b, c = params`.
    No --standardize: its `scale` stays None."""

    def __init__(self, formula: Formula, params: torch.Tensor):
        if params.shape != (len(formula.names),):
            raise ValueError(f"{formula.text} has {len(formula.names)} parameters, not a tensor of {params.shape}")
        self.formula = formula
        self.names = formula.names
        self.params = params.requires_grad_()

    def parameters(self) -> list[torch.Tensor]:
        return [self.params]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.formula(x, tuple(self.params))  # Tensor.__iter__: unbind(0), as `a, b, c = self.params`

    def columns(self, x: torch.Tensor) -> list[torch.Tensor]:
        columns = self.formula.columns(x)
        if columns is None:
            raise ValueError(f"{self.formula.text} is not linear in its parameters: it has no design")
        return columns


ACTIVATION_MODULES = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}


def mlp_module(config: RunConfig) -> nn.Sequential:
    """nn.Sequential as a tutorial builds it, with torch's default initialisation (draw under the seed first)."""
    sizes = (1, *config.hidden, 1)
    layers: list[nn.Module] = []
    for k, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if k:
            layers.append(ACTIVATION_MODULES[config.activation]())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


def n_params(config: RunConfig) -> int:
    return len(param_names(config))


def build_model(config: RunConfig, device: torch.device | str = "cpu") -> Model:
    """A model with its initial parameters, drawn from torch's global generator as the preset's article does.

    Call it right after the data was drawn: fastai-quadratic's notebook displayed one torch.randn(3) it threw
    away before drawing its parameters; linear-manual starts from zeros; linear-module seeds torch again right
    before building its nn.Linear (the mlp likewise); every other combination draws torch.randn(k). With
    `--rng single` nothing is seeded again: the modules draw from the stream the data left.
    """
    dtype = {"float32": torch.float32, "float64": torch.float64}[config.dtype]
    again = config.rng != "single"  # seeded once: one stream
    if config.model == "mlp":
        if again:
            torch.default_generator.manual_seed(config.seed)  # torch.manual_seed(seed), then the model: CPU only
        mlp: Model = MLP(mlp_module(config).to(device=device, dtype=dtype), param_names(config))
        if config.init is not None:
            mlp.load_flat(torch.tensor(config.init, dtype=dtype, device=device))
        return mlp
    if config.model == "nn-linear":
        if again:
            torch.default_generator.manual_seed(config.seed)  # the article's manual_seed, CPU generator only
        model: Model = NNLinear(LinearRegressionModel(config.bias).to(device=device, dtype=dtype))
        if config.init is not None:
            model.load_flat(torch.tensor(config.init, dtype=dtype, device=device))
        return model
    k = n_params(config)
    formula = formula_of(config)
    if config.init is not None:  # the tutorial's own values
        init = torch.tensor(config.init, dtype=dtype)
    elif starts_at_zero(config):
        init = torch.zeros(k, dtype=dtype)
    else:
        if config.preset == "fastai-quadratic":
            torch.randn(3)
        init = torch.randn(k, dtype=dtype)
    init = init.to(device)
    if formula is not None:  # its parameters drawn as the quadratic's are: torch.randn(k) after the data
        return FormulaModel(formula, init)
    if config.model == "quadratic":
        return Quadratic(init)
    if config.model == "linear":
        return Linear(init[:1].clone(), init[1:].clone()) if config.bias else Slope(init.clone())
    return Polynomial(init, first=0 if config.bias else 1)


def standardized(model: Model, x_train: torch.Tensor, device: torch.device | str = "cpu") -> Scale:
    """The Scale of `model`'s design over the training points `x_train` (the run's dtype): each column's mean and
    population standard deviation (ddof=0), computed in float64 on the column as the model computes it, then
    rounded to the run's dtype; a constant column (std 0 there) keeps its values: mean 0, std 1."""
    means, stds = [], []
    for column in model.columns(x_train):
        wide = column.double().contiguous()
        mean, std = wide.mean().to(x_train.dtype), wide.std(correction=0).to(x_train.dtype)
        if std == 0:
            mean, std = torch.zeros_like(mean), torch.ones_like(std)
        means.append(mean)
        stds.append(std)
    return Scale(torch.stack(means).to(device), torch.stack(stds).to(device))
