"""Benchmark the pdf stage: batched compile_sheets vs. one latexmk run per sheet.

    python benchmarks/bench_pdf.py [--sheets N] [--sample K] [--engine pdflatex]

Generates N simple 2-page sheets, times compile_sheets (jobs=2, plus one
combined PDF of all sheets), then times K sheets compiled one latexmk run
each from a clean folder and extrapolates that to N.  Prints sheets/second
and the ratio.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from derive.pdf import Sheet, compile_sheets  # noqa: E402

PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[T1]{fontenc}
\usepackage{lmodern}
\usepackage{amsmath}
\usepackage[margin=2cm]{geometry}
"""


def sheet_tex(i: int) -> str:
    """A 2-page worksheet for student ``i``."""
    return PREAMBLE + rf"""\begin{{document}}
\section*{{Worksheet for student {i:04d}}}
Compute $\frac{{\partial L}}{{\partial w_{{1}}}}$ for $w_1 = {i % 7}.5$ and $b = {i % 5}$.
\begin{{equation}} y = \sigma(w_1 x + b), \qquad L = \tfrac12 (y - t)^2 \end{{equation}}
\newpage
\section*{{Answers for student {i:04d}}}
\[ \frac{{\partial L}}{{\partial w_1}} = (y - t)\, y (1 - y)\, x \]
\end{{document}}
"""


def per_sheet_latexmk(tex: str, folder: Path, engine: str) -> None:
    """One sheet, one latexmk run, from a clean folder (the naive baseline)."""
    folder.mkdir()
    (folder / "sheet.tex").write_text(tex, encoding="utf-8")
    flag = {"pdflatex": "-pdf", "lualatex": "-pdflua"}[engine]
    subprocess.run(["latexmk", "-norc", flag, "-interaction=nonstopmode", "-halt-on-error",
                    "-no-shell-escape", "sheet.tex"], cwd=folder, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheets", type=int, default=200)
    parser.add_argument("--sample", type=int, default=10)
    parser.add_argument("--engine", default="pdflatex", choices=["pdflatex", "lualatex"])
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-pdf-") as tmp:
        out = Path(tmp) / "out"
        sheets = [Sheet(f"s{i:04d}", sheet_tex(i), out / f"s{i:04d}.pdf") for i in range(args.sheets)]
        combined = {out / "class.pdf": [s.key for s in sheets]}
        start = time.perf_counter()
        result = compile_sheets(sheets, engine=args.engine, jobs=2, batch_size=args.batch_size,
                                combined=combined, workdir=Path(tmp) / "build")
        batched = time.perf_counter() - start
        if result.failures:
            sys.exit(f"unexpected failures: {result.failures[:3]}")

        sample = min(args.sample, args.sheets)
        start = time.perf_counter()
        for i in range(sample):
            per_sheet_latexmk(sheet_tex(i), Path(tmp) / f"single{i}", args.engine)
        single = (time.perf_counter() - start) / sample

    naive = single * args.sheets
    print(f"engine {args.engine}, {args.sheets} sheets, batch size {args.batch_size}, jobs 2")
    print(f"compile_sheets:       {batched:7.2f} s  {args.sheets / batched:7.1f} sheets/s"
          f"  (incl. a {args.sheets}-sheet combined PDF)")
    print(f"latexmk per sheet:    {naive:7.2f} s  {1 / single:7.1f} sheets/s"
          f"  (extrapolated from {sample} sheets, {single:.3f} s each)")
    print(f"speed-up:             {naive / batched:7.1f}x")


if __name__ == "__main__":
    main()
