"""Per-student parameter sets: drawn from the student's ID and a secret.

The seed is an HMAC of the student's id under the instructor's secret, so
the same inputs always give the same sheet and a student cannot compute
another's.  Draws come from the spec's grid and are redrawn, with the same
generator, until the exercise is a good one (see :func:`problems`).
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from . import names
from .errors import DeriveError
from .functions import ACTIVATIONS
from .numeric import Arrays, batch, compile_network, forward, quantize, solve
from .spec import Data, Grid, Params, Spec

KINK_MARGIN = 0.05   # no ReLU pre-activation this close to 0
SATURATION = 4.0     # no sigmoid/tanh pre-activation beyond ±4 (σ′ ≈ 0)
MAX_DRAWS = 2000


@dataclass(frozen=True)
class Draw:
    """One student's exercise: the seed it came from, its parameters and data."""

    seed: int
    params: Params
    data: Data


def secret_fingerprint(secret: str) -> str:
    """A short public fingerprint of the secret, safe to store in the manifest."""
    return hashlib.sha256(b"derive-secret:" + secret.encode()).hexdigest()[:12]


def student_seed(secret: str, student_id: str, attempt: int = 0) -> int:
    """HMAC-SHA256(secret, id) as a 64-bit seed; ``attempt`` > 0 gives a fresh one."""
    msg = student_id if attempt == 0 else f"{student_id}#{attempt}"
    digest = hmac.new(secret.encode(), msg.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


def _draw_grid(rng: np.random.Generator, grid: Grid, shape) -> np.ndarray:
    values = np.array(grid.values())
    return values[rng.integers(0, len(values), size=shape)]


def _draw(spec: Spec, rng: np.random.Generator) -> tuple[Params, Data]:
    """Draw every value the spec does not fix, from its grids."""
    net, rnd = spec.network, spec.random
    W, b = [], []
    for l in range(1, net.depth + 1):
        shape = (net.layers[l], net.layers[l - 1])
        W.append(np.array(spec.fixed[f"W{l}"]) if f"W{l}" in spec.fixed
                 else _draw_grid(rng, rnd.weights, shape))
        if net.bias:
            b.append(np.array(spec.fixed[f"b{l}"]) if f"b{l}" in spec.fixed
                     else _draw_grid(rng, rnd.biases or rnd.weights, shape[0]))
    params = Arrays(tuple(W), tuple(b) if net.bias else None).to_params()
    x, y = spec.data.x, spec.data.y
    if rnd.inputs is not None:
        x = _draw_grid(rng, rnd.inputs, (spec.data.size, net.layers[0]))
    if rnd.targets == "one-hot":
        y = np.eye(net.layers[-1])[rng.integers(0, net.layers[-1], size=spec.data.size)]
    elif rnd.targets is not None:
        y = np.array(rnd.targets)[rng.integers(0, len(rnd.targets), size=(spec.data.size, net.layers[-1]))]
    as_tuples = lambda m: tuple(tuple(float(v) for v in row) for row in m)
    return params, Data(as_tuples(x), as_tuples(y))


def problems(spec: Spec, params: Params, data: Data,
             extra: Callable[[Spec, Params, Data], list[str]] | None = None) -> list[str]:
    """What makes this draw a poor exercise (empty when it is a good one).

    A pre-activation near a ReLU kink (the derivative is ambiguous by hand), a
    saturated sigmoid/tanh unit (σ′ ≈ 0: the backward pass rounds away), an
    asked-for value that is non-zero but rounds to zero.
    """
    net = spec.network
    zs, _ = forward(compile_network(net), Arrays.of(params), batch(data)[0])
    out = []
    for l, (Z, act) in enumerate(zip(zs, net.activations), start=1):
        a = ACTIVATIONS[act]
        if a.kinked and np.any(np.abs(Z) < KINK_MARGIN):
            out.append(f"a layer-{l} pre-activation is within {KINK_MARGIN} of the ReLU kink")
        if a.bounded and np.any(np.abs(Z) > SATURATION):
            out.append(f"a layer-{l} unit is saturated (|z| > {SATURATION})")
    sol = solve(net, params, data, spec.exercise.learning_rate)
    asked = names.in_sections(list(sol.values), spec.exercise.sections)
    zero = [n for n in asked if sol[n] != 0 and quantize(sol[n], spec.exercise.decimals) == 0]
    if zero:
        out.append(f"{', '.join(zero[:3])} round to zero at {spec.exercise.decimals} decimals")
    return out + (extra(spec, params, data) if extra else [])


def draw_student(spec: Spec, seed: int, extra=None) -> Draw:
    """The first good draw of the generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    if spec.is_fixed():
        return Draw(seed, spec.fixed_params(), spec.data)
    for _ in range(MAX_DRAWS):
        params, data = _draw(spec, rng)
        if not problems(spec, params, data, extra):
            return Draw(seed, params, data)
    raise DeriveError(f"no good exercise in {MAX_DRAWS} draws (seed {seed}); widen the "
                      "[random] grids or change the network", file=spec.path, key="[random]")


def draw_class(spec: Spec, secret: str, student_ids: list[str], extra=None,
               progress: Callable[[int, int], None] | None = None,
               first: Mapping[str, Draw] | None = None) -> dict[str, Draw]:
    """One good draw per student; no two alike while the grid allows it.

    Walks the roster in order: a student whose draw repeats an earlier
    student's is redrawn from a fresh seed (attempt 1, 2, …).  ``first`` may
    hold each student's attempt-0 draw computed elsewhere (in parallel); the
    result is the same as without it.
    """
    seen: set = set()
    out = {}
    for k, sid in enumerate(student_ids):
        for attempt in range(50):
            d = (first[sid] if attempt == 0 and first and sid in first
                 else draw_student(spec, student_seed(secret, sid, attempt), extra))
            key = (d.params, d.data)
            if key not in seen or spec.is_fixed():
                break
        seen.add(key)
        out[sid] = d
        if progress:
            progress(k + 1, len(student_ids))
    return out
