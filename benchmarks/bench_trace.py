"""Benchmark computation-graph sheets against today's 2-2-1 sheet, in the same run.

    python3 benchmarks/bench_trace.py [--students 60] [--repeat 2]

Builds the same synthetic class three ways through ``build_class`` (both variants, PDFs):
the 2-2-1 sheet (random-221.toml) with the shipped templates; the same with a preamble
that does not load TikZ (what adding ``\\usepackage{tikz}`` for graph.tex costs every
sheet); and the lecture's sigmoid trace (graph-sigmoid.toml, values drawn per student).
Reports seconds per sheet and each as a ratio to the 2-2-1 sheet (best of ``--repeat``).
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
from derive.spec import load_roster, load_spec, parse_spec  # noqa: E402


def roster(path: Path, n: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "name"])
        for i in range(n):
            w.writerow([f"s{i:05d}", f"Student Number {i}"])


def no_tikz_templates(folder: Path) -> Path:
    """A templates folder whose preamble.tex is the shipped one without TikZ."""
    folder.mkdir()
    text = (ROOT / "derive" / "templates" / "preamble.tex").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines(keepends=True) if "{tikz}" not in line]
    assert len(lines) < len(text.splitlines()), "the shipped preamble no longer loads TikZ"
    (folder / "preamble.tex").write_text("".join(lines), encoding="utf-8")
    return folder


def seconds_per_sheet(spec, r, work: Path, label: str, templates: Path | None, repeat: int) -> float:
    best = float("inf")
    for k in range(repeat):
        t = time.perf_counter()
        result = build_class(spec, r, work / f"{label}-{k}", "bench-secret-for-timing",
                             jobs=os.cpu_count() or 2, templates=templates)
        assert not result.failures, result.failures
        best = min(best, (time.perf_counter() - t) / result.sheets)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    sigmoid = (ROOT / "worksheets" / "graph-sigmoid.toml").read_text(encoding="utf-8")
    drawn = sigmoid.replace("values = { w = 2.0, x = -1.0, b = 0.5 }\n", "")  # one exercise per student
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        roster(work / "roster.csv", args.students)
        r = load_roster(work / "roster.csv")
        cases = [("2-2-1 sheet", load_spec(ROOT / "worksheets" / "random-221.toml"), None),
                 ("2-2-1 sheet, no TikZ", load_spec(ROOT / "worksheets" / "random-221.toml"),
                  no_tikz_templates(work / "no-tikz")),
                 ("sigmoid trace", parse_spec(drawn, "graph-sigmoid-drawn.toml"), None)]
        times = {label: seconds_per_sheet(spec, r, work, str(k), templates, args.repeat)
                 for k, (label, spec, templates) in enumerate(cases)}
    base = times["2-2-1 sheet"]
    print(f"{args.students} students, both variants, best of {args.repeat}, {os.cpu_count()} cores")
    for label, s in times.items():
        print(f"  {label:<22} {1000 * s:6.1f} ms/sheet   {s / base:4.2f}x the 2-2-1 sheet")


if __name__ == "__main__":
    main()
