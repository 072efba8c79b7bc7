"""Points: what each answer is worth, from ``[exercise].points`` of a spec.

Three shapes, from the simplest::

    points = 2                                        # every answer
    points = { backward = 2, loss = 3 }               # per section; the rest 1
    points = { default = 0.5, forward = 1, delta1_1 = 4 }   # and per answer

An answer's worth is its own entry, else its section's, else ``default``
(1 when absent).  A key that is neither ``default``, a section the sheet
asks, nor an answer the sheet asks is an error naming the key.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import names as answer_names
from .errors import did_you_mean

MOST_POINTS = 1000.0
"""The largest worth of one answer (a typo such as 1e9 is caught)."""

DEFAULT = "default"


@dataclass(frozen=True)
class Points:
    """What each answer is worth: ``every`` answer, overridden per section, then per answer name."""

    every: float = 1.0
    sections: tuple[tuple[str, float], ...] = ()
    answers: tuple[tuple[str, float], ...] = ()
    # the sheet's sections, in order: a δ is the "vanishing" section's where the sheet has one, else
    # "backward"'s (not compared: the same worths are the same points)
    sheet_sections: tuple[str, ...] = field(default=(), compare=False)

    def of(self, name: str) -> float:
        """The points answer ``name`` is worth."""
        own = dict(self.answers)
        if name in own:
            return own[name]
        return dict(self.sections).get(section_of(name, self.sheet_sections or None), self.every)

    def total(self, asked: Iterable[str]) -> float:
        """The most a sheet asking ``asked`` can earn."""
        return sum(self.of(n) for n in asked)

    def is_default(self) -> bool:
        return self == Points()


def section_of(name: str, sections: tuple[str, ...] | None = None) -> str | None:
    """The section an answer name belongs to: the first of the sheet's ``sections`` (by default,
    any) that asks for its kind, as the sheet places it (a batch's per-example loss is the
    forward pass's)."""
    p = answer_names.parse(name)
    if p is None:
        return None
    if p.kind == "loss" and p.sample:
        return "forward"
    return next((s for s, kinds in answer_names.SECTION_KINDS.items()
                 if p.kind in kinds and (sections is None or s in sections)), None)


Fail = Callable[[str | None, str], Exception]  # (sub-key or None, message) → the error to raise


def parse_points(value, sections: tuple[str, ...], asked: list[str], fail: Fail) -> Points:
    """``[exercise].points`` as a :class:`Points`; ``fail(key, message)`` makes the one error to raise.

    ``sections`` and ``asked`` are the sections and answer names the sheet asks.
    """
    if not isinstance(value, dict):
        return Points(_worth(value, None, fail))
    every, by_section, by_answer = 1.0, [], []
    known = (DEFAULT, *sections, *asked)
    for key, v in value.items():
        worth = _worth(v, key, fail)
        if key == DEFAULT:
            every = worth
        elif key in sections:
            by_section.append((key, worth))
        elif key in asked:
            by_answer.append((key, worth))
        else:
            raise fail(key, f"unknown key; expected {DEFAULT}, a section the sheet asks "
                            f"({', '.join(sections)}) or one of its answer names ({', '.join(asked[:4])}, …)"
                       + did_you_mean(key, known))
    # sorted: the same points however the table was ordered (a Spec compares by value)
    return Points(every, tuple(sorted(by_section)), tuple(sorted(by_answer)), tuple(sections))


def _worth(v, key: str | None, fail: Fail) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= MOST_POINTS:
        raise fail(key, f"expected a number of points from 0 to {MOST_POINTS:g}; got {v!r}"[:200])
    return float(v)
