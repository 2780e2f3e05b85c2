"""Writing a LossResult: the human table (rich) and the machine formats (plain, csv, json).

This is the only module that prints results. Machine formats are written with ``print``-level
writes at round-trip precision and never pass through rich; only the table rounds numbers.
rich is imported only when a table is drawn, so plain output does not pay for it.
"""

from __future__ import annotations

import csv
import json
import math
from typing import TextIO

import numpy as np

from .core import ELEMENTWISE_LOSSES
from .inputs import printable
from .result import LossResult

FORMATS = ("auto", "table", "plain", "json", "csv")
DERIVATION_TERMS = 6  # longer sums are written as the first few terms, "…", the last one


# ---------------------------------------------------------------------------------------------
# exact numbers (machine formats)


def exact(value, dtype: str) -> str:
    """The shortest text that reads back as the same ``dtype`` number: ``2.0``, ``0.1``, ``nan``."""
    if dtype == "float32":
        return str(np.float32(value))
    return repr(float(value))


def json_number(value, dtype: str):
    """A JSON-safe number: non-finite values become null (JSON has no NaN)."""
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(exact(value, dtype)) if dtype == "float32" else value


def json_array(values, dtype: str):
    if np.ndim(values) == 0:
        return json_number(values, dtype)
    return [json_array(v, dtype) for v in values]


# ---------------------------------------------------------------------------------------------
# plain, csv, json


def write_plain(result: LossResult, out: TextIO) -> None:
    """The value alone; for ``none`` and softmax one line per row (tab between a row's values)."""
    value = np.asarray(result.value)
    if value.ndim == 0:
        out.write(exact(value, result.dtype) + "\n")
    elif value.ndim == 1 and result.loss != "softmax":
        out.writelines(exact(v, result.dtype) + "\n" for v in value)
    else:
        rows = value.reshape(1, -1) if value.ndim == 1 else value
        out.writelines("\t".join(exact(v, result.dtype) for v in row) + "\n" for row in rows)


def _index_headers(result: LossResult) -> list[str]:
    shape = result.meta.get("shape", ())
    if result.loss != "xent" and len(shape) == 2:
        return ["row", "col"]
    return ["row"]


def _index_values(result: LossResult, i: int) -> list[int]:
    shape = result.meta.get("shape", ())
    if result.loss != "xent" and len(shape) == 2:
        return [i // shape[1] + 1, i % shape[1] + 1]
    return [i + 1]


def _grad_rows(result: LossResult) -> np.ndarray:
    grad = np.asarray(result.grad)
    return grad.reshape(result.rows, -1) if result.loss == "xent" else grad.reshape(-1)


def write_csv(result: LossResult, out: TextIO, *, show_grad: bool = False) -> None:
    """One row per element (per sample for xent), a header, every number at full precision."""
    writer = csv.writer(out, lineterminator="\n")
    header = _index_headers(result)
    cells = []
    for column in result.columns:
        values = np.asarray(column.values)
        if values.ndim == 2:
            header += [f"{column.key}_{c}" for c in range(values.shape[1])]
        else:
            header.append(column.key)
        cells.append(values)
    if show_grad and result.grad is not None:
        grad = _grad_rows(result)
        header += [f"grad_{c}" for c in range(grad.shape[1])] if grad.ndim == 2 else ["grad"]
        cells.append(grad)
    writer.writerow(header)
    for i in range(result.rows):
        row = _index_values(result, i)
        for values in cells:
            cell = values[i]
            if np.ndim(cell):
                row += [exact(v, result.dtype) for v in cell]
            elif values.dtype.kind in "iu":
                row.append(int(cell))
            else:
                row.append(exact(cell, result.dtype))
        writer.writerow(row)


def to_json(result: LossResult, *, show_grad: bool = False) -> dict:
    document = {
        "loss": result.loss,
        "reduction": result.reduction,
        "dtype": result.dtype,
        "n": result.n,
        "value": json_array(result.value, result.dtype),
        "terms": json_array(result.terms, result.dtype),
    }
    if result.denominator is not None:
        document["denominator"] = json_number(result.denominator, "float64")
        document["denominator_is"] = result.denominator_label
    if show_grad and result.grad is not None:
        document["grad"] = json_array(result.grad, result.dtype)
    meta = result.meta
    if result.loss == "xent":
        document["target_kind"] = meta["target_kind"]
        document["classes"] = meta["classes"]
        document["weight"] = None if meta["weight"] is None else json_array(meta["weight"], result.dtype)
        document["ignore_index"] = meta["ignore_index"]
        document["label_smoothing"] = meta["label_smoothing"]
    if result.loss == "softmax":
        document.update(dim=meta["dim"], temperature=meta["temperature"], log=meta["log"])
    if result.notes:
        document["notes"] = list(result.notes)
    return document


def write_json(result: LossResult, out: TextIO, *, show_grad: bool = False) -> None:
    json.dump(to_json(result, show_grad=show_grad), out, ensure_ascii=False, allow_nan=False)
    out.write("\n")


# ---------------------------------------------------------------------------------------------
# the human table


def rounded(value, digits: int) -> str:
    """A number for reading: ``digits`` significant digits, no trailing zeros."""
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = f"{value:.{digits}g}"
    return "0" if text == "-0" else text


def _operand(value, digits: int) -> str:
    """A number written after a minus sign: negatives get parentheses, ``2−(-4)``."""
    text = rounded(value, digits)
    return f"({text})" if text.startswith("-") else text


def _abbreviated(terms: list[str], total: int) -> list[str]:
    if total <= DERIVATION_TERMS:
        return terms
    return terms[:3] + ["…"] + terms[-1:]


def _pick(n: int) -> list[int]:
    """Which of ``n`` terms a derivation line writes out."""
    return list(range(n)) if n <= DERIVATION_TERMS else [0, 1, 2, n - 1]


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
        terms = [
            spec.hand_term.format(pred=rounded(pred[i], digits), target=_operand(target[i], digits))
            for i in _pick(result.n)
        ]
        opening, closing = spec.hand_group
        body = opening + " + ".join(_abbreviated(terms, result.n)) + closing
        if result.reduction == "mean":
            return f"{body} / {result.n} = {value}"
        return f"{body} = {value}"
    return _xent_derivation(result, digits, value)


def _xent_derivation(result: LossResult, digits: int, value: str) -> str:
    terms = result.terms
    kept = np.arange(result.n)
    if result.meta["target_kind"] == "index":
        kept = np.flatnonzero(result.column("target").values != result.meta["ignore_index"])
    if kept.size == 0:
        total = "0"
    else:
        shown = [rounded(terms[kept[i]], digits) for i in _pick(kept.size)]
        total = " + ".join(_abbreviated(shown, kept.size))
        total = f"({total})" if kept.size > 1 and result.reduction == "mean" else total
    if result.reduction == "sum":
        return f"{total} = {value}"
    if result.denominator_label == "Σ w[y]":
        w_y = result.column("weight").values
        shown = [rounded(w_y[kept[i]], digits) for i in _pick(kept.size)]
        weights = " + ".join(_abbreviated(shown, kept.size))
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

    shown = [power(first[i]) for i in _pick(first.size)]
    denominator = " + ".join(_abbreviated(shown, first.size))
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


def shown_rows(total: int, limit: int | None) -> tuple[list[int], int]:
    """The rows a table draws, head and tail, and how many it leaves out between them."""
    if limit is None or total <= limit:
        return list(range(total)), 0
    head = (limit + 1) // 2
    tail = limit - head
    return list(range(head)) + list(range(total - tail, total)), total - limit


def write_table(
    result: LossResult,
    out: TextIO,
    *,
    digits: int = 4,
    show_grad: bool = False,
    class_names: list[str] | None = None,
    max_rows: int | None = 20,
    color: bool | None = None,
) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=out, highlight=False, markup=False, emoji=False, no_color=color is False)
    softmax_name = "log-softmax" if result.meta.get("log") else "softmax"
    name = {"xent": "cross-entropy", "softmax": softmax_name}.get(result.loss, result.loss.upper())
    caption = f"{name}, reduction={result.reduction}, {result.dtype}"
    if result.loss == "softmax":
        caption = f"{name} over dim {result.meta['dim']}, {result.dtype}"
    table = Table(title=Text(caption), title_justify="left", show_edge=True)
    index_headers = _index_headers(result)
    for header in index_headers:
        table.add_column(Text(header), justify="right", style="dim")
    for column in result.columns:
        table.add_column(Text(column.label), justify="right")
    grad = _grad_rows(result) if show_grad and result.grad is not None else None
    if grad is not None:
        table.add_column(Text("∂loss/∂ŷ" if result.loss != "xent" else "∂loss/∂x"), justify="right")

    rows, hidden = shown_rows(result.rows, max_rows)
    for position, i in enumerate(rows):
        if hidden and position == len(rows) - (len(rows) // 2):
            table.add_row(*[Text("⋮")] * len(table.columns))
        cells = [str(v) for v in _index_values(result, i)]
        for column in result.columns:
            labels = class_names if column.key == "target" and result.loss == "xent" else None
            cells.append(_cell(np.asarray(column.values), i, digits, labels))
        if grad is not None:
            cells.append(_cell(grad, i, digits))
        table.add_row(*map(Text, cells))
    if result.reduction != "none":
        footer = [Text(result.reduction, style="bold")] + [Text("")] * (len(table.columns) - 1)
        footer[len(index_headers) + len(result.columns) - 1] = Text(rounded(result.value, digits), style="bold")
        table.add_section()
        table.add_row(*footer)
    console.print(table)
    if hidden:
        console.print(Text(f"⋮ {hidden} more rows ({result.rows} in all; --all shows every row)"))
    line = derivation(result, digits)
    if line:
        console.print(Text(line), soft_wrap=True)
    if result.loss == "xent" and result.reduction == "mean":
        console.print(Text(_xent_normaliser_note(result)), style="dim", soft_wrap=True)


def _xent_normaliser_note(result: LossResult) -> str:
    if result.denominator_label == "Σ w[y]":
        return "mean divides by Σ w[y] over the non-ignored targets (PyTorch's weighted mean), not by N"
    if result.denominator_label == "N":
        return "probability targets: mean divides by N, the number of samples (weights or not)"
    return "mean divides by the number of non-ignored targets"


def write(
    result: LossResult,
    fmt: str,
    out: TextIO,
    *,
    digits: int = 4,
    show_grad: bool = False,
    class_names: list[str] | None = None,
    max_rows: int | None = 20,
) -> None:
    """Write ``result`` in ``fmt`` (``auto`` must already be resolved to a concrete format)."""
    if fmt == "plain":
        write_plain(result, out)
    elif fmt == "csv":
        write_csv(result, out, show_grad=show_grad)
    elif fmt == "json":
        write_json(result, out, show_grad=show_grad)
    else:
        write_table(
            result, out, digits=digits, show_grad=show_grad, class_names=class_names, max_rows=max_rows
        )

