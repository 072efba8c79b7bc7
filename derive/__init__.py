"""derive: exact, proven, checkable backpropagation worksheets.

The public API, one function per stage of the pipeline (DESIGN.md):
:func:`load_spec`, :func:`load_roster`, :func:`derive_network`, :func:`solve`,
:func:`gradcheck`, :func:`train`, :func:`build_class`, :func:`grade_class`.
"""
__version__ = "0.1.0"

from .errors import DeriveError  # noqa: E402
from .numeric import Solution, gradcheck, solve  # noqa: E402
from .spec import Params, Spec, load_roster, load_spec  # noqa: E402
from .symbolic import Derivation, derive_network, prove_gradients  # noqa: E402
from .train import train  # noqa: E402
from .classroom import build_class, grade_class  # noqa: E402

__all__ = ["DeriveError", "Derivation", "Params", "Solution", "Spec", "build_class", "derive_network",
           "grade_class", "gradcheck", "load_roster", "load_spec", "prove_gradients", "solve", "train"]
