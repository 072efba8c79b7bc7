"""The Gradescope autograder: the zip derive gradescope builds, run in a folder laid out like Gradescope's."""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import require
from derive.cli import main
from test_gradebooks import oracle_answers

ROOT = Path(__file__).resolve().parent.parent
SECRET = "gradescope-test-secret-7Qx2vLp9"
POINTS = "points = { backward = 2, loss = 3 }\n"
FULL = 6 + 3 + 12 * 2 + 9  # forward, loss, backward, update


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A class of three with points, its autograder zip, and each student's hand-worked answers."""
    tmp = tmp_path_factory.mktemp("gradescope")
    spec = tmp / "points.toml"
    text = (ROOT / "worksheets" / "random-221.toml").read_text(encoding="utf-8")
    spec.write_text(text.replace("decimals = 4\n", "decimals = 4\n" + POINTS), encoding="utf-8")
    roster = tmp / "roster.csv"
    roster.write_text("student_id,name\nada@uni.example,Ada\nbo,Bo\ncy,Cy\n", encoding="utf-8")
    assert main(["worksheets", str(spec), "--roster", str(roster), "--out", str(tmp / "class"),
                 "--secret", SECRET, "--weak-secret", "--no-pdf"]) == 0
    secret = tmp / "class.secret"
    secret.write_text(SECRET + "\n", encoding="utf-8")
    assert main(["gradescope", str(spec), "--class", str(tmp / "class"), "--secret-file", str(secret),
                 "--out", str(tmp / "autograder.zip")]) == 0
    keys = {}
    for sid in ("ada@uni.example", "bo", "cy"):
        doc = json.loads((tmp / "class" / "students" / sid / "params.json").read_text())
        keys[sid] = oracle_answers(doc)
    return tmp, spec, keys


def gradescope_folder(tmp: Path, name: str, zip_path: Path) -> Path:
    """A folder laid out as Gradescope's /autograder: source/ (the zip), submission/, results/."""
    root = tmp / name
    (root / "submission").mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(root / "source")
    (root / "run_autograder").write_bytes((root / "source" / "run_autograder").read_bytes())
    return root


def run_autograder(root: Path) -> dict:
    env = {**os.environ, "DERIVE_AUTOGRADER_ROOT": str(root), "DERIVE_AUTOGRADER_PYTHON": sys.executable,
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    check_schema(results)
    return results


def check_schema(results: dict) -> None:
    """Gradescope's results.json: a total score, an output, and tests of name, score ≤ max_score, output."""
    assert isinstance(results["score"], (int, float)) and isinstance(results["output"], str)
    assert isinstance(results["tests"], list)
    for t in results["tests"]:
        assert isinstance(t["name"], str) and isinstance(t["output"], str) and t["output"]
        assert isinstance(t["score"], (int, float)) and isinstance(t["max_score"], (int, float))
        assert 0 <= t["score"] <= t["max_score"]
    if results["tests"]:
        assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))


def write_answers(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_the_zip_holds_setup_run_a_wheel_and_the_class_but_not_the_secret(built):
    tmp, _, _ = built
    with zipfile.ZipFile(tmp / "autograder.zip") as z:
        names = set(z.namelist())
        assert {"setup.sh", "run_autograder", "class/spec.toml", "class/manifest.json"} <= names
        wheel = next(n for n in names if n.endswith("-py3-none-any.whl"))
        for script in ("setup.sh", "run_autograder"):
            assert (z.getinfo(script).external_attr >> 16) & 0o111  # executable
        blobs = [z.read(n) for n in names]
        with zipfile.ZipFile(z.open(wheel)) as w:
            assert "derive/grade.py" in w.namelist() and "derive/templates/feedback.tex" in w.namelist()
            blobs += [w.read(n) for n in w.namelist()]
    assert not any(SECRET.encode() in b for b in blobs)


def test_the_zip_is_the_same_each_time(built, tmp_path):
    tmp, spec, _ = built
    again = tmp_path / "again.zip"
    assert main(["gradescope", str(spec), "--class", str(tmp / "class"), "--secret", SECRET, "--out", str(again)]) == 0
    assert again.read_bytes() == (tmp / "autograder.zip").read_bytes()


def test_run_autograder_grades_a_submitted_answers_csv(built):
    tmp, _, keys = built
    root = gradescope_folder(tmp, "one", tmp / "autograder.zip")
    answers = dict(keys["bo"])
    answers["loss"] = "9.9999"  # nothing on the sheet follows from the loss: 3 points lost
    answers["delta2_1"] = ""    # missing: 2 points lost; everything after it uses δ2_1 …
    write_answers(root / "submission" / "answers.csv", [{"student_id": "bo", **answers}])
    results = run_autograder(root)
    tests = {t["name"]: t for t in results["tests"]}
    assert len(tests) == 28
    assert tests["loss"]["score"] == 0 and tests["loss"]["max_score"] == 3
    assert re.fullmatch(rf"Your value: 9\.9999\. Key: {keys['bo']['loss']}\. Wrong: .*", tests["loss"]["output"])
    assert tests["delta2_1"]["score"] == 0 and "missing" in tests["delta2_1"]["output"].lower()
    assert tests["z1_1"]["score"] == tests["z1_1"]["max_score"] == 1
    # … but the student's later answers are the key's, right against the key
    assert tests["dW2_1_1"]["score"] == 2
    assert results["score"] == FULL - 3 - 2
    assert "bo" in results["output"]


def test_a_sheet_without_an_id_is_matched_by_the_gradescope_users_email(built):
    tmp, _, keys = built
    root = gradescope_folder(tmp, "email", tmp / "autograder.zip")
    (root / "submission" / "mine.csv").write_text(
        "".join(f"{n},{v}\n" for n, v in keys["ada@uni.example"].items()), encoding="utf-8")
    (root / "submission_metadata.json").write_text(json.dumps(
        {"users": [{"email": "Ada@uni.example", "id": 7, "name": "Ada"}]}), encoding="utf-8")
    results = run_autograder(root)
    assert results["score"] == FULL and len(results["tests"]) == 28


def test_a_sheet_code_names_the_student(built):
    tmp, _, keys = built
    code = next(s["sheet_code"] for s in json.loads((tmp / "class" / "manifest.json").read_text())["students"]
                if s["student_id"] == "cy")
    root = gradescope_folder(tmp, "code", tmp / "autograder.zip")
    write_answers(root / "submission" / "answers.csv", [{"sheet_code": code, **keys["cy"]}])
    results = run_autograder(root)
    assert results["score"] == FULL and "Graded as cy" in results["output"]


def test_a_file_naming_a_classmate_is_graded_against_the_submitters_own_sheet(built):
    """Bo uploads Cy's answers under Cy's id: Gradescope says Bo submitted, so Bo's sheet is the key."""
    tmp, _, keys = built
    root = gradescope_folder(tmp, "copied", tmp / "autograder.zip")
    write_answers(root / "submission" / "answers.csv", [{"student_id": "cy", **keys["cy"]}])
    (root / "submission_metadata.json").write_text(json.dumps(
        {"users": [{"email": "bo@elsewhere.example", "sid": "bo", "name": "Bo"}]}), encoding="utf-8")
    results = run_autograder(root)
    assert "graded against your own sheet" in results["output"] and "Graded as bo" in results["output"]
    assert results["score"] < FULL  # Cy's values are not Bo's answers (follow-through still earns some)


def test_metadata_nested_past_jsons_limit_is_no_metadata(built):
    tmp, _, keys = built
    root = gradescope_folder(tmp, "deep-metadata", tmp / "autograder.zip")
    write_answers(root / "submission" / "answers.csv", [{"student_id": "cy", **keys["cy"]}])
    # json's RecursionError was "The autograder failed (RecursionError)", and nothing graded
    (root / "submission_metadata.json").write_text('{"users": ' + "[" * 100000 + "]" * 100000 + "}",
                                                   encoding="utf-8")
    results = run_autograder(root)
    assert results["score"] == FULL and "Graded as cy" in results["output"]


@pytest.mark.parametrize("case,files,words", [
    ("nothing", {}, "No answers file"),
    ("two", {"a.csv": "student_id,z1_1\nbo,1\n", "b.csv": "student_id,z1_1\nbo,1\n"}, "More than one"),
    ("stranger", {"a.csv": "student_id,z1_1\nzed,1\n"}, "not on the roster"),
    ("binary", {"a.csv": b"\x00\xff\xfe\x00garbage"}, "Could not"),
    ("no id", {"a.csv": "z1_1,0.5\n"}, "whose submission"),
    ("pdf", {"sheet.pdf": b"%PDF-1.4 not really"}, "sheet.pdf"),
])
def test_bad_submissions_get_score_0_and_a_reason(built, case, files, words):
    tmp, _, _ = built
    root = gradescope_folder(tmp, f"bad-{case}", tmp / "autograder.zip")
    for name, content in files.items():
        target = root / "submission" / name
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    results = run_autograder(root)
    assert results["score"] == 0 and results["tests"] == []
    assert words in results["output"]


def test_a_broken_install_still_writes_results_json(built, tmp_path):
    tmp, _, _ = built
    root = gradescope_folder(tmp_path, "broken", tmp / "autograder.zip")
    env = {**os.environ, "DERIVE_AUTOGRADER_ROOT": str(root), "DERIVE_AUTOGRADER_PYTHON": "/bin/false"}
    done = subprocess.run(["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True)
    assert done.returncode == 0
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    check_schema(results)
    assert results["score"] == 0 and "could not run derive" in results["output"]


def test_setup_sh_installs_derive_from_the_wheel_in_the_zip_offline(built, tmp_path):
    """setup.sh with pip kept offline (no index, the machine's packages for the dependencies)."""
    tmp, _, keys = built
    root = gradescope_folder(tmp_path, "setup", tmp / "autograder.zip")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(DERIVE_AUTOGRADER_ROOT=str(root), DERIVE_VENV_OPTIONS="--system-site-packages",
               DERIVE_PIP_OPTIONS="--no-index --no-deps", DERIVE_SETUP_PYTHON=sys.executable)
    done = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    write_answers(root / "submission" / "answers.csv", [{"student_id": "cy", **keys["cy"]}])
    subprocess.run(["bash", str(root / "run_autograder")], env=env, check=True, timeout=300, cwd=tmp_path)
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    check_schema(results)
    assert results["score"] == FULL
    where = subprocess.run([str(root / "venv" / "bin" / "python"), "-c", "import derive; print(derive.__file__)"],
                           env=env, capture_output=True, text=True, cwd=tmp_path).stdout
    assert where.startswith(str(root / "venv"))  # graded by the wheel's derive, not the checkout's


@pytest.mark.parametrize("extra,words", [
    (["--secret", "another-secret-entirely-9"], "the secret does not match"),
    (["--secret", SECRET, "--out", "x.txt"], "expected a .zip"),
])
def test_cli_errors_are_one_line_exit_2(built, capsys, tmp_path, extra, words):
    tmp, spec, _ = built
    args = ["gradescope", str(spec), "--class", str(tmp / "class"), "--out", str(tmp_path / "a.zip"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err and err.startswith("derive: ")
    assert not (tmp_path / "a.zip").exists()


def test_run_autograder_grades_a_filled_pdf_sheet(tmp_path):
    # the route a student on Gradescope takes with the fillable sheet: type into blank.pdf, upload it
    import fillpdf
    require("pdflatex")
    cls, roster = fillpdf.build(tmp_path)
    spec = fillpdf.SPEC
    secret = tmp_path / "class.secret"
    secret.write_text("s\n", encoding="utf-8")
    assert main(["gradescope", str(spec), "--class", str(cls), "--secret-file", str(secret),
                 "--out", str(tmp_path / "autograder.zip")]) == 0
    sid = fillpdf.STUDENTS[1][0]
    root = gradescope_folder(tmp_path, "pdf", tmp_path / "autograder.zip")
    # the answers by an independent route (the oracle's rounded chain on the student's params.json)
    key = oracle_answers(json.loads((cls / "students" / sid / "params.json").read_text()))
    (root / "submission" / "blank.pdf").write_bytes(fillpdf.filled(cls / "students" / sid / "blank.pdf", key))
    results = run_autograder(root)
    check_schema(results)
    assert len(results["tests"]) == len(key) and results["score"] == len(key), results["output"]
