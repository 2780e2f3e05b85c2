"""losscli: PyTorch's losses on the command line, with every term shown.

The Python API is the same computation the CLI runs::

    >>> from losscli import mse
    >>> float(mse([2, 3, 4, 5], [4, 5, 6, 7]).value)
    4.0
"""

from .core import ELEMENTWISE_LOSSES, cross_entropy, elementwise_loss, l1, log_softmax, mse, softmax
from .errors import DataError, ExitStatus, LossCliError, UsageError
from .result import Column, LossResult

__version__ = "0.1.0"

__all__ = [
    "ELEMENTWISE_LOSSES",
    "Column",
    "DataError",
    "ExitStatus",
    "LossCliError",
    "LossResult",
    "UsageError",
    "__version__",
    "cross_entropy",
    "elementwise_loss",
    "l1",
    "log_softmax",
    "mse",
    "softmax",
]
