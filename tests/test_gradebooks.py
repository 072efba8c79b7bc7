"""Grades out to Moodle and Canvas: the import CSVs beside grades.csv, as those gradebooks read them.

The rosters are the LMSs' own exports (tests/fixtures/rosters); the answers are the oracle's rounded
chain (tests/oracle.py, exact decimals); the points are counted by hand from the sheet's 28 answers.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from derive.cli import main
from oracle import rounded_chain

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "rosters"
POINTS = "points = { backward = 2, loss = 3, delta1_1 = 5 }\n"
FULL = 6 * 1 + 3 + 11 * 2 + 5 + 9 * 1  # forward, loss, backward (δ1_1 apart), δ1_1, update


def oracle_answers(doc: dict) -> dict[str, str]:
    """A 2-2-1 sigmoid/BCE student's boxes from their params.json, by the oracle's rounded chain."""
    p, d = doc["params"], doc["data"]
    boxes = rounded_chain([2, 2, 1], ["sigmoid", "sigmoid"], "bce", [p["W1"], p["W2"]], [p["b1"], p["b2"]],
                          [d["x"]], [d["y"]], 0.5, 4)
    return {n: str(v) for n, v in boxes.items()}


def rows_of(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: Excel, Moodle and Canvas read it
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def grade_class_of(tmp: Path, roster: Path, *extra: str) -> Path:
    """Make a class from ``roster`` under a spec with points, answer it by hand, grade it."""
    spec = tmp / "points.toml"
    text = (ROOT / "worksheets" / "random-221.toml").read_text(encoding="utf-8")
    spec.write_text(text.replace("decimals = 4\n", "decimals = 4\n" + POINTS), encoding="utf-8")
    assert main(["worksheets", str(spec), "--roster", str(roster), "--out", str(tmp / "class"),
                 "--secret", "k", "--weak-secret", "--no-pdf"]) == 0
    manifest = json.loads((tmp / "class" / "manifest.json").read_text(encoding="utf-8"))
    rows = []
    for i, st in enumerate(manifest["students"]):
        doc = json.loads((tmp / "class" / "students" / st["student_id"] / "params.json").read_text())
        k = oracle_answers(doc)
        if i == 1:
            k["loss"] = f"{2 * float(k['loss']):.4f}"  # nothing is computed from the loss: only its 3 points are lost
        rows.append([st["student_id"], *(k[n] for n in sorted(k))])
        names = sorted(k)
    answers = tmp / "answers.csv"
    with open(answers, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["student_id", *names], *rows])
    assert main(["grade", str(spec), "--roster", str(roster), "--answers", str(answers),
                 "--class", str(tmp / "class"), "--out", str(tmp / "grades"), *extra]) == 0
    return tmp / "grades"


def test_moodle_csv_has_the_identifiers_moodle_maps_and_the_points(tmp_path):
    out = grade_class_of(tmp_path, FIXTURES / "moodle-participants.csv", "--assignment", "Backprop sheet 1")
    rows = rows_of(out / "moodle-grades.csv")
    assert rows[0] == ["ID number", "Email address", "Full name", "Backprop sheet 1", "Feedback"]
    assert [r[:4] for r in rows[1:]] == [
        ["s1001", "jose.nunez@uni.example", "José Ñúñez", f"{FULL:g}"],
        ["s1002", "anna.vdb@uni.example", "Anna van der Berg", f"{FULL - 3:g}"],
        ["s1003", "zoe.orsted@uni.example", "Zoë Ørsted", f"{FULL:g}"]]
    assert rows[2][4].startswith(f"{FULL - 3} of {FULL} points (") and "1 wrong" in rows[2][4]


def test_canvas_csv_has_exactly_the_import_columns_and_the_rosters_ids(tmp_path):
    out = grade_class_of(tmp_path, FIXTURES / "canvas-gradebook.csv", "--assignment", "Backprop sheet 1")
    rows = rows_of(out / "canvas-grades.csv")
    # the assignment's id comes from the Canvas export's own column "Backprop sheet 1 (150834)"
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Backprop sheet 1 (150834)"]
    assert rows[1] == ["    Points Possible", "", "", "", "", f"{FULL:g}"]
    assert rows[2:] == [
        ["Ñúñez, José", "10001", "s1001", "jnunez", "NN 101 - A01 [13805]", f"{FULL:g}"],
        ["van der Berg, Anna", "10002", "s1002", "avdberg", "NN 101 - A01 [13805]", f"{FULL - 3:g}"]]


def test_grades_csv_scores_are_points_too(tmp_path):
    out = grade_class_of(tmp_path, FIXTURES / "moodle-participants.csv")
    with open(out / "grades.csv", encoding="utf-8-sig", newline="") as f:
        grades = {r["student_id"]: r for r in csv.DictReader(f)}
    assert (grades["s1002"]["score"], grades["s1002"]["max"]) == (f"{FULL - 3:g}", f"{FULL:g}")
    feedback = (out / "feedback" / "s1002.md").read_text(encoding="utf-8")
    assert f"Score: {FULL - 3} of {FULL}." in feedback and "| wrong | 0/3 |" in feedback
    assert f"Scores are points, out of {FULL} per sheet" in (out / "summary.md").read_text(encoding="utf-8")
    # without --assignment the grade column is the spec's title; a bare name in Canvas has no id
    moodle = rows_of(out / "moodle-grades.csv")
    assert moodle[0][3] == "Forward and backward pass"


def test_a_derive_roster_gets_its_ids_in_the_canvas_sis_column(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\nada@uni.example,Ada\ns2,=HYPERLINK(1)\n", encoding="utf-8")
    out = grade_class_of(tmp_path, roster, "--assignment", "Sheet 2 (777)")
    canvas = rows_of(out / "canvas-grades.csv")
    assert canvas[0][-1] == "Sheet 2 (777)"
    # a name that starts like a formula is written so that no spreadsheet runs it
    assert [r[:3] for r in canvas[2:]] == [["Ada", "", "ada@uni.example"], ["'=HYPERLINK(1)", "", "s2"]]
    moodle = rows_of(out / "moodle-grades.csv")
    assert moodle[0][3] == "Sheet 2"  # Moodle's column: the name without Canvas's id
    assert [r[:2] for r in moodle[1:]] == [["ada@uni.example", "ada@uni.example"], ["s2", ""]]
