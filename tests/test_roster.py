"""Rosters: scripts of every kind, BOM, and one-line errors with exit status 2."""
from pathlib import Path

import pytest

from derive.cli import main
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
    "bad-encoding-latin1.csv": (3, "not UTF-8"),
    "bad-unsafe-id.csv": (3, "names a folder"),
    "bad-no-students.csv": (2, "no students"),
    # an unclosed quote swallowed the students after it ("1 students", exit 0)
    "bad-unclosed-quote.csv": (3, "quote opened on this line is not closed"),
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
