"""Regression losses of the difference ``d = ŷ − y``: L1, MSE, Huber and Smooth L1.

Each is one declared ``PointwiseLoss``; its term and gradient follow PyTorch's CPU kernels in
their order of operations and in the data's dtype.
"""

from __future__ import annotations

import numpy as np

from ..result import LossResult
from .base import LossParameter
from .curve import ERROR, held_fixed
from .metrics import RegressionMetrics
from .pointwise import DIFFERENCE, Case, Explained, PointwiseLoss, Step, pointwise_loss


def _sign_zero_at_nan(diff: np.ndarray) -> np.ndarray:
    # PyTorch's L1 backward is sign(d), and 0 (not nan) where d is nan.
    grad = np.sign(diff)
    grad[np.isnan(diff)] = 0
    return grad


# The branch test is |d| < δ, so |d| = δ takes the linear branch (value and gradient agree there).
def _huber(diff: np.ndarray, delta) -> np.ndarray:
    z = np.abs(diff)
    half = diff.dtype.type(0.5)
    return np.where(z < delta, half * z * z, delta * (z - half * delta))


def _huber_grad(diff: np.ndarray, delta) -> np.ndarray:
    return np.where(diff < -delta, -delta, np.where(diff > delta, delta, diff))


def _smooth_l1(diff: np.ndarray, beta) -> np.ndarray:
    if beta == 0:  # F.smooth_l1_loss calls l1_loss for β = 0
        return np.abs(diff)
    z = np.abs(diff)
    half = diff.dtype.type(0.5)
    return np.where(z < beta, half * z * z / beta, z - half * beta)


def _smooth_l1_grad(diff: np.ndarray, beta) -> np.ndarray:
    if beta == 0:
        return _sign_zero_at_nan(diff)
    one = diff.dtype.type(1)
    return np.where(diff < -beta, -one, np.where(diff > beta, one, diff / beta))


def _branch(threshold: str) -> Step:
    """Which branch of a piecewise term each element took; empty where ŷ − y is nan."""
    def values(x, y, p):
        diff = x - y
        branch = np.where(np.abs(diff) < p[threshold], "quadratic", "linear")
        branch[np.isnan(diff)] = ""
        return branch

    return Step("branch", "branch", values)


def _quadratic(row: dict) -> bool:
    return row.get("branch") == "quadratic"


def _linear(row: dict) -> bool:
    return row.get("branch") == "linear"

ERROR_CURVE = held_fixed(ERROR, "y = 0", 0.0)

L1 = PointwiseLoss(
    name="l1",
    title="L1 loss (mean absolute error)",
    torch_name="torch.nn.L1Loss",
    term=lambda x, y, p: np.abs(x - y),
    grad=lambda x, y, p: _sign_zero_at_nan(x - y),
    term_key="abs_diff",
    term_label="|ŷ−y|",
    hand_term="|{pred}−{target}|",
    hand_group=("(", ")"),
    example="(|2−4| + |3−5| + |4−6| + |5−7|) / 4 = 2",
    steps=(DIFFERENCE,),
    explained=Explained(
        term=(Case("|ŷ_i − y_i|", "|{pred} − {target:o}|"),),
        grad=(Case("sign(ŷ_i − y_i)", "sign({pred} − {target:o})"),),
    ),
    metrics=RegressionMetrics(),
    curve=ERROR_CURVE,
)

MSE = PointwiseLoss(
    name="mse",
    title="MSE loss (mean squared error)",
    torch_name="torch.nn.MSELoss",
    term=lambda x, y, p: np.square(x - y),
    grad=lambda x, y, p: 2 * (x - y),
    term_key="sq_diff",
    term_label="(ŷ−y)²",
    hand_term="({pred}−{target})²",
    hand_group=("[", "]"),
    example="[(2−4)² + (3−5)² + (4−6)² + (5−7)²] / 4 = 4",
    steps=(DIFFERENCE,),
    explained=Explained(
        term=(Case("(ŷ_i − y_i)²", "({pred} − {target:o})²"),),
        grad=(Case("2(ŷ_i − y_i)", "2({pred} − {target:o})"),),
    ),
    metrics=RegressionMetrics(),
    curve=ERROR_CURVE,
)

HUBER = PointwiseLoss(
    name="huber",
    title="Huber loss",
    torch_name="torch.nn.HuberLoss",
    term=lambda x, y, p: _huber(x - y, p["delta"]),
    grad=lambda x, y, p: _huber_grad(x - y, p["delta"]),
    term_key="huber",
    term_label="huber",
    hand_term="{term}",
    hand_group=("(", ")"),
    example="(1.5 + 1.5 + 1.5 + 1.5) / 4 = 1.5",
    parameters=(LossParameter("delta", "δ", 1.0, 0.0, minimum_allowed=False),),
    formula="½d² if |d| < δ, else δ(|d| − ½δ), with d = ŷ − y",
    steps=(DIFFERENCE, _branch("delta")),
    explained=Explained(
        term=(
            Case("½·d_i²   (|d_i| < δ)", "½·{diff:o}²", _quadratic),
            Case("δ·(|d_i| − ½·δ)   (|d_i| ≥ δ)", "{delta}·(|{diff}| − ½·{delta})", _linear),
        ),
        grad=(
            Case("d_i   (|d_i| < δ)", "{diff}", _quadratic),
            Case("δ·sign(d_i)   (|d_i| ≥ δ)", "{delta}·sign({diff})", _linear),
        ),
        where=("d_i = ŷ_i − y_i",),
    ),
    metrics=RegressionMetrics(),
    curve=ERROR_CURVE,
)

SMOOTH_L1 = PointwiseLoss(
    name="smooth-l1",
    title="Smooth L1 loss",
    torch_name="torch.nn.SmoothL1Loss",
    term=lambda x, y, p: _smooth_l1(x - y, p["beta"]),
    grad=lambda x, y, p: _smooth_l1_grad(x - y, p["beta"]),
    term_key="smooth_l1",
    term_label="smooth-l1",
    hand_term="{term}",
    hand_group=("(", ")"),
    example="(1.5 + 1.5 + 1.5 + 1.5) / 4 = 1.5",
    parameters=(LossParameter("beta", "β", 1.0, 0.0, minimum_allowed=True),),
    formula="½d²/β if |d| < β, else |d| − ½β, with d = ŷ − y (β = 0 is L1)",
    steps=(DIFFERENCE, _branch("beta")),
    explained=Explained(
        term=(
            Case("½·d_i²/β   (|d_i| < β)", "½·{diff:o}²/{beta}", _quadratic),
            Case("|d_i| − ½·β   (|d_i| ≥ β)", "|{diff}| − ½·{beta}", _linear),
        ),
        grad=(
            Case("d_i/β   (|d_i| < β)", "{diff}/{beta}", _quadratic),
            Case("sign(d_i)   (|d_i| ≥ β)", "sign({diff})", _linear),
        ),
        where=("d_i = ŷ_i − y_i",),
    ),
    metrics=RegressionMetrics(),
    curve=ERROR_CURVE,
)

SPECS = (L1, MSE, HUBER, SMOOTH_L1)


def l1(prediction, target, *, reduction: str = "mean") -> LossResult:
    """``torch.nn.L1Loss``: mean (or sum, or each) of ``|ŷ − y|``.

    >>> r = l1([2, 3, 4, 5], [4, 5, 6, 7])
    >>> float(r.value), r.grad.tolist()
    (2.0, [-0.25, -0.25, -0.25, -0.25])
    """
    return pointwise_loss(L1, prediction, target, reduction=reduction)


def mse(prediction, target, *, reduction: str = "mean") -> LossResult:
    """``torch.nn.MSELoss``: mean (or sum, or each) of ``(ŷ − y)²``.

    >>> r = mse([2, 3, 4, 5], [4, 5, 6, 7], reduction="sum")
    >>> float(r.value), r.grad.tolist()
    (16.0, [-4.0, -4.0, -4.0, -4.0])
    """
    return pointwise_loss(MSE, prediction, target, reduction=reduction)


def huber(prediction, target, *, delta: float = 1.0, reduction: str = "mean") -> LossResult:
    """``torch.nn.HuberLoss``: ``½d²`` where ``|d| < δ``, else ``δ(|d| − ½δ)``, with ``d = ŷ − y``.

    >>> r = huber([2, 3, 4, 5], [4, 5, 6, 7], reduction="sum")
    >>> float(r.value), r.grad.tolist()
    (6.0, [-1.0, -1.0, -1.0, -1.0])
    """
    return pointwise_loss(HUBER, prediction, target, reduction=reduction, delta=delta)


def smooth_l1(prediction, target, *, beta: float = 1.0, reduction: str = "mean") -> LossResult:
    """``torch.nn.SmoothL1Loss``: ``½d²/β`` where ``|d| < β``, else ``|d| − ½β``; β = 0 is L1.

    >>> float(smooth_l1([2, 3, 4, 5], [4, 5, 6, 7], beta=4).value)
    0.5
    """
    return pointwise_loss(SMOOTH_L1, prediction, target, reduction=reduction, beta=beta)
