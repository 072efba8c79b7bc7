"""The computation-graph trace: an expression split into atomic nodes, forward and backward.

A spec's ``[graph]`` gives an expression in a few symbols (``1/(1 + exp(-(w*x + b)))``)
and their values.  The expression is read by a small parser of its own (no ``eval``, no
``sympify``: the text is untrusted) into a tree, and the tree is cut into *atoms* in
evaluation order, as a lecture draws them.  For the sigmoid example that gives five::

    v1 = w·x      v2 = v1 + b      v3 = −v2      v4 = exp(v3)      v5 = 1/(1 + v4)

Each atom is one row of :data:`OPERATIONS`: its forward rule and its local derivative with
respect to each operand, side by side (micrograd's lesson).  From them the trace builds the
quantities of a :class:`~derive.symbolic.Graph` — ``v{k}``, ``local{k}`` (or
``local{k}_{input}`` for an atom with two inputs), ``grad_v{k}`` = ∂L/∂v_k and
``grad_{symbol}`` — so the key (the rounded chain), the worked lines and follow-through
grading all apply unchanged.  Where a node or symbol feeds several atoms its gradient is
the sum of the paths: ∂L/∂x = ∂L/∂v1·∂v1/∂x + ∂L/∂v3·∂v3/∂x.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np
import sympy as sp

from . import functions as fn
from .errors import DeriveError
from .symbolic import Graph, Quantity

MAX_EXPRESSION = 200   # characters of an expression
MAX_NODES = 16         # atoms: past these a trace is no longer worked by hand
MAX_SYMBOLS = 8
MAX_NAME = 8           # characters of a symbol's name
MAX_POWER = 4          # |n| of an integer power u^n
KINK_MARGIN = 0.05     # a drawn ReLU input no closer to 0 than this

FUNCTIONS = ("exp", "log", "ln", "tanh", "sigma", "sigmoid", "relu", "max", "sqrt")
"""The function names an expression may call (``max`` only as max(0, u), which is ReLU)."""
RESERVED = FUNCTIONS + ("e", "E", "pi", "I", "L", "eta", "loss", "oo", "nan")


class ExpressionError(ValueError):
    """The expression is not one derive can trace; the message says what was expected."""


def _sym(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


# --- reading the expression: tokens, then a tree -------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<name>[A-Za-z][A-Za-z0-9]*)|(?P<op>\*\*|[-+*/^(),]))")


@dataclass(frozen=True)
class Tree:
    """One node of the parsed expression: ``kind`` is num, sym, or an operator/function name."""

    kind: str
    args: tuple["Tree", ...] = ()
    value: str = ""  # a number's literal, a symbol's name

    def is_number(self) -> bool:
        return self.kind == "num"


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExpressionError(f"unexpected {text[pos:].strip()[:10]!r} at character {pos + 1}; "
                                  "expected numbers, symbols, + - * / ^ ( ) and " + ", ".join(FUNCTIONS))
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    """Recursive descent: expr := term (± term)*, term := unary (×÷ unary)*, unary := −unary | power."""

    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens, self.pos = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self, what: str = "more") -> tuple[str, str]:
        """The next token; ``what`` says what was expected if there is none."""
        if self.pos >= len(self.tokens):
            raise ExpressionError(f"the expression ends early; expected {what}")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def expect(self, text: str) -> None:
        got = self.take(repr(text))[1]
        if got != text:
            raise ExpressionError(f"expected {text!r}; got {got!r}")

    def expression(self) -> Tree:
        left = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            left = Tree("add" if op == "+" else "sub", (left, self.term()))
        return left

    def term(self) -> Tree:
        left = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()[1]
            left = Tree("mul" if op == "*" else "div", (left, self.unary()))
        return left

    def unary(self) -> Tree:
        if self.peek() == "-":
            self.take()
            return Tree("neg", (self.unary(),))
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Tree:
        base = self.atom()
        if self.peek() in ("^", "**"):
            self.take()
            negative = self.peek() == "-" and bool(self.take())
            kind, text = self.take("a whole-number exponent")
            n = int(text) * (-1 if negative else 1) if kind == "num" and text.isdigit() else None
            if n is None or n in (0, 1) or abs(n) > MAX_POWER:
                raise ExpressionError(f"expected a whole-number exponent from -{MAX_POWER} to {MAX_POWER} "
                                      f"(not 0 or 1); got {'-' if negative else ''}{text}")
            return Tree("pow", (base,), str(n))
        return base

    def atom(self) -> Tree:
        kind, text = self.take("a number, a symbol or '('")
        if text == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if kind == "num":
            if len(text) > 8:
                raise ExpressionError(f"expected a number of at most 8 characters; got {text}")
            return Tree("num", value=text)
        if kind == "name" and text in FUNCTIONS:
            return self.call(text)
        if kind == "name" and self.peek() == "(":
            raise ExpressionError(f"unknown function {text!r}; expected one of {', '.join(FUNCTIONS)}")
        if kind == "name":
            return Tree("sym", value=text)
        raise ExpressionError(f"expected a number, a symbol or '('; got {text!r}")

    def call(self, name: str) -> Tree:
        self.expect("(")
        args = [self.expression()]
        while self.peek() == ",":
            self.take()
            args.append(self.expression())
        self.expect(")")
        if name == "max":
            zero = [k for k, a in enumerate(args) if a.is_number() and Fraction(a.value) == 0]
            if len(args) != 2 or len(zero) != 1:
                raise ExpressionError("expected max(0, u), the ReLU; got max with other arguments")
            return Tree("relu", (args[1 - zero[0]],))
        if len(args) != 1:
            raise ExpressionError(f"expected one argument of {name}; got {len(args)}")
        return Tree({"ln": "log", "sigma": "sigmoid"}.get(name, name), tuple(args))


def parse_expression(text: str) -> Tree:
    """Read an expression into a :class:`Tree`; :class:`ExpressionError` says what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("expected an expression such as \"1/(1 + exp(-(w*x + b)))\"")
    if len(text) > MAX_EXPRESSION:
        raise ExpressionError(f"expected at most {MAX_EXPRESSION} characters; got {len(text)}")
    p = _Parser(_tokens(text))
    try:
        tree = p.expression()
    except RecursionError:
        raise ExpressionError("nested too deeply") from None
    if p.peek() is not None:
        raise ExpressionError(f"unexpected {p.peek()!r} after the end of the expression")
    for name in symbols_of(tree):
        check_symbol_name(name)
    return tree


def check_symbol_name(name: str) -> None:
    """A symbol's name: a letter then letters or digits, short, and no name derive reserves."""
    if (not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", name) or len(name) > MAX_NAME or name in RESERVED
            or re.fullmatch(r"v\d+", name) or name.startswith(("grad", "local"))):
        raise ExpressionError(f"expected a symbol name of at most {MAX_NAME} letters and digits that is "
                              f"not a function, v1, v2, …, L, e or pi; got {name!r}")


def symbols_of(tree: Tree) -> tuple[str, ...]:
    """The symbols of the expression, in order of first appearance (left to right)."""
    if tree.kind == "sym":
        return (tree.value,)
    out: list[str] = []
    for a in tree.args:
        out += [s for s in symbols_of(a) if s not in out]
    return tuple(out)


# --- the atoms: one table row per operation ----------------------------------------------

Rule = Callable[..., sp.Expr]


@dataclass(frozen=True)
class Operation:
    """One kind of atom: its forward rule and its local derivative per operand.

    ``forward(*operands)`` and each ``locals[i](out, *operands)`` take SymPy
    expressions (the operands' symbols or constants, and the atom's own value
    ``out``) and return the rule; the derivative may be written in ``out``
    (∂e^u/∂u = e^u is the node's own value), as a lecture writes it.
    """

    forward: Rule
    locals: tuple[Rule, ...]
    label: str  # LaTeX of the node in the drawing


def _add(*a):
    return sp.Add(*a, evaluate=False)


def _mul(*a):
    return sp.Mul(*a, evaluate=False)


def _pow(u, n):
    return sp.Pow(u, n, evaluate=False)


def _neg(u):
    return _mul(sp.S.NegativeOne, u)


OPERATIONS: dict[str, Operation] = {
    "add": Operation(_add, (lambda o, a, b: sp.S.One, lambda o, a, b: sp.S.One), "+"),
    "sub": Operation(lambda a, b: _add(a, _neg(b)), (lambda o, a, b: sp.S.One, lambda o, a, b: sp.S.NegativeOne), "-"),
    "mul": Operation(_mul, (lambda o, a, b: b, lambda o, a, b: a), r"\times"),
    "div": Operation(lambda a, b: _mul(a, _pow(b, -1)),
                     (lambda o, a, b: _pow(b, -1), lambda o, a, b: _neg(_mul(a, _pow(b, -2)))), r"\div"),
    "neg": Operation(_neg, (lambda o, a: sp.S.NegativeOne,), "-"),
    "exp": Operation(sp.exp, (lambda o, a: o,), r"\exp"),
    "log": Operation(sp.log, (lambda o, a: _pow(a, -1),), r"\ln"),
    "tanh": Operation(sp.tanh, (lambda o, a: _add(sp.S.One, _neg(_pow(o, 2))),), r"\tanh"),
    "sigmoid": Operation(fn.sigmoid, (lambda o, a: _mul(o, _add(sp.S.One, _neg(o))),), r"\sigma"),
    "relu": Operation(fn.relu, (lambda o, a: fn.step(a),), r"\mathrm{ReLU}"),
    "sqrt": Operation(sp.sqrt, (lambda o, a: _pow(_mul(sp.Integer(2), o), -1),), r"\sqrt{\cdot}"),
    "recip": Operation(lambda a: _pow(a, -1), (lambda o, a: _neg(_pow(a, -2)),), r"1/\cdot"),
    "inv1p": Operation(lambda a: _pow(_add(sp.S.One, a), -1),
                       (lambda o, a: _neg(_pow(_add(sp.S.One, a), -2)),), r"\frac{1}{1+\cdot}"),
}
"""Operation → forward rule and local derivatives; ``pow`` (u^n) is built per exponent."""


def _power(n: int) -> Operation:
    return Operation(lambda a: _pow(a, n), (lambda o, a: _mul(sp.Integer(n), _pow(a, n - 1)) if n != 2
                                            else _mul(sp.Integer(2), a),), f"(\\cdot)^{{{n}}}")


def operation(kind: str, exponent: int | None = None) -> Operation:
    """The :class:`Operation` of an atom kind (``pow`` needs its exponent)."""
    return _power(exponent) if kind == "pow" else OPERATIONS[kind]


@dataclass(frozen=True)
class Atom:
    """One node v_k: its operation and operands (a ``v{j}`` name, a symbol name, or a constant)."""

    index: int
    kind: str
    operands: tuple[str | sp.Number, ...]
    exponent: int | None = None

    @property
    def name(self) -> str:
        return f"v{self.index}"

    @property
    def op(self) -> Operation:
        return operation(self.kind, self.exponent)

    def inputs(self) -> tuple[str, ...]:
        """The distinct non-constant operands, in order: what the atom has local derivatives for."""
        out: list[str] = []
        for o in self.operands:
            if isinstance(o, str) and o not in out:
                out.append(o)
        return tuple(out)

    def local_name(self, source: str) -> str:
        """``local{k}`` for an atom of one input, ``local{k}_{input}`` for one of two."""
        return self.name.replace("v", "local", 1) + ("" if len(self.inputs()) == 1 else f"_{source}")


def _number(text: str) -> sp.Number:
    return sp.Integer(int(text)) if text.isdigit() else sp.Float(text, 15)


def atoms(tree: Tree) -> tuple[Atom, ...]:
    """The expression as atoms in evaluation order (operands before the atom that uses them)."""
    out: list[Atom] = []
    last = _atomize(tree, out)
    if not out:
        raise ExpressionError(f"expected an expression with at least one operation; got only {last}")
    if len(out) > MAX_NODES:
        raise ExpressionError(f"expected at most {MAX_NODES} operations (a trace worked by hand); got {len(out)}")
    return tuple(out)


def _atomize(t: Tree, out: list[Atom]) -> str | sp.Number:
    """The operand standing for t (a v name, symbol or constant), appending t's atoms to out."""
    if t.kind == "num":
        return _number(t.value)
    if t.kind == "sym":
        return t.value
    if t.kind == "neg" and t.args[0].is_number():  # −2 is a constant, not an atom
        return -_number(t.args[0].value)
    if t.kind == "div" and _is_one(t.args[0]) and t.args[1].kind == "add" and any(map(_is_one, t.args[1].args)):
        # 1/(1 + u): the lecture's one atom for the sigmoid's last step
        u = t.args[1].args[1] if _is_one(t.args[1].args[0]) else t.args[1].args[0]
        return _append(out, "inv1p", (_atomize(u, out),))
    if t.kind == "div" and _is_one(t.args[0]):  # 1/u: one input, not a division by a constant's quotient
        return _append(out, "recip", (_atomize(t.args[1], out),))
    operands = tuple(_atomize(a, out) for a in t.args)
    if all(isinstance(o, sp.Number) for o in operands):
        raise ExpressionError("expected every operation to use a symbol; got one of constants only "
                              "(work it out and write the number)")
    return _append(out, t.kind, operands, int(t.value) if t.kind == "pow" else None)


def _is_one(t: Tree) -> bool:
    return t.is_number() and Fraction(t.value) == 1


def _append(out: list[Atom], kind: str, operands: tuple, exponent: int | None = None) -> str:
    atom = Atom(len(out) + 1, kind, operands, exponent)
    out.append(atom)
    return atom.name


# --- the graph of the trace ---------------------------------------------------------------

def _operand(o) -> sp.Expr:
    return _sym(o) if isinstance(o, str) else o


def _local_rule(atom: Atom, source: str) -> sp.Expr:
    """∂v_k/∂source: the sum of the table's derivatives over the operands that are ``source``."""
    args = [_operand(o) for o in atom.operands]
    terms = [d(_sym(atom.name), *args) for o, d in zip(atom.operands, atom.op.locals) if o == source]
    return terms[0] if len(terms) == 1 else _add(*terms)


def _users(trace_atoms: tuple[Atom, ...], source: str) -> list[Atom]:
    return [a for a in trace_atoms if source in a.inputs()]


def _gradient_rule(trace_atoms: tuple[Atom, ...], source: str) -> sp.Expr:
    """∂L/∂source = Σ over the atoms that use it of ∂L/∂v_k · ∂v_k/∂source (the paths summed)."""
    terms = [_mul(_sym(f"grad_{a.name}"), _sym(a.local_name(source))) for a in _users(trace_atoms, source)]
    return terms[0] if len(terms) == 1 else _add(*terms)


def _symbol_latex(name: str, trace_atoms: tuple[Atom, ...]) -> str:
    """A trace name's LaTeX: v_k, ∂v_k/∂u, ∂L/∂v_k, ∂L/∂w."""
    def of(source: str) -> str:
        return sp.latex(_sym(source))
    if m := re.fullmatch(r"v(\d+)", name):
        return f"v_{{{m[1]}}}"
    if m := re.fullmatch(r"grad_(\w+)", name):
        return rf"\frac{{\partial L}}{{\partial {of(m[1])}}}"
    k, _, source = name[len("local"):].partition("_")
    atom = trace_atoms[int(k) - 1]
    return rf"\frac{{\partial v_{{{k}}}}}{{\partial {of(source or atom.inputs()[0])}}}"


@dataclass(frozen=True)
class Trace:
    """A parsed expression: its symbols (in order of appearance), its atoms and its graph."""

    expression: str
    symbols: tuple[str, ...]
    atoms: tuple[Atom, ...]
    graph: Graph

    def __repr__(self) -> str:
        return f"Trace({self.expression!r}, {len(self.atoms)} nodes)"

    @property
    def output(self) -> str:
        """The last node: L."""
        return self.atoms[-1].name

    def section_names(self) -> dict[str, list[str]]:
        """The answer names of each part of the sheet: forward values, local derivatives, gradients."""
        local = [q.name for q in self.graph.quantities if q.name.startswith("local")]
        grads = [q.name for q in self.graph.quantities if q.name.startswith("grad_")]
        return {"graph_forward": [a.name for a in self.atoms], "graph_local": local, "graph_backward": grads}


def _quantities(symbols: tuple[str, ...], trace_atoms: tuple[Atom, ...]) -> list[tuple[str, sp.Expr]]:
    """(name, rule) of every quantity, parents first: values, local derivatives, then ∂L/∂ backwards."""
    out = [(a.name, a.op.forward(*(_operand(o) for o in a.operands))) for a in trace_atoms]
    out += [(a.local_name(s), _local_rule(a, s)) for a in trace_atoms for s in a.inputs()]
    out.append((f"grad_{trace_atoms[-1].name}", sp.S.One))  # ∂L/∂L = 1: where backprop starts
    out += [(f"grad_{a.name}", _gradient_rule(trace_atoms, a.name)) for a in reversed(trace_atoms[:-1])]
    out += [(f"grad_{s}", _gradient_rule(trace_atoms, s)) for s in symbols]
    return out


def build_trace(expression: str) -> Trace:
    """Parse an expression and build its trace's graph; :class:`ExpressionError` if it is not one."""
    tree = parse_expression(expression)
    symbols = symbols_of(tree)
    if not symbols:
        raise ExpressionError("expected at least one symbol (such as w or x); got only numbers")
    if len(symbols) > MAX_SYMBOLS:
        raise ExpressionError(f"expected at most {MAX_SYMBOLS} symbols; got {len(symbols)}")
    trace_atoms = atoms(tree)
    rules = _quantities(symbols, trace_atoms)
    names = [n for n, _ in rules]
    quantities = tuple(Quantity(n, tuple(p for p in names if _sym(p) in rule.free_symbols), rule,
                                _symbol_latex(n, trace_atoms)) for n, rule in rules)
    graph = Graph(None, 1, quantities, tuple(_sym(s) for s in symbols),
                  MappingProxyType({n: k for k, n in enumerate(names)}),
                  symbol_names=tuple((q.name, q.printed) for q in quantities))
    return Trace(expression, symbols, trace_atoms, graph)


# --- values, the key and a problem to grade -------------------------------------------------

@dataclass(frozen=True)
class Values:
    """One student's values of the trace's symbols (symbol → number), in the trace's order."""

    values: tuple[tuple[str, float], ...]

    def as_dict(self) -> dict[str, float]:
        return dict(self.values)

    def __repr__(self) -> str:
        return "Values(" + ", ".join(f"{k}={v:g}" for k, v in self.values) + ")"


def exact_values(values: Values) -> dict[str, Fraction]:
    """The values as the exact decimals they are written as (0.1 is 1/10)."""
    return {k: Fraction(Decimal(repr(float(v)))) for k, v in values.values}


def trace_key(trace: Trace, values: Values, decimals: int, rounding: str = "carry"):
    """The trace's answer key: the rounded chain through its graph (:func:`derive.numeric.rounded_chain`)."""
    from .numeric import rounded_chain
    return rounded_chain(trace.graph, exact_values(values), decimals, rounding)


def trace_problem(trace: Trace, values: Values, decimals: int, rounding: str = "carry"):
    """A :class:`derive.grade.Problem` for the trace: grading with follow-through as for a network."""
    from .grade import Problem
    from .numeric import rounded
    givens = exact_values(values)
    key = trace_key(trace, values, decimals, rounding)
    carried = {**givens, **({n: rounded(v, decimals) for n, v in key.unrounded.items()}
                            if rounding == "carry" else key.unrounded)}
    return Problem(trace.graph, MappingProxyType(givens), key, values, MappingProxyType(carried))


def undefined_at(trace: Trace, values: Values, decimals: int, rounding: str = "carry") -> str | None:
    """Why some node has no value at these values (ln of a number ≤ 0, e^u beyond any number), or None."""
    from .numeric import Undefined
    try:
        trace_key(trace, values, decimals, rounding)
    except (Undefined, ArithmeticError) as e:
        return str(e) if isinstance(e, Undefined) else "a value too large to compute"
    return None


def poor_values(trace: Trace, values: Values, decimals: int, rounding: str = "carry") -> list[str]:
    """What makes these values a poor exercise: an undefined node, a ReLU at its kink, a node
    or gradient that is not zero but rounds to zero."""
    from .numeric import Undefined
    try:
        key = trace_key(trace, values, decimals, rounding)
    except (Undefined, ArithmeticError) as e:
        return [f"a node has no value ({e})"]
    out = [f"{n} rounds to zero" for n in trace.graph.names if key.unrounded[n] != 0 and key[n] == 0]
    for a in trace.atoms:
        if a.kind == "relu":
            o = a.operands[0]
            v = key.unrounded[o] if isinstance(o, str) and o in key.unrounded else exact_values(values).get(o)
            if v is not None and abs(v) < Fraction(KINK_MARGIN):
                out.append(f"{a.name}'s input is within {KINK_MARGIN} of the ReLU kink")
    return out


MAX_DRAWS = 2000


def draw_values(trace: Trace, fixed: Mapping[str, float], grid_values: tuple[float, ...], seed: int,
                decimals: int, rounding: str = "carry") -> Values:
    """The first good draw of the generator seeded with ``seed``: fixed symbols kept, the rest from the grid."""
    rng = np.random.default_rng(seed)
    grid = np.array(grid_values)
    for _ in range(MAX_DRAWS):
        drawn = grid[rng.integers(0, len(grid), size=len(trace.symbols))]
        values = Values(tuple((s, float(fixed[s]) if s in fixed else float(v))
                              for s, v in zip(trace.symbols, drawn)))
        if not poor_values(trace, values, decimals, rounding):
            return values
    raise DeriveError(f"no good values in {MAX_DRAWS} draws (seed {seed}); widen [random].weights "
                      "or change the expression", key="[graph]")


# --- a spec's trace: draws, keys, the sheet's context ------------------------------------------

@lru_cache(maxsize=64)
def trace_of(expression: str) -> Trace:
    """:func:`build_trace`, once per expression (every student of a class shares it)."""
    return build_trace(expression)


def spec_trace(spec) -> Trace:
    """The trace of a ``[graph]`` spec."""
    return trace_of(spec.trace.expression)


def fixed_values(spec) -> Values | None:
    """The spec's own values when it fixes every symbol, else None."""
    return Values(spec.trace.values) if spec.trace.is_fixed() else None


def draw_spec(spec, seed: int):
    """A student's :class:`derive.randomize.Draw` of a [graph] spec: its values in ``params``."""
    from .randomize import Draw
    ex = spec.exercise
    values = fixed_values(spec) or draw_values(spec_trace(spec), dict(spec.trace.values),
                                               spec.random.weights.values(), seed, ex.decimals, ex.rounding)
    return Draw(seed, values, spec.data)


def spec_key(spec, values: Values, rounding: str | None = None):
    """The key of a [graph] spec for these values (the spec's rounding rule unless given)."""
    ex = spec.exercise
    return trace_key(spec_trace(spec), values, ex.decimals, rounding or ex.rounding)


def values_from_dict(values: object, spec, where: str) -> Values:
    """A student's values as ``params.json`` holds them (``{"values": {"w": 2.0, …}}``), checked."""
    from .errors import ParamsError
    symbols = spec.trace.symbols
    ok = isinstance(values, dict) and set(values) == set(symbols) and all(
        isinstance(values[s], (int, float)) and not isinstance(values[s], bool) and np.isfinite(values[s])
        for s in symbols)
    if not ok:
        raise ParamsError(f'expected "values": a number for each of {", ".join(symbols)}', file=where)
    out = Values(tuple((s, float(values[s])) for s in symbols))
    if why := undefined_at(spec_trace(spec), out, spec.exercise.decimals, spec.exercise.rounding):
        raise ParamsError(f"{why} at these values; expected values where every node has one", file=where)
    return out


SECTION_INTROS = {
    "graph_forward": None,
    "graph_local": None,
    "graph_backward": (r"\frac{\partial L}{\partial v_n} = 1, \qquad \frac{\partial L}{\partial u} = "
                       r"\sum_{k\,:\,u \to v_k} \frac{\partial L}{\partial v_k}\,\frac{\partial v_k}{\partial u}"),
}
"""The words-free formula above each part of a trace sheet (the backward part's sums the paths)."""


def expression_latex(trace: Trace) -> str:
    """The whole expression, L = …, composed from the atoms' rules (as the sheet's notation prints it)."""
    from .latex import TeacherPrinter
    expr = _sym(trace.output)
    for a in reversed(trace.atoms):
        expr = _rename(expr, {_sym(a.name): a.op.forward(*(_operand(o) for o in a.operands))})
    return "L = " + TeacherPrinter((), ln_notation=True).doprint(_flat(expr))


def _flat(expr: sp.Expr) -> sp.Expr:
    """A sum inside a sum made one sum, in order: (w x + b) − y prints as w x + b − y."""
    if not expr.args:
        return expr
    args = [_flat(a) for a in expr.args]
    if expr.is_Add:
        return _add(*[t for a in args for t in (a.args if a.is_Add else (a,))])
    return expr.func(*args, evaluate=False) if isinstance(expr, (sp.Mul, sp.Pow)) else expr.func(*args)


def _rename(expr: sp.Expr, mapping) -> sp.Expr:
    from .symbolic import rename
    return rename(expr, mapping)


def _label(atom: Atom) -> str:
    """A node's LaTeX in the drawing: its operation, with any constant it applies (+ 3, × 2)."""
    from .worked import given_number
    constants = [given_number(float(o)) for o in atom.operands if not isinstance(o, str)]
    if atom.kind == "inv1p" or not constants:
        return atom.op.label
    return atom.op.label + r"\," + r"\,".join(constants)


def layout(trace: Trace) -> dict:
    """Where the drawing puts each symbol and node (cm), left to right.

    A node stands one column right of its furthest input, an input one column left of its
    first user (so its arrow is short); a column's nodes are centred on the middle line and
    its inputs stacked below them (or centred, in a column of inputs only).
    """
    column = {}
    for a in trace.atoms:
        column[a.name] = 1 + max((column.get(o, 0) for o in a.inputs() if o in column), default=0)
    for s in trace.symbols:
        column[s] = min(column[a.name] for a in trace.atoms if s in a.inputs()) - 1
    place = {}
    for c in sorted(set(column.values())):
        nodes = [a.name for a in trace.atoms if column[a.name] == c]
        inputs = [s for s in trace.symbols if column[s] == c]
        top = (len(nodes) - 1) / 2 if nodes else (len(inputs) - 1) / 2
        for r, name in enumerate(nodes + inputs):
            place[name] = (f"{2.4 * c:.2f}", f"{1.5 * (top - r):.2f}")
    return place


def _edge(source: str, target: str, place: dict) -> str:
    """The TikZ path of an arrow from an input or node to a node; one that skips a column
    runs below the whole drawing, so it crosses no node and no value."""
    tikz = lambda n: n if re.fullmatch(r"v\d+", n) else f"s-{n}"
    (x1, _), (x2, y2) = (tuple(map(float, place[n])) for n in (source, target))
    if x2 - x1 < 3:  # neighbouring columns: a straight arrow
        return f"({tikz(source)}) -- ({tikz(target)})"
    low = min(float(y) for _, y in place.values()) - 1.2
    # out of the bottom, under everything, and in from the right, clear of the value under the node
    return (f"({tikz(source)}.south) .. controls ({x1:.2f}, {low:.2f}) and ({x2 + 1.7:.2f}, {low:.2f}) .. "
            f"({x2 + 1.2:.2f}, {y2:.2f}) -- ({tikz(target)}.east)")


def trace_context(spec, student, values: Values, key, engine: str = "pdflatex", fonts: tuple | None = None,
                  sheet_code: str | None = None) -> dict:
    """The context of one student's trace sheet (both variants): sections of worked lines and the drawing."""
    from .numeric import show
    from .worked import given_number, header_context, worked_line
    trace = spec_trace(spec)
    given = values.as_dict()
    groups = trace.section_names()
    sections = [{"name": name, "intro": SECTION_INTROS[name],
                 "items": [worked_line(trace.graph, n, key, given) for n in groups[name]]} for name in groups]
    place = layout(trace)
    return {
        **header_context(spec, student, engine, fonts, sheet_code),
        "learning_rate": None,
        "trace": {
            "expression": expression_latex(trace),
            "inputs": [{"name": s, "latex": sp.latex(_sym(s)), "value": given_number(given[s]),
                        "grad": show(key[f"grad_{s}"]), "x": place[s][0], "y": place[s][1]} for s in trace.symbols],
            "nodes": [{"name": a.name, "label": _label(a), "value": show(key[a.name]),
                       "grad": show(key[f"grad_{a.name}"]),
                       "x": place[a.name][0], "y": place[a.name][1],
                       "edges": [_edge(o, a.name, place) for o in a.inputs()]}
                      for a in trace.atoms],
        },
        "sections": sections,
        "derivation": [],
    }
