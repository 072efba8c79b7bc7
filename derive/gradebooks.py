"""Grades as the Moodle and Canvas gradebooks import them, written next to grades.csv.

``moodle-grades.csv``, for Moodle's *Grades › Import › CSV file*: Moodle
reads any header and asks, under *Identify user by*, which column names the
user (map ``ID number`` to *idnumber*, or ``Email address`` to *email
address*) and, under *Grade item mappings*, which column goes to which grade
item (``ASSIGNMENT`` to the grade item, ``Feedback`` to its feedback).

``canvas-grades.csv``, for Canvas's *Grades › Import*: the columns
``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section`` as Canvas's
own gradebook export has them, then one assignment column named
``Assignment Name (1234)``; its optional second row, ``Points Possible``,
holds the most marks.  Canvas matches students by ``ID`` (its own user id),
else by ``SIS User ID`` or ``SIS Login ID``, and the assignment by the id in
brackets (without one, Canvas offers to make a new assignment).

Where the roster was an LMS's own export (:mod:`derive.rosters`), its cells
(email, Canvas ID, SIS login, section) are kept and written back, so the
import matches every student.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Sequence

from .tables import csv_text, write_atomic

MOODLE_FILE = "moodle-grades.csv"
CANVAS_FILE = "canvas-grades.csv"
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
"""The columns Canvas's gradebook import reads before the assignments, in its export's order."""
MOODLE_IDENTITY = ("ID number", "Email address", "Full name")
POINTS_POSSIBLE = "    Points Possible"  # as Canvas's export writes it: four spaces first
_CANVAS_ID = re.compile(r"^(?P<name>.*\S)\s*\((?P<id>\d+)\)$")


def canvas_column(assignment: str, roster_columns: Sequence[str] = ()) -> str:
    """The Canvas assignment column: ``assignment`` as given when it ends in ``(id)``; else the roster's
    column of that name with its id (a Canvas gradebook export names every assignment so); else bare."""
    if _CANVAS_ID.match(assignment):
        return assignment
    for column in roster_columns:
        m = _CANVAS_ID.match(column.strip())
        if m and m["name"].casefold() == assignment.strip().casefold():
            return column.strip()
    return assignment


def moodle_column(assignment: str) -> str:
    """The Moodle grade column: the assignment's name without a Canvas id."""
    m = _CANVAS_ID.match(assignment)
    return m["name"] if m else assignment


def _email(student) -> str:
    found = student.cell("Email address", "Email", "E-mail", "Mail")
    return found or (student.id if "@" in student.id else "")


def one_line_feedback(result) -> str:
    """A student's result in one line, for an LMS's feedback cell: the score and the count of each status."""
    counts = Counter(r.status.value for r in result.results)
    told = ", ".join(f"{n} {status}" for status, n in counts.items())
    return f"{result.score:g} of {result.max:g} points ({told})"


def moodle_csv(graded, roster, assignment: str) -> str:
    """``moodle-grades.csv``: identifier columns, the grade, and a one-line feedback."""
    by_id = {s.id: s for s in roster.students}
    rows = [[*MOODLE_IDENTITY, moodle_column(assignment), "Feedback"]]
    for g in graded:
        s = by_id[g.student_id]
        rows.append([s.cell("ID number") or s.id, _email(s), g.name,
                     f"{g.result.score:g}", one_line_feedback(g.result)])
    return csv_text(rows)


def canvas_csv(graded, roster, assignment: str, most: float) -> str:
    """``canvas-grades.csv``: Canvas's five identity columns, then the assignment; the Points Possible row."""
    by_id = {s.id: s for s in roster.students}
    columns = [name for s in roster.students[:1] for name, _ in s.fields]
    rows = [[*CANVAS_IDENTITY, canvas_column(assignment, columns)],
            [POINTS_POSSIBLE, "", "", "", "", f"{most:g}"]]
    for g in graded:
        s = by_id[g.student_id]
        rows.append([s.cell("Student") or g.name, s.cell("ID"), s.cell("SIS User ID") or s.id,
                     s.cell("SIS Login ID"), s.cell("Section"), f"{g.result.score:g}"])
    return csv_text(rows)


def write_gradebooks(out: Path, graded, roster, assignment: str, most: float) -> tuple[Path, ...]:
    """Write ``moodle-grades.csv`` and ``canvas-grades.csv`` into ``out``; return their paths.

    ``most`` is the most marks a sheet earns (the Points Possible row).
    """
    out = Path(out)
    return (write_atomic(out / MOODLE_FILE, moodle_csv(graded, roster, assignment)),
            write_atomic(out / CANVAS_FILE, canvas_csv(graded, roster, assignment, most)))
