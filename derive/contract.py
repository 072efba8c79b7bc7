"""The contract students' backprop code follows, its array layouts, and the starting file.

Rows are examples by default, as NumPy courses write it (z = X W + b, W of shape
(n_in, n_out)); ``column`` is DESIGN.md's orientation (z = W a + b, one example per column).
The same table of functions gives the checker its signatures, the error messages their
"the contract expects", and ``derive init-code`` its stubs and docstrings.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

import numpy as np

from .spec import Network, Spec


@dataclass(frozen=True)
class Function:
    """One function of the contract: its name, arguments, what it returns, its docstring."""

    name: str
    args: tuple[str, ...]
    returns: str
    doc: str

    def signature(self) -> str:
        return f"{self.name}({', '.join(self.args)}) -> {self.returns}"


@dataclass(frozen=True)
class Convention:
    """How arrays are laid out: rows are examples (z = X W + b, NumPy courses) or columns are
    (z = W a + b, DESIGN.md's notation).  Converts derive's arrays, which follow the column
    convention for W (n_l, n_{l−1}) and keep one example per row for X and ŷ."""

    name: str
    rows: bool

    def weights(self, W: np.ndarray) -> np.ndarray:
        return W.T if self.rows else W

    def bias(self, b: np.ndarray) -> np.ndarray:
        return b if self.rows else b[:, None]

    def examples(self, M: np.ndarray) -> np.ndarray:
        return M if self.rows else M.T

    def shapes(self, net: Network) -> list[str]:
        """The layout, for docstrings and the starting file."""
        if self.rows:
            return ["X      (N, n_0)           one example per row", "Y      (N, n_L)",
                    "W{l}   (n_{l-1}, n_l)     z{l} = a{l-1} @ W{l} + b{l}, a0 = X",
                    "b{l}   (n_l,)", "yhat   (N, n_L)           yhat = a{L}"]
        return ["X      (n_0, N)           one example per column", "Y      (n_L, N)",
                "W{l}   (n_l, n_{l-1})     z{l} = W{l} @ a{l-1} + b{l}, a0 = X",
                "b{l}   (n_l, 1)", "yhat   (n_L, N)           yhat = a{L}"]


CONVENTIONS = {"row": Convention("row", True), "column": Convention("column", False)}

CONTRACT = (
    Function("forward", ("X", "params"), "(yhat, cache)",
             "The forward pass of the batch X.\n\nparams is a dict W1, b1, W2, b2, ...  Return yhat, the output "
             "layer's activations, and a cache: anything your backward pass needs (z's and a's), passed back "
             "to backward unchanged."),
    Function("loss", ("yhat", "Y"), "float",
             "The loss of the batch: the mean over its examples of each example's loss."),
    Function("backward", ("X", "Y", "params", "cache"), "grads",
             "The gradients of the batch's loss.\n\nReturn a dict dW1, db1, dW2, db2, ...: each the mean over "
             "the examples, with the shape of its parameter."),
    Function("update", ("params", "grads", "lr"), "params",
             "One step of gradient descent with learning rate lr: a dict W1, b1, ... of the new parameters."),
)
ARITY = {f.name: len(f.args) for f in CONTRACT}


def contract_text() -> str:
    """The contract as one line, for error messages."""
    return "; ".join(f.signature() for f in CONTRACT)



def _sheet_lines(spec: Spec, conv: Convention) -> list[str]:
    """The sheet's network and notation, as comment-free docstring lines."""
    net = spec.network
    acts = ", ".join(f"layer {l}: {a}" for l, a in enumerate(net.activations, start=1))
    return [f"Network {'-'.join(map(str, net.layers))} ({acts}); loss {net.loss}, "
            f"{'with' if net.bias else 'without'} biases; learning rate {spec.exercise.learning_rate:g}.",
            "", f"Arrays ({'rows' if conv.rows else 'columns'} are examples; N examples, n_l units in layer l):",
            *("    " + line for line in conv.shapes(net)),
            "", "delta{l} = dL/dz{l}; the gradients dW{l}, db{l} are means over the batch and have the",
            "shapes of W{l}, b{l}.  The sheet's answer names: z1_1, a1_1, loss, delta1_1, dW1_1_1, ...",
            "(dW{l}_{j}_{i} is the derivative for the weight from unit i of layer l-1 to unit j of layer l)."]


def starting_file(spec: Spec, convention: str = "row") -> str:
    """The students' starting file: the contract's stubs and docstrings, and the sheet's notation."""
    conv = CONVENTIONS[convention]
    head = [f'"""{spec.title or "Backpropagation"}: implement the four functions below with NumPy.', "",
            *_sheet_lines(spec, conv), "",
            f"Check your code with:  derive check-code THIS_FILE --spec {spec.path}", '"""',
            "import numpy as np", ""]
    body = []
    for f in CONTRACT:
        paragraphs = [textwrap.fill(p, 92, initial_indent="    ", subsequent_indent="    ")
                      for p in f.doc.split("\n\n") + [f"Returns {f.returns}."]]
        doc = "\n\n".join(paragraphs).lstrip()
        body += ["", f"def {f.name}({', '.join(f.args)}):", f'    """{doc}\n    """',
                 "    raise NotImplementedError", ""]
    return "\n".join(head + body).rstrip() + "\n"
