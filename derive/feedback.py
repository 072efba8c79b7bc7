"""Each student's feedback as a PDF to hand back: every answer, their value, the key, marks, reason.

The words are in text.tex (``text.feedback``), the layout in feedback.tex,
both overridable with ``--templates``; the Markdown feedback stays beside the
PDF.  All of a class's feedback documents share one preamble, so the pdf
stage compiles them in batches and cuts one PDF per student, as it does the
sheets.  A grader's reason is derive's own text with the student's typed
values in it: it is escaped here, and its few mathematical letters (δ, σ, ∂,
−, ×) are set in maths, so pdflatex can set it.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from .render import escape_latex, needs_unicode_engine

TEMPLATE = "feedback.tex"

_MATH = {"δ": r"\delta", "σ": r"\sigma", "η": r"\eta", "Σ": r"\Sigma", "∂": r"\partial", "ŷ": r"\hat{y}",
         "′": r"'", "−": "-", "×": r"\times", "÷": r"\div", "·": r"\cdot", "½": r"\tfrac12", "±": r"\pm",
         "≤": r"\le", "≥": r"\ge", "⊙": r"\odot"}
# superscript characters: a run of them is one superscript (W⁽²⁾ᵀ is W^{(2)T}, never a double one)
_SUPERSCRIPTS = {**dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹ˡ⁽⁾⁺⁻", "0123456789l()+-")), "ᵀ": r"\mathsf{T}"}
_MATH_RUN = re.compile("[" + "".join(map(re.escape, [*_MATH, *_SUPERSCRIPTS])) + "]+")
_SUPERSCRIPT_RUN = re.compile("[" + "".join(_SUPERSCRIPTS) + "]+")
# a layer mark Unicode has no superscript for, as derive.latex.plain writes it: W^[2] (Ng's notation)
_CARET_MARK = re.compile(r"\\textasciicircum\{\}\[([0-9l+−-]{1,6})\]")  # escaped


def tex_text(text: str) -> str:
    """Feedback text as LaTeX: escaped (:func:`~derive.render.escape_latex`), its maths letters in maths,
    superscripts (⁽²⁾, ², ^[2]) as superscripts."""
    def maths(m: re.Match) -> str:
        sup = lambda s: "^{" + "".join(_SUPERSCRIPTS[ch] for ch in s[0]) + "}"
        inner = _SUPERSCRIPT_RUN.sub(sup, "".join(_MATH.get(ch, ch) for ch in m[0]))
        return r"\ensuremath{" + inner + "}"
    marks = _CARET_MARK.sub(lambda m: r"\ensuremath{^{[" + m[1].replace("−", "-") + "]}}", escape_latex(text))
    return _MATH_RUN.sub(maths, marks)


def rule_args(tolerance) -> dict:
    """The blanks of ``text.feedback.rule[mode]``: ``unit``, ``places``, ``rtol``, ``atol``, ``sigfigs``."""
    from .numeric import format_number
    return {"unit": format_number(10.0 ** -tolerance.digits, tolerance.digits) if tolerance.mode == "decimals" else "",
            "places": tolerance.digits, "sigfigs": tolerance.digits,
            "rtol": f"{tolerance.rtol * 100:g}", "atol": f"{tolerance.atol:g}"}


def feedback_context(student, *, title: str, course: str, tolerance, carried_weight: float,
                     engine: str, fonts: Sequence[str] = (), fonts_bold: Sequence[str] = ()) -> dict:
    """The context of one student's feedback.tex: plain strings and numbers (templates/README.md)."""
    from .numeric import show
    r = student.result
    rows = [{"answer": a.name, "given": tex_text(a.given.strip()), "key": show(a.expected),
             "status": a.status.value, "marks": f"{a.credit:g}", "points": f"{a.points:g}",
             "reason": tex_text("" if a.status.value == "correct" and not a.note else
                                (a.message + (f" ({a.note})" if a.note else "")))}
            for a in r.results]
    return {"engine": engine, "fallback_fonts": list(fonts), "fallback_fonts_bold": list(fonts_bold),
            "title": title, "course": course, "student": {"id": student.student_id, "name": student.name},
            "score": f"{r.score:g}", "max": f"{r.max:g}", "carried_weight": f"{carried_weight:g}",
            "tolerance": {"mode": tolerance.mode, **rule_args(tolerance)}, "rows": rows}


def texts_of(students) -> list[str]:
    """Every piece of text the feedback prints that a font must have (names, typed values, reasons)."""
    out = []
    for s in students:
        out += [s.name, s.student_id]
        out += [re.sub(r"\\ensuremath\{[^}]*\}", "", tex_text(t)) for a in s.result.results for t in (a.given, a.message)]
    return out


def feedback_engine(texts: Sequence[str], engine: str = "auto") -> str:
    """pdflatex, unless some name or typed value has a character only lualatex's fonts set."""
    if engine != "auto":
        return engine
    return "lualatex" if any(needs_unicode_engine(t) for t in texts) else "pdflatex"


def render_feedback(context: dict, env) -> str:
    """The .tex of one student's feedback (``feedback.tex`` in ``env``); a template error is one located line."""
    from .render import render_template
    return render_template(env, TEMPLATE, context)


def write_feedback_pdfs(out: Path, students, files: dict[str, str], *, spec, tolerance, carried_weight: float,
                        templates: Path | None = None, engine: str = "auto", jobs: int = 2) -> tuple[tuple, tuple]:
    """Typeset ``out/feedback/<file>.pdf`` for every student; (paths written, one warning per failed PDF).

    ``files`` maps student id → file name stem (the Markdown's).  Raises
    :class:`~derive.errors.TexError` when TeX is not installed.
    """
    from .fonts import fallback_for, preamble_fonts
    from .pdf import Sheet, compile_sheets
    from .render import make_environment
    env = make_environment(templates)
    texts = [*texts_of(students), spec.title, spec.course]
    chosen = feedback_engine(texts, engine)
    fallback = fallback_for(texts) if chosen == "lualatex" else ()
    sheets = []
    for s in students:
        ctx = feedback_context(s, title=spec.title, course=spec.course, tolerance=tolerance,
                               carried_weight=carried_weight, engine=chosen, fonts=preamble_fonts(fallback),
                               fonts_bold=preamble_fonts(fallback, bold=True))
        sheets.append(Sheet(s.student_id, render_feedback(ctx, env), Path(out) / "feedback" / f"{files[s.student_id]}.pdf"))
    result = compile_sheets(sheets, engine=chosen, jobs=jobs, batch_size=150, workdir=Path(out) / ".build")
    warnings = tuple(f"the feedback PDF of {f.key} did not compile: {f.log_excerpt.splitlines()[0] if f.log_excerpt else ''}"
                     for f in result.failures)
    return result.written, warnings
