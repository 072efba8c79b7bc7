"""Hostile input, fuzzed: specs, rosters and answers files end in a result or one DeriveError, quickly.

Specs are the classic spec with one value replaced by an arbitrary TOML value
(huge and tiny numbers, wrong types, nested tables); rosters and answers
files are arbitrary text built from the characters that break CSV readers.
A run is bounded: a few hundred examples each, and every example that
parses is also solved exactly.
"""
import json
import math
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.errors import DeriveError
from derive.grade import read_answers
from derive.numeric import key
from derive.spec import load_roster, parse_spec

ROOT = Path(__file__).resolve().parent.parent
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
SECONDS = 5.0  # no single input may take longer than this


def toml_value(v) -> str:
    """A tiny TOML writer for the values hypothesis makes (tomllib only reads)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + " }"


scalars = st.one_of(st.booleans(), st.integers(-2 ** 63, 2 ** 63 - 1),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([1e-308, 1e308, 9223372036854775807, 0, -1, 1e-9, 2, 1000]),
                    st.text(max_size=20), st.sampled_from(["sigmoid", "relu", "bce", "cce", "softmax", "one-hot"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.sampled_from(["low", "high", "step", "x"]),
                                                                       inner, max_size=3)), max_leaves=8)

SLOTS = [("network", "layers"), ("network", "activations"), ("network", "loss"), ("network", "bias"),
         ("data", "x"), ("data", "y"), ("params", "W1"), ("params", "b1"), ("params", "W2"),
         ("exercise", "sections"), ("exercise", "learning_rate"), ("exercise", "decimals"),
         ("exercise", "rounding"), ("random", "weights"), ("random", "biases"), ("random", "inputs"),
         ("random", "targets"), ("", "title"), ("", "course")]

BASE = {
    "": {"title": "t"},
    "network": {"layers": [2, 2, 1], "activations": ["sigmoid", "sigmoid"], "loss": "bce"},
    "data": {"x": [1, 0], "y": [1]},
    "params": {"W1": [[0.5, -0.3], [0.8, 0.2]], "b1": [0.1, -0.1], "W2": [[0.7, -0.5]], "b2": [0.2]},
    "exercise": {"learning_rate": 0.5, "decimals": 4},
}


def spec_text(tables: dict) -> str:
    lines = [f"{k} = {toml_value(v)}" for k, v in tables.get("", {}).items()]
    for table, entries in tables.items():
        if table:
            lines += [f"[{table}]", *(f"{k} = {toml_value(v)}" for k, v in entries.items())]
    return "\n".join(lines) + "\n"


def _bounded(f):
    t = time.perf_counter()
    try:
        return f()
    except DeriveError:
        return None
    finally:
        assert time.perf_counter() - t < SECONDS


@FUZZ
@given(slots=st.lists(st.sampled_from(SLOTS), min_size=1, max_size=3, unique=True),
       replacements=st.lists(values, min_size=3, max_size=3))
def test_fuzzed_specs_end_in_a_spec_or_one_spec_error(slots, replacements):
    tables = {t: dict(v) for t, v in BASE.items()}
    for (table, k), v in zip(slots, replacements):
        tables.setdefault(table, {})[k] = v
    spec = _bounded(lambda: parse_spec(spec_text(tables), "fuzz.toml"))
    if spec is not None and spec.is_fixed():
        ex = spec.exercise
        _bounded(lambda: key(spec.network, spec.fixed_params(), spec.data, ex.learning_rate, ex.decimals,
                             ex.rounding))


csv_text = st.lists(st.sampled_from(list('ab1,;"\n\r\t =+-@é\u202e\x00') + ["student_id", "name", "z1_1", "0.5"]),
                    max_size=80).map("".join)


@FUZZ
@given(body=csv_text, header=st.sampled_from(["student_id,name\n", "student_id;name\n", "", "name,student_id\n"]))
def test_fuzzed_rosters_end_in_a_roster_or_one_roster_error(tmp_path_factory, body, header):
    path = tmp_path_factory.mktemp("r") / "roster.csv"
    path.write_text(header + body, encoding="utf-8", errors="surrogatepass")
    roster = _bounded(lambda: load_roster(path))
    if roster is not None:
        assert all(s.id and s.id == s.id.strip() for s in roster.students)


@FUZZ
@given(body=csv_text, header=st.sampled_from(["student_id,z1_1,a1_1\n", "student_id,name,value\n", "x\n", ""]))
def test_fuzzed_answers_files_end_in_answers_or_one_answers_error(tmp_path_factory, body, header):
    path = tmp_path_factory.mktemp("a") / "answers.csv"
    path.write_text(header + body, encoding="utf-8", errors="surrogatepass")
    _bounded(lambda: read_answers(path, roster=["a", "b"], expected=["z1_1", "a1_1"]))
