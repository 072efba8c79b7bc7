"""derive's adapter for a popular NumPy tutorial's backprop code, as printed.

The tutorial's skeleton has ``forward_pass(x, W1, b1, W2, b2)`` returning ``(a2, cache)`` and
``backward_pass(X, y, W1, b1, W2, b2, cache, lr)`` returning the weights after one step of
gradient descent; it has no loss() and no separate update().  This file maps it onto derive's
contract (see README, "Checking students' code"):

    derive check-code tutorial.py --spec worksheets/tutorial-231-relu.toml --adapter tutorial

An adapter runs in the sandbox beside the student's file, which it imports as ``student``.
It defines the contract's functions it can; those it leaves out (here loss and update) are
not checked.  ``train_step(X, Y, params, lr) -> params`` is the skeleton's own training step,
used by the XOR training check in place of forward, backward and update.
"""
import student

ORDER = ("W1", "b1", "W2", "b2")


def forward(X, params):
    return student.forward_pass(X, *(params[k] for k in ORDER))


def backward(X, Y, params, cache):
    # backward_pass returns W − lr·dW; with lr = 1 the step it takes is the gradient itself
    new = student.backward_pass(X, Y, *(params[k].copy() for k in ORDER), cache, 1.0)
    return {"d" + k: params[k] - w for k, w in zip(ORDER, new)}


def train_step(X, Y, params, lr):
    _, cache = forward(X, params)
    return dict(zip(ORDER, student.backward_pass(X, Y, *(params[k] for k in ORDER), cache, lr)))
