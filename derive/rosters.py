"""Rosters as LMSs and spreadsheets export them: the encoding, the separator and the columns.

:func:`derive.spec.load_roster` reads a roster through these small steps:

- :func:`decode` turns the file's bytes into text: UTF-8 (with or without a
  BOM) first, then UTF-16 when a byte-order mark says so, else Windows-1252,
  which is what Excel on Windows writes for "CSV (Comma delimited)";
- :func:`sniff_delimiter` reads the separator off the header line (``,``,
  ``;`` as Excel writes where the decimal mark is a comma, or a tab);
- :func:`choose_columns` finds which columns hold the id and the name, from
  the table :data:`SHAPES` of the exports derive knows, or from the
  ``--id-column`` and ``--name-column`` the user gave.

Each step returns a complete value or raises one located :class:`RosterError`.
"""
from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import RosterError, did_you_mean


# --- the bytes ------------------------------------------------------------------

AUTO_ENCODINGS = ("UTF-8", "UTF-16", "Windows-1252")
"""What :func:`decode` tries, in this order, when no encoding is forced."""

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


MAX_INPUT_BYTES = 256 * 2**20
"""The most of a spec, roster or answers file read (10⁶ answer rows are 10 MB): /dev/zero ends here."""


def read_bytes(path: str | Path, error: type = RosterError) -> bytes:
    """A roster's (or answers file's, or spec's) bytes; a missing, unreadable or endless file is one
    located ``error``."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_INPUT_BYTES + 1)  # not read_bytes(): /dev/zero would fill the memory
    except FileNotFoundError:
        raise error("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise error("is a folder; expected a file", file=str(path)) from None
    except OSError as e:
        raise error(f"cannot read: {e.strerror}", file=str(path)) from e
    if len(raw) > MAX_INPUT_BYTES:
        raise error(f"more than {MAX_INPUT_BYTES // 2**20} MB; expected a file of a worksheet's size "
                    "(a spec, roster, answers or params file)", file=str(path))
    return raw


def decode(raw: bytes, path: str | Path, encoding: str | None = None, error: type = RosterError) -> str:
    """The text of a roster: ``encoding`` if given, else UTF-8, UTF-16 (by its BOM) or Windows-1252.

    UTF-8 goes first because a Windows-1252 file with any accented letter is
    almost never valid UTF-8, while every UTF-8 file is "valid" Windows-1252
    (as mojibake): the order makes the guess safe.  Answers files are
    decoded the same way (``error=AnswersError``): spreadsheets save both.
    """
    if encoding:
        return _decode_as(raw, path, encoding, error)
    if raw.startswith(_UTF16_BOMS):
        return _decode_as(raw, path, "utf-16", error)
    if raw.startswith(b"PK\x03\x04"):  # a zip: what Excel and LibreOffice save as .xlsx and .ods
        raise error("a spreadsheet workbook (.xlsx or .ods), not a CSV file; save it as \"CSV UTF-8\"",
                    file=str(path), line=1)
    if b"\x00" in raw:
        # No text roster has a NUL byte; UTF-16 without a BOM has one in every other place, and
        # would otherwise read "successfully" as UTF-8 with NULs between the letters.
        raise error("has NUL bytes: UTF-16 without a byte-order mark? pass --encoding utf-16-le "
                          "(or utf-16-be)", file=str(path), line=_line_of(raw, raw.index(b"\x00")))
    has_bom = raw.startswith(codecs.BOM_UTF8)
    try:
        return raw[len(codecs.BOM_UTF8):].decode("utf-8") if has_bom else raw.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = e.start + (len(codecs.BOM_UTF8) if has_bom else 0)  # e.start counts from after the BOM
    if has_bom:  # the file says it is UTF-8: name the bad byte rather than guess again
        raise error(f"not UTF-8 text (byte 0x{raw[bad]:02x}), though it starts with UTF-8's "
                          "byte-order mark; save the file as UTF-8 again", file=str(path), line=_line_of(raw, bad))
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError as e:  # a byte Windows-1252 leaves undefined (0x81, 0x8d, 0x8f, 0x90, 0x9d)
        raise error(f"not UTF-8, UTF-16 or Windows-1252 text (byte 0x{raw[e.start]:02x}); save the "
                          "file as UTF-8, or name its encoding with --encoding",
                          file=str(path), line=_line_of(raw, e.start)) from None


def _decode_as(raw: bytes, path, encoding: str, error: type = RosterError) -> str:
    """``raw`` in the encoding the user named; a BOM of that encoding is dropped."""
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise error(f'unknown encoding "{encoding}"; expected one such as utf-8, utf-16, cp1252, '
                          "latin-1", file=str(path)) from None
    if not getattr(info, "_is_text_encoding", True):  # rot13, base64, zlib: bytes.decode refuses them
        raise error(f'"{encoding}" is not a text encoding; expected one such as utf-8, utf-16, cp1252, '
                    "latin-1", file=str(path))
    name = info.name
    skip = len(codecs.BOM_UTF8) if name == "utf-8" and raw.startswith(codecs.BOM_UTF8) else 0
    try:
        return raw[skip:].decode(name)  # "utf-16" reads and drops its own BOM
    except UnicodeDecodeError as e:
        raise error(f"not {encoding} text (byte 0x{raw[skip + e.start]:02x}); check --encoding",
                          file=str(path), line=_line_of(raw, skip + e.start)) from None
    except UnicodeError as e:  # a codec that refuses the text as a whole ("undefined", "idna")
        raise error(f"not {encoding} text ({e}); check --encoding", file=str(path)) from None


def _line_of(raw: bytes, offset: int) -> int:
    """The 1-based line of a byte offset (counting LF bytes: right for UTF-8 and 8-bit encodings)."""
    return raw[:offset].count(b"\n") + 1


# --- the separator --------------------------------------------------------------

DELIMITERS = (",", ";", "\t")
"""Separators derive reads: the first one wins a tie, so a one-column header reads as comma-separated."""


def sniff_delimiter(text: str) -> str:
    """The separator of a CSV: whichever of :data:`DELIMITERS` the header line has most of.

    Only the header is read, and quoted parts are skipped, because a name such
    as "Smith, John" in a ``;`` file must not outvote the real separator.
    """
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "\r\n":
            break
        elif not quoted and ch in counts:
            counts[ch] += 1
    return max(DELIMITERS, key=lambda d: counts[d])  # max keeps the first of equals


def delimiter_name(delimiter: str) -> str:
    """How an error message names a separator."""
    return {",": "a comma", ";": "a semicolon", "\t": "a tab"}[delimiter]


# --- the columns ----------------------------------------------------------------

@dataclass(frozen=True)
class Shape:
    """One export derive recognises by its header: the id column, the name columns, and the rows
    that are no student (recognised by an empty id and one of ``not_students`` as the name)."""

    title: str
    id: str
    name: tuple[str, ...]
    not_students: tuple[str, ...] = ()


SHAPES = (
    Shape("derive", "student_id", ("name",)),
    # Moodle's participants page, "Download table data as" CSV: names in two columns.
    Shape("Moodle participants", "ID number", ("First name", "Last name")),
    # Canvas's gradebook export: under the header, a row of posting policies (or blank cells) and
    # "    Points Possible"; its Test Student has no SIS id. None of them is a student.
    Shape("Canvas gradebook", "SIS User ID", ("Student",),
          not_students=("", "Points Possible", "Student, Test", "Test Student")),
)
"""The roster exports derive reads without being told which columns to use."""


@dataclass(frozen=True)
class Columns:
    """Where a roster's ids and names are: cell indexes into each row, and the shape they came from."""

    id: int
    name: tuple[int, ...]
    shape: Shape
    header: str  # the id column's name as the file spells it, for messages

    def student_id(self, row: Sequence[str]) -> str:
        """The id cell of a row ("" when the row is short)."""
        return row[self.id].strip() if self.id < len(row) else ""

    def student_name(self, row: Sequence[str]) -> str:
        """The name of a row: its name cells joined by a space (first name, then last name)."""
        parts = (row[i].strip() for i in self.name if i < len(row))
        return " ".join(p for p in parts if p)

    def is_student(self, row: Sequence[str]) -> bool:
        """False for the rows an export writes that are no student (Canvas's Points Possible)."""
        if self.student_id(row) or not self.shape.not_students:
            return True
        return self.student_name(row) not in self.shape.not_students


def same_column(a: str, b: str) -> bool:
    """Whether two spellings name one column ("Email address" and "email_address")."""
    return _key(a) == _key(b)


def _key(column: str) -> str:
    """What two spellings of a column name share: "Student ID", "student_id" and " student  id" are one,
    as a spreadsheet user retyping a header may write it."""
    return " ".join(column.replace("_", " ").split()).casefold()


def choose_columns(header: Sequence[str], path, id_column: str | None = None,
                   name_column: str | Sequence[str] | None = None) -> Columns:
    """The id and name columns of a roster's header: the user's choice, else the one shape that fits.

    ``name_column`` may list several columns (joined by a space, as Moodle's
    first and last names are). No fitting shape, or more than one, is an error
    naming the columns found.
    """
    names = (name_column,) if isinstance(name_column, str) else tuple(name_column or ())
    if id_column and names:
        return _locate(Shape("chosen", id_column, names), header, path)
    fits = [s for s in SHAPES if _fits(s, header, id_column, names)]
    if len(fits) > 1:
        listed = "; ".join(f"{s.id} + {' + '.join(s.name)} ({s.title})" for s in fits)
        raise RosterError(f"ambiguous columns: {listed}; choose with --id-column and --name-column "
                          f"(the header has {_listing(header)})", file=str(path), line=1, key="header")
    if not fits:
        raise _missing(header, path, id_column, names)
    shape = fits[0]
    return _locate(Shape(shape.title, id_column or shape.id, names or shape.name, shape.not_students),
                   header, path)


def _fits(shape: Shape, header: Sequence[str], id_column, names) -> bool:
    """Whether a header has every column of ``shape`` that the user did not choose."""
    keys = {_key(h) for h in header}
    wanted = ([] if id_column else [shape.id]) + ([] if names else list(shape.name))
    return all(_key(c) in keys for c in wanted)


def _locate(shape: Shape, header: Sequence[str], path) -> Columns:
    """The cell indexes of ``shape``'s columns; a column missing or written twice is an error."""
    def index(column: str, option: str) -> int:
        at = [i for i, h in enumerate(header) if _key(h) == _key(column)]
        if len(at) > 1:
            raise RosterError(f'ambiguous columns: "{column}" is column {" and ".join(str(i + 1) for i in at)}; '
                              f"rename one (the header has {_listing(header)})",
                              file=str(path), line=1, key="header")
        if not at:
            raise RosterError(f'missing column "{column}" ({option}); the header has {_listing(header)}'
                              + did_you_mean(column, header), file=str(path), line=1, key="header")
        return at[0]
    i = index(shape.id, "--id-column")
    return Columns(i, tuple(index(c, "--name-column") for c in shape.name), shape, header[i])


def _missing(header: Sequence[str], path, id_column, names) -> RosterError:
    """The error for a header no shape fits, naming the nearest shape's first missing column."""
    keys = {_key(h) for h in header}

    def present(s: Shape) -> int:
        return sum(_key(c) in keys for c in (s.id, *s.name))
    nearest = max(SHAPES, key=present)  # max keeps the first of equals: derive's own shape
    wanted = ([] if id_column else [nearest.id]) + ([] if names else list(nearest.name))
    column = next(c for c in wanted if _key(c) not in keys)
    known = ", ".join(f"{s.id} + {' + '.join(s.name)} ({s.title})" for s in SHAPES)
    return RosterError(f'missing column "{column}"; the header has {_listing(header)}' + did_you_mean(column, header)
                       + f"; expected one of {known}, or --id-column and --name-column",
                       file=str(path), line=1, key="header")


def _listing(header: Sequence[str]) -> str:
    """A header's column names for a message, or "nothing"."""
    return ", ".join(f'"{h}"' for h in header) or "nothing"
