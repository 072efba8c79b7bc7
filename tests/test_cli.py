"""The command line: formulas, solve, check; exit statuses."""
import json
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

import oracle
from derive.cli import main
from derive.spec import load_spec


def _json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_formulas_json_gives_yhat_minus_y_for_bce_sigmoid(capsys):
    out = _json(capsys, "formulas", "worksheets/classic-221.toml", "--json")
    yhat, y = sp.symbols("yhat y")
    assert sp.simplify(sp.sympify(out["output_delta"]) - (yhat - y)) == 0
    assert out["output_delta_proved"] is True


def test_formulas_json_for_half_mse_sigmoid(capsys):
    out = _json(capsys, "formulas", "worksheets/single-211-halfmse.toml", "--json")
    yhat, y = sp.symbols("yhat y")
    assert sp.simplify(sp.sympify(out["output_delta"]) - (yhat - y) * yhat * (1 - yhat)) == 0


def test_formulas_text_and_latex(capsys):
    assert main(["formulas", "worksheets/classic-221.toml"]) == 0
    text = capsys.readouterr().out
    assert "delta2_1 = -y + yhat" in text and "proved by SymPy" in text
    assert main(["formulas", "worksheets/classic-221.toml", "--latex"]) == 0
    tex = capsys.readouterr().out
    assert (r"\delta^{(2)} = \frac{\hat{y} - y}{\hat{y} \left(1 - \hat{y}\right)} \cdot "
            r"\hat{y} \left(1 - \hat{y}\right) = \hat{y} - y \]") in tex


def test_solve_json_is_the_rounded_chain(capsys):
    out = _json(capsys, "solve", "worksheets/classic-221.toml", "--json")
    spec = load_spec("worksheets/classic-221.toml")
    p, net = spec.fixed_params(), spec.network
    chain = oracle.rounded_chain(net.layers, net.activations, net.loss, p.W, p.b, spec.data.x, spec.data.y,
                                 0.5, 4)
    assert out == {n: str(v) for n, v in chain.items()}
    assert out["z1_1"] == "0.6000"


def test_solve_exact_json_equals_the_hand_numpy_mlp(capsys):
    out = _json(capsys, "solve", "worksheets/classic-221.toml", "--json", "--exact")
    spec = load_spec("worksheets/classic-221.toml")
    p = spec.fixed_params()
    h = oracle.mlp(spec.network.layers, spec.network.activations, "bce", p.W, p.b,
                   spec.data.x, spec.data.y)
    assert np.isclose(out["z1_1"], 0.6) and np.isclose(out["z1_1"], h["zs"][0][0, 0])
    assert np.isclose(out["a2_1"], h["as"][2][0, 0])
    assert np.isclose(out["delta1_2"], h["deltas"][0][0, 1])
    assert np.isclose(out["dW1_2_1"], h["dW"][0][1, 0])
    assert np.isclose(out["new_W2_1_2"], -0.5 - 0.5 * h["dW"][1][0, 1])


def test_solve_needs_a_seed_when_params_are_missing(capsys):
    assert main(["solve", "worksheets/nobias-221.toml"]) == 2
    assert "pass --seed N" in capsys.readouterr().err
    a = _json(capsys, "solve", "worksheets/nobias-221.toml", "--json", "--seed", "7")
    b = _json(capsys, "solve", "worksheets/nobias-221.toml", "--json", "--seed", "7")
    assert a == b and "new_W2_1_1" in a and "db1_1" not in a


def test_solve_reads_a_params_file(capsys, tmp_path):
    f = tmp_path / "params.json"
    f.write_text(json.dumps({"params": {"W1": [[0.1, 0.2], [0.3, 0.4]], "W2": [[0.5, 0.6]]},
                             "data": {"x": [1, 2], "y": [1]}}))
    out = _json(capsys, "solve", "worksheets/nobias-221.toml", "--json", "--params", str(f))
    assert out["z1_2"] == "1.1000"  # 0.3·1 + 0.4·2
    f.write_text(json.dumps({"params": {"W1": [[0.1, 0.2]], "W2": [[0.5, 0.6]]}}))
    assert main(["solve", "worksheets/nobias-221.toml", "--params", str(f)]) == 2
    err = capsys.readouterr().err
    assert "params.json" in err and "W1" in err and "2 rows of 2" in err


def test_check_passes_and_fails_by_tolerance(capsys):
    assert main(["check", "worksheets/classic-221.toml"]) == 0
    out = capsys.readouterr().out
    assert "proved for all 9" in out
    assert main(["check", "worksheets/classic-221.toml", "--tol", "1e-30"]) == 1
    assert "FAILED: dW" in capsys.readouterr().out


@pytest.mark.parametrize("argv,fragment", [
    (["check", "worksheets/classic-221.toml", "--tol", "nan"], "--tol"),  # no error is ≥ nan: it passed
    (["train", "worksheets/classic-221.toml", "--epochs", "2", "--lr", "nan"], "finite --lr"),  # loss nan
    (["train", "worksheets/classic-221.toml", "--epochs", "2", "--lr", "inf"], "finite --lr"),
    (["verify", "worksheets/classic-221.toml", "--answers", "tests/fixtures/answers/google-forms.csv",
      "--rtol", "nan"], "finite, non-negative"),
    (["check-code", "worksheets/classic-221.toml", "--spec", "worksheets/classic-221.toml", "--time-limit",
      "inf"], "--time-limit from 0 to 3600"),  # setrlimit overflowed in the child: a SubprocessError
    (["check-code", "worksheets/classic-221.toml", "--spec", "worksheets/classic-221.toml", "--memory-limit",
      "99999999999999"], "--memory-limit from 64"),
])
def test_a_nan_or_infinite_option_is_one_line(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1, err


def test_python_dash_m_and_help_work():
    r = subprocess.run([sys.executable, "-m", "derive", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "formulas" in r.stdout and "train" in r.stdout


def test_progress_shows_on_a_terminal_and_stays_quiet_otherwise():
    import io
    from derive.cli_class import TerminalProgress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, pipe = Tty(), io.StringIO()
    for stream in (tty, pipe):
        p = TerminalProgress(stream)
        for done in range(1, 4):
            p("render", done, 3)
    assert "\rrender      3/3" in tty.getvalue() and tty.getvalue().endswith("\n")
    assert pipe.getvalue() == ""
