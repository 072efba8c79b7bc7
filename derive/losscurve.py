"""The loss curve: the loss after each training step, drawn as a LaTeX ``picture``.

:func:`loss_curve` lays the plot out in millimetres (axes, ticks, the points), so that
TeX only draws, like the network diagram; the solved sheet's training section and
``derive train --plot`` draw the same layout (``templates/losscurve.tex``).
"""
from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Sequence

from .errors import DeriveError

WIDTH, HEIGHT = 64.0, 40.0   # the plot area, mm: beside a 3-step table on the page
MARGIN_LEFT, MARGIN_BOTTOM = 14.0, 9.0


def _mm(v: float) -> str:
    return f"{v:.2f}"


def _nice_step(span: float, ticks: int = 4) -> float:
    """A tick step of 1, 2 or 5 times a power of ten giving about ``ticks`` intervals."""
    raw = span / ticks if span > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _label(v: float, step: float) -> str:
    places = max(0, -math.floor(math.log10(step)) if step < 1 else 0)
    text = f"{v:.{places}f}"
    return "0" if float(text) == 0 else text


def _x_ticks(n: int) -> list[int]:
    """The steps labelled on the x axis: every one up to 10, else about 5 of them."""
    every = 1 if n <= 10 else _nice_step(n, 5)
    return [t for t in range(0, n + 1) if t % int(every) == 0]


DOTS = 30        # up to this many losses, each is marked with a dot
MOST_POINTS = 400  # a longer run is drawn through this many of its losses


def _thinned(n: int) -> list[int]:
    """The steps the line passes through: all of them, or MOST_POINTS evenly spaced, the last included."""
    if n <= MOST_POINTS:
        return list(range(n))
    return sorted({round(k * (n - 1) / (MOST_POINTS - 1)) for k in range(MOST_POINTS)})


def loss_curve(losses: Sequence[Decimal | float]) -> dict:
    """The layout of a plot of ``losses[t]`` against t: every coordinate in mm, formatted.

    Keys: ``width``, ``height`` (the whole picture), ``x0``, ``y0``, ``x1``, ``y1`` (the axes'
    box), ``points`` (``x``, ``y``; at most MOST_POINTS), ``dots`` (whether to mark them), ``xticks`` and ``yticks`` (``x``, ``y``, ``text``).
    """
    values = [float(v) for v in losses]
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError("a loss curve needs finite losses")
    low, high = min(values), max(values)
    step = _nice_step(high - low if high > low else max(abs(high), 1.0) / 2)
    bottom, top = math.floor(low / step) * step, math.ceil(high / step) * step
    if top <= bottom:
        top = bottom + step
    n = max(len(values) - 1, 1)
    x = lambda t: MARGIN_LEFT + WIDTH * t / n
    y = lambda v: MARGIN_BOTTOM + HEIGHT * (v - bottom) / (top - bottom)
    yticks, v = [], bottom
    while v <= top + step / 2:
        yticks.append({"x": _mm(MARGIN_LEFT), "y": _mm(y(v)), "text": _label(v, step)})
        v += step
    return {
        "width": _mm(MARGIN_LEFT + WIDTH + 4), "height": _mm(MARGIN_BOTTOM + HEIGHT + 7),
        "x0": _mm(MARGIN_LEFT), "y0": _mm(MARGIN_BOTTOM), "x1": _mm(MARGIN_LEFT + WIDTH),
        "y1": _mm(MARGIN_BOTTOM + HEIGHT), "xlength": _mm(WIDTH), "ylength": _mm(HEIGHT),
        "points": [{"x": _mm(x(t)), "y": _mm(y(values[t]))} for t in _thinned(len(values))],
        "dots": len(values) <= DOTS,
        "xticks": [{"x": _mm(x(t)), "y": _mm(MARGIN_BOTTOM), "text": str(t)} for t in _x_ticks(len(values) - 1)],
        "yticks": yticks,
    }


def curve_document(losses: Sequence[float], env=None) -> str:
    """A one-page LaTeX document holding only the loss curve (for ``derive train --plot``)."""
    from .render import make_environment
    env = env or make_environment()
    return env.get_template("losscurve-page.tex").render({"curve": loss_curve(losses)})


def write_plot(losses: Sequence[float], out: str | Path) -> Path:
    """Draw the loss curve into ``out``: a PDF, or a PNG rendered from it with pdftoppm.

    The document goes through :func:`derive.pdf.compile_sheets` (no shell escape, paranoid
    file access, an atomic write); a PNG is written beside it, then moved into place.
    """
    from .pdf import Sheet, compile_sheets
    out = Path(out)
    kind = out.suffix.lower()
    if kind not in (".pdf", ".png"):
        raise DeriveError(f"expected a file ending in .pdf or .png; got {out.name!r}", key="--plot")
    if not out.parent.is_dir():
        raise DeriveError(f"no such folder: {out.parent}", key="--plot")
    bad = next((t for t, v in enumerate(losses) if not math.isfinite(float(v))), None)
    if bad is not None:
        raise DeriveError(f"the loss is not a finite number from step {bad} on (training diverged); "
                          "try a smaller learning rate", key="--plot")
    if kind == ".png" and shutil.which("pdftoppm") is None:
        raise DeriveError("pdftoppm is not installed; install Debian's package poppler-utils", key="--plot")
    with tempfile.TemporaryDirectory(prefix="derive-plot-") as tmp:
        pdf = out if kind == ".pdf" else Path(tmp) / "curve.pdf"
        result = compile_sheets([Sheet("curve", curve_document(losses), pdf)], jobs=1)
        if result.failures:
            raise DeriveError(f"the plot did not compile: {result.failures[0].log_excerpt.splitlines()[0]}",
                              key="--plot")
        if kind == ".png":
            stem = Path(tmp) / "curve"
            subprocess.run(["pdftoppm", "-png", "-r", "150", "-singlefile", str(pdf), str(stem)],
                           check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
            partial = out.with_name(f".{out.name}.partial")
            shutil.copyfile(stem.with_suffix(".png"), partial)
            partial.replace(out)
    return out
