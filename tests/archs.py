"""Random architectures, parameters and data for the property tests."""
from __future__ import annotations

import numpy as np

from derive.spec import Data, Network, Params

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "linear"]
OUTPUT_LOSS = [("sigmoid", "bce"), ("softmax", "cce"), ("sigmoid", "mse"), ("tanh", "half_mse"),
               ("linear", "mse"), ("relu", "half_mse"), ("leaky_relu", "mae"), ("sigmoid", "mae"),
               ("softmax", "mse"), ("linear", "half_mse"), ("tanh", "mae"), ("softmax", "half_mse")]


def random_network(rng: np.random.Generator, max_depth=4, max_width=5) -> Network:
    depth = int(rng.integers(1, max_depth + 1))
    out_act, loss = OUTPUT_LOSS[int(rng.integers(len(OUTPUT_LOSS)))]
    widths = [int(rng.integers(1, max_width + 1)) for _ in range(depth + 1)]
    if out_act == "softmax":
        widths[-1] = max(widths[-1], 2)
    acts = tuple(HIDDEN[int(rng.integers(len(HIDDEN)))] for _ in range(depth - 1)) + (out_act,)
    return Network(tuple(widths), acts, loss, bias=bool(rng.random() < 0.85))


def random_problem(rng: np.random.Generator, net: Network, batch: int | None = None):
    """Parameters and data away from kinks, so finite differences are meaningful."""
    n = batch or int(rng.integers(1, 4))
    while True:
        W = [rng.normal(0, 0.9, (o, i)) for i, o in zip(net.layers[:-1], net.layers[1:])]
        b = [rng.normal(0, 0.5, o) for o in net.layers[1:]] if net.bias else None
        X = rng.normal(0, 1, (n, net.layers[0]))
        Y = _targets(rng, net, n)
        if not _near_kink(net, W, b, X, Y):
            break
    t = lambda m: tuple(tuple(float(v) for v in row) for row in m)
    params = Params(tuple(t(w) for w in W), tuple(tuple(float(v) for v in bb) for bb in b) if b else None)
    return params, Data(t(X), t(Y)), W, b, X, Y


def _targets(rng, net, n):
    k = net.layers[-1]
    if net.loss == "cce":
        return np.eye(k)[rng.integers(0, k, n)]
    if net.loss == "bce":
        return rng.uniform(0, 1, (n, k)).round(1)
    return rng.normal(0, 1, (n, k))


def _near_kink(net, W, b, X, Y, margin=0.02):
    from oracle import act
    A = X
    for l, w in enumerate(W):
        z = A @ w.T + (b[l] if b is not None else 0)
        if net.activations[l] in ("relu", "leaky_relu") and np.any(np.abs(z) < margin):
            return True
        A = act(net.activations[l], z)
    return net.loss == "mae" and bool(np.any(np.abs(A - Y) < margin))
