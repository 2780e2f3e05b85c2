"""losscli: PyTorch's losses on the command line, with every term shown.

The Python API is the same computation the CLI runs::

    >>> from losscli import mse
    >>> float(mse([2, 3, 4, 5], [4, 5, 6, 7]).value)
    4.0
"""

__version__ = "0.1.0"

# The API is imported on first use (PEP 562), so `import losscli` does not load numpy: the
# command installs its Ctrl-C handling before that (losscli/__main__.py).
_SOURCE = {
    "POINTWISE_LOSSES": "losses",
    "bce": "losses",
    "bce_with_logits": "losses",
    "focal": "losses",
    "cross_entropy": "losses",
    "elementwise_loss": "losses",
    "gaussian_nll": "losses",
    "huber": "losses",
    "kl_div": "losses",
    "l1": "losses",
    "log_softmax": "losses",
    "mse": "losses",
    "poisson_nll": "losses",
    "nll_loss": "losses",
    "smooth_l1": "losses",
    "softmax": "losses",
    "DataError": "errors",
    "ExitStatus": "errors",
    "LossCliError": "errors",
    "UsageError": "errors",
    "Column": "result",
    "LossResult": "result",
}

__all__ = sorted([*_SOURCE, "__version__"])

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (10 ms): type checkers read it as True
if TYPE_CHECKING:
    from .losses import (
        POINTWISE_LOSSES, bce, bce_with_logits, cross_entropy, elementwise_loss, focal, gaussian_nll, huber, kl_div, l1,
        log_softmax, mse, nll_loss, poisson_nll, smooth_l1, softmax,
    )
    from .errors import DataError, ExitStatus, LossCliError, UsageError
    from .result import Column, LossResult


def __getattr__(name: str):
    if name not in _SOURCE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{_SOURCE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
