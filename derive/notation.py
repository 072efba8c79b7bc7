"""Notation profiles: how a sheet writes the network's symbols, and nothing else.

A :class:`Notation` changes what is *printed* (W⁽ˡ⁾ or W^[l], z = Wa + b or
z = aW + b, W_ji or w_ij, v and w per layer); the graph, the answer names
(DESIGN.md) and the key are the same mathematics under every profile.

Internally a weight is always ``W{l}_{j}_{i}``: layer l, to unit j, from unit i
(the column convention's row j, column i).  A profile only says how that
entry is written and where it stands in the printed matrix:

- ``orientation``: ``column`` z = W a + b, W of shape (n_l, n_{l−1});
  ``row`` z = a W + b, W of shape (n_{l−1}, n_l) (the transpose is printed);
  ``linear`` z = a Wᵀ + b with W of shape (n_l, n_{l−1}), as
  ``torch.nn.Linear`` stores its weight.
- ``weights``: ``to-from`` (W_ji: to unit j, from unit i) or ``from-to``
  (w_ij: from unit i to unit j).
- ``layer``: the layer's mark: ``(l)`` W^{(1)}, ``[l]`` W^{[1]}, ``l`` W^{1},
  ``sub`` W_{1}, or ``none`` (a network with one weight layer only).
- ``letters``: the weights' letter, one for every layer (``["w"]``) or one
  per layer (``["v", "w"]``: the letter names the layer, so a weight has no
  layer mark, and a weight into a single output unit has one index, w_j).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

ORIENTATIONS = ("column", "row", "linear")
WEIGHT_ORDERS = ("to-from", "from-to")
LAYER_STYLES = ("(l)", "[l]", "l", "sub", "none")
KEYS = ("preset", "orientation", "weights", "layer", "letters")


@dataclass(frozen=True)
class Notation:
    """A notation profile (see the module's docstring); the default is derive's own."""

    orientation: str = "column"
    weights: str = "to-from"
    layer: str = "(l)"
    letters: tuple[str, ...] = ()
    preset: str = ""

    def __repr__(self) -> str:
        return (f"Notation({self.preset or 'custom'}: {self.orientation}, {self.weights}, "
                f"layer {self.layer}, letters {list(self.letters) or ['W']})")

    @property
    def row(self) -> bool:
        """Vectors are rows (z = aW + b or a Wᵀ + b)."""
        return self.orientation != "column"

    @property
    def transposed(self) -> bool:
        """The printed weight matrix is the transpose of derive's (n_l, n_{l−1}) one."""
        return self.orientation == "row"

    @property
    def per_layer_letters(self) -> bool:
        return len(self.letters) > 1

    # --- symbols ------------------------------------------------------------------

    def mark(self, layer) -> tuple[str, str]:
        """(superscript, subscript prefix) marking a layer: ("(2)", ""), or ("", "2") for ``sub``."""
        return {"(l)": (f"({layer})", ""), "[l]": (f"[{layer}]", ""), "l": (f"{layer}", ""),
                "sub": ("", f"{layer}"), "none": ("", "")}[self.layer]

    def symbol(self, head: str, layer=None, sub: str = "", extra: str = "", sample=None) -> str:
        """head with its layer mark, subscript, an extra superscript (``\\text{new}``) and example.

        Default notation: ``symbol("z", 1, "2", sample=3)`` → z^{(1)[3]}_{2}. An
        example's mark is [s], or (s) beside a [l] layer mark, as Ng writes z^{[l](i)}.
        """
        sup, pre = self.mark(layer) if layer is not None else ("", "")
        sup = ",".join(p for p in (sup, extra) if p)
        if sample is not None:
            sup += f"({sample})" if self.layer == "[l]" else f"[{sample}]"
        sub = ",".join(p for p in (pre, sub) if p)
        return head + (f"^{{{sup}}}" if sup else "") + (f"_{{{sub}}}" if sub else "")

    def weight_letter(self, layer: int) -> str:
        if not self.letters:
            return "W"
        return self.letters[layer - 1] if self.per_layer_letters else self.letters[0]

    def weight_matrix(self, layer) -> str:
        """The symbol of a whole weight matrix: W^{(l)}, W^{[2]}, v (layer: a number, or "l", "l+1")."""
        if self.per_layer_letters:
            return self.weight_letter(layer) if isinstance(layer, int) else "W"
        return self.symbol(self.weight_letter(1), layer)

    def weight(self, layer: int, to: int, frm: int, extra: str = "") -> str:
        """One weight, from unit ``frm`` of layer l−1 to unit ``to`` of layer l: W^{(l)}_{ji}, w_{ij}, v_{ij}."""
        index = f"{to}{frm}" if self.weights == "to-from" else f"{frm}{to}"
        return self.symbol(self.weight_letter(layer), None if self.per_layer_letters else layer, index, extra)

    def vector(self, kind: str, layer, sub: str = "") -> str:
        """z^{(l)}, a^{(l-1)}, δ^{(l+1)}, b^{(l)}: a layer's vector (or its entry ``sub``)."""
        return self.symbol({"delta": r"\delta"}.get(kind, kind), layer, sub)

    def symbols(self, layers) -> dict:
        """The templates' ``symbols``: what the given block and the diagram print per layer (LaTeX)."""
        depth = len(layers) - 1
        return {"row": self.row, "transposed": self.transposed,
                "W": [self.weight_matrix(l) for l in range(1, depth + 1)],
                "b": [self.vector("b", l) for l in range(1, depth + 1)],
                "a": [[self.vector("a", l, str(j)) for j in range(1, n + 1)] for l, n in enumerate(layers)]}

    # --- the rules, as a sheet's introductions and the derivation print them ----------

    def _layers(self, depth: int) -> list:
        """The layers a rule is written for: "l" (every layer), or each one when the letters name them."""
        return list(range(1, depth + 1)) if self.per_layer_letters else ["l"]

    @staticmethod
    def _below(l, off: int):
        """Layer l + off: a number, or "l-1", "l+1" in a general rule."""
        return l + off if isinstance(l, int) else f"l{off:+d}"

    def forward(self, depth: int, bias: bool, first: bool = True) -> str:
        """z = W a + b (or a W + b, a Wᵀ + b), a = g(z), a^{(0)} = x."""
        parts = []
        for l in self._layers(depth):
            W, a = self.weight_matrix(l), self.vector("a", self._below(l, -1))
            if l == 1:
                a = "x"
            product = {"column": f"{W} {a}", "row": f"{a} {W}", "linear": rf"{a} {{{W}}}^{{\top}}"}[self.orientation]
            b = f" + {self.vector('b', l)}" if bias else ""
            parts.append(f"{self.vector('z', l)} = {product}{b}, \\qquad "
                         rf"{self.vector('a', l)} = {_g(l)}\bigl({self.vector('z', l)}\bigr)")
        if first and not self.per_layer_letters:
            parts.append(f"{self.vector('a', 0)} = x")
        return r", \qquad ".join(parts)

    def hidden_delta(self, depth: int) -> str:
        """δ⁽ˡ⁾ from δ⁽ˡ⁺¹⁾: (W⁽ˡ⁺¹⁾)ᵀ δ⁽ˡ⁺¹⁾ ⊙ g′ in column form, δ⁽ˡ⁺¹⁾ (W⁽ˡ⁺¹⁾)ᵀ in row form."""
        parts = []
        for l in (self._layers(depth - 1) if depth > 1 else ["l"]):
            up = self._below(l, 1)
            W, d = self.weight_matrix(up), self.vector("delta", up)
            product = {"column": rf"\bigl({W}\bigr)^{{\top}}{d}", "row": rf"{d} \bigl({W}\bigr)^{{\top}}",
                       "linear": f"{d} {W}"}[self.orientation]
            parts.append(rf"{self.vector('delta', l)} = {product} \odot {_g(l)}'\bigl({self.vector('z', l)}\bigr)")
        return r", \qquad ".join(parts)

    def gradients(self, depth: int, bias: bool) -> str:
        """∂L/∂W = δ aᵀ (column), aᵀ δ (row), δᵀ a (linear); ∂L/∂b = δ."""
        parts = []
        for l in self._layers(depth):
            d, a = self.vector("delta", l), self.vector("a", self._below(l, -1)) if l != 1 else "x"
            product = {"column": rf"{d} \bigl({a}\bigr)^{{\top}}", "row": rf"\bigl({a}\bigr)^{{\top}} {d}",
                       "linear": rf"\bigl({d}\bigr)^{{\top}} {a}"}[self.orientation]
            parts.append(rf"\frac{{\partial L}}{{\partial {self.weight_matrix(l)}}} = {product}")
            if bias:
                parts.append(rf"\frac{{\partial L}}{{\partial {self.vector('b', l)}}} = {d}")
        return r", \qquad ".join(parts)

    def gradient_entries(self, depth: int) -> str:
        """∂L/∂W_ji = δ_j a_i, in the profile's index order."""
        parts = []
        for l in self._layers(depth):
            below = "l-1" if l == "l" else l - 1
            d = self.symbol(r"\delta", l, "j")
            a = self.symbol("a", below, "i") if below != 0 else "x_i"
            head = self.weight_letter(l) if isinstance(l, int) else self.weight_letter(1)
            index = "ji" if self.weights == "to-from" else "ij"
            w = self.symbol(head, None if self.per_layer_letters else l, index)
            product = f"{d} {a}" if self.weights == "to-from" else f"{a} {d}"
            parts.append(rf"\frac{{\partial L}}{{\partial {w}}} = {product}")
        return r", \qquad ".join(parts)

    def update(self, depth: int, bias: bool) -> str:
        """W ← W − η ∂L/∂W (and b)."""
        parts = []
        for l in self._layers(depth):
            for p in [self.weight_matrix(l)] + ([self.vector("b", l)] if bias else []):
                parts.append(rf"{p} \leftarrow {p} - \eta\, \frac{{\partial L}}{{\partial {p}}}")
        return r", \qquad ".join(parts)

    def intro(self, section: str, depth: int, bias: bool) -> str | None:
        """A section's introduction (the general rule) in this notation; None for other sections."""
        if section == "forward":
            return self.forward(depth, bias)
        if section == "backward":
            return r", \qquad ".join([self.hidden_delta(depth), self.gradients(depth, bias)])
        if section == "update":
            return self.update(depth, bias)
        return None


def _g(l) -> str:
    """g_l, the activation of layer l (braces only for a two-digit layer)."""
    return f"g_{l}" if len(str(l)) == 1 else f"g_{{{l}}}"


DEFAULT = Notation()
"""derive's own notation: column vectors, W⁽ˡ⁾_ji, (l) superscripts."""

PRESETS: dict[str, Notation] = {
    # Nielsen, Neural Networks and Deep Learning, ch. 2: w^l_{jk} from neuron k of layer l−1 to
    # neuron j of layer l; a^l = σ(w^l a^{l−1} + b^l); a bare superscript l
    "nielsen": Notation("column", "to-from", "l", ("w",), "nielsen"),
    # Ng, deeplearning.ai: z^{[l]} = W^{[l]} a^{[l−1]} + b^{[l]}, W^{[l]} of shape (n^{[l]}, n^{[l−1]})
    "ng": Notation("column", "to-from", "[l]", (), "ng"),
    # CS231n: h = X W1 + b1 with W1 of shape (D, H); the layer as a subscript, W_1
    "cs231n": Notation("row", "from-to", "sub", (), "cs231n"),
    # d2l (Dive into Deep Learning): H = σ(X W^{(1)} + b^{(1)}), W^{(1)} ∈ R^{d×h}
    "d2l": Notation("row", "from-to", "(l)", (), "d2l"),
    # PyTorch: nn.Linear stores weight (out_features, in_features) and computes y = x Wᵀ + b
    "pytorch": Notation("linear", "to-from", "(l)", (), "pytorch"),
}
"""The shipped presets, by name (the README's table says which is which)."""


def make(preset: str = "", **keys) -> Notation:
    """A profile: a preset (or derive's default) with some keys overridden."""
    base = PRESETS[preset] if preset else DEFAULT
    return replace(base, **keys)
