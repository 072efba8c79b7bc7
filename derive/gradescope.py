"""A Gradescope autograder for a class: the zip derive builds, and the grading it runs there.

:func:`build_autograder` writes a zip with, at its root (Gradescope's
autograder specification):

- ``setup.sh``: run once when Gradescope builds the image; makes a virtual
  environment with Python ≥ 3.11 and installs derive from the wheel beside it
  (its dependencies come from PyPI, as on any Gradescope image);
- ``run_autograder``: run for every submission; grades
  ``submission/*`` and writes ``results/results.json``;
- ``derive-<version>-py3-none-any.whl``: this derive, built from its own
  installed files, so the autograder grades exactly as the TA's derive does;
- ``class/spec.toml`` and ``class/manifest.json``: the worksheet spec and the
  class's manifest (each student's seed and sheet code).  The secret is not
  in the zip: the seeds rebuild every exercise without it.

:func:`autograde` is what ``run_autograder`` calls: it reads one submission
(an answers CSV, or a filled PDF sheet when :mod:`derive.forms` can read
it), finds whose it is (the file's ``student_id`` or ``sheet_code``, a filled
sheet's code, else the Gradescope user's student id or email), grades it
like ``derive grade`` and returns the results.json value: one test per answer
(name, score, max_score, output), and the total score.  Nothing a student
uploads makes it fail: an unreadable file or an unknown student is a
results.json with score 0 and an output that says why.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from . import __version__
from .errors import DeriveError, OutputError

ROOT_VARIABLE = "DERIVE_AUTOGRADER_ROOT"
"""The environment variable that moves Gradescope's /autograder (a test runs in a temporary folder)."""
DEFAULT_ROOT = "/autograder"
CLASS = "class"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip entries' time: the same class gives the same zip

SETUP_SH = r"""#!/usr/bin/env bash
# derive's Gradescope autograder: Gradescope runs this once, as root, when it builds the image.
# It needs Python 3.11 or newer (Ubuntu 22.04's python3 is 3.10: python3.11 is installed from apt).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="${DERIVE_AUTOGRADER_ROOT:-/autograder}"
PY="${DERIVE_SETUP_PYTHON:-}"
for p in ${PY:+"$PY"} python3.13 python3.12 python3.11 python3; do
  if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    PY="$p"; break
  fi
  PY=""
done
if [ -z "$PY" ]; then
  apt-get update && apt-get install -y python3.11 python3.11-venv
  PY=python3.11
fi
"$PY" -m venv ${DERIVE_VENV_OPTIONS:-} "$ROOT/venv"
# derive itself comes from the wheel in this zip; DERIVE_PIP_OPTIONS="--no-index --no-deps" installs
# it offline (a test does, into a venv made with DERIVE_VENV_OPTIONS=--system-site-packages)
"$ROOT/venv/bin/python" -m pip install --disable-pip-version-check ${DERIVE_PIP_OPTIONS:-} "$HERE"/derive-*.whl
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# derive's Gradescope autograder: grades submission/* and writes results/results.json.
ROOT="${DERIVE_AUTOGRADER_ROOT:-/autograder}"
PY="${DERIVE_AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
[ -x "$PY" ] || PY=python3
mkdir -p "$ROOT/results"
if ! "$PY" -m derive autograde --root "$ROOT"; then
  # derive itself could not run: still a results.json, so the student sees why
  if [ ! -s "$ROOT/results/results.json" ]; then
    printf '%s\n' '{"score": 0, "output": "The autograder could not run derive (was setup.sh run?). Your submission was not graded; please tell your instructor.", "tests": []}' > "$ROOT/results/results.json"
  fi
fi
exit 0
"""


# --- building the zip -----------------------------------------------------------------

def build_autograder(spec, class_dir: str | Path, secret: str | None, out: str | Path,
                     force: bool = False) -> Path:
    """Write the autograder zip ``out`` for the class folder ``class_dir`` (checked against spec and secret).

    Written atomically; an existing ``out`` is refused unless ``force``.
    """
    from .classroom import check_class
    class_dir, out = Path(class_dir), Path(out)
    check_class(spec, class_dir, secret)
    if out.exists() and not force:
        raise OutputError("exists; choose another --out or pass --force to replace it", file=str(out))
    if out.suffix.lower() != ".zip":
        raise OutputError("expected a .zip file for --out", file=str(out))
    wheel_name, wheel = build_wheel()
    files = {"setup.sh": SETUP_SH.encode(), "run_autograder": RUN_AUTOGRADER.encode(), wheel_name: wheel,
             f"{CLASS}/spec.toml": Path(spec.path).read_bytes(),
             f"{CLASS}/manifest.json": (class_dir / "manifest.json").read_bytes()}
    _write_zip(out, files, executable=("setup.sh", "run_autograder"))
    return out


def build_wheel() -> tuple[str, bytes]:
    """(file name, bytes) of a wheel of the running derive: its package files, metadata and entry point."""
    package = Path(__file__).resolve().parent
    files = {f"derive/{p.relative_to(package).as_posix()}": p.read_bytes() for p in sorted(package.rglob("*"))
             if p.is_file() and _shipped(p.relative_to(package))}
    info = f"derive-{__version__}.dist-info"
    files[f"{info}/METADATA"] = _metadata().encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: derive\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/entry_points.txt"] = b"[console_scripts]\nderive = derive.cli:main\n"
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in files.items()]
    files[f"{info}/RECORD"] = ("\n".join(record + [f"{info}/RECORD,,"]) + "\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(zipfile.ZipInfo(name, _EPOCH), data, zipfile.ZIP_DEFLATED)
    return f"derive-{__version__}-py3-none-any.whl", buf.getvalue()


SHIPPED_SUFFIXES = (".py", ".lua", ".tex", ".md", ".toml", ".csv")
"""What a derive wheel carries: the code and pyproject.toml's package data (templates, examples)."""


def _shipped(rel: Path) -> bool:
    """A file of the package a wheel carries (no bytecode caches, no hidden files)."""
    return (not any(part == "__pycache__" or part.startswith(".") for part in rel.parts)
            and rel.suffix in SHIPPED_SUFFIXES)


def _metadata() -> str:
    """The wheel's METADATA: name, version and the dependencies of the installed derive."""
    from importlib import metadata
    try:
        requires = [r for r in (metadata.requires("derive") or []) if "extra ==" not in r]
    except metadata.PackageNotFoundError:
        requires = []
    requires = requires or list(REQUIRES)
    return ("Metadata-Version: 2.1\nName: derive\n" f"Version: {__version__}\nRequires-Python: >=3.11\n"
            + "".join(f"Requires-Dist: {r}\n" for r in requires))


REQUIRES = ("sympy>=1.12", "numpy>=1.26", "jinja2>=3.1", "pikepdf>=8", "zxcvbn>=4.4", "fonttools>=4.38",
            "segno>=1.5")
"""pyproject.toml's dependencies, for a derive run from a checkout that was never installed."""


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _write_zip(out: Path, files: Mapping[str, bytes], executable=()) -> None:
    """``files`` as a zip at ``out``, through a temporary file beside it; ``executable`` get mode 755."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in files.items():
                info = zipfile.ZipInfo(name, _EPOCH)
                info.external_attr = (0o100755 if name in executable else 0o100644) << 16
                z.writestr(info, data, zipfile.ZIP_DEFLATED)
        os.replace(tmp, out)
    except OSError as e:
        raise OutputError(f"cannot write: {e.strerror or e}", file=str(out)) from e
    finally:
        tmp.unlink(missing_ok=True)


# --- grading one submission, inside Gradescope ------------------------------------------

@dataclass(frozen=True)
class Submission:
    """What one submission says: whose it claims to be (id, or None) and its answers."""

    student_id: str | None
    answers: Mapping[str, str]
    notes: tuple[str, ...] = ()


class Refused(Exception):
    """A submission that cannot be graded; the message is what the student reads."""


def autograde(root: str | Path) -> dict:
    """The results.json value for the submission under ``root`` (Gradescope's /autograder layout).

    Never raises on what the student uploaded: such a submission gets score 0
    and an output saying why.
    """
    root = Path(root)
    try:
        return _graded(root)
    except Refused as e:
        return {"score": 0.0, "output": str(e), "tests": []}
    except DeriveError as e:  # the class files in the zip: the instructor's to fix
        return {"score": 0.0, "output": f"The autograder is misconfigured ({e}); please tell your instructor.",
                "tests": []}


def write_results(root: str | Path, results: dict) -> Path:
    """Write ``results/results.json`` under ``root``."""
    from .tables import write_atomic
    folder = Path(root) / "results"
    folder.mkdir(parents=True, exist_ok=True)
    return write_atomic(folder / "results.json", json.dumps(results, indent=1, ensure_ascii=False) + "\n")


def _graded(root: Path) -> dict:
    from .classroom import draws_from_manifest, problem_of, read_manifest
    from .grade import Marking, Tolerance, grade_problem
    from .randomize import asked_names
    from .spec import load_spec
    source = root / "source" / CLASS
    spec = load_spec(source / "spec.toml")
    manifest = read_manifest(source)
    roster = _roster(manifest, source)
    codes = {s["student_id"]: s["sheet_code"] for s in manifest["students"] if s.get("sheet_code")}
    asked = asked_names(spec, spec.data.size)
    sub = _submission(root, roster, asked, codes)
    sid, notes = _whose(sub, _from_metadata(root, roster))
    sub = Submission(sid, sub.answers, notes + sub.notes)
    draw = draws_from_manifest(spec, _only(roster, sid), manifest, source)[sid]
    ex = spec.exercise
    problem = problem_of(spec, draw)  # a network's exercise, or a trace's values
    result = grade_problem(problem, sub.answers, Marking(Tolerance.by_decimals(ex.decimals), points=ex.points), asked,
                           spec.notation)  # the messages in the sheet's notation
    return _results(result, sid, sub.notes)


def _roster(manifest: dict, source: Path):
    from .spec import Roster, Student
    return Roster(str(source / "manifest.json"),
                  tuple(Student(str(s["student_id"]), str(s.get("name", "")), i + 1)
                        for i, s in enumerate(manifest["students"])))


def _only(roster, sid: str):
    from dataclasses import replace
    return replace(roster, students=tuple(s for s in roster.students if s.id == sid))


SUBMITTED = (".csv", ".pdf", ".tsv", ".txt")


def _submission(root: Path, roster, asked, codes) -> Submission:
    """The one answers file of the submission, read."""
    folder = root / "submission"
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUBMITTED
                   and not any(part.startswith(".") or part == "__MACOSX" for part in p.relative_to(folder).parts)) \
        if folder.is_dir() else []
    if not files:
        raise Refused("No answers file found: upload your answers as a .csv file (answers-template.csv "
                      "filled in) or your filled PDF sheet.")
    if len(files) > 1:
        names = ", ".join(p.name for p in files[:5])
        raise Refused(f"More than one answers file ({names}): upload exactly one.")
    path = files[0]
    if path.suffix.lower() == ".pdf":
        return _pdf_submission(path, roster, codes)
    return _csv_submission(path, roster, asked, codes)


def _csv_submission(path: Path, roster, asked, codes) -> Submission:
    from .errors import AnswersError
    from .grade import read_answers, read_sheet_answers
    name = path.name
    try:
        answers = read_answers(path, roster=roster.ids(), expected=asked, codes=codes)
        known = [s for s in answers.students if s in set(roster.ids())]
        if len(known) > 1:
            raise Refused(f"{name} has the answers of {len(known)} students: upload only your own row.")
        if known:
            return Submission(known[0], answers.students[known[0]], _notes(answers.warnings))
        if answers.students:  # an id or code that is no student of this class
            raise Refused(f"{name}: {_notes(answers.warnings)[0] if answers.warnings else 'its student_id is not on the class list'}")
    except AnswersError:
        pass  # not a class answers file; perhaps one sheet's name,value rows
    try:
        sheet = read_sheet_answers(path)
    except AnswersError as e:
        raise Refused(f"Could not read {name}: {e.message}") from None
    return Submission(None, sheet.answers, _notes(sheet.warnings))


def _notes(warnings) -> tuple[str, ...]:
    from .grade import printable
    return tuple(printable(w) for w in warnings)


def _pdf_submission(path: Path, roster, codes) -> Submission:
    """A filled PDF sheet, read by :mod:`derive.forms` when this derive has it."""
    try:
        from .forms import read_filled
    except ImportError:
        raise Refused(f"{path.name}: this autograder reads answers CSV files only; upload your answers as "
                      "a .csv file (answers-template.csv filled in).") from None
    from .errors import AnswersError
    try:
        sheet = read_filled(path.read_bytes(), path.name)
    except (AnswersError, OSError) as e:
        raise Refused(f"Could not read {path.name}: {getattr(e, 'message', e)}") from None
    if not sheet.values:
        raise Refused(f"{path.name} has no filled answer fields (was it printed to PDF or flattened? save the "
                      "sheet itself from your PDF viewer).")
    by_code = {c: s for s, c in codes.items()}
    sid = by_code.get(sheet.sheet_code or "") or (sheet.student_id if sheet.student_id in roster.ids() else None)
    return Submission(sid, sheet.values)


def _whose(sub: Submission, submitters: list[str]) -> tuple[str, tuple[str, ...]]:
    """The student to grade: the file's, unless Gradescope says the submitter is someone else.

    A file naming a classmate is graded against the submitter's own sheet
    (else copying a classmate's answers and id would earn full marks).
    """
    if sub.student_id and (not submitters or sub.student_id in submitters):
        return sub.student_id, ()
    if submitters:
        told = (f"The file names {sub.student_id}, but you submitted as {submitters[0]}: graded against your "
                "own sheet.",) if sub.student_id else ()
        return submitters[0], told
    raise Refused("Could not tell whose submission this is: put your student_id (or the sheet code printed "
                  "on your sheet) in the answers file, as in answers-template.csv.")


def _from_metadata(root: Path, roster) -> list[str]:
    """The class's ids of the Gradescope users who submitted (by student id or email), in their order."""
    try:
        meta = json.loads((root / "submission_metadata.json").read_text(encoding="utf-8"))
        users = meta.get("users") or []
    except (OSError, ValueError, AttributeError, RecursionError):  # no metadata Gradescope would write
        return []
    lookup = {s.id.casefold(): s.id for s in roster.students}
    found = []
    for user in users if isinstance(users, list) else []:
        for key in ("sid", "student_id", "email"):
            value = user.get(key) if isinstance(user, dict) else None
            if isinstance(value, str) and value.strip().casefold() in lookup:
                found.append(lookup[value.strip().casefold()])
                break
    return found


def _results(result, sid: str, notes: tuple[str, ...]) -> dict:
    """Gradescope's results.json: one test per answer, and the total."""
    from .numeric import show
    tests = []
    for a in result.results:
        why = "" if a.status.value == "correct" and a.message == "correct" else f": {a.message.rstrip('.')}"
        tests.append({"name": a.name, "score": a.credit, "max_score": a.points,
                      "status": "passed" if a.credit == a.points else "failed",
                      "output": f"Your value: {a.given.strip() or '(empty)'}. Key: {show(a.expected)}. "
                                f"{a.status.value.capitalize()}{why}" + (f" ({a.note})." if a.note else ".")})
    output = f"Graded as {sid}: {result.score:g} of {result.max:g} points."
    if notes:
        output += " Notes: " + " ".join(notes)
    return {"score": result.score, "output": output, "tests": tests}


def main(root: str | Path | None = None) -> int:
    """Grade the submission under ``root`` (default $DERIVE_AUTOGRADER_ROOT, else /autograder)."""
    root = Path(root or os.environ.get(ROOT_VARIABLE) or DEFAULT_ROOT)
    try:
        results = autograde(root)
    except Exception as e:  # noqa: BLE001 — whatever happens, the student gets a results.json
        results = {"score": 0.0, "output": f"The autograder failed ({type(e).__name__}); please tell your "
                                           "instructor. Your submission was not graded.", "tests": []}
    write_results(root, results)
    return 0
