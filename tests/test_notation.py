"""Notation profiles: every preset's sheets print its notation, and the mathematics stays the same.

The key's numbers come from tests/oracle.py's exact rounded chain, run on each student's
params.json; the printed matrices are read back from the .tex and compared with those params.
"""
from __future__ import annotations

import csv
import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import key_rows, require
from derive.cli import main
from derive.errors import SpecError
from derive.latex import symbol_latex
from derive.notation import DEFAULT, PRESETS, Notation
from derive.randomize import asked_names
from derive.spec import parse_spec
from derive.worked import SECTION_INTROS
from oracle import rounded_chain

SPEC = """title = "Notation {preset}"
[network]
layers = [2, 2, 1]
activations = ["sigmoid", "sigmoid"]
loss = "bce"
[data]
x = [1, 0]
y = [1]
[exercise]
learning_rate = 0.5
decimals = 4
{notation}
"""
ROSTER = "student_id,name\ns1,Ada Lovelace\ns2,Alan Turing\n"


def spec_text(preset: str = "", extra: str = "") -> str:
    notation = f'[notation]\npreset = "{preset}"\n{extra}' if preset else ("[notation]\n" + extra if extra else "")
    return SPEC.format(preset=preset or "default", notation=notation)


# --- the [notation] table --------------------------------------------------------------

def test_a_preset_with_keys_overriding_it():
    n = parse_spec(spec_text("ng", 'layer = "(l)"\nletters = ["v", "w"]\n')).notation
    assert (n.orientation, n.weights, n.layer, n.letters, n.preset) == ("column", "to-from", "(l)", ("v", "w"), "ng")
    assert parse_spec(spec_text()).notation == DEFAULT
    assert parse_spec(spec_text("", 'orientation = "row"\nweights = "from-to"\n')).notation == Notation("row", "from-to")


@pytest.mark.parametrize("extra,words", [
    ('orientaton = "row"\n', ['[notation].orientaton', "unknown key", 'did you mean "orientation"']),
    ('preset = "cs231"\n', ["[notation].preset", 'did you mean "cs231n"']),
    ('weights = "from_to"\n', ["[notation].weights", 'did you mean "from-to"']),
    ('layer = "none"\n', ["[notation].layer", '"none"', "2 layers"]),
    ('letters = ["v", "v"]\n', ["[notation].letters", "different letters"]),
    ('letters = ["v", "w", "u"]\n', ["[notation].letters", "2 different letters"]),
    ('letters = ["\\\\x"]\n', ["[notation].letters", "a letter"]),
    ('letters = ["b", "w"]\n', ["[notation].letters", '"b"']),
])
def test_bad_notation_is_one_located_line(extra, words):
    with pytest.raises(SpecError) as e:
        parse_spec(spec_text("", extra), "x.toml")
    line = str(e.value)
    assert "\n" not in line and line.startswith("x.toml:1"), line
    for w in words:
        assert w in line, line


# --- symbols, by name -------------------------------------------------------------------

@pytest.mark.parametrize("notation,name,expected", [
    (DEFAULT, "dW1_2_1", r"\frac{\partial L}{\partial W^{(1)}_{21}}"),
    (PRESETS["ng"], "dW1_2_1", r"\frac{\partial L}{\partial W^{[1]}_{21}}"),
    (PRESETS["ng"], "z1_2_s3", "z^{[1](3)}_{2}"),  # Ng's example mark, z^{[l](i)}
    (PRESETS["nielsen"], "W2_1_2", "w^{2}_{12}"),
    (PRESETS["d2l"], "dW1_2_1", r"\frac{\partial L}{\partial W^{(1)}_{12}}"),  # from unit 1 to unit 2
    (PRESETS["cs231n"], "new_W2_1_2", r"W^{\text{new}}_{2,21}"),
    (PRESETS["cs231n"], "delta1_2", r"\delta_{1,2}"),
    (PRESETS["pytorch"], "W1_2_1", "W^{(1)}_{21}"),  # nn.Linear's weight[j, i]: to j, from i
    (Notation(letters=("v", "w"), weights="from-to"), "dW1_2_1", r"\frac{\partial L}{\partial v_{12}}"),
    (Notation(letters=("v", "w")), "new_b2_1", r"b^{(2),\text{new}}_{1}"),
])
def test_a_name_prints_in_the_profile(notation, name, expected):
    assert symbol_latex(name, (), notation) == expected


def test_the_default_profile_writes_derives_own_introductions():
    """The profile's rules, under the default notation, are the section introductions printed
    today (whitespace aside): the two routes cannot drift apart."""
    squeeze = lambda t: re.sub(r"\s+", "", t)
    for section, text in SECTION_INTROS.items():
        if text is not None:
            assert squeeze(DEFAULT.intro(section, 2, True)) == squeeze(text), section


def test_formulas_prints_the_derivation_in_the_specs_notation(tmp_path, capsys):
    (tmp_path / "ng.toml").write_text(spec_text("ng"), encoding="utf-8")
    assert main(["formulas", str(tmp_path / "ng.toml"), "--latex"]) == 0
    out = capsys.readouterr().out
    assert r"z^{[l]} = W^{[l]} a^{[l-1]} + b^{[l]}" in out and "^{(l)}" not in out


# --- a class in each preset ---------------------------------------------------------------

def _build(tmp: Path, preset: str, pdf: bool) -> Path:
    (tmp / f"{preset}.toml").write_text(spec_text(preset), encoding="utf-8")
    (tmp / "roster.csv").write_text(ROSTER, encoding="utf-8")
    out = tmp / f"class-{preset}"
    args = ["worksheets", str(tmp / f"{preset}.toml"), "--roster", str(tmp / "roster.csv"),
            "--out", str(out), "--secret", "notation-test", "--weak-secret"]
    assert main(args + ([] if pdf else ["--no-pdf"])) == 0
    return out


@pytest.fixture(scope="module")
def classes(tmp_path_factory):
    """A 2-student class in each preset, compiled with real TeX (skipped without it, never in CI)."""
    for tool in ("latexmk", "pdftotext"):
        require(tool)
    tmp = tmp_path_factory.mktemp("notation")
    return tmp, {p: _build(tmp, p, pdf=True) for p in PRESETS}


def _params(out: Path, sid: str) -> dict:
    return json.loads((out / "students" / sid / "params.json").read_text(encoding="utf-8"))


def _oracle_key(doc: dict) -> dict:
    p, d = doc["params"], doc["data"]
    batch = lambda v: v if isinstance(v[0], list) else [v]  # one example is stored as a vector
    return rounded_chain([2, 2, 1], ["sigmoid", "sigmoid"], "bce", [p["W1"], p["W2"]], [p["b1"], p["b2"]],
                         batch(d["x"]), batch(d["y"]), 0.5, 4)


def test_the_key_is_the_same_mathematics_in_every_profile(classes):
    """Same draw, same key, in every preset: the oracle's rounded chain on each student's params."""
    _, built = classes
    first = {r["student_id"]: r for r in key_rows(built["ng"] / "answer-key.csv")}
    for preset, out in built.items():
        rows = {r["student_id"]: r for r in key_rows(out / "answer-key.csv")}
        assert rows == first, preset
        for sid, row in rows.items():
            oracle = _oracle_key(_params(out, sid))
            assert {n: str(v) for n, v in oracle.items()} == {n: row[n] for n in oracle}, (preset, sid)


def _printed_matrix(tex: str, symbol: str) -> list[list[float]]:
    """The rows of the given matrix printed after ``symbol &=`` on a sheet."""
    m = re.search(re.escape(symbol) + r" &= \\begin\{bmatrix\*\}\[r\] (.*?) \\end\{bmatrix\*\}", tex)
    assert m, symbol
    return [[float(v) for v in row.split("&")] for row in m[1].split(r"\\")]


@pytest.mark.parametrize("preset,symbol,transposed", [
    ("nielsen", "w^{1}", False), ("ng", "W^{[1]}", False), ("cs231n", "W_{1}", True),
    ("d2l", "W^{(1)}", True), ("pytorch", "W^{(1)}", False)])
def test_each_preset_prints_its_notation_and_shapes(classes, preset, symbol, transposed):
    _, built = classes
    out = built[preset]
    blank = (out / "students" / "s1" / "blank.tex").read_text(encoding="utf-8")
    W1 = _params(out, "s1")["params"]["W1"]  # derive's (n_l, n_{l-1}): row j, column i
    assert _printed_matrix(blank, symbol) == ([list(r) for r in zip(*W1)] if transposed else W1)
    row = PRESETS[preset].row
    x = _printed_matrix(blank, "x")
    assert x == ([[1.0, 0.0]] if row else [[1.0], [0.0]])
    assert r"\dvanswer{Box 1}" in blank and r"\dvanswer{z1_1}" not in blank
    intro = {"column": r"W^{[l]} a^{[l-1]}", "row": r"a^{(l-1)} W^{(l)}", "linear": r"a^{(l-1)} {W^{(l)}}^{\top}"}
    if preset in ("ng", "d2l", "pytorch"):
        assert intro[PRESETS[preset].orientation] in blank
    for variant in ("blank", "solved"):
        pdf = out / "students" / "s1" / f"{variant}.pdf"
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "Box 28" in text and "dW1_1_1" not in text, (preset, variant)


def test_boxes_are_numbered_in_the_answers_forms_order(classes):
    """Box k on the sheet is answers-form.md's box k and answers-template.csv's column "Box k: name"."""
    tmp, built = classes
    out = built["d2l"]
    spec = parse_spec((tmp / "d2l.toml").read_text(encoding="utf-8"))
    asked = asked_names(spec, 1)
    solved = (out / "students" / "s2" / "solved.tex").read_text(encoding="utf-8")
    boxes = [m[1] for line in solved.splitlines() if line.startswith(r"\dvitem")
             for m in [re.search(r"\\dvname\{Box (\d+)\}", line)] if m]
    assert boxes == [str(k) for k in range(1, len(asked) + 1)]
    with open(out / "answers-template.csv", encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader(f))
    assert [h for h in header if h.startswith("Box")] == [f"Box {k}: {n}" for k, n in enumerate(asked, 1)]
    form = (out / "answers-form.md").read_text(encoding="utf-8")
    assert "| 10 | `dW2_1_2` |" in form and "notation profile" in form


def _answers_from_key(out: Path, path: Path, change=None) -> None:
    """answers-template.csv filled in with the key's values (and ``change`` sid → {name: value})."""
    key = {r["student_id"]: r for r in key_rows(out / "answer-key.csv")}
    with open(out / "answers-template.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    names = [h.split(": ")[-1] for h in header]
    for row in rows[1:]:
        sid = row[0]
        for i, n in enumerate(names):
            if n in key[sid] and i > 1 and not header[i].startswith("sheet"):
                row[i] = ((change or {}).get(sid) or {}).get(n, key[sid][n])
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)


def _grade(tmp: Path, preset: str, answers: Path) -> dict:
    out = tmp / f"grades-{preset}-{answers.stem}"
    assert main(["grade", str(tmp / f"{preset}.toml"), "--roster", str(tmp / "roster.csv"), "--answers",
                 str(answers), "--class", str(tmp / f"class-{preset}"), "--out", str(out),
                 "--secret", "notation-test"]) == 0
    with open(out / "grades.csv", encoding="utf-8-sig") as f:
        return {r["student_id"]: r for r in csv.DictReader(f)}


@pytest.mark.parametrize("preset", list(PRESETS))
def test_a_class_answering_its_key_gets_full_marks(classes, preset):
    tmp, built = classes
    answers = tmp / f"answers-{preset}.csv"
    _answers_from_key(built[preset], answers)
    for sid, row in _grade(tmp, preset, answers).items():
        assert float(row["score"]) == float(row["max"]) == 28, (preset, sid)


def test_a_transposed_answer_is_named_so(classes):
    """A student who reads the row sheet's W⁽¹⁾ as derive's and writes an updated matrix transposed."""
    tmp, built = classes
    out = built["d2l"]
    doc = _params(out, "s1")
    W1, b1, x = doc["params"]["W1"], doc["params"]["b1"], doc["data"]["x"]
    key = {r["student_id"]: r for r in key_rows(out / "answer-key.csv")}["s1"]
    z12 = W1[0][1] * x[0] + W1[1][1] * x[1] + b1[1]  # W1_2_1 taken for W1_1_2: the transposed entry
    assert f"{z12:.4f}" != key["z1_2"]
    assert key["new_W1_2_1"] != key["new_W1_1_2"]
    change = {"s1": {"z1_2": f"{z12:.4f}", "new_W1_1_2": key["new_W1_2_1"]}}
    answers = tmp / "answers-transposed.csv"
    _answers_from_key(out, answers, change)
    grades = _grade(tmp, "d2l", answers)
    assert grades["s1"]["z1_2"] == "wrong" and grades["s1"]["new_W1_1_2"] == "wrong"
    feedback = (tmp / "grades-d2l-answers-transposed" / "feedback" / "s1.md").read_text(encoding="utf-8")
    lines = [l for l in feedback.splitlines() if "`z1_2`" in l or "`new_W1_1_2`" in l]
    assert len(lines) == 2 and all("read or written transposed" in l for l in lines), lines
    assert float(grades["s2"]["score"]) == 28
