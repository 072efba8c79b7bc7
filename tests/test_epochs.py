"""The training table: every loss and parameter against an independent NumPy gradient-descent loop
(tests/oracle.py's hand MLP), step by step from the printed values, and over the whole run."""
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

import oracle
from derive.epochs import names_of
from derive.lab import exercise_key, exercise_problem
from derive.randomize import draw_class
from derive.spec import load_spec, parameter_names, parse_spec

ROOT = Path(__file__).resolve().parent.parent
XOR = ROOT / "derive" / "examples" / "xor-221-training.toml"
LAB = ROOT / "derive" / "examples" / "random-221-lab.toml"

RANDOM_XOR = """
[network]
layers = [2, 3, 1]
activations = ["tanh", "sigmoid"]
loss = "bce"
[data]
x = [[0, 0], [0, 1], [1, 0], [1, 1]]
y = [[0], [1], [1], [0]]
[exercise]
sections = ["training"]
epochs = 4
learning_rate = 0.8
decimals = 3
"""


def _cases():
    spec = load_spec(XOR)
    yield "xor-221", spec, spec.fixed_params(), spec.data
    lab = load_spec(LAB)
    for sid, d in draw_class(lab, "a secret for the tests", ["s1", "s2", "s3"]).items():
        yield f"lab-{sid}", lab, d.params, d.data
    xor = parse_spec(RANDOM_XOR, "random-xor.toml")
    for sid, d in draw_class(xor, "another secret", ["r1", "r2"]).items():
        yield f"xor-231-{sid}", xor, d.params, d.data


CASES = list(_cases())


def _arrays(net, values: dict):
    """W and b lists from a name → value mapping (W1_1_1, b1_1, …)."""
    W = [np.array([[values[f"W{l}_{j}_{i}"] for i in range(1, net.layers[l - 1] + 1)]
                   for j in range(1, net.layers[l] + 1)], float) for l in range(1, net.depth + 1)]
    b = ([np.array([values[f"b{l}_{j}"] for j in range(1, net.layers[l] + 1)], float)
          for l in range(1, net.depth + 1)] if net.bias else None)
    return W, b


def _step(net, W, b, data, eta):
    """One full-batch gradient-descent step by the hand NumPy MLP: (loss before it, W, b after)."""
    hand = oracle.mlp(net.layers, net.activations, net.loss, W, b, data.x, data.y)
    W = [w - eta * g for w, g in zip(W, hand["dW"])]
    b = [v - eta * g for v, g in zip(b, hand["db"])] if b is not None else None
    return float(hand["losses"].mean()), W, b


def _table(key, net, t) -> dict[str, float]:
    return {p: float(key[f"{p}_e{t}"]) for p in parameter_names(net)}


def _given(params) -> dict[str, float]:
    out = {}
    for l, W in enumerate(params.W, start=1):
        out |= {f"W{l}_{j}_{i}": v for j, row in enumerate(W, 1) for i, v in enumerate(row, 1)}
        out |= {f"b{l}_{j}": v for j, v in enumerate(params.b[l - 1], 1)} if params.b is not None else {}
    return out


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_step_starts_from_the_printed_parameters(case):
    """Row t+1 is one NumPy step from row t as printed, rounded: within half a unit (the sheet's rule)."""
    _, spec, params, data = case
    net, ex = spec.network, spec.exercise
    key = exercise_key(spec, params, data)
    half = 0.5 * 10.0 ** -ex.decimals + 1e-9
    start = _given(params)
    for t in range(ex.epochs + 1):
        now = start if t == 0 else _table(key, net, t)
        loss, W, b = _step(net, *_arrays(net, now), data, ex.learning_rate)
        assert abs(float(key[f"loss_e{t}"]) - loss) <= half, t
        if t < ex.epochs:
            after = _given_arrays(net, W, b)
            assert set(after) == set(parameter_names(net))
            for name, v in after.items():
                assert abs(float(key[f"{name}_e{t + 1}"]) - v) <= half, (t, name)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_the_table_stays_near_an_unrounded_numpy_run(case):
    """Plain gradient descent in float64 from the start: the printed table drifts only by its rounding."""
    _, spec, params, data = case
    net, ex = spec.network, spec.exercise
    key = exercise_key(spec, params, data)
    W, b = _arrays(net, _given(params))
    for t in range(ex.epochs + 1):
        loss, W_next, b_next = _step(net, W, b, data, ex.learning_rate)
        unit = 10.0 ** -ex.decimals
        assert abs(float(key[f"loss_e{t}"]) - loss) <= (t + 1) * unit, t
        if t > 0:
            printed = _table(key, net, t)
            for name, v in _given_arrays(net, W, b).items():
                assert abs(printed[name] - v) <= (t + 1) * unit, (t, name)
        W, b = W_next, b_next


def _given_arrays(net, W, b) -> dict[str, float]:
    out = {}
    for l in range(1, net.depth + 1):
        out |= {f"W{l}_{j + 1}_{i + 1}": float(v) for (j, i), v in np.ndenumerate(W[l - 1])}
        out |= {f"b{l}_{j + 1}": float(v) for j, v in enumerate(b[l - 1])} if b is not None else {}
    return out


def test_the_table_names_follow_design():
    assert names_of(("W1_1_1", "b1_1"), 2) == ["loss_e0", "W1_1_1_e1", "b1_1_e1", "loss_e1",
                                               "W1_1_1_e2", "b1_1_e2", "loss_e2"]


def test_a_slip_in_one_row_is_followed_through_into_the_next():
    """A wrong W⁽²⁾₁₁ after step 1, and step 2 worked correctly from it: carried credit."""
    from derive.grade import Marking, Tolerance, grade_problem
    spec = load_spec(XOR)
    net, ex = spec.network, spec.exercise
    pr = exercise_problem(spec, spec.fixed_params(), spec.data)
    answers = {n: pr.key.printed(n) for n in pr.graph.names}
    row1 = _table(pr.key, net, 1)
    row1["W2_1_1"] += 0.1
    answers["W2_1_1_e1"] = f"{row1['W2_1_1']:.4f}"
    loss, W, b = _step(net, *_arrays(net, row1), spec.data, ex.learning_rate)
    answers["loss_e1"] = f"{loss:.4f}"
    for name, v in _given_arrays(net, W, b).items():
        answers[f"{name}_e2"] = str(Decimal(repr(v)).quantize(Decimal("0.0001")))
    result = grade_problem(pr, answers, Marking(Tolerance.by_decimals(4)))
    assert result["W2_1_1_e1"].status == "wrong"
    assert result["loss_e1"].status == "carried"
    moved = [n for n in answers if n.endswith("_e2") and answers[n] != pr.key.printed(n)]
    assert moved and all(result[n].status == "carried" for n in moved), [(n, result[n].status) for n in moved]


@pytest.mark.parametrize("value, says", [
    ("0", "expected a whole number from 1 to 5; got 0"),
    ("6", "expected a whole number from 1 to 5; got 6"),
    ('"3"', "expected a whole number from 1 to 5; got '3'"),
])
def test_bad_epochs_is_one_line(value, says, tmp_path):
    from derive.errors import SpecError
    text = XOR.read_text().replace("epochs = 3", f"epochs = {value}")
    with pytest.raises(SpecError) as e:
        parse_spec(text, "x.toml")
    assert "[exercise].epochs" in str(e.value) and says in str(e.value)


def test_epochs_without_the_section_is_refused():
    from derive.errors import SpecError
    text = XOR.read_text().replace('sections = ["training"]', 'sections = ["forward"]')
    with pytest.raises(SpecError, match=r'\[exercise\]\.epochs.*sections has no "training"'):
        parse_spec(text, "x.toml")
