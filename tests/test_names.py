"""The answer-name grammar of DESIGN.md: make and parse are inverse; the order is a sheet's."""
from hypothesis import given, strategies as st

from derive import names

kinds = st.sampled_from(["z", "a", "delta", "dW", "db", "new_W", "new_b", "loss"])
index = st.integers(min_value=1, max_value=99)


@given(kinds, index, st.lists(index, min_size=2, max_size=2), st.none() | index)
def test_make_and_parse_round_trip(kind, layer, idx, sample):
    count = {"z": 1, "a": 1, "delta": 1, "db": 1, "new_b": 1, "dW": 2, "new_W": 2, "loss": 0}[kind]
    layer = 0 if kind == "loss" else layer
    name = names.make(kind, layer, *idx[:count], sample=sample)
    p = names.parse(name)
    assert p == names.Name(kind, layer, tuple(idx[:count]), sample)
    assert str(p) == name


def test_design_examples():
    assert names.make("z", 1, 2) == "z1_2" and names.make("dW", 2, 1, 3) == "dW2_1_3"
    assert names.make("new_b", 1, 1) == "new_b1_1" and names.make("loss") == "loss"
    assert names.parse("a2_1") == names.Name("a", 2, (1,))


@given(st.text(max_size=12))
def test_parse_never_crashes_and_rejects_non_names(text):
    p = names.parse(text)
    assert p is None or names.make(p.kind, p.layer, *p.index, sample=p.sample) == text.strip()


def test_rejects_wrong_index_counts_and_zero():
    for bad in ["z1", "z1_2_3", "dW1_2", "loss1", "z0_1", "delta1_0", "W1_1_1", "new_z1_1"]:
        assert names.parse(bad) is None, bad


def test_expected_is_in_worksheet_order():
    assert names.expected((2, 1, 1)) == [
        "z1_1", "a1_1", "z2_1", "a2_1", "loss",
        "delta2_1", "dW2_1_1", "db2_1", "delta1_1", "dW1_1_1", "dW1_1_2", "db1_1",
        "new_W1_1_1", "new_W1_1_2", "new_b1_1", "new_W2_1_1", "new_b2_1"]
    assert "db1_1" not in names.expected((2, 1, 1), bias=False)


def test_batches_name_each_example_and_keep_batch_means_plain():
    got = names.expected((1, 1), samples=2)
    assert got[:4] == ["z1_1_s1", "a1_1_s1", "z1_1_s2", "a1_1_s2"]
    assert got.index("loss_s2") < got.index("loss") < got.index("delta1_1_s1") < got.index("dW1_1_1")


def test_sections_pick_their_names():
    all_ = names.expected((2, 1, 1))
    assert names.in_sections(all_, ("loss",)) == ["loss"]
    assert set(names.in_sections(all_, ("update",))) == {n for n in all_ if n.startswith("new_")}
