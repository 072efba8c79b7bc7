"""The "pdf" stage: compile many standalone LaTeX sheets to per-sheet PDFs, fast.

One TeX run per sheet costs a TeX start-up (format load, font setup) per
sheet, which dominates for short worksheets.  So sheets that share a preamble
are compiled together as one *batch* document, the batch PDF is cut into one
PDF per sheet, and batches run on ``jobs`` worker processes in parallel.

A batch document is the shared preamble, a line of setup, and for every
sheet a marker, the sheet's body and a ``\\clearpage``.  The marker writes the
number of pages shipped so far (the absolute page index, which the reset of
the ``page`` counter does not disturb) to a small file, which gives each
sheet's page range.  The marker also restores every LaTeX counter and the
one-shot ``\\maketitle`` family to their values at ``\\begin{document}``, and
each body runs inside a group, so a sheet in a batch looks as it would alone.

When a batch fails, it is split at the sheet that was being typeset when TeX
stopped (from the marks) and the parts are compiled again; a single sheet is
compiled exactly as written, so its log's line numbers are its own.

TeX runs through ``latexmk -norc`` (no rc file can change what runs), with
``-no-shell-escape`` and kpathsea's paranoid mode
(``openin_any=p``, ``openout_any=p``): a sheet can neither run programs nor
read or write files outside its build folder (e.g. ``\\input{/etc/passwd}``).

Cutting uses pikepdf (qpdf): measured about 7x faster than pypdf and 15x
faster than pdfseparate + pdfunite per sheet.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pikepdf

from . import pdffonts
from derive.errors import TexError, expected_one_of
from derive.workers import worker_pool

# derive.forms builds each sheet's /AcroForm after its pages are copied, so
# pikepdf's warning that pages.extend() leaves the form behind does not apply.
warnings.filterwarnings("ignore", category=pikepdf.PageCopyWarning, module=__name__)

ENGINES = ("pdflatex", "lualatex")

_BEGIN = r"\begin{document}"
_END = r"\end{document}"
# TeX has no time limit of its own; a sheet looping forever must not hang the
# class.  After _PATIENCE sheets have timed out (a template bug, probably),
# timed-out batches are no longer split to find the culprit.
_TIMEOUT_BASE = 60.0
_TIMEOUT_PER_SHEET = 2.0
_PATIENCE = 2
_TIMED_OUT = "TeX did not finish within"
# The kernel's \maketitle disables itself and friends globally after one use;
# these are saved at \begin{document} and restored before every sheet.
_ONE_SHOT = ("maketitle", "@maketitle", "title", "author", "date", "and",
             "thanks", "@title", "@author", "@date", "@thanks", "thepage")
_LOG_NOISE = ("Type X to quit", "or enter new name", "Enter file name:", "Type  H <return>",
              "See the LaTeX manual", "You're in trouble here")


@dataclass(frozen=True)
class Sheet:
    """One standalone LaTeX document and where its PDF goes.

    ``form``: a :class:`derive.forms.FormSpec` when the PDF is to be fillable.
    """
    key: str
    tex: str
    pdf_path: Path
    form: object = None


@dataclass(frozen=True)
class SheetFailure:
    """A sheet that did not compile, with the relevant lines of its TeX log.

    ``origin``: the template line the failing line came from, when known
    (filled in by the caller, who knows the templates).
    """
    key: str
    log_excerpt: str
    origin: str = ""

    def error_line(self) -> int | None:
        """The line of the sheet's own .tex that TeX stopped at (``l.<n>``), if the log names one."""
        m = re.search(r"^l\.(\d+)", self.log_excerpt, re.M)
        return int(m.group(1)) if m else None


@dataclass(frozen=True)
class CompileResult:
    """What :func:`compile_sheets` wrote and which sheets failed."""
    written: tuple[Path, ...]
    failures: tuple[SheetFailure, ...]


# ---------------------------------------------------------------- public API

def tex_available(engine: str = "pdflatex") -> bool:
    """True when the TeX ``engine`` (pdflatex or lualatex) can be run through latexmk."""
    return shutil.which(engine) is not None and shutil.which("latexmk") is not None


TEX_PACKAGES = ("latexmk texlive-latex-base texlive-latex-recommended texlive-pictures "
                "texlive-fonts-recommended lmodern poppler-utils")
"""The Debian packages pdflatex sheets need (what scripts/setup installs)."""

LUATEX_PACKAGES = "texlive-luatex fonts-lmodern fonts-noto-core fonts-noto-cjk fonts-symbola"
"""And the ones lualatex sheets need on top (names in other scripts)."""


def missing_tex(engine: str) -> str:
    """The one-line message for a machine without the TeX engine: which Debian packages to install."""
    extra = f" {LUATEX_PACKAGES}" if engine == "lualatex" else ""
    return (f"{engine} (with latexmk) is not installed; install Debian's packages: "
            f"apt-get install {TEX_PACKAGES}{extra} (or pass --no-pdf for the .tex only)")


def compile_sheets(sheets: Sequence[Sheet], *, engine: str = "pdflatex", jobs: int = 2,
                   batch_size: int = 50, combined: dict[Path, Sequence[str]] | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   workdir: Path | None = None, assets: Sequence[Path] = ()) -> CompileResult:
    """Compile ``sheets`` to their ``pdf_path`` and write the ``combined`` PDFs.

    Sheets with an identical preamble are compiled together in batches of at
    most ``batch_size``, ``jobs`` batches at a time, and the batch PDFs are
    cut per sheet.  ``combined`` maps an output path to sheet keys whose pages
    it holds in that order (sheets that failed are left out; a combined PDF
    none of whose sheets compiled is not written).  ``progress``
    is called with (done, total) as sheets finish.  TeX errors never raise:
    they come back as :class:`SheetFailure` and every other sheet is still
    written.  Raises :class:`TexError` only when ``engine`` is unknown or not
    installed.  Every PDF is written atomically (temporary file + rename).
    ``assets`` (a logo, say) are copied next to every TeX run, where TeX finds
    them by name even with paranoid file access.
    """
    if engine not in ENGINES:
        raise TexError(expected_one_of(engine, ENGINES), key="engine")
    if not tex_available(engine):
        raise TexError(missing_tex(engine))
    keys = [s.key for s in sheets]
    if len(set(keys)) != len(keys):
        raise ValueError("sheet keys must be unique")
    known = set(keys)
    unknown = [k for ks in (combined or {}).values() for k in ks if k not in known]
    if unknown:
        raise ValueError(f"combined PDF names unknown sheet {unknown[0]!r}")
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="derive-pdf-", dir=workdir) as tmp:
        runner = _Runner(Path(tmp), engine, progress, len(sheets), tuple(assets), combined or {})
        runner.run(_plan(sheets, batch_size, jobs), max(1, jobs))
        written = [s.pdf_path for s in sheets if s.key in runner.pages]
        written += [Path(out) for out in (combined or {}) if Path(out) in runner.combined_written]
    order = {key: i for i, key in enumerate(keys)}
    failures = sorted(runner.failures, key=lambda f: order[f.key])
    return CompileResult(tuple(written), tuple(failures))


# ---------------------------------------------------------------- planning

@dataclass(frozen=True)
class _Parsed:
    sheet: Sheet
    preamble: str | None  # None: not a complete document; compiled alone as written
    body: str


def _split(sheet: Sheet) -> _Parsed:
    """Cut a document at its first \\begin{document} and last \\end{document}."""
    begin = sheet.tex.find(_BEGIN)
    end = sheet.tex.rfind(_END)
    if begin < 0 or end < begin:
        return _Parsed(sheet, None, "")
    return _Parsed(sheet, sheet.tex[:begin], sheet.tex[begin + len(_BEGIN):end])


MIN_BATCHES = 4
"""A small class still makes this many batches (when it has that many sheets)."""


def _plan(sheets: Sequence[Sheet], batch_size: int, jobs: int) -> list[tuple[_Parsed, ...]]:
    """Group sheets by preamble (first-seen order) into evenly sized batches.

    Grouping is by identical preamble rather than by runs of consecutive
    sheets, so interleaved blank/solved sheets with two preambles still make
    full batches.  A small class is split into at least :data:`MIN_BATCHES`
    batches so that the cores have work, a number fixed here rather than taken
    from ``jobs``: fonts are subset per batch, so the batches decide the bytes
    of every PDF, and the same class must give the same PDFs whatever --jobs is.
    """
    groups: dict[object, list[_Parsed]] = {}
    for sheet in sheets:
        parsed = _split(sheet)
        group = parsed.preamble if parsed.preamble is not None else ("alone", sheet.key)
        groups.setdefault(group, []).append(parsed)
    batches = []
    for members in groups.values():
        count = max(-(-len(members) // max(1, batch_size)), min(MIN_BATCHES, len(members)))
        size, extra = divmod(len(members), count)
        start = 0
        for i in range(count):
            stop = start + size + (i < extra)
            batches.append(tuple(members[start:stop]))
            start = stop
    return batches


# ---------------------------------------------------------------- running

@dataclass
class _Outcome:
    pages: dict[str, tuple[Path, int, int]]     # key -> (pdf, first page, last page), 1-based
    failures: list[SheetFailure]
    retry: list[tuple[_Parsed, ...]]
    cutting: float = 0.0  # CPU seconds of the font rewrite and cutting (benchmarks/ report it)


class _Runner:
    """Runs batch jobs on worker processes (one job: a thread), re-queueing the parts of failed batches."""

    def __init__(self, root: Path, engine: str,
                 progress: Callable[[int, int], None] | None, total: int, assets: tuple[Path, ...] = (),
                 combined: dict[Path, Sequence[str]] | None = None):
        self.root, self.engine, self.progress, self.total = root, engine, progress, total
        self.assets = assets
        self.pages: dict[str, tuple[Path, int, int]] = {}
        self.failures: list[SheetFailure] = []
        self.timeouts = 0
        self._jobs = 0
        self._combined = dict(combined or {})  # the combined PDFs not written yet
        self.combined_written: list[Path] = []

    def run(self, batches: list[tuple[_Parsed, ...]], workers: int) -> None:
        # Processes, not threads: a batch's cutting is Python, and two threads cutting at
        # once took turns on the GIL while a core sat idle (9 s of a 48 s class, measured).
        with (worker_pool(workers) if workers > 1 else ThreadPoolExecutor(max_workers=1)) as pool:
            pending: set[Future[_Outcome]] = {self._submit(pool, b) for b in batches}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    outcome = future.result()
                    pending |= {self._submit(pool, b) for b in outcome.retry}
                    self._record(outcome)
        self._write_combined(every=True)

    def _submit(self, pool: Executor, batch: tuple[_Parsed, ...]) -> Future[_Outcome]:
        self._jobs += 1
        folder = self.root / f"job{self._jobs:05d}"
        folder.mkdir()
        for asset in self.assets:
            shutil.copyfile(asset, folder / asset.name)
        patient = self.timeouts < _PATIENCE
        return pool.submit(_run_batch, batch, folder, self.engine, patient)

    def _record(self, outcome: _Outcome) -> None:
        before = len(self.pages) + len(self.failures)
        self.pages.update(outcome.pages)
        self.failures.extend(outcome.failures)
        self.timeouts += sum(f.log_excerpt.startswith(_TIMED_OUT) for f in outcome.failures)
        after = len(self.pages) + len(self.failures)
        if self.progress is not None and after > before:
            self.progress(after, self.total)
        self._write_combined()

    def _write_combined(self, every: bool = False) -> None:
        """Write each combined PDF whose sheets are all done, while TeX runs on (class-blank.pdf
        during the solved sheets' batches: measured, 1.6 s of a 1000-student class off the end)."""
        settled = set(self.pages) | {f.key for f in self.failures}
        for out, out_keys in list(self._combined.items()):
            if not every and not settled.issuperset(out_keys):
                continue
            del self._combined[out]
            parts = [self.pages[k] for k in out_keys if k in self.pages]
            if parts:  # all of its sheets failed: no empty PDF
                _write_pages(parts, Path(out), printed=True)
                self.combined_written.append(Path(out))


def _run_batch(batch: tuple[_Parsed, ...], folder: Path, engine: str,
               patient: bool) -> _Outcome:
    """Compile one batch in ``folder``, cut it, or say how to retry its parts.

    Without ``patient`` (too many sheets have timed out already), a batch that
    times out is not split further: its unfinished sheets fail at once.
    """
    if len(batch) == 1:
        return _run_single(batch[0], folder, engine)
    status, log = _tex(_batch_document(batch), folder, engine,
                       timeout=_TIMEOUT_BASE + _TIMEOUT_PER_SHEET * len(batch))
    marks = _read_marks(folder)
    if status == "ok":
        ranges = _page_ranges(marks, len(batch), _page_count(folder / "doc.pdf"))
        if ranges is not None:
            start = time.thread_time()
            pdffonts.compact_fonts(folder / "doc.pdf")  # once per batch: every cut PDF shares it
            outcome = _cut(batch, folder / "doc.pdf", ranges)
            outcome.cutting = time.thread_time() - start
            return outcome
        return _Outcome({}, [], _halves(batch))
    at = _stopped_in(marks, len(batch))
    if at is None:
        # TeX stopped before the first sheet's body: the shared preamble (or
        # \begin{document}) is broken, so every sheet fails the same way, and
        # the preamble's line numbers are the sheets' own.
        why = _excerpt(log) if status == "failed" else status
        return _Outcome({}, [SheetFailure(p.sheet.key, why) for p in batch], [])
    if status != "failed" and not patient:
        done = max(at, 0)
        return _Outcome({}, [SheetFailure(p.sheet.key, status) for p in batch[done:]],
                        [batch[:done]] if done else [])
    if at >= 0:
        # TeX stopped inside this sheet's body: most likely its own fault.
        parts = (batch[:at], batch[at:at + 1], batch[at + 1:])
        return _Outcome({}, [], [part for part in parts if part])
    # An error between sheets (e.g. at \end{document}): bisect.  Every part
    # is compiled again, so a wrong guess costs time, never correctness.
    return _Outcome({}, [], _halves(batch))


def _halves(batch: tuple[_Parsed, ...]) -> list[tuple[_Parsed, ...]]:
    half = len(batch) // 2
    return [batch[:half], batch[half:]]


def _run_single(parsed: _Parsed, folder: Path, engine: str) -> _Outcome:
    """Compile one sheet exactly as written and copy its PDF into place."""
    key = parsed.sheet.key
    status, log = _tex(parsed.sheet.tex, folder, engine,
                       timeout=_TIMEOUT_BASE + _TIMEOUT_PER_SHEET)
    pdf = folder / "doc.pdf"
    if status == "ok" and not pdf.exists():
        return _Outcome({}, [SheetFailure(key, "the document produced no pages")], [])
    if status != "ok":
        return _Outcome({}, [SheetFailure(key, _excerpt(log) if status == "failed" else status)], [])
    start = time.thread_time()
    pdffonts.compact_fonts(pdf)
    pages = _page_count(pdf)
    with pikepdf.open(pdf) as source:
        problem = _write_sheet(source, 1, pages, parsed.sheet)
    if problem:
        return _Outcome({}, [SheetFailure(key, problem)], [])
    return _Outcome({key: (pdf, 1, pages)}, [], [], cutting=time.thread_time() - start)


def _cut(batch: tuple[_Parsed, ...], pdf: Path,
         ranges: list[tuple[int, int]]) -> _Outcome:
    """Write each sheet's pages of the batch PDF to the sheet's own PDF."""
    pages, failures = {}, []
    with pikepdf.open(pdf) as source:
        for parsed, (first, last) in zip(batch, ranges):
            if last < first:
                failures.append(SheetFailure(parsed.sheet.key, "the document produced no pages"))
                continue
            problem = _write_sheet(source, first, last, parsed.sheet)
            if problem:
                failures.append(SheetFailure(parsed.sheet.key, problem))
                continue
            pages[parsed.sheet.key] = (pdf, first, last)
    return _Outcome(pages, failures, [])


# ---------------------------------------------------------------- TeX

# microtype checks, each time LaTeX picks up a font (math picks up several per formula), whether
# it has set that font up already, by scanning the comma list of every font it has seen, and
# splits the font's name first.  A batch picks up fonts tens of thousands of times, so the check
# was 15 % of a blank sheet's TeX time (measured on 150 sheets).  Under pdfTeX, without contexts
# or tracking (which work per pickup), a font it has set up once is skipped by one \csname test:
# the pages come out byte for byte the same (tests/test_pdf.py).
_FAST_MICROTYPE = (
    r"\ifdefined\MT@setupfont\ifdefined\pdfcopyfont"
    r"\global\let\derive@MT@setupfont\MT@setupfont"
    r"\gdef\MT@setupfont{\let\derive@next\derive@MT@setupfont"
    r"\ifx\MT@copy@font\relax\ifx\MT@tracking\relax\let\derive@next\derive@MT@once\fi\fi\derive@next}"
    r"\gdef\derive@MT@once{\expandafter\ifx\csname derive@MT@\expandafter\string\MT@font\endcsname\relax"
    r"\derive@MT@setupfont\global\expandafter\let\csname derive@MT@\expandafter\string\MT@font\endcsname"
    r"\@empty\fi}\fi\fi")


def _setup() -> str:
    """TeX code (one line) that defines the sheet markers of a batch document."""
    save = "".join(rf"\global\expandafter\let\csname derive@saved@{n}\expandafter"
                   rf"\endcsname\csname {n}\endcsname" for n in _ONE_SHOT)
    restore = "".join(rf"\global\expandafter\let\csname {n}\expandafter"
                      rf"\endcsname\csname derive@saved@{n}\endcsname" for n in _ONE_SHOT)
    # \cl@@ckpt lists every counter made by \newcounter (LaTeX uses it for
    # \include checkpoints).  Their values at the first sheet are put back
    # before every later sheet; this also resets the page counter (to 1).
    snapshot = (rf"\gdef\derive@reset{{{restore}}}\begingroup\def\@elt##1{{\xdef\derive@reset{{"
                r"\unexpanded\expandafter{\derive@reset}\global\csname c@##1\endcsname="
                r"\the\csname c@##1\endcsname\relax}}\cl@@ckpt\endgroup")
    # Each mark is a file of its own, closed at once, so that the marks
    # written before TeX was killed (timeout) can still be read.
    mark = (r"\gdef\derive@mark#1{\immediate\openout\derive@marks=#1.mark\relax"
            r"\immediate\write\derive@marks{\the\ReadonlyShipoutCounter}"
            r"\immediate\closeout\derive@marks}")
    # A body that leaves a group or environment open would be closed silently
    # by the marker's \endgroup; the level check makes it an error, as alone.
    check = (r"\ifnum\currentgrouplevel=\derive@level\relax\else"
             r"\errmessage{derive: a group or environment of this sheet is not closed}\fi")
    return (r"\edef\DeriveAtCatcode{\the\catcode`\@}\makeatletter\newwrite\derive@marks" + mark
            + _FAST_MICROTYPE
            + rf"\gdef\derive@restore{{{snapshot}{save}\global\let\derive@restore\derive@reset}}"
            r"\gdef\DeriveSheetBegin#1{\clearpage\derive@restore\derive@mark{start-#1}"
            r"\begingroup\xdef\derive@level{\the\currentgrouplevel}}"
            rf"\gdef\DeriveSheetEnd#1{{\clearpage{check}\endgroup\derive@mark{{stop-#1}}}}"
            r"\gdef\DeriveBatchEnd{\clearpage\derive@mark{end}}"
            r"\catcode`\@=\DeriveAtCatcode\relax")


def _batch_document(batch: tuple[_Parsed, ...]) -> str:
    """The preamble, the setup, and each body between its two markers."""
    # The setup goes on its own line after \begin{document}: an error found
    # while TeX reads \begin{document} (a missing package peeks ahead for an
    # option) then shows the same line, with the same number, as the sheet alone.
    # \nofiles: sheets have no cross-references, and without a new .aux
    # latexmk is done after one run of the engine.  It prefixes the first
    # line, so every line keeps the number it has in the sheet alone.
    parts = [r"\nofiles" + (batch[0].preamble or ""), _BEGIN, "\n", _setup()]
    for i, parsed in enumerate(batch):
        # The newline keeps a comment on a body's last line from swallowing the marker.
        parts.append(rf"\DeriveSheetBegin{{{i}}}" + parsed.body + "\n" + rf"\DeriveSheetEnd{{{i}}}")
    parts.append(r"\DeriveBatchEnd" + _END + "\n")
    return "".join(parts)


def _tex_env() -> dict[str, str]:
    env = dict(os.environ)
    # Paranoid kpathsea: no reading or writing of absolute paths, parent
    # folders or dot files; fonts and packages still load from the TeX trees.
    env.update(openin_any="p", openout_any="p", shell_escape="f",
               # Unwrapped log lines keep error messages and l.<n> lines whole.
               max_print_line="10000", error_line="254", half_error_line="238")
    return env


_LATEXMK_ENGINE = {"pdflatex": "-pdf", "lualatex": "-pdflua"}
LUA_SANDBOX = Path(__file__).with_name("luatex-sandbox.lua")
_NOT_FOUND = 127
_WATCHER = f"""
import os, signal, subprocess, sys
def stop(*_):
    os.killpg(0, signal.SIGKILL)
signal.signal(signal.SIGTERM, stop)
if sys.platform.startswith("linux"):
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: SIGTERM when derive dies
if os.getppid() != int(sys.argv[1]):  # derive died before the request took effect
    stop()
try:
    child = subprocess.Popen(sys.argv[2:])
except FileNotFoundError:
    sys.exit({_NOT_FOUND})
sys.exit(child.wait())
"""


def _tex(tex: str, folder: Path, engine: str, *, timeout: float) -> tuple[str, str]:
    """Compile ``tex`` in ``folder`` with latexmk, which reruns the engine when needed.

    Returns (status, log) with status "ok", "failed" or a timeout message.
    ``-norc``: no rc file can turn shell escape back on.  A batch document
    says ``\\nofiles`` (see :func:`_batch_document`), so latexmk sees no new
    .aux and runs the engine once instead of twice.
    """
    if engine == "lualatex":  # Lua's files and programs narrowed before any template code runs
        shutil.copyfile(LUA_SANDBOX, folder / "derive-sandbox.lua")
        # On line 1, so line numbers are unchanged.  \tracinglostchars=3: a glyph
        # missing from every font is an error, not a blank in the PDF.
        tex = r'\directlua{dofile("derive-sandbox.lua")}\tracinglostchars=3 ' + tex
    (folder / "doc.tex").write_text(tex, encoding="utf-8")
    command = ["latexmk", "-norc", _LATEXMK_ENGINE[engine], "-interaction=nonstopmode",
               "-halt-on-error", "-no-shell-escape", "-quiet", "doc.tex"]
    # Through a watcher in its own process group: a timeout kills the group,
    # and so does the watcher when derive dies, even by SIGKILL (TeX would
    # otherwise run on, orphaned, for as long as a template's loop lasts).
    process = subprocess.Popen([sys.executable, "-I", "-S", "-c", _WATCHER, str(os.getpid()), *command],
                               cwd=folder, env=_tex_env(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        returncode = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return f"{_TIMED_OUT} {timeout:.0f} s (an endless loop?)", ""
    if returncode == _NOT_FOUND:
        raise TexError(missing_tex(engine))
    log_path = folder / "doc.log"
    log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    return ("ok" if returncode == 0 else "failed"), log


def _read_marks(folder: Path) -> dict[str, int]:
    """The marks TeX wrote: ``start-<i>``/``stop-<i>``/``end`` -> pages shipped so far."""
    marks = {}
    for path in folder.glob("*.mark"):
        value = path.read_text(encoding="ascii", errors="replace").strip()
        if value.isdigit():
            marks[path.stem] = int(value)
    return marks


def _page_ranges(marks: dict[str, int], count: int, pdf_pages: int) -> list[tuple[int, int]] | None:
    """Each sheet's (first, last) page, or None when the marks are inconsistent."""
    if any(f"start-{i}" not in marks for i in range(count)) or marks.get("end") != pdf_pages:
        return None
    bounds = [marks[f"start-{i}"] for i in range(count)] + [pdf_pages]
    if bounds != sorted(bounds):
        return None
    return [(bounds[i] + 1, bounds[i + 1]) for i in range(count)]


def _stopped_in(marks: dict[str, int], count: int) -> int | None:
    """Where TeX stopped: inside sheet i (i), between sheets (-1), before all (None)."""
    started = [i for i in range(count) if f"start-{i}" in marks]
    if not started:
        return None
    last = max(started)
    return -1 if f"stop-{last}" in marks or "end" in marks else last


def _excerpt(log: str) -> str:
    """The first error of a TeX log (``! ...``, or a Lua error) through its ``l.<n>`` line(s)."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        lua_error = i + 1 < len(lines) and lines[i + 1] == "stack traceback:"  # LuaTeX prints no "!"
        if not (line.startswith("!") or lua_error):
            continue
        kept = [line]
        for j in range(i + 1, min(i + 20, len(lines))):
            text = lines[j]
            if not text.strip() or text.startswith(_LOG_NOISE) or text == "stack traceback:" or text[:1] == "\t":
                continue
            kept.append(text)
            if re.match(r"l\.\d+", text):
                # TeX prints the rest of the source line on the next line.
                if j + 1 < len(lines) and lines[j + 1].strip():
                    kept.append(lines[j + 1])
                break
        return "\n".join(kept)
    tail = [line for line in lines[-8:] if line.strip()]
    return "\n".join(tail) or "TeX failed without a log"


# ---------------------------------------------------------------- PDF files

def _page_count(pdf: Path) -> int:
    if not pdf.exists():  # "No pages of output."
        return 0
    with pikepdf.open(pdf) as document:
        return len(document.pages)


def _write_sheet(source: pikepdf.Pdf, first: int, last: int, sheet: Sheet) -> str:
    """Write pages first..last of ``source`` to the sheet's PDF, with its form; '' or why not."""
    target = pikepdf.new()
    target.pages.extend(source.pages[first - 1:last])
    if sheet.form is not None:
        from .forms import FormError, make_fillable
        try:
            make_fillable(target, sheet.form)
        except FormError as e:
            return str(e)
    pdffonts.subset_fonts(target)  # only the glyphs this sheet shows (after the form: its fonts stay whole)
    _save_atomic(target, sheet.pdf_path)
    return ""


def _write_pages(parts: list[tuple[Path, int, int]], out: Path, printed: bool = False) -> None:
    """Write the given page ranges of the given PDFs, in order, to ``out``.

    ``printed`` (a class PDF to print): without form widgets, whose names
    would repeat once per student.
    """
    sources: dict[Path, pikepdf.Pdf] = {}
    try:
        target = pikepdf.new()
        for pdf, first, last in parts:
            if pdf not in sources:
                sources[pdf] = pikepdf.open(pdf)
            target.pages.extend(sources[pdf].pages[first - 1:last])
        if printed:
            from .forms import strip_fields
            strip_fields(target)
        _save_atomic(target, out)
    finally:
        for source in sources.values():
            source.close()


def _save_atomic(document: pikepdf.Pdf, out: Path) -> None:
    """Save a pikepdf document to ``out`` via a temporary file and a rename."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.{secrets.token_hex(6)}.tmp"
    # Not mkstemp: its files are private (0600); this one gets the umask's mode.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as stream:
            # deterministic_id: the same inputs, the same bytes; object streams: 6 % smaller (measured)
            document.save(stream, deterministic_id=True, object_stream_mode=pikepdf.ObjectStreamMode.generate)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
