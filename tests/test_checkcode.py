"""derive check-code: students' own backprop code, run contained and named by its mistake.

Every student file (tests/students.py: a fixture, or correct.py with one mistake's edit) is a student's file; the correct one is also an
independent route, checked here against the hand NumPy MLP and PyTorch in tests/oracle.py.
"""
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import oracle
from derive.checkcode import check_code, draw_networks
from derive.cli import main
from derive.contract import CONTRACT
from derive.mistakes import MISTAKES
from derive.numeric import evaluate, evaluate_rewritten
from derive.sandbox import Limits
from derive.spec import load_spec, parse_spec
from derive.symbolic import build_graph
from derive.testing import check_backprop
from students import student

ROOT = Path(__file__).resolve().parent.parent
STUDENTS = ROOT / "tests" / "fixtures" / "students"
CLASSIC = ROOT / "worksheets" / "classic-221.toml"
TUTORIAL = ROOT / "worksheets" / "tutorial-231-relu.toml"
FAST = Limits(call_seconds=1.0, total_seconds=30.0)  # a loop that never returns costs one second


def _spec_text(layers, acts, loss, y):
    x = [0.5, -1.0, 1.0][: layers[0]]
    return (f'[network]\nlayers = {layers}\nactivations = {acts}\nloss = "{loss}"\n'
            f'[data]\nx = {x}\ny = {y}\n').replace("'", '"')


def _correct_for(tmp_path, acts, loss) -> Path:
    """correct.py with its two configuration lines set for this architecture."""
    text = (STUDENTS / "correct.py").read_text()
    text = text.replace('ACTIVATIONS = ("sigmoid", "sigmoid")', f"ACTIVATIONS = {tuple(acts)!r}")
    text = text.replace('LOSS = "bce"', f"LOSS = {loss!r}")
    path = tmp_path / "correct.py"
    path.write_text(text)
    return path


def _import(path: Path):
    spec = importlib.util.spec_from_file_location("student_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VARIANTS = {  # name → layers, activations, loss, y
    "sigmoid-bce": ([2, 2, 1], ["sigmoid", "sigmoid"], "bce", [1]),
    "tanh-softmax-cce": ([2, 3, 3], ["tanh", "softmax"], "cce", [0, 1, 0]),
    "relu-linear-mse": ([2, 2, 1], ["relu", "linear"], "mse", [0.5]),
    "leaky-tanh-mae": ([3, 2, 2], ["leaky_relu", "tanh"], "mae", [0.3, -0.2]),
    "deep-halfmse": ([2, 3, 2, 1], ["sigmoid", "tanh", "sigmoid"], "half_mse", [0.7]),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_correct_implementation_passes_for_every_activation_and_loss(variant, tmp_path):
    layers, acts, loss, y = VARIANTS[variant]
    spec = parse_spec(_spec_text(layers, acts, loss, y), f"{variant}.toml")
    report = check_code(str(_correct_for(tmp_path, acts, loss)), spec, limits=FAST)
    assert report.passed, [f for f in report.findings if not f.passed]
    assert all(report.finding(f).status == "pass" for f in ("forward", "loss", "backward", "update"))


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_correct_file_agrees_with_the_oracles(variant, tmp_path):
    """The correct student file is an independent route: hand NumPy MLP and PyTorch agree with it."""
    layers, acts, loss, y = VARIANTS[variant]
    spec = parse_spec(_spec_text(layers, acts, loss, y), "s.toml")
    student = _import(_correct_for(tmp_path, acts, loss))
    for case in draw_networks(spec, 7, 2).cases:
        W = [np.array(w) for w in case.params.W]
        b = [np.array(v) for v in case.params.b]
        X, Y = np.array(case.data.x), np.array(case.data.y)
        params = {**{f"W{l}": w.T for l, w in enumerate(W, 1)}, **{f"b{l}": v for l, v in enumerate(b, 1)}}
        yhat, cache = student.forward(X, params)
        grads = student.backward(X, Y, params, cache)
        ref = oracle.mlp(layers, acts, loss, W, b, X, Y)
        np.testing.assert_allclose(yhat, ref["as"][-1], rtol=1e-10)
        assert student.loss(yhat, Y) == pytest.approx(ref["losses"].mean(), rel=1e-10)
        for l in range(1, len(W) + 1):
            np.testing.assert_allclose(grads[f"dW{l}"], ref["dW"][l - 1].T, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(grads[f"db{l}"], ref["db"][l - 1], rtol=1e-9, atol=1e-12)
        if oracle.torch is not None:
            L, dW, db = oracle.torch_gradients(layers, acts, loss, W, b, X, Y)
            assert student.loss(yhat, Y) == pytest.approx(L, rel=1e-10)
            for l in range(1, len(W) + 1):
                np.testing.assert_allclose(grads[f"dW{l}"], dW[l - 1].T, rtol=1e-9, atol=1e-12)


def test_the_rule_by_rule_float_route_is_the_lambdified_one():
    """Code checking evaluates the graph through array_rule; it must agree with float_program."""
    spec = parse_spec(_spec_text(*VARIANTS["tanh-softmax-cce"]), "s.toml")
    nets = draw_networks(spec, 3, 3)
    graph = build_graph(nets.network, nets.samples)
    rng = np.random.default_rng(0)
    given = {s.name: rng.uniform(-1, 1, 3) for s in graph.given}
    a, b = evaluate_rewritten(graph, given, {}), evaluate(graph, given)
    for n in graph.names:
        np.testing.assert_allclose(a[n], b[n], rtol=1e-12, atol=1e-15, err_msg=n)


def test_the_networks_are_non_square_with_a_batch_no_width_masks():
    for seed in range(20):
        nets = draw_networks(load_spec(CLASSIC), seed)
        widths = nets.network.layers
        assert all(a != b for a, b in zip(widths, widths[1:]))
        assert nets.samples > 1 and nets.samples not in widths
        assert len(nets.cases) == 5


MISTAKEN = {  # fixture → function, mistake id, words of the short name
    "no_sigma_prime": ("backward", "no_activation_derivative", "σ′ left out (layer 1)"),
    "sigma_prime_on_a": ("backward", "derivative_at_a", "σ′ applied to a"),
    "transposed_gradient": ("backward", "transposed_gradient", "transposed gradient"),
    "no_mean": ("backward", "half_or_mean_factor", "no 1/n"),
    "sum_for_mean": ("loss", "half_or_mean_factor", "a sum for a mean"),
    "sign_error": ("backward", "delta_sign", "sign error"),
    "update_sign": ("update", "update_sign", "wrong update sign"),
}


@pytest.mark.parametrize("fixture", MISTAKEN)
def test_each_mistake_gets_its_name(fixture, tmp_path):
    function, mistake, words = MISTAKEN[fixture]
    report = check_code(str(student(fixture, tmp_path)), load_spec(CLASSIC), limits=FAST)
    f = report.finding(function)
    assert f.status == "wrong" and f.mistake.partition(":")[0] == mistake, f
    assert words in f.title and f.sentence == MISTAKES[mistake].sentence
    others = [g for g in report.findings if g.function not in (function, "training")]
    assert all(g.status == "pass" for g in others), others
    assert not report.passed and report.score < report.max_score


def test_a_mistake_reports_the_first_differing_entry(tmp_path):
    f = check_code(str(student("no_sigma_prime", tmp_path)), load_spec(CLASSIC), limits=FAST).finding("backward")
    assert f.detail.startswith("dW1[0, 0] = ") and "expected" in f.detail and "network 1 of 5" in f.detail


@pytest.mark.parametrize("fixture, function, status, words", [
    ("raises", "backward", "error", "KeyError: 'z0'"),
    ("loops", "backward", "timeout", "time limit"),
    ("memory", "forward", "memory", "memory"),
])
def test_raising_looping_and_allocating_code_is_contained_per_function(fixture, function, status, words, tmp_path):
    report = check_code(str(student(fixture, tmp_path)), load_spec(CLASSIC), limits=FAST)
    f = report.finding(function)
    assert f.status == status and words in f.detail + f.traceback, f
    assert f'File "{fixture}.py"' in f.traceback  # the student's own frame...
    assert "derive" not in f.traceback.replace("derive's sandbox", "")  # ...and none of derive's
    assert report.finding("forward" if function != "forward" else "loss").status == "pass"


@pytest.mark.parametrize("fixture, words", [("exits", "called sys.exit(0) instead of returning"),
                                             ("os_exits", "ended the Python process (os._exit) instead of returning")])
def test_code_that_exits_the_process_is_reported_as_exited_not_as_not_run(fixture, words, tmp_path):
    # exit status 0 from the child read as a clean run: backward was "not run", as if never called
    report = check_code(str(student(fixture, tmp_path)), load_spec(CLASSIC), limits=FAST)
    f = report.finding("backward")
    assert f.status == "exited" and words in f.detail, f
    assert report.finding("forward").status == "pass" and not f.passed
    update = report.finding("update")  # sys.exit is caught and the next function runs; os._exit ends it all
    assert update.status == "pass" if fixture == "exits" else update.detail == "the sandbox stopped in backward"


def test_a_line_nested_past_jsons_limit_on_the_records_pipe_is_dropped(tmp_path, capsys):
    # the student's code can write to the pipe; json's RecursionError was a traceback of derive's own
    assert _check(student("floods_records", tmp_path), "--spec", CLASSIC) == 0
    out, err = capsys.readouterr()
    assert "score 5/5" in out and err == ""


def test_a_students_message_cannot_drive_the_terminal_or_forge_a_line(tmp_path, capsys):
    assert _check(student("escapes_terminal", tmp_path), "--spec", CLASSIC) == 1
    lines = capsys.readouterr().out.splitlines()
    assert not any("\x1b" in line for line in lines)
    assert lines[-1] == "score 3/5" and all(line.startswith("  ") for line in lines[1:-1]), lines
    assert any(line.strip() == "score 5/5" for line in lines[1:-1])  # shown, but indented under backward


def test_network_and_files_outside_the_folder_are_refused(tmp_path):
    escape = Path("/tmp/derive-sandbox-escape.txt")
    escape.unlink(missing_ok=True)
    report = check_code(str(student("escapes", tmp_path)), load_spec(CLASSIC), limits=FAST)
    assert report.finding("forward").status == "error" and "socket" in report.finding("forward").detail
    assert "reading /etc/passwd" in report.finding("loss").detail
    assert "writing /tmp/derive-sandbox-escape.txt" in report.finding("update").detail
    assert not escape.exists()


def test_the_tutorial_runs_through_its_shipped_adapter_and_stalls_with_the_diagnosis(capsys):
    status = main(["check-code", str(STUDENTS / "tutorial.py"), "--spec", str(TUTORIAL), "--adapter", "tutorial",
                   "--json"])
    out = json.loads(capsys.readouterr().out)
    by = {f["function"]: f for f in out["functions"]}
    assert status == 0 and out["passed"]
    assert by["forward"]["status"] == by["backward"]["status"] == "pass"
    assert by["loss"]["status"] == by["update"]["status"] == "skipped"
    assert by["training"]["status"] == "stalled"
    assert "your gradients are right" in by["training"]["detail"] and "not converged" in by["training"]["detail"]


def test_the_column_convention(tmp_path):
    spec = load_spec(CLASSIC)
    assert check_code(str(STUDENTS / "correct_column.py"), spec, convention="column", limits=FAST).passed
    rows = check_code(str(STUDENTS / "correct.py"), spec, convention="column", limits=FAST)
    assert not rows.passed  # the row-convention file does not fit the column contract


def test_secret_and_student_seed_the_networks():
    spec = load_spec(CLASSIC)
    a = check_code(str(STUDENTS / "correct.py"), spec, "s3cret", "ada", limits=FAST)
    from derive.randomize import student_seed
    assert a.seed == student_seed("s3cret", "ada") and a.passed
    assert draw_networks(spec, a.seed).cases != draw_networks(spec, student_seed("s3cret", "bob")).cases


def test_the_pytest_helper(tmp_path):
    check_backprop(str(STUDENTS / "correct.py"), str(CLASSIC), limits=FAST)
    with pytest.raises(AssertionError, match="σ′ left out"):
        check_backprop(str(student("no_sigma_prime", tmp_path)), str(CLASSIC), limits=FAST)


# --- the command line ---------------------------------------------------------------------

def _check(*argv):
    return main(["check-code", *map(str, argv), "--time-limit", "1"])


def test_exit_status_0_1_2(capsys, tmp_path):
    assert _check(STUDENTS / "correct.py", "--spec", CLASSIC) == 0
    assert "score 5/5" in capsys.readouterr().out
    assert _check(student("sign_error", tmp_path), "--spec", CLASSIC) == 1
    out = capsys.readouterr().out
    assert "backward  a sign error in δ (layer 2): dW1[0, 0] = " in out and "score 3/5" in out
    for bad, words in [("missing_update", "no function update; the contract expects forward(X, params)"),
                       ("bad_signature", "backward(X, Y, params) takes the wrong arguments; the contract expects "
                                         "backward(X, Y, params, cache) -> grads"),
                       ("does_not_import", "does_not_import.py:3: does not import: NameError")]:
        assert _check(STUDENTS / f"{bad}.py", "--spec", CLASSIC) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert _check(STUDENTS / "nothing-here.py", "--spec", CLASSIC) == 2
    assert _check(STUDENTS / "correct.py", "--spec", CLASSIC, "--secret", "s") == 2  # no --student


def test_json_and_gradescope_results(tmp_path, capsys):
    results = tmp_path / "results.json"
    assert _check(student("update_sign", tmp_path), "--spec", CLASSIC, "--json", "--gradescope", results) == 1
    out = json.loads(capsys.readouterr().out)
    assert {"student", "spec", "convention", "layers", "batch", "networks", "seed", "score", "max_score",
            "passed", "functions"} <= set(out)
    assert [f["function"] for f in out["functions"]] == ["forward", "loss", "backward", "update", "training"]
    update = out["functions"][3]
    assert update["status"] == "wrong" and update["mistake"] == "update_sign" and update["title"]
    gs = json.loads(results.read_text())
    assert gs["score"] == out["score"] == sum(t["score"] for t in gs["tests"])
    assert [t["name"] for t in gs["tests"]] == ["forward", "loss", "backward", "update", "training"]
    for t in gs["tests"]:
        assert set(t) == {"name", "score", "max_score", "status", "output"} and t["max_score"] == 1.0
        assert t["status"] == ("passed" if t["score"] == 1.0 else "failed")
    assert "wrong update sign" in gs["tests"][3]["output"]
    # bad input still leaves Gradescope a results.json, with the one line why
    assert _check(STUDENTS / "missing_update.py", "--spec", CLASSIC, "--gradescope", results) == 2
    gs = json.loads(results.read_text())
    assert gs["score"] == 0 and gs["tests"] == [] and "no function update" in gs["output"]


def test_init_code_writes_a_starting_file_that_imports_with_the_contracts_docstrings(tmp_path, capsys):
    out = tmp_path / "backprop.py"
    assert main(["init-code", str(CLASSIC), "--out", str(out)]) == 0
    module = _import(out)
    for f in CONTRACT:
        doc = " ".join(getattr(module, f.name).__doc__.split())
        assert doc.startswith(" ".join(f.doc.split())) and f"Returns {f.returns}." in doc
    assert "2-2-1" in module.__doc__ and "z{l} = a{l-1} @ W{l} + b{l}" in module.__doc__
    assert main(["init-code", str(CLASSIC), "--out", str(out)]) == 2  # exists: not replaced
    capsys.readouterr()
    assert _check(out, "--spec", CLASSIC) == 1  # the stubs import, and each raises NotImplementedError
    assert "error: NotImplementedError" in capsys.readouterr().out
    col = tmp_path / "col.py"
    assert main(["init-code", str(CLASSIC), "--out", str(col), "--convention", "column"]) == 0
    assert "z{l} = W{l} @ a{l-1} + b{l}" in col.read_text()


def test_a_bad_spec_stops_the_already_started_student_process_and_leaves_no_folder(tmp_path, monkeypatch, capsys):
    """The command starts the student's process before reading the spec; a bad spec must not strand it."""
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    bad = tmp_path / "bad.toml"
    bad.write_text("[network]\nlayers = [2, 1]\n", encoding="utf-8")
    assert main(["check-code", str(STUDENTS / "correct.py"), "--spec", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err
    assert not list(tmp_path.glob("derive-code-*"))
