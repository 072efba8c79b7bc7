"""derive: exact, proven, checkable backpropagation worksheets.

The public API, one function per stage of the pipeline (DESIGN.md):
:func:`load_spec`, :func:`load_roster`, :func:`derive_network`, :func:`build_graph`,
:func:`solve`, :func:`key`, :func:`gradcheck`, :func:`train`, :func:`build_class`,
:func:`grade_class`, :func:`check_code`.
"""
__version__ = "0.1.0"

from .errors import DeriveError  # noqa: E402
from .numeric import Key, Solution, gradcheck, key, solve  # noqa: E402
from .spec import Params, Spec, load_roster, load_spec  # noqa: E402
from .symbolic import Derivation, Graph, Quantity, build_graph, derive_network, prove_gradients  # noqa: E402
from .train import train  # noqa: E402
from .classroom import build_class, grade_class  # noqa: E402
from .checkcode import check_code  # noqa: E402

__all__ = ["DeriveError", "Derivation", "Graph", "Key", "Params", "Quantity", "Solution", "Spec", "build_class", "check_code",
           "build_graph", "derive_network", "grade_class", "gradcheck", "key", "load_roster", "load_spec",
           "prove_gradients", "solve", "train"]
