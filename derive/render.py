"""The render stage: one Jinja2 environment and the LaTeX text of a sheet.

Templates ship inside the package, in ``derive/templates/`` (the top-level
``templates/`` of a checkout links to it; ``templates/README.md`` lists every
variable they receive).  User text goes through
:func:`escape_latex` (the ``e``/``tex`` filters), numbers through the one
rounding function :func:`derive.numeric.format_number` (the ``num`` filter),
so a printed answer and the graded answer cannot disagree.

The network diagram's geometry is computed here, not in TeX: nodes and edge
labels placed in Python and drawn with a plain ``picture`` (pict2e) cost
pdflatex 2–15 ms per sheet in a batch; the same picture in TikZ, even with
absolute coordinates, costs 100–300 ms.
"""
from __future__ import annotations

import functools
from contextlib import contextmanager
from importlib import resources
import math
import re
import signal
import threading
import unicodedata
from decimal import Decimal
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from derive.errors import TemplateError
from derive.notation import DEFAULT as DEFAULT_NOTATION
from derive.numeric import format_number, quantize, show
from derive.sheetcode import qr_picture

# LaTeX-safe Jinja delimiters: none of them can occur in ordinary LaTeX.
BLOCK_START, BLOCK_END = r"\BLOCK{", "}"
VARIABLE_START, VARIABLE_END = r"\VAR{", "}"
COMMENT_START, COMMENT_END = r"\#{", "#}"

SHIPPED_TEMPLATES = Path(str(resources.files("derive") / "templates"))
"""The templates shipped inside the package (package data: a wheel has them too)."""

RENDER_SECONDS = 60
"""A sheet renders in well under a second; a template's endless loop is stopped after this long."""
MAX_RENDERED = 32 * 2**20
"""Characters a template may make, in all or in one string: a 2-2-1 sheet is about 30 000."""
VARIANTS = ("blank", "solved")


# ---------------------------------------------------------------- environment

class _Loader(jinja2.FileSystemLoader):
    """Jinja's file loader; a template that is not UTF-8, or nests past Python's limit, is one line naming it."""

    def get_source(self, environment, template):
        try:
            return super().get_source(environment, template)
        except UnicodeDecodeError:
            from derive.spec import read_text
            read_text(Path(self.searchpath[0]) / template, TemplateError)  # raises, naming the byte's line
            raise

    def load(self, environment, name, globals=None):
        try:
            return super().load(environment, name, globals)
        except RecursionError:  # Jinja's parser recurses once a parenthesis or a nested block
            raise TemplateError("template error: nested too deeply to read",
                                file=str(Path(self.searchpath[0]) / name)) from None


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox, and no string, list or number beyond a sheet's size (``'x' * 10**10``, ``9**10**9``)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator, left, right):
        if operator == "*" and any(isinstance(a, (str, list, tuple)) and isinstance(n, int)
                                   and len(a) * n > MAX_RENDERED for a, n in ((left, right), (right, left))):
            raise SecurityError(f"a string or list of more than {MAX_RENDERED} items")
        if (operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0
                and abs(left).bit_length() * right > 2**16):
            raise SecurityError(f"{left} ** {right} has more than {2**16} bits")
        return super().call_binop(context, operator, left, right)


class _Runaway(jinja2.TemplateRuntimeError):
    """A template ran past :data:`RENDER_SECONDS` or made more than :data:`MAX_RENDERED` characters."""


_FAULTS = (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError, AttributeError,
           RecursionError, MemoryError)
"""What a template's own code can raise (1/0, 1 + "a", a macro calling itself): one located line each."""


@contextmanager
def _deadline(seconds: float):
    """Raise :class:`_Runaway` in whatever still runs after ``seconds``; the main thread only (signals go
    there), and an outer deadline already running is left to stop it."""
    if (threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer")
            or signal.getitimer(signal.ITIMER_REAL)[0] > 0):
        yield
        return

    def stop(signum, frame):
        raise _Runaway(f"did not finish within {seconds:g} s (an endless loop?)")
    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def render_template(env: jinja2.Environment, name: str, context: dict) -> str:
    """The text of template ``name`` with ``context``, within :data:`RENDER_SECONDS` and
    :data:`MAX_RENDERED`; anything a template does wrong is one :class:`TemplateError` naming its line."""
    parts, size = [], 0
    try:
        with _deadline(RENDER_SECONDS):
            stream = env.get_template(name).generate(context)
            for part in stream:
                size += len(part)
                if size > MAX_RENDERED:  # thrown in at the template's line that made it
                    stream.throw(_Runaway(f"more than {MAX_RENDERED} characters (an endless loop?)"))
                parts.append(part)
    except _FAULTS as e:
        raise _located(e) from None
    return "".join(parts)


def make_environment(templates_dir: Path | None = None) -> jinja2.Environment:
    """The one Jinja2 environment for sheets: sandboxed, for template packs are shared and downloaded.

    With ``templates_dir``, a template found there wins over the shipped one
    of the same name, so an instructor can override a single file.
    """
    loaders = [_Loader(str(SHIPPED_TEMPLATES))]
    if templates_dir is not None:
        loaders.insert(0, _Loader(str(templates_dir)))
    env = _Sandbox(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        block_start_string=BLOCK_START, block_end_string=BLOCK_END,
        variable_start_string=VARIABLE_START, variable_end_string=VARIABLE_END,
        comment_start_string=COMMENT_START, comment_end_string=COMMENT_END,
        trim_blocks=True, lstrip_blocks=True,
        autoescape=False, keep_trailing_newline=True)
    env.filters.update(e=escape_latex, tex=escape_latex, num=_num,
                       given=format_given, exact=format_exact, pdfstring=pdf_string,
                       digest=digest)
    return env


_TEMPLATE_CODE = re.compile(r"\\VAR\{.*?\}|\\BLOCK\{.*?\}|\\#\{.*?#\}")


def template_origin(tex_line: str, templates_dir: Path | None = None) -> str | None:
    """The template file and line a line of a rendered sheet came from ("…/header.tex:17"), or None.

    TeX's errors name lines of the rendered .tex; the instructor edits the
    template.  Each template line is matched with its \\VAR and \\BLOCK parts
    as wildcards; a line with too little literal text to tell is skipped, and
    the instructor's own templates are tried before the shipped ones.
    """
    target = tex_line.strip()
    if not target:
        return None
    folders = [Path(templates_dir)] if templates_dir is not None else []
    for folder in [*folders, SHIPPED_TEMPLATES]:
        for path in sorted(folder.glob("*.tex")):
            for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                literal = _TEMPLATE_CODE.split(line.strip())
                if sum(len(part.strip()) for part in literal) < 6:
                    continue
                if re.fullmatch(".*?".join(re.escape(part) for part in literal), target):
                    return f"{path}:{number}"
    return None


def sheet_words(env: jinja2.Environment | None = None) -> dict:
    """Every word the sheets print: the ``text`` of the environment's text.tex (the shipped one by default)."""
    env = env or _shipped_environment()
    try:
        with _deadline(RENDER_SECONDS):
            return env.get_template("text.tex").module.text
    except _FAULTS as e:
        raise _located(e) from None


@functools.lru_cache(maxsize=1)
def _shipped_environment() -> jinja2.Environment:
    return make_environment()


def step_words(step, words: dict) -> str:
    """A derivation step's words from text.tex's ``steps``, its blanks filled ("Layer 2 uses")."""
    return words["steps"][step.key].format(**dict(step.args)) if step.key else ""


def render_sheet(context: dict, variant: str, env: jinja2.Environment) -> str:
    """The ``.tex`` text of one sheet; ``variant`` is ``"blank"`` or ``"solved"``.

    Adds ``variant``, ``diagram`` (see :func:`diagram`) and ``qr`` (the sheet code's QR code,
    :func:`derive.sheetcode.qr_picture`, or None) to the context.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
    picture = _network_diagram(context) if "network" in context else None  # a trace draws its own graph
    code = context.get("sheet_code")  # optional: a context made without one prints no code
    extra = {"variant": variant, "diagram": picture, "qr": qr_picture(code) if code else None}
    if "symbols" not in context and "network" in context:  # a context made by hand: derive's own notation
        extra["symbols"] = DEFAULT_NOTATION.symbols(context["network"]["layers"])
    return render_template(env, f"{variant}.tex", {"sheet_code": None, "sheet_code_printed": None, "show": "all",
                                                   "working": "0", **context, **extra})


def _network_diagram(context: dict) -> dict:
    given, net = context["given"], context["network"]
    single = len(given["x"]) == 1
    return diagram(net["layers"], given["W"], given["b"] if net["bias"] else None,
                   x=given["x"][0] if single else None, y=given["y"][0] if single else None)


def _located(e: Exception) -> TemplateError:
    """A template's error as one line naming the template file and line (the innermost template frame)."""
    file, line = getattr(e, "filename", None), getattr(e, "lineno", None)
    tb = e.__traceback__
    while tb is not None:  # Jinja maps a template's runtime frames to the template's own lines
        if tb.tb_frame.f_code.co_filename.endswith(".tex"):
            file, line = tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next
    kind = ("not allowed in a template" if isinstance(e, SecurityError) else
            "undefined" if isinstance(e, jinja2.UndefinedError) else "template error")
    message = (str(e.message or e) if isinstance(e, jinja2.TemplateError) else
               "nested too deeply (an include or a macro that calls itself?)" if isinstance(e, RecursionError)
               else f"{type(e).__name__}: {e}")
    if isinstance(e, jinja2.UndefinedError) and message.startswith("'dict object' has no attribute"):
        message += " (a key missing from text.tex? every key of the shipped one is needed)"
    return TemplateError(f"{kind}: {message}", file=file, line=line)


# ---------------------------------------------------------------- numbers

@jinja2.pass_context
def _num(ctx, value: float, decimals: int | None = None) -> str:
    """An answer as the sheet prints it: rounded by the one rounding function.

    A key's value (a Decimal) is already rounded, to its own places: L(θ ± ε) has more than the sheet's.
    """
    if decimals is None and isinstance(value, Decimal):
        return show(value)
    return format_number(value, ctx["decimals"] if decimals is None else decimals)


def _places(value: float, most: int = 10) -> int:
    """The fewest decimal places that print ``value`` exactly (at most ``most``)."""
    exact = Decimal(repr(float(value)))
    return next((d for d in range(most) if quantize(value, d) == exact), most)


def format_exact(value: float) -> str:
    """A given value printed exactly and shortly: 0.5, -0.25, 1."""
    return format_number(value, _places(value))


def format_given(values: list) -> list:
    """A vector or matrix of given values, all with the same (fewest exact) places.

    Equal places let a right-aligned matrix column line up on its last digit.
    """
    rows = [list(row) if isinstance(row, (list, tuple)) else None for row in values]
    flat = [v for row, value in zip(rows, values) for v in (row if row is not None else [value])]
    d = max((_places(v) for v in flat), default=0)
    return [[format_number(v, d) for v in row] if row is not None else format_number(value, d)
            for row, value in zip(rows, values)]


# ---------------------------------------------------------------- text

_SPECIALS = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&",
    "#": r"\#", "%": r"\%", "_": r"\_", "^": r"\textasciicircum{}",
    "~": r"\textasciitilde{}", "<": r"\textless{}", ">": r"\textgreater{}",
    "|": r"\textbar{}", '"': r"\textquotedbl{}", "`": r"\textasciigrave{}",
}
# Doubled, these form ligatures (–, ”, „); a zero kern keeps them apart in
# pdflatex and in LuaTeX, where an empty group does not.
_LIGATURE_PAIRS = {"-", "'", ","}


def digest(text: str) -> str:
    """A short name for a piece of TeX (12 hex digits of its SHA-256): ``\\dvonce`` in
    preamble.tex typesets a drawing once per TeX run and reuses it wherever the same name comes
    again (a class's sheets of one fixed trace draw the same graph: measured, TikZ's nodes cost
    a trace sheet about 100 ms each time)."""
    import hashlib
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def pdf_string(text: str) -> str:
    """``text`` as a PDF hex string (``<573131>``) that TeX passes into the PDF byte for byte.

    ASCII is written as is (PDFDocEncoding); anything else as UTF-16BE with
    its byte-order mark, as PDF text strings are.  Hex digits are all TeX
    sees, so no character of a name can be lost or run as TeX (a form
    field's name must reach the PDF intact).
    """
    data = text.encode("ascii") if text.isascii() else b"\xfe\xff" + text.encode("utf-16-be")
    return "<" + data.hex().upper() + ">"


def escape_latex(text: str) -> str:
    """``text`` as LaTeX that prints it literally and runs nothing.

    Unicode is normalized to NFC; newlines and tabs become spaces; other
    control characters are dropped.  A right-to-left run (Arabic, Hebrew) is
    set right to left, in a box of its own (:func:`right_to_left_runs`).
    """
    text = unicodedata.normalize("NFC", str(text))
    return "".join(r"\leavevmode\hbox dir TRT{" + _escape_run(run) + "}" if rtl else _escape_run(run)
                   for run, rtl in right_to_left_runs(text))


_RTL = ("R", "AL")
_BETWEEN_RTL = ("WS", "ON", "NSM", "CS", "ES", "ET", "AN", "BN")  # neutral, or Arabic digits: kept inside


def right_to_left_runs(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into (run, is right-to-left) pieces, left to right in memory order.

    A right-to-left run goes from a strong right-to-left character to the
    last one that follows it with only neutrals (spaces, punctuation, marks,
    Arabic-Indic digits) between: "José محمد عبد" gives "José ", then
    "محمد عبد".  This is the part of the Unicode bidirectional algorithm a
    name needs; a paragraph of mixed text would need the whole of it.
    """
    kinds = [unicodedata.bidirectional(ch) for ch in text]
    runs: list[tuple[str, bool]] = []
    i = 0
    while i < len(text):
        if kinds[i] not in _RTL:
            j = i
            while j < len(text) and kinds[j] not in _RTL:
                j += 1
            runs.append((text[i:j], False))
        else:
            j = end = i + 1
            while j < len(text) and (kinds[j] in _RTL or kinds[j] in _BETWEEN_RTL):
                j += 1
                if kinds[j - 1] in _RTL or kinds[j - 1] == "NSM":
                    end = j
            runs.append((text[i:end], True))
            j = end
        i = j
    return runs


def _escape_run(text: str) -> str:
    out = []
    for ch, nxt in zip(text, text[1:] + " "):
        if ch in "\n\r\t\f\v":
            out.append(" ")
        elif unicodedata.category(ch) == "Cc":
            continue
        else:
            out.append(_SPECIALS.get(ch, ch))
            if ch in _LIGATURE_PAIRS and nxt == ch:
                out.append(r"\kern0pt{}")
    return "".join(out)


def _ranges(spec: str) -> frozenset[int]:
    cps = set()
    for part in spec.split():
        lo, _, hi = part.partition("-")
        cps.update(range(int(lo, 16), int(hi or lo, 16) + 1))
    return frozenset(cps)


# Characters pdflatex sets with T1/TS1 fonts (lmodern) and utf8 inputenc:
# every code point declared in utf8.def and {t1,ts1,ot1,oms}enc.dfu, each
# checked by compiling it (TeX Live 2022).  Cyrillic would need T2A
# (texlive-lang-cyrillic), Vietnamese T5 (vntex); neither is assumed.
_PDFLATEX_CHARS = _ranges(
    "20-7E A0-125 128-137 139-13E 141-148 14A-165 168-17E 192 1C4-1D4 1E2-1E3 1E6-1EB"
    " 1F0 1F4-1F5 218-21B 232-233 237 2C6-2C7 2D8-2D9 2DB-2DD E3F 1E02-1E03 1E0D"
    " 1E1E-1E21 1E25 1E30-1E31 1E37 1E43 1E45 1E47 1E5B 1E63 1E6D 1E8E-1E91 1E9E"
    " 1EF2-1EF3 2010-2016 2018-201A 201C-201E 2020-2022 2026 2030-2031 2039-203B 203D"
    " 2044 204E 2052 20A1 20A4 20A6 20A9 20AB-20AC 20B1 2103 2116-2117 211E 2120 2122"
    " 2126-2127 212E 2190-2193 2329-232A 2422-2423 25E6 25EF 266A 27E8-27E9 3008-3009"
    " FB00-FB06")


def needs_unicode_engine(text: str) -> bool:
    """True when pdflatex, with the templates' fonts, cannot set some character of ``text``.

    E.g. Chinese, Tamil, Devanagari, Cyrillic, or Vietnamese with stacked accents.
    """
    text = unicodedata.normalize("NFC", str(text))
    return any(ord(ch) not in _PDFLATEX_CHARS for ch in text
               if unicodedata.category(ch) != "Cc")


# ---------------------------------------------------------------- the diagram
#
# All lengths in millimetres (the template sets \unitlength to 1mm).  Units
# are numbered from the top of their column; layer 0 is the input.

_TEXT_WIDTH = 170.0           # A4 minus 2 cm margins
_RADIUS = 4.2                 # node circle
_MARGIN_LEFT = 20.0           # input values and their arrows
_MARGIN_RIGHT = 22.0          # output arrows and targets
_ARROW = 6.0                  # input and output arrows
_PT = 0.3515                  # 1 pt in mm
# Widths in \scriptsize math (7 pt): digits 0.5 em, the minus sign and the
# period of Computer Modern at that size; padding from the white label box.
_CHAR_MM = {"-": 6.2 * _PT, ".": 2.2 * _PT}
_DIGIT_MM = 4.0 * _PT
_LABEL_H = 3.0                # label box height, padding included
_LABEL_PAD = 2.0              # added to the estimated width: the white box's sides


def _label_width(text: str) -> float:
    return sum(_CHAR_MM.get(ch, _DIGIT_MM) for ch in text) + _LABEL_PAD


def diagram(layers: list[int], W: list, b: list | None,
            x: list | None = None, y: list | None = None) -> dict:
    """Coordinates for drawing the network, in mm, ready for a ``picture``.

    Returns ``width``, ``height``, ``radius``, ``nodes`` (x, y, layer, unit,
    ``bias`` text or None, bias label position), ``edges`` (line ends shortened
    to the circles, ``label`` text and its centre ``lx``, ``ly``), ``inputs``
    and ``outputs`` (arrow ends and an optional value text).  Edge labels are
    placed so they overlap neither each other, nor nodes, nor bias labels.
    """
    layers = tuple(int(n) for n in layers)
    weights = [[[format_exact(v) for v in row] for row in Wl] for Wl in W]
    biases = None if b is None else [[format_exact(v) for v in bl] for bl in b]
    texts = [t for Wl in weights for row in Wl for t in row]
    label_w = max(_label_width(t) for t in texts)
    bias_w = 0.0 if biases is None else max(_label_width(t) for bl in biases for t in bl)
    geo = _geometry(layers, round(label_w, 1), round(bias_w, 1))
    nodes = [dict(node, bias=None if biases is None or node["layer"] == 0
                  else biases[node["layer"] - 1][node["unit"] - 1])
             for node in geo["nodes"]]
    edges = [dict(edge, label=weights[edge["layer"] - 1][edge["j"] - 1][edge["i"] - 1])
             for edge in geo["edges"]]
    inputs = [dict(arrow, text=None if x is None else format_exact(x[k]))
              for k, arrow in enumerate(geo["inputs"])]
    outputs = [dict(arrow, text=None if y is None else format_exact(y[k]))
               for k, arrow in enumerate(geo["outputs"])]
    return dict(width=geo["width"], height=geo["height"], radius=_RADIUS,
                nodes=nodes, edges=edges, inputs=inputs, outputs=outputs,
                captions=list(geo["captions"]))


def _mm(v: float) -> str:
    """A coordinate as the template prints it: fixed, two places, no -0."""
    s = f"{v:.2f}"
    return "0.00" if s == "-0.00" else s


@functools.lru_cache(maxsize=64)
def _geometry(layers: tuple[int, ...], label_w: float, bias_w: float) -> dict:
    """Everything about the picture that does not depend on the values' digits."""
    depth, width = len(layers) - 1, max(layers)
    # A small net is drawn narrow, so the matrices fit beside it; a larger
    # one takes the full line, and the room goes to its edge labels.
    dx = 30.0 if depth <= 2 and width <= 3 else min(
        48.0, (_TEXT_WIDTH - _MARGIN_LEFT - _MARGIN_RIGHT) / depth)
    dy = 14.0 if width <= 3 else 15.0
    room = 4.5 if bias_w else 1.0  # for bias labels above and below a column
    height = 2 * room + 2 * _RADIUS + (width - 1) * dy
    centre = {(l, j): (_MARGIN_LEFT + l * dx, height / 2 + ((n - 1) / 2 - (j - 1)) * dy)
              for l, n in enumerate(layers) for j in range(1, n + 1)}
    segments = {(l, j, i): (centre[l - 1, i], centre[l, j])
                for l in range(1, depth + 1)
                for j in range(1, layers[l] + 1) for i in range(1, layers[l - 1] + 1)}
    obstacles = [_box(cx, cy, 2 * _RADIUS + 1.0, 2 * _RADIUS + 1.0) for cx, cy in centre.values()]
    bias_at = _place_biases(layers, centre, segments, bias_w, obstacles) if bias_w else {}
    nodes = tuple(dict(x=_mm(cx), y=_mm(cy), layer=l, unit=j,
                       bx=_mm(bias_at.get((l, j), (cx, cy))[0]),
                       by=_mm(bias_at.get((l, j), (cx, cy))[1]))
                  for (l, j), (cx, cy) in centre.items())
    # A gap with too little room per edge, or with more edges than a reader
    # can match to their labels, gets no labels but a caption naming its
    # matrix (whose values the sheet prints beside the diagram).
    crowded = {l for l in range(1, depth + 1)
               if dx * max(layers[l - 1], layers[l]) * dy < _AREA_PER_LABEL * layers[l - 1] * layers[l]
               or layers[l - 1] * layers[l] > MOST_LABELLED_EDGES}
    edges = tuple(_place_edge_labels(segments, label_w, obstacles, crowded))
    captions = tuple(dict(layer=l, x=_mm(_MARGIN_LEFT + (l - 0.5) * dx), y=_mm(height + 2.0))
                     for l in sorted(crowded))
    if crowded:
        height += 5.0
    last = _MARGIN_LEFT + depth * dx
    inputs, outputs = _arrows(layers, centre, last)
    return dict(width=_mm(last + _MARGIN_RIGHT), height=_mm(height), captions=captions,
                nodes=nodes, edges=edges, inputs=inputs, outputs=outputs)


def _arrows(layers, centre, last):
    """An arrow into every input node and out of every output node, with text room."""
    start = _MARGIN_LEFT - _RADIUS - _ARROW
    inputs = tuple(dict(x=_mm(start), y=_mm(centre[0, j][1]), length=_mm(_ARROW),
                        tx=_mm(start - 1.0)) for j in range(1, layers[0] + 1))
    outputs = tuple(dict(x=_mm(last + _RADIUS), y=_mm(centre[len(layers) - 1, j][1]),
                         length=_mm(_ARROW), tx=_mm(last + _RADIUS + _ARROW + 1.0))
                    for j in range(1, layers[-1] + 1))
    return inputs, outputs


def _place_biases(layers, centre, segments, bias_w, obstacles) -> dict:
    """Bias label centres: above or below each node, where fewest edges pass.

    Appends each placed label to ``obstacles``.
    """
    placed = {}
    for (l, j), (cx, cy) in centre.items():
        if l == 0:
            continue
        upper = j <= (layers[l] + 1) // 2
        def cost(spot):
            side, shift = spot
            x, y = cx + shift, cy + side * (_RADIUS + 1.7)
            box = _box(x, y, bias_w + 2 * _CLEARANCE, _LABEL_H + _CLEARANCE)
            return (100.0 * sum(_overlap(box, o) for o in obstacles)
                    + sum(_segment_hits_box(a, c, box) for a, c in segments.values())
                    + (side != (1 if upper else -1)) * 0.5 + abs(shift) * 0.1)
        side, shift = min(((s, d) for s in (1, -1) for d in (0.0, -2.0, 2.0)), key=cost)
        placed[l, j] = (cx + shift, cy + side * (_RADIUS + 1.7))
        obstacles.append(_box(*placed[l, j], bias_w + 1.0, _LABEL_H))
    return placed


def _place_edge_labels(segments, label_w, obstacles, crowded):
    """One dict per edge: its ends (cut at the circles) and its label's centre.

    Edges of a ``crowded`` layer get no label (``lx``, ``ly`` None).
    """
    placed: list[tuple] = []
    for (l, j, i), (p, q) in segments.items():
        (x1, y1), (x2, y2) = _shorten(p, q, _RADIUS)
        edge = dict(layer=l, j=j, i=i, x1=_mm(x1), y1=_mm(y1), x2=_mm(x2), y2=_mm(y2),
                    lx=None, ly=None)
        if l not in crowded:
            t = _best_t((l, j, i), p, q, label_w, segments, obstacles + placed)
            lx, ly = p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])
            placed.append(_box(lx, ly, label_w + 0.8, _LABEL_H + 0.6))
            edge.update(lx=_mm(lx), ly=_mm(ly))
        yield edge


MOST_LABELLED_EDGES = 9  # a 3-3 gap is read easily; the 12 edges of a 3-4 gap were not
_AREA_PER_LABEL = 135.0       # mm² of a layer gap each edge label needs to stay readable
_CLEARANCE = 0.8             # other edges should pass at least this far from a label
_T_PREFERRED = 0.4            # labels near the source: a fan of edges spreads them
_CANDIDATES = tuple(0.18 + 0.02 * k for k in range(33))


def _best_t(key, p, q, label_w, segments, obstacles) -> float:
    """Where along edge p→q its weight label goes (0 = source, 1 = target).

    Cost: overlap with nodes, bias labels and labels already placed (large),
    then other edges crossing the label (they would vanish under its white
    box and read ambiguously), then distance from the preferred place.
    """
    def cost(t):
        lx, ly = p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])
        box = _box(lx, ly, label_w, _LABEL_H)
        hits = sum(_overlap(box, o) for o in obstacles)
        near = _box(lx, ly, label_w + 2 * _CLEARANCE, _LABEL_H + 2 * _CLEARANCE)
        crossings = sum(_segment_hits_box(a, c, near)
                        for k, (a, c) in segments.items() if k != key)
        return 100.0 * hits + crossings + abs(t - _T_PREFERRED)
    return min(_CANDIDATES, key=cost)


def _box(cx, cy, w, h):
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _overlap(a, b) -> float:
    """Overlapping area of two boxes (mm²)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _segment_hits_box(p, q, box) -> bool:
    """Whether segment p→q passes through the box (Liang–Barsky clipping)."""
    t0, t1 = 0.0, 1.0
    dx, dy = q[0] - p[0], q[1] - p[1]
    for d, lo, hi, s in ((dx, box[0], box[2], p[0]), (dy, box[1], box[3], p[1])):
        if d == 0:
            if not lo <= s <= hi:
                return False
            continue
        a, c = (lo - s) / d, (hi - s) / d
        t0, t1 = max(t0, min(a, c)), min(t1, max(a, c))
        if t0 > t1:
            return False
    return True


def _shorten(p, q, r):
    """The segment p→q with r cut off both ends (so it meets the circles)."""
    d = math.hypot(q[0] - p[0], q[1] - p[1])
    ux, uy = (q[0] - p[0]) / d, (q[1] - p[1]) / d
    return (p[0] + r * ux, p[1] + r * uy), (q[0] - r * ux, q[1] - r * uy)
