"""The common mistakes of backprop, as data: each one a sentence and a rewrite of one rule.

A rewrite takes a quantity of the graph and returns the rule a student
with that misconception applies instead (nothing, where it does not apply).
The wrong rules are evaluated by the numeric stage's exact route, on
whatever parent values are given (the key's, or a student's own), so
nothing here computes by a formula of its own.

The lab's quantities (:mod:`derive.lab`: a gradient check, training steps) have mistakes of
their own, rewrites of those rules in the same way; a mistake marked ``lab`` knows them.

Also the accepted *alternative routes*: a hidden δ may take g′ from z
(σ(z)(1−σ(z))) instead of from a (a(1−a)); the grader credits either.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Callable, Mapping

import sympy as sp

from . import epochs, gradient_check as gradcheck, names
from .functions import ACTIVATIONS, SCALAR_MODULES
from .latex import plain
from .notation import DEFAULT, Notation
from .numeric import Undefined, evaluate_exact, round_half_up
from .symbolic import ETA, Graph, Quantity, local_derivative, rename

Rewrite = Callable[[Graph, Quantity], dict[str, sp.Expr]]
"""(graph, quantity) → {variant: wrong rule}; the variant is '' or e.g. 'x2', '/2'."""


@dataclass(frozen=True)
class Mistake:
    """One named mistake: the sentence the feedback prints and how it changes a rule.

    ``early_decimals`` marks early rounding, which keeps the rule but rounds
    the parents to that many places first.  ``in_notation`` writes the sentence
    for a quantity of layer l in a sheet's notation profile (where it names
    weights, activations or biases); ``sentence`` is the same without a profile
    or layer, as a report of students' code prints it.  ``lab``: the rewrite
    also knows the quantities of a gradient check and of training steps (the
    others know only the network's answer names, and are not asked about those).
    """

    id: str
    sentence: str
    rewrite: Rewrite | None = None
    early_decimals: int | None = None
    in_notation: Callable[[Notation, int], str] | None = None  # the sentence for layer l, in a profile
    lab: bool = False


def _sym(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


def _unit(q: Quantity, kind: str, layer: int | None = None, index: int | None = None) -> sp.Symbol:
    """The symbol of another unit quantity of the same example as q."""
    p = names.parse(q.name)
    return _sym(names.make(kind, p.layer if layer is None else layer,
                           p.index[0] if index is None else index, sample=p.sample))


def _hidden_local(g: Graph, q: Quantity) -> tuple[sp.Expr, sp.Symbol, sp.Symbol] | None:
    """(g′ as written in the rule, z, a) of a hidden δ; None for other quantities."""
    p = names.parse(q.name)
    if p is None:  # a trace's node, a lab quantity (derive.lab): no δ
        return None
    if p.kind != "delta" or p.layer == g.network.depth:
        return None
    z, a = _unit(q, "z"), _unit(q, "a")
    return local_derivative(g.network, p.layer, z, a), z, a


def _dL_dyhat(g: Graph, q: Quantity) -> sp.Expr:
    """∂L/∂ŷ_j of q's example, differentiated from the graph's loss rule."""
    p = names.parse(q.name)
    loss = g[names.make("loss", sample=p.sample)]
    return sp.diff(loss.rule, _unit(q, "a"))


def _output_activation(g: Graph):
    return ACTIVATIONS[g.network.activations[-1]]


def _is(q: Quantity, *kinds: str) -> bool:
    p = names.parse(q.name)
    return p is not None and p.kind in kinds


def _no_activation_derivative(g: Graph, q: Quantity) -> dict[str, sp.Expr]:
    if (local := _hidden_local(g, q)) is not None:
        return {"": rename(q.rule, {local[0]: sp.S.One})}
    if _is(q, "delta"):  # δ⁽ᴸ⁾ = ∂L/∂ŷ, the output activation's derivative left out
        return {"": _dL_dyhat(g, q)}
    return {}


def _derivative_at_a(g: Graph, q: Quantity) -> dict[str, sp.Expr]:
    """g′ evaluated at a: σ(a)(1 − σ(a)) in place of a(1 − a)."""
    p = names.parse(q.name)
    if (local := _hidden_local(g, q)) is not None:
        g_prime, _, a = local
        act = ACTIVATIONS[g.network.activations[p.layer - 1]]
        return {"": rename(q.rule, {g_prime: act.derivative(a, act.g([a], 0))})}
    act = _output_activation(g)
    if _is(q, "delta") and act.derivative is not None:
        a = _unit(q, "a")
        return {"": _dL_dyhat(g, q) * act.derivative(a, act.g([a], 0))}
    return {}


def _delta_sign(g: Graph, q: Quantity) -> dict[str, sp.Expr]:
    return {"": -q.rule} if _is(q, "delta") else {}


def _factors(*ns: int) -> list[Fraction]:
    out: list[Fraction] = []
    for n in ns:
        out += [f for f in (Fraction(n), Fraction(1, n)) if f != 1 and f not in out]
    return out


def _half_or_mean_factor(g: Graph, q: Quantity) -> dict[str, sp.Expr]:
    """The loss and δ⁽ᴸ⁾ ×2, ×½, ×n, ÷n (n outputs); a batch's loss and gradients ×N, ÷N."""
    p, n, N = names.parse(q.name), g.network.layers[-1], g.samples
    factors: list[Fraction] = []
    if p.kind == "loss" or (p.kind == "delta" and p.layer == g.network.depth):
        factors += _factors(2, n)
    if N > 1 and (p.kind in ("dW", "db") or q.name == "loss"):
        factors += [f for f in _factors(N) if f not in factors]
    show = lambda f: f"x{f}" if f > 1 else f"/{1 / f}"
    return {show(f): sp.Mul(sp.Rational(f.numerator, f.denominator), q.rule) for f in factors}


def _transposed_gradient(g: Graph, q: Quantity) -> dict[str, sp.Expr]:
    """∂W_ji taken as δ_i a_j: the rule of the transposed entry, where the indices fit."""
    p = names.parse(q.name)
    if p.kind != "dW":
        return {}
    j, i = p.index
    other = names.make("dW", p.layer, i, j)
    return {"": g[other].rule} if other in g and other != q.name else {}


_WEIGHT = re.compile(r"W(\d+)_(\d+)_(\d+)")


def _transposed(g: Graph, q: Quantity) -> dict[str, sp.Expr]:
    """A weight matrix read or written transposed (what a sheet in another orientation invites):
    z and δ computed with W_ij for W_ji, or an updated weight given at the other's place."""
    p = names.parse(q.name)
    if p.kind == "new_W":
        j, i = p.index
        other = names.make("new_W", p.layer, i, j)
        return {"": g[other].rule} if other in g and other != q.name else {}
    if p.kind not in ("z", "delta"):
        return {}
    given = {s.name for s in g.given}
    swap = {}
    for w in q.rule.free_symbols:
        if m := _WEIGHT.fullmatch(w.name):
            other = f"W{m[1]}_{m[3]}_{m[2]}"
            if other not in given:
                return {}  # a matrix that is not square has no entry there to confuse it with
            swap[w] = _sym(other)
    return {"": rename(q.rule, swap)} if swap else {}


def _log10(g: Graph, q: Quantity) -> dict[str, sp.Expr]:
    if not _is(q, "loss") or not q.rule.has(sp.log):
        return {}
    return {"": q.rule.replace(sp.log, lambda u: sp.log(u) / sp.log(10))}


def _update_sign(g: Graph, q: Quantity) -> dict[str, sp.Expr]:
    """+η for −η: in the update, and in each step of a training table (θ_t from θ_{t−1})."""
    step = epochs.parse_name(q.name)
    if _is(q, "new_W", "new_b") or (step is not None and step[0] != "loss"):
        return {"": rename(q.rule, {ETA: -ETA})}
    return {}


def _no_bias(g: Graph, q: Quantity) -> dict[str, sp.Expr]:
    if not _is(q, "z") or not g.network.bias:
        return {}
    p = names.parse(q.name)
    return {"": rename(q.rule, {_sym(names.make("b", p.layer, *p.index)): sp.S.Zero})}


def _below(n: Notation, l: int, index: str) -> str:
    """Unit ``index`` of the layer below layer l, as the sheet writes it: a⁽ˡ⁻¹⁾_i, or x_i below layer 1."""
    return plain(n.symbol("a", l - 1, index)) if l > 1 else f"x_{index}"


def _transposed_gradient_sentence(n: Notation, l: int) -> str:
    """∂L/∂W_ji = δ_j · a_i in the profile's index order (w_ij = a_i · δ_j from-to), at layer l."""
    d = lambda k: plain(n.symbol(r"\delta", l, k))
    entry = ((lambda j, i: f"{d(j)} · {_below(n, l, i)}") if n.weights == "to-from" else
             (lambda j, i: f"{_below(n, l, i)} · {d(j)}"))  # as the sheet's gradient entries print it
    return (f"The indices of the weight gradient are swapped: ∂L/∂{plain(n.weight(l, 'j', 'i'))} = {entry('j', 'i')} "
            f"(δ of the unit the weight leads to, {'a' if l > 1 else 'x'} of the unit it comes from), "
            f"not {entry('i', 'j')}.")


def _no_bias_sentence(n: Notation, l: int) -> str:
    """z_j = Σ_i W_ji·a_i + b_j at layer l, in the profile's symbols and orientation (a·W for rows)."""
    w, a = plain(n.weight(l, "j", "i")), _below(n, l, "i")
    b = plain(n.symbol("b", l, "j"))
    term = f"{w}·{a}" if n.orientation == "column" else f"{a}·{w}"
    return f"The bias was left out: {plain(n.symbol('z', l, 'j'))} = Σ_i {term} + {b} includes the unit's bias {b}."


# --- the lab's quantities: a gradient check and training steps (derive.lab) -------------------

def _checked(q: Quantity, kind: str) -> str | None:
    """The checked parameter of a gradient check's quantity of this kind (``fd``, ``relerr``), else None."""
    c = gradcheck.parse_name(q.name)
    return c[1] if c is not None and c[0] == kind else None


def _fd_over_eps(g: Graph, q: Quantity) -> dict[str, sp.Expr]:
    """(L(θ+ε) − L(θ−ε)) / ε: the central difference without its 2."""
    if _checked(q, "fd") is None:
        return {}
    return {"": q.rule.xreplace({2 * gradcheck.EPSILON: gradcheck.EPSILON})}


def _one_sided_difference(g: Graph, q: Quantity) -> dict[str, sp.Expr]:
    """(L(θ+ε) − L(θ)) / ε, with L(θ) the loss box (the sheet's ``loss``, a batch's mean)."""
    p = _checked(q, "fd")
    if p is None or "loss" not in g:
        return {}
    return {"": q.rule.xreplace({2 * gradcheck.EPSILON: gradcheck.EPSILON,
                                 _sym(f"loss_minus_{p}"): _sym("loss")})}


def _relerr_parts(q: Quantity) -> tuple[sp.Expr, sp.Max] | None:
    """(|∂L/∂θ − fd|, max(10^−d, |∂L/∂θ|, |fd|)) of a relative error's rule; None for other quantities."""
    if _checked(q, "relerr") is None:
        return None
    (largest,) = q.rule.atoms(sp.Max)
    (difference,) = [a for a in q.rule.atoms(sp.Abs) if a not in largest.args]
    return difference, largest


def _relerr_no_abs(g: Graph, q: Quantity) -> dict[str, sp.Expr]:
    """The relative error with its bars dropped: around the difference (written either way round,
    what tells it apart is the negative value), in the max (signed gradients), or both."""
    if (parts := _relerr_parts(q)) is None:
        return {}
    difference, largest = parts
    signed = sp.Max(*(a.args[0] if isinstance(a, sp.Abs) else a for a in largest.args))
    return {"": q.rule.xreplace({difference: -difference}),
            "in the denominator": q.rule.xreplace({largest: signed}),
            "everywhere": q.rule.xreplace({difference: -difference, largest: signed})}


def _relerr_denominator(g: Graph, q: Quantity) -> dict[str, sp.Expr]:
    """The relative error over one of the two gradients' sizes, or over their sum, for the larger."""
    if (parts := _relerr_parts(q)) is None:
        return {}
    p = _checked(q, "relerr")
    fd, grad = _sym(f"fd_{p}"), _sym("d" + p)
    largest = parts[1]
    over = lambda d: q.rule.xreplace({largest: d})
    return {f"/|{fd.name}|": over(sp.Abs(fd)), f"/|{grad.name}|": over(sp.Abs(grad)),
            f"/(|{fd.name}| + |{grad.name}|)": over(sp.Abs(fd) + sp.Abs(grad))}


def _loss_before_update(g: Graph, q: Quantity) -> dict[str, sp.Expr]:
    """L_t taken at θ_{t−1}: the rule of the loss one column before (the loss that step t's
    forward pass gives, before its update)."""
    step = epochs.parse_name(q.name)
    if step is None or step[0] != "loss" or step[1] == 0:
        return {}
    before = epochs.epoch_name("loss", step[1] - 1)
    return {"": g[before].rule} if before in g else {}


MISTAKES: dict[str, Mistake] = {m.id: m for m in [
    Mistake("no_activation_derivative",
            "δ is missing the factor g′(z): after taking ∂L/∂ŷ (at the output) or multiplying "
            "by the weights (in a hidden layer) you still multiply by the activation's derivative.",
            _no_activation_derivative),
    Mistake("derivative_at_a",
            "The activation's derivative was evaluated at a instead of at z: for the sigmoid "
            "σ′(z) = σ(z)(1−σ(z)) = a(1−a), not σ(a)(1−σ(a)).", _derivative_at_a),
    Mistake("delta_sign",
            "δ has the wrong sign: at the output it starts from ŷ − y (prediction minus target), "
            "not y − ŷ.", _delta_sign),
    Mistake("half_or_mean_factor",
            "A constant factor is off: a ½ or the 1/n of a mean was dropped or applied twice, "
            "so the value is ×2, ×½, ×n or ÷n of the right one.", _half_or_mean_factor),
    Mistake("transposed_gradient",
            "The indices of the weight gradient are swapped: ∂L/∂W_ji = δ_j · a_i (δ of the unit "
            "the weight leads to, a of the unit it comes from), not δ_i · a_j.", _transposed_gradient,
            in_notation=_transposed_gradient_sentence),
    Mistake("log10", "The loss was computed with log base 10; the loss uses the natural logarithm ln.",
            _log10),
    Mistake("update_sign",
            "The update went uphill: gradient descent subtracts, new = old − η·gradient, "
            "not old + η·gradient.", _update_sign, lab=True),
    Mistake("no_bias", "The bias was left out: z = Σ W·a + b includes the unit's bias b.", _no_bias,
            in_notation=_no_bias_sentence),
    Mistake("transposed",
            "A weight matrix was read or written transposed: the weight from unit i to unit j was "
            "taken for the one from j to i; check which index is the row of the sheet's matrix.", _transposed),
    Mistake("early_rounding",
            "Earlier values were rounded too much (to 2 decimals) before being used; keep "
            "the digits the sheet asks for and round only the answer you write down.",
            early_decimals=2),
    Mistake("fd_over_eps",
            "The difference was divided by ε: θ+ε and θ−ε lie 2ε apart, so the estimate is "
            "(L(θ+ε) − L(θ−ε)) / 2ε, half of (L(θ+ε) − L(θ−ε)) / ε.", _fd_over_eps, lab=True),
    Mistake("one_sided_difference",
            "A one-sided difference was used: the check's estimate is the central difference "
            "(L(θ+ε) − L(θ−ε)) / 2ε, not (L(θ+ε) − L(θ)) / ε.", _one_sided_difference, lab=True),
    Mistake("relerr_no_abs",
            "The relative error compares sizes and is never negative: keep the absolute values, "
            "|∂L/∂θ − ΔL/Δθ| over the largest of |∂L/∂θ|, |ΔL/Δθ| and the sheet's floor.",
            _relerr_no_abs, lab=True),
    Mistake("relerr_denominator",
            "The relative error divides by the larger size, max(|∂L/∂θ|, |ΔL/Δθ|) (or the sheet's "
            "floor if that is larger), not by one of the two or by their sum.",
            _relerr_denominator, lab=True),
    Mistake("loss_before_update",
            "The loss is a step behind: L_t is the loss at θ_t, the parameters after step t, not the "
            "loss at θ_(t−1) that step t's forward pass gave.", _loss_before_update, lab=True),
]}
"""Mistake id → :class:`Mistake`."""


TITLES: dict[str, str] = {
    "no_activation_derivative": "σ′ left out",
    "derivative_at_a": "σ′ applied to a instead of z",
    "delta_sign": "a sign error in δ",
    "half_or_mean_factor": "a constant factor off (a ½, or the n of a mean)",
    "transposed_gradient": "W used instead of Wᵀ, or a transposed gradient",
    "transposed": "a weight matrix read or written transposed",
    "log10": "log base 10 for ln",
    "update_sign": "a wrong update sign",
    "no_bias": "the bias left out",
    "early_rounding": "rounded too early",
    "fd_over_eps": "the central difference divided by ε, not 2ε",
    "one_sided_difference": "a one-sided difference for the central one",
    "relerr_no_abs": "the relative error without its absolute values",
    "relerr_denominator": "the relative error over the wrong denominator",
    "loss_before_update": "the loss of the parameters before the step",
}
"""Mistake id → its short name: a report of students' code gives it, one line per function (the
gradient check's and training table's mistakes are about sheets, not code, but are named alike)."""

BATCH_FACTOR_TITLES: dict[str, str] = {
    "loss": "a sum for a mean: the batch's loss is the mean of the examples' losses, not their sum",
    "dW": "no 1/n: the gradient is the mean over the batch's examples, not their sum",
    "db": "no 1/n: the gradient is the mean over the batch's examples, not their sum",
}
"""The names of ``half_or_mean_factor:x{N}`` for a batch of N, by the kind of quantity it changes:
the same rewrite is a sum taken for a mean in the loss and a missing 1/n in a gradient."""


def explanation(mistake: str, name: str, notation: Notation = DEFAULT) -> str:
    """The sentence feedback prints for a :data:`MISTAKES` id on answer ``name``: in the sheet's
    notation, at the answer's layer, where the sentence names weights, activations or biases."""
    m, p = MISTAKES[mistake], names.parse(name)
    if m.in_notation is None or p is None or p.layer is None:
        return m.sentence
    return m.in_notation(notation, p.layer)


def mistake_id(key: str) -> str:
    """The :data:`MISTAKES` id of a mistake key: ``half_or_mean_factor:x2`` → ``half_or_mean_factor``."""
    return key.partition(":")[0]


@lru_cache(maxsize=4096)
def wrong_rules(graph: Graph, name: str) -> tuple[tuple[str, sp.Expr], ...]:
    """(mistake key, wrong rule) for every rewrite that changes this quantity's rule."""
    q = graph[name]
    out = []
    network = names.parse(name) is not None  # else a trace's node, or a gradient check's or training step's quantity
    for m in MISTAKES.values():
        if m.rewrite is None or not (network or m.lab):
            continue
        for variant, rule in m.rewrite(graph, q).items():
            if rule != q.rule:
                out.append((m.id + (f":{variant}" if variant else ""), rule))
    return tuple(out)


def early_decimals(decimals: int) -> int:
    """How far early rounding rounds the parents: 2 places, one less than the sheet when it has ≤ 2."""
    e = MISTAKES["early_rounding"].early_decimals
    return e if decimals > e else max(decimals - 1, 0)


def mistaken_values(graph: Graph, name: str, env: Mapping[str, Fraction],
                    decimals: int) -> dict[str, Fraction]:
    """Mistake key → the value the mistake gives for this quantity from the parent values in ``env``.

    Left out where the mistake gives exactly the right value from the same
    parents (ReLU′(a) is ReLU′(z)): there the formulas coincide.
    """
    q = graph[name]
    try:
        right = evaluate_exact(q.rule, env)
    except Undefined:
        right = None
    out = {}
    for key, rule in wrong_rules(graph, name):
        out[key] = _value(rule, env)
    if q.parents:
        e = early_decimals(decimals)
        out["early_rounding"] = _value(q.rule, {**env, **{p: Fraction(round_half_up(env[p], e))
                                                          for p in q.parents if p in env}})
    return {k: v for k, v in out.items() if v is not None and v != right}


def _value(rule, env) -> Fraction | None:
    try:
        return evaluate_exact(rule, env)
    except Undefined:
        return None


@lru_cache(maxsize=4096)
def alternative_routes(graph: Graph, name: str) -> tuple[tuple[tuple[str, ...], sp.Expr], ...]:
    """(parents, rule) of each accepted way of working out a quantity: its rule, and for a
    hidden δ whose g′ is written in a, the same with g′ taken from z."""
    q = graph[name]
    routes = [(q.parents, q.rule)]
    local = _hidden_local(graph, q)
    if local is not None and local[2] in local[0].free_symbols:
        g_prime, z, a = local
        p = names.parse(q.name)
        act = ACTIVATIONS[graph.network.activations[p.layer - 1]]
        rule = rename(q.rule, {g_prime: act.derivative(z, act.g([z], 0))})
        parents = tuple(sorted({*q.parents, z.name} - {a.name}, key=names.sort_key))
        routes.append((parents, rule))
    return tuple(routes)


BENIGN = ("early_rounding",)
"""Mistakes that :func:`indistinguishable` ignores by default: when rounding early
gives the right rounded answer, the student has lost nothing."""


def indistinguishable(graph: Graph, env: Mapping[str, Fraction], key: Mapping, decimals: int,
                      asked, slack: int = 0, ignore: tuple[str, ...] = BENIGN) -> list[tuple[str, str]]:
    """(answer, mistake id) pairs whose mistaken value rounds to within ``slack`` units of the key.

    ``env`` holds the givens and the values students carry (the key's printed
    values under the default rule); a mistake counts only where its exact
    value differs from the right one, i.e. the formulas really differ here.
    A float64 screen first: only a mistake within a few units of the key is
    decided exactly (measured: the draws of a class took 2.7x as long without it).
    """
    floats = {n: float(v) for n, v in env.items()}
    near = (slack + 2) * 10.0 ** -decimals
    out: list[tuple[str, str]] = []
    for name in asked:
        right = float(key[name])
        if not any(abs(_float_value(rule, floats) - right) <= near for _, rule in _screened(graph, name, ignore)):
            continue
        exact = key.unrounded[name]
        for k, v in mistaken_values(graph, name, env, decimals).items():
            mid = mistake_id(k)
            if mid in ignore or v == exact or (name, mid) in out:
                continue
            if abs(round_half_up(v, decimals) - key[name]).scaleb(decimals) <= slack:
                out.append((name, mid))
    return out


def _screened(graph: Graph, name: str, ignore: tuple[str, ...]):
    """The wrong rules to screen, and for early rounding the rule itself (its parents differ a little)."""
    rules = [(k, r) for k, r in wrong_rules(graph, name) if mistake_id(k) not in ignore]
    if "early_rounding" not in ignore and graph[name].parents:
        rules.append(("early_rounding", graph[name].rule))
    return rules


def _float_value(rule: sp.Expr, env: Mapping[str, float]) -> float:
    args, f = _float_rule(rule)
    try:
        return float(f(*(env[a] for a in args)))
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        return math.nan


@lru_cache(maxsize=8192)
def _float_rule(rule: sp.Expr):
    """A rule lambdified for Python floats: (argument names, function)."""
    symbols = sorted(rule.free_symbols, key=lambda s: s.name)
    return tuple(s.name for s in symbols), sp.lambdify(symbols, rule, modules=SCALAR_MODULES)
