"""The numeric stage: evaluating the graph, in float64 and in exact decimal.

Two routes through the same :class:`~derive.symbolic.Graph`, neither with a
formula of its own:

- **float64**, for solving, training, finite differences and big nets: the
  graph is lambdified once into straight-line code, one assignment per
  quantity, that takes floats (or NumPy arrays, to evaluate many parameter
  sets at once);
- **exact**, for the key: each rule is evaluated in fractions (+ − × ÷, so
  ties and ReLU kinks are decided exactly) with exp, ln and tanh to 60
  significant digits, on its parents' *printed* values — the rounded chain a
  student follows by hand.

Also home of the one rounding function: the solved sheet, the answer key
and the grader all round through :func:`quantize` or :func:`round_half_up`.
"""
from __future__ import annotations

import decimal
import functools
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from fractions import Fraction
from functools import lru_cache
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np
import sympy as sp

from . import functions as fn
from .functions import LAMBDIFY_MODULES, SCALAR_MODULES
from .spec import Data, Network, Params
from .symbolic import Graph, build_graph, given_name
from .errors import Undefined  # noqa: F401  (numeric.Undefined: where the exact route raises it)

# enough digits for any finite float (a typed 1e300 too) at any sheet's decimals
_CONTEXT = Context(prec=400, rounding=ROUND_HALF_UP)


def quantize(value: float, decimals: int) -> Decimal:
    """Round half-up to ``decimals`` places, as a teacher rounds by hand.

    Goes through ``repr`` so that 0.125 rounds to 0.13, and never yields -0.
    """
    q = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), context=_CONTEXT)
    return q if q != 0 else abs(q)


def format_number(value: float, decimals: int) -> str:
    """The printed form of a rounded value, e.g. ``-0.2040`` (ASCII minus)."""
    return show(quantize(value, decimals))


def show(value: Decimal) -> str:
    """A decimal as a sheet prints it: plain digits, never ``0E-7`` or ``1.5E+3``."""
    return format(value, "f")


def round_half_up(value: Fraction, decimals: int) -> Decimal:
    """An exact value rounded to ``decimals`` places, halves away from zero (never -0)."""
    return Decimal(_units(value, decimals)).scaleb(-decimals)


def rounded(value: Fraction, decimals: int) -> Fraction:
    """The same rounding, as the exact value a student carries."""
    return Fraction(_units(value, decimals), 10 ** decimals)


def _units(value: Fraction, decimals: int) -> int:
    """round(value · 10^decimals), halves away from zero, in integers (Fraction arithmetic is slow)."""
    n, d = value.numerator, value.denominator
    units = (2 * abs(n) * 10 ** decimals + d) // (2 * d)
    return -units if n < 0 else units


def exact(value: float | str | Decimal) -> Fraction:
    """A given or typed number as the exact decimal it is written as (0.1 is 1/10)."""
    if isinstance(value, float):
        value = repr(value)
    return Fraction(Decimal(value))


# --- the givens: x, y, W, b, η by symbol name -----------------------------------

def given_values(graph: Graph, params: Params, data: Data, learning_rate: float) -> dict[str, float]:
    """The value of every given symbol of the graph's rules (x, y per example, W, b, η)."""
    out: dict[str, float] = {"eta": learning_rate}
    batched = graph.samples > 1
    for s, (x, y) in enumerate(zip(data.x, data.y), start=1):
        out |= {given_name("x", i, s if batched else None): v for i, v in enumerate(x, start=1)}
        out |= {given_name("y", k, s if batched else None): v for k, v in enumerate(y, start=1)}
    out |= {k: v for k, v in _parameter_values(params)}
    return out


def _parameter_values(params: Params):
    for l, W in enumerate(params.W, start=1):
        for j, row in enumerate(W, start=1):
            for i, w in enumerate(row, start=1):
                yield f"W{l}_{j}_{i}", w
        if params.b is not None:
            for j, b in enumerate(params.b[l - 1], start=1):
                yield f"b{l}_{j}", b


# --- the float64 route ---------------------------------------------------------------

@lru_cache(maxsize=128)
def float_program(graph: Graph, scalar: bool = False) -> Callable:
    """The graph as one function of its givens returning every quantity, in graph order.

    Straight-line code, one assignment per quantity (the stable form where
    the rule would overflow).  ``scalar``: Python floats through ``math``,
    fastest for one small exercise; else NumPy, for arrays of parameter sets.
    """
    symbols = [sp.Symbol(q.name, real=True) for q in graph.quantities]
    steps = [(s, q.stable if q.stable is not None else q.rule) for s, q in zip(symbols, graph.quantities)]
    return sp.lambdify(graph.given, symbols, modules=SCALAR_MODULES if scalar else LAMBDIFY_MODULES,
                       cse=lambda exprs: (steps, exprs))


def evaluate(graph: Graph, given: Mapping[str, object], scalar: bool = False) -> dict[str, object]:
    """Every quantity of the graph from the given values, in float64."""
    values = float_program(graph, scalar)(*(given[s.name] for s in graph.given))
    return dict(zip(graph.names, values))


class _ByName:
    """Read access to ``values`` by answer name, in worksheet order (a Solution, a Key)."""

    def __getitem__(self, name: str):
        return self.values[name]

    def __iter__(self):
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Solution(_ByName):
    """Every answer name of DESIGN.md → its value (float64), in worksheet order."""

    values: Mapping[str, float]

    def __repr__(self) -> str:
        return f"Solution({len(self.values)} answers, loss={self.values.get('loss')})"

    def __reduce__(self):  # a read-only mapping does not pickle; its contents do
        return _solution, (dict(self.values),)


def _solution(values: dict) -> Solution:
    return Solution(MappingProxyType(values))


def solve(net: Network, params: Params, data: Data, learning_rate: float) -> Solution:
    """Every answer name's float64 value for one parameter set and batch (nothing rounded)."""
    graph = build_graph(net, data.size)
    with np.errstate(all="ignore"):
        values = evaluate(graph, given_values(graph, params, data, learning_rate))
    return _solution({k: float(v) for k, v in values.items()})


# --- the exact route -------------------------------------------------------------------

_DIGITS = Context(prec=60, rounding=ROUND_HALF_UP, Emax=10**6, Emin=-10**6)




def _decimal(v: Fraction) -> Decimal:
    return _DIGITS.divide(Decimal(v.numerator), Decimal(v.denominator))


def _exp(v: Fraction) -> Fraction:
    return Fraction(_DIGITS.exp(_decimal(v)))


def _ln(v: Fraction) -> Fraction:
    if v <= 0:
        raise Undefined("ln of a number ≤ 0")
    return Fraction(_DIGITS.ln(_decimal(v)))


def _tanh(v: Fraction) -> Fraction:
    e = _exp(-2 * abs(v))  # tanh|v| = (1 − e^(−2|v|)) / (1 + e^(−2|v|)): no overflow
    t = (1 - e) / (1 + e)
    return t if v >= 0 else -t


def _sqrt(v: Fraction) -> Fraction:
    if v < 0:
        raise Undefined("square root of a number < 0")
    return Fraction(_DIGITS.sqrt(_decimal(v)))


def _sigmoid(v: Fraction) -> Fraction:
    if v < 0:  # e^v / (1 + e^v): e^(−v) would overflow at z = −10¹² (weights and inputs of 10⁶)
        e = _exp(v)
        return e / (1 + e)
    return 1 / (1 + _exp(-v))


def _sign(v: Fraction) -> Fraction:
    return Fraction((v > 0) - (v < 0))


def _logsumexp(*vs: Fraction) -> Fraction:
    m = max(vs)
    return m + _ln(sum(_exp(v - m) for v in vs))


_EXACT_FUNCTIONS: dict[type, Callable] = {
    sp.exp: _exp, sp.log: _ln, sp.tanh: _tanh, sp.Abs: abs, sp.sign: _sign, sp.Max: max,
    fn.sigmoid: _sigmoid,
    fn.relu: lambda z: z if z > 0 else Fraction(0),
    fn.step: lambda z: Fraction(1 if z > 0 else 0),
    fn.leaky_relu: lambda z: z if z > 0 else z / 100,
    fn.leaky_step: lambda z: Fraction(1) if z > 0 else Fraction(1, 100),
    fn.softplus: lambda z: _ln(1 + _exp(z)) if z <= 0 else z + _ln(1 + _exp(-z)),
    fn.logsumexp: _logsumexp,
}
"""Each function a rule may use → its exact evaluation (comparisons on exact values)."""


def _power(base: Fraction, n: int) -> Fraction:
    if n < 0 and base == 0:
        raise Undefined("division by 0")
    return base ** n


@lru_cache(maxsize=8192)
def exact_rule(expr: sp.Expr) -> Callable[[Mapping[str, Fraction]], Fraction]:
    """Compile a rule into a function of exact values by symbol name (cached per rule)."""
    if expr.is_Symbol:
        name = expr.name
        return lambda env: env[name]
    if expr.is_Rational:
        c = Fraction(int(expr.p), int(expr.q))
        return lambda env: c
    if expr.is_Number:
        c = Fraction(Decimal(str(expr)))
        return lambda env: c
    node = _compound(expr, tuple(exact_rule(a) for a in expr.args))
    free = tuple(sorted(s.name for s in expr.free_symbols))
    return node if len(free) < _SHARED else _remembered(node, free)


def _compound(expr: sp.Expr, args: tuple[Callable, ...]) -> Callable:
    if expr.is_Add:
        return lambda env: sum(f(env) for f in args)
    if expr.is_Mul:
        return lambda env: math.prod((f(env) for f in args), start=Fraction(1))
    if expr.is_Pow and expr.exp.is_Integer:
        base, n = args[0], int(expr.exp)
        return lambda env: _power(base(env), n)
    if expr.is_Pow and expr.exp == sp.S.Half:  # √u, in a computation-graph trace
        return lambda env: _sqrt(args[0](env))
    f = _EXACT_FUNCTIONS[expr.func]
    return lambda env: f(*(a(env) for a in args))


_SHARED = 4
"""A part of a rule that reads this many symbols or more is remembered by their values: a rule
written out in the givens (derive.lab's L(θ ± ε) and training steps) meets the same forward
pass in every term, which is then computed once (measured: the key of random-221-lab.toml, a
2-2-1 sheet with a gradient check and 3 training steps, took 229 exp and ln a student without
this, 41 with it, the plain 2-2-1 key 5 either way; seconds: benchmarks/bench_sections.py)."""


_KEPT = 8
"""Values kept a part (:func:`_remembered`): 8 or 10⁹ made no difference to the count above."""


def _remembered(node: Callable, free: tuple[str, ...]) -> Callable:
    """``node``, with up to :data:`_KEPT` values kept by the values of the symbols it reads (one
    student's key meets each within a few calls; a few entries a part keep a class's memory flat)."""
    values: dict = {}

    def remembered(env):
        k = tuple(part for n in free for part in env[n].as_integer_ratio())  # ints hash fast, Fractions don't
        v = values.get(k)
        if v is None:
            if len(values) >= _KEPT:
                values.clear()
            v = values[k] = node(env)
        return v
    return remembered


def evaluate_exact(rule: sp.Expr, env: Mapping[str, Fraction]) -> Fraction:
    """One rule's exact value; :class:`Undefined` where it has none."""
    try:
        return exact_rule(rule)(env)
    except (ZeroDivisionError, KeyError, decimal.InvalidOperation) as e:
        raise Undefined(str(e)) from e
    except decimal.Overflow as e:  # beyond 10^(10^6): no exact value to carry, on a sheet or off it
        raise Undefined("a value too large to compute") from e


@dataclass(frozen=True)
class Key(_ByName):
    """The answer key: every answer name → its printed (rounded) value, in worksheet order.

    ``rounding`` is ``"carry"`` (each rule on its parents' printed values:
    the rounded chain) or ``"exact"`` (full precision carried, rounded once);
    ``unrounded`` holds each quantity's exact value from the parents used.
    """

    values: Mapping[str, Decimal]
    unrounded: Mapping[str, Fraction]
    decimals: int
    rounding: str

    def __repr__(self) -> str:
        return f"Key({len(self.values)} answers at {self.decimals} decimals, {self.rounding})"

    def printed(self, name: str) -> str:
        """The value as the sheet prints it, e.g. ``-0.7400``."""
        return show(self.values[name])

    def __reduce__(self):  # read-only mappings do not pickle; their contents do
        return _key, (dict(self.values), dict(self.unrounded), self.decimals, self.rounding)


def _key(values: dict, unrounded: dict, decimals: int, rounding: str) -> "Key":
    return Key(MappingProxyType(values), MappingProxyType(unrounded), decimals, rounding)


def exact_givens(graph: Graph, params: Params, data: Data, learning_rate: float) -> dict[str, Fraction]:
    """The givens as exact decimals (0.1 is 1/10, not the nearest float)."""
    return {k: exact(v) for k, v in given_values(graph, params, data, learning_rate).items()}


def value_of(graph: Graph, name: str, env: Mapping[str, Fraction]) -> Fraction:
    """A quantity's exact value from ``env``: its rule, else its stable form (ŷ rounded to 1 in a BCE)."""
    q = graph[name]
    try:
        return evaluate_exact(q.rule, env)
    except Undefined:
        if q.stable is None:
            raise
        return evaluate_exact(q.stable, env)


def rounded_chain(graph: Graph, givens: Mapping[str, Fraction], decimals: int,
                  rounding: str = "carry", places: Mapping[str, int] | None = None) -> Key:
    """Evaluate the graph exactly, carrying printed values (``carry``) or full precision (``exact``).

    ``places``: answers printed to more places than ``decimals`` (a gradient check's L(θ±ε)).
    """
    env = dict(givens)
    printed, unrounded = {}, {}
    places = places or {}
    for q in graph.quantities:
        try:
            v = value_of(graph, q.name, env)
        except Undefined as e:
            raise Undefined(f"{q.name} has no value: {e}") from e
        d = places.get(q.name, decimals)
        unrounded[q.name] = v
        printed[q.name] = round_half_up(v, d)
        env[q.name] = rounded(v, d) if rounding == "carry" else v
    return Key(MappingProxyType(printed), MappingProxyType(unrounded), decimals, rounding)


def key(net: Network, params: Params, data: Data, learning_rate: float, decimals: int,
        rounding: str = "carry") -> Key:
    """The answer key of one exercise: the rounded chain (or the exact chain), computed exactly."""
    graph = build_graph(net, data.size)
    return rounded_chain(graph, exact_givens(graph, params, data, learning_rate), decimals, rounding)


# --- parameters as arrays, and finite differences ---------------------------------------

@dataclass(frozen=True)
class Arrays:
    """Parameters as float64 arrays: ``W[l-1]`` (n_l, n_{l−1}), ``b[l-1]`` (n_l,) or None."""

    W: tuple[np.ndarray, ...]
    b: tuple[np.ndarray, ...] | None

    @classmethod
    def of(cls, params: Params) -> "Arrays":
        return cls(tuple(np.array(W, dtype=float) for W in params.W),
                   None if params.b is None else tuple(np.array(b, dtype=float) for b in params.b))

    def to_params(self) -> Params:
        t = lambda m: tuple(tuple(float(v) for v in row) for row in m)
        return Params(tuple(t(W) for W in self.W),
                      None if self.b is None else tuple(tuple(float(v) for v in b) for b in self.b))


def layer_values(values: Mapping[str, object], kind: str, net: Network, samples: int) -> list[np.ndarray]:
    """A kind of unit quantity (``z``, ``a``, ``delta``) as one (examples × units) array per layer."""
    suffix = (lambda s: "") if samples == 1 else (lambda s: f"_s{s}")
    return [np.array([[float(values[f"{kind}{l}_{j}{suffix(s)}"]) for j in range(1, net.layers[l] + 1)]
                      for s in range(1, samples + 1)]) for l in range(1, net.depth + 1)]


@dataclass(frozen=True)
class GradCheck:
    """One parameter's analytic and numeric derivative and their relative error."""

    name: str
    analytic: float
    numeric: float
    rel_error: float


REL_FLOOR = 1e-4
"""Magnitudes below this count as this in the relative error, so that a
gradient that is zero up to rounding is compared absolutely."""


def relative_error(a: float, n: float) -> float:
    """|a − n| / max(|a|, |n|, REL_FLOOR)."""
    return abs(a - n) / max(abs(a), abs(n), REL_FLOOR)


FD_STEPS = np.array([2.0, 1.0, -1.0, -2.0])
"""θ + kh for the fourth-order central difference."""


def gradcheck(net: Network, params: Params, data: Data, h: float = 1e-3) -> tuple[GradCheck, ...]:
    """Compare every ∂L/∂θ with a fourth-order central difference of the loss.

    (−f(θ+2h) + 8f(θ+h) − 8f(θ−h) + f(θ−2h)) / 12h has error O(h⁴), so h can
    be large enough that rounding in L does not swamp it.  The four losses of
    one parameter come from one call of the graph, with θ as an array.
    """
    graph = build_graph(net, data.size)
    given = given_values(graph, params, data, 0.0)
    with np.errstate(all="ignore"):
        analytic = evaluate(graph, given)
        rows = []
        for name, theta in _parameter_values(params):
            losses = evaluate(graph, {**given, name: theta + h * FD_STEPS})["loss"]
            numeric = float((-losses[0] + 8 * losses[1] - 8 * losses[2] + losses[3]) / (12 * h))
            g = float(analytic["d" + name])
            rows.append(GradCheck("d" + name, g, numeric, relative_error(g, numeric)))
    return tuple(rows)


def near_kinks(net: Network, params: Params, data: Data, margin: float = 1e-2) -> list[str]:
    """Units whose pre-activation sits within ``margin`` of a ReLU kink (FD unreliable there)."""
    zs = layer_values(solve(net, params, data, 0.0).values, "z", net, data.size)
    out = []
    for l, (Z, act) in enumerate(zip(zs, net.activations), start=1):
        if fn.ACTIVATIONS[act].kinked:
            out += [f"z{l}_{j + 1}" for j in range(Z.shape[1]) if np.any(np.abs(Z[:, j]) < margin)]
    return out


# --- the float route rule by rule: for rules rewritten on the fly -----------------------

_ARRAY_FUNCTIONS: dict[str, Callable] = {
    "exp": np.exp, "log": np.log, "tanh": np.tanh, "Abs": np.abs, "sign": np.sign,
    "Max": lambda *a: functools.reduce(np.maximum, a), **fn.NUMPY_FUNCTIONS}
"""SymPy function name → the NumPy function lambdify maps it to (the same stable forms)."""


@lru_cache(maxsize=8192)
def array_rule(expr: sp.Expr) -> Callable[[Mapping[str, object]], object]:
    """Compile a rule into a function of float64 arrays by symbol name (cached per rule).

    The twin of :func:`exact_rule` for floats: a tree of closures, built in
    microseconds, where lambdify's code generation takes milliseconds a rule.
    Code checking evaluates dozens of rewritten graphs (one per named mistake),
    each once, so compiling fast matters more than evaluating fast.
    """
    if expr.is_Symbol:
        name = expr.name
        return lambda env: env[name]
    if expr.is_Number:
        c = float(expr)
        return lambda env: c
    args = tuple(array_rule(a) for a in expr.args)
    if expr.is_Add:
        return lambda env: sum(f(env) for f in args)
    if expr.is_Mul:
        return lambda env: math.prod((f(env) for f in args), start=1.0)
    if expr.is_Pow:
        base, power = args
        return lambda env: np.power(base(env), power(env))
    f = _ARRAY_FUNCTIONS[expr.func.__name__]
    return lambda env: f(*(a(env) for a in args))


def evaluate_rewritten(graph: Graph, given: Mapping[str, object],
                       rules: Mapping[str, sp.Expr]) -> dict[str, object]:
    """Every quantity in float64 with some rules replaced: ``rules`` maps answer names to the rule
    used instead (a mistake's rewrite); every other quantity keeps its own (stable) rule, so a
    replaced quantity's error flows on into everything computed from it."""
    env = dict(given)
    with np.errstate(all="ignore"):
        for q in graph.quantities:
            rule = rules.get(q.name, q.stable if q.stable is not None else q.rule)
            env[q.name] = array_rule(rule)(env)
    return {name: env[name] for name in graph.names}
