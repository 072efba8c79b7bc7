"""Per-student parameter sets: drawn from the student's ID and a secret.

The seed is an HMAC of the student's id under the instructor's secret,
stretched once per class (:mod:`derive.secret`), so the same inputs always
give the same sheet and a student cannot compute another's.  Draws come from the spec's grid and are redrawn, with the same
generator, until the exercise is a good one (see :func:`problems`).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Mapping

import numpy as np

from . import names
from .errors import DeriveError
from .functions import ACTIVATIONS
from .numeric import Arrays, exact_givens, layer_values, rounded_chain, solve
from .secret import student_seed  # re-exported: seeds are a draw's input
from .spec import Data, Grid, Params, Spec
from .symbolic import build_graph

KINK_MARGIN = 0.05   # no ReLU pre-activation this close to 0
SATURATION = 4.0     # no sigmoid/tanh pre-activation beyond ±4 (σ′ ≈ 0)
MAX_DRAWS = 2000
DRAW_RULES = 3
"""The version of :func:`problems`: a seed rebuilds its sheet only under the rules it was drawn by
(2: dead ReLU units are redrawn; 3: so is a sheet where a gradient check's or training table's
named mistake gives the right rounded value).  The manifest records :func:`draw_rules`, and
grading from seeds checks it."""


def draw_rules(spec: Spec) -> int:
    """The rules this spec's sheets are drawn under: rules 3 changed only the sheets with a
    gradient check or training steps, so a class of other sheets drawn under 2 still rebuilds
    from its seeds."""
    from .lab import LAB_SECTIONS
    return DRAW_RULES if any(s in LAB_SECTIONS for s in spec.exercise.sections) else 2


@dataclass(frozen=True)
class Draw:
    """One student's exercise: the seed it came from, its parameters and data."""

    seed: int
    params: Params
    data: Data


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


def asked_names(spec: Spec, samples: int) -> list[str]:
    """The answer names the spec's sheet asks for, in worksheet order."""
    if spec.trace is not None:  # a computation-graph trace asks for every quantity of its graph
        from .trace import spec_trace
        return list(spec_trace(spec).graph.names)
    net = spec.network
    from .lab import asked  # the gradient check's and training table's names
    return (names.in_sections(names.expected(net.layers, net.bias, samples), spec.exercise.sections)
            + asked(spec.exercise, net))


def problems(spec: Spec, params: Params, data: Data) -> list[str]:
    """What makes this draw a poor exercise (empty when it is a good one).

    - a pre-activation near a ReLU kink (the derivative is ambiguous by hand);
    - a ReLU unit dead on every example (z < 0 throughout: its a, its δ and its weights'
      gradients are all 0, a third of the answers by the audit), unless ``[random].allow_dead``;
    - a saturated sigmoid/tanh unit (σ′ ≈ 0: the backward pass rounds away);
    - an asked value that is non-zero but rounds to zero;
    - a named mistake that gives the right rounded answer, so it could not be told apart
      (in a gradient check and training steps too: :func:`_lab_problems`).
    """
    net, ex = spec.network, spec.exercise
    zs = layer_values(solve(net, params, data, ex.learning_rate).values, "z", net, data.size)
    out = []
    for l, (Z, act) in enumerate(zip(zs, net.activations), start=1):
        a = ACTIVATIONS[act]
        if a.kinked and np.any(np.abs(Z) < KINK_MARGIN):
            out.append(f"a layer-{l} pre-activation is within {KINK_MARGIN} of the ReLU kink")
        if a.kinked and not spec.random.allow_dead and np.any(np.all(Z < 0, axis=0)):
            out.append(f"a layer-{l} unit is dead (z < 0 on every example)")
        if a.bounded and np.any(np.abs(Z) > SATURATION):
            out.append(f"a layer-{l} unit is saturated (|z| > {SATURATION})")
    if out:
        return out
    graph = build_graph(net, data.size)
    givens = exact_givens(graph, params, data, ex.learning_rate)
    key = rounded_chain(graph, givens, ex.decimals, ex.rounding)
    asked = [n for n in asked_names(spec, data.size) if n in graph]  # not the lab's: a gradient check's relative error rounds to 0 by design
    zero = [n for n in asked if key.unrounded[n] != 0 and key[n] == 0]
    if zero:
        out.append(f"{', '.join(zero[:3])} round to zero at {ex.decimals} decimals")
    carried = {**givens, **({n: Fraction(v) for n, v in key.values.items()}
                            if ex.rounding == "carry" else key.unrounded)}
    from .mistakes import indistinguishable
    out += [f"{n}: mistake {m} gives the same rounded value"
            for n, m in indistinguishable(graph, carried, key, ex.decimals, asked)]
    return out or _lab_problems(spec, params, data)


def _lab_problems(spec: Spec, params: Params, data: Data) -> list[str]:
    """A gradient check's or training table's named mistake that gives the right rounded value.

    Not the relative error's: ε is chosen so that the estimate and the backward pass agree to
    the sheet's places, so its key is 0 (where each of its mistakes gives 0 as well: the same
    formula there) or a few units of the last place over a gradient, which a wrong denominator
    changes only in the second order and a dropped bar only in a sign that rounds away with the
    value (relerr rounds to 0 by design).  Redrawing for those would redraw most sheets whose
    check shows a difference; the relative error's mistakes are told apart from a student's own
    (wrong) estimate, which is where they occur.
    """
    from .gradient_check import parse_name
    from .lab import asked, exercise_problem
    from .mistakes import indistinguishable
    lab = [n for n in asked(spec.exercise, spec.network) if (parse_name(n) or ("",))[0] != "relerr"]
    if not lab:
        return []
    pr = exercise_problem(spec, params, data)
    return [f"{n}: mistake {m} gives the same rounded value"
            for n, m in indistinguishable(pr.graph, pr.carried, pr.key, spec.exercise.decimals, lab)]


def draw_student(spec: Spec, seed: int) -> Draw:
    """The first good draw of the generator seeded with ``seed``: the seed alone rebuilds it."""
    if seed < 0:  # NumPy's SeedSequence takes only non-negative seeds
        raise DeriveError(f"expected a seed of 0 or more; got {seed}", key="--seed")
    if spec.trace is not None:
        from .trace import draw_spec
        return draw_spec(spec, seed)
    rng = np.random.default_rng(seed)
    if spec.is_fixed():
        return Draw(seed, spec.fixed_params(), spec.data)
    for _ in range(MAX_DRAWS):
        params, data = _draw(spec, rng)
        if not problems(spec, params, data):
            return Draw(seed, params, data)
    raise DeriveError(f"no good exercise in {MAX_DRAWS} draws (seed {seed}); widen the "
                      "[random] grids or change the network", file=spec.path, key="[random]")


def draw_class(spec: Spec, secret: str, student_ids: list[str],
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
                 else draw_student(spec, student_seed(secret, sid, attempt)))
            key = (d.params, d.data)
            if key not in seen or spec.is_fixed():
                break
        seen.add(key)
        out[sid] = d
        if progress:
            progress(k + 1, len(student_ids))
    return out
