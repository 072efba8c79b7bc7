"""derive: exact, proven, checkable backpropagation worksheets.

The public API, one function per stage of the pipeline (DESIGN.md):
:func:`load_spec`, :func:`derive_network`, :func:`solve`.
"""
__version__ = "0.1.0"

from .errors import DeriveError  # noqa: E402
from .numeric import Solution, gradcheck, solve  # noqa: E402
from .spec import Params, Spec, load_spec  # noqa: E402
from .symbolic import Derivation, derive_network, prove_gradients  # noqa: E402

__all__ = ["DeriveError", "Derivation", "Params", "Solution", "Spec", "derive_network",
           "gradcheck", "load_spec", "prove_gradients", "solve"]
