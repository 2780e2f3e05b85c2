"""Softmax and log-softmax, stably and in PyTorch's order of operations: a transform, not a loss.

Along the last dim PyTorch multiplies by ``1/Σ`` (along another it divides), log-softmax is
``(x − max) − log Σ``, and float32 ``exp``/``log`` are taken in float64 and rounded (PyTorch's
vectorised float32 exp is closer to that than to numpy's float32 exp). The within-row sums are
numpy's in the input's dtype: left to right for fewer than 8 classes, as PyTorch sums a row
shorter than its vector width; pairwise beyond.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import DataError, UsageError
from ..result import Column, LossResult, Presentation, SoftmaxSlices
from .base import HeadTail, as_float_array



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
        # Only what is shown: on a row of millions each array here is as big as the input.
        log_probabilities = shifted - _log(denominator) if log else None
        del shifted
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
        presentation=Presentation("log-softmax" if log else "softmax", grad_of="x", reduces=False),
        shape=x.shape,
        parameters={"dim": axis, "temperature": temperature, "log": log},
        details=SoftmaxSlices(axis, scaled),
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
            bad, reasons = _softmax_nan_slices(part.details.scaled, 1, part.column("softmax").values.reshape(x.shape))
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
            shape=(self.rows_seen, self.classes),
            rows_in=self.rows_seen * self.classes,
        )



def _sum_down(total: np.ndarray | None, block: np.ndarray) -> np.ndarray:
    """``total`` plus each row of ``block`` in turn: numpy's (and PyTorch's) order of an axis-0 sum,
    so a column summed block by block is bit for bit the column summed at once."""
    if total is None:
        return block.sum(axis=0)
    return np.add.reduce(np.concatenate([total[None], block]), axis=0)


class ColumnSoftmax:
    """Softmax down each column (``--dim 0``) of a table read in blocks, in flat memory.

    The blocks are given three times (a file is read again each time; stdin is spooled first):
    ``see_max`` finds each column's maximum, ``see_sum`` sums e^(x − max) down the rows in
    order, and ``add_block`` then writes each block's probabilities. The numbers are those of
    ``softmax(x, dim=0)`` on the whole table (same maxima, same sums in the same order).
    """

    reduction = "none"

    def __init__(self, *, temperature: float = 1.0, log: bool = False):
        _check_temperature(temperature)
        self.temperature, self.log = temperature, log
        self.top: np.ndarray | None = None
        self.textbook = True  # every |x/T| < 700: the table shows e^x itself, as softmax() does
        self.has_nan = self.has_posinf = self.all_neginf = None
        self.denominator: np.ndarray | None = None
        self.exp_sum: np.ndarray | None = None
        self.rows = 0
        self.rows_seen = 0

    def _scaled(self, x: np.ndarray) -> np.ndarray:
        return x / x.dtype.type(self.temperature) if self.temperature != 1 else x

    def see_max(self, x: np.ndarray) -> None:
        with np.errstate(all="ignore"):
            scaled = self._scaled(as_float_array(x, "input"))
            top = np.max(scaled, axis=0)
        self.top = top if self.top is None else np.maximum(self.top, top)
        finite = np.isfinite(scaled)
        self.textbook = self.textbook and bool(finite.all() and np.all(np.abs(scaled) < 700))
        nan, posinf, neginf = np.isnan(scaled).any(axis=0), np.isposinf(scaled).any(axis=0), np.isneginf(scaled).all(axis=0)
        if self.has_nan is None:
            self.has_nan, self.has_posinf, self.all_neginf = nan, posinf, neginf
        else:
            self.has_nan, self.has_posinf, self.all_neginf = self.has_nan | nan, self.has_posinf | posinf, self.all_neginf & neginf
        self.rows += len(x)

    def see_sum(self, x: np.ndarray) -> None:
        with np.errstate(all="ignore"):
            scaled = self._scaled(as_float_array(x, "input"))
            self.denominator = _sum_down(self.denominator, _exp(scaled - self.top))
            if self.textbook:
                self.exp_sum = _sum_down(self.exp_sum, np.exp(scaled))

    def add_block(self, x, _target=None) -> LossResult:
        """The softmax of a block of rows, with the columns' maxima and sums of the whole table."""
        x = as_float_array(x, "input")
        with np.errstate(all="ignore"):
            scaled = self._scaled(x)
            shifted = scaled - self.top
            exp_shifted = _exp(shifted)
            probabilities = exp_shifted / self.denominator
            log_probabilities = shifted - _log(self.denominator)
        value = log_probabilities if self.log else probabilities
        columns = [Column("x", "x", x.ravel())]
        power = "x"
        if self.temperature != 1:
            power = f"x/{self.temperature:g}"
            columns.append(Column("x_over_t", power, scaled.ravel()))
        if self.textbook:
            with np.errstate(all="ignore"):
                exp, total, key, label = np.exp(scaled), self.exp_sum, "exp", "e^x" if power == "x" else f"e^({power})"
        else:
            exp, total, key, label = exp_shifted, self.denominator, "exp_shifted", f"e^({power}−max)"
        columns += [
            Column(key, label, exp.ravel()),
            Column("sum_" + key, "Σ " + label, np.broadcast_to(total, x.shape).ravel()),
            Column("softmax", "softmax", probabilities.ravel()),
        ]
        if self.log:
            columns.append(Column("log_softmax", "log-softmax", log_probabilities.ravel()))
        start = self.rows_seen * x.shape[1]
        self.rows_seen += len(x)
        return LossResult(
            loss="softmax", reduction="none", dtype=str(x.dtype), n=x.size, value=value, terms=value, grad=None,
            columns=tuple(columns),
            presentation=Presentation("log-softmax" if self.log else "softmax", grad_of="x", reduces=False),
            shape=(self.rows, x.shape[1]),
            parameters={"dim": 0, "temperature": self.temperature, "log": self.log},
            row_numbers=np.arange(start, start + x.size),
        )

    @staticmethod
    def scale_grad(grad):
        return grad  # softmax has no loss to differentiate

    def result(self) -> LossResult:
        """The whole table's metadata (its numbers were written block by block)."""
        if not self.rows:
            raise DataError("no rows to compute on")
        bad = self.has_nan | self.has_posinf | self.all_neginf
        notes = ()
        if bad.any():
            reasons = {r for r, flags in (("nan", self.has_nan), ("inf", self.has_posinf), ("only -inf", self.all_neginf)) if flags.any()}
            notes = (_softmax_note(int(bad.sum()), int(np.argmax(bad)) + 1, reasons, "column"),)
        classes = len(self.top)
        empty = np.empty(0, dtype=self.top.dtype)
        return LossResult(
            loss="softmax", reduction="none", dtype=str(self.top.dtype), n=self.rows * classes, value=empty,
            terms=empty, grad=None, columns=(), notes=notes,
            presentation=Presentation("log-softmax" if self.log else "softmax", grad_of="x", reduces=False),
            shape=(self.rows, classes),
            parameters={"dim": 0, "temperature": self.temperature, "log": self.log},
            row_numbers=np.empty(0, dtype=np.int64), rows_in=self.rows * classes,
        )
