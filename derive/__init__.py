"""derive: exact, proven, checkable backpropagation worksheets.

The public API, one function per stage of the pipeline (DESIGN.md):
:func:`load_spec`, :func:`load_roster`, :func:`derive_network`, :func:`build_graph`,
:func:`solve`, :func:`key`, :func:`gradcheck`, :func:`train`, :func:`build_class`,
:func:`grade_class`, :func:`check_code`.

Each name is imported from its stage when first used (PEP 562), so that
``import derive`` and the command line start without loading SymPy.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_HOME = {
    "DeriveError": "errors",
    "Key": "numeric", "Solution": "numeric", "gradcheck": "numeric", "key": "numeric", "solve": "numeric",
    "Params": "spec", "Spec": "spec", "load_roster": "spec", "load_spec": "spec",
    "Derivation": "symbolic", "Graph": "symbolic", "Quantity": "symbolic", "build_graph": "symbolic",
    "derive_network": "symbolic", "prove_gradients": "symbolic",
    "train": "train",
    "build_class": "classroom", "grade_class": "classroom",
    "check_code": "checkcode",
}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'derive' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOME])
