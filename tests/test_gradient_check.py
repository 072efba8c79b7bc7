"""The gradient check on the sheet: the estimate recomputed from the *printed* L(θ ± ε), by hand in
Decimal arithmetic, agrees with backprop computed independently (tests/oracle.py: hand NumPy and
PyTorch), at the sheet's precision; ε and the places of L(θ ± ε) are the largest and fewest that do."""
import json
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import oracle
from derive.cli import main
from derive.gradient_check import STEPS, printed_places
from derive.lab import exercise_key, prepare
from derive.randomize import draw_class
from derive.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
CLASSIC = ROOT / "derive" / "examples" / "classic-221-gradcheck.toml"
LAB = ROOT / "derive" / "examples" / "random-221-lab.toml"

RANDOM_SPECS = {  # a spread of architectures with a gradient check, drawn per student
    "tanh-linear-mse": """
[network]
layers = [2, 3, 1]
activations = ["tanh", "linear"]
loss = "mse"
[data]
x = [0.5, -1.0]
y = [0.3]
[exercise]
sections = ["forward", "loss", "backward", "gradcheck"]
gradcheck = ["W1_2_1", "W2_1_3", "b1_1"]
decimals = 4
""",
    "xor-batch-bce": """
[network]
layers = [2, 2, 1]
activations = ["sigmoid", "sigmoid"]
loss = "bce"
[data]
x = [[0, 0], [0, 1], [1, 0], [1, 1]]
y = [[0], [1], [1], [0]]
[exercise]
sections = ["backward", "gradcheck"]
gradcheck = ["W1_1_1", "b2_1"]
decimals = 3
""",
    "softmax-cce": """
[network]
layers = [2, 2, 3]
activations = ["sigmoid", "softmax"]
loss = "cce"
[data]
x = [1.0, -0.5]
y = [0, 0, 1]
[exercise]
sections = ["backward", "gradcheck"]
gradcheck = ["W2_3_1", "b1_2"]
decimals = 5
""",
    "six-places": """
[network]
layers = [2, 2, 1]
activations = ["tanh", "sigmoid"]
loss = "bce"
[data]
x = [1.0, -1.0]
y = [1]
[exercise]
sections = ["backward", "gradcheck"]
gradcheck = ["W1_1_1", "W2_1_2", "b1_1"]
decimals = 6
[random]
weights = { low = -2.0, high = 2.0, step = 0.1 }
""",
}


def _oracle_gradients(spec, params, data) -> dict[str, float]:
    """∂L/∂θ for every parameter, by hand NumPy (and PyTorch where installed, which must agree)."""
    net = spec.network
    hand = oracle.mlp(net.layers, net.activations, net.loss, params.W, params.b, data.x, data.y)
    out = {}
    for l, dW in enumerate(hand["dW"], start=1):
        out |= {f"W{l}_{j + 1}_{i + 1}": float(dW[j, i]) for j, i in np.ndindex(dW.shape)}
    for l, db in enumerate(hand["db"] or [], start=1):
        out |= {f"b{l}_{j + 1}": float(v) for j, v in enumerate(db)}
    if oracle.torch is not None:
        _, tW, tb = oracle.torch_gradients(net.layers, net.activations, net.loss, params.W, params.b, data.x, data.y)
        assert np.allclose(np.concatenate([w.ravel() for w in tW] + [v.ravel() for v in tb or []]),
                           list(out.values()), atol=1e-12)
    return out


def _cases():
    spec = load_spec(CLASSIC)
    yield "classic", spec, spec.fixed_params(), spec.data
    lab = load_spec(LAB)
    for sid, d in draw_class(lab, "a secret for the tests", ["s1", "s2", "s3", "s4"]).items():
        yield f"lab-{sid}", lab, d.params, d.data
    for name, text in RANDOM_SPECS.items():
        spec = parse_spec(text, name)
        for sid, d in draw_class(spec, "another secret", ["r1", "r2"]).items():
            yield f"{name}-{sid}", spec, d.params, d.data


CASES = list(_cases())


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_estimate_from_the_printed_losses_agrees_with_backprop(case):
    _, spec, params, data = case
    ex = spec.exercise
    key = exercise_key(spec, params, data)
    eps = prepare(spec.network, params, data, ex).eps
    truth = _oracle_gradients(spec, params, data)
    half = Decimal(1).scaleb(-ex.decimals) / 2
    for p in ex.gradcheck:
        plus, minus = key.printed(f"loss_plus_{p}"), key.printed(f"loss_minus_{p}")
        places = len(plus.partition(".")[2])
        assert places == len(minus.partition(".")[2]) == printed_places(eps, ex.decimals) > ex.decimals
        fd = (Decimal(plus) - Decimal(minus)) / (2 * Decimal(eps.numerator) / Decimal(eps.denominator))
        assert abs(fd - Decimal(truth[p])) <= half + Decimal("1e-12"), (p, fd, truth[p])
        # the box holds that estimate rounded half up to the sheet's places
        assert key[f"fd_{p}"] == fd.quantize(Decimal(1).scaleb(-ex.decimals), rounding=ROUND_HALF_UP)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_printed_losses_are_the_loss_at_the_shifted_parameter(case):
    """L(θ ± ε) against the hand NumPy loss with the parameter moved by ±ε."""
    _, spec, params, data = case
    net, ex = spec.network, spec.exercise
    key = exercise_key(spec, params, data)
    eps = float(prepare(net, params, data, ex).eps)
    for p in ex.gradcheck:
        for sign, name in ((1, f"loss_plus_{p}"), (-1, f"loss_minus_{p}")):
            W = [np.array(w, float) for w in params.W]
            b = [np.array(v, float) for v in params.b] if params.b is not None else None
            l, *idx = (int(n) for n in p[1:].split("_"))
            target = W[l - 1] if p[0] == "W" else b[l - 1]
            target[tuple(i - 1 for i in idx)] += sign * eps
            loss = oracle.mean_loss(net.layers, net.activations, net.loss, W, b, data.x, data.y)
            places = len(key.printed(name).partition(".")[2])
            assert abs(float(key[name]) - loss) <= 0.5 * 10.0 ** -places + 1e-12, name


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_step_is_the_largest_that_keeps_the_sheet_right(case):
    """Every larger ε of the list fails the check (recomputed here with the oracle's losses)."""
    _, spec, params, data = case
    net, ex = spec.network, spec.exercise
    chosen = prepare(net, params, data, ex).eps
    truth = _oracle_gradients(spec, params, data)
    for eps in (e for e in STEPS if e > chosen):
        places = printed_places(eps, ex.decimals)
        ok = []
        for p in ex.gradcheck:
            losses = []
            for sign in (1, -1):
                W = [np.array(w, float) for w in params.W]
                b = [np.array(v, float) for v in params.b] if params.b is not None else None
                l, *idx = (int(n) for n in p[1:].split("_"))
                (W[l - 1] if p[0] == "W" else b[l - 1])[tuple(i - 1 for i in idx)] += sign * float(eps)
                losses.append(round(oracle.mean_loss(net.layers, net.activations, net.loss, W, b, data.x, data.y),
                                    places))
            ok.append(abs((losses[0] - losses[1]) / (2 * float(eps)) - truth[p]) <= 0.5 * 10.0 ** -ex.decimals)
        assert not all(ok), (eps, chosen)


def test_some_sheets_need_a_smaller_step():
    """At 6 places the truncation error of ε = 0.01 is too large: the check above is not vacuous."""
    chosen = [prepare(spec.network, p, d, spec.exercise).eps for _, spec, p, d in CASES]
    assert min(chosen) < STEPS[0] and max(chosen) == STEPS[0]


def test_places_grow_with_a_smaller_step():
    assert [printed_places(e, 4) for e in STEPS] == [7, 8, 9, 10]
    assert printed_places(Fraction(1, 100), 2) == 5


def test_relative_error_is_computed_from_the_printed_estimate_and_gradient():
    spec = load_spec(CLASSIC)
    key = exercise_key(spec, spec.fixed_params(), spec.data)
    unit = Decimal("0.0001")
    for p in spec.exercise.gradcheck:
        fd, g = key[f"fd_{p}"], key["d" + p]
        expected = (abs(fd - g) / max(abs(fd), abs(g), unit)).quantize(unit, rounding=ROUND_HALF_UP)
        assert key[f"relerr_{p}"] == expected


def test_relative_error_of_two_zero_gradients_is_zero():
    """x₂ = 0 makes ∂L/∂W⁽¹⁾₁₂ = 0, and its estimate 0 too: relerr is 0, not 0/0."""
    text = CLASSIC.read_text().replace('gradcheck = ["W1_1_1", "W2_1_2", "b1_2"]', 'gradcheck = ["W1_1_2"]')
    spec = parse_spec(text, "zero.toml")
    key = exercise_key(spec, spec.fixed_params(), spec.data)
    assert key["dW1_1_2"] == key["fd_W1_1_2"] == key["relerr_W1_1_2"] == 0


def test_a_carried_estimate_follows_from_the_students_own_losses():
    """A wrong L(θ+ε), and fd worked correctly from it: carried (follow-through) credit."""
    from derive.grade import Marking, Tolerance, grade_problem
    from derive.lab import exercise_problem
    spec = load_spec(CLASSIC)
    pr = exercise_problem(spec, spec.fixed_params(), spec.data)
    answers = {n: pr.key.printed(n) for n in pr.graph.names}
    plus = Decimal(answers["loss_plus_W1_1_1"]) + Decimal("0.0000100")
    answers["loss_plus_W1_1_1"] = str(plus)
    fd = (plus - Decimal(answers["loss_minus_W1_1_1"])) / Decimal("0.02")
    answers["fd_W1_1_1"] = str(fd.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))
    result = grade_problem(pr, answers, Marking(Tolerance.by_decimals(4)))
    assert result["loss_plus_W1_1_1"].status == "wrong"
    assert result["fd_W1_1_1"].status == "carried"
    # the same loss rounded to the sheet's 4 places, not the 7 it asks for, is wrong
    short = {**{n: pr.key.printed(n) for n in pr.graph.names},
             "loss_plus_W1_1_1": pr.key.printed("loss_plus_W1_1_1")[:6]}
    assert grade_problem(pr, short, Marking(Tolerance.by_decimals(4)))["loss_plus_W1_1_1"].status == "wrong"


@pytest.mark.parametrize("change, where, says", [
    ('gradcheck = ["W1_1_1", "W2_1_2", "b1_2"]', "[exercise].gradcheck[0]",
     'expected one of W1_1_1, W1_1_2, W1_2_1, W1_2_2, b1_1, b1_2, W2_1_1, W2_1_2, b2_1; got "W1_3_1"'),
    ('sections = ["forward", "loss", "backward", "gradcheck"]', "[exercise].gradcheck",
     'set, but sections has no "gradcheck"'),
    ('gradcheck = ["W1_1_1", "W2_1_2", "b1_2"]', "[exercise].gradcheck", "expected a list of parameters"),
    ('sections = ["forward", "loss", "backward", "gradcheck"]', "[exercise].sections",
     'a gradient check compares with the backward pass; add "backward"'),
])
def test_a_bad_gradcheck_is_one_line_naming_the_key(change, where, says, tmp_path, capsys):
    new = {'[exercise].gradcheck[0]': 'gradcheck = ["W1_3_1"]',
           '[exercise].gradcheck': None, "[exercise].sections": 'sections = ["forward", "gradcheck"]'}
    text = CLASSIC.read_text()
    if where == "[exercise].gradcheck" and "sections" in change:
        text = text.replace(change, 'sections = ["forward", "loss", "backward"]')
    elif where == "[exercise].gradcheck":
        text = text.replace(change, 'gradcheck = "W1_1_1"')
    else:
        text = text.replace(change, new[where])
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["solve", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and where in err and says in err, err


def test_verify_checks_a_worked_gradient_check(tmp_path, capsys):
    """derive verify grades the gradient check too: L(θ ± ε) from the hand NumPy loss at the moved
    parameter, the estimate (L⁺ − L⁻)/2ε from those printed losses, both correct; an L⁺ 2000 units
    too high (2·10⁻⁴ at ε = 0.01: the estimate moves by 0.01) is wrong, and the estimate worked from it is carried."""
    spec = load_spec(CLASSIC)
    net, ex, params, data = spec.network, spec.exercise, spec.fixed_params(), spec.data
    eps = prepare(net, params, data, ex).eps
    places = printed_places(eps, ex.decimals)
    p = ex.gradcheck[0]

    def loss_at(sign):
        W, b = [np.array(w, float) for w in params.W], [np.array(v, float) for v in params.b]
        l, *idx = (int(n) for n in p[1:].split("_"))
        (W if p[0] == "W" else b)[l - 1][tuple(i - 1 for i in idx)] += sign * float(eps)
        return Decimal(repr(float(oracle.mean_loss(net.layers, net.activations, net.loss, W, b, data.x, data.y))))

    def estimate(plus, minus):
        fd = (plus - minus) / (2 * Decimal(eps.numerator) / Decimal(eps.denominator))
        return fd.quantize(Decimal(1).scaleb(-ex.decimals), rounding=ROUND_HALF_UP)

    unit = Decimal(1).scaleb(-places)
    plus, minus = (loss_at(s).quantize(unit, rounding=ROUND_HALF_UP) for s in (1, -1))
    f = tmp_path / "worked.csv"
    for typed_plus, want in ((plus, {"correct"}), (plus + 2000 * unit, None)):
        f.write_text(f"name,value\nloss_plus_{p},{typed_plus}\nloss_minus_{p},{minus}\n"
                     f"fd_{p},{estimate(typed_plus, minus)}\n", encoding="utf-8")
        status = main(["verify", str(CLASSIC), "--answers", str(f), "--json"])
        got = {n: a["status"] for n, a in json.loads(capsys.readouterr().out)["answers"].items()}
        if want:
            assert status == 0 and set(got.values()) == want, got
        else:
            assert status == 1
            assert got == {f"loss_plus_{p}": "wrong", f"loss_minus_{p}": "correct", f"fd_{p}": "carried"}
