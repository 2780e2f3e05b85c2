"""The class family: cross-entropy on logits and NLL on log-probabilities, sample by sample.

A sample is a row of C class scores with a class index (or a row of C probabilities) as target.
Weighted ``mean`` divides by ``Σ w[y]`` for indices and by ``N`` for probabilities, as PyTorch;
the sums do not depend on the blocks (``ChunkedSum``). The two losses differ only in their
``ScoreForm``: how a row of scores becomes log-probabilities, and the gradient's form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from ..errors import DataError, UsageError
from ..mistakes import Watch
from ..result import ClassLayout, ClassTargets, Column, LossResult, OmittedRows, Presentation
from .base import (
    DEFAULT_IGNORE_INDEX,
    ChunkedSum,
    HeadTail,
    InfCount,
    LossParameter,
    NanCount,
    RangeCount,
    _shape,
    as_float_array,
    check_reduction,
)
from .by_class import ClassLossView
from .curve import LOG_PROBABILITY, LOGIT, Curve
from .metrics import ClassMetrics
from .softmax import log_softmax

# Probability targets whose rows miss 1 by more than this are rejected (PyTorch takes them silently).
PROBABILITY_SUM_TOLERANCE = 1e-3



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


def _check_class_indices(target: np.ndarray, classes: int, ignore_index: int, first_row: np.ndarray) -> np.ndarray:
    """Class indices as int64; each a whole number in [0, classes) or exactly ``ignore_index``.

    ``first_row`` holds each target's 0-based row in the whole input, for the messages.
    """
    if not -(2**63) <= ignore_index < 2**63:
        raise UsageError(f"ignore_index {ignore_index} is out of the 64-bit integer range")
    labels = []
    values = target.ravel()
    for row, label in zip((first_row + 1).tolist(), values.tolist()):
        if not math.isfinite(label) or label != math.floor(label):
            raise DataError.at_row(row, f"class index {label:g} is not a whole number")
        index = int(label)  # compared as an integer: 2**53 + 1 must not pass for 2**53
        if index != ignore_index and index < 0:
            hint = f"; if {index} marks a missing label, add --ignore-index {index}" if index == -1 else ""
            raise DataError.at_row(row, f"class index {index} is negative (only ignore_index, now {ignore_index}, may be){hint}")
        if index != ignore_index and index >= classes:
            hint = ""
            if index == classes and np.nanmin(np.where(values == ignore_index, np.nan, values)) >= 1:
                hint = f"; labels from 1 to {classes} look 1-based: subtract 1 from each (classes are numbered from 0)"
            raise DataError.at_row(row, f"class index {index} is out of range for {classes} classes (0 to {classes - 1}){hint}")
        labels.append(index if index != ignore_index else -1)
    # Ignored rows are stored as -1 so the array fits int64 whatever ignore_index is.
    return np.array(labels, dtype=np.int64)


def _check_probabilities(target: np.ndarray, positions: np.ndarray) -> None:
    rows = target.reshape(-1, target.shape[-1])
    with np.errstate(all="ignore"):
        totals = rows.sum(axis=1, dtype=np.float64)
        bad = ~np.isfinite(totals) | (rows < 0).any(axis=1) | (np.abs(totals - 1) > PROBABILITY_SUM_TOLERANCE)
    if not bad.any():  # the common case, without a Python loop over the rows
        return
    first = int(np.argmax(bad))
    for row, probabilities in zip((positions[first:] + 1).tolist(), rows[first:]):
        if not np.all(np.isfinite(probabilities)):
            raise DataError.at_row(row, "probabilities must be finite")
        if np.any(probabilities < 0):
            raise DataError.at_row(row, f"probability {probabilities.min():g} is negative")
        total = float(np.sum(probabilities, dtype=np.float64))
        if abs(total - 1) > PROBABILITY_SUM_TOLERANCE:
            raise DataError.at_row(
                row, f"the probabilities sum to {total:g}; probability targets must sum to 1 "
                f"(within {PROBABILITY_SUM_TOLERANCE:g})"
            )


def _target_kind(logits: np.ndarray, target: np.ndarray, scores: str = "logits", probabilities: bool = True) -> str:
    """PyTorch's rule: a target of the logits' shape holds probabilities, else class indices.

    ``scores`` names the first input in messages; without ``probabilities`` such a target is refused.
    """
    if target.shape == logits.shape and not (logits.ndim == 1 and logits.size == 1):
        if not probabilities:
            raise DataError(
                f"target has the shape of the {scores} {_shape(logits)}: give one class index per sample "
                "(probability targets are cross-entropy's: xent on logits)"
            )
        return "probs"
    samples = 1 if logits.ndim == 1 else logits.shape[0]
    if target.size == samples and target.ndim <= 1:
        return "index"
    labels_first = (
        target.ndim == 2 and target.shape[1] > 1 and target.shape[0] == logits.size
        and bool(np.all(np.isfinite(logits) & (logits == np.floor(logits))))
    )
    hint = f"; did you swap them? the {scores} come first, then the targets" if labels_first else ""
    rows = f" or one probability row per sample {_shape(logits)}" if probabilities else ""
    raise DataError(
        f"target has shape {_shape(target)} but {scores} have shape {_shape(logits)}: give one class "
        f"index per sample ({samples}){rows}{hint}"
    )


# Rows in [0, 1] summing to 1 within this are taken for probabilities: wide enough for softmax
# output rounded to 3 decimals (0.333, 0.333, 0.333).
LOOKS_LIKE_PROBABILITIES_TOLERANCE = 1e-2


def _looks_like_probabilities(rows: np.ndarray) -> bool:
    return bool(
        rows.shape[-1] > 1
        and np.all((rows >= 0) & (rows <= 1))
        and np.all(np.abs(rows.sum(axis=-1, dtype=np.float64) - 1) <= LOOKS_LIKE_PROBABILITIES_TOLERANCE)
    )


# In the unscaled gradient of a mean, an ignored sample's row is all −0.0: a scored row never is
# (its other classes get +0.0 or more), so ``scale_grad`` can keep ignored rows at 0 even when the
# mean divides by 0 and every scored row becomes nan (as in PyTorch).
_IGNORED_ROW_GRAD = -0.0


@dataclass(frozen=True)
class ScoreForm:
    """What a class loss takes as scores: the step to log-probabilities and the gradient's form.

    The term of an index target is ``−w[y]·lp[y]`` with ``lp = log_probabilities(scores)``; its
    gradient w.r.t. the scores is ``w[y]·(grad_base(lp) − onehot(y))``.
    """

    key: str  # the scores' column in csv/json (and in omitted rows)
    label: str  # their table header
    name: str  # their name in messages
    log_probabilities: Callable[[np.ndarray], np.ndarray]  # (N, C) scores -> (N, C) log-probabilities
    grad_base: Callable[[np.ndarray], np.ndarray]  # of the log-probabilities: softmax, or 0
    picked: Callable[[np.ndarray], tuple[Column, ...]]  # the table's steps, from lp[n, y_n] (nan if ignored)
    nan_how: Callable[[np.ndarray], str]  # what made nan of a row that holds none
    applies_softmax: bool  # so softmax output given as scores is softmax twice


def _softmax_nan_how(row: np.ndarray) -> str:
    if np.isposinf(row).any():
        return "a logit of +inf gives inf − inf in the softmax"
    return "a logit of −inf meets a weight or share of 0 (0·inf)"


LOGITS = ScoreForm(
    key="logits", label="logits", name="logits",
    log_probabilities=lambda rows: log_softmax(rows, axis=1),
    grad_base=np.exp,  # softmax − onehot
    picked=lambda lp_y: (Column("p_target", "p[y]", np.exp(lp_y)), Column("neg_log_p", "−log p[y]", -lp_y)),
    nan_how=_softmax_nan_how,
    applies_softmax=True,
)

LOG_PROBABILITIES = ScoreForm(
    key="logprobs", label="log-probs", name="log-probabilities",
    log_probabilities=lambda rows: rows,  # taken as given: nothing checks they are log-probabilities
    grad_base=np.zeros_like,  # −onehot
    picked=lambda lp_y: (Column("neg_x_target", "−x[y]", -lp_y),),
    nan_how=lambda row: "an input of −inf meets a weight of 0 (0·inf)",
    applies_softmax=False,
)


def _cross_entropy_rows(rows, target, kind, weights, ignore_index, eps, with_grad, positions, ignored_grad=0.0,
                        form: ScoreForm = LOGITS):
    """Per-sample terms, gradient (unscaled), table columns and ``w[y]`` (the mean's denominator terms).

    ``rows`` is (N, C) and free of nan where nan is not wanted; ``weights`` is all ones when no
    weights were given; ``positions`` are the rows' places in the whole input, for messages;
    ``ignored_grad`` fills the gradient of ignored samples; ``form`` says what the scores are.
    The formulas are those of semantics.md, sample by sample.
    """
    samples, classes = rows.shape
    dtype = rows.dtype
    with np.errstate(all="ignore"):
        lp = form.log_probabilities(rows)
        p = form.grad_base(lp) if with_grad or kind != "index" else None
        columns = [Column(form.key, form.label, rows)]
        grad = None
        if kind == "index":
            labels = _check_class_indices(target, classes, ignore_index, positions)
            valid = labels >= 0
            safe = np.where(valid, labels, 0)
            picked = np.arange(samples)
            nll = -lp[picked, safe]
            w_y = np.where(valid, weights[safe], dtype.type(0))
            terms = (1 - eps) * w_y * nll
            if eps:
                terms = terms + (eps / classes) * np.sum(-lp * weights, axis=1)
            terms = np.where(valid, terms, dtype.type(0))
            if with_grad:
                one_hot = np.zeros_like(rows)
                one_hot[picked[valid], labels[valid]] = 1
                grad = (1 - eps) * w_y[:, None] * (p - one_hot)
                if eps:
                    grad = grad + (eps / classes) * (weights.sum() * p - weights)
                grad = np.where(valid[:, None], grad, dtype.type(ignored_grad))
            columns += [
                Column("target", "y", np.where(valid, labels, np.int64(ignore_index))),
                *form.picked(np.where(valid, lp[picked, safe], np.nan)),
            ]
            valid_count = int(valid.sum())
        else:
            _check_probabilities(target, positions)
            probabilities = target.reshape(samples, classes).astype(dtype, copy=False)
            smoothed = (1 - eps) * probabilities + eps / classes
            weighted = weights * smoothed
            terms = -np.sum(weighted * lp, axis=1)
            if with_grad:
                grad = np.sum(weighted, axis=1, keepdims=True) * p - weighted
            columns.append(Column("target", "t", probabilities))
            valid_count = samples
    return terms, grad, columns, valid_count, (w_y if kind == "index" else None), (
        np.where(valid, (1 - eps) + eps / classes, np.nan) if kind == "index" else smoothed
    )


class CrossEntropyAccumulator:
    """``nn.CrossEntropyLoss`` over blocks of samples: (N, C) logits with N class indices or N
    probability rows per block. Sums do not depend on the blocks (``ChunkedSum``); the mean
    divides by ``Σ w[y]`` (indices) or ``N`` (probabilities) only once every block is in.

    >>> acc = CrossEntropyAccumulator("mean", weight=[1, 2, 0.5])
    >>> _ = acc.add(np.array([[1, 2, 0.5], [0.1, -1, 3]]), np.array([1, 2]))
    >>> _ = acc.add(np.array([[2, 2, -0.5], [0, 1, 0]]), np.array([0, 1]))
    >>> round(float(acc.result().value), 12)
    0.509160709161
    """

    name = "xent"
    presentation = Presentation("cross-entropy", grad_of="x", samples=True, class_column="target")
    form = LOGITS
    takes_probability_targets = True
    metrics = ClassMetrics()  # accuracy, top-k accuracy, perplexity, bits per token
    has_by_class = True  # --by-class: per class count, loss, accuracy (losses.by_class)
    has_floor = True  # label smoothing and probability targets keep the least loss above 0
    # For ``losscli plot``: two classes, the true one (0) at logit x, the other at 0 (bce-logits at y = 1).
    curve = Curve(LOGIT, "2 classes, the other's logit 0", lambda x: (np.stack([x, np.zeros_like(x)], axis=1), np.zeros(x.size, dtype=np.int64)))
    curve_parameters = (LossParameter("label_smoothing", "ε", 0.0, 0.0, maximum=1.0),)

    def __init__(
        self,
        reduction: str = "mean",
        *,
        weight=None,
        ignore_index: int = DEFAULT_IGNORE_INDEX,
        label_smoothing: float = 0.0,
        nan_policy: str = "propagate",
        keep_rows: int | None = None,
        with_grad: bool = True,
        dtype: str | None = None,
        input_notes: list[str] | None = None,
        top_k: int | None = None,
        with_metrics: bool = True,
        by_class: bool = False,
    ):
        check_reduction(reduction)
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
            raise UsageError(f"ignore_index must be a whole number, not {ignore_index!r}")
        if not (0.0 <= label_smoothing <= 1.0):
            raise UsageError(f"label smoothing must be between 0 and 1, not {label_smoothing:g}")
        self.reduction = reduction
        self.weight_given = weight
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.nan_count = NanCount(nan_policy)
        self.watch = Watch(self.name, reduction, {
            "label_smoothing": label_smoothing, "ignore_index": ignore_index, "weight": weight,
        })
        self.inf_count = InfCount()
        self.with_grad = with_grad
        self.weight: np.ndarray | None = None
        self.kind: str | None = None
        self.classes = 0
        # Blocks are cast to ``dtype`` here, so that values it cannot hold are counted.
        self.dtype: np.dtype | None = None if dtype is None else np.dtype(dtype)
        self.out_of_range = RangeCount()
        self.input_notes = input_notes if input_notes is not None else []  # read at the end
        self.n = self.rows_seen = self.valid = 0
        self.all_look_like_probabilities = True
        self._sum = ChunkedSum()
        self._weight_sum = ChunkedSum()  # Σ w[y] over the scored samples (index targets)
        self._window = HeadTail(keep_rows, lambda r: len(r.terms), LossResult.take_rows, LossResult.stack_rows)
        self._keeps_every_row = keep_rows is None
        if top_k is not None and top_k < 1:
            raise UsageError(f"--top-k must be at least 1, not {top_k}")
        # Accuracy, perplexity, ... of the scored rows: only when shown (they cost a pass over every row).
        self.metric_tracker = self.metrics.tracker(self.form.log_probabilities, top_k) if with_metrics else None
        self.by_class = by_class
        self.view: ClassLossView | None = None  # made with the first block, once C is known

    def _first_block(self, logits: np.ndarray, kind: str) -> None:
        if kind == "probs" and self.ignore_index >= 0:
            # PyTorch: TORCH_CHECK(ignore_index < 0, "ignore_index is not supported for floating point target")
            raise UsageError(
                f"--ignore-index {self.ignore_index} is not supported with probability targets "
                "(as in PyTorch, only a negative ignore_index is allowed with them)"
            )
        self.kind, self.classes = kind, logits.shape[1]
        self.dtype = self.dtype or logits.dtype
        self.weight = _check_weight(self.weight_given, self.classes, self.dtype)
        if self.metric_tracker is not None:
            self.metric_tracker.check_classes(self.classes)
        self.view = ClassLossView(self.name, self.classes, kind, self.weight, self.ignore_index, self.label_smoothing,
                                  self.by_class and self.has_by_class, self.has_floor)

    def add_block(self, logits, target) -> LossResult:
        return self.add(logits, target)

    def _rows(self, logits, target, positions, with_grad):
        weights = np.ones(self.classes, dtype=self.dtype) if self.weight is None else self.weight
        ignored_grad = _IGNORED_ROW_GRAD if self.reduction == "mean" else 0.0
        return _cross_entropy_rows(
            logits, target, self.kind, weights, self.ignore_index, self.dtype.type(self.label_smoothing),
            with_grad, positions, ignored_grad, self.form,
        )

    def _computed_nan(self, logits, terms, missing, rows):
        """Rows to keep after nan that the loss itself made (inf − inf, 0·inf); None keeps all."""
        computed = np.isnan(terms) & ~missing
        if not computed.any():
            return None
        first = logits[np.argmax(computed)]
        how = self.form.nan_how(first)
        return self.nan_count.rows_to_keep(computed, rows, "", computed=computed, how=how)

    def add(self, logits, target) -> LossResult:
        """One block: (N, C) scores and their targets. Returns its rows (gradient unscaled)."""
        scores = self.form.name
        logits = as_float_array(logits, scores)
        target = as_float_array(target, "target")
        if logits.ndim != 2 or logits.size == 0:
            raise DataError(f"{scores} have shape {_shape(logits)}; a block needs rows of class scores (N, C)")
        kind = _target_kind(logits, target, scores, self.takes_probability_targets)
        if self.kind is None:
            self._first_block(logits, kind)
        elif kind != self.kind or logits.shape[1] != self.classes:
            raise DataError(
                f"row {self.rows_seen + 1}: the targets or the class count change within the input"
            )
        given = (logits, target)
        with np.errstate(over="ignore"):  # a value beyond float32: inf, counted below
            logits = logits.astype(self.dtype, copy=False)
            if kind == "probs":
                target = target.astype(self.dtype, copy=False)
        rows = np.arange(self.rows_seen, self.rows_seen + logits.shape[0])
        self.rows_seen += logits.shape[0]
        for values, narrowed in zip(given, (logits, target)):
            self.out_of_range.check(values, narrowed, rows, overflow=not np.isfinite(narrowed).all())
        missing = np.isnan(logits).any(axis=1) | np.isnan(target.reshape(logits.shape[0], -1)).any(axis=1)
        if missing.any() and self.nan_count.policy == "raise":
            # A nan the loss makes in an earlier row of this block is the first one to name.
            before = int(np.argmax(missing))
            if before:
                terms = self._rows(logits[:before], target[:before], rows[:before], False)[0]
                self._computed_nan(logits[:before], terms, missing[:before], rows[:before])
        keep = self.nan_count.rows_to_keep(missing, rows, f"the {scores} or target")
        omitted = None
        if keep is not None:
            omitted = OmittedRows(rows[~keep], {self.form.key: logits[~keep], "target": target[~keep]})
            logits, target, rows, missing = logits[keep], target[keep], rows[keep], missing[keep]
        if logits.shape[0] and not _looks_like_probabilities(logits):
            self.all_look_like_probabilities = False
        self.watch.observe({"input": logits, "target": target}, rows)
        terms, grad, columns, valid, w_y, smoothed = self._rows(logits, target, rows, self.with_grad)
        keep = self._computed_nan(logits, terms, missing, rows)
        if keep is not None:
            computed = OmittedRows(rows[~keep], {self.form.key: logits[~keep], "target": target[~keep]})
            omitted = OmittedRows.join([omitted, computed])
            logits, target, rows = logits[keep], target[keep], rows[keep]
            terms, grad, columns, valid, w_y, smoothed = self._rows(logits, target, rows, self.with_grad)
        if self.metric_tracker is not None:
            self.metric_tracker.observe(logits, target, self.kind, self.ignore_index)
        if self.weight is not None and self.kind == "index":
            columns.append(Column("weight", "w[y]", w_y))
        if self.label_smoothing:
            label = "t[y]" if self.kind == "index" else "t′"
            columns.append(Column("smoothed_target", label, smoothed))
        columns.append(Column("loss", "loss", terms))
        self.view.add(logits, target, terms)
        self.n += terms.size
        self.valid += valid
        self._sum.add(terms)
        if self.kind == "index":
            self._weight_sum.add(w_y)
        with np.errstate(all="ignore"):
            finite = math.isfinite(float(terms.sum(dtype=np.float64)))
        if not finite:  # only then can an inf logit have made a term inf or nan
            self.inf_count.add(np.isinf(logits).any(axis=1), terms, rows)
        part = LossResult(
            loss=self.name,
            reduction=self.reduction,
            dtype=str(self.dtype),
            n=terms.size,
            value=None,
            terms=terms,
            grad=grad,
            columns=tuple(columns),
            **self._described(),
            row_numbers=rows,
            omitted_rows=omitted,
        )
        self._window.add(part)
        return part

    @property
    def denominator(self) -> float:
        return self._weight_sum.total() if self.kind == "index" else float(self.n)

    def scale_grad(self, grad: np.ndarray) -> np.ndarray:
        """A block's gradient once every block is in: divided by the mean's denominator.

        When that denominator is 0 the scored rows are nan (0/0, as in PyTorch) and ignored rows 0.
        """
        if self.reduction != "mean":
            return grad
        denominator = self.denominator
        with np.errstate(all="ignore"):
            scaled = grad / self.dtype.type(denominator) if denominator else np.full_like(grad, np.nan)
        if self.kind == "index":
            ignored = np.all((grad == 0) & np.signbit(grad), axis=-1)
            scaled[ignored] = 0
        return scaled

    def _described(self) -> dict:
        """The result's fields that say what was computed (the same for a block and for the whole)."""
        return dict(
            presentation=self.presentation,
            shape=(self.n, self.classes),
            parameters=self._parameters(),
            details=ClassTargets(self.kind, self.classes, self.valid, self.form.applies_softmax),
            omitted=self.nan_count.omitted if self.nan_count.policy == "omit" else None,
            rows_in=self.rows_seen,
            head_rows=self._window.first_rows(self.n),
        )

    def _parameters(self) -> dict:
        """The options as JSON names them."""
        return {"weight": self.weight, "ignore_index": self.ignore_index, "label_smoothing": self.label_smoothing}

    def partial(self):
        """What this reduction leaves to join with other shards' (``losses.partial.Partial``): the
        exact sums of the terms and of ``w[y]``, the counts and the options; refused for ``none``.

        >>> a, b = CrossEntropyAccumulator(weight=[1, 2, 0.5]), CrossEntropyAccumulator(weight=[1, 2, 0.5])
        >>> _ = a.add(np.array([[1, 2, 0.5], [0.1, -1, 3]]), np.array([1, 2]))
        >>> _ = b.add(np.array([[2, 2, -0.5], [0, 1, 0]]), np.array([0, 1]))
        >>> round(float(a.merge(b).value()), 12)  # as the class docstring's four rows in one
        0.509160709161
        """
        from .partial import Partial, no_partial

        no_partial(self.reduction)
        if self.n == 0:
            raise DataError("every row holds nan (all omitted)" if self.nan_count.omitted else "no rows to compute on")
        index = self.kind == "index"
        return Partial(
            **self.partial_form({"target_kind": self.kind, "classes": self.classes}),
            counts={"n": self.n, "rows": self.rows_seen, "valid": self.valid, "omitted": self.nan_count.omitted,
                    "nan": self.nan_count.kept, "parts": 1},
            sums={"terms": self._sum.pieces(), **({"weights": self._weight_sum.pieces()} if index else {})},
        )

    def partial_form(self, facts: dict) -> dict:
        """What this loss's partial is for targets of ``facts`` (kind and class count), whatever
        the data: what a partial read back must equal."""
        from .partial import _option_value

        parameters = self._parameters()
        if self.weight is None:  # before any data: the given weights, checked as the first block would
            parameters["weight"] = _check_weight(self.weight_given, facts["classes"], self.dtype or np.dtype(np.float64))
        options = {name: _option_value(value) for name, value in parameters.items()}
        options["nan_policy"] = self.nan_count.policy
        index = facts["target_kind"] == "index"
        return dict(loss=self.name, reduction=self.reduction, dtype=str(self.dtype), options=options,
                    denominator="weights" if index else "n",
                    denominator_is="N" if not index else ("Σ w[y]" if parameters["weight"] is not None else "n"),
                    facts=dict(facts))

    def merge(self, other: "CrossEntropyAccumulator"):
        """This accumulator's partial joined with ``other``'s (same loss and options), a ``Partial``."""
        return self.partial().merge(other.partial())

    def result(self) -> LossResult:
        if self.n == 0:
            raise DataError("every row holds nan (all omitted)" if self.nan_count.omitted else "no rows to compute on")
        dtype = self.dtype
        kept = self._window.kept()
        denominator = dtype.type(self.denominator)
        with np.errstate(all="ignore"):
            total = dtype.type(self._sum.total())
            if self.reduction == "none":
                value = kept.terms
            elif self.reduction == "sum":
                value = total
            else:
                # 0/0 is nan; so is a smoothing term over 0 (PyTorch adds it to the nan of the rest).
                value = total / denominator if denominator else dtype.type(np.nan)
        notes = [*self.input_notes, *self.out_of_range.note(dtype), *self.nan_count.note(), *self.inf_count.note()]
        # The softmax-output note below is cross-entropy's own (it knows the classes seen).
        notes += [f.message for f in self.watch.findings() if f.level == "warning" and f.rule != "softmax-into-xent"]
        if self.form.applies_softmax and self.all_look_like_probabilities and self.classes > 1:
            notes.append(
                "the logits look like probabilities (each row is in [0, 1] and sums to 1); cross-entropy "
                "applies softmax itself, so passing softmax output applies it twice"
            )
        if self.kind == "index" and self.valid == 0:
            gives = {"mean": "the mean is nan (0 / 0)", "sum": "the sum is 0", "none": "every term is 0"}
            notes.append(
                f"every target equals ignore_index ({self.ignore_index}): {gives[self.reduction]} and the "
                "gradient zero, as in PyTorch"
            )
        elif self.kind == "index" and self.reduction == "mean" and denominator == 0:
            notes.append(
                "Σ w[y] over the scored targets is 0 (every target's class has weight 0): the mean is "
                "0/0 = nan and so is the gradient of those rows, as in PyTorch"
            )
        notes += self.view.notes()
        by_class, floor = self.view.result(float(denominator), self.reduction)
        return replace(
            kept,
            value=value,
            n=self.n,
            grad=None if kept.grad is None else self.scale_grad(kept.grad),
            denominator=float(denominator) if self.reduction == "mean" else None,
            denominator_label="N" if self.kind == "probs" else ("Σ w[y]" if self.weight is not None else "n"),
            notes=tuple(notes),
            **self._described(),
            row_numbers=None if len(kept.terms) == self.rows_seen else kept.row_numbers,
            omitted_rows=kept.omitted_rows if self._keeps_every_row else None,
            metrics=None if self.metric_tracker is None else self.metric_tracker.result(),
            by_class=by_class,
            floor=floor,
            partial_of=None if self.reduction == "none" else self.partial,
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
    top_k: int | None = None,
    by_class: bool = False,
    class_dim: int = 1,
) -> LossResult:
    """``torch.nn.CrossEntropyLoss`` on logits: class-index or probability targets.

    ``logits`` is ``(C,)`` with one class index, or ``(N, C)`` with ``N`` indices, or ``(N, C, d1, …)``
    with ``(N, d1, …)`` indices (``class_dim=-1``: a language model's ``(B, T, V)`` with ``(B, T)``);
    a target of the logits' own shape holds probabilities. Weighted ``mean`` divides by ``Σ w[y]`` for indices
    and by ``N`` for probabilities, as PyTorch does. ``top_k`` adds the top-k accuracy to the metrics.

    >>> x = [[1, 2, 0.5], [0.1, -1, 3], [2, 2, -0.5], [0, 1, 0]]
    >>> round(float(cross_entropy(x, [1, 2, 0, 1]).value), 12)
    0.454989377957
    >>> r = cross_entropy(x, [1, 2, 0, 1], weight=[1, 2, 0.5])
    >>> round(float(r.value), 12), r.denominator
    (0.509160709161, 5.5)
    >>> r = cross_entropy(np.zeros((2, 3, 4)), np.zeros((2, 4)), reduction="none")  # (N, C, d): log 3 each
    >>> r.value.shape, round(float(r.value[1, 3]), 12)
    ((2, 4), 1.098612288668)
    """
    accumulator = CrossEntropyAccumulator(
        reduction, weight=weight, ignore_index=ignore_index, label_smoothing=label_smoothing, nan_policy=nan_policy,
        top_k=top_k, by_class=by_class,
    )
    return _whole_arrays(accumulator, logits, target, class_dim)


def _whole_arrays(accumulator: CrossEntropyAccumulator, logits, target, class_dim: int = 1) -> LossResult:
    """A class loss on whole arrays: ``(N, C)`` scores, or ``(C,)`` as one sample, or K-dimensional
    scores with the classes on ``class_dim``; one block."""
    scores = accumulator.form.name
    logits = as_float_array(logits, scores)
    target = as_float_array(target, "target")
    if logits.size == 0:
        raise DataError(f"{scores} are empty")
    if target.size == 0:
        raise DataError("target is empty")
    if logits.ndim > 2:
        return _k_dimensional(accumulator, logits, target, class_dim)
    kind = _target_kind(logits, target, scores, accumulator.takes_probability_targets)
    if logits.ndim == 2:
        accumulator.add(logits, target)
        return accumulator.result()
    # One sample (C,): PyTorch returns a scalar for none and a (C,) gradient.
    reduction = accumulator.reduction
    if np.isnan(logits).any() or np.isnan(target).any():
        if accumulator.nan_count.policy != "propagate":
            raise DataError(f"the {scores} or target hold nan (one sample: nothing to omit)")
    accumulator.add(logits.reshape(1, -1), target.reshape(1, -1) if kind == "probs" else target.reshape(1))
    result = accumulator.result()
    value = result.value[0] if reduction == "none" else result.value
    grad = None if result.grad is None else result.grad[0]
    return replace(result, value=value, grad=grad, shape=logits.shape)


def _k_dimensional(accumulator: CrossEntropyAccumulator, logits: np.ndarray, target: np.ndarray, class_dim: int) -> LossResult:
    """Scores with the classes on ``class_dim`` (1 or the last) as one row per position, in C order.

    ``reduction='none'`` gives the terms in the positions' shape, as PyTorch; the gradient has one
    row of C per position (``layout.grad_shape``).
    """
    scores = accumulator.form.name
    if not -logits.ndim <= class_dim < logits.ndim or class_dim % logits.ndim not in (1, logits.ndim - 1):
        raise UsageError(f"class_dim {class_dim}: the classes of {_shape(logits)} {scores} are on axis 1 or the last (-1)")
    axis = class_dim % logits.ndim
    probabilities = target.shape == logits.shape and accumulator.takes_probability_targets
    layout = ClassLayout(logits.shape, axis, "class_dim", probabilities)
    if not probabilities and target.shape != layout.positions_shape:
        raise DataError(
            f"target has shape {_shape(target)} but {scores} {_shape(logits)} with the classes on axis {axis} take "
            f"class indices of shape {_shape(np.empty(layout.positions_shape))} (class_dim=-1 puts the classes last)"
        )
    classes = logits.shape[axis]
    rows = np.moveaxis(logits, axis, -1).reshape(-1, classes)
    accumulator.add(rows, np.moveaxis(target, axis, -1).reshape(-1, classes) if probabilities else target.reshape(-1))
    result = accumulator.result()
    value = result.value.reshape(layout.positions_shape) if accumulator.reduction == "none" else result.value
    return replace(result, value=value, layout=layout)


def _log1m_exp(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(-np.expm1(x))


class NLLAccumulator(CrossEntropyAccumulator):
    """``nn.NLLLoss`` over blocks: (N, C) log-probabilities taken as given, N class indices.

    Cross-entropy without its softmax: ``ℓ_n = −w[y_n]·x[n, y_n]``, the gradient ``−w[y_n]`` at the
    target; the same weighted mean (``Σ ℓ / Σ w[y]``), ignore_index and streaming.

    >>> acc = NLLAccumulator("mean", weight=[1, 2, 0.5])
    >>> _ = acc.add(np.array([[-1.5, -0.5, -2.0], [-0.1, -3.0, -2.5]]), np.array([1, 0]))
    >>> float(acc.result().value)  # (2·0.5 + 1·0.1) / (2 + 1)
    0.3666666666666667
    """

    name = "nll"
    presentation = Presentation("NLL", grad_of="x", samples=True, class_column="target")
    form = LOG_PROBABILITIES
    takes_probability_targets = False
    has_floor = False  # index targets, no smoothing: a perfect prediction (log p[y] = 0) costs 0
    # For ``losscli plot``: the true class (0) at log-probability x, the other at log(1 − e^x).
    curve = Curve(LOG_PROBABILITY, "2 classes", lambda x: (np.stack([x, _log1m_exp(x)], axis=1), np.zeros(x.size, dtype=np.int64)))
    curve_parameters = ()

    def __init__(
        self,
        reduction: str = "mean",
        *,
        weight=None,
        ignore_index: int = DEFAULT_IGNORE_INDEX,
        nan_policy: str = "propagate",
        keep_rows: int | None = None,
        with_grad: bool = True,
        dtype: str | None = None,
        input_notes: list[str] | None = None,
        top_k: int | None = None,
        with_metrics: bool = True,
        by_class: bool = False,
    ):
        super().__init__(
            reduction, weight=weight, ignore_index=ignore_index, nan_policy=nan_policy, keep_rows=keep_rows,
            with_grad=with_grad, dtype=dtype, input_notes=input_notes, top_k=top_k, with_metrics=with_metrics,
            by_class=by_class,
        )

    def _parameters(self) -> dict:
        return {"weight": self.weight, "ignore_index": self.ignore_index}


def nll_loss(
    log_probabilities,
    target,
    *,
    reduction: str = "mean",
    weight=None,
    ignore_index: int = DEFAULT_IGNORE_INDEX,
    nan_policy: str = "propagate",
    top_k: int | None = None,
    by_class: bool = False,
    class_dim: int = 1,
) -> LossResult:
    """``torch.nn.NLLLoss``: ``−w[y]·x[y]`` per sample, of log-probabilities ``x`` taken as given.

    ``x`` is ``(C,)`` with one class index, or ``(N, C)`` with ``N`` indices, or ``(N, C, d1, …)``
    (classes on ``class_dim``, 1 or -1) with the indices in the other axes' shape. Weighted ``mean``
    divides by ``Σ w[y]`` over the non-ignored targets, as cross-entropy does.

    >>> r = nll_loss([[-1.5, -0.5, -2.0], [-0.1, -3.0, -2.5]], [1, 0])
    >>> float(r.value), r.grad.tolist()
    (0.3, [[0.0, -0.5, 0.0], [-0.5, 0.0, 0.0]])
    """
    accumulator = NLLAccumulator(
        reduction, weight=weight, ignore_index=ignore_index, nan_policy=nan_policy, top_k=top_k, by_class=by_class
    )
    return _whole_arrays(accumulator, log_probabilities, target, class_dim)
