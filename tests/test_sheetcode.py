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
@pytest.mark.parametrize("variant", ["blank", "solved"])
def test_the_qr_code_scans_as_the_sheet_code(built, tmp_path, variant):
    """Rasterized at 300 dpi as a scanner would, and decoded by zbar: the student's own code."""
    require("pdftoppm")
    require("zbarimg")
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    for s in manifest["students"][:2]:
        png = tmp_path / s["student_id"]
        subprocess.run(["pdftoppm", "-r", "300", "-f", "1", "-l", "1", "-png", "-singlefile",
                        str(built / "students" / s["student_id"] / f"{variant}.pdf"), str(png)], check=True)
        decoded = subprocess.run(["zbarimg", "-q", "--raw", f"{png}.png"], capture_output=True, text=True)
        assert decoded.stdout.split() == [s["sheet_code"]], decoded.stderr


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


def _answers_by_code(built, path, *, with_ids=False, swap=False, typo=False, shape="own"):
    """The class's key as an answers CSV whose students are named by sheet code."""
    import csv
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))
    codes = {s["student_id"]: s["sheet_code"] for s in manifest["students"]}
    rows = list(csv.reader((built / "answer-key.csv").open(encoding="utf-8")))[1:]
    header, body = rows[0][2:], rows[1:]
    ids = [r[0] for r in body]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        lead = (["Timestamp", "Sheet code"] if shape == "google" else
                ["student_id", "sheet_code"] if with_ids else ["sheet_code"])
        w.writerow(lead + header)
        for k, r in enumerate(body):
            code = codes[ids[1] if swap and k == 0 else r[0]]
            if typo and k == 2:
                code = code[:-1] + ("A" if code[-1] != "A" else "B")
            typed = printed_code(code).lower() if k % 2 else code
            lead = ([f"2026/12/01 10:0{k}:00 AM GMT+1", typed] if shape == "google" else
                    [r[0], typed] if with_ids else [typed])
            w.writerow(lead + r[2:])
    return ids, codes


def _grade(built, answers, out, *extra):
    return main(["grade", str(SPEC), "--roster", str(ROSTER), "--answers", str(answers), "--out", str(out),
                 *extra])


def _scores(out):
    import csv
    rows = list(csv.DictReader((out / "grades.csv").open(encoding="utf-8-sig")))
    return {r["student_id"]: (r["score"], r["max"]) for r in rows}


@pytest.mark.tex
@pytest.mark.parametrize("route", [["--class", "CLASS", "--secret", "s"], ["--secret", "s"]])
@pytest.mark.parametrize("shape", ["own", "google"])
def test_answers_by_sheet_code_grade_to_full_marks(built, tmp_path, capsys, route, shape):
    """By the manifest's codes (--class) or by codes recomputed from the secret; derive's CSV or a form export."""
    ids, _ = _answers_by_code(built, tmp_path / "a.csv", shape=shape)
    route = [str(built) if a == "CLASS" else a for a in route]
    assert _grade(built, tmp_path / "a.csv", tmp_path / "g", *route) == 0
    scores = _scores(tmp_path / "g")
    assert set(scores) == set(ids) and all(s == m for s, m in scores.values()), scores
    assert "sheet code" not in capsys.readouterr().err


@pytest.mark.tex
def test_a_code_of_another_student_or_with_a_typo_is_flagged(built, tmp_path, capsys):
    ids, codes = _answers_by_code(built, tmp_path / "a.csv", with_ids=True, swap=True, typo=True)
    assert _grade(built, tmp_path / "a.csv", tmp_path / "g", "--class", str(built), "--secret", "s") == 0
    err = capsys.readouterr().err
    assert f"a.csv:2: sheet code '{codes[ids[1]]}' is {ids[1]}'s, but the row's student id is {ids[0]}" in err
    assert "a.csv:4: sheet code" in err and "not a valid code" in err
    assert all(s == m for s, m in _scores(tmp_path / "g").values())  # graded by the row's own id


def test_a_code_that_names_no_one_or_cannot_be_looked_up_is_reported(tmp_path):
    from derive.grade import read_answers
    good = sheet_code("s", "a", "fp")
    p = tmp_path / "a.csv"
    p.write_text(f"sheet_code,z1_1\n{good},1\n{sheet_code('s', 'zz', 'fp')},2\n", encoding="utf-8")
    a = read_answers(p, roster=["a"], expected=["z1_1"], codes={"a": good})
    assert set(a.students) == {"a"} and any("belongs to no student" in w for w in a.warnings)
    b = read_answers(p, roster=["a"], expected=["z1_1"])
    assert not b.students and any("cannot be looked up" in w for w in b.warnings)


def test_a_forms_code_question_keeps_the_export_read_as_an_export(tmp_path):
    """A `Sheet code` question in a Google Form: the timestamps still choose a resubmission."""
    from derive.grade import read_answers
    a, b = sheet_code("s", "a", "fp"), sheet_code("s", "b", "fp")
    p = tmp_path / "form.csv"
    p.write_text("Timestamp,Sheet code,z1_1\n2026/12/01 10:05:00 AM GMT+1,%s,2\n"
                 "2026/12/01 10:00:00 AM GMT+1,%s,1\n2026/12/01 10:01:00 AM GMT+1,%s,3\n"
                 % (printed_code(a).lower(), a, b), encoding="utf-8")
    got = read_answers(p, roster=["a", "b"], expected=["z1_1"], codes={"a": a, "b": b})
    assert got.layout == "google-forms" and dict(got.students["a"]) == {"z1_1": "2"}
    assert set(got.students) == {"a", "b"}
    assert any("submitted 2 times" in w for w in got.warnings)
