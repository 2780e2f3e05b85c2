"""The numbers: losses, reductions and gradients exactly as PyTorch computes them, in pure numpy.

No I/O, no Typer, no rich. Every public function validates its arrays here (the one chokepoint),
raises ``DataError``/``UsageError`` with a message naming the row or option at fault, and returns
a ``LossResult``. ``ELEMENTWISE_LOSSES`` is the registry of element-wise losses: adding one there
adds its API function, its subcommand and its generic property tests. The formulas are those of
``nn.L1Loss``, ``nn.MSELoss``, ``nn.CrossEntropyLoss`` and ``torch.softmax``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from .errors import DataError, UsageError
from .result import Column, LossResult

REDUCTIONS = ("mean", "sum", "none")
DEFAULT_IGNORE_INDEX = -100  # PyTorch's default
# Probability targets whose rows miss 1 by more than this are rejected (PyTorch takes them silently).
PROBABILITY_SUM_TOLERANCE = 1e-3


# ---------------------------------------------------------------------------------------------
# validation (the chokepoint every public function goes through)


def as_float_array(values, name: str) -> np.ndarray:
    """``values`` as a float array: float32 and float64 are kept, integers and bools become float64."""
    array = np.asarray(values)
    if array.dtype.kind in "biu":
        return array.astype(np.float64)
    if array.dtype == np.float32 or array.dtype == np.float64:
        return array
    if array.dtype.kind == "f":
        return array.astype(np.float64)
    raise DataError(f"{name} must be numbers, not {array.dtype} values")


def check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise UsageError(f"reduction must be one of {', '.join(REDUCTIONS)}, not {reduction!r}")


def _shape(array: np.ndarray) -> str:
    return "(" + ", ".join(map(str, array.shape)) + ")" if array.ndim != 1 else f"({array.shape[0]},)"


def check_same_shape(prediction: np.ndarray, target: np.ndarray, names=("prediction", "target")) -> None:
    """Refuse empty or mismatched arrays: PyTorch broadcasts (N,1) against (N,) with only a warning."""
    for array, name in zip((prediction, target), names):
        if array.size == 0:
            raise DataError(f"{name} is empty")
    if prediction.shape == target.shape:
        return
    if prediction.ndim == target.ndim == 1:
        raise DataError(f"{names[1]} has {target.size} values but {names[0]} has {prediction.size}")
    hint = " (no broadcasting: reshape one of them)" if prediction.size == target.size else ""
    raise DataError(
        f"{names[1]} has shape {_shape(target)} but {names[0]} has shape {_shape(prediction)}{hint}"
    )


def _common_dtype(*arrays: np.ndarray) -> np.dtype:
    return np.result_type(*arrays)


# ---------------------------------------------------------------------------------------------
# element-wise losses (L1, MSE, ...)


@dataclass(frozen=True)
class ElementwiseLoss:
    """One element-wise loss: its term of the difference ``d = ŷ − y`` and that term's derivative."""

    name: str
    title: str
    torch_name: str
    term: Callable[[np.ndarray], np.ndarray]
    term_grad: Callable[[np.ndarray], np.ndarray]
    term_key: str  # csv/json name of the per-element term
    term_label: str  # table header of the per-element term
    hand_term: str  # one term as a person writes it, from the formatted ŷ and y
    hand_group: tuple[str, str]  # brackets around the sum in the derivation line


def _sign_zero_at_nan(diff: np.ndarray) -> np.ndarray:
    # PyTorch's L1 backward is sign(d), and 0 (not nan) where d is nan.
    grad = np.sign(diff)
    grad[np.isnan(diff)] = 0
    return grad


ELEMENTWISE_LOSSES: dict[str, ElementwiseLoss] = {
    "l1": ElementwiseLoss(
        name="l1",
        title="L1 loss (mean absolute error)",
        torch_name="torch.nn.L1Loss",
        term=np.abs,
        term_grad=_sign_zero_at_nan,
        term_key="abs_diff",
        term_label="|ŷ−y|",
        hand_term="|{pred}−{target}|",
        hand_group=("(", ")"),
    ),
    "mse": ElementwiseLoss(
        name="mse",
        title="MSE loss (mean squared error)",
        torch_name="torch.nn.MSELoss",
        term=np.square,
        term_grad=lambda diff: 2 * diff,
        term_key="sq_diff",
        term_label="(ŷ−y)²",
        hand_term="({pred}−{target})²",
        hand_group=("[", "]"),
    ),
}


NAN_POLICIES = ("propagate", "raise", "omit")


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def check_nan_policy(nan_policy: str) -> None:
    if nan_policy not in NAN_POLICIES:
        raise UsageError(f"nan policy must be one of {', '.join(NAN_POLICIES)}, not {nan_policy!r}")


@dataclass
class BlockTerms:
    """What one block of rows gave: inputs, difference, terms and the gradient (unscaled for mean)."""

    prediction: np.ndarray
    target: np.ndarray
    diff: np.ndarray
    terms: np.ndarray
    grad: np.ndarray
    rows: np.ndarray  # 0-based positions of these rows in the whole input


class ElementwiseAccumulator:
    """Reduces an element-wise loss over blocks of rows, so the input never has to fit in memory.

    ``add`` returns each block's terms (for writers that stream them); ``result`` gives the
    reduced value, summed accurately across blocks (``math.fsum`` of per-block pairwise sums),
    and keeps the first and last ``keep_rows // 2`` rows for the table (every row when None).

    >>> acc = ElementwiseAccumulator("mse", "mean")
    >>> _ = acc.add(np.array([2.0, 3.0]), np.array([4.0, 5.0]))
    >>> _ = acc.add(np.array([4.0, 5.0]), np.array([6.0, 7.0]))
    >>> float(acc.result().value)
    4.0
    """

    def __init__(
        self,
        name: str,
        reduction: str = "mean",
        *,
        keep_rows: int | None = None,
        nan_policy: str = "propagate",
        with_grad: bool = True,
    ):
        check_reduction(reduction)
        check_nan_policy(nan_policy)
        self.spec = ELEMENTWISE_LOSSES[name]
        self.reduction = reduction
        self.nan_policy = nan_policy
        self.keep_rows = keep_rows
        self.with_grad = with_grad  # the gradient costs a pass over every row: only when shown
        self.dtype: np.dtype | None = None
        self.n = 0
        self.rows_seen = 0
        self.nan_rows = 0
        self.first_nan_row: int | None = None
        self.omitted = 0
        self.overflows = 0
        self.first_overflow_row: int | None = None
        self._partials: list[float] = []
        self._head: list[BlockTerms] = []
        self._tail: list[BlockTerms] = []
        self._head_rows = 0

    def add(self, prediction, target) -> BlockTerms:
        prediction = as_float_array(prediction, "prediction")
        target = as_float_array(target, "target")
        check_same_shape(prediction, target)
        dtype = _common_dtype(prediction, target)
        self.dtype = self.dtype or dtype
        prediction = prediction.astype(self.dtype, copy=False).ravel()
        target = target.astype(self.dtype, copy=False).ravel()
        rows = np.arange(self.rows_seen, self.rows_seen + prediction.size)
        self.rows_seen += prediction.size
        diff, terms = elementwise_terms(self.spec, prediction, target)
        with np.errstate(all="ignore"):
            total = terms.sum(dtype=self.dtype)
        if not np.isfinite(total):
            # Only a block whose sum is nan or inf can hold nan or an overflow: look only then.
            prediction, target, rows, diff, terms, total = self._non_finite(prediction, target, rows, diff, terms)
        with np.errstate(all="ignore"):
            grad = self.spec.term_grad(diff) if self.with_grad else None
        block = BlockTerms(prediction, target, diff, terms, grad, rows)
        self.n += terms.size
        self._partials.append(float(total))
        self._keep(block)
        return block

    def _non_finite(self, prediction, target, rows, diff, terms):
        missing = np.isnan(prediction) | np.isnan(target)
        if missing.any():
            first = int(rows[np.argmax(missing)]) + 1
            if self.nan_policy == "raise":
                raise DataError(f"row {first}: nan in the input (--nan-policy raise)")
            self.first_nan_row = self.first_nan_row or first
            if self.nan_policy == "omit":
                self.omitted += int(missing.sum())
                prediction, target, rows = prediction[~missing], target[~missing], rows[~missing]
                diff, terms = elementwise_terms(self.spec, prediction, target)
            else:
                self.nan_rows += int(missing.sum())
        overflowed = ~np.isfinite(terms) & np.isfinite(prediction) & np.isfinite(target)
        if overflowed.any():
            self.overflows += int(overflowed.sum())
            self.first_overflow_row = self.first_overflow_row or int(rows[np.argmax(overflowed)]) + 1
        with np.errstate(all="ignore"):
            total = terms.sum(dtype=self.dtype)
        return prediction, target, rows, diff, terms, total

    def _keep(self, block: BlockTerms) -> None:
        if self.keep_rows is None:
            self._head.append(block)
            return
        head_room = (self.keep_rows + 1) // 2 - self._head_rows
        if head_room > 0:
            self._head.append(_slice(block, 0, head_room))
            self._head_rows += min(head_room, block.terms.size)
            block = _slice(block, head_room, None)
        if block.terms.size:
            self._tail.append(block)
            # Only the last keep_rows // 2 rows are needed; drop whole older blocks beyond that.
            while len(self._tail) > 1 and sum(b.terms.size for b in self._tail[1:]) >= self.keep_rows // 2:
                self._tail.pop(0)

    @property
    def grad_divisor(self) -> int:
        """What each row's gradient is divided by once every row is in: n for mean, else 1."""
        return self.n if self.reduction == "mean" and self.n else 1

    def _as_result(self, kept: BlockTerms, value, grad: np.ndarray, notes=()) -> LossResult:
        return LossResult(
            loss=self.spec.name,
            reduction=self.reduction,
            dtype=str(self.dtype),
            n=self.n,
            value=value,
            terms=kept.terms,
            grad=grad,
            columns=(
                Column("pred", "ŷ", kept.prediction),
                Column("target", "y", kept.target),
                Column("diff", "ŷ−y", kept.diff),
                Column(self.spec.term_key, self.spec.term_label, kept.terms),
            ),
            denominator=float(self.n) if self.reduction == "mean" else None,
            denominator_label="n",
            notes=tuple(notes),
            meta={"shape": (self.n,), "omitted": self.omitted, "rows_in": self.rows_seen},
            row_numbers=None if kept.terms.size == self.rows_seen else kept.rows,
        )

    def block_result(self, block: BlockTerms, divide: bool) -> LossResult:
        """One block's rows as a result (for writers that stream), its gradient divided if asked."""
        with np.errstate(all="ignore"):
            grad = block.grad / self.dtype.type(self.grad_divisor) if divide and block.grad is not None else block.grad
        return self._as_result(block, None, grad)

    def result(self) -> LossResult:
        if self.n == 0:
            raise DataError("no rows to compute on" if not self.omitted else "every row holds nan (all omitted)")
        dtype = self.dtype
        blocks = self._head + self._tail
        if self.keep_rows is not None and self._tail:
            tail = self.keep_rows // 2
            joined = _concat(self._tail)
            blocks = self._head + [_slice(joined, max(joined.terms.size - tail, 0), None)]
        kept = _concat(blocks)
        with np.errstate(all="ignore"):
            total = dtype.type(_accurate_sum(self._partials))
            if self.reduction == "none":
                value = kept.terms
            else:
                value = total / dtype.type(self.n) if self.reduction == "mean" else total
            grad = None if kept.grad is None else kept.grad / dtype.type(self.grad_divisor)
        notes = []
        if self.overflows:
            notes.append(
                f"{self.overflows} term{'s' if self.overflows > 1 else ''} overflowed to inf (first: row "
                f"{self.first_overflow_row}); the inf is kept, as PyTorch gives it"
            )
        if self.nan_rows:
            notes.append(
                f"{_rows(self.nan_rows)} with nan (first: row {self.first_nan_row}), so the result "
                "is nan; --nan-policy omit skips them"
            )
        return self._as_result(kept, value, grad, notes)


_BLOCK_FIELDS = ("prediction", "target", "diff", "terms", "grad", "rows")


def _slice(block: BlockTerms, start: int, stop: int | None) -> BlockTerms:
    parts = (getattr(block, key) for key in _BLOCK_FIELDS)
    return BlockTerms(*(None if part is None else part[start:stop] for part in parts))


def _concat(blocks: list[BlockTerms]) -> BlockTerms:
    if not blocks:
        return BlockTerms(*(np.empty(0) for _ in _BLOCK_FIELDS))
    joined = []
    for key in _BLOCK_FIELDS:
        parts = [getattr(b, key) for b in blocks]
        joined.append(None if parts[0] is None else np.concatenate(parts))
    return BlockTerms(*joined)


def _accurate_sum(partials: list[float]) -> float:
    """fsum is exact but raises on inf − inf; then the plain sum gives PyTorch's nan/inf."""
    try:
        return math.fsum(partials)
    except (OverflowError, ValueError):
        return float(np.sum(partials))


def elementwise_terms(spec: ElementwiseLoss, prediction: np.ndarray, target: np.ndarray):
    """The difference and the per-element terms of ``spec``; the arrays are already checked."""
    with np.errstate(all="ignore"):
        diff = prediction - target
        return diff, spec.term(diff)


def elementwise_loss(name: str, prediction, target, *, reduction: str = "mean", nan_policy: str = "propagate") -> LossResult:
    """The element-wise loss ``name`` (a key of ``ELEMENTWISE_LOSSES``) of prediction vs target.

    Shapes must match exactly (no broadcasting); ``none`` keeps the input's shape.

    >>> float(elementwise_loss("mse", [2, 3, 4, 5], [4, 5, 6, 7], reduction="sum").value)
    16.0
    """
    check_reduction(reduction)
    prediction = as_float_array(prediction, "prediction")
    target = as_float_array(target, "target")
    check_same_shape(prediction, target)
    accumulator = ElementwiseAccumulator(name, reduction, nan_policy=nan_policy)
    accumulator.add(prediction, target)
    result = accumulator.result()
    if nan_policy == "omit" or prediction.ndim == 1:
        return result
    shape = prediction.shape
    value = result.value.reshape(shape) if reduction == "none" else result.value
    grad = result.grad.reshape(shape)
    return replace(result, value=value, terms=result.terms.reshape(shape), grad=grad, meta={**result.meta, "shape": shape})


def l1(prediction, target, *, reduction: str = "mean") -> LossResult:
    """``torch.nn.L1Loss``: mean (or sum, or each) of ``|ŷ − y|``.

    >>> r = l1([2, 3, 4, 5], [4, 5, 6, 7])
    >>> float(r.value), r.grad.tolist()
    (2.0, [-0.25, -0.25, -0.25, -0.25])
    """
    return elementwise_loss("l1", prediction, target, reduction=reduction)


def mse(prediction, target, *, reduction: str = "mean") -> LossResult:
    """``torch.nn.MSELoss``: mean (or sum, or each) of ``(ŷ − y)²``.

    >>> r = mse([2, 3, 4, 5], [4, 5, 6, 7], reduction="sum")
    >>> float(r.value), r.grad.tolist()
    (16.0, [-4.0, -4.0, -4.0, -4.0])
    """
    return elementwise_loss("mse", prediction, target, reduction=reduction)


# ---------------------------------------------------------------------------------------------
# softmax


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Stable ``x − max − log Σ exp(x − max)``; finite where the naive formula overflows.

    >>> log_softmax(np.array([1000.0, -1000.0, 0.0])).tolist()
    [0.0, -2000.0, -1000.0]
    """
    with np.errstate(all="ignore"):
        shifted = x - np.max(x, axis=axis, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _check_dim(x: np.ndarray, dim: int) -> int:
    if not -x.ndim <= dim < x.ndim:
        allowed = ", ".join(str(d) for d in range(-x.ndim, x.ndim))
        raise UsageError(f"dim {dim} is out of range for a {x.ndim}-D input (use one of {allowed})")
    return dim % x.ndim


def softmax(x, *, dim: int = -1, temperature: float = 1.0, log: bool = False) -> LossResult:
    """``torch.softmax(x / temperature, dim)`` (or ``log_softmax`` with ``log=True``), computed stably.

    >>> [round(p, 4) for p in softmax([1, 2, 3, 4]).value.tolist()]
    [0.0321, 0.0871, 0.2369, 0.6439]
    >>> softmax([1000, -1000, 0]).value.tolist()
    [1.0, 0.0, 0.0]
    """
    x = as_float_array(x, "input")
    if x.size == 0:
        raise DataError("input is empty")
    if x.ndim > 2:
        raise DataError(f"input has {x.ndim} dimensions; give a vector or a matrix")
    if not (np.isfinite(temperature) and temperature > 0):
        raise UsageError(f"temperature must be a positive number, not {temperature:g}")
    axis = _check_dim(x, dim)
    with np.errstate(all="ignore"):
        scaled = x / x.dtype.type(temperature) if temperature != 1 else x
        shifted = scaled - np.max(scaled, axis=axis, keepdims=True)
        exp_shifted = np.exp(shifted)
        denominator = np.sum(exp_shifted, axis=axis, keepdims=True)
        probabilities = exp_shifted / denominator
        log_probabilities = shifted - np.log(denominator)
    value = log_probabilities if log else probabilities
    columns = [Column("x", "x", x.ravel())]
    if temperature != 1:
        columns.append(Column("x_over_t", f"x/{temperature:g}", scaled.ravel()))
    finite = scaled[np.isfinite(scaled)]
    if finite.size == scaled.size and np.all(np.abs(finite) < 700):
        # e^x itself fits in a float: show the textbook quantities (same shares as the stable form).
        with np.errstate(all="ignore"):
            exp, key, label = np.exp(scaled), "exp", "e^x"
    else:
        exp, key, label = exp_shifted, "exp_shifted", "e^(x−max)"
    columns += [
        Column(key, label, exp.ravel()),
        Column("sum_" + key, "Σ " + label, np.broadcast_to(exp.sum(axis=axis, keepdims=True), x.shape).ravel()),
        Column("softmax", "softmax", probabilities.ravel()),
    ]
    if log:
        columns.append(Column("log_softmax", "log-softmax", log_probabilities.ravel()))
    return LossResult(
        loss="softmax",
        reduction="none",
        dtype=str(x.dtype),
        n=x.size,
        value=value,
        terms=value,
        grad=None,
        columns=tuple(columns),
        meta={"shape": x.shape, "dim": axis, "temperature": temperature, "log": log, "scaled": scaled},
    )


# ---------------------------------------------------------------------------------------------
# cross-entropy on logits


def _check_weight(weight, classes: int, dtype) -> np.ndarray | None:
    if weight is None:
        return None
    weight = as_float_array(weight, "weight").astype(dtype, copy=False)
    if weight.ndim != 1 or weight.size != classes:
        raise UsageError(f"weight has {weight.size} entries but there are {classes} classes")
    bad = np.flatnonzero(~np.isfinite(weight) | (weight < 0))
    if bad.size:
        i = int(bad[0])
        raise UsageError(f"weight {i} (class {i}) is {weight[i]:g}; weights must be finite and ≥ 0")
    return weight


def _check_class_indices(target: np.ndarray, classes: int, ignore_index: int) -> np.ndarray:
    """Class indices as int64; each a whole number in [0, classes) or exactly ``ignore_index``."""
    if not -(2**63) <= ignore_index < 2**63:
        raise UsageError(f"ignore_index {ignore_index} is out of the 64-bit integer range")
    labels = []
    for row, label in enumerate(target.ravel().tolist(), start=1):
        if not math.isfinite(label) or label != math.floor(label):
            raise DataError(f"target row {row}: class index {label:g} is not a whole number")
        index = int(label)  # compared as an integer: 2**53 + 1 must not pass for 2**53
        if index != ignore_index and index < 0:
            raise DataError(
                f"target row {row}: class index {index} is negative "
                f"(only ignore_index, now {ignore_index}, may be)"
            )
        if index != ignore_index and index >= classes:
            raise DataError(
                f"target row {row}: class index {index} is out of range for {classes} classes "
                f"(0 to {classes - 1})"
            )
        labels.append(index if index != ignore_index else -1)
    # Ignored rows are stored as -1 so the array fits int64 whatever ignore_index is.
    return np.array(labels, dtype=np.int64)


def _check_probabilities(target: np.ndarray) -> None:
    rows = target.reshape(-1, target.shape[-1])
    for row, probabilities in enumerate(rows, start=1):
        if not np.all(np.isfinite(probabilities)):
            raise DataError(f"target row {row}: probabilities must be finite")
        if np.any(probabilities < 0):
            raise DataError(f"target row {row}: probability {probabilities.min():g} is negative")
        total = float(np.sum(probabilities, dtype=np.float64))
        if abs(total - 1) > PROBABILITY_SUM_TOLERANCE:
            raise DataError(
                f"target row {row} sums to {total:g}; probability targets must sum to 1 "
                f"(within {PROBABILITY_SUM_TOLERANCE:g})"
            )


def _target_kind(logits: np.ndarray, target: np.ndarray) -> str:
    """PyTorch's rule: a target of the logits' shape holds probabilities, else class indices."""
    if target.shape == logits.shape and not (logits.ndim == 1 and logits.size == 1):
        return "probs"
    samples = 1 if logits.ndim == 1 else logits.shape[0]
    if target.size == samples and target.ndim <= 1:
        return "index"
    raise DataError(
        f"target has shape {_shape(target)} but logits have shape {_shape(logits)}: give one class "
        f"index per sample ({samples}) or one probability row per sample {_shape(logits)}"
    )


def _looks_like_probabilities(rows: np.ndarray) -> bool:
    return bool(
        rows.shape[-1] > 1
        and np.all((rows >= 0) & (rows <= 1))
        and np.allclose(rows.sum(axis=-1), 1, atol=1e-4)
    )


def cross_entropy(
    logits,
    target,
    *,
    reduction: str = "mean",
    weight=None,
    ignore_index: int = DEFAULT_IGNORE_INDEX,
    label_smoothing: float = 0.0,
    nan_policy: str = "propagate",
) -> LossResult:
    """``torch.nn.CrossEntropyLoss`` on logits: class-index or probability targets.

    ``logits`` is ``(C,)`` with one class index, or ``(N, C)`` with ``N`` indices; a target of the
    logits' own shape holds probabilities. Weighted ``mean`` divides by ``Σ w[y]`` for indices
    and by ``N`` for probabilities, as PyTorch does.

    >>> x = [[1, 2, 0.5], [0.1, -1, 3], [2, 2, -0.5], [0, 1, 0]]
    >>> round(float(cross_entropy(x, [1, 2, 0, 1]).value), 12)
    0.454989377957
    >>> r = cross_entropy(x, [1, 2, 0, 1], weight=[1, 2, 0.5])
    >>> round(float(r.value), 12), r.denominator
    (0.509160709161, 5.5)
    """
    check_reduction(reduction)
    if not (0.0 <= label_smoothing <= 1.0):
        raise UsageError(f"label smoothing must be between 0 and 1, not {label_smoothing:g}")
    logits = as_float_array(logits, "logits")
    target = as_float_array(target, "target")
    if logits.size == 0:
        raise DataError("logits are empty")
    if target.size == 0:
        raise DataError("target is empty")
    if logits.ndim > 2:
        raise DataError(f"logits have {logits.ndim} dimensions; give a vector (C,) or a matrix (N, C)")
    check_nan_policy(nan_policy)
    kind = _target_kind(logits, target)
    notes = []
    if logits.ndim == 2:
        missing = np.isnan(logits).any(axis=1) | np.isnan(target.reshape(logits.shape[0], -1)).any(axis=1)
        if missing.any():
            first = int(np.argmax(missing)) + 1
            if nan_policy == "raise":
                raise DataError(f"row {first}: nan in the logits or target (--nan-policy raise)")
            if nan_policy == "omit":
                if missing.all():
                    raise DataError("every row holds nan (all omitted)")
                logits, target = logits[~missing], target[~missing]
            else:
                notes.append(f"{_rows(int(missing.sum()))} with nan (first: row {first}); --nan-policy omit skips them")
    elif np.isnan(logits).any() or np.isnan(target).any():
        if nan_policy != "propagate":
            raise DataError("the logits or target hold nan (one sample: nothing to omit)")
        notes.append("the logits or target hold nan, so the loss is nan")
    dtype = logits.dtype
    rows = logits.reshape(1, -1) if logits.ndim == 1 else logits
    samples, classes = rows.shape
    w = _check_weight(weight, classes, dtype)
    eps = dtype.type(label_smoothing)
    if _looks_like_probabilities(rows):
        notes.append(
            "the logits look like probabilities (each row is in [0, 1] and sums to 1); cross-entropy "
            "applies softmax itself, so passing softmax output applies it twice"
        )

    with np.errstate(all="ignore"):
        lp = log_softmax(rows, axis=1)
        p = np.exp(lp)
        weights = np.ones(classes, dtype=dtype) if w is None else w
        columns = [Column("logits", "logits", rows)]
        if kind == "index":
            labels = _check_class_indices(target, classes, ignore_index)
            valid = labels >= 0
            safe = np.where(valid, labels, 0)
            picked = np.arange(samples)
            nll = -lp[picked, safe]
            w_y = np.where(valid, weights[safe], dtype.type(0))
            terms = (1 - eps) * w_y * nll
            if label_smoothing:
                terms = terms + (eps / classes) * np.sum(-lp * weights, axis=1)
            terms = np.where(valid, terms, dtype.type(0))
            denominator = w_y.sum(dtype=dtype)
            denominator_label = "Σ w[y]" if w is not None else "n"
            one_hot = np.zeros_like(rows)
            one_hot[picked[valid], labels[valid]] = 1
            grad = (1 - eps) * w_y[:, None] * (p - one_hot)
            if label_smoothing:
                grad = grad + (eps / classes) * (weights.sum() * p - weights)
            grad = np.where(valid[:, None], grad, dtype.type(0))
            if not valid.any():
                notes.append(
                    f"every target equals ignore_index ({ignore_index}): the mean is nan and the "
                    "gradient zero, as in PyTorch"
                )
            columns += [
                Column("target", "y", np.where(valid, labels, np.int64(ignore_index))),
                Column("p_target", "p[y]", np.where(valid, p[picked, safe], np.nan)),
                Column("neg_log_p", "−log p[y]", np.where(valid, nll, np.nan)),
            ]
            if w is not None:
                columns.append(Column("weight", "w[y]", w_y))
            if label_smoothing:
                columns.append(
                    Column("smoothed_target", "t[y]", np.where(valid, (1 - eps) + eps / classes, np.nan))
                )
        else:
            _check_probabilities(target)
            probabilities = target.reshape(samples, classes).astype(dtype, copy=False)
            smoothed = (1 - eps) * probabilities + eps / classes
            weighted = weights * smoothed
            terms = -np.sum(weighted * lp, axis=1)
            denominator = dtype.type(samples)
            denominator_label = "N"
            grad = np.sum(weighted, axis=1, keepdims=True) * p - weighted
            columns.append(Column("target", "t", probabilities))
            if label_smoothing:
                columns.append(Column("smoothed_target", "t′", smoothed))
        columns.append(Column("loss", "loss", terms))

        if reduction == "none":
            value = terms if logits.ndim == 2 else terms[0]
        else:
            total = terms.sum(dtype=dtype)
            value = total / denominator if reduction == "mean" else total
            if reduction == "mean":
                grad = grad / denominator if denominator != 0 else np.zeros_like(grad)
    if logits.ndim == 1:
        grad = grad[0]
    return LossResult(
        loss="xent",
        reduction=reduction,
        dtype=str(dtype),
        n=samples,
        value=value,
        terms=terms,
        grad=grad,
        columns=tuple(columns),
        denominator=float(denominator) if reduction == "mean" else None,
        denominator_label=denominator_label,
        notes=tuple(notes),
        meta={
            "target_kind": kind,
            "classes": classes,
            "weight": w,
            "ignore_index": ignore_index,
            "label_smoothing": label_smoothing,
            "shape": logits.shape,
            "omitted": int(missing.sum()) if logits.ndim == 2 and nan_policy == "omit" else None,
        },
    )
