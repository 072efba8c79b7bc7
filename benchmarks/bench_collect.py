"""Benchmark the filled-PDF route: collect and grade a Moodle zip of N filled sheets.

    python benchmarks/bench_collect.py [--students 1000] [--jobs 2] [--work DIR]

Set-up (not timed): a class of N students is built with TeX
(derive/examples/random-221.toml: 28 answers a sheet), every blank PDF is
filled with the student's key through pikepdf's form API (as a viewer does:
each field's value set and its appearance regenerated) and zipped with
Moodle's "download all submissions" names.

Timed, each on the same zip:
- ``collect``: read the zip's N sheets into an answers CSV (``derive collect``);
- ``grade``: grade the class with ``--answers`` the zip (``derive grade``:
  collect, then grade and write the reports);
- baseline: grade the class from the CSV that collect wrote, in the same run.

``--work DIR`` keeps the class and the zip in DIR, and a later run with
the same DIR and --students skips the set-up (to time again on a quieter
machine).  Prints the times (wall and CPU), per sheet, and the ratio of grading from the zip to
grading from the CSV: what reading the PDFs costs on top of grading.
Target (issue 7): collect and grade 1000 filled PDFs in under 30 s.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from derive.classroom import build_class, collect_class, grade_class  # noqa: E402
from derive.spec import load_roster, load_spec  # noqa: E402
from fillpdf import filled, key, moodle_name  # noqa: E402

SPEC = ROOT / "derive" / "examples" / "random-221.toml"
SECRET = "bench-collect-secret-0123456789abcdef"


def make_zip(cls: Path, ids: list[str], names: dict[str, str], out: Path) -> None:
    """Every student's blank sheet filled with their key, zipped as Moodle names the files."""
    keys = key(cls)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for k, sid in enumerate(ids):
            z.writestr(moodle_name(names[sid], k), filled(cls / "students" / sid / "blank.pdf", keys[sid]))


def timed(label: str, call):
    """Run ``call``; print its wall time and this process's CPU time (steadier on a shared machine)."""
    t0, c0 = time.perf_counter(), time.process_time()
    result = call()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"  {label:<9} {elapsed:6.2f} s wall, {cpu:6.2f} s CPU", flush=True)
    return result, elapsed


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=1000)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--work", type=Path, help="keep (and reuse) the class and the zip here")
    args = p.parse_args(argv)
    if args.work is None:
        with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
            run(args.students, args.jobs, Path(tmp))
    else:
        run(args.students, args.jobs, args.work)


def run(n: int, jobs: int, tmp: Path) -> None:
    tmp.mkdir(parents=True, exist_ok=True)
    roster_csv = tmp / f"roster-{n}.csv"
    roster_csv.write_text("student_id,name\n" + "".join(f"s{i:05d},Student{i} Number{i}\n" for i in range(n)),
                          encoding="utf-8")
    spec, roster = load_spec(SPEC), load_roster(roster_csv)
    ready = tmp / f"ready-{n}"
    if not ready.exists():
        print(f"set-up: building {n} students' sheets and filling them (not timed) ...", flush=True)
        build_class(spec, roster, tmp / "class", SECRET, jobs=jobs, engine="pdflatex", force=True)
        names = {s.id: s.name for s in roster.students}
        make_zip(tmp / "class", roster.ids(), names, tmp / "submissions.zip")
        ready.touch()
    for old in ("answers.csv", "grades-warm", "grades-csv", "grades-zip"):
        if (tmp / old).is_dir():
            shutil.rmtree(tmp / old)
        elif (tmp / old).exists():
            (tmp / old).unlink()
    size = (tmp / "submissions.zip").stat().st_size
    print(f"{n} filled sheets, zip {size / 2 ** 20:.1f} MB")
    common = dict(class_dir=tmp / "class", secret=SECRET)
    collected, t_collect = timed("collect", lambda: collect_class(
        spec, roster, tmp / "submissions.zip", tmp / "answers.csv", **common))
    # warm-up, not timed: the first grading compiles the architecture (lambdify) once per process
    grade_class(spec, roster, tmp / "answers.csv", tmp / "grades-warm", **common)
    baseline, t_csv = timed("baseline", lambda: grade_class(
        spec, roster, tmp / "answers.csv", tmp / "grades-csv", **common))
    graded, t_grade = timed("grade", lambda: grade_class(
        spec, roster, tmp / "submissions.zip", tmp / "grades-zip", **common))
    full = sum(s.result.score == s.result.max for s in graded.students)
    assert len(collected.students) == n and not collected.warnings, collected.warnings[:3]
    assert full == n and [s.result.score for s in baseline.students] == [s.result.score for s in graded.students]
    print(f"  every one of {n} students at full marks; {len(collected.warnings)} warnings")
    print(f"  collect:  {1000 * t_collect / n:.2f} ms per sheet")
    print(f"  grade from the zip: {t_grade:.2f} s ({1000 * t_grade / n:.2f} ms per sheet; target < 30 s)")
    print(f"  ratio:    grading from the zip takes {t_grade / t_csv:.1f}× grading from the CSV "
          f"({t_csv:.2f} s)")


if __name__ == "__main__":
    main()
