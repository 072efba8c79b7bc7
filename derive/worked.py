"""The worked lines of a sheet, printed from the graph, and the context the templates receive.

Per answer name: its symbol, its rule, the rule with the numbers a student
carries substituted (the parents' printed key values and the givens), and
the key's value — all printed from the one rule of the graph's quantity.
The rest of the dict documented in ``templates/README.md`` (given values,
section intros, the rounding sentence) is assembled here too.
"""
from __future__ import annotations

import sympy as sp

from . import __version__, names, vanishing
from .fonts import fallback_for, preamble_fonts
from .functions import ACTIVATIONS, LOSSES
from .latex import TeacherPrinter, derivation_steps, symbol_latex
from .notation import DEFAULT, Notation
from typing import Mapping

from decimal import Decimal
from functools import lru_cache

from .numeric import Key, given_values, show
from .sheetcode import printed_code
from .spec import Data, Params, Spec, Student
from .symbolic import Graph, build_graph, derive_network
from .lab import LAB_SECTIONS  # their context comes from derive.worked_lab

class _NumberPrinter(TeacherPrinter):
    """Prints chosen symbols as numbers (negative ones in parentheses), · between factors.

    Substituting at print time keeps the terms in the formula's order.
    """

    def __init__(self, layers, numbers: dict[str, str], notation: Notation = DEFAULT):
        super().__init__(layers, notation, mul_symbol="dot", ln_notation=True)
        self.numbers = numbers
        self.bare = False  # the number is a function's whole argument: its parentheses suffice

    def _print_Symbol(self, expr, style="plain"):
        if expr.name in self.numbers:
            return self.numbers[expr.name] if self.bare else _paren(self.numbers[expr.name])
        return super()._print_Symbol(expr, style)

    def _bare_argument(self, expr, print_it):
        self.bare = len(expr.args) == 1 and getattr(expr.args[0], "name", None) in self.numbers
        try:
            return print_it()
        finally:
            self.bare = False

    def _print_Function(self, expr, exp=None):
        return self._bare_argument(expr, lambda: super(_NumberPrinter, self)._print_Function(expr, exp))

    def _print_Mul(self, expr):
        # y·ln(ŷ) with y = 0 prints as 0, not "0 · ln(0.4943)": the term is nothing to compute
        # (a product of numbers, 0.9 · 0, keeps its factors: each is a step of the line).
        if any(a.is_Function for a in expr.args) and any(self._is_zero(a) for a in expr.args):
            return "0"
        return super()._print_Mul(expr)

    def _is_zero(self, expr) -> bool:
        """Whether a factor is 0 in the numbers shown: y = 0, or (1 − y) with y = 1."""
        if expr.is_Function or not expr.free_symbols or not all(s.name in self.numbers for s in expr.free_symbols):
            return False
        return expr.subs({s: sp.Rational(self.numbers[s.name]) for s in expr.free_symbols}) == 0

    def _print_ExpBase(self, expr, exp=None):
        return self._bare_argument(expr, lambda: super(_NumberPrinter, self)._print_ExpBase(expr, exp))


@lru_cache(maxsize=4096)
def _formula(expr: sp.Expr, layers, notation: Notation = DEFAULT, symbol_names: tuple = ()) -> str:
    """A rule in symbols: the same on every student's sheet, so printed once (measured: 10 ms a sheet).

    ``symbol_names``: (name, LaTeX) of symbols the notation does not know (a trace's v_k).
    """
    names_setting = {"symbol_names": {sp.Symbol(n, real=True): t for n, t in symbol_names}} if symbol_names else {}
    return TeacherPrinter(layers, notation, ln_notation=True, **names_setting).doprint(expr)


def given_number(v: float) -> str:
    """A given value exactly as the key uses it, with the fewest places: 0.5, −0.3, 1 (never 1e-07)."""
    exact = Decimal(repr(float(v)))
    text = show(exact.normalize() if exact != exact.to_integral_value() else exact.to_integral_value())
    return "0" if text in ("-0", "0") else text


def _paren(text: str) -> str:
    return f"({text})" if text.startswith("-") else text


def line_inputs(graph: Graph, name: str, key: Key, given: Mapping[str, float]) -> dict[str, str]:
    """Every number a worked line shows, by symbol: the parents' printed key values and the givens."""
    rule = graph[name].rule
    return {s.name: (key.printed(s.name) if s.name in graph else given_number(given[s.name]))
            for s in sorted(rule.free_symbols, key=lambda s: s.name)}


def worked_line(graph: Graph, name: str, key: Key, given: Mapping[str, float],
                notation: Notation = DEFAULT) -> dict:
    """One answer's item: its symbol, its rule, the rule with the numbers shown, and the box.

    All three are printed from the one rule of the graph's quantity, so
    parentheses and signs cannot drift between them; ``notation`` (a profile)
    prints them as the sheet writes its symbols.
    """
    q, layers = graph[name], graph.network.layers if graph.network is not None else ()
    inputs = line_inputs(graph, name, key, given)
    symbol = q.printed if notation == DEFAULT else (symbol_latex(name, (), notation) or q.printed)
    return {"answer": name, "label": name, "symbol": symbol,
            "formula": _formula(q.rule, layers, notation, graph.symbol_names),
            "substituted": _NumberPrinter(layers, inputs, notation).doprint(q.rule),
            "value": key[name], "inputs": inputs}


SECTION_INTROS = {
    "forward": r"z^{(l)} = W^{(l)} a^{(l-1)} + b^{(l)}, \qquad a^{(l)} = g_l\bigl(z^{(l)}\bigr), \qquad a^{(0)} = x",
    "loss": None,  # the loss's own formula, from the registry
    "backward": r"\delta^{(l)} = \bigl(W^{(l+1)}\bigr)^{\top}\delta^{(l+1)} \odot g_l'\bigl(z^{(l)}\bigr), \qquad "
                r"\frac{\partial L}{\partial W^{(l)}} = \delta^{(l)} \bigl(a^{(l-1)}\bigr)^{\top}, \qquad "
                r"\frac{\partial L}{\partial b^{(l)}} = \delta^{(l)}",
    "update": r"W^{(l)} \leftarrow W^{(l)} - \eta\, \frac{\partial L}{\partial W^{(l)}}, \qquad "
              r"b^{(l)} \leftarrow b^{(l)} - \eta\, \frac{\partial L}{\partial b^{(l)}}",
}


def _intro(spec: Spec, section: str) -> str:
    if section == "loss":
        return LOSSES[spec.network.loss].latex
    if section == "vanishing":
        return vanishing.intro(spec.network.activations, spec.notation)  # in the profile's notation
    if spec.notation != DEFAULT and (text := spec.notation.intro(section, spec.network.depth, spec.network.bias)):
        return text  # the same rules in the profile's notation
    text = SECTION_INTROS[section]
    if not spec.network.bias:  # no b terms on a sheet for a network without biases
        text = (text.replace(" + b^{(l)}", "").replace(r", \qquad \frac{\partial L}{\partial b^{(l)}} = \delta^{(l)}", "")
                .replace(r", \qquad b^{(l)} \leftarrow b^{(l)} - \eta\, \frac{\partial L}{\partial b^{(l)}}", ""))
    return text


def variant_code(spec: Spec, student_id: str) -> str:
    """The footer code from which the key can be regenerated."""
    return f"derive {__version__} · spec {spec.fingerprint} · {student_id}"


def spec_texts(spec: Spec) -> list[str]:
    """The spec's words that a sheet prints (their characters choose lualatex's fallback fonts)."""
    return [spec.title, spec.course, spec.date, spec.instructions]


def header_context(spec: Spec, student: Student, engine: str = "pdflatex", fonts: tuple | None = None,
                   sheet_code: str | None = None) -> dict:
    """The part of a sheet's context every kind of sheet has (a network's, a trace's): the engine
    and fonts, the header's words, the student, the codes, and the rounding and scaffolding."""
    ex = spec.exercise
    if engine == "lualatex" and fonts is None:
        fonts = fallback_for([student.name, student.id, *spec_texts(spec)])
    return {
        "engine": engine, "variant": "blank",
        "fallback_fonts": preamble_fonts(fonts or ()), "fallback_fonts_bold": preamble_fonts(fonts or (), bold=True),
        "title": spec.title, "course": spec.course, "date": spec.date, "instructions": spec.instructions,
        "student": {"id": student.id, "name": student.name},
        "variant_code": variant_code(spec, student.id),
        "sheet_code": sheet_code, "sheet_code_printed": printed_code(sheet_code) if sheet_code else None,
        "decimals": ex.decimals,
        "rounding": ex.rounding,  # the sentence is text.tex's: rounding.carry or rounding.exact
        "show": ex.show, "working": f"{ex.working:.2f}",  # the blank sheet's scaffolding: formulas, mm of room
    }


def sheet_context(spec: Spec, student: Student, params: Params, data: Data, key: Key,
                  engine: str = "pdflatex", fonts: tuple | None = None, sheet_code: str | None = None) -> dict:
    """The context of one student's sheet (both variants: the template picks).

    ``sheet_code`` (:mod:`derive.sheetcode`): printed, with its QR code, when given.

    ``fonts``: lualatex's fallback fonts, the same for a whole class (the
    pdf stage compiles sheets with one preamble together); by default, those
    this sheet's own words need.
    """
    net, ex = spec.network, spec.exercise
    graph = build_graph(net, data.size)
    given = given_values(graph, params, data, ex.learning_rate)
    sections, placed = [], set()
    for section in ex.sections:
        if section in LAB_SECTIONS:  # the gradient check and the training table: derive.worked_lab
            from .worked_lab import lab_section
            sections.append(lab_section(spec, section, params, data, key))
            continue
        # each answer in the first section that asks for it: a batch's per-example losses are
        # the forward pass's, and the loss section then asks only for their mean
        asked = [n for n in names.in_sections(list(graph.names), (section,)) if n not in placed]
        placed.update(asked)
        sections.append({"name": section, "intro": _intro(spec, section),
                         "items": [worked_line(graph, n, key, given, spec.notation) for n in asked],
                         **(vanishing.section_extra(key, net.depth, spec.notation) if section == "vanishing" else {})})
    _number_boxes(sections, spec.notation)
    as_list = lambda m: [list(r) for r in m]
    return {
        **header_context(spec, student, engine, fonts, sheet_code),
        "learning_rate": ex.learning_rate,
        "network": {
            "layers": list(net.layers), "depth": net.depth, "bias": net.bias,
            "activations": [{"name": a, "latex": ACTIVATIONS[a].latex,
                             "derivative_latex": ACTIVATIONS[a].derivative_latex} for a in net.activations],
            "loss": {"name": net.loss, "latex": LOSSES[net.loss].latex},
        },
        "given": {"x": as_list(data.x), "y": as_list(data.y), "W": [as_list(W) for W in params.W],
                  "b": None if params.b is None else [list(b) for b in params.b]},
        "symbols": spec.notation.symbols(net.layers),
        "sections": sections,
        "derivation": [{"key": s.key, "args": dict(s.args), "latex": s.latex} for s in _steps(net, spec.notation)],
    }


def _number_boxes(sections: list[dict], notation: Notation) -> None:
    """Each item's box number (1, 2, … in sheet order, as answers-form.md counts them); under a
    profile other than derive's own, the box is labelled by it ("Box 7"), so that the label never
    names a quantity in another notation than the sheet's."""
    items = [item for section in sections for item in section["items"]]
    for k, item in enumerate(items, start=1):
        item["box"] = k
        if notation != DEFAULT:
            item["label"] = box_label(k)


def box_label(k: int) -> str:
    """The label of box k on a sheet in a notation profile (and the start of its answers column)."""
    return f"Box {k}"


@lru_cache(maxsize=64)
def _steps(net, notation: Notation) -> tuple:
    """The derivation's steps in the sheet's notation (derive's own are built with the graph)."""
    d = derive_network(net)
    return d.steps if notation == DEFAULT else derivation_steps(d, notation)
