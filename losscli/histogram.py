"""A histogram of the per-element terms, counted block by block while streaming, and the share of
the total loss that the largest 1 % of the terms hold.

The bins are chosen from the first block that holds a number: linear between its smallest and
largest term, or, when its positive terms span more than ``LOG_DECADES`` decades, log-spaced with a
first bin [0, a) for the zeros and tiny terms. Later terms outside those edges are counted as
underflow or overflow, never dropped.

The top-1 % share is exact while the ``EXACT_LIMIT`` largest terms hold the top 1 % (up to
100 × EXACT_LIMIT terms, 10 million by default; the kept terms take EXACT_LIMIT × 8 bytes however
long the stream). Past that it is given as bounds from the histogram's per-bin counts and sums:
exact sums for the bins wholly in the top, the bin the cut falls in bounded by its edges and mean.

Pure numpy: no I/O, no rich.
"""

from __future__ import annotations

import math

import numpy as np

from .result import TermsHistogram, TopShare

BINS = 20
LOG_DECADES = 3  # positive terms spanning more decades than this get log-spaced bins
LOG_FLOOR_DECADES = 8  # a log scale reaches down at most this far below the largest term
TOP_FRACTION = 0.01
EXACT_LIMIT = 100_000


def choose_edges(values: np.ndarray, bins: int = BINS) -> tuple[np.ndarray, str]:
    """The bin edges for ``values`` (finite, not empty) and their spacing: ``bins`` bins, fewer
    (√n, at least 4) for a first block of few terms.

    >>> choose_edges(np.array([1.0, 2.0, 3.0]))
    (array([1. , 1.5, 2. , 2.5, 3. ]), 'linear')
    >>> edges, spacing = choose_edges(np.array([0.0, 1e-4, 1.0, 100.0]), bins=4)
    >>> spacing, edges[0], float(edges[-1])
    ('log', np.float64(0.0), 100.0)
    """
    bins = min(bins, max(4, math.ceil(math.sqrt(values.size))))
    low, high = float(values.min()), float(values.max())
    if low == high:
        half = abs(low) / 2 or 0.5
        return np.linspace(low - half, high + half, bins + 1), "linear"
    positive = values[values > 0]
    if low >= 0 and positive.size and high / positive.min() > 10**LOG_DECADES:
        floor = max(float(positive.min()), high / 10**LOG_FLOOR_DECADES)
        return np.concatenate([[0.0], np.geomspace(floor, high, bins)]), "log"
    return np.linspace(low, high, bins + 1), "linear"


class TermHistogram:
    """Counts terms into bins fixed by the first block; keeps the largest for the top-1 % share.

    >>> h = TermHistogram(bins=4)
    >>> h.observe(np.array([0.0, 1.0, 2.0, 3.0, 4.0]))
    >>> h.observe(np.array([5.0, np.nan]))
    >>> summary = h.summary()
    >>> summary.counts.tolist(), summary.overflow, summary.nan
    ([1, 1, 1, 2], 1, 1)
    """

    def __init__(self, bins: int = BINS, exact_limit: int = EXACT_LIMIT, fraction: float = TOP_FRACTION):
        self.bins = bins
        self.exact_limit = exact_limit
        self.fraction = fraction
        self.edges: np.ndarray | None = None
        self.spacing = "linear"
        self.counts = np.zeros(0, dtype=np.int64)
        self.sums = np.zeros(0)  # Σ of the terms in each bin, for the share's bounds
        self.underflow = self.overflow = self.nan = 0
        self.overflow_sum = 0.0
        self.largest = -math.inf
        self.total = 0.0
        self.finite = 0  # terms that are numbers (inf included), what the share's 1 % is of
        self.negative = False
        self.infinite = False
        self._top = np.empty(0)  # the largest terms seen, at most exact_limit of them

    def observe(self, terms) -> None:
        """One block's terms (any shape; nan counted apart)."""
        terms = np.asarray(terms, dtype=np.float64).ravel()
        missing = np.isnan(terms)
        self.nan += int(missing.sum())
        values = terms[~missing] if missing.any() else terms
        if values.size == 0:
            return
        finite = np.isfinite(values)
        if not finite.all():
            self.infinite = True
        if self.edges is None:
            if not finite.any():
                self._outside(values)
                return
            self.edges, self.spacing = choose_edges(values[finite], self.bins)
            self.counts = np.zeros(len(self.edges) - 1, dtype=np.int64)
            self.sums = np.zeros(len(self.edges) - 1)
        self.finite += values.size
        self.negative = self.negative or bool((values < 0).any())
        self.largest = max(self.largest, float(values.max()))
        with np.errstate(all="ignore"):
            self.total += float(values.sum())
        inside = (values >= self.edges[0]) & (values <= self.edges[-1])
        self._outside(values[~inside])
        counts, _ = np.histogram(values[inside], self.edges)
        sums, _ = np.histogram(values[inside], self.edges, weights=values[inside])
        self.counts += counts
        self.sums += sums
        self._keep_largest(values)

    def _outside(self, values: np.ndarray) -> None:
        if self.edges is None:  # only infinities so far: no edges yet to compare with
            self.finite += values.size
            self.underflow += int((values < 0).sum())
            self.overflow += int((values > 0).sum())
            self.negative = self.negative or bool((values < 0).any())
            self.largest = max(self.largest, float(values.max()))
            self.total += float(values.sum())
            return
        below = values < self.edges[0]
        self.underflow += int(below.sum())
        above = values[~below]
        self.overflow += above.size
        with np.errstate(all="ignore"):
            self.overflow_sum += float(above.sum())

    def _keep_largest(self, values: np.ndarray) -> None:
        if self._top.size >= self.exact_limit:
            values = values[values > self._top[0]]  # _top is kept partitioned: [0] is its smallest
            if values.size == 0:
                return
        joined = np.concatenate([self._top, values])
        if joined.size > self.exact_limit:
            joined = np.partition(joined, joined.size - self.exact_limit)[-self.exact_limit:]
            smallest = int(np.argmin(joined))
            joined[[0, smallest]] = joined[[smallest, 0]]
        self._top = joined

    def top_share(self) -> TopShare:
        """The share of the total held by the largest ``fraction`` of the terms."""
        k = max(1, math.ceil(self.finite * self.fraction)) if self.finite else 0
        if k == 0:
            return TopShare(self.fraction, 0, None, None, "no terms")
        if self.infinite:
            return TopShare(self.fraction, k, None, None, "a term is infinite")
        if self.negative:
            return TopShare(self.fraction, k, None, None, "some terms are negative, so a share of the total means nothing")
        if self.total <= 0:
            return TopShare(self.fraction, k, None, None, "the total is 0")
        if k <= self._top.size:
            top = np.sort(self._top)[-k:]
            share = float(math.fsum(top) / self.total)
            return TopShare(self.fraction, k, share, share)
        low, high = self._bounds(k)
        return TopShare(self.fraction, k, low / self.total, high / self.total)

    def _bounds(self, k: int) -> tuple[float, float]:
        """Bounds on the sum of the k largest terms, from the bins (and the overflow) alone."""
        groups = [(self.overflow, self.overflow_sum, float(self.edges[-1]), self.largest)]
        groups += [
            (int(self.counts[i]), float(self.sums[i]), float(self.edges[i]), float(self.edges[i + 1]))
            for i in range(len(self.counts) - 1, -1, -1)
        ]
        low = high = 0.0
        left = k
        for count, total, bottom, top in groups:
            if left == 0:
                break
            if count <= left:
                low, high, left = low + total, high + total, left - count
                continue
            # The `left` largest of `count` terms in [bottom, top] summing to `total`: at least
            # their share of the total (they are the larger ones), at most all but the rest at bottom.
            low += max(total * left / count, left * bottom)
            high += min(total - (count - left) * bottom, left * top)
            left = 0
        return low, high

    def summary(self) -> TermsHistogram:
        edges = self.edges if self.edges is not None else np.array([0.0, 1.0])
        counts = self.counts if self.edges is not None else np.zeros(1, dtype=np.int64)  # only nan or inf
        return TermsHistogram(edges, counts.copy(), self.underflow, self.overflow, self.nan, self.spacing, self.top_share())
