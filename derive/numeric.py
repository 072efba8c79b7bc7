"""The numeric stage: lambdified NumPy evaluation of a Derivation.

Also home of the one rounding function: the solved sheet, the answer key
and the grader all round through :func:`quantize`, so they cannot disagree.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

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
    return str(quantize(value, decimals))


# --- lambdify once per architecture ---------------------------------------------

from dataclasses import dataclass  # noqa: E402
from functools import lru_cache  # noqa: E402
from types import MappingProxyType  # noqa: E402
from typing import Callable, Mapping  # noqa: E402

import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402

from . import names  # noqa: E402
from .functions import ACTIVATIONS, LAMBDIFY_MODULES, LOSSES, np_softmax  # noqa: E402
from .spec import Data, Network, Params  # noqa: E402
from .symbolic import derive_network  # noqa: E402


def _lambdify(args, expr):
    return sp.lambdify(args, expr, modules=LAMBDIFY_MODULES, cse=True)


@dataclass(frozen=True)
class Program:
    """The derivation's expressions as NumPy functions, compiled once per architecture.

    The elementwise rules (g, g′ in z and a, the closed-form δ⁽ᴸ⁾, the loss)
    are lambdified from the SymPy expressions; the sums over units that the
    recursion z = W a + b, δ⁽ˡ⁾ = (W⁽ˡ⁺¹⁾)ᵀδ⁽ˡ⁺¹⁾ ⊙ g′ and ∂W = δ aᵀ prescribe
    run as matrix products over a whole batch at once.
    """

    network: Network
    activation: tuple[Callable, ...]   # layer l−1: Z → A, applied to an (N, n_l) array
    derivative: tuple[Callable, ...]   # hidden layer l−1: (Z, A) → g′
    output_delta: Callable             # (ŷ columns…, y columns…, z columns…) → δ⁽ᴸ⁾ columns
    loss: Callable                     # (ŷ or z columns…, y columns…) → per-example loss
    loss_from_logits: bool


def _activation_fn(name: str) -> Callable:
    if name == "softmax":  # a vector function: the stable form of exp(z_j)/Σ_k exp(z_k)
        return np_softmax
    z = sp.Symbol("z", real=True)
    return _lambdify([z], ACTIVATIONS[name].g([z], 0))


def _derivative_fn(name: str) -> Callable:
    z, a = sp.symbols("z a", real=True)
    return _lambdify([z, a], ACTIVATIONS[name].derivative(z, a))


@lru_cache(maxsize=64)
def compile_network(net: Network) -> Program:
    """Lambdify a network's derivation (cached per architecture)."""
    d = derive_network(net)
    zL, yhat, y = d.z[-1], d.yhat, d.y
    loss = LOSSES[net.loss]
    logit = (loss.logit_form or {}).get(net.activations[-1])
    loss_fn = (_lambdify([*zL, *y], logit(list(zL), list(y))) if logit
               else _lambdify([*yhat, *y], d.loss_expr))
    return Program(
        network=net,
        activation=tuple(_activation_fn(a) for a in net.activations),
        derivative=tuple(_derivative_fn(a) for a in net.activations[:-1]),
        output_delta=_lambdify([*yhat, *y, *zL], list(d.output_delta)),
        loss=loss_fn,
        loss_from_logits=logit is not None,
    )


# --- evaluating -------------------------------------------------------------------

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


@dataclass(frozen=True)
class Pass:
    """One forward and backward pass over a batch: per-layer arrays, rows = examples."""

    z: tuple[np.ndarray, ...]
    a: tuple[np.ndarray, ...]       # a[0] is x; a[l] is a⁽ˡ⁾
    losses: np.ndarray              # per example
    delta: tuple[np.ndarray, ...]   # δ⁽ˡ⁾ of each example's loss
    dW: tuple[np.ndarray, ...]      # means over the batch
    db: tuple[np.ndarray, ...] | None

    @property
    def loss(self) -> float:
        """The batch loss: the mean over examples."""
        return float(self.losses.sum() / len(self.losses))


def _columns(m: np.ndarray) -> list[np.ndarray]:
    return list(m.T)


def _stack(cols: list, n: int) -> np.ndarray:
    """Columns (arrays, or constants where an expression has no variable) → (n, k)."""
    if len(cols) == 1 and getattr(cols[0], "shape", None) == (n,):
        return cols[0][:, None]
    return np.column_stack([np.broadcast_to(c, (n,)) for c in cols])


def forward(prog: Program, p: Arrays, X: np.ndarray) -> tuple[list, list]:
    """z⁽ˡ⁾ = a⁽ˡ⁻¹⁾ W⁽ˡ⁾ᵀ + b⁽ˡ⁾ and a⁽ˡ⁾ = g(z⁽ˡ⁾) for every example (rows of X)."""
    zs, As = [], [X]
    for l, W in enumerate(p.W):
        Z = As[-1] @ W.T
        if p.b is not None:
            Z = Z + p.b[l]
        zs.append(Z)
        As.append(prog.activation[l](Z))
    return zs, As


def example_losses(prog: Program, zs: list, As: list, Y: np.ndarray) -> np.ndarray:
    """Each example's loss, from z⁽ᴸ⁾ where the loss has a stable logit form."""
    out = zs[-1] if prog.loss_from_logits else As[-1]
    return _stack([prog.loss(*_columns(out), *_columns(Y))], len(Y))[:, 0]


def run(prog: Program, p: Arrays, X: np.ndarray, Y: np.ndarray) -> Pass:
    """Forward pass, loss, δ for every layer and the batch-mean gradients."""
    zs, As = forward(prog, p, X)
    n = len(X)
    cols = prog.output_delta(*_columns(As[-1]), *_columns(Y), *_columns(zs[-1]))
    deltas = [_stack(cols, n)]
    for l in range(len(p.W) - 2, -1, -1):
        deltas.insert(0, (deltas[0] @ p.W[l + 1]) * prog.derivative[l](zs[l], As[l + 1]))
    dW = tuple(D.T @ A / n for D, A in zip(deltas, As[:-1]))
    db = None if p.b is None else tuple(D.sum(axis=0) / n for D in deltas)
    return Pass(tuple(zs), tuple(As), example_losses(prog, zs, As, Y), tuple(deltas), dW, db)


def step(p: Arrays, result: Pass, learning_rate: float) -> Arrays:
    """One gradient-descent step: W ← W − η ∂L/∂W, b ← b − η ∂L/∂b."""
    W = tuple(W - learning_rate * g for W, g in zip(p.W, result.dW))
    b = None if p.b is None else tuple(b - learning_rate * g for b, g in zip(p.b, result.db))
    return Arrays(W, b)


def batch(data: Data) -> tuple[np.ndarray, np.ndarray]:
    """The examples as (N, n_0) and (N, n_L) arrays."""
    return np.array(data.x, dtype=float), np.array(data.y, dtype=float)


# --- the Solution: every answer name → value ------------------------------------

@dataclass(frozen=True)
class Solution:
    """Every answer name of DESIGN.md → its value (float64), in worksheet order."""

    values: Mapping[str, float]

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def __iter__(self):
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return f"Solution({len(self.values)} answers, loss={self.values.get('loss')})"

    def __reduce__(self):  # a read-only mapping does not pickle; its contents do
        return _solution, (dict(self.values),)


def _solution(values: dict) -> Solution:
    return Solution(MappingProxyType(values))


def _unit_values(r: Pass, s: int, suffix: int | None) -> dict[str, float]:
    """z, a, δ of example s (from 0), named with the example suffix when batched."""
    out = {}
    for l in range(1, len(r.z) + 1):
        for j in range(r.z[l - 1].shape[1]):
            for kind, arr in (("z", r.z[l - 1]), ("a", r.a[l]), ("delta", r.delta[l - 1])):
                out[names.make(kind, l, j + 1, sample=suffix)] = float(arr[s, j])
    if suffix is not None:
        out[names.make("loss", sample=suffix)] = float(r.losses[s])
    return out


def _parameter_values(p: Arrays, r: Pass, new: Arrays) -> dict[str, float]:
    out = {}
    for l, (W, g, W2) in enumerate(zip(p.W, r.dW, new.W), start=1):
        for (j, i), v in np.ndenumerate(g):
            out[names.make("dW", l, j + 1, i + 1)] = float(v)
            out[names.make("new_W", l, j + 1, i + 1)] = float(W2[j, i])
        if p.b is not None:
            for j, v in enumerate(r.db[l - 1]):
                out[names.make("db", l, j + 1)] = float(v)
                out[names.make("new_b", l, j + 1)] = float(new.b[l - 1][j])
    return out


def solve(net: Network, params: Params, data: Data, learning_rate: float) -> Solution:
    """Evaluate every answer name for one parameter set and batch."""
    prog = compile_network(net)
    p = Arrays.of(params)
    r = run(prog, p, *batch(data))
    values = {"loss": r.loss}
    n = data.size
    for s in range(n):
        values |= _unit_values(r, s, None if n == 1 else s + 1)
    values |= _parameter_values(p, r, step(p, r, learning_rate))
    return _solution(dict(sorted(values.items(), key=lambda kv: names.sort_key(kv[0]))))


# --- finite differences ------------------------------------------------------------

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


def gradcheck(net: Network, params: Params, data: Data, h: float = 1e-3) -> tuple[GradCheck, ...]:
    """Compare every ∂L/∂θ with a fourth-order central difference of the loss.

    (−f(θ+2h) + 8f(θ+h) − 8f(θ−h) + f(θ−2h)) / 12h has error O(h⁴), so h can
    be large enough that rounding in L does not swamp it.
    """
    prog = compile_network(net)
    X, Y = batch(data)
    p = Arrays.of(params)
    r = run(prog, p, X, Y)
    rows = []
    for name, arr, index, analytic in _parameter_slots(p, r):
        def f(delta):
            old = arr[index]
            arr[index] = old + delta
            try:
                zs, As = forward(prog, p, X)
                return example_losses(prog, zs, As, Y).mean()
            finally:
                arr[index] = old
        numeric = (-f(2 * h) + 8 * f(h) - 8 * f(-h) + f(-2 * h)) / (12 * h)
        rows.append(GradCheck(name, analytic, float(numeric), relative_error(analytic, numeric)))
    return tuple(rows)


def _parameter_slots(p: Arrays, r: Pass):
    """(gradient name, array, index, analytic value) for every parameter."""
    for l, (W, g) in enumerate(zip(p.W, r.dW), start=1):
        for (j, i), v in np.ndenumerate(g):
            yield names.make("dW", l, j + 1, i + 1), W, (j, i), float(v)
        if p.b is not None:
            for j, v in enumerate(r.db[l - 1]):
                yield names.make("db", l, j + 1), p.b[l - 1], (j,), float(v)


def near_kinks(net: Network, params: Params, data: Data, margin: float = 1e-2) -> list[str]:
    """Units whose pre-activation sits within ``margin`` of a ReLU kink (FD unreliable there)."""
    zs, _ = forward(compile_network(net), Arrays.of(params), batch(data)[0])
    out = []
    for l, (Z, act) in enumerate(zip(zs, net.activations), start=1):
        if ACTIVATIONS[act].kinked:
            out += [names.make("z", l, j + 1) for j in range(Z.shape[1]) if np.any(np.abs(Z[:, j]) < margin)]
    return out
