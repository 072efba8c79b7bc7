"""Small PDFs: a class's sheets carry compact CFF fonts, with the same text and the same look.

A class of 6 students is built from random-221; the batch PDFs TeX wrote are
kept as they were before their fonts were rewritten, and everything is
compared with them: text (pdftotext), pages (pdftoppm, pixel by pixel), fonts
(pdffonts).  Also: a second reader of content streams (pikepdf's parser)
agrees with the one that decides which glyphs a sheet keeps.
"""
from __future__ import annotations

import io
import re
import shutil
import statistics
import subprocess
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from fontTools.cffLib import CFFFontSet
from fontTools.pens.recordingPen import RecordingPen

from conftest import pdf_text, require
from derive import pdffonts
from derive.classroom import build_class
from derive.spec import load_roster, load_spec

ROOT = Path(__file__).resolve().parent.parent
SECRET = "pdffonts-test-secret-Xk3-vq9-Lm2-Pz7"


def plain_text(pdf) -> str:
    """The PDF's text without -layout (words in reading order)."""
    return pdf_text(pdf, layout=False)


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(class folder, [original batch PDFs], [their rewritten copies])."""
    for tool in ("pdflatex", "latexmk", "pdftotext", "pdftoppm", "pdffonts"):
        require(tool)
    root = tmp_path_factory.mktemp("pdffonts")
    compact = pdffonts.compact_fonts

    def keeping(path):  # runs in the batch's worker process: files, not lists, come back
        job = Path(path).parent.name
        shutil.copy(path, root / f"batch-{job}.pdf")
        compact(path)
        shutil.copy(path, root / f"rewritten-{job}.pdf")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pdffonts, "compact_fonts", keeping)
        spec = load_spec(ROOT / "worksheets" / "random-221.toml")
        roster = load_roster(ROOT / "worksheets" / "roster-example.csv")
        built = build_class(spec, roster, root / "class", SECRET, jobs=2)
    assert not built.failures
    originals, rewritten = sorted(root.glob("batch-*.pdf")), sorted(root.glob("rewritten-*.pdf"))
    assert len(originals) == len(rewritten) >= 4  # MIN_BATCHES
    return root / "class", originals, rewritten


def sheets(folder: Path, variant: str) -> list[Path]:
    """The class's per-student PDFs of one variant, in roster order."""
    order = [row.split(",")[0] for row in (ROOT / "worksheets" / "roster-example.csv")
             .read_text(encoding="utf-8-sig").splitlines()[1:]]
    return [folder / "students" / student / f"{variant}.pdf" for student in order]



def pages(pdf: Path, tmp: Path, dpi: int = 150) -> list[np.ndarray]:
    """The PDF's pages rendered by poppler, grey, as arrays."""
    prefix = tmp / pdf.stem
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", str(pdf), str(prefix)], check=True)
    return [_pgm(path) for path in sorted(tmp.glob(f"{pdf.stem}-*.pgm"),
                                          key=lambda p: int(p.stem.rsplit("-", 1)[1]))]


def _pgm(path: Path) -> np.ndarray:
    data = path.read_bytes()
    magic, width, height, depth, pixels = data.split(maxsplit=4)
    assert magic == b"P5" and depth == b"255"
    return np.frombuffer(pixels, dtype=np.uint8).reshape(int(height), int(width))


def test_median_sheet_pdf_is_at_most_60_kb(made):
    folder, _, _ = made
    sizes = [pdf.stat().st_size for variant in ("blank", "solved") for pdf in sheets(folder, variant)]
    assert statistics.median(sizes) <= 60_000, sorted(sizes)


def test_fonts_stay_embedded_as_cff(made):
    folder, _, _ = made
    for pdf in [*sheets(folder, "blank"), *sheets(folder, "solved"),
                folder / "class-blank.pdf", folder / "class-solved.pdf"]:
        listing = subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True,
                                 text=True).stdout.splitlines()[2:]
        assert listing, pdf
        for line in listing:
            if line.startswith("Helvetica ") and pdf.name == "blank.pdf":
                continue  # the form fields' font (derive.forms): a standard font every viewer has
            assert " Type 1C " in line and " yes yes yes " in line, (pdf, line)


def page_texts(pdf: Path) -> list[str]:
    return plain_text(pdf).split("\f")[:-1]


def test_text_is_unchanged(made):
    """Page by page, the sheets' and the rewritten batches' text is the batches' text before."""
    folder, originals, rewritten = made
    before = sorted(page for pdf in originals for page in page_texts(pdf))
    assert sorted(page for pdf in rewritten for page in page_texts(pdf)) == before
    all_sheets = [*sheets(folder, "blank"), *sheets(folder, "solved")]
    assert sorted(page for pdf in all_sheets for page in page_texts(pdf)) == before
    for variant in ("blank", "solved"):
        assert plain_text(folder / f"class-{variant}.pdf") == "".join(plain_text(pdf) for pdf in sheets(folder, variant))


def test_pages_look_the_same(made, tmp_path):
    """Every page of every sheet, at 150 dpi, against the same page of the batch before rewriting."""
    folder, originals, _ = made
    by_text = {}
    for i, original in enumerate(originals):
        out = tmp_path / f"batch{i}"
        out.mkdir()
        for page_text, image in zip(page_texts(original), pages(original, out)):
            by_text.setdefault(page_text, []).append(image)
    differing = total = 0
    for pdf in [*sheets(folder, "blank"), *sheets(folder, "solved")]:
        out = tmp_path / pdf.parent.name / pdf.stem
        out.mkdir(parents=True)
        for page_text, image in zip(page_texts(pdf), pages(pdf, out)):
            before = by_text[page_text].pop()
            assert before.shape == image.shape, pdf
            differing += int((before != image).sum())
            total += image.size
    assert total > 0 and differing <= total * 1e-5, f"{differing} of {total} pixels differ"


def test_pdfs_and_font_programs_are_valid(made):
    folder, _, _ = made
    for pdf in [*sheets(folder, "blank"), *sheets(folder, "solved"), folder / "class-solved.pdf"]:
        with pikepdf.open(pdf) as document:
            assert document.check_pdf_syntax() == [], pdf
            for obj in document.objects:
                if isinstance(obj, pikepdf.Stream) and obj.get("/Subtype") == pikepdf.Name.Type1C:
                    fonts = CFFFontSet()
                    fonts.decompile(io.BytesIO(obj.read_bytes()), None)
                    top = fonts.topDictIndex[0]
                    for glyph in top.CharStrings.keys():
                        top.CharStrings[glyph].draw(RecordingPen())


def test_each_sheet_keeps_only_its_glyphs(made):
    """A sheet's font holds fewer glyphs than the batch's when its text needs fewer."""
    folder, _, rewritten = made

    def glyph_counts(pdf: Path) -> dict:
        counts = {}
        with pikepdf.open(pdf) as document:
            for page in document.pages:
                for font in page.obj.Resources.Font.values():
                    program = font.FontDescriptor.FontFile3
                    fonts = CFFFontSet()
                    fonts.decompile(io.BytesIO(program.read_bytes()), None)
                    counts[str(font.BaseFont)] = len(fonts.topDictIndex[0].CharStrings.keys())
        return counts

    batch = {}
    for pdf in rewritten:
        batch.update(glyph_counts(pdf))
    fewer = 0
    for pdf in sheets(folder, "blank"):
        for name, count in glyph_counts(pdf).items():
            assert count <= batch[name], (pdf, name)
            fewer += count < batch[name]
    assert fewer > 0


def test_each_sheets_cmaps_map_only_the_codes_its_text_shows(made):
    """A sheet's ToUnicode CMaps map no code its pages do not show (pikepdf's parser says which):
    the batch's CMaps held every student's.  Its text is unchanged (test_text_is_unchanged)."""
    folder, _, _ = made
    for pdf in sheets(folder, "blank")[:2] + sheets(folder, "solved")[:2]:
        with pikepdf.open(pdf) as document:
            shown: dict = {}
            for page in document.pages:
                for font, codes in parsed_codes(page).items():
                    shown.setdefault(font, set()).update(codes)
            served: dict = {}
            for page in document.pages:
                for font in page.obj.Resources.Font.values():
                    served.setdefault(font.ToUnicode.objgen, [font.ToUnicode, set()])[1].update(shown.get(font.objgen, ()))
            for cmap, codes in served.values():
                chars = b"".join(re.findall(rb"beginbfchar(.*?)endbfchar", cmap.read_bytes(), re.S))
                mapped = {int(code, 16) for code in re.findall(rb"<([0-9A-F]{2})> <", chars)}
                assert mapped <= codes, (pdf, sorted(mapped - codes))  # (a code pdfTeX did not map stays unmapped)


def test_glyph_reader_agrees_with_pikepdf_parser(made):
    """Which codes of which font each page shows: the fast reader and pikepdf's content parser agree."""
    _, originals, _ = made
    for pdf in originals:
        with pikepdf.open(pdf) as document:
            for page in document.pages:
                shown = {}
                assert pdffonts._scan(page.obj, page.obj.Resources, shown, depth=0)
                fast = {key: pdffonts._shown_codes(pieces) for key, (_, pieces) in shown.items() if pieces}
                assert fast == parsed_codes(page)


def parsed_codes(page: pikepdf.Page) -> dict:
    fonts = page.obj.Resources.Font
    current, saved, used = None, [], {}
    for operands, operator in pikepdf.parse_content_stream(page):
        name = str(operator)
        if name == "Tf":
            current = fonts[operands[0]].objgen
        elif name == "q":
            saved.append(current)
        elif name == "Q":
            current = saved.pop()
        elif name in ("Tj", "'", '"'):
            used.setdefault(current, set()).update(bytes(operands[-1]))
        elif name == "TJ":
            for item in operands[0]:
                if isinstance(item, pikepdf.String):
                    used.setdefault(current, set()).update(bytes(item))
    return used


@pytest.mark.parametrize("content, codes", [
    (b"BT /F1 10 Tf (ab) Tj [(c) -20 (d)] TJ ET", b"abcd"),
    (b"q BT /F1 10 Tf (ab) Tj ET Q BT /F1 10 Tf (c) Tj ET", b"abc"),  # a Q, then the font chosen again
    (b"q BT /F1 10 Tf (ab) Tj ET Q BT (c) Tj ET", None),              # text after Q in a font not chosen
    (b"BT /F1 10 Tf (a /F1 9 Tf b) Tj ET", None),                     # a "Tf" inside a string
    (b"BT /F1 10 Tf (a\\) Tj ET", None),                               # a string this reader does not close
    (b"BT (ab) Tj /F1 10 Tf (c) Tj ET", None),                        # text before any font is chosen
    (b"BT /F1 10 Tf <6162> Tj (\\143) Tj ET Q", b"abc"),                # hex and octal; a Q after all text
])
def test_the_glyph_reader_follows_a_stream_only_where_it_is_sure(content, codes):
    """Where it is not sure which font shows a string, the reader says so, and the sheet keeps every glyph."""
    document = pikepdf.new()
    font = document.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                                                     BaseFont=pikepdf.Name("/Test")))
    resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    page = pikepdf.Dictionary(Type=pikepdf.Name.Page, Resources=resources,
                              Contents=document.make_stream(content))
    shown: dict = {}
    assert pdffonts._scan(page, resources, shown, depth=0) is (codes is not None)
    if codes is not None:
        assert pdffonts._shown_codes(shown[font.objgen][1]) == set(codes)
