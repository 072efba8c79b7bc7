"""Answers as form and LMS tools export them, and the blank template a class folder gets.

:func:`derive.grade.read_answers` reads derive's own CSV (``student_id``
first); everything else comes here.  Four exports are recognised from their
headers, as the tools write them:

- Google Forms: ``Timestamp``, ``Email Address`` (when collected), then one
  column per question, headed by the question's title;
- Microsoft Forms (Excel saved as CSV): ``ID``, ``Start time``,
  ``Completion time``, ``Email``, ``Name``, then one column per question;
- a Moodle quiz's Responses report: ``Surname``, ``First name``, identity
  fields (``ID number``, ``Email address``, ...), ``State``, ``Started on``,
  ``Completed``, ``Time taken``, ``Grade/…``, then ``Response 1`` …
  ``Response n`` (and ``Question k`` / ``Right answer k`` when shown);
- a Canvas quiz's Student Analysis report: ``name, id, sis_id, section,
  section_id, section_sis_id, submitted, attempt``, then per question a
  column ``<question id>: <question text>`` followed by its score column.

Any other CSV with an id column and answer columns is read the same way.

Who: the id column is ``--answers-id-column`` when given, else a question or field
named like a student id (``Student ID``, ``ID number``, ``sis_id``, …),
else the email column.  Ids are trimmed and compared with the roster's
case-insensitively; the roster's spelling is what is reported.  A
``sheet_code`` column (``Sheet code``) names the student by the code printed
on their sheet, or checks the id beside it (:func:`identify_by_code`).  When the
id column holds emails, a roster id matches an email whose local part
(before ``@``) is that id, or the whole email.

What: a column is an answer by ``--map FILE`` (rows ``column,answer``), else
by its header being, ending with or containing exactly one answer name
(``z1_1``, ``Q3 (dW2_1_1)``, ``1234: z1_1``), else by box number: Moodle's
``Response k`` is box k of the sheet, boxes numbered in the order of
:func:`derive.randomize.asked_names`.

A student who submitted twice: the last submission by the export's
timestamp is kept (the last row when there is none), with a warning.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from . import names as answer_names
from .errors import AnswersError, did_you_mean
from .notation import DEFAULT as DEFAULT_NOTATION
from .randomize import asked_names
from .tables import csv_text

# --- the shapes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """One export's layout: how it is recognised, its id and time columns, and its other columns."""

    name: str
    marks: tuple[str, ...]          # header keys that all appear in this export
    ids: tuple[str, ...]            # id columns, most specific first
    times: tuple[str, ...]          # the submission time
    meta: tuple[str, ...]           # other columns that are never answers
    empty: tuple[str, ...] = ()     # cells that mean "not answered"


_STUDENT_ID = re.compile(r"\b(student|matriculation|matric|university|sis)[\s_.-]*(id|number|no)\b|^id number$"
                         r"|^student$|^sis[_ ]user[_ ]id$|^sis_id$|^username$", re.I)
_EMAIL = re.compile(r"^e-?mail( address)?$", re.I)

SHAPES = (
    Shape("google-forms", ("timestamp",), (), ("timestamp",), ("timestamp", "email address", "score")),
    Shape("microsoft-forms", ("id", "start time", "completion time"), (), ("completion time",),
          ("id", "start time", "completion time", "email", "name", "last modified time", "total points",
           "quiz feedback")),
    Shape("moodle-responses", ("state", "started on"), ("id number", "username"), ("completed",),
          ("surname", "first name", "last name", "id number", "username", "email address", "institution",
           "department", "phone", "mobile phone", "state", "started on", "completed", "time taken"),
          ("-",)),
    Shape("canvas-student-analysis", ("name", "id", "sis_id", "submitted"), ("sis_id",), ("submitted",),
          ("name", "id", "sis_id", "section", "section_id", "section_sis_id", "submitted", "attempt",
           "n correct", "n incorrect", "score")),
)
GENERIC = Shape("csv", (), (), ("timestamp", "submitted", "completed", "completion time"),
                ("name", "first name", "last name", "surname", "email", "email address", "timestamp",
                 "submitted", "completed", "completion time"))

_RESPONSE = re.compile(r"^response\s*(\d+)$", re.I)
_BOX = re.compile(r"^box\s*(\d+)$", re.I)
_IGNORED_PER_QUESTION = re.compile(r"^(question|right answer)\s*\d+$|^grade/|^q\.\s*\d+\s*/", re.I)
_SCORE = re.compile(r"^[0-9]+(\.[0-9]+)?$")  # Canvas: the score column after each question
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _key(cell: str) -> str:
    return " ".join(cell.strip().lower().split())


def detect_shape(header: Sequence[str]) -> Shape:
    """The export a header comes from (:data:`GENERIC` when none fits)."""
    keys = {_key(c) for c in header}
    for shape in SHAPES:
        if all(m in keys for m in shape.marks):
            return shape
    if any(_RESPONSE.match(_key(c)) for c in header) and "state" in keys:
        return SHAPES[2]
    return GENERIC


def find_id_column(path: str, line: int, header: Sequence[str], shape: Shape,
                   id_column: str | None = None) -> int:
    """The index of the column naming the student: ``id_column``, else the shape's, else an email."""
    keys = [_key(c) for c in header]
    if id_column is not None:
        wanted = _key(id_column)
        if wanted in keys:
            return keys.index(wanted)
        raise AnswersError(f"no column {id_column!r} (--answers-id-column); the header has "
                           f"{', '.join(c.strip() for c in header)}", file=path, line=line)
    for k in shape.ids:
        if k in keys:
            return keys.index(k)
    for i, k in enumerate(keys):
        if k not in shape.meta and _STUDENT_ID.search(k):
            return i
    for i, k in enumerate(keys):
        if _EMAIL.match(k):
            return i
    raise AnswersError(f"expected the first column to be student_id, or a {shape.name} export with a "
                       "student id column (Student ID, ID number, sis_id or an email; name another with "
                       f"--answers-id-column); the header has {', '.join(c.strip() for c in header)}",
                       file=path, line=line)


def read_map(path: str | Path, names: Sequence[str] | None = None) -> dict[str, str]:
    """A ``--map`` file: rows ``column,answer`` (a header ``column,answer`` is optional).

    An answer is a name of derive's grammar (``z1_1``) or one of ``names``, the
    names the sheet asks: a trace's ``v1``, ``local1_w``, ``grad_w`` and the lab's
    ``fd_W1_1_1`` are outside the grammar.  Anything else is refused on its line.
    """
    from .spec import read_text
    path = str(path)
    known = set(names or ())
    out: dict[str, str] = {}
    reader = csv.reader(io.StringIO(read_text(path, AnswersError), newline=""))
    try:
        rows = list(reader)
    except csv.Error as e:  # a cell past csv's field limit
        raise AnswersError(f"not a readable CSV file: {e}", file=path, line=reader.line_num or 1) from None
    for n, cells in enumerate(rows, start=1):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != 2:
            raise AnswersError(f"expected 2 cells (column, answer); got {len(cells)}", file=path, line=n)
        column, answer = cells[0].strip(), cells[1].strip()
        if n == 1 and (_key(column), _key(answer)) == ("column", "answer"):
            continue
        if answer_names.parse(answer) is None and answer not in known:
            example = next(iter(names or ()), "z1_1")
            raise AnswersError(f"expected an answer name such as {example} in the second cell; got {answer!r}"
                               + did_you_mean(answer, known), file=path, line=n)
        out[_key(column)] = answer
    return out


def answer_in_header(header: str, names: Sequence[str] | None) -> str | None:
    """The one answer name a header is, ends with or contains (None when none, or more than one)."""
    found = {t for t in _TOKEN.findall(header)
             if (t in names if names is not None else answer_names.parse(t) is not None)}
    return found.pop() if len(found) == 1 else None


def match_columns(path: str, line: int, header: Sequence[str], shape: Shape, skip: Iterable[int],
                  boxes: Sequence[str] | None, mapping: Mapping[str, str] | None = None
                  ) -> tuple[dict[int, str], list[str]]:
    """Column index → answer name, and warnings for the columns that match none, or twice."""
    columns: dict[int, str] = {}
    warnings: list[str] = []
    skip = set(skip)
    for i, cell in enumerate(header):
        k = _key(cell)
        if i in skip or k in shape.meta or _IGNORED_PER_QUESTION.match(k) or not k:
            continue
        if shape is SHAPES[3] and _SCORE.fullmatch(k):
            continue
        name = (mapping or {}).get(k) or answer_in_header(cell, boxes)
        box = _RESPONSE.match(k) or _BOX.match(k)  # Moodle's "Response 3"; a form's "Box 3" (a profile's label)
        if name is None and box and boxes is not None:
            n = int(box.group(1))
            if not 1 <= n <= len(boxes):
                warnings.append(f"{path}:{line}: column {i + 1} {cell.strip()!r} is box {n}, but the sheet "
                                f"has {len(boxes)} boxes; ignored")
                continue
            name = boxes[n - 1]
        if name is None:
            warnings.append(f"{path}:{line}: column {i + 1} {cell.strip()!r} matches no answer name "
                            "(name it in the header, or with --map); ignored")
        elif boxes is not None and name not in boxes:
            warnings.append(f"{path}:{line}: column {i + 1} {name!r} is not asked on this sheet; ignored")
        elif name in columns.values():
            warnings.append(f"{path}:{line}: column {i + 1} repeats {name!r}; the first one is used")
        else:
            columns[i] = name
    return columns, warnings


# --- who is who --------------------------------------------------------------------------


def roster_lookup(roster: Iterable[str] | None) -> dict[str, str]:
    """Case-folded roster id → the roster's own spelling."""
    return {r.strip().casefold(): r for r in roster or ()}


def match_id(cell: str, lookup: Mapping[str, str]) -> str:
    """The roster's spelling of a typed id (trimmed, any case; an email by its local part), else the id trimmed."""
    sid = cell.strip()
    folded = sid.casefold()
    if folded in lookup:
        return lookup[folded]
    if "@" in sid and folded.rsplit("@", 1)[0] in lookup:
        return lookup[folded.rsplit("@", 1)[0]]
    return sid


_TIME_FORMATS = ("%Y/%m/%d %I:%M:%S %p", "%Y/%m/%d %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S",
                 "%m/%d/%y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
                 "%d %B %Y, %I:%M %p", "%d %B %Y %I:%M %p", "%d %B %Y %H:%M", "%A, %d %B %Y, %I:%M %p", "%d %b %Y %H:%M")
_ZONE = re.compile(r"\s*(?:Z|UTC|GMT(?:[+-]\d{1,2}(?::?\d\d)?)?|[+-]\d\d:?\d\d)$")


def parse_time(text: str) -> datetime | None:
    """A submission time as the exports write it (the zone dropped: one export, one zone), or None."""
    s = " ".join(_ZONE.sub("", text.strip()).split())
    s = re.sub(r"(\.\d+)$", "", s)
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(s, fmt)
        except ValueError:
            pass
    return None


def keep_last(path: str, submissions: list[tuple[str, int, datetime | None, dict[str, str]]]
              ) -> tuple[dict[str, dict[str, str]], dict[str, int], list[str]]:
    """One submission per student: the latest by time when every one has a time, else the last row."""
    by_id: dict[str, list[tuple[int, datetime | None, dict[str, str]]]] = {}
    for sid, line, when, answers in submissions:
        by_id.setdefault(sid, []).append((line, when, answers))
    students, lines, warnings = {}, {}, []
    for sid, subs in by_id.items():
        timed = all(w is not None for _, w, _ in subs)
        line, when, answers = max(subs, key=lambda s: (s[1], s[0]) if timed else s[0])
        students[sid], lines[sid] = answers, line
        if len(subs) > 1:
            others = ", ".join(str(s[0]) for s in subs if s[0] != line)
            by = f"the latest ({when:%Y-%m-%d %H:%M:%S})" if timed else "the last row"
            warnings.append(f"{path}:{line}: {sid} submitted {len(subs)} times (also line "
                            f"{others}); {by} is kept")
    return students, lines, warnings


# --- sheet codes -------------------------------------------------------------------------------

_CODE_COLUMN = ("sheet_code", "sheetcode", "blattcode")


def code_column(header: Sequence[str]) -> int | None:
    """The index of the ``sheet_code`` column (also ``Sheet code``), or None."""
    keys = [_key(c).replace("-", " ").replace("_", " ") for c in header]
    for k in _CODE_COLUMN:
        k = k.replace("_", " ")
        if k in keys:
            return keys.index(k)
    return None


def identify_by_code(path: str, rows: list[tuple[int, list[str]]], codes: Mapping[str, str] | None,
                     roster: Iterable[str] | None = None, id_column: str | None = None
                     ) -> tuple[list[tuple[int, list[str]]], list[str]]:
    """Rows with their ``sheet_code`` column resolved, and a warning for each doubtful code.

    Without an id column, the code names the student: the column becomes the
    id column (``student_id``), holding the student the code belongs to.
    With one, the row's id is kept, and a code of another student is flagged.
    An invalid code (its check character does not match: a typo), or one
    that belongs to no one, is reported.  ``codes``: student id → sheet code
    (from the manifest, or recomputed from the secret); None when unknown.
    """
    from .sheetcode import normalize_code, valid_code
    (hline, header), body = rows[0], rows[1:]
    c = code_column(header)
    if c is None or (id_column is not None and _key(id_column) not in [_key(h) for h in header]):
        return rows, []  # no codes; or an --answers-id-column that is not there, which the reader reports
    owners = {code: sid for sid, code in (codes or {}).items()}
    idx = _id_index(header, c, id_column)
    lookup = roster_lookup(roster)
    warnings, out, unknown = [], [], []
    for line, cells in body:
        cells = list(cells) + [""] * (len(header) - len(cells))
        typed = cells[c].strip()
        code = normalize_code(typed)
        owner = owners.get(code)
        stated = match_id(cells[idx], lookup) if idx is not None and cells[idx].strip() else None
        where = f"{path}:{line}: sheet code {typed!r}"
        if not typed:
            pass
        elif not valid_code(code):
            warnings.append(f"{where} is not a valid code (its check character does not match: a typo?)"
                            + ("" if stated else "; row ignored"))
        elif codes is None:
            unknown.append(line)
        elif owner is None:
            warnings.append(f"{where} belongs to no student on the roster" + ("" if stated else "; row ignored"))
        elif stated is not None and owner != stated:
            warnings.append(f"{where} is {owner}'s, but the row's student id is {stated}: graded as {stated}; "
                            "check which student wrote it")
        if idx is None:
            if typed and not (owner and valid_code(code)):
                continue  # reported above
            cells[c] = owner or ""
        out.append((line, [x for i, x in enumerate(cells) if i != c or idx is None]))
    if unknown:  # one line, not one per row
        warnings.append(f"{path}:{unknown[0]}: the sheet codes of {len(unknown)} row(s) cannot be looked up "
                        "without the class: grade with --class CLASS or --secret"
                        + ("" if idx is not None else "; those rows are ignored"))
    if idx is None:  # first: derive's own layout; elsewhere: an export's id question
        header = [(("student_id" if c == 0 else "Student ID") if i == c else h) for i, h in enumerate(header)]
    else:
        header = [h for i, h in enumerate(header) if i != c]
    return [(hline, header), *out], warnings


def _id_index(header: Sequence[str], code: int, id_column: str | None) -> int | None:
    """The id column beside the code column, if any (``id_column``, ``student_id``, or an export's)."""
    keys = [_key(h) for h in header]
    if id_column is not None:
        return None if _key(id_column) == keys[code] else keys.index(_key(id_column))
    if keys and keys[0].replace(" ", "_") == "student_id":
        return 0
    shape = detect_shape(header)
    try:
        i = find_id_column("", 1, header, shape)
    except AnswersError:
        return None
    return None if i == code else i


# --- reading an export ----------------------------------------------------------------------


def read_answers_text(path: str) -> str:
    """An answers file's text: UTF-8 (with or without BOM), UTF-16 by its BOM (Excel's "Unicode
    Text"), or Windows-1252 (Excel's plain "CSV" on Windows), detected as rosters are."""
    from .rosters import decode, read_bytes
    return decode(read_bytes(path, AnswersError), path, error=AnswersError)


def export_delimiter(text: str) -> str:
    """The separator of an export's header line: the most frequent of comma, semicolon and tab."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    return max((",", ";", "\t"), key=first.count) if any(d in first for d in ",;\t") else ","


def read_export(path: str, rows: list[tuple[int, list[str]]], *, expected: Sequence[str] | None = None,
                roster: Iterable[str] | None = None, id_column: str | None = None,
                mapping: Mapping[str, str] | None = None):
    """Students' answers from an export's rows: (students, lines, warnings, shape name)."""
    (hline, header), body = rows[0], rows[1:]
    shape = detect_shape(header)
    idx = find_id_column(path, hline, header, shape, id_column)
    keys = [_key(c) for c in header]
    times = [keys.index(t) for t in shape.times if t in keys]
    columns, warnings = match_columns(path, hline, header, shape, [idx, *times], expected, mapping)
    if not columns:
        raise AnswersError(f"no column of this {shape.name} export is an answer: expected headers that "
                           "name an answer (z1_1, …), Moodle's Response 1 … n, or a --map FILE",
                           file=path, line=hline)
    lookup = roster_lookup(roster)
    submissions = []
    for line, cells in body:
        cell = lambda i: cells[i] if i < len(cells) else ""
        raw = cell(idx).strip()
        if not raw:
            if not (shape is SHAPES[2] and _key(cell(0)) == "overall average"):
                warnings.append(f"{path}:{line}: no student id in column {idx + 1} "
                                f"({header[idx].strip()!r}); row ignored")
            continue
        state = cell(keys.index("state")).strip() if shape is SHAPES[2] and "state" in keys else "Finished"
        if _key(state) != "finished":  # Moodle: In progress, Overdue, Never submitted
            warnings.append(f"{path}:{line}: the attempt of {raw} is {state!r}, not finished; row ignored")
            continue
        when = parse_time(cell(times[0])) if times else None
        answers = {n: ("" if cell(i).strip() in shape.empty else cell(i)) for i, n in columns.items()}
        submissions.append((match_id(raw, lookup), line, when, answers))
    students, lines, more = keep_last(path, submissions)
    return students, lines, warnings + more, shape.name


# --- the blank template and the form to create ------------------------------------------------


_BOX_COLUMN = re.compile(r"^box\s*(\d+)\s*:\s*(\S+)$", re.I)


def box_column(spec, k: int, name: str) -> str:
    """The answers column of box k: its answer name, or ``Box k: name`` when the sheet is in a
    notation profile (:mod:`derive.notation`) and so labels its boxes by number."""
    return name if spec.notation == DEFAULT_NOTATION else f"Box {k}: {name}"


def column_answer(header: str) -> str:
    """The answer name a derive answers column holds: ``dW1_2_1`` or ``Box 9: dW1_2_1``."""
    m = _BOX_COLUMN.fullmatch(header.strip())
    return m[2] if m else header.strip()


def answers_template_csv(spec, roster, codes: Mapping[str, str] | None = None) -> str:
    """``answers-template.csv``: student_id, name, sheet_code (when the sheets print one) and one
    empty column per answer, in box order (``Box k: name`` under a notation profile).

    The code lets a TA who types answers from paper check each row against the sheet in hand:
    the grader flags a row whose code is another student's.
    """
    from .sheetcode import printed_code
    asked = [box_column(spec, k, n) for k, n in enumerate(asked_names(spec, spec.data.size), start=1)]
    coded = ["sheet_code"] if codes else []
    return csv_text([["student_id", "name", *coded, *asked],
                     *([s.id, s.name, *([printed_code(codes[s.id])] if codes else []), *([""] * len(asked))]
                       for s in roster.students)])


def answers_form_md(spec) -> str:
    """``answers-form.md``: the form a TA creates, one question per box, named by its answer."""
    asked = asked_names(spec, spec.data.size)
    lines = ["# The answers form", "",
             "Create one short-answer question per box, in this order, each titled with the answer",
             "name (the title may add words: `Box 3: z1_1`).  Ask for the student id first, in a",
             "question titled `Student ID` (or collect emails whose part before `@` is the id).",
             "In a Moodle quiz, make one numerical or short-answer question per box, in this order:",
             "its Responses report's `Response k` is box k.  Then grade the export with",
             "`derive grade SPEC --roster ROSTER --answers EXPORT.csv --class THIS-FOLDER --out grades`.",
             *(["", "This sheet is in a notation profile: its boxes are labelled `Box 1`, `Box 2`, …; title",
                 "each question `Box k` (the answer name may follow, `Box 3: z1_1`) so that students see",
                 "the label their sheet shows."] if spec.notation != DEFAULT_NOTATION else []),
             "", "| box | answer |", "|---|---|", *(f"| {k} | `{n}` |" for k, n in enumerate(asked, start=1))]
    return "\n".join(lines) + "\n"
