"""The grade stage: students' typed answers against the key.

Reading what people type (:func:`parse_number`), tolerance modes as named
functions (:func:`within_decimals`, :func:`within_rtol`,
:func:`within_sigfigs`), follow-through credit (each answer re-evaluated
from the student's own earlier answers through the graph), named mistakes
(the rewrites of :mod:`derive.mistakes`), and the files a class's grading
produces.  Every answer gets a :class:`Status`, never a bare boolean; named
mistakes and notes are feedback only and never change the score.

The follow-through rule, as the README states it for students:

    An answer that is wrong only because an earlier answer of yours was
    wrong, and that you worked out correctly from that earlier answer,
    earns full credit.  It earns none when the earlier error made the step
    trivial: when putting 0 in place of your wrong earlier answers gives
    the same result (your z = 0.0001 makes σ(z) = 0.5000 trivially), or
    when the earlier answer it uses is missing, or was itself neither right
    nor worked out from answers that were (an invented number).
"""
from __future__ import annotations

import csv
import enum
import hashlib
import io
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Iterable, Mapping, Sequence

from . import names as answer_names
from .errors import AnswersError, OutputError, did_you_mean
from .mistakes import alternative_routes, explanation, mistake_id, mistaken_values
from .notation import DEFAULT, Notation
from .points import Points
from .numeric import (Key, Undefined, evaluate_exact, exact_givens, format_number, quantize, round_half_up, rounded,
                      rounded_chain, show)
from .spec import _LIFT, LARGE, WORKSHEET, Data, Limits, Network, Params, read_text
from .symbolic import Graph, build_graph
from .tables import csv_text, write_atomic

# --- reading a typed number -------------------------------------------------------

@dataclass(frozen=True)
class Unparseable:
    """A cell that is not a number: the text and why it was not read."""

    text: str
    reason: str


_TYPED = str.maketrans({
    "\u2212": "-", "\u2013": "-", "\u2012": "-", "\u2010": "-", "\u2011": "-", "\ufe63": "-",
    **{chr(0xFF10 + d): str(d) for d in range(10)},  # full-width forms from East Asian keyboards
    "\uff0d": "-", "\uff0b": "+", "\uff0e": ".", "\uff0c": ",", "\uff45": "e", "\uff25": "E",
    **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
    **{chr(0x06F0 + d): str(d) for d in range(10)},  # Eastern Arabic-Indic (Persian, Urdu)
    "\u066b": ".", "\u066c": ",",                    # Arabic decimal and thousands separators
})
_THOUSANDS = re.compile(r"[+-]?[1-9][0-9]{0,2},[0-9]{3}")  # 1,234: 1.234 or 1234?
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SIGN_SPACE = re.compile(r"^([+-])\s+")
_MAX_LENGTH = 100
_MAX_EXPONENT = 400  # beyond float64's range both ways (1e-400 is 0.0)


def parse_number(text: str) -> float | None | Unparseable:
    """A typed number as a float; None when empty (missing); :class:`Unparseable` otherwise.

    Accepts ``-0.204``, ``−0.204`` (Unicode minus or dash), ``+0.5``, ``.5``,
    ``1e-3``, surrounding spaces, and a decimal comma (``0,204``) when there is
    no other separator.  Rejects ``nan``, ``inf``, ``1.2.3``, ``0,1,2``, words.
    """
    typed = parse_typed(text)
    return float(typed) if isinstance(typed, Decimal) else typed


def parse_typed(text: str) -> Decimal | None | Unparseable:
    """A typed number exactly as written (``0.50`` keeps its two places); see :func:`parse_number`."""
    if text is None:
        return None
    s = str(text).strip()
    if not s:
        return None
    if len(s) > _MAX_LENGTH:
        return Unparseable(str(text), "too long to be a number")
    s = _SIGN_SPACE.sub(r"\1", s.translate(_TYPED))  # "− 0.5" → "-0.5"
    if "," in s:
        if "." in s or s.count(",") > 1:
            return Unparseable(str(text), "more than one decimal separator")
        if _THOUSANDS.fullmatch(s):  # never guess: a misread number is worse than a question
            return Unparseable(str(text), "ambiguous: a thousands separator or a decimal comma? "
                                          "type it with a decimal point")
        s = s.replace(",", ".")
    if not _NUMBER.fullmatch(s):
        return Unparseable(str(text), "not a number")
    if not math.isfinite(float(s)):
        return Unparseable(str(text), "too large")
    value = Decimal(s)
    if abs(value.as_tuple().exponent) > _MAX_EXPONENT:  # 1e-99999999999 is short, but as a Fraction it
        return Unparseable(str(text), "exponent out of range")  # needs 10^99999999999: grading hung
    return value


def typed_decimals(value: Decimal) -> int:
    """How many decimal places a typed number gives: 3 for ``0.123`` and ``1.23e-1``, 0 for ``12``."""
    return max(-value.as_tuple().exponent, 0)


# --- tolerance modes ------------------------------------------------------------------

def _slack(*xs: float) -> float:
    """A few ulps of the largest magnitude: absorbs binary floating point at the boundary."""
    return 4 * math.ulp(max(1.0, *(abs(x) for x in xs)))


def within_decimals(given: float, key: float, decimals: int) -> bool:
    """|given − key as printed| ≤ one unit in the last place (10^−decimals)."""
    unit = 10.0 ** -decimals
    d = abs(given - key)
    if d > 2 * unit:  # the printed key is within half a unit of the key
        return False
    return abs(given - float(quantize(key, decimals))) <= unit * (1 + 1e-9) + _slack(given, key)


def within_rtol(given: float, key: float, rtol: float, atol: float = 0.0) -> bool:
    """|given − key| ≤ atol + rtol·|key| (NumPy's ``isclose``)."""
    return abs(given - key) <= atol + rtol * abs(key) + _slack(given, key)


def within_sigfigs(given: float, key: float, sigfigs: int) -> bool:
    """|given − key| ≤ one unit in the ``sigfigs``-th significant digit of the key."""
    if key == 0:
        return abs(given) <= 10.0 ** -sigfigs
    unit = 10.0 ** (math.floor(math.log10(abs(key))) - sigfigs + 1)
    return abs(given - key) <= unit * (1 + 1e-9) + _slack(given, key)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@dataclass(frozen=True)
class Tolerance:
    """How close an answer must be: ``decimals``, ``rtol`` or ``sigfigs`` mode.

    Make one with :meth:`by_decimals`, :meth:`by_rtol` or :meth:`by_sigfigs`.
    """

    mode: str = "decimals"
    digits: int = 4        # decimals, or significant figures
    rtol: float = 0.0
    atol: float = 0.0

    @classmethod
    def by_decimals(cls, decimals: int) -> "Tolerance":
        return cls("decimals", decimals)

    @classmethod
    def by_rtol(cls, rtol: float, atol: float = 0.0) -> "Tolerance":
        return cls("rtol", 0, rtol, atol)

    @classmethod
    def by_sigfigs(cls, sigfigs: int) -> "Tolerance":
        return cls("sigfigs", sigfigs)

    def accepts(self, given: float, key: float) -> bool:
        """Whether ``given`` counts as equal to ``key`` (the key as printed always does)."""
        if given == key:
            return True
        if self.mode == "decimals":
            return within_decimals(given, key, self.digits)
        if self.mode == "rtol":
            return within_rtol(given, key, self.rtol, self.atol)
        if self.mode == "sigfigs":
            return within_sigfigs(given, key, self.digits)
        raise ValueError(f"unknown tolerance mode {self.mode!r}")

    def margin(self, key):
        """The largest accepted |given − key| for each key value (an array): the rules above, vectorised."""
        import numpy as np
        key = np.asarray(key, dtype=float)
        slack = 4 * np.spacing(np.maximum(1.0, np.abs(key)))
        if self.mode == "decimals":
            return 10.0 ** -self.digits * (1 + 1e-9) + slack
        if self.mode == "rtol":
            return self.atol + self.rtol * np.abs(key) + slack
        with np.errstate(divide="ignore"):
            exponent = np.where(key == 0, -self.digits, np.floor(np.log10(np.abs(key))) - self.digits + 1)
        return 10.0 ** exponent * (1 + 1e-9) + slack

    def describe(self) -> str:
        """The rule as one sentence for the feedback."""
        if self.mode == "decimals":
            unit = format_number(10.0 ** -self.digits, self.digits)
            return (f"Answers are accepted within ±{unit} of the key as printed (one unit in the "
                    f"{_ordinal(self.digits)} decimal place), because you round each step and carry "
                    "the rounded value forward.")
        if self.mode == "rtol":
            parts = [f"{self.rtol * 100:g}% of the key's size" if self.rtol else "",
                     f"{self.atol:g}" if self.atol else ""]
            return f"Answers are accepted within {' plus '.join(p for p in parts if p) or '0'} of the key."
        return (f"Answers are accepted within one unit in the {_ordinal(self.digits)} significant "
                "figure of the key.")


# --- grading one student -------------------------------------------------------------

class Status(enum.StrEnum):
    """What became of one answer."""

    CORRECT = "correct"          # matches the key
    CARRIED = "carried"          # wrong against the key, right from the student's own earlier answers
    WRONG = "wrong"
    MISSING = "missing"          # left empty
    UNPARSEABLE = "unparseable"  # not a number


CREDITED = (Status.CORRECT, Status.CARRIED)

FEWER_DECIMALS = "fewer decimals than asked"
"""The note on an answer that is right to the places typed, but fewer than the sheet asks."""

MOST_FEWER = 2
"""Answers with up to this many fewer places than asked are checked at the places typed."""


@dataclass(frozen=True)
class AnswerResult:
    """One graded answer.

    ``reevaluated`` is the value the answer should have from the student's
    own earlier answers (None where it has none, e.g. z⁽¹⁾); ``mistake`` a
    :data:`~derive.mistakes.MISTAKES` id naming a wrong answer's likely cause;
    ``note`` a remark that does not change the status (fewer decimals).
    """

    name: str
    given: str
    value: float | None
    expected: Decimal
    reevaluated: Decimal | None
    status: Status
    mistake: str | None
    message: str
    note: str = ""
    credit: float = 0.0   # the marks earned, out of ``points``
    points: float = 1.0   # what the answer is worth ([exercise].points)


@dataclass(frozen=True)
class StudentResult:
    """All of a student's graded answers, in worksheet order, and the score."""

    results: tuple[AnswerResult, ...]
    score: float
    max: float

    def __repr__(self) -> str:
        counts = Counter(r.status.value for r in self.results)
        return f"StudentResult(score={self.score:g}/{self.max:g}, {dict(counts)})"

    def __getitem__(self, name: str) -> AnswerResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)


@dataclass(frozen=True)
class Marking:
    """How answers earn marks: the tolerance, what carried answers earn, the deduction for fewer places,
    and what each answer is worth.

    ``carried_weight`` and ``fewer_decimals_deduction`` are shares of an
    answer's points, so they scale with them.
    """

    tolerance: "Tolerance"
    carried_weight: float = 1.0
    fewer_decimals_deduction: float = 0.0
    points: Points = Points()


@dataclass(frozen=True, eq=False)
class Problem:
    """One exercise ready for grading: its graph, exact givens and key."""

    graph: Graph
    givens: Mapping[str, Fraction] = field(repr=False)
    key: Key
    params: Params = field(repr=False)
    carried: Mapping[str, Fraction] = field(repr=False)  # the givens and the values the sheet's rule carries

    @classmethod
    def of(cls, net: Network, params: Params, data: Data, learning_rate: float, decimals: int,
           rounding: str = "carry") -> "Problem":
        graph = build_graph(net, data.size)
        givens = exact_givens(graph, params, data, learning_rate)
        key = rounded_chain(graph, givens, decimals, rounding)
        carried = {**givens, **({n: rounded(v, decimals) for n, v in key.unrounded.items()}
                                if rounding == "carry" else key.unrounded)}
        return cls(graph, MappingProxyType(givens), key, params, MappingProxyType(carried))

    @property
    def decimals(self) -> int:
        return self.key.decimals

    def full_precision(self) -> dict[str, Fraction]:
        """The givens and every value at full precision (a student who never rounds)."""
        if self.key.rounding == "exact":
            return {**self.givens, **self.key.unrounded}
        return {**self.givens, **rounded_chain(self.graph, self.givens, self.decimals, "exact").unrounded}


@dataclass(frozen=True)
class _Answer:
    """One answer during grading: the typed text and what it reads as."""

    name: str
    given: str
    value: Decimal | Unparseable | None

    @property
    def number(self) -> Decimal | None:
        return self.value if isinstance(self.value, Decimal) else None


def grade_student(net: Network, params: Params, data: Data, learning_rate: float, decimals: int,
                  answers: Mapping[str, str], tolerance: "Tolerance | None" = None,
                  carried_weight: float = 1.0, names: Sequence[str] | None = None,
                  rounding: str = "carry", fewer_decimals_deduction: float = 0.0,
                  points: Points = Points(), notation: Notation = DEFAULT) -> StudentResult:
    """Grade one student's answers (answer name → text as typed) against their exercise.

    ``names`` are the answers the sheet asks for (default: every answer of
    the graph); ``tolerance`` defaults to one unit in the last of
    ``decimals`` places; ``notation`` is the sheet's profile, in which the
    messages name quantities.  Never raises on what a student typed.
    """
    pr = Problem.of(net, params, data, learning_rate, decimals, rounding)
    marking = Marking(tolerance or Tolerance.by_decimals(decimals), carried_weight, fewer_decimals_deduction,
                      points)
    return grade_problem(pr, answers, marking, names, notation)


def grade_problem(pr: Problem, answers: Mapping[str, str], marking: Marking,
                  names: Sequence[str] | None = None, notation: Notation = DEFAULT) -> StudentResult:
    """Grade answers against a :class:`Problem`, answer by answer in graph order; the messages
    write quantities in ``notation``, the profile of the student's sheet."""
    asked = _asked(pr, names)
    g = _Grading(pr, marking, {n: _read(n, answers.get(n)) for n in asked}, notation)
    results = tuple(g.result(n) for n in asked)
    return StudentResult(results, sum(r.credit for r in results), sum(r.points for r in results))


def _asked(pr: Problem, names: Sequence[str] | None) -> tuple[str, ...]:
    if names is None:
        return pr.graph.names
    unknown = [n for n in names if n not in pr.graph]
    if unknown:
        raise ValueError(f"not answers of this exercise: {', '.join(unknown)}")
    return tuple(names)


def _read(name: str, text) -> _Answer:
    given = "" if text is None else str(text)
    return _Answer(name, given, parse_typed(given))


class _Grading:
    """One student's grading, in graph order: each answer sees the results of its parents."""

    def __init__(self, pr: Problem, marking: Marking, typed: dict[str, _Answer], notation: Notation = DEFAULT):
        self.pr, self.marking, self.typed, self.notation = pr, marking, typed, notation
        self.tol = marking.tolerance
        self.status: dict[str, Status] = {}
        self.own = {**pr.carried, **{n: Fraction(a.number) for n, a in typed.items() if a.number is not None}}

    def result(self, name: str) -> AnswerResult:
        r = self._result(name)
        self.status[name] = r.status
        return r

    def _result(self, name: str) -> AnswerResult:
        a = self.typed[name]
        if a.value is None:
            return self._make(name, Status.MISSING, "no answer")
        if isinstance(a.value, Unparseable):
            return self._make(name, Status.UNPARSEABLE,
                              f"could not read {a.given.strip()!r} as a number ({a.value.reason})")
        key, tol = self.pr.key[name], self._tolerance(name)
        if tol.accepts(float(a.number), float(key)):
            return self._make(name, Status.CORRECT, "correct")
        if self._right_to_places_typed(a.number, key):
            return self._make(name, Status.CORRECT, "correct", note=FEWER_DECIMALS)
        refusal = ""
        for parents, rule in self._routes(name):
            r = self._reevaluate(rule, places=self._places(name))
            if r is None or not tol.accepts(float(a.number), float(r)):
                continue
            refusal = self._no_follow_through(name, parents, rule, r)
            if not refusal:
                return self._follows(name, parents, r)
        return self._wrong(name, f" No follow-through credit: {refusal}." if refusal else "")

    def _right_to_places_typed(self, given: Decimal, key: Decimal) -> bool:
        """Right to the decimals the student typed, when that is a few fewer than asked."""
        places, asked = typed_decimals(given), self.pr.decimals
        if self.tol.mode != "decimals" or not asked - MOST_FEWER <= places < asked or places < 1:
            return False
        return within_decimals(float(given), float(key), places)

    def _routes(self, name: str):
        """(parents, rule) of each accepted way of working the answer out from the student's values;
        where the rule has no value there (ŷ typed as 1 in a BCE), its stable form."""
        q = self.pr.graph[name]
        for parents, rule in alternative_routes(self.pr.graph, name):
            if rule is q.rule and q.stable is not None and self._reevaluate(rule) is None:
                rule = q.stable
            yield parents, rule

    def _places(self, name: str) -> int:
        """The places an answer is printed to: the sheet's, or more where the key prints more
        (a gradient check's L(θ ± ε))."""
        return max(-self.pr.key[name].as_tuple().exponent, self.pr.decimals)

    def _tolerance(self, name: str) -> "Tolerance":
        """The marking's tolerance, in an answer's own last place where it has more places than the sheet's."""
        places = self._places(name)
        return Tolerance.by_decimals(places) if self.tol.mode == "decimals" and places > self.tol.digits else self.tol

    def _reevaluate(self, rule, env: Mapping[str, Fraction] | None = None,
                    places: int | None = None) -> Decimal | None:
        """A rule on the student's own values (the key's where none was asked), rounded as the sheet says."""
        try:
            return _printed(evaluate_exact(rule, self.own if env is None else env), places or self.pr.decimals)
        except Undefined:
            return None

    def _no_follow_through(self, name: str, parents: tuple[str, ...], rule, r: Decimal) -> str:
        """Why an answer that follows from the student's parents still earns nothing ('' if it earns)."""
        wrong = [p for p in parents if p in self.typed and self.status[p] is not Status.CORRECT]
        for p in wrong:
            status = self.status[p]
            if status in (Status.MISSING, Status.UNPARSEABLE):
                return f"your {p} is {'missing' if status is Status.MISSING else 'not a number'}"
            if status is Status.WRONG and not self._worked_from_credited(p):
                return (f"your {p} = {self.typed[p].given.strip()} is neither right nor worked out from "
                        "answers that are, so nothing computed from it earns follow-through credit")
        if wrong and self._trivial(rule, wrong, r, name):
            shown = ", ".join(f"{p} = {self.typed[p].given.strip()}" for p in wrong)
            return f"your {shown} makes {name} = {show(r)} trivially"
        return ""

    def _worked_from_credited(self, name: str) -> bool:
        """A wrong answer counts as an honest slip when every earlier answer it uses earned credit."""
        parents = self.pr.graph[name].parents
        return all(self.status[p] in CREDITED for p in parents if p in self.typed)

    def _trivial(self, rule, wrong: list[str], r: Decimal, name: str) -> bool:
        """The wrong parents make the answer 0, or putting 0 in their place gives the same answer,
        where the right working gives neither."""
        key = self.pr.key[name]
        if r == 0 and key != 0:
            return True
        at_zero = self._reevaluate(rule, {**self.own, **{p: Fraction(0) for p in wrong}})
        return at_zero == r and at_zero != key

    def _follows(self, name: str, parents: tuple[str, ...], r: Decimal) -> AnswerResult:
        """Right from the student's own parents: carried (or correct, if the parents are)."""
        off = [p for p in parents if p in self.typed and self.status[p] is not Status.CORRECT]
        if not off:  # every parent is right: only the rounding carried forward differs
            return self._make(name, Status.CORRECT, "correct (from your rounded earlier answers)", r)
        return self._make(name, Status.CARRIED, f"follows correctly from your {', '.join(off)}", r)

    def _wrong(self, name: str, note: str) -> AnswerResult:
        expected = f"Expected {self.pr.key.printed(name)}."
        key = self._named_mistake(name)
        if key is None:
            return self._make(name, Status.WRONG, f"{expected}{note}")
        variant = key.partition(":")[2].replace("x", "×").replace("/", "÷")
        explain = explanation(mistake_id(key), name, self.notation) + (f" (here {variant})" if variant else "")
        return self._make(name, Status.WRONG, f"{explain} {expected}{note}", mistake=mistake_id(key))

    def _named_mistake(self, name: str) -> str | None:
        """The first catalogued mistake matching the answer: from the student's parents, then the
        key's, then the values at full precision (a student who never rounds)."""
        given = float(self.typed[name].number)
        for env in (self.own, self.pr.carried, self.pr.full_precision()):
            for key, v in mistaken_values(self.pr.graph, name, env, self.pr.decimals).items():
                if self.tol.accepts(given, float(_printed(v, self.pr.decimals))):
                    return key
        return None

    def _make(self, name: str, status: Status, message: str, r: Decimal | None = None,
              mistake: str | None = None, note: str = "") -> AnswerResult:
        a, m = self.typed[name], self.marking
        share = {Status.CORRECT: 1.0, Status.CARRIED: m.carried_weight}.get(status, 0.0)
        if note == FEWER_DECIMALS:
            share = max(share - m.fewer_decimals_deduction, 0.0)
        worth = m.points.of(name)
        value = float(a.number) if a.number is not None else None
        if r is None and self.pr.graph[name].parents:
            r = next((v for _, rule in self._routes(name)
                      if (v := self._reevaluate(rule, places=self._places(name))) is not None), None)
        return AnswerResult(name, a.given, value, self.pr.key[name], r, status, mistake, message, note,
                            share * worth, worth)


def _printed(v: Fraction, decimals: int) -> Decimal:
    return round_half_up(v, decimals)


# --- a single sheet: derive verify ---------------------------------------------------

def verify(net: Network, params: Params, data: Data, learning_rate: float, decimals: int,
           answers: Mapping[str, str], tolerance: "Tolerance | None" = None,
           names: Sequence[str] | None = None, rounding: str = "carry",
           notation: Notation = DEFAULT) -> StudentResult:
    """Check one sheet's answers; by default only the answers it gives (that exist) are graded.

    Each value is accepted at the precision it was written to, when that is
    a few places fewer than the spec asks (a published worked example).
    """
    if names is None:
        graph = build_graph(net, data.size)
        names = [n for n in graph.names if str(answers.get(n) or "").strip()] or list(graph.names)
    return grade_student(net, params, data, learning_rate, decimals, answers, tolerance, names=names,
                         rounding=rounding, notation=notation)


def result_json(result: StudentResult, decimals: int) -> dict:
    """A JSON-able form: ``{"score", "max", "answers": {name: {given, expected, status, mistake}}}``."""
    return {
        "score": result.score,
        "max": result.max,
        "answers": {r.name: {"given": r.given, "expected": show(r.expected),
                             "status": r.status.value, "mistake": r.mistake, "message": r.message,
                             "note": r.note, "marks": r.credit, "points": r.points}
                    for r in result.results},
    }


# --- reading answers files --------------------------------------------------------------

@dataclass(frozen=True)
class Answers:
    """An answers file: student id → answer name → text as typed, with what was odd about it.

    ``layout`` is ``"wide"`` (student_id, then a column per answer) or
    ``"long"`` (student_id, name, value); ``lines`` gives each student's first
    line; ``warnings`` are located one-line messages, nothing is dropped silently.
    """

    path: str
    layout: str
    students: Mapping[str, Mapping[str, str]]
    lines: Mapping[str, int]
    warnings: tuple[str, ...]

    def __repr__(self) -> str:
        return (f"Answers({self.path!r}, {self.layout}, {len(self.students)} students, "
                f"{len(self.warnings)} warnings)")

    def not_on_roster(self, roster: Iterable[str]) -> list[str]:
        """Warnings for the ids in this file that are not on the roster."""
        return _roster_warnings(self.path, self.lines, roster)


@dataclass(frozen=True)
class SheetAnswers:
    """One sheet's answers (for ``derive verify``): answer name → text as typed."""

    path: str
    answers: Mapping[str, str]
    warnings: tuple[str, ...]


_DELIMITERS = (",", ";", "\t")


def _header_key(cell: str) -> str:
    return re.sub(r"[\s\-]+", "_", cell.strip().lower())


def _rows(text: str, path: str, delimiter: str, most: int | None = None,
          why: str = "") -> list[tuple[int, list[str]]]:
    """(first line number, cells) for every non-blank row; more than ``most`` after the header is an
    error (``why`` says where the bound comes from)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows, line = [], 1
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                rows.append((line, cells))
                if most is not None and len(rows) > most + 1:  # a row per student (and answer) at most
                    raise AnswersError(f"expected at most {most} rows of answers{why}", file=path, line=line)
            line = reader.line_num + 1
    except csv.Error as e:
        raise AnswersError(f"not a readable CSV file: {e}", file=path, line=reader.line_num or 1) from e
    return rows


def _delimiter(text: str) -> str:
    """The separator the header line uses (``;`` and tab for spreadsheets set to a decimal comma)."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    for d in _DELIMITERS:
        if _header_key(first.split(d)[0].strip('"')) in ("student_id", "sheet_code") and d in first:
            return d
    return ","


def read_answers(path: str | Path, *, roster: Iterable[str] | None = None,
                 expected: Iterable[str] | None = None, id_column: str | None = None,
                 mapping: str | Path | Mapping[str, str] | None = None,
                 codes: Mapping[str, str] | None = None, limits: Limits = WORKSHEET) -> Answers:
    """Read a class's answers CSV: derive's own, wide or long, or a form or LMS export (detected).

    ``roster`` (student ids) and ``expected`` (the answer names the sheet
    asks, in box order) add warnings for ids and names outside them; ids are
    matched to the roster's case-insensitively.  ``id_column`` names the
    column that identifies students, ``mapping`` (a ``--map`` CSV file, or
    column → answer name) names answer columns; see :mod:`derive.answers`
    for the exports read.  A ``sheet_code`` column identifies students by
    their sheet code, or checks the id column: ``codes`` (student id → code)
    resolves them, and a code that is another student's, or invalid, is
    reported (:func:`derive.answers.identify_by_code`).  Raises :class:`~derive.errors.AnswersError` only
    when the file cannot be read at all, or has more rows than ``limits.students`` students could fill
    (one per answer each: 10⁶ rows of ids not on the roster took minutes and a warning each).
    """
    from . import answers as exports
    path = str(path)
    text = exports.read_answers_text(path)
    delimiter = _delimiter(text)
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    own = _header_key(first.split(delimiter)[0].strip('"')) in ("student_id", "sheet_code")
    boxes = list(expected) if expected is not None else None
    most = limits.students * max(1, len(boxes) if boxes is not None else limits.weights)
    why = f" ({limits.students} students, a row per answer each at most)" + (_LIFT if limits != LARGE else "")
    rows = _rows(text, path, delimiter if own else exports.export_delimiter(text), most, why)
    if not rows:
        raise AnswersError("empty file; expected a header starting with student_id", file=path, line=1)
    code_col = exports.code_column(rows[0][1])
    rows, code_warnings = exports.identify_by_code(path, rows, codes, roster, id_column)
    if id_column is not None and code_col is not None and exports.code_column([id_column]) == 0:
        id_column = None  # the code column named the students: it is now the student_id column
    line, header = rows[0]
    keys = [_header_key(c) for c in header]
    if isinstance(mapping, (str, Path)):
        mapping = exports.read_map(mapping, boxes)
    if keys[0] == "student_id" and id_column is None and not mapping:
        reader = _read_long if keys == ["student_id", "name", "value"] else _read_wide
        asked = set(boxes) if boxes is not None else None
        students, lines, warnings = reader(path, header, rows[1:], asked)
        layout = "long" if reader is _read_long else "wide"
        students, lines = _as_on_roster(students, lines, roster)
    else:
        students, lines, warnings, layout = exports.read_export(
            path, rows, expected=boxes, roster=roster, id_column=id_column, mapping=mapping)
    warnings = code_warnings + warnings
    if roster is not None:
        warnings += _roster_warnings(path, lines, roster)
    return Answers(path, layout,
                   MappingProxyType({s: MappingProxyType(a) for s, a in students.items()}),
                   MappingProxyType(lines), tuple(warnings))


def _as_on_roster(students: dict, lines: dict, roster: Iterable[str] | None) -> tuple[dict, dict]:
    """Ids as the roster spells them, where they differ only in case or surrounding spaces."""
    if roster is None:
        return students, lines
    from .answers import match_id, roster_lookup
    lookup = roster_lookup(roster)
    renamed = {sid: match_id(sid, lookup) for sid in students}
    if len(set(renamed.values())) < len(renamed):  # two spellings of one id: keep them apart
        return students, lines
    return ({renamed[s]: a for s, a in students.items()}, {renamed[s]: n for s, n in lines.items()})


def _roster_warnings(path: str, lines: Mapping[str, int], roster: Iterable[str]) -> list[str]:
    known = set(roster)
    return [f"{path}:{line}: student_id {s!r} is not on the roster; not graded"
            for s, line in lines.items() if s not in known]


def _name_problem(name: str, expected: set[str] | None) -> str:
    """Why a column or row name is not gradable ('' when it is)."""
    if not name:
        return "has no answer name"
    if answer_names.parse(name) is None and name not in (expected or ()):  # a trace's v1, grad_w; the lab's (derive.lab)
        return f"{name!r} is not an answer name" + did_you_mean(name, expected or ())
    if expected is not None and name not in expected:
        return f"{name!r} is not asked on this sheet"
    return ""


def _read_wide(path, header, rows, expected):
    warnings: list[str] = []
    columns: dict[int, str] = {}
    hline = 1
    from .answers import column_answer
    for i, cell in enumerate(header[1:], start=1):
        if i == 1 and _header_key(cell) == "name":  # answers-template.csv's own second column
            continue
        name = column_answer(cell)  # "Box 9: dW1_2_1" on a sheet in a notation profile
        problem = _name_problem(name, expected)
        if problem:
            warnings.append(f"{path}:{hline}: column {i + 1} {problem}; ignored")
        elif name in columns.values():
            warnings.append(f"{path}:{hline}: column {i + 1} repeats {name!r}; the first one is used")
        else:
            columns[i] = name
    students: dict[str, dict[str, str]] = {}
    lines: dict[str, int] = {}
    for line, cells in rows:
        sid = cells[0].strip()
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
            warnings.append(f"{path}:{line}: {len(cells)} cells but the header has {len(header)}; "
                            "the extra cells are ignored")
        elif len(cells) < len(header):
            warnings.append(f"{path}:{line}: {len(cells)} cells but the header has {len(header)}; "
                            "the missing ones count as empty")
        if not sid:
            warnings.append(f"{path}:{line}: no student_id; row ignored")
        elif sid in students:
            warnings.append(f"{path}:{line}: student_id {sid!r} again (first on line {lines[sid]}); "
                            "this row is ignored")
        else:
            students[sid] = {n: (cells[i] if i < len(cells) else "") for i, n in columns.items()}
            lines[sid] = line
    return students, lines, warnings


def _read_long(path, header, rows, expected):
    warnings: list[str] = []
    students: dict[str, dict[str, str]] = {}
    lines: dict[str, int] = {}
    seen: dict[tuple[str, str], int] = {}
    for line, cells in rows:
        if len(cells) != 3:
            warnings.append(f"{path}:{line}: expected 3 cells (student_id, name, value); got {len(cells)}"
                            + ("; row ignored" if len(cells) < 3 else "; the extra cells are ignored"))
            if len(cells) < 3:
                continue
        sid, name, value = cells[0].strip(), cells[1].strip(), cells[2]
        problem = _name_problem(name, expected)
        if not sid:
            warnings.append(f"{path}:{line}: no student_id; row ignored")
        elif problem:
            warnings.append(f"{path}:{line}: {problem}; row ignored")
        elif (sid, name) in seen:
            warnings.append(f"{path}:{line}: {name} of {sid!r} again (first on line {seen[sid, name]}); "
                            "this row is ignored")
        else:
            seen[sid, name] = line
            students.setdefault(sid, {})[name] = value
            lines.setdefault(sid, line)
    return students, lines, warnings


def read_sheet_answers(path: str | Path, names: Sequence[str] | None = None) -> SheetAnswers:
    """Read one sheet's answers: rows ``name,value`` (header optional) or one wide row under a header.

    ``names``: the exercise's answer names, where some are outside the network
    grammar (a trace's ``v1``, the gradient check's ``fd_W1_1_1``); a row
    naming anything else is ignored with a warning.
    """
    path = str(path)
    expected = set(names) if names is not None else None
    text = read_text(path, AnswersError)
    rows = _rows(text, path, _sheet_delimiter(text))
    if not rows:
        raise AnswersError("empty file; expected rows of name,value", file=path, line=1)
    first = [_header_key(c) for c in rows[0][1]]
    if first[:2] == ["name", "value"]:
        return _sheet_long(path, rows[1:], expected)
    cells = [c.strip() for c in rows[0][1]]
    known = lambda c: bool(answer_names.parse(c)) or c in (expected or ())
    if len(cells) == 2 and known(cells[0]) and not known(cells[1]):
        return _sheet_long(path, rows, expected)
    return _sheet_wide(path, rows, expected)


def _sheet_delimiter(text: str) -> str:
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    return max(_DELIMITERS, key=first.count) if any(d in first for d in _DELIMITERS) else ","


def _sheet_long(path: str, rows, expected: set[str] | None = None) -> SheetAnswers:
    answers: dict[str, str] = {}
    warnings: list[str] = []
    first: dict[str, int] = {}
    for line, cells in rows:
        name = cells[0].strip()
        if len(cells) < 2 or len(cells) > 2 and any(c.strip() for c in cells[2:]):
            warnings.append(f"{path}:{line}: expected 2 cells (name, value); got {len(cells)}"
                            + ("; row ignored" if len(cells) < 2 else "; the extra cells are ignored"))
            if len(cells) < 2:
                continue
        problem = _name_problem(name, expected)
        if problem:
            warnings.append(f"{path}:{line}: {problem}; row ignored")
        elif name in answers:
            warnings.append(f"{path}:{line}: {name} again (first on line {first[name]}); row ignored")
        else:
            answers[name], first[name] = cells[1], line
    return SheetAnswers(path, MappingProxyType(answers), tuple(warnings))


def _sheet_wide(path: str, rows, expected: set[str] | None = None) -> SheetAnswers:
    (hline, header), body = rows[0], rows[1:]
    if not body:
        raise AnswersError("expected rows of name,value, or a header row of answer names and one "
                           "row of values", file=path, line=hline)
    start = 1 if _header_key(header[0]) == "student_id" else 0
    line, cells = body[0]
    students, _, warnings = _read_wide(path, ["student_id", *header[start:]],
                                       [(line, ["-", *cells[start:]])], expected)
    if len(body) > 1:
        warnings.append(f"{path}:{body[1][0]}: more than one row of answers; only line {line} is read")
    return SheetAnswers(path, MappingProxyType(students["-"]), tuple(warnings))


# --- writing a class's grades ------------------------------------------------------------

@dataclass(frozen=True)
class GradedStudent:
    """One row of a class's grades: who, their result, and a flag for the marker ('' if none)."""

    student_id: str
    name: str
    result: StudentResult
    flag: str = ""


# --- copying: answers that match another student's sheet better than their own ---------

COPY_SHARE = 0.5
"""A flag needs at least this share of the asked answers to match the other student's key."""


def match_counts(keys: Sequence[Key], answers: Sequence[Mapping[str, str]], asked: Sequence[str],
                 tolerance: "Tolerance") -> "np.ndarray":
    """counts[i, j]: how many of student i's answers are within tolerance of student j's key."""
    import numpy as np
    K = np.array([[float(k[n]) for n in asked] for k in keys])
    A = np.array([[_as_float(a.get(n)) for n in asked] for a in answers])
    margin = tolerance.margin(K)
    counts = np.empty((len(A), len(K)), dtype=int)
    for start in range(0, len(A), 64):  # rows in chunks: an (rows × students × answers) array
        block = A[start:start + 64, None, :]
        counts[start:start + 64] = (np.abs(block - K[None]) <= margin[None]).sum(axis=2)
    return counts


def _as_float(text) -> float:
    v = parse_number(text)
    return v if isinstance(v, float) else math.nan


def copying_flags(ids: Sequence[str], keys: Sequence[Key], answers: Sequence[Mapping[str, str]],
                  asked: Sequence[str], tolerance: "Tolerance") -> dict[str, str]:
    """Student id → a flag where their answers match another student's sheet better than their own.

    Flagged only when the other sheet differs from theirs and matches at
    least :data:`COPY_SHARE` of the asked answers.  A flag never changes a score.
    """
    if len(ids) < 2:
        return {}
    counts = match_counts(keys, answers, asked, tolerance)
    out = {}
    for i, sid in enumerate(ids):
        own = counts[i, i]
        row = counts[i].copy()
        row[i] = -1
        j = int(row.argmax())
        if row[j] > own and row[j] >= COPY_SHARE * len(asked) and keys[j].values != keys[i].values:
            out[sid] = (f"answers match the sheet of {ids[j]} ({row[j]} of {len(asked)}) better than "
                        f"their own ({own} of {len(asked)}): check for copying")
    return out


def few_match_warning(ids: Sequence[str], keys, answers, asked, tolerance) -> str:
    """A warning when hardly any answers match their own sheets (a mistyped secret, another class)."""
    answered = [i for i, a in enumerate(answers) if any(str(a.get(n) or "").strip() for n in asked)]
    if len(answered) < 3:
        return ""
    counts = match_counts([keys[i] for i in answered], [answers[i] for i in answered], asked, tolerance)
    own = sorted(counts[k, k] for k in range(len(answered)))
    if own[len(own) // 2] * 5 >= len(asked):
        return ""
    return (f"the median student matches only {own[len(own) // 2]} of {len(asked)} answers of their own "
            "sheet: were the sheets made with another secret or spec? Grade with --class DIR to check")


def write_grades(out_dir: str | Path, students: Iterable[GradedStudent], *, decimals: int,
                 tolerance: Tolerance | None = None, carried_weight: float = 1.0,
                 warnings: Sequence[str] = ()) -> tuple[Path, ...]:
    """Write ``grades.csv``, ``feedback/<id>.md`` and ``summary.md`` into ``out_dir``, atomically.

    ``warnings`` (unknown answer names, ids not on the roster, duplicates) are
    listed in ``summary.md``, so nothing the answers file held goes unmentioned.

    Returns the paths written.  Existing files of the same names are replaced;
    nothing else in ``out_dir`` is touched.
    """
    out = Path(out_dir)
    students = list(students)
    tol = tolerance or Tolerance.by_decimals(decimals)
    columns = _answer_columns(students)
    try:
        (out / "feedback").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the folder: {e.strerror or e}", file=str(out)) from e
    written = [write_atomic(out / "grades.csv", _grades_csv(students, columns))]
    files = _feedback_files([s.student_id for s in students])
    for s in students:
        text = _feedback(s, decimals, tol, carried_weight)
        written.append(write_atomic(out / "feedback" / f"{files[s.student_id]}.md", text))
    written.append(write_atomic(out / "summary.md", _summary(students, columns, warnings)))
    return tuple(written)


def _answer_columns(students: list[GradedStudent]) -> list[str]:
    """The answers graded, in the order the sheet asks them.

    A :class:`StudentResult` holds its answers in worksheet order (the order
    grading was given, :func:`derive.randomize.asked_names`), so the columns
    keep the order they are first met in.  Not re-sorted by
    :func:`derive.names.sort_key`: that orders network names only, and would
    put a trace's (``v1``, ``local1_w``, ``grad_w``) and the lab's names in
    alphabetical order, unlike the sheet.
    """
    seen: dict[str, None] = {}
    for s in students:
        seen.update((r.name, None) for r in s.result.results)
    return list(seen)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_RESERVED = {"con", "prn", "aux", "nul", *(f"{d}{i}" for d in ("com", "lpt") for i in range(10))}


def safe_filename(student_id: str) -> str:
    """A file name for a student id: the id itself when safe, else a cleaned form plus a short hash.

    Deterministic, and two different ids never share a name (the hash is of the id).
    """
    clean = _UNSAFE.sub("_", student_id).strip(".-")[:60]
    if clean == student_id and clean and clean.lower().split(".")[0] not in _RESERVED:
        return clean
    return f"{clean or 'student'}-{_digest(student_id)}"


def feedback_files(ids: list[str]) -> dict[str, str]:
    """Each student id's feedback file name, without its suffix (``feedback/<name>.md``, ``.pdf``)."""
    return _feedback_files(ids)


def _feedback_files(ids: list[str]) -> dict[str, str]:
    """A file name per id; ids that differ only in case get their hash too (macOS, Windows)."""
    names = {i: safe_filename(i) for i in ids}
    folded = Counter(n.casefold() for n in names.values())
    return {i: n if folded[n.casefold()] == 1 else f"{n}-{_digest(i)}" for i, n in names.items()}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def _grades_csv(students: list[GradedStudent], columns: list[str]) -> str:
    rows = [["student_id", "name", "score", "max", "flag", *columns]]
    for s in students:
        status = {r.name: r.status.value for r in s.result.results}
        rows.append([s.student_id, s.name, f"{s.result.score:g}", f"{s.result.max:g}", s.flag,
                     *(status.get(c, "") for c in columns)])
    return csv_text(rows)


def printable(text: str) -> str:
    """Echoed input without control characters or bidi overrides (no terminal escapes, no spoofing)."""
    return "".join(ch for ch in str(text) if unicodedata.category(ch) != "Cc" and ch not in _BIDI)


_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell: nothing in it is a link, an image or markup."""
    text = re.sub(r"\s+", " ", printable(text)).strip()
    for ch in "\\`*_[]()!<>#~":
        text = text.replace(ch, "\\" + ch)
    text = text.replace("|", "\\|").replace("://", ":\u200b//")  # no bare URL becomes a link
    return text or " "


def _feedback(s: GradedStudent, decimals: int, tol: Tolerance, carried_weight: float) -> str:
    r = s.result
    lines = [f"# Feedback for {_md(s.name or s.student_id)}", "",
             f"Score: {r.score:g} of {r.max:g}.", "", tol.describe(),
             "An answer that is wrong but follows correctly from your own earlier answers is "
             "*carried* and earns " + ("full credit." if carried_weight == 1 else
                                      f"{carried_weight:g} of its points."), "",
             "| answer | given | expected | status | marks | note |", "|---|---|---|---|---|---|"]
    for a in r.results:
        note = a.message if a.status is not Status.CORRECT else ""
        lines.append(f"| `{a.name}` | {_md(a.given)} | {show(a.expected)} "
                     f"| {a.status.value} | {marks(a)} | {_md(note)} |")
    return "\n".join(lines) + "\n"


def marks(a: AnswerResult) -> str:
    """An answer's marks as feedback prints them: ``1.5/2``."""
    return f"{a.credit:g}/{a.points:g}"


def _summary(students: list[GradedStudent], columns: list[str], warnings: Sequence[str] = ()) -> str:
    most = max((s.result.max for s in students), default=0)
    lines = ["# Summary", "", f"{len(students)} students.", "",
             f"Scores are points, out of {most:g} per sheet ([exercise].points of the spec).", "",
             "| answer | correct | carried | wrong | missing | unparseable | most common mistake |",
             "|---|---|---|---|---|---|---|"]
    for name in columns:
        rs = [a for s in students for a in s.result.results if a.name == name]
        counts = Counter(a.status for a in rs)
        share = lambda st: f"{counts[st] / len(rs):.0%}" if rs else "–"
        mistakes = Counter(a.mistake for a in rs if a.mistake)
        common = f"{mistakes.most_common(1)[0][0]} ({mistakes.most_common(1)[0][1]})" if mistakes else ""
        lines.append(f"| `{name}` | " + " | ".join(share(st) for st in Status) + f" | {common} |")
    lines += ["", "## Scores", "", "```", *_histogram([s.result for s in students]), "```"]
    flagged = [s for s in students if s.flag]
    if flagged:
        lines += ["", "## Flags (scores unchanged)", "", *(f"- {_md(s.student_id)}: {_md(s.flag)}" for s in flagged)]
    if warnings:
        lines += ["", "## Warnings about the answers file", "", *(f"- {_md(w)}" for w in warnings)]
    return "\n".join(lines) + "\n"


def _histogram(results: list[StudentResult], width: int = 40, bins: int = 10) -> list[str]:
    """A text histogram of the scores: at most ``bins`` bars, each a range of whole scores."""
    if not results:
        return ["(no students)"]
    top = int(max(r.max for r in results))
    size = max(1, math.ceil((top + 1) / bins))
    counts = Counter(min(int(math.floor(r.score)), top) // size for r in results)
    most = max(counts.values())
    lines = []
    for k in range(top // size + 1):
        lo, hi = k * size, min(k * size + size - 1, top)
        label = f"{lo}" if lo == hi else f"{lo}–{hi}"
        bar = "#" * math.ceil(width * counts[k] / most)
        lines.append(f"{label:>7} | {bar:<{width}} {counts[k]}")
    return lines
