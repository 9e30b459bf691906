"""A model the user types as a formula, `--model "a*sin(b*x) + c"`, parsed with `ast` and never evaluated by Python.

Why: a formula lets a user fit the curve of their own tutorial without writing code, and the text comes from a
command line, a config file or a served page, so it is untrusted. It is parsed with `ast.parse` (which only
builds a tree) and checked node by node against a short list (numbers, x, pi, e, parameters, + - * / **, unary
- and +, ten elementwise functions of one argument); anything else is refused with its column before any of it
could run. The checked tree is compiled into a tree of closures that apply Python's own operators
(`operator.mul`, ...) and `torch.<function>`, left operand first, so a formula computes exactly what the
expression written out in Python computes with 0-d parameter tensors: same torch operations, same order, same
bits (and the exported script's `source()` is that expression). Parts of numbers only (`2*pi`) are computed
once, in Python numbers, as Python computes them before they meet a tensor.

A formula that is a sum of parameters each times a function of x alone is linear in its parameters: it has a
design (`columns`) for the theory's least squares and Hessian. --standardize is not offered for formulas (their
`scale` stays None; the CLI's checks refuse the combination).
"""

from __future__ import annotations

import ast
import builtins
import copy
import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

MAX_FORMULA_CHARS = 200
MAX_PARAMETERS = 16
MAX_DEPTH = 32  # nested operations and calls; a parenthesis alone adds none

# torch's elementwise functions a formula may call, by their torch names (torch.sin, ...): looked up when a
# formula first runs, so that checking one (the TUI's field, the CLI's option) never imports torch
FUNCTIONS = ("sin", "cos", "tan", "exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu")
CONSTANTS = {"pi": math.pi, "e": math.e}
# names a parameter may not take: the input, the constants, the functions, and what the exported script needs
# (torch, math, Python's builtins, which a parameter bound to its name would hide)
RESERVED = frozenset({"x", *CONSTANTS, *FUNCTIONS, "torch", "math", *dir(builtins)})
ALLOWED = f"allowed: numbers, x, pi, e, parameters, + - * / **, unary -, {' '.join(FUNCTIONS)} of one argument"

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_OPERATORS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_KINDS: dict[type[ast.AST], str] = {
    ast.Attribute: "an attribute",
    ast.Subscript: "a subscript",
    ast.JoinedStr: "an f-string",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.Compare: "a comparison",
    ast.BoolOp: "a boolean operation",
    ast.IfExp: "a conditional expression",
    ast.NamedExpr: "an assignment expression",
    ast.Starred: "a starred expression",
    ast.Tuple: "a tuple",
    ast.List: "a list",
    ast.Set: "a set",
    ast.Dict: "a dict",
    ast.Await: "an await",
    ast.Slice: "a slice",
}
_OPERATOR_SIGNS: dict[type[ast.AST], str] = {
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Invert: "~",
    ast.Not: "not",
}

Number = int | float
if TYPE_CHECKING:
    from typing import TypeAlias

    Value: TypeAlias = torch.Tensor | int | float
    _Run: TypeAlias = Callable[[torch.Tensor, Sequence[torch.Tensor]], Value]


class FormulaError(ValueError):
    """A formula refused: `part` (its offending source text), `column` (1-based), `reason`; `message`, the
    sentence shown, is str(error): '"x.real" at column 3: an attribute is not allowed (allowed: ...)'."""

    def __init__(self, part: str, column: int, reason: str):
        self.part = part
        self.column = column
        self.reason = reason
        shown = part if len(part) <= 40 else part[:37] + "..."
        self.message = f'"{shown}" at column {column}: {reason}' if part else f"at column {column}: {reason}"
        super().__init__(self.message)


@dataclass(frozen=True)
class _Part:
    """A checked node: `run` computes it; `const`, its value when it holds neither x nor a parameter; `uses`, the
    indices of its parameters; `terms`, when it is a sum of parameters each times a function of x alone (or
    a number), that function per parameter index, else None."""

    run: _Run
    const: Number | None = None
    uses: frozenset[int] = frozenset()
    terms: dict[int, _Part] | None = None


def _constant(value: Number) -> _Part:
    return _Part(lambda x, p: value, const=value)


_ONE = _constant(1)
_X = _Part(lambda x, p: x)


def _binary(op: Callable[[Any, Any], Any], left: _Part, right: _Part) -> _Part:
    """`left op right` as Python computes it; the caller has folded two numbers."""
    a, b = left.run, right.run

    def run(x: torch.Tensor, p: Sequence[torch.Tensor]) -> Value:
        y: Value = op(a(x, p), b(x, p))
        return y

    return _Part(run, uses=left.uses | right.uses)


def _unary(op: Callable[[Any], Any], operand: _Part) -> _Part:
    a = operand.run

    def run(x: torch.Tensor, p: Sequence[torch.Tensor]) -> Value:
        y: Value = op(a(x, p))
        return y

    return _Part(run, uses=operand.uses)


def _product(left: _Part, right: _Part) -> _Part:
    """A term's function of x times a factor free of parameters, either way round (1 * f and f * 1: f)."""
    if left is _ONE:
        return right
    if right is _ONE:
        return left
    return _binary(operator.mul, left, right)


def _linear(op: type[ast.operator], left: _Part, right: _Part) -> dict[int, _Part] | None:
    """The terms of `left op right` when it is still a sum of parameters times functions of x, else None."""
    if op in (ast.Add, ast.Sub):
        if left.terms is None or right.terms is None:  # an offset (a part free of parameters), or nonlinear
            return None
        terms = dict(left.terms)
        for i, f in right.terms.items():
            if op is ast.Sub:
                terms[i] = _binary(operator.sub, terms[i], f) if i in terms else _unary(operator.neg, f)
            else:
                terms[i] = _binary(operator.add, terms[i], f) if i in terms else f
        return terms
    if op is ast.Mult and left.terms is not None and not right.uses:
        return {i: _product(f, right) for i, f in left.terms.items()}
    if op is ast.Mult and right.terms is not None and not left.uses:
        return {i: _product(left, f) for i, f in right.terms.items()}
    if op is ast.Div and left.terms is not None and not right.uses:
        return {i: _binary(operator.truediv, f, right) for i, f in left.terms.items()}
    return None


class _Checker:
    """Checks and compiles one parsed formula, left to right, collecting its parameters in source order."""

    def __init__(self, source: str, lead: int):
        self.source = source  # the formula without its leading spaces (`lead` of them)
        self.lead = lead
        self.names: list[str] = []

    def refuse(self, node: ast.expr | ast.keyword, reason: str) -> FormulaError:
        part = ast.get_source_segment(self.source, node) or ""
        return FormulaError(part, node.col_offset + 1 + self.lead, reason)

    def fold(self, node: ast.expr, compute: Callable[[], object]) -> _Part:
        """A part made of numbers only, computed now as Python would; refused unless a finite real number that
        fits in 64 bits (an integer power is checked before it could take long)."""
        try:
            value = compute()
        except ZeroDivisionError:
            raise self.refuse(node, "a division by zero") from None
        except OverflowError:
            raise self.refuse(node, "a number too large") from None
        if isinstance(value, bool) or not isinstance(value, int | float):  # (-8)**0.5 is complex
            raise self.refuse(node, "these numbers give no real number")
        if not math.isfinite(value) or (isinstance(value, int) and abs(value) >= 2**63):
            raise self.refuse(node, "a number too large")
        return _constant(value)

    def check(self, node: ast.expr, depth: int = 0) -> _Part:
        if depth > MAX_DEPTH:
            raise self.refuse(node, f"more than {MAX_DEPTH} nested operations")
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                kind = "a string" if isinstance(value, str) else "bytes" if isinstance(value, bytes) else repr(value)
                raise self.refuse(node, f"{kind} is not allowed ({ALLOWED})")
            return self.fold(node, lambda: value)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            unary = _UNARY.get(type(node.op))
            if unary is None:
                raise self.refuse(node, f"{_OPERATOR_SIGNS[type(node.op)]} is not allowed ({ALLOWED})")
            operand = self.check(node.operand, depth + 1)
            if operand.const is not None:
                c = operand.const
                return self.fold(node, lambda: unary(c))
            part = _unary(unary, operand)
            terms = None if operand.terms is None else {i: _unary(unary, f) for i, f in operand.terms.items()}
            return _Part(part.run, uses=part.uses, terms=terms)
        if isinstance(node, ast.BinOp):
            op = _OPERATORS.get(type(node.op))
            if op is None:
                raise self.refuse(node, f"{_OPERATOR_SIGNS[type(node.op)]} is not allowed ({ALLOWED})")
            left = self.check(node.left, depth + 1)
            right = self.check(node.right, depth + 1)
            if left.const is not None and right.const is not None:
                a, b = left.const, right.const
                return self.fold(node, lambda: self.numbers(node.op, a, b))
            part = _binary(op, left, right)
            return _Part(part.run, uses=part.uses, terms=_linear(type(node.op), left, right))
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        kind = _KINDS.get(type(node), f"a {type(node).__name__} expression")
        raise self.refuse(node, f"{kind} is not allowed ({ALLOWED})")

    def numbers(self, op: ast.operator, a: object, b: object) -> object:
        """Two numbers combined as Python combines them, an integer power refused before it grows too large."""
        if isinstance(op, ast.Pow) and isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
            if b * (abs(a).bit_length() - 1) >= 63:
                raise OverflowError
        return _OPERATORS[type(op)](a, b)

    def name(self, node: ast.Name) -> _Part:
        name = node.id
        if name == "x":
            return _X
        if name in CONSTANTS:
            return _constant(CONSTANTS[name])
        if name in FUNCTIONS:
            raise self.refuse(node, f"{name} is a function: call it on one argument, {name}(...)")
        if not _NAME.fullmatch(name):
            raise self.refuse(node, "a parameter's name is letters, digits and _, starting with a letter")
        if name in RESERVED:
            raise self.refuse(node, f"{name} names a Python builtin or module: give the parameter another name")
        if name not in self.names:
            if len(self.names) == MAX_PARAMETERS:
                raise self.refuse(node, f"more than {MAX_PARAMETERS} parameters")
            self.names.append(name)
        i = self.names.index(name)
        return _Part(lambda x, p: p[i], uses=frozenset({i}), terms={i: _ONE})

    def call(self, node: ast.Call, depth: int) -> _Part:
        func = node.func
        if isinstance(func, ast.Attribute):
            raise self.refuse(func, f"an attribute is not allowed ({ALLOWED})")
        if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
            called = func.id if isinstance(func, ast.Name) else "an expression"
            raise self.refuse(node, f"a call of {called} is not allowed (functions: {' '.join(FUNCTIONS)})")
        if node.keywords:
            raise self.refuse(node.keywords[0], f"a keyword argument is not allowed ({ALLOWED})")
        for given in node.args:
            if isinstance(given, ast.Starred):
                raise self.refuse(given, f"a starred argument is not allowed ({ALLOWED})")
        if len(node.args) != 1:
            raise self.refuse(node, f"{func.id} takes exactly one argument")
        arg = self.check(node.args[0], depth + 1)
        if arg.const is not None:
            raise self.refuse(node, f"{func.id} of a number alone is not allowed: write its value")
        name, a = func.id, arg.run
        found: list[Callable[[torch.Tensor], torch.Tensor]] = []

        def run(x: torch.Tensor, p: Sequence[torch.Tensor]) -> Value:
            if not found:
                import torch

                found.append(getattr(torch, name))
            return found[0](a(x, p))  # type: ignore[arg-type]  # a part with x or a parameter: a tensor

        return _Part(run, uses=arg.uses)


class _Export(ast.NodeTransformer):
    """The formula's tree as the exported script writes it: torch.sin(...), math.pi, math.e."""

    def visit_Name(self, node: ast.Name) -> ast.expr:
        if node.id in FUNCTIONS:
            return ast.Attribute(ast.Name("torch", ast.Load()), node.id, ast.Load())
        if node.id in CONSTANTS:
            return ast.Attribute(ast.Name("math", ast.Load()), node.id, ast.Load())
        return node


@dataclass(frozen=True)
class Formula:
    """A checked formula: `text`, its normalized source (parse(text) gives it back); `names`, its parameters in
    the order they first appear. Build one with `parse`."""

    text: str
    names: tuple[str, ...]
    _tree: ast.Expression = field(repr=False, compare=False)
    _run: _Run = field(repr=False, compare=False)
    _design: tuple[_Part, ...] | None = field(repr=False, compare=False)

    def __call__(self, x: torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
        """The formula at x with the parameters' values in the order of `names` (0-d tensors: `a, b, c = t`)."""
        if len(params) != len(self.names):
            raise ValueError(f"{self.text} has {len(self.names)} parameters, not {len(params)}")
        import torch

        y = self._run(x, params)
        if not isinstance(y, torch.Tensor):  # a formula holds a parameter: never a number
            raise TypeError(f"{self.text} gave {y!r}")
        return y

    def source(self) -> str:
        """The formula as Python code of an exported script with `import torch`, `import math`, x and each
        parameter bound to its name: it computes the same bits as calling the formula."""
        return ast.unparse(_Export().visit(copy.deepcopy(self._tree)))

    @property
    def linear(self) -> bool:
        """Whether the formula is a sum of terms each a parameter times a function of x alone (numbers, + - and
        unary -, * and / by parts free of parameters); a part free of parameters added to it (an offset, as
        in a*x + sin(x)) makes it not linear."""
        return self._design is not None

    def columns(self, x: torch.Tensor) -> list[torch.Tensor] | None:
        """The design at x, one column per parameter in the order of `names` (a parameter alone: ones), so that
        the formula is sum(p_i * column_i) up to rounding; None when the formula is not linear."""
        if self._design is None:
            return None
        import torch

        columns = []
        for part in self._design:
            column = part.run(x, ())
            if not isinstance(column, torch.Tensor):
                column = torch.ones_like(x) if column == 1 else torch.full_like(x, column)
            columns.append(column)
        return columns


def parse(text: str) -> Formula:
    """The formula in `text`, checked; FormulaError (a ValueError) with the offending part and its column when
    it holds anything but numbers, x, pi, e, parameters, + - * / **, unary - and +, and FUNCTIONS of one
    argument, or when it is empty, has no parameter, or is too long (MAX_FORMULA_CHARS), too deep (MAX_DEPTH)
    or has too many parameters (MAX_PARAMETERS)."""
    if len(text) > MAX_FORMULA_CHARS:  # before ast.parse, whose own recursion a long input could exhaust
        raise FormulaError("", MAX_FORMULA_CHARS + 1, f"a formula is at most {MAX_FORMULA_CHARS} characters")
    for column, char in enumerate(text, start=1):
        if not " " <= char <= "~":
            raise FormulaError(repr(char)[1:-1], column, "only printable ASCII characters are allowed")
    body = text.lstrip(" ")
    lead = len(text) - len(body)
    if not body.strip():
        raise FormulaError("", 1, "an empty formula")
    try:
        tree = ast.parse(body, mode="eval")
    except SyntaxError as error:
        start = error.offset or 0
        if not 1 <= start <= len(body):  # Python says 0 at the end of the input at times
            start = len(body) + 1
        end = max(error.end_offset or 0, start + 1)
        part = body[start - 1 : end - 1]
        raise FormulaError(part, start + lead, f"not a formula ({error.msg})") from None
    checker = _Checker(body, lead)
    top = checker.check(tree.body)
    if not checker.names:
        raise FormulaError(body.strip(), lead + 1, "a formula needs at least one parameter (a name other than x)")
    design = None
    if top.terms is not None:
        design = tuple(top.terms[i] for i in range(len(checker.names)))
    return Formula(ast.unparse(tree), tuple(checker.names), tree, top.run, design)
