"""The key is the rounded chain: an independent exact-decimal route in oracle.py gets every value.

The oracle recomputes each answer from its parents' printed values, by the
textbook's formulas in fractions, without derive.  Covered: every shipped
spec (fixed parameters and drawn ones), and random architectures with every
activation and loss, fixed on the drawing grid and drawn by the randomizer.
"""
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

import oracle
from archs import random_network
from derive.numeric import key, solve
from derive.randomize import draw_student
from derive.spec import Data, Network, Params, load_spec, parse_spec

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "worksheets").glob("*.toml")) + sorted(
    p for p in (ROOT / "tests" / "fixtures" / "specs").glob("*.toml") if not p.name.startswith("bad-"))


def oracle_key(net, params, data, lr, decimals, rounding="carry"):
    return oracle.rounded_chain(net.layers, net.activations, net.loss, params.W, params.b, data.x, data.y,
                                lr, decimals, rounding)


def assert_key_is_the_rounded_chain(net, params, data, lr, decimals, rounding="carry"):
    got = key(net, params, data, lr, decimals, rounding)
    want = oracle_key(net, params, data, lr, decimals, rounding)
    assert set(want) <= set(got.values)
    bad = {n: (str(got[n]), str(v)) for n, v in want.items() if got[n] != v}
    assert not bad, bad
    return got


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_spec(path):
    spec = load_spec(path)
    if spec.trace is not None:
        pytest.skip("a computation-graph spec: its key is checked against hand, SymPy and torch in test_trace.py")
    ex = spec.exercise
    draws = [(spec.fixed_params(), spec.data)] if spec.is_fixed() else [
        (d.params, d.data) for d in (draw_student(spec, seed) for seed in (1, 2, 3))]
    for params, data in draws:
        assert_key_is_the_rounded_chain(spec.network, params, data, ex.learning_rate, ex.decimals, ex.rounding)


def _grid_problem(rng, net, n):
    """Parameters and data on the drawing grid (multiples of 0.1): where ties really happen."""
    grid = lambda *shape: np.round(rng.integers(-10, 11, size=shape) / 10, 1)
    W = tuple(tuple(map(tuple, grid(o, i).tolist())) for i, o in zip(net.layers[:-1], net.layers[1:]))
    b = tuple(tuple(grid(o).tolist()) for o in net.layers[1:]) if net.bias else None
    X = tuple(tuple(grid(net.layers[0]).tolist()) for _ in range(n))
    k = net.layers[-1]
    if net.loss == "cce":
        Y = tuple(tuple(np.eye(k)[rng.integers(k)].tolist()) for _ in range(n))
    elif net.loss == "bce":
        Y = tuple(tuple(rng.integers(0, 2, k).astype(float).tolist()) for _ in range(n))
    else:
        Y = tuple(tuple(grid(k).tolist()) for _ in range(n))
    return Params(W, b), Data(X, Y)


def _cases(count=120):
    rng = np.random.default_rng(20261201)
    out = []
    while len(out) < count:
        net = random_network(rng, max_depth=3, max_width=3)
        params, data = _grid_problem(rng, net, int(rng.integers(1, 3)))
        with np.errstate(all="ignore"):
            values = np.array(list(solve(net, params, data, 0.5).values.values()))
        if np.all(np.isfinite(values)) and np.all(np.abs(values) < 1e6):  # ln 0 from a saturated unit: not a sheet
            out.append((net, params, data, int(rng.integers(1, 6))))
    return out


CASES = _cases()


def test_the_random_cases_cover_every_activation_loss_and_rounding_rule():
    assert {a for net, *_ in CASES for a in net.activations} == {
        "sigmoid", "tanh", "relu", "leaky_relu", "linear", "softmax"}
    assert {net.loss for net, *_ in CASES} == {"bce", "mse", "half_mse", "mae", "cce"}
    assert {d.size for _, _, d, _ in CASES} == {1, 2}


@pytest.mark.parametrize("net,params,data,decimals", CASES,
                         ids=[f"{i}-{'-'.join(map(str, c[0].layers))}-{c[0].loss}" for i, c in enumerate(CASES)])
def test_random_architectures_fixed_on_the_grid(net, params, data, decimals):
    assert_key_is_the_rounded_chain(net, params, data, 0.5, decimals)
    assert_key_is_the_rounded_chain(net, params, data, 0.5, decimals, "exact")


DRAWN = [("tanh", "sigmoid", "bce"), ("relu", "linear", "mse"), ("leaky_relu", "tanh", "half_mse"),
         ("sigmoid", "softmax", "cce"), ("linear", "relu", "mae"), ("relu", "sigmoid", "mse")]


@pytest.mark.parametrize("hidden,output,loss", DRAWN)
def test_drawn_parameters(hidden, output, loss):
    width = 3 if output == "softmax" else 1
    y = "[1, 0, 0]" if loss == "cce" else "[1]" if loss == "bce" else "[0.5]"
    spec = parse_spec(f"""
title = "drawn"
[network]
layers = [2, 2, {width}]
activations = ["{hidden}", "{output}"]
loss = "{loss}"
[data]
x = [1, -0.5]
y = {y}
[params]
W2 = [{", ".join(["[0.5, -0.4]"] * width)}]
[random]
weights = {{ low = -1.0, high = 1.0, step = 0.1 }}
inputs = {{ low = -1.0, high = 1.0, step = 0.5 }}
""")
    ex = spec.exercise
    for seed in range(4):
        d = draw_student(spec, seed)
        assert d.params.W[1] == ((0.5, -0.4),) * width  # the fixed part stays fixed
        assert_key_is_the_rounded_chain(spec.network, d.params, d.data, ex.learning_rate, ex.decimals)


def test_the_issues_three_boxes():
    """The line the issue quotes, (−0.3)·0.4875 + 0.3·0.3543 + (−0.7), now boxes −0.7400 (was −0.7399)."""
    spec = load_spec(ROOT / "worksheets" / "random-221.toml")
    net = Network((2, 2, 1), ("sigmoid", "sigmoid"), "bce")
    # z1 = (0.2 − 0.15 − 0.1, −0.4 + 0.1 − 0.3) = (−0.05, −0.6): a1 = (0.4875, 0.3543)
    params = Params((((0.2, -0.3), (-0.4, 0.2)), ((-0.3, 0.3),)), ((-0.1, -0.3), (-0.7,)))
    k = key(net, params, Data(((1.0, 0.5),), ((1.0,),)), spec.exercise.learning_rate, 4)
    assert Decimal("-0.3") * k["a1_1"] + Decimal("0.3") * k["a1_2"] + Decimal("-0.7") == Decimal("-0.73996")
    assert k["z2_1"] == Decimal("-0.7400")


def test_exact_ties_are_decided_exactly():
    """z = 0.1·1 + 0.2·1 − 0.3 is exactly 0 (float64 says 5.6e-17): ReLU′(0) = 0, so δ⁽¹⁾ = 0."""
    x = Data(((1.0, 1.0),), ((1.0,),))
    for act in ("relu", "leaky_relu"):
        net = Network((2, 1, 1), (act, "sigmoid"), "bce")
        params = Params((((0.1, 0.2),), ((0.5,),)), ((-0.3,), (0.1,)))
        assert solve(net, params, x, 0.5)["z1_1"] != 0  # the float route is off by noise
        k = assert_key_is_the_rounded_chain(net, params, x, 0.5, 4)
        assert k.unrounded["z1_1"] == 0 and k["a1_1"] == 0
        slope = Decimal("0") if act == "relu" else Decimal("0.01")
        assert k["delta1_1"] == (Decimal("0.5") * k["delta2_1"] * slope).quantize(Decimal("0.0001"))
    # MAE at ŷ = y exactly: sign(0) = 0
    net = Network((1, 1), ("linear",), "mae")
    params = Params((((0.1,),),), ((0.2,),))
    k = assert_key_is_the_rounded_chain(net, params, Data(((1.0,),), ((0.3,),)), 0.5, 4)
    assert k["delta1_1"] == 0 and k["dW1_1_1"] == 0


@pytest.mark.parametrize("z", [-50.0, -1000.0, -5000.0])
def test_sigmoid_far_below_zero_is_the_oracles(z):
    """σ(z) for z < 0 is taken as e^z/(1 + e^z) (no e^(−z) to overflow): the same boxes as the oracle's 1/(1 + e^(−z))."""
    net = Network((1, 1, 1), ("sigmoid", "sigmoid"), "bce")
    params = Params((((z,),), ((-2.0,),)), ((0.0,), (0.5,)))
    for y in (0.0, 1.0):
        assert_key_is_the_rounded_chain(net, params, Data(((1.0,),), ((y,),)), 0.5, 4)


def test_a_key_at_minus_ten_to_the_twelve_is_made(tmp_path, capsys):
    """Weights and inputs of 10⁶ (the spec's bounds) give z = −10¹²: e^(10¹²) was a decimal.Overflow
    traceback.  By hand: z = −10⁶·10⁶ + 0.1, and σ(z) < 10⁻⁴ prints as 0.0000."""
    from derive.cli import main
    spec = (ROOT / "worksheets" / "classic-221.toml").read_text(encoding="utf-8")
    spec = spec.replace("x = [1, 0]", "x = [1e6, 0]").replace("W1 = [[0.5, -0.3]", "W1 = [[-1e6, -0.3]")
    path = tmp_path / "huge.toml"
    path.write_text(spec, encoding="utf-8")
    assert main(["solve", str(path)]) == 0
    lines = dict(line.split() for line in capsys.readouterr().out.splitlines() if len(line.split()) == 2)
    assert lines["z1_1"] == "-999999999999.9000"
    assert lines["a1_1"] == "0.0000"


def test_a_key_with_no_value_is_one_line(tmp_path, capsys, monkeypatch):
    """Should a spec's fixed parameters leave a quantity without any value, the user gets one line
    naming the spec and the quantity, and status 2, not a traceback."""
    from derive import numeric
    from derive.cli import main
    real = numeric.value_of
    def value_of(graph, name, env):
        if name == "loss":
            raise numeric.Undefined("ln of a number ≤ 0")
        return real(graph, name, env)
    monkeypatch.setattr(numeric, "value_of", value_of)
    path = ROOT / "worksheets" / "classic-221.toml"
    assert main(["solve", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "loss has no value: ln of a number ≤ 0" in err[0]
