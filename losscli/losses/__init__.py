"""The losses, one module per family, and the registries every command and test reads.

- ``pointwise``: the machinery of losses computed element by element (``PointwiseLoss``,
  ``PointwiseAccumulator``); with it ``regression`` declares L1, MSE, Huber and Smooth L1,
  ``binary`` BCE, BCE with logits and focal, ``likelihood`` the Poisson and Gaussian negative
  log-likelihoods, ``distribution`` the KL divergence.
- ``classes``: cross-entropy on logits and NLL on log-probabilities, sample by sample.
- ``softmax``: softmax and log-softmax (a transform, not a loss).
- ``base``: what they share (validation, parameters, the nan policy, exact sums).

A new pointwise loss is one ``PointwiseLoss`` in its family module's ``SPECS``: its command,
options, table, JSON and the generic property tests come from that declaration.
"""

from __future__ import annotations

from ..result import LossResult
from . import binary, distribution, likelihood, regression
from .base import DEFAULT_IGNORE_INDEX, NAN_POLICIES, REDUCTIONS, ChunkedSum, LossParameter
from .binary import bce, bce_with_logits, focal
from .classes import CrossEntropyAccumulator, NLLAccumulator, cross_entropy, nll_loss
from .distribution import kl_div
from .likelihood import gaussian_nll, poisson_nll
from .pointwise import PointwiseAccumulator, PointwiseLoss, pointwise_loss
from .regression import huber, l1, mse, smooth_l1
from .softmax import ColumnSoftmax, SoftmaxAccumulator, log_softmax, softmax

POINTWISE_LOSSES: dict[str, PointwiseLoss] = {
    spec.name: spec for spec in (*regression.SPECS, *binary.SPECS, *likelihood.SPECS, *distribution.SPECS)
}


def elementwise_loss(name: str, *inputs, reduction: str = "mean", nan_policy: str = "propagate", **parameters) -> LossResult:
    """The pointwise loss ``name`` (a key of ``POINTWISE_LOSSES``) of its inputs, parameters by name.

    >>> float(elementwise_loss("mse", [2, 3, 4, 5], [4, 5, 6, 7], reduction="sum").value)
    16.0
    >>> float(elementwise_loss("huber", [2, 3, 4, 5], [4, 5, 6, 7], delta=3).value)
    2.0
    """
    return pointwise_loss(POINTWISE_LOSSES[name], *inputs, reduction=reduction, nan_policy=nan_policy, **parameters)


__all__ = [
    "DEFAULT_IGNORE_INDEX", "NAN_POLICIES", "POINTWISE_LOSSES", "REDUCTIONS", "ChunkedSum", "CrossEntropyAccumulator",
    "LossParameter", "NLLAccumulator", "PointwiseAccumulator", "PointwiseLoss", "SoftmaxAccumulator", "ColumnSoftmax", "bce",
    "bce_with_logits", "cross_entropy", "elementwise_loss", "focal", "gaussian_nll", "huber", "kl_div", "l1",
    "log_softmax", "mse", "nll_loss", "pointwise_loss", "poisson_nll", "smooth_l1", "softmax",
]
