"""Benchmark the answer key: the exact rounded chain against the float route, and the class's PDFs.

    python3 benchmarks/bench_key.py [--students 1000]

One run, three figures for the same random-221 class: the key of every
student by the exact route (each rule in fractions on its parents' printed
values), by the float route (one float64 evaluation, rounded at the end),
and the class's blank and solved PDFs (build_class).  The exact key must
cost under 10 % of the PDF build.  The draws are made once, before any
timing, and shared.
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

from derive.classroom import build_class  # noqa: E402
from derive.numeric import key, quantize, solve  # noqa: E402
from derive.randomize import draw_class  # noqa: E402
from derive.spec import load_roster, load_spec  # noqa: E402

SECRET = "bench-secret"


def roster(path: Path, n: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "name"])
        w.writerows((f"s{i:05d}", f"Student Number {i}") for i in range(n))


def timed(f) -> float:
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=1000)
    ap.add_argument("--spec", default=str(ROOT / "worksheets" / "random-221.toml"))
    args = ap.parse_args()
    spec = load_spec(args.spec)
    ex = spec.exercise
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        roster(work / "roster.csv", args.students)
        r = load_roster(work / "roster.csv")
        draws = list(draw_class(spec, SECRET, r.ids()).values())
        exact = timed(lambda: [key(spec.network, d.params, d.data, ex.learning_rate, ex.decimals)
                               for d in draws])
        floats = timed(lambda: [{n: quantize(v, ex.decimals) for n, v in
                                 solve(spec.network, d.params, d.data, ex.learning_rate).values.items()}
                                for d in draws])
        pdfs = timed(lambda: build_class(spec, r, work / "out", SECRET, jobs=os.cpu_count() or 2))
    n = args.students
    print(f"{n} students of {Path(args.spec).name}")
    print(f"  exact key (rounded chain):  {exact:7.2f} s  {1000 * exact / n:6.2f} ms per student")
    print(f"  float key (float64, rounded at the end): {floats:7.2f} s  {1000 * floats / n:6.2f} ms per student")
    print(f"  PDFs of both variants (build_class):     {pdfs:7.2f} s")
    print(f"  ratio: the exact key costs {exact / floats:.1f}x the float key and "
          f"{100 * exact / pdfs:.1f}% of the PDF build (target: under 10%)")


if __name__ == "__main__":
    main()
