"""Writing results: the machine formats (plain, csv, json), whole or streamed, and the dispatch.

This module and ``table_view`` are the only places that print results. Machine formats are
written at round-trip precision with plain writes, never through rich. Input read in blocks is
written as it is computed (plain, csv); what needs the row count first (json, the gradient of
a mean in csv) is spooled to a temporary file and written at the end, so memory stays flat.
"""

from __future__ import annotations

import csv
import errno
import json
import math
import os
from dataclasses import replace
from typing import Iterator, TextIO

import numpy as np

from .errors import OutputError, UsageError
from .result import LossResult, OmittedRows
from .table_view import write_table

HUMAN_FORMATS = ("table", "markdown", "latex")  # rounded for reading; they keep a head and tail of rows

# ---------------------------------------------------------------------------------------------
# exact numbers


def exact(value, dtype: str) -> str:
    """The shortest text that reads back as the same ``dtype`` number: ``2.0``, ``0.1``, ``nan``."""
    if dtype == "float32":
        return str(np.float32(value))
    return repr(float(value))


def exact_list(values: np.ndarray, dtype: str) -> list[str]:
    if dtype == "float32":
        return [str(v) for v in np.asarray(values, dtype=np.float32)]
    return list(map(repr, np.asarray(values, dtype=np.float64).tolist()))


WRITE_VALUES = 1 << 16  # values turned into text at once: a row of millions is written in pieces


def _write_fast(out: TextIO, values: np.ndarray, dtype: str) -> bool:
    """The float64 common case formatted in C or by polars (csv_text); False where it does not apply."""
    if dtype != "float64":
        return False
    from .csv_text import plain_text

    pieces = plain_text(np.asarray(values))
    if pieces is None:
        return False
    for piece in pieces:
        out.write(piece)
    return True


def write_rows(out: TextIO, rows: np.ndarray, dtype: str) -> None:
    """One line per row, tab between its values, at round-trip precision; a row of more than
    ``WRITE_VALUES`` is written a piece at a time (one join of a million strings held 100 MB)."""
    if _write_fast(out, rows, dtype):
        return
    if rows.shape[1] <= WRITE_VALUES:
        out.writelines("\t".join(exact_list(row, dtype)) + "\n" for row in rows)
        return
    for row in rows:
        for start in range(0, len(row), WRITE_VALUES):
            out.write(("\t" if start else "") + "\t".join(exact_list(row[start : start + WRITE_VALUES], dtype)))
        out.write("\n")


def write_lines(out: TextIO, values: np.ndarray, dtype: str) -> None:
    """One value per line, at round-trip precision, a piece at a time."""
    if _write_fast(out, values, dtype):
        return
    for start in range(0, len(values), WRITE_VALUES):
        out.write("".join(t + "\n" for t in exact_list(values[start : start + WRITE_VALUES], dtype)))


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


def _json_tokens(values: np.ndarray, dtype: str) -> str:
    """An array as the inside of a JSON list: numbers at round-trip precision, null for nan/inf."""
    if values.ndim == 2:
        return ", ".join("[" + _json_tokens(row, dtype) + "]" for row in values)
    finite = np.isfinite(values)
    tokens = exact_list(values, dtype)
    if not finite.all():
        tokens = [t if ok else "null" for t, ok in zip(tokens, finite.tolist())]
    return ", ".join(tokens)


def write_json_tokens(out: TextIO, values: np.ndarray, dtype: str) -> None:
    """``_json_tokens`` written a piece at a time when a row is wide (a softmax row of millions)."""
    if values.shape[-1] <= WRITE_VALUES:
        out.write(_json_tokens(values, dtype))
    elif values.ndim == 2:
        for i, row in enumerate(values):
            out.write(", [" if i else "[")
            write_json_tokens(out, row, dtype)
            out.write("]")
    else:
        for start in range(0, len(values), WRITE_VALUES):
            out.write((", " if start else "") + _json_tokens(values[start : start + WRITE_VALUES], dtype))


# ---------------------------------------------------------------------------------------------
# rows left out by --nan-policy omit


def _slots(result: LossResult) -> tuple[np.ndarray, np.ndarray, int] | None:
    """Where the kept rows and the omitted rows go in input order, and how many rows that is."""
    omitted = result.omitted_rows
    if omitted is None or not len(omitted.positions):
        return None
    kept = result.positions()
    merged = np.sort(np.concatenate([kept, omitted.positions]))
    return np.searchsorted(merged, kept), np.searchsorted(merged, omitted.positions), merged.size


def in_input_order(result: LossResult, values) -> np.ndarray:
    """Per-row ``values`` with nan in the rows --nan-policy omit left out: one entry per input row."""
    values = np.asarray(values)
    slots = _slots(result)
    if slots is None:
        return values
    kept, omitted, total = slots
    full = np.full((total, *values.shape[1:]), np.nan, dtype=values.dtype if values.dtype.kind == "f" else np.float64)
    full[kept] = values
    return full


# ---------------------------------------------------------------------------------------------
# whole results


def metric_text(value) -> str:
    """A metric at round-trip precision (metrics are float64 whatever the data's dtype; top_k an int)."""
    return str(value) if isinstance(value, int) else exact(value, "float64")


def write_plain(result: LossResult, out: TextIO, *, show_metrics: bool = False) -> None:
    """The value alone; for ``none`` and softmax one line per row (tab between a row's values).

    A row --nan-policy omit left out is a ``nan`` line, so lines stay aligned with input rows.
    ``show_metrics`` adds a ``key<TAB>value`` line per metric after a reduced value.
    """
    value = np.asarray(result.value)
    if value.ndim == 0:
        out.write(exact(value, result.dtype) + "\n")
        if show_metrics and result.metrics is not None:
            out.writelines(f"{key}\t{metric_text(v)}\n" for key, v in result.metrics.items())
    elif value.ndim == 1 and result.presentation.reduces:
        write_lines(out, in_input_order(result, value), result.dtype)
    else:
        write_rows(out, value.reshape(1, -1) if value.ndim == 1 else value, result.dtype)


def _cells(values: np.ndarray, dtype: str, integers: bool = False) -> list[list[str]]:
    """Each row's csv cells, every number exact; ``integers`` writes whole floats as integers."""
    if values.dtype.kind in "iu":
        return [[str(v)] for v in values.tolist()]
    if values.dtype.kind == "U":  # words, such as the branch a piecewise term took
        return [[v] for v in values.tolist()]
    if integers:  # the class-index targets of omitted rows: floats, perhaps nan
        return [[str(int(v)) if math.isfinite(v) and v == int(v) else exact(v, dtype)] for v in values.tolist()]
    if values.ndim == 2:
        return [exact_list(row, dtype) for row in values]
    return [[t] for t in exact_list(values, dtype)]


def _class_name_cells(labels, class_names: list[str]) -> list[list[str]]:
    """The name of each row's class index; empty where there is none (ignored, nan, out of range)."""
    cells = []
    for label in np.asarray(labels, dtype=np.float64).tolist():
        named = math.isfinite(label) and label == int(label) and 0 <= label < len(class_names)
        cells.append([class_names[int(label)] if named else ""])
    return cells


def _csv_groups(result: LossResult, show_grad: bool, class_names: list[str] | None) -> list[tuple]:
    """(key, headers, cells of each kept row, cells of each omitted row) for each group of csv columns."""
    omitted = result.omitted_rows
    gone = 0 if omitted is None else len(omitted.positions)
    groups = []
    for column in result.columns:
        values = np.asarray(column.values)
        headers = [f"{column.key}_{c}" for c in range(values.shape[1])] if values.ndim == 2 else [column.key]
        given = None if omitted is None else omitted.inputs.get(column.key)
        if given is not None:
            omitted_cells = _cells(np.asarray(given), result.dtype, integers=values.dtype.kind in "iu")
        else:
            blank = "" if values.dtype.kind == "U" else "nan"  # no branch was taken in an omitted row
            omitted_cells = [[blank] * len(headers) for _ in range(gone)]
        groups.append((column.key, headers, _cells(values, result.dtype), omitted_cells))
        if column.key == result.presentation.class_column and class_names and values.ndim == 1:
            names_gone = _class_name_cells(given, class_names) if given is not None else [[""]] * gone
            groups.append(("target_name", ["target_name"], _class_name_cells(values, class_names), names_gone))
    if show_grad and result.grad is not None:
        grad = result.grad_rows()
        headers = [f"grad_{c}" for c in range(grad.shape[1])] if grad.ndim == 2 else ["grad"]
        groups.append(("grad", headers, _cells(grad, result.dtype), [["nan"] * len(headers) for _ in range(gone)]))
    return groups


def csv_header(result: LossResult, *, show_grad: bool, class_names: list[str] | None = None) -> list[str]:
    header = result.index_headers()
    for _, headers, _, _ in _csv_groups(result, show_grad, class_names):
        header += headers
    return header


def csv_rows(result: LossResult, *, show_grad: bool, class_names: list[str] | None = None) -> Iterator[list]:
    """The rows the columns hold, in input order with the omitted ones back in place; every number exact."""
    groups = _csv_groups(result, show_grad, class_names)
    kept = result.positions().tolist()
    omitted = [] if result.omitted_rows is None else result.omitted_rows.positions.tolist()
    i = j = 0
    while i < len(kept) or j < len(omitted):
        if j == len(omitted) or (i < len(kept) and kept[i] < omitted[j]):
            row, which, i = result.index_at(kept[i]), i, i + 1
            for _, _, cells, _ in groups:
                row += cells[which]
        else:
            row, which, j = result.index_at(omitted[j]), j, j + 1
            for _, _, _, cells in groups:
                row += cells[which]
        yield row


def csv_metric_rows(result: LossResult, header: list[str]) -> list[list[str]]:
    """One row per metric after the reduction's row, laid out as it is: the key, then the value in the term column."""
    if result.metrics is None or result.reduction == "none":
        return []
    at = header.index(result.columns[-1].key)
    rows = []
    for key, value in result.metrics.items():
        row = [""] * len(header)
        row[0], row[at] = key, metric_text(value)
        rows.append(row)
    return rows


def csv_footer(result: LossResult, header: list[str]) -> list[str] | None:
    """The reduction's row, as the table's footer: its name, then the value in the term column."""
    if result.reduction == "none" or not result.presentation.reduces:
        return None
    footer = [""] * len(header)
    footer[0] = result.reduction
    # The per-row term is the last column, as in the table; it is one number, so one csv column.
    footer[header.index(result.columns[-1].key)] = exact(result.value, result.dtype)
    return footer


def write_csv(
    result: LossResult, out: TextIO, *, show_grad: bool = False, class_names: list[str] | None = None, show_metrics: bool = False
) -> None:
    """One row per element (per sample for xent), a header, the reduction's row (and the metrics'), every number exact."""
    writer = csv.writer(out, lineterminator="\n")
    header = csv_header(result, show_grad=show_grad, class_names=class_names)
    writer.writerow(header)
    writer.writerows(csv_rows(result, show_grad=show_grad, class_names=class_names))
    footer = csv_footer(result, header)
    if footer is not None:
        writer.writerow(footer)
        if show_metrics:
            writer.writerows(csv_metric_rows(result, header))


def _json_head(result: LossResult) -> dict:
    return {"loss": result.loss, "reduction": result.reduction, "dtype": result.dtype, "n": result.n}


def _json_tail(result: LossResult, class_names: list[str] | None = None) -> dict:
    document = {}
    if result.denominator is not None:
        document["denominator"] = json_number(result.denominator, "float64")
        document["denominator_is"] = result.denominator_label
    if hasattr(result.details, "to_dict"):
        document.update(result.details.to_dict())  # what the family found: target kind, classes
    if class_names:
        document["class_names"] = list(class_names)
    for key, value in result.parameters.items():  # the options the loss took: delta, weight, ...
        document[key] = json_array(value, result.dtype) if isinstance(value, np.ndarray) else value
    if result.omitted is not None:
        document["omitted"] = result.omitted
    if result.input_columns:
        document["columns"] = result.input_columns
    if result.layout is not None:
        document["layout"] = result.layout.to_dict()
    if result.notes:
        document["notes"] = list(result.notes)
    if result.metrics is not None:
        document.update(result.metrics.to_dict())
    if result.by_class is not None:
        document.update(result.by_class.to_dict(class_names))
    if result.floor is not None:
        document["floor"] = result.floor.to_dict()
    if result.histogram is not None:
        document["histogram"] = result.histogram.to_dict()
    partial = result.partial
    if partial is not None:
        document["partial"] = partial.to_dict()
    return document


def to_json(result: LossResult, *, show_grad: bool = False, class_names: list[str] | None = None) -> dict:
    """The result as a JSON document; value, terms and grad hold null in omitted rows."""
    document = _json_head(result)
    value = result.value if np.ndim(result.value) == 0 else in_input_order(result, result.value)
    document["value"] = json_array(value, result.dtype)
    document["terms"] = json_array(in_input_order(result, result.terms), result.dtype)
    if show_grad and result.grad is not None:
        document["grad"] = json_array(in_input_order(result, result.grad), result.dtype)
    document.update(_json_tail(result, class_names))
    return document


def write_json(result: LossResult, out: TextIO, *, show_grad: bool = False, class_names: list[str] | None = None) -> None:
    json.dump(to_json(result, show_grad=show_grad, class_names=class_names), out, ensure_ascii=False, allow_nan=False)
    out.write("\n")


def write_partial(result: LossResult, out: TextIO) -> None:
    """The partial alone, one JSON line: what ``losscli combine`` joins with other shards'."""
    partial = result.partial
    if partial is None:
        raise UsageError(
            f"{result.loss} with reduction {result.reduction} has no partial (--reduction none keeps every term, and "
            "softmax has no reduction): use mean or sum"
        )
    # One write of the whole line: shards run side by side (xargs -P) share one pipe, and a line
    # under PIPE_BUF (4 KiB) written at once is never interleaved with another's, even unbuffered.
    out.write(json.dumps(partial.to_dict(), ensure_ascii=False, allow_nan=False) + "\n")


BY_CLASS_HEADER = ["class", "count", "mean_loss", "loss_share", "weight_share", "accuracy"]


def by_class_rows(result: LossResult, class_names: list[str] | None = None) -> list[list[str]]:
    """The ``--by-class`` table for csv and plain: a header, then a row per class, numbers exact
    (float64); weight_share is empty where the mean does not divide by Σ w[y]."""
    rows = [BY_CLASS_HEADER]
    for row in result.by_class.rows:
        name = class_names[row.index] if class_names and row.index < len(class_names) else str(row.index)
        share = "" if row.weight_share is None else exact(row.weight_share, "float64")
        rows.append([name, str(row.count), exact(row.mean_loss, "float64"), exact(row.loss_share, "float64"),
                     share, exact(row.accuracy, "float64")])
    return rows


def write_by_class(result: LossResult, fmt: str, out: TextIO, class_names: list[str] | None = None) -> None:
    """``--by-class`` in csv or plain: the per-class table in place of the per-row output."""
    rows = by_class_rows(result, class_names)
    if fmt == "csv":
        csv.writer(out, lineterminator="\n").writerows(rows)
    else:
        out.writelines("\t".join(row) + "\n" for row in rows)


def write(
    result: LossResult,
    fmt: str,
    out: TextIO,
    *,
    digits: int = 4,
    show_grad: bool = False,
    class_names: list[str] | None = None,
    max_rows: int | None = 20,
    explain: bool = False,
    show_metrics: bool = False,
) -> None:
    """Write a whole ``result`` in ``fmt`` (``auto`` already resolved to a concrete format).
    ``explain`` adds the derivation to the table; markdown and latex always carry it."""
    if fmt in ("plain", "csv") and result.by_class is not None:
        write_by_class(result, fmt, out, class_names)
    elif fmt == "plain":
        write_plain(result, out, show_metrics=show_metrics)
    elif fmt == "csv":
        write_csv(result, out, show_grad=show_grad, class_names=class_names, show_metrics=show_metrics)
    elif fmt == "json":
        write_json(result, out, show_grad=show_grad, class_names=class_names)
    elif fmt == "partial":
        write_partial(result, out)
    elif fmt in ("markdown", "latex"):
        from .typeset import write_document

        write_document(result, fmt, out, digits=digits, show_grad=show_grad, class_names=class_names, max_rows=max_rows)
    else:
        write_table(result, out, digits=digits, show_grad=show_grad, class_names=class_names, max_rows=max_rows,
                    explain=explain)


# ---------------------------------------------------------------------------------------------
# streamed results


class _Spool:
    """Blocks of rows parked in a temporary file, read back once the whole input is known.

    The folder is ``$TMPDIR`` when set, as ``sort`` does: one that is missing or unwritable is
    an error naming it, not a silent fall back to another disk. A full one is an error too.
    """

    def __init__(self) -> None:
        import tempfile  # only json and mean-gradient csv over files spool: keep it off start-up

        self.directory = os.environ.get("TMPDIR") or None
        try:
            self.directory = self.directory or tempfile.gettempdir()
            self.file = tempfile.TemporaryFile(dir=self.directory)
        except OSError as error:
            raise self._failed(error) from error
        self.template: LossResult | None = None
        self.blocks = 0

    def _failed(self, error: OSError) -> OutputError:
        reason = error.strerror or str(error)
        if self.directory is None:  # tempfile found no usable folder at all
            return OutputError(f"no temporary directory: {reason}; set TMPDIR to a writable folder")
        if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            return OutputError(f"temporary directory {self.directory} is full; set TMPDIR to a folder with room")
        return OutputError(f"cannot use temporary directory {self.directory}: {reason}; set TMPDIR to a writable folder")

    def add(self, part: LossResult) -> None:
        self.template = self.template or part
        grad = part.grad if part.grad is not None else np.empty(0)
        try:
            for array in (part.terms, grad, part.row_numbers, *(c.values for c in part.columns)):
                np.save(self.file, array, allow_pickle=False)
            omitted = part.omitted_rows
            keys = [] if omitted is None else list(omitted.inputs)
            np.save(self.file, np.array(keys, dtype=str), allow_pickle=False)
            if omitted is not None:
                for array in (omitted.positions, *omitted.inputs.values()):
                    np.save(self.file, array, allow_pickle=False)
            self.file.flush()  # a full disk shows now, before any output has begun
        except OSError as error:
            raise self._failed(error) from error
        self.blocks += 1

    def replay(self) -> Iterator[LossResult]:
        try:
            self.file.seek(0)
        except OSError as error:
            raise self._failed(error) from error
        template = self.template
        for _ in range(self.blocks):
            terms, grad, rows = (np.load(self.file, allow_pickle=False) for _ in range(3))
            columns = tuple(replace(c, values=np.load(self.file, allow_pickle=False)) for c in template.columns)
            keys = np.load(self.file, allow_pickle=False).tolist()
            omitted = None
            if keys:
                positions = np.load(self.file, allow_pickle=False)
                omitted = OmittedRows(positions, {key: np.load(self.file, allow_pickle=False) for key in keys})
            yield replace(template, terms=terms, grad=grad if template.grad is not None else None,
                          row_numbers=rows, columns=columns, omitted_rows=omitted)


class StreamWriter:
    """Writes a loss computed block by block: rows as they come, the reduction at the end.

    ``scale_grad`` turns a block's gradient into the final one (divided by the mean's
    denominator), which is known only at the end: formats that need it then are spooled.
    """

    def __init__(
        self, fmt: str, out: TextIO, scale_grad, *, reduction: str, show_grad: bool, class_names: list[str] | None = None,
        show_metrics: bool = False,
        by_class: bool = False,
    ) -> None:
        # --by-class in csv or plain writes only the per-class table, at the end: no row goes out.
        self.per_class_format = fmt if by_class and fmt in ("plain", "csv") else None
        fmt = "by-class" if self.per_class_format else fmt
        self.fmt = fmt
        self.show_metrics = show_metrics
        self.out = out
        self.scale_grad = scale_grad
        self.reduction = reduction
        self.show_grad = show_grad
        self.class_names = class_names
        self.needs_end = fmt == "json" or (fmt == "csv" and show_grad and reduction == "mean")
        self.spool = _Spool() if self.needs_end else None
        self.csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        self.header: list[str] | None = None

    def block(self, part: LossResult) -> None:
        if self.spool is not None:
            self.spool.add(part)
        elif self.fmt == "plain" and self.reduction == "none":
            if part.terms.ndim == 2:  # softmax: a row per sample, tab between its values
                write_rows(self.out, part.terms, part.dtype)
            else:
                write_lines(self.out, in_input_order(part, part.terms), part.dtype)
        elif self.fmt == "csv":
            self._csv(part)

    def _csv(self, part: LossResult) -> None:
        if self.header is None:
            first = part.take_rows(0, 1) if part.rows else part  # the headers, without formatting every cell
            self.header = csv_header(first, show_grad=self.show_grad, class_names=self.class_names)
            self.csv.writerow(self.header)
        if not self.class_names:
            from .csv_text import csv_text

            grad = part.grad_rows() if self.show_grad and part.grad is not None else None
            pieces = csv_text(part, grad=grad)  # the common case, formatted in C
            if pieces is not None:
                for piece in pieces:
                    self.out.write(piece)
                return
        self.csv.writerows(csv_rows(part, show_grad=self.show_grad, class_names=self.class_names))

    def _replayed(self) -> Iterator[LossResult]:
        for part in self.spool.replay():
            yield part if part.grad is None else replace(part, grad=self.scale_grad(part.grad))

    def finish(self, result: LossResult) -> None:
        if self.per_class_format:
            write_by_class(result, self.per_class_format, self.out, self.class_names)
        elif self.fmt == "plain" and result.reduction != "none" and result.presentation.reduces:
            write_plain(result, self.out, show_metrics=self.show_metrics)
        elif self.fmt == "csv":
            for part in self._replayed() if self.spool is not None else ():
                self._csv(part)
            if self.header is None:  # no block came: still a header
                self.header = csv_header(result, show_grad=self.show_grad, class_names=self.class_names)
                self.csv.writerow(self.header)
            footer = csv_footer(result, self.header)
            if footer is not None:
                self.csv.writerow(footer)
                if self.show_metrics:
                    self.csv.writerows(csv_metric_rows(result, self.header))
        elif self.fmt == "json":
            self._json(result)
        elif self.fmt == "partial":
            write_partial(result, self.out)

    def _json(self, result: LossResult) -> None:
        out = self.out
        out.write(json.dumps(_json_head(result), ensure_ascii=False)[:-1])

        def stream_list(key: str, values_of) -> None:
            out.write(f', "{key}": [')
            first = True
            for part in self._replayed():
                values = in_input_order(part, values_of(part))
                if len(values):
                    out.write("" if first else ", ")
                    write_json_tokens(out, values, result.dtype)
                    first = False
            out.write("]")

        if result.reduction == "none":
            stream_list("value", lambda part: part.terms)
        else:
            out.write(f', "value": {json.dumps(json_number(result.value, result.dtype))}')
        stream_list("terms", lambda part: part.terms)
        if self.show_grad and result.grad is not None:
            stream_list("grad", lambda part: part.grad)
        tail = _json_tail(result, self.class_names)
        if tail:
            out.write(", " + json.dumps(tail, ensure_ascii=False)[1:-1])
        out.write("}\n")


# ---------------------------------------------------------------------------------------------
# progress


class Progress:
    """A progress bar on stderr for long reads: terminal only, after a second, gone when done."""

    DELAY = 1.0

    def __init__(self, stderr: TextIO, total_bytes: int | None, enabled: bool) -> None:
        import time

        self._clock = time.monotonic
        self._start = self._clock()
        self.enabled = enabled
        self.stderr = stderr
        self.total = total_bytes
        self.bytes = 0
        self.rows = 0
        self._bar = None
        self._task = None

    def update(self, bytes_read: int | None = None, rows: int | None = None) -> None:
        if bytes_read is not None:
            self.bytes = bytes_read
        if rows is not None:
            self.rows = rows
        if not self.enabled:
            return
        if self._bar is None:
            if self._clock() - self._start < self.DELAY:
                return
            self._open()
        self._bar.update(self._task, completed=self.bytes, rows=self.rows)

    def _open(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress as Bar, TextColumn, TransferSpeedColumn

        console = Console(file=self.stderr)
        self._bar = Bar(
            TextColumn("reading"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            console=console,
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task("read", total=self.total, rows=self.rows)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
