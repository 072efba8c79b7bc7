"""The lab sections end to end: a class's sheets with a gradient check and training steps compile
blank and solved with real TeX, state ε and the places of L(θ ± ε), show the loss curve on the
solved sheet only, and a class graded from its own key scores full marks."""
import csv
from pathlib import Path

import pytest

from conftest import key_rows, pdf_text, require
from derive.cli import main
from derive.lab import LAB_SECTIONS, lab_graph, Lab
from derive.names import SECTION_KINDS
from derive.randomize import asked_names
from derive.spec import SECTIONS, load_spec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "derive" / "examples"

RANDOM_BATCH = """
title = "A random XOR lab"
[network]
layers = [2, 3, 1]
activations = ["tanh", "sigmoid"]
loss = "bce"
[data]
x = [[0, 0], [0, 1], [1, 0], [1, 1]]
y = [[0], [1], [1], [0]]
[exercise]
sections = ["loss", "backward", "gradcheck", "training"]
gradcheck = ["W1_3_2", "b2_1"]
epochs = 2
learning_rate = 1.0
decimals = 3
"""


def _class(tmp: Path, spec: Path, pdf: bool = True) -> Path:
    roster = tmp / "roster.csv"
    roster.write_text("student_id,name\na1,Ada Lovelace\nb2,Alan Turing\nc3,Grace Hopper\n")
    out = tmp / f"class-{spec.stem}"
    args = ["worksheets", str(spec), "--roster", str(roster), "--out", str(out), "--secret", "k", "--weak-secret"]
    assert main(args + ([] if pdf else ["--no-pdf"])) == 0
    return out



@pytest.fixture(scope="module")
def random_batch(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("lab")
    path = tmp / "random-batch.toml"
    path.write_text(RANDOM_BATCH)
    return path


@pytest.mark.parametrize("which", ["random-221-lab", "classic-221-gradcheck", "xor-221-training", "random-batch"])
def test_blank_and_solved_compile_and_state_the_check(which, random_batch, tmp_path):
    require("pdflatex")
    require("pdftotext")
    spec_path = random_batch if which == "random-batch" else EXAMPLES / f"{which}.toml"
    spec = load_spec(spec_path)
    out = _class(tmp_path, spec_path)
    from derive.lab import prepare
    from derive.spec import load_params_json
    for sid in ("a1", "b2", "c3"):
        folder = out / "students" / sid
        blank, solved = pdf_text(folder / "blank.pdf"), pdf_text(folder / "solved.pdf")
        blank_tex, solved_tex = (folder / "blank.tex").read_text(), (folder / "solved.tex").read_text()
        if "gradcheck" in spec.exercise.sections:
            params, data = load_params_json(folder / "params.json", spec)
            pr = prepare(spec.network, params, data, spec.exercise)
            eps = str(float(pr.eps))
            places = next(iter(pr.places.values()))
            for text in (blank, solved):
                assert f"ε = {eps}" in text, text[:2000]
                assert f"to {places} decimal places" in text
        if "training" in spec.exercise.sections:
            assert "\\polyline" in solved_tex and "\\polyline" not in blank_tex  # the curve: solved only
            assert f"t={spec.exercise.epochs}" in blank.replace(" ", "")  # the table's last column
        for row in key_rows(out / "answer-key.csv"):
            if row["student_id"] == sid:
                for n in asked_names(spec, spec.data.size):
                    if n.startswith(("loss_plus", "fd_", "loss_e", "relerr")):
                        assert row[n].replace("-", "−") in solved, (n, row[n])  # every lab answer is on the solved sheet
                    if n.startswith("loss_plus"):
                        assert row[n] not in blank_tex  # and none on the blank one


@pytest.mark.parametrize("which", ["random-221-lab", "xor-221-training", "random-batch"])
def test_a_class_graded_from_its_own_key_scores_full_marks(which, random_batch, tmp_path, capsys):
    spec_path = random_batch if which == "random-batch" else EXAMPLES / f"{which}.toml"
    out = _class(tmp_path, spec_path, pdf=False)
    spec = load_spec(spec_path)
    asked = asked_names(spec, spec.data.size)
    assert any(n.startswith("loss_e") for n in asked) or any(n.startswith("fd_") for n in asked)
    rows = key_rows(out / "answer-key.csv")
    answers = tmp_path / "answers.csv"
    with open(answers, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["student_id", *asked])
        w.writeheader()
        w.writerows({"student_id": r["student_id"], **{n: r[n] for n in asked}} for r in rows)
    roster = tmp_path / "roster.csv"
    assert main(["grade", str(spec_path), "--roster", str(roster), "--answers", str(answers),
                 "--out", str(tmp_path / "grades"), "--key", str(out / "answer-key.csv")]) == 0, capsys.readouterr().err
    with open(tmp_path / "grades" / "grades.csv", encoding="utf-8-sig") as f:
        grades = list(csv.DictReader(f))
    assert len(grades) == 3
    for g in grades:
        assert float(g["score"]) == float(g["max"]) == len(asked), g
        assert {g[n] for n in asked} == {"correct"}


def test_the_sections_are_known_everywhere():
    assert set(LAB_SECTIONS) <= set(SECTIONS) and set(LAB_SECTIONS) <= set(SECTION_KINDS)


def test_the_lab_graph_extends_the_exercise_graph_in_order():
    spec = parse_spec(RANDOM_BATCH, "x.toml")
    g = lab_graph(spec.network, spec.data.size, Lab.of(spec.exercise))
    seen = set(s.name for s in g.given)
    for q in g.quantities:  # every parent is computed before its child
        assert set(q.parents) <= seen, q
        seen.add(q.name)
    assert set(asked_names(spec, spec.data.size)) <= set(g.names)


def test_solve_prints_the_lab_answers_and_only_those_asked(capsys):
    import json
    assert main(["solve", str(EXAMPLES / "classic-221-gradcheck.toml"), "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert values["loss_plus_W1_1_1"].count(".") == 1 and len(values["loss_plus_W1_1_1"].split(".")[1]) == 7
    assert {"fd_W2_1_2", "relerr_b1_2"} <= set(values) and not any(n.startswith("loss_e") for n in values)


def test_the_manifest_records_each_students_step_and_places(tmp_path):
    import json
    out = _class(tmp_path, EXAMPLES / "random-221-lab.toml", pdf=False)
    students = json.loads((out / "manifest.json").read_text())["students"]
    assert [s["gradcheck"] for s in students] == [{"eps": "0.01", "places": 7}] * 3
    plain = _class(tmp_path, EXAMPLES / "random-221.toml", pdf=False)
    assert all("gradcheck" not in s for s in json.loads((plain / "manifest.json").read_text())["students"])
