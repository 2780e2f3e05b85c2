"""The loss split by class (``--by-class``) and the floor a loss cannot go below, while streaming.

An accumulator that declares them makes one view and feeds it each block (one call in ``add``);
the view keeps per-class counts and sums (``bincount``: memory grows with the classes, never with
the rows) and gives the ``ByClass`` and ``Floor`` of the result. Pure numpy.

- Class losses (xent, nll): a sample's class is its index target (ignored ones left out and
  counted) or the argmax of its probability target; the prediction is the argmax of the scores.
- Binary losses (bce, bce-logits, focal): classes 0 and 1; a soft target in (0, 1) is put in its
  nearer class (the argmax of [1 − t, t]: t > 0.5 is class 1), and counted; the prediction is 1
  when the input is above the declared threshold (p > 0.5, logit > 0).
- Floors: the least value of the loss over all predictions for the given targets, summed over the
  samples, so that a loss which will not reach 0 is explained (label smoothing, soft targets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..result import ByClass, ClassRow, Floor, Suggestion
from .base import ChunkedSum

BALANCED_RULE = "balanced: N/(C·count_c), as scikit-learn's compute_class_weight('balanced')"
POS_WEIGHT_RULE = "neg/pos, as PyTorch's BCEWithLogitsLoss docs suggest"
ALPHA_RULE = "neg/(neg+pos), so that α/(1−α) = neg/pos (the focal loss paper found α = 0.25 best with γ = 2)"


def xlogx(values: np.ndarray) -> np.ndarray:
    """``x·log x`` with 0 at x = 0."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values == 0, 0.0, values * np.log(values))


class ClassSums:
    """Per-class sums over a stream that do not depend on where the blocks end.

    Values are taken in chunks of ``CHUNK`` counted from the start of the stream (a block's
    leftover is carried on); each chunk is summed per class by ``bincount`` (in order), and the
    chunk sums are folded with Neumaier's compensation. Inline input and any block size agree.

    >>> whole, split = ClassSums(3), ClassSums(3)
    >>> labels, values = np.arange(40_000) % 3, np.random.default_rng(0).random(40_000)
    >>> whole.add(labels, values); split.add(labels[:777], values[:777]); split.add(labels[777:], values[777:])
    >>> bool(np.all(whole.totals() == split.totals()))
    True
    """

    CHUNK = ChunkedSum.CHUNK

    def __init__(self, classes: int) -> None:
        self.classes = classes
        self._sum = np.zeros(classes)
        self._compensation = np.zeros(classes)
        self._labels = np.empty(0, dtype=np.int64)
        self._values = np.empty(0)

    def add(self, labels: np.ndarray, values: np.ndarray) -> None:
        labels = np.concatenate((self._labels, np.asarray(labels, dtype=np.int64)))
        values = np.concatenate((self._values, np.asarray(values, dtype=np.float64)))
        whole = labels.size - labels.size % self.CHUNK
        for start in range(0, whole, self.CHUNK):
            self._fold(self._chunk(labels[start : start + self.CHUNK], values[start : start + self.CHUNK]))
        self._labels, self._values = labels[whole:], values[whole:]

    def _chunk(self, labels: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.bincount(labels, weights=values, minlength=self.classes)

    def _fold(self, sums: np.ndarray) -> None:
        with np.errstate(invalid="ignore", over="ignore"):
            total = self._sum + sums
            bigger = np.abs(self._sum) >= np.abs(sums)
            self._compensation += np.where(bigger, (self._sum - total) + sums, (sums - total) + self._sum)
            self._sum = total

    def totals(self) -> np.ndarray:
        """The sums so far (the carried partial chunk included, without consuming it)."""
        total, compensation = self._sum.copy(), self._compensation.copy()
        last = self._chunk(self._labels, self._values)
        with np.errstate(invalid="ignore", over="ignore"):
            folded = total + last
            compensation += np.where(np.abs(total) >= np.abs(last), (total - folded) + last, (last - folded) + total)
            return np.where(np.isfinite(folded), folded + compensation, folded)


class ClassTally:
    """Per class: samples, correctly predicted samples, and the sum of their loss terms."""

    def __init__(self, classes: int) -> None:
        self.classes = classes
        self.count = np.zeros(classes, dtype=np.int64)
        self.correct = np.zeros(classes, dtype=np.int64)
        self.loss = ClassSums(classes)

    def add(self, labels: np.ndarray, correct: np.ndarray, terms: np.ndarray) -> None:
        self.count += np.bincount(labels, minlength=self.classes)
        self.correct += np.bincount(labels[correct], minlength=self.classes)
        self.loss.add(labels, terms)

    def rows(self, weight_share: np.ndarray | None = None) -> tuple[ClassRow, ...]:
        sums = self.loss.totals()
        with np.errstate(invalid="ignore", divide="ignore"):
            total = float(np.sum(sums))
            mean = sums / self.count
            share = sums / total if total else np.full(self.classes, np.nan)
            accuracy = self.correct / self.count
        return tuple(
            ClassRow(
                index=c, count=int(self.count[c]), mean_loss=float(mean[c]), loss_share=float(share[c]),
                accuracy=float(accuracy[c]), weight_share=None if weight_share is None else float(weight_share[c]),
            )
            for c in range(self.classes)
        )


def balanced_weight(count: np.ndarray, command: str) -> Suggestion:
    """scikit-learn's ``compute_class_weight('balanced')``: N/(C·count_c), for ``--weight``."""
    classes, total = count.size, int(count.sum())
    missing = np.flatnonzero(count == 0)
    if missing.size:
        which = ", ".join(map(str, missing[:5].tolist())) + (", …" if missing.size > 5 else "")
        return Suggestion("suggested_weight", "--weight", None, BALANCED_RULE, command,
                          f"class {which} has no samples, so N/(C·count_c) is undefined")
    return Suggestion("suggested_weight", "--weight", tuple((total / (classes * count)).tolist()), BALANCED_RULE, command)


def binary_suggestion(count: np.ndarray, declared: "BinaryClasses", command: str) -> Suggestion:
    negatives, positives = int(count[0]), int(count[1])
    if declared.suggests == "alpha":
        total = negatives + positives
        values = (negatives / total,) if total else None
        return Suggestion("suggested_alpha", "--alpha", values, ALPHA_RULE, command, "" if total else "no samples")
    values = (negatives / positives,) if positives else None
    return Suggestion("suggested_pos_weight", "--pos-weight", values, POS_WEIGHT_RULE, declared.command or command,
                      "" if positives else "no positive samples (class 1), so neg/pos is undefined")


@dataclass(frozen=True)
class BinaryClasses:
    """Declared by a binary loss: how its predictions become classes and which option rebalances it."""

    threshold: float  # an input above it predicts class 1 (0.5 for probabilities, 0 for logits)
    suggests: str  # "pos_weight" (neg/pos) or "alpha" (neg/(neg+pos))
    command: str | None = None  # the command that takes that option, when this one does not


@dataclass(frozen=True)
class FloorRule:
    """Declared by a pointwise loss whose least value depends on the targets (soft targets)."""

    term: Callable[[np.ndarray, dict], np.ndarray]  # (target, p) -> each term's least value over the prediction
    why: Callable[[dict], str]  # of the parameters: what makes that floor, in words


def _reduced_floor(total: float, denominator: float | None, reduction: str, counted: int) -> tuple[float, str]:
    """The floor's sum in the reduction's units, and the words that say which units when not obvious."""
    if reduction == "sum":
        return total, ""
    if reduction == "none":
        return (total / counted if counted else math.nan), "; the mean per term (reduction none)"
    return (total / denominator if denominator else math.nan), ""


class BinaryView:
    """What ``--by-class`` and the floor need from a binary loss's blocks (flat elements)."""

    def __init__(self, command: str, declared: BinaryClasses | None, floor: FloorRule | None, by_class: bool) -> None:
        self.command = command
        self.declared = declared if by_class else None
        self.floor = floor
        self.tally = ClassTally(2)
        self.soft = self.nan_target = 0
        self._floor_sum = ChunkedSum()

    def add(self, x: np.ndarray, y: np.ndarray, terms: np.ndarray, p: dict) -> None:
        if self.declared is not None:
            known = ~np.isnan(y)
            self.nan_target += int(y.size - known.sum())
            x, y_known, terms_known = x[known], y[known], terms[known]
            self.soft += int(np.count_nonzero((y_known > 0) & (y_known < 1)))
            labels = (y_known > 0.5).astype(np.int64)
            correct = ((x > self.declared.threshold).astype(np.int64) == labels) & ~np.isnan(x)
            self.tally.add(labels, correct, terms_known)
        if self.floor is not None:
            with np.errstate(all="ignore"):
                self._floor_sum.add(self.floor.term(y, p))

    def by_class(self) -> ByClass | None:
        if self.declared is None:
            return None
        excluded = {"nan_target": self.nan_target} if self.nan_target else {}
        classed_by = "target 0 or 1"
        if self.soft:
            classed_by += f"; {self.soft} soft target{'s' if self.soft > 1 else ''} in (0, 1) put in the nearer class (t > 0.5 is 1)"
        return ByClass(self.tally.rows(), binary_suggestion(self.tally.count, self.declared, self.command), classed_by, excluded)

    def notes(self) -> list[str]:
        if self.declared is None or not self.soft:
            return []
        return [f"--by-class: {self.soft} soft target{'s' if self.soft > 1 else ''} in (0, 1) counted in the "
                "nearer class (t > 0.5 is class 1, else 0)"]

    def floor_result(self, parameters: dict, denominator, reduction: str, counted: int) -> Floor | None:
        if self.floor is None:
            return None
        total = self._floor_sum.total()
        if not total > 0:
            return None
        value, units = _reduced_floor(total, denominator, reduction, counted)
        return Floor(value, self.floor.why(parameters) + units)


class ClassLossView:
    """What ``--by-class`` and the floor need from a class loss's blocks ((N, C) scores per block)."""

    def __init__(self, command: str, classes: int, kind: str, weight: np.ndarray | None, ignore_index: int,
                 label_smoothing: float, by_class: bool, floor: bool) -> None:
        self.command, self.classes, self.kind = command, classes, kind
        self.weight = None if weight is None else np.asarray(weight, dtype=np.float64)
        self.ignore_index = ignore_index
        self.epsilon = float(label_smoothing)
        self.by_class = by_class
        self.floor = floor and (kind == "probs" or self.epsilon > 0)  # index targets without smoothing: 0
        self.tally = ClassTally(classes)
        self.ignored = self.nan_target = self.counted = 0
        self._floor_sum = ChunkedSum()  # probability targets: the least loss of each sample

    def add(self, scores: np.ndarray, target: np.ndarray, terms: np.ndarray) -> None:
        if not (self.by_class or self.floor):
            return
        if self.kind == "index":
            values = target.ravel()
            known = values != self.ignore_index
            self.ignored += int(values.size - known.sum())
            labels = values[known].astype(np.int64)
            if not self.by_class:  # the floor needs only the counts
                self.tally.count += np.bincount(labels, minlength=self.classes)
                return
        else:
            rows = target.reshape(scores.shape)
            known = ~np.isnan(rows).any(axis=1)
            self.nan_target += int(rows.shape[0] - known.sum())
            self.counted += int(known.sum())
            if self.floor:
                self._floor_sum.add(self._probability_floors(rows[known]))
            if not self.by_class:
                return
            labels = np.argmax(rows[known], axis=1)
        scores, terms = scores[known], terms[known]
        correct = (np.argmax(scores, axis=1) == labels) & ~np.isnan(scores).any(axis=1)
        self.tally.add(labels, correct, terms)

    def _probability_floors(self, rows: np.ndarray) -> np.ndarray:
        """Per sample, the least of −Σ_c a_c·log p_c over p, a = w ⊙ t′: A·log A − Σ a·log a (A = Σ a)."""
        a = (1 - self.epsilon) * rows.astype(np.float64) + self.epsilon / self.classes
        if self.weight is not None:
            a = a * self.weight
        return xlogx(a.sum(axis=1)) - xlogx(a).sum(axis=1)

    def _index_floors(self) -> np.ndarray:
        """The least loss of one sample of each class y under smoothing ε, weights w (ones by default).

        The term is Σ_c a_c·(−log p_c) with a = (1−ε)·w_y·onehot(y) + (ε/C)·w; its least value, at
        p = a/A, is A·log A − Σ_c a_c·log a_c. Without weights it is H(q′).
        """
        w = np.ones(self.classes) if self.weight is None else self.weight
        off = self.epsilon / self.classes * w
        on = (1 - self.epsilon) * w + off
        every = xlogx(off).sum()
        return xlogx((1 - self.epsilon) * w + off.sum()) - (every - xlogx(off) + xlogx(on))

    def result(self, denominator: float, reduction: str) -> tuple[ByClass | None, Floor | None]:
        by_class = None
        if self.by_class:
            weight_share = None
            if self.kind == "index":
                w = np.ones(self.classes) if self.weight is None else self.weight
                with np.errstate(invalid="ignore"):
                    weight_share = w * self.tally.count / np.sum(w * self.tally.count)
            excluded = {k: v for k, v in (("ignored", self.ignored), ("nan_target", self.nan_target)) if v}
            classed_by = "the class index of the target" if self.kind == "index" else "the argmax of the probability target"
            by_class = ByClass(self.tally.rows(weight_share), balanced_weight(self.tally.count, self.command), classed_by, excluded)
        return by_class, self._floor(denominator, reduction)

    def notes(self) -> list[str]:
        if self.by_class and self.kind == "probs":
            return ["--by-class: probability targets are counted in the class of their largest probability (argmax)"]
        return []

    def _floor(self, denominator: float, reduction: str) -> Floor | None:
        if not self.floor:
            return None
        if self.kind == "index":
            total = math.fsum((self.tally.count * self._index_floors()).tolist())
        else:
            total = self._floor_sum.total()
        if not total > 0:
            return None
        counted = int(self.tally.count.sum()) if self.kind == "index" else self.counted
        value, units = _reduced_floor(total, denominator, reduction, counted)
        smoothing = f"label smoothing ε={self.epsilon:g} over C={self.classes}"
        weights = " and the class weights" if self.weight is not None else ""
        if self.kind == "index" and self.weight is None:
            why = f"{smoothing}: even a perfect prediction costs H(q′), the entropy of the smoothed target (1−ε)·onehot + ε/C"
        elif self.kind == "index":
            why = f"{smoothing} with class weights: the least loss, reached by predicting the weighted smoothed target"
        else:
            smoothed = f", smoothed by ε={self.epsilon:g}," if self.epsilon else ""
            why = f"probability targets: their entropy H(t){smoothed} is the least cross-entropy{weights and ' (weighted)'}, reached by predicting t"
        return Floor(value, why + units)
