"""Follow-through credit as exam boards give it, precision as the student gave it, copying and wrong secrets.

Students' sheets are worked by the hand route of test_mistakes (every value
written at 4 decimals and carried), from their own slips; the key comes
from the oracle's rounded chain.  Nothing expected is taken from derive.
"""
import csv
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

import oracle
from derive.cli import main
from derive.grade import FEWER_DECIMALS, Status, Tolerance, grade_student, verify
from derive.spec import load_params_json, load_spec
from test_mistakes import Hand, classic

ROOT = Path(__file__).resolve().parent.parent
SPEC = str(ROOT / "worksheets" / "random-221.toml")


def exercises(n=6):
    """The classic sheet and a few drawn 2-2-1 sheets, as (net, params, data, lr)."""
    from derive.randomize import draw_student
    spec = load_spec(SPEC)
    drawn = [draw_student(spec, seed) for seed in range(n - 1)]
    return [classic()] + [(spec.network, d.params, d.data, 0.5) for d in drawn]


EXERCISES = exercises()


def worked(ex, slips=None, decimals=4) -> dict[str, str]:
    """A student's sheet by hand: every value written at 4 decimals, carried, with these slips."""
    net, p, data, lr = ex
    values = Hand(net.activations, net.loss, p.W, p.b, data.x, data.y, lr, slips=slips, decimals=decimals).v
    return {n: f"{v:.{decimals}f}" for n, v in values.items()}


def key_of(ex):
    net, p, data, lr = ex
    return oracle.rounded_chain(net.layers, net.activations, net.loss, p.W, p.b, data.x, data.y, lr, 4)


def grade(ex, answers, **kw):
    return grade_student(*ex, 4, answers, **kw)


# --- point 4: follow-through credit ----------------------------------------------------

@pytest.mark.parametrize("ex", EXERCISES)
@pytest.mark.parametrize("slip", ["z1_1", "a1_2", "z2_1", "delta2_1", "delta1_2", "dW2_1_1"])
def test_one_honest_slip_costs_only_that_answer(ex, slip):
    k = key_of(ex)
    wrong = float(k[slip]) + (0.1 if slip.startswith(("z", "d")) else 0.05)
    r = grade(ex, worked(ex, {slip: wrong}))
    assert r[slip].status is Status.WRONG
    assert r.max == 28 and r.score == 27, [(a.name, a.status.value, a.message) for a in r.results]


@pytest.mark.parametrize("ex", EXERCISES)
def test_a_named_mistake_upstream_costs_only_that_answer(ex):
    net, p, data, lr = ex
    k = {n: float(v) for n, v in key_of(ex).items()}
    # δ⁽¹⁾₁ without σ′: W⁽²⁾₁₁ δ⁽²⁾, everything after it computed from that
    r = grade(ex, worked(ex, {"delta1_1": p.W[1][0][0] * k["delta2_1"]}))
    assert r["delta1_1"].mistake == "no_activation_derivative"
    assert r.score == 27


@pytest.mark.parametrize("ex", EXERCISES)
def test_z_near_zero_everywhere_earns_at_most_a_quarter(ex):
    r = grade(ex, worked(ex, {"z1_1": 0.0001, "z1_2": 0.0001, "z2_1": 0.0001}))
    assert r.score <= 0.25 * r.max, r
    why = r["a1_1"].message
    assert "your z1_1 = 0.0001 makes a1_1 = 0.5000 trivially" in why, why


@pytest.mark.parametrize("ex", EXERCISES)
@pytest.mark.parametrize("number", ["0.5", "0.1", "1", "-0.3", "0", "0.25", "0.7"])
def test_one_number_in_every_box_earns_at_most_a_tenth(ex, number):
    r = grade(ex, {n: number for n in key_of(ex)})
    assert r.score <= 0.10 * r.max, [(a.name, a.status.value) for a in r.results if a.credit]


@pytest.mark.parametrize("ex", EXERCISES)
@pytest.mark.parametrize("invented", [0.3, -0.2])
def test_invented_deltas_with_the_forward_pass_blank_earn_at_most_a_quarter(ex, invented):
    sheet = worked(ex, {"delta2_1": invented})
    for n in ("z1_1", "z1_2", "a1_1", "a1_2", "z2_1", "a2_1", "loss"):
        sheet[n] = ""
    r = grade(ex, sheet)
    assert r.score <= 0.25 * r.max, [(a.name, a.status.value) for a in r.results if a.credit]


@pytest.mark.parametrize("ex", EXERCISES)
def test_an_answer_that_matches_the_key_always_earns_full_credit(ex):
    k = key_of(ex)
    sheet = {n: "0.5" for n in k}           # nonsense everywhere …
    for n in list(k)[::3]:                  # … but every third box right
        sheet[n] = str(k[n])
    r = grade(ex, sheet)
    assert all(r[n].status is Status.CORRECT and r[n].credit == 1 for n in list(k)[::3])


def test_feedback_says_why_follow_through_was_withheld():
    ex = classic()
    sheet = worked(ex, {"delta2_1": 0.3})
    sheet["a2_1"] = ""
    r = grade(ex, sheet)
    assert "your a2_1 is missing" in r["delta1_1"].message or "neither right nor worked out" in r["delta1_1"].message
    assert "delta2_1 = 0.3000 is neither right nor worked out" in r["db2_1"].message


# --- point 5: the precision the student gave ---------------------------------------------

@pytest.mark.parametrize("ex", EXERCISES)
def test_right_to_three_decimals_of_four_is_correct_with_a_note(ex):
    k = key_of(ex)
    three = {n: str(v.quantize(Decimal("0.001"), ROUND_HALF_UP)) for n, v in k.items()}  # half away from 0
    r = grade(ex, three)
    assert r.score == r.max
    assert all(a.status is Status.CORRECT and a.mistake is None for a in r.results)
    shorter = [a for a in r.results if a.note == FEWER_DECIMALS]
    assert shorter and all("rounded" not in a.message for a in shorter)
    r = grade(ex, three, fewer_decimals_deduction=0.25)  # the instructor's choice
    assert r.score == r.max - 0.25 * len(shorter)


@pytest.mark.parametrize("ex", EXERCISES)
def test_more_decimals_than_asked_are_graded_at_the_sheets_precision(ex):
    net, p, data, lr = ex
    full = oracle.rounded_chain(net.layers, net.activations, net.loss, p.W, p.b, data.x, data.y, lr, 7, "exact")
    r = grade(ex, {n: str(v) for n, v in full.items()})
    assert r.score == r.max


def test_verify_accepts_a_published_example_at_the_precision_it_was_published(tmp_path):
    spec = load_spec(ROOT / "worksheets" / "classic-221.toml")
    p, net = spec.fixed_params(), spec.network
    published = oracle.rounded_chain(net.layers, net.activations, net.loss, p.W, p.b, spec.data.x, spec.data.y,
                                     0.5, 8, "exact")  # to 8 decimals, as printed in a tutorial
    r = verify(net, p, spec.data, 0.5, 9, {n: str(v) for n, v in published.items()})
    assert r.score == r.max, [(a.name, a.given, str(a.expected)) for a in r.results if not a.credit]


@pytest.mark.parametrize("tol", [Tolerance.by_sigfigs(3), Tolerance.by_sigfigs(1), Tolerance.by_rtol(1e-9)],
                         ids=["sigfigs3", "sigfigs1", "rtol"])
@pytest.mark.parametrize("ex", EXERCISES)
def test_sigfigs_and_rtol_never_reject_the_exact_key(ex, tol):
    k = key_of(ex)
    r = grade(ex, {n: str(v) for n, v in k.items()}, tolerance=tol)
    assert r.score == r.max


# --- point 6: copying and wrong secrets --------------------------------------------------

@pytest.fixture(scope="module")
def made(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fair")
    roster = tmp / "roster.csv"
    roster.write_text("student_id,name\n" + "".join(f"s{i},Student {i}\n" for i in range(8)), encoding="utf-8")
    assert main(["worksheets", SPEC, "--roster", str(roster), "--out", str(tmp / "class"), "--secret", "demo", "--weak-secret",
                 "--no-pdf"]) == 0
    spec = load_spec(SPEC)
    sheets = {}
    for i in range(8):
        params, data = load_params_json(tmp / "class" / "students" / f"s{i}" / "params.json", spec)
        sheets[f"s{i}"] = worked((spec.network, params, data, 0.5))
    return tmp, roster, sheets


def _answers(tmp, sheets, name="answers.csv"):
    path = tmp / name
    names = list(next(iter(sheets.values())))
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(["student_id", *names])
        for sid, sheet in sheets.items():
            w.writerow([sid, *(sheet[n] for n in names)])
    return path


def _grades(out):
    with open(out / "grades.csv", encoding="utf-8-sig") as f:
        return {r["student_id"]: r for r in csv.DictReader(f)}


def test_a_copied_sheet_is_flagged_by_name_and_its_score_unchanged(made, tmp_path):
    tmp, roster, sheets = made
    honest = _answers(tmp_path, sheets, "honest.csv")
    copied = _answers(tmp_path, {**sheets, "s5": sheets["s2"]}, "copied.csv")
    for answers, out in ((honest, tmp_path / "g1"), (copied, tmp_path / "g2")):
        assert main(["grade", SPEC, "--roster", str(roster), "--answers", str(answers), "--out", str(out),
                     "--class", str(tmp / "class"), "--secret", "demo"]) == 0
    before, after = _grades(tmp_path / "g1"), _grades(tmp_path / "g2")
    assert all(r["flag"] == "" for r in before.values())
    assert "s2" in after["s5"]["flag"] and "copying" in after["s5"]["flag"]
    assert all(after[s]["flag"] == "" for s in after if s != "s5")
    copier_alone = grade_student(*_exercise(tmp, "s5"), 4, sheets["s2"])
    assert float(after["s5"]["score"]) == copier_alone.score  # flagged, not rescored
    summary = (tmp_path / "g2" / "summary.md").read_text(encoding="utf-8")
    assert "## Flags" in summary and "s5" in summary and "s2" in summary


def _exercise(tmp, sid):
    spec = load_spec(SPEC)
    params, data = load_params_json(tmp / "class" / "students" / sid / "params.json", spec)
    return spec.network, params, data, 0.5


def test_a_mistyped_secret_is_refused_in_one_line(made, tmp_path, capsys):
    tmp, roster, sheets = made
    answers = _answers(tmp_path, sheets)
    status = main(["grade", SPEC, "--roster", str(roster), "--answers", str(answers), "--out",
                   str(tmp_path / "g"), "--class", str(tmp / "class"), "--secret", "dem0"])
    err = capsys.readouterr().err
    assert status == 2 and "secret does not match" in err and "manifest.json" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "g").exists()


def test_without_the_class_folder_a_wrong_secret_is_warned(made, tmp_path, capsys):
    tmp, roster, sheets = made
    answers = _answers(tmp_path, sheets)
    assert main(["grade", SPEC, "--roster", str(roster), "--answers", str(answers), "--out",
                 str(tmp_path / "g"), "--secret", "dem0"]) == 0
    assert "another secret" in capsys.readouterr().err
    assert main(["grade", SPEC, "--roster", str(roster), "--answers", str(answers), "--out",
                 str(tmp_path / "g2"), "--secret", "demo"]) == 0
    assert "another secret" not in capsys.readouterr().err
    assert all(float(r["score"]) == 28 for r in _grades(tmp_path / "g2").values())


def test_a_key_with_another_spec_is_refused(made, tmp_path, capsys):
    tmp, roster, sheets = made
    other = tmp_path / "other.toml"
    other.write_text(Path(SPEC).read_text(encoding="utf-8").replace("learning_rate = 0.5", "learning_rate = 0.3"),
                     encoding="utf-8")
    status = main(["grade", str(other), "--roster", str(roster), "--answers", str(_answers(tmp_path, sheets)),
                   "--out", str(tmp_path / "g"), "--key", str(tmp / "class" / "answer-key.csv")])
    err = capsys.readouterr().err
    assert status == 2 and "another spec" in err and len(err.strip().splitlines()) == 1
