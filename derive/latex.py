"""Notation: a SymPy LaTeX printer that writes what a teacher writes.

Internal symbol names (``W2_1_3``, ``delta1_2``, ``a2_1``) print as
W^{(2)}_{13}, δ^{(1)}_2 and ŷ; our functions print as σ(z), ReLU′(z).
Also builds the derivation steps (:class:`Step`: a key for their words, and LaTeX) for a sheet.
"""
from __future__ import annotations

import re
from typing import NamedTuple

import sympy as sp
from sympy.printing.latex import LatexPrinter

from . import names
from .functions import ACTIVATIONS, LOSSES
from .notation import DEFAULT, Notation

_FUNCTIONS = {
    "sigmoid": r"\sigma", "relu": r"\operatorname{ReLU}", "step": r"\operatorname{ReLU}'",
    "leaky_relu": r"\operatorname{LReLU}", "leaky_step": r"\operatorname{LReLU}'",
    "softplus": r"\operatorname{softplus}", "logsumexp": r"\operatorname{logsumexp}",
}


class TeacherPrinter(LatexPrinter):
    """LaTeX in textbook notation for a network with ``layers`` widths, in a profile's ``notation``."""

    def __init__(self, layers: tuple[int, ...] = (), notation: Notation = DEFAULT, **settings):
        super().__init__({"mul_symbol": None, "order": "none", **settings})
        self.layers = layers
        self.notation = notation

    def _print_Symbol(self, expr, style="plain"):
        return symbol_latex(expr.name, self.layers, self.notation) or super()._print_Symbol(expr, style)

    def _print_Function(self, expr, exp=None):
        name = type(expr).__name__
        if name in _FUNCTIONS:
            args = ", ".join(self._print(a) for a in expr.args)
            head = _FUNCTIONS[name] + (f"^{{{exp}}}" if exp else "")
            return rf"{head}\left({args}\right)"
        return super()._print_Function(expr, exp)


_GIVEN = re.compile(r"(x|y)_(\d+)(?:_s(\d+))?")
_PARAMETER = re.compile(r"(W|b)(\d+)_(\d+)(?:_(\d+))?")


def symbol_latex(name: str, layers: tuple[int, ...] = (), notation: Notation = DEFAULT) -> str | None:
    """The LaTeX of a quantity or given symbol by its name (None for other names).

    ``z1_2`` → z^{(1)}_{2}, ``dW2_1_3`` → ∂L/∂W^{(2)}_{13}, ``new_b1_1`` →
    b^{(1),new}_{1}, ``x_1_s2`` → x_1 of example 2 (z^{(1)[2]}_{1}: the example
    in the layer's superscript, not stacked as a second one), ``eta`` → η; with
    the widths given, the output a is ŷ and a single target is y.  ``notation``
    (a profile) writes the same name as the sheet does: W^{[2]}_{13}, w_{31}, ….
    """
    n = notation
    if name == "eta":
        return r"\eta"
    if m := _GIVEN.fullmatch(name):
        single = m[1] == "y" and layers and layers[-1] == 1
        return n.symbol(m[1], None, "" if single else m[2], sample=m[3])
    if m := _PARAMETER.fullmatch(name):
        return _parameter(n, m[1], int(m[2]), tuple(int(i) for i in m.groups()[2:] if i))
    if (lab := _lab_symbol(name, n)) is not None:
        return lab
    p = names.parse(name)
    if p is None:
        return None
    sample = None if p.sample is None else str(p.sample)
    index = "".join(str(i) for i in p.index)
    if p.kind == "loss":
        return n.symbol("L", sample=sample)
    if p.kind in ("dW", "db"):
        return rf"\frac{{\partial L}}{{\partial {_parameter(n, p.kind[1], p.layer, p.index)}}}"
    if p.kind in ("new_W", "new_b"):
        return _parameter(n, p.kind[-1], p.layer, p.index, r"\text{new}")
    if p.kind == "a" and layers and p.layer == len(layers) - 1:
        return n.symbol(r"\hat{y}", None, "" if layers[-1] == 1 else index, sample=sample)
    head = {"z": "z", "a": "a", "delta": r"\delta"}[p.kind]
    return n.symbol(head, p.layer, index, sample=sample)


def _parameter(n: Notation, head: str, layer: int, index: tuple[int, ...], extra: str = "") -> str:
    """W⁽ˡ⁾_ji (index = (j, i): to, from) or b⁽ˡ⁾_j in the profile's notation."""
    if head == "W":
        return n.weight(layer, index[0], index[1], extra)
    return n.symbol("b", layer, str(index[0]), extra)


_SUPERSCRIPT = str.maketrans("0123456789()+-l", "⁰¹²³⁴⁵⁶⁷⁸⁹⁽⁾⁺⁻ˡ")
_SCRIPT = re.compile(r"([\^_])\{([^{}]*)\}")


def plain(tex: str) -> str:
    r"""A symbol's LaTeX as feedback writes it in plain text (Unicode), in the same notation.

    A superscript whose characters all have Unicode forms is set in them, others keep a caret;
    a subscript keeps its underscore, with braces only when it has a comma:
    W^{(2)}_{ji} → W⁽²⁾_ji, w^{2}_{ji} → w²_ji, W^{[2]}_{ji} → W^[2]_ji, \delta_{2,j} → δ_{2,j}.
    (:func:`derive.feedback.tex_text` sets these back in maths for a PDF.)
    """
    def script(m: re.Match) -> str:
        mark, body = m[1], m[2]
        if mark == "^":
            up = body.translate(_SUPERSCRIPT)
            return up if all(ch != c for ch, c in zip(up, body)) else "^" + body
        return "_" + (f"{{{body}}}" if "," in body else body)
    return _SCRIPT.sub(script, tex.replace(r"\delta", "δ").replace(r"\hat{y}", "ŷ"))


_CHECKED = re.compile(r"(loss_plus|loss_minus|fd|relerr)_((?:W|b)\d+_\d+(?:_\d+)?)")
_EPOCH = re.compile(r"(loss|(?:W|b)\d+_\d+(?:_\d+)?)_e(\d+)")


def _lab_symbol(name: str, notation: Notation = DEFAULT) -> str | None:
    """The gradient check's and the training table's symbols: L(θ+ε), ΔL/Δθ, L_t, θ_t; ε."""
    if name == "eps":
        return r"\varepsilon"
    if m := _CHECKED.fullmatch(name):
        theta = symbol_latex(m[2], (), notation)
        return {"loss_plus": rf"L\bigl({theta} + \varepsilon\bigr)",
                "loss_minus": rf"L\bigl({theta} - \varepsilon\bigr)",
                "fd": rf"\frac{{\Delta L}}{{\Delta {theta}}}",
                "relerr": rf"\operatorname{{relerr}}\bigl({theta}\bigr)"}[m[1]]
    if m := _EPOCH.fullmatch(name):
        return f"L_{{{m[2]}}}" if m[1] == "loss" else rf"{symbol_latex(m[1], (), notation)}\big|_{{t={m[2]}}}"
    return None


def latex(expr, layers: tuple[int, ...] = (), notation: Notation = DEFAULT) -> str:
    """Print a SymPy expression in the notation of a network with these widths."""
    return TeacherPrinter(layers, notation).doprint(expr)


# --- the derivation as steps -----------------------------------------------------

class Step(NamedTuple):
    """One row of the derivation: its words (a key of text.tex's ``steps``, "" for none), its LaTeX.

    The words live in the templates, so a sheet in another language has
    no English in it; ``args`` fill their blanks ("Layer {l} uses").
    """

    key: str
    latex: str
    args: tuple[tuple[str, object], ...] = ()


def _forward_steps(d, n: Notation) -> list[Step]:
    net = d.network
    steps = [Step("forward", rf"{n.forward(net.depth, net.bias)}, \qquad \hat{{y}} = {n.vector('a', net.depth)}")]
    loss = LOSSES[net.loss]
    steps.append(Step("loss", loss.latex))
    return steps


def _output_steps(d, n: Notation) -> list[Step]:
    net, ch = d.network, d.chain
    L, lay = net.depth, net.layers
    p = lambda e: latex(e, lay, n)
    j = 0 if lay[-1] == 1 else None  # one output: no unit index needed
    sub = "" if j == 0 else "_j"
    act = ACTIVATIONS[net.activations[-1]]
    yh = rf"\hat{{y}}{sub}"
    # one output: dL/dŷ = …; several: each dL/dŷ_k = … (never "dL/dŷ_j = dL/dŷ_1")
    steps = [Step("dloss",
              rf"\frac{{\partial L}}{{\partial {yh}}} = {p(display_form(ch.dL_dyhat[0]))}" if j == 0 else
              r", \quad ".join(rf"\frac{{\partial L}}{{\partial \hat{{y}}_{{{k + 1}}}}} = {p(display_form(e))}"
                               for k, e in enumerate(ch.dL_dyhat)))]
    if act.derivative is None:
        steps.append(Step("softmax_jacobian",
                      rf"\frac{{\partial \hat{{y}}_k}}{{\partial {n.symbol('z', L, 'j')}}} = \hat{{y}}_k\,(\mathbf{{1}}[k=j] - \hat{{y}}_j)"))
        steps.append(Step("chain_over_outputs",
                      rf"{n.vector('delta', L, 'j')} = \sum_k \frac{{\partial L}}{{\partial \hat{{y}}_k}}"
                      rf"\frac{{\partial \hat{{y}}_k}}{{\partial {n.symbol('z', L, 'j')}}}"))
    else:
        zL = n.symbol("z", L, sub[1:])
        steps.append(Step("output_derivative",
                      rf"{act.latex}'\bigl({zL}\bigr) = {p(ch.jacobian[0][0])}" if not act.kinked
                      else act.derivative_latex))
        steps.append(Step("chain_rule", rf"{n.vector('delta', L, sub[1:])} = \frac{{\partial L}}{{\partial {yh}}}"
                      rf"\cdot {act.latex}'\bigl({zL}\bigr)"))
    for k, closed in enumerate(ch.closed):
        lhs = n.symbol(r"\delta", L, "" if j == 0 else str(k + 1))
        words = "closed_form" + ("_one_hot" if ch.constraint else "") + ("" if ch.proved else "_unproved")
        mid = "" if act.derivative is None else (
            rf" = {_factor(display_form(ch.dL_dyhat[k]), lay, n)} \cdot {_factor(ch.jacobian[k][k], lay, n)}")
        steps.append(Step(words if k == 0 else "", f"{lhs}{mid} = {p(closed)}"))
    return steps


def display_form(expr: sp.Expr) -> sp.Expr:
    """A fraction with its numerator expanded and denominator factored: (ŷ−y)/(ŷ(1−ŷ))."""
    num, den = sp.fraction(sp.together(expr))
    return sp.expand(num) / den if den != 1 else expr


def _factor(expr: sp.Expr, layers, n: Notation = DEFAULT) -> str:
    """An expression printed as one factor of a product: a sum gets parentheses."""
    tex = latex(expr, layers, n)
    return rf"\left({tex}\right)" if expr.is_Add else tex


def _hidden_steps(d, n: Notation) -> list[Step]:
    net = d.network
    if net.depth < 2:
        return []
    steps = [Step("hidden", n.hidden_delta(net.depth))]
    for l in range(net.depth - 1, 0, -1):
        act = ACTIVATIONS[net.activations[l - 1]]
        steps.append(Step("layer_uses", act.derivative_latex, (("l", l),)))
        for j in range(net.layers[l]):  # the derivation's own rule, the one the graph evaluates
            steps.append(Step("", f"{latex(d.delta[l - 1][j], net.layers, n)} = "
                              f"{latex(d.delta_expr[l - 1][j], net.layers, n)}"))
    return steps


def _gradient_steps(d, n: Notation) -> list[Step]:
    net = d.network
    return [Step("gradients", n.gradients(net.depth, net.bias)),
            Step("gradient_entries", n.gradient_entries(net.depth)),
            Step("update", n.update(net.depth, net.bias))]


def derivation_steps(d, notation: Notation = DEFAULT) -> tuple[Step, ...]:
    """The derivation as :class:`Step` rows: forward, loss, δ⁽ᴸ⁾, hidden δ, gradients, in a profile's notation."""
    n = notation
    return tuple(_forward_steps(d, n) + _output_steps(d, n) + _hidden_steps(d, n) + _gradient_steps(d, n))
