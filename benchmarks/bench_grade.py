"""Benchmark the grade stage: a synthetic class of students on the classic 2-2-1 sheet.

    python benchmarks/bench_grade.py [--students N] [--seed S]

Each student gets random parameters (numpy, fixed seed, the spec's grid)
and answers typed from their key (rounded to the sheet's decimals), with
planted errors: a slip carried forward, a named mistake, a missing cell, an
unparseable cell.  Prints the time to grade the class, per student, and the
ratio to a baseline measured in the same run: solving the N exercises.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fractions import Fraction  # noqa: E402

from derive.grade import Problem, grade_student  # noqa: E402
from derive.numeric import evaluate_exact, round_half_up, show, solve  # noqa: E402
from derive.spec import Params, load_spec  # noqa: E402


def random_params(rng: np.random.Generator, layers) -> Params:
    """Weights and biases on the grid −1.0, −0.9, …, 1.0 without 0."""
    grid = np.array([v for v in np.round(np.arange(-1.0, 1.01, 0.1), 1) if v != 0])
    W = tuple(tuple(tuple(float(v) for v in row) for row in rng.choice(grid, (o, i)))
              for i, o in zip(layers[:-1], layers[1:]))
    b = tuple(tuple(float(v) for v in rng.choice(grid, o)) for o in layers[1:])
    return Params(W, b)


def carried_from(problem: Problem, slip: dict[str, Fraction], decimals: int) -> dict[str, str]:
    """Answers a student types after a slip, every later step worked (and rounded) from it."""
    env = dict(problem.givens)
    for q in problem.graph.quantities:
        v = slip.get(q.name)
        env[q.name] = Fraction(round_half_up(evaluate_exact(q.rule, env) if v is None else v, decimals))
    return {q.name: show(round_half_up(env[q.name], decimals)) for q in problem.graph.quantities}


def typed_answers(rng: np.random.Generator, problem: Problem, decimals: int) -> dict[str, str]:
    """The key as typed, with a few planted errors (about a third of the students are perfect)."""
    key = {n: Fraction(v) for n, v in problem.key.values.items()}
    format_number = lambda v, d: show(round_half_up(Fraction(v), d))
    ans = {n: format_number(v, decimals) for n, v in key.items()}
    kind = rng.integers(0, 6)
    names = list(ans)
    if kind == 1:    # a slip in z1_1, everything after it worked from the slip
        ans = carried_from(problem, {"z1_1": key["z1_1"] + Fraction(1, 10)}, decimals)
    elif kind == 2:  # the sign of δ flipped
        ans["delta2_1"] = format_number(-key["delta2_1"], decimals)
    elif kind == 3:  # a cell left empty, another typed with a decimal comma and Unicode minus
        ans[names[rng.integers(len(names))]] = ""
        n = names[rng.integers(len(names))]
        ans[n] = ans[n].replace(".", ",").replace("-", "\u2212")
    elif kind == 4:  # nonsense in a cell, and the update uphill
        ans[names[rng.integers(len(names))]] = "??"
        ans["new_W2_1_1"] = format_number(key["new_W2_1_1"] + 2 * 0.5 * key["dW2_1_1"], decimals)
    return ans


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=1000)
    p.add_argument("--seed", type=int, default=2024)
    args = p.parse_args(argv)

    spec = load_spec(ROOT / "worksheets" / "classic-221.toml")
    net, data, lr, decimals = spec.network, spec.data, spec.exercise.learning_rate, spec.exercise.decimals
    rng = np.random.default_rng(args.seed)
    params = [random_params(rng, net.layers) for _ in range(args.students)]
    solve(net, params[0], data, lr)  # compile the architecture outside the timings
    grade_student(net, params[0], data, lr, decimals, {})

    t0 = time.perf_counter()
    for p in params:
        solve(net, p, data, lr)
    baseline = time.perf_counter() - t0
    answers = [typed_answers(rng, Problem.of(net, p, data, lr, decimals), decimals) for p in params]

    t0 = time.perf_counter()
    results = [grade_student(net, p, data, lr, decimals, a) for p, a in zip(params, answers)]
    elapsed = time.perf_counter() - t0

    n_answers = sum(len(r.results) for r in results)
    statuses = Counter(a.status.value for r in results for a in r.results)
    print(f"graded {args.students} students, {n_answers} answers ({n_answers / args.students:.0f} each)")
    print(f"  statuses: {dict(statuses)}")
    print(f"  grading:  {elapsed:.2f} s total, {1000 * elapsed / args.students:.2f} ms per student")
    print(f"  baseline: {baseline:.2f} s to solve the {args.students} exercises "
          f"({1000 * baseline / args.students:.2f} ms each)")
    print(f"  ratio:    grading takes {elapsed / baseline:.1f}× solving")


if __name__ == "__main__":
    main()
