"""The catalogue of mistakes and the one-step re-evaluation, against a hand route.

``Hand`` is an independent forward/backward pass written unit by unit with
plain loops, from the textbook formulas (g′ from z, not from a); the
mistaken values are written out by hand too.  Nothing here takes an expected
number from derive.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from fractions import Fraction

from derive import mistakes as m
from derive.mistakes import MISTAKES, mistake_id
from derive.numeric import exact_givens, key as exact_key, value_of
from derive.spec import Data, Network, Params, load_spec
from derive.symbolic import build_graph

ROOT = Path(__file__).resolve().parent.parent


# --- the hand route -----------------------------------------------------------------

def sig(z):
    return 1.0 / (1.0 + math.exp(-z))


ACT = {  # g and g′(z), straight from the definitions
    "sigmoid": (sig, lambda z: sig(z) * (1 - sig(z))),
    "tanh": (math.tanh, lambda z: 1 - math.tanh(z) ** 2),
    "relu": (lambda z: max(z, 0.0), lambda z: 1.0 if z > 0 else 0.0),
    "linear": (lambda z: z, lambda z: 1.0),
}


def dloss(loss, p, y, n):
    """∂L/∂ŷ_k of one example's loss."""
    return {"bce": lambda: (p - y) / (p * (1 - p)) / n, "mse": lambda: 2 * (p - y) / n,
            "half_mse": lambda: p - y, "cce": lambda: -y / p}[loss]()


def example_loss(loss, P, Y):
    n = len(P)
    if loss == "bce":
        return -sum(y * math.log(p) + (1 - y) * math.log(1 - p) for p, y in zip(P, Y)) / n
    if loss == "mse":
        return sum((p - y) ** 2 for p, y in zip(P, Y)) / n
    if loss == "half_mse":
        return 0.5 * sum((p - y) ** 2 for p, y in zip(P, Y))
    return -sum(y * math.log(p) for p, y in zip(P, Y))


class Hand:
    """A student working the sheet by hand: every value written down, then carried.

    ``slips`` replace a value when it is written (what follows uses the slip);
    ``decimals`` rounds every written value (None: exact, the key).
    """

    def __init__(self, acts, loss, W, b, X, Y, lr, slips=None, decimals=None):
        self.acts, self.loss, self.W, self.b, self.lr = acts, loss, W, b, lr
        self.slips, self.decimals = slips or {}, decimals
        self.v: dict[str, float] = {}
        N = len(X)
        tag = (lambda s: "") if N == 1 else (lambda s: f"_s{s + 1}")
        a_all, d_all, losses = [], [], []
        for s in range(N):
            a = self.forward(X[s], tag(s))
            losses.append(self.put("loss" + tag(s) if N > 1 else "loss",
                                   example_loss(loss, a[-1], Y[s])))
            d_all.append(self.backward(a, Y[s], tag(s)))
            a_all.append(a)
        if N > 1:
            self.put("loss", sum(losses) / N)
        self.gradients(X, a_all, d_all)

    def put(self, name, value):
        value = self.slips.get(name, value)
        if self.decimals is not None:
            value = round(value, self.decimals)
        self.v[name] = value
        return value

    def forward(self, x, t):
        a = [list(x)]
        self.z = []
        for l, (W, act) in enumerate(zip(self.W, self.acts), start=1):
            z = [self.put(f"z{l}_{j + 1}{t}", sum(w * ai for w, ai in zip(W[j], a[-1]))
                          + (self.b[l - 1][j] if self.b else 0)) for j in range(len(W))]
            if act == "softmax":
                e = [math.exp(v) for v in z]
                out = [v / sum(e) for v in e]
            else:
                out = [ACT[act][0](v) for v in z]
            a.append([self.put(f"a{l}_{j + 1}{t}", v) for j, v in enumerate(out)])
            self.z.append(z)
        return a

    def backward(self, a, y, t):
        L = len(self.W)
        n = len(y)
        if self.acts[-1] == "softmax":  # with cce: δ = ŷ − y
            dL = [p - yk for p, yk in zip(a[L], y)]
        else:
            dL = [dloss(self.loss, p, yk, n) * ACT[self.acts[-1]][1](z)
                  for p, yk, z in zip(a[L], y, self.z[L - 1])]
        d = {L: [self.put(f"delta{L}_{j + 1}{t}", v) for j, v in enumerate(dL)]}
        for l in range(L - 1, 0, -1):
            W = self.W[l]
            d[l] = [self.put(f"delta{l}_{j + 1}{t}",
                             sum(W[k][j] * d[l + 1][k] for k in range(len(W)))
                             * ACT[self.acts[l - 1]][1](self.z[l - 1][j]))
                    for j in range(len(self.W[l - 1]))]
        return d

    def gradients(self, X, a_all, d_all):
        N = len(X)
        for l in range(len(self.W), 0, -1):
            for j, row in enumerate(self.W[l - 1]):
                for i, w in enumerate(row):
                    g = self.put(f"dW{l}_{j + 1}_{i + 1}",
                                 sum(d_all[s][l][j] * a_all[s][l - 1][i] for s in range(N)) / N)
                    self.put(f"new_W{l}_{j + 1}_{i + 1}", w - self.lr * g)
                if self.b:
                    g = self.put(f"db{l}_{j + 1}", sum(d_all[s][l][j] for s in range(N)) / N)
                    self.put(f"new_b{l}_{j + 1}", self.b[l - 1][j] - self.lr * g)


def hand(ex, **kw) -> dict[str, float]:
    """The hand route's values for an exercise tuple (net, params, data, lr)."""
    net, p, data, lr = ex
    return Hand(net.activations, net.loss, p.W, p.b, data.x, data.y, lr, **kw).v


def _env(ex, values):
    """The givens and these values as exact numbers, as the graph's rules read them."""
    net, p, data, lr = ex
    g = build_graph(net, data.size)
    return g, {**exact_givens(g, p, data, lr), **{n: Fraction(v) for n, v in values.items()}}


def reevaluate(*ex_and_parents):
    """Every quantity by its rule of the graph, each from the hand key's values with ``parents`` over them."""
    *ex, parents = ex_and_parents
    g, env = _env(ex, {**hand(tuple(ex)), **parents})
    return {n: float(value_of(g, n, env)) for n in g.names}


def parents_of(net, samples=1):
    g = build_graph(net, samples)
    return {q.name: q.parents for q in g.quantities}


def mistake_values(*ex_and_parents, decimals=4):
    """answer → {mistake key: value} from the hand key's values (and ``parents`` over them)."""
    *ex, parents = ex_and_parents if len(ex_and_parents) == 5 else (*ex_and_parents, {})
    g, env = _env(ex, {**hand(tuple(ex)), **parents})
    return {n: {k: float(v) for k, v in m.mistaken_values(g, n, env, decimals).items()} for n in g.names}


def indistinguishable(net, p, data, lr, decimals, asked, ignore=m.BENIGN):
    """The graph's pairs for this exercise, from its exact key (values carried rounded)."""
    g = build_graph(net, data.size)
    key = exact_key(net, p, data, lr, decimals)
    env = {**exact_givens(g, p, data, lr), **{n: Fraction(v) for n, v in key.values.items()}}
    return m.indistinguishable(g, env, key, decimals, asked or g.names, ignore=ignore)


def classic():
    s = load_spec(ROOT / "worksheets" / "classic-221.toml")
    return s.network, s.fixed_params(), s.data, s.exercise.learning_rate


def exercise(layers, acts, loss, W, b, x, y, lr=0.5):
    return (Network(tuple(layers), tuple(acts), loss, b is not None),
            Params(tuple(tuple(map(tuple, w)) for w in W), None if b is None else tuple(map(tuple, b))),
            Data((tuple(x),), (tuple(y),)), lr)


TANH = lambda: exercise([2, 2, 1], ["tanh", "sigmoid"], "half_mse",
                        [[[0.4, -0.6], [0.9, 0.3]], [[-0.8, 0.5]]], [[0.2, -0.1], [0.3]], [0.5, -1.0], [0.2])
RELU = lambda: exercise([2, 2, 1], ["relu", "linear"], "mse",
                        [[[0.7, -0.2], [-0.4, 0.6]], [[0.9, -0.7]]], [[0.1, -0.3], [-0.2]], [1.0, 0.5], [0.8])
SOFTMAX = lambda: exercise([2, 3, 3], ["sigmoid", "softmax"], "cce",
                           [[[0.5, -0.4], [0.3, 0.8], [-0.6, 0.2]],
                            [[0.7, -0.3, 0.5], [-0.2, 0.4, 0.9], [0.6, 0.1, -0.8]]],
                           [[0.1, -0.2, 0.3], [0.0, 0.2, -0.1]], [0.6, -0.4], [0, 1, 0])


# --- the right formulas, one step at a time ------------------------------------------

@pytest.mark.parametrize("make", [classic, TANH, RELU, SOFTMAX], ids=["classic", "tanh", "relu", "softmax"])
def test_reevaluate_from_the_key_is_the_key(make):
    ex = make()
    key = hand(ex)
    got = reevaluate(*ex, {})
    assert set(got) == set(key)
    for n, v in key.items():
        assert got[n] == pytest.approx(v, abs=1e-12), n


def test_reevaluate_uses_each_answers_own_parents():
    ex = classic()
    key = hand(ex)
    got = reevaluate(*ex, {"z1_1": 0.5, "a2_1": 0.9, "delta2_1": -0.1, "dW2_1_1": 1.0})
    assert got["a1_1"] == pytest.approx(sig(0.5))           # a from the given z
    assert got["z2_1"] == pytest.approx(key["z2_1"])        # a1_1 itself was not changed
    assert got["loss"] == pytest.approx(-math.log(0.9))     # loss from the given ŷ
    assert got["delta2_1"] == pytest.approx(0.9 - 1)        # δ⁽ᴸ⁾ = ŷ − y
    assert got["delta1_1"] == pytest.approx(0.7 * -0.1 * key["a1_1"] * (1 - key["a1_1"]))
    assert got["dW2_1_2"] == pytest.approx(-0.1 * key["a1_2"])
    assert got["new_W2_1_1"] == pytest.approx(0.7 - 0.5 * 1.0)


def test_parents_are_read_off_the_derivation():
    net = classic()[0]
    p = parents_of(net)
    assert p["z1_1"] == () and p["a1_1"] == ("z1_1",)
    assert p["z2_1"] == ("a1_1", "a1_2")
    assert p["loss"] == ("a2_1",) and p["delta2_1"] == ("a2_1",)  # δ = ŷ − y needs no z
    assert p["delta1_2"] == ("a1_2", "delta2_1")                  # σ′ = a(1 − a)
    assert p["dW2_1_2"] == ("a1_2", "delta2_1") and p["dW1_2_1"] == ("delta1_2",)
    assert p["new_W1_2_1"] == ("dW1_2_1",) and p["new_b2_1"] == ("db2_1",)
    assert parents_of(RELU()[0])["delta1_1"] == ("z1_1", "delta2_1")  # ReLU′ needs z


def test_batch_parents_have_example_suffixes():
    s = load_spec(ROOT / "worksheets" / "xor-241.toml")
    p = parents_of(s.network, s.data.size)
    assert p["a1_3_s2"] == ("z1_3_s2",)
    assert p["loss"] == ("loss_s1", "loss_s2", "loss_s3", "loss_s4")
    assert p["loss_s3"] == ("a2_1_s3",)
    assert set(p["dW2_1_4"]) == {f"{k}_s{s}" for k in ("a1_4", "delta2_1") for s in range(1, 5)}


# --- the wrong ones ---------------------------------------------------------------------

def classic_mistakes_by_hand():
    """(answer, mistake id, value) for the classic sheet, each formula written out."""
    ex = classic()
    k = hand(ex)
    W1, b1, W2, b2 = [[0.5, -0.3], [0.8, 0.2]], [0.1, -0.1], [0.7, -0.5], 0.2
    yhat, x, lr = k["a2_1"], [1.0, 0.0], 0.5
    r2 = lambda v: round(v, 2)
    return [
        ("z1_1", "no_bias", W1[0][0] * x[0] + W1[0][1] * x[1]),
        ("z2_1", "no_bias", W2[0] * k["a1_1"] + W2[1] * k["a1_2"]),
        ("z2_1", "early_rounding", W2[0] * r2(k["a1_1"]) + W2[1] * r2(k["a1_2"]) + b2),
        ("a2_1", "early_rounding", sig(r2(k["z2_1"]))),
        ("loss", "half_or_mean_factor", 2 * -math.log(yhat)),
        ("loss", "log10", -math.log10(yhat)),
        ("delta2_1", "no_activation_derivative", -1 / yhat),
        ("delta2_1", "derivative_at_a", -1 / yhat * sig(yhat) * (1 - sig(yhat))),
        ("delta2_1", "delta_sign", 1 - yhat),
        ("delta1_1", "no_activation_derivative", W2[0] * k["delta2_1"]),
        ("delta1_1", "derivative_at_a", W2[0] * k["delta2_1"] * sig(k["a1_1"]) * (1 - sig(k["a1_1"]))),
        ("delta1_2", "delta_sign", -k["delta1_2"]),
        ("dW1_1_2", "transposed_gradient", k["delta1_2"] * x[0]),
        # W⁽¹⁾ read transposed: z1_2 with W1_1_2 for W1_2_1; new W1_1_2 given at W1_2_1's place
        ("z1_2", "transposed", W1[0][1] * x[0] + W1[1][1] * x[1] + b1[1]),
        ("new_W1_1_2", "transposed", W1[1][0] - lr * k["dW1_2_1"]),
        ("new_W2_1_1", "update_sign", W2[0] + lr * k["dW2_1_1"]),
        ("new_b1_2", "update_sign", b1[1] + lr * k["db1_2"]),
    ]


@pytest.mark.parametrize("name,mistake,value", classic_mistakes_by_hand(),
                         ids=[f"{n}-{m}" for n, m, _ in classic_mistakes_by_hand()])
def test_classic_mistake_values(name, mistake, value):
    got = mistake_values(*classic(), decimals=4)[name]
    matches = [v for key, v in got.items() if mistake_id(key) == mistake]
    assert any(v == pytest.approx(value, abs=1e-12) for v in matches), (got, value)


def test_every_mistake_has_an_explanation_and_ids_are_known():
    assert all(m.sentence.endswith(".") and len(m.sentence) < 200 for m in MISTAKES.values())
    for table in mistake_values(*SOFTMAX(), decimals=4).values():
        assert {mistake_id(k) for k in table} <= set(MISTAKES)


def test_mistakes_from_the_students_parents():
    # δ⁽ᴸ⁾ without g′ from the student's own ŷ = 0.9
    got = mistake_values(*classic(), {"a2_1": 0.9}, decimals=4)
    assert got["delta2_1"]["no_activation_derivative"] == pytest.approx(-1 / 0.9)
    assert got["new_W2_1_1"]["update_sign"] == pytest.approx(0.7 + 0.5 * hand(classic())["dW2_1_1"])


def test_relu_and_linear_have_no_derivative_at_a():
    got = mistake_values(*RELU(), decimals=4)
    assert not any("derivative_at_a" in t for t in got.values())
    # a linear output: ∂L/∂ŷ is δ⁽ᴸ⁾ itself, and ReLU′ = 1 for the active unit 1,
    # so leaving out g′ changes nothing there; unit 2 is off (z < 0, ReLU′ = 0)
    assert "no_activation_derivative" not in got["delta2_1"]
    assert "no_activation_derivative" not in got["delta1_1"]
    assert got["delta1_2"]["no_activation_derivative"] == pytest.approx(-0.7 * hand(RELU())["delta2_1"])


def test_tanh_derivative_at_a_and_the_half_factor():
    ex = TANH()
    k = hand(ex)
    got = mistake_values(*ex, decimals=4)
    back = -0.8 * k["delta2_1"]
    assert got["delta1_1"]["derivative_at_a"] == pytest.approx(back * (1 - math.tanh(k["a1_1"]) ** 2))
    assert got["loss"]["half_or_mean_factor:x2"] == pytest.approx((k["a2_1"] - 0.2) ** 2)


def test_relu_mse_factor_two_dropped():
    ex = RELU()
    k = hand(ex)
    got = mistake_values(*ex, decimals=4)
    assert got["delta2_1"]["half_or_mean_factor:/2"] == pytest.approx(k["a2_1"] - 0.8)


def test_softmax_cce_mistakes():
    ex = SOFTMAX()
    k = hand(ex)
    got = mistake_values(*ex, decimals=4)
    assert got["delta2_2"]["no_activation_derivative"] == pytest.approx(-1 / k["a2_2"])
    assert got["loss"]["log10"] == pytest.approx(-math.log10(k["a2_2"]))
    assert got["dW2_1_3"]["transposed_gradient"] == pytest.approx(k["delta2_3"] * k["a1_1"])
    assert got["dW2_2_1"]["transposed_gradient"] == pytest.approx(k["delta2_1"] * k["a1_2"])
    assert "derivative_at_a" not in got["delta2_1"]  # softmax: a Jacobian, no elementwise g′
    assert "transposed_gradient" not in got["dW2_2_2"]  # the diagonal is the same formula


def test_a_mistake_is_data_a_sentence_and_a_rewrite_of_one_rule():
    g = build_graph(classic()[0])
    rules = dict(m.wrong_rules(g, "new_W2_1_1"))
    assert list(rules) == ["update_sign"]
    eta = next(s for s in g.given if s.name == "eta")
    assert rules["update_sign"].subs(eta, 0) == g["new_W2_1_1"].rule.subs(eta, 0)  # only the sign of η changed
    assert m.wrong_rules(g, "z1_1")[0][0] == "no_bias"


# --- indistinguishable ----------------------------------------------------------------------

def test_indistinguishable_pairs():
    ex = classic()
    k = hand(ex)
    at_a = 0.7 * k["delta2_1"] * sig(k["a1_1"]) * (1 - sig(k["a1_1"]))
    assert round(at_a, 2) == round(k["delta1_1"], 2) and round(at_a, 4) != round(k["delta1_1"], 4)
    assert ("delta1_1", "derivative_at_a") in indistinguishable(*ex, 2, None)
    four = indistinguishable(*ex, 4, None, ignore=())
    assert ("delta1_1", "derivative_at_a") not in four
    assert ("dW2_1_2", "early_rounding") in four
    assert ("dW2_1_2", "early_rounding") not in indistinguishable(*ex, 4, None)  # benign by default
    assert indistinguishable(*ex, 4, ["loss", "delta2_1"]) == []
    # a zero input makes the transposed gradient of dW1_1_2 …: here δ1_2·x1 ≠ 0, so not listed
    assert not any(m == "transposed_gradient" for _, m in four)


def test_indistinguishable_for_a_small_tanh_unit():
    # z1_2 = 0.05: tanh′ at a ≈ tanh′ at z, so δ1_2 comes out the same at 4 decimals
    ex = TANH()
    k = hand(ex)
    at_a = 0.5 * k["delta2_1"] * (1 - math.tanh(k["a1_2"]) ** 2)
    assert round(at_a, 4) == round(k["delta1_2"], 4) and at_a != k["delta1_2"]
    pairs = indistinguishable(*ex, 4, None)
    assert ("delta1_2", "derivative_at_a") in pairs and ("delta1_1", "derivative_at_a") not in pairs


def test_indistinguishable_skips_formulas_that_coincide():
    # ReLU′(a) = ReLU′(z): the same formula, never "indistinguishable"
    assert not any(m == "derivative_at_a" for _, m in indistinguishable(*RELU(), 1, None))


def test_indistinguishable_is_fast():
    ex = classic()
    indistinguishable(*ex, 4, None)
    times = []
    for _ in range(30):
        t = time.perf_counter()
        indistinguishable(*ex, 4, None)
        times.append(time.perf_counter() - t)
    assert sorted(times)[len(times) // 2] < 0.01  # target 2 ms; generous for a loaded CI machine


def test_batches_work():
    s = load_spec(ROOT / "worksheets" / "xor-241.toml")
    ex = (s.network, s.fixed_params(), s.data, s.exercise.learning_rate)
    key = hand(ex)
    got = reevaluate(*ex, {})
    assert all(got[n] == pytest.approx(v, abs=1e-12) for n, v in key.items())
    m = mistake_values(*ex, decimals=4)
    assert m["dW2_1_1"]["half_or_mean_factor:x4"] == pytest.approx(4 * key["dW2_1_1"])
    assert m["loss_s2"]["log10"] == pytest.approx(key["loss_s2"] / math.log(10))
    indistinguishable(*ex, 4, None)


def test_transposed_only_where_it_tells_apart():
    """A transposed W is named only where it gives another value: with x_2 = 0, z1_1 read with
    W⁽¹⁾ transposed is the same number (0.5·1 + 0.8·0 + 0.1); a symmetric W⁽¹⁾ is its own transpose;
    and the 1×2 W⁽²⁾ has no entry to confuse one with."""
    got = mistake_values(*classic(), decimals=4)
    assert "transposed" not in got["z1_1"] and "transposed" not in got["z2_1"]
    symmetric = exercise([2, 2, 1], ["sigmoid", "sigmoid"], "bce",
                         [[[0.5, 0.3], [0.3, 0.2]], [[0.7, -0.5]]], [[0.1, -0.1], [0.2]], [1.0, 2.0], [1])
    got = mistake_values(*symmetric, decimals=4)
    assert not any("transposed" in got[n] for n in ("z1_1", "z1_2", "delta1_1", "delta1_2"))


# --- the lab's mistakes: a gradient check and training steps ----------------------------------
#
# Every number below comes from tests/oracle.py's exact route (Fractions; exp and ln at 60 digits),
# with the right or the wrong formula applied here; derive only grades.

from decimal import ROUND_HALF_UP, Decimal

import oracle
from derive.grade import Marking, Status, Tolerance, grade_problem
from derive.lab import exercise_problem, prepare

GRADCHECK = ROOT / "worksheets" / "classic-221-gradcheck.toml"
TRAINING = ROOT / "worksheets" / "xor-221-training.toml"
LAB = ROOT / "worksheets" / "random-221-lab.toml"


def _q(v, places: int = 4) -> Decimal:
    """A value as a box holds it: rounded half away from zero to ``places``."""
    if isinstance(v, Fraction):
        v = Decimal(v.numerator) / Decimal(v.denominator)
    return Decimal(v).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _theta(params) -> dict[str, Decimal]:
    """Parameter name → value, as written in the spec (W1_1_1 is row 1, column 1 of W1)."""
    out = {}
    for l, W in enumerate(params.W, start=1):
        out |= {f"W{l}_{j}_{i}": Decimal(repr(v)) for j, row in enumerate(W, 1) for i, v in enumerate(row, 1)}
        out |= {f"b{l}_{j}": Decimal(repr(v)) for j, v in enumerate(params.b[l - 1], 1)}
    return out


def _boxes(spec, theta, data, places, rounding):
    """oracle.rounded_chain at the parameters ``theta`` (name → value)."""
    net = spec.network
    W = [[[theta[f"W{l}_{j}_{i}"] for i in range(1, net.layers[l - 1] + 1)] for j in range(1, net.layers[l] + 1)]
         for l in range(1, net.depth + 1)]
    b = [[theta[f"b{l}_{j}"] for j in range(1, net.layers[l] + 1)] for l in range(1, net.depth + 1)]
    return oracle.rounded_chain(net.layers, net.activations, net.loss, W, b, data.x, data.y,
                                spec.exercise.learning_rate, places, rounding=rounding)


def _exact(spec, theta, data):
    """One forward and backward pass at full precision (30 places, far below the sheet's)."""
    return _boxes(spec, theta, data, 30, "exact")


def _gradcheck_sheet(spec, params, data, eps: Decimal, places: int) -> dict[str, Decimal]:
    """Every box of a sheet with a gradient check, right: the network's by the rounded chain,
    L(θ ± ε) at ``places``, the central difference and the relative error from those boxes."""
    theta = _theta(params)
    out = dict(_boxes(spec, theta, data, spec.exercise.decimals, "carry"))
    unit = Decimal(1).scaleb(-spec.exercise.decimals)
    for p in spec.exercise.gradcheck:
        plus = _boxes(spec, {**theta, p: theta[p] + eps}, data, places, "exact")["loss"]
        minus = _boxes(spec, {**theta, p: theta[p] - eps}, data, places, "exact")["loss"]
        fd = _q((plus - minus) / (2 * eps), spec.exercise.decimals)
        g = out["d" + p]
        out |= {f"loss_plus_{p}": plus, f"loss_minus_{p}": minus, f"fd_{p}": fd,
                f"relerr_{p}": _q(abs(g - fd) / max(unit, abs(g), abs(fd)), spec.exercise.decimals)}
    return out


def _training_table(spec, params, data, sign: int = -1, loss_at_previous: bool = False):
    """The training table from the given parameters, each step θ_t = θ_{t−1} + sign·η ∂L/∂θ from the
    previous column as printed (sign −1: right), L_t = L(θ_t) (or L(θ_{t−1}), the loss a step behind)."""
    eta, d = Decimal(repr(spec.exercise.learning_rate)), spec.exercise.decimals
    theta = _theta(params)
    now = _exact(spec, theta, data)
    out = {"loss_e0": _q(now["loss"], d)}
    for t in range(1, spec.exercise.epochs + 1):
        before = now
        theta = {p: _q(v + sign * eta * before["d" + p], d) for p, v in theta.items()}
        now = _exact(spec, theta, data)
        out |= {f"{p}_e{t}": v for p, v in theta.items()}
        out[f"loss_e{t}"] = _q((before if loss_at_previous else now)["loss"], d)
    return out


def _grade(spec, params, data, answers):
    pr = exercise_problem(spec, params, data)
    return pr, grade_problem(pr, {n: str(v) for n, v in answers.items()}, Marking(Tolerance.by_decimals(4)))


def _named(r, mistake, variant=""):
    """A named mistake earns what the grading policy gives one: wrong, no marks, and its sentence."""
    assert (r.status, r.mistake, r.credit, r.points) == (Status.WRONG, mistake, 0.0, 1.0), r
    assert MISTAKES[mistake].sentence in r.message and (f"(here {variant})" in r.message if variant else True), r


def _classic_gradcheck():
    spec = load_spec(GRADCHECK)
    # the sheet states ε = 0.01 and L(θ ± ε) to 7 places (tests/test_gradient_check.py checks the choice)
    pr = prepare(spec.network, spec.fixed_params(), spec.data, spec.exercise)
    assert pr.eps == Fraction(1, 100) and set(pr.places.values()) == {7}
    return spec, _gradcheck_sheet(spec, spec.fixed_params(), spec.data, Decimal("0.01"), 7)


def test_fd_divided_by_eps_is_named_and_the_relative_error_follows_from_it():
    spec, right = _classic_gradcheck()
    wrong = dict(right)
    for p in spec.exercise.gradcheck:  # (L(θ+ε) − L(θ−ε)) / ε
        wrong[f"fd_{p}"] = _q((right[f"loss_plus_{p}"] - right[f"loss_minus_{p}"]) / Decimal("0.01"))
        g = right["d" + p]  # and relerr worked correctly from that estimate
        wrong[f"relerr_{p}"] = _q(abs(g - wrong[f"fd_{p}"]) / max(abs(g), abs(wrong[f"fd_{p}"])))
    _, result = _grade(spec, spec.fixed_params(), spec.data, wrong)
    for p in spec.exercise.gradcheck:
        assert abs(wrong[f"fd_{p}"] - right[f"fd_{p}"]) > Decimal("0.0001")  # told apart at 4 places
        _named(result[f"fd_{p}"], "fd_over_eps")
        assert result[f"relerr_{p}"].status == "carried"  # |g − 2g| / |2g| = 0.5: right from the student's fd


def test_a_one_sided_difference_is_named_from_the_loss_box_or_the_exact_loss():
    spec, right = _classic_gradcheck()
    theta = _theta(spec.fixed_params())
    exact_loss = _exact(spec, theta, spec.data)["loss"]
    wrong = dict(right)
    # (L(θ+ε) − L(θ)) / ε: W1_1_1 and b1_2 with L(θ) from the loss box, W2_1_2 with L(θ) unrounded
    for p, loss in (("W1_1_1", right["loss"]), ("b1_2", right["loss"]), ("W2_1_2", exact_loss)):
        wrong[f"fd_{p}"] = _q((right[f"loss_plus_{p}"] - loss) / Decimal("0.01"))
        assert abs(wrong[f"fd_{p}"] - right[f"fd_{p}"]) > Decimal("0.0001"), p
    _, result = _grade(spec, spec.fixed_params(), spec.data, wrong)
    for p in spec.exercise.gradcheck:
        _named(result[f"fd_{p}"], "one_sided_difference")


def test_relative_errors_without_absolute_values_or_over_another_denominator_are_named():
    """From the student's own estimates (here ε for 2ε: fd = 2·∂L/∂θ): the sheet's right relative
    error is then 0.5, and the mistakes give other values."""
    spec, right = _classic_gradcheck()
    wrong = dict(right)
    for p in spec.exercise.gradcheck:
        wrong[f"fd_{p}"] = _q((right[f"loss_plus_{p}"] - right[f"loss_minus_{p}"]) / Decimal("0.01"))
    fd, g = (lambda p: wrong[f"fd_{p}"]), (lambda p: right["d" + p])
    assert g("b1_2") > 0 > g("W1_1_1") and g("W2_1_2") < 0
    # b1_2: (∂L/∂θ − fd) / max(…): the bars of the difference dropped, a negative value
    wrong["relerr_b1_2"] = _q((g("b1_2") - fd("b1_2")) / max(abs(g("b1_2")), abs(fd("b1_2"))))
    # W1_1_1: both gradients negative, so max(10⁻⁴, ∂L/∂θ, fd) without bars is the floor 0.0001
    wrong["relerr_W1_1_1"] = _q(abs(g("W1_1_1") - fd("W1_1_1")) / Decimal("0.0001"))
    # W2_1_2: over |∂L/∂θ| alone, which is the smaller of the two
    wrong["relerr_W2_1_2"] = _q(abs(g("W2_1_2") - fd("W2_1_2")) / abs(g("W2_1_2")))
    assert wrong["relerr_b1_2"] == Decimal("-0.5000")
    _, result = _grade(spec, spec.fixed_params(), spec.data, wrong)
    _named(result["relerr_b1_2"], "relerr_no_abs")
    _named(result["relerr_W1_1_1"], "relerr_no_abs", "in the denominator")
    _named(result["relerr_W2_1_2"], "relerr_denominator", "÷|dW2_1_2|")


def test_relative_error_over_the_sum_or_the_estimate_is_named():
    spec, right = _classic_gradcheck()
    wrong = dict(right)
    p = "b1_2"
    fd = _q((right[f"loss_plus_{p}"] - right[f"loss_minus_{p}"]) / Decimal("0.01"))  # ε for 2ε again
    g = right["d" + p]
    wrong[f"fd_{p}"] = fd
    wrong[f"relerr_{p}"] = _q(abs(g - fd) / (abs(g) + abs(fd)))  # the sum: 1/3, not 1/2
    _, result = _grade(spec, spec.fixed_params(), spec.data, wrong)
    _named(result[f"relerr_{p}"], "relerr_denominator", "÷(|fd_b1_2| + |db1_2|)")
    # over |fd|, the larger one here, is the sheet's own formula: not a mistake
    wrong[f"relerr_{p}"] = _q(abs(g - fd) / abs(fd))
    _, result = _grade(spec, spec.fixed_params(), spec.data, wrong)
    assert result[f"relerr_{p}"].status == "carried" and result[f"relerr_{p}"].mistake is None


def test_a_training_step_uphill_is_named_in_every_column():
    spec = load_spec(TRAINING)
    right = _training_table(spec, spec.fixed_params(), spec.data)
    wrong = _training_table(spec, spec.fixed_params(), spec.data, sign=+1)  # θ + η ∂L/∂θ, each from the student's column
    pr, result = _grade(spec, spec.fixed_params(), spec.data, wrong)
    steps = [n for n in right if not n.startswith("loss")]
    assert len(steps) == 27
    for n in steps:
        assert abs(wrong[n] - right[n]) > Decimal("0.0001"), n
        _named(result[n], "update_sign")
    assert result["loss_e0"].status == "correct" and result["loss_e1"].status == "carried"


def test_the_loss_of_the_parameters_before_the_step_is_named():
    spec = load_spec(TRAINING)
    right = _training_table(spec, spec.fixed_params(), spec.data)
    wrong = _training_table(spec, spec.fixed_params(), spec.data, loss_at_previous=True)
    # by hand: the table's losses 0.7016, 0.7001, 0.6993, 0.6989 move by more than a unit each step
    assert [right[f"loss_e{t}"] for t in range(4)] == [Decimal(v) for v in ("0.7016", "0.7001", "0.6993", "0.6989")]
    assert [wrong[f"loss_e{t}"] for t in range(1, 4)] == [right[f"loss_e{t}"] for t in range(3)]
    _, result = _grade(spec, spec.fixed_params(), spec.data, wrong)
    assert result["loss_e0"].status == "correct"
    for t in (1, 2, 3):
        _named(result[f"loss_e{t}"], "loss_before_update")


def _lab_cases():
    from derive.randomize import draw_class
    lab = load_spec(LAB)
    yield "classic-gradcheck", load_spec(GRADCHECK), None
    yield "xor-training", load_spec(TRAINING), None
    for sid, d in draw_class(lab, "a secret for the tests", ["m1", "m2", "m3"]).items():
        yield f"lab-{sid}", lab, d


@pytest.mark.parametrize("case", list(_lab_cases()), ids=lambda c: c[0])
def test_a_right_lab_sheet_names_no_mistake(case):
    """Every box right (the oracle's), so every answer is correct and none is named a mistake."""
    _, spec, draw = case
    params, data = (spec.fixed_params(), spec.data) if draw is None else (draw.params, draw.data)
    answers = {}
    if "gradcheck" in spec.exercise.sections:
        pr = prepare(spec.network, params, data, spec.exercise)  # ε and places, as the sheet states them
        eps = Decimal(pr.eps.numerator) / Decimal(pr.eps.denominator)
        answers |= _gradcheck_sheet(spec, params, data, eps, next(iter(pr.places.values())))
    else:
        answers |= _boxes(spec, _theta(params), data, spec.exercise.decimals, "carry")
    if "training" in spec.exercise.sections:
        answers |= _training_table(spec, params, data)
    problem, result = _grade(spec, params, data, answers)
    assert {r.name for r in result.results} == set(problem.graph.names)
    assert [(r.name, r.status, r.mistake) for r in result.results if r.status != "correct" or r.mistake] == []
    assert result.score == result.max
    # and no mistake of an estimate or a training step, worked from these right boxes, could pass for
    # the right answer: each is more than the tolerance away from it (the relative error: see randomize)
    env = {**problem.givens, **{n: Fraction(v) for n, v in answers.items()}}
    lab = [n for n in problem.graph.names if n.startswith("fd_") or "_e" in n and n != "loss_e0"]
    for n in lab:
        wrong = {k: v for k, v in m.mistaken_values(problem.graph, n, env, 4).items() if k != "early_rounding"}
        # the catalogue has the box's mistakes (a step of a parameter whose gradient is exactly 0, as
        # W1_1_2's with x₂ = 0, goes the same way uphill or down: there the formulas coincide)
        assert wrong or not n.startswith(("fd_", "loss_e")), n
        assert all(abs(_q(v) - answers[n]) > Decimal("0.0001") for v in wrong.values()), (n, wrong, answers[n])


def test_the_lab_catalogue_rewrites_only_the_lab_rules_it_names():
    from derive.randomize import draw_student
    spec = load_spec(LAB)
    g = prepare(spec.network, draw_student(spec, 1).params, spec.data, spec.exercise).graph
    keys = lambda n: [k for k, _ in m.wrong_rules(g, n)]
    assert keys("fd_W1_1_1") == ["fd_over_eps", "one_sided_difference"]
    assert keys("relerr_b2_1") == ["relerr_no_abs", "relerr_no_abs:in the denominator", "relerr_no_abs:everywhere",
                                   "relerr_denominator:/|fd_b2_1|", "relerr_denominator:/|db2_1|",
                                   "relerr_denominator:/(|fd_b2_1| + |db2_1|)"]
    assert keys("W1_1_1_e1") == keys("b2_1_e3") == ["update_sign"]
    assert keys("loss_e2") == ["loss_before_update"]
    assert keys("loss_e0") == keys("loss_plus_W1_1_1") == keys("loss_minus_b2_1") == []
    assert keys("new_W2_1_1") == ["update_sign"]  # the network's catalogue as before
    for mid in ("fd_over_eps", "one_sided_difference", "relerr_no_abs", "relerr_denominator", "loss_before_update"):
        assert mid in m.TITLES and MISTAKES[mid].sentence.endswith(".") and len(MISTAKES[mid].sentence) < 200
