"""Grading a class end to end through the command line, and verifying a published example."""
import csv
import hashlib
import json
import math
from pathlib import Path

import pytest

from conftest import key_rows
from derive.cli import main

SPEC = "worksheets/random-221.toml"
MISTAKES = ["no_bias", "half_or_mean_factor", "log10", "no_activation_derivative", "delta_sign",
            "derivative_at_a", "transposed_gradient", "update_sign"]
IDS = ["ok", "slip"] + MISTAKES


def sig(z):
    return 1 / (1 + math.exp(-z))


def r4(v):
    return f"{v:.4f}"


def hand_chain(p, x, y, eta, z11=None):
    """The 2-2-1 sigmoid/BCE exercise worked by hand at full precision (z1_1 may be a slip)."""
    (W1, W2), (b1, b2) = (p["W1"], p["W2"]), (p["b1"], p["b2"])
    k = {}
    for j in range(2):
        k[f"z1_{j + 1}"] = W1[j][0] * x[0] + W1[j][1] * x[1] + b1[j]
    if z11 is not None:
        k["z1_1"] = z11
    for j in range(2):
        k[f"a1_{j + 1}"] = sig(k[f"z1_{j + 1}"])
    k["z2_1"] = W2[0][0] * k["a1_1"] + W2[0][1] * k["a1_2"] + b2[0]
    k["a2_1"] = yh = sig(k["z2_1"])
    k["loss"] = -(y * math.log(yh) + (1 - y) * math.log(1 - yh))
    k["delta2_1"] = d2 = yh - y
    for j in range(2):
        a = k[f"a1_{j + 1}"]
        k[f"dW2_1_{j + 1}"] = d2 * a
        k[f"delta1_{j + 1}"] = W2[0][j] * d2 * a * (1 - a)
        for i in range(2):
            k[f"dW1_{j + 1}_{i + 1}"] = k[f"delta1_{j + 1}"] * x[i]
        k[f"db1_{j + 1}"] = k[f"delta1_{j + 1}"]
        k[f"new_b1_{j + 1}"] = b1[j] - eta * k[f"db1_{j + 1}"]
        k[f"new_W2_1_{j + 1}"] = W2[0][j] - eta * k[f"dW2_1_{j + 1}"]
        for i in range(2):
            k[f"new_W1_{j + 1}_{i + 1}"] = W1[j][i] - eta * k[f"dW1_{j + 1}_{i + 1}"]
    k["db2_1"] = d2
    k["new_b2_1"] = b2[0] - eta * d2
    return k


def plant(mistake, k, p, x):
    """(answer, value) of a named mistake, by its wrong formula."""
    W1, W2 = p["W1"], p["W2"]
    return {
        "no_bias": ("z1_1", W1[0][0] * x[0] + W1[0][1] * x[1]),
        "half_or_mean_factor": ("loss", 2 * k["loss"]),
        "log10": ("loss", -math.log10(k["a2_1"])),
        "no_activation_derivative": ("delta1_1", W2[0][0] * k["delta2_1"]),
        "delta_sign": ("delta2_1", -k["delta2_1"]),
        "derivative_at_a": ("delta1_1", W2[0][0] * k["delta2_1"] * sig(k["a1_1"]) * (1 - sig(k["a1_1"]))),
        "transposed_gradient": ("dW1_1_2", k["delta1_2"] * x[0]),
        "update_sign": ("new_W2_1_1", W2[0][0] + 0.5 * k["dW2_1_1"]),
    }[mistake]


def digest(paths):
    return {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grade")
    roster = tmp / "roster.csv"
    roster.write_text("student_id,name\n" + "".join(f"{i},Student {i}\n" for i in IDS), encoding="utf-8")
    assert main(["worksheets", SPEC, "--roster", str(roster), "--out", str(tmp / "class"),
                 "--secret", "k", "--weak-secret", "--no-pdf"]) == 0
    keys, planted = {}, {}
    rows = []
    for sid in IDS:
        doc = json.loads((tmp / "class" / "students" / sid / "params.json").read_text())
        p, x, y = doc["params"], doc["data"]["x"], doc["data"]["y"][0]
        k = hand_chain(p, x, y, 0.5)
        keys[sid] = k
        given = dict(k)
        if sid == "slip":  # a slip in z1_1, everything after worked correctly from it
            given = hand_chain(p, x, y, 0.5, z11=k["z1_1"] + 0.1)
        elif sid in MISTAKES:
            name, value = plant(sid, k, p, x)
            given[name] = value
            planted[sid] = name
        rows.append({"student_id": sid, **{n: r4(v) for n, v in given.items()}})
    rows.append({"student_id": "stranger", "z1_1": "0.1"})
    answers = tmp / "answers.csv"
    with open(answers, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    inputs = [SPEC, str(roster), str(answers), str(tmp / "class" / "answer-key.csv")]
    before = digest(inputs)
    status = main(["grade", SPEC, "--roster", str(roster), "--answers", str(answers), "--out",
                   str(tmp / "grades"), "--secret", "k"])
    assert status == 0
    assert digest(inputs) == before  # a grade run never modifies its inputs
    with open(tmp / "grades" / "grades.csv", encoding="utf-8-sig") as f:
        grades = {r["student_id"]: r for r in csv.DictReader(f)}
    return tmp, grades, keys, planted


def test_hand_chain_stays_near_the_rounded_key(graded):
    """The key is the rounded chain; the unrounded hand chain is within a few units of it."""
    tmp, _, keys, _ = graded
    for row in key_rows(tmp / "class" / "answer-key.csv"):
        for n, v in keys[row["student_id"]].items():
            assert float(row[n]) == pytest.approx(v, abs=5e-4), (row["student_id"], n)


def test_all_correct_gets_full_marks(graded):
    _, grades, _, _ = graded
    ok = grades["ok"]
    assert float(ok["score"]) == float(ok["max"]) == 28
    assert {v for c, v in ok.items() if c not in ("student_id", "name", "score", "max", "flag")} == {"correct"}
    assert ok["flag"] == ""


@pytest.mark.parametrize("mistake", MISTAKES)
def test_each_planted_mistake_is_wrong_and_named(graded, mistake):
    tmp, grades, _, planted = graded
    name = planted[mistake]
    assert grades[mistake][name] == "wrong"
    feedback = (tmp / "grades" / "feedback" / f"{mistake}.md").read_text(encoding="utf-8")
    line = next(l for l in feedback.splitlines() if f"`{name}`" in l)
    assert "wrong" in line and "Expected" in line
    from derive.mistakes import MISTAKES as EXPLAINED
    assert EXPLAINED[mistake].sentence.split(":")[0][:25] in line, (mistake, line)
    assert float(grades[mistake]["score"]) == 27  # one mark lost; everything after it still earns


def test_a_slip_costs_one_mark_and_is_carried_downstream(graded):
    _, grades, _, _ = graded
    s = grades["slip"]
    assert s["z1_1"] == "wrong"
    for n in ("a1_1", "z2_1", "a2_1", "loss", "delta2_1", "delta1_1", "dW1_1_1", "new_W1_1_1", "new_b2_1"):
        assert s[n] == "carried", n
    assert float(s["score"]) == 27


def test_summary_and_feedback_state_the_rule(graded):
    tmp, *_ = graded
    summary = (tmp / "grades" / "summary.md").read_text(encoding="utf-8")
    rows = {l.split("|")[1].strip(" `"): l for l in summary.splitlines() if l.startswith("| `")}
    assert "delta_sign (1)" in rows["delta2_1"] and "no_bias (1)" in rows["z1_1"]
    assert "| 90% | 10% | 0% |" in rows["a1_1"]  # the slip's a1_1 is carried
    warnings = summary.split("## Warnings about the answers file")[1]
    assert "stranger" in warnings and "not on the roster" in warnings
    assert "±0.0001" in (tmp / "grades" / "feedback" / "ok.md").read_text(encoding="utf-8")


def test_unknown_ids_are_warned_not_dropped(graded, capsys, tmp_path):
    tmp, *_ = graded
    assert main(["grade", SPEC, "--roster", str(tmp / "roster.csv"), "--answers", str(tmp / "answers.csv"),
                 "--out", str(tmp_path / "g"), "--key", str(tmp / "class" / "answer-key.csv"), "--json"]) == 0
    out = capsys.readouterr()
    assert "stranger" in out.err and "warning" in out.err
    results = json.loads(out.out)
    assert results["delta_sign"]["answers"]["delta2_1"]["mistake"] == "delta_sign"
    assert results["ok"]["score"] == 28


def test_an_answers_file_of_a_million_rows_is_refused_in_one_line_at_once(graded, capsys, tmp_path):
    """10⁶ rows of ids not on the roster took minutes and printed a warning each (2 × 10⁶ lines)."""
    tmp, *_ = graded
    answers = tmp_path / "answers.csv"
    answers.write_text("student_id,z1_1\n" + "".join(f"x{i},0.1\n" for i in range(10**6)), encoding="utf-8")
    assert main(["grade", SPEC, "--roster", str(tmp / "roster.csv"), "--answers", str(answers),
                 "--out", str(tmp_path / "g"), "--key", str(tmp / "class" / "answer-key.csv")]) == 2
    err = capsys.readouterr().err
    # the bound: 5000 students (the roster's guard) × 28 answers a sheet = 140 000 rows; the header is line 1,
    # so the first row past it is on line 140 002
    assert err.startswith(f"derive: {answers}:140002: expected at most 140000 rows of answers"), err
    assert "--force-large" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "g").exists()


# --- derive verify on a published example ---------------------------------------------------------

def test_verify_a_published_example_whose_first_pre_activation_was_misadded(tmp_path, capsys):
    spec = "tests/fixtures/specs/published-example.toml"
    p = {"W1": [[0.4, 0.6], [0.3, -0.2]], "b1": [0.1, 0.2], "W2": [[0.9, -0.4]], "b2": [0.05]}
    correct = hand_chain(p, [0.5, 0.8], 1, 0.1)
    assert correct["z1_1"] == pytest.approx(0.78)
    published = hand_chain(p, [0.5, 0.8], 1, 0.1, z11=0.68)  # 0.4·0.5 + 0.6·0.8 + 0.1 "= 0.68"
    f = tmp_path / "published.csv"
    f.write_text("name,value\n" + "".join(f"{n},{r4(v)}\n" for n, v in published.items()))
    assert main(["verify", spec, "--answers", str(f), "--json"]) == 1
    answers = json.loads(capsys.readouterr().out)["answers"]
    assert answers["z1_1"]["status"] == "wrong" and answers["z1_1"]["expected"] == "0.7800"
    changed = [n for n in published if abs(published[n] - correct[n]) >= 2e-4 and n != "z1_1"]
    assert {"a1_1", "z2_1", "a2_1", "loss", "delta2_1", "delta1_1"} <= set(changed)
    assert {n: answers[n]["status"] for n in changed} == {n: "carried" for n in changed}
    f.write_text("name,value\n" + "".join(f"{n},{r4(v)}\n" for n, v in correct.items()))
    assert main(["verify", spec, "--answers", str(f)]) == 0
    assert "0.7800" in capsys.readouterr().out


def test_grading_by_secret_warns_when_roster_order_matters(tmp_path, capsys):
    spec = tmp_path / "tiny-grid.toml"
    spec.write_text(open("worksheets/classic-221.toml").read().replace("b2 = [0.2]\n", "") +
                    "biases = { low = -0.5, high = 0.5, step = 0.1 }\n")
    roster = tmp_path / "r.csv"
    roster.write_text("student_id,name\n" + "".join(f"s{i},S {i}\n" for i in range(15)))
    answers = tmp_path / "a.csv"
    answers.write_text("student_id,z1_1\ns0,0.6\n")
    assert main(["grade", str(spec), "--roster", str(roster), "--answers", str(answers),
                 "--out", str(tmp_path / "g"), "--secret", "k"]) == 0
    assert "redrawn to avoid duplicates" in capsys.readouterr().err
    assert "--key" in (tmp_path / "g" / "summary.md").read_text(encoding="utf-8")


def test_grade_refuses_an_existing_folder_and_replaces_it_whole_with_force(graded, tmp_path, capsys):
    tmp, *_ = graded
    args = ["grade", SPEC, "--roster", str(tmp / "roster.csv"), "--answers", str(tmp / "answers.csv"),
            "--out", str(tmp_path / "g"), "--class", str(tmp / "class"), "--secret", "k"]
    assert main(args) == 0
    stale = tmp_path / "g" / "feedback" / "someone-regraded-away.md"
    stale.write_text("old", encoding="utf-8")
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "--force" in err and stale.exists()
    assert main([*args, "--force"]) == 0
    assert not stale.exists() and (tmp_path / "g" / "grades.csv").read_bytes().startswith("\ufeff".encode())


def box_labels(solved_pdf, names) -> list[str]:
    """The answer names a solved sheet prints, top to bottom: each answer's box label ends its line."""
    from conftest import pdf_text
    lines = pdf_text(solved_pdf).replace("\u2212", "-").splitlines()
    return [line.split()[-1] for line in lines if line.split() and line.split()[-1] in names]


@pytest.mark.parametrize("spec", ["graph-sigmoid", "classic-221-gradcheck", "random-221"])
def test_grades_list_the_answers_in_the_order_the_sheet_asks_them(spec, tmp_path, capsys):
    """grades.csv and summary.md follow the solved sheet's own order (read back with pdftotext):
    a trace's v1 … grad_b and the gradient check's loss_plus … relerr, not the alphabet."""
    from conftest import require
    require("pdflatex")
    require("pdftotext")
    path = f"worksheets/{spec}.toml"
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\na1,Ada\n", encoding="utf-8")
    assert main(["worksheets", path, "--roster", str(roster), "--out", str(tmp_path / "class"),
                 "--secret", "k", "--weak-secret"]) == 0, capsys.readouterr().err
    key = key_rows(tmp_path / "class" / "answer-key.csv")
    with open(tmp_path / "class" / "answers-template.csv", encoding="utf-8-sig", newline="") as f:
        names = [c for c in next(csv.reader(f)) if c not in ("student_id", "name", "sheet_code")]
    sheet = box_labels(tmp_path / "class" / "students" / "a1" / "solved.pdf", set(names))
    assert sorted(sheet) == sorted(names)  # every asked answer's box, each once: only the order is in question
    answers = tmp_path / "answers.csv"
    with open(answers, "w", newline="", encoding="utf-8") as f:  # columns reversed: not the order graded
        csv.writer(f).writerows([["student_id", *reversed(names)], ["a1", *(key[0][n] for n in reversed(names))]])
    assert main(["grade", path, "--roster", str(roster), "--answers", str(answers), "--out",
                 str(tmp_path / "grades"), "--class", str(tmp_path / "class"), "--secret", "k"]) == 0
    with open(tmp_path / "grades" / "grades.csv", encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader(f))
    assert header == ["student_id", "name", "score", "max", "flag", *sheet]
    summary = (tmp_path / "grades" / "summary.md").read_text(encoding="utf-8")
    assert [line.split("`")[1] for line in summary.splitlines() if line.startswith("| `")] == sheet
