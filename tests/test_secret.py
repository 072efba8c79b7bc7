"""The instructor's secret: weak ones refused, strong ones made, nothing guessable stored."""
import hashlib
import json
import re

import pytest

from conftest import key_rows
from derive.cli import main
from derive.secret import SCRYPT, matches, new_secret, secret_check, weakness

SPEC = "worksheets/random-221.toml"
ROSTER = "worksheets/roster-example.csv"
WEAK = ["demo", "s3cret", "password1234", "correcthorse", "aaaaaaaaaaaaaaaa", "abcdefghijklmnop",
        "CS101CS101CS101", "qwertyuiopasdf", "monkey123456", "Summer2026!!"]


@pytest.mark.parametrize("secret", WEAK)
def test_weak_secrets_are_named_weak(secret):
    assert weakness(secret)


def test_a_long_passphrase_is_judged_not_a_traceback():
    # zxcvbn 4.5 raises ValueError past 72 characters: a long secret (or a 100 MB secret file) crashed worksheets
    assert weakness("a" * 100) is not None  # a repeat is found however long
    assert weakness(new_secret() + "-" + new_secret() + "-" + new_secret()) is None


def test_made_secrets_are_strong_easy_to_type_and_different():
    made = [new_secret() for _ in range(20)]
    assert len(set(made)) == 20
    for s in made:
        assert re.fullmatch(r"([a-hjkmnp-z2-9]{5}-){4}[a-hjkmnp-z2-9]{5}", s), s  # no 0/o, 1/l/i
        assert weakness(s) is None


def test_a_guess_costs_a_64_mib_scrypt():
    """The cost is in the parameters (the seconds per guess are benchmarks/bench_secret.py's)."""
    assert SCRYPT["n"] * SCRYPT["r"] * 128 >= 64 * 2 ** 20


def test_the_check_value_is_salted_and_recognises_only_its_secret():
    a, b = secret_check("quartz-lemon-8-otter", "1234abcd"), secret_check("quartz-lemon-8-otter", "99990000")
    assert a["hash"] != b["hash"]  # another spec, another salt: no table serves two classes
    expected = hashlib.scrypt(b"quartz-lemon-8-otter", salt=b"derive-secret-check:1234abcd",
                              n=2 ** 16, r=8, p=1, maxmem=2 ** 27, dklen=32)[:12].hex()
    assert a["hash"] == expected
    assert matches("quartz-lemon-8-otter", a) and not matches("quartz-lemon-8-otteR", a)
    assert not matches("quartz-lemon-8-otter", {**a, "n": 2})  # weaker parameters are not trusted


def test_worksheets_refuse_a_weak_secret_in_one_line_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "class"
    assert main(["worksheets", SPEC, "--roster", ROSTER, "--out", str(out), "--secret", "demo", "--no-pdf"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--secret" in err and "derive secret" in err and "--weak-secret" in err
    assert not out.exists()
    assert main(["worksheets", SPEC, "--roster", ROSTER, "--out", str(out), "--secret", "demo", "--no-pdf",
                 "--weak-secret"]) == 0


def test_secret_file_round_trip_and_instructor_only_files(tmp_path, capsys):
    """derive secret > F; worksheets and grade read F; the secret is in no file; key and manifest say whose they are."""
    assert main(["secret"]) == 0
    secret = capsys.readouterr().out.strip()
    f = tmp_path / "class.secret"
    f.write_text(secret + "\n", encoding="utf-8")
    out = tmp_path / "class"
    assert main(["worksheets", SPEC, "--roster", ROSTER, "--out", str(out), "--secret-file", str(f), "--no-pdf"]) == 0
    for path in out.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(encoding="utf-8", errors="replace"), path
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert "not to be shared with students" in manifest["notice"]
    assert "not to be shared with students" in json.loads((out / "answer-key.json").read_text())["notice"]
    rows = key_rows(out / "answer-key.csv")
    answers = tmp_path / "answers.csv"
    answers.write_text("student_id,z1_1\n" + "".join(f"{r['student_id']},{r['z1_1']}\n" for r in rows))
    assert main(["grade", SPEC, "--roster", ROSTER, "--answers", str(answers), "--out", str(tmp_path / "g"),
                 "--class", str(out), "--secret-file", str(f)]) == 0
    f.write_text("another-secret-entirely-77\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["grade", SPEC, "--roster", ROSTER, "--answers", str(answers), "--out", str(tmp_path / "g2"),
                 "--class", str(out), "--secret-file", str(f)]) == 2
    assert "secret does not match" in capsys.readouterr().err


def test_an_empty_or_missing_secret_file_is_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path in (empty, tmp_path / "missing"):
        assert main(["worksheets", SPEC, "--roster", ROSTER, "--out", str(tmp_path / "o"),
                     "--secret-file", str(path), "--no-pdf"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(path) in err
