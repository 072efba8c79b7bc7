"""The spec stage: worksheet specs (TOML) and parameter files → frozen values.

Every mistake becomes one :class:`SpecError` naming the file, the line, the
key and what was expected; nothing here prints or exits.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ParamsError, SpecError, did_you_mean, expected_one_of
from .functions import ACTIVATIONS, LOSSES
from .notation import DEFAULT as DEFAULT_NOTATION, KEYS as NOTATION_KEYS, LAYER_STYLES, ORIENTATIONS, \
    PRESETS, WEIGHT_ORDERS, Notation
from .points import Points, parse_points

Matrix = tuple[tuple[float, ...], ...]
Vector = tuple[float, ...]

SECTIONS = ("forward", "loss", "vanishing", "backward", "update", "gradcheck", "training")
DEFAULT_SECTIONS = ("forward", "loss", "backward", "update")  # a spec that names none
BASIC_SECTIONS = DEFAULT_SECTIONS  # one pass forward and back, and one step (the lab's name for it)
SHOW_MODES = ("all", "recipe", "none")  # what a blank sheet prints: every formula, the recipe, none
MAX_WORKING_MM = 100  # room for working under each row of boxes, at most (a page is 297 mm)
MAX_EPOCHS = 5  # a training table is worked by hand, and its columns fit the page
GRAPH_SECTIONS = ("graph",)  # a [graph] spec's: the computation-graph trace (derive/trace.py)

# A worksheet's size, with room to spare: past these a sheet is no longer worked by hand, and
# the run would take minutes or gigabytes (measured: [200, 200, 1] sheets took over a minute).


@dataclass(frozen=True)
class Limits:
    """Sizes beyond a worksheet's: guards, so a typo costs one clear line, not minutes or gigabytes.

    ``--force-large`` lifts them to :data:`LARGE` (a [1000, 1000, 1] network
    took 1.9 GB; a grid step of 1e-9 grew past 3 GB in 40 s).
    """

    units: int = 32             # units in one layer
    depth: int = 6              # layers with weights
    weights: int = 1024         # weights in the whole network
    examples: int = 64          # examples in a batch
    grid_points: int = 10_000   # values of one [random] grid
    students: int = 5000        # rows of a roster


WORKSHEET = Limits()
LARGE = Limits(units=256, depth=12, weights=65_536, examples=4096, grid_points=1_000_000, students=100_000)
_LIFT = " (--force-large allows more)"
MAX_MAGNITUDE = 1e6     # any given or drawn value
MAX_TEXT = {"title": 200, "course": 200, "date": 100, "instructions": 2000}
ROUNDING_RULES = ("carry", "exact")


@dataclass(frozen=True)
class Network:
    """Architecture: widths (input first), one activation per layer, loss, bias."""

    layers: tuple[int, ...]
    activations: tuple[str, ...]
    loss: str
    bias: bool = True

    @property
    def depth(self) -> int:
        """L, the number of layers with weights."""
        return len(self.layers) - 1


@dataclass(frozen=True)
class Data:
    """A batch of examples: ``x[s]`` and ``y[s]`` for example s (from 0)."""

    x: Matrix
    y: Matrix

    @property
    def size(self) -> int:
        return len(self.x)


@dataclass(frozen=True)
class Params:
    """One parameter set: ``W[l-1]`` is W⁽ˡ⁾ (n_l × n_{l−1}), ``b[l-1]`` is b⁽ˡ⁾."""

    W: tuple[Matrix, ...]
    b: tuple[Vector, ...] | None

    def as_dict(self) -> dict[str, Any]:
        """``{"W1": [[...]], "b1": [...], ...}`` as in a spec's [params]."""
        out: dict[str, Any] = {}
        for l, W in enumerate(self.W, start=1):
            out[f"W{l}"] = [list(row) for row in W]
            if self.b is not None:
                out[f"b{l}"] = list(self.b[l - 1])
        return out


@dataclass(frozen=True)
class Grid:
    """Values low, low+step, …, high, without 0: where random values come from."""

    low: float
    high: float
    step: float

    def values(self) -> tuple[float, ...]:
        n = int(round((self.high - self.low) / self.step))
        vals = (round(self.low + k * self.step, 10) for k in range(n + 1))
        return tuple(v for v in vals if v != 0)


@dataclass(frozen=True)
class Exercise:
    """What the sheet asks: sections, learning rate η, decimals to round to, and the rounding rule.

    ``rounding`` is ``"carry"`` (round every answer and carry the rounded
    values into later steps) or ``"exact"`` (keep full precision, round each
    answer once).
    """

    sections: tuple[str, ...] = DEFAULT_SECTIONS
    learning_rate: float = 0.5
    decimals: int = 4
    rounding: str = "carry"
    points: Points = Points()  # what each answer is worth (derive.points)
    show: str = "all"      # the blank sheet's formulas: "all", "recipe" (section intros only), "none"
    working: float = 0.0   # mm of room for working under each row of answer boxes
    gradcheck: tuple[str, ...] = ()  # parameters whose gradient is checked by central differences
    epochs: int = 0                  # steps of the training table


@dataclass(frozen=True)
class Random:
    """Grids the randomizer draws missing values from."""

    weights: Grid = Grid(-1.0, 1.0, 0.1)
    biases: Grid | None = None  # None: as weights
    inputs: Grid | None = None  # set: x is drawn per student
    targets: tuple[float, ...] | str | None = None  # values each y is drawn from, or "one-hot"
    allow_dead: bool = False  # a ReLU unit may be dead (z < 0) on every example of the sheet


@dataclass(frozen=True)
class TraceSpec:
    """A spec's [graph]: an expression, its symbols in order of appearance, the values it fixes.

    A symbol without a value is drawn per student from ``[random].weights``.
    """

    expression: str
    symbols: tuple[str, ...]
    values: tuple[tuple[str, float], ...] = ()

    def is_fixed(self) -> bool:
        return len(self.values) == len(self.symbols)


@dataclass(frozen=True)
class Spec:
    """A validated worksheet spec.

    A computation-graph spec (``[graph]``) has ``trace`` set, no network
    (``network`` is None) and no examples (``data`` is empty).
    """

    path: str
    title: str
    network: Network | None
    data: Data
    fixed: dict = field(default_factory=dict)  # "W1"/"b1" → fixed value, as tuples
    exercise: Exercise = Exercise()
    random: Random = Random()
    course: str = ""
    date: str = ""
    instructions: str = ""
    fingerprint: str = ""
    notation: Notation = DEFAULT_NOTATION  # how the sheet writes the symbols ([notation]); never the key
    trace: TraceSpec | None = None

    def __repr__(self) -> str:
        if self.trace is not None:
            return f"Spec({self.path!r}, graph={self.trace.expression!r})"
        return f"Spec({self.path!r}, layers={self.network.layers}, loss={self.network.loss!r})"

    def is_fixed(self) -> bool:
        """True when nothing is drawn: every student gets the spec's own exercise."""
        if self.trace is not None:
            return self.trace.is_fixed()
        return (self.fixed_params() is not None and self.random.inputs is None
                and self.random.targets is None)

    def fixed_params(self) -> Params | None:
        """The spec's [params] as a Params when every W (and b) is fixed, else None."""
        L = self.network.depth
        need = [f"W{l}" for l in range(1, L + 1)]
        need += [f"b{l}" for l in range(1, L + 1)] if self.network.bias else []
        if any(k not in self.fixed for k in need):
            return None
        return Params(tuple(self.fixed[f"W{l}"] for l in range(1, L + 1)),
                      tuple(self.fixed[f"b{l}"] for l in range(1, L + 1)) if self.network.bias else None)


# --- locating keys in the TOML text, so errors can name a line ----------------

class _Locator:
    """Finds the line of a key: tomllib gives values but not positions."""

    def __init__(self, text: str):
        self.lines: dict[tuple[str, str], int] = {}
        self.tables: dict[str, int] = {}
        table = ""
        for n, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            m = re.match(r"^\[\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]", line)
            if m:
                table = m.group(1).strip()
                self.tables.setdefault(table, n)
                continue
            m = re.match(r"^([A-Za-z0-9_\-\"']+)\s*=", line)
            if m:
                self.lines.setdefault((table, m.group(1).strip("\"'")), n)

    def line(self, table: str, key: str | None = None) -> int | None:
        if key is not None and (table, key) in self.lines:
            return self.lines[(table, key)]
        if key is not None and table == "" and key in self.tables:
            return self.tables[key]  # a top-level table: its [header] line
        if key is not None and "." in key:  # an inline table's key: the line of its parent
            return self.line(table, key.split(".")[0])
        return self.tables.get(table)


class _Reader:
    """Validation context: the file, its locator, and error construction."""

    def __init__(self, path: str, text: str, limits: Limits = WORKSHEET):
        self.path = path
        self.where = _Locator(text)
        self.limits = limits

    def fail(self, table: str, key: str | None, message: str, sub: str = "") -> SpecError:
        label = (f"[{table}]." if table else "") + (key or "") + sub
        return SpecError(message, file=self.path, line=self.where.line(table, key),
                         key=label or None)

    def check_keys(self, table: str, got: dict, allowed: tuple[str, ...]) -> None:
        for key in got:
            if key not in allowed:
                raise self.fail(table, key, f"unknown key; expected one of {', '.join(allowed)}"
                                + did_you_mean(key, allowed))


def _number(r: _Reader, table: str, key: str, value: Any, sub: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise r.fail(table, key, f"expected a number; got {_short(value)}", sub)
    if abs(value) > MAX_MAGNITUDE:
        raise r.fail(table, key, f"expected a number of at most {MAX_MAGNITUDE:g} in size; got {value:g}", sub)
    return float(value)


def _short(value: Any, most: int = 60) -> str:
    """A value for an error line, cut short (a hostile value can be huge)."""
    text = repr(value)
    return text if len(text) <= most else text[:most] + "…"


def _vector(r: _Reader, table: str, key: str, value: Any, n: int, what: str) -> Vector:
    if not isinstance(value, list) or len(value) != n:
        raise r.fail(table, key, f"expected {what}: a list of {n} numbers; got {_short(value)}")
    return tuple(_number(r, table, key, v, f"[{i}]") for i, v in enumerate(value))


def _matrix(r: _Reader, table: str, key: str, value: Any, rows: int, cols: int, what: str) -> Matrix:
    shape_ok = (isinstance(value, list) and len(value) == rows
                and all(isinstance(row, list) and len(row) == cols for row in value))
    if not shape_ok:
        raise r.fail(table, key, f"expected {what}: {rows} rows of {cols} numbers "
                     f"(shape {rows}×{cols}); got {_short(value)}")
    return tuple(tuple(_number(r, table, key, v, f"[{i}][{j}]") for j, v in enumerate(row))
                 for i, row in enumerate(value))


# --- the sections of a spec ---------------------------------------------------

_TOP = ("title", "course", "date", "instructions", "network", "data", "params", "exercise", "random", "notation",
        "graph")


def _network(r: _Reader, t: dict) -> Network:
    r.check_keys("network", t, ("layers", "activations", "loss", "bias"))
    for key in ("layers", "activations", "loss"):
        if key not in t:
            raise r.fail("network", key, "missing; this key is required")
    layers = t["layers"]
    if (not isinstance(layers, list) or len(layers) < 2
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in layers)):
        raise r.fail("network", "layers", "expected a list of at least 2 positive whole numbers "
                     f"(input width, hidden widths…, output width); got {_short(layers)}")
    weights = sum(a * b for a, b in zip(layers, layers[1:]))
    lim = r.limits
    if max(layers) > lim.units or len(layers) - 1 > lim.depth or weights > lim.weights:
        raise r.fail("network", "layers", f"expected a worksheet's size: at most {lim.units} units a layer, "
                     f"{lim.depth} layers with weights and {lim.weights} weights; got {_short(layers)}"
                     + (_LIFT if lim != LARGE else ""))
    acts = t["activations"]
    if not isinstance(acts, list) or len(acts) != len(layers) - 1:
        raise r.fail("network", "activations", f"expected a list of {len(layers) - 1} activations, "
                     f"one per layer after the input; got {_short(acts)}")
    for i, a in enumerate(acts):
        if not isinstance(a, str) or a not in ACTIVATIONS:
            raise r.fail("network", "activations", expected_one_of(a, ACTIVATIONS), f"[{i}]")
        if ACTIVATIONS[a].output_only and i != len(acts) - 1:
            raise r.fail("network", "activations", "softmax is allowed only on the output layer; "
                         f"got it on layer {i + 1} of {len(acts)}", f"[{i}]")
    if acts[-1] == "softmax" and layers[-1] < 2:
        raise r.fail("network", "layers", "expected at least 2 output units for a softmax output; "
                     f"got {layers[-1]}")
    loss = t["loss"]
    if not isinstance(loss, str) or loss not in LOSSES:
        raise r.fail("network", "loss", expected_one_of(loss, LOSSES))
    needs = LOSSES[loss].outputs
    if needs and acts[-1] not in needs:
        raise r.fail("network", "loss", f'"{loss}" needs a {" or ".join(needs)} output layer; '
                     f'got "{acts[-1]}" (set the last activation to {needs[0]})')
    bias = t.get("bias", True)
    if not isinstance(bias, bool):
        raise r.fail("network", "bias", f"expected true or false; got {bias!r}")
    return Network(tuple(layers), tuple(acts), loss, bias)


def _examples(r: _Reader, key: str, value: Any, n: int, what: str) -> Matrix:
    if isinstance(value, list) and len(value) > r.limits.examples:
        raise r.fail("data", key, f"expected at most {r.limits.examples} examples; got {len(value)}"
                     + (_LIFT if r.limits != LARGE else ""))
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return tuple(_vector(r, "data", key, v, n, what) for v in value)
    return (_vector(r, "data", key, value, n, what),)


def _data(r: _Reader, t: dict, net: Network, rnd: "Random") -> Data:
    r.check_keys("data", t, ("x", "y"))
    if "x" in t:
        x = _examples(r, "x", t["x"], net.layers[0], f"{net.layers[0]} input value(s)")
    elif rnd.inputs is None:
        raise r.fail("data", "x", "missing; expected the input(s), or [random].inputs to draw them")
    if "y" in t:
        y = _examples(r, "y", t["y"], net.layers[-1], f"{net.layers[-1]} target value(s)")
        _check_labels(r, net, y)
    elif rnd.targets is None:
        raise r.fail("data", "y", "missing; expected the target(s), or [random].targets to draw them")
    # what is drawn per student gets placeholders of the right shape here
    if "x" not in t:
        x = tuple((0.0,) * net.layers[0] for _ in (y if "y" in t else [()]))
    if "y" not in t:
        y = tuple((0.0,) * net.layers[-1] for _ in x)
    if len(x) != len(y):
        raise r.fail("data", "y", f"expected as many targets as inputs ({len(x)}); got {len(y)}")
    return Data(x, y)


def _check_labels(r: _Reader, net: Network, y: Matrix) -> None:
    kind = LOSSES[net.loss].targets
    for s, row in enumerate(y):
        if kind == "unit" and any(not 0 <= v <= 1 for v in row):
            raise r.fail("data", "y", f'expected targets between 0 and 1 for "{net.loss}"; '
                         f"got {list(row)}", f"[{s}]" if len(y) > 1 else "")
        if kind == "distribution" and (any(v < 0 for v in row) or abs(sum(row) - 1) > 1e-9):
            raise r.fail("data", "y", f'expected a one-hot label (non-negative, summing to 1) for '
                         f'"{net.loss}"; got {list(row)}', f"[{s}]" if len(y) > 1 else "")


def _fixed(r: _Reader, t: dict, net: Network) -> dict:
    allowed = tuple(f"W{l}" for l in range(1, net.depth + 1))
    allowed += tuple(f"b{l}" for l in range(1, net.depth + 1)) if net.bias else ()
    for key in t:
        if key not in allowed and net.bias is False and re.fullmatch(r"b\d+", key):
            raise r.fail("params", key, "the network has no biases ([network].bias = false); remove this key")
    r.check_keys("params", t, allowed)
    fixed = {}
    for key, value in t.items():
        l = int(key[1:])
        rows, cols = net.layers[l], net.layers[l - 1]
        if key[0] == "W":
            fixed[key] = _matrix(r, "params", key, value, rows, cols, f"W{l}")
        else:
            fixed[key] = _vector(r, "params", key, value, rows, f"b{l}")
    return fixed


def _exercise(r: _Reader, t: dict, allowed: tuple[str, ...] = SECTIONS, net: Network | None = None,
              samples: int = 1) -> Exercise:
    r.check_keys("exercise", t, ("sections", "learning_rate", "decimals", "rounding", "points", "show", "working",
                                    "gradcheck", "epochs"))
    sections = t.get("sections", list(DEFAULT_SECTIONS if allowed == SECTIONS else allowed))
    if not isinstance(sections, list) or not sections:
        raise r.fail("exercise", "sections", f"expected a list from {', '.join(allowed)}; got {_short(sections)}")
    for i, s in enumerate(sections):
        if s in GRAPH_SECTIONS + SECTIONS and s not in allowed:
            raise r.fail("exercise", "sections", f'"{s}" needs a [{"graph" if s in GRAPH_SECTIONS else "network"}] '
                         f"table; expected one of {', '.join(allowed)}", f"[{i}]")
        if s not in allowed:
            raise r.fail("exercise", "sections", expected_one_of(s, allowed), f"[{i}]")
    lr = _number(r, "exercise", "learning_rate", t.get("learning_rate", 0.5))
    if lr <= 0:
        raise r.fail("exercise", "learning_rate", f"expected a positive number; got {lr}")
    decimals = t.get("decimals", 4)
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 1 <= decimals <= 10:
        raise r.fail("exercise", "decimals", f"expected a whole number from 1 to 10; got {_short(decimals)}")
    rounding = t.get("rounding", "carry")
    if rounding not in ROUNDING_RULES:
        raise r.fail("exercise", "rounding", expected_one_of(rounding, ROUNDING_RULES))
    chosen = tuple(s for s in allowed if s in sections)
    show, working = _scaffolding(r, t)
    return Exercise(chosen, lr, decimals, rounding, points=_points(r, t, net, samples, chosen),
                    show=show, working=working, gradcheck=_gradcheck(r, t, net, chosen),
                    epochs=_epochs(r, t, chosen))


def _points(r: _Reader, t: dict, net: Network | None, samples: int, sections: tuple[str, ...]) -> Points:
    """[exercise].points, checked against the sections and answer names the sheet asks (a trace's
    points are a number or per section: its answer names depend on the expression)."""
    if "points" not in t:
        return Points()
    from . import names
    asked = names.in_sections(names.expected(net.layers, net.bias, samples), sections) if net else []
    return parse_points(t["points"], sections, asked,
                        lambda key, message: r.fail("exercise", "points", message, f".{key}" if key else ""))


def _scaffolding(r: _Reader, t: dict) -> tuple[str, float]:
    """``show`` (how much of the recipe the blank sheet prints) and ``working`` (mm under each row)."""
    show = t.get("show", "all")
    if show not in SHOW_MODES:
        raise r.fail("exercise", "show", expected_one_of(show, SHOW_MODES))
    working = t.get("working", 0)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(mm|cm)\s*", working) if isinstance(working, str) else None
    mm = (float(m[1]) * (10 if m[2] == "cm" else 1) if m else working
          if isinstance(working, (int, float)) and not isinstance(working, bool) else None)
    if mm is None or not 0 <= mm <= MAX_WORKING_MM:
        raise r.fail("exercise", "working", f"expected a length from 0 to {MAX_WORKING_MM} mm "
                     f'(a number of mm, or "15mm", "1.5cm"); got {_short(working)}')
    return show, float(mm)


def _check_chain(r: _Reader, net: Network, ex: Exercise, data: Data) -> None:
    """The vanishing-gradient section follows one δ per layer, of one example: a chain of one-unit layers."""
    if "vanishing" not in ex.sections:
        return
    if any(n != 1 for n in net.layers[1:]):
        raise r.fail("exercise", "sections", '"vanishing" needs a chain, one unit in every layer after '
                     f"the input (e.g. layers = [1, 1, 1, 1, 1, 1]); got layers = {list(net.layers)}")
    if data.size != 1:
        raise r.fail("exercise", "sections", f'"vanishing" follows one example; got {data.size} in [data]')


def parameter_names(net: Network) -> tuple[str, ...]:
    """Every weight's and bias's name, layer by layer: W1_1_1, …, b1_1, …"""
    out = []
    for l in range(1, net.depth + 1):
        out += [f"W{l}_{j}_{i}" for j in range(1, net.layers[l] + 1) for i in range(1, net.layers[l - 1] + 1)]
        out += [f"b{l}_{j}" for j in range(1, net.layers[l] + 1)] if net.bias else []
    return tuple(out)


def _gradcheck(r: _Reader, t: dict, net: Network, sections: tuple[str, ...]) -> tuple[str, ...]:
    """[exercise].gradcheck: the parameters whose gradient the sheet checks (with "gradcheck")."""
    if "gradcheck" not in sections:
        if "gradcheck" in t:
            raise r.fail("exercise", "gradcheck", 'set, but sections has no "gradcheck"; add it or remove this key')
        return ()
    valid = parameter_names(net)
    value = t.get("gradcheck")
    if value is None:
        raise r.fail("exercise", "gradcheck", f"missing; expected a list of parameters from {', '.join(valid)}")
    if not isinstance(value, list) or not value:
        raise r.fail("exercise", "gradcheck", f"expected a list of parameters from {', '.join(valid)}; "
                     f"got {_short(value)}")
    for i, p in enumerate(value):
        if p not in valid:
            raise r.fail("exercise", "gradcheck", expected_one_of(p, valid), f"[{i}]")
    if len(set(value)) != len(value):
        raise r.fail("exercise", "gradcheck", f"expected each parameter once; got {_short(value)}")
    if "backward" not in sections:
        raise r.fail("exercise", "sections", 'a gradient check compares with the backward pass; add "backward"')
    return tuple(p for p in valid if p in value)


def _epochs(r: _Reader, t: dict, sections: tuple[str, ...]) -> int:
    """[exercise].epochs: the training table's steps (3 by default, with "training")."""
    if "training" not in sections:
        if "epochs" in t:
            raise r.fail("exercise", "epochs", 'set, but sections has no "training"; add it or remove this key')
        return 0
    k = t.get("epochs", 3)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_EPOCHS:
        raise r.fail("exercise", "epochs", f"expected a whole number from 1 to {MAX_EPOCHS}; got {_short(k)}")
    return k


def _grid(r: _Reader, key: str, t: Any) -> Grid:
    if not isinstance(t, dict):
        raise r.fail("random", key, f"expected {{ low = …, high = …, step = … }}; got {_short(t)}")
    r.check_keys("random", {f"{key}.{k}": v for k, v in t.items()},
                 tuple(f"{key}.{k}" for k in ("low", "high", "step")))
    low, high, step = (_number(r, "random", key, t.get(k), f".{k}") for k in ("low", "high", "step"))
    if low < high and step > 0 and (high - low) / step > r.limits.grid_points:
        raise r.fail("random", key, f"expected at most {r.limits.grid_points} grid points; got low={low:g}, "
                     f"high={high:g}, step={step:g}" + (_LIFT if r.limits != LARGE else ""))
    if not (low < high and step > 0) or not Grid(low, high, step).values():
        raise r.fail("random", key, f"expected low < high and step > 0 giving non-zero values; "
                     f"got low={low}, high={high}, step={step}")
    return Grid(low, high, step)


def _random(r: _Reader, t: dict, net: Network) -> Random:
    r.check_keys("random", t, ("weights", "biases", "inputs", "targets", "allow_dead"))
    grids = {k: _grid(r, k, v) for k, v in t.items() if k not in ("targets", "allow_dead")}
    allow_dead = t.get("allow_dead", False)
    if not isinstance(allow_dead, bool):
        raise r.fail("random", "allow_dead", f"expected true or false; got {_short(allow_dead)}")
    return Random(grids.get("weights", Random().weights), grids.get("biases"), grids.get("inputs"),
                  _targets(r, t["targets"], net) if "targets" in t else None, allow_dead)


def _targets(r: _Reader, value: Any, net: Network) -> tuple[float, ...] | str:
    """[random].targets: a list of values each target is drawn from, or "one-hot"."""
    kind = LOSSES[net.loss].targets
    if value == "one-hot":
        if net.layers[-1] < 2:
            raise r.fail("random", "targets", "a one-hot target needs at least 2 output units")
        return value
    if kind == "distribution":
        raise r.fail("random", "targets", f'expected "one-hot" for "{net.loss}"; got {_short(value)}')
    if not isinstance(value, list) or not value:
        raise r.fail("random", "targets", f'expected a list of values to draw from, or "one-hot"; got {_short(value)}')
    values = tuple(_number(r, "random", "targets", v, f"[{i}]") for i, v in enumerate(value))
    if kind == "unit" and any(not 0 <= v <= 1 for v in values):
        raise r.fail("random", "targets", f'expected values between 0 and 1 for "{net.loss}"; got {list(values)}')
    return values


_RESERVED_LETTERS = ("a", "b", "x", "y", "z", "L")  # letters the sheet already uses for something else


def _notation(r: _Reader, t: dict, net: Network) -> Notation:
    """[notation]: a preset and/or keys overriding it (:mod:`derive.notation`)."""
    r.check_keys("notation", t, NOTATION_KEYS)
    preset = t.get("preset", "")
    if preset != "" and (not isinstance(preset, str) or preset not in PRESETS):
        raise r.fail("notation", "preset", expected_one_of(preset, PRESETS))
    keys = {}
    for key, allowed in (("orientation", ORIENTATIONS), ("weights", WEIGHT_ORDERS), ("layer", LAYER_STYLES)):
        if key in t:
            if not isinstance(t[key], str) or t[key] not in allowed:
                raise r.fail("notation", key, expected_one_of(t[key], allowed))
            keys[key] = t[key]
    if "letters" in t:
        keys["letters"] = _letters(r, t["letters"], net)
    notation = Notation(**{**PRESETS.get(preset, DEFAULT_NOTATION).__dict__, **keys, "preset": preset})
    if notation.layer == "none" and net.depth > 1:
        raise r.fail("notation", "layer", f'"none" leaves the {net.depth} layers of this network apart only '
                     'by letters, and z, a, δ, b have none; expected one of "(l)", "[l]", "l", "sub"')
    return notation


def _letters(r: _Reader, value: Any, net: Network) -> tuple[str, ...]:
    """``letters``: one weight letter for every layer ("w"), or a list with one per layer (["v", "w"])."""
    letters = [value] if isinstance(value, str) else value
    want = f'a letter ("w") or a list of {net.depth} different letters, one per layer (["v", "w"])'
    if (not isinstance(letters, list) or len(letters) not in (1, net.depth)
            or not all(isinstance(c, str) and re.fullmatch(r"[A-Za-z]", c) for c in letters)
            or len(set(letters)) != len(letters)):
        raise r.fail("notation", "letters", f"expected {want}; got {_short(value)}")
    if taken := [c for c in letters if c in _RESERVED_LETTERS]:
        raise r.fail("notation", "letters", f'expected letters other than {", ".join(_RESERVED_LETTERS)} '
                     f'(the sheet uses them); got "{taken[0]}"')
    return tuple(letters)


def _text(r: _Reader, doc: dict, key: str, default: str) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str):
        raise r.fail("", key, f"expected a string; got {_short(value)}")
    if len(value) > MAX_TEXT[key]:
        raise r.fail("", key, f"expected at most {MAX_TEXT[key]} characters; got {len(value)}")
    return value


def parse_spec(text: str, path: str = "<spec>", limits: Limits = WORKSHEET) -> Spec:
    """Validate a spec's TOML text; ``path`` is used in error messages."""
    r = _Reader(path, text, limits)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        raise SpecError(f"not valid TOML: {e}", file=path, line=int(m.group(1)) if m else None) from e
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise SpecError("not valid TOML: arrays or inline tables nested too deeply; expected a worksheet "
                        "spec's few levels", file=path) from None
    r.check_keys("", doc, _TOP)
    if "graph" in doc:
        return _graph_spec(r, doc, text)
    for table in ("network", "data"):
        if table in doc and not isinstance(doc[table], dict):
            raise r.fail("", table, f"expected a table [{table}]; got {_short(doc[table])}")
        if table not in doc:
            raise SpecError(f"missing table [{table}]", file=path, key=f"[{table}]")
    for table in ("params", "exercise", "random", "notation"):
        if table in doc and not isinstance(doc[table], dict):
            raise r.fail("", table, "expected a table")
    net = _network(r, doc["network"])
    random = _random(r, doc.get("random", {}), net)
    data = _data(r, doc["data"], net, random)
    exercise = _exercise(r, doc.get("exercise", {}), SECTIONS, net, data.size)
    _check_chain(r, net, exercise, data)
    return Spec(
        path=path,
        title=_text(r, doc, "title", ""),  # none: the templates' own (text.tex's "title")
        network=net,
        data=data,
        fixed=_fixed(r, doc.get("params", {}), net),
        exercise=exercise,
        random=random,
        course=_text(r, doc, "course", ""),
        date=_text(r, doc, "date", ""),
        instructions=_text(r, doc, "instructions", ""),
        notation=_notation(r, doc.get("notation", {}), net),
        fingerprint=hashlib.sha256(text.encode()).hexdigest()[:8],
    )


def _graph_spec(r: _Reader, doc: dict, text: str) -> Spec:
    """A computation-graph spec: [graph] (expression, values) instead of [network], [data], [params]."""
    for table in ("network", "data", "params", "notation"):
        if table in doc:
            raise r.fail("", table, "a [graph] spec traces an expression and has no network; "
                         f"remove [{table}] or [graph]")
    for table in ("graph", "exercise", "random"):
        if table in doc and not isinstance(doc[table], dict):
            raise r.fail("", table, "expected a table")
    rnd = doc.get("random", {})
    r.check_keys("random", rnd, ("weights",))
    exercise = _exercise(r, doc.get("exercise", {}), GRAPH_SECTIONS)
    return Spec(path=r.path, title=_text(r, doc, "title", ""), network=None, data=Data((), ()),
                exercise=exercise, random=Random(_grid(r, "weights", rnd["weights"])) if "weights" in rnd else Random(),
                course=_text(r, doc, "course", ""), date=_text(r, doc, "date", ""),
                instructions=_text(r, doc, "instructions", ""),
                fingerprint=hashlib.sha256(text.encode()).hexdigest()[:8],
                trace=_trace(r, doc["graph"], "random" in doc, exercise))


def _trace(r: _Reader, t: dict, drawn: bool, exercise: Exercise) -> TraceSpec:
    """[graph]: the expression (parsed here, so a bad one is a located error) and its values."""
    from .trace import ExpressionError, Values, build_trace, undefined_at  # (trace imports this module)
    r.check_keys("graph", t, ("expression", "values"))
    if "expression" not in t:
        raise r.fail("graph", "expression", 'missing; expected an expression such as "1/(1 + exp(-(w*x + b)))"')
    try:
        symbols = build_trace(t["expression"]).symbols
    except ExpressionError as e:
        raise r.fail("graph", "expression", str(e)) from None
    values = t.get("values", {})
    if not isinstance(values, dict):
        raise r.fail("graph", "values", f"expected {{ {symbols[0]} = …, … }}, a value per symbol; got {_short(values)}")
    r.check_keys("graph", {f"values.{k}": v for k, v in values.items()}, tuple(f"values.{s}" for s in symbols))
    fixed = tuple((s, _number(r, "graph", f"values.{s}", values[s])) for s in symbols if s in values)
    missing = [s for s in symbols if s not in values]
    if values and missing and not drawn:
        raise r.fail("graph", "values", f"missing {', '.join(missing)}; expected a value for every symbol "
                     "(or a [random] table to draw the missing ones)")
    if len(fixed) == len(symbols) and (why := undefined_at(build_trace(t["expression"]), Values(fixed),
                                                          exercise.decimals, exercise.rounding)):
        raise r.fail("graph", "values", f"{why} at these values; expected values where every node has one")
    return TraceSpec(t["expression"], symbols, fixed)


def load_spec(path: str | Path, limits: Limits = WORKSHEET) -> Spec:
    """Read and validate a worksheet spec file, within ``limits`` (:class:`Limits`)."""
    return parse_spec(read_text(path, SpecError), str(path), limits)


def params_from_dict(values: dict, spec: Spec, where: str) -> Params:
    """Complete parameters from a dict shaped like [params], checked against the spec."""
    r = _Reader(where, "")
    fixed = _fixed(r, values, spec.network)
    merged = {**spec.fixed, **fixed}
    full = Spec(**{**spec.__dict__, "fixed": merged}).fixed_params()
    if full is None:
        missing = [k for k in _param_keys(spec.network) if k not in merged]
        raise ParamsError(f"missing {', '.join(missing)}", file=where)
    return full


def _param_keys(net: Network) -> list[str]:
    keys = [f"W{l}" for l in range(1, net.depth + 1)]
    return keys + ([f"b{l}" for l in range(1, net.depth + 1)] if net.bias else [])


def load_params_json(path: str | Path, spec: Spec) -> tuple[Params, Data]:
    """Read a student's ``params.json``: ``{"params": {...}, "data": {"x", "y"}}``."""
    text = read_text(path, ParamsError)  # bounded: --params /dev/zero
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ParamsError(f"not a JSON file: {e}", file=str(path)) from e
    except RecursionError:  # json decodes nested arrays recursively
        raise ParamsError("not a params.json: arrays nested too deeply; expected {\"params\": {...}}",
                          file=str(path)) from None
    if spec.trace is not None and isinstance(doc, dict) and "values" in doc:  # a computation-graph trace
        from .trace import values_from_dict
        return values_from_dict(doc["values"], spec, str(path)), spec.data
    if not isinstance(doc, dict) or not isinstance(doc.get("params"), dict):
        raise ParamsError('expected an object with "params" (and optionally "data")', file=str(path))
    params = params_from_dict(doc["params"], spec, str(path))
    data = spec.data
    if isinstance(doc.get("data"), dict):
        r = _Reader(str(path), "")
        data = _data(r, doc["data"], spec.network, Random())
    return params, data


# --- rosters --------------------------------------------------------------------

import csv  # noqa: E402
import io  # noqa: E402
import unicodedata  # noqa: E402

from typing import Sequence  # noqa: E402

from .errors import RosterError  # noqa: E402
from .rosters import choose_columns, decode, delimiter_name, read_bytes, sniff_delimiter  # noqa: E402

_SAFE_ID = re.compile(r"^[\w@+.\-]+$")
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)  # Windows devices
MAX_ID_BYTES = 100
MAX_NAME = 200         # characters of a name: a 10,000-character one pushed the id off the page

# Letters of other scripts that print like Latin ones: an id must not differ from another only by these.
_LOOKALIKE = str.maketrans("аеорсухіјѕԁһӏАВЕКМНОРСТХІЈЅαβεικνορτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
                           "aeopcyxijsdhlABEKMHOPCTXIJSabeiknoptuxABEZHIKMNOPTYX")


def _lookalike_key(sid: str) -> str:
    """What two ids that print alike (case, full-width forms, Cyrillic or Greek look-alikes) share."""
    return unicodedata.normalize("NFKC", sid).casefold().translate(_LOOKALIKE).casefold()


@dataclass(frozen=True)
class Student:
    """One roster row: id, name, the 1-based line of the CSV it came from, and the row's other cells.

    ``fields`` keeps every cell of the row by its column (an LMS export's
    email, username, Canvas ID, section), so grades can go back to the LMS
    under the identifiers it knows (:mod:`derive.gradebooks`).
    """

    id: str
    name: str
    line: int
    fields: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)

    def cell(self, *columns: str) -> str:
        """The first of ``columns`` (compared as :func:`derive.rosters.same_column` does) this row has, else ''."""
        from .rosters import same_column
        for column in columns:
            for name, value in self.fields:
                if same_column(name, column) and value.strip():
                    return value.strip()
        return ""


@dataclass(frozen=True)
class Roster:
    """The students of a class, in roster order."""

    path: str
    students: tuple[Student, ...]

    def __repr__(self) -> str:
        return f"Roster({self.path!r}, {len(self.students)} students)"

    def ids(self) -> list[str]:
        return [s.id for s in self.students]


def read_text(path: str | Path, error: type) -> str:
    """A spec's or CSV file's text, UTF-8 with or without BOM; a bad byte names its line."""
    raw = read_bytes(path, error)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise error(f"not UTF-8 text (byte 0x{raw[e.start]:02x}); save the file as UTF-8",
                    file=str(path), line=line) from None


def load_roster(path: str | Path, limits: Limits = WORKSHEET, *, id_column: str | None = None,
                name_column: str | Sequence[str] | None = None, encoding: str | None = None) -> Roster:
    """Read a roster CSV: derive's own (``student_id``, ``name``), or as Moodle, Canvas or a spreadsheet exports it.

    The encoding and the separator (``,``, ``;`` or tab) are detected (see
    :mod:`derive.rosters`); ``encoding`` forces one. ``id_column`` and
    ``name_column`` choose the columns (several name columns are joined with
    a space); without them the header must fit exactly one known export.
    """
    text = decode(read_bytes(path), path, encoding)
    delimiter = sniff_delimiter(text)
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(rows, [])]
    except csv.Error as e:  # a header cell past csv's field limit
        raise RosterError(f"not a readable CSV file: {e}", file=str(path), line=1) from None
    if not any(header):
        raise RosterError("empty file; expected a header with student_id and name", file=str(path), line=1)
    columns = choose_columns(header, path, id_column, name_column)
    students, seen = [], {}
    for n, row in _lines(text, path, delimiter):
        if not any(cell.strip() for cell in row) or not columns.is_student(row):
            continue  # blank lines, as spreadsheets leave them; Canvas's Points Possible row
        _check_row(path, n, row, header, delimiter)
        sid = unicodedata.normalize("NFC", columns.student_id(row))
        name = columns.student_name(row)
        if len(name) > MAX_NAME:
            raise RosterError(f"expected a name of at most {MAX_NAME} characters; got {len(name)}",
                              file=str(path), line=n, key="name")
        if len(students) == limits.students:
            raise RosterError(f"expected at most {limits.students} students" + (_LIFT if limits != LARGE else ""),
                              file=str(path), line=n)
        if not sid and columns.header != "student_id":
            # Moodle's ID number is empty unless the site fills it in: say which column, and the way out
            raise RosterError(f'empty "{columns.header}"; expected every student to have one, or choose '
                              'another id column with --id-column (such as "Email address")',
                              file=str(path), line=n, key=columns.header)
        _check_student(path, n, sid, seen)
        seen[_lookalike_key(sid)] = (n, sid)
        students.append(Student(sid, name, n, tuple(zip(header, (c.strip() for c in row)))))
    if not students:
        raise RosterError("no students; expected one row per student after the header", file=str(path), line=2)
    return Roster(str(path), tuple(students))


def _lines(text: str, path, delimiter: str = ","):
    """(line number, cells) of each row after the header; a row that runs over several lines
    (an unclosed quote swallowing the rows after it) is an error naming where it starts."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next(reader, None)
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader, None)
        except csv.Error as e:  # a cell past csv's field limit (131072 characters)
            raise RosterError(f"not a readable CSV file: {e}", file=str(path), line=line) from None
        if row is None:
            return
        if any("\n" in c or "\r" in c for c in row):  # also a quote left open on the last line
            end = f"line {reader.line_num}" if reader.line_num > line else "the end of the file"
            raise RosterError(f"a quote opened on this line is not closed (the cell runs to {end}); "
                              "expected one student per line", file=str(path), line=line)
        yield line, row
        line = reader.line_num + 1


def _check_row(path, n: int, row: list[str], header: list[str], delimiter: str = ",") -> None:
    extra = row[len(header):]
    if len(row) < len(header) or any(c.strip() for c in extra):
        raise RosterError(f"{len(row)} cells but the header has {len(header)}; expected one cell per column "
                          f"({delimiter_name(delimiter)} inside a name needs quotes)", file=str(path), line=n)


def _check_student(path, n: int, sid: str, seen: dict) -> None:
    where = dict(file=str(path), line=n, key="student_id")
    if not sid:
        raise RosterError("empty student_id", **where)
    other = seen.get(_lookalike_key(sid))
    if other is not None:
        first, before = other
        what = "duplicate" if before == sid else "look-alike"
        raise RosterError(f'{what} student_id "{sid}" (first on line {first}' + (
            f' as "{before}": the two print alike, or differ only in case, which folders on macOS and '
            "Windows ignore)" if before != sid else ")"), **where)
    if not _SAFE_ID.match(sid) or sid.startswith(".") or _RESERVED.match(sid):
        raise RosterError(f'expected a student_id of letters, digits and - _ . @ + that does not start with '
                          f'a dot and is no Windows device name (it names a folder); got "{sid}"', **where)
    if len(sid.encode("utf-8")) > MAX_ID_BYTES:
        raise RosterError(f"expected a student_id of at most {MAX_ID_BYTES} bytes (it names a folder); "
                          f"got {len(sid.encode('utf-8'))}", **where)
