"""Benchmark a class's worksheets end to end.

    python3 benchmarks/bench_worksheets.py [--students 200] [--sample 6]

Builds both variants for a synthetic roster through ``build_class`` (render,
batched TeX on all cores, cutting) and reports sheets per second, against a
baseline measured in the same run: compiling a sample of the same sheets one
latexmk run each, from clean, extrapolated to the class.  ``--students 1000``
gives the 2000-sheet figure.  Also says where the time goes: the key and
rendering, TeX, and cutting the batch PDFs into per-sheet and class PDFs.
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from derive import pdf, pdffonts  # noqa: E402
from derive.classroom import build_class  # noqa: E402
from derive.spec import load_roster, load_spec  # noqa: E402


def roster(path: Path, n: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "name"])
        for i in range(n):
            w.writerow([f"s{i:05d}", f"Student Number {i}"])


def timed(module, name: str, into: dict, label: str) -> None:
    """Wrap module.name so that its calls' wall time is added to into[label] (threads sum)."""
    inner = getattr(module, name)

    def wrapper(*a, **k):
        start = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            into[label] += time.perf_counter() - start
    setattr(module, name, wrapper)


def per_sheet_latexmk(tex_files: list[Path], work: Path) -> float:
    """Seconds per sheet when every sheet gets its own latexmk run from clean."""
    t = time.perf_counter()
    for k, tex in enumerate(tex_files):
        d = work / f"one{k}"
        d.mkdir()
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
        stages, busy = {}, {"TeX": 0.0, "fonts": 0.0, "cutting": 0.0}
        timed(pdf, "_tex", busy, "TeX")
        timed(pdffonts, "compact_fonts", busy, "fonts")
        timed(pdf, "_cut", busy, "cutting")
        timed(pdf, "_write_pages", busy, "cutting")
        t = time.perf_counter()
        result = build_class(spec, r, work / "out", "bench-secret-for-timing", jobs=os.cpu_count() or 2,
                             progress=lambda stage, done, n: stages.setdefault(stage, [time.perf_counter()])
                             .append(time.perf_counter()))
        total = time.perf_counter() - t
        assert not result.failures
        sheets = result.sheets
        sizes = sorted(f.stat().st_size for f in (work / "out" / "students").glob("*/*.pdf"))
        class_sizes = {f.name: f.stat().st_size for f in sorted((work / "out").glob("class-*.pdf"))}
        sample = sorted((work / "out" / "students").glob("*/*.tex"))[: args.sample]
        one = per_sheet_latexmk(sample, work)
    print(f"{args.students} students, {sheets} sheets: {total:.1f} s, {sheets / total:.1f} sheets/s")
    render = stages["render"][-1] - t
    tex_wall = stages["pdf"][-1] - stages["render"][-1]
    print(f"  where the time goes: key and render {render:.1f} s, PDF stage {tex_wall:.1f} s "
          f"(TeX {busy['TeX']:.1f} s, font rewrite {busy['fonts']:.1f} s and cutting {busy['cutting']:.1f} s, "
          f"summed over {os.cpu_count()} "
          f"parallel workers), the rest (manifest, key files, swap) {total - render - tex_wall:.1f} s")
    print(f"  per-student PDFs: median {statistics.median(sizes) / 1024:.1f} KiB (min {sizes[0] / 1024:.1f}, "
          f"max {sizes[-1] / 1024:.1f}); " + ", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in class_sizes.items()))
    print(f"one latexmk run per sheet: {one:.2f} s/sheet -> {one * sheets:.0f} s for the class")
    print(f"ratio: {one * sheets / total:.1f}x faster than one latexmk run per sheet")


if __name__ == "__main__":
    main()
