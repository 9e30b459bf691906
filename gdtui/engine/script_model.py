"""The script's model: the article's function of its parameters, a linear model, a formula, or torch.nn's
layers, their initial values, and --standardize's statistics of the design.

Why: a part of the script writer (`_Writer` in script.py, put together from parts as WriterBase declares),
kept apart because the model is the longest piece and the most varied; what the rest of the script needs of it
is one expression, `call`, the model's prediction of a batch, which the loop and the test loss format.
"""

from __future__ import annotations

from gdtui.engine.config import formula_of, param_names
from gdtui.engine.script_base import WriterBase, _num

ACTIVATION = {"tanh": "nn.Tanh()", "relu": "nn.ReLU()", "sigmoid": "nn.Sigmoid()"}


class ModelPart(WriterBase):
    """The script's model (a mixin of `_Writer`)."""

    def model(self) -> None:
        c, n = self.start, self.n
        names = param_names(c)
        init = None if c.init is None else f"torch.tensor([{', '.join(_num(v) for v in c.init)}], dtype=dtype)"
        if self.nn:
            if c.rng == "single":
                self.emit("# --rng single: the model draws from the stream the data left (torch was seeded once)")
            else:
                self.emit(f"torch.manual_seed({c.seed})  # again, right before the model is built")
            if c.model == "nn-linear":
                bias = "" if c.bias else ", bias=False"
                self.emit(
                    "",
                    "",
                    "class LinearRegressionModel(nn.Module):",
                    "    def __init__(self):",
                    "        super().__init__()",
                    f"        self.linear_layer = nn.Linear(in_features=1, out_features=1{bias})",
                    "",
                    "    def forward(self, x: torch.Tensor):",
                    "        return self.linear_layer(x)",
                    "",
                    "",
                    "model = LinearRegressionModel().to(device=device, dtype=dtype)",
                )
            else:
                sizes = (1, *c.hidden, 1)
                layers = []
                for i in range(len(sizes) - 1):
                    if i:
                        layers.append(ACTIVATION[c.activation])
                    layers.append(f"nn.Linear({sizes[i]}, {sizes[i + 1]})")
                self.emit(f"model = nn.Sequential({', '.join(layers)}).to(device=device, dtype=dtype)")
            if init is not None:
                self.emit(
                    f"init = {init}.to(device)  # the initial values, in the order of model.parameters()",
                    "with torch.no_grad():",
                    "    start = 0",
                    "    for p in model.parameters():",
                    "        p.copy_(init[start : start + p.numel()].reshape(p.shape))",
                    "        start += p.numel()",
                )
            self.emit("parameters = list(model.parameters())", "")
            self.call = "model({x}.unsqueeze(-1)).squeeze(-1)"
            if c.standardize:
                self.standardisation("[{x}]")
                self.call = "model((({x} - mean[0]) / std[0]).unsqueeze(-1)).squeeze(-1)"
            return
        k = len(names)
        if init is None:
            if c.preset == "linear-manual":
                init = f"torch.zeros({k}, dtype=dtype)"
            else:
                if c.preset == "fastai-quadratic":
                    self.emit("torch.randn(3)  # the notebook displayed one draw and threw it away")
                init = f"torch.randn({k}, dtype=dtype)"
        if c.model == "linear":
            self.emit(f"init = {init}.to(device)")
            if c.bias:
                self.emit("w = init[:1].clone().requires_grad_()", "b = init[1:].clone().requires_grad_()")
                self.emit("parameters = [w, b]", "")
                self.call = "w * {x} + b"
                if c.standardize:
                    self.standardisation("[{x}]")
                    self.call = "w * (({x} - mean[0]) / std[0]) + b"
            else:
                self.emit("w = init.clone().requires_grad_()", "parameters = [w]", "")
                self.call = "w * {x}"
            return
        self.emit(f"params = {init}.to(device).requires_grad_()", "parameters = [params]", "", "")
        formula = formula_of(c)
        if formula is not None:  # --model FORMULA: its parameters unpacked from one tensor, as gdtui's are
            unpack = ", ".join(formula.names) + ("," if len(formula.names) == 1 else "")
            self.emit(f"def {n.fn}(x, params):", f"    {unpack} = params", f"    return {formula.source()}", "", "")
            self.call = f"{n.fn}({{x}}, params)"
            return
        first = 0 if c.bias else 1
        if c.standardize:
            if c.model == "quadratic":
                self.standardisation("[{x}**2, {x}]")
            else:
                powers = f"torch.arange({first}, {first + len(names)}, dtype=dtype)"
                self.standardisation(f"({{x}}.unsqueeze(-1) ** {powers}).unbind(-1)")
        if c.model == "quadratic":
            a = n.arg
            body = f"a * ({a}**2) + (b * {a}) + c"
            if c.standardize:
                body = f"a * (({a}**2 - mean[0]) / std[0]) + (b * (({a} - mean[1]) / std[1])) + c"
            self.emit(f"def {n.fn}({a}, params):", "    a, b, c = params", f"    return {body}")
        else:
            x = n.arg
            design = (
                f"(({x}.unsqueeze(-1) ** powers - mean) / std)" if c.standardize else f"({x}.unsqueeze(-1) ** powers)"
            )
            self.emit(
                f"def {n.fn}({x}, params):",
                f"    powers = torch.arange({first}, {first} + len(params), device={x}.device, dtype={x}.dtype)",
                f"    return {design} @ params",
            )
        self.emit("", "")
        self.call = f"{n.fn}({{x}}, params)"

    def standardisation(self, columns: str) -> None:
        """--standardize: the statistics of the design's `columns` (an expression of the training x, `{x}`)."""
        x = f"{self.x_train[0]}.cpu()"
        self.emit(
            "",
            "",
            "def standardisation(columns):",
            '    """--standardize: each column of the design to (column - mean) / std, with its mean and population',
            "    standard deviation (ddof=0) over the training points, in float64, then in the run's dtype; a constant",
            '    column (the ones of the constant term) keeps its values (mean 0, std 1)."""',
            "    means, stds = [], []",
            "    for column in columns:",
            "        wide = column.double().contiguous()",
            "        mean, std = wide.mean().to(dtype), wide.std(correction=0).to(dtype)",
            "        if std == 0:",
            "            mean, std = torch.zeros_like(mean), torch.ones_like(std)",
            "        means.append(mean)",
            "        stds.append(std)",
            "    return torch.stack(means).to(device), torch.stack(stds).to(device)",
            "",
            "",
            f"mean, std = standardisation({columns.format(x=x)})",
            "",
        )
