"""The pdf stage: real TeX compiles of small hand-written sheets (no mocks of TeX).

TeX tests are marked ``tex``.  They are skipped when TeX or poppler-utils are
missing, except under CI=true, where a missing toolchain fails them.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import pdf_text

from derive import pdf
from derive.errors import TexError
from derive.pdf import CompileResult, Sheet, compile_sheets, tex_available

TOOLS = ("pdftotext", "pdfinfo", "pdffonts")
PREAMBLE = "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{lmodern}\n"


def plain_text(pdf) -> str:
    """The PDF's text without -layout (words in reading order)."""
    return pdf_text(pdf, layout=False)


@pytest.fixture(scope="module")
def need_tex() -> None:
    missing = [t for t in ("pdflatex", *TOOLS) if shutil.which(t) is None]
    if missing:
        message = f"missing {', '.join(missing)} (run scripts/setup)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def document(key: str, pages: int, extra: str = "", preamble: str = PREAMBLE) -> str:
    """A standalone sheet of ``pages`` pages, each naming its sheet and page."""
    tag = key.replace("/", "")
    body = "\n\\newpage\n".join(
        f"\\section{{Part}} Sheet{tag} page{p}. Pagenum\\thepage." for p in range(1, pages + 1))
    return f"{preamble}\\begin{{document}}\n{body}\n{extra}\n\\end{{document}}\n"



def pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    return int(next(line.split()[1] for line in info.splitlines() if line.startswith("Pages:")))


PAGES = {"a/blank": 1, "b/blank": 3, "c/blank": 2, "e/blank": 1}
BROKEN = "d/blank"


@pytest.fixture(scope="module")
def run(need_tex, tmp_path_factory) -> tuple[CompileResult, Path, list, Path]:
    """One batch of five sheets, the fourth broken, and a reversed combined PDF."""
    root = tmp_path_factory.mktemp("run")
    out, work = root / "out", root / "work"
    keys = ["a/blank", "b/blank", "c/blank", BROKEN, "e/blank"]
    sheets = [Sheet(k, document(k, PAGES.get(k, 1), "\\undefinedmacro" if k == BROKEN else ""),
                    out / f"{k.replace('/', '-')}.pdf") for k in keys]
    calls: list[tuple[int, int]] = []
    result = compile_sheets(sheets, combined={out / "class.pdf": list(reversed(keys))},
                            batch_size=10, progress=lambda d, t: calls.append((d, t)), workdir=work)
    return result, out, calls, work


@pytest.mark.tex
def test_each_sheet_pdf_holds_exactly_its_own_pages(run):
    result, out, _, _ = run
    for key, count in PAGES.items():
        pdf = out / f"{key.replace('/', '-')}.pdf"
        content = plain_text(pdf)
        assert pages(pdf) == count
        assert [f"page{p}." in content for p in range(1, count + 1)] == [True] * count
        tag = key.replace("/", "")
        others = [k.replace("/", "") for k in PAGES if k != key]
        assert f"Sheet{tag}" in content and not any(f"Sheet{o}" in content for o in others)


@pytest.mark.tex
def test_counters_restart_for_every_sheet(run):
    _, out, _, _ = run
    for key in PAGES:
        content = plain_text(out / f"{key.replace('/', '-')}.pdf")
        assert "Pagenum1." in content          # page numbers start at 1
        assert re.search(r"(\d+)\s+Part", content)[1] == "1"  # sections start at 1


@pytest.mark.tex
def test_combined_pdf_is_in_requested_order_without_failed_sheet(run):
    result, out, _, _ = run
    combined = out / "class.pdf"
    assert combined in result.written
    assert pages(combined) == sum(PAGES.values())
    content = plain_text(combined)
    positions = [content.index(f"Sheet{k.replace('/', '')} page1.") for k in reversed(list(PAGES))]
    assert positions == sorted(positions)


@pytest.mark.tex
def test_broken_sheet_is_reported_and_others_are_produced(run):
    result, out, calls, _ = run
    assert [f.key for f in result.failures] == [BROKEN]
    excerpt = result.failures[0].log_excerpt
    assert "! Undefined control sequence." in excerpt
    assert "l.6 \\undefinedmacro" in excerpt   # the sheet's own line number
    assert not (out / "d-blank.pdf").exists()
    assert len(result.written) == len(PAGES) + 1
    assert calls and calls[-1] == (5, 5)


@pytest.mark.tex
def test_no_temporary_files_remain(run):
    _, out, _, work = run
    expected = {f"{k.replace('/', '-')}.pdf" for k in PAGES} | {"class.pdf"}
    assert {p.name for p in out.iterdir()} == expected
    assert list(work.iterdir()) == []


@pytest.mark.tex
def test_fonts_are_vector(run):
    _, out, _, _ = run
    fonts = subprocess.run(["pdffonts", str(out / "class.pdf")], check=True,
                           capture_output=True, text=True).stdout
    assert "Type 1" in fonts and "Type 3" not in fonts


@pytest.mark.tex
def test_document_text_cannot_run_programs_or_read_files(need_tex, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hack = "\\immediate\\write18{touch HACKED}\\immediate\\write18{touch /tmp/derive-HACKED}"
    sheets = [Sheet("x/shell", document("x/shell", 1, hack), tmp_path / "out" / "shell.pdf"),
              Sheet("x/read", document("x/read", 1, "\\input{/etc/passwd}"), tmp_path / "out" / "read.pdf"),
              Sheet("x/ok", document("x/ok", 1), tmp_path / "out" / "ok.pdf")]
    result = compile_sheets(sheets, workdir=tmp_path / "work")
    assert not list(tmp_path.rglob("HACKED")) and not Path("/tmp/derive-HACKED").exists()
    assert [f.key for f in result.failures] == ["x/read"]
    assert "/etc/passwd" in result.failures[0].log_excerpt
    assert "root:" not in plain_text(tmp_path / "out" / "shell.pdf")


def _only_the_bad_sheet_fails(tmp_path, key: str, body: str) -> str:
    """Compile a bad sheet between two good ones; only it fails. Returns its log excerpt."""
    sheets = [Sheet("a", document("a", 1), tmp_path / "a.pdf"),
              Sheet(key, document(key, 1, body), tmp_path / f"{key}.pdf"),
              Sheet("c", document("c", 1), tmp_path / "c.pdf")]
    result = compile_sheets(sheets, workdir=tmp_path / "work")
    assert [f.key for f in result.failures] == [key]
    assert (tmp_path / "a.pdf").exists() and (tmp_path / "c.pdf").exists()
    assert not (tmp_path / f"{key}.pdf").exists()
    return result.failures[0].log_excerpt


@pytest.mark.tex
def test_environment_left_open_fails_like_the_sheet_alone(need_tex, tmp_path):
    # In a batch, the marker after the body would close the environment silently.
    excerpt = _only_the_bad_sheet_fails(tmp_path, "open", "\\begin{itemize}\\item x")
    assert "\\begin{itemize} on input line 6 ended by \\end{document}" in excerpt


@pytest.mark.tex
def test_endless_loop_times_out_and_only_that_sheet_fails(need_tex, tmp_path, monkeypatch):
    monkeypatch.setattr(pdf, "_TIMEOUT_BASE", 1.0)
    monkeypatch.setattr(pdf, "_TIMEOUT_PER_SHEET", 0.5)
    assert "did not finish" in _only_the_bad_sheet_fails(tmp_path, "loop", "\\def\\x{\\x}\\x")


@pytest.mark.tex
def test_preamble_error_fails_every_sheet_of_the_batch(need_tex, tmp_path):
    preamble = PREAMBLE + "\\usepackage{no-such-package-xyz}\n"
    sheets = [Sheet(f"s{i}", document(f"s{i}", 1, preamble=preamble), tmp_path / f"s{i}.pdf")
              for i in range(4)]
    result = compile_sheets(sheets, workdir=tmp_path / "work")
    assert [f.key for f in result.failures] == ["s0", "s1", "s2", "s3"]
    assert "no-such-package-xyz.sty' not found" in result.failures[0].log_excerpt
    # TeX looks ahead for a package date, so (as for the sheet alone) the
    # error shows the line after \usepackage.
    assert "l.5 \\begin" in result.failures[0].log_excerpt
    assert result.written == () and list(tmp_path.glob("*.pdf")) == []


@pytest.mark.tex
def test_many_batches_on_two_workers_with_two_preambles(need_tex, tmp_path):
    other = PREAMBLE + "\\usepackage{amsmath}\n"
    sheets = [Sheet(f"s{i}/{kind}", document(f"s{i}{kind}", 1 + i % 2, preamble=pre),
                    tmp_path / f"s{i}-{kind}.pdf")
              for i in range(6) for kind, pre in (("blank", PREAMBLE), ("solved", other))]
    result = compile_sheets(sheets, jobs=2, batch_size=2, workdir=tmp_path / "work",
                            combined={tmp_path / "solved.pdf": [s.key for s in sheets
                                                                if s.key.endswith("solved")]})
    assert result.failures == ()
    for sheet in sheets:
        assert f"Sheet{sheet.key.replace('/', '')} page1." in plain_text(sheet.pdf_path)
    assert pages(tmp_path / "solved.pdf") == sum(1 + i % 2 for i in range(6))


@pytest.mark.tex
def test_lualatex(need_tex, tmp_path):
    if not tex_available("lualatex"):
        if os.environ.get("CI") == "true":
            pytest.fail("lualatex missing (run scripts/setup)")
        pytest.skip("lualatex missing")
    preamble = "\\documentclass{article}\n\\usepackage{fontspec}\n"
    sheets = [Sheet(k, document(k, n, preamble=preamble), tmp_path / f"{k}.pdf")
              for k, n in (("u1", 2), ("u2", 1))]
    result = compile_sheets(sheets, engine="lualatex", workdir=tmp_path / "work")
    assert result.failures == ()
    assert pages(tmp_path / "u1.pdf") == 2 and "Sheetu2 page1." in plain_text(tmp_path / "u2.pdf")


def test_unknown_engine_is_a_tex_error():
    with pytest.raises(TexError, match="pdflatex"):
        compile_sheets([], engine="xelatexx")


def test_missing_engine_names_the_debian_packages(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not tex_available("pdflatex")
    with pytest.raises(TexError, match="apt-get install latexmk texlive-latex-base"):
        compile_sheets([Sheet("a", document("a", 1), tmp_path / "a.pdf")])


def _need_lualatex():
    if not tex_available("lualatex"):
        if os.environ.get("CI") == "true":
            pytest.fail("lualatex missing (run scripts/setup)")
        pytest.skip("lualatex missing")


LUA_PREAMBLE = "\\documentclass{article}\n\\usepackage{fontspec}\n"
LUA_EXPLOITS = {  # a shared template's \directlua, each of which worked before the sandbox
    "read": r'\directlua{local f = io.open("/etc/passwd") tex.print(f:read("*l"))}',
    "lines": r'\directlua{for l in io.lines("/etc/hostname") do tex.print(l) end}',
    "dotdot": r'\directlua{local f = io.open("/usr/share/fonts/../../../etc/passwd") tex.print(f:read("*l"))}',
    "write": r'\directlua{local f = io.open("/tmp/derive-LUA-HACKED", "w") f:write("x") f:close()}',
    "run": r'\directlua{os.execute("touch /tmp/derive-LUA-HACKED")}',
    "load": r'\directlua{dofile("/etc/passwd")}',
    "debug": r'\directlua{tex.print(tostring(debug.getupvalue(io.open, 1)))}',
    "chdir": r'\directlua{lfs.chdir("/etc") tex.print(io.open("passwd"):read("*l"))}',
}


@pytest.mark.tex
def test_lua_in_a_sheet_can_neither_read_nor_write_files_nor_run_programs(need_tex, tmp_path):
    """luaotfload still loads fonts (the fallback below), but a template's Lua reaches no other file."""
    _need_lualatex()
    fonts = (r'\directlua{luaotfload.add_fallback("fb", {"NotoSerif:mode=harf;"})}'
             "\n\\setmainfont{Latin Modern Roman}[RawFeature={fallback=fb}]\n")
    sheets = [Sheet(k, document(k, 1, body, preamble=LUA_PREAMBLE + fonts), tmp_path / f"{k}.pdf")
              for k, body in [("ok", "Привет"), *LUA_EXPLOITS.items()]]
    result = compile_sheets(sheets, engine="lualatex", workdir=tmp_path / "work")
    assert sorted(f.key for f in result.failures) == sorted(LUA_EXPLOITS)
    assert not Path("/tmp/derive-LUA-HACKED").exists()
    assert "Привет" in plain_text(tmp_path / "ok.pdf")
    excerpts = {f.key: f.log_excerpt for f in result.failures}
    assert "may not read /etc/passwd" in excerpts["read"] and "may not read /etc/hostname" in excerpts["lines"]
    assert "may not write /tmp/derive-LUA-HACKED" in excerpts["write"]
    assert not list(tmp_path.glob("read.pdf"))


@pytest.mark.tex
@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_tex_dies_with_a_killed_derive(need_tex, tmp_path):
    """SIGKILL of derive mid-compile: its TeX processes (in their own process group) go too."""
    import signal
    import sys
    import time
    work = tmp_path / "work"
    script = (f"import sys; sys.path.insert(0, {str(Path(pdf.__file__).parent.parent)!r})\n"
              "from derive.pdf import Sheet, compile_sheets\n"
              f"compile_sheets([Sheet('loop', {document('loop', 1, chr(92) + 'def' + chr(92) + 'x{' + chr(92) + 'x}' + chr(92) + 'x')!r}, "
              f"__import__('pathlib').Path({str(tmp_path / 'loop.pdf')!r}))], workdir={str(work)!r})\n")
    parent = subprocess.Popen([sys.executable, "-c", script])

    def tex_processes():
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and str(work) in os.readlink(entry / "cwd") \
                        and b"tex" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
        return found

    end = time.monotonic() + 60
    while time.monotonic() < end and not any(b"pdflatex" in Path(f"/proc/{p}/cmdline").read_bytes()
                                             for p in tex_processes() if Path(f"/proc/{p}").exists()):
        time.sleep(0.1)
    running = tex_processes()
    assert running, "TeX never started"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    end = time.monotonic() + 10
    while time.monotonic() < end and tex_processes():
        time.sleep(0.1)
    assert not tex_processes(), "TeX outlived its killed parent"


@pytest.mark.tex
def test_a_combined_pdf_is_written_as_soon_as_its_sheets_are_done(need_tex, tmp_path):
    # class-blank.pdf is written while the solved sheets' batches still run, not after them all
    keys = [f"{s}/{v}" for v in ("blank", "solved") for s in "abcd"]
    sheets = [Sheet(k, document(k, 1), tmp_path / f"{k.replace('/', '-')}.pdf") for k in keys]
    combined = {tmp_path / f"class-{v}.pdf": [k for k in keys if k.endswith(v)] for v in ("blank", "solved")}
    seen = []

    def progress(done, total):
        seen.append((done, (tmp_path / "class-blank.pdf").exists(), (tmp_path / "class-solved.pdf").exists()))

    compile_sheets(sheets, jobs=1, batch_size=2, combined=combined, progress=progress)
    assert seen[-2] == (6, True, False)  # after the first solved batch: blank done and written
    assert seen[-1] == (8, True, False) and pages(tmp_path / "class-solved.pdf") == 4



MICROTYPE = PREAMBLE + "\\usepackage{amsmath}\n\\usepackage{microtype}\n"
_PROSE = ("Round every answer to four decimal places, and carry the rounded values into later steps, "
          "so that every line of the solved sheet re-computes by hand from the numbers it shows. ") * 3


@pytest.mark.tex
def test_microtypes_once_per_font_setup_leaves_the_pages_byte_for_byte_the_same(need_tex, tmp_path, monkeypatch):
    # the batch skips microtype's per-pickup font check for fonts it has set up: same protrusion, same pages
    import pikepdf

    def sheets(folder):
        body = (f"{_PROSE}\n\n$\\delta^{{(1)}} = (W^{{(2)}})^\\top \\delta^{{(2)}} \\odot \\sigma'(z^{{(1)}})$ "
                "{\\small\\scshape Course} {\\ttfamily\\scriptsize s1} \\textbf{bold} $\\frac{1}{2}x^2_{ij}$")
        probe = "\\makeatletter\\ifdefined\\derive@MT@once Fast\\else Plain\\fi\\makeatother"
        return [Sheet(f"s{k}/blank", f"{MICROTYPE}\\begin{{document}}\n{probe if k == 7 else body}\n\\end{{document}}\n",
                      folder / f"s{k}.pdf") for k in range(8)]  # batches of two: a sheet alone is not batched

    def contents(pdf):
        with pikepdf.open(pdf) as document:
            return [page.obj.Contents.read_bytes() for page in document.pages]

    for folder in ("fast", "plain"):
        (tmp_path / folder).mkdir()
        if folder == "plain":
            monkeypatch.setattr(pdf, "_FAST_MICROTYPE", "")
        compile_sheets(sheets(tmp_path / folder), jobs=1, batch_size=2)
    assert plain_text(tmp_path / "fast" / "s7.pdf").split() == ["Fast", "1"]  # the fast path was on
    assert plain_text(tmp_path / "plain" / "s7.pdf").split() == ["Plain", "1"]
    for k in range(7):
        fast = contents(tmp_path / "fast" / f"s{k}.pdf")
        assert len(fast) == 1 and b"TJ" in fast[0] and fast == contents(tmp_path / "plain" / f"s{k}.pdf")


@pytest.mark.tex
def test_batches_are_cut_in_worker_processes_not_threads(need_tex, tmp_path, monkeypatch):
    # two threads cutting at once took turns on the GIL while a core sat idle
    cut = pdf._cut

    def recording(batch, doc, ranges):  # runs in the worker: it leaves its pid in a file
        (tmp_path / f"cut-{os.getpid()}-{doc.parent.name}").touch()
        return cut(batch, doc, ranges)

    monkeypatch.setattr(pdf, "_cut", recording)
    sheets = [Sheet(f"s{k}/blank", document(f"s{k}", 1), tmp_path / f"s{k}.pdf") for k in range(8)]
    result = compile_sheets(sheets, jobs=2, batch_size=2)
    assert len(result.written) == 8 and not result.failures
    pids = {int(p.name.split("-")[1]) for p in tmp_path.glob("cut-*")}
    assert len(list(tmp_path.glob("cut-*"))) == 4 and pids and os.getpid() not in pids
