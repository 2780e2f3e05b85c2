"""The pointwise family: losses computed element by element from inputs of one shape.

A ``PointwiseLoss`` declares its term, the term's derivative w.r.t. the first input, its
parameters, its reductions and the table columns a student needs to rebuild each term by hand.
``PointwiseAccumulator`` streams any of them over blocks of rows; ``pointwise_loss`` is the
same computation on whole arrays. The family modules (``regression``, ...) declare the specs;
nothing here knows a loss by name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from ..errors import DataError, UsageError
from ..mistakes import Watch
from ..result import Column, HandTerms, LossResult, OmittedRows, Presentation
from .base import (
    REDUCTIONS,
    ChunkedSum,
    HeadTail,
    InfCount,
    LossParameter,
    NanCount,
    RangeCount,
    as_float_array,
    check_reduction,
    check_same_shape,
)
from .by_class import BinaryClasses, BinaryView, FloorRule
from .curve import Curve


@dataclass(frozen=True)
class Input:
    """One input of a loss: its csv/json key, table header and name in messages."""

    key: str
    label: str
    name: str
    help: str = ""  # the positional argument's help


PREDICTION = Input("pred", "ŷ", "prediction", "Predictions ŷ: 2,3,4,5, a file, or - for stdin")
TARGET = Input("target", "y", "target", "Targets y: 4,5,6,7, a file, or - for stdin")


@dataclass(frozen=True)
class Step:
    """A table column between the inputs and the term: ``values(*inputs, p)`` per element."""

    key: str
    label: str
    values: Callable[..., np.ndarray]
    shown: Callable[[dict], bool] | None = None  # of the parameters: a weight's column only when one is given


@dataclass(frozen=True)
class Case:
    """One element's term (or its derivative) as a tutorial writes it, for ``--explain``.

    ``symbols`` uses ``_i`` for the element's index: ``(ŷ_i − y_i)²``. ``numbers`` is the same
    with the element's values put in, a ``str.format`` template over the table's columns (input,
    step and ``term`` keys) and the parameters: ``({pred} − {target:o})²``; ``:o`` writes a
    negative number in parentheses, as it must after an operator.
    """

    symbols: str
    numbers: str
    when: Callable[[dict], bool] | None = None  # of the row's values: which case of a piecewise term


@dataclass(frozen=True)
class Explained:
    """How ``--explain`` writes a pointwise loss: its term and the term's derivative by cases."""

    term: tuple[Case, ...]
    grad: tuple[Case, ...]  # ∂ℓ_i/∂(first input)
    where: tuple[str, ...] = ()  # the intermediate symbols the cases use, as equations: "d_i = ŷ_i − y_i"
    notes: tuple[str, ...] = ()  # what the formulas do not say, in words: "each log is clamped at −100"


@dataclass(frozen=True)
class Tally:
    """Elements the computation treats specially (BCE's clamped logs): counted over the whole
    stream, reported in one note, ``note(count, first_row)`` (1-based)."""

    hit: Callable[..., np.ndarray]  # (*inputs, p) -> a mask in the inputs' shape
    note: Callable[[int, int], str]


@dataclass(frozen=True)
class PointwiseLoss:
    """One pointwise loss, declared: everything its command, table, JSON and tests need.

    ``term(*inputs, p)`` and ``grad(*inputs, p)`` take the inputs (same shape, one dtype) and
    ``p``, the parameters by name (numbers already in the data's dtype, as PyTorch casts them).
    """

    name: str
    title: str
    torch_name: str
    term: Callable[..., np.ndarray]
    grad: Callable[..., np.ndarray]  # ∂term/∂(first input), element by element
    term_key: str  # csv/json name of the per-element term
    term_label: str  # table header of the per-element term
    hand_term: str | Callable[[dict], str]  # one term as a person writes it: {pred}, {target} (input keys), step keys and {term}; or that, given the parameters
    hand_group: tuple[str, str]  # brackets around the sum in the derivation line
    example: str  # the derivation line of ``losscli NAME example_args`` (tested), for --help
    example_args: str = "2,3,4,5 4,5,6,7"
    parameters: tuple[LossParameter, ...] = ()
    formula: str = ""  # the term for --help, when the header alone does not say it
    steps: tuple[Step, ...] = ()
    inputs: tuple[Input, ...] = (PREDICTION, TARGET)
    reductions: tuple[str, ...] = REDUCTIONS
    nan_how: str = "ŷ − y is inf − inf"  # what makes nan of inputs that hold none, for the note
    display: str = ""  # the table caption's name (default: the name in capitals)
    # Raises a DataError for values the loss refuses (BCE's probabilities outside [0, 1]), given the
    # inputs in the data's dtype and their 0-based positions; nan is left to the nan policy.
    check: Callable[..., None] | None = None
    tallies: tuple[Tally, ...] = ()
    # The term and its derivative for --explain; given the parameters when they change the formula.
    explained: Explained | Callable[[dict], Explained] | None = None
    # Two classes (targets 0 and 1) that --by-class splits the loss into; None: the loss has no classes.
    by_class: BinaryClasses | None = None
    # The least value of each term given its target (soft targets); None: the loss can reach 0.
    floor: FloorRule | None = None
    # Which metrics sit beside the loss (losses.metrics: RegressionMetrics, BinaryMetrics, or
    # NoMetrics with the reason); every registered loss declares one (tests/test_metrics.py).
    metrics: Any = None
    # What ``losscli plot`` draws it against, given the parameters (a Curve, or a function of them).
    curve: Curve | Callable[[dict], Curve] | None = None

    def explained_for(self, parameters: dict) -> Explained | None:
        return self.explained(parameters) if callable(self.explained) else self.explained

    def curve_for(self, parameters: dict) -> Curve | None:
        return self.curve(parameters) if callable(self.curve) else self.curve

    @property
    def presentation(self) -> Presentation:
        return Presentation(self.display or self.name.upper(), grad_of=self.inputs[0].label)

    def parameter_values(self, given: dict) -> dict:
        """Every parameter checked, defaults filled in; a ``TypeError`` for one it does not take."""
        known = {p.name: p for p in self.parameters}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise TypeError(f"{self.name} takes no parameter {', '.join(unknown)}")
        return {name: p.checked(given.get(name, p.default)) for name, p in known.items()}


def difference(x: np.ndarray, y: np.ndarray, p: dict) -> np.ndarray:
    """``ŷ − y``: the step most regression losses show."""
    return x - y


DIFFERENCE = Step("diff", "ŷ−y", difference)

# The roles losscli.mistakes knows the inputs by, in the order of a spec's inputs.
WATCHED_ROLES = ("input", "target", "var")


@dataclass
class BlockTerms:
    """What one block of rows gave: its inputs (flat), terms and the gradient (unscaled for mean)."""

    inputs: tuple[np.ndarray, ...]
    terms: np.ndarray
    grad: np.ndarray | None
    rows: np.ndarray  # 0-based positions of these elements in the whole input
    omitted: OmittedRows | None = None  # rows of this block --nan-policy omit left out

    def cut(self, start: int, stop: int | None) -> "BlockTerms":
        def part(array):
            return None if array is None else array[start:stop]

        return BlockTerms(tuple(a[start:stop] for a in self.inputs), self.terms[start:stop], part(self.grad), self.rows[start:stop])

    @staticmethod
    def join(blocks: list["BlockTerms"]) -> "BlockTerms":
        def joined(arrays):
            return None if arrays[0] is None else np.concatenate(arrays)

        return BlockTerms(
            tuple(np.concatenate(parts) for parts in zip(*(b.inputs for b in blocks))),
            joined([b.terms for b in blocks]),
            joined([b.grad for b in blocks]),
            joined([b.rows for b in blocks]),
        )


class PointwiseAccumulator:
    """Reduces a pointwise loss over blocks of rows, so the input never has to fit in memory.

    ``add`` returns each block's terms (for writers that stream them); ``result`` gives the
    reduced value, summed exactly across blocks (``ChunkedSum``), and keeps the first and last
    ``keep_rows // 2`` elements for the table (every one when None).

    >>> from losscli.losses import POINTWISE_LOSSES
    >>> acc = PointwiseAccumulator(POINTWISE_LOSSES["mse"], "mean")
    >>> _ = acc.add(np.array([2.0, 3.0]), np.array([4.0, 5.0]))
    >>> _ = acc.add(np.array([4.0, 5.0]), np.array([6.0, 7.0]))
    >>> float(acc.result().value)
    4.0
    """

    def __init__(
        self,
        spec: PointwiseLoss,
        reduction: str = "mean",
        *,
        keep_rows: int | None = None,
        nan_policy: str = "propagate",
        with_grad: bool = True,
        dtype: str | None = None,
        input_notes: list[str] | None = None,
        parameters: dict | None = None,
        with_metrics: bool = True,
        by_class: bool = False,
    ):
        check_reduction(reduction, spec.reductions)
        if by_class and spec.by_class is None:
            raise UsageError(f"{spec.name} has no classes to split the loss by")
        self.spec = spec
        self.parameters = spec.parameter_values(parameters or {})
        self.watch = Watch(spec.name, reduction, self.parameters)
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
        self.batch = 0  # the input's size(0): its first dimension, what batchmean divides by
        self.overflows = 0
        self.first_overflow_row: int | None = None
        self._sum = ChunkedSum()
        self._tallied = [[0, None] for _ in spec.tallies]  # count, first 1-based row
        self._flat_input = False  # 1-D: a vector parameter must then hold one value per element
        self._window = HeadTail(keep_rows, lambda b: b.terms.size, BlockTerms.cut, BlockTerms.join)
        # Omitted rows are given back with the result only when it holds every row.
        self._omitted: list[OmittedRows] | None = [] if keep_rows is None else None
        # Accuracy, RMSE, ... of the kept rows: only when shown (they cost a pass over every row).
        self.metric_tracker = spec.metrics.tracker(self.parameters) if with_metrics and spec.metrics is not None else None
        self.view = BinaryView(spec.name, spec.by_class, spec.floor, by_class) if by_class or spec.floor else None

    def _p(self, rows: np.ndarray | None = None) -> dict:
        """The parameters as the formulas take them: numbers in the data's dtype (as PyTorch casts
        them); a vector running along the last dim (a weight per class) as given, or gathered for
        the elements at 0-based ``rows`` (flat, or in the block's shape: ``add`` gathers so that a
        1-D input streamed in blocks takes the vector's values at its own positions)."""
        p = {}
        for spec in self.spec.parameters:
            value = self.parameters[spec.name]
            if isinstance(value, bool) or value is None:
                p[spec.name] = value
            elif np.ndim(value):
                value = np.asarray(value, dtype=self.dtype)
                p[spec.name] = value if rows is None else value[rows % value.size]
            else:
                p[spec.name] = self.dtype.type(value)
        return p

    def add(self, *given) -> BlockTerms:
        spec = self.spec
        if len(given) != len(spec.inputs):
            raise TypeError(f"{spec.name} takes {len(spec.inputs)} inputs, not {len(given)}")
        arrays = [as_float_array(values, i.name) for values, i in zip(given, spec.inputs)]
        for other, i in zip(arrays[1:], spec.inputs[1:]):
            check_same_shape(arrays[0], other, (spec.inputs[0].name, i.name))
        self.dtype = self.dtype or np.result_type(*arrays)
        with np.errstate(over="ignore"):  # a value beyond float32: inf, counted below
            inputs = tuple(values.astype(self.dtype, copy=False) for values in arrays)
        self.batch += inputs[0].shape[0] if inputs[0].ndim else 1
        rows = np.arange(self.rows_seen, self.rows_seen + inputs[0].size)
        self._check_vectors(inputs[0].shape, rows)
        if spec.check is not None:
            spec.check(*inputs, rows.reshape(inputs[0].shape))
        # Signs of a mistake (logits into bce, ...): errors stop here, warnings are said at the end.
        first_axis = np.arange(self.batch - (inputs[0].shape[0] if inputs[0].ndim else 1), self.batch)
        self.watch.observe(dict(zip(WATCHED_ROLES, inputs)), first_axis if inputs[0].ndim == 2 else rows)
        # Computed in the input's own shape (a weight per class runs along its last dim), then flat.
        p = self._p(rows.reshape(inputs[0].shape))
        with np.errstate(all="ignore"):
            terms = spec.term(*inputs, p).ravel()
            grad = np.broadcast_to(spec.grad(*inputs, p), inputs[0].shape).ravel() if self.with_grad else None
            for tally, hit in zip(self._tallied, (t.hit(*inputs, p).ravel() for t in spec.tallies)):
                if hit.any():
                    tally[0] += int(hit.sum())
                    tally[1] = tally[1] or int(rows[np.argmax(hit)]) + 1
        inputs = tuple(values.ravel() for values in inputs)
        self.rows_seen += terms.size
        omitted = None
        with np.errstate(all="ignore"):
            total = terms.sum(dtype=np.float64)
        for values, narrowed in zip(arrays, inputs):
            self.out_of_range.check(values.ravel(), narrowed, rows, overflow=not np.isfinite(total))
        if not np.isfinite(total):
            # Only a block whose sum is nan or inf can hold nan or an overflow: look only then.
            keep, omitted = self._non_finite(inputs, rows, terms)
            if keep is not None:
                inputs, rows, terms = tuple(values[keep] for values in inputs), rows[keep], terms[keep]
                grad = None if grad is None else grad[keep]
        if self.view is not None:
            self.view.add(*inputs[:2], terms, self._p(rows))
        block = BlockTerms(inputs, terms, grad, rows, omitted)
        if self.metric_tracker is not None:
            self.metric_tracker.observe(inputs, rows)
        if omitted is not None and self._omitted is not None:
            self._omitted.append(omitted)
        self.n += terms.size
        self._sum.add(terms)
        self._window.add(block)
        return block

    def _check_vectors(self, shape: tuple, rows: np.ndarray) -> None:
        """A vector parameter broadcasts over the last dimension, as PyTorch's: 1 value or one per
        element of it. A 1-D input's last dimension is its length, known in full only at the end."""
        for parameter in self.spec.parameters:
            value = self.parameters[parameter.name]
            if not parameter.vector or value is None or value.size == 1:
                continue
            if len(shape) > 1 and value.size != shape[-1]:
                raise UsageError(
                    f"{parameter.flag} has {value.size} values but the input's last dimension has {shape[-1]}; "
                    f"it is broadcast over that dimension: give 1 value or {shape[-1]}"
                )
            if len(shape) <= 1:
                self._flat_input = True
                if rows.size and rows[-1] >= value.size:
                    raise UsageError(
                        f"{parameter.flag} has {value.size} values but the input has at least {rows[-1] + 1}; "
                        "a one-column input's last dimension is its length: give 1 value or one per element"
                    )

    def _per_element_parameters(self) -> list:
        """The vector parameters holding one value per element: given with more than one value to a
        one-column (1-D) input."""
        return [parameter for parameter in self.spec.parameters if parameter.vector and self._flat_input
                and self.parameters[parameter.name] is not None and self.parameters[parameter.name].size > 1]

    def _check_vector_lengths(self) -> None:
        """The end of a 1-D input: a vector parameter must have held exactly one value per element."""
        for parameter in self._per_element_parameters():
            value = self.parameters[parameter.name]
            if self.rows_seen < value.size:
                raise UsageError(
                    f"{parameter.flag} has {value.size} values but the input has {self.rows_seen}; "
                    "a one-column input's last dimension is its length: give 1 value or one per element"
                )

    def _non_finite(self, inputs, rows, terms) -> tuple[np.ndarray | None, OmittedRows | None]:
        """The rows to keep (None: all) and those omitted; counts what is inf or overflowed."""
        given = np.logical_or.reduce([np.isnan(values) for values in inputs])
        # inf − inf is nan although no input is: --nan-policy covers it too.
        keep = self.nan_count.rows_to_keep(np.isnan(terms), rows, "the input", computed=~given, how=self.spec.nan_how)
        omitted = None
        if keep is not None:
            omitted = OmittedRows(rows[~keep], {i.key: values[~keep] for i, values in zip(self.spec.inputs, inputs)})
            inputs, rows, terms = tuple(values[keep] for values in inputs), rows[keep], terms[keep]
        infinite = np.logical_or.reduce([np.isinf(values) for values in inputs])
        self.inf_count.add(infinite, terms, rows)
        finite = np.logical_and.reduce([np.isfinite(values) for values in inputs])
        overflowed = np.isinf(terms) & finite  # a nan term is the nan policy's, counted above
        if overflowed.any():
            self.overflows += int(overflowed.sum())
            self.first_overflow_row = self.first_overflow_row or int(rows[np.argmax(overflowed)]) + 1
        return keep, omitted

    def _denominator(self) -> int | None:
        return {"mean": self.n, "batchmean": self.batch}.get(self.reduction)

    def scale_grad(self, grad: np.ndarray) -> np.ndarray:
        """A block's gradient once every row is in: divided by the mean's denominator."""
        denominator = self._denominator()
        with np.errstate(all="ignore"):
            return grad / self.dtype.type(denominator) if denominator else grad

    def _columns(self, kept: BlockTerms) -> tuple[Column, ...]:
        columns = [Column(i.key, i.label, values) for i, values in zip(self.spec.inputs, kept.inputs)]
        with np.errstate(all="ignore"):
            columns += [
                Column(s.key, s.label, s.values(*kept.inputs, self._p(kept.rows)))
                for s in self.spec.steps
                if s.shown is None or s.shown(self.parameters)
            ]
        columns.append(Column(self.spec.term_key, self.spec.term_label, kept.terms))
        return tuple(columns)

    def _as_result(
        self, kept: BlockTerms, value, grad, notes=(), part: bool = False, omitted: OmittedRows | None = None
    ) -> LossResult:
        spec = self.spec
        denominator = self._denominator()
        return LossResult(
            loss=spec.name,
            reduction=self.reduction,
            dtype=str(self.dtype),
            n=self.n,
            value=value,
            terms=kept.terms,
            grad=grad,
            columns=self._columns(kept),
            presentation=spec.presentation,
            denominator=None if denominator is None else float(denominator),
            denominator_label="N" if self.reduction == "batchmean" else "n",
            notes=tuple(notes),
            shape=(self.n,),
            parameters=dict(self.parameters),
            details=HandTerms(
                spec.hand_term(self.parameters) if callable(spec.hand_term) else spec.hand_term,
                spec.hand_group,
                spec.explained_for(self.parameters),
                tuple((i.label, i.name) for i in spec.inputs),
            ),
            omitted=self.nan_count.omitted if self.nan_count.policy == "omit" else None,
            rows_in=self.rows_seen,
            head_rows=self._window.first_rows(self.n),
            row_numbers=kept.rows if part or kept.terms.size != self.rows_seen else None,
            omitted_rows=omitted,
            metrics=None if part or self.metric_tracker is None else self.metric_tracker.result(),
        )

    def add_block(self, *inputs) -> LossResult:
        """``add``, with the block's rows returned as a result (what stream writers take)."""
        return self.block_result(self.add(*inputs))

    def block_result(self, block: BlockTerms) -> LossResult:
        """One block's rows as a result, for writers that stream (its gradient not yet scaled)."""
        return self._as_result(block, None, block.grad, part=True, omitted=block.omitted)

    def partial(self):
        """What this reduction leaves to join with other shards' (``losses.partial.Partial``):
        the exact sum, the counts and the options; refused for ``none``.

        >>> from losscli.losses import POINTWISE_LOSSES
        >>> a, b = PointwiseAccumulator(POINTWISE_LOSSES["mse"]), PointwiseAccumulator(POINTWISE_LOSSES["mse"])
        >>> _, _ = a.add([2.0, 3.0], [4.0, 5.0]), b.add([4.0], [7.0])
        >>> float(a.merge(b).value())  # (4 + 4 + 9) / 3
        5.666666666666667
        """
        from .partial import Partial, no_partial

        no_partial(self.reduction)
        if self.n == 0:
            raise DataError("every row holds nan (all omitted)" if self.nan_count.omitted else "no rows to compute on")
        self._check_vector_lengths()
        form = self.partial_form()
        return Partial(
            **form, counts={"n": self.n, "batch": self.batch, "rows": self.rows_seen, "omitted": self.nan_count.omitted,
                            "nan": self.nan_count.kept, "parts": 1},
            sums={"terms": self._sum.pieces()},
        )

    def partial_form(self, facts: dict | None = None) -> dict:
        """What this loss's partial is, whatever the data: its name, reduction, dtype, options
        (as JSON writes them) and denominator; what a partial read back must equal."""
        from .partial import PER_ELEMENT, _option_value

        # A value per row (bce's --weight of a column) is each shard's own data, already in its
        # terms, not an option every shard must share.
        per_element = {parameter.name for parameter in self._per_element_parameters()}
        options = {name: PER_ELEMENT if name in per_element else _option_value(value)
                   for name, value in self.parameters.items()}
        options["nan_policy"] = self.nan_count.policy
        return dict(loss=self.spec.name, reduction=self.reduction, dtype=str(self.dtype), options=options,
                    denominator="batch" if self.reduction == "batchmean" else "n",
                    denominator_is="N" if self.reduction == "batchmean" else "n")

    def merge(self, other: "PointwiseAccumulator"):
        """This accumulator's partial joined with ``other``'s (same loss and options), a ``Partial``."""
        return self.partial().merge(other.partial())

    def result(self) -> LossResult:
        if self.n == 0:
            raise DataError("every row holds nan (all omitted)" if self.nan_count.omitted else "no rows to compute on")
        self._check_vector_lengths()
        dtype = self.dtype
        kept = self._window.kept()
        denominator = self._denominator()
        with np.errstate(all="ignore"):
            total = dtype.type(self._sum.total())
            if self.reduction == "none":
                value = kept.terms
            else:
                value = total / dtype.type(denominator) if denominator else total
        grad = None if kept.grad is None else self.scale_grad(kept.grad)
        notes = [*self.input_notes, *self.out_of_range.note(dtype)]
        if self.overflows:
            notes.append(
                f"{self.overflows} term{'s' if self.overflows > 1 else ''} overflowed to inf (first: row "
                f"{self.first_overflow_row}); the inf is kept, as PyTorch gives it"
            )
        notes += self.nan_count.note() + self.inf_count.note()
        notes += [f.message for f in self.watch.findings() if f.level == "warning"]
        notes += [tally.note(count, first) for tally, (count, first) in zip(self.spec.tallies, self._tallied) if count]
        omitted = OmittedRows.join(self._omitted) if self._omitted is not None else None
        result = self._as_result(kept, value, grad, notes, omitted=omitted)
        if self.reduction != "none":  # what shards of the input join (losscli combine)
            result = replace(result, partial_of=self.partial)
        if self.view is None:
            return result
        notes += self.view.notes()
        floor = self.view.floor_result(self.parameters, denominator, self.reduction, self.n)
        return replace(result, notes=tuple(notes), by_class=self.view.by_class(), floor=floor)


def pointwise_loss(
    spec: PointwiseLoss, *inputs, reduction: str = "mean", nan_policy: str = "propagate", by_class: bool = False,
    **parameters
) -> LossResult:
    """``spec`` on whole arrays: the accumulator fed one block. Shapes must match exactly (no
    broadcasting); ``none`` keeps the input's shape, and so does the gradient.

    >>> from losscli.losses import POINTWISE_LOSSES
    >>> float(pointwise_loss(POINTWISE_LOSSES["mse"], [2, 3, 4, 5], [4, 5, 6, 7], reduction="sum").value)
    16.0
    """
    accumulator = PointwiseAccumulator(spec, reduction, nan_policy=nan_policy, parameters=parameters, by_class=by_class)
    accumulator.add(*inputs)  # validates: the one chokepoint for files and inline alike
    result = accumulator.result()
    shape = np.shape(inputs[0])
    if nan_policy == "omit" or len(shape) == 1:
        return result
    value = result.value.reshape(shape) if reduction == "none" else result.value
    return replace(result, value=value, terms=result.terms.reshape(shape), grad=result.grad.reshape(shape), shape=shape)
