"""One call that makes a class's folder, usable from a notebook as from the CLI.

roster → draws → keys (the rounded chain) → contexts → ``.tex`` → PDFs → answer key and
manifest.  The folder is built beside its destination and moved into place
only when complete, so a failure never leaves a half-written output folder.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
from dataclasses import dataclass
from contextlib import contextmanager
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable

from . import __version__
from .answers import answers_form_md, answers_template_csv
from .worked import sheet_context
from .errors import AnswersError, OutputError, RosterError
from .lab import exercise_key, exercise_problem
from .numeric import Key
from .symbolic import build_graph
from .randomize import Draw, draw_class, draw_rules, draw_student
from .secret import matches, secret_check, student_seed
from .sheetcode import class_codes, sheet_code
from .spec import WORKSHEET, Limits, Roster, Spec
from .tables import NOTICE_MARK, csv_text, skip_notice, unsafe_cell, write_atomic
from .workers import worker_pool

Progress = Callable[[str, int, int], None]  # (stage, done, total)
VARIANTS = ("blank", "solved")
INSTRUCTOR_ONLY = ("The instructor's file: not to be shared with students. "
                   "It rebuilds every student's sheet and every answer.")  # no comma: one bare CSV cell


@dataclass(frozen=True)
class ClassBuild:
    """What :func:`build_class` made: the folder, its students and any failed sheets."""

    out: Path
    students: int
    sheets: int
    failures: tuple  # pdf.SheetFailure, one per sheet that did not compile
    engine: str = "pdflatex"  # the TeX engine used

    def __repr__(self) -> str:
        return f"ClassBuild({str(self.out)!r}, {self.students} students, {len(self.failures)} failed)"


def choose_engine(roster: Roster, engine: str = "auto") -> str:
    """The TeX engine for a class: ``auto`` is pdflatex, unless some name needs lualatex's fonts.

    The whole class then goes to lualatex (measured: its font loading costs
    3.5–4.5 s per batch, once; mixing engines within a class is not done).
    An explicit pdflatex with such a name is one located error.
    """
    from .render import needs_unicode_engine
    needing = [s for s in roster.students if needs_unicode_engine(s.name) or needs_unicode_engine(s.id)]
    if engine == "pdflatex" and needing:
        s = needing[0]
        raise RosterError(f'"{s.name}" has characters pdflatex cannot set; run with --engine lualatex '
                          "(or auto, the default)", file=roster.path, line=s.line, key="name")
    chosen = engine if engine != "auto" else "lualatex" if needing else "pdflatex"
    if chosen == "lualatex":
        check_glyphs(roster.path, needing)
    return chosen


def class_fonts(spec: Spec, roster: Roster) -> tuple:
    """lualatex's fallback fonts for a whole class: those its names, ids and spec's words need."""
    from .fonts import fallback_for
    from .worked import spec_texts
    return fallback_for([*spec_texts(spec), *(t for s in roster.students for t in (s.name, s.id))])


def check_glyphs(path, students) -> None:
    """Every character of every name and id has a glyph in lualatex's fonts, or one located error.

    TeX itself would print a blank and exit 0.
    """
    from .fonts import PACKAGES, describe, missing_glyphs
    for s in students:
        for key, text in (("name", s.name), ("student_id", s.id)):
            missing = missing_glyphs(text)
            if missing:
                raise RosterError(f'"{text}" has {", ".join(describe(c) for c in missing[:3])}, which no font '
                                  f"of the sheets can set; is the font for it installed (apt-get install "
                                  f"{PACKAGES})?", file=path, line=s.line, key=key)


MARKER = ".derive-output"
"""A file in every folder derive makes: --force replaces only such a folder."""


@contextmanager
def output_folder(out: Path, force: bool, inputs: Iterable[str | Path | None] = ()):
    """A staging folder for ``out``, swapped into place whole when the block ends without error.

    Refused: an existing ``out`` without ``force``; with it, one derive did not
    make, or one that holds this run's inputs or the current folder.  A lock
    beside ``out`` keeps two runs from writing it at once; stale staging or
    replaced folders of killed runs are removed, or restored when ``out`` is gone.
    """
    out = Path(out)
    try:
        _check_out(out, force, [Path(p) for p in inputs if p], exists_ok=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        with _locked(out):
            _recover(out)  # first: a folder put back from a killed swap is then never replaced unasked
            _check_out(out, force, [])
            staging = out.with_name(f".{out.name}.partial-{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            try:
                yield staging
                (staging / MARKER).write_text(f"made by derive {__version__}\n", encoding="utf-8")
                _publish(staging, out)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except OSError as e:
        raise OutputError(f"cannot write: {e.strerror or e}", file=str(out)) from e


def _check_out(out: Path, force: bool, inputs: list[Path], exists_ok: bool = False) -> None:
    where = out.resolve()
    here = Path.cwd().resolve()
    if where == here or where in here.parents:
        raise OutputError("holds the current folder; choose a new folder for --out", file=str(out))
    for p in inputs:
        if where == p.resolve() or where in p.resolve().parents:  # --class DIR is an input folder itself
            raise OutputError(f"holds {p}, an input of this run; choose another --out", file=str(out))
    if (out.exists() or out.is_symlink()) and not exists_ok:
        if not force:
            raise OutputError("exists; choose another --out or pass --force to replace it", file=str(out))
        if not out.is_dir() or not _made_by_derive(out):
            raise OutputError("exists and was not made by derive; it is not replaced, even with --force",
                              file=str(out))


def _made_by_derive(folder: Path) -> bool:
    """Its marker, or the files of a folder an earlier derive made (a manifest, or graded files)."""
    if (folder / MARKER).is_file():
        return True
    try:
        if "derive_version" in json.loads((folder / "manifest.json").read_text(encoding="utf-8")):
            return True
    except (OSError, ValueError):
        pass
    return (folder / "grades.csv").is_file() and (folder / "summary.md").is_file()


@contextmanager
def _locked(out: Path):
    """A lock file beside ``out`` holding this run's pid; a lock whose run is gone is taken over."""
    lock = out.with_name(f".{out.name}.lock")
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            holder = _pid_in(lock)
            if holder and _alive(holder):
                raise OutputError(f"another derive run (pid {holder}) is writing this folder; wait for it "
                                  f"or stop it (or remove {lock.name} if it is gone)", file=str(out)) from None
            lock.unlink(missing_ok=True)
    else:
        raise OutputError(f"cannot take the lock {lock.name}", file=str(out))
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield
    finally:
        lock.unlink(missing_ok=True)


def _pid_in(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _recover(out: Path) -> None:
    """Clean up after killed runs: a replaced folder comes back if ``out`` is gone, the rest is removed."""
    for leftover in sorted(out.parent.glob(f".{out.name}.*-*")):
        kind, _, pid = leftover.name[len(out.name) + 2:].rpartition("-")
        if kind not in ("partial", "old") or not pid.isdigit() or _alive(int(pid)):
            continue
        if kind == "old" and not out.exists():
            os.replace(leftover, out)  # killed between the two renames of the swap: the old folder is back
        else:
            shutil.rmtree(leftover, ignore_errors=True)


def _publish(staging: Path, out: Path) -> None:
    """Move the finished folder into place, replacing an old one only now.

    Killed between the two renames, the old folder waits as ``.OUT.old-PID``,
    and the next run into the same parent puts it back (:func:`_recover`).
    """
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def params_json(draw: Draw) -> str:
    """A student's ``params.json``, which ``derive solve --params`` reads back."""
    if not draw.data.x:  # a computation-graph trace: the values of its symbols
        return json.dumps({"values": draw.params.as_dict()}, indent=2) + "\n"
    x, y = [list(r) for r in draw.data.x], [list(r) for r in draw.data.y]
    data = {"x": x[0], "y": y[0]} if len(x) == 1 else {"x": x, "y": y}
    return json.dumps({"params": draw.params.as_dict(), "data": data}, indent=2) + "\n"


def answer_key_csv(roster: Roster, keys: dict[str, Key]) -> str:
    """A notice line, then student_id, name and one column per answer name: the strings the sheets print."""
    columns = list(next(iter(keys.values())).values)
    return csv_text([[NOTICE_MARK + INSTRUCTOR_ONLY], ["student_id", "name", *columns],
                     *([s.id, s.name, *(keys[s.id].printed(c) for c in columns)] for s in roster.students)])


def answer_key_json(roster: Roster, keys: dict[str, Key]) -> str:
    """The key for programs: each answer's printed value and its value before rounding, to 17 digits."""
    students = {s.id: {n: {"printed": keys[s.id].printed(n), "unrounded": float(v)}
                       for n, v in keys[s.id].unrounded.items()} for s in roster.students}
    return json.dumps({"notice": INSTRUCTOR_ONLY, "students": students}, indent=1, ensure_ascii=False) + "\n"


def manifest_json(spec: Spec, roster: Roster, draws: dict[str, Draw], secret: str,
                  engine: str, variants, failures=(), codes=None) -> str:
    """Everything needed to rebuild any sheet (no timestamps: deterministic).

    The seeds give every answer away, so the file says it is the instructor's.
    The secret itself is not in it, only a salted, stretched check value.
    ``codes``: each student's sheet code (:mod:`derive.sheetcode`), by id.
    """
    return json.dumps({
        "notice": INSTRUCTOR_ONLY,
        "derive_version": __version__, "draw_rules": draw_rules(spec),
        "spec": {"path": str(spec.path), "fingerprint": spec.fingerprint, "title": spec.title},
        "secret_check": None if spec.is_fixed() else secret_check(secret, spec.fingerprint),
        "engine": engine, "variants": list(variants),
        "students": [{"student_id": s.id, "name": s.name, "seed": str(draws[s.id].seed),  # 64 bits: a string
                      **({"sheet_code": codes[s.id]} if codes else {}), **gradient_check_record(spec, draws[s.id])}
                     for s in roster.students],
        "failed_sheets": [f.key for f in failures],
    }, indent=2, ensure_ascii=False) + "\n"


def gradient_check_record(spec: Spec, draw: Draw) -> dict:
    """The ε a student's gradient check uses and the places of its L(θ ± ε), for the manifest ({} without one)."""
    if not spec.exercise.gradcheck:
        return {}
    from .lab import prepare
    pr = prepare(spec.network, draw.params, draw.data, spec.exercise)
    return {"gradcheck": {"eps": str(float(pr.eps)), "places": next(iter(pr.places.values()))}}


@lru_cache(maxsize=8)
def _environment(templates: Path | None):
    from .render import make_environment
    return make_environment(templates)


def draw_key(spec: Spec, draw: Draw) -> Key:
    """A student's answer key: the rounded chain of their exercise (its lab sections too, or a trace's)."""
    return exercise_key(spec, draw.params, draw.data)


def _sheets(spec: Spec, student, draw: Draw, variants, templates, engine, fonts=(), code=None):
    """One student's key and the .tex of each variant (``code``: the sheet code printed on it)."""
    from .render import render_sheet
    key = draw_key(spec, draw)
    if spec.trace is not None:
        from .trace import trace_context
        ctx = trace_context(spec, student, draw.params, key, engine, fonts, sheet_code=code)
    else:
        ctx = sheet_context(spec, student, draw.params, draw.data, key, engine, fonts, sheet_code=code)
    return key, {v: render_sheet(ctx, v, _environment(templates)) for v in variants}


def _first_draw_and_sheets(job):
    """Worker: a student's attempt-0 draw and its sheets (a top-level function, to pickle)."""
    spec, student, seed, variants, templates, engine, fonts, code = job
    draw = draw_student(spec, seed)
    return draw, *_sheets(spec, student, draw, variants, templates, engine, fonts, code)


def _first_draws(spec, roster, secret, variants, templates, engine, fonts, jobs, report, codes):
    """Every student's attempt-0 draw and sheets, on ``jobs`` processes."""
    if spec.network is not None:
        build_graph(spec.network, spec.data.size)  # warm the caches once; forked workers inherit them
    # Seeds, not the secret, go to the workers: the class key is stretched once, here.
    work = [(spec, s, student_seed(secret, s.id), variants, templates, engine, fonts, codes[s.id])
            for s in roster.students]
    pool = worker_pool(jobs)
    try:
        chunk = max(1, len(work) // (jobs * 8))
        out = []
        for result in pool.map(_first_draw_and_sheets, work, chunksize=chunk):
            out.append(result)
            report(len(out), len(work))
    finally:  # interrupted: drop the queued work rather than render the rest of the class first
        pool.shutdown(wait=True, cancel_futures=True)
    return {s.id: r for s, r in zip(roster.students, out)}


def render_class(spec: Spec, roster: Roster, secret: str, *, variants=VARIANTS,
                 templates: Path | None = None, engine: str = "pdflatex", jobs: int = 1,
                 progress: Progress | None = None):
    """Draws, keys, the ``.tex`` of every sheet ({(student id, variant): tex}) and the sheet codes.

    With ``jobs`` > 1 the students are rendered on that many processes; the
    result is byte for byte the same.
    """
    report = (lambda d, t: progress("render", d, t)) if progress else (lambda d, t: None)
    fonts = class_fonts(spec, roster) if engine == "lualatex" else ()
    codes = class_codes(secret, spec.fingerprint, roster.ids())  # unique in the class, or an error
    first = (_first_draws(spec, roster, secret, variants, templates, engine, fonts, jobs, report, codes)
             if jobs > 1 and len(roster.students) >= 4 * jobs else {})
    draws = draw_class(spec, secret, roster.ids(), first={sid: r[0] for sid, r in first.items()})
    keys, texs = {}, {}
    for k, s in enumerate(roster.students):
        done = first.get(s.id)
        if done is None or done[0] != draws[s.id]:  # not rendered yet, or redrawn as a duplicate
            done = (draws[s.id], *_sheets(spec, s, draws[s.id], variants, templates, engine, fonts, codes[s.id]))
            if not first:
                report(k + 1, len(roster.students))
        keys[s.id] = done[1]
        for v in variants:
            texs[(s.id, v)] = done[2][v]
    return draws, keys, texs, codes


def build_class(spec: Spec, roster: Roster, out: str | Path, secret: str, *, variants=VARIANTS,
                pdf: bool = True, jobs: int = 2, templates: Path | None = None,
                engine: str = "auto", force: bool = False,
                progress: Progress | None = None) -> ClassBuild:
    """Make a class's folder (DESIGN.md's layout) and return what was made.

    ``engine`` is ``auto`` (see :func:`choose_engine`), ``pdflatex`` or ``lualatex``;
    the manifest records the engine used.
    """
    out = Path(out)
    engine = choose_engine(roster, engine)
    if pdf:
        from .pdf import missing_tex, tex_available
        from .errors import TexError
        if not tex_available(engine):
            raise TexError(missing_tex(engine))
    with output_folder(out, force, [spec.path, roster.path, templates]) as staging:
        draws, keys, texs, codes = render_class(spec, roster, secret, variants=variants, templates=templates,
                                              engine=engine, jobs=jobs, progress=progress)
        _write_students(staging, roster, draws, texs)
        from .forms import class_forms  # pikepdf: only when PDFs are made
        failures = _compile(staging, roster, texs, variants, engine, jobs, progress,
                            template_assets(templates), templates, class_forms(spec, roster, codes)) if pdf else ()
        write_atomic(staging / "answer-key.csv", answer_key_csv(roster, keys))
        write_atomic(staging / "answer-key.json", answer_key_json(roster, keys))
        write_atomic(staging / "answers-template.csv", answers_template_csv(spec, roster, codes))
        write_atomic(staging / "answers-form.md", answers_form_md(spec))
        write_atomic(staging / "manifest.json",
                     manifest_json(spec, roster, draws, secret, engine, variants, failures, codes))
    return ClassBuild(out, len(roster.students), len(texs), tuple(failures), engine)


def _write_students(staging: Path, roster: Roster, draws, texs) -> None:
    for s in roster.students:
        folder = staging / "students" / s.id
        folder.mkdir(parents=True)
        write_atomic(folder / "params.json", params_json(draws[s.id]))
    for (sid, v), tex in texs.items():
        write_atomic(staging / "students" / sid / f"{v}.tex", tex)


ASSET_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".eps")
"""Files next to an instructor's templates that TeX may need (a logo)."""
MAX_ASSET_BYTES = 10 * 2 ** 20


def template_assets(templates: Path | None) -> tuple[Path, ...]:
    """The images beside the templates (not in sub-folders), for \\includegraphics by name."""
    if templates is None:
        return ()
    return tuple(sorted(p for p in Path(templates).iterdir() if p.suffix.lower() in ASSET_SUFFIXES
                        and p.is_file() and not p.is_symlink() and p.stat().st_size <= MAX_ASSET_BYTES))


def _compile(staging: Path, roster: Roster, texs, variants, engine, jobs, progress, assets=(), templates=None,
             forms=None):
    from .pdf import Sheet, compile_sheets
    # Variant by variant (every blank sheet, then every solved one), so that class-blank.pdf is
    # complete, and written, while TeX still runs the solved sheets' batches.
    sheets = [Sheet(f"{sid}/{v}", tex, staging / "students" / sid / f"{v}.pdf",
                    (forms or {}).get(sid) if v == "blank" else None)
              for v in variants for (sid, v2), tex in texs.items() if v2 == v]
    combined = {staging / f"class-{v}.pdf": [f"{s.id}/{v}" for s in roster.students] for v in variants}
    # measured: a batch's fixed cost (latexmk, the format, and for lualatex ~3.5 s of
    # font loading) outweighs the finer failure isolation of smaller batches
    batch_size = 250 if engine == "lualatex" else 150
    result = compile_sheets(sheets, engine=engine, jobs=jobs, combined=combined, batch_size=batch_size,
                            progress=(lambda d, t: progress("pdf", d, t)) if progress else None,
                            workdir=staging / ".build", assets=assets)
    shutil.rmtree(staging / ".build", ignore_errors=True)
    return traced_failures(result.failures, {f"{sid}/{v}": tex for (sid, v), tex in texs.items()}, templates)


def traced_failures(failures, texs: dict[str, str], templates: Path | None) -> tuple:
    """Each failure with the template line its error came from (TeX names the rendered .tex's line)."""
    from dataclasses import replace
    from .render import template_origin
    out = []
    for f in failures:
        n, lines = f.error_line(), texs.get(f.key, "").splitlines()
        origin = template_origin(lines[n - 1], templates) if n and n <= len(lines) else None
        out.append(replace(f, origin=origin) if origin else f)
    return tuple(out)


def failure_groups(failures) -> list[tuple[list[str], object]]:
    """Failures with the same error at the same template line, together: one report for 600 sheets.

    Each group is (the sheets' keys, its first failure).
    """
    groups: dict[tuple, list] = {}
    for f in failures:
        message = f.log_excerpt.splitlines()[0] if f.log_excerpt else ""
        groups.setdefault((message, f.origin or f.error_line()), []).append(f)
    return [([f.key for f in fs], fs[0]) for fs in groups.values()]


# --- the shipped examples ----------------------------------------------------------

EXAMPLES = Path(str(resources.files("derive") / "examples"))
"""The example specs and rosters shipped inside the package."""


def init_examples(folder: str | Path, force: bool = False) -> tuple[Path, ...]:
    """Write the shipped example specs, rosters, adapters and template sets into ``folder``.

    Refuses to overwrite unless ``force``.  Returns the files written (a
    template set's files as ``templates-de/text.tex``).
    """
    folder = Path(folder)
    sources = [p.relative_to(EXAMPLES) for p in sorted(EXAMPLES.rglob("*"))
               if p.is_file() and p.suffix in EXAMPLE_SUFFIXES and "__pycache__" not in p.parts]
    taken = [folder / p for p in sources if (folder / p).exists()]
    if taken and not force:
        raise OutputError("exists; pass --force to replace the examples, or choose another folder",
                          file=str(taken[0]))
    try:
        for p in sources:
            (folder / p).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(folder / p, (EXAMPLES / p).read_text(encoding="utf-8"))
    except OSError as e:
        raise OutputError(f"cannot write: {e.strerror or e}", file=str(folder)) from e
    return tuple(folder / p for p in sources)


EXAMPLE_SUFFIXES = (".toml", ".csv", ".py", ".tex")  # .py: check-code adapters; .tex: template sets


# --- grading a class ---------------------------------------------------------------

@dataclass(frozen=True)
class ClassGrades:
    """What :func:`grade_class` wrote: the graded students, warnings, the files."""

    students: tuple  # grade.GradedStudent, in roster order
    warnings: tuple[str, ...]
    written: tuple[Path, ...]

    def __repr__(self) -> str:
        return f"ClassGrades({len(self.students)} students, {len(self.warnings)} warnings)"


def exercises_from_key(spec: Spec, roster: Roster, key: Path) -> dict[str, Draw]:
    """Each student's exercise from a class folder: the ``params.json`` beside its answer key."""
    from .errors import ParamsError
    from .spec import load_params_json
    out = {}
    for s in roster.students:
        path = key.parent / "students" / s.id / "params.json"
        if not path.exists():
            raise ParamsError(f"no exercise for student {s.id}: expected {path} beside the key "
                              "(the folder derive worksheets made)", file=str(key))
        params, data = load_params_json(path, spec)
        out[s.id] = Draw(0, params, data)
    return out


def _check_key(spec: Spec, key: Path, draws: dict[str, Draw]) -> None:
    """The key must agree with the exercises it sits beside (a stale or edited key is an error)."""
    from .errors import ParamsError
    with open(key, encoding="utf-8-sig", newline="") as f:
        skipped = skip_notice(f)
        try:
            rows = list(csv.DictReader(f))
        except csv.Error as e:  # a cell past csv's field limit
            raise ParamsError(f"not a readable CSV file: {e}", file=str(key)) from None
        for line, row in enumerate(rows, start=2 + skipped):
            d = draws.get(unsafe_cell(row.get("student_id", "")))
            if d is None:
                continue
            k = draw_key(spec, d)
            for name, value in row.items():
                if name in k.values and value and value.strip() != k.printed(name):
                    raise ParamsError(f"{name} of {row['student_id']} is {value} in the key but "
                                      f"{k.printed(name)} from params.json; was the key made from another spec?",
                                      file=str(key), line=line, key=name)


def read_manifest(folder: Path) -> dict:
    """A class folder's manifest.json (its spec, secret check value and seeds)."""
    from .errors import ParamsError
    path = folder / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        manifest["spec"]["fingerprint"], manifest["students"]
        if "secret_check" not in manifest:
            raise KeyError("secret_check: made by an older derive; make the worksheets again")
        if not isinstance(manifest["students"], list) or not all(isinstance(s, dict) for s in manifest["students"]):
            raise TypeError("students: expected a list of objects")
    except FileNotFoundError as e:
        raise ParamsError("no manifest.json: expected the folder derive worksheets made", file=str(folder)) from e
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ParamsError(f"not a manifest derive wrote ({e})", file=str(path)) from e
    except RecursionError:  # json decodes nested arrays recursively
        raise ParamsError("not a manifest derive wrote (arrays nested too deeply)", file=str(path)) from None
    return manifest


def check_class(spec: Spec, folder: Path, secret: str | None) -> dict:
    """Refuse to grade a class folder with another spec, or with another secret; return its manifest."""
    from .errors import ParamsError
    manifest = read_manifest(folder)
    path = str(folder / "manifest.json")
    if manifest["spec"]["fingerprint"] != spec.fingerprint:
        raise ParamsError(f"the class was made from another spec ({manifest['spec'].get('path')}, fingerprint "
                          f"{manifest['spec']['fingerprint']}; {spec.path} has {spec.fingerprint})",
                          file=path, key="spec")
    check = manifest["secret_check"]
    if secret is not None and not spec.is_fixed() and not (isinstance(check, dict) and matches(secret, check)):
        raise ParamsError("the secret does not match the one the class was made with (its check value "
                          "differs); check --secret or DERIVE_SECRET", file=path, key="secret_check")
    return manifest


def draws_from_manifest(spec: Spec, roster: Roster, manifest: dict, folder: Path) -> dict[str, Draw]:
    """Each student's exercise rebuilt from the seed the manifest records (any roster order)."""
    from .errors import ParamsError
    if not spec.is_fixed() and manifest.get("draw_rules", 1) != draw_rules(spec):
        raise ParamsError(f"the class was drawn under draw rules {manifest.get('draw_rules', 1)}, this derive "
                          f"draws under rules {draw_rules(spec)}: its seeds would rebuild other sheets; grade with "
                          "--key CLASS/answer-key.csv (each student's params.json)",
                          file=str(folder / "manifest.json"), key="draw_rules")
    seeds = {s.get("student_id"): str(s.get("seed")) for s in manifest["students"]}
    out = {}
    for s in roster.students:
        seed = seeds.get(s.id, "")
        if not seed.isdigit() or not seed.isascii() or len(seed) > 20:  # seeds are 64-bit (secret.student_seed)
            raise ParamsError(f"student {s.id} has no seed in the manifest; was the class made from "
                              "another roster?", file=str(folder / "manifest.json"), key="students")
        out[s.id] = draw_student(spec, int(seed))
    return out


def grade_class(spec: Spec, roster: Roster, answers_path: str | Path, out: str | Path, *,
                secret: str | None = None, key: str | Path | None = None, class_dir: str | Path | None = None,
                tolerance=None, carried_weight: float = 1.0,
                fewer_decimals_deduction: float = 0.0, force: bool = False,
                id_column: str | None = None, answer_map: str | Path | None = None,
                assignment: str | None = None, feedback_pdf: bool = False, engine: str = "auto",
                templates: Path | None = None, limits: Limits = WORKSHEET) -> ClassGrades:
    """Grade a class's answers file against each student's own exercise; write the reports.

    The exercises come from ``key`` (the class folder's answer-key.csv and
    params.json files), from ``class_dir`` (its manifest's seeds, checked
    against ``secret``), or from ``secret`` alone (drawn again in roster order).
    A class folder made from another spec, or with another secret, is refused.
    An existing ``out`` is refused unless ``force``; then it is replaced whole,
    only once the new grades are complete.  ``id_column`` and ``answer_map``
    (a ``column,answer`` CSV) say how to read a form or LMS export
    (:mod:`derive.answers`).  Beside grades.csv go the Moodle and Canvas
    gradebook CSVs (:mod:`derive.gradebooks`; ``assignment`` names the grade
    column, default the spec's title) and, with ``feedback_pdf``, each
    student's feedback as a PDF (:mod:`derive.feedback`).  An answers file is read within ``limits``
    (:func:`derive.grade.read_answers`).
    """
    from .grade import (GradedStudent, Marking, Tolerance, copying_flags, few_match_warning,
                        grade_problem, read_answers, write_grades)
    from .gradebooks import write_gradebooks
    from .randomize import asked_names
    out = Path(out)
    order_note: list[str] = []
    folder = Path(key).parent if key is not None else Path(class_dir) if class_dir is not None else None
    manifest = check_class(spec, folder, secret) if folder is not None and (
        key is None or (folder / "manifest.json").exists()) else None
    if key is not None:
        draws = exercises_from_key(spec, roster, Path(key))
        _check_key(spec, Path(key), draws)
    elif manifest is not None:
        draws = draws_from_manifest(spec, roster, manifest, folder)
    else:
        draws = draw_class(spec, secret or "", roster.ids())
        order_note = _redrawn_warnings(roster, draws, secret or "")
    ex = spec.exercise
    asked = asked_names(spec, spec.data.size)
    codes = _sheet_codes(spec, roster, manifest, secret)
    from .submissions import as_answers, collect, is_pdf_source
    if is_pdf_source(answers_path):  # filled PDF sheets: a PDF, a folder or an LMS's zip
        answers = as_answers(collect(answers_path, roster_pairs(roster), asked, codes))
    else:
        answers = read_answers(answers_path, roster=roster.ids(), expected=asked, id_column=id_column,
                               mapping=answer_map, codes=codes, limits=limits)
    marking = Marking(tolerance or Tolerance.by_decimals(ex.decimals), carried_weight, fewer_decimals_deduction,
                      ex.points)
    problems = [problem_of(spec, draws[s.id]) for s in roster.students]
    given = [answers.students.get(s.id, {}) for s in roster.students]
    keys = [pr.key for pr in problems]
    flags = ({} if spec.is_fixed() else
             copying_flags(roster.ids(), keys, given, asked, marking.tolerance))
    graded = tuple(GradedStudent(s.id, s.name, grade_problem(pr, a, marking, asked, spec.notation),
                                 flags.get(s.id, ""))
                   for s, pr, a in zip(roster.students, problems, given))
    if manifest is None and not spec.is_fixed():
        order_note += [w for w in [few_match_warning(roster.ids(), keys, given, asked, marking.tolerance)] if w]
    warnings = answers.warnings + tuple(order_note)
    with output_folder(out, force, [spec.path, roster.path, answers_path, key, class_dir, answer_map]) as staging:
        made = write_grades(staging, graded, decimals=ex.decimals, tolerance=tolerance,
                            carried_weight=carried_weight, warnings=warnings)
        made += write_gradebooks(staging, graded, roster, assignment or spec.title or "derive worksheet",
                                 ex.points.total(asked))
        if feedback_pdf:
            pdfs, failed = _feedback_pdfs(staging, spec, graded, marking, templates, engine)
            made += pdfs
            warnings += failed
    return ClassGrades(graded, warnings, tuple(out / p.relative_to(staging) for p in made))


def problem_of(spec: Spec, draw: Draw):
    """A student's :class:`derive.grade.Problem`: their network exercise (lab sections too), or
    their trace's values."""
    return exercise_problem(spec, draw.params, draw.data)


def _feedback_pdfs(staging: Path, spec: Spec, graded, marking, templates, engine) -> tuple[tuple, tuple]:
    """Every student's feedback PDF beside its Markdown (:mod:`derive.feedback`)."""
    from .feedback import write_feedback_pdfs
    from .grade import feedback_files
    files = feedback_files([g.student_id for g in graded])
    written, failed = write_feedback_pdfs(staging, graded, files, spec=spec, tolerance=marking.tolerance,
                                          carried_weight=marking.carried_weight, templates=templates,
                                          engine=engine, jobs=os.cpu_count() or 2)
    shutil.rmtree(staging / ".build", ignore_errors=True)
    return tuple(written), failed


def roster_pairs(roster: Roster) -> list[tuple[str, str]]:
    """(student id, name) of every student, in roster order."""
    return [(s.id, s.name) for s in roster.students]


def collect_class(spec: Spec, roster: Roster, answers_path: str | Path, out: str | Path, *,
                  secret: str | None = None, class_dir: str | Path | None = None, force: bool = False):
    """Read a class's filled PDF sheets and write them as an answers CSV (``out``) to check before grading.

    Students are identified by the sheet codes of ``class_dir``'s manifest,
    or recomputed from ``secret`` (see :mod:`derive.submissions`).  Returns
    the :class:`~derive.submissions.Collected` answers, with a warning per
    file that could not be read.  An existing ``out`` is refused unless ``force``.
    """
    from .randomize import asked_names
    from .submissions import collect, collected_csv, is_pdf_source
    if not is_pdf_source(answers_path):
        raise AnswersError("expected a filled PDF sheet, a folder of them or a .zip", file=str(answers_path))
    out = Path(out)
    if any(out.resolve() == Path(p).resolve() for p in (spec.path, roster.path, answers_path)):
        raise OutputError("is an input of this run (--force would overwrite it); choose another --out",
                          file=str(out))
    if out.exists() and not force:
        raise OutputError("exists; pass --force to replace it", file=str(out))
    manifest = check_class(spec, Path(class_dir), secret) if class_dir is not None else None
    asked = asked_names(spec, spec.data.size)
    collected = collect(answers_path, roster_pairs(roster), asked, _sheet_codes(spec, roster, manifest, secret))
    write_atomic(out, collected_csv(collected, asked))
    return collected


def _sheet_codes(spec: Spec, roster: Roster, manifest: dict | None, secret: str | None) -> dict[str, str] | None:
    """Student id → sheet code: the manifest's, else recomputed from the secret, else None (unknown)."""
    if manifest is not None:
        recorded = {s.get("student_id"): s.get("sheet_code") for s in manifest["students"]}
        if all(recorded.get(s.id) for s in roster.students):
            return {s.id: str(recorded[s.id]) for s in roster.students}
    if secret is None:
        return None
    return {s.id: sheet_code(secret, s.id, spec.fingerprint) for s in roster.students}


def _redrawn_warnings(roster: Roster, draws: dict[str, Draw], secret: str) -> list[str]:
    """A redrawn exercise (a duplicate avoided) depends on the roster's order: say so."""
    redrawn = [s.id for s in roster.students if draws[s.id].seed != student_seed(secret, s.id)]
    if not redrawn:
        return []
    return [f"{roster.path}: the exercises of {', '.join(redrawn[:5])}{' …' if len(redrawn) > 5 else ''} "
            "were redrawn to avoid duplicates, which depends on the roster's order; if it changed since "
            "the worksheets were made, grade with --key CLASS/answer-key.csv instead"]
