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
