"""The computation-graph trace: atoms, the key against hand, SymPy and PyTorch, sheets and grading."""
import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import oracle
from conftest import pdf_text, require
from latex_eval import evaluate_latex, round_half_up
from derive.cli import main
from derive.errors import SpecError
from derive.grade import Marking, Status, Tolerance, grade_problem
from derive.numeric import Undefined
from derive.spec import Student, load_spec, parse_spec
from derive.trace import (OPERATIONS, ExpressionError, Values, build_trace, draw_spec, operation,
                          spec_trace, trace_context, trace_key, trace_problem)

ROOT = Path(__file__).resolve().parent.parent
SIGMOID = ROOT / "worksheets" / "graph-sigmoid.toml"
SQUARE = ROOT / "worksheets" / "graph-square.toml"
SHIPPED = sorted((ROOT / "worksheets").glob("graph-*.toml"))

# By hand, rounding each node to 4 places and carrying it (the sheet's rule), w = 2, x = −1, b = 0.5:
#   v1 = 2·(−1) = −2,  v2 = −2 + 0.5 = −1.5,  v3 = 1.5,  v4 = e^1.5 = 4.481689… → 4.4817,
#   v5 = 1/(1 + 4.4817) = 0.182425… → 0.1824;  ∂v5/∂v4 = −1/5.4817² = −0.033279… → −0.0333,
#   ∂L/∂v4 = −0.0333,  ∂L/∂v3 = −0.0333 · 4.4817 = −0.149241… → −0.1492,  ∂L/∂v2 = 0.1492 = ∂L/∂v1,
#   ∂L/∂w = 0.1492 · (−1),  ∂L/∂x = 0.1492 · 2,  ∂L/∂b = 0.1492 · 1.
SIGMOID_BY_HAND = {
    "v1": "-2.0000", "v2": "-1.5000", "v3": "1.5000", "v4": "4.4817", "v5": "0.1824",
    "local1_w": "-1.0000", "local1_x": "2.0000", "local2_v1": "1.0000", "local2_b": "1.0000",
    "local3": "-1.0000", "local4": "4.4817", "local5": "-0.0333",
    "grad_v5": "1.0000", "grad_v4": "-0.0333", "grad_v3": "-0.1492", "grad_v2": "0.1492", "grad_v1": "0.1492",
    "grad_w": "-0.1492", "grad_x": "0.2984", "grad_b": "0.1492",
}
# L = (w·x + b − y)² at w = 2, x = 1, b = 0.5, y = 0: z = 2.5, L = 6.25, ∂L/∂v3 = 2·2.5 = 5, and the
# lecture's PyTorch snippet (z = w*x + b; loss = z**2; loss.backward()) prints w.grad = 5.
SQUARE_BY_HAND = {
    "v1": "2.0000", "v2": "2.5000", "v3": "2.5000", "v4": "6.2500",
    "local1_w": "1.0000", "local1_x": "2.0000", "local2_v1": "1.0000", "local2_b": "1.0000",
    "local3_v2": "1.0000", "local3_y": "-1.0000", "local4": "5.0000",
    "grad_v4": "1.0000", "grad_v3": "5.0000", "grad_v2": "5.0000", "grad_v1": "5.0000",
    "grad_w": "5.0000", "grad_x": "10.0000", "grad_b": "5.0000", "grad_y": "-5.0000",
}

w, x, b, y = sp.symbols("w x b y", real=True)
# the same expressions written directly in SymPy, not through derive's parser
SIGMOID_SYMPY = 1 / (1 + sp.exp(-(w * x + b)))
SQUARE_SYMPY = (w * x + b - y) ** 2


def key_of(path):
    spec = load_spec(path)
    values = Values(spec.trace.values)
    return spec_trace(spec), values, trace_key(spec_trace(spec), values, spec.exercise.decimals)


# --- atoms ---------------------------------------------------------------------------------

def test_the_sigmoid_is_the_lectures_five_atoms():
    t = build_trace("1/(1 + exp(-(w*x + b)))")
    assert [(a.name, a.kind, a.operands) for a in t.atoms] == [
        ("v1", "mul", ("w", "x")), ("v2", "add", ("v1", "b")), ("v3", "neg", ("v2",)),
        ("v4", "exp", ("v3",)), ("v5", "inv1p", ("v4",))]
    assert t.symbols == ("w", "x", "b")


def test_the_square_is_four_atoms_with_a_subtraction():
    t = build_trace("(w*x + b - y)^2")
    assert [a.kind for a in t.atoms] == ["mul", "add", "sub", "pow"]
    assert t.atoms[-1].exponent == 2


@pytest.mark.parametrize("kind", sorted(OPERATIONS) + ["pow2", "pow3", "pow-1"])
def test_every_local_derivative_is_the_derivative_of_its_forward_rule(kind):
    """Each table row's local rule, with the atom's own value put in, equals SymPy's diff of its forward rule."""
    n = int(kind[3:]) if kind.startswith("pow") else None
    op = operation("pow" if n else kind, n)
    args = sp.symbols(f"a0:{len(op.locals)}", positive=True)
    out = op.forward(*args)
    for a, local in zip(args, op.locals):
        got = local(sp.Symbol("o"), *args).subs(sp.Symbol("o"), out)
        want = sp.diff(out.doit(), a)
        assert sp.simplify(got.doit().rewrite(sp.exp) - want.rewrite(sp.exp)) == 0, (kind, a, got, want)


# --- the key: hand, SymPy's diff, PyTorch -------------------------------------------------

@pytest.mark.parametrize("path, hand", [(SIGMOID, SIGMOID_BY_HAND), (SQUARE, SQUARE_BY_HAND)], ids=["sigmoid", "square"])
def test_the_shipped_examples_match_the_hand_computation(path, hand):
    _, _, key = key_of(path)
    assert {n: key.printed(n) for n in key} == hand


@pytest.mark.parametrize("path, expr", [(SIGMOID, SIGMOID_SYMPY), (SQUARE, SQUARE_SYMPY)], ids=["sigmoid", "square"])
def test_the_gradients_are_sympys_diff_of_the_whole_expression(path, expr):
    t, values, _ = key_of(path)
    exact = trace_key(t, values, 4, "exact")  # full precision carried: only the last rounding differs
    at = {sp.Symbol(k, real=True): sp.Rational(str(v)) for k, v in values.values}
    for s in t.symbols:
        want = sp.diff(expr, sp.Symbol(s, real=True)).subs(at)
        assert abs(float(exact.unrounded[f"grad_{s}"]) - float(want)) < 1e-12, s
    assert abs(float(exact.unrounded[t.output]) - float(expr.subs(at))) < 1e-12


def test_the_lectures_pytorch_snippet_gives_w_grad_5():
    if oracle.torch is None:
        pytest.skip("torch not installed")
    torch = oracle.torch
    tw, tx, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (2.0, 1.0, 0.5))
    z = tw * tx + tb
    loss = z ** 2
    loss.backward()
    _, _, key = key_of(SQUARE)
    assert float(tw.grad) == 5.0 == float(key["grad_w"])
    assert (float(tx.grad), float(tb.grad)) == (float(key["grad_x"]), float(key["grad_b"]))


def test_torch_autograd_agrees_on_the_sigmoid():
    if oracle.torch is None:
        pytest.skip("torch not installed")
    torch = oracle.torch
    tw, tx, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (2.0, -1.0, 0.5))
    (1 / (1 + torch.exp(-(tw * tx + tb)))).backward()
    t, values, _ = key_of(SIGMOID)
    exact = trace_key(t, values, 4, "exact")
    for s, g in (("w", tw.grad), ("x", tx.grad), ("b", tb.grad)):
        assert abs(float(exact.unrounded[f"grad_{s}"]) - float(g)) < 1e-12


# random expressions, written twice by the test itself: as text for derive and directly in SymPy
_UNARY = [("exp({})", sp.exp), ("tanh({})", sp.tanh), ("sigma({})", lambda u: 1 / (1 + sp.exp(-u))),
          ("-({})", lambda u: -u), ("({})^2", lambda u: u ** 2), ("ln(1 + ({})^2)", lambda u: sp.log(1 + u ** 2)),
          ("sqrt(1 + ({})^2)", lambda u: sp.sqrt(1 + u ** 2)), ("relu({})", lambda u: sp.Max(0, u))]
_BINARY = [("({}) + ({})", lambda p, q: p + q), ("({}) - ({})", lambda p, q: p - q),
           ("({}) * ({})", lambda p, q: p * q), ("({}) / (2 + ({})^2)", lambda p, q: p / (2 + q ** 2))]
NAMES = ("w", "x", "b")


def random_expression(rng, depth: int):
    if depth == 0:
        s = NAMES[rng.integers(len(NAMES))]
        return s, sp.Symbol(s, real=True)
    if rng.random() < 0.4:
        text, f = _UNARY[rng.integers(len(_UNARY))]
        inner, e = random_expression(rng, depth - 1)
        return text.format(inner), f(e)
    text, f = _BINARY[rng.integers(len(_BINARY))]
    (p, ep), (q, eq) = random_expression(rng, depth - 1), random_expression(rng, depth - 1)
    return text.format(p, q), f(ep, eq)


def random_cases(n=30, seed=8):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        text, expr = random_expression(rng, int(rng.integers(2, 4)))
        try:
            t = build_trace(text)
        except ExpressionError:  # more than 16 atoms: too long for a sheet
            continue
        out.append((text, expr, t))
    return out


@pytest.mark.parametrize("text, expr, t", random_cases(), ids=lambda v: v if isinstance(v, str) else "")
def test_random_expressions_gradients_are_sympys_diff(text, expr, t):
    rng = np.random.default_rng(len(text))
    values = Values(tuple((s, float(rng.integers(-10, 11)) / 10) for s in t.symbols))
    at = {sp.Symbol(k, real=True): sp.Rational(str(v)) for k, v in values.values}
    try:
        exact = trace_key(t, values, 6, "exact")
    except Undefined:
        pytest.skip("no value at these inputs")
    assert abs(float(exact.unrounded[t.output]) - float(expr.subs(at))) < 1e-9
    for s in t.symbols:
        want = float(sp.diff(expr, sp.Symbol(s, real=True)).subs(at))
        assert abs(float(exact.unrounded[f"grad_{s}"]) - want) < 1e-9 * max(1, abs(want)), s


# --- the sheet's lines ---------------------------------------------------------------------

def context(spec, values, sid="s1"):
    t = spec_trace(spec)
    return trace_context(spec, Student(sid, "Test Student", 2), values, trace_key(t, values, spec.exercise.decimals))


@pytest.mark.parametrize("text, expr, t", random_cases(12, seed=3), ids=lambda v: v if isinstance(v, str) else "")
def test_every_line_recomputes_by_hand_from_the_numbers_it_shows(text, expr, t, tmp_path):
    spec = parse_spec(f'[graph]\nexpression = "{text}"\n[random]\nweights = {{ low = -1, high = 1, step = 0.1 }}\n')
    values = draw_spec(spec, 7).params
    ctx = context(spec, values)
    items = [it for s in ctx["sections"] for it in s["items"]]
    assert [it["answer"] for it in items] == list(t.graph.names)
    for it in items:
        assert round_half_up(evaluate_latex(it["substituted"]), 4) == it["value"], it


def test_a_symbol_used_twice_shows_its_gradients_summed():
    spec = parse_spec('[graph]\nexpression = "tanh(w*x + b) * x"\nvalues = { w = 0.5, x = -1.0, b = 0.2 }\n')
    ctx = context(spec, Values(spec.trace.values))
    grad_x = next(it for s in ctx["sections"] for it in s["items"] if it["answer"] == "grad_x")
    assert grad_x["formula"] == (r"\frac{\partial L}{\partial v_{1}} \frac{\partial v_{1}}{\partial x} + "
                                 r"\frac{\partial L}{\partial v_{4}} \frac{\partial v_{4}}{\partial x}")
    # by hand: v1 = −0.5, v2 = −0.3, v3 = tanh(−0.3) = −0.2913, ∂v3/∂v2 = 1 − 0.2913² = 0.9151,
    # ∂L/∂v3 = x = −1, ∂L/∂v1 = −0.9151, ∂v1/∂x = w = 0.5000, ∂L/∂x = −0.9151 · 0.5 + 1 · (−0.2913) = −0.7489 (−0.74885 rounds up)
    assert grad_x["substituted"] == r"(-0.9151) \cdot 0.5000 + 1.0000 \cdot (-0.2913)"
    assert str(grad_x["value"]) == "-0.7489"


# --- spec and command line ----------------------------------------------------------------

BAD = {
    "__import__('os')": "unexpected '__import__",
    "x.real": "unexpected '.real'",
    "exp(w": "ends early",
    "w*x)": "unexpected ')'",
    "x^10": "exponent from -4 to 4",
    "x^y": "whole-number exponent",
    "max(1, x)": "max(0, u)",
    "sin(x)": "unknown function 'sin'",
    "pi * x": "a symbol name",
    "v1 + x": "a symbol name",
    "2 * 3": "at least one symbol",
    "x" * 201: "at most 200 characters",
    "+".join(["x"] * 20): "at most 16 operations",
}


@pytest.mark.parametrize("text", list(BAD), ids=range(len(BAD)))
def test_a_bad_expression_is_one_located_line(text):
    with pytest.raises(SpecError) as e:
        parse_spec(f'title = "t"\n[graph]\nexpression = "{text}"\nvalues = {{ x = 1 }}\n', "g.toml")
    message = str(e.value)
    assert message.startswith("g.toml:3: [graph].expression: ") and "\n" not in message
    assert BAD[text] in message


@pytest.mark.parametrize("text, expected", [
    ('[graph]\nexpression = "w*x"\nvalues = { w = 1 }\n', "g.toml:3: [graph].values: missing x"),
    ('[graph]\nexpression = "w*x"\nvalues = { w = 1, x = 2, q = 3 }\n', "[graph].values.q: unknown key"),
    ('[graph]\nexpression = "w*x"\n[network]\nlayers = [1, 1]\n', "has no network; remove [network]"),
    ('[graph]\nexpression = "w*x"\n[exercise]\nsections = ["backward"]\n', '"backward" needs a [network] table'),
    ('[graph]\nvalues = { w = 1 }\n', "[graph].expression: missing"),
])
def test_a_bad_graph_table_is_one_located_line(text, expected):
    with pytest.raises(SpecError) as e:
        parse_spec(text, "g.toml")
    assert expected in str(e.value)


# The node is named: v1 = ln x; for exp(x*x*x), v1 = x·x, v2 = v1·x = 10¹⁸ and v3 = e^(10¹⁸), beyond 10^(10^6)
@pytest.mark.parametrize("expression, value, why", [
    ("ln(x)", "-1", "v1 has no value: ln of a number ≤ 0"),
    ("exp(x*x*x)", "1000000", "v3 has no value: a value too large to compute")])
def test_values_where_a_node_has_no_value_are_one_line_exit_2(expression, value, why, tmp_path, capsys):
    spec = tmp_path / "g.toml"
    spec.write_text(f'[graph]\nexpression = "{expression}"\nvalues = {{ x = {value} }}\n')
    assert main(["solve", str(spec)]) == 2
    assert capsys.readouterr().err.strip() == (f"derive: {spec}:3: [graph].values: {why} at these values; "
                                               "expected values where every node has one")
    params = tmp_path / "params.json"
    params.write_text(f'{{"values": {{"x": {value}}}}}')
    spec.write_text(f'[graph]\nexpression = "{expression}"\n')
    assert main(["solve", str(spec), "--params", str(params)]) == 2
    assert "params.json: " + why in capsys.readouterr().err


def test_a_class_is_rebuilt_byte_for_byte(tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\na1,Ada\nb2,Alan\n", encoding="utf-8")
    spec = str(ROOT / "worksheets" / "graph-shared-random.toml")
    for k in (1, 2):
        assert main(["worksheets", spec, "--roster", str(roster), "--out", str(tmp_path / f"c{k}"),
                     "--secret", "k", "--weak-secret", "--no-pdf"]) == 0, capsys.readouterr().err
    for f in sorted((tmp_path / "c1").rglob("*.*")):
        assert f.read_bytes() == (tmp_path / "c2" / f.relative_to(tmp_path / "c1")).read_bytes(), f


def test_a_network_spec_cannot_ask_for_the_graph_section():
    text = (ROOT / "worksheets" / "classic-221.toml").read_text().replace('"update"]', '"update", "graph"]')
    with pytest.raises(SpecError, match='"graph" needs a \\[graph\\] table'):
        parse_spec(text, "c.toml")


def test_solve_prints_the_key_of_a_graph_spec(capsys):
    assert main(["solve", str(SIGMOID), "--json"]) == 0
    import json
    assert json.loads(capsys.readouterr().out) == SIGMOID_BY_HAND


def test_a_bad_expression_on_the_command_line_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[graph]\nexpression = "exp(w*x"\n')
    for command in (["solve", str(bad)], ["worksheets", str(bad), "--roster", "r.csv", "--out", str(tmp_path / "o")]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "bad.toml:2: [graph].expression: the expression ends early" in err


@pytest.mark.parametrize("command", ["formulas", "check", "train"])
def test_commands_that_need_a_network_refuse_a_graph_spec_in_one_line(command, capsys):
    assert main([command, str(SIGMOID)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"derive {command} needs [network]" in err


# --- drawing values per student -------------------------------------------------------------

def test_values_are_drawn_per_student_and_rebuilt_from_the_seed():
    spec = load_spec(ROOT / "worksheets" / "graph-shared-random.toml")
    assert not spec.is_fixed()
    draws = [draw_spec(spec, seed).params for seed in range(12)]
    assert len(set(draws)) >= 8
    assert draw_spec(spec, 5) == draw_spec(spec, 5)
    grid = set(spec.random.weights.values())
    assert all(v in grid for d in draws for _, v in d.values)


def test_a_value_the_spec_fixes_is_kept_in_every_draw():
    spec = parse_spec('[graph]\nexpression = "(w*x + b - y)^2"\nvalues = { y = 1.0 }\n[random]\n'
                      'weights = { low = -1, high = 1, step = 0.1 }\n')
    assert all(draw_spec(spec, s).params.as_dict()["y"] == 1.0 for s in range(5))


def test_no_drawn_exercise_has_an_undefined_or_vanishing_node():
    spec = parse_spec('[graph]\nexpression = "ln(w*x) + relu(b - x)"\n[random]\n'
                      'weights = { low = -1, high = 1, step = 0.1 }\n')
    t = spec_trace(spec)
    for seed in range(20):
        k = trace_key(t, draw_spec(spec, seed).params, 4)
        assert k["v1"] > 0 and all(k[n] != 0 or k.unrounded[n] == 0 for n in k)


# --- grading ----------------------------------------------------------------------------------

MARKING = Marking(Tolerance.by_decimals(4))


def test_a_sheet_graded_from_its_own_key_gets_full_marks():
    t, values, key = key_of(SIGMOID)
    result = grade_problem(trace_problem(t, values, 4), {n: key.printed(n) for n in key}, MARKING)
    assert result.score == result.max == len(t.graph.names)


def test_one_wrong_upstream_node_earns_follow_through_downstream():
    t, values, key = key_of(SIGMOID)
    answers = {n: key.printed(n) for n in key}
    # v3 wrongly taken as −1.5 (the negation forgotten); then, by hand from it:
    # v4 = e^−1.5 = 0.2231, local4 = v4 = 0.2231, v5 = 1/1.2231 = 0.8176, local5 = −1/1.2231² = −0.6684,
    # ∂L/∂v4 = −0.6684, ∂L/∂v3 = −0.6684 · 0.2231 = −0.1491
    answers.update(v3="-1.5000", v4="0.2231", local4="0.2231", v5="0.8176", local5="-0.6684",
                   grad_v4="-0.6684", grad_v3="-0.1491", grad_v2="0.1491", grad_v1="0.1491",
                   grad_w="-0.1491", grad_x="0.2982", grad_b="0.1491")
    result = grade_problem(trace_problem(t, values, 4), answers, MARKING)
    status = {r.name: r.status for r in result.results}
    assert status["v3"] is Status.WRONG
    for n in ("v4", "local4", "v5", "local5", "grad_v4"):
        assert status[n] is Status.CARRIED, (n, result[n].message)
    # −0.1491 against the key's −0.1492 is within the sheet's tolerance (one unit in the last place)
    assert all(status[n] in (Status.CORRECT, Status.CARRIED) for n in ("grad_v3", "grad_w", "grad_x"))
    assert status["v1"] is status["grad_v5"] is Status.CORRECT
    assert result.score == result.max - 1


def test_a_class_graded_from_its_own_key_gets_full_marks(tmp_path, capsys):
    """derive worksheets (no PDFs), the answer key as the class's answers, derive grade: all full marks."""
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\na1,Ada\nb2,Alan\nc3,Grace\n", encoding="utf-8")
    spec = ROOT / "worksheets" / "graph-shared-random.toml"
    out = tmp_path / "class"
    assert main(["worksheets", str(spec), "--roster", str(roster), "--out", str(out), "--secret", "k",
                 "--weak-secret", "--no-pdf"]) == 0, capsys.readouterr().err
    lines = (out / "answer-key.csv").read_text(encoding="utf-8-sig").splitlines()
    answers = tmp_path / "answers.csv"
    answers.write_text("\n".join(lines[1:]) + "\n", encoding="utf-8")  # the key without its notice line
    rows = [l.split(",") for l in lines[2:]]
    assert len({tuple(r[2:]) for r in rows}) == 3  # three students, three exercises
    for source in (["--class", str(out), "--secret", "k"], ["--key", str(out / "answer-key.csv")]):
        graded = tmp_path / f"grades{len(source)}"
        assert main(["grade", str(spec), "--roster", str(roster), "--answers", str(answers), "--out",
                     str(graded), "--json", *source]) == 0, capsys.readouterr().err
        with open(graded / "grades.csv", encoding="utf-8-sig", newline="") as f:
            grades = list(csv.DictReader(f))
        n = len(spec_trace(load_spec(spec)).graph.names)
        assert [(g["student_id"], float(g["score"]), float(g["max"])) for g in grades] == [
            (sid, n, n) for sid in ("a1", "b2", "c3")]
        assert all(g[name] == "correct" for g in grades for name in spec_trace(load_spec(spec)).graph.names)
        capsys.readouterr()


def test_a_map_names_a_traces_answers_and_refuses_an_unknown_one_on_its_line(tmp_path, capsys):
    """An export headed Q1 … Q20, mapped to the trace's own names (v1 … grad_b), grades the hand-worked
    values to 20 of 20; a map naming no answer of the sheet is one located line, exit 2."""
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\na1,Ada\n", encoding="utf-8")
    names = list(SIGMOID_BY_HAND)
    answers = tmp_path / "export.csv"
    answers.write_text("Student ID," + ",".join(f"Q{k}" for k in range(1, 21)) + "\n"
                       "a1," + ",".join(SIGMOID_BY_HAND.values()) + "\n", encoding="utf-8")
    mapping = tmp_path / "map.csv"
    mapping.write_text("column,answer\n" + "".join(f"Q{k},{n}\n" for k, n in enumerate(names, start=1)),
                       encoding="utf-8")
    assert main(["grade", str(SIGMOID), "--roster", str(roster), "--answers", str(answers), "--map", str(mapping),
                 "--out", str(tmp_path / "g"), "--secret", "k"]) == 0, capsys.readouterr().err
    with open(tmp_path / "g" / "grades.csv", encoding="utf-8-sig", newline="") as f:
        row = next(csv.DictReader(f))
    assert (row["score"], row["max"]) == ("20", "20") and all(row[n] == "correct" for n in names)
    assert "matches no answer name" not in capsys.readouterr().err
    mapping.write_text("column,answer\nQ1,v1\nQ2,grad_vv\n", encoding="utf-8")
    assert main(["grade", str(SIGMOID), "--roster", str(roster), "--answers", str(answers), "--map", str(mapping),
                 "--out", str(tmp_path / "g2"), "--secret", "k"]) == 2
    err = capsys.readouterr().err
    assert f"{mapping}:3: expected an answer name such as v1 in the second cell; got 'grad_vv'" in err
    assert err.count("\n") == 1 and "Traceback" not in err and not (tmp_path / "g2").exists()


# --- compiled sheets ------------------------------------------------------------------------------

def random_graph_specs(tmp: Path) -> list[Path]:
    out = []
    for k, (text, _, _) in enumerate(random_cases(3, seed=11)):
        p = tmp / f"random-graph-{k}.toml"
        p.write_text(f'title = "Random graph {k}"\n[graph]\nexpression = "{text}"\n[random]\n'
                     'weights = { low = -1, high = 1, step = 0.1 }\n')
        out.append(p)
    return out



@pytest.mark.parametrize("which", [p.stem for p in SHIPPED] + ["random-0", "random-1", "random-2"])
def test_graph_sheets_compile_and_the_blank_shows_no_answer(which, tmp_path, capsys):
    require("pdflatex")
    require("pdftotext")
    spec = (ROOT / "worksheets" / f"{which}.toml" if not which.startswith("random")
            else random_graph_specs(tmp_path)[int(which[-1])])
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\na1,Ada Lovelace\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["worksheets", str(spec), "--roster", str(roster), "--out", str(out), "--secret", "k",
                 "--weak-secret"]) == 0, capsys.readouterr().err
    t = spec_trace(load_spec(spec))
    blank, solved = (pdf_text(out / "students" / "a1" / f"{v}.pdf") for v in ("blank", "solved"))
    for name in ("v1", t.output, f"grad_{t.symbols[0]}", next(n for n in t.graph.names if n.startswith("local"))):
        assert name in blank.replace("\u2212", "-") and name in solved.replace("\u2212", "-"), name
    assert not re.findall(r"\d\.\d{4}\b", blank), "the blank prints answer values"
    key_values = (out / "answer-key.csv").read_text(encoding="utf-8-sig").splitlines()[2].split(",")[2:]
    shown = solved.replace("\u2212", "-")
    assert all(v.lstrip("-") in shown for v in key_values)


def test_a_fixed_traces_drawing_is_typeset_once_per_tex_run(tmp_path):
    # TikZ's nodes cost a trace sheet ~100 ms (measured): sheets that draw the same graph name the
    # same \dvonce box, so a batch typesets it once; a drawn trace's sheets each keep their own
    roster = tmp_path / "r.csv"
    roster.write_text("student_id,name\ns1,A\ns2,B\n", encoding="utf-8")
    names = {}
    for spec in ("graph-sigmoid", "graph-shared-random"):
        out = tmp_path / spec
        assert main(["worksheets", str(ROOT / "worksheets" / f"{spec}.toml"), "--roster", str(roster),
                     "--out", str(out), "--secret", "once-test-secret", "--weak-secret", "--no-pdf"]) == 0
        names[spec] = [re.findall(r"\\dvonce\{([0-9a-f]{12})\}", (out / "students" / s / "solved.tex")
                                  .read_text(encoding="utf-8")) for s in ("s1", "s2")]
        assert all(len(n) == 1 for n in names[spec]), names
    assert names["graph-sigmoid"][0] == names["graph-sigmoid"][1]
    assert names["graph-shared-random"][0] != names["graph-shared-random"][1]


def test_verify_checks_a_traces_worked_example(tmp_path, capsys):
    """derive verify takes a [graph] spec: the hand-worked trace is correct throughout; a v1 slipped
    to −1 (w·x = 2·(−1) is −2) is wrong, and v2 = v1 + b = −1 + 0.5 = −0.5, worked from it, is carried."""
    f = tmp_path / "worked.csv"
    f.write_text("name,value\n" + "".join(f"{n},{v}\n" for n, v in SIGMOID_BY_HAND.items()), encoding="utf-8")
    assert main(["verify", str(SIGMOID), "--answers", str(f), "--json"]) == 0
    assert {a["status"] for a in json.loads(capsys.readouterr().out)["answers"].values()} == {"correct"}
    f.write_text("name,value\nv1,-1.0000\nv2,-0.5000\nv3,1.5000\n", encoding="utf-8")
    assert main(["verify", str(SIGMOID), "--answers", str(f), "--json"]) == 1
    got = json.loads(capsys.readouterr().out)["answers"]
    assert {n: a["status"] for n, a in got.items()} == {"v1": "wrong", "v2": "carried", "v3": "correct"}
