"""Benchmark the lab's sections: the cost per sheet of every shipped spec that uses a new section
(computation-graph traces, the vanishing-gradient chains, a gradient check, training steps, a
notation profile), against today's 2-2-1 sheet, in the same run.

    python3 benchmarks/bench_sections.py [--students 40] [SPEC ...]

For each spec (default: the shipped graph-*, vanishing-*, random-221-lab, classic-221-gradcheck,
xor-221-training, and random-221 under the cs231n notation profile),
builds a class of ``--students`` through ``build_class`` (both variants, PDFs) and reports
wall and CPU seconds per sheet (CPU: this process and its finished workers and TeX runs,
steadier on a shared machine), the keys' cost alone (the exact rounded chain, lab sections
included), and the ratios to random-221.toml's sheets, built before and after in the same run.  Target: at
most 1.5x (issue 8).
"""
from __future__ import annotations

import argparse
import csv
import os
import resource
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
LAB = [EXAMPLES / f"{n}.toml" for n in ("graph-sigmoid", "graph-square", "graph-shared-random",
                                        "vanishing-sigmoid-chain", "vanishing-relu-chain",
                                        "random-221-lab", "classic-221-gradcheck", "xor-221-training")]
NOTATION = "cs231n"  # random-221 written in a profile's notation: a copy of the spec with [notation]


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


def cpu() -> float:
    """CPU seconds of this process and of its finished children (workers, TeX): unlike wall time,
    hardly moved by other work on a shared machine."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def build(spec_path: Path, students: int, work: Path) -> tuple[float, float, int, float]:
    """(wall seconds per sheet, seconds per key, sheets, CPU seconds per sheet) for one class of this
    spec (roster: work's parent's)."""
    spec, r = load_spec(spec_path), load_roster(work.parent / "roster.csv")
    t, c = time.perf_counter(), cpu()
    result = classroom.build_class(spec, r, work / spec_path.stem, "bench-secret-for-timing",
                                   jobs=os.cpu_count() or 2)
    total, used = time.perf_counter() - t, cpu() - c
    assert not result.failures, result.failures
    return total / result.sheets, keys(spec, students), result.sheets, used / result.sheets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=40)
    ap.add_argument("specs", nargs="*", type=Path, default=LAB)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.specs == LAB:
            profiled = work / f"random-221-{NOTATION}.toml"
            profiled.write_text(BASELINE.read_text(encoding="utf-8") + f'\n[notation]\npreset = "{NOTATION}"\n',
                                encoding="utf-8")
            args.specs = [*LAB, profiled]
        roster(work / "roster.csv", 2)
        for path in [BASELINE, *args.specs]:  # warm up: imports, graphs, TeX's format and fonts
            build(path, 2, work / "warm")
        roster(work / "roster.csv", args.students)
        first, base_key, n, cpu_first = build(BASELINE, args.students, work / "a")
        lab = [(path, *build(path, args.students, work / "b")) for path in args.specs]
        last, _, _, cpu_last = build(BASELINE, args.students, work / "c")  # before and after: drift shows
        base, base_cpu = (first + last) / 2, (cpu_first + cpu_last) / 2
        print(f"{BASELINE.name}: {first * 1000:.0f} and {last * 1000:.0f} ms/sheet wall, {cpu_first * 1000:.0f} "
              f"and {cpu_last * 1000:.0f} ms/sheet CPU ({n} sheets, built before and after the others), "
              f"key {base_key * 1000:.1f} ms/student")
        for path, per, key, n, used in lab:
            print(f"{path.name}: {per * 1000:.0f} ms/sheet wall, {used * 1000:.0f} CPU ({n} sheets), key "
                  f"{key * 1000:.1f} ms/student; {per / base:.2f}x the 2-2-1 sheet's wall time, "
                  f"{used / base_cpu:.2f}x its CPU time")


if __name__ == "__main__":
    main()
