"""Grading: typed numbers, tolerance, error carried forward, named mistakes, files.

Keys and planted answers come from the hand route of ``test_mistakes``
(plain loops over units, textbook formulas), never from derive.
"""
from __future__ import annotations

import csv
import json
import math
import os
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.errors import AnswersError
from derive.grade import (AnswerResult, Answers, GradedStudent, Status, StudentResult, Tolerance,
                          Unparseable, grade_student, parse_number, parse_typed, read_answers,
                          read_sheet_answers, result_json, safe_filename, verify, within_decimals,
                          within_rtol, within_sigfigs, write_grades)
from derive.spec import load_spec
from test_mistakes import RELU, SOFTMAX, TANH, classic, hand, sig

ROOT = Path(__file__).resolve().parent.parent


def typed(values: dict[str, float], decimals: int = 4) -> dict[str, str]:
    """Values as a student types them (the test's own formatting)."""
    return {n: f"{v:.{decimals}f}" for n, v in values.items()}


def grade(ex, answers, **kw) -> StudentResult:
    return grade_student(*ex, 4, answers, **kw)


def statuses(r: StudentResult) -> dict[str, str]:
    return {a.name: a.status.value for a in r.results}


# --- parse_number ---------------------------------------------------------------------------

@pytest.mark.parametrize("text,value", [
    ("-0.204", -0.204), ("\u22120.204", -0.204), ("\u20130.204", -0.204), (".5", 0.5),
    (" 0.6637 ", 0.6637), ("1e-3", 0.001), ("1E-3", 0.001), ("0,204", 0.204), ("+0.5", 0.5),
    ("-,5", -0.5), ("3", 3.0), ("5.", 5.0), ("\u2212 0.5", -0.5), ("\uff10\uff0e\uff15", 0.5),
    ("\t0.25\n", 0.25),
])
def test_parse_number_reads_what_people_type(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", " ", "\t\n", None])
def test_parse_number_empty_is_missing(text):
    assert parse_number(text) is None


@pytest.mark.parametrize("text", ["abc", "1.2.3", "nan", "NaN", "inf", "-inf", "Infinity", "0,1,2",
                                  "1,000.5", "1_000", "0x10", "1e999", "½", "0.5²", "--1", "1 000",
                                  "e5", ".", "-", "1e"])  # Arabic-Indic digits are read: see below
def test_parse_number_rejects_anything_else(text):
    assert isinstance(parse_number(text), Unparseable)


@pytest.mark.parametrize("text", ["1e-99999999999", "0e-99999999999", "0e99999999999", "1e-401"])
def test_a_typed_exponent_beyond_floats_range_is_unparseable(text):
    # float() reads these as 0.0, but grading makes each typed answer a Fraction: 10^99999999999 hung it
    got = parse_typed(text)
    assert isinstance(got, Unparseable) and got.reason == "exponent out of range"
    assert parse_typed("5e-324") == Decimal("5e-324")  # the smallest float still reads


@given(st.text())
def test_parse_number_never_crashes(text):
    v = parse_number(text)
    assert v is None or isinstance(v, Unparseable) or (isinstance(v, float) and math.isfinite(v))


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_parse_number_reads_back_any_float(x):
    assert parse_number(repr(x)) == x
    if "." in repr(x) and "e" not in repr(x):
        assert parse_number(repr(x).replace(".", ",")) == x


# --- tolerance modes --------------------------------------------------------------------------

def test_within_decimals_is_one_unit_around_the_printed_key():
    key = 0.64565  # printed 0.6457 (half-up)
    assert all(within_decimals(g, key, 4) for g in (0.6456, 0.6457, 0.6458))
    assert not any(within_decimals(g, key, 4) for g in (0.6455, 0.6459, -0.6457))
    assert within_decimals(-0.2039, -0.204, 3) and not within_decimals(-0.206, -0.204, 3)


def test_within_rtol_and_sigfigs():
    assert within_rtol(1.009, 1.0, 0.01) and not within_rtol(1.02, 1.0, 0.01)
    assert within_rtol(0.0005, 0.0, 0.01, atol=1e-3)
    assert within_sigfigs(0.06751, 0.06745, 3) and not within_sigfigs(0.0676, 0.06745, 3)
    assert within_sigfigs(123.4, 123.0, 3) and not within_sigfigs(125, 123.0, 3)


def test_tolerance_describes_itself():
    assert "±0.0001" in Tolerance.by_decimals(4).describe()
    assert "4th decimal place" in Tolerance.by_decimals(4).describe()
    assert "1%" in Tolerance.by_rtol(0.01).describe()
    assert "3rd significant figure" in Tolerance.by_sigfigs(3).describe()


def test_other_tolerance_modes_grade():
    ex = classic()
    k = hand(ex)
    r = grade(ex, {"a1_1": str(k["a1_1"] * 1.004)}, tolerance=Tolerance.by_rtol(0.005), names=["a1_1"])
    assert statuses(r) == {"a1_1": "correct"}
    r = grade(ex, {"a1_1": "0.646"}, tolerance=Tolerance.by_sigfigs(3), names=["a1_1"])
    assert statuses(r) == {"a1_1": "correct"}


# --- all correct ------------------------------------------------------------------------------

ARCHS = {"classic": classic, "tanh": TANH, "relu": RELU, "softmax": SOFTMAX}


@pytest.mark.parametrize("arch", ARCHS)
def test_all_correct_answers_get_full_marks(arch):
    ex = ARCHS[arch]()
    r = grade(ex, typed(hand(ex)))
    assert r.score == r.max == len(r.results)
    assert set(statuses(r).values()) == {"correct"}


@pytest.mark.parametrize("arch", ARCHS)
def test_rounding_every_step_and_carrying_it_is_correct(arch):
    ex = ARCHS[arch]()
    r = grade(ex, typed(hand(ex, decimals=4)))
    assert r.score == r.max
    assert set(statuses(r).values()) == {"correct"}


def test_answer_result_fields():
    ex = classic()
    k = hand(ex)
    r = grade(ex, {"a1_1": "0.6457"}, names=["a1_1", "z1_1"])
    a, z = r.results
    assert isinstance(a, AnswerResult) and a.name == "a1_1" and a.given == "0.6457"
    assert a.value == 0.6457 and float(a.expected) == pytest.approx(k["a1_1"], abs=5e-5)
    assert float(a.reevaluated) == pytest.approx(k["a1_1"], abs=5e-5) and a.status is Status.CORRECT
    assert z.status is Status.MISSING and z.reevaluated is None and z.value is None
    assert r.score == 1 and r.max == 2


# --- named mistakes -----------------------------------------------------------------------------

def planted():
    """(arch, answer, value from the mistaken formula by hand, mistake id)."""
    out = []
    k = hand(classic())
    yhat = k["a2_1"]
    out += [
        ("classic", "z1_1", 0.5 * 1 + -0.3 * 0, "no_bias"),
        ("classic", "z2_1", 0.7 * round(k["a1_1"], 2) - 0.5 * round(k["a1_2"], 2) + 0.2, "early_rounding"),
        ("classic", "loss", 2 * -math.log(yhat), "half_or_mean_factor"),
        ("classic", "loss", -math.log10(yhat), "log10"),
        ("classic", "delta2_1", -1 / yhat, "no_activation_derivative"),
        ("classic", "delta2_1", 1 - yhat, "delta_sign"),
        ("classic", "delta1_1", 0.7 * k["delta2_1"], "no_activation_derivative"),
        ("classic", "delta1_1", 0.7 * k["delta2_1"] * sig(k["a1_1"]) * (1 - sig(k["a1_1"])), "derivative_at_a"),
        ("classic", "dW1_1_2", k["delta1_2"] * 1.0, "transposed_gradient"),
        ("classic", "new_W2_1_1", 0.7 + 0.5 * k["dW2_1_1"], "update_sign"),
        ("classic", "new_b2_1", 0.2 + 0.5 * k["db2_1"], "update_sign"),
    ]
    t = hand(TANH())
    out += [("tanh", "delta1_1", -0.8 * t["delta2_1"] * (1 - math.tanh(t["a1_1"]) ** 2), "derivative_at_a"),
            ("tanh", "loss", (t["a2_1"] - 0.2) ** 2, "half_or_mean_factor")]
    r = hand(RELU())
    out += [("relu", "delta2_1", r["a2_1"] - 0.8, "half_or_mean_factor"),
            ("relu", "z1_2", -0.4 * 1.0 + 0.6 * 0.5, "no_bias")]
    s = hand(SOFTMAX())
    out += [("softmax", "delta2_2", -1 / s["a2_2"], "no_activation_derivative"),
            ("softmax", "loss", -math.log10(s["a2_2"]), "log10"),
            ("softmax", "dW2_3_1", s["delta2_1"] * s["a1_3"], "transposed_gradient")]
    return out


@pytest.mark.parametrize("arch,name,value,mistake", planted(),
                         ids=[f"{a}-{n}-{m}" for a, n, _, m in planted()])
def test_each_planted_mistake_is_named(arch, name, value, mistake):
    ex = ARCHS[arch]()
    answers = typed(hand(ex))
    answers[name] = f"{value:.4f}"
    r = grade(ex, answers)
    res = r[name]
    assert res.status is Status.WRONG and res.mistake == mistake, res
    assert "Expected" in res.message
    assert r.score == r.max - 1


# --- error carried forward -------------------------------------------------------------------------

def test_a_slip_in_z1_1_is_carried_downstream():
    ex = classic()
    key = hand(ex)
    slip = hand(ex, slips={"z1_1": 0.65})  # exact arithmetic from the slip
    r = grade(ex, typed(slip))
    s = statuses(r)
    assert s["z1_1"] == "wrong" and r["z1_1"].mistake is None
    assert r["a1_1"].value == pytest.approx(sig(0.65), abs=1e-4) and s["a1_1"] == "carried"
    assert "z1_1" in r["a1_1"].message
    changed = [n for n in key if abs(slip[n] - key[n]) > 2e-4]
    assert {n: s[n] for n in changed if n != "z1_1"} == {n: "carried" for n in changed if n != "z1_1"}
    assert {"z2_1", "a2_1", "loss", "delta2_1", "delta1_1", "dW2_1_1", "new_W1_1_1"} <= set(changed)
    # the key is the rounded chain: an answer a hair off it still follows from the student's own
    assert all(s[n] in ("correct", "carried") for n in key if n not in changed)
    assert r.score == r.max - 1


def test_published_example_first_preactivation_misadded():
    """z1_1 = 0.5 instead of 0.6, everything after worked (and rounded) from the slip."""
    ex = classic()
    key = hand(ex)
    student = hand(ex, slips={"z1_1": 0.5}, decimals=4)
    assert student["a1_1"] == round(sig(0.5), 4) == 0.6225
    r = grade(ex, typed(student))
    s = statuses(r)
    assert s["z1_1"] == "wrong"
    following = ["a1_1", "z2_1", "a2_1", "loss", "delta2_1", "dW2_1_1", "dW2_1_2", "db2_1",
                 "delta1_1", "delta1_2", "dW1_1_1", "dW1_2_1", "db1_1", "db1_2",
                 "new_W2_1_1", "new_W2_1_2", "new_b2_1", "new_W1_1_1", "new_W1_2_1", "new_b1_1", "new_b1_2"]
    assert {n: s[n] for n in following} == {n: "carried" for n in following}
    # untouched by the slip: z1_2, a1_2; and the gradients of the zero input x₂
    assert {s[n] for n in ("z1_2", "a1_2", "dW1_1_2", "dW1_2_2", "new_W1_1_2", "new_W1_2_2")} == {"correct"}
    assert r.score == r.max - 1
    assert r.score == grade(ex, typed(student), carried_weight=0.5).score + 0.5 * len(following)
    assert key["z1_1"] == pytest.approx(0.6)


def test_a_slip_in_the_softmax_net_is_carried():
    ex = SOFTMAX()
    key = hand(ex)
    student = hand(ex, slips={"a1_2": 0.8}, decimals=4)
    r = grade(ex, typed(student))
    s = statuses(r)
    assert s["a1_2"] == "wrong"
    changed = [n for n in key if abs(student[n] - key[n]) > 2e-4 and n != "a1_2"]
    assert {"z2_1", "z2_3", "a2_2", "loss", "delta2_1", "dW2_3_2", "dW2_3_1"} <= set(changed)
    assert {n: s[n] for n in changed} == {n: "carried" for n in changed}
    assert r.score == r.max - 1


def test_a_hidden_delta_may_take_g_prime_from_a_or_from_z():
    ex = classic()
    student = typed(hand(ex, slips={"a1_1": 0.7}, decimals=4))  # hand: σ′ from z (right)
    assert grade(ex, student)["delta1_1"].status is Status.CARRIED
    k = hand(ex, slips={"a1_1": 0.7}, decimals=4)
    student["delta1_1"] = f"{0.7 * k['delta2_1'] * 0.7 * (1 - 0.7):.4f}"  # a(1 − a) from the slip
    r = grade(ex, student)
    assert r["delta1_1"].status is Status.CARRIED and "a1_1" in r["delta1_1"].message


def test_a_zero_parent_earns_no_carried_credit():
    ex = classic()
    student = hand(ex, slips={"delta2_1": 0.0}, decimals=4)
    r = grade(ex, typed(student))
    s = statuses(r)
    assert s["delta2_1"] == "wrong"
    for n in ("dW2_1_1", "dW2_1_2", "db2_1", "delta1_1", "delta1_2"):
        assert student[n] == 0 and s[n] == "wrong", n
        assert "No follow-through credit" in r[n].message and "delta2_1 = 0.0000" in r[n].message
        assert "trivially" in r[n].message
    # the update with a zero gradient leaves W unchanged: no credit either
    assert s["new_W2_1_1"] == "wrong" and student["new_W2_1_1"] == 0.7


def test_a_missing_parent_earns_no_carried_credit():
    ex = classic()
    student = typed(hand(ex, slips={"a1_2": 0.8}, decimals=4))
    assert grade(ex, student)["z2_1"].status is Status.CARRIED
    student["a1_1"] = ""  # worked out right, but not written down
    r = grade(ex, student)
    assert r["a1_1"].status is Status.MISSING
    assert r["z2_1"].status is Status.WRONG and "a1_1 is missing" in r["z2_1"].message
    student["a1_1"] = "seven"
    r = grade(ex, student)
    assert r["a1_1"].status is Status.UNPARSEABLE
    assert r["z2_1"].status is Status.WRONG and "a1_1 is not a number" in r["z2_1"].message


def test_trivially_zero_downstream_earns_no_credit():
    ex = classic()
    student = typed(hand(ex))
    assert round(sig(20.0), 4) == 1
    student.update(z2_1="20.0000", a2_1="1.0000", loss="0.0000", delta2_1="0.0000")
    r = grade(ex, student)
    assert r["a2_1"].status is Status.CARRIED and r["a2_1"].given == "1.0000"
    assert r["loss"].status is Status.WRONG and "a2_1 = 1.0000 makes loss = 0.0000 trivially" in r["loss"].message
    assert r["delta2_1"].status is Status.WRONG and "makes delta2_1 = 0.0000 trivially" in r["delta2_1"].message


def test_a_wrong_answer_names_the_mistake_from_the_students_own_parents():
    ex = classic()
    student = hand(ex, slips={"z2_1": 0.5}, decimals=4)
    answers = typed(student)
    answers["delta2_1"] = f"{1 - student['a2_1']:.4f}"  # y − ŷ, from the student's own ŷ
    r = grade(ex, answers)
    assert r["a2_1"].status is Status.CARRIED
    assert r["delta2_1"].status is Status.WRONG and r["delta2_1"].mistake == "delta_sign"


# --- never crashing on what students type ------------------------------------------------------------

CELL = st.one_of(st.text(max_size=12),
                 st.sampled_from(["", "0.5", "-0", "1e400", "1e300", "-1e-300", "0,5", "\u22121"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(list(hand(classic()))), CELL))
def test_grade_student_never_crashes(cells):
    r = grade(classic(), cells)
    assert 0 <= r.score <= r.max == 28
    assert all(isinstance(a.status, Status) for a in r.results)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(list(hand(classic()))),
                       st.floats(-3, 3, allow_nan=False).map(lambda v: f"{v:.4f}")))
def test_grade_student_never_crashes_on_numbers(cells):
    r = grade(classic(), cells)
    assert 0 <= r.score <= r.max


# --- reading answers files -------------------------------------------------------------------------

def write(tmp_path, text, name="answers.csv", encoding="utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def test_read_wide_answers(tmp_path):
    p = write(tmp_path, "\ufeffstudent_id,z1_1,a1_1\ns1,0.6,0.6457\ns2,,\u22120.1\n")
    a = read_answers(p)
    assert isinstance(a, Answers) and a.layout == "wide" and a.warnings == ()
    assert dict(a.students["s1"]) == {"z1_1": "0.6", "a1_1": "0.6457"}
    assert a.students["s2"]["z1_1"] == "" and a.lines == {"s1": 2, "s2": 3}


def test_read_long_answers(tmp_path):
    p = write(tmp_path, "student_id,name,value\ns1,z1_1,0.6\ns1,a1_1,\"0,6457\"\ns2,loss,0.5\n")
    a = read_answers(p)
    assert a.layout == "long"
    assert dict(a.students["s1"]) == {"z1_1": "0.6", "a1_1": "0,6457"}
    assert dict(a.students["s2"]) == {"loss": "0.5"}


def test_read_semicolon_answers_with_decimal_commas(tmp_path):
    a = read_answers(write(tmp_path, "Student ID;z1_1;a1_1\ns1;0,6;0,6457\n"))
    assert dict(a.students["s1"]) == {"z1_1": "0,6", "a1_1": "0,6457"}


def test_read_answers_refuses_more_rows_than_its_limits_students_could_fill(tmp_path):
    from derive.spec import Limits
    # 3 students × 2 answers: 6 rows at most, in any layout; the header is line 1, the 7th row line 8
    rows = "".join(f"s{i},z1_1,0.5\n" for i in range(7))
    p = write(tmp_path, "student_id,name,value\n" + rows)
    with pytest.raises(AnswersError, match=r"answers.csv:8: expected at most 6 rows of answers \(3 students, "
                                           r"a row per answer each at most\) \(--force-large allows more\)"):
        read_answers(p, expected=["z1_1", "a1_1"], limits=Limits(students=3))
    assert len(read_answers(p, expected=["z1_1", "a1_1"], limits=Limits(students=4)).students) == 7


def test_read_answers_warns_and_never_drops_silently(tmp_path):
    p = write(tmp_path, "student_id,z1_1,zz1_1,z1_1,z9_1\n"
                        "s1,0.6,1,2,3\n"
                        "s1,0.7,,,\n"
                        ",0.1,,,\n"
                        "s3,0.6\n"
                        "s4,0.6,,,,,5\n")
    a = read_answers(p, roster=["s1", "s3"], expected=["z1_1", "a1_1"])
    text = "\n".join(a.warnings)
    assert f"{p}:1: column 3 'zz1_1' is not an answer name" in text and 'did you mean "z1_1"' in text
    assert "column 4 repeats 'z1_1'" in text
    assert "column 5 'z9_1' is not asked on this sheet" in text
    assert f"{p}:3: student_id 's1' again (first on line 2)" in text
    assert f"{p}:4: no student_id" in text
    assert f"{p}:5: 2 cells but the header has 5" in text
    assert f"{p}:6: 7 cells" in text and "extra cells are ignored" in text
    assert f"{p}:6: student_id 's4' is not on the roster" in text
    assert a.students["s1"]["z1_1"] == "0.6"
    assert a.not_on_roster(["s1"]) == [f"{p}:5: student_id 's3' is not on the roster; not graded",
                                       f"{p}:6: student_id 's4' is not on the roster; not graded"]


def test_read_long_answers_warns_on_duplicates_and_unknown_names(tmp_path):
    p = write(tmp_path, "student_id,name,value\ns1,z1_1,0.6\ns1,z1_1,0.7\ns1,hello,1\ns1,loss\n")
    a = read_answers(p)
    text = "\n".join(a.warnings)
    assert f"{p}:3: z1_1 of 's1' again (first on line 2)" in text
    assert f"{p}:4: 'hello' is not an answer name" in text
    assert f"{p}:5: expected 3 cells" in text
    assert dict(a.students["s1"]) == {"z1_1": "0.6"}


@pytest.mark.parametrize("content,line,what", [
    (b"", 1, "empty file"),
    (b"name,z1_1\ns1,0.5\n", 1, "student_id"),
    (b"\n\nid;x\n", 3, "student_id"),
    (b"student_id,z1_1\ns1,0.5\ns2,\x81\x8d\n", 3, "not UTF-8, UTF-16 or Windows-1252"),
])
def test_unreadable_answers_files(tmp_path, content, line, what):
    p = tmp_path / "bad.csv"
    p.write_bytes(content)
    with pytest.raises(AnswersError) as e:
        read_answers(p)
    assert f"{p}:{line}:" in str(e.value) and what in str(e.value)


def test_an_answers_file_saved_in_windows_1252_is_read(tmp_path):
    # Excel's plain "CSV" on a Western Windows: a name with é in it, and the answers as typed
    p = tmp_path / "excel.csv"
    p.write_bytes("student_id,name,z1_1\r\ns1,Jos\u00e9 Garc\u00eda,0.5\r\n".encode("cp1252"))
    a = read_answers(p)
    assert dict(a.students["s1"]) == {"z1_1": "0.5"}


def test_missing_answers_file(tmp_path):
    with pytest.raises(AnswersError, match="no such file"):
        read_answers(tmp_path / "nope.csv")


CSV_TEXT = st.text(st.one_of(st.sampled_from(list(',;"\n\r\t .-0123456789e\u2212')), st.characters(codec="utf-8")),
                   max_size=10)


@settings(max_examples=int(os.environ.get("FUZZ", 60)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(CSV_TEXT, st.lists(CSV_TEXT, min_size=3, max_size=3)), max_size=5))
def test_any_cells_survive_a_csv_round_trip(tmp_path, rows):
    p = tmp_path / "h.csv"
    with open(p, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "z1_1", "a1_1", "loss"])
        w.writerows([sid, *cells] for sid, cells in rows)
    try:
        a = read_answers(p)
    except AnswersError:
        return  # e.g. a cell of a blank-looking first row; never another exception
    firsts: dict = {}
    for sid, cells in rows:
        if sid.strip() and sid.strip() not in firsts:
            firsts[sid.strip()] = cells
    for sid, cells in firsts.items():
        assert dict(a.students[sid]) == dict(zip(["z1_1", "a1_1", "loss"], cells))
        r = grade(classic(), a.students[sid])
        assert 0 <= r.score <= r.max


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=200),
                 st.text(max_size=200).map(lambda t: ("student_id,name,value\n" + t).encode())))
def test_any_file_reads_or_fails_cleanly(tmp_path, content):
    p = tmp_path / "raw.csv"
    p.write_bytes(content)
    try:
        a = read_answers(p)
    except AnswersError as e:
        assert str(p) in str(e)
        return
    for sid, cells in a.students.items():
        grade(classic(), cells)


# --- one sheet (derive verify) ----------------------------------------------------------------------

@pytest.mark.parametrize("text", ["z1_1,0.6\na1_1,0.6457\n", "name,value\nz1_1,0.6\na1_1,0.6457\n",
                                  "z1_1,a1_1\n0.6,0.6457\n", "student_id,z1_1,a1_1\nme,0.6,0.6457\n"])
def test_read_sheet_answers(tmp_path, text):
    s = read_sheet_answers(write(tmp_path, text))
    assert dict(s.answers) == {"z1_1": "0.6", "a1_1": "0.6457"}


def test_verify_and_its_json(tmp_path):
    ex = classic()
    answers = {"z1_1": "0.6", "a1_1": "0.6457", "delta2_1": "0.4212"}
    r = verify(*ex, 4, answers)
    assert [a.name for a in r.results] == ["z1_1", "a1_1", "delta2_1"]
    j = result_json(r, 4)
    json.dumps(j)
    assert j["answers"]["delta2_1"] == {"given": "0.4212", "expected": "-0.4212", "status": "wrong",
                                       "mistake": "delta_sign", "message": j["answers"]["delta2_1"]["message"],
                                       "note": "", "marks": 0.0, "points": 1.0}
    assert j["answers"]["z1_1"]["status"] == "correct" and j["score"] == 2


# --- writing grades -------------------------------------------------------------------------------------

def test_write_grades(tmp_path):
    ex = classic()
    key = typed(hand(ex))
    slipped = typed(hand(ex, slips={"z1_1": 0.5}, decimals=4))
    wrong = dict(key, delta2_1=f"{1 - hand(ex)['a2_1']:.4f}", loss="")
    students = [GradedStudent("s1", "Ada", grade(ex, key)),
                GradedStudent("../evil|id", "Bob", grade(ex, slipped)),
                GradedStudent("..-evil_id", "Cy", grade(ex, wrong))]
    inputs = {p: p.read_bytes() for p in (ROOT / "worksheets").rglob("*") if p.is_file()}
    paths = write_grades(tmp_path / "out", students, decimals=4)
    out = tmp_path / "out"
    assert {p.relative_to(out).as_posix() for p in paths} >= {"grades.csv", "summary.md", "feedback/s1.md"}
    rows = list(csv.DictReader(open(out / "grades.csv", encoding="utf-8-sig")))
    assert rows[0]["student_id"] == "s1" and rows[0]["score"] == "28" and rows[0]["max"] == "28"
    assert rows[1]["z1_1"] == "wrong" and rows[1]["a1_1"] == "carried"
    assert rows[2]["loss"] == "missing" and rows[2]["delta2_1"] == "wrong"
    feedback = sorted(p.name for p in (out / "feedback").iterdir())
    assert len(feedback) == 3 and all("/" not in f and "|" not in f for f in feedback)
    assert safe_filename("../evil|id") != safe_filename("..-evil_id")
    assert safe_filename("s1") == "s1" and safe_filename("CON") != "CON"
    md = (out / "feedback" / f"{safe_filename('..-evil_id')}.md").read_text(encoding="utf-8")
    assert "±0.0001" in md and "| `delta2_1` | 0.4212 | -0.4212 | wrong |" in md
    assert "wrong sign" in md
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "| `delta2_1` | 33% | 33% | 33% | 0% | 0% | delta_sign (1) |" in summary
    assert "| `loss` | 33% | 33% | 0% | 33% | 0% |  |" in summary
    assert "27–28 | ######################################## 2" in summary  # the histogram's top bar
    assert "24–26 | ####################                     1" in summary
    assert not [p for p in out.rglob("*.tmp")]
    assert inputs == {p: p.read_bytes() for p in (ROOT / "worksheets").rglob("*") if p.is_file()}
    write_grades(out, students, decimals=4)  # again: replaced atomically, no error


def test_feedback_files_do_not_collide_on_case_insensitive_disks(tmp_path):
    r = grade(classic(), {})
    write_grades(tmp_path, [GradedStudent("Ab", "", r), GradedStudent("ab", "", r)], decimals=4)
    files = [p.name.casefold() for p in (tmp_path / "feedback").iterdir()]
    assert len(files) == len(set(files)) == 2


# --- a batch --------------------------------------------------------------------------------------------

def test_a_batch_is_graded_with_carried_errors():
    s = load_spec(ROOT / "worksheets" / "xor-241.toml")
    ex = (s.network, s.fixed_params(), s.data, s.exercise.learning_rate)
    assert grade(ex, typed(hand(ex))).score == grade(ex, {}).max
    r = grade(ex, typed(hand(ex, slips={"z1_2_s3": 0.3}, decimals=4)))
    st_ = statuses(r)
    assert st_["z1_2_s3"] == "wrong"
    assert st_["a1_2_s3"] == st_["z2_1_s3"] == st_["loss_s3"] == st_["loss"] == "carried"
    assert st_["dW2_1_2"] == st_["new_W2_1_2"] == "carried"
    assert st_["a1_2_s2"] == "correct"
    assert r.score == r.max - 1


# --- hostile or ambiguous typing ------------------------------------------------------------

@pytest.mark.parametrize("text", ["1,234", "-12,345", "123,456"])
def test_a_thousands_separator_is_never_guessed(text):
    got = parse_number(text)
    assert isinstance(got, Unparseable) and "ambiguous" in got.reason


@pytest.mark.parametrize("text,value", [("0,234", 0.234), ("12,5", 12.5), ("1,2345", 1.2345),
                                        ("\u0661\u066b\u0665", 1.5), ("\u06f3\u066b\u06f1\u06f4", 3.14),
                                        ("\u2212 0.5", -0.5), ("\u22120", 0.0)])
def test_decimal_commas_and_arabic_indic_digits_are_read(text, value):
    assert parse_number(text) == value


def test_feedback_renders_student_input_as_literal_text(tmp_path):
    from derive.grade import _md, printable
    cell = _md("[click](http://evil.example/) ![img](http://evil.example/x.png) http://evil.example <b>")
    assert "](" not in cell and "![" not in cell and "http://" not in cell and "<b>" not in cell
    assert printable("0.5\x1b[2J\u202e") == "0.5[2J"


def test_verify_does_not_echo_terminal_escapes(tmp_path, capsys):
    from derive.cli import main
    answers = tmp_path / "a.csv"
    answers.write_text("name,value\nz1_1,\x1b[2J0.6\x1b[0m\n", encoding="utf-8")
    main(["verify", "worksheets/classic-221.toml", "--answers", str(answers)])
    out = capsys.readouterr()
    assert "\x1b" not in out.out and "\x1b" not in out.err
