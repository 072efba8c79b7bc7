"""The lab sections of a sheet for the templates: the gradient check's lines and the training table.

The twin of :mod:`derive.worked` for the quantities of :mod:`derive.lab`: the central
difference and the relative error are printed from their graph rules like every other
line; L(θ ± ε) (a whole forward pass) is shown as the loss at the shifted parameter, and
the training table shows each step's printed loss and parameters, with the loss curve.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Mapping

from . import epochs
from .lab import prepare, section_names
from .latex import symbol_latex
from .losscurve import loss_curve
from .numeric import Key, given_values, show
from .spec import Data, Params, Spec, parameter_names
from .worked import given_number, worked_line

GRADCHECK_INTRO = (r"\frac{\partial L}{\partial \theta} \approx "
                   r"\frac{L(\theta + \varepsilon) - L(\theta - \varepsilon)}{2\varepsilon}, \qquad "
                   r"\varepsilon = {eps}")
TRAINING_INTRO = (r"\theta_{{t+1}} = \theta_t - \eta\, \frac{{\partial L}}{{\partial \theta}}\Big|_{{\theta_t}}, "
                  r"\qquad L_t = L(\theta_t), \qquad t = 0, \dots, {last}")


def _shifted_line(name: str, key: Key, given: Mapping[str, float], eps: Decimal) -> dict:
    """L(θ ± ε)'s item: the loss at the shifted parameter, θ written as given ± ε."""
    kind, _, p = name.partition("_")[2].partition("_")
    sign = "+" if kind == "plus" else "-"
    theta, start = symbol_latex(p), given_number(given[p])
    shifted = Decimal(start) + eps if sign == "+" else Decimal(start) - eps
    at = lambda value: rf"L\big|_{{{theta} \,=\, {value}}}"
    return {"answer": name, "symbol": symbol_latex(name), "formula": at(rf"{start} {sign} \varepsilon"),
            "substituted": at(show(shifted.normalize()) if shifted != 0 else "0"), "value": key[name],
            "inputs": {p: start, "eps": show(eps)}}


def _gradcheck(spec: Spec, params: Params, data: Data, key: Key) -> dict:
    pr = prepare(spec.network, params, data, spec.exercise)
    eps = Decimal(pr.eps.numerator) / Decimal(pr.eps.denominator)
    given = {**given_values(pr.graph, params, data, spec.exercise.learning_rate), "eps": float(pr.eps)}
    items = []
    for name in section_names(spec.exercise, spec.network, "gradcheck"):
        if name.startswith("loss_"):
            items.append(_shifted_line(name, key, given, eps))
        else:
            items.append(worked_line(pr.graph, name, key, given))
    places = next(iter(pr.places.values()))
    return {"name": "gradcheck", "intro": GRADCHECK_INTRO.replace("{eps}", show(eps)), "items": items,
            "eps": show(eps), "places": places}


def _training(spec: Spec, params: Params, data: Data, key: Key) -> dict:
    net, k = spec.network, spec.exercise.epochs
    pr = prepare(net, params, data, spec.exercise)
    given = given_values(pr.graph, params, data, spec.exercise.learning_rate)
    cell = lambda name: {"answer": name, "value": key[name], "given": None}
    rows = [{"symbol": "L", "cells": [cell(epochs.epoch_name("loss", t)) for t in range(k + 1)]}]
    for p in parameter_names(net):
        start = {"answer": None, "value": None, "given": given_number(given[p])}
        rows.append({"symbol": symbol_latex(p), "cells": [start] + [cell(epochs.epoch_name(p, t))
                                                                  for t in range(1, k + 1)]})
    items = [{"answer": n, "symbol": pr.graph[n].printed, "formula": "", "substituted": "",
              "value": key[n], "inputs": {}} for n in section_names(spec.exercise, net, "training")]
    losses = [key[epochs.epoch_name("loss", t)] for t in range(k + 1)]
    return {"name": "training", "intro": TRAINING_INTRO.format(last=k - 1), "items": items,
            "steps": list(range(k + 1)), "rows": rows, "curve": loss_curve(losses),
            "box_width": f"{min(34.0, 140.0 / (k + 1) - 3):.1f}",
            # the heading, intro and note stay on the page of the table (a row: 10.5 mm blank, 6 mm solved)
            "needspace": {"blank": f"{40 + 10.5 * len(rows):.0f}mm", "solved": f"{40 + 6 * len(rows):.0f}mm"}}


SECTIONS = {"gradcheck": _gradcheck, "training": _training}
"""Each lab section → the function building its context."""


def lab_section(spec: Spec, section: str, params: Params, data: Data, key: Key) -> dict:
    """The template context of one lab section (see templates/README.md)."""
    return SECTIONS[section](spec, params, data, key)
