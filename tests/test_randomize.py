"""Per-student draws: HMAC seeds, the grid, the quality constraints, no duplicates."""
import hashlib
import hmac
from pathlib import Path

import numpy as np
import pytest

import oracle
from derive.numeric import quantize
from conftest import key_rows
from derive.randomize import KINK_MARGIN, SATURATION, draw_class, draw_student, problems, student_seed
from derive.spec import load_spec, parse_spec

SPEC = load_spec("worksheets/random-221.toml")


def test_seed_is_an_hmac_of_the_id_under_the_stretched_secret():
    """Written out from the definition: scrypt once per class (64 MiB), then HMAC-SHA256 per student."""
    stretched = hashlib.scrypt(b"s3cret", salt=b"derive-class-key-v1", n=2 ** 16, r=8, p=1,
                               maxmem=2 ** 27, dklen=32)
    digest = hmac.new(stretched, b"s1001", hashlib.sha256).digest()
    assert student_seed("s3cret", "s1001") == int.from_bytes(digest[:8], "big")
    assert student_seed("s3cret", "s1001") != student_seed("other", "s1001")


def test_draws_are_on_the_grid_and_never_zero():
    grid = {round(v / 10, 1) for v in range(-10, 11) if v}
    for d in draw_class(SPEC, "k", [f"s{i}" for i in range(60)]).values():
        values = [v for W in d.params.W for row in W for v in row] + [v for b in d.params.b for v in b]
        assert set(values) <= grid


def test_same_inputs_same_draw_different_secret_different_draw():
    a = draw_student(SPEC, student_seed("k", "s1"))
    assert a == draw_student(SPEC, student_seed("k", "s1"))
    assert a.params != draw_student(SPEC, student_seed("k2", "s1")).params


def test_every_draw_meets_the_quality_constraints():
    """Checked with the independent hand MLP, not with the code that drew them."""
    ids = [f"s{i}" for i in range(80)]
    for d in draw_class(SPEC, "k", ids).values():
        h = oracle.mlp(SPEC.network.layers, SPEC.network.activations, "bce", d.params.W, d.params.b,
                       d.data.x, d.data.y)
        for z in h["zs"]:
            assert np.all(np.abs(z) <= SATURATION)  # no saturated sigmoid
        # no asked value that is non-zero but rounds to zero
        grads = [g for gs in (h["dW"], h["db"]) for G in gs for g in np.ravel(G)]
        assert all(g == 0 or quantize(g, 4) != 0 for g in grads)


def test_relu_pre_activations_stay_away_from_the_kink():
    text = open("worksheets/random-221.toml").read().replace(
        'activations = ["sigmoid", "sigmoid"]', 'activations = ["relu", "sigmoid"]')
    spec = parse_spec(text, "relu.toml")
    for d in draw_class(spec, "k", [f"s{i}" for i in range(40)]).values():
        h = oracle.mlp(spec.network.layers, spec.network.activations, "bce", d.params.W, d.params.b,
                       d.data.x, d.data.y)
        assert np.all(np.abs(h["zs"][0]) >= KINK_MARGIN)


def test_problems_names_what_is_wrong():
    spec = load_spec("worksheets/classic-221.toml")
    from derive.spec import Params
    saturated = Params((((5.0, 0.1), (0.8, 0.2)),) + spec.fixed_params().W[1:], spec.fixed_params().b)
    assert any("saturated" in p for p in problems(spec, saturated, spec.data))


def test_no_two_students_share_a_parameter_set():
    draws = draw_class(SPEC, "k", [f"s{i}" for i in range(300)])
    assert len({d.params for d in draws.values()}) == 300


def test_a_fixed_spec_gives_everyone_the_fixed_values():
    spec = load_spec("worksheets/classic-221.toml")
    draws = draw_class(spec, "", ["a", "b"])
    assert draws["a"].params == draws["b"].params == spec.fixed_params()


def test_drawn_inputs_come_from_their_grid():
    text = open("worksheets/random-221.toml").read().replace("x = [1, 0.5]\n", "") + \
        "inputs = { low = 0.0, high = 1.0, step = 0.5 }\n"
    spec = parse_spec(text, "inputs.toml")
    xs = {v for d in draw_class(spec, "k", [f"s{i}" for i in range(30)]).values() for v in d.data.x[0]}
    assert xs <= {0.5, 1.0} and xs


def test_drawn_targets_come_from_their_list_or_are_one_hot():
    text = open("worksheets/random-221.toml").read().replace("y = [1]\n", "") + "targets = [0, 1]\n"
    spec = parse_spec(text, "targets.toml")
    ys = [d.data.y[0][0] for d in draw_class(spec, "k", [f"s{i}" for i in range(40)]).values()]
    assert set(ys) == {0.0, 1.0}
    softmax = parse_spec('[network]\nlayers = [2, 3]\nactivations = ["softmax"]\nloss = "cce"\n'
                         '[data]\nx = [1, 0.5]\n[random]\ntargets = "one-hot"\n', "onehot.toml")
    labels = {d.data.y[0] for d in draw_class(softmax, "k", [f"s{i}" for i in range(30)]).values()}
    assert labels == {(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)}


def test_targets_must_fit_the_loss():
    from derive.errors import SpecError
    base = '[network]\nlayers = [2, 3]\nactivations = ["softmax"]\nloss = "cce"\n[data]\nx = [1, 0.5]\n'
    with pytest.raises(SpecError, match='expected "one-hot" for "cce"'):
        parse_spec(base + "[random]\ntargets = [0, 1]\n", "t.toml")
    with pytest.raises(SpecError, match="missing; expected the target"):
        parse_spec(base, "t.toml")
    bce = open("worksheets/random-221.toml").read().replace("y = [1]\n", "") + "targets = [0, 2]\n"
    with pytest.raises(SpecError, match="between 0 and 1"):
        parse_spec(bce, "t.toml")


# --- a seed alone rebuilds a sheet -------------------------------------------------------

def _rebuilds(tmp_path, spec_path, roster_rows, secret="demo"):
    """Build a class; check every manifest seed redraws exactly that student's params.json."""
    import csv
    import json
    from derive.cli import main
    from derive.spec import load_params_json
    roster = tmp_path / "roster.csv"
    with open(roster, "w", newline="", encoding="utf-8-sig") as f:
        csv.writer(f).writerows([("student_id", "name"), *roster_rows])
    out = tmp_path / "class"
    assert main(["worksheets", str(spec_path), "--roster", str(roster), "--out", str(out), "--secret", secret, "--weak-secret",
                 "--no-pdf"]) == 0
    spec = load_spec(spec_path)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for s in manifest["students"]:
        params, data = load_params_json(out / "students" / s["student_id"] / "params.json", spec)
        d = draw_student(spec, int(s["seed"]))
        assert (d.params, d.data) == (params, data), s["student_id"]
    return manifest


def test_the_manifest_seeds_rebuild_every_students_params_in_a_300_student_class(tmp_path):
    rows = [(f"s{i:03d}", f"Student {i}") for i in range(300)]
    _rebuilds(tmp_path, "worksheets/random-221.toml", rows)


def test_redrawn_duplicates_rebuild_from_their_seed_whatever_the_rosters_order(tmp_path):
    """Only b2 is drawn, from 10 values: many students are redrawn to avoid a duplicate."""
    spec = tmp_path / "tiny-grid.toml"
    spec.write_text(open("worksheets/classic-221.toml").read().replace("b2 = [0.2]\n", "") +
                    "biases = { low = -0.5, high = 0.5, step = 0.1 }\n")
    rows = [(f"s{i}", f"S {i}") for i in range(16)]
    first = _rebuilds(tmp_path / "a", spec, rows) if (tmp_path / "a").mkdir() is None else None
    second = _rebuilds(tmp_path / "b", spec, rows[::-1]) if (tmp_path / "b").mkdir() is None else None
    redrawn = [s for s in first["students"] if int(s["seed"]) != student_seed("demo", s["student_id"])]
    assert redrawn  # the tiny grid forced redraws, and each rebuilt from its seed alone
    assert {s["student_id"]: s["seed"] for s in first["students"]} != {
        s["student_id"]: s["seed"] for s in second["students"]}  # the order changed who was redrawn


def test_solve_with_a_manifest_seed_prints_that_students_key(tmp_path, capsys):
    import json
    from derive.cli import main
    manifest = _rebuilds(tmp_path, "worksheets/random-221.toml", [("a", "A"), ("b", "B")])
    capsys.readouterr()
    for s in manifest["students"]:
        assert main(["solve", "worksheets/random-221.toml", "--json", "--seed", str(s["seed"])]) == 0
        solved = json.loads(capsys.readouterr().out)
        row = next(r for r in key_rows(tmp_path / "class" / "answer-key.csv") if r["student_id"] == s["student_id"])
        assert solved == {n: row[n] for n in solved}


RELU_CLASS = ('[network]\nlayers = [2, 3, 3, 1]\nactivations = ["tanh", "relu", "sigmoid"]\nloss = "bce"\n'
              '[data]\nx = [0.5, -1.0]\ny = [1]\n')


def _dead_units(spec, draw) -> int:
    """ReLU units with z < 0 on every example, by the hand NumPy oracle."""
    net = spec.network
    ref = oracle.mlp(net.layers, net.activations, net.loss, [np.array(w) for w in draw.params.W],
                     [np.array(v) for v in draw.params.b], draw.data.x, draw.data.y)
    return sum(int(np.all(Z < 0, axis=0).sum()) for Z, act in zip(ref["zs"], net.activations) if act == "relu")


def test_no_randomized_relu_class_of_300_has_a_dead_unit():
    """The audit: in a 300-student 2-3-3-1 tanh/ReLU class, 51 students had all three ReLU units dead."""
    spec = parse_spec(RELU_CLASS, "relu.toml")
    draws = draw_class(spec, "s", [f"s{i}" for i in range(300)])
    assert sum(_dead_units(spec, d) for d in draws.values()) == 0
    allowed = parse_spec(RELU_CLASS + "[random]\nallow_dead = true\n", "relu.toml")
    assert sum(_dead_units(allowed, d) > 0 for d in draw_class(allowed, "s", [f"s{i}" for i in range(300)]).values()) > 30


def _class_made(spec: str, out: Path) -> int:
    """Make a class's sheets (no PDFs) into ``out``; the draw rules its manifest records."""
    import json
    from derive.cli import main
    assert main(["worksheets", spec, "--roster", "worksheets/roster-example.csv", "--out", str(out),
                 "--secret", "s", "--weak-secret", "--no-pdf"]) == 0
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))["draw_rules"]


def _graded_as_if_drawn_under(rules: int, spec: str, out: Path, tmp_path: Path, capsys) -> str:
    """Mark the class ``out`` as drawn under ``rules``, grade it from its seeds: exit 2 and its one line."""
    import json
    from derive.cli import main
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest["draw_rules"] = rules
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    answers = tmp_path / "a.csv"
    answers.write_text("student_id,z1_1\ns1001,0.1\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["grade", spec, "--roster", "worksheets/roster-example.csv", "--answers", str(answers),
                 "--out", str(tmp_path / "g"), "--class", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    return err


def test_a_class_drawn_under_other_draw_rules_is_not_rebuilt_from_its_seeds(tmp_path, capsys):
    out = tmp_path / "class"
    _class_made("worksheets/random-221.toml", out)
    err = _graded_as_if_drawn_under(1, "worksheets/random-221.toml", out, tmp_path, capsys)
    assert "draw rules 1" in err and "--key" in err


# --- the gradient check's and training table's mistakes (draw rules 3) ---------------------------

LAB = "worksheets/random-221-lab.toml"


def test_a_lab_draw_where_a_one_sided_difference_gives_the_key_is_redrawn():
    """A draw the rules before 3 accepted: its b⁽²⁾ estimate (L(θ+ε) − L(θ))/ε, with L(θ) the loss box,
    rounds to the central difference's value, so that mistake could not be told apart on this sheet.
    Every number by the oracle's exact route; ε and the places of L(θ ± ε) as the sheet states them."""
    from decimal import ROUND_HALF_UP, Decimal
    from derive.lab import prepare
    from derive.spec import Params
    spec = load_spec(LAB)
    params = Params((((-0.9, -0.7), (0.9, 0.3)), ((0.9, -0.8),)), ((0.3, -0.7), (0.8,)))
    net, data = spec.network, spec.data
    pr = prepare(net, params, data, spec.exercise)
    eps, places = Decimal(pr.eps.numerator) / Decimal(pr.eps.denominator), pr.places["loss_plus_b2_1"]
    q = lambda v: v.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    loss = lambda b2, d, r: oracle.rounded_chain(net.layers, net.activations, net.loss, params.W,
                                                 [params.b[0], [b2]], data.x, data.y, 0.5, d, rounding=r)["loss"]
    b2 = Decimal("0.8")
    plus, minus, box = loss(b2 + eps, places, "exact"), loss(b2 - eps, places, "exact"), loss(b2, 4, "carry")
    central, one_sided = q((plus - minus) / (2 * eps)), q((plus - box) / eps)
    assert central == one_sided and (plus - box) / eps != (plus - minus) / (2 * eps)
    assert problems(spec, params, data) == ["fd_b2_1: mistake one_sided_difference gives the same rounded value"]


def test_only_sheets_with_a_lab_section_are_drawn_under_the_new_rules(tmp_path, capsys):
    """Rules 3 redraw only sheets with a gradient check or training steps: a class of other sheets made
    under rules 2 still rebuilds from its seeds, a lab class made under 2 does not."""
    made = {spec: _class_made(spec, tmp_path / Path(spec).stem) for spec in ("worksheets/random-221.toml", LAB)}
    assert made == {"worksheets/random-221.toml": 2, LAB: 3}
    err = _graded_as_if_drawn_under(2, LAB, tmp_path / Path(LAB).stem, tmp_path, capsys)
    assert "draw rules 2" in err and "rules 3" in err and "--key" in err
