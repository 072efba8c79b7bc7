"""The vocabulary of the mathematics: one registry of activations, one of losses.

Each entry carries the SymPy form, the derivative as the textbook writes it
(σ′(z) = a(1−a), not the expanded exponential), its LaTeX, and the stable
NumPy implementation lambdify maps the SymPy function to.  The spec
validator, the symbolic stage, the numeric stage and the templates all read
these tables, so a new activation is one new row.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy as sp

LEAK = sp.Rational(1, 100)  # leaky ReLU slope for z ≤ 0, as DESIGN.md fixes it


# --- SymPy functions whose derivative is known, printed as a teacher would ---

class _Real(sp.Function):
    """A function that is real for real arguments (so |f| differentiates to sign(f) f′)."""

    def _eval_is_real(self):
        return all(a.is_real for a in self.args) or None


class sigmoid(_Real):
    """σ(z) = 1/(1+e^(−z)); σ′(z) = σ(z)(1−σ(z))."""

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    @classmethod
    def eval(cls, z):
        if z.is_Number:
            return 1 / (1 + sp.exp(-z))

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return 1 / (1 + sp.exp(-z))


class step(_Real):
    """ReLU′: 1 for z > 0, else 0 (so ReLU′(0) = 0, as DESIGN.md fixes)."""

    def fdiff(self, argindex=1):
        return sp.S.Zero

    @classmethod
    def eval(cls, z):
        if z.is_Number:
            return sp.S.One if z > 0 else sp.S.Zero


class relu(_Real):
    """ReLU(z) = max(0, z)."""

    def fdiff(self, argindex=1):
        return step(self.args[0])

    @classmethod
    def eval(cls, z):
        if z.is_Number:
            return z if z > 0 else sp.S.Zero


class leaky_step(_Real):
    """Leaky ReLU′: 1 for z > 0, else 0.01."""

    def fdiff(self, argindex=1):
        return sp.S.Zero

    @classmethod
    def eval(cls, z):
        if z.is_Number:
            return sp.S.One if z > 0 else LEAK


class leaky_relu(_Real):
    """Leaky ReLU(z) = z for z > 0, else 0.01·z."""

    def fdiff(self, argindex=1):
        return leaky_step(self.args[0])

    @classmethod
    def eval(cls, z):
        if z.is_Number:
            return z if z > 0 else LEAK * z


class softplus(_Real):
    """softplus(z) = log(1 + e^z), used for a BCE that stays finite at z = ±1000."""

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_log(self, z, **kwargs):
        return sp.log(1 + sp.exp(z))


class logsumexp(_Real):
    """log Σ_k e^(z_k), used for a CCE that stays finite at z = ±1000."""

    def fdiff(self, argindex=1):
        return sp.exp(self.args[argindex - 1]) / sum(sp.exp(a) for a in self.args)

    def _eval_rewrite_as_log(self, *z, **kwargs):
        return sp.log(sum(sp.exp(a) for a in z))


# --- stable NumPy versions, the targets of lambdify ---------------------------

def np_sigmoid(z):
    """σ(z) = exp(−softplus(−z)): accurate in both tails and never overflows."""
    return np.exp(-np.logaddexp(0.0, np.negative(z, dtype=float)))


def np_softplus(z):
    """log(1 + e^z), finite for any z."""
    return np.logaddexp(0.0, z)


def np_logsumexp(*z):
    zs = np.stack(np.broadcast_arrays(*[np.asarray(v, dtype=float) for v in z]))
    m = zs.max(axis=0)
    return m + np.log(np.exp(zs - m).sum(axis=0))


NUMPY_FUNCTIONS = {
    "sigmoid": np_sigmoid,
    "relu": lambda z: np.maximum(z, 0.0),
    "step": lambda z: (np.asarray(z) > 0).astype(float),
    "leaky_relu": lambda z: np.where(np.asarray(z) > 0, z, 0.01 * np.asarray(z)),
    "leaky_step": lambda z: np.where(np.asarray(z) > 0, 1.0, 0.01),
    "softplus": np_softplus,
    "logsumexp": np_logsumexp,
}
"""Module mapping for ``sympy.lambdify``: our SymPy functions → stable NumPy."""

LAMBDIFY_MODULES = [NUMPY_FUNCTIONS, "numpy"]


# --- the same for Python floats: one small exercise is fastest without NumPy ------

def _scalar_exp(z: float) -> float:
    return math.exp(z) if z < 709.0 else math.inf


def _scalar_log(v: float) -> float:
    return math.log(v) if v > 0 else (-math.inf if v == 0 else math.nan)


def _scalar_sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _scalar_softplus(z: float) -> float:
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def _scalar_logsumexp(*z: float) -> float:
    m = max(z)
    return m + math.log(sum(math.exp(v - m) for v in z))


SCALAR_FUNCTIONS = {
    "sigmoid": _scalar_sigmoid,
    "relu": lambda z: z if z > 0 else 0.0,
    "step": lambda z: 1.0 if z > 0 else 0.0,
    "leaky_relu": lambda z: z if z > 0 else 0.01 * z,
    "leaky_step": lambda z: 1.0 if z > 0 else 0.01,
    "softplus": _scalar_softplus,
    "logsumexp": _scalar_logsumexp,
    "exp": _scalar_exp,
    "log": _scalar_log,
    "sign": lambda v: float((v > 0) - (v < 0)),
}
"""Module mapping for ``sympy.lambdify`` on Python floats (overflow gives inf, not an exception)."""

SCALAR_MODULES = [SCALAR_FUNCTIONS, "math"]


# --- the registries -----------------------------------------------------------

@dataclass(frozen=True)
class Activation:
    """One activation g: its SymPy form, derivative and notation.

    ``g(zs, j)`` gives a_j from the layer's pre-activations (a list, so that
    softmax can see them all); ``derivative(z, a)`` gives g′ written as the
    textbook writes it, in z and a = g(z) (None for softmax, whose derivative
    is a Jacobian handled by the symbolic stage).
    """

    name: str
    g: Callable[[list, int], sp.Expr]
    derivative: Callable[[sp.Symbol, sp.Symbol], sp.Expr] | None
    latex: str           # the symbol printed for g, e.g. \sigma
    derivative_latex: str  # g′ as a formula in z and a, e.g. a(1-a)
    output_only: bool = False
    bounded: bool = False  # output in (0, 1) or (−1, 1): saturates for large |z|
    kinked: bool = False   # has a kink at z = 0


def _elementwise(f):
    return lambda zs, j: f(zs[j])


ACTIVATIONS: dict[str, Activation] = {a.name: a for a in [
    Activation("sigmoid", _elementwise(sigmoid), lambda z, a: a * (1 - a),
               r"\sigma", r"\sigma'(z) = \sigma(z)\,\bigl(1-\sigma(z)\bigr) = a\,(1-a)",
               bounded=True),
    Activation("tanh", _elementwise(sp.tanh), lambda z, a: 1 - a**2,
               r"\tanh", r"\tanh'(z) = 1-\tanh^2(z) = 1-a^2", bounded=True),
    Activation("relu", _elementwise(relu), lambda z, a: step(z),
               r"\operatorname{ReLU}",
               r"\operatorname{ReLU}'(z) = 1 \text{ if } z>0 \text{, else } 0", kinked=True),
    Activation("leaky_relu", _elementwise(leaky_relu), lambda z, a: leaky_step(z),
               r"\operatorname{LReLU}",
               r"\operatorname{LReLU}'(z) = 1 \text{ if } z>0 \text{, else } 0.01", kinked=True),
    Activation("linear", _elementwise(lambda z: z), lambda z, a: sp.S.One,
               r"\operatorname{id}", r"g'(z) = 1"),
    Activation("softmax", lambda zs, j: sp.exp(zs[j]) / sum(sp.exp(z) for z in zs), None,
               r"\operatorname{softmax}",
               r"\frac{\partial a_k}{\partial z_j} = a_k\,(\mathbf{1}[k=j] - a_j)",
               output_only=True),
]}


@dataclass(frozen=True)
class Loss:
    """One loss: its per-example SymPy form in ŷ and y, and its notation.

    ``per_example(yhat, y)`` is the loss of one example (a batch takes the mean
    over examples).  ``logit_form`` gives the same loss in the output layer's
    pre-activations z for the output activation named as key, written with
    softplus/logsumexp so that it stays finite for |z| up to 1000; tests prove
    each equal to ``per_example`` composed with the activation.
    """

    name: str
    per_example: Callable[[list, list], sp.Expr]
    latex: str
    outputs: tuple[str, ...] | None = None  # output activations it requires
    logit_form: dict = None  # activation name → f(zs, y)
    targets: str = "unit"  # "unit": every y in [0, 1]; "distribution": y ≥ 0, Σy = 1; "real"


def _mean(terms):
    return sp.Add(*terms) / len(terms)


LOSSES: dict[str, Loss] = {l.name: l for l in [
    Loss("bce",
         lambda yh, y: _mean([-(t * sp.log(p) + (1 - t) * sp.log(1 - p)) for p, t in zip(yh, y)]),
         r"L = -\frac{1}{n}\sum_{k=1}^{n}\bigl[y_k \ln \hat{y}_k + (1-y_k)\ln(1-\hat{y}_k)\bigr]",
         outputs=("sigmoid",),
         logit_form={"sigmoid": lambda zs, y: _mean([softplus(z) - t * z for z, t in zip(zs, y)])}),
    Loss("mse", lambda yh, y: _mean([(p - t) ** 2 for p, t in zip(yh, y)]),
         r"L = \frac{1}{n}\sum_{k=1}^{n}(\hat{y}_k - y_k)^2", targets="real"),
    Loss("half_mse", lambda yh, y: sp.Rational(1, 2) * sp.Add(*[(p - t) ** 2 for p, t in zip(yh, y)]),
         r"L = \frac{1}{2}\sum_{k=1}^{n}(\hat{y}_k - y_k)^2", targets="real"),
    Loss("mae", lambda yh, y: _mean([sp.Abs(p - t) for p, t in zip(yh, y)]),
         r"L = \frac{1}{n}\sum_{k=1}^{n}\lvert\hat{y}_k - y_k\rvert", targets="real"),
    Loss("cce", lambda yh, y: -sp.Add(*[t * sp.log(p) for p, t in zip(yh, y)]),
         r"L = -\sum_{k=1}^{n} y_k \ln \hat{y}_k",
         outputs=("softmax",), targets="distribution",
         logit_form={"softmax": lambda zs, y: sp.Add(*[t * (logsumexp(*zs) - z) for z, t in zip(zs, y)])}),
]}
