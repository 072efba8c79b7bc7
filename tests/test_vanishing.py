"""The vanishing-gradient section: its bound, its |δ| profile and plot, and the shipped chains.

Every expected δ comes from oracle.rounded_chain (the textbook's formulas in
fractions, without derive); the ratio column is recomputed here from the
oracle's values.
"""
import csv
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

import oracle
from conftest import key_rows, pdf_text, require
from derive.cli import main
from derive.numeric import key
from derive.spec import load_spec
from derive.notation import PRESETS
from derive.vanishing import delta_profile, intro, profile_plot

ROOT = Path(__file__).resolve().parent.parent
SIGMOID = ROOT / "worksheets" / "vanishing-sigmoid-chain.toml"
RELU = ROOT / "worksheets" / "vanishing-relu-chain.toml"
CHAINS = [SIGMOID, RELU]


def oracle_deltas(spec) -> dict[int, Decimal]:
    """δ⁽ˡ⁾₁ of the spec's chain by the oracle's rounded chain, by layer."""
    net, ex, p = spec.network, spec.exercise, spec.fixed_params()
    boxes = oracle.rounded_chain(net.layers, net.activations, net.loss, p.W, p.b, spec.data.x, spec.data.y,
                                 ex.learning_rate, ex.decimals, ex.rounding)
    return {l: boxes[f"delta{l}_1"] for l in range(1, net.depth + 1)}


def spec_key(spec):
    ex = spec.exercise
    return key(spec.network, spec.fixed_params(), spec.data, ex.learning_rate, ex.decimals, ex.rounding)


def ratio(a: Decimal, b: Decimal, decimals: int) -> Decimal:
    """|a| / |b| rounded half away from zero, by the oracle's own rounding."""
    return oracle._boxed(oracle.round_half_away(Fraction(abs(a)) / Fraction(abs(b)), decimals), decimals)


# ---------------------------------------------------------------- the bound

def test_the_sigmoid_chain_states_the_quarter_bound():
    text = intro(("sigmoid",) * 5)
    assert r"\le \tfrac14" in text and text.count(r"\tfrac14") == 2  # σ′ ≤ ¼, so |δ⁽ˡ⁾| ≤ ¼|W||δ⁽ˡ⁺¹⁾|
    assert r"\delta^{(l)}_{1} = W^{(l+1)}_{11}\,\delta^{(l+1)}_{1}" in text


def test_a_relu_chain_passes_delta_unchanged_through_active_units():
    text = intro(("relu", "relu", "linear"))
    assert r"\operatorname{ReLU}'(z) \in \{0, 1\}" in text and "z^{(l)}_{1} > 0" in text
    assert r"\tfrac14" not in text
    assert "g'(z) = 1" not in text  # the linear output's δ comes from the loss: no bound for it


# How each preset writes the chain's δ⁽ˡ⁾₁, W⁽ˡ⁺¹⁾₁₁, δ⁽ˡ⁺¹⁾₁ and z⁽ˡ⁾₁, from the README's table of
# presets: nielsen w^l with a bare l; ng [l] marks; cs231n the layer as the first subscript, W_{1,12};
# d2l and pytorch (l) marks like derive's own (W₁₁ reads the same to-from and from-to).
CHAIN_SYMBOLS = {
    "nielsen": (r"\delta^{l}_{1}", r"w^{l+1}_{11}", r"\delta^{l+1}_{1}", r"z^{l}_{1}"),
    "ng": (r"\delta^{[l]}_{1}", r"W^{[l+1]}_{11}", r"\delta^{[l+1]}_{1}", r"z^{[l]}_{1}"),
    "cs231n": (r"\delta_{l,1}", r"W_{l+1,11}", r"\delta_{l+1,1}", r"z_{l,1}"),
    "d2l": (r"\delta^{(l)}_{1}", r"W^{(l+1)}_{11}", r"\delta^{(l+1)}_{1}", r"z^{(l)}_{1}"),
    "pytorch": (r"\delta^{(l)}_{1}", r"W^{(l+1)}_{11}", r"\delta^{(l+1)}_{1}", r"z^{(l)}_{1}"),
}


@pytest.mark.parametrize("preset", list(CHAIN_SYMBOLS))
def test_the_intro_is_written_in_the_specs_notation(preset):
    delta, W, above, z = CHAIN_SYMBOLS[preset]
    text = intro(("sigmoid", "relu", "linear"), PRESETS[preset])
    assert rf"{delta} = {W}\,{above}\,g_l'\bigl({z}\bigr)" in text  # the recursion
    assert rf"\bigl|{delta}\bigr| \le \tfrac14\,\bigl|{W}\bigr|\,\bigl|{above}\bigr|" in text  # σ′ ≤ ¼
    assert rf"{z} > 0 \;\Rightarrow\; \bigl|{delta}\bigr| = \bigl|{W}\bigr|" in text  # an active ReLU


def test_per_layer_letters_write_the_intro_layer_by_layer():
    """letters = ["u", "v", "w"]: the letter names the layer, so there is no weight of a layer l."""
    from derive.notation import Notation
    text = intro(("sigmoid", "relu", "linear"), Notation(letters=("u", "v", "w")))
    assert r"\delta^{(1)}_{1} = v_{11}\,\delta^{(2)}_{1}\,g_1'" in text   # W⁽²⁾ is v
    assert r"\delta^{(2)}_{1} = w_{11}\,\delta^{(3)}_{1}\,g_2'" in text   # W⁽³⁾ is w
    assert r"\bigl|\delta^{(1)}_{1}\bigr| \le \tfrac14\,\bigl|v_{11}\bigr|" in text
    assert r"z^{(2)}_{1} > 0" in text and "W" not in text and "(l" not in text


# ---------------------------------------------------------------- the profile

@pytest.mark.parametrize("path", CHAINS, ids=lambda p: p.stem)
def test_the_profile_is_the_oracles_deltas_at_the_sheets_precision(path):
    spec = load_spec(path)
    want = oracle_deltas(spec)
    rows = delta_profile(spec_key(spec), spec.network.depth)
    assert [r["layer"] for r in rows] == list(range(1, spec.network.depth + 1))
    for r in rows:
        l = r["layer"]
        assert r["size"] == abs(want[l]), l
        expected = None if l == spec.network.depth else ratio(want[l], want[l + 1], spec.exercise.decimals)
        assert r["ratio"] == expected, l


def test_the_sigmoid_chains_delta_shrinks_layer_by_layer_within_the_bound():
    spec = load_spec(SIGMOID)
    want = oracle_deltas(spec)
    W = spec.fixed_params().W
    for l in range(1, spec.network.depth):
        assert abs(want[l]) < abs(want[l + 1]), l
        # σ′ ≤ ¼: |δ⁽ˡ⁾| ≤ ¼ |W⁽ˡ⁺¹⁾₁₁| |δ⁽ˡ⁺¹⁾| (up to the rounding of one box)
        assert abs(want[l]) <= Decimal(abs(W[l][0][0])) * abs(want[l + 1]) / 4 + Decimal("1e-5"), l
    assert abs(want[1]) < abs(want[5]) / 100  # the first layer's δ has all but vanished


def test_the_relu_chains_delta_explodes_by_the_weights_alone():
    spec = load_spec(RELU)
    want = oracle_deltas(spec)
    W = spec.fixed_params().W
    for l in range(1, spec.network.depth):
        assert abs(want[l]) > abs(want[l + 1]), l
        assert float(want[l]) == pytest.approx(W[l][0][0] * float(want[l + 1]), abs=1e-4), l


def test_the_plot_is_log_scale_and_a_zero_delta_breaks_the_line():
    rows = [{"layer": 1, "size": Decimal("0.001"), "ratio": None},
            {"layer": 2, "size": Decimal("0"), "ratio": None},
            {"layer": 3, "size": Decimal("0.01"), "ratio": None},
            {"layer": 4, "size": Decimal("0.1"), "ratio": None}]
    plot = profile_plot(rows)
    assert [t["exponent"] for t in plot["yticks"]] == [-3, -2, -1]
    ys = {p["layer"]: float(p["y"]) for p in plot["points"]}
    assert set(ys) == {1, 3, 4}  # log 0 has no point
    assert ys[1] == 0.0 and ys[4] == float(plot["height"])
    assert ys[3] == pytest.approx(float(plot["height"]) / 2)  # one decade of two
    assert len(plot["segments"]) == 1  # only 3 → 4: layers 1 and 3 are not neighbours


# ---------------------------------------------------------------- the sheets


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Both shipped chains, blank and solved, as real PDFs."""
    require("pdflatex")
    tmp = tmp_path_factory.mktemp("chains")
    roster = tmp / "roster.csv"
    roster.write_text("student_id,name\na1,Ada Lovelace\n", encoding="utf-8")
    outs = {}
    for path in CHAINS:
        out = tmp / path.stem
        assert main(["worksheets", str(path), "--roster", str(roster), "--out", str(out),
                     "--secret", "k", "--weak-secret"]) == 0
        outs[path.stem] = out
    return tmp, roster, outs


@pytest.mark.tex
@pytest.mark.parametrize("path", CHAINS, ids=lambda p: p.stem)
def test_the_solved_sheets_table_is_the_oracles_deltas(built, path):
    require("pdftotext")
    spec = load_spec(path)
    want = oracle_deltas(spec)
    d = spec.exercise.decimals
    sheet = built[2][path.stem] / "students" / "a1"
    text = pdf_text(sheet / "solved.pdf")
    table = {int(m[1]): (Decimal(m[2]), m[3]) for m in
             re.finditer(rf"(?m)^\s*(\d)\s+(\d+\.\d{{{d}}})\s+(\d+\.\d{{{d}}}|–)", text)}  # the plot's ticks may follow
    assert sorted(table) == list(range(1, spec.network.depth + 1)), text
    for l, (size, shown_ratio) in table.items():
        assert size == abs(want[l]), l
        if l < spec.network.depth:
            assert Decimal(shown_ratio) == ratio(want[l], want[l + 1], d), l
    sizes = [table[l][0] for l in sorted(table)]
    if path == SIGMOID:
        assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)  # |δ| grows towards the output
    blank = (sheet / "blank.tex").read_text(encoding="utf-8")
    assert r"\le \tfrac14" in blank or path != SIGMOID  # the bound is on the student's sheet
    assert "0.00421" not in pdf_text(sheet / "blank.pdf")  # the table is the key's, not the student's


@pytest.mark.tex
def test_a_class_graded_from_its_own_key_gets_full_marks(built):
    tmp, roster, outs = built
    for path in CHAINS:
        rows = key_rows(outs[path.stem] / "answer-key.csv")
        answers = tmp / f"{path.stem}-answers.csv"
        # the sheet asks forward, loss, δ, dW, db (no update): 2L + 1 + 3L answers for a chain
        names = [c for c in rows[0] if re.fullmatch(r"(z|a|delta|dW|db)\d.*|loss", c)]
        assert len(names) == 5 * load_spec(path).network.depth + 1
        with open(answers, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["student_id", *names], extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        out = tmp / f"{path.stem}-grades"
        assert main(["grade", str(path), "--roster", str(roster), "--answers", str(answers),
                     "--out", str(out), "--key", str(outs[path.stem] / "answer-key.csv")]) == 0
        with open(out / "grades.csv", encoding="utf-8-sig") as f:
            (row,) = list(csv.DictReader(f))
        assert float(row["score"]) == float(row["max"]) == len(names), row


def _drawn(path: Path, tmp: Path) -> Path:
    """The chain with its [params] removed: every student's weights drawn from [random]."""
    text = re.sub(r"(?ms)^\[params\]\n.*?(?=^\[)", "", path.read_text(encoding="utf-8"))
    out = tmp / f"drawn-{path.name}"
    out.write_text(text, encoding="utf-8")
    return out


@pytest.mark.parametrize("path", CHAINS, ids=lambda p: p.stem)
def test_drawn_chains_profile_the_oracles_deltas(path, tmp_path):
    from derive.randomize import draw_student
    spec = load_spec(_drawn(path, tmp_path))
    assert not spec.is_fixed()
    net, ex = spec.network, spec.exercise
    for seed in (1, 2, 3):
        d = draw_student(spec, seed)
        boxes = oracle.rounded_chain(net.layers, net.activations, net.loss, d.params.W, d.params.b,
                                     d.data.x, d.data.y, ex.learning_rate, ex.decimals, ex.rounding)
        k = key(net, d.params, d.data, ex.learning_rate, ex.decimals, ex.rounding)
        assert [r["size"] for r in delta_profile(k, net.depth)] == \
            [abs(boxes[f"delta{l}_1"]) for l in range(1, net.depth + 1)], seed


@pytest.mark.tex
def test_a_drawn_chain_class_compiles_blank_and_solved(tmp_path):
    require("pdflatex")
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\na1,Ada Lovelace\nb2,Alan Turing\n", encoding="utf-8")
    for path in CHAINS:
        out = tmp_path / path.stem
        assert main(["worksheets", str(_drawn(path, tmp_path)), "--roster", str(roster), "--out", str(out),
                     "--secret", "k", "--weak-secret"]) == 0
        for sid in ("a1", "b2"):
            solved = (out / "students" / sid / "solved.tex").read_text(encoding="utf-8")
            assert r"\begin{picture}" in solved and solved.count(r"\circle*") == 5  # every |δ| plotted
            for v in ("blank", "solved"):
                assert (out / "students" / sid / f"{v}.pdf").stat().st_size > 1000


# What pdftotext reads of each preset's vanishing intro (blank sheet) and |δ| table (solved sheet):
# the marks it writes, and derive's marks it renames, none of which may be left (README's table).
PDF_MARKS = {  # preset: (in the intro, in the table, not anywhere in either)
    "nielsen": (["w11", "l+1"], ["l+1"], ["(l)", "(l+1)", "W"]),   # w^{l+1}_{11}: a bare l, a lower-case w
    "ng": (["[l]", "[l+1]"], ["[l]", "[l+1]"], ["(l)", "(l+1)"]),
    "cs231n": (["δl,1", "Wl+1,11", "δl+1,1"], ["δl,1", "δl+1,1"], ["(l)", "(l+1)", "[l]"]),
    "d2l": (["(l)", "(l+1)"], ["(l)", "(l+1)"], []),               # renames nothing a chain prints
    "pytorch": (["(l)", "(l+1)"], ["(l)", "(l+1)"], []),
}


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    """The sigmoid chain in every preset, blank and solved, as real PDFs."""
    require("pdflatex")
    require("pdftotext")
    tmp = tmp_path_factory.mktemp("profiled")
    roster = tmp / "roster.csv"
    roster.write_text("student_id,name\na1,Ada Lovelace\n", encoding="utf-8")
    text = SIGMOID.read_text(encoding="utf-8")
    outs = {}
    for preset in PDF_MARKS:
        spec = tmp / f"{preset}.toml"
        spec.write_text(text.replace("[exercise]", f'[notation]\npreset = "{preset}"\n\n[exercise]'), encoding="utf-8")
        outs[preset] = tmp / preset
        assert main(["worksheets", str(spec), "--roster", str(roster), "--out", str(outs[preset]),
                     "--secret", "k", "--weak-secret"]) == 0
    return outs


def _between(text: str, start: str, end: str) -> str:
    assert start in text, text
    part = text[text.index(start) + len(start):]
    return part[:part.index(end)]


@pytest.mark.tex
@pytest.mark.parametrize("preset", list(PDF_MARKS))
def test_the_vanishing_section_prints_the_presets_notation(profiled, preset):
    in_intro, in_table, renamed = PDF_MARKS[preset]
    sheet = profiled[preset] / "students" / "a1"
    intro_text = _between(pdf_text(sheet / "blank.pdf", layout=False), "Vanishing and exploding gradients", "Box ")
    table_text = _between(pdf_text(sheet / "solved.pdf", layout=False), "layer by layer, from the values above",
                          "Backward pass")
    for mark in in_intro:
        assert mark in intro_text, (preset, mark, intro_text)
    for mark in in_table:
        assert mark in table_text, (preset, mark, table_text)
    for mark in renamed:
        assert mark not in intro_text and mark not in table_text, (preset, mark, intro_text, table_text)
    assert "σ ′ (z) = σ(z)" in intro_text  # the bound itself is the same in every notation
