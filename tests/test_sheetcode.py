"""The sheet code: short, typeable, checked, unique in a class, printed with its QR code on every sheet."""
import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import require
from derive.cli import main
from derive.sheetcode import (ALPHABET, LENGTH, class_codes, normalize_code, printed_code, qr_matrix,
                              sheet_code, valid_code)
from derive.errors import RosterError

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "worksheets" / "random-221.toml"
ROSTER = ROOT / "worksheets" / "roster-example.csv"
SAMPLES = [sheet_code("s", sid, "61db9821") for sid in ("s1001", "s1002", "x")]


def test_codes_are_short_unambiguous_and_deterministic():
    for code in SAMPLES:
        assert len(code) <= 8 and set(code) <= set(ALPHABET) and valid_code(code)
    assert not set("0O1lI") & set(ALPHABET)
    assert sheet_code("s", "s1001", "61db9821") == SAMPLES[0]


def test_codes_differ_per_student_secret_and_spec():
    base = sheet_code("s", "s1001", "spec-a")
    assert len({base, sheet_code("s", "s1002", "spec-a"), sheet_code("t", "s1001", "spec-a"),
                sheet_code("s", "s1001", "spec-b")}) == 4


@pytest.mark.parametrize("code", SAMPLES)
def test_every_single_substitution_is_caught(code):
    for i in range(LENGTH):
        for c in ALPHABET:
            if c != code[i]:
                assert not valid_code(code[:i] + c + code[i + 1:]), (code, i, c)


def test_every_adjacent_transposition_is_caught():
    """Exhaustive: every pair of distinct characters, swapped at every position of a few codes."""
    for code in SAMPLES:
        for i in range(LENGTH - 1):
            for a in ALPHABET:
                for b in ALPHABET:
                    if a != b:
                        typed = code[:i] + a + b + code[i + 2:]
                        swapped = code[:i] + b + a + code[i + 2:]
                        assert not (valid_code(typed) and valid_code(swapped)), (typed, swapped)


def test_typed_codes_are_normalized_but_look_alikes_are_not_guessed():
    code = SAMPLES[0]
    assert normalize_code(f"  {printed_code(code).lower()} ") == code
    assert normalize_code(code[:4] + " " + code[4:]) == code
    assert not valid_code(normalize_code("O" + code[1:]))  # 0/O, 1/I are outside the alphabet: invalid
    assert not valid_code(code[:-1])


def test_a_collision_in_a_class_is_an_error(monkeypatch):
    assert len(set(class_codes("s", "fp", [f"s{i}" for i in range(300)]).values())) == 300
    import derive.sheetcode as sc
    monkeypatch.setattr(sc, "sheet_code", lambda secret, sid, fp: "AAAAAAAA")
    with pytest.raises(RosterError, match="same sheet code"):
        sc.class_codes("s", "fp", ["a", "b"])


def _drawn_matrix(tex: str) -> list[list[int]]:
    """The QR modules a sheet's .tex draws, read back from its \\rule boxes."""
    block = tex[tex.index(r"\def\dvqr"):]
    block = block[:block.index(r"\end{picture}")]
    size = float(re.search(r"\\begin\{picture\}\(([\d.]+),", block).group(1))
    rules = [tuple(map(float, m)) for m in
             re.findall(r"\\put\(([\d.]+),([\d.]+)\)\{\\rule\{([\d.]+)\\unitlength\}\{([\d.]+)\\unitlength\}\}", block)]
    m = rules[0][3]
    n = round(size / m)
    grid = [[0] * n for _ in range(n)]
    for x, y, w, h in rules:
        r = n - 1 - round(y / m)
        for c in range(round(x / m), round((x + w) / m)):
            grid[r][c] = 1
    return grid


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    require("pdflatex")
    out = tmp_path_factory.mktemp("sc") / "class"
    assert main(["worksheets", str(SPEC), "--roster", str(ROSTER), "--out", str(out), "--secret", "s",
                 "--weak-secret"]) == 0
    return out


@pytest.mark.tex
def test_a_built_class_prints_and_records_each_students_code(built):
    require("pdftotext")
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    fingerprint = manifest["spec"]["fingerprint"]
    for s in manifest["students"]:
        code = s["sheet_code"]
        assert code == sheet_code("s", s["student_id"], fingerprint)
        for variant in ("blank", "solved"):
            folder = built / "students" / s["student_id"]
            text = subprocess.run(["pdftotext", str(folder / f"{variant}.pdf"), "-"], capture_output=True,
                                  text=True, check=True).stdout
            assert f"Sheet code: {printed_code(code)}" in text
            tex = (folder / f"{variant}.tex").read_text(encoding="utf-8")
            assert _drawn_matrix(tex) == [list(r) for r in qr_matrix(code)]


@pytest.mark.tex
def test_the_qr_code_is_vectors_not_images_or_type3_fonts(built):
    require("pdffonts")
    require("pdfimages")
    pdf = built / "students" / "s1001" / "blank.pdf"
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "Type 3" not in fonts
    images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert len(images.strip().splitlines()) == 2  # the header lines only: no image


def test_sheets_without_a_code_draw_no_qr():
    from derive.render import make_environment, render_sheet
    from derive.spec import Student, load_spec
    from derive.randomize import draw_student
    from derive.classroom import draw_key
    from derive.worked import sheet_context
    spec = load_spec(SPEC)
    draw = draw_student(spec, 1)
    ctx = sheet_context(spec, Student("x", "X", 2), draw.params, draw.data, draw_key(spec, draw))
    tex = render_sheet(ctx, "blank", make_environment())
    assert r"\def\dvqr{\raisebox" not in tex and "Sheet code" not in tex
