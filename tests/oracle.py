"""Independent routes to every number: a hand-written NumPy MLP, finite
differences on it, and PyTorch autograd.  Nothing here imports derive's
numeric or symbolic stages, so agreement with them means something.
"""
from __future__ import annotations

import numpy as np

try:
    import torch
except ImportError:  # the oracle is optional off CI
    torch = None


def act(name, z):
    if name == "sigmoid":
        return 0.5 * (1 + np.tanh(0.5 * z))  # another stable form than derive's
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    if name == "linear":
        return z.copy()
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)


def act_prime(name, z):
    """g′(z) written straight from the definitions (not in terms of a)."""
    if name == "sigmoid":
        s = act("sigmoid", z)
        return s - s * s
    if name == "tanh":
        return 1 / np.cosh(z) ** 2
    if name == "relu":
        return (z > 0).astype(float)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, 0.01)
    if name == "linear":
        return np.ones_like(z)
    raise ValueError(name)


def loss_per_example(loss, yhat, y):
    n = yhat.shape[1]
    if loss == "bce":
        return -(y * np.log(yhat) + (1 - y) * np.log(1 - yhat)).sum(axis=1) / n
    if loss == "mse":
        return ((yhat - y) ** 2).sum(axis=1) / n
    if loss == "half_mse":
        return 0.5 * ((yhat - y) ** 2).sum(axis=1)
    if loss == "mae":
        return np.abs(yhat - y).sum(axis=1) / n
    if loss == "cce":
        return -(y * np.log(yhat)).sum(axis=1)
    raise ValueError(loss)


def dloss_dyhat(loss, yhat, y):
    n = yhat.shape[1]
    return {"bce": lambda: (yhat - y) / (yhat * (1 - yhat)) / n,
            "mse": lambda: 2 * (yhat - y) / n,
            "half_mse": lambda: yhat - y,
            "mae": lambda: np.sign(yhat - y) / n,
            "cce": lambda: -y / yhat}[loss]()


def mlp(layers, activations, loss, W, b, X, Y):
    """Forward and backward pass by hand.  Returns dict with zs, as, losses, deltas, dW, db."""
    X, Y = np.asarray(X, float), np.asarray(Y, float)
    zs, As = [], [X]
    for l, Wl in enumerate(W):
        z = As[-1] @ np.asarray(Wl).T + (np.asarray(b[l]) if b is not None else 0)
        zs.append(z)
        As.append(act(activations[l], z))
    yhat = As[-1]
    g = dloss_dyhat(loss, yhat, Y)
    if activations[-1] == "softmax":  # δ_j = Σ_k g_k ŷ_k (1[k=j] − ŷ_j), per example
        deltas = [np.einsum("sk,skj->sj", g, np.einsum("sk,kj->skj", yhat, np.eye(yhat.shape[1]))
                            - np.einsum("sk,sj->skj", yhat, yhat))]
    else:
        deltas = [g * act_prime(activations[-1], zs[-1])]
    for l in range(len(W) - 2, -1, -1):
        deltas.insert(0, (deltas[0] @ np.asarray(W[l + 1])) * act_prime(activations[l], zs[l]))
    n = len(X)
    dW = [D.T @ A / n for D, A in zip(deltas, As[:-1])]
    db = [D.mean(axis=0) for D in deltas] if b is not None else None
    return {"zs": zs, "as": As, "losses": loss_per_example(loss, yhat, Y), "deltas": deltas, "dW": dW, "db": db}


def mean_loss(layers, activations, loss, W, b, X, Y):
    X, Y = np.asarray(X, float), np.asarray(Y, float)
    A = X
    for l, Wl in enumerate(W):
        A = act(activations[l], A @ np.asarray(Wl).T + (np.asarray(b[l]) if b is not None else 0))
    return loss_per_example(loss, A, Y).mean()


def finite_differences(layers, activations, loss, W, b, X, Y, h=1e-5):
    """Central differences of the mean loss for every W and b entry."""
    W = [np.array(w, float) for w in W]
    b = [np.array(v, float) for v in b] if b is not None else None
    f = lambda: mean_loss(layers, activations, loss, W, b, X, Y)
    out_W, out_b = [], []
    for arrs, out in ((W, out_W), (b or [], out_b)):
        for arr in arrs:
            g = np.zeros_like(arr)
            for idx in np.ndindex(arr.shape):
                old = arr[idx]
                arr[idx] = old + h
                up = f()
                arr[idx] = old - h
                down = f()
                arr[idx] = old
                g[idx] = (up - down) / (2 * h)
            out.append(g)
    return out_W, (out_b if b is not None else None)


def torch_gradients(layers, activations, loss, W, b, X, Y):
    """Autograd in float64: (loss, dW list, db list or None, per-layer z, a)."""
    Wt = [torch.tensor(np.asarray(w, float), dtype=torch.float64, requires_grad=True) for w in W]
    bt = ([torch.tensor(np.asarray(v, float), dtype=torch.float64, requires_grad=True) for v in b]
          if b is not None else None)
    A = torch.tensor(np.asarray(X, float), dtype=torch.float64)
    Yt = torch.tensor(np.asarray(Y, float), dtype=torch.float64)
    fns = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
           "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
           "linear": lambda z: z, "softmax": lambda z: torch.softmax(z, dim=1)}
    for l, w in enumerate(Wt):
        A = fns[activations[l]](A @ w.T + (bt[l] if bt is not None else 0))
    n = A.shape[1]
    per = {"bce": lambda: -(Yt * torch.log(A) + (1 - Yt) * torch.log(1 - A)).sum(1) / n,
           "mse": lambda: ((A - Yt) ** 2).sum(1) / n,
           "half_mse": lambda: 0.5 * ((A - Yt) ** 2).sum(1),
           "mae": lambda: (A - Yt).abs().sum(1) / n,
           "cce": lambda: -(Yt * torch.log(A)).sum(1)}[loss]()
    L = per.mean()
    L.backward()
    return (float(L.detach()), [w.grad.numpy() for w in Wt],
            [v.grad.numpy() for v in bt] if bt is not None else None)


def rel_err(a, b, floor=1e-8):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor), initial=0.0))


# --- the worksheet's boxes, by exact arithmetic and the rounding rule ------------------------
#
# A second, NumPy-free route: every number is a fractions.Fraction, so sums, products,
# quotients and comparisons are exact; only exp and ln are approximated, by the decimal
# module at _PREC significant digits (far below any rounding a worksheet asks for).

import functools
from decimal import Decimal, localcontext
from fractions import Fraction

_PREC = 60


class _Undefined(ArithmeticError):
    """ln of a non-positive number."""


def _exact(v) -> Fraction:
    """A given number as the decimal it is written as (0.1 is 1/10, not the nearest double)."""
    if isinstance(v, (int, Fraction, Decimal)):
        return Fraction(v)
    return Fraction(Decimal(repr(float(v))))


def _to_decimal(q: Fraction) -> Decimal:
    return Decimal(q.numerator) / Decimal(q.denominator)  # rounded to the local context


def _exp(q: Fraction) -> Fraction:
    with localcontext(prec=_PREC):
        return Fraction(_to_decimal(q).exp())


def _ln(q: Fraction) -> Fraction:
    if q <= 0:
        raise _Undefined
    with localcontext(prec=_PREC):
        return Fraction(_to_decimal(q).ln())


def round_half_away(q: Fraction, decimals: int) -> Fraction:
    """q to `decimals` places, ties away from zero, decided exactly (−0.125 → −0.13)."""
    scale = Fraction(10) ** decimals
    n = int(abs(q) * scale + Fraction(1, 2))  # floor, as the operand is ≥ 0
    return (n if q > 0 else -n) / scale       # n == 0 gives plain 0: never "-0"


def _boxed(q: Fraction, decimals: int) -> Decimal:
    """An already rounded q written with exactly `decimals` places: Decimal("-0.7400")."""
    return Decimal(f"{int(q * Fraction(10) ** decimals)}E{-decimals}")


def _leaves(v):
    if isinstance(v, (list, tuple)):
        for item in v:
            yield from _leaves(item)
    else:
        yield v


def _partial(f):
    """None in → None out, and an undefined step (ln x ≤ 0, division by 0) gives None:
    a quantity that cannot be computed leaves out everything computed from it."""
    @functools.wraps(f)
    def g(*args):
        if any(v is None for v in _leaves(args)):
            return None
        try:
            return f(*args)
        except (_Undefined, ZeroDivisionError):
            return None
    return g


def _g(name, z: Fraction) -> Fraction:
    """An elementwise activation a = g(z)."""
    if name == "sigmoid":
        return 1 / (1 + _exp(-z))
    if name == "tanh":
        e = _exp(2 * z)  # tanh z = (e^{2z} − 1)/(e^{2z} + 1)
        return (e - 1) / (e + 1)
    if name == "relu":
        return z if z > 0 else Fraction(0)
    if name == "leaky_relu":
        return z if z > 0 else z / 100
    if name == "linear":
        return z
    raise ValueError(f"unknown activation {name!r}")


def _softmax(z: list[Fraction]) -> list[Fraction]:
    e = [_exp(zk) for zk in z]
    return [ek / sum(e) for ek in e]


def _g_prime(name, z: Fraction, a: Fraction) -> Fraction:
    """g′ as the worksheet writes it: in a for sigmoid/tanh, from z for the piecewise ones."""
    if name == "sigmoid":
        return a * (1 - a)
    if name == "tanh":
        return 1 - a * a
    if name == "relu":
        return Fraction(1) if z > 0 else Fraction(0)  # ReLU′(0) = 0
    if name == "leaky_relu":
        return Fraction(1) if z > 0 else Fraction(1, 100)
    if name == "linear":
        return Fraction(1)
    raise ValueError(f"no elementwise derivative for {name!r}")


@_partial
def _example_loss(loss, yhat, y) -> Fraction:
    n = len(yhat)
    pairs = list(zip(yhat, y))
    if loss == "bce":
        return -sum(t * _ln(p) + (1 - t) * _ln(1 - p) for p, t in pairs) / n
    if loss == "mse":
        return sum((p - t) ** 2 for p, t in pairs) / n
    if loss == "half_mse":
        return sum((p - t) ** 2 for p, t in pairs) / 2
    if loss == "mae":
        return sum(abs(p - t) for p, t in pairs) / n
    if loss == "cce":
        return -sum(t * _ln(p) for p, t in pairs)
    raise ValueError(f"unknown loss {loss!r}")


@_partial
def _dloss_dyhat(loss, p: Fraction, t: Fraction, n: int) -> Fraction:
    """∂L/∂ŷ for one output of n."""
    if loss == "bce":
        return (p - t) / (p * (1 - p)) / n
    if loss == "mse":
        return 2 * (p - t) / n
    if loss == "half_mse":
        return p - t
    if loss == "mae":
        return Fraction((p > t) - (p < t), n)  # sign(ŷ − y)/n, sign(0) = 0
    if loss == "cce":
        return -t / p
    raise ValueError(f"unknown loss {loss!r}")


@_partial
def _softmax_delta(dl: list, yhat: list, j: int) -> Fraction:
    """δ_j = Σ_k ∂L/∂ŷ_k · ŷ_k (1[k=j] − ŷ_j): the softmax Jacobian."""
    return sum(dl[k] * yhat[k] * ((k == j) - yhat[j]) for k in range(len(yhat)))


@_partial
def _times(u: Fraction, v: Fraction) -> Fraction:
    return u * v


def _output_deltas(act, loss, z, yhat, y) -> list:
    """δ^(L) = ∂L/∂z^(L) for one example, with the textbook closed forms where they apply."""
    if (act, loss) == ("sigmoid", "bce"):
        return [(p - t) / len(yhat) for p, t in zip(yhat, y)]
    if (act, loss) == ("softmax", "cce"):
        return [p - t for p, t in zip(yhat, y)]
    dl = [_dloss_dyhat(loss, p, t, len(yhat)) for p, t in zip(yhat, y)]
    if act == "softmax":
        return [_softmax_delta(dl, yhat, j) for j in range(len(yhat))]
    return [_times(d, _g_prime(act, zj, p)) for d, zj, p in zip(dl, z, yhat)]


@_partial
def _hidden_delta(column: list, deltas_above: list, slope: Fraction) -> Fraction:
    """δ^(l)_j = (Σ_k W^(l+1)_kj δ^(l+1)_k) · g′(z^(l)_j)."""
    return sum(w * d for w, d in zip(column, deltas_above)) * slope


@_partial
def _mean(values: list) -> Fraction:
    return sum(values) / len(values)


@_partial
def _step(old: Fraction, eta: Fraction, grad: Fraction) -> Fraction:
    return old - eta * grad


def rounded_chain(layers, activations, loss, W, b, X, Y, learning_rate, decimals,
                  rounding="carry") -> dict[str, Decimal]:
    """Every worksheet box, rounded half away from zero to `decimals` places.

    rounding="carry": each box is computed from its parents' *rounded* boxes, as a student
    working down the sheet does; rounding="exact": full precision throughout, each box
    rounded once.  Boxes that cannot be computed (ln of x ≤ 0, division by 0) are left out.
    Names: z{l}_{j}, a{l}_{j}, delta{l}_{j}, loss, dW{l}_{j}_{i}, db{l}_{j}, new_W…, new_b…;
    with more than one example the per-example ones end in _s{n} and "loss" is the mean.
    """
    if rounding not in ("carry", "exact"):
        raise ValueError(f"rounding must be 'carry' or 'exact', not {rounding!r}")
    L = len(layers) - 1
    if len(activations) != L or len(W) != L or (b is not None and len(b) != L):
        raise ValueError("need one activation, one W and one b per layer after the input")
    if "softmax" in activations[:-1]:
        raise ValueError("softmax only as the output activation")
    W = [[[_exact(v) for v in row] for row in Wl] for Wl in W]
    b = None if b is None else [[_exact(v) for v in bl] for bl in b]
    eta = _exact(learning_rate)
    boxes: dict[str, Decimal] = {}

    def box(name, value):
        """Write the box; return what its children compute from (rounded only if carrying)."""
        if value is None:
            return None
        rounded = round_half_away(value, decimals)
        boxes[name] = _boxed(rounded, decimals)
        return rounded if rounding == "carry" else value

    batch = len(X) > 1
    a_all, delta_all, losses = [], [], []  # per example: a^(0..L), δ^(1..L), its loss
    for s, (x, y) in enumerate(zip(X, Y), start=1):
        tag = f"_s{s}" if batch else ""
        y = [_exact(v) for v in y]
        a = [[_exact(v) for v in x]]  # a^(0) = x, given exactly
        z = [None]
        for l in range(1, L + 1):  # forward: z^(l) = W^(l) a^(l−1) + b^(l), a^(l) = g(z^(l))
            zl = [box(f"z{l}_{j}{tag}",
                      sum(w * ai for w, ai in zip(row, a[-1])) + (b[l - 1][j - 1] if b else 0))
                  for j, row in enumerate(W[l - 1], start=1)]
            act = activations[l - 1]
            al = _softmax(zl) if act == "softmax" else [_g(act, zj) for zj in zl]
            z.append(zl)
            a.append([box(f"a{l}_{j}{tag}", v) for j, v in enumerate(al, start=1)])
        losses.append(box(f"loss{tag}", _example_loss(loss, a[L], y)))

        delta = [None] * (L + 1)  # backward, from the output delta down
        dL = _output_deltas(activations[-1], loss, z[L], a[L], y)
        delta[L] = [box(f"delta{L}_{j}{tag}", v) for j, v in enumerate(dL, start=1)]
        for l in range(L - 1, 0, -1):
            act = activations[l - 1]
            delta[l] = [box(f"delta{l}_{j}{tag}",
                            _hidden_delta([row[j - 1] for row in W[l]], delta[l + 1],
                                          _g_prime(act, z[l][j - 1], a[l][j - 1])))
                        for j in range(1, len(z[l]) + 1)]
        a_all.append(a)
        delta_all.append(delta)

    if batch:
        box("loss", _mean(losses))

    for l in range(1, L + 1):  # gradients: means over examples; then one descent step
        for j, row in enumerate(W[l - 1], start=1):
            for i, w in enumerate(row, start=1):
                dW = box(f"dW{l}_{j}_{i}", _mean([_times(d[l][j - 1], a[l - 1][i - 1])
                                                  for d, a in zip(delta_all, a_all)]))
                box(f"new_W{l}_{j}_{i}", _step(w, eta, dW))
        if b is not None:
            for j, bj in enumerate(b[l - 1], start=1):
                db = box(f"db{l}_{j}", _mean([d[l][j - 1] for d in delta_all]))
                box(f"new_b{l}_{j}", _step(bj, eta, db))
    return boxes
