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
