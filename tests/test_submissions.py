"""Filled PDF sheets handed in through an LMS: read, identified by their code, graded; bad files one line each."""
import csv
import zipfile

import pikepdf
import pytest

from conftest import require
from derive.cli import main
from derive.errors import AnswersError
from derive import submissions
from derive.submissions import handed_in, hinted_student, name_keys
from fillpdf import SPEC, STUDENTS, build, filled, flattened, key, moodle_name, write_zip

NAMES = dict(STUDENTS)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    require("pdflatex")
    return build(tmp_path_factory.mktemp("subs"))


def _sheet(cls, sid, values=None):
    return filled(cls / "students" / sid / "blank.pdf", key(cls)[sid] if values is None else values)


def _grade(cls, roster, answers, out, *extra):
    return main(["grade", str(SPEC), "--roster", str(roster), "--answers", str(answers), "--out", str(out),
                 "--class", str(cls), "--secret", "s", *extra])


def _scores(out):
    with open(out / "grades.csv", encoding="utf-8-sig", newline="") as f:
        return {r["student_id"]: (r["score"], r["max"]) for r in csv.DictReader(f)}


def _full(scores, ids):
    return all(scores[s][0] == scores[s][1] and scores[s][1] != "0" for s in ids)


@pytest.mark.tex
def test_a_moodle_zip_of_filled_sheets_grades_to_full_marks(built, tmp_path, capsys):
    cls, roster = built
    members = {moodle_name(NAMES[sid], k): _sheet(cls, sid) for k, sid in enumerate(NAMES)}
    zipped = write_zip(tmp_path / "submissions.zip", members)
    assert _grade(cls, roster, zipped, tmp_path / "g") == 0
    scores = _scores(tmp_path / "g")
    assert set(scores) == set(NAMES) and _full(scores, NAMES), scores
    assert "warning" not in capsys.readouterr().err


@pytest.mark.tex
def test_a_sheet_under_another_students_file_name_is_graded_by_its_code_and_flagged(built, tmp_path, capsys):
    """s1's sheet handed in as Grace Hopper's file (Moodle's per-student folders), s3's as Ada's."""
    cls, roster = built
    swap = {"s1": "s3", "s3": "s1"}
    members = {f"{moodle_name(NAMES[swap.get(sid, sid)], k, '')}/blank.pdf": _sheet(cls, sid)
               for k, sid in enumerate(NAMES)}
    assert _grade(cls, roster, write_zip(tmp_path / "s.zip", members), tmp_path / "g") == 0
    assert _full(_scores(tmp_path / "g"), NAMES)
    err = capsys.readouterr().err.splitlines()
    flagged = [line for line in err if "check who handed it in" in line]
    assert len(flagged) == 2, err
    assert any("Grace Hopper_" in line and "is s1's (Ada Lovelace) by its code" in line for line in flagged)
    assert any("Ada Lovelace_" in line and "is s3's (Grace Hopper) by its code" in line for line in flagged)


def _broken_member(path, name):
    """Corrupt the compressed bytes of one member of a zip (its CRC or inflation then fails)."""
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(name)
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start + 40, start + info.compress_size - 40, 97):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.mark.tex
def test_each_bad_file_gets_one_line_and_the_others_are_graded(built, tmp_path, capsys):
    require("pdftotext")
    cls, roster = built
    foreign = tmp_path / "foreign.pdf"
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.save(foreign)
    members = {
        moodle_name("Ada Lovelace", 1): _sheet(cls, "s1"),
        moodle_name("Alan Turing", 2): flattened(_sheet(cls, "s2")),   # "print to PDF"
        moodle_name("Grace Hopper", 3): _sheet(cls, "s3"),             # its bytes are broken below
        moodle_name("Hedy Lamarr", 4): b"",
        moodle_name("Hedy Lamarr", 4, "cv.pdf"): foreign.read_bytes(),
        moodle_name("Hedy Lamarr", 4, "notes.docx"): b"PK\x03\x04 not a sheet",
        "../../escape.pdf": _sheet(cls, "s4"),
    }
    zipped = write_zip(tmp_path / "s.zip", members)
    _broken_member(zipped, moodle_name("Grace Hopper", 3))
    assert _grade(cls, roster, zipped, tmp_path / "g") == 0
    scores = _scores(tmp_path / "g")
    assert _full(scores, ["s1", "s2"]) and scores["s3"][0] == scores["s4"][0] == "0", scores
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("derive: warning:")]
    expect = {moodle_name("Alan Turing", 2): "flattened",
              moodle_name("Grace Hopper", 3): "broken zip member",
              moodle_name("Hedy Lamarr", 4): "empty file",
              moodle_name("Hedy Lamarr", 4, "cv.pdf"): "not a derive sheet",
              moodle_name("Hedy Lamarr", 4, "notes.docx"): "not a PDF",
              "../../escape.pdf": "unsafe member name"}
    for member, why in expect.items():
        lines = [line for line in err if f"s.zip:{member}:" in line]
        assert len(lines) == 1 and why in lines[0], (member, err)
    assert not (tmp_path.parent / "escape.pdf").exists()


@pytest.mark.tex
def test_collect_writes_what_was_read_in_box_order_and_grades_the_same(built, tmp_path, capsys):
    cls, roster = built
    folder = tmp_path / "handed"
    folder.mkdir()
    for sid in NAMES:
        (folder / f"{sid}.pdf").write_bytes(_sheet(cls, sid))
    out = tmp_path / "answers.csv"
    assert main(["collect", str(SPEC), str(folder), "--roster", str(roster), "--class", str(cls),
                 "--out", str(out)]) == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with open(out, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    with open(cls / "answers-template.csv", encoding="utf-8-sig", newline="") as f:
        boxes = [c for c in next(csv.reader(f)) if c not in ("student_id", "name", "sheet_code")]
    assert rows[0] == ["student_id", "sheet_code", *boxes]
    keys = key(cls)
    assert [r[0] for r in rows[1:]] == list(NAMES)
    for r in rows[1:]:
        assert dict(zip(boxes, r[2:])) == {b: keys[r[0]][b] for b in boxes}
    assert main(["collect", str(SPEC), str(folder), "--roster", str(roster), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert _grade(cls, roster, out, tmp_path / "g") == 0 and _full(_scores(tmp_path / "g"), NAMES)


@pytest.mark.tex
def test_without_the_class_the_embedded_student_id_names_the_sheet(built, tmp_path):
    cls, roster = built
    (tmp_path / "a.pdf").write_bytes(_sheet(cls, "s2"))
    out = tmp_path / "answers.csv"
    assert main(["collect", str(SPEC), str(tmp_path / "a.pdf"), "--roster", str(roster), "--out", str(out)]) == 0
    rows = list(csv.reader(out.open(encoding="utf-8-sig")))
    assert [r[0] for r in rows[1:]] == ["s2"] and rows[1][1] == ""


def test_a_file_that_is_no_zip_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "submissions.zip"
    bad.write_bytes(b"this is no zip")
    roster = tmp_path / "r.csv"
    roster.write_text("student_id,name\ns1,Ada\n", encoding="utf-8")
    assert main(["grade", str(SPEC), "--roster", str(roster), "--answers", str(bad), "--out",
                 str(tmp_path / "g"), "--secret", "s"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "submissions.zip" in err[0] and "not a readable zip" in err[0]
    assert not (tmp_path / "g").exists()


def test_a_zip_bomb_stops_at_the_limit(tmp_path, monkeypatch):
    """A member is read in chunks against the limit, whatever size its header claims."""
    monkeypatch.setattr(submissions, "MAX_MEMBER_BYTES", 1 << 20)
    path = write_zip(tmp_path / "b.zip", {"bomb.pdf": b"%PDF-1.7\n" + b"\0" * (3 << 20), "ok.pdf": b"%PDF-1.7"})
    found, warnings = handed_in(path)
    assert [h.name for h in found] == ["ok.pdf"]
    assert len(warnings) == 1 and "bomb.pdf" in warnings[0] and "zip bomb" in warnings[0]


def test_one_pdf_past_the_limit_is_one_line_not_read_whole(tmp_path, monkeypatch):
    """As a folder's PDFs are; read whole, /dev/zero given as a .pdf (a link) filled the memory."""
    monkeypatch.setattr(submissions, "MAX_MEMBER_BYTES", 1 << 20)
    big = tmp_path / "sheet.pdf"
    big.write_bytes(b"%PDF-1.7\n" + b"\0" * (2 << 20))
    with pytest.raises(AnswersError, match=r"sheet.pdf: larger than 1 MB; expected a filled worksheet"):
        handed_in(big)
    small = tmp_path / "ok.pdf"
    small.write_bytes(b"%PDF-1.7")
    assert [h.data for h in handed_in(small)[0]] == [b"%PDF-1.7"]


def test_too_many_members_are_reported_once(tmp_path, monkeypatch):
    monkeypatch.setattr(submissions, "MAX_MEMBERS", 3)
    path = write_zip(tmp_path / "m.zip", {f"{i}.pdf": b"%PDF-1.7" for i in range(5)})
    found, warnings = handed_in(path)
    assert len(found) == 3 and len(warnings) == 1 and "more than 3 members" in warnings[0]


@pytest.mark.parametrize("file, who", [
    ("Ada Lovelace_123456_assignsubmission_file_blank.pdf", "s1"),
    ("Grace Hopper_7_assignsubmission_file_/blank.pdf", "s3"),
    ("lovelaceada_12345_67890_blank.pdf", "s1"),               # Canvas
    ("turingalan_late_12345_67890_blank-1.pdf", "s2"),          # Canvas, late
    ("late_hopper grace_1_2_blank.pdf".replace(" ", ""), "s3"),
    ("s4.pdf", "s4"),
    ("homework.pdf", None),
    ("Nobody Known_1_assignsubmission_file_blank.pdf", None),
])
def test_file_names_of_moodle_and_canvas_point_to_the_student(file, who):
    by_name = {}
    for sid, name in STUDENTS:
        for k in name_keys(name):
            by_name.setdefault(k, set()).add(sid)
    assert hinted_student(file, by_name, {sid.casefold(): sid for sid, _ in STUDENTS}) == who


@pytest.mark.tex
def test_a_notation_profile_sheet_keeps_answer_names_as_field_names(tmp_path, capsys):
    """Under cs231n the boxes say "Box k"; the fields, and a flattened sheet's text, still give the answers."""
    require("pdflatex")
    require("pdftotext")
    spec = tmp_path / "cs231n.toml"
    spec.write_text(SPEC.read_text(encoding="utf-8") + '\n[notation]\npreset = "cs231n"\n', encoding="utf-8")
    cls, roster = build(tmp_path, spec)
    members = {moodle_name(NAMES[sid], k): _sheet(cls, sid) for k, sid in enumerate(NAMES)}
    members[moodle_name("Alan Turing", 1)] = flattened(members[moodle_name("Alan Turing", 1)])
    zipped = write_zip(tmp_path / "s.zip", members)
    assert main(["grade", str(spec), "--roster", str(roster), "--answers", str(zipped), "--out",
                 str(tmp_path / "g"), "--class", str(cls), "--secret", "s"]) == 0
    assert _full(_scores(tmp_path / "g"), NAMES)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "Alan Turing_1001" in err[0] and "28 answers read from its text" in err[0]
