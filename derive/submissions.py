"""Filled PDF sheets as students hand them in: one PDF, a folder of them, or an LMS's zip.

``derive grade --answers PATH`` and ``derive collect PATH`` read, besides a
CSV (:func:`derive.grade.read_answers`):

- a single filled ``.pdf``;
- a folder of them (searched recursively; symbolic links are not followed);
- a ``.zip``, such as the "download all submissions" of
  Moodle (``Firstname Lastname_123456_assignsubmission_file_blank.pdf``, or a
  folder ``Firstname Lastname_123456_assignsubmission_file_`` per student) or
  Canvas (``lastnamefirstname_12345_67890_blank.pdf``, with ``late_`` after
  the name for a late one).

A sheet is identified by the code derive embedded in it (the read-only
``sheet_code`` field, else the metadata; :mod:`derive.forms`), never by its
file name.  The file name is only a cross-check: when it names another
student of the roster (by the LMS's name, or an id in it), that is flagged.
Without the class's codes (no ``--class`` or ``--secret``), the student id
derive embedded is used.

Every file that cannot be graded gets one line naming it and why: not a PDF,
empty, unreadable, not a derive sheet, a code of no one on the roster, a
second sheet of the same student.  A flattened sheet (its fields gone, as
"print to PDF" or macOS Preview leave it) is read from its text with
``pdftotext``, with a warning to check it.

A zip is untrusted: nothing is extracted to disk (so a member named
``../../x`` cannot write anywhere, and is reported), members are read within
:data:`MAX_MEMBER_BYTES` whatever their header claims (a zip bomb stops
there), and at most :data:`MAX_MEMBERS` members are looked at.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Mapping, Sequence

from .errors import AnswersError
from .forms import FilledSheet, read_filled

MAX_MEMBERS = 10_000
"""Members of a zip (or files of a folder) looked at; the rest are reported once."""
MAX_MEMBER_BYTES = 32 * 2 ** 20
"""A sheet is ~50 KB; a member that inflates past this is not read (zip bombs)."""
MAX_TOTAL_BYTES = 2 * 2 ** 30
"""All members together, inflated."""
_IGNORED = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$|desktop\.ini$)", re.I)


def is_pdf_source(path: str | Path) -> bool:
    """True when ``path`` is a folder, a .zip or a .pdf: filled sheets rather than a CSV."""
    p = Path(path)
    return p.is_dir() or p.suffix.lower() in (".zip", ".pdf")


# --- the files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Handed:
    """One file handed in: where it is (``archive.zip:member`` or a path), its name's parts, its bytes."""

    where: str
    name: str
    data: bytes


def handed_in(path: str | Path) -> tuple[list[Handed], list[str]]:
    """The PDFs under ``path`` and one warning per file that was left out (and why)."""
    p = Path(path)
    if p.is_dir():
        return _from_folder(p)
    if p.suffix.lower() == ".zip":
        return _from_zip(p)
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_MEMBER_BYTES + 1)  # as a folder's PDFs are: a 10 GB file is no sheet
    except OSError as e:
        raise AnswersError(f"cannot be read ({e.strerror or e})", file=str(p)) from e
    if len(data) > MAX_MEMBER_BYTES:
        raise AnswersError(f"larger than {MAX_MEMBER_BYTES >> 20} MB; expected a filled worksheet", file=str(p))
    return [Handed(str(p), p.name, data)], []


def _from_folder(folder: Path) -> tuple[list[Handed], list[str]]:
    found, warnings = [], []
    files = sorted(f for f in folder.rglob("*") if not f.is_dir())
    for f in files[:MAX_MEMBERS]:
        rel = f.relative_to(folder).as_posix()
        if _IGNORED.search(rel) or f.name.startswith("."):
            continue
        if f.is_symlink():
            warnings.append(f"{f}: a symbolic link; not followed")
        elif f.suffix.lower() == ".zip":
            warnings.append(f"{f}: a zip inside the folder; not opened (pass it as --answers itself)")
        elif f.suffix.lower() != ".pdf":
            warnings.append(f"{f}: not a PDF; ignored")
        elif f.stat().st_size > MAX_MEMBER_BYTES:
            warnings.append(f"{f}: larger than {MAX_MEMBER_BYTES >> 20} MB, not a worksheet; ignored")
        else:
            try:
                found.append(Handed(str(f), rel, f.read_bytes()))
            except OSError as e:
                warnings.append(f"{f}: cannot be read ({e.strerror or e}); not graded")
    if len(files) > MAX_MEMBERS:
        warnings.append(f"{folder}: more than {MAX_MEMBERS} files; the rest were not read")
    return found, warnings


def _from_zip(path: Path) -> tuple[list[Handed], list[str]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise AnswersError(f"not a readable zip file ({e})", file=str(path)) from e
    found, warnings, total = [], [], 0
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not _IGNORED.search(m.filename)]
        for m in members[:MAX_MEMBERS]:
            where = f"{path}:{m.filename}"
            problem = _member_problem(m)
            if problem:
                warnings.append(f"{where}: {problem}")
                continue
            try:
                data = _read_member(archive, m, min(MAX_MEMBER_BYTES, MAX_TOTAL_BYTES - total))
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as e:
                warnings.append(f"{where}: a broken zip member ({e}); not graded")
                continue
            if data is None:
                warnings.append(f"{where}: inflates past {MAX_MEMBER_BYTES >> 20} MB (a zip bomb?); not read")
                continue
            total += len(data)
            found.append(Handed(where, m.filename, data))
        if len(members) > MAX_MEMBERS:
            warnings.append(f"{path}: more than {MAX_MEMBERS} members; the rest were not read")
    return found, warnings


def _member_problem(m: zipfile.ZipInfo) -> str:
    """Why a zip member is not read ('' when it is)."""
    name = PurePosixPath(m.filename.replace("\\", "/"))
    if name.is_absolute() or ".." in name.parts or ":" in m.filename:
        return "an unsafe member name (outside the archive); ignored"
    if m.flag_bits & 0x1:
        return "encrypted; not graded"
    if name.suffix.lower() != ".pdf":
        return "not a PDF; ignored"
    return ""


def _read_member(archive: zipfile.ZipFile, m: zipfile.ZipInfo, limit: int) -> bytes | None:
    """A member's bytes, or None past ``limit`` (read in chunks: the header's size may lie)."""
    chunks, size = [], 0
    with archive.open(m) as stream:
        while chunk := stream.read(1 << 20):
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
    return b"".join(chunks)


# --- who handed it in, by the file name ------------------------------------------------------

_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<num>\d+)_assign(?:submission|feedback)_[a-z]+_?", re.I)
_CANVAS = re.compile(r"^(?:late_)?(?P<name>[a-z0-9-]+?)(?:_late)?_(?P<uid>\d+)_(?P<aid>\d+)_", re.I)


def _fold(text: str) -> str:
    """Letters and digits only, lower case, accents off: how LMSs flatten names into file names."""
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if c.isalnum() and not unicodedata.combining(c)).casefold()


def name_keys(name: str) -> set[str]:
    """The folded forms an LMS may use for a roster name: first-last (Moodle) and last-first (Canvas)."""
    words = [w for w in re.split(r"[\s,]+", name.strip()) if w]
    if "," in name:  # "Lovelace, Ada"
        words = words[1:] + words[:1]
    keys = {_fold("".join(words))}
    for i in range(1, len(words)):
        keys.add(_fold("".join(words[i:] + words[:i])))
    return keys


def hinted_student(name: str, by_name: Mapping[str, set[str]], ids: Mapping[str, str]) -> str | None:
    """The roster student a file's name points to (an LMS's name for them, or their id), or None."""
    parts = PurePosixPath(name).parts
    for part in parts:
        m = _MOODLE.match(part) or _CANVAS.match(part)
        if m:
            owners = by_name.get(_fold(m.group("name")), set())
            if len(owners) == 1:
                return next(iter(owners))
    tokens = {t.casefold() for t in re.split(r"[^0-9A-Za-z.@-]+", "/".join(parts)) if t}
    tokens |= {PurePosixPath(p).stem.casefold() for p in parts}
    hits = {ids[t] for t in tokens if t in ids}
    return next(iter(hits)) if len(hits) == 1 else None


# --- reading the class's sheets -------------------------------------------------------------


@dataclass(frozen=True)
class Collected:
    """The answers read from filled sheets: student id → answer name → text, their codes, and warnings."""

    path: str
    students: Mapping[str, Mapping[str, str]]
    codes: Mapping[str, str]
    files: Mapping[str, str]
    warnings: tuple[str, ...]

    def __repr__(self) -> str:
        return f"Collected({self.path!r}, {len(self.students)} students, {len(self.warnings)} warnings)"


@dataclass(frozen=True)
class _Roster:
    ids: Mapping[str, str]            # folded id → id
    names: Mapping[str, set[str]]     # folded LMS name → ids
    shown: Mapping[str, str]          # id → name, for messages


def _roster(students: Sequence[tuple[str, str]]) -> _Roster:
    names: dict[str, set[str]] = {}
    for sid, name in students:
        for key in name_keys(name):
            names.setdefault(key, set()).add(sid)
    return _Roster({sid.casefold(): sid for sid, _ in students}, names, dict(students))


def collect(path: str | Path, students: Sequence[tuple[str, str]], expected: Sequence[str],
            codes: Mapping[str, str] | None) -> Collected:
    """Read every filled sheet under ``path`` (a PDF, folder or zip) for the roster's ``students``.

    ``students``: (id, name) in roster order; ``expected``: the answer names
    in box order; ``codes``: student id → sheet code (None: unknown, then the
    student id embedded in each sheet is used).  Raises
    :class:`~derive.errors.AnswersError` only when ``path`` itself cannot be
    read; each bad file is a warning and the others are still read.
    """
    files, warnings = handed_in(path)
    roster = _roster(students)
    owners = {code: sid for sid, code in (codes or {}).items()}
    chosen: dict[str, tuple[Handed, dict[str, str], bool]] = {}
    for handed in files:
        read = _read_one(handed, expected, owners, roster, codes is not None, warnings)
        if read is None:
            continue
        sid, values = read
        hint = hinted_student(handed.name, roster.names, roster.ids)
        if hint is not None and hint != sid:
            warnings.append(f"{handed.where}: the sheet is {sid}'s ({roster.shown[sid]}) by its code, but the file "
                            f"is {hint}'s ({roster.shown[hint]}): graded as {sid}; check who handed it in")
        _keep(chosen, sid, (handed, values, hint == sid), warnings)
    order = {sid: i for i, (sid, _) in enumerate(students)}
    ids = sorted(chosen, key=order.__getitem__)
    return Collected(str(path), MappingProxyType({s: MappingProxyType(chosen[s][1]) for s in ids}),
                     MappingProxyType({s: (codes or {}).get(s, "") for s in ids}),
                     MappingProxyType({s: chosen[s][0].where for s in ids}), tuple(warnings))


def _keep(chosen: dict, sid: str, entry: tuple, warnings: list[str]) -> None:
    """Keep one sheet per student: the one whose file name is theirs, else the later file."""
    before = chosen.get(sid)
    if before is not None:
        keep = before if before[2] and not entry[2] else entry
        drop = entry if keep is before else before
        warnings.append(f"{drop[0].where}: a second sheet of {sid} (also {keep[0].where}); graded "
                        f"{keep[0].where} only")
        entry = keep
    chosen[sid] = entry


def _read_one(handed: Handed, expected: Sequence[str], owners: Mapping[str, str], roster: _Roster,
              have_codes: bool, warnings: list[str]) -> tuple[str, dict[str, str]] | None:
    """(student id, answers) of one file, or None with the reason added to ``warnings``."""
    where = handed.where
    if not handed.data.strip():
        warnings.append(f"{where}: empty file; not graded")
        return None
    if b"%PDF-" not in handed.data[:1024]:
        warnings.append(f"{where}: not a PDF (no %PDF header); not graded")
        return None
    try:
        sheet = read_filled(handed.data, where)
    except AnswersError as e:
        warnings.append(f"{e}; not graded")
        return None
    answers = {n: sheet.values[n] for n in expected if sheet.values.get(n, "").strip()}
    if not any(n in sheet.values for n in expected):
        return _read_flat(handed, sheet, expected, owners, roster, have_codes, warnings)
    sid = _owner(where, sheet.sheet_code, sheet.student_id, owners, roster, have_codes, warnings)
    stated = roster.ids.get((sheet.student_id or "").casefold())
    if sid is not None and stated is not None and stated != sid:  # metadata edited, or pasted from another PDF
        warnings.append(f"{where}: its sheet code is {sid}'s but it names student {stated}: graded as {sid}; "
                        "check who handed it in")
    return None if sid is None else (sid, answers)


def _owner(where: str, code: str | None, embedded: str | None, owners: Mapping[str, str], roster: _Roster,
           have_codes: bool, warnings: list[str]) -> str | None:
    """The student a sheet belongs to: its code's owner (or, without the class's codes, its embedded id)."""
    from .sheetcode import normalize_code, valid_code
    if have_codes:
        if not code:
            warnings.append(f"{where}: has the sheet's fields but no sheet code; not graded")
            return None
        code = normalize_code(code)
        owner = owners.get(code)
        if owner is None:
            why = "is not a valid code" if not valid_code(code) else "belongs to no student on the roster"
            warnings.append(f"{where}: its sheet code {code!r} {why} (another class's sheet?); not graded")
        return owner
    sid = roster.ids.get((embedded or "").casefold())
    if sid is None:
        warnings.append(f"{where}: names student {embedded!r}, who is not on the roster "
                        "(grade with --class CLASS or --secret to identify sheets by their code); not graded")
    return sid


# --- flattened sheets: their text -----------------------------------------------------------

_CODE_TEXT = re.compile(r"\b([23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4})-?([23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4})\b")
_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')
_NUMBER = re.compile(r"^[-+−]?(\d+(\.\d*)?|\.\d+)$")
_BOX_W, _BOX_H = 34 / 25.4 * 72, 10 / 25.4 * 72   # the answer box (derive/templates/preamble.tex)


def _read_flat(handed: Handed, sheet: FilledSheet, expected: Sequence[str], owners: Mapping[str, str],
               roster: _Roster, have_codes: bool, warnings: list[str]) -> tuple[str, dict[str, str]] | None:
    """A sheet without its fields: its code and answers from its printed text, or None (reported)."""
    where = handed.where
    words = _words(handed.data)
    if words is None:
        warnings.append(f"{where}: has no form fields left (flattened?), and pdftotext is not installed to read "
                        "its text; not graded")
        return None
    code = sheet.sheet_code or _printed_code(words, owners)
    if not (code or sheet.student_id):
        warnings.append(f"{where}: not a derive sheet (no answer fields and no sheet code); not graded")
        return None
    sid = _owner(where, code, sheet.student_id, owners, roster, have_codes, warnings)
    if sid is None:
        return None
    answers = _boxed_values(words, expected)
    warnings.append(f"{where}: flattened (no form fields left, as \"print to PDF\" or macOS Preview leave it); "
                    f"{len(answers)} answers read from its text: check them")
    return sid, answers


def _words(data: bytes) -> list[tuple[float, float, float, float, str]] | None:
    """Every word of the PDF with its box (points, from the top), via ``pdftotext -bbox``; None without it."""
    if shutil.which("pdftotext") is None:
        return None
    try:
        run = subprocess.run(["pdftotext", "-bbox", "-q", "-", "-"], input=data, capture_output=True,
                             timeout=60, env={**os.environ, "LC_ALL": "C.UTF-8"})
    except subprocess.TimeoutExpired:
        return []
    text = run.stdout.decode("utf-8", "replace")
    pages = re.split(r"<page ", text)
    words = []
    for k, page in enumerate(pages[1:]):
        offset = 10_000.0 * k   # pages apart, so that no box spans two
        for m in _WORD.finditer(page):
            x0, y0, x1, y1 = (float(v) for v in m.groups()[:4])
            words.append((x0, y0 + offset, x1, y1 + offset, _unescape(m.group(5))))
    return words


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")


def _printed_code(words, owners: Mapping[str, str]) -> str:
    """The sheet code printed on the sheet ("Sheet code: ABCD-EFGH"), preferring one that has an owner."""
    from .sheetcode import valid_code
    found = [a + b for w in words for a, b in _CODE_TEXT.findall(w[4]) if valid_code(a + b)]
    return next((c for c in found if c in owners), found[0] if found else "")


def _boxed_values(words, expected: Sequence[str]) -> dict[str, str]:
    """Each answer box's number: the number inside the box below its printed label.

    A label is the answer name, or under a notation profile ``Box k``: box k
    of the sheet, in the order of ``expected`` (:func:`derive.worked.box_label`).
    """
    wanted = set(expected)
    numbers = [w for w in words if _NUMBER.match(w[4])]
    found: dict[str, str] = {}
    for i, (x0, y0, _, _, label) in enumerate(words):
        if label == "Box" and i + 1 < len(words) and words[i + 1][4].isdigit():
            k = int(words[i + 1][4])
            label = expected[k - 1] if 1 <= k <= len(expected) else ""
        if label not in wanted or label in found:
            continue
        inside = [w for w in numbers if x0 - 4 <= w[0] <= x0 + _BOX_W and y0 < w[1] < y0 + _BOX_H]
        if inside:
            found[label] = "".join(w[4] for w in sorted(inside)).replace("−", "-")
    return {n: found[n] for n in expected if n in found}


# --- the answers file a TA can check ---------------------------------------------------------


def collected_csv(collected: Collected, expected: Sequence[str]) -> str:
    """student_id, sheet_code, then one column per answer in box order: what was read, to check and fix."""
    from .tables import csv_text
    rows: list[list[object]] = [["student_id", "sheet_code", *expected]]
    for sid, answers in collected.students.items():
        rows.append([sid, collected.codes.get(sid, ""), *(answers.get(n, "") for n in expected)])
    return csv_text(rows)


def as_answers(collected: Collected):
    """The grader's :class:`derive.grade.Answers` for what was collected (layout ``"pdf"``)."""
    from .grade import Answers
    students = MappingProxyType({s: MappingProxyType(dict(a)) for s, a in collected.students.items()})
    return Answers(collected.path, "pdf", students, MappingProxyType({s: 0 for s in students}),
                   collected.warnings)
