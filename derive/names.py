"""The answer-name grammar of DESIGN.md: make, parse and order answer names.

Names are identifier-safe (``z1_2``, ``dW2_1_3``, ``new_b1_1``) so they serve
as SymPy symbol names, CSV columns and answer-box labels alike.  For a batch
of more than one example, quantities that belong to one example (z, a, ŷ,
δ, the example's loss) carry a suffix ``_s{n}`` (examples numbered from 1);
``loss`` and the gradients of a batch are the means over its examples.
"""
from __future__ import annotations

import re
from typing import NamedTuple

# kind → number of indices after the layer number (``loss`` has no layer)
_INDEX_COUNT = {"z": 1, "a": 1, "delta": 1, "dW": 2, "db": 1,
                "new_W": 2, "new_b": 1}
_ORDER = ["z", "a", "loss", "delta", "dW", "db", "new_W", "new_b"]
_PATTERN = re.compile(
    r"^(?P<kind>new_W|new_b|delta|dW|db|z|a|loss)"
    r"(?P<idx>(?:\d+(?:_\d+)*)?)(?:_s(?P<sample>\d+))?$")


class Name(NamedTuple):
    """A parsed answer name: kind, layer (0 for ``loss``), unit indices, example."""

    kind: str
    layer: int
    index: tuple[int, ...]
    sample: int | None = None

    def __str__(self) -> str:
        return make(self.kind, self.layer, *self.index, sample=self.sample)


def make(kind: str, layer: int = 0, *index: int, sample: int | None = None) -> str:
    """Build an answer name: ``make("dW", 2, 1, 3) == "dW2_1_3"``."""
    base = "loss" if kind == "loss" else f"{kind}{layer}" + "".join(f"_{i}" for i in index)
    return base if sample is None else f"{base}_s{sample}"


def parse(name: str) -> Name | None:
    """Parse an answer name, or return None when it is not one."""
    m = _PATTERN.match(name.strip())
    if not m:
        return None
    kind, sample = m["kind"], m["sample"]
    numbers = [int(n) for n in m["idx"].split("_")] if m["idx"] else []
    if kind == "loss":
        if numbers:
            return None
        return Name("loss", 0, (), int(sample) if sample else None)
    if len(numbers) != 1 + _INDEX_COUNT[kind] or min(numbers) < 1:
        return None
    return Name(kind, numbers[0], tuple(numbers[1:]), int(sample) if sample else None)


def sort_key(name: str) -> tuple:
    """Order names as a worksheet asks for them.

    Forward layer by layer (z then a), the loss, backward from the output
    down (δ, then ∂W, ∂b of that layer), then the update.
    """
    p = parse(name)
    if p is None:
        return (9, name)
    phase = {"z": 0, "a": 0, "loss": 1, "delta": 2, "dW": 2, "db": 2,
             "new_W": 3, "new_b": 3}[p.kind]
    layer = -p.layer if phase == 2 else p.layer
    # a batch: each example's quantities, then the batch's (mean) ones
    return (phase, p.sample or 10**6, layer, _ORDER.index(p.kind), p.index)


def expected(layers: tuple[int, ...], bias: bool = True, samples: int = 1) -> list[str]:
    """Every answer name for a network of these widths, in worksheet order."""
    per_sample: list[str] = []
    for l in range(1, len(layers)):
        for j in range(1, layers[l] + 1):
            per_sample += [make("z", l, j), make("a", l, j), make("delta", l, j)]
    batch = ["loss"]
    for l in range(1, len(layers)):
        for j in range(1, layers[l] + 1):
            batch += [make("dW", l, j, i) for i in range(1, layers[l - 1] + 1)]
            batch += [make("new_W", l, j, i) for i in range(1, layers[l - 1] + 1)]
            if bias:
                batch += [make("db", l, j), make("new_b", l, j)]
    if samples > 1:
        per_sample = [f"{n}_s{s}" for s in range(1, samples + 1) for n in per_sample + ["loss"]]
    return sorted(per_sample + batch, key=sort_key)


SECTION_KINDS = {
    "forward": ("z", "a"),
    "loss": ("loss",),
    "vanishing": ("delta",),  # δ layer by layer; "backward" then asks for the gradients
    "backward": ("delta", "dW", "db"),
    "update": ("new_W", "new_b"),
    "gradcheck": (),  # names of their own: derive.lab.section_names
    "training": (),
}


def in_sections(names: list[str], sections: tuple[str, ...]) -> list[str]:
    """The names a worksheet with these sections asks for, in order."""
    kinds = {k for s in sections for k in SECTION_KINDS[s]}
    keep = []
    for n in names:
        p = parse(n)
        # a batch's per-example loss belongs to the forward pass
        if p.kind in kinds or (p.kind == "loss" and p.sample and "forward" in sections):
            keep.append(n)
    return keep
