"""Benchmark a class's worksheets end to end.

    python3 benchmarks/bench_worksheets.py [--students 200] [--sample 6]

Builds both variants for a synthetic roster through ``build_class`` (render,
batched TeX on all cores, cutting) and reports sheets per second, against a
baseline measured in the same run: compiling a sample of the same sheets one
latexmk run each, from clean, half before the build and half after (the
machine's speed drifts), extrapolated to the class.  ``--students 1000``
gives the 2000-sheet figure.  Also says where the time goes, in CPU seconds
(wall time summed over threads would count waiting for the GIL): the key and
rendering, TeX, the font rewrite and cutting of the batch PDFs into per-sheet
PDFs (in the batch workers), writing the class PDFs, and the rest.  CPU seconds over cores is the floor for the wall time.
"""
from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from derive import pdf  # noqa: E402
from derive import classroom  # noqa: E402
from derive.classroom import build_class  # noqa: E402
from derive.spec import load_roster, load_spec  # noqa: E402


def roster(path: Path, n: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "name"])
        for i in range(n):
            w.writerow([f"s{i:05d}", f"Student Number {i}"])


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class Clock:
    """CPU seconds by stage (not wall time summed over threads, which counts waiting for the GIL).

    TeX runs in child processes, and so do the render and batch workers: the
    children's CPU is read before and after the PDF stage (``classroom._compile``),
    when only the batch workers and their TeX runs are below us.  Each batch's
    worker reports the CPU of its font rewrite and cutting (``_Outcome.cutting``);
    the rest of the children's CPU is TeX's.  This process's own work in that
    stage is split by thread CPU time in the functions that do it.
    """

    def __init__(self) -> None:
        self.marks: dict[str, tuple[float, float, float]] = {}
        self.threads = {"class PDFs": 0.0}
        self.cutting = 0.0  # reported by the batch workers (processes: their CPU is the children's)

    def mark(self, name: str) -> None:
        self.marks[name] = (time.perf_counter(), cpu_seconds(resource.RUSAGE_SELF),
                            cpu_seconds(resource.RUSAGE_CHILDREN))

    def around(self, module, name: str, before: str, after: str) -> None:
        inner = getattr(module, name)

        def wrapper(*a, **k):
            self.mark(before)
            try:
                return inner(*a, **k)
            finally:
                self.mark(after)
        setattr(module, name, wrapper)

    def thread_cpu(self, module, name: str, label: str) -> None:
        inner = getattr(module, name)

        def wrapper(*a, **k):
            start = time.thread_time()
            try:
                return inner(*a, **k)
            finally:
                self.threads[label] += time.thread_time() - start
        setattr(module, name, wrapper)

    def batch_cpu(self) -> None:
        """Sum the CPU seconds each batch's worker spent rewriting fonts and cutting."""
        inner = pdf._Runner._record
        clock = self

        def record(runner, outcome):
            clock.cutting += outcome.cutting
            return inner(runner, outcome)
        pdf._Runner._record = record

    def between(self, a: str, b: str) -> tuple[float, float, float]:
        """(wall, own CPU, children's CPU) from mark a to mark b."""
        return tuple(y - x for x, y in zip(self.marks[a], self.marks[b]))


def per_sheet_latexmk(tex_files: list[Path], work: Path) -> float:
    """Seconds per sheet when every sheet gets its own latexmk run from clean."""
    t = time.perf_counter()
    for k, tex in enumerate(tex_files):
        d = work / f"one{k}"
        d.mkdir(parents=True)
        shutil.copy(tex, d / "sheet.tex")
        subprocess.run(["latexmk", "-pdf", "-no-shell-escape", "-interaction=nonstopmode", "-quiet",
                        "sheet.tex"], cwd=d, check=True, capture_output=True)
    return (time.perf_counter() - t) / len(tex_files)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=200)
    ap.add_argument("--sample", type=int, default=6, help="sheets compiled one by one for the baseline")
    ap.add_argument("--spec", default=str(ROOT / "worksheets" / "random-221.toml"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        roster(work / "roster.csv", args.students)
        spec, r = load_spec(args.spec), load_roster(work / "roster.csv")
        # The baseline is timed on both sides of the build and averaged: this machine's speed
        # drifts by a fifth within minutes, and a ratio of two timings taken apart drifts with it.
        first = max(1, args.sample // 2)
        roster(work / "sample.csv", args.sample)
        build_class(spec, load_roster(work / "sample.csv"), work / "sample", "bench-secret-for-timing",
                    pdf=False, jobs=1)
        sample = sorted((work / "sample" / "students").glob("*/*.tex"))[: args.sample]
        before = per_sheet_latexmk(sample[:first], work / "before")
        clock = Clock()
        clock.around(classroom, "_compile", "pdf", "rest")
        clock.batch_cpu()
        clock.thread_cpu(pdf, "_write_pages", "class PDFs")
        clock.mark("start")
        result = build_class(spec, r, work / "out", "bench-secret-for-timing", jobs=os.cpu_count() or 2)
        clock.mark("end")
        assert not result.failures
        sheets = result.sheets
        sizes = sorted(f.stat().st_size for f in (work / "out" / "students").glob("*/*.pdf"))
        class_sizes = {f.name: f.stat().st_size for f in sorted((work / "out").glob("class-*.pdf"))}
        after = per_sheet_latexmk(sample[first:] or sample, work / "after")
        one = (before + after) / 2
    total = clock.between("start", "end")[0]
    print(f"{args.students} students, {sheets} sheets: {total:.1f} s, {sheets / total:.1f} sheets/s")
    render, pdf_stage, rest = (clock.between("start", "pdf"), clock.between("pdf", "rest"),
                               clock.between("rest", "end"))
    cut, class_pdfs = clock.cutting, clock.threads["class PDFs"]
    parts = [("key and render", render[1] + render[2]), ("TeX", pdf_stage[2] - cut),
             ("font rewrite and cutting", cut), ("class PDFs", class_pdfs),
             ("the rest of the PDF stage", pdf_stage[1] - class_pdfs),
             ("manifest, key files, swap", rest[1] + rest[2])]
    cpu = sum(seconds for _, seconds in parts)
    cores = os.cpu_count() or 1
    print(f"  wall: key and render {render[0]:.1f} s, PDF stage {pdf_stage[0]:.1f} s, "
          f"manifest, key files and swap {rest[0]:.1f} s")
    print(f"  CPU: {cpu:.1f} s in all, so at least {cpu / cores:.1f} s of wall time on {cores} cores:")
    for label, seconds in parts:
        print(f"    {label:28s} {seconds:6.1f} s  {1000 * seconds / sheets:5.1f} ms/sheet  {100 * seconds / cpu:3.0f} %")
    print(f"  per-student PDFs: median {statistics.median(sizes) / 1024:.1f} KiB (min {sizes[0] / 1024:.1f}, "
          f"max {sizes[-1] / 1024:.1f}); " + ", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in class_sizes.items()))
    print(f"one latexmk run per sheet: {one:.2f} s/sheet (before the build {before:.2f}, after {after:.2f})"
          f" -> {one * sheets:.0f} s for the class")
    print(f"ratio: {one * sheets / total:.1f}x faster than one latexmk run per sheet")


if __name__ == "__main__":
    main()
