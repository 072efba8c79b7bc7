"""The symbolic stage: a network's forward pass, loss, δ's and gradients in SymPy.

The derivation is *layered*: each layer's quantities are written in symbols
for the layer next to it (z⁽ˡ⁾ in a⁽ˡ⁻¹⁾, δ⁽ˡ⁾ in δ⁽ˡ⁺¹⁾), never by expanding
the whole loss, so building it costs time linear in depth.  The output δ is
reduced to its textbook closed form and that simplification is proved by
SymPy; :func:`prove_gradients` proves the recursion against ``diff`` of the
fully expanded loss for networks small enough to expand.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping

import sympy as sp

from . import names
from .functions import ACTIVATIONS, LOSSES, logsumexp
from .spec import Network

SymMatrix = tuple[tuple[sp.Symbol, ...], ...]


def _sym(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


@dataclass(frozen=True)
class Derivation:
    """Everything symbolic about one architecture, complete when built.

    Symbols: ``x[i]``, ``y[k]``, ``W[l-1][j][i]``, ``b[l-1][j]`` (None without
    bias), and for the intermediate quantities ``z[l-1][j]``, ``a[l-1][j]``,
    ``delta[l-1][j]`` (layer l from 1; units j from 0 here, 1 in names).

    Expressions, each in the symbols of the neighbouring layer:
    ``z_expr`` (in W, b, a of the layer below, x for layer 1), ``a_expr`` (in
    z), ``loss_expr`` (one example's loss in ŷ = a⁽ᴸ⁾ and y), ``output_delta``
    (δ⁽ᴸ⁾ in closed form, in ŷ, y and z⁽ᴸ⁾), ``delta_expr`` (δ⁽ˡ⁾ for hidden
    layers, in W⁽ˡ⁺¹⁾, δ⁽ˡ⁺¹⁾, z⁽ˡ⁾, a⁽ˡ⁾; the output layer's entry is
    ``output_delta``), ``dW_expr`` and ``db_expr``.
    ``chain`` keeps the raw chain-rule factors of δ⁽ᴸ⁾ and ``steps`` the
    derivation as :class:`derive.latex.Step` rows (a key for the words, the LaTeX).
    """

    network: Network
    x: tuple[sp.Symbol, ...]
    y: tuple[sp.Symbol, ...]
    W: tuple[SymMatrix, ...]
    b: tuple[tuple[sp.Symbol, ...], ...] | None
    z: SymMatrix
    a: SymMatrix
    delta: SymMatrix
    z_expr: tuple[tuple[sp.Expr, ...], ...]
    a_expr: tuple[tuple[sp.Expr, ...], ...]
    loss_expr: sp.Expr
    output_delta: tuple[sp.Expr, ...]
    delta_expr: tuple[tuple[sp.Expr, ...], ...]
    dW_expr: tuple[tuple[tuple[sp.Expr, ...], ...], ...]
    db_expr: tuple[tuple[sp.Expr, ...], ...] | None
    chain: "OutputChain"
    steps: tuple  # latex.Step rows

    def __repr__(self) -> str:
        n = self.network
        return f"Derivation(layers={list(n.layers)}, activations={list(n.activations)}, loss={n.loss!r})"

    @property
    def yhat(self) -> tuple[sp.Symbol, ...]:
        """ŷ = a⁽ᴸ⁾ as symbols."""
        return self.a[-1]

    def expression(self, name: str) -> sp.Expr:
        """The layered expression behind an answer name (per-example names without suffix)."""
        p = names.parse(name)
        l, idx = p.layer, [i - 1 for i in p.index]
        table = {
            "z": lambda: self.z_expr[l - 1][idx[0]],
            "a": lambda: self.a_expr[l - 1][idx[0]],
            "loss": lambda: self.loss_expr,
            "delta": lambda: self.delta_expr[l - 1][idx[0]],
            "dW": lambda: self.dW_expr[l - 1][idx[0]][idx[1]],
            "db": lambda: self.db_expr[l - 1][idx[0]],
        }
        return table[p.kind]()


@dataclass(frozen=True)
class OutputChain:
    """The chain rule at the output: ∂L/∂ŷ, the activation's derivative, δ⁽ᴸ⁾.

    ``dL_dyhat[k]`` is ∂L/∂ŷ_k; ``jacobian[k][j]`` is ∂ŷ_k/∂z_j (diagonal for
    elementwise activations); ``raw[j]`` = Σ_k ∂L/∂ŷ_k ∂ŷ_k/∂z_j before
    simplifying; ``closed[j]`` the closed form; ``proved`` whether SymPy showed
    ``closed`` equal to ``diff`` of the loss composed with the activation.
    """

    dL_dyhat: tuple[sp.Expr, ...]
    jacobian: tuple[tuple[sp.Expr, ...], ...]
    raw: tuple[sp.Expr, ...]
    closed: tuple[sp.Expr, ...]
    constraint: str  # "" or a note such as "Σ y_k = 1"
    proved: bool


# --- building -----------------------------------------------------------------

def _symbols(net: Network):
    L = net.depth
    x = tuple(_sym(f"x_{i}") for i in range(1, net.layers[0] + 1))
    y = tuple(_sym(f"y_{k}") for k in range(1, net.layers[-1] + 1))
    W = tuple(tuple(tuple(_sym(names.make("W", l, j, i)) for i in range(1, net.layers[l - 1] + 1))
                    for j in range(1, net.layers[l] + 1)) for l in range(1, L + 1))
    b = (tuple(tuple(_sym(names.make("b", l, j)) for j in range(1, net.layers[l] + 1))
               for l in range(1, L + 1)) if net.bias else None)
    unit = lambda kind: tuple(tuple(_sym(names.make(kind, l, j)) for j in range(1, net.layers[l] + 1))
                              for l in range(1, L + 1))
    return x, y, W, b, unit("z"), unit("a"), unit("delta")


def _forward(net, x, W, b, z):
    """z⁽ˡ⁾_j = Σ_i W⁽ˡ⁾_ji a⁽ˡ⁻¹⁾_i + b⁽ˡ⁾_j and a⁽ˡ⁾_j = g(z⁽ˡ⁾)_j, layer by layer.

    The sums are kept unevaluated, so they print in the textbook's order.
    """
    a_syms = tuple(tuple(_sym(names.make("a", l, j)) for j in range(1, n + 1))
                   for l, n in enumerate(net.layers[1:], start=1))
    z_expr, a_expr = [], []
    for l in range(1, net.depth + 1):
        below = x if l == 1 else a_syms[l - 2]
        z_expr.append(tuple(_sum([_product(w, a) for w, a in zip(W[l - 1][j], below)]
                                 + ([b[l - 1][j]] if b else [])) for j in range(net.layers[l])))
        g = ACTIVATIONS[net.activations[l - 1]].g
        a_expr.append(tuple(g(list(z[l - 1]), j) for j in range(net.layers[l])))
    return tuple(z_expr), tuple(a_expr)


def _sum(terms: list) -> sp.Expr:
    """Σ terms, unevaluated: the order written is the order printed."""
    return terms[0] if len(terms) == 1 else sp.Add(*terms, evaluate=False)


def _product(*factors) -> sp.Expr:
    """Π factors, unevaluated: a factor that is a sum keeps its parentheses when printed."""
    factors = [f for f in factors if f != 1]
    return factors[0] if len(factors) == 1 else sp.Mul(*factors, evaluate=False)


def _apply_constraint(expr: sp.Expr, y: tuple, loss: str) -> sp.Expr:
    """Use Σ_k y_k = 1 (a one-hot label) where the loss asks for a distribution."""
    if LOSSES[loss].targets != "distribution":
        return expr
    return expr.subs(y[-1], 1 - sp.Add(*y[:-1]))


def _closed_form(dL: sp.Expr, g_prime: sp.Expr, y: tuple, yhat: tuple, loss: str) -> sp.Expr:
    """Simplify δ⁽ᴸ⁾_j to the form a textbook prints (ŷ − y, (ŷ−y)ŷ(1−ŷ), …).

    Keeps the product ∂L/∂ŷ · g′ when nothing cancels, else the cancelled
    form, whichever is shorter; for a one-hot label uses Σ_k y_k = 1.
    A product in one output (an elementwise activation) is factored; one that
    couples every output (softmax) only has its common terms taken out:
    multivariate factoring uses random evaluation points, and some draws of
    them took minutes (seen in the test suite, never in isolation).
    """
    product = dL * g_prime
    if LOSSES[loss].targets == "distribution":
        # Σ_k y_k multiplies ŷ_j after collecting; a one-hot label makes it 1
        cancelled = sp.collect(sp.expand(product), list(yhat)).subs(sp.Add(*y), 1)
        return sp.factor_terms(cancelled)
    coupled = len(product.free_symbols & set(yhat)) > 1
    cancelled = sp.cancel(sp.together(product))
    cancelled = sp.factor_terms(cancelled) if coupled else sp.factor(cancelled)
    return min((product, cancelled), key=sp.count_ops)


def _output_chain(net: Network) -> OutputChain:
    """δ⁽ᴸ⁾ = Σ_k ∂L/∂ŷ_k ∂ŷ_k/∂z_j, simplified and proved."""
    return _output_chain_of(net.depth, net.layers[-1], net.activations[-1], net.loss)


@lru_cache(maxsize=256)
def _output_chain_of(L: int, n: int, activation: str, loss_name: str) -> OutputChain:
    """The output chain depends only on depth, output width, activation and loss."""
    net = Network((1,) * L + (n,), (activation,) * L, loss_name)
    yhat = tuple(_sym(names.make("a", L, k)) for k in range(1, n + 1))
    zL = tuple(_sym(names.make("z", L, k)) for k in range(1, n + 1))
    y = tuple(_sym(f"y_{k}") for k in range(1, n + 1))
    act, loss = ACTIVATIONS[net.activations[-1]], LOSSES[net.loss]
    Ly = loss.per_example(list(yhat), list(y))
    dL = tuple(sp.diff(Ly, p) for p in yhat)
    if act.derivative is None:  # softmax: ∂ŷ_k/∂z_j = ŷ_k(1[k=j] − ŷ_j)
        jac = tuple(tuple(yhat[k] * (int(k == j) - yhat[j]) for j in range(n)) for k in range(n))
    else:
        jac = tuple(tuple(act.derivative(zL[k], yhat[k]) if k == j else sp.S.Zero
                          for j in range(n)) for k in range(n))
    raw = tuple(sp.Add(*[dL[k] * jac[k][j] for k in range(n)]) for j in range(n))
    if act.derivative is None:  # Σ_k ∂L/∂ŷ_k ŷ_k(1[k=j] − ŷ_j) = ŷ_j(∂L/∂ŷ_j − Σ_k ∂L/∂ŷ_k ŷ_k)
        mean_grad = sp.Add(*[dL[k] * yhat[k] for k in range(n)])
        closed = tuple(_closed_form(yhat[j], dL[j] - mean_grad, y, yhat, net.loss) for j in range(n))
    else:
        closed = tuple(_closed_form(dL[j], jac[j][j], y, yhat, net.loss) for j in range(n))
    proved = _prove_output_delta(net, closed, yhat, zL, y, Ly)
    constraint = r"\sum_k y_k = 1" if loss.targets == "distribution" else ""
    return OutputChain(dL, jac, raw, closed, constraint, proved)


def _prove_output_delta(net, closed, yhat, zL, y, Ly) -> bool:
    """SymPy proof: the closed form equals ∂L/∂z_j of the loss written in z."""
    act = ACTIVATIONS[net.activations[-1]]
    g = {yhat[k]: act.g(list(zL), k) for k in range(len(yhat))}
    Lz = Ly.xreplace(g)
    for j, c in enumerate(closed):
        diff = sp.diff(Lz, zL[j]) - c.xreplace(g)
        if not is_zero(_apply_constraint(diff, y, net.loss)):
            return False
    return True


def _exp_as_symbols(expr: sp.Expr) -> dict:
    """Map each e^(c·u) in expr to E_u^c, one positive symbol E_u per base u."""
    bases: dict = {}
    out = {}
    for e in sorted(expr.atoms(sp.exp), key=sp.default_sort_key):
        c, u = sp.factor_terms(e.args[0]).as_coeff_Mul()
        if u.could_extract_minus_sign():
            c, u = -c, -u
        out[e] = bases.setdefault(u, sp.Dummy(positive=True)) ** c
    return out


def is_zero(expr: sp.Expr) -> bool:
    """Decide expr == 0 symbolically.

    Each e^(·) is first replaced by a fresh positive symbol: the identities
    we prove hold for all positive values of those, so this is sound, and it
    turns softmax expressions into rational functions ``cancel`` decides fast.
    """
    expr = expr.xreplace(_exp_as_symbols(expr))
    for step in (sp.expand, lambda e: sp.cancel(sp.together(e))):
        expr = step(expr)
        if expr == 0:
            return True
    return False


def _backward(net, W, z, a, delta, chain):
    """δ⁽ᴸ⁾ from the chain; δ⁽ˡ⁾_j = (Σ_k W⁽ˡ⁺¹⁾_kj δ⁽ˡ⁺¹⁾_k) g′(z⁽ˡ⁾_j) below it."""
    delta_expr = []
    for l in range(1, net.depth):
        delta_expr.append(tuple(
            _product(_sum([_product(W[l][k][j], delta[l][k]) for k in range(net.layers[l + 1])]),
                     local_derivative(net, l, z[l - 1][j], a[l - 1][j]))
            for j in range(net.layers[l])))
    delta_expr.append(chain.closed)
    return tuple(delta_expr)


def local_derivative(net: Network, l: int, z: sp.Symbol, a: sp.Symbol) -> sp.Expr:
    """g_l′ as the textbook writes it, in z and a = g(z): a(1−a), 1−a², ReLU′(z), …"""
    return ACTIVATIONS[net.activations[l - 1]].derivative(z, a)


def _gradients(net, x, a, delta):
    """∂L/∂W⁽ˡ⁾_ji = δ⁽ˡ⁾_j a⁽ˡ⁻¹⁾_i and ∂L/∂b⁽ˡ⁾_j = δ⁽ˡ⁾_j."""
    below = lambda l: x if l == 1 else a[l - 2]
    dW = tuple(tuple(tuple(_product(d, ai) for ai in below(l)) for d in delta[l - 1])
               for l in range(1, net.depth + 1))
    db = tuple(tuple(delta[l - 1]) for l in range(1, net.depth + 1)) if net.bias else None
    return dW, db


@lru_cache(maxsize=64)
def derive_network(net: Network) -> Derivation:
    """Build the :class:`Derivation` of an architecture (cached per architecture)."""
    from .latex import derivation_steps  # the notation lives in latex.py

    x, y, W, b, z, a, delta = _symbols(net)
    z_expr, a_expr = _forward(net, x, W, b, z)
    chain = _output_chain(net)
    delta_expr = _backward(net, W, z, a, delta, chain)
    dW, db = _gradients(net, x, a, delta)
    d = Derivation(net, x, y, W, b, z, a, delta, z_expr, a_expr,
                   LOSSES[net.loss].per_example(list(a[-1]), list(y)),
                   chain.closed, delta_expr, dW, db, chain, ())
    return Derivation(**{**d.__dict__, "steps": derivation_steps(d)})


# --- proving the recursion against the expanded loss ----------------------------

def expand_network(d: Derivation):
    """Substitutions taking every intermediate symbol to x, y, W, b (small nets only)."""
    sub: dict = {}
    for l in range(d.network.depth):
        for j, zs in enumerate(d.z[l]):
            sub[zs] = d.z_expr[l][j].xreplace(sub)
        for j, s in enumerate(d.a[l]):
            sub[s] = d.a_expr[l][j].xreplace(sub)
    return sub


def prove_gradients(d: Derivation) -> dict[str, bool]:
    """For every weight and bias: does the recursive gradient equal diff(L, w)?

    Both sides are written in x, y, W, b only and their difference is shown
    to be zero by SymPy.  Cost grows fast with size: meant for small nets.
    """
    sub = expand_network(d)
    L_full = d.loss_expr.xreplace(sub)
    for l in reversed(range(d.network.depth)):
        for j, s in enumerate(d.delta[l]):
            sub[s] = d.delta_expr[l][j].xreplace(sub)
    result = {}
    for name, w, grad in _parameters(d):
        diff = sp.diff(L_full, w) - grad.xreplace(sub)
        result[name] = is_zero(_apply_constraint(diff, d.y, d.network.loss))
    return result


def _parameters(d: Derivation):
    """(gradient name, parameter symbol, layered gradient expression) for every parameter."""
    for l in range(1, d.network.depth + 1):
        for j, row in enumerate(d.W[l - 1]):
            for i, w in enumerate(row):
                yield names.make("dW", l, j + 1, i + 1), w, d.dW_expr[l - 1][j][i]
        if d.b is not None:
            for j, bj in enumerate(d.b[l - 1]):
                yield names.make("db", l, j + 1), bj, d.db_expr[l - 1][j]


# --- the graph of named quantities ------------------------------------------------

@dataclass(frozen=True)
class Quantity:
    """One node of the graph: an answer name and how it is computed.

    ``rule`` is a SymPy expression in the symbols of ``parents`` (the answers
    its printed formula names, in worksheet order) and of given values (x, y,
    W, b, η).  ``printed`` is the quantity's own LaTeX symbol.  ``stable`` is
    the same quantity written so that float64 cannot overflow (a loss from
    the logits, softmax through logsumexp); tests prove it equal to ``rule``.
    """

    name: str
    parents: tuple[str, ...]
    rule: sp.Expr
    printed: str
    stable: sp.Expr | None = None

    def __repr__(self) -> str:
        return f"Quantity({self.name} = {self.rule}; parents {', '.join(self.parents) or '—'})"


@dataclass(frozen=True, eq=False)
class Graph:
    """Every quantity of one exercise shape (architecture and batch size), in evaluation order.

    Built once per shape by :func:`build_graph`; every other stage (the
    numeric routes, the key, the solved sheet, grading, the mistakes)
    traverses it and writes no formula of its own.  A computation-graph
    trace (:mod:`derive.trace`) has no network (``network`` None) and names
    the LaTeX of its own quantities in ``symbol_names`` (name → LaTeX).
    """

    network: Network | None
    samples: int
    quantities: tuple[Quantity, ...]
    given: tuple[sp.Symbol, ...]  # x, y (per example), W, b, η: the arguments of every rule
    index: Mapping[str, int]
    symbol_names: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        shape = f"layers={list(self.network.layers)}" if self.network is not None else "trace"
        return f"Graph({shape}, samples={self.samples}, {len(self.quantities)} quantities)"

    def __getitem__(self, name: str) -> Quantity:
        return self.quantities[self.index[name]]

    def __contains__(self, name: str) -> bool:
        return name in self.index

    @property
    def names(self) -> tuple[str, ...]:
        """Every answer name, in worksheet (and evaluation) order."""
        return tuple(q.name for q in self.quantities)


ETA = _sym("eta")
"""The learning rate η, a given of every update rule."""


def given_name(kind: str, index: int, sample: int | None = None) -> str:
    """The symbol name of an input or target: ``x_2``, or ``x_2_s3`` for example 3 of a batch."""
    return f"{kind}_{index}" + ("" if sample is None else f"_s{sample}")


def _per_example(d: Derivation, sample: int | None) -> dict:
    """Renames an example's symbols (x, y, z, a, δ) with the example's suffix."""
    if sample is None:
        return {}
    out = {s: _sym(given_name(k, i + 1, sample)) for k, v in (("x", d.x), ("y", d.y)) for i, s in enumerate(v)}
    for table in (d.z, d.a, d.delta):
        out |= {s: _sym(f"{s.name}_s{sample}") for layer in table for s in layer}
    return out


def rename(expr: sp.Expr, mapping: Mapping) -> sp.Expr:
    """Replace symbols, keeping unevaluated sums and products as written (xreplace re-evaluates)."""
    if expr in mapping:
        return mapping[expr]
    if not expr.args:
        return expr
    args = [rename(a, mapping) for a in expr.args]
    if isinstance(expr, (sp.Add, sp.Mul, sp.Pow)):
        return expr.func(*args, evaluate=False)
    return expr.func(*args)


def _parents(rule: sp.Expr) -> tuple[str, ...]:
    """The answer names among a rule's symbols (not x, y, W, b, η), in worksheet order."""
    return tuple(sorted((s.name for s in rule.free_symbols if names.parse(s.name)), key=names.sort_key))


def _quantity(name: str, rule: sp.Expr, stable: sp.Expr | None = None) -> Quantity:
    from .latex import symbol_latex  # the notation lives in latex.py
    return Quantity(name, _parents(rule), rule, symbol_latex(name), stable)


def _example_quantities(d: Derivation, sample: int | None) -> list[Quantity]:
    """z, a, the loss and δ of one example, its symbols suffixed in a batch."""
    net, m = d.network, _per_example(d, sample)
    suffix = lambda n: n if sample is None else f"{n}_s{sample}"
    out = []
    for l in range(1, net.depth + 1):
        for j in range(net.layers[l]):
            out.append(_quantity(suffix(names.make("z", l, j + 1)), rename(d.z_expr[l - 1][j], m)))
        for j in range(net.layers[l]):
            out.append(_quantity(suffix(names.make("a", l, j + 1)), rename(d.a_expr[l - 1][j], m),
                                 _stable_activation(d, l, j, m)))
    out.append(_quantity(suffix("loss"), rename(d.loss_expr, m), _stable_loss(d, m)))
    for l in range(net.depth, 0, -1):
        for j in range(net.layers[l]):
            out.append(_quantity(suffix(names.make("delta", l, j + 1)), rename(d.delta_expr[l - 1][j], m)))
    return out


def _stable_activation(d: Derivation, l: int, j: int, m) -> sp.Expr | None:
    """softmax_j = exp(z_j − logsumexp(z)): the same value, and no overflow in float64."""
    if d.network.activations[l - 1] != "softmax":
        return None
    zs = [m.get(z, z) for z in d.z[l - 1]]
    return sp.exp(zs[j] - logsumexp(*zs))


def _stable_loss(d: Derivation, m) -> sp.Expr | None:
    """The loss from the output's pre-activations (softplus, logsumexp), where the registry has it."""
    net = d.network
    logit = (LOSSES[net.loss].logit_form or {}).get(net.activations[-1])
    if logit is None:
        return None
    return logit([m.get(z, z) for z in d.z[-1]], [m.get(y, y) for y in d.y]).xreplace(m)


def _mean(terms: list, n: int) -> sp.Expr:
    """(1/n)(t₁ + … + tₙ), unevaluated; a single term stays itself."""
    return terms[0] if n == 1 else _product(sp.Rational(1, n), _sum(terms))


def _parameter_quantities(d: Derivation, samples: int) -> list[Quantity]:
    """The batch loss, ∂L/∂W and ∂L/∂b (means over the examples) and the gradient-descent step."""
    net = d.network
    maps = [_per_example(d, s if samples > 1 else None) for s in range(1, samples + 1)]
    out = []
    if samples > 1:
        out.append(_quantity("loss", _mean([_sym(f"loss_s{s}") for s in range(1, samples + 1)], samples)))
    grads, steps = [], []
    for l in range(net.depth, 0, -1):
        for j, row in enumerate(d.W[l - 1]):
            for i, w in enumerate(row):
                name = names.make("dW", l, j + 1, i + 1)
                grads.append(_quantity(name, _mean([rename(d.dW_expr[l - 1][j][i], m) for m in maps], samples)))
        if d.b is not None:
            for j, bj in enumerate(d.b[l - 1]):
                grads.append(_quantity(names.make("db", l, j + 1),
                                       _mean([rename(d.db_expr[l - 1][j], m) for m in maps], samples)))
    for g in grads:
        p = names.parse(g.name)
        old = _sym(names.make(p.kind[1:], p.layer, *p.index))
        steps.append(_quantity("new_" + g.name[1:], _sum([old, _product(-1, ETA, _sym(g.name))])))
    return out + grads + steps


def _given_symbols(d: Derivation, samples: int) -> tuple[sp.Symbol, ...]:
    examples = [None] if samples == 1 else list(range(1, samples + 1))
    xy = [_sym(given_name(k, i, s)) for s in examples for k, n in (("x", len(d.x)), ("y", len(d.y)))
          for i in range(1, n + 1)]
    params = [w for layer in d.W for row in layer for w in row]
    params += [b for layer in d.b for b in layer] if d.b is not None else []
    return tuple(xy + params + [ETA])


@lru_cache(maxsize=64)
def build_graph(net: Network, samples: int = 1) -> Graph:
    """The graph of every named quantity of an architecture and batch size (cached).

    Its rules are the derivation's layered expressions, one node per answer
    name, ordered so that every parent comes before its children.
    """
    d = derive_network(net)
    quantities = []
    for s in range(1, samples + 1):
        quantities += _example_quantities(d, s if samples > 1 else None)
    quantities += _parameter_quantities(d, samples)
    quantities.sort(key=lambda q: names.sort_key(q.name))
    return Graph(net, samples, tuple(quantities), _given_symbols(d, samples),
                 MappingProxyType({q.name: k for k, q in enumerate(quantities)}))
