"""Training XOR, and saying why a run stalled."""
import json

import numpy as np

import oracle
from derive.cli import main
from derive.numeric import Arrays
from derive.spec import load_spec
from derive.train import initial_params, train


def _train_json(capsys, *args):
    assert main(["train", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_xor_converges_to_0_1_1_0(capsys):
    out = _train_json(capsys, "worksheets/xor-241.toml", "--epochs", "5000")
    assert [round(p[0]) for p in out["predictions"]] == [0, 1, 1, 0]
    assert out["converged"] is True
    assert out["losses"][-1] < 0.05 * out["losses"][0]
    assert "converged" in out["diagnosis"]


def test_training_follows_hand_gradient_descent():
    """Ten epochs by derive equal ten epochs of the independent hand NumPy MLP."""
    spec = load_spec("worksheets/xor-241.toml")
    run = train(spec.network, spec.fixed_params(), spec.data, 1.0, 10)
    p = spec.fixed_params()
    W = [np.array(w) for w in p.W]
    b = [np.array(v) for v in p.b]
    X, Y = np.array(spec.data.x), np.array(spec.data.y)
    for epoch in range(10):
        h = oracle.mlp(spec.network.layers, spec.network.activations, "bce", W, b, X, Y)
        assert abs(run.losses[epoch] - h["losses"].mean()) < 1e-12, epoch
        W = [w - g for w, g in zip(W, h["dW"])]
        b = [v - g for v, g in zip(b, h["db"])]
    assert np.allclose(Arrays.of(run.params).W[0], W[0], atol=1e-12)


def test_tiny_relu_start_is_reported_as_stalled_with_dead_units(capsys):
    out = _train_json(capsys, "tests/fixtures/specs/xor-relu-tiny.toml", "--epochs", "2000")
    assert out["converged"] is False
    assert out["diagnosis"].startswith("stalled: the loss stayed flat")
    assert "dead ReLU units a1_1, a1_2, a1_3, a1_4" in out["diagnosis"]
    assert abs(out["losses"][-1] - out["losses"][0]) < 1e-3


def test_symmetric_start_is_named(capsys):
    out = _train_json(capsys, "tests/fixtures/specs/xor-symmetric.toml", "--epochs", "500")
    assert out["converged"] is False
    assert "hidden units a1_1, a1_2, a1_3 are identical" in out["diagnosis"]


def test_seeded_start_is_reproducible_and_used_when_params_are_missing(capsys):
    spec = load_spec("worksheets/nobias-221.toml")
    assert initial_params(spec.network, 3) == initial_params(spec.network, 3)
    assert initial_params(spec.network, 3) != initial_params(spec.network, 4)
    a = _train_json(capsys, "worksheets/nobias-221.toml", "--epochs", "5", "--seed", "3")
    b = _train_json(capsys, "worksheets/nobias-221.toml", "--epochs", "5", "--seed", "3")
    assert a == b and len(a["losses"]) == 5
