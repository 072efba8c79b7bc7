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


# --- the feedback a student reads, in their sheet's notation ------------------------------

FEEDBACK_SPEC = """title = "Feedback {preset}"
[network]
layers = [2, 2, 2]
activations = ["sigmoid", "sigmoid"]
loss = "bce"
[data]
x = [1, 0]
y = [1, 0]
[params]
W1 = [[0.5, -0.3], [0.8, 0.2]]
b1 = [0.1, -0.1]
W2 = [[0.7, -0.5], [0.3, 0.9]]
b2 = [0.2, -0.4]
[exercise]
learning_rate = 0.5
decimals = 4
{notation}
"""
W2 = [[0.7, -0.5], [0.3, 0.9]]

# What the two named mistakes' sentences write, at layer 2, per profile: the symbols are the README's
# table of presets (nielsen w^l_jk with a bare l; ng [l] marks; cs231n W_{1,12}, the layer first;
# d2l (l) marks with w_ij from i to j; pytorch W⁽ˡ⁾_ji) and the gradient entry ∂L/∂W_ji = δ_j a_i in
# each one's index order, z = Wa + b with a·W for row vectors (cs231n, d2l) and a Wᵀ (pytorch).
FEEDBACK_SYMBOLS = {  # preset: (the gradient entry and its swapped form, the unit's z with its bias, renamed)
    "": ("∂L/∂W⁽²⁾_ji = δ⁽²⁾_j · a⁽¹⁾_i", "not δ⁽²⁾_i · a⁽¹⁾_j", "z⁽²⁾_j = Σ_i W⁽²⁾_ji·a⁽¹⁾_i + b⁽²⁾_j", []),
    "nielsen": ("∂L/∂w²_ji = δ²_j · a¹_i", "not δ²_i · a¹_j", "z²_j = Σ_i w²_ji·a¹_i + b²_j", ["⁽", "W"]),
    "ng": ("∂L/∂W^[2]_ji = δ^[2]_j · a^[1]_i", "not δ^[2]_i · a^[1]_j", "z^[2]_j = Σ_i W^[2]_ji·a^[1]_i + b^[2]_j",
           ["⁽"]),
    "cs231n": ("∂L/∂W_{2,ij} = a_{1,i} · δ_{2,j}", "not a_{1,j} · δ_{2,i}", "z_{2,j} = Σ_i a_{1,i}·W_{2,ij} + b_{2,j}",
               ["⁽", "_ji"]),
    "d2l": ("∂L/∂W⁽²⁾_ij = a⁽¹⁾_i · δ⁽²⁾_j", "not a⁽¹⁾_j · δ⁽²⁾_i", "z⁽²⁾_j = Σ_i a⁽¹⁾_i·W⁽²⁾_ij + b⁽²⁾_j", ["_ji"]),
    "pytorch": ("∂L/∂W⁽²⁾_ji = δ⁽²⁾_j · a⁽¹⁾_i", "not δ⁽²⁾_i · a⁽¹⁾_j", "z⁽²⁾_j = Σ_i a⁽¹⁾_i·W⁽²⁾_ji + b⁽²⁾_j",
                ["W⁽²⁾_ji·a"]),
}


def _feedback_lines(tmp: Path, preset: str, pdf: bool = False) -> tuple[dict, Path]:
    """A student with two named mistakes on a 2-2-2 sheet in ``preset``: z2_1 without its bias and
    dW2_1_2 with its indices swapped; their Markdown feedback's notes by answer name (unescaped)."""
    name = preset or "default"
    spec = tmp / f"fb-{name}.toml"
    notation = f'[notation]\npreset = "{preset}"\n' if preset else ""
    spec.write_text(FEEDBACK_SPEC.format(preset=name, notation=notation), encoding="utf-8")
    (tmp / "roster.csv").write_text("student_id,name\ns1,Ada Lovelace\n", encoding="utf-8")
    out = tmp / f"fb-class-{name}"
    assert main(["worksheets", str(spec), "--roster", str(tmp / "roster.csv"), "--out", str(out),
                 "--secret", "fb", "--weak-secret", "--no-pdf"]) == 0
    key = rounded_chain([2, 2, 2], ["sigmoid", "sigmoid"], "bce", [[[0.5, -0.3], [0.8, 0.2]], W2],
                        [[0.1, -0.1], [0.2, -0.4]], [[1, 0]], [[1, 0]], 0.5, 4)
    answers = {n: str(v) for n, v in key.items()}
    # no bias: z2_1 = 0.7·a1_1 − 0.5·a1_2 from the sheet's own (the oracle's) a⁽¹⁾, rounded to 4 places
    z = W2[0][0] * float(key["a1_1"]) + W2[0][1] * float(key["a1_2"])
    assert abs(z - float(key["z2_1"])) > 0.1  # b2_1 = 0.2 is missing from it
    answers["z2_1"] = f"{z:.4f}"
    # swapped indices: ∂L/∂W_12 of layer 2 given the value of ∂L/∂W_21 (δ2_2·a1_1 for δ2_1·a1_2)
    assert key["dW2_1_2"] != key["dW2_2_1"]
    answers["dW2_1_2"] = str(key["dW2_2_1"])
    path = tmp / f"fb-answers-{name}.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["student_id", *answers])
        w.writeheader()
        w.writerow({"student_id": "s1", **answers})
    grades = tmp / f"fb-grades-{name}"
    assert main(["grade", str(spec), "--roster", str(tmp / "roster.csv"), "--answers", str(path), "--class", str(out),
                 "--out", str(grades), "--secret", "fb"] + (["--feedback-pdf"] if pdf else [])) == 0
    md = (grades / "feedback" / "s1.md").read_text(encoding="utf-8")
    notes = {}
    for line in md.splitlines():  # | `name` | given | expected | status | marks | note |
        if m := re.match(r"\| `(\w+)` \|.*\| (\w+) \| [\d./]+ \| (.*) \|$", line):
            notes[m[1]] = (m[2], re.sub(r"\\(.)", r"\1", m[3]))  # Markdown's escapes undone: what a reader sees
    return notes, grades


@pytest.mark.parametrize("preset", list(FEEDBACK_SYMBOLS))
def test_named_mistakes_are_explained_in_the_sheets_notation(tmp_path, preset):
    entry, swapped, z, renamed = FEEDBACK_SYMBOLS[preset]
    notes, _ = _feedback_lines(tmp_path, preset)  # the answers keep derive's names: dW2_1_2, z2_1
    (status, gradient), (bias_status, bias) = notes["dW2_1_2"], notes["z2_1"]
    assert status == bias_status == "wrong"
    assert gradient.startswith("The indices of the weight gradient are swapped: ") and "Expected" in gradient
    assert entry in gradient and swapped in gradient, gradient
    assert bias.startswith("The bias was left out: ") and z in bias, bias
    for symbol in renamed:
        assert symbol not in gradient and symbol not in bias, (symbol, gradient, bias)


@pytest.mark.parametrize("preset,marks,not_set", [
    ("nielsen", ["w2 _ji", "b2 _j"], ["w2_ji", "W"]),   # w², raised: pdftotext parts it from _ji
    ("ng", ["W[2] _ji", "b[2] _j"], ["^", "(2)"]),        # W^[2] raised, not a literal caret
])
def test_the_feedback_pdf_sets_the_profiles_layer_marks_as_superscripts(tmp_path, preset, marks, not_set):
    """Nielsen's bare w² and Ng's W^[2] are superscripts in the PDF, not a full-size 2 or a literal ^."""
    require("pdflatex")
    require("pdftotext")
    from conftest import pdf_text
    _, grades = _feedback_lines(tmp_path, preset, pdf=True)
    text = pdf_text(grades / "feedback" / "s1.pdf", layout=False)
    reasons = text[text.index("The bias was left out"):]
    for mark in marks:
        assert mark in reasons, (mark, reasons)
    for mark in not_set:
        assert mark not in reasons.replace("dW2", ""), (mark, reasons)


def test_per_layer_letters_and_the_first_layer_in_a_mistakes_sentence():
    """letters = ["v", "w"], weights from-to (README: v_ij, w_jk, no layer mark): layer 1's weight is
    v_ij, its inputs x_i; the δ and b keep their (l) marks."""
    from derive.mistakes import explanation
    n = Notation(weights="from-to", letters=("v", "w"))
    assert ("∂L/∂v_ij = x_i · δ⁽¹⁾_j (δ of the unit the weight leads to, x of the unit it comes from), "
            "not x_j · δ⁽¹⁾_i.") in explanation("transposed_gradient", "dW1_1_2", n)
    assert "z⁽²⁾_j = Σ_i w_ij·a⁽¹⁾_i + b⁽²⁾_j" in explanation("no_bias", "z2_1_s3", n)  # one example's z alike
    assert explanation("log10", "loss", n) == "The loss was computed with log base 10; the loss uses the natural logarithm ln."
