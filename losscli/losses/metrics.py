"""Metrics beside the loss: accuracy, top-k accuracy, perplexity, bits per token, MAE, RMSE, R², max error.

Each loss declares which set it gets (``PointwiseLoss.metrics``, the class accumulator's
``metrics``): a ``*Metrics`` declaration whose ``tracker`` follows the stream. The accumulator
hands each block's kept rows (after ``--nan-policy omit``) to ``observe`` and asks ``result``
at the end, so the metrics need one pass and flat memory. Sums are ``ChunkedSum``s and the
target's spread (for R²) is merged over fixed chunks counted from the first row, so the numbers
do not depend on the blocks: inline input, a file and any block size give the same bits.
Pure numpy, computed in float64 from the inputs as the loss took them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import UsageError
from ..result import MetricValues
from .base import ChunkedSum

LN2 = math.log(2)


def _first_row(mask: np.ndarray, rows: np.ndarray) -> int:
    return int(rows[int(np.argmax(mask))]) + 1


# --- the declarations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NoMetrics:
    """A loss with no metric beside it, and why (said by ``--metrics``)."""

    reason: str

    def tracker(self, parameters: dict):
        return None


@dataclass(frozen=True)
class RegressionMetrics:
    """MAE, RMSE, R² and max error of the prediction against the target.

    ``point(prediction, parameters)`` is the predicted value the target is compared with, when the
    first input is not it (Poisson's log-rate: the rate ``exp(x)``); None: the first input itself.
    """

    reason = None  # it has metrics (NoMetrics says why a loss has none)

    point: Callable[[np.ndarray, dict], np.ndarray] | None = None

    def tracker(self, parameters: dict) -> "RegressionTracker":
        return RegressionTracker(self.point, parameters)


@dataclass(frozen=True)
class BinaryMetrics:
    """Accuracy of ``input > threshold`` against 0/1 targets (0.5 on probabilities, 0 on logits)."""

    reason = None  # it has metrics (NoMetrics says why a loss has none)

    threshold: float

    def tracker(self, parameters: dict) -> "BinaryTracker":
        return BinaryTracker(self.threshold)


@dataclass(frozen=True)
class ClassMetrics:
    """Accuracy, top-k accuracy, perplexity and bits per token of rows of class scores."""

    reason = None  # it has metrics (NoMetrics says why a loss has none)

    def tracker(self, log_probabilities: Callable[[np.ndarray], np.ndarray], top_k: int | None) -> "ClassTracker":
        return ClassTracker(log_probabilities, top_k)


# --- the trackers -------------------------------------------------------------------------------


class RunningSpread:
    """Count, mean and Σ(y − ȳ)² of a stream, independent of its blocks and stable.

    Values are cut into chunks of ``ChunkedSum.CHUNK`` counted from the first one (a block's
    leftover is carried); each chunk's mean and Σ(y − mean)² are taken in two passes and merged
    into the running ones by Chan et al.'s update, in stream order. Values are shifted by the
    first one first (the spread does not change), so that a large offset (1e6 + small noise)
    leaves the chunk means exact enough for the merge.

    >>> whole, split = RunningSpread(), RunningSpread()
    >>> y = 1e6 + np.random.default_rng(0).random(40_000)
    >>> whole.add(y); split.add(y[:777]); split.add(y[777:])
    >>> exact = math.fsum((y - math.fsum(y) / y.size) ** 2)
    >>> whole.total() == split.total(), abs(whole.total() / exact - 1) < 1e-14
    (True, True)
    """

    CHUNK = ChunkedSum.CHUNK

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.shift: float | None = None
        self._carry = np.empty(0)

    @staticmethod
    def _merged(n: int, mean: float, m2: float, chunk: np.ndarray) -> tuple[int, float, float]:
        size = chunk.size
        if not size:
            return n, mean, m2
        with np.errstate(all="ignore"):
            chunk_mean = float(chunk.mean())
            chunk_m2 = float(np.square(chunk - chunk_mean).sum())
            if not n:
                return size, chunk_mean, chunk_m2
            total = n + size
            delta = chunk_mean - mean
            return total, mean + delta * size / total, m2 + chunk_m2 + delta * delta * (n * size / total)

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        if not values.size:
            return
        if self.shift is None:
            self.shift = float(values[0]) if math.isfinite(values[0]) else 0.0
        with np.errstate(all="ignore"):
            values = values - self.shift
        if self._carry.size:
            room = self.CHUNK - self._carry.size
            self._carry = np.concatenate((self._carry, values[:room]))
            values = values[room:]
            if self._carry.size < self.CHUNK:
                return
            self.n, self.mean, self.m2 = self._merged(self.n, self.mean, self.m2, self._carry)
        whole = values.size - values.size % self.CHUNK
        for start in range(0, whole, self.CHUNK):
            self.n, self.mean, self.m2 = self._merged(self.n, self.mean, self.m2, values[start : start + self.CHUNK])
        self._carry = values[whole:].copy()

    def total(self) -> float:
        """Σ(y − ȳ)² over every value added."""
        return self._merged(self.n, self.mean, self.m2, self._carry)[2]


class RegressionTracker:
    def __init__(self, point, parameters: dict) -> None:
        self.point, self.parameters = point, parameters
        self.n = 0
        self.absolute = ChunkedSum()
        self.squared = ChunkedSum()
        self.spread = RunningSpread()
        self.max_error = -math.inf
        self.low, self.high = math.inf, -math.inf  # of the target: a constant one leaves R² undefined

    def observe(self, inputs: tuple[np.ndarray, ...], rows: np.ndarray) -> None:
        prediction, target = (np.asarray(values, dtype=np.float64).ravel() for values in inputs[:2])
        if not target.size:
            return
        with np.errstate(all="ignore"):
            if self.point is not None:
                prediction = self.point(prediction, self.parameters)
            error = np.abs(prediction - target)
            self.absolute.add(error)
            self.squared.add(np.square(error))
            # np.max, not max(): a nan anywhere makes it nan, whatever the order.
            self.max_error = float(np.max([self.max_error, np.max(error)]))
            self.low = float(np.min([self.low, np.min(target)]))
            self.high = float(np.max([self.high, np.max(target)]))
        self.spread.add(target)
        self.n += target.size

    def result(self) -> MetricValues | None:
        if not self.n:
            return None
        n = self.n
        with np.errstate(all="ignore"):
            squared = self.squared.total()
            values = {
                "mae": self.absolute.total() / n,
                "rmse": math.sqrt(squared / n) if not math.isnan(squared) else math.nan,
                "max_error": self.max_error,
            }
            notes = ()
            spread = self.spread.total()
            if self.low == self.high:
                values["r2"] = math.nan
                notes = (f"R² is undefined: every target is {self.low:g}, so Σ(y − ȳ)² = 0",)
            elif spread == 0:  # targets so close that their squared spread underflows
                values["r2"] = math.nan
                notes = ("R² is undefined: Σ(y − ȳ)² underflows to 0 in float64",)
            else:  # numpy's division: inf/inf is nan, not an exception
                values["r2"] = float(1 - np.float64(squared) / np.float64(spread))
        return MetricValues(values, notes=notes)


class BinaryTracker:
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.n = self.correct = self.nan_rows = self.soft = 0
        self.first_soft: tuple[int, float] | None = None

    def observe(self, inputs: tuple[np.ndarray, ...], rows: np.ndarray) -> None:
        score, target = (np.asarray(values).ravel() for values in inputs[:2])
        missing = np.isnan(score) | np.isnan(target)
        soft = (target != 0) & (target != 1) & ~missing
        if soft.any():
            self.soft += int(soft.sum())
            if self.first_soft is None:
                self.first_soft = (_first_row(soft, rows), float(target[np.argmax(soft)]))
        self.nan_rows += int(missing.sum())
        self.correct += int(np.count_nonzero((score > self.threshold) == (target == 1)))
        self.n += target.size

    def result(self) -> MetricValues | None:
        if not self.n:
            return None
        if self.soft:
            row, value = self.first_soft
            return MetricValues({}, notes=(
                f"no accuracy: it needs targets of 0 or 1, and {self.soft} {'is' if self.soft == 1 else 'are'} not "
                f"(first: row {row}, {value:g})",
            ))
        return MetricValues({"accuracy": math.nan if self.nan_rows else self.correct / self.n})


class ClassTracker:
    """Rows of class scores against class indices (ignored ones left out) or probability rows.

    The predicted class is the highest score, the lower index on a tie (as argmax); a target is in
    the top k when fewer than k classes rank above it (higher score, or equal with a lower index),
    so top-1 accuracy is the accuracy. Perplexity is exp of the mean of −log p[y] (probability
    targets: of the cross-entropy −Σ t log p), unweighted and unsmoothed; bits per token that
    mean / ln 2.
    """

    def __init__(self, log_probabilities, top_k: int | None) -> None:
        self.log_probabilities = log_probabilities
        self.top_k = top_k
        self.n = self.correct = self.in_top_k = self.nan_rows = 0
        self.nll = ChunkedSum()

    def check_classes(self, classes: int) -> None:
        if self.top_k is not None and self.top_k > classes:
            raise UsageError(f"--top-k {self.top_k} is more than the {classes} classes")

    def observe(self, scores: np.ndarray, target: np.ndarray, kind: str, ignore_index: int) -> None:
        samples, classes = scores.shape
        if kind == "index":
            target = target.ravel()
            valid = (target >= 0) & (target < classes)
            if 0 <= ignore_index < classes:
                valid &= target != ignore_index
            scores, labels = scores[valid], target[valid].astype(np.int64)
            probabilities = None
        else:
            probabilities = target.reshape(samples, classes)
            labels = np.argmax(probabilities, axis=1)
        if not len(labels):
            return
        picked = np.arange(len(labels))
        self.nan_rows += int(np.isnan(scores).any(axis=1).sum())
        self.correct += int(np.count_nonzero(np.argmax(scores, axis=1) == labels))
        if self.top_k is not None:
            at_target = scores[picked, labels][:, None]
            before = (scores > at_target) | ((scores == at_target) & (np.arange(classes) < labels[:, None]))
            self.in_top_k += int(np.count_nonzero(before.sum(axis=1) < self.top_k))
        with np.errstate(all="ignore"):
            lp = self.log_probabilities(scores).astype(np.float64, copy=False)
            if probabilities is None:
                nll = -lp[picked, labels]
            else:  # 0·log 0 counts as 0, as in an entropy
                nll = -np.where(probabilities != 0, probabilities * lp, 0).sum(axis=1)
        self.nll.add(nll)
        self.n += len(labels)

    def result(self) -> MetricValues:
        n = self.n
        if not n:
            return MetricValues({}, top_k=self.top_k, notes=("no metrics: every target is ignored",))
        nan = math.nan if self.nan_rows else None
        mean_nll = self.nll.total() / n
        values = {"accuracy": nan or self.correct / n}
        if self.top_k is not None:
            values["top_k_accuracy"] = nan or self.in_top_k / n
        with np.errstate(all="ignore"):
            values["perplexity"] = float(np.exp(mean_nll))
        values["bits_per_token"] = mean_nll / LN2
        return MetricValues(values, top_k=self.top_k)
