"""What every loss shares: input validation, parameters, the nan policy, exact sums, the head/tail window.

Pure numpy: no I/O, no Typer, no rich. The family modules (``regression``, ``classes``, ...)
build on these; nothing here knows a loss by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import DataError, UsageError

REDUCTIONS = ("mean", "sum", "none")
DEFAULT_IGNORE_INDEX = -100  # PyTorch's default


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


def check_reduction(reduction: str, allowed: tuple[str, ...] = REDUCTIONS) -> None:
    if reduction not in allowed:
        raise UsageError(f"reduction must be one of {', '.join(allowed)}, not {reduction!r}")


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




@dataclass(frozen=True)
class LossParameter:
    """A number or switch a loss takes (Huber's δ, KL's log_target): its name, default and allowed values.

    ``name`` is the keyword of the API function and the key in JSON; the option is ``--name``
    with ``_`` as ``-`` (a switch gets ``--name/--no-name``). A number is checked against
    ``minimum`` (and ``maximum``), each bound included or not, as PyTorch checks it.
    """

    name: str
    symbol: str  # as the formula writes it
    default: float | bool | None
    minimum: float | None = None
    minimum_allowed: bool = True  # β ≥ 0 (True) or δ > 0 (False)
    maximum: float | None = None
    help: str = ""
    # A vector (BCE's weight): absent (None) by default, else a 1-D array of finite numbers within
    # the bounds, broadcast over the input's last dimension (``PointwiseAccumulator`` checks its length).
    vector: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def is_switch(self) -> bool:
        return isinstance(self.default, bool)

    def checked(self, value):
        """``value`` as the loss takes it, or a ``UsageError`` naming the flag (nan fails, as PyTorch's check)."""
        if self.is_switch:
            return bool(value)
        if self.vector:
            return None if value is None else self._checked_vector(value)
        value = float(value)
        low_ok = self.minimum is None or (value >= self.minimum if self.minimum_allowed else value > self.minimum)
        high_ok = self.maximum is None or value <= self.maximum
        if not (low_ok and high_ok) or math.isnan(value):
            bounds = []
            if self.minimum is not None:
                bounds.append(f"{'at least' if self.minimum_allowed else 'greater than'} {self.minimum:g}")
            if self.maximum is not None:
                bounds.append(f"at most {self.maximum:g}")
            raise UsageError(f"{self.flag} must be {' and '.join(bounds)}, not {value:g}")
        return value

    def _checked_vector(self, values) -> np.ndarray:
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise UsageError(f"{self.flag} must be numbers") from None
        if array.ndim > 1:
            raise UsageError(f"{self.flag} must be one row of numbers, not shape {_shape(array)}")
        array = array.reshape(-1)
        if array.size == 0:
            raise UsageError(f"{self.flag} is empty")
        low = self.minimum
        bad = ~np.isfinite(array)
        if low is not None:
            bad |= (array < low) if self.minimum_allowed else (array <= low)
        if self.maximum is not None:
            bad |= array > self.maximum
        if bad.any():
            at = int(np.argmax(bad))
            bounds = "finite"
            if low is not None:
                bounds += f" and {'≥' if self.minimum_allowed else '>'} {low:g}"
            if self.maximum is not None:
                bounds += f" and ≤ {self.maximum:g}"
            raise UsageError(f"{self.flag} value {at + 1} is {array[at]:g}; each must be {bounds}")
        return array


NAN_POLICIES = ("propagate", "raise", "omit")


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def check_nan_policy(nan_policy: str) -> None:
    if nan_policy not in NAN_POLICIES:
        raise UsageError(f"nan policy must be one of {', '.join(NAN_POLICIES)}, not {nan_policy!r}")


class NanCount:
    """What ``--nan-policy`` does with rows holding nan, and the tally its messages report."""

    def __init__(self, policy: str) -> None:
        check_nan_policy(policy)
        self.policy = policy
        self.kept = 0  # rows with nan left in (propagate)
        self.omitted = 0
        self.computed = 0  # of those, rows whose nan the computation made (inf − inf, inf·0)
        self.how = ""  # what made it, for the note
        self.first_row: int | None = None

    def rows_to_keep(
        self, missing: np.ndarray, rows: np.ndarray, what: str, computed: np.ndarray | None = None, how: str = ""
    ) -> np.ndarray | None:
        """A mask of the rows to keep, or None to keep them all; raises under ``raise``.

        ``computed`` marks the rows whose nan comes from the computation (``how``), not the input.
        """
        if not missing.any():
            return None
        at = int(np.argmax(missing))
        first = int(rows[at]) + 1
        made = computed is not None and bool(computed[at])
        if self.policy == "raise":
            cause = f"{how}, which is nan" if made else f"nan in {what}"
            raise DataError(f"row {first}: {cause} (--nan-policy raise)")
        self.first_row = first if self.first_row is None else min(self.first_row, first)
        if computed is not None and (missing & computed).any():
            self.computed += int((missing & computed).sum())
            self.how = how
        if self.policy == "propagate":
            self.kept += int(missing.sum())
            return None
        self.omitted += int(missing.sum())
        return ~missing

    def note(self) -> list[str]:
        if not self.kept:
            return []
        made = ""
        if self.computed:
            share = "" if self.computed == self.kept else f"{self.computed} of them "
            made = f"; {share}made by the computation: {self.how}"
        return [
            f"{_rows(self.kept)} with nan (first: row {self.first_row}{made}), so the result is nan; "
            "--nan-policy omit skips them"
        ]


class RangeCount:
    """Input values that a narrower ``--dtype`` turns into inf (overflow) or 0 (underflow)."""

    def __init__(self) -> None:
        self.count = 0
        self.first: tuple[int, float, str] | None = None  # (1-based row, value, what became of it)

    def check(self, given: np.ndarray, narrowed: np.ndarray, rows: np.ndarray, overflow: bool) -> None:
        """Count the values of ``given`` that ``narrowed`` (its cast) lost; ``rows`` are 0-based, one per row.

        Overflow is looked for only when ``overflow`` (the caller saw a non-finite sum); underflow
        leaves no trace in the sums, so zero counts are compared (only when the dtype narrows).
        """
        if narrowed.dtype == given.dtype:
            return
        lost = None
        if np.count_nonzero(narrowed) != np.count_nonzero(given):
            lost = (narrowed == 0) & (given != 0)
        if overflow:
            overflowed = np.isinf(narrowed) & np.isfinite(given)
            lost = overflowed if lost is None else lost | overflowed
        if lost is None or not lost.any():
            return
        self.count += int(lost.sum())
        at = int(np.argmax(lost.ravel()))
        row = int(rows[at // (lost.size // len(rows))]) + 1
        if self.first is None or row < self.first[0]:
            self.first = (row, float(given.ravel()[at]), f"{float(narrowed.ravel()[at]):g}")

    def note(self, dtype) -> list[str]:
        if not self.count:
            return []
        row, value, became = self.first
        more = f" ({self.count} values in all)" if self.count > 1 else ""
        return [
            f"row {row}: {value!r} is out of the {dtype} range and became {became}{more}; "
            "--dtype float64 keeps it"
        ]


class InfCount:
    """Rows whose input holds ±inf and whose term is therefore inf (kept, as PyTorch gives it).

    A term that became nan (inf − inf) is ``NanCount``'s: ``--nan-policy`` applies to it.
    """

    def __init__(self) -> None:
        self.rows = 0
        self.first_row: int | None = None

    def add(self, infinite: np.ndarray, terms: np.ndarray, rows: np.ndarray) -> None:
        hit = infinite & np.isinf(terms)
        if not hit.any():
            return
        self.rows += int(hit.sum())
        self.first_row = self.first_row or int(rows[np.argmax(hit)]) + 1

    def note(self) -> list[str]:
        if not self.rows:
            return []
        subject = "its term is" if self.rows == 1 else "their terms are"
        return [f"{_rows(self.rows)} with inf (first: row {self.first_row}), so {subject} inf, as PyTorch gives it"]






class HeadTail:
    """The first and last rows of a stream of blocks: what the table of a big input shows.

    ``keep_rows`` None keeps every row. ``size`` counts a block's rows, ``cut(block, start, stop)``
    slices them, ``join(blocks)`` puts blocks end to end.
    """

    def __init__(self, keep_rows: int | None, size: Callable, cut: Callable, join: Callable) -> None:
        self.keep_rows = keep_rows
        self.size, self.cut, self.join = size, cut, join
        self.head: list = []
        self.tail: list = []
        self.head_rows = self.tail_rows = 0

    def add(self, block) -> None:
        if self.keep_rows is None:
            self.head.append(block)
            return
        room = (self.keep_rows + 1) // 2 - self.head_rows
        if room > 0:
            self.head.append(self.cut(block, 0, room))
            self.head_rows += min(room, self.size(block))
            block = self.cut(block, room, None)
        if self.size(block):
            self.tail.append(block)
            self.tail_rows += self.size(block)
            # Only the last keep_rows // 2 rows are needed; drop whole older blocks beyond that.
            while len(self.tail) > 1 and self.tail_rows - self.size(self.tail[0]) >= self.keep_rows // 2:
                self.tail_rows -= self.size(self.tail.pop(0))

    def first_rows(self, total: int) -> int:
        """How many of the kept rows are the stream's first rows (all of ``total`` when all are kept)."""
        return total if self.keep_rows is None else self.head_rows

    def kept(self):
        """The kept rows as one block (None when no block came)."""
        blocks = self.head + self.tail
        if self.keep_rows is not None and self.tail:
            tail = self.join(self.tail)
            blocks = self.head + [self.cut(tail, max(self.size(tail) - self.keep_rows // 2, 0), None)]
        return self.join(blocks) if blocks else None



def _accurate_sum(partials: list[float]) -> float:
    """fsum is exact but raises on inf − inf; then the plain sum gives PyTorch's nan/inf."""
    try:
        return math.fsum(partials)
    except (OverflowError, ValueError):
        return float(np.sum(partials))


class ChunkedSum:
    """A sum over a stream of blocks that does not depend on where the blocks end.

    The values are cut into chunks of ``CHUNK`` values counted from the start of the stream
    (a block's leftover is carried into the next one); each chunk is summed pairwise in float64
    (numpy's order, which depends only on the chunk) and the chunk sums are added exactly
    (``math.fsum``). So every reader, block size and the inline path give the same bits.

    >>> whole, split = ChunkedSum(), ChunkedSum()
    >>> values = np.random.default_rng(0).random(40_000)
    >>> whole.add(values); split.add(values[:777]); split.add(values[777:])
    >>> whole.total() == split.total()
    True
    """

    CHUNK = 1 << 14

    def __init__(self) -> None:
        self._chunk_sums: list[float] = []
        self._carry = np.empty(0)

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        with np.errstate(all="ignore"):
            if self._carry.size:
                room = self.CHUNK - self._carry.size
                self._carry = np.concatenate((self._carry, values[:room]))
                values = values[room:]
                if self._carry.size < self.CHUNK:
                    return
                self._chunk_sums.append(float(self._carry.sum()))
            whole = values.size - values.size % self.CHUNK
            self._chunk_sums += [float(values[i : i + self.CHUNK].sum()) for i in range(0, whole, self.CHUNK)]
        self._carry = values[whole:].copy()

    def total(self) -> float:
        with np.errstate(all="ignore"):
            return _accurate_sum(self._chunk_sums + [float(self._carry.sum())])

    def pieces(self) -> list[float]:
        """The sum so far as a few floats whose exact sum is the exact sum of the chunk sums."""
        with np.errstate(all="ignore"):
            return exact_pieces(self._chunk_sums + [float(self._carry.sum())])


def exact_pieces(values: list[float]) -> list[float]:
    """Non-overlapping floats whose exact sum is that of ``values`` (Shewchuk's partials, as
    ``math.fsum`` keeps them): ``math.fsum`` of the pieces of several lists is the correctly
    rounded sum of all their values, in any order or grouping. Non-finite values give one piece,
    their float sum (nan, inf or -inf), as ``math.fsum`` would; so does an overflowing sum.

    >>> exact_pieces([1e16, 1.0, -1e16, 0.5])
    [1.5]
    >>> math.fsum(exact_pieces([0.1] * 10) + exact_pieces([0.2] * 5)) == math.fsum([0.1] * 10 + [0.2] * 5)
    True
    """
    special = [v for v in values if not math.isfinite(v)]
    if special:
        with np.errstate(all="ignore"):  # inf − inf is nan, as the plain sum gives it
            return [float(np.sum(special))]
    partials: list[float] = []
    for x in values:
        kept = 0
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            high = x + y
            low = y - (high - x)
            if low:
                partials[kept] = low
                kept += 1
            x = high
        partials[kept:] = [x]
        if not math.isfinite(x):  # the running sum overflowed: the plain sum, as _accurate_sum gives
            with np.errstate(all="ignore"):
                return [float(np.sum(values))]
    return [p for p in partials if p] or [0.0]
