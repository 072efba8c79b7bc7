"""Every spec mistake gives one line naming file, line, key and what was expected; exit 2."""
from pathlib import Path

import pytest

from derive.cli import main
from derive.errors import DeriveError, SpecError
from derive.spec import load_spec, parse_spec

SPECS = Path(__file__).parent / "fixtures" / "specs"

# fixture → (line the message must name, fragments it must contain)
BAD = {
    "bad-unknown-key.toml": (7, ["[network].activation", "unknown key", 'did you mean "activations"']),
    "bad-unknown-activation.toml": (5, ["[network].activations[1]", "expected one of sigmoid, tanh",
                                        'got "sigmod"', 'did you mean "sigmoid"']),
    "bad-unknown-loss.toml": (6, ["[network].loss", "expected one of bce, mse, half_mse, mae, cce"]),
    "bad-matrix-shape.toml": (13, ["[params].W1", "2 rows of 2 numbers", "2×2"]),
    "bad-softmax-hidden.toml": (5, ["[network].activations[0]", "softmax is allowed only on the output layer"]),
    "bad-cce-without-softmax.toml": (6, ["[network].loss", '"cce" needs a softmax output layer', '"sigmoid"']),
    "bad-label-out-of-range.toml": (10, ["[data].y", "between 0 and 1", "[2.0]"]),
    "bad-input-width.toml": (9, ["[data].x", "2 input value(s)"]),
    "bad-unknown-table.toml": (12, ["parms", "unknown key", 'did you mean "params"']),
    "bad-toml-syntax.toml": (6, ["not valid TOML"]),
    "bad-params-beyond-depth.toml": (17, ["[params].W3", "unknown key", "W1, W2, b1, b2"]),
    "bad-unknown-section.toml": (19, ["[exercise].sections[1]", "expected one of forward, loss, vanishing, backward, update",
                                      'did you mean "backward"']),
    "bad-grid-key.toml": (19, ["[random].weights.stepsize", 'did you mean "weights.step"']),
    "bad-cce-label-not-one-hot.toml": (8, ["[data].y", "one-hot"]),
    "bad-show-mode.toml": (19, ["[exercise].show", "expected one of all, recipe, none", '"formulas"']),
    "bad-working-length.toml": (19, ["[exercise].working", "expected a length from 0 to 100 mm", "'lots'"]),
    "bad-working-too-much.toml": (19, ["[exercise].working", "expected a length from 0 to 100 mm", "250"]),
    "bad-vanishing-not-a-chain.toml": (19, ["[exercise].sections", '"vanishing" needs a chain',
                                            "layers = [2, 2, 1]"]),
    "bad-vanishing-batch.toml": (13, ["[exercise].sections", '"vanishing" follows one example', "got 2"]),
}


@pytest.mark.parametrize("fixture", sorted(BAD))
def test_bad_spec_is_one_located_line_with_exit_status_2(fixture, capsys):
    line, fragments = BAD[fixture]
    path = SPECS / fixture
    status = main(["solve", str(path)])
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"derive: {path}:{line}: "), err
    for f in fragments:
        assert f in err, (f, err)
    assert "Traceback" not in err


def test_the_error_is_a_typed_value():
    with pytest.raises(SpecError) as e:
        load_spec(SPECS / "bad-matrix-shape.toml")
    assert e.value.line == 13 and e.value.key == "[params].W1"


def test_missing_file(capsys):
    assert main(["formulas", "no/such/spec.toml"]) == 2
    assert "no/such/spec.toml: no such file" in capsys.readouterr().err


def test_good_spec_values_are_frozen():
    spec = load_spec(SPECS / "good-classic.toml")
    assert spec.network.layers == (2, 2, 1)
    assert spec.fixed_params().W[0] == ((0.5, -0.3), (0.8, 0.2))
    with pytest.raises(AttributeError):
        spec.network.loss = "mse"


@pytest.mark.parametrize("path", sorted(Path("worksheets").glob("*.toml")))
def test_every_shipped_spec_is_valid(path):
    load_spec(path)


def test_a_spec_saved_with_a_bom_is_read(tmp_path):
    f = tmp_path / "bom.toml"
    f.write_bytes(b"\xef\xbb\xbf" + Path("worksheets/classic-221.toml").read_bytes())
    assert load_spec(f).network.layers == (2, 2, 1)


def test_a_spec_not_in_utf8_is_one_located_line(tmp_path, capsys):
    f = tmp_path / "latin1.toml"
    text = Path("worksheets/classic-221.toml").read_text(encoding="utf-8")
    f.write_bytes(("# Übung\n" + text).encode("latin-1"))
    assert main(["solve", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"derive: {f}:1: not UTF-8") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("change,fragment", [
    (("[network]", "layers = [2, 2, 1]", "layers = [2, 9223372036854775807, 1]"), "a worksheet's size"),
    (("[network]", "layers = [2, 2, 1]", "layers = [1000, 1000, 1]"), "a worksheet's size"),
    (("[network]", 'loss = "bce"', "loss = []"), "expected one of"),
    (("[network]", 'activations = ["sigmoid", "sigmoid"]', 'activations = [{}, "sigmoid"]'), "expected one of"),
    (("[params]", "b2 = [0.2]", "b2 = [1e300]"), "at most 1e+06 in size"),
    (("title", 'title = "', 'title = "' + "x" * 300000), "at most 200 characters"),
    (("[data]", "x = [1, 0]", "x = " + "[" * 5000 + "]" * 5000), "nested too deeply"),  # was a RecursionError
    # a key quoting U+2028 or an escape sequence: the error line it is quoted in broke in two, or ran the escape
    (("title", 'title = "', '"a\\u2028b\\r\\u001b[2J" = 1\ntitle = "'), "a b  [2J: unknown key"),
    (("[data]", "x = [1, 0]", "x = [1, 0]\nz = " + "{a = " * 3000 + "1" + "}" * 3000), "nested too deeply"),
    (("[network]", '[network]\nlayers = [2, 2, 1]\nactivations = ["sigmoid", "sigmoid"]\nloss = "bce"\nbias = true\n',
      'network = "2-2-1"\n'), "network: expected a table [network]; got '2-2-1'"),  # was "missing table"
])
def test_the_audits_tracebacks_are_one_located_line(change, fragment, capsys, tmp_path):
    _, old, new = change
    text = Path("worksheets/classic-221.toml").read_text(encoding="utf-8")
    assert old in text
    f = tmp_path / "s.toml"
    f.write_text(text.replace(old, new, 1), encoding="utf-8")
    assert main(["solve", str(f)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1 and len(err) < 400, err


@pytest.mark.parametrize("grid", ["{ low = -1.0, high = 1.0, step = 1e-308 }", "{ low = -1.0, high = 1e308, step = 0.1 }",
                                  "{ low = -1.0, high = 1.0, step = 1e-9 }"])
def test_a_grid_too_fine_or_too_wide_is_refused_at_once(grid, capsys, tmp_path):
    text = Path("worksheets/random-221.toml").read_text(encoding="utf-8")
    f = tmp_path / "s.toml"
    f.write_text(text.replace("{ low = -1.0, high = 1.0, step = 0.1 }", grid), encoding="utf-8")
    assert main(["solve", str(f), "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert ("grid points" in err or "in size" in err) and len(err.strip().splitlines()) == 1


def test_a_size_beyond_a_worksheet_names_force_large_which_lifts_the_guard(tmp_path, capsys):
    from derive.cli import main
    from derive.spec import LARGE, WORKSHEET, load_roster
    wide = tmp_path / "wide.toml"
    wide.write_text('[network]\nlayers = [40, 2, 1]\nactivations = ["sigmoid", "sigmoid"]\nloss = "bce"\n'
                    f'[data]\nx = [{", ".join(["0.1"] * 40)}]\ny = [1]\n', encoding="utf-8")
    assert main(["formulas", str(wide)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{wide}:2" in err and "at most 32 units" in err and "--force-large" in err
    assert main(["formulas", str(wide), "--force-large"]) == 0
    assert "40-2-1 network" in capsys.readouterr().out
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\n" + "".join(f"s{i},S {i}\n" for i in range(WORKSHEET.students + 1)))
    with pytest.raises(DeriveError, match="at most 5000 students .--force-large allows more"):
        load_roster(roster)
    assert len(load_roster(roster, LARGE).students) == WORKSHEET.students + 1


@pytest.mark.parametrize("written, mm", [(15, 15.0), (7.5, 7.5), ('"15mm"', 15.0), ('"1.5cm"', 15.0),
                                         ('"0 mm"', 0.0)])
def test_working_room_is_a_length_in_mm(written, mm):
    base = (SPECS / "good-classic.toml").read_text()
    assert "[exercise]" not in base
    spec = parse_spec(base + f'\n[exercise]\nworking = {written}\nshow = "recipe"\n', "w.toml")
    assert (spec.exercise.working, spec.exercise.show) == (mm, "recipe")


def test_scaffolding_defaults_keep_todays_sheet():
    ex = load_spec(SPECS / "good-classic.toml").exercise
    assert (ex.show, ex.working, ex.sections) == ("all", 0.0, ("forward", "loss", "backward", "update"))


def test_a_params_json_nested_too_deeply_is_one_line(tmp_path, capsys):
    f = tmp_path / "params.json"
    f.write_text("[" * 100000 + "]" * 100000, encoding="utf-8")  # json's decoder recursed past the limit
    assert main(["solve", "worksheets/random-221.toml", "--params", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"derive: {f}: ") and "nested too deeply" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [["solve", "worksheets/random-221.toml", "--seed", "-5"],
                                     ["train", "worksheets/random-221.toml", "--epochs", "1", "--seed", "-1"]])
def test_a_negative_seed_is_one_line(command, capsys):
    assert main(command) == 2  # NumPy's SeedSequence raised ValueError: expected non-negative integer
    err = capsys.readouterr().err
    assert "--seed" in err and "got -" in err and len(err.strip().splitlines()) == 1, err
