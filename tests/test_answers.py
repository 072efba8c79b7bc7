"""Answers as form and LMS tools export them (issue 7, item 4).

Each fixture in tests/fixtures/answers/ was written by make_fixtures.py from
the key of the class built below, in its tool's shape: every student answers
with their key, so every student must score full marks.
"""
import csv
import json
from pathlib import Path

import pytest

from conftest import key_rows
from derive.answers import answer_in_header, detect_shape, export_delimiter, parse_time, read_answers_text
from derive.classroom import grade_class
from derive.cli import main
from derive.errors import AnswersError
from derive.grade import read_answers
from derive.randomize import asked_names
from derive.sheetcode import normalize_code
from derive.spec import load_roster, load_spec

SPEC = "worksheets/random-221.toml"
ROSTER = "worksheets/roster-example.csv"
FIXTURES = Path(__file__).parent / "fixtures" / "answers"
EXPORTS = {"google-forms.csv": "google-forms", "microsoft-forms.csv": "microsoft-forms",
           "microsoft-forms-unicode-text.txt": "microsoft-forms",
           "moodle-responses.csv": "moodle-responses", "canvas-student-analysis.csv": "canvas-student-analysis"}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("answers")
    assert main(["worksheets", SPEC, "--roster", ROSTER, "--out", str(tmp / "class"), "--secret", "s",
                 "--weak-secret", "--no-pdf"]) == 0
    return tmp, load_spec(SPEC), load_roster(ROSTER)


def grades(folder: Path) -> dict:
    with open(folder / "grades.csv", encoding="utf-8-sig", newline="") as f:
        return {r["student_id"]: r for r in csv.DictReader(f)}


def test_the_fixtures_are_the_class_key(made):
    """The fixtures hold this class's key: rebuilding the class with the same secret gives the same values."""
    tmp, _, _ = made
    key = {r["student_id"]: r for r in key_rows(tmp / "class" / "answer-key.csv")}
    with open(FIXTURES / "canvas-student-analysis.csv", encoding="utf-8", newline="") as f:
        row = next(csv.DictReader(f))
    assert row["4100: z1_1"] == key[row["sis_id"]]["z1_1"]


@pytest.mark.parametrize("export", sorted(EXPORTS))
def test_each_export_grades_to_full_marks(made, export, tmp_path, capsys):
    tmp, _, _ = made
    status = main(["grade", SPEC, "--roster", ROSTER, "--answers", str(FIXTURES / export),
                   "--out", str(tmp_path / "g"), "--class", str(tmp / "class"), "--secret", "s"])
    assert status == 0
    err = capsys.readouterr().err
    g = grades(tmp_path / "g")
    assert set(g) == {"s1001", "s1002", "s1003", "s1004", "s1005", "s1006"}
    for sid, row in g.items():
        assert float(row["score"]) == float(row["max"]) == 28, (export, sid, err)
    assert "not on the roster" not in err and "matches no answer name" not in err, err


@pytest.mark.parametrize("export", sorted(EXPORTS))
def test_each_shape_is_detected(export):
    text = read_answers_text(str(FIXTURES / export))
    header = next(csv.reader(text.splitlines(), delimiter=export_delimiter(text)))
    assert detect_shape(header).name == EXPORTS[export]


def test_the_exports_are_written_as_the_tools_write_them():
    raw = {e: (FIXTURES / e).read_bytes() for e in EXPORTS}
    assert raw["microsoft-forms.csv"].startswith(b"\xef\xbb\xbf") and b"\r\n" in raw["microsoft-forms.csv"]
    assert raw["moodle-responses.csv"].startswith(b"\xef\xbb\xbf")
    assert raw["microsoft-forms-unicode-text.txt"].startswith(b"\xff\xfeI\x00D\x00\t\x00")
    assert raw["google-forms.csv"].startswith(b'"Timestamp","Email Address"')
    assert raw["canvas-student-analysis.csv"].startswith(b"name,id,sis_id,section,section_id,section_sis_id")


def test_a_resubmission_keeps_the_latest_and_names_the_student(made):
    """Google: s1002 submitted a wrong sheet at 9:58 and the right one at 10:11; Microsoft: s1001 at 9:15, 10:xx."""
    _, spec, roster = made
    asked = asked_names(spec, spec.data.size)
    a = read_answers(FIXTURES / "google-forms.csv", roster=roster.ids(), expected=asked)
    again = [w for w in a.warnings if "submitted 2 times" in w]
    assert len(again) == 1 and "s1002" in again[0] and "latest" in again[0], a.warnings
    assert a.lines["s1002"] == 4  # the later row, not the first
    m = read_answers(FIXTURES / "microsoft-forms.csv", roster=roster.ids(), expected=asked)
    assert any("s1001 submitted 2 times" in w for w in m.warnings), m.warnings


def test_without_timestamps_the_last_row_is_kept(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("Name,Matriculation number,z1_1\nAda,S1,0.1\nAda,s1 ,0.2\n", encoding="utf-8")
    a = read_answers(p, roster=["s1"], expected=["z1_1"])
    assert dict(a.students["s1"]) == {"z1_1": "0.2"}
    assert any("s1 submitted 2 times" in w and "the last row" in w for w in a.warnings)


def test_ids_are_trimmed_and_matched_case_insensitively(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("student_id,z1_1\n  S1001 ,0.5\nX9,0.1\n", encoding="utf-8")
    a = read_answers(p, roster=["s1001", "x8"], expected=["z1_1"])
    assert set(a.students) == {"s1001", "X9"}  # the roster's spelling
    assert any("'X9' is not on the roster" in w for w in a.warnings)


def test_an_email_matches_the_roster_id_by_its_local_part(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("Timestamp,Email Address,z1_1\n2026/12/01 10:00:00 AM GMT,S1001@Uni.EDU,0.5\n", encoding="utf-8")
    a = read_answers(p, roster=["s1001"], expected=["z1_1"])
    assert dict(a.students) == {"s1001": {"z1_1": "0.5"}}


def test_id_column_overrides_and_a_missing_one_names_the_columns(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("Timestamp,Student ID,Matric,z1_1\n2026/12/01 10:00:00 AM GMT,wrong,s1,0.5\n", encoding="utf-8")
    assert set(read_answers(p, roster=["s1"], expected=["z1_1"], id_column="matric").students) == {"s1"}
    with pytest.raises(AnswersError) as e:
        read_answers(p, expected=["z1_1"], id_column="Login")
    assert str(e.value).startswith(f"{p}:1: no column 'Login' (--answers-id-column); the header has Timestamp, Student ID")


def test_map_names_the_columns_and_a_bad_map_names_its_line(made, tmp_path, capsys):
    tmp, spec, _ = made
    asked = asked_names(spec, spec.data.size)
    key = key_rows(tmp / "class" / "answer-key.csv")
    answers = tmp_path / "answers.csv"
    with open(answers, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["Student number", *(f"Q{k}" for k in range(1, len(asked) + 1))],
                                 *([r["student_id"], *(r[n] for n in asked)] for r in key)])
    mapping = tmp_path / "map.csv"
    mapping.write_text("column,answer\n" + "".join(f"Q{k},{n}\n" for k, n in enumerate(asked, start=1)),
                       encoding="utf-8")
    assert main(["grade", SPEC, "--roster", ROSTER, "--answers", str(answers), "--map", str(mapping),
                 "--answers-id-column", "Student number", "--out", str(tmp_path / "g"),
                 "--class", str(tmp / "class"), "--secret", "s"]) == 0
    assert {r["score"] for r in grades(tmp_path / "g").values()} == {"28"}
    mapping.write_text("column,answer\nQ1,z1_1\nQ2,not an answer\n", encoding="utf-8")
    assert main(["grade", SPEC, "--roster", ROSTER, "--answers", str(answers), "--map", str(mapping),
                 "--out", str(tmp_path / "g2"), "--class", str(tmp / "class"), "--secret", "s"]) == 2
    err = capsys.readouterr().err
    assert f"{mapping}:3: expected an answer name such as z1_1" in err and err.count("\n") == 1


def test_an_export_without_answer_columns_is_refused_in_one_line(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("Timestamp,Email Address,Favourite colour\n2026/12/01 10:00:00 AM GMT,a@b.c,red\n",
                 encoding="utf-8")
    with pytest.raises(AnswersError) as e:
        read_answers(p, expected=["z1_1"])
    assert str(e.value).startswith(f"{p}:1: no column of this google-forms export is an answer")


def test_moodle_responses_are_boxes_in_sheet_order_and_dash_is_empty(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("\ufeffSurname,First name,ID number,Email address,State,Started on,Completed,Time taken,"
                 "Grade/3.00,Response 1,Response 2,Response 3,Response 4\n"
                 "Adler,Zoë,s1002,zoe@example.edu,Finished,\"1 December 2026, 10:00 AM\","
                 "\"1 December 2026, 10:20 AM\",20 mins,1.00,\"0,5\",-,0.7,9\n", encoding="utf-8")
    a = read_answers(p, roster=["s1002"], expected=["z1_1", "z1_2", "a1_1"])
    assert dict(a.students["s1002"]) == {"z1_1": "0,5", "z1_2": "", "a1_1": "0.7"}
    assert any("column 13 'Response 4' is box 4, but the sheet has 3 boxes" in w for w in a.warnings)


def test_a_header_names_an_answer_only_when_it_holds_exactly_one():
    names = ["z1_1", "a1_1"]
    assert answer_in_header("1234: z1_1", names) == "z1_1"
    assert answer_in_header("Box 3 (a1_1)", names) == "a1_1"
    assert answer_in_header("z1_1 or a1_1?", names) is None
    assert answer_in_header("z1_10", names) is None


def test_export_times_are_read():
    assert parse_time("2026/12/01 10:11:32 AM GMT+1").hour == 10
    assert parse_time("12/1/2026 10:20:41").minute == 20
    assert parse_time("1 December 2026, 10:30 PM").hour == 22
    assert parse_time("2026-12-01 10:00:00 UTC").day == 1
    assert parse_time("soon") is None


def test_the_class_folder_has_an_answers_template_and_form(made):
    tmp, spec, roster = made
    asked = asked_names(spec, spec.data.size)
    raw = (tmp / "class" / "answers-template.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0] == ["student_id", "name", "sheet_code", *asked]
    assert [r[:2] for r in rows[1:]] == [[s.id, s.name] for s in roster.students]
    codes = {s["student_id"]: s["sheet_code"] for s in json.loads((tmp / "class" / "manifest.json").read_text())["students"]}
    # each row carries its student's code as the sheet prints it (K7QM-X2VD), for a TA typing from paper
    assert [normalize_code(r[2]) for r in rows[1:]] == [codes[s.id] for s in roster.students]
    assert all(r[2][4] == "-" for r in rows[1:])
    assert all(set(r[3:]) == {""} and len(r) == len(asked) + 3 for r in rows[1:])
    form = (tmp / "class" / "answers-form.md").read_text(encoding="utf-8")
    assert "| 1 | `z1_1` |" in form and f"| {len(asked)} | `{asked[-1]}` |" in form
    assert "Response k" in form


def test_the_blank_template_reads_back_as_nothing_answered(made, tmp_path):
    tmp, spec, roster = made
    graded = grade_class(spec, roster, tmp / "class" / "answers-template.csv", tmp_path / "g",
                         class_dir=tmp / "class", secret="s")
    assert {r["score"] for r in grades(tmp_path / "g").values()} == {"0"}
    assert graded.warnings == ()  # was "column 2 'name' is not an answer name", on derive's own file


def test_a_moodle_attempt_not_finished_is_ignored_with_a_warning(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("Surname,First name,ID number,State,Started on,Completed,Time taken,Grade/1.00,Response 1\n"
                 "Adler,Zoë,s1002,Finished,\"1 December 2026, 10:00 AM\",\"1 December 2026, 10:20 AM\",20 mins,"
                 "1.00,0.5\n"
                 "Adler,Zoë,s1002,In progress,\"1 December 2026, 11:00 AM\",-,-,-,0.9\n", encoding="utf-8")
    a = read_answers(p, roster=["s1002"], expected=["z1_1"])
    assert dict(a.students["s1002"]) == {"z1_1": "0.5"}
    assert any(w.startswith(f"{p}:3: the attempt of s1002 is 'In progress'") for w in a.warnings), a.warnings


def test_a_map_may_name_the_gradient_checks_answers(tmp_path):
    """fd_W1_1_1 is outside the z1_1 grammar but asked by a gradient-check sheet: a map may name it there."""
    from derive.answers import read_map
    spec = load_spec("worksheets/classic-221-gradcheck.toml")
    mapping = tmp_path / "map.csv"
    mapping.write_text("Q1,z1_1\nQ30,fd_W1_1_1\n", encoding="utf-8")
    assert read_map(mapping, asked_names(spec, spec.data.size)) == {"q1": "z1_1", "q30": "fd_W1_1_1"}
    with pytest.raises(AnswersError) as e:
        read_map(mapping, asked_names(load_spec(SPEC), 1))  # a sheet without the check
    assert str(e.value).startswith(f"{mapping}:2: expected an answer name such as z1_1 in the second cell; "
                                   "got 'fd_W1_1_1'")
