"""Acceptance: every line of a solved sheet, recomputed by hand from the numbers it shows, gives its box.

A solved sheet prints each answer as ``formula = substituted = box``.  Here
the ``substituted`` LaTeX is evaluated by an evaluator that does not import
derive (tests/latex_eval.py: exact fractions, 60-digit transcendentals),
rounded half away from zero to the sheet's decimals, and compared with the
box.  That is the sheet's rule, "round every answer to ``decimals`` places
(halves away from zero) and carry the rounded values", checked line by line
from the outside.  (The ``rounding = "exact"`` option keeps full precision
between steps, so its lines are not expected to recompute; it is not checked.)

Sources of lines: every shipped spec (several students for the specs that
draw values), a spread of random architectures, and the .tex files the CLI
writes, read back with a brace-matching reader.
"""
from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from archs import random_network, random_problem
from latex_eval import Undefined, evaluate_latex, round_half_up
from derive.functions import ACTIVATIONS, LOSSES
from derive.lab import exercise_key
from derive.numeric import given_values, key
from derive.randomize import draw_student, student_seed
from derive.spec import Data, Network, Params, Student, load_spec
from derive.symbolic import build_graph
from derive.worked import sheet_context, worked_line

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "worksheets").glob("*.toml"))
STUDENTS = ["s1001", "s1002", "s1003", "s1004"]  # draws checked per spec that draws values


def recomputes(substituted: str, box, decimals: int) -> bool:
    """The check itself: the shown numbers, recomputed and rounded, give the box."""
    return round_half_up(evaluate_latex(substituted), decimals) == Decimal(str(box))


def mismatches(items, decimals: int, where: str) -> tuple[list[str], int]:
    """(descriptions of the items that do not recompute, number of items checked)."""
    bad, checked = [], 0
    for item in items:
        try:
            got = round_half_up(evaluate_latex(item["substituted"]), decimals)
        except Undefined:
            continue  # no value by hand (ln 0): not a line the rule can be checked on
        checked += 1
        if got != Decimal(str(item["value"])):
            bad.append(f"{where} {item['answer']}: {item['substituted']} = {got}, box {item['value']}")
    return bad, checked


# --- a. every shipped spec, through sheet_context ---------------------------------------

def shipped_contexts(path: Path):
    spec = load_spec(path)
    for sid in (["fixed"] if spec.is_fixed() else STUDENTS):
        draw = draw_student(spec, student_seed("demo", sid))
        if spec.trace is not None:  # a computation-graph trace: its own context, the same worked lines
            from derive.trace import spec_key, trace_context
            yield sid, spec, trace_context(spec, Student(sid, "Test Student", 2), draw.params,
                                           spec_key(spec, draw.params))
            continue
        k = exercise_key(spec, draw.params, draw.data)  # the class's key: lab sections too
        yield sid, spec, sheet_context(spec, Student(sid, "Test Student", 2), draw.params, draw.data, k)


def lines(ctx) -> list[dict]:
    """The items that are worked lines: not the training table's cells (tests/test_epochs.py checks
    them against NumPy) nor L(θ ± ε), a loss at a shifted parameter (tests/test_gradient_check.py)."""
    return [it for section in ctx["sections"] if section["name"] != "training" for it in section["items"]
            if not it["answer"].startswith(("loss_plus_", "loss_minus_"))]


LINED = [p for p in SHIPPED if set(load_spec(p).exercise.sections) != {"training"}]


@pytest.mark.parametrize("path", LINED, ids=lambda p: p.stem)
def test_every_line_of_a_shipped_spec_recomputes_to_its_box(path):
    spec = load_spec(path)
    if spec.exercise.rounding != "carry":
        pytest.skip('rounding = "exact" carries full precision: its lines are not meant to recompute')
    bad, checked = [], 0
    for sid, spec, ctx in shipped_contexts(path):
        items = lines(ctx)
        assert items, f"{path.name}: the sheet has no items"
        b, n = mismatches(items, ctx["decimals"], f"{path.name}[{sid}]")
        bad += b
        checked += n
        assert n == len(items), f"{path.name}[{sid}]: {len(items) - n} lines have no value"
    assert not bad, "\n".join(bad)
    assert checked >= 17


# --- a. random architectures, every name of the graph -----------------------------------

N_ARCHS = 45
DECIMALS = (2, 3, 4, 5, 6)


def random_cases(seed: int = 20240611, n: int = N_ARCHS):
    rng = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        net = random_network(rng, max_depth=3, max_width=3)
        params, data, *_ = random_problem(rng, net)
        lr = float(rng.choice([0.1, 0.5, 1.0, 0.25]))
        cases.append((net, params, data, lr, DECIMALS[i % len(DECIMALS)]))
    return cases


CASES = random_cases()


def case_id(case) -> str:
    net, _, data, _, decimals = case
    return (f"{'-'.join(map(str, net.layers))}-{'-'.join(net.activations)}-{net.loss}"
            f"{'' if net.bias else '-nobias'}-n{data.size}-d{decimals}")


def test_random_architectures_cover_every_activation_and_loss():
    assert len(CASES) >= 40
    assert all(max(net.layers) <= 3 and net.depth <= 3 for net, *_ in CASES)
    assert {a for net, *_ in CASES for a in net.activations} == set(ACTIVATIONS)
    assert {net.loss for net, *_ in CASES} == set(LOSSES)
    assert {net.bias for net, *_ in CASES} == {True, False}
    assert {data.size for _, _, data, _, _ in CASES} == {1, 2, 3}


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_every_line_of_a_random_architecture_recomputes_to_its_box(case):
    net, params, data, lr, decimals = case
    graph = build_graph(net, data.size)
    k = key(net, params, data, lr, decimals)
    given = given_values(graph, params, data, lr)
    items = [worked_line(graph, name, k, given) for name in graph.names]
    bad, checked = mismatches(items, decimals, case_id(case))
    assert not bad, "\n".join(bad)
    assert checked == len(items), f"{len(items) - checked} of {len(items)} lines have no value"


# --- b. the numbers read back from the .tex the CLI writes ------------------------------

def _strip_comments(tex: str) -> str:
    return re.sub(r"(?<!\\)%.*", "", tex)


def _group(tex: str, i: int) -> tuple[str, int]:
    """The brace group opening at ``tex[i]``: its contents and the index after it."""
    if tex[i] != "{":
        raise ValueError(f"expected '{{' at {i}: {tex[i:i + 30]!r}")
    depth, j = 0, i
    while j < len(tex):
        c = tex[j]
        if c == "\\":
            j += 2  # \{ \} \\ do not count
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return tex[i + 1:j], j + 1
        j += 1
    raise ValueError(f"unbalanced braces from {i}: {tex[i:i + 60]!r}")


def tex_items(tex: str) -> list[dict]:
    """Every ``\\dvitem{symbol}{formula \\dveq substituted \\dveq \\dvvalue{v}}{label}``."""
    tex = _strip_comments(tex)
    out = []
    for m in re.finditer(r"\\dvitem(?=\{)", tex):
        symbol, i = _group(tex, m.end())
        rhs, i = _group(tex, i)
        label, _ = _group(tex, i)
        parts = rhs.split(r" \dveq ")
        assert len(parts) == 3, f"not formula = substituted = box: {rhs!r}"
        box = re.fullmatch(r"\\dvvalue(\{.*\})", parts[2].strip(), re.S)
        assert box, f"the box is not \\dvvalue{{…}}: {parts[2]!r}"
        value, end = _group(box.group(1), 0)
        assert end == len(box.group(1))
        out.append({"answer": label, "formula": parts[0], "substituted": parts[1], "value": value})
    return out


def test_solved_tex_numbers_recompute(tmp_path):
    from derive.cli import main
    roster = ROOT / "worksheets" / "roster-example.csv"
    out = tmp_path / "class"
    status = main(["worksheets", str(ROOT / "worksheets" / "random-221.toml"), "--roster", str(roster),
                   "--out", str(out), "--secret", "demo", "--weak-secret", "--no-pdf"])
    assert status == 0
    decimals = load_spec(ROOT / "worksheets" / "random-221.toml").exercise.decimals
    sheets = sorted((out / "students").glob("*/solved.tex"))
    n_students = len(roster.read_text(encoding="utf-8").strip().splitlines()) - 1
    assert len(sheets) == n_students == 6
    bad = []
    for sheet in sheets:
        items = tex_items(sheet.read_text(encoding="utf-8"))
        assert len(items) == 28, f"{sheet}: {len(items)} items"
        for item in items:
            got = round_half_up(evaluate_latex(item["substituted"]), decimals)
            # the box as printed: the same digits, exactly ``decimals`` places, no -0
            if f"{got:f}" != item["value"]:
                bad.append(f"{sheet.parent.name} {item['answer']}: {item['substituted']} = {got}, "
                           f"box {item['value']}")
    assert not bad, "\n".join(bad)


def test_tex_reader_matches_nested_braces():
    tex = (r"% \dvitem{symbol}{rhs}{right}" "\n"
           r"\dvitem{\frac{\partial L}{\partial b^{(1)}_{1}}}{\delta^{(1)}_{1} \dveq "
           r"\frac{\left(0.4881 - 1\right)^{2}}{2} \dveq \dvvalue{0.1310}}{\dvname{db1\_1}}")
    [item] = tex_items(tex)
    assert item["substituted"] == r"\frac{\left(0.4881 - 1\right)^{2}}{2}"
    assert item["value"] == "0.1310"
    assert item["answer"] == r"\dvname{db1\_1}"


# --- c. the checker can fail, and the evaluator on hand-computed values -------------------

def classic_items() -> dict[str, dict]:
    (_, _, ctx), = shipped_contexts(ROOT / "worksheets" / "classic-221.toml")
    return {it["answer"]: it for section in ctx["sections"] for it in section["items"]}


def test_one_changed_digit_is_caught():
    items = classic_items()
    z = items["z1_1"]  # W1 = [[0.5, -0.3], …], x = [1, 0], b1 = [0.1, …]
    assert z["substituted"] == r"0.5 \cdot 1 + (-0.3) \cdot 0 + 0.1"
    assert recomputes(z["substituted"], z["value"], 4)
    assert not recomputes(r"0.5 \cdot 1 + (-0.3) \cdot 0 + 0.2", z["value"], 4)
    a = items["a1_1"]
    changed = a["substituted"].replace("0.6000", "0.7000")
    assert changed != a["substituted"] and not recomputes(changed, a["value"], 4)
    # and a changed box
    box = Decimal(str(items["loss"]["value"])) + Decimal("0.0001")
    assert not recomputes(items["loss"]["substituted"], box, 4)


def test_most_single_digit_changes_are_caught():
    """Changing one digit of a shown number changes the box of most lines (not of ReLU′(x) ones)."""
    items = list(classic_items().values())
    caught = 0
    for item in items:
        text = item["substituted"]
        digit = max(i for i, c in enumerate(text) if c.isdigit())  # the last digit shown
        changed = text[:digit] + str((int(text[digit]) + 5) % 10) + text[digit + 1:]
        caught += not recomputes(changed, item["value"], 4)
    assert caught >= 0.8 * len(items), f"only {caught} of {len(items)} changes caught"


@pytest.mark.parametrize("text, value", [
    (r"\sigma\left(0\right)", Fraction(1, 2)),
    (r"(-0.3) \cdot 0.4875 + 0.3 \cdot 0.3543 + (-0.7)", Fraction("-0.73996")),
    (r"\frac{\left(0.4881 - 1\right)^{2}}{2}", Fraction("0.5119") ** 2 / 2),
    (r"\left|{(-0.0994) - 0.3}\right|", Fraction("0.3994")),
    (r"\operatorname{sign}{\left((-0.0994) - 0.3 \right)}", Fraction(-1)),
    (r"- 1 \cdot \ln{\left(1 \right)} - \left(1 - 1\right) \cdot \ln{\left(0.5 \right)}", Fraction(0)),
    (r"\operatorname{ReLU}\left(-0.6000\right)", Fraction(0)),
    (r"\operatorname{ReLU}'\left(0\right)", Fraction(0)),
    (r"\operatorname{LReLU}\left(-0.6000\right)", Fraction("-0.006")),
    (r"\operatorname{LReLU}'\left(-0.6000\right)", Fraction(1, 100)),
    (r"0.5 \cdot (-1.0000) \cdot \operatorname{LReLU}'\left(0.2000\right)", Fraction(-1, 2)),
    (r"0.5 \cdot (-0.1279) \cdot \left(1 - 0.1974^{2}\right)", Fraction("-0.06395") * (1 - Fraction("0.1974") ** 2)),
    (r"\left(1 - (-0.5370)^{2}\right)", 1 - Fraction("0.5370") ** 2),
    (r"- 0.5^{2}", Fraction(-1, 4)),
    (r"- 2 \cdot 0.3 + 2 \cdot (-0.0400)", Fraction("-0.68")),
    (r"2 \left(0.25 - 1\right)", Fraction(-3, 2)),
    (r"\frac{e^{0.1}}{e^{0.1} + e^{0.1}}", Fraction(1, 2)),
    (r"\tanh{\left(0 \right)} + e^{0}", Fraction(1)),
    (r"\frac{0.1156 + 0.2286}{2}", Fraction("0.1721")),
])
def test_evaluate_latex_by_hand(text, value):
    assert evaluate_latex(text) == value


def test_evaluate_latex_transcendentals_to_many_digits():
    import math
    close = lambda text, x: abs(evaluate_latex(text) - Fraction(x)) < Fraction(1, 10**14)
    assert close(r"\sigma\left(0.2000\right)", 1 / (1 + math.exp(-0.2)))
    assert close(r"\tanh{\left(-0.6000 \right)}", math.tanh(-0.6))
    assert close(r"\ln{\left(0.5099 \right)}", math.log(0.5099))
    assert close(r"\operatorname{softplus}\left(-0.3\right)", math.log1p(math.exp(-0.3)))
    assert close(r"\operatorname{logsumexp}\left(0.1, -0.2, 0.3\right)",
                 math.log(math.exp(0.1) + math.exp(-0.2) + math.exp(0.3)))
    assert close(r"\tanh^{2}{\left(0.5 \right)}", math.tanh(0.5) ** 2)
    # 60 digits, not 16: e^{x} · e^{-x} = 1 to far beyond float precision
    assert abs(evaluate_latex(r"e^{0.7} \cdot e^{-0.7}") - 1) < Fraction(1, 10**55)
    assert round_half_up(evaluate_latex(r"\sigma\left(0.2000\right)"), 4) == Decimal("0.5498")


def test_round_half_up():
    assert str(round_half_up(Fraction("-0.125"), 2)) == "-0.13"
    assert str(round_half_up(Fraction("0.125"), 2)) == "0.13"
    assert str(round_half_up(Fraction("-0.73996"), 4)) == "-0.7400"
    assert str(round_half_up(Fraction("-0.00004"), 4)) == "0.0000"  # never -0.0000
    assert f"{round_half_up(Fraction(0), 8):f}" == "0.00000000"    # (str of a Decimal would say 0E-8)
    assert f"{round_half_up(Fraction('-0.000000004'), 8):f}" == "0.00000000"
    assert str(round_half_up(Fraction("-0.02325"), 4)) == "-0.0233"
    assert str(round_half_up(Fraction("0.0232499999"), 4)) == "0.0232"
    assert str(round_half_up(Fraction(5, 2), 0)) == "3"
    assert str(round_half_up(Fraction(-5, 2), 0)) == "-3"
    assert str(round_half_up(Fraction("12.34565"), 4)) == "12.3457"


@pytest.mark.parametrize("text", [
    r"1e-05 \cdot 1 + 0",        # a float's repr, not a LaTeX number
    r"(-2.0E-7) \cdot 1",         # a Decimal's str
    r"0E-7",
    r"x_{1} + 1",
    r"\sqrt[3]{8}",                # a cube root (\sqrt{u} is a trace's square root)
    r"\operatorname{foo}\left(1\right)",
    r"0.5 \cdot",
    r"\left(0.5",
    r"0.5 ]",
    r"\sigma 0.5",
    r"e",
    r"0.5^{0.5}",
    r"",
])
def test_evaluate_latex_rejects_unknown_forms(text):
    with pytest.raises(ValueError):
        evaluate_latex(text)


def test_evaluate_latex_undefined():
    with pytest.raises(Undefined):
        evaluate_latex(r"\ln{\left(1 - 1.0000 \right)}")
    with pytest.raises(Undefined):
        evaluate_latex(r"\frac{1}{0.5 - 0.5}")


# --- bugs found by this test: lines that do not recompute (fail until derive is fixed) -----

def _lines(net, params, data, decimals, lr=0.5):
    graph = build_graph(net, data.size)
    k = key(net, params, data, lr, decimals)
    given = given_values(graph, params, data, lr)
    return {n: worked_line(graph, n, k, given) for n in graph.names}


def test_long_given_values_are_shown_as_used():
    net = Network((2, 1, 1), ("sigmoid", "sigmoid"), "half_mse", True)
    params = Params((((0.12344999999, 0.8),), ((0.3,),)), ((0.0,), (0.0,)))
    data = Data(((1.0, 0.0),), ((0.5,),))
    z = _lines(net, params, data, 4)["z1_1"]
    assert recomputes(z["substituted"], z["value"], 4), f"{z['substituted']} vs box {z['value']}"


def test_seven_decimals_print_plain_numbers():
    """No 0E-7 or 2e-07 in a line at 7 decimals (the evaluator rejects them), and the box as the sheet prints it."""
    net = Network((2, 2, 1), ("relu", "linear"), "mse", True)
    params = Params((((0.5, -0.3), (-0.8, 0.2)), ((0.7, -0.5),)), ((0.1, -0.1), (0.2,)))
    data = Data(((1.0, 0.5),), ((0.5,),))
    bad = []
    for name, item in _lines(net, params, data, 7).items():
        try:
            ok = recomputes(item["substituted"], item["value"], 7)
            ok = ok and f"{item['value']:f}" == f"{round_half_up(Fraction(str(item['value'])), 7):f}"
        except ValueError:
            ok = False
        if not ok:
            bad.append(f"{name}: {item['substituted']} = box {item['value']}")
    assert not bad, "\n".join(bad)


def test_a_batch_sheet_asks_each_answer_once_with_the_example_beside_the_layer():
    """XOR: the per-example losses are boxed once (in the forward pass), the sample index is
    one superscript with the layer, z^{(1)[2]}_{1}, and y = 0 makes y·ln(ŷ) print as 0."""
    spec = load_spec(ROOT / "worksheets" / "xor-241.toml")
    _, _, ctx = next(shipped_contexts(ROOT / "worksheets" / "xor-241.toml"))
    boxes = [i["answer"] for s in ctx["sections"] for i in s["items"]]
    assert len(boxes) == len(set(boxes))
    assert [i["answer"] for s in ctx["sections"] if s["name"] == "loss" for i in s["items"]] == ["loss"]
    items = {i["answer"]: i for s in ctx["sections"] for i in s["items"]}
    assert items["z1_1_s2"]["symbol"] == "z^{(1)[2]}_{1}"
    assert "x^{[2]}_{1}" in items["z1_1_s2"]["formula"] and "}}^{[" not in items["z1_1_s2"]["formula"]
    for s in range(1, spec.data.size + 1):
        line = items[f"loss_s{s}"]["substituted"]
        assert r"0 \cdot \ln" not in line and r"\left(1 - 1\right) \cdot" not in line, line
