"""The formulas of backprop one step at a time, right and (commonly) wrong.

Every quantity on a worksheet is computed from a few earlier ones, its
*parents*: z⁽ˡ⁾ from a⁽ˡ⁻¹⁾ (and the given W, b), a⁽ˡ⁾ from z⁽ˡ⁾, the loss
from ŷ, δ⁽ᴸ⁾ from ŷ (and z⁽ᴸ⁾), δ⁽ˡ⁾ from δ⁽ˡ⁺¹⁾ and z⁽ˡ⁾ or a⁽ˡ⁾, ∂W and ∂b
from δ and a, the update from the gradient.  :func:`reevaluate` applies the
right formula to whatever parent values it is given (a student's own
answers, for error carried forward); :func:`mistake_values` applies the
wrong formulas of :data:`MISTAKES`.  Which symbols are parents is read off
the symbolic stage's layered expressions, and the maths is evaluated by the
numeric stage's compiled :class:`~derive.numeric.Program`; nothing here
writes a formula a second time except the mistakes themselves.

A batch is supported throughout: per-example quantities carry ``_s{n}``,
the batch loss is the mean of the examples' losses and ∂W, ∂b the means of
the examples' δ aᵀ and δ.
"""
from __future__ import annotations

import math
from decimal import Decimal
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np
import sympy as sp

from . import names
from .functions import ACTIVATIONS, LAMBDIFY_MODULES
from .numeric import Arrays, Program, batch, compile_network, quantize, solve
from .spec import Data, Network, Params
from .symbolic import derive_network

MISTAKES: dict[str, str] = {
    "no_activation_derivative":
        "δ is missing the factor g′(z): after taking ∂L/∂ŷ (at the output) or multiplying "
        "by the weights (in a hidden layer) you still multiply by the activation's derivative.",
    "derivative_at_a":
        "The activation's derivative was evaluated at a instead of at z: for the sigmoid "
        "σ′(z) = σ(z)(1−σ(z)) = a(1−a), not σ(a)(1−σ(a)).",
    "delta_sign":
        "δ has the wrong sign: at the output it starts from ŷ − y (prediction minus target), "
        "not y − ŷ.",
    "half_or_mean_factor":
        "A constant factor is off: a ½ or the 1/n of a mean was dropped or applied twice, "
        "so the value is ×2, ×½, ×n or ÷n of the right one.",
    "transposed_gradient":
        "The indices of the weight gradient are swapped: ∂L/∂W_ji = δ_j · a_i (δ of the unit "
        "the weight leads to, a of the unit it comes from), not δ_i · a_j.",
    "log10":
        "The loss was computed with log base 10; the loss uses the natural logarithm ln.",
    "update_sign":
        "The update went uphill: gradient descent subtracts, new = old − η·gradient, "
        "not old + η·gradient.",
    "no_bias":
        "The bias was left out: z = Σ W·a + b includes the unit's bias b.",
    "early_rounding":
        "Earlier values were rounded too much (to 2 decimals) before being used; keep "
        "all the digits you have and round only the answer you write down.",
}
"""Mistake id → the one-sentence explanation the feedback prints."""

EARLY_DECIMALS = 2
"""How far ``early_rounding`` rounds the parents (one less when the sheet has ≤ 2 decimals)."""

SAME_FORMULA = 1e-12
"""Relative difference below which a mistaken value *is* the right one (the formulas coincide)."""


def mistake_id(key: str) -> str:
    """The :data:`MISTAKES` id of a mistake key: ``half_or_mean_factor:x2`` → ``half_or_mean_factor``."""
    return key.partition(":")[0]


# --- where each answer sits: names laid out as the arrays the formulas produce ------

Slot = tuple[str, int]
"""(kind, layer) of an array of answers: ``("z", l)``, ``("a", l)``, ``("delta", l)`` are
(examples × units); ``("loss", 0)`` has one entry, ``("loss_s", 0)`` one per example of a
batch; ``("dW", l)``, ``("new_W", l)`` are (units × units below); ``("db", l)``, ``("new_b", l)``."""


@dataclass(frozen=True, eq=False)
class Layout:
    """An architecture's answer names as arrays, their parents, and the extra compiled rules."""

    network: Network
    samples: int
    table: Mapping[Slot, np.ndarray]              # slot → answer names, an object array
    parents: Mapping[str, tuple[str, ...]]        # answer name → parent answer names, in order
    parents_via_z: Mapping[str, tuple[str, ...]]  # hidden δ with g′ taken from z instead of a
    program: Program
    loss_yhat: Callable                           # (ŷ columns…, y columns…) → each example's loss
    dL_dyhat: Callable                            # (ŷ columns…, y columns…) → ∂L/∂ŷ columns
    output_derivative: Callable | None            # g_L′(z, a), None for softmax
    uses_log: bool                                # the loss has a logarithm (bce, cce)

    def __repr__(self) -> str:
        return f"Layout(layers={self.network.layers}, samples={self.samples})"


def _names(kind: str, layer: int, shape: tuple[int, ...], samples: int) -> np.ndarray:
    """Object array of names; for unit slots, rows are examples (suffixed in a batch)."""
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        if kind in ("z", "a", "delta"):
            s, j = idx
            out[idx] = names.make(kind, layer, j + 1, sample=None if samples == 1 else s + 1)
        else:
            out[idx] = names.make(kind, layer, *(i + 1 for i in idx))
    return out


def _table(net: Network, N: int) -> dict[Slot, np.ndarray]:
    t: dict[Slot, np.ndarray] = {}
    for l in range(1, net.depth + 1):
        n, below = net.layers[l], net.layers[l - 1]
        for kind in ("z", "a", "delta"):
            t[kind, l] = _names(kind, l, (N, n), N)
        for kind in ("dW", "new_W"):
            t[kind, l] = _names(kind, l, (n, below), N)
        if net.bias:
            for kind in ("db", "new_b"):
                t[kind, l] = _names(kind, l, (n,), N)
    if N > 1:
        t["loss_s", 0] = np.array([names.make("loss", sample=s) for s in range(1, N + 1)], dtype=object)
    t["loss", 0] = np.array(["loss"], dtype=object)
    return t


def _answer_symbols(expr: sp.Expr) -> list[str]:
    """The answer names among an expression's symbols (not x, y, W, b), in worksheet order."""
    return sorted((s.name for s in expr.free_symbols if names.parse(s.name)), key=names.sort_key)


def _parents(net: Network, N: int) -> dict[str, tuple[str, ...]]:
    """Each answer's parents, read off the layered expressions of the derivation."""
    d = derive_network(net)
    suffix = (lambda n, s: n) if N == 1 else (lambda n, s: f"{n}_s{s}")
    samples = range(1, N + 1)
    out: dict[str, tuple[str, ...]] = {}
    for name in names.expected(net.layers, net.bias, 1):
        p = names.parse(name)
        if p.kind in ("new_W", "new_b"):  # new = old − η·gradient
            out[name] = (names.make("d" + p.kind[len("new_"):], p.layer, *p.index),)
            continue
        base = _answer_symbols(d.expression(name))
        if p.kind in ("dW", "db") or (p.kind == "loss" and N == 1):
            out[name] = tuple(suffix(b, s) for s in samples for b in base)
        elif p.kind == "loss":  # a batch's loss: the mean of its examples' losses
            out[name] = tuple(f"loss_s{s}" for s in samples)
            out.update({f"loss_s{s}": tuple(f"{b}_s{s}" for b in base) for s in samples})
        else:
            out.update({suffix(name, s): tuple(suffix(b, s) for b in base) for s in samples})
    return out


def _parents_via_z(parents: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Hidden δ's whose g′ is written in a (σ′ = a(1−a)): the parents when g′ is taken at z."""
    out = {}
    for name, ps in parents.items():
        p = names.parse(name)
        a = names.make("a", p.layer, *p.index, sample=p.sample)
        if p.kind == "delta" and a in ps:
            z = names.make("z", p.layer, *p.index, sample=p.sample)
            out[name] = tuple(sorted({*ps, z} - {a}, key=names.sort_key))
    return out


def _lambdify(args, expr) -> Callable:
    return sp.lambdify(args, expr, modules=LAMBDIFY_MODULES, cse=True)


@lru_cache(maxsize=64)
def layout(net: Network, samples: int = 1) -> Layout:
    """The :class:`Layout` of an architecture and batch size (cached)."""
    d = derive_network(net)
    yhat, y = list(d.yhat), list(d.y)
    parents = _parents(net, samples)
    out_act = ACTIVATIONS[net.activations[-1]]
    out_derivative = None
    if out_act.derivative is not None:
        z, a = sp.symbols("z a", real=True)
        out_derivative = _lambdify([z, a], out_act.derivative(z, a))
    return Layout(
        network=net, samples=samples,
        table=MappingProxyType(_table(net, samples)),
        parents=MappingProxyType(parents),
        parents_via_z=MappingProxyType(_parents_via_z(parents)),
        program=compile_network(net),
        loss_yhat=_lambdify([*yhat, *y], d.loss_expr),
        dL_dyhat=_lambdify([*yhat, *y], list(d.chain.dL_dyhat)),
        output_derivative=out_derivative,
        uses_log=d.loss_expr.has(sp.log),
    )


def parents_of(net: Network, samples: int = 1) -> Mapping[str, tuple[str, ...]]:
    """Answer name → the answer names it is computed from (given x, y, W, b not listed)."""
    return layout(net, samples).parents


# --- the problem: a parameter set with its key ---------------------------------------

@dataclass(frozen=True, eq=False)
class Problem:
    """One exercise (network, parameters, data, η) with its key, ready for re-evaluation."""

    network: Network
    params: Params
    data: Data
    learning_rate: float
    key: Mapping[str, float]
    layout: Layout = field(repr=False)
    P: Arrays = field(repr=False)
    X: np.ndarray = field(repr=False)
    Y: np.ndarray = field(repr=False)

    @classmethod
    def of(cls, net: Network, params: Params, data: Data, learning_rate: float) -> "Problem":
        """Solve the exercise once; every re-evaluation reuses the result."""
        X, Y = batch(data)
        return cls(net, params, data, learning_rate, solve(net, params, data, learning_rate).values,
                   layout(net, data.size), Arrays.of(params), X, Y)

    def reevaluate(self, parents: Mapping[str, float] | None = None,
                   derivative_at_z: bool = False) -> dict[str, float]:
        """Every answer by the right formula from ``parents`` (missing ones: the key's).

        With ``derivative_at_z`` a hidden δ takes g′ from its z, σ(z)(1−σ(z)),
        rather than from its a, a(1−a): the same when a = g(z), but a student
        whose a is a slip may have used either (:attr:`Layout.parents_via_z`).
        """
        return _scatter(self.layout, _correct(self, self._gather(parents), derivative_at_z))

    def mistakes(self, parents: Mapping[str, float] | None = None,
                 decimals: int | None = None) -> dict[str, dict[str, float]]:
        """Answer name → {mistake key: value} from ``parents``, only where a mistake changes the value."""
        S = self._gather(parents)
        C = _correct(self, S)
        M = _mistaken(self, S, C, decimals)
        out: dict[str, dict[str, float]] = {n: {} for n in self.key}
        for key, slots in M.items():
            for slot, arr in slots.items():
                for n, v, c in zip(self.layout.table[slot].flat, arr.flat, C[slot].flat):
                    if math.isfinite(v) and _differs(v, c, decimals):
                        out[n][key] = float(v)
        return out

    def _gather(self, parents: Mapping[str, float] | None) -> dict[Slot, np.ndarray]:
        values = self.key if not parents else {**self.key, **parents}
        return {slot: np.array([values[n] for n in t.flat], dtype=float).reshape(t.shape)
                for slot, t in self.layout.table.items()}


def _differs(v: float, c: float, decimals: int | None) -> bool:
    """Whether a mistaken value v can be told from the right value c (at the sheet's rounding)."""
    if not math.isfinite(c):
        return True
    if _same_formula(v, c):
        return False
    if decimals is None or abs(v - c) > 10.0 ** -decimals:  # a unit apart: the rounded values differ
        return True
    return quantize(v, decimals) != quantize(c, decimals)


def _same_formula(v: float, c: float) -> bool:
    return abs(v - c) <= SAME_FORMULA * max(1.0, abs(v), abs(c))


def _scatter(lay: Layout, values: Mapping[Slot, np.ndarray]) -> dict[str, float]:
    """Slot arrays → {answer name: value}, leaving out what is not finite (log 0, …)."""
    out = {}
    for slot, arr in values.items():
        for n, v in zip(lay.table[slot].flat, arr.flat):
            if math.isfinite(v):
                out[n] = float(v)
    return out


def _stack(cols, N: int) -> np.ndarray:
    """A lambdified function's list of columns (some maybe scalars) → an (N, n) array."""
    return np.column_stack([np.broadcast_to(np.asarray(c, dtype=float), (N,)) for c in cols])


def _cols(m: np.ndarray) -> list[np.ndarray]:
    return list(m.T)


def _below(S: Mapping[Slot, np.ndarray], X: np.ndarray, l: int) -> np.ndarray:
    """a⁽ˡ⁻¹⁾, which is x for the first layer."""
    return X if l == 1 else S["a", l - 1]


# --- the right formulas, one step each ------------------------------------------------

def _correct(pr: Problem, S: Mapping[Slot, np.ndarray],
             derivative_at_z: bool = False) -> dict[Slot, np.ndarray]:
    """Every slot by the right formula from the parent values S (g′ from z: see ``reevaluate``)."""
    prog, P, X, Y = pr.layout.program, pr.P, pr.X, pr.Y
    L, N = pr.network.depth, len(X)
    out: dict[Slot, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for l in range(1, L + 1):
            Z = _below(S, X, l) @ P.W[l - 1].T                      # z = W a + b
            out["z", l] = Z if P.b is None else Z + P.b[l - 1]
            out["a", l] = prog.activation[l - 1](S["z", l])         # a = g(z)
        losses = _example_losses(pr, S)
        if N > 1:
            out["loss_s", 0] = losses
            out["loss", 0] = np.array([S["loss_s", 0].mean()])      # mean over the batch
        else:
            out["loss", 0] = losses
        out["delta", L] = _stack(prog.output_delta(*_cols(S["a", L]), *_cols(Y), *_cols(S["z", L])), N)
        for l in range(1, L):                                      # δ⁽ˡ⁾ = (W⁽ˡ⁺¹⁾)ᵀδ⁽ˡ⁺¹⁾ ⊙ g′(z⁽ˡ⁾)
            A = prog.activation[l - 1](S["z", l]) if derivative_at_z else S["a", l]
            out["delta", l] = (S["delta", l + 1] @ P.W[l]) * prog.derivative[l - 1](S["z", l], A)
        for l in range(1, L + 1):
            out["dW", l] = S["delta", l].T @ _below(S, X, l) / N    # ∂L/∂W = δ aᵀ
            out["new_W", l] = P.W[l - 1] - pr.learning_rate * S["dW", l]
            if P.b is not None:
                out["db", l] = S["delta", l].mean(axis=0)           # ∂L/∂b = δ
                out["new_b", l] = P.b[l - 1] - pr.learning_rate * S["db", l]
    return out


def _example_losses(pr: Problem, S: Mapping[Slot, np.ndarray]) -> np.ndarray:
    """Each example's loss from ŷ, as a student computes it; from z⁽ᴸ⁾ where ŷ gives no
    finite value (ŷ rounded to 1 in a bce: 0·ln 0) and the loss has a logit form."""
    lay, prog, Y, N, L = pr.layout, pr.layout.program, pr.Y, len(pr.X), pr.network.depth
    losses = np.array(np.broadcast_to(lay.loss_yhat(*_cols(S["a", L]), *_cols(Y)), (N,)), dtype=float)
    bad = ~np.isfinite(losses)
    if bad.any() and prog.loss_from_logits:
        logits = np.broadcast_to(prog.loss(*_cols(S["z", L]), *_cols(Y)), (N,))
        losses[bad] = logits[bad]
    return losses


# --- the wrong ones ------------------------------------------------------------------

def _mistaken(pr: Problem, S, C, decimals: int | None,
              early: bool = True) -> dict[str, dict[Slot, np.ndarray]]:
    """Mistake key → the slots it changes, computed from the parent values S (C: the right ones)."""
    M: dict[str, dict[Slot, np.ndarray]] = {}
    with np.errstate(all="ignore"):
        for make in (_no_activation_derivative, _derivative_at_a, _delta_sign, _factors,
                     _transposed_gradient, _log10, _update_sign, _no_bias):
            M.update(make(pr, S, C))
        if early:
            M["early_rounding"] = _early_rounding(pr, S, decimals)
    return M


def _no_activation_derivative(pr: Problem, S, C):
    lay, P, L, N = pr.layout, pr.P, pr.network.depth, len(pr.X)
    out = {("delta", L): _stack(lay.dL_dyhat(*_cols(S["a", L]), *_cols(pr.Y)), N)}  # δ⁽ᴸ⁾ = ∂L/∂ŷ
    for l in range(1, L):
        out["delta", l] = S["delta", l + 1] @ P.W[l]                                  # (W)ᵀδ, no ⊙ g′
    return {"no_activation_derivative": out}


def _derivative_at_a(pr: Problem, S, C):
    """g′ evaluated at a: σ(a)(1 − σ(a)) in place of a(1 − a); coincides for ReLU and linear."""
    lay, prog, P, L, N = pr.layout, pr.layout.program, pr.P, pr.network.depth, len(pr.X)
    out = {}
    g_prime_at = lambda l, A: prog.derivative[l - 1](A, prog.activation[l - 1](A))
    for l in range(1, L):
        out["delta", l] = (S["delta", l + 1] @ P.W[l]) * g_prime_at(l, S["a", l])
    if lay.output_derivative is not None:
        A = S["a", L]
        dL = _stack(lay.dL_dyhat(*_cols(A), *_cols(pr.Y)), N)
        out["delta", L] = dL * lay.output_derivative(A, prog.activation[L - 1](A))
    return {"derivative_at_a": out}


def _delta_sign(pr: Problem, S, C):
    return {"delta_sign": {("delta", l): -C["delta", l] for l in range(1, pr.network.depth + 1)}}


def _factors(pr: Problem, S, C):
    """The loss and δ⁽ᴸ⁾ ×2, ×½, ×n, ÷n (n outputs); a batch's loss and gradients ×N, ÷N."""
    n, N, L = pr.network.layers[-1], len(pr.X), pr.network.depth
    out: dict[str, dict] = {}
    for f in _factor_set(2, n):
        slots = {("loss", 0): C["loss", 0] * f, ("delta", L): C["delta", L] * f}
        if N > 1:
            slots["loss_s", 0] = C["loss_s", 0] * f
        out[_factor_key(f)] = slots
    if N > 1:
        for f in _factor_set(N):
            slots = out.setdefault(_factor_key(f), {})
            slots["loss", 0] = C["loss", 0] * f
            for l in range(1, L + 1):
                slots["dW", l] = C["dW", l] * f
                if pr.P.b is not None:
                    slots["db", l] = C["db", l] * f
    return out


def _factor_set(*ns: int) -> list[float]:
    out: list[float] = []
    for n in ns:
        out += [f for f in (float(n), 1.0 / n) if f != 1.0 and f not in out]
    return out


def _factor_key(f: float) -> str:
    return f"half_or_mean_factor:x{f:g}" if f > 1 else f"half_or_mean_factor:/{1 / f:g}"


def _transposed_gradient(pr: Problem, S, C):
    """∂W_ji taken as δ_i a_j, i.e. the right matrix transposed, where the indices fit."""
    out = {}
    for l in range(1, pr.network.depth + 1):
        G = C["dW", l]
        k = min(G.shape)
        T = np.full(G.shape, np.nan)
        T[:k, :k] = G[:k, :k].T
        out["dW", l] = T
    return {"transposed_gradient": out}


def _log10(pr: Problem, S, C):
    """Every ln in the loss as log₁₀: the loss ÷ ln 10 (each term is c·ln(·))."""
    if not pr.layout.uses_log:
        return {}
    slots = [slot for slot in (("loss", 0), ("loss_s", 0)) if slot in C]
    return {"log10": {slot: C[slot] / math.log(10) for slot in slots}}


def _update_sign(pr: Problem, S, C):
    P, lr = pr.P, pr.learning_rate
    out = {}
    for l in range(1, pr.network.depth + 1):
        out["new_W", l] = P.W[l - 1] + lr * S["dW", l]
        if P.b is not None:
            out["new_b", l] = P.b[l - 1] + lr * S["db", l]
    return {"update_sign": out}


def _no_bias(pr: Problem, S, C):
    if pr.P.b is None:
        return {}
    return {"no_bias": {("z", l): _below(S, pr.X, l) @ pr.P.W[l - 1].T
                        for l in range(1, pr.network.depth + 1)}}


def _early_rounding(pr: Problem, S, decimals: int | None) -> dict[Slot, np.ndarray]:
    """The right formulas applied to the parents rounded to EARLY_DECIMALS."""
    e = EARLY_DECIMALS if decimals is None or decimals > EARLY_DECIMALS else max(decimals - 1, 0)
    r = lambda v: float(quantize(v, e)) if math.isfinite(v) else v
    rounded = {slot: np.array([r(v) for v in arr.flat]).reshape(arr.shape) for slot, arr in S.items()}
    return _correct(pr, rounded)


# --- the public functions --------------------------------------------------------------

def reevaluate(net: Network, params: Params, data: Data, learning_rate: float,
               parents: Mapping[str, float] | None = None) -> dict[str, float]:
    """Every answer by the right formula, each from the ``parents`` values of its parents."""
    return Problem.of(net, params, data, learning_rate).reevaluate(parents)


def mistake_values(net: Network, params: Params, data: Data, learning_rate: float,
                   parents: Mapping[str, float] | None = None, *,
                   decimals: int | None = None) -> dict[str, dict[str, float]]:
    """For each answer name, the values the common mistakes give, by mistake key.

    Each value is computed from ``parents`` (the values of the student's
    earlier answers; default and fallback: the correct solution).  A value
    is left out when it equals the right value from the same parents — at
    the sheet's rounding when ``decimals`` is given, else exactly.  Keys are
    :data:`MISTAKES` ids, with a variant for ``half_or_mean_factor``
    (``half_or_mean_factor:x2``, ``…:/2``); :func:`mistake_id` strips it.
    """
    return Problem.of(net, params, data, learning_rate).mistakes(parents, decimals)


BENIGN = ("early_rounding",)
"""Mistakes that :func:`indistinguishable` ignores by default: when rounding early
gives the right rounded answer, the student has lost nothing."""


def indistinguishable(net: Network, params: Params, data: Data, learning_rate: float,
                      decimals: int, answer_names=None, slack: int = 0,
                      ignore: tuple[str, ...] = BENIGN) -> list[tuple[str, str]]:
    """(answer, mistake id) pairs whose mistaken value rounds to the right one, the formula differing.

    Only the answers in ``answer_names`` (default: all) count, and no mistake
    in ``ignore``.  ``slack`` widens "rounds to the same" to "rounds to within
    ``slack`` units in the last place" (the decimals grading tolerance is 1).
    """
    pr = Problem.of(net, params, data, learning_rate)
    S = pr._gather(None)
    C = _correct(pr, S)
    asked = set(pr.key if answer_names is None else answer_names)
    unit = 10.0 ** -decimals
    out: list[tuple[str, str]] = []
    for key, slots in _mistaken(pr, S, C, decimals, "early_rounding" not in ignore).items():
        if mistake_id(key) in ignore:
            continue
        for slot, arr in slots.items():
            for n, v, c in zip(pr.layout.table[slot].flat, arr.flat, C[slot].flat):
                if (n in asked and math.isfinite(v) and not _same_formula(v, c)
                        and abs(v - c) <= (slack + 1) * unit  # else surely apart when rounded
                        and _units_apart(v, c, decimals) <= slack
                        and (n, mistake_id(key)) not in out):
                    out.append((n, mistake_id(key)))
    return sorted(out, key=lambda p: (names.sort_key(p[0]), list(MISTAKES).index(p[1])))


def _units_apart(v: float, c: float, decimals: int) -> Decimal:
    """How many units in the last place apart v and c are once rounded."""
    return abs(quantize(v, decimals) - quantize(c, decimals)).scaleb(decimals)
