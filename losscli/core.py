"""The numbers: losses, reductions and gradients exactly as PyTorch computes them, in pure numpy.

No I/O, no Typer, no rich. Every public function validates its arrays here (the one chokepoint),
raises ``DataError``/``UsageError`` with a message naming the row or option at fault, and returns
a ``LossResult``. ``ELEMENTWISE_LOSSES`` is the registry of element-wise losses: adding one there
adds its API function, its subcommand and its generic property tests. The formulas are those of
``nn.L1Loss``, ``nn.MSELoss``, ``nn.HuberLoss``, ``nn.SmoothL1Loss``, ``nn.CrossEntropyLoss`` and
``torch.softmax``.

Order of operations. Where PyTorch's CPU kernels are cheap to follow they are followed: softmax
along the last dim multiplies by ``1/Σ`` (along another dim it divides), log-softmax is
``(x − max) − log Σ``, and float32 ``exp``/``log`` are taken in float64 and rounded (PyTorch's
vectorised float32 exp is closer to that than to numpy's float32 exp). Two things are not
followed: the elementary functions themselves (PyTorch's SLEEF exp can differ from numpy's by an
ulp) and the order of long sums, which in PyTorch depends on the CPU's vector width and threads.
The reduced sums here (Σ terms, and Σ w[y] for cross-entropy) are instead one fixed order,
whatever the reader or block size: float64 pairwise sums of chunks of ``ChunkedSum.CHUNK``
values counted from the first row, added exactly (``math.fsum``); float32 input is summed in
float64 and rounded once. The within-row sums of softmax (Σ over classes) are numpy's sums in
the input's dtype: left to right for fewer than 8 classes, as PyTorch sums a row shorter than
its vector width; pairwise beyond.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from .errors import DataError, UsageError
from .result import Column, LossResult, OmittedRows

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


# ---------------------------------------------------------------------------------------------
# element-wise losses (L1, MSE, ...)


@dataclass(frozen=True)
class LossParameter:
    """A number a loss takes (Huber's δ): its keyword and JSON key, default and allowed range."""

    name: str  # keyword of the API function, key in JSON, and the option --<name>
    symbol: str  # as the formula writes it
    default: float
    minimum: float
    minimum_allowed: bool  # β ≥ 0 (True) or δ > 0 (False), as PyTorch checks them

    @property
    def flag(self) -> str:
        return "--" + self.name

    def checked(self, value) -> float:
        """``value`` as a float, or a ``UsageError`` naming the flag (nan fails, as in PyTorch's check)."""
        value = float(value)
        allowed = value >= self.minimum if self.minimum_allowed else value > self.minimum
        if not allowed:
            bound = f"{'at least' if self.minimum_allowed else 'greater than'} {self.minimum:g}"
            raise UsageError(f"{self.flag} must be {bound}, not {value:g}")
        return value


@dataclass(frozen=True)
class ElementwiseLoss:
    """One element-wise loss: its term of the difference ``d = ŷ − y`` and that term's derivative.

    A loss with a ``parameter`` gets its value (in the data's dtype) as the second argument of
    ``term``, ``term_grad`` and ``quadratic`` (which rows take the quadratic branch, for the table).
    """

    name: str
    title: str
    torch_name: str
    term: Callable[..., np.ndarray]
    term_grad: Callable[..., np.ndarray]
    term_key: str  # csv/json name of the per-element term
    term_label: str  # table header of the per-element term
    hand_term: str  # one term as a person writes it, from the formatted ŷ, y and term
    hand_group: tuple[str, str]  # brackets around the sum in the derivation line
    example: str  # the derivation line of the seed example 2,3,4,5 vs 4,5,6,7 (tested), for --help
    parameter: LossParameter | None = None
    formula: str = ""  # the term for --help, when the header alone does not say it
    quadratic: Callable[..., np.ndarray] | None = None


def _sign_zero_at_nan(diff: np.ndarray) -> np.ndarray:
    # PyTorch's L1 backward is sign(d), and 0 (not nan) where d is nan.
    grad = np.sign(diff)
    grad[np.isnan(diff)] = 0
    return grad


# PyTorch's CPU kernels, in their order of operations and in the data's dtype: the branch test
# is |d| < δ, so |d| = δ takes the linear branch (the value and gradient agree there anyway).
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
        example="(|2−4| + |3−5| + |4−6| + |5−7|) / 4 = 2",
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
        example="[(2−4)² + (3−5)² + (4−6)² + (5−7)²] / 4 = 4",
    ),
    "huber": ElementwiseLoss(
        name="huber",
        title="Huber loss",
        torch_name="torch.nn.HuberLoss",
        term=_huber,
        term_grad=_huber_grad,
        term_key="huber",
        term_label="huber",
        hand_term="{term}",
        hand_group=("(", ")"),
        example="(1.5 + 1.5 + 1.5 + 1.5) / 4 = 1.5",
        parameter=LossParameter("delta", "δ", 1.0, 0.0, minimum_allowed=False),
        formula="½d² if |d| < δ, else δ(|d| − ½δ), with d = ŷ − y",
        quadratic=lambda diff, delta: np.abs(diff) < delta,
    ),
    "smooth-l1": ElementwiseLoss(
        name="smooth-l1",
        title="Smooth L1 loss",
        torch_name="torch.nn.SmoothL1Loss",
        term=_smooth_l1,
        term_grad=_smooth_l1_grad,
        term_key="smooth_l1",
        term_label="smooth-l1",
        hand_term="{term}",
        hand_group=("(", ")"),
        example="(1.5 + 1.5 + 1.5 + 1.5) / 4 = 1.5",
        parameter=LossParameter("beta", "β", 1.0, 0.0, minimum_allowed=True),
        formula="½d²/β if |d| < β, else |d| − ½β, with d = ŷ − y (β = 0 is L1)",
        quadratic=lambda diff, beta: np.abs(diff) < beta,
    ),
}


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


@dataclass
class BlockTerms:
    """What one block of rows gave: inputs, difference, terms and the gradient (unscaled for mean)."""

    prediction: np.ndarray
    target: np.ndarray
    diff: np.ndarray
    terms: np.ndarray
    grad: np.ndarray
    rows: np.ndarray  # 0-based positions of these rows in the whole input
    omitted: OmittedRows | None = None  # rows of this block --nan-policy omit left out


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
        dtype: str | None = None,
        input_notes: list[str] | None = None,
        parameter: float | None = None,
    ):
        check_reduction(reduction)
        self.spec = ELEMENTWISE_LOSSES[name]
        self.parameter = _checked_parameter(self.spec, parameter)
        self.reduction = reduction
        self.nan_count = NanCount(nan_policy)
        self.inf_count = InfCount()
        self.with_grad = with_grad  # the gradient costs a pass over every row: only when shown
        # Blocks are cast to ``dtype`` here, so that values it cannot hold are counted.
        self.dtype: np.dtype | None = None if dtype is None else np.dtype(dtype)
        self.out_of_range = RangeCount()
        self.input_notes = input_notes if input_notes is not None else []  # read at the end
        self.n = 0
        self.rows_seen = 0
        self.overflows = 0
        self.first_overflow_row: int | None = None
        self._sum = ChunkedSum()
        self._window = HeadTail(keep_rows, lambda b: b.terms.size, _slice, _concat)
        # Omitted rows are given back with the result only when it holds every row.
        self._omitted: list[OmittedRows] | None = [] if keep_rows is None else None

    def add(self, prediction, target) -> BlockTerms:
        prediction = as_float_array(prediction, "prediction")
        target = as_float_array(target, "target")
        check_same_shape(prediction, target)
        self.dtype = self.dtype or np.result_type(prediction, target)
        given = (prediction.ravel(), target.ravel())
        with np.errstate(over="ignore"):  # a value beyond float32: inf, counted below
            prediction, target = (values.astype(self.dtype, copy=False) for values in given)
        rows = np.arange(self.rows_seen, self.rows_seen + prediction.size)
        self.rows_seen += prediction.size
        omitted = None
        diff, terms = elementwise_terms(self.spec, prediction, target, *self._arguments())
        with np.errstate(all="ignore"):
            total = terms.sum(dtype=np.float64)
        for values, narrowed in zip(given, (prediction, target)):
            self.out_of_range.check(values, narrowed, rows, overflow=not np.isfinite(total))
        if not np.isfinite(total):
            # Only a block whose sum is nan or inf can hold nan or an overflow: look only then.
            prediction, target, rows, diff, terms, omitted = self._non_finite(prediction, target, rows, diff, terms)
        with np.errstate(all="ignore"):
            grad = self.spec.term_grad(diff, *self._arguments()) if self.with_grad else None
        block = BlockTerms(prediction, target, diff, terms, grad, rows, omitted)
        if omitted is not None and self._omitted is not None:
            self._omitted.append(omitted)
        self.n += terms.size
        self._sum.add(terms)
        self._window.add(block)
        return block

    def _non_finite(self, prediction, target, rows, diff, terms):
        given = np.isnan(prediction) | np.isnan(target)
        # ŷ − y of inf and inf is nan although no input is: --nan-policy covers it too.
        keep = self.nan_count.rows_to_keep(
            np.isnan(terms), rows, "the input", computed=~given, how="ŷ − y is inf − inf"
        )
        omitted = None
        if keep is not None:
            omitted = OmittedRows(rows[~keep], {"pred": prediction[~keep], "target": target[~keep]})
            prediction, target, rows = prediction[keep], target[keep], rows[keep]
            diff, terms = elementwise_terms(self.spec, prediction, target, *self._arguments())
        self.inf_count.add(np.isinf(prediction) | np.isinf(target), terms, rows)
        overflowed = ~np.isfinite(terms) & np.isfinite(prediction) & np.isfinite(target)
        if overflowed.any():
            self.overflows += int(overflowed.sum())
            self.first_overflow_row = self.first_overflow_row or int(rows[np.argmax(overflowed)]) + 1
        return prediction, target, rows, diff, terms, omitted

    def _arguments(self) -> tuple:
        """The loss's parameter in the data's dtype (PyTorch casts δ to float32 for float32 input)."""
        return () if self.parameter is None else (self.dtype.type(self.parameter),)

    def _branch_column(self, diff: np.ndarray) -> tuple[Column, ...]:
        """Which branch of a piecewise term each row took; empty where ŷ − y is nan."""
        if self.spec.quadratic is None:
            return ()
        with np.errstate(all="ignore"):
            quadratic = self.spec.quadratic(diff, *self._arguments())
        branch = np.where(quadratic, "quadratic", "linear")
        branch[np.isnan(diff)] = ""
        return (Column("branch", "branch", branch),)

    def scale_grad(self, grad: np.ndarray) -> np.ndarray:
        """A block's gradient once every row is in: divided by n for mean."""
        with np.errstate(all="ignore"):
            return grad / self.dtype.type(self.n) if self.reduction == "mean" and self.n else grad

    def _as_result(
        self, kept: BlockTerms, value, grad: np.ndarray, notes=(), part: bool = False, omitted: OmittedRows | None = None
    ) -> LossResult:
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
                *self._branch_column(kept.diff),
                Column(self.spec.term_key, self.spec.term_label, kept.terms),
            ),
            denominator=float(self.n) if self.reduction == "mean" else None,
            denominator_label="n",
            notes=tuple(notes),
            meta={
                "shape": (self.n,),
                "omitted": self.nan_count.omitted if self.nan_count.policy == "omit" else None,
                "rows_in": self.rows_seen,
                "head_rows": self._window.first_rows(self.n),
                "parameters": {} if self.parameter is None else {self.spec.parameter.name: self.parameter},
            },
            row_numbers=kept.rows if part or kept.terms.size != self.rows_seen else None,
            omitted_rows=omitted,
        )

    def add_block(self, prediction, target) -> LossResult:
        """``add``, with the block's rows returned as a result (what stream writers take)."""
        return self.block_result(self.add(prediction, target))

    def block_result(self, block: BlockTerms) -> LossResult:
        """One block's rows as a result, for writers that stream (its gradient not yet scaled)."""
        return self._as_result(block, None, block.grad, part=True, omitted=block.omitted)

    def result(self) -> LossResult:
        if self.n == 0:
            raise DataError("every row holds nan (all omitted)" if self.nan_count.omitted else "no rows to compute on")
        dtype = self.dtype
        kept = self._window.kept()
        with np.errstate(all="ignore"):
            total = dtype.type(self._sum.total())
            if self.reduction == "none":
                value = kept.terms
            else:
                value = total / dtype.type(self.n) if self.reduction == "mean" else total
        grad = None if kept.grad is None else self.scale_grad(kept.grad)
        notes = [*self.input_notes, *self.out_of_range.note(dtype)]
        if self.overflows:
            notes.append(
                f"{self.overflows} term{'s' if self.overflows > 1 else ''} overflowed to inf (first: row "
                f"{self.first_overflow_row}); the inf is kept, as PyTorch gives it"
            )
        notes += self.nan_count.note() + self.inf_count.note()
        omitted = OmittedRows.join(self._omitted) if self._omitted is not None else None
        return self._as_result(kept, value, grad, notes, omitted=omitted)


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


def elementwise_terms(spec: ElementwiseLoss, prediction: np.ndarray, target: np.ndarray, *arguments):
    """The difference and the per-element terms of ``spec`` (``arguments``: its parameter, if any)."""
    with np.errstate(all="ignore"):
        diff = prediction - target
        return diff, spec.term(diff, *arguments)


def _checked_parameter(spec: ElementwiseLoss, value: float | None) -> float | None:
    """The loss's parameter: ``value`` checked, its default when None; None for a loss without one."""
    if spec.parameter is None:
        if value is not None:
            raise UsageError(f"{spec.name} takes no parameter")
        return None
    return spec.parameter.checked(spec.parameter.default if value is None else value)


def elementwise_loss(
    name: str, prediction, target, *, reduction: str = "mean", nan_policy: str = "propagate", **parameter: float
) -> LossResult:
    """The element-wise loss ``name`` (a key of ``ELEMENTWISE_LOSSES``) of prediction vs target.

    Shapes must match exactly (no broadcasting); ``none`` keeps the input's shape. A loss with a
    parameter takes it by name (``delta=0.5`` for huber, ``beta=0.5`` for smooth-l1).

    >>> float(elementwise_loss("mse", [2, 3, 4, 5], [4, 5, 6, 7], reduction="sum").value)
    16.0
    >>> float(elementwise_loss("huber", [2, 3, 4, 5], [4, 5, 6, 7], delta=3).value)
    2.0
    """
    spec = ELEMENTWISE_LOSSES[name]
    expected = set() if spec.parameter is None else {spec.parameter.name}
    if set(parameter) - expected:
        unknown = ", ".join(sorted(set(parameter) - expected))
        raise TypeError(f"{name} takes no parameter {unknown}")
    value = parameter.get(spec.parameter.name) if spec.parameter is not None else None
    accumulator = ElementwiseAccumulator(name, reduction, nan_policy=nan_policy, parameter=value)
    accumulator.add(prediction, target)  # validates: the one chokepoint for files and inline alike
    result = accumulator.result()
    shape = np.shape(prediction)
    if nan_policy == "omit" or len(shape) == 1:
        return result
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


def huber(prediction, target, *, delta: float = 1.0, reduction: str = "mean") -> LossResult:
    """``torch.nn.HuberLoss``: ``½d²`` where ``|d| < δ``, else ``δ(|d| − ½δ)``, with ``d = ŷ − y``.

    >>> r = huber([2, 3, 4, 5], [4, 5, 6, 7], reduction="sum")
    >>> float(r.value), r.grad.tolist()
    (6.0, [-1.0, -1.0, -1.0, -1.0])
    """
    return elementwise_loss("huber", prediction, target, reduction=reduction, delta=delta)


def smooth_l1(prediction, target, *, beta: float = 1.0, reduction: str = "mean") -> LossResult:
    """``torch.nn.SmoothL1Loss``: ``½d²/β`` where ``|d| < β``, else ``|d| − ½β``; β = 0 is L1.

    >>> float(smooth_l1([2, 3, 4, 5], [4, 5, 6, 7], beta=4).value)
    0.5
    """
    return elementwise_loss("smooth-l1", prediction, target, reduction=reduction, beta=beta)


# ---------------------------------------------------------------------------------------------
# softmax


def _exp(x: np.ndarray) -> np.ndarray:
    # numpy's float32 exp is up to an ulp off; float64 rounded to float32 is what PyTorch gives more often.
    return np.exp(x.astype(np.float64)).astype(np.float32) if x.dtype == np.float32 else np.exp(x)


def _log(x: np.ndarray) -> np.ndarray:
    return np.log(x.astype(np.float64)).astype(np.float32) if x.dtype == np.float32 else np.log(x)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Stable ``x − max − log Σ exp(x − max)``; finite where the naive formula overflows.

    >>> log_softmax(np.array([1000.0, -1000.0, 0.0])).tolist()
    [0.0, -2000.0, -1000.0]
    """
    with np.errstate(all="ignore"):
        shifted = x - np.max(x, axis=axis, keepdims=True)
        return shifted - _log(np.sum(_exp(shifted), axis=axis, keepdims=True))


def _check_dim(x: np.ndarray, dim: int) -> int:
    if not -x.ndim <= dim < x.ndim:
        allowed = ", ".join(str(d) for d in range(-x.ndim, x.ndim))
        raise UsageError(f"dim {dim} is out of range for a {x.ndim}-D input (use one of {allowed})")
    return dim % x.ndim


def _check_temperature(temperature: float) -> None:
    if not (np.isfinite(temperature) and temperature > 0):
        raise UsageError(f"temperature must be a positive number, not {temperature:g}")


def _softmax_nan_slices(scaled: np.ndarray, axis: int, probabilities: np.ndarray) -> tuple[np.ndarray, set[str]]:
    """Which slices along ``axis`` have a nan softmax, and why: nan, inf, or only -inf in them."""
    slices = np.moveaxis(scaled, axis, -1).reshape(-1, scaled.shape[axis])
    bad = np.isnan(np.moveaxis(probabilities, axis, -1).reshape(slices.shape)).any(axis=1)
    reasons = set()
    if bad.any():
        held = slices[bad]
        reasons = {
            reason
            for reason, present in (
                ("nan", np.isnan(held).any()),
                ("inf", np.isposinf(held).any()),
                ("only -inf", np.isneginf(held).all(axis=1).any()),
            )
            if present
        }
    return bad, reasons


def _softmax_note(count: int, first: int, reasons: set[str], unit: str | None) -> str:
    """The one note for slices whose softmax is nan; ``unit`` names a slice (None for a vector)."""
    what = " or ".join(r for r in ("nan", "inf", "only -inf") if r in reasons)
    if unit is None:
        return f"the input holds {what}, so its softmax is nan, as PyTorch gives it"
    units = unit if count == 1 else unit + "s"
    return f"{count} {units} with {what} (first: {unit} {first}), so {'its' if count == 1 else 'their'} softmax is nan, as PyTorch gives it"


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
    _check_temperature(temperature)
    axis = _check_dim(x, dim)
    with np.errstate(all="ignore"):
        scaled = x / x.dtype.type(temperature) if temperature != 1 else x
        shifted = scaled - np.max(scaled, axis=axis, keepdims=True)
        exp_shifted = _exp(shifted)
        denominator = np.sum(exp_shifted, axis=axis, keepdims=True)
        if axis == x.ndim - 1:
            # PyTorch's kernel along the last dim multiplies by 1/Σ; along another dim it divides.
            probabilities = exp_shifted * (1 / denominator)
        else:
            probabilities = exp_shifted / denominator
        log_probabilities = shifted - _log(denominator)
    value = log_probabilities if log else probabilities
    notes = []
    if not np.isfinite(probabilities).all():
        bad, reasons = _softmax_nan_slices(scaled, axis, probabilities)
        if bad.any():
            unit = None if x.ndim == 1 else ("row" if axis == 1 else "column")
            notes.append(_softmax_note(int(bad.sum()), int(np.argmax(bad)) + 1, reasons, unit))
    columns = [Column("x", "x", x.ravel())]
    power = "x"  # what is exponentiated, as the headings write it (the keys stay exp, exp_shifted)
    if temperature != 1:
        power = f"x/{temperature:g}"
        columns.append(Column("x_over_t", power, scaled.ravel()))
    finite = scaled[np.isfinite(scaled)]
    if finite.size == scaled.size and np.all(np.abs(finite) < 700):
        # e^x itself fits in a float: show the textbook quantities (same shares as the stable form).
        with np.errstate(all="ignore"):
            exp, key, label = np.exp(scaled), "exp", "e^x" if power == "x" else f"e^({power})"
    else:
        exp, key, label = exp_shifted, "exp_shifted", f"e^({power}−max)"
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
        notes=tuple(notes),
        meta={"shape": x.shape, "dim": axis, "temperature": temperature, "log": log, "scaled": scaled},
    )


class SoftmaxAccumulator:
    """Softmax of each row over blocks of samples: rows are independent, so a table streams.

    Keeps the first and last ``keep_rows // 2`` samples for the table (every one when None).

    >>> acc = SoftmaxAccumulator()
    >>> acc.add_block(np.array([[1.0, 2.0], [3.0, 3.0]])).terms.tolist()
    [[0.26894142136999516, 0.7310585786300049], [0.5, 0.5]]
    """

    reduction = "none"

    def __init__(self, *, temperature: float = 1.0, log: bool = False, keep_rows: int | None = None):
        _check_temperature(temperature)  # before any row is read
        self.temperature, self.log = temperature, log
        self.rows_seen = 0
        self.nan_rows = 0  # rows whose softmax is nan, for the one note at the end
        self.first_nan_row: int | None = None
        self.nan_reasons: set[str] = set()
        self.classes: int | None = None
        # The kept samples and their positions, to be computed again for the table (at least
        # two: the result's metadata comes from them even when nothing is drawn).
        keep = None if keep_rows is None else max(keep_rows, 2)
        self._window = HeadTail(
            keep,
            lambda kept: len(kept[0]),
            lambda kept, start, stop: (kept[0][start:stop], kept[1][start:stop]),
            lambda parts: (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])),
        )

    def add_block(self, x, _target=None) -> LossResult:
        x = as_float_array(x, "input")
        if self.classes is None:
            self.classes = x.shape[1]
        part = softmax(x, dim=-1, temperature=self.temperature, log=self.log)
        if part.notes:
            bad, reasons = _softmax_nan_slices(part.meta["scaled"], 1, part.column("softmax").values.reshape(x.shape))
            self.nan_rows += int(bad.sum())
            self.first_nan_row = self.first_nan_row or self.rows_seen + int(np.argmax(bad)) + 1
            self.nan_reasons |= reasons
        start = self.rows_seen * self.classes
        self._window.add((np.arange(self.rows_seen, self.rows_seen + len(x)), x))
        self.rows_seen += len(x)
        return replace(part, row_numbers=np.arange(start, start + x.size))

    @staticmethod
    def scale_grad(grad):
        return grad  # softmax has no loss to differentiate

    def result(self) -> LossResult:
        if not self.rows_seen:
            raise DataError("no rows to compute on")
        samples, x = self._window.kept()
        result = softmax(x, dim=-1, temperature=self.temperature, log=self.log)
        positions = (samples[:, None] * self.classes + np.arange(self.classes)).ravel()
        notes = (_softmax_note(self.nan_rows, self.first_nan_row, self.nan_reasons, "row"),) if self.nan_rows else ()
        return replace(
            result,
            notes=notes,
            n=self.rows_seen * self.classes,
            row_numbers=None if len(samples) == self.rows_seen else positions,
            meta={**result.meta, "shape": (self.rows_seen, self.classes), "rows_in": self.rows_seen * self.classes},
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


def _target_kind(logits: np.ndarray, target: np.ndarray) -> str:
    """PyTorch's rule: a target of the logits' shape holds probabilities, else class indices."""
    if target.shape == logits.shape and not (logits.ndim == 1 and logits.size == 1):
        return "probs"
    samples = 1 if logits.ndim == 1 else logits.shape[0]
    if target.size == samples and target.ndim <= 1:
        return "index"
    labels_first = (
        target.ndim == 2 and target.shape[1] > 1 and target.shape[0] == logits.size
        and bool(np.all(np.isfinite(logits) & (logits == np.floor(logits))))
    )
    hint = "; did you swap them? the logits come first, then the targets" if labels_first else ""
    raise DataError(
        f"target has shape {_shape(target)} but logits have shape {_shape(logits)}: give one class "
        f"index per sample ({samples}) or one probability row per sample {_shape(logits)}{hint}"
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


def _cross_entropy_rows(rows, target, kind, weights, ignore_index, eps, with_grad, positions, ignored_grad=0.0):
    """Per-sample terms, gradient (unscaled), table columns and ``w[y]`` (the mean's denominator terms).

    ``rows`` is (N, C) and free of nan where nan is not wanted; ``weights`` is all ones when no
    weights were given; ``positions`` are the rows' places in the whole input, for messages;
    ``ignored_grad`` fills the gradient of ignored samples. The formulas are those of
    semantics.md, sample by sample.
    """
    samples, classes = rows.shape
    dtype = rows.dtype
    with np.errstate(all="ignore"):
        lp = log_softmax(rows, axis=1)
        p = np.exp(lp)
        columns = [Column("logits", "logits", rows)]
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
                Column("p_target", "p[y]", np.where(valid, p[picked, safe], np.nan)),
                Column("neg_log_p", "−log p[y]", np.where(valid, nll, np.nan)),
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
    ):
        check_reduction(reduction)
        if not (0.0 <= label_smoothing <= 1.0):
            raise UsageError(f"label smoothing must be between 0 and 1, not {label_smoothing:g}")
        self.reduction = reduction
        self.weight_given = weight
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.nan_count = NanCount(nan_policy)
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

    def add_block(self, logits, target) -> LossResult:
        return self.add(logits, target)

    def _rows(self, logits, target, positions, with_grad):
        weights = np.ones(self.classes, dtype=self.dtype) if self.weight is None else self.weight
        ignored_grad = _IGNORED_ROW_GRAD if self.reduction == "mean" else 0.0
        return _cross_entropy_rows(
            logits, target, self.kind, weights, self.ignore_index, self.dtype.type(self.label_smoothing),
            with_grad, positions, ignored_grad,
        )

    def _computed_nan(self, logits, terms, missing, rows):
        """Rows to keep after nan that the loss itself made (inf − inf, 0·inf); None keeps all."""
        computed = np.isnan(terms) & ~missing
        if not computed.any():
            return None
        first = logits[np.argmax(computed)]
        how = (
            "a logit of +inf gives inf − inf in the softmax" if np.isposinf(first).any()
            else "a logit of −inf meets a weight or share of 0 (0·inf)"
        )
        return self.nan_count.rows_to_keep(computed, rows, "", computed=computed, how=how)

    def add(self, logits, target) -> LossResult:
        """One block: (N, C) logits and their targets. Returns its rows (gradient unscaled)."""
        logits = as_float_array(logits, "logits")
        target = as_float_array(target, "target")
        if logits.ndim != 2 or logits.size == 0:
            raise DataError(f"logits have shape {_shape(logits)}; a block needs rows of class scores (N, C)")
        kind = _target_kind(logits, target)
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
        keep = self.nan_count.rows_to_keep(missing, rows, "the logits or target")
        omitted = None
        if keep is not None:
            omitted = OmittedRows(rows[~keep], {"logits": logits[~keep], "target": target[~keep]})
            logits, target, rows, missing = logits[keep], target[keep], rows[keep], missing[keep]
        if logits.shape[0] and not _looks_like_probabilities(logits):
            self.all_look_like_probabilities = False
        terms, grad, columns, valid, w_y, smoothed = self._rows(logits, target, rows, self.with_grad)
        keep = self._computed_nan(logits, terms, missing, rows)
        if keep is not None:
            computed = OmittedRows(rows[~keep], {"logits": logits[~keep], "target": target[~keep]})
            omitted = OmittedRows.join([omitted, computed])
            logits, target, rows = logits[keep], target[keep], rows[keep]
            terms, grad, columns, valid, w_y, smoothed = self._rows(logits, target, rows, self.with_grad)
        if self.weight is not None and self.kind == "index":
            columns.append(Column("weight", "w[y]", w_y))
        if self.label_smoothing:
            label = "t[y]" if self.kind == "index" else "t′"
            columns.append(Column("smoothed_target", label, smoothed))
        columns.append(Column("loss", "loss", terms))
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
            loss="xent",
            reduction=self.reduction,
            dtype=str(self.dtype),
            n=terms.size,
            value=None,
            terms=terms,
            grad=grad,
            columns=tuple(columns),
            meta=self._meta(),
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

    def _meta(self) -> dict:
        return {
            "target_kind": self.kind,
            "classes": self.classes,
            "weight": self.weight,
            "ignore_index": self.ignore_index,
            "label_smoothing": self.label_smoothing,
            "shape": (self.n, self.classes),
            "omitted": self.nan_count.omitted if self.nan_count.policy == "omit" else None,
            "rows_in": self.rows_seen,
            "valid": self.valid,
            "head_rows": self._window.first_rows(self.n),
        }

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
        if self.all_look_like_probabilities and self.classes > 1:
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
        return replace(
            kept,
            value=value,
            n=self.n,
            grad=None if kept.grad is None else self.scale_grad(kept.grad),
            denominator=float(denominator) if self.reduction == "mean" else None,
            denominator_label="N" if self.kind == "probs" else ("Σ w[y]" if self.weight is not None else "n"),
            notes=tuple(notes),
            meta=self._meta(),
            row_numbers=None if len(kept.terms) == self.rows_seen else kept.row_numbers,
            omitted_rows=kept.omitted_rows if self._keeps_every_row else None,
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
    accumulator = CrossEntropyAccumulator(
        reduction, weight=weight, ignore_index=ignore_index, label_smoothing=label_smoothing, nan_policy=nan_policy
    )
    logits = as_float_array(logits, "logits")
    target = as_float_array(target, "target")
    if logits.size == 0:
        raise DataError("logits are empty")
    if target.size == 0:
        raise DataError("target is empty")
    if logits.ndim > 2:
        raise DataError(f"logits have {logits.ndim} dimensions; give a vector (C,) or a matrix (N, C)")
    kind = _target_kind(logits, target)
    if logits.ndim == 2:
        accumulator.add(logits, target)
        return accumulator.result()
    # One sample (C,): PyTorch returns a scalar for none and a (C,) gradient.
    if np.isnan(logits).any() or np.isnan(target).any():
        if nan_policy != "propagate":
            raise DataError("the logits or target hold nan (one sample: nothing to omit)")
    accumulator.add(logits.reshape(1, -1), target.reshape(1, -1) if kind == "probs" else target.reshape(1))
    result = accumulator.result()
    value = result.value[0] if reduction == "none" else result.value
    grad = None if result.grad is None else result.grad[0]
    return replace(result, value=value, grad=grad, meta={**result.meta, "shape": logits.shape})
