"""The human view: a rich table of every term, the reduction row, and the derivation line.

Numbers here are rounded for reading (``--digits``); the machine formats in ``render`` never are.
Text that came from the user is wrapped in ``rich.text.Text``, so ``[bold]`` stays ``[bold]``.
rich is imported only when a table is drawn.
"""

from __future__ import annotations

import math
from typing import Callable, TextIO

import numpy as np

from .core import ELEMENTWISE_LOSSES
from .inputs import printable
from .result import LossResult

DERIVATION_TERMS = 6  # longer sums are written as the first few terms, "…", the last one


def rounded(value, digits: int) -> str:
    """A number for reading: ``digits`` significant digits, no trailing zeros."""
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value.is_integer() and abs(value) < 10**15:
        return str(int(value))  # 99999 reads better than 1e+05, and is just as exact
    text = f"{value:.{digits}g}"
    return "0" if text == "-0" else text


def _operand(value, digits: int) -> str:
    """A number written after a minus sign: negatives get parentheses, ``2−(-4)``."""
    text = rounded(value, digits)
    return f"({text})" if text.startswith("-") else text


def written_sum(term: Callable[[int], str], total: int, available: int | None = None, head: int | None = None) -> str:
    """A sum as a person writes it: every term, or the first three, "…", the last one.

    ``term(i)`` writes the i-th of the ``available`` kept terms (of ``total``); the first ``head``
    of them are the input's first terms (a big input keeps only its head and tail).
    """
    available = total if available is None else available
    head = available if head is None else head
    if available == total and total <= DERIVATION_TERMS:
        return " + ".join(term(i) for i in range(total))
    first = [term(i) for i in range(min(3, head, available - 1))]
    return " + ".join(first + ["…", term(available - 1)])


def _head_rows(result: LossResult) -> int:
    """How many of the kept rows are the first rows computed on (after any omitted ones)."""
    return min(result.meta.get("head_rows", result.rows), result.rows)


def derivation(result: LossResult, digits: int) -> str | None:
    """The reduction written as a person checks it by hand, e.g. ``(|2−4| + |3−5|) / 2 = 2``."""
    if result.loss == "softmax":
        return _softmax_derivation(result, digits)
    if result.reduction == "none":
        return None
    value = rounded(result.value, digits)
    if result.loss in ELEMENTWISE_LOSSES:
        spec = ELEMENTWISE_LOSSES[result.loss]
        pred, target = result.column("pred").values, result.column("target").values

        def term(i: int) -> str:
            return spec.hand_term.format(pred=rounded(pred[i], digits), target=_operand(target[i], digits))

        opening, closing = spec.hand_group
        body = opening + written_sum(term, result.n, result.rows, _head_rows(result)) + closing
        return f"{body} / {result.n} = {value}" if result.reduction == "mean" else f"{body} = {value}"
    return _xent_derivation(result, digits, value)


def _xent_derivation(result: LossResult, digits: int, value: str) -> str:
    """``(ℓ₁ + ℓ₂ + …) / denominator``, over the non-ignored samples the result kept."""
    kept = np.arange(result.rows)
    if result.meta["target_kind"] == "index":
        kept = np.flatnonzero(result.column("target").values != result.meta["ignore_index"])
    counted = result.meta["valid"]  # non-ignored samples in the whole input
    head = int(np.sum(kept < _head_rows(result)))
    if counted == 0:
        total = "0"
    else:
        total = written_sum(lambda i: rounded(result.terms[kept[i]], digits), counted, kept.size, head)
        total = f"({total})" if counted > 1 and result.reduction == "mean" else total
    if result.reduction == "sum":
        return f"{total} = {value}"
    if result.denominator_label == "Σ w[y]":
        w_y = result.column("weight").values
        weights = written_sum(lambda i: rounded(w_y[kept[i]], digits), counted, kept.size, head)
        return f"{total} / ({weights}) = {value}   (weighted mean: divided by Σ w[y], as PyTorch)"
    return f"{total} / {rounded(result.denominator, digits)} = {value}"


def _softmax_derivation(result: LossResult, digits: int) -> str:
    """The first output element of the first slice along ``dim``, written out."""
    scaled = np.asarray(result.meta["scaled"])
    dim = result.meta["dim"]
    first = np.moveaxis(scaled, dim, -1).reshape(-1, scaled.shape[dim])[0]
    overflow = np.any(np.abs(first[np.isfinite(first)]) > 700)
    top = np.max(first)

    def power(x) -> str:
        if overflow:
            return f"e^({rounded(x, digits)}−{_operand(top, digits)})"
        return f"e^{_operand(x, digits)}"

    denominator = written_sum(lambda i: power(first[i]), first.size)
    value = np.moveaxis(np.asarray(result.value), dim, -1).reshape(-1, scaled.shape[dim])[0][0]
    if result.meta["log"]:
        head = f"({rounded(first[0], digits)}−{_operand(top, digits)})" if overflow else rounded(first[0], digits)
        return f"{head} − log({denominator}) = {rounded(value, digits)}"
    return f"{power(first[0])} / ({denominator}) = {rounded(value, digits)}"


def _cell(values: np.ndarray, i: int, digits: int, labels: list[str] | None = None) -> str:
    cell = values[i]
    if np.ndim(cell):
        return "[" + ", ".join(rounded(v, digits) for v in cell) + "]"
    if labels is not None and values.dtype.kind in "iu" and 0 <= cell < len(labels):
        return f"{cell} {printable(labels[cell])}"
    if values.dtype.kind in "iu":
        return str(int(cell))
    return rounded(cell, digits)


def shown_rows(result: LossResult, limit: int | None) -> list[int]:
    """Which of the rows the columns hold the table draws: all, or the first and last halves."""
    if limit is None or result.rows <= limit:
        return list(range(result.rows))
    head = (limit + 1) // 2
    return list(range(head)) + list(range(result.rows - (limit - head), result.rows))


def write_table(
    result: LossResult,
    out: TextIO,
    *,
    digits: int = 4,
    show_grad: bool = False,
    class_names: list[str] | None = None,
    max_rows: int | None = 20,
) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=out, highlight=False, markup=False, emoji=False)
    softmax_name = "log-softmax" if result.meta.get("log") else "softmax"
    name = {"xent": "cross-entropy", "softmax": softmax_name}.get(result.loss, result.loss.upper())
    caption = f"{name}, reduction={result.reduction}, {result.dtype}"
    if result.loss == "softmax":
        caption = f"{name} over dim {result.meta['dim']}, {result.dtype}"
    if result.input_columns:
        caption += "; columns: " + ", ".join(f"{role} {_column_names(names)}" for role, names in result.input_columns.items())
    table = Table(title=Text(caption), title_justify="left")
    headers = result.index_headers()
    for header in headers:
        table.add_column(Text(header), justify="right", style="dim")
    for column in result.columns:
        table.add_column(Text(column.label), justify="right")
    grad = result.grad_rows() if show_grad and result.grad is not None else None
    if grad is not None:
        table.add_column(Text("∂loss/∂ŷ" if result.loss != "xent" else "∂loss/∂x"), justify="right")

    shown = shown_rows(result, max_rows)
    previous = None
    for i in shown:
        position = result.index_values(i)
        if previous is not None and position[0] - previous > 1:
            table.add_row(*[Text("⋮")] * len(table.columns))
        previous = position[0]
        cells = [str(v) for v in position]
        for column in result.columns:
            labels = class_names if column.key == "target" and result.loss == "xent" else None
            cells.append(_cell(np.asarray(column.values), i, digits, labels))
        if grad is not None:
            cells.append(_cell(grad, i, digits))
        table.add_row(*map(Text, cells))
    if result.reduction != "none":
        footer = [Text(result.reduction, style="bold")] + [Text("")] * (len(table.columns) - 1)
        footer[len(headers) + len(result.columns) - 1] = Text(rounded(result.value, digits), style="bold")
        table.add_section()
        table.add_row(*footer)
    console.print(table)
    rows_in = result.meta.get("rows_in", result.rows)
    hidden = rows_in - len(shown)
    if hidden:
        console.print(Text(f"⋮ {hidden} more rows ({rows_in} in all; --all shows every row)"))
    omitted = result.meta.get("omitted")
    if omitted:
        console.print(Text(result.omitted_note()))
    line = derivation(result, digits)
    if line:
        console.print(Text(line), soft_wrap=True)
    if result.loss == "xent" and result.reduction == "mean":
        console.print(Text(_xent_normaliser_note(result), style="dim"), soft_wrap=True)


def _column_names(names) -> str:
    """``"y_hat"``, ``3``, or a run of logit columns shortened to its ends."""
    def one(name):
        return f'"{printable(name)}"' if isinstance(name, str) else str(name)

    if not isinstance(names, list):
        return one(names)
    if len(names) > 4:
        return f"{one(names[0])} … {one(names[-1])} ({len(names)})"
    return ", ".join(map(one, names))


def _xent_normaliser_note(result: LossResult) -> str:
    if result.denominator_label == "Σ w[y]":
        return "mean divides by Σ w[y] over the non-ignored targets (PyTorch's weighted mean), not by N"
    if result.denominator_label == "N":
        return "probability targets: mean divides by N, the number of samples (weights or not)"
    return "mean divides by the number of non-ignored targets"


