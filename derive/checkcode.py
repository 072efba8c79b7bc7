"""Checking students' own backprop code against the graph, and naming the mistake.

The student's ``forward``, ``loss``, ``backward`` and ``update`` run (in :mod:`derive.sandbox`)
on K randomized networks of the spec's depth, activations and loss, with non-square layers
and a batch whose size is none of the widths, so that a transpose or a missing 1/n cannot
hide.  Every returned array is compared with the graph's float64 values, shape first.  On a
mismatch the graph's mistake rewrites (:data:`derive.mistakes.MISTAKES`) are applied, each to
the quantities of one layer, of one kind or of all layers, the graph is re-evaluated with
the wrong rules (:func:`derive.numeric.evaluate_rewritten`), and the rewrite that gives the
student's arrays on every network names the mistake.  A last check trains XOR with the
student's own functions and compares the weights reached with derive's gradient descent.
"""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from . import names
from .contract import ARITY, CONTRACT, CONVENTIONS, Convention, contract_text
from .errors import DeriveError
from .functions import LOSSES
from .mistakes import BATCH_FACTOR_TITLES, MISTAKES, TITLES, mistake_id, wrong_rules
from .numeric import evaluate_rewritten, given_values
from .randomize import student_seed
from .sandbox import Limits, Record, Run, Started, finish_student, run_student
from .spec import Data, Network, Params, Spec
from .symbolic import Graph, build_graph
from .train import initial_params, train

NETWORKS = 5
RTOL, ATOL = 1e-6, 1e-9        # float64 from two different programs agree far closer than this
TRAIN_RTOL, TRAIN_ATOL = 1e-4, 1e-6  # after thousands of steps, rounding differences have grown
TRAINING_EPOCHS = 2000
DEFAULT_SEED = 20240509        # the draws when no secret and student id are given
XOR = Data(((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)), ((0.0,), (1.0,), (1.0,), (0.0,)))


# --- the networks the code runs on ----------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One randomized network: its parameters (derive's layout) and batch."""

    params: Params
    data: Data


@dataclass(frozen=True)
class Networks:
    """The K networks of one check: one architecture, a batch size, the cases, the seed."""

    network: Network
    samples: int
    cases: tuple[Case, ...]
    seed: int
    learning_rate: float


def check_widths(spec_net: Network, rng: np.random.Generator) -> tuple[int, ...]:
    """The spec's input and output widths with hidden widths that make every W non-square."""
    widths = list(spec_net.layers)
    for l in range(1, spec_net.depth):
        taken = {widths[l - 1], widths[l + 1]}
        widths[l] = int(rng.choice([w for w in range(2, 7) if w not in taken]))
    if spec_net.depth == 1 and widths[0] == widths[1]:
        widths[0] += 1  # no hidden layer to vary: widen the input instead
    return tuple(widths)


def draw_networks(spec: Spec, seed: int, k: int = NETWORKS) -> Networks:
    """K networks drawn from one generator seeded with ``seed``: the seed alone rebuilds them."""
    rng = np.random.default_rng(seed)
    net = Network(check_widths(spec.network, rng), spec.network.activations, spec.network.loss, spec.network.bias)
    n = int(rng.choice([s for s in range(5, 10) if s not in net.layers]))  # a batch no width can mask
    cases = tuple(_draw_case(net, n, rng) for _ in range(k))
    return Networks(net, n, cases, seed, spec.exercise.learning_rate)


def _draw_case(net: Network, n: int, rng: np.random.Generator) -> Case:
    W = [rng.uniform(-1, 1, (b, a)) for a, b in zip(net.layers, net.layers[1:])]
    b = [rng.uniform(-0.5, 0.5, m) for m in net.layers[1:]] if net.bias else None
    X = rng.uniform(-1, 1, (n, net.layers[0]))
    kind, width = LOSSES[net.loss].targets, net.layers[-1]
    if kind == "distribution":
        Y = np.eye(width)[rng.integers(0, width, n)]
    elif kind == "unit":
        Y = rng.integers(0, 2, (n, width)).astype(float)
    else:
        Y = rng.uniform(-1, 1, (n, width))
    rows = lambda M: tuple(tuple(float(v) for v in r) for r in M)
    params = Params(tuple(rows(w) for w in W), None if b is None else tuple(tuple(map(float, v)) for v in b))
    return Case(params, Data(rows(X), rows(Y)))


def _givens(graph: Graph, nets: Networks) -> dict[str, np.ndarray]:
    """Every given symbol as an array over the K networks: the graph is evaluated once for all."""
    each = [given_values(graph, c.params, c.data, nets.learning_rate) for c in nets.cases]
    return {s.name: np.array([g[s.name] for g in each]) for s in graph.given}


# --- which answer names make up each returned array -----------------------------------

def layout(net: Network, samples: int) -> dict[str, dict[str, np.ndarray]]:
    """Function → its returned arrays → the answer name of each entry, in derive's layout."""
    L, suffix = net.depth, (lambda s: f"_s{s}" if samples > 1 else "")
    grid = lambda f, rows, cols: np.array([[f(r, c) for c in range(1, cols + 1)] for r in range(1, rows + 1)])
    out: dict[str, dict[str, np.ndarray]] = {
        "forward": {"yhat": grid(lambda s, j: names.make("a", L, j) + suffix(s), samples, net.layers[-1])},
        "loss": {"loss": np.array("loss")}, "backward": {}, "update": {}}
    for l in range(1, L + 1):
        n, m = net.layers[l], net.layers[l - 1]
        out["backward"][f"dW{l}"] = grid(lambda j, i: names.make("dW", l, j, i), n, m)
        out["update"][f"W{l}"] = grid(lambda j, i: names.make("new_W", l, j, i), n, m)
        if net.bias:
            out["backward"][f"db{l}"] = np.array([names.make("db", l, j) for j in range(1, n + 1)])
            out["update"][f"b{l}"] = np.array([names.make("new_b", l, j) for j in range(1, n + 1)])
    return out


def _oriented(array_name: str, M: np.ndarray, conv: Convention) -> np.ndarray:
    """One network's array in derive's layout → the student's convention."""
    kind = array_name.rstrip("0123456789")
    if kind in ("dW", "W"):
        return conv.weights(M)
    if kind in ("db", "b"):
        return conv.bias(M)
    if kind == "yhat":
        return conv.examples(M)
    return M


def arrays_of(values: Mapping[str, object], entries: Mapping[str, np.ndarray], k: int,
              conv: Convention) -> dict[str, list[np.ndarray]]:
    """Array name → one array per network, in the student's convention, from the graph's values."""
    out = {}
    for a, grid in entries.items():
        stacked = np.array([np.broadcast_to(np.asarray(values[n], dtype=float), (k,)) for n in grid.ravel()])
        per_net = stacked.T.reshape((k,) + grid.shape)
        out[a] = [_oriented(a, per_net[i], conv) for i in range(k)]
    return out


# --- the report --------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    """What one function (or the training check) got: a status, the named mistake, the detail.

    ``status`` is ``pass``, ``wrong``, ``error``, ``timeout``, ``memory``, ``exited``, ``crashed``,
    ``not run``, ``stalled`` (correct code whose training does not converge: not wrong) or
    ``skipped`` (not part of this check).
    """

    function: str
    status: str
    mistake: str = ""     # a MISTAKES id, or a key such as half_or_mean_factor:x6
    title: str = ""       # the mistake's short name, e.g. "σ′ left out (layer 1)"
    sentence: str = ""    # the mistake's explanation
    detail: str = ""      # the first differing entry, the error message, the diagnosis
    traceback: str = ""   # the student's frames only

    @property
    def passed(self) -> bool:
        return self.status in ("pass", "stalled")

    @property
    def scored(self) -> bool:
        return self.status != "skipped"


@dataclass(frozen=True)
class CodeReport:
    """The check of one student's file: a finding per function, the networks' shape, the limits."""

    student: str
    spec: str
    convention: str
    layers: tuple[int, ...]
    samples: int
    networks: int
    seed: int
    findings: tuple[Finding, ...]
    contained: tuple[str, ...]

    def __repr__(self) -> str:
        return f"CodeReport({self.student!r}, {self.score}/{self.max_score})"

    @property
    def score(self) -> int:
        return sum(f.passed for f in self.findings if f.scored)

    @property
    def max_score(self) -> int:
        return sum(f.scored for f in self.findings)

    @property
    def passed(self) -> bool:
        return all(f.passed for f in self.findings if f.scored)

    def finding(self, function: str) -> Finding:
        return next(f for f in self.findings if f.function == function)


# --- comparing, and naming the mistake -----------------------------------------------

def _student_arrays(records: list[Record], function: str, k: int) -> list[dict[str, np.ndarray]] | None:
    """The function's returned arrays per network, from the child's records (None if missing)."""
    done = {r.network: r.value for r in records if r.event == "done" and r.function == function}
    if any(i not in done for i in range(k)):
        return None
    decoded = []
    for i in range(k):
        v = done[i]
        v = {"loss": {"shape": [], "data": [v]}} if function == "loss" else (
            {"yhat": v} if function == "forward" else v)
        decoded.append({a: _decode(x) for a, x in v.items()})
    return decoded


def _decode(x: object) -> np.ndarray:
    try:
        return np.array(x["data"], dtype=float).reshape(x["shape"])
    except (TypeError, KeyError, ValueError):
        return np.array(np.nan)


@dataclass(frozen=True)
class Comparison:
    """The student's arrays against one set of expected arrays: shapes put right, and where they differ."""

    arrays: tuple[tuple[str, tuple[np.ndarray, ...]], ...]  # the student's arrays, oriented as expected
    transposed: tuple[str, ...]   # weight arrays returned transposed
    wrong_shape: str              # the first array whose shape is neither right nor transposed


def normalize(student: list[dict[str, np.ndarray]], expected: dict[str, list[np.ndarray]]) -> Comparison:
    """Put the student's arrays in the expected shape where only a transpose or a bias's
    singleton axis differs; name the first array that has another shape."""
    out, transposed = [], []
    for a, exp in expected.items():
        got = []
        for s, e in zip(student, exp):
            g = s.get(a, np.array(np.nan))
            if g.shape != e.shape and g.ndim == 2 and g.shape == e.shape[::-1] and e.shape[0] != e.shape[1]:
                g = g.T
                if a not in transposed:
                    transposed.append(a)
            elif g.shape != e.shape and g.size == e.size and np.squeeze(g).shape == np.squeeze(e).shape \
                    and a.startswith(("db", "b", "loss")):
                g = g.reshape(e.shape)  # (1, n) or (n, 1) for a bias: the same numbers
            if g.shape != e.shape:
                shape = lambda t: "(" + ", ".join(map(str, t)) + ("," if len(t) == 1 else "") + ")"
                return Comparison((), (), f"{a} has shape {shape(g.shape)}; expected {shape(e.shape)}")
            got.append(g)
        out.append((a, tuple(got)))
    return Comparison(tuple(out), tuple(transposed), "")


def agrees(comp: Comparison, expected: dict[str, list[np.ndarray]]) -> bool:
    """Every array on every network within tolerance."""
    return all(np.allclose(g, e, rtol=RTOL, atol=ATOL) for a, got in comp.arrays for g, e in zip(got, expected[a]))


def first_difference(comp: Comparison, expected: dict[str, list[np.ndarray]], k: int) -> str:
    """'dW1[0, 2] = 0.1234, expected 0.2468 (network 1 of 5)' for the first entry off."""
    for a, got in comp.arrays:
        for n, (g, e) in enumerate(zip(got, expected[a]), start=1):
            off = ~np.isclose(g, e, rtol=RTOL, atol=ATOL)
            if off.any():
                idx = tuple(int(i) for i in np.argwhere(off)[0])
                where = f"[{', '.join(map(str, idx))}]" if idx else ""
                return f"{a}{where} = {g[idx]:.6g}, expected {e[idx]:.6g} (network {n} of {k})"
    return ""


CANDIDATE_KINDS = {
    "forward": ("z", "a"),
    "loss": ("loss",),
    "backward": ("z", "a", "delta", "dW", "db"),
    "update": ("new_W", "new_b"),
}
"""The kinds of quantity a mistake in each function can sit in (loss and update are given
derive's ŷ and gradients, so only their own rules can be wrong; backward is given the
student's own cache, so a mistake in the forward pass shows in it too)."""


@dataclass(frozen=True)
class Scenario:
    """One mistake applied to a set of groups of quantities (a group: one kind in one layer)."""

    key: str
    groups: tuple[tuple[str, int, bool], ...]  # (kind, layer, per example)
    rules: tuple[tuple[str, object], ...]      # answer name → its wrong rule


def _group(name: str) -> tuple[str, int, bool]:
    p = names.parse(name)
    return p.kind, p.layer, p.sample is not None


def scenarios(graph: Graph, function: str) -> list[Scenario]:
    """Every mistake of :data:`MISTAKES` that can change this function's values, applied to one
    group, to every group of one kind, and to every group it applies to; smallest first."""
    by_key: dict[str, dict[tuple, list]] = {}
    for q in graph.quantities:
        if names.parse(q.name).kind in CANDIDATE_KINDS[function]:
            for key, rule in wrong_rules(graph, q.name):
                by_key.setdefault(key, {}).setdefault(_group(q.name), []).append((q.name, rule))
    out = []
    order = list(MISTAKES)
    for key in sorted(by_key, key=lambda k: order.index(mistake_id(k))):
        groups = by_key[key]
        scopes = [(g,) for g in groups]
        scopes += [tuple(g for g in groups if g[0] == kind) for kind in dict.fromkeys(g[0] for g in groups)]
        scopes.append(tuple(groups))
        for scope in dict.fromkeys(scopes):
            rules = tuple((n, r) for g in scope for n, r in groups[g])
            out.append(Scenario(key, scope, rules))
    return sorted(out, key=lambda s: len(s.groups))  # stable: a single layer before several


def title_of(s: Scenario, samples: int) -> str:
    """The mistake's short name, with where it sits: 'σ′ left out (layer 1)'."""
    mid, _, variant = s.key.partition(":")
    if mid == "half_or_mean_factor" and variant == f"x{samples}":  # a batch's sum for its mean
        batch = {None if per_example else BATCH_FACTOR_TITLES.get(kind) for kind, _, per_example in s.groups}
        if len(batch) == 1 and None not in batch:
            return batch.pop()
    name = TITLES.get(mid, mid) + (f" ({variant})" if variant else "")
    layers = sorted({g[1] for g in s.groups if g[1]})
    return name + (f" (layer {layers[0]})" if len(layers) == 1 else "")


def name_mistake(graph: Graph, function: str, given: Mapping[str, np.ndarray], student, nets: Networks,
                 conv: Convention, right: dict[str, list[np.ndarray]]) -> Scenario | None:
    """The first scenario whose re-evaluated graph gives the student's arrays on every network."""
    entries = layout(nets.network, nets.samples)[function]
    k = len(nets.cases)
    for s in scenarios(graph, function):
        values = evaluate_rewritten(graph, given, dict(s.rules))
        wrong = arrays_of(values, entries, k, conv)
        comp = normalize(student, wrong)
        if comp.wrong_shape or comp.transposed:
            continue
        if agrees(comp, wrong) and not _same(wrong, right):
            return s
    return None


def _same(a: dict[str, list[np.ndarray]], b: dict[str, list[np.ndarray]]) -> bool:
    return all(np.allclose(x, y, rtol=RTOL, atol=ATOL) for n in a for x, y in zip(a[n], b[n]))


def judge(function: str, records: list[Record], run: Run, graph: Graph, given, values,
          nets: Networks, conv: Convention) -> Finding:
    """The finding for one contract function: its error, its pass, or its named mistake."""
    k = len(nets.cases)
    failure = _failure(function, records, run)
    if failure is not None:
        return failure
    student = _student_arrays(records, function, k)
    if student is None:
        return Finding(function, "not run", detail=_why_not_run(function, records, run))
    right = arrays_of(values, layout(nets.network, nets.samples)[function], k, conv)
    comp = normalize(student, right)
    if comp.wrong_shape:
        return Finding(function, "wrong", "shape", "wrong shape", detail=comp.wrong_shape)
    if agrees(comp, right) and not comp.transposed:
        return Finding(function, "pass")
    if agrees(comp, right):  # right values, transposed layout
        m = MISTAKES["transposed_gradient"]
        return Finding(function, "wrong", m.id, TITLES[m.id], m.sentence,
                       f"{', '.join(comp.transposed)} returned transposed")
    detail = first_difference(comp, right, k)
    s = name_mistake(graph, function, given, student, nets, conv, right)
    if s is None:
        return Finding(function, "wrong", detail=detail + "; not one of the mistakes derive knows")
    return Finding(function, "wrong", s.key, title_of(s, nets.samples), MISTAKES[mistake_id(s.key)].sentence, detail)


def _failure(function: str, records: list[Record], run: Run) -> Finding | None:
    """An error the child reported for this function, or the stop that cut it short."""
    err = next((r for r in records if r.event == "error" and r.function == function), None)
    if err is not None:
        status = {"timeout": "timeout", "memory": "memory", "exited": "exited"}.get(err.kind, "error")
        return Finding(function, status, detail=err.message, traceback=err.traceback)
    open_call = run.unfinished()
    if open_call is not None and open_call.function == function and run.stopped:
        detail = {"timeout": "did not return before the time limit; the sandbox stopped it",
                  "memory": "used more memory than the sandbox allows; it was stopped",
                  "exited": "ended the Python process (os._exit) instead of returning",
                  }.get(run.stopped, "crashed the Python process")
        return Finding(function, run.stopped, detail=detail, traceback=run.log[-1500:])
    return None


def _why_not_run(function: str, records: list[Record], run: Run) -> str:
    failed = [r.function for r in records if r.event == "error"]
    if function == "backward" and "forward" in failed:
        return "forward failed, so there is no cache to pass to backward"
    if not failed and run.unfinished() is not None:
        failed = [run.unfinished().function]  # the call the process ended in (os._exit, a crash)
    return f"the sandbox stopped in {failed[0]}" if failed else "the sandbox stopped before it"


# --- the training check --------------------------------------------------------------

@dataclass(frozen=True)
class TrainingPlan:
    """XOR from a fixed start: the spec's own network, its parameters or a seeded start."""

    network: Network
    start: Params
    learning_rate: float
    epochs: int


def training_plan(spec: Spec, seed: int) -> TrainingPlan | None:
    """The XOR check, where the spec's network has 2 inputs, 1 output and a loss for 0/1 targets."""
    net = spec.network
    if net.layers[0] != 2 or net.layers[-1] != 1 or LOSSES[net.loss].targets == "distribution":
        return None
    start = spec.fixed_params() or initial_params(net, seed)
    return TrainingPlan(net, start, spec.exercise.learning_rate, TRAINING_EPOCHS)


def gradient_descent(plan: TrainingPlan | None):
    """derive's own training run of the plan (the reference the student's training must follow)."""
    return None if plan is None else train(plan.network, plan.start, XOR, plan.learning_rate, plan.epochs)


def judge_training(plan: TrainingPlan | None, records: list[Record], run: Run, conv: Convention,
                   others: list[Finding], derive_run) -> Finding:
    """Did the student's functions follow gradient descent? Then say whether it learned XOR."""
    if plan is None:
        return Finding("training", "skipped", detail="the spec's network is not 2-…-1 with 0/1 targets; "
                                                     "no XOR training check")
    wrong = [f.function for f in others if f.scored and not f.passed and f.function != "loss"]
    if wrong:
        return Finding("training", "not run", detail=f"not judged: {', '.join(wrong)} did not pass, so training "
                                                     "with it cannot follow gradient descent")
    failure = _failure("training", records, run)
    if failure is not None:
        return failure
    done = next((r for r in records if r.event == "done" and r.function == "training"), None)
    if done is None:
        return Finding("training", "not run", detail=(
            "a function above failed" if any(not f.passed for f in others if f.scored) else "the sandbox stopped"))
    got = {a: _decode(v) for a, v in dict(done.value).items()}
    expected = _param_arrays(derive_run.params, conv)
    for a, e in expected.items():
        g = got.get(a, np.array(np.nan))
        if g.shape != e.shape and g.size == e.size and a.startswith("b"):
            g = g.reshape(e.shape)
        if g.shape != e.shape or not np.allclose(g, e, rtol=TRAIN_RTOL, atol=TRAIN_ATOL):
            return Finding("training", "wrong", detail=(
                f"after {plan.epochs} epochs with your functions {a} differs from gradient descent's from the same "
                f"start (first entries {np.ravel(g)[:3].round(6).tolist()}, expected {np.ravel(e)[:3].round(6).tolist()})"))
    if derive_run.converged:
        return Finding("training", "pass", detail=f"learns XOR: {derive_run.diagnosis}")
    return Finding("training", "stalled", detail=(
        f"your gradients are right, and gradient descent from this start does not learn XOR in {plan.epochs} "
        f"epochs either (not a mistake in your code): {derive_run.diagnosis}"))


def _param_arrays(p: Params, conv: Convention) -> dict[str, np.ndarray]:
    out = {}
    for l, W in enumerate(p.W, start=1):
        out[f"W{l}"] = conv.weights(np.array(W, dtype=float))
        if p.b is not None:
            out[f"b{l}"] = conv.bias(np.array(p.b[l - 1], dtype=float))
    return out


# --- one student -------------------------------------------------------------------------

def student_networks_seed(secret: str | None, student_id: str | None) -> int:
    """The seed of the K networks: from the secret and the student's id when given (one KDF call)."""
    if (secret is None) != (student_id is None):
        raise DeriveError("--secret and --student go together: the networks are drawn from both",
                          key="arguments")
    return DEFAULT_SEED if secret is None else student_seed(secret, student_id)


def _case_json(case: Case, conv: Convention, values_k: dict, k: int) -> dict:
    enc = lambda M: {"shape": list(np.shape(M)), "data": [float(v) for v in np.ravel(M)]}
    X, Y = np.array(case.data.x), np.array(case.data.y)
    return {"X": enc(conv.examples(X)), "Y": enc(conv.examples(Y)),
            "params": {a: enc(M) for a, M in _param_arrays(case.params, conv).items()},
            **values_k}


def _reference(spec: Spec, seed: int, k: int):
    """The K networks, their graph, its givens and its values: what the student's code must give."""
    nets = draw_networks(spec, seed, k)
    graph = build_graph(nets.network, nets.samples)
    given = _givens(graph, nets)
    return nets, graph, given, evaluate_rewritten(graph, given, {})


def job_for(nets: Networks, graph: Graph, given, values, plan: TrainingPlan | None, conv: Convention,
            limits: Limits, required: tuple[str, ...]) -> dict:
    """The child's job: each network's inputs, and derive's ŷ and gradients for loss and update."""
    entries = layout(nets.network, nets.samples)
    k = len(nets.cases)
    yhat = arrays_of(values, entries["forward"], k, conv)["yhat"]
    grads = arrays_of(values, entries["backward"], k, conv)
    enc = lambda M: {"shape": list(np.shape(M)), "data": [float(v) for v in np.ravel(M)]}
    networks = [_case_json(c, conv, {"yhat": enc(yhat[i]), "grads": {a: enc(g[i]) for a, g in grads.items()},
                                     "lr": nets.learning_rate}, k) for i, c in enumerate(nets.cases)]
    training = None
    if plan is not None:
        X, Y = np.array(XOR.x), np.array(XOR.y)
        training = {"X": enc(conv.examples(X)), "Y": enc(conv.examples(Y)), "lr": plan.learning_rate,
                    "epochs": plan.epochs, "seconds": limits.call_seconds * 4,
                    "params": {a: enc(M) for a, M in _param_arrays(plan.start, conv).items()}}
    return {"arity": ARITY, "required": list(required), "call_seconds": limits.call_seconds,
            "networks": networks, "training": training}


def check_code(student: str, spec: Spec, secret: str | None = None, student_id: str | None = None,
               convention: str = "row", adapter: str | None = None, networks: int = NETWORKS,
               limits: Limits = Limits(), started: Started | None = None) -> CodeReport:
    """Run a student's file on K randomized networks and judge each function of the contract.

    Bad input (a file that does not import, a missing function, a wrong signature) raises a
    :class:`DeriveError` saying what the contract expects; everything else is a finding.
    ``started``: the student's process, already started by :func:`derive.sandbox.start_student`
    with this file, adapter and limits (the command line starts it before importing SymPy).
    """
    conv = CONVENTIONS[convention]
    seed = student_networks_seed(secret, student_id)
    plan = training_plan(spec, seed)
    required = () if adapter else tuple(ARITY)
    # the graph and derive's own XOR run are computed while the child starts and runs (measured:
    # the child's start is a third of a check, derive's training a quarter)
    with ThreadPoolExecutor(max_workers=2) as pool:
        ref = pool.submit(_reference, spec, seed, networks)
        descent = pool.submit(gradient_descent, plan)
        job = lambda: job_for(*ref.result(), plan, conv, limits, required)
        run = finish_student(started, job) if started is not None else run_student(student, job, adapter, limits)
        (nets, graph, given, values), derive_run = ref.result(), descent.result()
    records = list(run.records)
    provided = bad_input(student, records, run, adapter)
    findings = [judge(f, records, run, graph, given, values, nets, conv) if f in provided
                else Finding(f, "skipped", detail="the adapter does not provide it") for f in ARITY]
    findings.append(judge_training(plan, records, run, conv, findings, derive_run))
    return CodeReport(student, spec.path, convention, nets.network.layers, nets.samples, networks, seed,
                      tuple(findings), run.contained)


def bad_input(student: str, records: list[Record], run: Run, adapter: str | None) -> set[str]:
    """The contract's functions the file provides; raises DeriveError for a file that cannot be checked."""
    err = next((r for r in records if r.event == "error" and r.function == "import"), None)
    if err is not None or not any(r.event == "loaded" for r in records):
        why = err.message if err is not None else (
            "its import did not finish" + (f" ({run.stopped})" if run.stopped else ""))
        line = _last_line(err.traceback) if err is not None else None
        raise DeriveError(f"does not import: {why}; the contract expects {contract_text()}", file=student, line=line)
    loaded = next(r for r in records if r.event == "loaded")
    where = adapter or student
    for name, sig in loaded.signatures:
        f = next(f for f in CONTRACT if f.name == name)
        raise DeriveError(f"{sig} takes the wrong arguments; the contract expects {f.signature()}", file=where)
    if adapter is None:
        missing = [f for f in CONTRACT if f.name not in loaded.functions]
        if missing:
            raise DeriveError(f"no function {missing[0].name}; the contract expects {contract_text()}", file=student)
    return set(loaded.functions) & set(ARITY)


def _last_line(trace: str) -> int | None:
    lines = re.findall(r'line (\d+)', trace)
    return int(lines[-1]) if lines else None
