"""Gradient checking on the sheet: L(θ ± ε), the central difference, its relative error.

Four quantities of the one graph per checked parameter p (``W1_1_1``, ``b2_1``, …):

  loss_plus_p  = L with p replaced by p + ε   (a whole forward pass: its parents are givens)
  loss_minus_p = L with p replaced by p − ε
  fd_p         = (loss_plus_p − loss_minus_p) / (2ε)
  relerr_p     = |fd_p − ∂L/∂p| / max(|fd_p|, |∂L/∂p|, 10^−d)

∂L/∂p is the sheet's own backward-pass answer, and 10^−d (one unit of the
sheet's last place) keeps the relative error of two gradients that both
round to 0 at 0.  ε is a given of the rules, chosen per student by
:func:`choose_step` together with how many places L(θ ± ε) is printed to,
so that fd computed from the *printed* L(θ ± ε) agrees with backprop.
"""
from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Mapping

import sympy as sp

from .numeric import evaluate_exact, rounded
from .symbolic import Graph, Quantity, _product, _sum

EPSILON = sp.Symbol("eps", real=True)
"""ε, a given of every L(θ ± ε) rule."""

STEPS = (Fraction(1, 100), Fraction(1, 1000), Fraction(1, 10_000), Fraction(1, 100_000))
"""The ε tried, largest first: a larger ε loses fewer digits in L(θ+ε) − L(θ−ε)."""

KINDS = ("loss_plus", "loss_minus", "fd", "relerr")

_NAME = re.compile(r"(loss_plus|loss_minus|fd|relerr)_((?:W|b)\d+_\d+(?:_\d+)?)")


def names_of(checked: tuple[str, ...]) -> list[str]:
    """The section's answer names, parameter by parameter: loss_plus_p, loss_minus_p, fd_p, relerr_p."""
    return [f"{kind}_{p}" for p in checked for kind in KINDS]


def parse_name(name: str) -> tuple[str, str] | None:
    """(kind, parameter) of one of the section's answer names: ``fd_W1_1_1`` → ("fd", "W1_1_1");
    None for any other name."""
    m = _NAME.fullmatch(name)
    return (m[1], m[2]) if m else None


def _symbol(name: str) -> sp.Symbol:
    return sp.Symbol(name, real=True)


def quantities(loss_in_givens: sp.Expr, checked: tuple[str, ...], decimals: int,
               printed) -> list[Quantity]:
    """The gradient check's quantities, for a loss written in the givens alone.

    ``printed`` gives a name's LaTeX symbol (the notation lives in latex.py).
    """
    out = []
    unit = sp.Float("0." + "0" * (decimals - 1) + "1", decimals + 1)  # 10^−d, printed as 0.0001
    for p in checked:
        theta = _symbol(p)
        plus, minus, fd = (_symbol(f"{k}_{p}") for k in ("loss_plus", "loss_minus", "fd"))
        grad = _symbol("d" + p)
        central = _product(_sum([plus, _product(-1, minus)]), sp.Pow(_product(2, EPSILON), -1, evaluate=False))
        relerr = _product(sp.Abs(_sum([fd, _product(-1, grad)])),
                          sp.Pow(sp.Max(sp.Abs(fd), sp.Abs(grad), unit), -1, evaluate=False))
        rules = [(plus.name, (), loss_in_givens.xreplace({theta: theta + EPSILON})),
                 (minus.name, (), loss_in_givens.xreplace({theta: theta - EPSILON})),
                 (fd.name, (plus.name, minus.name), central),
                 (f"relerr_{p}", ("d" + p, fd.name), relerr)]
        out += [Quantity(name, parents, rule, printed(name)) for name, parents, rule in rules]
    return out


def printed_places(eps: Fraction, decimals: int) -> int:
    """How many places L(θ ± ε) needs: dividing by 2ε magnifies their rounding 1/(2ε) times.

    With D = d + ⌈log₁₀(1/2ε)⌉ + 1 places, the two roundings move fd by at most
    10^−D / (2ε) ≤ 0.1 unit of the sheet's last place.
    """
    return decimals + math.ceil(math.log10(1 / (2 * eps)) - 1e-12) + 1


def estimate(lab: Graph, givens: Mapping[str, Fraction], p: str, eps: Fraction, places: int) -> Fraction:
    """fd_p as a student computes it: from L(θ ± ε) rounded to ``places``."""
    env = {**givens, EPSILON.name: eps}
    plus = rounded(evaluate_exact(lab[f"loss_plus_{p}"].rule, env), places)
    minus = rounded(evaluate_exact(lab[f"loss_minus_{p}"].rule, env), places)
    return (plus - minus) / (2 * eps)


def choose_step(lab: Graph, givens: Mapping[str, Fraction], gradients: Mapping[str, Fraction],
                checked: tuple[str, ...], decimals: int) -> tuple[Fraction, int]:
    """(ε, places of L(θ ± ε)): the largest ε of :data:`STEPS` whose estimate, from the printed
    L(θ ± ε), lies within half a unit of the sheet's last place of the exact gradient for every
    checked parameter (truncation, O(ε²·L‴), and rounding together); the smallest if none does."""
    half = Fraction(1, 2 * 10 ** decimals)
    for eps in STEPS:
        places = printed_places(eps, decimals)
        if all(abs(estimate(lab, givens, p, eps, places) - gradients["d" + p]) <= half for p in checked):
            return eps, places
    return STEPS[-1], printed_places(STEPS[-1], decimals)
