"""Binary losses of a probability or a logit against a target in [0, 1]: BCE, BCE with logits, focal.

Each is one declared ``PointwiseLoss``; its term and gradient follow PyTorch's CPU kernels (and
torchvision's Python for focal) in their order of operations and in the data's dtype. A weight
(and BCE-with-logits' pos_weight) is a vector broadcast over the input's last dimension.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..result import LossResult
from .base import LossParameter
from .curve import LOGIT as LOGIT_AXIS, PROBABILITY as PROBABILITY_AXIS, held_fixed
from .by_class import BinaryClasses, FloorRule, xlogx
from .metrics import BinaryMetrics
from .pointwise import Case, Explained, Input, PointwiseLoss, Step, Tally, pointwise_loss

LOG_FLOOR = -100  # BCELoss clamps each log here, so that p = 0 or 1 gives 100, not inf
# The floor of x(1 − x) in BCELoss's gradient: PyTorch's EPSILON is a float, 1e-12 rounded to float32
# (9.99999996e-13), in float64 too.
BCE_GRAD_EPSILON = float(np.float32(1e-12))

PROBABILITY = Input("pred", "p", "probs", "Probabilities p in [0, 1]: 0.8,0.3, a file, or - for stdin")
LOGIT = Input("pred", "x", "logits", "Logits x (any real): 1.4,-0.8, a file, or - for stdin")
BINARY_TARGET = Input("target", "y", "target", "Targets y in [0, 1] (labels 0/1 or soft): 1,0, a file, or - for stdin")

WEIGHT = LossParameter(
    "weight", "w", None, 0.0, vector=True,
    help="Weight per element, broadcast over the last dimension: 1 value or one per column (1,2,0.5 or a file)",
)
POS_WEIGHT = LossParameter(
    "pos_weight", "p", None, 0.0, vector=True,
    help="Weight of the positive term, one per class = the last dimension: 1 value or one per column (3 or a file)",
)


def _weighted(term: np.ndarray, p: dict) -> np.ndarray:
    return term if p["weight"] is None else term * p["weight"]


def _has_weight(parameters: dict) -> bool:
    return parameters.get("weight") is not None


def _weight_column(p: dict, like: np.ndarray) -> np.ndarray:
    return np.broadcast_to(p["weight"], like.shape)


WEIGHT_STEP = Step("weight", "w", lambda x, y, p: _weight_column(p, x), shown=_has_weight)


def _weighted_written(parameters: dict, symbols: str, numbers: str) -> Case:
    """A term written as ``w_i·(…)`` when a --weight was given, as ``…`` alone otherwise."""
    if parameters.get("weight") is None:
        return Case(symbols, numbers)
    return Case(f"w_i·({symbols})", f"{{weight}}·({numbers})")
def _least_bce(y: np.ndarray, p: dict) -> np.ndarray:
    """The least of −w·(a·log q + b·log(1 − q)) over q, a = pos_weight·y, b = 1 − y: reached at
    q = a/(a + b), it is w·((a + b)·log(a + b) − a·log a − b·log b); w·H(y) without pos_weight."""
    y = y.astype(np.float64)
    a = y if p.get("pos_weight") is None else p["pos_weight"] * y
    b = 1 - y
    least = xlogx(a + b) - xlogx(a) - xlogx(b)
    return least if p.get("weight") is None else least * p["weight"]


def _soft_targets_why(parameters: dict) -> str:
    why = "soft targets: the least BCE, reached by predicting p = t, is the binary entropy H(t) of the targets"
    if parameters.get("pos_weight") is not None:
        why = "soft targets with pos_weight: the least loss, reached at σ(x) = pw·t/(pw·t + 1 − t)"
    return why + (" (times the weight)" if parameters.get("weight") is not None else "")


SOFT_TARGETS_FLOOR = FloorRule(_least_bce, _soft_targets_why)


# --- BCE on probabilities -----------------------------------------------------------------------


def _check_probabilities(x: np.ndarray, y: np.ndarray, rows: np.ndarray) -> None:
    """PyTorch's BCELoss refuses input or target outside [0, 1]; nan goes to --nan-policy."""
    for values, what in ((x, "probability"), (y, "target")):
        outside = (values < 0) | (values > 1)
        if outside.any():
            at = np.argmax(outside.ravel())
            raise DataError.at_row(
                int(rows.ravel()[at]) + 1,
                f"{what} {float(values.ravel()[at])!r} is outside [0, 1], which BCELoss requires"
                + ("; for logits use `losscli bce-logits`" if what == "probability" else ""),
                subject="input",
            )


def _log_p(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.log(x), x.dtype.type(LOG_FLOOR))


def _log_1mp(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.log1p(-x), x.dtype.type(LOG_FLOOR))  # PyTorch takes log1p(−x), not log(1 − x)


def _bce(x: np.ndarray, y: np.ndarray, p: dict) -> np.ndarray:
    one = x.dtype.type(1)
    return _weighted((y - one) * _log_1mp(x) - y * _log_p(x), p)


def _bce_grad(x: np.ndarray, y: np.ndarray, p: dict) -> np.ndarray:
    one = x.dtype.type(1)
    return _weighted((x - y) / np.maximum((one - x) * x, x.dtype.type(BCE_GRAD_EPSILON)), p)


def _clamped(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each clamp changed the term: log p below −100 with y ≠ 0, log(1 − p) with y ≠ 1."""
    with np.errstate(all="ignore"):
        floor = x.dtype.type(LOG_FLOOR)
        return (np.log(x) < floor) & (y != 0), (np.log1p(-x) < floor) & (y != 1)


def _clamp_column(x: np.ndarray, y: np.ndarray, p: dict) -> np.ndarray:
    low, high = _clamped(x, y)
    return np.where(low, "log p", np.where(high, "log(1−p)", ""))


def _clamp_note(count: int, first: int) -> str:
    terms = "term had its log" if count == 1 else "terms had a log"
    return (
        f"{count} {terms} clamped at −100, as PyTorch's BCELoss does (first: row {first}); "
        "the clamp column names it"
    )


def _bce_explained(parameters: dict) -> Explained:
    return Explained(
        term=(_weighted_written(
            parameters,
            "−(y_i·log p_i + (1 − y_i)·log(1 − p_i))",
            "−({target}·{log_p:o} + (1 − {target})·{log_1mp:o})",
        ),),
        grad=(_weighted_written(parameters, "(p_i − y_i) / ((1 − p_i)·p_i)", "({pred} − {target:o}) / ((1 − {pred})·{pred})"),),
        notes=("each log is clamped at −100, and (1 − p_i)·p_i in the gradient at 10⁻¹², as PyTorch's BCELoss does",),
    )


BCE = PointwiseLoss(
    name="bce",
    title="Binary cross-entropy on probabilities",
    torch_name="torch.nn.BCELoss",
    term=_bce,
    grad=_bce_grad,
    term_key="bce",
    term_label="bce",
    hand_term="{term}",
    hand_group=("(", ")"),
    example="(0.2231 + 0.3567) / 2 = 0.2899",
    example_args="0.8,0.3 1,0",
    parameters=(WEIGHT,),
    formula="−w·(y·max(log p, −100) + (1 − y)·max(log(1 − p), −100)) with p and y in [0, 1] "
    "(w: --weight, 1 by default; mean divides by the element count n, not by Σw)",
    steps=(
        Step("log_p", "log p", lambda x, y, p: _log_p(x)),
        Step("log_1mp", "log(1−p)", lambda x, y, p: _log_1mp(x)),
        Step("clamp", "clamp", _clamp_column),
        WEIGHT_STEP,
    ),
    inputs=(PROBABILITY, BINARY_TARGET),
    nan_how="the term is nan",
    check=_check_probabilities,
    tallies=(Tally(lambda x, y, p: np.logical_or(*_clamped(x, y)), _clamp_note),),
    explained=_bce_explained,
    metrics=BinaryMetrics(threshold=0.5),  # p > 0.5 predicts 1
    by_class=BinaryClasses(threshold=0.5, suggests="pos_weight", command="bce-logits"),  # BCELoss has no pos_weight
    floor=SOFT_TARGETS_FLOOR,
    curve=held_fixed(PROBABILITY_AXIS, "y = 1", 1.0),
)


# --- BCE on logits --------------------------------------------------------------------------------


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    """log σ(x) = min(x, 0) − log1p(e^−|x|), PyTorch's CPU kernel: never overflows."""
    return np.minimum(x, x.dtype.type(0)) - np.log1p(np.exp(-np.abs(x)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    one = x.dtype.type(1)
    return one / (one + np.exp(-x))


def _bce_logits(x: np.ndarray, y: np.ndarray, p: dict) -> np.ndarray:
    # PyTorch: (1 − y)·x − [(pos_weight − 1)·y + 1]·log σ(x), then × weight.
    one = x.dtype.type(1)
    log_sigmoid = _log_sigmoid(x)
    if p["pos_weight"] is not None:
        log_sigmoid = log_sigmoid * ((p["pos_weight"] - one) * y + one)
    return _weighted((one - y) * x - log_sigmoid, p)


def _bce_logits_grad(x: np.ndarray, y: np.ndarray, p: dict) -> np.ndarray:
    if p["pos_weight"] is None:
        return _weighted(_sigmoid(x) - y, p)
    one = x.dtype.type(1)
    positive = p["pos_weight"] * y
    return _weighted((positive + one - y) * _sigmoid(x) - positive, p)


def _pos_weight_column(x: np.ndarray, y: np.ndarray, p: dict) -> np.ndarray:
    return np.broadcast_to(p["pos_weight"], x.shape)


def _bce_logits_explained(parameters: dict) -> Explained:
    positive = parameters.get("pos_weight") is not None
    pos, pos_n = ("w⁺_i·", "{pos_weight}·") if positive else ("", "")
    grad = ("(w⁺_i·y_i + 1 − y_i)·σ(x_i) − w⁺_i·y_i", "({pos_weight}·{target} + 1 − {target})·{sigmoid} − {pos_weight}·{target}")
    return Explained(
        term=(_weighted_written(
            parameters,
            f"−({pos}y_i·log σ(x_i) + (1 − y_i)·(log σ(x_i) − x_i))",
            f"−({pos_n}{{target}}·{{log_sigmoid:o}} + (1 − {{target}})·({{log_sigmoid}} − {{pred:o}}))",
        ),),
        grad=(_weighted_written(parameters, *grad) if positive else _weighted_written(parameters, "σ(x_i) − y_i", "{sigmoid} − {target:o}"),),
        where=("σ(x) = 1/(1 + e^(−x))", "log(1 − σ(x)) = log σ(x) − x"),
        notes=("w⁺_i is --pos-weight",) if positive else (),
    )


BCE_LOGITS = PointwiseLoss(
    name="bce-logits",
    title="Binary cross-entropy on logits",
    torch_name="torch.nn.BCEWithLogitsLoss",
    term=_bce_logits,
    grad=_bce_logits_grad,
    term_key="bce",
    term_label="bce",
    hand_term="{term}",
    hand_group=("(", ")"),
    example="(0.2204 + 0.3711) / 2 = 0.2958",
    example_args="1.4,-0.8 1,0",
    parameters=(WEIGHT, POS_WEIGHT),
    formula="w·(pos_weight·y·softplus(−x) + (1 − y)·softplus(x)), computed as PyTorch does: "
    "w·((1 − y)·x − (pos_weight·y + 1 − y)·log σ(x)) with log σ(x) = min(x, 0) − log(1 + e^−|x|) "
    "(w, pos_weight: 1 by default; mean divides by n, not by Σw)",
    steps=(
        Step("sigmoid", "σ(x)", lambda x, y, p: _sigmoid(x)),
        Step("log_sigmoid", "log σ(x)", lambda x, y, p: _log_sigmoid(x)),
        Step("pos_weight", "pos_w", _pos_weight_column, shown=lambda parameters: parameters.get("pos_weight") is not None),
        WEIGHT_STEP,
    ),
    inputs=(LOGIT, BINARY_TARGET),
    nan_how="an infinite logit meets a target of 1 − y = 0 (inf·0)",
    explained=_bce_logits_explained,
    metrics=BinaryMetrics(threshold=0.0),  # x > 0, that is σ(x) > 0.5, predicts 1
    by_class=BinaryClasses(threshold=0.0, suggests="pos_weight"),
    floor=SOFT_TARGETS_FLOOR,
    curve=held_fixed(LOGIT_AXIS, "y = 1", 1.0),
)


# --- focal ----------------------------------------------------------------------------------------


def _p_t(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    one = x.dtype.type(1)
    probability = _sigmoid(x)
    return probability * y + (one - probability) * (one - y)


def _alpha_t(y: np.ndarray, alpha) -> np.ndarray:
    one = y.dtype.type(1)
    return alpha * y + (one - alpha) * (one - y)


def _focal(x: np.ndarray, y: np.ndarray, p: dict) -> np.ndarray:
    # torchvision: ce·(1 − p_t)^γ, then α_t· that when α ≥ 0.
    one = x.dtype.type(1)
    loss = _bce_logits(x, y, {"weight": None, "pos_weight": None}) * (one - _p_t(x, y)) ** p["gamma"]
    return _alpha_t(y, p["alpha"]) * loss if p["alpha"] >= 0 else loss


def _focal_grad(x: np.ndarray, y: np.ndarray, p: dict) -> np.ndarray:
    """What autograd computes through torchvision's graph, path by path (so 0·inf edges agree)."""
    one, gamma = x.dtype.type(1), p["gamma"]
    probability = _sigmoid(x)
    ce = _bce_logits(x, y, {"weight": None, "pos_weight": None})
    away = one - _p_t(x, y)
    upstream = _alpha_t(y, p["alpha"]) if p["alpha"] >= 0 else np.ones_like(x)
    through_ce = upstream * away**gamma * (probability - y)
    if gamma == 0:  # PyTorch's pow backward is 0 for a zero exponent
        return through_ce
    through_away = -(upstream * ce * (gamma * away ** (gamma - one)))
    through_probability = through_away * y - through_away * (one - y)
    return through_probability * (one - probability) * probability + through_ce


FOCAL = PointwiseLoss(
    name="focal",
    title="Sigmoid focal loss",
    torch_name="torchvision.ops.sigmoid_focal_loss (whose default reduction is none; losscli's is mean)",
    term=_focal,
    grad=_focal_grad,
    term_key="focal",
    term_label="focal",
    hand_term="{term}",
    hand_group=("(", ")"),
    example="(0.002156 + 0.02675) / 2 = 0.01445",
    example_args="1.4,-0.8 1,0",
    parameters=(
        LossParameter("alpha", "α", 0.25, maximum=1.0, help="Weight α of the positives, 1 − α of the negatives; α < 0: no α term"),
        LossParameter("gamma", "γ", 2.0, 0.0, help="Focusing exponent γ: (1 − p_t)^γ; 0 leaves BCE with logits"),
    ),
    formula="α_t·(1 − p_t)^γ·bce-logits(x, y), with p = σ(x), p_t = p·y + (1 − p)(1 − y), "
    "α_t = α·y + (1 − α)(1 − y) (no α_t when α < 0)",
    steps=(
        Step("sigmoid", "σ(x)", lambda x, y, p: _sigmoid(x)),
        Step("p_t", "p_t", lambda x, y, p: _p_t(x, y)),
        Step("alpha_t", "α_t", lambda x, y, p: _alpha_t(y, p["alpha"]) if p["alpha"] >= 0 else np.ones_like(x)),
        Step("bce", "bce", lambda x, y, p: _bce_logits(x, y, {"weight": None, "pos_weight": None})),
    ),
    inputs=(LOGIT, BINARY_TARGET),
    nan_how="an infinite logit meets a target of 1 − y = 0 (inf·0)",
    explained=Explained(
        term=(Case("α_t·(1 − p_t)^γ·bce_i", "{alpha_t}·(1 − {p_t})^{gamma}·{bce}"),),
        grad=(Case(
            "α_t·((1 − p_t)^γ·(p_i − y_i) − γ·(1 − p_t)^(γ−1)·bce_i·(2y_i − 1)·p_i·(1 − p_i))",
            "{alpha_t}·((1 − {p_t})^{gamma}·({sigmoid} − {target:o}) − {gamma}·(1 − {p_t})^({gamma}−1)·{bce}·(2·{target} − 1)·{sigmoid}·(1 − {sigmoid}))",
        ),),
        where=(
            "p_i = σ(x_i)",
            "p_t = p_i·y_i + (1 − p_i)(1 − y_i)",
            "α_t = α·y_i + (1 − α)(1 − y_i)",
            "bce_i = −(y_i·log p_i + (1 − y_i)·log(1 − p_i))",
        ),
        notes=("α_t = 1 when α < 0; bce_i is BCE with logits, computed stably",),
    ),
    metrics=BinaryMetrics(threshold=0.0),
    # Focal's least value over a soft target has no closed form (α_t and (1 − p_t)^γ move it): no floor.
    by_class=BinaryClasses(threshold=0.0, suggests="alpha"),
    curve=held_fixed(LOGIT_AXIS, "y = 1", 1.0),
)

SPECS = (BCE, BCE_LOGITS, FOCAL)


def bce(probabilities, target, *, weight=None, reduction: str = "mean") -> LossResult:
    """``torch.nn.BCELoss``: ``−w[y·log p + (1 − y)·log(1 − p)]``, each log clamped at −100.

    >>> r = bce([0.8, 0.3], [1, 0], reduction="sum")
    >>> round(float(r.value), 6), [round(g, 6) for g in r.grad.tolist()]
    (0.579818, [-1.25, 1.428571])
    """
    return pointwise_loss(BCE, probabilities, target, reduction=reduction, weight=weight)


def bce_with_logits(logits, target, *, weight=None, pos_weight=None, reduction: str = "mean") -> LossResult:
    """``torch.nn.BCEWithLogitsLoss``: BCE of ``σ(x)`` computed stably, ``pos_weight`` per class.

    >>> round(float(bce_with_logits([0.0, 0.0], [1, 0], pos_weight=[3.0]).value), 6)  # (3 + 1)·log 2 / 2
    1.386294
    """
    return pointwise_loss(BCE_LOGITS, logits, target, reduction=reduction, weight=weight, pos_weight=pos_weight)


def focal(logits, target, *, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "mean") -> LossResult:
    """``torchvision.ops.sigmoid_focal_loss`` (whose own default reduction is ``none``).

    >>> round(float(focal([0.0], [1], reduction="sum").value), 6)  # 0.25·(1 − ½)²·log 2
    0.043322
    """
    return pointwise_loss(FOCAL, logits, target, reduction=reduction, alpha=alpha, gamma=gamma)
