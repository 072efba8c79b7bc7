"""Training steps on the sheet: the loss and every parameter after each of k full-batch steps.

Quantities of the one graph:

  loss_e{t}  the loss at the parameters after t steps (``loss_e0`` before the first step),
  {p}_e{t}   parameter p after t steps (``W1_1_1_e2``), t = 1 … k.

Each step is one rule: the exercise's own update, new_p = p − η ∂L/∂p, written out in the
parameters (a whole forward and backward pass of the batch), with the parameters of the
step before as its parents.  So the rounded chain starts each step from the previous step's
*printed* parameters, a student's slip in one row is followed through into the next, and the
loss curve on the solved sheet is the key's own printed losses.
"""
from __future__ import annotations

import re

import sympy as sp

from .symbolic import Quantity


def epoch_name(name: str, t: int) -> str:
    """``loss_e{t}``, ``W1_1_1_e{t}``: a quantity after t steps."""
    return f"{name}_e{t}"


_NAME = re.compile(r"(loss|(?:W|b)\d+_\d+(?:_\d+)?)_e(\d+)")


def parse_name(name: str) -> tuple[str, int] | None:
    """(quantity, steps) of one of the table's answer names: ``W1_1_1_e2`` → ("W1_1_1", 2),
    ``loss_e0`` → ("loss", 0); None for any other name."""
    m = _NAME.fullmatch(name)
    return (m[1], int(m[2])) if m else None


def names_of(parameters: tuple[str, ...], epochs: int) -> list[str]:
    """The table's answer names in evaluation order: loss_e0, then each step's parameters and loss."""
    out = [epoch_name("loss", 0)]
    for t in range(1, epochs + 1):
        out += [epoch_name(p, t) for p in parameters] + [epoch_name("loss", t)]
    return out


def _at(parameters: tuple[str, ...], t: int) -> dict:
    """The substitution putting the parameters after t steps in place of the given ones."""
    if t == 0:
        return {}
    return {sp.Symbol(p, real=True): sp.Symbol(epoch_name(p, t), real=True) for p in parameters}


def quantities(in_givens: dict[str, sp.Expr], parameters: tuple[str, ...], epochs: int,
               printed) -> list[Quantity]:
    """The training table's quantities, from the exercise's loss and update rules written in the givens.

    ``in_givens`` maps ``loss`` and each ``new_{p}`` to its rule in x, y, W, b, η alone;
    ``printed`` gives a name's LaTeX symbol.
    """
    out: list[Quantity] = []
    if not epochs:
        return out
    for t in range(epochs + 1):
        if t > 0:
            before = tuple(epoch_name(p, t - 1) for p in parameters) if t > 1 else ()
            out += [Quantity(epoch_name(p, t), before, in_givens["new_" + p].xreplace(_at(parameters, t - 1)),
                             printed(epoch_name(p, t))) for p in parameters]
        now = tuple(epoch_name(p, t) for p in parameters) if t > 0 else ()
        out.append(Quantity(epoch_name("loss", t), now, in_givens["loss"].xreplace(_at(parameters, t)),
                            printed(epoch_name("loss", t))))
    return out
