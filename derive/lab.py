"""The whole lab session on one graph: a spec's exercise with its gradient check and training steps.

:func:`lab_graph` extends the exercise's graph (:func:`derive.symbolic.build_graph`)
with the quantities of :mod:`derive.gradcheck` and :mod:`derive.epochs`, so the
key (the rounded chain), the solved sheet's lines and follow-through grading
treat them like every other answer.  :func:`prepare` gives one student's
graph, exact givens (ε among them) and the places each answer is printed to;
:func:`exercise_key` and :func:`exercise_problem` build on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping

import sympy as sp

from . import epochs, gradient_check as gradcheck
from .latex import symbol_latex
from .numeric import Key, exact_givens, rounded_chain
from .spec import Data, Exercise, Network, Params, Spec, parameter_names
from .symbolic import Graph, build_graph

LAB_SECTIONS = ("gradcheck", "training")
"""The sections whose answers live in the extended graph."""


@dataclass(frozen=True)
class Lab:
    """What a spec's extra sections ask for: the checked parameters, the training steps, the decimals."""

    checked: tuple[str, ...] = ()
    epochs: int = 0
    decimals: int = 4

    @classmethod
    def of(cls, exercise: Exercise) -> "Lab":
        return cls(exercise.gradcheck, exercise.epochs, exercise.decimals)

    def __bool__(self) -> bool:
        return bool(self.checked or self.epochs)


@lru_cache(maxsize=64)
def in_givens(graph: Graph) -> Mapping[str, sp.Expr]:
    """Every quantity of the graph written in its givens alone (x, y, W, b, η), by name (cached)."""
    sub: dict = {}
    for q in graph.quantities:
        sub[sp.Symbol(q.name, real=True)] = q.rule.xreplace(sub)
    return MappingProxyType({s.name: e for s, e in sub.items()})


@lru_cache(maxsize=64)
def lab_graph(net: Network, samples: int, lab: Lab) -> Graph:
    """The exercise's graph with the lab's quantities after it (cached per shape and lab)."""
    base = build_graph(net, samples)
    if not lab:
        return base
    full = in_givens(base)
    extra = gradcheck.quantities(full["loss"], lab.checked, lab.decimals, symbol_latex)
    extra += epochs.quantities(full, parameter_names(net), lab.epochs, symbol_latex)
    quantities = base.quantities + tuple(extra)
    given = base.given + ((gradcheck.EPSILON,) if lab.checked else ())
    return Graph(net, samples, quantities, given, MappingProxyType({q.name: k for k, q in enumerate(quantities)}))


def section_names(exercise: Exercise, net: Network, section: str) -> list[str]:
    """The answer names a lab section asks for, in order (none for other sections)."""
    if section == "gradcheck":
        return gradcheck.names_of(exercise.gradcheck)
    if section == "training":
        return epochs.names_of(parameter_names(net), exercise.epochs)
    return []


def asked(exercise: Exercise, net: Network) -> list[str]:
    """Every answer name the lab sections of a sheet ask for."""
    return [n for s in exercise.sections for n in section_names(exercise, net, s)]


@dataclass(frozen=True, eq=False)
class Prepared:
    """One student's lab exercise: the graph, the exact givens (ε too), ε, and places past the sheet's."""

    graph: Graph
    givens: Mapping[str, Fraction]
    eps: Fraction | None
    places: Mapping[str, int]


@lru_cache(maxsize=32)
def prepare(net: Network, params: Params, data: Data, exercise: Exercise) -> Prepared:
    """The graph, givens and printed places of one student's exercise (cached: key, sheet and
    grading of a student each ask for it)."""
    lab = Lab.of(exercise)
    graph = lab_graph(net, data.size, lab)
    givens = exact_givens(graph, params, data, exercise.learning_rate)
    if not lab.checked:
        return Prepared(graph, MappingProxyType(givens), None, MappingProxyType({}))
    base = build_graph(net, data.size)
    exact = rounded_chain(base, givens, exercise.decimals, "exact").unrounded
    eps, places = gradcheck.choose_step(graph, givens, exact, lab.checked, exercise.decimals)
    wide = {f"{k}_{p}": places for p in lab.checked for k in ("loss_plus", "loss_minus")}
    return Prepared(graph, MappingProxyType({**givens, gradcheck.EPSILON.name: eps}), eps, MappingProxyType(wide))


def exercise_key(spec: Spec, params: Params, data: Data) -> Key:
    """A student's answer key with every section the spec asks for (the lab's too; a ``[graph]``
    spec's trace, whose params are its symbols' values)."""
    if spec.trace is not None:
        from .trace import spec_key
        return spec_key(spec, params)
    return _problem(spec.network, params, data, spec.exercise).key


def exercise_problem(spec: Spec, params: Params, data: Data):
    """A :class:`derive.grade.Problem` over the lab graph, for grading every section (or over a
    ``[graph]`` spec's trace)."""
    ex = spec.exercise
    if spec.trace is not None:
        from .trace import spec_trace, trace_problem
        return trace_problem(spec_trace(spec), params, ex.decimals, ex.rounding)
    return _problem(spec.network, params, data, ex)


def verify_exercise(spec: Spec, params: Params, data: Data, answers: Mapping[str, str], tolerance=None):
    """Check one worked example's answers against the spec's whole exercise: every section it asks
    (the gradient check, the training steps, the vanishing chain) or a ``[graph]`` trace.

    Only the answers the example gives are graded (all the sheet asks, when it gives none), each
    at the precision it was written to when that is a few places fewer than the spec's.
    """
    from .grade import Marking, Tolerance, grade_problem
    from .randomize import asked_names
    pr = exercise_problem(spec, params, data)
    given = [n for n in pr.graph.names if str(answers.get(n) or "").strip()]
    names = given or [n for n in asked_names(spec, data.size if data is not None else 1) if n in pr.graph]
    marking = Marking(tolerance or Tolerance.by_decimals(spec.exercise.decimals))
    return grade_problem(pr, answers, marking, names, spec.notation)


@lru_cache(maxsize=32)
def _problem(net: Network, params: Params, data: Data, exercise: Exercise):
    """One student's key and problem (cached: the draw's checks, the sheet and grading each ask for it)."""
    from .grade import Problem
    pr = prepare(net, params, data, exercise)
    key = rounded_chain(pr.graph, pr.givens, exercise.decimals, exercise.rounding, pr.places)
    carried = {**pr.givens, **({n: Fraction(v) for n, v in key.values.items()}
                               if exercise.rounding == "carry" else key.unrounded)}
    return Problem(pr.graph, pr.givens, key, params, MappingProxyType(carried))
