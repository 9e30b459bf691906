"""Formula models (issue 31): parsed with ast, refused with a column, computed bit for bit as Python would."""

from __future__ import annotations

import builtins
import math
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from gdtui.engine.formula import MAX_FORMULA_CHARS, MAX_PARAMETERS, FormulaError, parse
from gdtui.engine.models import FormulaModel, Model

# each formula with the function a tutorial would write by hand, parameters unpacked as `a, b, c = params`
HAND: dict[str, Callable[..., torch.Tensor]] = {
    "a*sin(b*x) + c": lambda x, a, b, c: a * torch.sin(b * x) + c,
    "a*exp(-b*x)": lambda x, a, b: a * torch.exp(-b * x),
    "a*x**2 + b*x + c": lambda x, a, b, c: a * x**2 + b * x + c,
    "a/(1 + b*x**2)": lambda x, a, b: a / (1 + b * x**2),
    "a*sqrt(x) + b*log(x)": lambda x, a, b: a * torch.sqrt(x) + b * torch.log(x),
    "a*sigmoid(b*(x - c))": lambda x, a, b, c: a * torch.sigmoid(b * (x - c)),
    "a*relu(x - b) + c": lambda x, a, b, c: a * torch.relu(x - b) + c,
    "a*e**(b*x) + c*sin(2*pi*x)": lambda x, a, b, c: a * math.e ** (b * x) + c * torch.sin(2 * math.pi * x),
    "-a*tanh(x/b) + abs(c)*cos(x) - tan(x/4)": (
        lambda x, a, b, c: -a * torch.tanh(x / b) + torch.abs(c) * torch.cos(x) - torch.tan(x / 4)
    ),
    "2**-1*a*x**2.0 + +b - (-c)": lambda x, a, b, c: 2**-1 * a * x**2.0 + +b - (-c),
    "c": lambda x, c: c,  # a parameter alone: the 0-d tensor itself
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("text", list(HAND))
def test_bit_for_bit_as_python(text: str, dtype: torch.dtype) -> None:
    formula = parse(text)
    torch.manual_seed(7)
    x = torch.linspace(0.1, 2.0, 41, dtype=dtype)
    start = torch.randn(len(formula.names), dtype=dtype)
    ours, hand, exported = (start.clone().requires_grad_() for _ in range(3))

    y = formula(x, tuple(ours))
    y_hand = HAND[text](x, *hand)
    namespace = {"torch": torch, "math": math, "x": x, **dict(zip(formula.names, exported))}
    y_exported = eval(formula.source(), namespace)  # our own trusted string, as the exported script runs it
    assert y.dtype == dtype
    assert torch.equal(y, y_hand)
    assert torch.equal(y, y_exported)

    for params, value in ((ours, y), (hand, y_hand), (exported, y_exported)):
        (value * x).sum().backward()
    assert ours.grad is not None
    assert torch.equal(ours.grad, hand.grad)
    assert torch.equal(ours.grad, exported.grad)


def test_formula_model_is_a_model() -> None:
    formula = parse("a*sin(b*x) + c")
    torch.manual_seed(3)
    start = torch.randn(3, dtype=torch.float64)
    model = FormulaModel(formula, start.clone())
    assert isinstance(model, Model)
    assert model.names == ("a", "b", "c")
    assert model.scale is None
    params = start.clone().requires_grad_()
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)
    a, b, c = params
    y_hand = a * torch.sin(b * x) + c
    y = model(x)
    assert torch.equal(y, y_hand)
    y.pow(2).mean().backward()
    y_hand.pow(2).mean().backward()
    assert torch.equal(model.params.grad, params.grad)
    assert torch.equal(model.flat(), start)
    model.load_flat(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    assert torch.equal(model.predict(x), 1.0 * torch.sin(2.0 * x) + 3.0)
    with pytest.raises(ValueError, match="not linear"):
        model.columns(x)
    with pytest.raises(ValueError, match="3 parameters"):
        FormulaModel(formula, torch.zeros(2))
    linear = FormulaModel(parse("a*x + b"), torch.zeros(2))
    assert [c.tolist() for c in linear.columns(x[:2])] == [x[:2].tolist(), [1.0, 1.0]]


def test_names_in_source_order_and_numbers_kept() -> None:
    assert parse("b*x + a").names == ("b", "a")
    assert parse("c*sin(a*x) + b*a - c").names == ("c", "a", "b")
    assert parse("x**2*k + pi*e*w").names == ("k", "w")
    formula = parse("a*x**2 + 0.5*b")
    assert formula.text == "a * x ** 2 + 0.5 * b"  # 2 stays an int power, 0.5 a float
    assert parse(formula.text) == formula
    assert parse("  a*sin( b*x )+c ").text == "a * sin(b * x) + c"
    assert parse("a*sin(b*x) + pi*c + e").source() == "a * torch.sin(b * x) + math.pi * c + math.e"
    assert len(parse(" + ".join(f"p{i}*x**{i}" for i in range(MAX_PARAMETERS))).names) == MAX_PARAMETERS
    assert parse("(" * 90 + "a*x" + ")" * 90).text == "a * x"  # parentheses nest no operation


LINEAR = [
    "a*sin(x)",
    "sin(x)*a",
    "a*x/2",
    "-a*x",
    "x**2*a",
    "a",
    "a*x + a",
    "a*x**2 + b*x + c",
    "a - b*x",
    "+a*x - (b - c*cos(x))",
    "2*(a*x - b)/3",
    "a*exp(-x) + b/x",
    "a*x*x*pi/e + b*(x + 1)",
]
NOT_LINEAR = [
    "a*sin(b*x)",
    "a*b",
    "a*a",
    "a*b*x",
    "a*x + sin(x)",
    "a*x + 1",
    "(a + 1)*x",
    "sin(a)",
    "exp(a*x)",
    "x**a",
    "a**2",
    "a**1",
    "1/a",
    "x/a",
    "a*x/(b + x)",
    "abs(a)*x",
]


@pytest.mark.parametrize("text", LINEAR + NOT_LINEAR)
def test_linear(text: str) -> None:
    formula = parse(text)
    x = torch.linspace(0.5, 3.0, 11, dtype=torch.float64)
    assert formula.linear == (text in LINEAR)
    columns = formula.columns(x)
    if not formula.linear:
        assert columns is None
        return
    assert columns is not None and len(columns) == len(formula.names)
    assert all(column.shape == x.shape and column.dtype == x.dtype for column in columns)
    for seed in range(3):
        torch.manual_seed(seed)
        params = torch.randn(len(formula.names), dtype=torch.float64)
        design = sum(p * column for p, column in zip(params, columns))
        assert torch.allclose(design, formula(x, tuple(params)).expand_as(x), rtol=1e-12, atol=1e-12)


def test_columns_of_known_formulas() -> None:
    x = torch.tensor([1.0, 2.0, 4.0])
    a_twice = parse("a*x + a").columns(x)
    assert a_twice is not None and torch.equal(a_twice[0], x + 1)
    alone = parse("b + a*x").columns(x)
    assert alone is not None and torch.equal(alone[0], torch.ones_like(x)) and torch.equal(alone[1], x)
    scaled = parse("2*a - b/4").columns(x)
    assert scaled is not None and scaled[0].tolist() == [2.0] * 3 and scaled[1].tolist() == [-0.25] * 3


SENTINEL = Path(f"/tmp/gdtui_formula_pwned_{os.getpid()}")

# (formula, column of the refused part)
HOSTILE = [
    (f"__import__('os').system('touch {SENTINEL}')", 1),
    (f"a*__import__('os').system('touch {SENTINEL}')", 3),
    ("__import__('os')", 1),
    ("x.__class__", 1),
    ("().__class__.__bases__[0].__subclasses__()", 1),
    ("open('/etc/passwd')", 1),
    ("a*open('/etc/passwd').read()", 3),
    ("exec('1')", 1),
    ("eval('1')", 1),
    ("getattr(x, 'y')", 1),
    ("globals()", 1),
    ("a[0]", 1),
    ("x[0]*a", 1),
    ("'text'", 1),
    ("b'x'", 1),
    ("f'{a}'", 1),
    ("sin(x, y=1)", 8),
    ("sin(*x)", 5),
    ("sin(x, a)", 1),
    ("sin()", 1),
    ("lambda: 1", 1),
    ("[a for a in x]", 1),
    ("a if x else b", 1),
    ("a; import os", 2),
    ("import os", 1),
    ("(a := 1)", 2),
    ("a == b", 1),
    ("a and b", 1),
    ("not a", 1),
    ("x % 2", 1),
    ("a*x // 2", 1),
    ("a @ x", 1),
    ("~a", 1),
    ("a << 1", 1),
    ("1j*x", 1),
    ("True*a", 1),
    ("None", 1),
    ("...", 1),
    ("sin", 1),
    ("sin + a", 1),
    ("a*cos", 3),
    ("__builtins__", 1),
    ("_a*x", 1),
    ("print*x", 1),
    ("torch.sin(x)", 1),
    ("a*torch.sin(x)", 3),
    ("os.system", 1),
    ("a, b", 1),
    ("[a]", 1),
    ("{a: 1}", 1),
    ("sin(a)(x)", 1),
    ("x(a)", 1),
    ("pi(a)", 1),
    ("a(x)", 1),
    ("*a", 1),
    ("await a", 1),
    ("(yield a)", 2),
    ("a*x if 1 else 0", 1),
    ("a*\u00e9", 3),
    ("\u0430*x", 1),  # a Cyrillic a
    ("a*x\n+ b", 4),
    ("", 1),
    ("   ", 1),
    ("x", 1),
    ("pi*x + e", 1),
    ("a*", 3),
    ("  a*x.real", 5),
    ("9**9**9*a", 1),
    ("a*10**100", 3),
    ("1e400*a", 1),
    ("1/0*a", 1),
    ("(-8)**0.5*a", 1),
    ("sqrt(2)*a", 1),
    ("x" * (MAX_FORMULA_CHARS + 1), MAX_FORMULA_CHARS + 1),
    ("(" * 1000 + "a*x" + ")" * 1000, MAX_FORMULA_CHARS + 1),
    ("-" * 10000 + "a*x", MAX_FORMULA_CHARS + 1),
    ("-" * 150 + "a*x", 33),  # (-(-...a))*x: the 33rd minus is one too deep
    ("sin(" * 35 + "a*x" + ")" * 35, 133),
    (" + ".join(f"p{i}*x" for i in range(MAX_PARAMETERS + 1)), 4 + len(" + ".join(f"p{i}*x" for i in range(16)))),
]


@pytest.mark.parametrize(("text", "column"), HOSTILE, ids=[repr(t)[:40] for t, _ in HOSTILE])
def test_hostile_input_refused_and_nothing_ran(text: str, column: int, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    recording = False

    def recorder(name: str, real: Callable[..., object]) -> Callable[..., object]:
        def record(*args: object, **kwargs: object) -> object:
            if recording:
                calls.append(f"{name}{args!r}")
            return real(*args, **kwargs)

        return record

    for module, attribute in [
        (builtins, "__import__"),
        (builtins, "open"),
        (builtins, "eval"),
        (builtins, "exec"),
        (builtins, "getattr"),
        (builtins, "globals"),
        (os, "system"),
        (subprocess, "Popen"),
    ]:
        monkeypatch.setattr(module, attribute, recorder(attribute, getattr(module, attribute)))
    assert not SENTINEL.exists()
    recording = True
    try:
        parse(text)
    except FormulaError as error:
        refused = error
    else:
        pytest.fail(f"{text!r} was accepted")
    finally:
        recording = False
        monkeypatch.undo()
    assert calls == []
    assert not SENTINEL.exists()
    assert isinstance(refused, ValueError)
    assert refused.column == column, refused.message
    assert str(refused) == refused.message
    assert f"at column {column}: " in refused.message
    assert refused.part == "" or f'"{refused.part[:37]}' in refused.message


def test_error_format() -> None:
    with pytest.raises(FormulaError) as caught:
        parse("a*x.real")
    error = caught.value
    assert (error.part, error.column) == ("x.real", 3)
    assert str(error).startswith('"x.real" at column 3: an attribute is not allowed (allowed: numbers, x, pi, e,')
    assert "sin cos tan exp log sqrt abs tanh sigmoid relu" in str(error)
    for text, part, reason in [
        ("os.system('ls')", "os.system", "an attribute"),
        ("__import__('os')", "__import__('os')", "a call of __import__"),
        ("sin(x, y=1)", "y=1", "a keyword argument"),
        ("'hi'*a", "'hi'", "a string"),
        ("a; import os", ";", "not a formula (invalid syntax)"),
        ("sin + a", "sin", "sin is a function"),
        ("a*x + b*sin(x, a)", "sin(x, a)", "sin takes exactly one argument"),
        ("x", "x", "at least one parameter"),
        ("9**9**9*a", "9**9**9", "a number too large"),
        ("1/0*a", "1/0", "a division by zero"),
    ]:
        with pytest.raises(FormulaError) as caught:
            parse(text)
        assert caught.value.part == part
        assert reason in caught.value.message
    with pytest.raises(FormulaError, match=f"at most {MAX_FORMULA_CHARS} characters"):
        parse("a" * (MAX_FORMULA_CHARS + 1))
    with pytest.raises(FormulaError, match="more than 32 nested"):
        parse("-" * 100 + "a")
    with pytest.raises(FormulaError, match=f"more than {MAX_PARAMETERS} parameters"):
        parse("+".join(f"p{i}" for i in range(MAX_PARAMETERS + 1)))


def test_call_checks_its_parameters() -> None:
    with pytest.raises(ValueError, match="2 parameters"):
        parse("a*x + b")(torch.ones(3), (torch.tensor(1.0),))
