"""The vanishing-gradient section: δ through a chain of one-unit layers, layer by layer.

In a chain, δ⁽ˡ⁾ = W⁽ˡ⁺¹⁾₁₁ δ⁽ˡ⁺¹⁾ g_l′(z⁽ˡ⁾), so each layer down multiplies
|δ| by |W⁽ˡ⁺¹⁾₁₁| g_l′(z⁽ˡ⁾).  For a sigmoid, σ′ ≤ ¼: with weights of
modest size |δ| shrinks geometrically (vanishing gradients); through an
active ReLU it is multiplied by |W| alone (with |W| > 1 it grows: exploding).

The section asks for the δ's the graph already has; what this module adds is
printed around them: the bound for each hidden activation (the section's
intro) and, on the solved sheet, a table and a log-scale plot of |δ⁽ˡ⁾| built
from the key's *printed* values, so every number in them can be recomputed
from the boxes above.  All of it is written in the spec's notation profile
(δ^[l], w^l_11, W_{l+1,11}, …), as the other sections are.
"""
from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from .notation import DEFAULT, Notation
from .numeric import Key, round_half_up

# activation → (its derivative's bound, and joined to it what the bound gives for |δ| one layer
# down) (LaTeX, no words: the sheet's words live in text.tex).  {step} is |δ⁽ˡ⁾₁|, {above}
# |W⁽ˡ⁺¹⁾₁₁| |δ⁽ˡ⁺¹⁾₁| and {z} z⁽ˡ⁾₁, filled in in the sheet's notation.
_IMPLIES = r" \;\Rightarrow\; "
_ACTIVE = r", \qquad {z} > 0 \;\Rightarrow\; {step} = {above}"
BOUNDS = {
    "sigmoid": (r"\sigma'(z) = \sigma(z)\bigl(1-\sigma(z)\bigr) \le \tfrac14", _IMPLIES + r"{step} \le \tfrac14\,{above}"),
    "tanh": (r"\tanh'(z) = 1-\tanh^2(z) \le 1", _IMPLIES + r"{step} \le {above}"),
    "relu": (r"\operatorname{ReLU}'(z) \in \{0, 1\}", _ACTIVE),
    "leaky_relu": (r"\operatorname{LReLU}'(z) \in \{0.01, 1\}", _ACTIVE),
    "linear": (r"g'(z) = 1", _IMPLIES + r"{step} = {above}"),
}


def _chain_symbols(n: Notation, l) -> dict[str, str]:
    """δ⁽ˡ⁾₁, W⁽ˡ⁺¹⁾₁₁, δ⁽ˡ⁺¹⁾₁, z⁽ˡ⁾₁ and g_l at layer l (a number, or "l"), as the profile writes them."""
    up = l + 1 if isinstance(l, int) else f"{l}+1"
    return {"delta": n.symbol(r"\delta", l, "1"), "W": n.weight(up, 1, 1), "delta_above": n.symbol(r"\delta", up, "1"),
            "z": n.symbol("z", l, "1"), "g": f"g_{l}" if len(str(l)) == 1 else f"g_{{{l}}}"}


def recursion(n: Notation = DEFAULT, l="l") -> str:
    """δ⁽ˡ⁾₁ = W⁽ˡ⁺¹⁾₁₁ δ⁽ˡ⁺¹⁾₁ g_l′(z⁽ˡ⁾₁): the chain's backward step, in the profile's notation."""
    s = _chain_symbols(n, l)
    return rf"{s['delta']} = {s['W']}\,{s['delta_above']}\,{s['g']}'\bigl({s['z']}\bigr)"


def bound(activation: str, n: Notation = DEFAULT, l="l", fact: bool = True) -> str:
    """The activation's derivative bound and what it gives for |δ⁽ˡ⁾₁| (only what it gives: ``fact`` False)."""
    s = _chain_symbols(n, l)
    given, gives = BOUNDS[activation]
    gives = gives.format(step=rf"\bigl|{s['delta']}\bigr|", z=s["z"],
                         above=rf"\bigl|{s['W']}\bigr|\,\bigl|{s['delta_above']}\bigr|")
    return given + gives if fact else gives.removeprefix(r", \qquad ").removeprefix(_IMPLIES)


def intro(activations: tuple[str, ...], notation: Notation = DEFAULT) -> str:
    """The section's recipe in the sheet's notation: the chain's recursion, then one bound per
    distinct hidden activation.

    Where the profile's letters name the layers (v, w, …) there is no weight of a general layer
    l: the recursion is written for each hidden layer, and each bound for each layer it applies to.
    """
    hidden = activations[:-1]  # the output layer's δ comes from the loss
    if not notation.per_layer_letters:
        lines = [recursion(notation)] + [bound(a, notation) for a in dict.fromkeys(hidden) if a in BOUNDS]
    else:
        lines = [recursion(notation, l) for l in range(1, len(hidden) + 1)]
        for a in dict.fromkeys(hidden):
            layers = [l for l, act in enumerate(hidden, start=1) if act == a]
            if a in BOUNDS:
                lines += [bound(a, notation, l, fact=(l == layers[0])) for l in layers]
    return r"\begin{gathered}" + r" \\[1mm] ".join(lines) + r"\end{gathered}"


def table_symbols(notation: Notation = DEFAULT) -> dict[str, str]:
    """δ⁽ˡ⁾₁ and δ⁽ˡ⁺¹⁾₁ as the profile writes them: the solved sheet's table and plot label them."""
    s = _chain_symbols(notation, "l")
    return {"delta": s["delta"], "delta_above": s["delta_above"]}


def delta_profile(key: Key, depth: int) -> list[dict]:
    """|δ⁽ˡ⁾| for l = 1 … L from the key's printed values, and the ratio |δ⁽ˡ⁾| / |δ⁽ˡ⁺¹⁾|.

    The ratio is computed exactly from the two printed values and rounded to
    the sheet's decimals, half up (None for the output layer, or above a δ of 0).
    """
    size = {l: abs(key[f"delta{l}_1"]) for l in range(1, depth + 1)}
    rows = []
    for l in range(1, depth + 1):
        above = size.get(l + 1)
        ratio = (round_half_up(Fraction(size[l]) / Fraction(above), key.decimals)
                 if above else None)
        rows.append({"layer": l, "size": size[l], "ratio": ratio})
    return rows


# ---------------------------------------------------------------- the plot, in mm

_PLOT_W, _PLOT_H = 62.0, 40.0   # the axes' box
_MAX_DECADES = 12               # a δ below 10⁻¹² of the largest is drawn on the axis


def profile_plot(rows: list[dict]) -> dict:
    """Coordinates for a log-scale plot of |δ⁽ˡ⁾| against l, for a ``picture`` in mm.

    Returns ``width``, ``height`` (the axes), ``box`` (the picture's size and origin),
    ``points`` (``layer``, ``x``, ``y``; a δ of 0 has none), ``segments``,
    ``xticks`` (``x``, ``label``) and ``yticks`` (``y``, ``exponent``: one per decade).
    """
    sizes = [Decimal(r["size"]) for r in rows]
    logs = [float(s.log10()) for s in sizes if s > 0]
    top = math.ceil(max(logs)) if logs else 0
    bottom = max(math.floor(min(logs)) if logs else top - 1, top - _MAX_DECADES)
    if bottom == top:
        bottom -= 1
    span = top - bottom
    xs = {r["layer"]: _PLOT_W * (k + 0.5) / len(rows) for k, r in enumerate(rows)}

    def y(log: float) -> float:
        return _PLOT_H * (max(log, bottom) - bottom) / span

    points = [{"layer": r["layer"], "x": _mm(xs[r["layer"]]), "y": _mm(y(float(s.log10())))}
              for r, s in zip(rows, sizes) if s > 0]
    return {
        "width": _mm(_PLOT_W), "height": _mm(_PLOT_H), "points": points,
        # the picture's box: the axes with their tick labels (left, below) and the y label (above)
        "box": {"width": _mm(_PLOT_W + 14), "height": _mm(_PLOT_H + 14), "x": _mm(-12), "y": _mm(-8)},
        # joined layer to layer; a δ of 0 (no point) breaks the line
        "segments": [{"x1": a["x"], "y1": a["y"], "x2": b["x"], "y2": b["y"]}
                     for a, b in zip(points, points[1:]) if b["layer"] == a["layer"] + 1],
        "xticks": [{"x": _mm(x), "label": l} for l, x in xs.items()],
        "yticks": [{"y": _mm(y(e)), "exponent": e} for e in range(bottom, top + 1)],
    }


def _mm(v: float) -> str:
    return f"{v:.2f}"


def section_extra(key: Key, depth: int, notation: Notation = DEFAULT) -> dict:
    """What the vanishing section adds to its context entry: the profile, its plot and their δ's symbols."""
    rows = delta_profile(key, depth)
    return {"profile": rows, "plot": profile_plot(rows), "symbols": table_symbols(notation)}
