"""Points per answer and per section: the spec's [exercise].points, and scores that use them.

Every expected total below is counted by hand from the 2-2-1 sheet's 28 answers:
forward z1_1 z1_2 a1_1 a1_2 z2_1 a2_1 (6), loss (1), backward δ2_1, ∂W2 ×2, ∂b2,
δ1 ×2, ∂W1 ×4, ∂b1 ×2 (12), update W2 ×2, b2, W1 ×4, b1 ×2 (9).
"""
from __future__ import annotations

import pytest

from derive.errors import SpecError
from derive.grade import grade_student
from derive.points import Points, section_of
from derive.spec import parse_spec
from test_grade import typed
from test_mistakes import ROOT, classic, hand

CLASSIC = (ROOT / "worksheets" / "classic-221.toml").read_text(encoding="utf-8")
PER_SECTION = "points = { default = 1, backward = 2, loss = 3, delta1_1 = 5 }\n"


def spec_with(points_line: str):
    assert "decimals = 4\n" in CLASSIC
    text = CLASSIC.replace("decimals = 4\n", "decimals = 4\n" + points_line)
    return parse_spec(text, "points.toml")


def test_default_is_one_point_per_answer():
    assert spec_with("").exercise.points == Points()
    assert Points().total(["z1_1", "loss"]) == 2


def test_one_number_is_every_answers_worth():
    p = spec_with("points = 2\n").exercise.points
    assert p.of("z1_1") == p.of("new_b2_1") == 2.0


def test_sections_then_answers_override_the_default():
    p = spec_with(PER_SECTION).exercise.points
    assert (p.of("z1_1"), p.of("loss"), p.of("dW1_1_2"), p.of("delta1_1"), p.of("new_W2_1_1")) == (1, 3, 2, 5, 1)


def test_a_batchs_per_example_loss_is_the_forward_sections():
    assert section_of("loss_s2") == "forward" and section_of("loss") == "loss"
    assert section_of("db1_1") == "backward" and section_of("new_b1_1") == "update"


def test_a_delta_is_worth_its_sheets_section_vanishing_or_backward():
    # the 2-2-1 sheet asks δ in "backward"; a chain sheet with "vanishing" asks them there
    assert spec_with("points = { backward = 2 }\n").exercise.points.of("delta1_1") == 2
    chain = (ROOT / "worksheets" / "vanishing-sigmoid-chain.toml").read_text(encoding="utf-8")
    assert "[exercise]\n" in chain
    p = parse_spec(chain.replace("[exercise]\n", "[exercise]\npoints = { vanishing = 3, backward = 2 }\n"),
                   "chain.toml").exercise.points
    assert (p.of("delta2_1"), p.of("dW2_1_1"), p.of("z1_1")) == (3, 2, 1)


@pytest.mark.parametrize("line,key,words", [
    ("points = { delta9_9 = 2 }\n", "[exercise].points.delta9_9", "unknown key"),
    ("points = { bakward = 2 }\n", "[exercise].points.bakward", 'did you mean "backward"'),
    ("points = { forward = -1 }\n", "[exercise].points.forward", "from 0 to 1000"),
    ("points = true\n", "[exercise].points", "expected a number of points"),
    ("points = \"two\"\n", "[exercise].points", "expected a number of points"),
])
def test_a_bad_points_key_is_one_line_naming_it(line, key, words):
    with pytest.raises(SpecError) as e:
        spec_with(line)
    message = str(e.value)
    assert key in message and words in message and "\n" not in message
    assert message.startswith("points.toml:")


def test_an_answer_the_sheet_does_not_ask_is_refused():
    text = CLASSIC.replace('sections = ["forward", "loss", "backward", "update"]', 'sections = ["forward"]')
    text = text.replace("decimals = 4\n", "decimals = 4\npoints = { new_W1_1_1 = 2 }\n")
    with pytest.raises(SpecError, match=r"\[exercise\]\.points\.new_W1_1_1: unknown key"):
        parse_spec(text, "points.toml")


def grade_with(points, answers, **kw):
    return grade_student(*classic(), 4, typed(answers), points=points, **kw)


def test_full_marks_are_the_sum_of_the_points():
    points = spec_with(PER_SECTION).exercise.points
    r = grade_with(points, hand(classic()))
    # 6 forward × 1 + loss 3 + 11 backward × 2 + δ1_1 5 + 9 update × 1
    assert r.max == r.score == 6 + 3 + 22 + 5 + 9 == 45


def test_a_wrong_answer_loses_its_own_points():
    points = spec_with(PER_SECTION).exercise.points
    answers = hand(classic())
    answers["loss"] *= 2  # nothing on the sheet is computed from the loss
    r = grade_with(points, answers)
    assert r["loss"].credit == 0 and r.score == 45 - 3


def test_carried_credit_scales_with_the_points():
    """δ1_1 slipped; ∂W1_1_1 (2), ∂b1_1 (2), new W1_1_1 (1) and new b1_1 (1) follow from it and are
    carried at half weight; ∂W1_1_2 = δ1_1 · x_2 = 0 (x = [1, 0]) stays right."""
    points = spec_with(PER_SECTION).exercise.points
    slipped = hand(classic(), slips={"delta1_1": 0.05})
    r = grade_with(points, slipped, carried_weight=0.5)
    carried = {a.name for a in r.results if a.status.value == "carried"}
    assert carried == {"dW1_1_1", "db1_1", "new_W1_1_1", "new_b1_1"}
    assert r["dW1_1_1"].credit == 1.0 and r["new_b1_1"].credit == 0.5
    assert r.score == 45 - 5 - 0.5 * (2 + 2 + 1 + 1) == 37


def test_the_fewer_decimals_deduction_scales_with_the_points():
    points = spec_with(PER_SECTION).exercise.points
    answers = typed(hand(classic()))
    key_loss = hand(classic())["loss"]
    answers["loss"] = f"{key_loss:.3f}"  # right to the three places typed, one fewer than asked
    r = grade_student(*classic(), 4, answers, points=points, fewer_decimals_deduction=0.5)
    assert r["loss"].status.value == "correct" and r["loss"].credit == 1.5
    assert r.score == 45 - 0.5 * 3


def test_the_command_line_says_the_bad_key_in_one_line(tmp_path, capsys):
    from derive.cli import main
    spec = tmp_path / "bad.toml"
    spec.write_text(CLASSIC.replace("decimals = 4\n", "decimals = 4\npoints = { dW9_9_9 = 1 }\n"), encoding="utf-8")
    assert main(["solve", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    line = CLASSIC[:CLASSIC.index("decimals = 4\n")].count("\n") + 2
    assert err.startswith(f"derive: {spec}:{line}: [exercise].points.dW9_9_9: unknown key") and "\n" not in err
