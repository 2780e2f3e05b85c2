"""Losses between distributions, element by element: the Kullback-Leibler divergence.

``nn.KLDivLoss`` takes the model's log-probabilities ``x = log q`` and the data's ``y = p``
(or ``log p`` with ``log_target``); each element is ``p·(log p − x)``. Its term and gradient
follow PyTorch's kernel (``xlogy(y, y) − y·x``, or ``e^y·(y − x)``) in the data's dtype.
"""

from __future__ import annotations

import numpy as np

from ..result import LossResult
from .base import LossParameter
from .curve import LOG_PROBABILITY, held_fixed
from .metrics import NoMetrics
from .pointwise import Case, Explained, Input, PointwiseLoss, Step, pointwise_loss
from .softmax import _exp, _log


def _xlogy(y: np.ndarray) -> np.ndarray:
    """``y·log y`` with 0 where y = 0 (torch.xlogy(y, y)); nan stays nan, y < 0 gives nan."""
    return np.where(y == 0, y.dtype.type(0), y * _log(y))


def _kl(x: np.ndarray, y: np.ndarray, p: dict) -> np.ndarray:
    if p["log_target"]:
        return _exp(y) * (y - x)
    return _xlogy(y) - y * x


def _kl_grad(x: np.ndarray, y: np.ndarray, p: dict) -> np.ndarray:
    return -_exp(y) if p["log_target"] else -y


def _probability(x, y, p):
    return _exp(y) if p["log_target"] else y


def _log_probability(x, y, p):
    return y if p["log_target"] else _log(y)


KL = PointwiseLoss(
    name="kl",
    title="Kullback-Leibler divergence of log-probabilities x = log q from targets y = p",
    torch_name="torch.nn.KLDivLoss",
    term=_kl,
    grad=_kl_grad,
    term_key="kl",
    term_label="p·(log p−x)",
    hand_term="{p}·{log_ratio}",
    hand_group=("(", ")"),
    example="(0.5·0.6932 + 0.5·(-0.4054) + 0.9·0.5877 + 0.1·(-1.609)) / 2 = 0.2559",
    example_args='"-1.3863,-0.2877;-0.6931,-0.6931" "0.5,0.5;0.9,0.1" -r batchmean',
    parameters=(
        LossParameter(
            "log_target", "log_target", False,
            help="The target holds log p, not p (PyTorch's log_target=True): term e^y·(y − x).",
        ),
    ),
    formula="p·(log p − x) with p = y, and 0 where y = 0 (xlogy); with --log-target p = e^y",
    steps=(
        Step("p", "p", _probability),
        Step("log_p", "log p", _log_probability),
        Step("log_ratio", "log p−x", lambda x, y, p: _log_probability(x, y, p) - x),
    ),
    inputs=(
        Input("pred", "x", "input", "Input x = log q, the model's log-probabilities: -1.39,-0.29, a file, or - for stdin"),
        Input("target", "y", "target", "Target y = p, probabilities (log p with --log-target): 0.5,0.5, a file, or -"),
    ),
    reductions=("mean", "batchmean", "sum", "none"),
    metrics=NoMetrics(
        "kl compares a distribution with a distribution, element by element: there is no label to "
        "be accurate about, and MAE or R² of log q against p would mix logs with probabilities"
    ),
    nan_how="a target below 0 has no log, or a target of 0 meets an input of −inf (0·inf)",
    display="KL divergence",
    explained=lambda p: Explained(
        term=(Case("p_i·(log p_i − x_i)", "{p}·({log_p} − {pred:o})"),),
        grad=(Case("−p_i", "−{p:o}"),),
        where=("p_i = e^(y_i)" if p["log_target"] else "p_i = y_i",),
        notes=() if p["log_target"] else ("p_i·log p_i is 0 where p_i = 0 (xlogy)",),
    ),
    # p = 1 on the class (log p = 0 with --log-target): the term is then −x, the NLL of x.
    curve=lambda p: held_fixed(LOG_PROBABILITY, "p = 1", 0.0 if p["log_target"] else 1.0),
)

SPECS = (KL,)


def kl_div(input, target, *, reduction: str = "mean", log_target: bool = False) -> LossResult:
    """``torch.nn.KLDivLoss``: ``p·(log p − x)`` per element, ``x = log q`` and ``y = p`` (or log p).

    ``batchmean`` divides the sum by ``input.size(0)`` (the rows of a matrix; a vector's length),
    which is the KL divergence per sample; ``mean`` divides by the element count, as PyTorch.

    >>> r = kl_div([[-1.3863, -0.2877], [-0.6931, -0.6931]], [[0.5, 0.5], [0.9, 0.1]], reduction="batchmean")
    >>> round(float(r.value), 6), r.grad.tolist()
    (0.255935, [[-0.25, -0.25], [-0.45, -0.05]])
    """
    return pointwise_loss(KL, input, target, reduction=reduction, log_target=log_target)
