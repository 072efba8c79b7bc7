"""Feedback PDFs to hand back: typeset with TeX, read back with pdftotext."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import pdf_text, require
from derive.cli import main
from derive.feedback import tex_text
from test_gradebooks import oracle_answers

ROOT = Path(__file__).resolve().parent.parent
POINTS = "points = { backward = 2, loss = 3 }\n"



@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Two students on a spec with points: one all right, one with a wrong loss and a missing z1_1."""
    require("pdflatex")
    require("pdftotext")
    tmp = tmp_path_factory.mktemp("feedback")
    spec = tmp / "points.toml"
    text = (ROOT / "worksheets" / "random-221.toml").read_text(encoding="utf-8")
    spec.write_text(text.replace("decimals = 4\n", "decimals = 4\n" + POINTS), encoding="utf-8")
    roster = tmp / "roster.csv"
    roster.write_text("student_id,name\nada,Ada Lovelace\njose,José Ñúñez\n", encoding="utf-8")
    assert main(["worksheets", str(spec), "--roster", str(roster), "--out", str(tmp / "class"),
                 "--secret", "k", "--weak-secret", "--no-pdf"]) == 0
    rows = []
    for sid in ("ada", "jose"):
        doc = json.loads((tmp / "class" / "students" / sid / "params.json").read_text())
        k = oracle_answers(doc)
        if sid == "jose":
            k["loss"], k["z1_1"] = "\u22120.5", ""  # typed with a Unicode minus; left empty
        rows.append({"student_id": sid, **k})
    answers = tmp / "answers.csv"
    with open(answers, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    common = ["grade", str(spec), "--roster", str(roster), "--answers", str(answers), "--class", str(tmp / "class"),
              "--feedback-pdf"]
    assert main([*common, "--out", str(tmp / "grades")]) == 0
    assert main([*common, "--out", str(tmp / "grades-de"),
                 "--templates", str(ROOT / "derive" / "examples" / "templates-de")]) == 0
    return tmp


def lines_of(text: str) -> dict[str, list[str]]:
    """Each table row of a feedback page by its answer name: the words after the name."""
    out = {}
    for line in text.splitlines():
        words = line.split()
        if words and words[0] in ("z1_1", "loss", "delta2_1", "a1_1", "new_b2_1"):
            out[words[0]] = words[1:]
    return out


def test_feedback_pdf_names_every_answer_with_its_marks(graded):
    text = pdf_text(graded / "grades" / "feedback" / "jose.pdf")
    # 6 forward + loss 3 + 12 backward × 2 + 9 update = 42; jose loses z1_1 (1) and the loss (3)
    assert "Score: 38 / 42 points" in text and "José Ñúñez" in text
    rows = lines_of(text)
    assert rows["z1_1"][-3:] == ["missing", "0/1", "no"] or rows["z1_1"][-4:] == ["missing", "0/1", "no", "answer"]
    assert rows["loss"][0] == "\u22120.5" and rows["loss"][2:5] == ["wrong", "0/3", "Expected"]
    assert rows["delta2_1"][-2:] == ["correct", "2/2"]
    assert rows["new_b2_1"][-2:] == ["correct", "1/1"]
    assert (graded / "grades" / "feedback" / "jose.md").is_file()  # the Markdown stays


def test_full_marks_feedback(graded):
    text = pdf_text(graded / "grades" / "feedback" / "ada.pdf")
    rows = lines_of(text)
    assert "Score: 42 / 42 points" in text and rows["loss"][2:4] == ["correct", "3/3"]
    assert all(r[-2] == "correct" for r in rows.values())


def test_feedback_words_come_from_text_tex(graded):
    text = pdf_text(graded / "grades-de" / "feedback" / "jose.pdf")
    assert "Rückmeldung" in text and "Punkte: 38 / 42 Punkte" in text
    rows = lines_of(text)
    assert rows["loss"][2:4] == ["falsch", "0/3"] and rows["a1_1"][-2:] == ["richtig", "1/1"]


def test_tex_text_escapes_and_sets_maths_letters():
    assert tex_text("δ = −0.5 & 50%") == r"\ensuremath{\delta} = \ensuremath{-}0.5 \& 50\%"
    # one superscript for the run ⁽²⁾ᵀ: ^{(2)}^{T} would be TeX's "Double superscript" error
    assert tex_text("W⁽²⁾ᵀ δ⁽²⁾") == r"W\ensuremath{^{(2)\mathsf{T}}} \ensuremath{\delta^{(2)}}"
    assert tex_text(r"\input{/etc/passwd}").startswith(r"\textbackslash{}input\{")
    # the layer marks of the notation profiles (Nielsen's bare w², Ng's W^[2]) are superscripts too
    assert tex_text("w²_ji") == r"w\ensuremath{^{2}}\_ji"
    assert tex_text("W^[2]_ji = δ^[2]_j") == r"W\ensuremath{^{[2]}}\_ji = \ensuremath{\delta}\ensuremath{^{[2]}}\_j"
    assert tex_text("a^[\\x]") == r"a\textasciicircum{}[\textbackslash{}x]"  # anything else stays text


def test_a_name_pdflatex_cannot_set_is_typeset_by_lualatex(tmp_path):
    require("lualatex")
    require("pdftotext")
    spec = ROOT / "worksheets" / "classic-221.toml"
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\nr1,Пётр Чайковский\n", encoding="utf-8")
    answers = tmp_path / "answers.csv"
    answers.write_text("student_id,z1_1,loss\nr1,0.6,\u22120.5\n", encoding="utf-8")
    assert main(["worksheets", str(spec), "--roster", str(roster), "--out", str(tmp_path / "class"), "--no-pdf"]) == 0
    assert main(["grade", str(spec), "--roster", str(roster), "--answers", str(answers), "--class",
                 str(tmp_path / "class"), "--out", str(tmp_path / "grades"), "--feedback-pdf"]) == 0
    text = pdf_text(tmp_path / "grades" / "feedback" / "r1.pdf")
    assert "Пётр Чайковский" in text
    rows = lines_of(text)
    assert rows["z1_1"][-3:] == ["0.6000", "correct", "1/1"] and rows["loss"][2:4] == ["wrong", "0/1"]
