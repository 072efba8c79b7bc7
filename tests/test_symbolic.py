"""The symbolic stage: closed forms of δ⁽ᴸ⁾, proofs, and the notation of the steps."""
import re

import numpy as np
import pytest
import sympy as sp

from archs import random_network
from derive.functions import sigmoid, step
from derive.latex import latex
from derive.render import sheet_words, step_words
from derive.spec import Network
from derive.symbolic import derive_network, is_zero, prove_gradients

yh, y, z = sp.symbols("yhat y z", real=True)

# δ⁽ᴸ⁾ for one output, written by hand from the textbook (ŷ = a⁽ᴸ⁾, y the target)
CLOSED_FORMS = {
    ("sigmoid", "bce"): yh - y,
    ("sigmoid", "half_mse"): (yh - y) * yh * (1 - yh),
    ("sigmoid", "mse"): 2 * (yh - y) * yh * (1 - yh),
    ("sigmoid", "mae"): sp.sign(yh - y) * yh * (1 - yh),
    ("tanh", "half_mse"): (yh - y) * (1 - yh ** 2),
    ("tanh", "mse"): 2 * (yh - y) * (1 - yh ** 2),
    ("tanh", "mae"): sp.sign(yh - y) * (1 - yh ** 2),
    ("linear", "half_mse"): yh - y,
    ("linear", "mse"): 2 * (yh - y),
    ("linear", "mae"): sp.sign(yh - y),
    ("relu", "half_mse"): (yh - y) * step(z),
    ("relu", "mse"): 2 * (yh - y) * step(z),
    ("leaky_relu", "half_mse"): None,  # checked through the registry below
}


def _single_output_delta(act, loss):
    d = derive_network(Network((2, 1), (act,), loss))
    ren = {d.yhat[0]: yh, d.y[0]: y, d.z[0][0]: z}
    return d, d.output_delta[0].xreplace(ren)


@pytest.mark.parametrize("act,loss", [k for k, v in CLOSED_FORMS.items() if v is not None])
def test_output_delta_is_the_textbook_closed_form(act, loss):
    d, delta = _single_output_delta(act, loss)
    assert sp.simplify(delta - CLOSED_FORMS[(act, loss)]) == 0
    assert d.chain.proved


def test_bce_after_sigmoid_is_literally_yhat_minus_y():
    _, delta = _single_output_delta("sigmoid", "bce")
    assert delta == yh - y  # not merely equal after simplification: this is what is printed


@pytest.mark.parametrize("n", [2, 3, 5])
def test_cce_after_softmax_is_yhat_minus_y_through_the_jacobian(n):
    d = derive_network(Network((2, n), ("softmax",), "cce"))
    for j in range(n):
        assert d.output_delta[j] == d.yhat[j] - d.y[j]
    assert d.chain.proved and "1" in d.chain.constraint
    # the Jacobian is ŷ_k (1[k=j] − ŷ_j), not diagonal
    assert d.chain.jacobian[0][1] == -d.yhat[0] * d.yhat[1]


def test_bce_with_two_sigmoid_outputs_divides_by_n():
    d = derive_network(Network((2, 2), ("sigmoid",), "bce"))
    assert sp.simplify(d.output_delta[0] - (d.yhat[0] - d.y[0]) / 2) == 0


def test_every_allowed_output_pair_is_proved():
    from derive.functions import ACTIVATIONS, LOSSES
    for loss in LOSSES.values():
        for act in (loss.outputs or ACTIVATIONS):
            n = 3 if act == "softmax" else 1
            d = derive_network(Network((2, n), (act,), loss.name))
            assert d.chain.proved, (act, loss.name)


def _small_cases():
    rng = np.random.default_rng(7)
    out = []
    while len(out) < 30:
        net = random_network(rng, max_depth=3, max_width=3)
        size = sum(a * b for a, b in zip(net.layers, net.layers[1:]))
        if size <= 14 and not (net.activations[-1] == "softmax" and net.depth > 2):
            out.append(net)
    return out


@pytest.mark.parametrize("net", _small_cases(), ids=lambda n: f"{'-'.join(map(str, n.layers))}-"
                         f"{'-'.join(n.activations)}-{n.loss}")
def test_recursive_gradients_equal_diff_of_the_expanded_loss(net):
    proof = prove_gradients(derive_network(net))
    assert proof and all(proof.values()), [k for k, v in proof.items() if not v]


def test_the_proof_can_fail():
    """A wrong δ must not be 'proved': break the derivation and prove again."""
    d = derive_network(Network((2, 2, 1), ("sigmoid", "sigmoid"), "bce"))
    wrong = d.delta_expr[0][0] * 2
    broken = type(d)(**{**d.__dict__, "delta_expr": ((wrong, d.delta_expr[0][1]), d.delta_expr[1])})
    proof = prove_gradients(broken)
    assert not proof["dW1_1_1"] and proof["dW1_2_1"]


def test_is_zero_handles_softmax_exponentials():
    a, b = sp.symbols("a b", real=True)
    s = sp.exp(a) / (sp.exp(a) + sp.exp(b))
    assert is_zero(sp.diff(s, a) - s * (1 - s))
    assert not is_zero(sp.diff(s, a) - s)


def test_cost_is_linear_in_depth_not_exponential():
    """The layered build never expands the loss: the deep net's expressions stay small."""
    d = derive_network(Network((8, 16, 16, 16, 1), ("sigmoid",) * 4, "bce"))
    assert max(sp.count_ops(e) for layer in d.delta_expr for e in layer) < 40
    # z_j = Σ_i W_ji a_i + b_j: 16 weights, 16 activations of the layer below, one bias
    assert all(len(e.free_symbols) <= 2 * 16 + 1 for layer in d.z_expr for e in layer)


def test_steps_use_a_teachers_notation():
    d = derive_network(Network((2, 2, 1), ("sigmoid", "sigmoid"), "bce"))
    text = "\n".join(s.latex for s in d.steps)
    for must in [r"\hat{y}", r"\delta^{(2)}", r"\delta^{(1)}_{1}", r"\odot", r"\sigma", r"W^{(2)}_{11}",
                 r"\frac{\partial L}{\partial W^{(l)}}"]:
        assert must in text, must
    # no internal symbol names leak into the LaTeX
    assert not re.search(r"\b(a2_1|delta\d|W\d_\d|yhat|sigmoid)\b", text)
    words = [step_words(s, sheet_words()) for s in d.steps]
    assert all(w.isascii() for w in words)  # the shipped words go through pdflatex as text


def test_latex_printer_names():
    assert latex(sp.Symbol("W2_1_3", real=True)) == "W^{(2)}_{13}"
    assert latex(sp.Symbol("delta1_2", real=True)) == r"\delta^{(1)}_{2}"
    assert latex(sp.Symbol("a2_1", real=True), (2, 2, 1)) == r"\hat{y}"
    assert latex(sp.Symbol("a1_1", real=True), (2, 2, 1)) == "a^{(1)}_{1}"
    assert latex(sigmoid(sp.Symbol("z1_1", real=True))) == r"\sigma\left(z^{(1)}_{1}\right)"


@pytest.mark.parametrize("loss,act,n", [("bce", "sigmoid", 1), ("bce", "sigmoid", 2), ("cce", "softmax", 3)])
def test_stable_logit_forms_equal_the_loss_of_the_activation(loss, act, n):
    """The numeric stage evaluates BCE/CCE from z (softplus, logsumexp); prove that is the loss."""
    from derive.functions import ACTIVATIONS, LOSSES
    zs = list(sp.symbols(f"z1:{n + 1}", real=True))
    ys = list(sp.symbols(f"y1:{n + 1}", real=True))
    g = ACTIVATIONS[act].g
    direct = LOSSES[loss].per_example([g(zs, j) for j in range(n)], ys)
    stable = LOSSES[loss].logit_form[act](zs, ys)
    diff = (direct - stable).rewrite(sp.exp).rewrite(sp.log)
    if loss == "cce":
        diff = diff.subs(ys[-1], 1 - sum(ys[:-1]))
    assert sp.simplify(sp.expand_log(diff, force=True)) == 0


# --- the graph of named quantities -----------------------------------------------------

GRAPHS = [(Network((2, 2, 1), ("sigmoid", "sigmoid"), "bce"), 1), (Network((3, 4, 2), ("tanh", "softmax"), "cce"), 1),
          (Network((2, 3, 1), ("relu", "linear"), "mse", False), 3), (Network((2, 2, 2, 1), ("leaky_relu", "tanh", "sigmoid"), "mae"), 2)]


@pytest.mark.parametrize("net,n", GRAPHS)
def test_the_graph_has_exactly_the_design_names_in_an_order_that_evaluates(net, n):
    from derive import names
    from derive.symbolic import build_graph
    g = build_graph(net, n)
    assert list(g.names) == names.expected(net.layers, net.bias, samples=n)
    seen = set()
    for q in g.quantities:
        assert set(q.parents) <= seen, q  # every parent comes first
        answer_symbols = {s.name for s in q.rule.free_symbols if names.parse(s.name)}
        assert set(q.parents) == answer_symbols  # parents are exactly the answers the rule names
        assert {s.name for s in q.rule.free_symbols} - answer_symbols <= {s.name for s in g.given}
        seen.add(q.name)


@pytest.mark.parametrize("net,n", GRAPHS + [(Network((2, 3), ("softmax",), "cce"), 2)])
def test_stable_forms_are_the_rule(net, n):
    """softmax through logsumexp, and BCE/CCE from the logits: proved equal to the printed rule."""
    from derive.functions import logsumexp, softplus
    from derive.symbolic import build_graph
    g = build_graph(net, n)
    subs = {}
    for q in g.quantities:  # the stable loss is written in z: substitute each a by its rule in z
        if names_kind(q.name) == "a":
            subs[sp.Symbol(q.name, real=True)] = q.rule
    for q in g.quantities:
        if q.stable is None:
            continue
        diff = (q.rule.xreplace(subs) - q.stable).rewrite(sp.log).rewrite(sp.exp)
        diff = diff.replace(logsumexp, lambda *z: sp.log(sum(sp.exp(v) for v in z)))
        diff = diff.replace(softplus, lambda z: sp.log(1 + sp.exp(z)))
        if net.loss == "cce":
            ys = sorted((s for s in diff.free_symbols if s.name.startswith("y_")), key=lambda s: s.name)
            diff = _one_hot_sum(diff, ys)
        assert sp.simplify(sp.expand_log(sp.expand(diff), force=True)) == 0, q.name


def names_kind(name):
    from derive import names
    return names.parse(name).kind


def _one_hot_sum(expr, ys):
    """Use Σ_k y_k = 1 for each example's one-hot label."""
    groups = {}
    for y in ys:
        parts = y.name.split("_")
        groups.setdefault(parts[2] if len(parts) > 2 else "", []).append(y)
    for group in groups.values():
        expr = expr.subs(group[-1], 1 - sum(group[:-1]))
    return expr


def test_the_softmax_derivation_names_each_output_and_prints_no_raw_names():
    d = derive_network(Network((3, 4, 3), ("sigmoid", "softmax"), "cce"))
    words = " ".join(step_words(s, sheet_words()) for s in d.steps)
    assert "y_k" not in words and "_" not in words  # words are text: no TeX-style names in them
    dL = next(s.latex for s in d.steps if s.key == "dloss")
    assert dL.startswith(r"\frac{\partial L}{\partial \hat{y}_{1}} =")  # not "dL/dyhat_j = dL/dyhat_1"
