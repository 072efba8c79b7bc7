"""Full-batch gradient descent on a spec's batch (XOR is the shipped example).

Uses the numeric stage's lambdified path, records the loss of every epoch
and, when training does not converge, says what stalled: dead ReLU units,
vanishing gradients, saturated units or a symmetric start.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DeriveError
from .functions import ACTIVATIONS
from .numeric import Arrays, evaluate, float_program, given_values, layer_values
from .spec import Data, Network, Params
from .symbolic import Graph, build_graph


@dataclass(frozen=True)
class TrainingRun:
    """The result of training: loss per epoch (before its update), final state, verdict."""

    losses: tuple[float, ...]
    predictions: tuple[tuple[float, ...], ...]
    params: Params
    converged: bool
    diagnosis: str

    def __repr__(self) -> str:
        return (f"TrainingRun(epochs={len(self.losses)}, loss {self.losses[0]:.4g} → "
                f"{self.losses[-1]:.4g}, converged={self.converged})")


def initial_params(net: Network, seed: int) -> Params:
    """Glorot-uniform weights and zero biases from a generator seeded with ``seed``."""
    if seed < 0:  # NumPy's SeedSequence takes only non-negative seeds
        raise DeriveError(f"expected a seed of 0 or more; got {seed}", key="--seed")
    rng = np.random.default_rng(seed)
    W = []
    for n_in, n_out in zip(net.layers[:-1], net.layers[1:]):
        r = np.sqrt(6.0 / (n_in + n_out))
        W.append(rng.uniform(-r, r, size=(n_out, n_in)))
    b = tuple(np.zeros(n) for n in net.layers[1:]) if net.bias else None
    return Arrays(tuple(W), b).to_params()


@dataclass(frozen=True)
class _State:
    """One evaluation of the graph during training, as arrays (rows = examples)."""

    params: Arrays
    z: tuple[np.ndarray, ...]
    yhat: np.ndarray
    gradients: tuple[np.ndarray, ...]
    loss: float


def _evaluate(graph: Graph, params: Arrays, data: Data, learning_rate: float) -> tuple[_State, Arrays]:
    """The graph at ``params``: the state there, and the parameters after its update nodes."""
    net, n = graph.network, graph.samples
    values = evaluate(graph, given_values(graph, params.to_params(), data, learning_rate), scalar=True)
    grads = [np.array([values[k] for k in values if k.startswith(("dW", "db"))])]
    new = Arrays(tuple(np.array([[values[f"new_W{l}_{j}_{i}"] for i in range(1, net.layers[l - 1] + 1)]
                                 for j in range(1, net.layers[l] + 1)]) for l in range(1, net.depth + 1)),
                 None if params.b is None else
                 tuple(np.array([values[f"new_b{l}_{j}"] for j in range(1, net.layers[l] + 1)])
                       for l in range(1, net.depth + 1)))
    state = _State(params, tuple(layer_values(values, "z", net, n)), layer_values(values, "a", net, n)[-1],
                   tuple(grads), float(values["loss"]))
    return state, new


def train(net: Network, params: Params, data: Data, learning_rate: float, epochs: int) -> TrainingRun:
    """Run ``epochs`` steps of full-batch gradient descent from ``params``.

    Each step is one evaluation of the exercise's graph; the next parameters
    are its update quantities, new = old − η·gradient, fed straight back in.
    """
    graph = build_graph(net, data.size)
    step, args, slots, loss_at = _stepper(graph, params, data, learning_rate)
    losses = np.empty(epochs)
    for epoch in range(epochs):
        out = step(*args)
        losses[epoch] = out[loss_at]
        for k, j in slots:  # W ← new_W, b ← new_b
            args[k] = out[j]
    given = dict(zip((s.name for s in graph.given), args))
    p = Arrays.of(Params(*_parameters(net, given)))
    final, _ = _evaluate(graph, p, data, learning_rate)
    Y = np.array(data.y, dtype=float)
    fits = _fits(net, final.yhat, Y, losses)
    diagnosis = _diagnose(net, p, final, losses, fits)
    return TrainingRun(tuple(float(v) for v in losses),
                       tuple(tuple(float(v) for v in row) for row in final.yhat),
                       p.to_params(), fits, diagnosis)


def _stepper(graph: Graph, params: Params, data: Data, learning_rate: float):
    """The graph's float function, its arguments, and (argument, update output) index pairs."""
    names = {n: k for k, n in enumerate(graph.names)}
    given = [s.name for s in graph.given]
    values = given_values(graph, params, data, learning_rate)
    slots = [(k, names[f"new_{n}"]) for k, n in enumerate(given) if f"new_{n}" in names]
    return float_program(graph, scalar=True), [values[n] for n in given], slots, names["loss"]


def _parameters(net: Network, given: dict) -> tuple:
    """(W, b) as nested tuples from the givens by name."""
    W = tuple(tuple(tuple(float(given[f"W{l}_{j}_{i}"]) for i in range(1, net.layers[l - 1] + 1))
                    for j in range(1, net.layers[l] + 1)) for l in range(1, net.depth + 1))
    b = (tuple(tuple(float(given[f"b{l}_{j}"]) for j in range(1, net.layers[l] + 1))
               for l in range(1, net.depth + 1)) if net.bias else None)
    return W, b


def _fits(net: Network, Yhat: np.ndarray, Y: np.ndarray, losses: np.ndarray) -> bool:
    """Classification: every prediction on the right side of ½ (or argmax); else loss fell 100×."""
    if net.loss == "cce":
        return bool(np.all(Yhat.argmax(axis=1) == Y.argmax(axis=1)))
    if net.loss == "bce":
        return bool(np.all(np.abs(Yhat - Y) < 0.5))
    return bool(losses[-1] <= max(1e-2 * losses[0], 1e-6))


def _diagnose(net: Network, p: Arrays, r: _State, losses: np.ndarray, fits: bool) -> str:
    start, end = losses[0], r.loss
    if fits:
        return (f"converged: the loss fell from {start:.4g} to {end:.4g} in {len(losses)} epochs "
                "and every prediction is on the right side of its target")
    flat = abs(start - end) < 0.01 * max(abs(start), 1e-12)
    head = (f"stalled: the loss stayed flat near its starting value ({start:.4g} → {end:.4g})"
            if flat else f"not converged: the loss fell from {start:.4g} to {end:.4g} "
                         f"in {len(losses)} epochs but some predictions are still wrong")
    reasons = _dead_units(net, r) + _saturated_units(net, r) + _symmetric_units(net, p)
    reasons += _tiny_gradients(r)
    return head + ("; " + "; ".join(reasons) if reasons else "; try more epochs or another learning rate")


def _dead_units(net: Network, r: _State) -> list[str]:
    dead = [f"a{l}_{j + 1}" for l, (Z, act) in enumerate(zip(r.z[:-1], net.activations), start=1)
            if act == "relu" for j in range(Z.shape[1]) if np.all(Z[:, j] <= 0)]
    return [f"dead ReLU units {', '.join(dead)}: z ≤ 0 for every example, so no gradient "
            "flows through them"] if dead else []


def _saturated_units(net: Network, r: _State) -> list[str]:
    sat = [f"a{l}_{j + 1}" for l, (Z, act) in enumerate(zip(r.z[:-1], net.activations), start=1)
           if ACTIVATIONS[act].bounded for j in range(Z.shape[1]) if np.all(np.abs(Z[:, j]) > 6)]
    return [f"saturated units {', '.join(sat)}: |z| > 6 for every example, so g′(z) ≈ 0"] if sat else []


def _symmetric_units(net: Network, p: Arrays) -> list[str]:
    """Hidden units with equal incoming and outgoing weights get equal gradients forever."""
    out = []
    for l in range(len(p.W) - 1):
        b = p.b[l] if p.b is not None else np.zeros(p.W[l].shape[0])
        # a unit is its incoming weights, its bias and its outgoing weights
        units = [np.concatenate([p.W[l][j], [b[j]], p.W[l + 1][:, j]]) for j in range(len(b))]
        groups: list[list[int]] = []
        for j, u in enumerate(units):
            for g in groups:
                if np.allclose(units[g[0]], u):
                    g.append(j)
                    break
            else:
                groups.append([j])
        for g in (g for g in groups if len(g) > 1):
            out.append(f"hidden units {', '.join(f'a{l + 1}_{j + 1}' for j in g)} are identical "
                       "(a symmetric start): they get identical gradients and can never differ")
    return out


def _tiny_gradients(r: _State) -> list[str]:
    largest = max(float(np.abs(g).max()) for g in r.gradients)
    if largest < 1e-4:
        return [f"the gradients are tiny (largest |∂L/∂θ| = {largest:.2g}), so the weights barely "
                "move: the starting weights are too small for the signal to pass through the layers"]
    return []
