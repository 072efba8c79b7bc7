"""Rosters: scripts of every kind, BOM, LMS and spreadsheet exports, and one-line errors with exit status 2."""
import json
from pathlib import Path

import pytest

from derive.cli import main
from derive.errors import RosterError
from derive.spec import load_roster

ROSTERS = Path(__file__).parent / "fixtures" / "rosters"


def test_names_in_any_script_and_a_bom(tmp_path):
    names = ["José Ñúñez", "Zoë", "Ørsted", "Łukasz", "Çağrı", "Nguyễn", "张伟", "Анна", "அருண்", "राहुल"]
    f = tmp_path / "r.csv"
    f.write_bytes(("\ufeffstudent_id,name,extra\n" + "".join(f"s{i},{n},x\n" for i, n in enumerate(names)))
                  .encode("utf-8"))
    roster = load_roster(f)
    assert [s.name for s in roster.students] == names
    assert roster.students[0].line == 2
    assert load_roster(ROSTERS / "good-bom.csv").students[0].id == "s001"


BAD = {
    "bad-missing-column.csv": (1, 'missing column "student_id"'),
    "bad-duplicate-id.csv": (4, 'duplicate student_id "s001" (first on line 2)'),
    "bad-empty-id.csv": (3, "empty student_id"),
    # a Latin-1 file now reads as Windows-1252 (spreadsheet-latin1.csv); this byte is in neither
    "bad-encoding-undecodable.csv": (3, "not UTF-8, UTF-16 or Windows-1252 text (byte 0x81)"),
    "bad-unsafe-id.csv": (3, "names a folder"),
    "bad-no-students.csv": (2, "no students"),
    # an unclosed quote swallowed the students after it ("1 students", exit 0)
    "bad-unclosed-quote.csv": (3, "quote opened on this line is not closed"),
    # on the last line nothing is swallowed, but the name was 'Bob\n', taken without a word
    "bad-unclosed-quote-last-line.csv": (3, "not closed (the cell runs to the end of the file)"),
    "bad-too-many-cells.csv": (3, "3 cells but the header has 2"),
    # ids that print alike, or differ only in case (one folder on macOS and Windows)
    "bad-case-twins.csv": (3, 'look-alike student_id "ABC" (first on line 2 as "abc"'),
    "bad-cyrillic-lookalike.csv": (3, 'look-alike student_id "\u0455' + '1001" (first on line 2 as "s1001"'),
    "bad-fullwidth-lookalike.csv": (3, 'as "s1"'),
    "bad-nfc-twins.csv": (3, "duplicate student_id"),  # Å typed as one code point, then as A + ring
    "bad-device-name.csv": (3, 'no Windows device name (it names a folder); got "CON"'),
    "bad-dot-id.csv": (3, 'does not start with a dot'),
    "bad-long-id.csv": (3, "at most 100 bytes"),
    "bad-long-name.csv": (3, "a name of at most 200 characters"),
    "bad-ambiguous-columns.csv": (1, "ambiguous columns: student_id + name (derive); "
                                     "ID number + First name + Last name (Moodle participants)"),
}


@pytest.mark.parametrize("fixture", sorted(BAD))
def test_bad_roster_is_one_located_line_with_exit_status_2(fixture, capsys, tmp_path):
    line, fragment = BAD[fixture]
    path = ROSTERS / fixture
    out = tmp_path / "out"
    status = main(["worksheets", "worksheets/classic-221.toml", "--roster", str(path), "--out", str(out),
                   "--no-pdf"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith(f"derive: {path}:{line}: "), err
    assert fragment in err
    assert not out.exists()  # nothing half-written


# --- rosters as LMSs and spreadsheets export them ---------------------------------
# Each fixture is written as that tool writes it (see the comments where they were made:
# header, encoding, BOM, separator, line ends, extra columns); the ids and names are typed here.

EXPORTS = {
    # Moodle participants: "First name" + "Last name" joined, id from "ID number"; UTF-8 with a BOM
    "moodle-participants.csv": [("s1001", "José Ñúñez"), ("s1002", "Anna van der Berg"), ("s1003", "Zoë Ørsted")],
    # Canvas gradebook: name from "Student" as Canvas writes it, id from "SIS User ID"; the posting-policy
    # row, "    Points Possible" and the Test Student are no students
    "canvas-gradebook.csv": [("s1001", "Ñúñez, José"), ("s1002", "van der Berg, Anna")],
    # Excel "CSV (Comma delimited)": Windows-1252, CRLF
    "excel-comma-cp1252.csv": [("s1001", "José Ñúñez"), ("s1002", "Zoë Ørsted")],
    # Excel where the decimal mark is a comma: ";" separated, Windows-1252, a comma inside a name
    "excel-semicolon-cp1252.csv": [("s1001", "José Ñúñez"), ("s1002", "Müller, Jörg")],
    # Google Sheets .tsv: tab separated, UTF-8 without a BOM, an empty last cell
    "sheets-tab.tsv": [("s1001", "José Ñúñez"), ("s1002", "Nguyễn Văn An")],
    # Excel "Unicode Text": UTF-16 LE with a BOM, tab separated, CRLF
    "excel-unicode-text.txt": [("s1001", "José Ñúñez"), ("s1002", "张伟"), ("s1003", "Анна")],
    # Latin-1 bytes (once refused as "not UTF-8"): the same letters in Windows-1252
    "spreadsheet-latin1.csv": [("s001", "Anna"), ("s002", "Jörg")],
}


@pytest.mark.parametrize("fixture", sorted(EXPORTS))
def test_each_export_shape_reads_to_the_right_ids_and_names(fixture):
    roster = load_roster(ROSTERS / fixture)
    assert [(s.id, s.name) for s in roster.students] == EXPORTS[fixture]


def test_canvas_rows_keep_their_line_numbers_after_the_skipped_rows():
    assert [s.line for s in load_roster(ROSTERS / "canvas-gradebook.csv").students] == [4, 5]


def test_a_forced_encoding_wins_over_detection():
    # UTF-8 bytes of "José" read as Windows-1252 are mojibake: --encoding is obeyed, not second-guessed
    assert load_roster(ROSTERS / "sheets-tab.tsv", encoding="cp1252").students[0].name == "JosÃ© Ã‘ÃºÃ±ez"
    assert load_roster(ROSTERS / "excel-comma-cp1252.csv", encoding="latin-1").students[0].name == "José Ñúñez"
    with pytest.raises(RosterError, match=r"excel-comma-cp1252.csv:2: not utf-8 text \(byte 0xe9\)"):
        load_roster(ROSTERS / "excel-comma-cp1252.csv", encoding="utf-8")
    with pytest.raises(RosterError, match='unknown encoding "klingon"'):
        load_roster(ROSTERS / "good-bom.csv", encoding="klingon")
    # codecs Python knows that are not text encodings: bytes.decode raised LookupError, a traceback
    with pytest.raises(RosterError, match='"rot13" is not a text encoding'):
        load_roster(ROSTERS / "good-bom.csv", encoding="rot13")
    with pytest.raises(RosterError, match="not undefined text"):
        load_roster(ROSTERS / "good-bom.csv", encoding="undefined")  # raised a bare UnicodeError


def test_a_workbook_given_for_a_csv_is_named(tmp_path):
    import zipfile
    f = tmp_path / "roster.xlsx"
    with zipfile.ZipFile(f, "w") as z:  # a workbook's opening bytes; it was "has NUL bytes: UTF-16 …?"
        z.writestr("[Content_Types].xml", "<Types/>")
    with pytest.raises(RosterError, match=r"roster.xlsx:1: a spreadsheet workbook \(.xlsx or .ods\), not a CSV"):
        load_roster(f)


@pytest.mark.parametrize("command", ["worksheets", "solve", "params", "verify"])
def test_an_input_past_the_size_cap_is_one_line_not_read_whole(command, tmp_path, capsys, monkeypatch):
    import derive.rosters
    from derive.cli import main
    monkeypatch.setattr(derive.rosters, "MAX_INPUT_BYTES", 1000)  # 256 MB in use; /dev/zero filled the memory
    big = tmp_path / "big"
    big.write_text("student_id,name\n" + "s1,Ann\n" * 200, encoding="utf-8")  # 1416 bytes
    argv = {"worksheets": ["worksheets", "worksheets/classic-221.toml", "--roster", str(big), "--out",
                           str(tmp_path / "out"), "--no-pdf"],
            "solve": ["solve", str(big)],
            "params": ["solve", "worksheets/random-221.toml", "--params", str(big)],
            "verify": ["verify", "worksheets/classic-221.toml", "--answers", str(big)]}[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"derive: {big}: more than 0 MB; expected a file of a worksheet's size (a spec, roster, " \
                  "answers or params file)\n", err


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_dev_zero_as_a_roster_is_one_line():
    with pytest.raises(RosterError, match="/dev/zero: more than 256 MB"):
        load_roster("/dev/zero")


def test_utf16_without_a_bom_is_named_not_misread(tmp_path):
    f = tmp_path / "r.csv"
    f.write_bytes("student_id,name\ns1,Ann\n".encode("utf-16-le"))
    with pytest.raises(RosterError, match="UTF-16 without a byte-order mark"):
        load_roster(f)
    assert load_roster(f, encoding="utf-16-le").students[0].name == "Ann"


def test_id_and_name_columns_choose_and_resolve_ambiguity():
    path = ROSTERS / "bad-ambiguous-columns.csv"
    moodle = load_roster(path, id_column="ID number", name_column=["First name", "Last name"])
    assert [(s.id, s.name) for s in moodle.students] == [("900001", "Ann Lee")]
    assert [(s.id, s.name) for s in load_roster(path, id_column="student_id", name_column="name").students] == \
        [("s1", "Ann Lee")]
    # one option does not settle it when both shapes still fit the other column
    with pytest.raises(RosterError, match="ambiguous columns"):
        load_roster(path, name_column="name")
    # columns of any name, case and spacing as typed
    assert load_roster(ROSTERS / "canvas-gradebook.csv", id_column="sis login id").ids() == ["jnunez", "avdberg",
                                                                                             "4e1f0c3a9b"]
    assert load_roster(ROSTERS / "excel-semicolon-cp1252.csv", name_column="Gruppe").students[1].name == "B"


def test_a_column_that_is_not_there_is_one_line_naming_the_columns_found():
    with pytest.raises(RosterError) as e:
        load_roster(ROSTERS / "moodle-participants.csv", id_column="Matrikelnummer")
    message = str(e.value)
    assert message.startswith(f"{ROSTERS / 'moodle-participants.csv'}:1: header: "
                              'missing column "Matrikelnummer" (--id-column)')
    assert '"First name", "Last name", "ID number", "Email address"' in message and "\n" not in message


def test_a_column_written_twice_is_ambiguous(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text("student_id,name,Name\ns1,Ann,Ann Lee\n", encoding="utf-8")
    with pytest.raises(RosterError, match='ambiguous columns: "name" is column 2 and 3'):
        load_roster(f)


def test_ambiguous_columns_through_the_cli_are_one_line_naming_them(capsys, tmp_path):
    path = ROSTERS / "bad-ambiguous-columns.csv"
    status = main(["worksheets", "worksheets/classic-221.toml", "--roster", str(path), "--out", str(tmp_path / "o"),
                   "--secret", "s", "--weak-secret", "--no-pdf"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    for column in ("student_id", "name", "First name", "Last name", "ID number", "Email address"):
        assert f'"{column}"' in err
    assert "--id-column and --name-column" in err


@pytest.mark.parametrize("fixture", sorted(EXPORTS))
def test_each_export_builds_a_class_with_the_right_student_folders(fixture, tmp_path, capsys):
    out = tmp_path / "class"
    status = main(["worksheets", "worksheets/classic-221.toml", "--roster", str(ROSTERS / fixture),
                   "--out", str(out), "--secret", "s", "--weak-secret", "--no-pdf"])
    assert status == 0, capsys.readouterr().err
    assert sorted(p.name for p in (out / "students").iterdir()) == sorted(sid for sid, _ in EXPORTS[fixture])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [(s["student_id"], s["name"]) for s in manifest["students"]] == EXPORTS[fixture]


def test_a_utf8_bom_is_trusted_and_a_bad_byte_after_it_is_named(tmp_path):
    f = tmp_path / "r.csv"
    f.write_bytes(b"\xef\xbb\xbfstudent_id,name\ns1,Jos\xe9\n")
    with pytest.raises(RosterError, match=r"r.csv:2: not UTF-8 text \(byte 0xe9\), though it starts with UTF-8's"):
        load_roster(f)


def test_a_retyped_header_is_still_derive_s_own(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text("Student ID;Name\ns1;Ann Lee\n", encoding="utf-8")
    assert [(s.id, s.name) for s in load_roster(f).students] == [("s1", "Ann Lee")]


def test_cli_options_reach_the_roster_reader(tmp_path, capsys):
    out = tmp_path / "class"
    status = main(["worksheets", "worksheets/classic-221.toml", "--roster", str(ROSTERS / "bad-ambiguous-columns.csv"),
                   "--id-column", "ID number", "--name-column", "First name", "--name-column", "Last name",
                   "--encoding", "utf-8", "--out", str(out), "--secret", "s", "--weak-secret", "--no-pdf"])
    assert status == 0, capsys.readouterr().err
    assert [p.name for p in (out / "students").iterdir()] == ["900001"]


def test_grade_takes_the_same_roster_options(tmp_path, capsys):
    args = ["grade", "worksheets/classic-221.toml", "--roster", str(ROSTERS / "bad-ambiguous-columns.csv"),
            "--answers", str(tmp_path / "none.csv"), "--out", str(tmp_path / "g"), "--secret", "s"]
    assert main(args) == 2
    assert "ambiguous columns" in capsys.readouterr().err
    # with the columns chosen the roster is read, and grade goes on to the (missing) answers file
    assert main(args + ["--id-column", "ID number", "--name-column", "First name", "--name-column", "Last name"]) == 2
    err = capsys.readouterr().err
    assert "none.csv" in err and "ambiguous" not in err, err


def test_an_empty_moodle_id_number_names_the_column_and_the_way_out(tmp_path):
    f = tmp_path / "participants.csv"
    f.write_text('"First name","Last name","ID number","Email address"\nAnn,Lee,,ann.lee@uni.example\n',
                 encoding="utf-8-sig")
    with pytest.raises(RosterError, match=r'participants.csv:2: ID number: empty "ID number"; .* --id-column'):
        load_roster(f)
    assert load_roster(f, id_column="Email address").students[0].id == "ann.lee@uni.example"


@pytest.mark.parametrize("cell_line", [1, 3])
def test_a_cell_past_csvs_field_limit_is_one_located_line(cell_line, tmp_path, capsys):
    rows = ["student_id,name", "s1,Ann", "s2,Bob"]
    rows[cell_line - 1] += "," + "x" * 200_000  # csv.Error: field larger than field limit (131072)
    f = tmp_path / "r.csv"
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["worksheets", "worksheets/classic-221.toml", "--roster", str(f), "--out", str(out),
                 "--no-pdf"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"derive: {f}:{cell_line}: not a readable CSV file") and err.count("\n") == 1, err
    assert not out.exists()
