"""Files in and out, one of each: the atomic writer and the CSV text every stage writes.

Every CSV derive writes is UTF-8 with a byte-order mark, so Excel on Windows
opens "José" as José, and no cell can become a formula there (OWASP's advice
for CSV injection); every file is written through a temporary file beside it
and renamed into place, so a reader never sees half of it.
"""
from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from .errors import OutputError

BOM = "\ufeff"


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP, CSV injection)."""

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: object) -> str:
    """A cell no spreadsheet runs: one starting like a formula gets a leading ' (numbers stay numbers)."""
    text = str(value)
    if text.startswith(FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def unsafe_cell(text: str) -> str:
    """The value :func:`safe_cell` protected, read back from a CSV derive wrote."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


NOTICE_MARK = "# "
"""The first cell of a notice line above a CSV's header (the key says it is the instructor's)."""


def skip_notice(f) -> int:
    """Step over a notice line at the top of an open CSV file; how many lines were skipped (0 or 1)."""
    start = f.tell()
    if f.readline().startswith(NOTICE_MARK):
        return 1
    f.seek(start)
    return 0


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    """Rows as CSV text for a spreadsheet: a BOM, commas, one line per row, no live formulas."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([safe_cell(c) for c in row] for row in rows)
    return BOM + buf.getvalue()


def write_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) through a temporary file beside ``path`` and rename it into place.

    The file gets the permissions the umask gives a new file, as open() would.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise OutputError(f"cannot write: {e.strerror or e}", file=str(path)) from e
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
