"""Tests of the oracle itself: ``oracle.rounded_chain`` against numbers worked by hand.

Every expected box below is written out as it is computed on paper; the transcendental
ones are checked against ``math`` with a margin that keeps them clear of a rounding tie.
"""
import math
from decimal import Decimal

from oracle import rounded_chain


def sig(z):
    return 1 / (1 + math.exp(-z))


def strs(boxes, *names):
    return [str(boxes[n]) for n in names]


CLASSIC = dict(layers=(2, 2, 1), activations=("sigmoid", "sigmoid"), loss="bce",
               W=[[[0.5, -0.3], [0.8, 0.2]], [[0.7, -0.5]]], b=[[0.1, -0.1], [0.2]],
               X=[[1, 0]], Y=[[1]], learning_rate=0.5, decimals=4)


def test_classic_221_by_hand():
    r = rounded_chain(**CLASSIC)
    # z1_1 = 0.5·1 − 0.3·0 + 0.1 = 0.6;  z1_2 = 0.8·1 + 0.2·0 − 0.1 = 0.7   (exact)
    assert strs(r, "z1_1", "z1_2") == ["0.6000", "0.7000"]
    # σ(0.6) = 0.645656…, σ(0.7) = 0.668187…
    assert 0.64565 < sig(0.6) < 0.64566 and 0.66818 < sig(0.7) < 0.66819
    assert strs(r, "a1_1", "a1_2") == ["0.6457", "0.6682"]
    # z2_1 = 0.7·0.6457 − 0.5·0.6682 + 0.2 = 0.45199 − 0.3341 + 0.2 = 0.31789 → 0.3179
    assert r["z2_1"] == Decimal("0.3179")
    # ŷ = σ(0.3179) = 0.578812…;  loss = −ln 0.5788 = 0.546798…
    assert 0.57881 < sig(0.3179) < 0.57882 and 0.54679 < -math.log(0.5788) < 0.54680
    assert strs(r, "a2_1", "loss") == ["0.5788", "0.5468"]
    # δ2 = ŷ − y = 0.5788 − 1 = −0.4212
    assert r["delta2_1"] == Decimal("-0.4212")
    # δ1_1 = 0.7·(−0.4212)·0.6457·(1 − 0.6457) = −0.29484·0.22877151 = −0.067451… → −0.0675
    # δ1_2 = −0.5·(−0.4212)·0.6682·(1 − 0.6682) = 0.2106·0.22170876 = 0.046691… → 0.0467
    assert strs(r, "delta1_1", "delta1_2") == ["-0.0675", "0.0467"]
    # dW2_1_1 = δ2·a1_1 = −0.4212·0.6457 = −0.27196884 → −0.2720
    # new_W2_1_1 = 0.7 − 0.5·(−0.2720) = 0.836
    assert strs(r, "dW2_1_1", "new_W2_1_1") == ["-0.2720", "0.8360"]
    # dW1_1_1 = δ1_1·x1 = −0.0675;  new_W1_1_1 = 0.5 + 0.5·0.0675 = 0.53375, a tie → 0.5338
    # dW1_1_2 = δ1_1·x2 = −0.0675·0 = 0 (and not "-0.0000");  W1_1_2 stays −0.3
    assert strs(r, "dW1_1_1", "new_W1_1_1", "dW1_1_2", "new_W1_1_2") == [
        "-0.0675", "0.5338", "0.0000", "-0.3000"]
    # db1_2 = δ1_2 = 0.0467;  new_b1_2 = −0.1 − 0.5·0.0467 = −0.12335, a tie → −0.1234
    assert strs(r, "db1_2", "new_b1_2") == ["0.0467", "-0.1234"]
    # a single example: no _s suffixes anywhere
    assert not any("_s" in name for name in r)


def linear_11(w, x, b=None, decimals=4):
    return rounded_chain((1, 1), ("linear",), "half_mse", [[[w]]], b, [[x]], [[0]], 0.1, decimals)


def test_ties_round_half_away_from_zero_decided_exactly():
    # 0.0001·0.5 + 0 = 0.00005 exactly: a tie at 4 places → 0.0001
    assert str(linear_11(0.5, 0.0001, b=[[0.0]])["z1_1"]) == "0.0001"
    # 0.25·0.5 = 0.125 → 0.13 and −0.125 → −0.13 (Python's round(0.125, 2) gives 0.12)
    assert str(linear_11(0.25, 0.5, decimals=2)["z1_1"]) == "0.13"
    assert str(linear_11(0.25, -0.5, decimals=2)["z1_1"]) == "-0.13"
    # 0.5·2.01 = 1.005 exactly, but the double product is 1.00499999…: float noise must not win
    assert round(0.5 * 2.01, 2) == 1.0
    assert str(linear_11(0.5, 2.01, decimals=2)["z1_1"]) == "1.01"
    # 0.4·(−0.0001) = −0.00004 → 0 at 4 places, written "0.0000", never "-0.0000"
    assert str(linear_11(0.4, -0.0001)["z1_1"]) == "0.0000"


def test_relu_at_an_exact_zero_has_slope_zero():
    r = rounded_chain((2, 1, 1), ("relu", "linear"), "half_mse", [[[0.1, 0.2]], [[0.5]]],
                      [[-0.3], [0.1]], [[1, 1]], [[1]], 0.1, 4)
    assert 0.1 + 0.2 - 0.3 > 0  # in doubles z1_1 is 5.6e-17, and ReLU′ would be 1
    # z1_1 = 0.1 + 0.2 − 0.3 = 0 exactly;  a1_1 = relu(0) = 0
    # z2_1 = 0.5·0 + 0.1 = 0.1 = ŷ;  loss = ½(0.1 − 1)² = 0.405;  δ2 = ŷ − y = −0.9
    assert strs(r, "z1_1", "a1_1", "z2_1", "a2_1", "loss", "delta2_1") == [
        "0.0000", "0.0000", "0.1000", "0.1000", "0.4050", "-0.9000"]
    # δ1 = 0.5·(−0.9)·ReLU′(0) = 0.5·(−0.9)·0 = 0, so layer 1 does not move
    assert strs(r, "delta1_1", "dW1_1_1", "dW1_1_2", "db1_1") == ["0.0000"] * 4
    assert strs(r, "new_W1_1_1", "new_W1_1_2", "new_b1_1") == ["0.1000", "0.2000", "-0.3000"]
    # dW2 = δ2·a1 = −0.9·0 = 0;  db2 = −0.9;  new_b2 = 0.1 + 0.1·0.9 = 0.19
    assert strs(r, "dW2_1_1", "db2_1", "new_b2_1") == ["0.0000", "-0.9000", "0.1900"]


def test_carry_and_exact_give_different_boxes():
    args = ((1, 1, 1), ("linear", "linear"), "half_mse", [[[0.5]], [[3.0]]], None,
            [[0.33]], [[0]], 1.0, 2)
    carry, exact = rounded_chain(*args), rounded_chain(*args, rounding="exact")
    # both: z1 = 0.5·0.33 = 0.165, a tie → 0.17 = a1
    assert strs(carry, "z1_1", "a1_1") == strs(exact, "z1_1", "a1_1") == ["0.17", "0.17"]
    # carry: z2 = 3·0.17 = 0.51;  loss = ½·0.51² = 0.13005 → 0.13;  δ2 = 0.51;  δ1 = 3·0.51 = 1.53
    #        dW2 = 0.51·0.17 = 0.0867 → 0.09;  dW1 = 1.53·0.33 = 0.5049 → 0.50
    #        new_W1 = 0.5 − 0.50 = 0;  new_W2 = 3 − 0.09 = 2.91
    # exact: z2 = 3·0.165 = 0.495 → 0.50;  loss = ½·0.495² = 0.1225125 → 0.12;  δ2 = 0.495 → 0.50
    #        δ1 = 3·0.495 = 1.485 → 1.49;  dW2 = 0.495·0.165 = 0.081675 → 0.08
    #        dW1 = 1.485·0.33 = 0.49005 → 0.49;  new_W1 = 0.5 − 0.49005 = 0.00995 → 0.01
    #        new_W2 = 3 − 0.081675 = 2.918325 → 2.92
    names = ("z2_1", "loss", "delta2_1", "delta1_1", "dW2_1_1", "dW1_1_1", "new_W1_1_1", "new_W2_1_1")
    assert strs(carry, *names) == ["0.51", "0.13", "0.51", "1.53", "0.09", "0.50", "0.00", "2.91"]
    assert strs(exact, *names) == ["0.50", "0.12", "0.50", "1.49", "0.08", "0.49", "0.01", "2.92"]


def test_batch_of_two_suffixes_and_mean_of_rounded_losses():
    args = ((1, 1), ("linear",), "mse", [[[1.0]]], [[0.0]], [[0.13], [0.3]], [[0], [0]], 0.5, 2)
    r = rounded_chain(*args)
    assert set(r) == {"z1_1_s1", "a1_1_s1", "loss_s1", "delta1_1_s1",
                      "z1_1_s2", "a1_1_s2", "loss_s2", "delta1_1_s2",
                      "loss", "dW1_1_1", "new_W1_1_1", "db1_1", "new_b1_1"}
    # s1: ŷ = 0.13;  loss = 0.13² = 0.0169 → 0.02;  δ = 2·0.13 = 0.26
    # s2: ŷ = 0.30;  loss = 0.3² = 0.09;            δ = 2·0.3 = 0.60
    assert strs(r, "a1_1_s1", "loss_s1", "delta1_1_s1") == ["0.13", "0.02", "0.26"]
    assert strs(r, "a1_1_s2", "loss_s2", "delta1_1_s2") == ["0.30", "0.09", "0.60"]
    # loss = (0.02 + 0.09)/2 = 0.055, a tie → 0.06 (the unrounded mean (0.0169 + 0.09)/2 = 0.05345 → 0.05)
    assert str(r["loss"]) == "0.06"
    assert str(rounded_chain(*args, rounding="exact")["loss"]) == "0.05"
    # dW = (0.26·0.13 + 0.60·0.30)/2 = (0.0338 + 0.18)/2 = 0.1069 → 0.11;  new_W = 1 − 0.5·0.11 = 0.945 → 0.95
    # db = (0.26 + 0.60)/2 = 0.43;  new_b = 0 − 0.5·0.43 = −0.215 → −0.22
    assert strs(r, "dW1_1_1", "new_W1_1_1", "db1_1", "new_b1_1") == ["0.11", "0.95", "0.43", "-0.22"]


def test_softmax_cce_with_equal_logits():
    r = rounded_chain((1, 2), ("softmax",), "cce", [[[0.0], [0.0]]], [[0.0, 0.0]],
                      [[1]], [[1, 0]], 0.1, 4)
    # z = (0, 0);  a = e⁰/(e⁰ + e⁰) = ½ each;  loss = −ln ½ = ln 2 = 0.693147…
    # δ = ŷ − y = (−0.5, 0.5);  new_b1_1 = 0 + 0.1·0.5 = 0.05
    assert 0.69314 < math.log(2) < 0.69315
    assert strs(r, "a1_1", "a1_2", "loss", "delta1_1", "delta1_2", "new_b1_1") == [
        "0.5000", "0.5000", "0.6931", "-0.5000", "0.5000", "0.0500"]


def test_a_log_of_a_negative_number_leaves_the_loss_out():
    r = rounded_chain((1, 1), ("linear",), "bce", [[[1.0]]], None, [[1.5]], [[1]], 0.1, 4)
    # ŷ = 1.5, so ln(1 − ŷ) = ln(−0.5) is undefined: no loss box
    assert "loss" not in r
    # the delta needs no log: (ŷ − y)/(ŷ(1 − ŷ)) = 0.5/(1.5·(−0.5)) = −2/3 → −0.6667
    # dW = −0.6667·1.5 = −1.00005, a tie → −1.0001
    assert strs(r, "delta1_1", "dW1_1_1") == ["-0.6667", "-1.0001"]
