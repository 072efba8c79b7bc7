"""Benchmark the lab sections: the cost per sheet of specs with a gradient check or training
steps, against today's 2-2-1 sheet, in the same run.

    python3 benchmarks/bench_lab.py [--students 40] [SPEC ...]

For each spec (default: the shipped random-221-lab, classic-221-gradcheck, xor-221-training),
builds a class of ``--students`` through ``build_class`` (both variants, PDFs) and reports
seconds per sheet, the share spent on the keys (the exact rounded chain, lab sections
included), and the ratio to random-221.toml's sheets built in the same run.  Target: at
most 1.5x (issue 8).
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from derive import classroom  # noqa: E402
from derive.spec import load_roster, load_spec  # noqa: E402

EXAMPLES = ROOT / "derive" / "examples"
BASELINE = EXAMPLES / "random-221.toml"
LAB = [EXAMPLES / f"{n}.toml" for n in ("random-221-lab", "classic-221-gradcheck", "xor-221-training")]


def roster(path: Path, n: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "name"])
        w.writerows((f"s{i:05d}", f"Student Number {i}") for i in range(n))


def keys(spec, students: int) -> float:
    """Seconds per student for the answer keys alone (the exact rounded chain, lab sections included)."""
    from derive.lab import exercise_key, prepare
    from derive.randomize import draw_class
    draws = list(draw_class(spec, "bench-secret-for-timing", [f"s{i:05d}" for i in range(students)]).values())
    exercise_key(spec, draws[0].params, draws[0].data)  # the graph is built once per class
    t = time.perf_counter()
    for d in draws:
        prepare.cache_clear()  # a fixed spec gives every student the same exercise: no reuse here
        exercise_key(spec, d.params, d.data)
    return (time.perf_counter() - t) / len(draws)


def build(spec_path: Path, students: int, work: Path) -> tuple[float, float, int]:
    """(seconds per sheet, seconds per key, sheets) for one class of this spec."""
    spec, r = load_spec(spec_path), load_roster(work / "roster.csv")
    t = time.perf_counter()
    result = classroom.build_class(spec, r, work / f"out-{spec_path.stem}", "bench-secret-for-timing",
                                   jobs=os.cpu_count() or 2)
    total = time.perf_counter() - t
    assert not result.failures, result.failures
    return total / result.sheets, keys(spec, students), result.sheets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=40)
    ap.add_argument("specs", nargs="*", type=Path, default=LAB)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        roster(work / "roster.csv", args.students)
        base, base_key, n = build(BASELINE, args.students, work)
        print(f"{BASELINE.name}: {base * 1000:.0f} ms/sheet ({n} sheets), key {base_key * 1000:.1f} ms/student")
        for path in args.specs:
            per, key, n = build(path, args.students, work)
            print(f"{path.name}: {per * 1000:.0f} ms/sheet ({n} sheets), key {key * 1000:.1f} ms/student; "
                  f"{per / base:.2f}x the 2-2-1 sheet")


if __name__ == "__main__":
    main()
