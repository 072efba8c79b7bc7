"""Benchmark the symbolic core and the numeric path.

    python3 benchmarks/bench_core.py [--full]

1. derive + lambdify (layered construction) for [2,2,1], [4,8,8,1],
   [8,16,16,16,1], against a baseline measured in the same run: SymPy's diff of
   the fully expanded loss, for every weight ([2,2,1] always; [4,8,8,1] with
   --full, about 30 s; [8,16,16,16,1] is out of reach: hours).
2. One epoch of full-batch XOR training through derive's lambdified path,
   against a handwritten NumPy backprop of the same 2-4-1 network.
"""
from __future__ import annotations

import argparse
import sys
import time
import timeit
from pathlib import Path

import numpy as np
import sympy as sp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from derive import numeric, symbolic  # noqa: E402
from derive.spec import Network, load_spec  # noqa: E402


def fresh_compile(net: Network) -> float:
    """Derive the network, build its graph and lambdify the graph, with every cache cleared."""
    symbolic.derive_network.cache_clear()
    symbolic._output_chain_of.cache_clear()
    symbolic.build_graph.cache_clear()
    numeric.float_program.cache_clear()
    t = time.perf_counter()
    numeric.float_program(symbolic.build_graph(net), scalar=True)
    return time.perf_counter() - t


def expanded_diff(net: Network) -> float:
    """The naive route: expand L in x, y, W, b and diff it for every weight."""
    d = symbolic.derive_network(net)
    t = time.perf_counter()
    L = d.loss_expr.xreplace(symbolic.expand_network(d))
    grads = [sp.diff(L, w) for _, w, _ in symbolic._parameters(d)]
    sp.lambdify([*d.x, *d.y, *[w for _, w, _ in symbolic._parameters(d)]], grads, cse=True)
    return time.perf_counter() - t


def hand_epoch(W1, b1, W2, b2, X, Y, lr):
    Z1 = X @ W1.T + b1
    A1 = 1 / (1 + np.exp(-Z1))
    Z2 = A1 @ W2.T + b2
    A2 = 1 / (1 + np.exp(-Z2))
    loss = np.mean(np.logaddexp(0, Z2) - Y * Z2)
    D2 = A2 - Y
    D1 = (D2 @ W2) * A1 * (1 - A1)
    n = len(X)
    return (W1 - lr * (D1.T @ X / n), b1 - lr * D1.mean(0),
            W2 - lr * (D2.T @ A1 / n), b2 - lr * D2.mean(0), loss)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="also time the expanded diff of [4,8,8,1] (~30 s)")
    args = ap.parse_args()

    print("derive + lambdify (layered)       seconds   baseline: expanded diff   ratio")
    for layers in [(2, 2, 1), (4, 8, 8, 1), (8, 16, 16, 16, 1)]:
        net = Network(layers, ("sigmoid",) * (len(layers) - 1), "bce")
        t = min(fresh_compile(net) for _ in range(3))
        base = expanded_diff(net) if layers == (2, 2, 1) or (args.full and layers == (4, 8, 8, 1)) else None
        shown = f"{base:10.3f} s            {base / t:6.1f}x" if base else "   (not run)"
        print(f"  {str(list(layers)):<28} {t:8.3f}   {shown}")

    import importlib
    train = importlib.import_module("derive.train")  # the module: derive.train is also the function
    spec = load_spec(Path(__file__).resolve().parent.parent / "worksheets" / "xor-241.toml")
    graph = symbolic.build_graph(spec.network, spec.data.size)
    X, Y = np.array(spec.data.x), np.array(spec.data.y)
    p = numeric.Arrays.of(spec.fixed_params())
    W1, W2 = p.W
    b1, b2 = p.b
    n = 3000
    hand = min(timeit.repeat(lambda: hand_epoch(W1, b1, W2, b2, X, Y, 1.0), number=n, repeat=5)) / n
    step, args, slots, _ = train._stepper(graph, spec.fixed_params(), spec.data, 1.0)

    def epoch():  # what train() does per epoch: one evaluation, the update fed back
        out = step(*args)
        for k, j in slots:
            args[k] = out[j]

    ours = min(timeit.repeat(epoch, number=n, repeat=5)) / n
    print(f"XOR epoch (2-4-1, batch 4)        derive {ours * 1e6:7.1f} µs   handwritten NumPy "
          f"{hand * 1e6:7.1f} µs   ratio {ours / hand:4.2f}x")


if __name__ == "__main__":
    main()
