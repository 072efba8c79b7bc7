"""Students' files for the code checker: correct.py, and each mistake as one edit of it.

A mistake file is correct.py with the few lines a student would get wrong
changed, so each fixture differs from the correct one by exactly its
mistake (and the correct file is checked against tests/oracle.py).  The
files that are not edits of correct.py (the tutorial's code, the column
layout, bad input) are files of their own.
"""
from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "fixtures" / "students"

_DELTA = ('            delta = (delta @ params[f"W{l}"].T) * g_prime(ACTIVATIONS[l - 2], cache[f"z{l - 1}"], '
          'cache[f"a{l - 1}"])\n')
_DW = '        grads[f"dW{l}"] = cache[f"a{l - 1}"].T @ delta / N\n'
_BACKWARD_START = "    N, L = X.shape[0], len(ACTIVATIONS)\n"

MUTANTS = {  # name → (what is wrong, [(lines of correct.py, what the student wrote instead)])
    "no_sigma_prime": ("the hidden layer's delta leaves out the activation's derivative",
                       [(_DELTA, '            delta = delta @ params[f"W{l}"].T\n')]),
    "sigma_prime_on_a": ("the hidden layer's g' is taken at a instead of z (sigma(a)(1 - sigma(a)))",
                         [(_DELTA, '            name = ACTIVATIONS[l - 2]\n'
                                   '            delta = (delta @ params[f"W{l}"].T) * g_prime(name, cache[f"z{l - 1}"], '
                                   'g(name, cache[f"a{l - 1}"]))\n')]),
    "sign_error": ("the output delta starts from y - yhat, not yhat - y",
                   [('    delta = output_delta(cache[f"a{L}"], Y, cache[f"z{L}"])\n',
                     '    delta = -output_delta(cache[f"a{L}"], Y, cache[f"z{L}"])\n')]),
    "sum_for_mean": ("the batch's loss is the sum of the examples' losses, not their mean",
                     [("    return float(per_example.mean())\n", "    return float(per_example.sum())\n")]),
    "no_mean": ("the gradients are sums over the batch: no 1/n",
                [(_DW, '        grads[f"dW{l}"] = cache[f"a{l - 1}"].T @ delta\n'),
                 ('            grads[f"db{l}"] = delta.mean(axis=0)\n', '            grads[f"db{l}"] = delta.sum(axis=0)\n')]),
    "transposed_gradient": ("the weight gradient is delta^T a, the transpose of the weight's shape",
                            [(_DW, '        grads[f"dW{l}"] = delta.T @ cache[f"a{l - 1}"] / N\n')]),
    "update_sign": ("the update adds the gradient (goes uphill)",
                    [('    return {k: v - lr * grads["d" + k] for k, v in params.items()}\n',
                      '    return {k: v + lr * grads["d" + k] for k, v in params.items()}\n')]),
    "loops": ("never returns from backward", [(_BACKWARD_START, _BACKWARD_START + "    while True:\n        N += 1\n")]),
    "raises": ("raises in backward: a key the cache does not have",
               [(_BACKWARD_START, _BACKWARD_START + '    cache["z0"]  # there is no z0: a KeyError, reported with '
                                                   'this traceback\n')]),
    "escapes": ("tries the network in forward, reads a file outside its folder in loss, writes one in update",
                [("def forward(X, params):\n", "def forward(X, params):\n    import socket\n"
                  '    socket.create_connection(("198.51.100.1", 80), timeout=1)\n'),
                 ("def loss(yhat, Y):\n", 'def loss(yhat, Y):\n    open("/etc/passwd").read()\n'),
                 ("def update(params, grads, lr):\n", 'def update(params, grads, lr):\n'
                  '    with open("/tmp/derive-sandbox-escape.txt", "w") as f:\n        f.write("escaped")\n')]),
    "floods_records": ("writes a line nested 200000 deep to the pipe derive reads its answers from, on import",
                       [("def forward(X, params):\n", "import os as _os, sys as _sys\n"
                         "_os.write(int(_sys.argv[1]), b'[' * 200000 + b'\\n')\n\n\ndef forward(X, params):\n")]),
    "escapes_terminal": ("raises in backward with terminal escapes and a forged score line in the message",
                         [(_BACKWARD_START, _BACKWARD_START + '    raise ValueError("\\x1b[2J\\x1b[32mall pass'
                                                             '\\nscore 5/5")\n')]),
    "exits": ("calls sys.exit(0) in backward", [(_BACKWARD_START, _BACKWARD_START + "    import sys\n    sys.exit(0)\n")]),
    "os_exits": ("calls os._exit(0) in backward, which no except can catch",
                 [(_BACKWARD_START, _BACKWARD_START + "    import os\n    os._exit(0)\n")]),
    "memory": ("allocates 10 GB in forward",
               [('    a, cache = X, {"a0": X}\n', '    a, cache = X, {"a0": X}\n    cache["huge"] = np.ones(10 * 2**30 // 8)\n')]),
}


def student(name: str, folder: Path) -> Path:
    """The student file ``name``: a fixture of its own, or correct.py with the mistake's edits, written to folder."""
    if name not in MUTANTS:
        return FOLDER / f"{name}.py"
    text = (FOLDER / "correct.py").read_text(encoding="utf-8")
    doc_end = text.index('"""', 3) + 3
    what, edits = MUTANTS[name]
    text = f'"""Mistake: {what}."""' + text[doc_end:]
    for old, new in edits:
        assert text.count(old) == 1, (name, old)  # correct.py changed: the edit no longer applies
        text = text.replace(old, new)
    path = Path(folder) / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    return path
