"""The render stage's input: one sheet's context, as plain values for the templates.

From a spec, a student's draw and its Solution, build the dict documented in
``templates/README.md``: given values, and per answer name the symbol, the
formula, the formula with the numbers substituted, and the value.  Numbers
a student carries from an earlier step are printed rounded to the sheet's
decimals, because that is what the student carries.
"""
from __future__ import annotations

import sympy as sp

from . import __version__, names
from .functions import ACTIVATIONS, LOSSES
from .latex import TeacherPrinter, latex
from .numeric import Solution, format_number
from .spec import Data, Params, Spec, Student
from .symbolic import Derivation, derive_network

SECTION_TITLES = {"forward": "Forward pass", "loss": "Loss", "backward": "Backward pass",
                  "update": "Gradient-descent step"}


class _NumberPrinter(TeacherPrinter):
    """Prints chosen symbols as numbers (negative ones in parentheses), · between factors.

    Substituting at print time keeps the terms in the formula's order.
    """

    def __init__(self, layers, numbers: dict[str, str]):
        super().__init__(layers, mul_symbol="dot", ln_notation=True)
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

    def _print_ExpBase(self, expr, exp=None):
        return self._bare_argument(expr, lambda: super(_NumberPrinter, self)._print_ExpBase(expr, exp))


def _substitute(expr: sp.Expr, values: dict, layers) -> str:
    """LaTeX of expr with the symbols in ``values`` printed as the given number strings."""
    return _NumberPrinter(layers, {s.name: v for s, v in values.items()}).doprint(expr)


def _formula(expr: sp.Expr, layers) -> str:
    return TeacherPrinter(layers, ln_notation=True).doprint(expr)


def given_number(v: float) -> str:
    """A given value as the spec states it: 0.5, −0.3, 1 (no padding zeros)."""
    text = f"{v:.10g}"
    return "0" if text in ("-0", "0") else text


def _paren(text: str) -> str:
    return f"({text})" if text.startswith("-") else text


class _Sheet:
    """Builds the items of one sheet; a short-lived helper, not a value."""

    def __init__(self, spec: Spec, d: Derivation, params: Params, data: Data, sol: Solution):
        self.spec, self.d, self.params, self.data, self.sol = spec, d, params, data, sol
        self.net = spec.network
        self.dec = spec.exercise.decimals
        self.batched = data.size > 1

    def carried(self, name: str, s: int | None) -> str:
        """An earlier answer as the student carries it: rounded."""
        return format_number(self.sol[self._n(name, s)], self.dec)

    def _n(self, name: str, s: int | None) -> str:
        p = names.parse(name)
        per_example = p.kind in ("z", "a", "delta") or (p.kind == "loss" and s is not None)
        return f"{name}_s{s}" if self.batched and per_example and s is not None else name

    def below(self, l: int, i: int, s: int | None) -> tuple[str, str]:
        """(symbol, number) for a⁽ˡ⁻¹⁾_i, which is x_i for the first layer."""
        if l == 1:
            return f"x_{{{i + 1}}}", given_number(self.data.x[(s or 1) - 1][i])
        return latex(self.d.a[l - 2][i], self.net.layers), self.carried(names.make("a", l - 1, i + 1), s)

    def item(self, name: str) -> dict:
        p = names.parse(name)
        formula, substituted = getattr(self, f"_{p.kind}")(p.layer, [i - 1 for i in p.index], p.sample)
        symbol = self._symbol(p)
        return {"answer": name, "symbol": symbol, "formula": formula, "substituted": substituted,
                "value": float(self.sol[name])}

    def _symbol(self, p) -> str:
        lay = self.net.layers
        if p.kind in ("z", "a", "delta"):
            sym = latex(getattr(self.d, p.kind)[p.layer - 1][p.index[0] - 1], lay)
            return f"{{{sym}}}^{{[{p.sample}]}}" if p.sample else sym  # example s of a batch
        if p.kind == "loss":
            return "L" + (f"^{{[{p.sample}]}}" if p.sample else "")
        j, i = p.index + (None,) if len(p.index) == 1 else p.index
        head = "W" if "W" in p.kind else "b"
        sub = f"{j}{i}" if head == "W" else f"{j}"
        if p.kind.startswith("new_"):
            return rf"{head}^{{({p.layer}),\text{{new}}}}_{{{sub}}}"
        return rf"\frac{{\partial L}}{{\partial {head}^{{({p.layer})}}_{{{sub}}}}}"

    # each kind: (formula, substituted) for layer l, 0-based indices, example s
    def _z(self, l, idx, s):
        j = idx[0]
        terms, nums = [], []
        for i, w in enumerate(self.params.W[l - 1][j]):
            sym, num = self.below(l, i, s)
            terms.append(f"W^{{({l})}}_{{{j + 1}{i + 1}}} {sym}")
            nums.append(rf"{_paren(given_number(w))} \cdot {_paren(num)}")
        if self.params.b is not None:
            terms.append(f"b^{{({l})}}_{{{j + 1}}}")
            nums.append(_paren(given_number(self.params.b[l - 1][j])))
        return " + ".join(terms), " + ".join(nums)

    def _a(self, l, idx, s):
        j, act = idx[0], ACTIVATIONS[self.net.activations[l - 1]]
        zs = self.d.z[l - 1]
        expr = act.g(list(zs), j)
        values = {z: self.carried(names.make("z", l, k + 1), s) for k, z in enumerate(zs)}
        return _formula(expr, self.net.layers), _substitute(expr, values, self.net.layers)

    def _loss(self, l, idx, s):
        yhat, y = self.d.yhat, self.d.y
        examples = [s] if s or not self.batched else list(range(1, self.data.size + 1))
        subs = []
        for e in examples:
            values = {a: self.carried(names.make("a", self.net.depth, k + 1), e) for k, a in enumerate(yhat)}
            values |= {t: given_number(self.data.y[(e or 1) - 1][k]) for k, t in enumerate(y)}
            subs.append(_substitute(self.d.loss_expr, values, self.net.layers))
        formula = _formula(self.d.loss_expr, self.net.layers)
        if len(subs) > 1:  # the batch loss is the mean over examples
            return (rf"\frac{{1}}{{{len(subs)}}}\sum_{{s}} L^{{[s]}}",
                    rf"\frac{{1}}{{{len(subs)}}}\bigl(" + " + ".join(
                        _paren(self.carried("loss", e)) for e in examples) + r"\bigr)")
        return formula, subs[0]

    def _delta(self, l, idx, s):
        j, L, lay = idx[0], self.net.depth, self.net.layers
        if l == L:
            expr = self.d.output_delta[j]
            values = {a: self.carried(names.make("a", L, k + 1), s) for k, a in enumerate(self.d.yhat)}
            values |= {z: self.carried(names.make("z", L, k + 1), s) for k, z in enumerate(self.d.z[-1])}
            values |= {t: given_number(self.data.y[(s or 1) - 1][k]) for k, t in enumerate(self.d.y)}
            return _formula(expr, lay), _substitute(expr, values, lay)
        act = ACTIVATIONS[self.net.activations[l - 1]]
        local = act.derivative(self.d.z[l - 1][j], self.d.a[l - 1][j])
        terms, nums = [], []
        for k in range(lay[l + 1]):
            terms.append(f"W^{{({l + 1})}}_{{{k + 1}{j + 1}}} "
                         + latex(self.d.delta[l][k], lay))
            nums.append(rf"{_paren(given_number(self.params.W[l][k][j]))} \cdot "
                        + _paren(self.carried(names.make("delta", l + 1, k + 1), s)))
        local_values = {self.d.z[l - 1][j]: self.carried(names.make("z", l, j + 1), s),
                        self.d.a[l - 1][j]: self.carried(names.make("a", l, j + 1), s)}
        back, back_n = " + ".join(terms), " + ".join(nums)
        wrap = (lambda t: rf"\left({t}\right)") if lay[l + 1] > 1 else (lambda t: t)
        return (rf"{wrap(back)} \cdot {latex(local, lay)}",
                rf"{wrap(back_n)} \cdot {_substitute(local, local_values, lay)}")

    def _mean_over_examples(self, per_example) -> tuple[str, str]:
        if not self.batched:
            return per_example(None)
        n = self.data.size
        f, _ = per_example(1)
        return (rf"\frac{{1}}{{{n}}}\sum_{{s}} {f}",
                rf"\frac{{1}}{{{n}}}\bigl(" + " + ".join(_paren(per_example(s)[1]) for s in range(1, n + 1))
                + r"\bigr)")

    def _dW(self, l, idx, s):
        j, i = idx
        def one(e):
            sym, num = self.below(l, i, e)
            delta = self.carried(names.make("delta", l, j + 1), e)
            return (f"{latex(self.d.delta[l - 1][j], self.net.layers)} {sym}",
                    rf"{_paren(delta)} \cdot {_paren(num)}")
        return self._mean_over_examples(one)

    def _db(self, l, idx, s):
        j = idx[0]
        def one(e):
            return (latex(self.d.delta[l - 1][j], self.net.layers),
                    self.carried(names.make("delta", l, j + 1), e))
        return self._mean_over_examples(one)

    def _update(self, target: str, old: float, grad_name: str) -> tuple[str, str]:
        eta = given_number(self.spec.exercise.learning_rate)
        return (rf"{target} - \eta \, \frac{{\partial L}}{{\partial {target}}}",
                rf"{_paren(given_number(old))} - {eta} \cdot {_paren(self.carried(grad_name, None))}")

    def _new_W(self, l, idx, s):
        j, i = idx
        return self._update(f"W^{{({l})}}_{{{j + 1}{i + 1}}}", self.params.W[l - 1][j][i],
                            names.make("dW", l, j + 1, i + 1))

    def _new_b(self, l, idx, s):
        j = idx[0]
        return self._update(f"b^{{({l})}}_{{{j + 1}}}", self.params.b[l - 1][j], names.make("db", l, j + 1))


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
    text = SECTION_INTROS[section]
    if not spec.network.bias:  # no b terms on a sheet for a network without biases
        text = (text.replace(" + b^{(l)}", "").replace(r", \qquad \frac{\partial L}{\partial b^{(l)}} = \delta^{(l)}", "")
                .replace(r", \qquad b^{(l)} \leftarrow b^{(l)} - \eta\, \frac{\partial L}{\partial b^{(l)}}", ""))
    return text


def rounding_rule(decimals: int) -> str:
    """The rounding rule printed on every sheet and stated in every student's feedback."""
    return (f"Round every answer to {decimals} decimal places (halves round up, away from zero) "
            "and carry the rounded values into later steps.")


def variant_code(spec: Spec, student_id: str) -> str:
    """The footer code from which the key can be regenerated."""
    return f"derive {__version__} · spec {spec.fingerprint} · {student_id}"


def sheet_context(spec: Spec, student: Student, params: Params, data: Data, sol: Solution,
                  engine: str = "pdflatex") -> dict:
    """The context of one student's sheet (both variants: the template picks)."""
    d = derive_network(spec.network)
    sheet = _Sheet(spec, d, params, data, sol)
    net = spec.network
    sections = []
    for section in spec.exercise.sections:
        asked = names.in_sections(list(sol.values), (section,))
        sections.append({"name": section, "title": SECTION_TITLES[section], "intro": _intro(spec, section),
                         "items": [sheet.item(n) for n in asked]})
    as_list = lambda m: [list(r) for r in m]
    return {
        "engine": engine, "variant": "blank",
        "title": spec.title, "course": spec.course, "date": spec.date, "instructions": spec.instructions,
        "student": {"id": student.id, "name": student.name},
        "variant_code": variant_code(spec, student.id),
        "decimals": spec.exercise.decimals,
        "rounding_rule": rounding_rule(spec.exercise.decimals),
        "learning_rate": spec.exercise.learning_rate,
        "network": {
            "layers": list(net.layers), "depth": net.depth, "bias": net.bias,
            "activations": [{"name": a, "latex": ACTIVATIONS[a].latex,
                             "derivative_latex": ACTIVATIONS[a].derivative_latex} for a in net.activations],
            "loss": {"name": net.loss, "latex": LOSSES[net.loss].latex},
        },
        "given": {"x": as_list(data.x), "y": as_list(data.y), "W": [as_list(W) for W in params.W],
                  "b": None if params.b is None else [list(b) for b in params.b]},
        "sections": sections,
        "derivation": [{"words": w, "latex": t} for w, t in d.steps],
    }
