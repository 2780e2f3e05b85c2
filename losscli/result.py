"""What one computation produced: the object every renderer reads and nothing else writes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class Column:
    """One per-row quantity of the computation, in the order the table shows it.

    ``key`` names it in csv and json, ``label`` in the human table.  ``values`` has one entry
    per row; an entry is a vector when the row is a sample of several classes (xent logits).
    """

    key: str
    label: str
    values: np.ndarray


@dataclass(frozen=True)
class OmittedRows:
    """Rows that ``--nan-policy omit`` left out: where they were and the inputs they held.

    Machine output writes them back in place (nan where a value was computed), so output rows
    stay aligned with input rows.
    """

    positions: np.ndarray  # 0-based places in the whole input, ascending
    inputs: dict[str, np.ndarray]  # input column key (pred, target, logits) -> the rows' values

    @staticmethod
    def join(parts: list["OmittedRows"]) -> "OmittedRows | None":
        parts = [p for p in parts if p is not None and len(p.positions)]
        if not parts:
            return None
        keys = parts[0].inputs.keys()
        positions = np.concatenate([p.positions for p in parts])
        order = np.argsort(positions, kind="stable")  # the parts may interleave (nan in the input, then made by the loss)
        return OmittedRows(
            positions[order],
            {key: np.concatenate([p.inputs[key] for p in parts])[order] for key in keys},
        )


@dataclass(frozen=True)
class Presentation:
    """What the renderers need to know about a loss, declared by its spec (so they never ask its name)."""

    name: str  # as the table's caption writes it: "MSE", "cross-entropy", "softmax"
    grad_of: str = "ŷ"  # the input the gradient is taken with respect to, as in ∂loss/∂ŷ
    samples: bool = False  # a row is a sample of several classes (one vector per row), not an element
    class_column: str | None = None  # the column of class indices that --classes names
    reduces: bool = True  # False for softmax, a transform with one output per input


@dataclass(frozen=True)
class HandTerms:
    """How a pointwise loss writes one term by hand, for the derivation line: ``(2−4)²``."""

    template: str  # str.format fields: the input column keys ({pred}, {target}, ...) and {term}
    group: tuple[str, str]  # brackets around the sum
    explained: Any = None  # losses.pointwise.Explained: the term and its derivative, for --explain
    symbols: tuple[tuple[str, str], ...] = ()  # each input's symbol and name: ("ŷ", "prediction")


@dataclass(frozen=True)
class ClassTargets:
    """What a class loss (cross-entropy, NLL) found in its targets."""

    target_kind: str  # "index" or "probs"
    classes: int
    valid: int  # samples not ignored, in the whole input
    applies_softmax: bool = True  # the scores are logits (cross-entropy), not log-probabilities (NLL)

    def to_dict(self) -> dict:
        return {"target_kind": self.target_kind, "classes": self.classes}


def shape_text(shape: tuple[int, ...]) -> str:
    """An array's shape as messages write it: ``(2, 3, 5)``."""
    return "(" + ", ".join(map(str, shape)) + ")"


@dataclass(frozen=True)
class ClassLayout:
    """Where the classes of K-dimensional logits are, and how their positions became rows.

    ``(N, C, d1, …)`` has them on axis 1 (PyTorch's), ``(B, T, V)`` on the last; every other axis
    is a position, and the positions are rows in C order (row r is ``unravel_index(r, positions_shape)``).
    """

    shape: tuple[int, ...]  # the logits'
    class_dim: int  # 0-based
    decided_by: str  # "shapes" (losscli read it from the shapes) or "--class-dim"
    probabilities: bool = False  # targets of the logits' shape

    @property
    def positions_shape(self) -> tuple[int, ...]:
        return self.shape[: self.class_dim] + self.shape[self.class_dim + 1 :]

    @property
    def positions(self) -> int:
        return math.prod(self.positions_shape)

    def caption(self) -> str:
        shape = shape_text(self.shape)
        positions = f"{self.positions} position{'s' if self.positions != 1 else ''}"
        return f"classes on axis {self.class_dim} of {shape}; {positions} flattened to rows"

    def to_dict(self) -> dict:
        return {
            "logits_shape": list(self.shape),
            "class_dim": self.class_dim,
            "class_dim_from": self.decided_by,
            "positions": self.positions,
            # terms (reduction none) are the positions in C order of this shape; the gradient's rows
            # are the same positions with the classes last, not the logits' own shape
            "terms_shape": list(self.positions_shape),
            "grad_shape": [self.positions, self.shape[self.class_dim]],
        }


@dataclass(frozen=True)
class SoftmaxSlices:
    """The scaled input (x / T) of a softmax and the dim it runs over, for the derivation."""

    dim: int
    scaled: np.ndarray


@dataclass(frozen=True)
class TopShare:
    """The share of the total loss held by the largest ``fraction`` of the terms (``terms`` of them).

    ``low == high`` when exact; else the bounds the histogram gives (a stream too long to keep its
    largest terms). ``why_none`` says why there is no share (negative terms, an infinite total).
    """

    fraction: float
    terms: int
    low: float | None
    high: float | None
    why_none: str | None = None

    @property
    def exact(self) -> bool:
        return self.low is not None and self.low == self.high

    def to_dict(self) -> dict:
        if self.low is None:
            return {"fraction": self.fraction, "terms": self.terms, "share": None, "why_none": self.why_none}
        if self.exact:
            return {"fraction": self.fraction, "terms": self.terms, "share": self.low}
        return {"fraction": self.fraction, "terms": self.terms, "share_low": self.low, "share_high": self.high}


@dataclass(frozen=True)
class TermsHistogram:
    """A histogram of the per-element terms, counted while streaming (``losscli.histogram``).

    ``counts[i]`` counts terms in ``[edges[i], edges[i+1])``, the last bin closed as numpy's;
    ``underflow``/``overflow`` count terms below and above the edges (chosen from the first block),
    ``nan`` the nan terms: together they add up to the terms computed (omitted rows are not).
    """

    edges: np.ndarray
    counts: np.ndarray
    underflow: int
    overflow: int
    nan: int
    spacing: str  # "linear" or "log" (then the first bin is [0, edges[1]))
    top: TopShare

    @property
    def n(self) -> int:
        return int(self.counts.sum()) + self.underflow + self.overflow + self.nan

    def to_dict(self) -> dict:
        return {
            "spacing": self.spacing,
            "edges": [float(e) for e in self.edges],
            "counts": [int(c) for c in self.counts],
            "underflow": self.underflow,
            "overflow": self.overflow,
            "nan": self.nan,
            "top": self.top.to_dict(),
        }


@dataclass(frozen=True)
class LossResult:
    """The per-row terms, the reduced value and the gradient of one loss (or softmax) call.

    ``terms`` is the unreduced loss (``reduction='none'``) whatever reduction was asked;
    ``value`` is what the reduction gives (an array for ``none`` and for softmax).
    ``denominator`` is what ``mean`` divided by, and ``denominator_label`` says what it is
    (``n``, ``N`` or ``Σ w[y]``), since PyTorch's normalisers differ between paths.
    ``parameters`` are the options the loss took, as JSON names them (``delta``, ``weight``);
    ``details`` is the family's own payload (``HandTerms``, ``ClassTargets``, ``SoftmaxSlices``).
    """

    loss: str
    reduction: str
    dtype: str
    n: int
    value: Any
    terms: np.ndarray
    grad: np.ndarray | None
    columns: tuple[Column, ...]
    presentation: Presentation
    denominator: float | None = None
    denominator_label: str = "n"
    notes: tuple[str, ...] = ()
    shape: tuple[int, ...] = ()  # of the input (elements), or (samples, classes)
    parameters: dict[str, Any] = field(default_factory=dict)
    details: Any = None
    omitted: int | None = None  # rows --nan-policy omit left out (None: another policy)
    rows_in: int | None = None  # rows read, omitted ones included (None: the rows the columns hold)
    head_rows: int | None = None  # how many kept rows are the input's first rows (None: all)
    # For input read in blocks only some rows are kept (head and tail, for the table): their
    # 0-based positions. None means the columns hold every row.
    row_numbers: np.ndarray | None = None
    # The table columns each role was read from (``{"prediction": "y_hat", "target": "y"}``;
    # 1-based positions without a header), for the table title and JSON; None for inline input.
    input_columns: dict[str, Any] | None = None
    # Rows --nan-policy omit left out, when the columns hold every kept row (None otherwise).
    omitted_rows: OmittedRows | None = None
    # Accuracy, RMSE, ... over the kept rows, when the loss has metrics and they were asked for.
    metrics: MetricValues | None = None
    # The loss split by class (--by-class) and the least value it can take on these targets.
    by_class: "ByClass | None" = None
    floor: "Floor | None" = None
    # The terms' histogram, with --hist (None otherwise).
    histogram: TermsHistogram | None = None
    # What this reduction leaves to join with other shards (losses.partial.Partial), made when read:
    # only json and partial output read it, so other runs neither import nor build it. None for none.
    partial_of: Callable[[], Any] | None = None
    # K-dimensional class inputs: the class axis and the positions flattened to rows (None otherwise).
    layout: ClassLayout | None = None

    @property
    def rows(self) -> int:
        """How many rows the columns hold (all of them, or the kept head and tail)."""
        return len(self.columns[0].values) if self.columns else 0

    def _is_matrix_of_elements(self) -> bool:
        # Element rows of a matrix are numbered (row, col); a sample's row is one number.
        return not self.presentation.samples and len(self.shape) == 2

    def index_headers(self) -> list[str]:
        """Headers of the columns that say where each row comes from."""
        return ["row", "col"] if self._is_matrix_of_elements() else ["row"]

    def index_values(self, i: int) -> list[int]:
        """The 1-based row (and column, for a matrix) of the ``i``-th row the columns hold."""
        return self.index_at(int(self.row_numbers[i]) if self.row_numbers is not None else i)

    def index_at(self, position: int) -> list[int]:
        """The 1-based row (and column, for a matrix) of 0-based ``position`` in the input."""
        if self._is_matrix_of_elements():
            columns = self.shape[1]
            return [position // columns + 1, position % columns + 1]
        return [position + 1]

    def positions(self) -> np.ndarray:
        """0-based places in the input of the rows the columns hold."""
        return self.row_numbers if self.row_numbers is not None else np.arange(self.rows)

    @property
    def partial(self):
        """The partial of this reduction (``losses.partial.Partial``), or None (reduction none)."""
        return None if self.partial_of is None else self.partial_of()

    def scored_terms(self) -> np.ndarray:
        """The terms the reduction counts: an ignored target's row (its term is 0, and it has no
        share of the mean) is not one of them."""
        terms = np.ravel(self.terms)
        if isinstance(self.details, ClassTargets) and self.details.target_kind == "index":
            return terms[np.ravel(self.column("target").values) != self.parameters["ignore_index"]]
        return terms

    def grad_rows(self) -> np.ndarray:
        """The gradient with one entry (a vector for xent) per row the columns hold."""
        grad = np.asarray(self.grad)
        return grad.reshape(self.rows, -1) if self.presentation.samples else grad.reshape(-1)

    def omitted_note(self) -> str:
        """What --nan-policy omit dropped, in words."""
        omitted = self.omitted
        rows = "1 row" if omitted == 1 else f"{omitted} rows"
        return f"{rows} with nan omitted (--nan-policy omit); n = {self.n}"

    def column(self, key: str) -> Column:
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(key)

    def take_rows(self, start: int, stop: int | None) -> "LossResult":
        """Rows ``start:stop`` of a result whose arrays all run over rows (a block of a stream)."""
        def cut(array):
            return None if array is None else array[start:stop]

        return replace(
            self,
            terms=cut(self.terms),
            grad=cut(self.grad),
            columns=tuple(replace(c, values=c.values[start:stop]) for c in self.columns),
            row_numbers=cut(self.row_numbers),
            omitted_rows=None,  # they belong to the whole block, not to a slice of it
        )

    @staticmethod
    def stack_rows(parts: list["LossResult"]) -> "LossResult":
        """Blocks of one stream, one after the other (the first one's metadata is kept)."""
        def join(arrays):
            return None if arrays[0] is None else np.concatenate(arrays)

        first = parts[0]
        return replace(
            first,
            terms=join([p.terms for p in parts]),
            grad=join([p.grad for p in parts]),
            columns=tuple(
                replace(c, values=np.concatenate([p.columns[i].values for p in parts]))
                for i, c in enumerate(first.columns)
            ),
            row_numbers=join([p.row_numbers for p in parts]),
            omitted_rows=OmittedRows.join([p.omitted_rows for p in parts]),
        )


# Table labels of the metrics, in the order every format shows them (JSON keys are the keys).
METRIC_LABELS = {
    "accuracy": "accuracy",
    "top_k_accuracy": "top-{k} accuracy",
    "perplexity": "perplexity",
    "bits_per_token": "bits/token",
    "mae": "MAE",
    "rmse": "RMSE",
    "r2": "R²",
    "max_error": "max error",
}


@dataclass(frozen=True)
class MetricValues:
    """Metrics beside the loss (accuracy, perplexity, RMSE, R², ...), over the rows the loss kept.

    ``values`` maps a key of ``METRIC_LABELS`` to a float (nan or inf when so); ``top_k`` is the
    k of ``top_k_accuracy``; ``notes`` say why a metric the loss has is absent here.
    """

    values: dict[str, float]
    top_k: int | None = None
    notes: tuple[str, ...] = ()

    def items(self) -> list[tuple[str, float]]:
        """(key, value) in display order; ``top_k`` (an int) just before ``top_k_accuracy``."""
        pairs = []
        for key in METRIC_LABELS:
            if key in self.values:
                if key == "top_k_accuracy":
                    pairs.append(("top_k", self.top_k))
                pairs.append((key, self.values[key]))
        return pairs

    def labelled(self) -> list[tuple[str, float]]:
        """(table label, value) in display order."""
        return [(METRIC_LABELS[key].format(k=self.top_k), value) for key, value in self.items() if key != "top_k"]

    def to_dict(self) -> dict:
        """``{"metrics": {...}}``: exact floats, null where not finite; ``metrics_notes`` when some are."""
        metrics = {key: value if isinstance(value, int) or math.isfinite(value) else None for key, value in self.items()}
        document = {"metrics": metrics}
        if self.notes:
            document["metrics_notes"] = list(self.notes)
        return document
def _json_float(value) -> float | None:
    """A float64 for JSON: exact (repr round-trips), None for nan and inf (JSON has neither)."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


@dataclass(frozen=True)
class ClassRow:
    """One class of ``--by-class``: how many samples it has and what they cost."""

    index: int
    count: int
    mean_loss: float  # Σ terms of the class / count (the terms as reduction none gives them: weight included)
    loss_share: float  # Σ terms of the class / Σ terms of every class
    accuracy: float  # fraction of the class's samples predicted as it (its recall); nan without samples
    weight_share: float | None = None  # Σ w[y] of the class / Σ w[y], where the mean divides by Σ w[y]


@dataclass(frozen=True)
class Suggestion:
    """A rebalancing option computed from the class counts, ready to paste (None when it cannot be)."""

    key: str  # the JSON key: suggested_weight, suggested_pos_weight, suggested_alpha
    flag: str  # --weight, --pos-weight, --alpha
    values: tuple[float, ...] | None
    rule: str  # how it is computed, in words
    command: str  # the command that takes the flag
    why_not: str = ""  # why there is none, when values is None

    def option(self, write=repr) -> str | None:
        return None if self.values is None else f"{self.flag} " + ",".join(write(v) for v in self.values)

    def to_dict(self) -> dict:
        document = {"option": self.option(), "rule": self.rule, "command": self.command}
        if self.values is None:
            return {**document, "values": None, "why_not": self.why_not}
        values = [_json_float(v) for v in self.values]
        return {**document, "values": values if len(values) > 1 else values[0]}


@dataclass(frozen=True)
class ByClass:
    """The loss split by class (``--by-class``), with the rows no class was counted for."""

    rows: tuple[ClassRow, ...]
    suggestion: Suggestion
    classed_by: str  # how a sample's class is read from its target, in words
    excluded: dict[str, int] = field(default_factory=dict)  # rows in no class: ignored, nan target

    @property
    def counted(self) -> int:
        return sum(row.count for row in self.rows)

    def to_dict(self, class_names: list[str] | None = None) -> dict:
        def name(index: int):
            return class_names[index] if class_names and index < len(class_names) else index

        rows = []
        for row in self.rows:
            entry = {
                "class": name(row.index), "count": row.count, "mean_loss": _json_float(row.mean_loss),
                "loss_share": _json_float(row.loss_share), "accuracy": _json_float(row.accuracy),
            }
            if row.weight_share is not None:
                entry["weight_share"] = _json_float(row.weight_share)
            rows.append(entry)
        document = {"by_class": rows, "by_class_classed_by": self.classed_by}
        if self.excluded:
            document["by_class_excluded"] = dict(self.excluded)
        document[self.suggestion.key] = self.suggestion.to_dict()
        return document


@dataclass(frozen=True)
class Floor:
    """The least value the loss can take on these targets (label smoothing, soft targets): not 0."""

    value: float  # in the reduction's units: the least mean (or sum) of the loss
    why: str

    def to_dict(self) -> dict:
        return {"value": _json_float(self.value), "why": self.why}
