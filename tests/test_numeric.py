"""The numeric stage against independent routes: hand NumPy, finite differences, PyTorch."""
import warnings

import numpy as np
import pytest

import oracle
from archs import random_network, random_problem
from derive import names
from derive.numeric import format_number, gradcheck, layer_values, quantize, solve
from derive.spec import Data, Network, Params
from derive.symbolic import build_graph


def _arrays(net, sol, n):
    """The solution's values as the oracle's arrays: per layer (examples × units), dW, db."""
    z, a, d = (layer_values(sol.values, k, net, n) for k in ("z", "a", "delta"))
    dW = [np.array([[sol[f"dW{l}_{j}_{i}"] for i in range(1, net.layers[l - 1] + 1)]
                    for j in range(1, net.layers[l] + 1)]) for l in range(1, net.depth + 1)]
    db = ([np.array([sol[f"db{l}_{j}"] for j in range(1, net.layers[l] + 1)]) for l in range(1, net.depth + 1)]
          if net.bias else None)
    losses = np.array([sol["loss" if n == 1 else f"loss_s{s}"] for s in range(1, n + 1)])
    return z, a, d, dW, db, losses

N_ARCHS = 200


def _cases():
    rng = np.random.default_rng(20261124)
    return [(random_network(rng), int(rng.integers(1 << 30))) for _ in range(N_ARCHS)]


CASES = _cases()


def test_the_random_architectures_cover_every_activation_and_loss():
    acts = {a for net, _ in CASES for a in net.activations}
    losses = {net.loss for net, _ in CASES}
    assert acts == {"sigmoid", "tanh", "relu", "leaky_relu", "linear", "softmax"}
    assert losses == {"bce", "mse", "half_mse", "mae", "cce"}
    assert {net.depth for net, _ in CASES} == {1, 2, 3, 4}
    assert {w for net, _ in CASES for w in net.layers} == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("net,seed", CASES, ids=[f"{i}-{'-'.join(map(str, n.layers))}-{n.loss}"
                                                  for i, (n, _) in enumerate(CASES)])
def test_gradients_agree_with_hand_numpy_finite_differences_and_torch(net, seed):
    rng = np.random.default_rng(seed)
    params, data, W, b, X, Y = random_problem(rng, net)
    sol = solve(net, params, data, 0.1)
    z, a, d, dW, db, losses = _arrays(net, sol, data.size)
    hand = oracle.mlp(net.layers, net.activations, net.loss, W, b, X, Y)

    for l in range(net.depth):
        assert oracle.rel_err(z[l], hand["zs"][l], 1e-3) < 1e-12, f"z{l + 1}"  # sums in another order
        assert oracle.rel_err(a[l], hand["as"][l + 1], 1e-12) < 1e-9, f"a{l + 1}"
        assert oracle.rel_err(d[l], hand["deltas"][l], 1e-10) < 1e-8, f"delta{l + 1}"
        assert oracle.rel_err(dW[l], hand["dW"][l], 1e-10) < 1e-8, f"dW{l + 1}"
    assert oracle.rel_err(losses, hand["losses"]) < 1e-10

    fd_W, fd_b = oracle.finite_differences(net.layers, net.activations, net.loss, W, b, X, Y)
    for l in range(net.depth):
        assert oracle.rel_err(dW[l], fd_W[l], floor=1e-4) < 1e-6, f"dW{l + 1} vs finite differences"
        if b is not None:
            assert oracle.rel_err(db[l], fd_b[l], floor=1e-4) < 1e-6, f"db{l + 1} vs finite differences"

    if oracle.torch is not None:
        L, tW, tb = oracle.torch_gradients(net.layers, net.activations, net.loss, W, b, X, Y)
        assert oracle.rel_err(sol["loss"], L) < 1e-10
        for l in range(net.depth):
            assert oracle.rel_err(dW[l], tW[l], floor=1e-12) < 1e-10, f"dW{l + 1} vs torch"
            if b is not None:
                assert oracle.rel_err(db[l], tb[l], floor=1e-12) < 1e-10, f"db{l + 1} vs torch"


def test_torch_is_installed_in_ci():
    import os
    if os.environ.get("CI") == "true":
        assert oracle.torch is not None, "CI installs torch==2.13.0 as the autograd oracle"


@pytest.mark.parametrize("net,seed", CASES[:40:4])
def test_gradcheck_reports_small_relative_errors(net, seed):
    params, data, *_ = random_problem(np.random.default_rng(seed), net)
    rows = gradcheck(net, params, data)
    assert len(rows) == sum(a * b for a, b in zip(net.layers, net.layers[1:])) + (
        sum(net.layers[1:]) if net.bias else 0)
    assert max(r.rel_error for r in rows) < 1e-6


def test_gradcheck_catches_a_wrong_gradient(monkeypatch):
    """The check must be able to fail: corrupt one δ and it must report it."""
    net = Network((2, 2, 1), ("sigmoid", "sigmoid"), "bce")
    params, data, *_ = random_problem(np.random.default_rng(1), net, batch=1)
    graph = build_graph(net, 1)
    wrong = type(graph.quantities[0])(**{**graph["delta2_1"].__dict__, "rule": 2 * graph["delta2_1"].rule})
    broken = type(graph)(**{**graph.__dict__, "quantities": tuple(
        wrong if q.name == "delta2_1" else q for q in graph.quantities)})
    monkeypatch.setattr("derive.numeric.build_graph", lambda n, s=1: broken)
    assert max(r.rel_error for r in gradcheck(net, params, data)) > 0.1


@pytest.mark.parametrize("z", [1000.0, -1000.0, 745.0, -745.0, 40.0, -40.0])
def test_sigmoid_bce_is_finite_and_right_at_extreme_pre_activations(z):
    net = Network((1, 1), ("sigmoid",), "bce")
    params = Params((((z,),),), ((0.0,),))
    for y in (0.0, 1.0):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sol = solve(net, params, Data(((1.0,),), ((y,),)), 0.1)
        # BCE(σ(z), y) = softplus(z) − y z, computed independently with Python floats
        expected = max(z, 0) + np.log1p(np.exp(-abs(z))) - y * z
        assert np.isfinite(list(sol.values.values())).all()
        assert sol["loss"] == pytest.approx(expected, rel=1e-12)
        assert sol["delta1_1"] == pytest.approx(oracle.act("sigmoid", np.array(z)) - y, abs=1e-15)


@pytest.mark.parametrize("scale", [1000.0, -1000.0])
def test_softmax_cce_is_finite_and_right_at_extreme_pre_activations(scale):
    net = Network((1, 3), ("softmax",), "cce")
    params = Params((((scale,), (0.0,), (-scale,)),), ((0.0, 0.0, 0.0),))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sol = solve(net, params, Data(((1.0,),), ((0.0, 1.0, 0.0),)), 0.1)
    # z = (s, 0, −s); the target is the middle class: loss = logsumexp(z) − 0 = |s| + log(1 + e^−|s| + e^−2|s|)
    assert sol["loss"] == pytest.approx(abs(scale), rel=1e-12)
    assert np.isfinite(list(sol.values.values())).all()


def test_solution_has_exactly_the_design_names():
    for layers, bias, n in [((2, 2, 1), True, 1), ((3, 4, 2), False, 1), ((2, 3, 1), True, 4)]:
        net = Network(layers, ("tanh", "sigmoid"), "bce", bias)
        params, data, *_ = random_problem(np.random.default_rng(3), net, batch=n)
        sol = solve(net, params, data, 0.5)
        assert list(sol.values) == names.expected(layers, bias, samples=n)


def test_update_is_one_gradient_step():
    net = Network((2, 2, 1), ("sigmoid", "sigmoid"), "bce")
    params, data, W, b, X, Y = random_problem(np.random.default_rng(5), net, batch=1)
    sol = solve(net, params, data, 0.3)
    hand = oracle.mlp(net.layers, net.activations, net.loss, W, b, X, Y)
    assert sol["new_W1_2_1"] == pytest.approx(W[0][1, 0] - 0.3 * hand["dW"][0][1, 0], abs=1e-15)
    assert sol["new_b2_1"] == pytest.approx(b[1][0] - 0.3 * hand["db"][1][0], abs=1e-15)


def test_classic_tutorial_numbers():
    """The classic 2-2-1 lab: z = 0.5·1 + (−0.3)·0 + 0.1, worked with Python floats."""
    from derive.spec import load_spec
    import math
    spec = load_spec("worksheets/classic-221.toml")
    sol = solve(spec.network, spec.fixed_params(), spec.data, 0.5)
    z11, z12 = 0.5 * 1 + -0.3 * 0 + 0.1, 0.8 * 1 + 0.2 * 0 - 0.1
    s = lambda v: 1 / (1 + math.exp(-v))
    z2 = 0.7 * s(z11) - 0.5 * s(z12) + 0.2
    assert sol["z1_1"] == pytest.approx(z11) and sol["z1_2"] == pytest.approx(z12)
    assert sol["a2_1"] == pytest.approx(s(z2))
    assert sol["loss"] == pytest.approx(-math.log(s(z2)))
    assert sol["delta2_1"] == pytest.approx(s(z2) - 1)


@pytest.mark.parametrize("value,decimals,text", [
    (0.125, 2, "0.13"), (-0.125, 2, "-0.13"), (0.78, 4, "0.7800"), (-0.00004, 4, "0.0000"),
    (2.675, 2, "2.68"), (1e-7, 3, "0.000"), (0.99995, 4, "1.0000"), (-0.2040499, 4, "-0.2040")])
def test_quantize_rounds_half_up_as_printed(value, decimals, text):
    assert format_number(value, decimals) == text
    assert str(quantize(value, decimals)) == text
