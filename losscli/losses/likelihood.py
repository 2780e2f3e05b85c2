"""Negative log-likelihoods of a distribution's parameters: Poisson (a rate) and Gaussian (a mean and a variance).

Each is one declared ``PointwiseLoss``; term and gradient (w.r.t. the first input) follow
PyTorch's ``poisson_nll_loss`` and ``gaussian_nll_loss`` in their order of operations and in the
data's dtype (the Python constants 2π and ½log 2π become that dtype, as PyTorch's scalars do).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import DataError
from ..result import LossResult
from .base import LossParameter
from .curve import ERROR, LOG_RATE, RATE, held_fixed
from .metrics import RegressionMetrics
from .pointwise import PREDICTION, TARGET, Case, Explained, Input, PointwiseLoss, Step, pointwise_loss


# --- Poisson ------------------------------------------------------------------------------------


def _log_rate_times_target(x, y, p):
    """``y·x`` (log_input) or ``y·log(x + ε)``: the term's second part."""
    return y * x if p["log_input"] else y * np.log(x + p["eps"])


def _stirling(x, y, p):
    """``y·log y − y + ½log(2πy)`` where y > 1, else 0: PyTorch masks it with ``target <= 1``, so nan stays."""
    two_pi = y.dtype.type(2 * math.pi)
    term = y * np.log(y) - y + y.dtype.type(0.5) * np.log(two_pi * y)
    return np.where(y <= 1, y.dtype.type(0), term)


def _poisson_term(x, y, p):
    rate = np.exp(x) if p["log_input"] else x
    loss = rate - _log_rate_times_target(x, y, p)
    return loss + _stirling(x, y, p) if p["full"] else loss


def _poisson_grad(x, y, p):
    if p["log_input"]:
        return np.exp(x) - y
    return 1 - y / (x + p["eps"])


def _poisson_hand_term(p: dict) -> str:
    written = "{exp}−{y_x}" if p["log_input"] else "{pred}−{y_log}"
    return "(" + (written + "+{stirling}" if p["full"] else written) + ")"


def _poisson_explained(p: dict) -> Explained:
    if p["log_input"]:
        term = Case("e^(x_i) − y_i·x_i", "{exp} − {y_x:o}")
        grad = Case("e^(x_i) − y_i", "{exp} − {target:o}")
    else:
        term = Case("x_i − y_i·log(x_i + ε)", "{pred} − {y_log:o}")
        grad = Case("1 − y_i/(x_i + ε)", "1 − {target}/({pred} + {eps})")
    if p["full"]:
        term = Case(term.symbols + " + s_i", term.numbers + " + {stirling}")
    if not p["full"]:
        return Explained(term=(term,), grad=(grad,))
    return Explained(
        term=(term,), grad=(grad,), where=("s_i = y_i·log y_i − y_i + ½·log(2π·y_i)",),
        notes=("s_i, Stirling's term of --full, is 0 where y_i ≤ 1",),
    )


POISSON_NLL = PointwiseLoss(
    name="poisson-nll",
    title="Poisson negative log-likelihood",
    torch_name="torch.nn.PoissonNLLLoss",
    term=_poisson_term,
    grad=_poisson_grad,
    term_key="poisson_nll",
    term_label="nll",
    hand_term=_poisson_hand_term,
    hand_group=("[", "]"),
    example="[(1−0) + (2.718−0) + (7.389−6)] / 3 = 1.702",
    example_args="0,1,2 1,0,3",
    parameters=(
        LossParameter("log_input", "log input", True, help="The input is the log-rate x (e^x − y·x); off: the rate itself (x − y·log(x + ε))."),
        LossParameter("full", "full", False, help="Add the Stirling term y·log y − y + ½log(2πy) where y > 1."),
        LossParameter("eps", "ε", 1e-8, 0.0, help="ε in log(x + ε), used only with --no-log-input"),
    ),
    formula="e^x − y·x (--log-input, the default), or x − y·log(x + ε) (--no-log-input); "
    "--full adds y·log y − y + ½log(2πy) where y > 1",
    steps=(
        Step("exp", "e^x", lambda x, y, p: np.exp(x), lambda p: p["log_input"]),
        Step("y_x", "y·x", lambda x, y, p: y * x, lambda p: p["log_input"]),
        Step("y_log", "y·log(x+ε)", lambda x, y, p: y * np.log(x + p["eps"]), lambda p: not p["log_input"]),
        Step("stirling", "stirling", _stirling, lambda p: p["full"]),
    ),
    inputs=(
        Input("pred", "x", "input", "Inputs x: log-rates (rates with --no-log-input): 0,1,2, a file, or - for stdin"),
        Input("target", "y", "target", "Targets y (counts): 1,2,7, a file, or - for stdin"),
    ),
    nan_how="a term is inf − inf",
    explained=_poisson_explained,
    # The metrics compare the predicted rate (the Poisson mean) with the counts.
    metrics=RegressionMetrics(point=lambda x, p: np.exp(x) if p["log_input"] else x),
    curve=lambda p: held_fixed(LOG_RATE if p["log_input"] else RATE, "y = 1", 1.0),
)


# --- Gaussian -----------------------------------------------------------------------------------


def _clamped_var(x, y, var, p):
    # PyTorch clamps var in place under no_grad: max(var, ε), nan kept.
    return np.where(var < p["eps"], p["eps"], var).astype(var.dtype, copy=False)


def _gaussian_term(x, y, var, p):
    v = _clamped_var(x, y, var, p)
    half = x.dtype.type(0.5)
    loss = half * (np.log(v) + (x - y) ** 2 / v)
    return loss + x.dtype.type(0.5 * math.log(2 * math.pi)) if p["full"] else loss


def _gaussian_grad(x, y, var, p):
    return (x - y) / _clamped_var(x, y, var, p)


def _no_negative_var(x, y, var, rows: np.ndarray) -> None:
    negative = var < 0
    if negative.any():
        at = int(np.argmax(negative.ravel()))
        row = int(rows.ravel()[at]) + 1
        detail = f"var {float(var.ravel()[at]):g} is negative (a variance must be ≥ 0; PyTorch refuses it too)"
        error = DataError(f"row {row}: {detail}")
        error.row, error.detail = row, detail  # a file's error names its file and line instead
        raise error


def _gaussian_hand_term(p: dict) -> str:
    return "½(log {var_clamped}+{diff}²/{var_clamped})" + ("+½log 2π" if p["full"] else "")


def _gaussian_explained(p: dict) -> Explained:
    constant = (" + ½·log 2π", " + ½·log 2π") if p["full"] else ("", "")
    return Explained(
        term=(Case("½·(log v_i + (ŷ_i − y_i)²/v_i)" + constant[0], "½·(log {var_clamped} + {diff:o}²/{var_clamped})" + constant[1]),),
        grad=(Case("(ŷ_i − y_i)/v_i", "{diff}/{var_clamped}"),),
        where=("v_i = max(σ²_i, ε)",),
        notes=("v_i is the variance clamped at ε, as PyTorch does",),
    )


GAUSSIAN_NLL = PointwiseLoss(
    name="gaussian-nll",
    title="Gaussian negative log-likelihood",
    torch_name="torch.nn.GaussianNLLLoss",
    term=_gaussian_term,
    grad=_gaussian_grad,
    term_key="gaussian_nll",
    term_label="nll",
    hand_term=_gaussian_hand_term,
    hand_group=("[", "]"),
    example="[½(log 1+(-2)²/1) + ½(log 2+(-2)²/2) + ½(log 4+(-2)²/4) + ½(log 1+(-2)²/1)] / 4 = 1.635",
    example_args="2,3,4,5 4,5,6,7 1,2,4,1",
    parameters=(
        LossParameter("full", "full", False, help="Add the constant ½log 2π to each term."),
        LossParameter("eps", "ε", 1e-6, 0.0, help="Variances below ε count as ε"),
    ),
    formula="½(log v + (ŷ − y)²/v) with v = max(σ², ε); --full adds ½log 2π",
    steps=(Step("diff", "ŷ−y", lambda x, y, var, p: x - y), Step("var_clamped", "v=max(σ²,ε)", _clamped_var)),
    inputs=(
        PREDICTION,
        TARGET,
        Input("var", "σ²", "var", "Variances σ² ≥ 0, one per prediction: 1,2,4,1, a file, or - for stdin"),
    ),
    nan_how="ŷ − y is inf − inf, or σ² and ŷ − y are both 0 with ε = 0",
    check=_no_negative_var,
    explained=_gaussian_explained,
    metrics=RegressionMetrics(),  # of the mean ŷ; the variance does not enter them
    curve=held_fixed(ERROR, "y = 0, σ² = 1", 0.0, 1.0),
)

SPECS = (POISSON_NLL, GAUSSIAN_NLL)


def poisson_nll(
    input, target, *, log_input: bool = True, full: bool = False, eps: float = 1e-8, reduction: str = "mean"
) -> LossResult:
    """``torch.nn.PoissonNLLLoss``: ``e^x − y·x`` (or ``x − y·log(x + ε)`` without ``log_input``),
    plus the Stirling term where y > 1 with ``full``.

    >>> r = poisson_nll([0, 0], [0, 2], reduction="sum")
    >>> float(r.value), r.grad.tolist()
    (2.0, [1.0, -1.0])
    """
    return pointwise_loss(POISSON_NLL, input, target, reduction=reduction, log_input=log_input, full=full, eps=eps)


def gaussian_nll(
    input, target, var, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"
) -> LossResult:
    """``torch.nn.GaussianNLLLoss``: ``½(log v + (ŷ − y)²/v)`` with ``v = max(var, ε)``; var must be ≥ 0.

    >>> r = gaussian_nll([3, 1], [1, 1], [1, 1], reduction="sum")
    >>> float(r.value), r.grad.tolist()
    (2.0, [2.0, 0.0])
    """
    return pointwise_loss(GAUSSIAN_NLL, input, target, var, reduction=reduction, full=full, eps=eps)
