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

from .errors import OutputError
from .result import LossResult
from .table_view import write_table

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


# ---------------------------------------------------------------------------------------------
# whole results


def write_plain(result: LossResult, out: TextIO) -> None:
    """The value alone; for ``none`` and softmax one line per row (tab between a row's values)."""
    value = np.asarray(result.value)
    if value.ndim == 0:
        out.write(exact(value, result.dtype) + "\n")
    elif value.ndim == 1 and result.loss != "softmax":
        out.write("".join(t + "\n" for t in exact_list(value, result.dtype)))
    else:
        rows = value.reshape(1, -1) if value.ndim == 1 else value
        out.writelines("\t".join(exact_list(row, result.dtype)) + "\n" for row in rows)


def csv_header(result: LossResult, *, show_grad: bool) -> list[str]:
    header = result.index_headers()
    for column in result.columns:
        values = np.asarray(column.values)
        header += [f"{column.key}_{c}" for c in range(values.shape[1])] if values.ndim == 2 else [column.key]
    if show_grad and result.grad is not None:
        grad = result.grad_rows()
        header += [f"grad_{c}" for c in range(grad.shape[1])] if grad.ndim == 2 else ["grad"]
    return header


def csv_rows(result: LossResult, *, show_grad: bool) -> Iterator[list]:
    """The rows the columns hold, every number exact; the row index from ``row_numbers``."""
    cells = []
    for column in result.columns:
        values = np.asarray(column.values)
        if values.dtype.kind in "iu":
            cells.append([[str(v)] for v in values.tolist()])
        elif values.ndim == 2:
            cells.append([exact_list(row, result.dtype) for row in values])
        else:
            cells.append([[t] for t in exact_list(values, result.dtype)])
    if show_grad and result.grad is not None:
        grad = result.grad_rows()
        cells.append([exact_list(row, result.dtype) for row in grad] if grad.ndim == 2 else [[t] for t in exact_list(grad, result.dtype)])
    for i in range(result.rows):
        row = result.index_values(i)
        for column_cells in cells:
            row += column_cells[i]
        yield row


def write_csv(result: LossResult, out: TextIO, *, show_grad: bool = False) -> None:
    """One row per element (per sample for xent), a header, every number at full precision."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_header(result, show_grad=show_grad))
    writer.writerows(csv_rows(result, show_grad=show_grad))


def _json_head(result: LossResult) -> dict:
    return {"loss": result.loss, "reduction": result.reduction, "dtype": result.dtype, "n": result.n}


def _json_tail(result: LossResult) -> dict:
    document = {}
    if result.denominator is not None:
        document["denominator"] = json_number(result.denominator, "float64")
        document["denominator_is"] = result.denominator_label
    meta = result.meta
    if result.loss == "xent":
        document["target_kind"] = meta["target_kind"]
        document["classes"] = meta["classes"]
        document["weight"] = None if meta["weight"] is None else json_array(meta["weight"], result.dtype)
        document["ignore_index"] = meta["ignore_index"]
        document["label_smoothing"] = meta["label_smoothing"]
    if result.loss == "softmax":
        document.update(dim=meta["dim"], temperature=meta["temperature"], log=meta["log"])
    if meta.get("omitted") is not None:
        document["omitted"] = meta["omitted"]
    if result.input_columns:
        document["columns"] = result.input_columns
    if result.notes:
        document["notes"] = list(result.notes)
    return document


def to_json(result: LossResult, *, show_grad: bool = False) -> dict:
    document = _json_head(result)
    document["value"] = json_array(result.value, result.dtype)
    document["terms"] = json_array(result.terms, result.dtype)
    if show_grad and result.grad is not None:
        document["grad"] = json_array(result.grad, result.dtype)
    document.update(_json_tail(result))
    return document


def write_json(result: LossResult, out: TextIO, *, show_grad: bool = False) -> None:
    json.dump(to_json(result, show_grad=show_grad), out, ensure_ascii=False, allow_nan=False)
    out.write("\n")


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
    """Write a whole ``result`` in ``fmt`` (``auto`` already resolved to a concrete format)."""
    if fmt == "plain":
        write_plain(result, out)
    elif fmt == "csv":
        write_csv(result, out, show_grad=show_grad)
    elif fmt == "json":
        write_json(result, out, show_grad=show_grad)
    else:
        write_table(result, out, digits=digits, show_grad=show_grad, class_names=class_names, max_rows=max_rows)


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
            yield replace(template, terms=terms, grad=grad if template.grad is not None else None,
                          row_numbers=rows, columns=columns)


class StreamWriter:
    """Writes a loss computed block by block: rows as they come, the reduction at the end.

    ``scale_grad`` turns a block's gradient into the final one (divided by the mean's
    denominator), which is known only at the end: formats that need it then are spooled.
    """

    def __init__(self, fmt: str, out: TextIO, scale_grad, *, reduction: str, show_grad: bool) -> None:
        self.fmt = fmt
        self.out = out
        self.scale_grad = scale_grad
        self.reduction = reduction
        self.show_grad = show_grad
        self.needs_end = fmt == "json" or (fmt == "csv" and show_grad and reduction == "mean")
        self.spool = _Spool() if self.needs_end else None
        self.csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        self.started = False

    def block(self, part: LossResult) -> None:
        if self.spool is not None:
            self.spool.add(part)
        elif self.fmt == "plain" and self.reduction == "none":
            if part.terms.ndim == 2:  # softmax: a row per sample, tab between its values
                self.out.writelines("\t".join(exact_list(row, part.dtype)) + "\n" for row in part.terms)
            else:
                self.out.write("".join(t + "\n" for t in exact_list(part.terms, part.dtype)))
        elif self.fmt == "csv":
            self._csv(part)

    def _csv(self, part: LossResult) -> None:
        if not self.started:
            self.csv.writerow(csv_header(part, show_grad=self.show_grad))
            self.started = True
        self.csv.writerows(csv_rows(part, show_grad=self.show_grad))

    def _replayed(self) -> Iterator[LossResult]:
        for part in self.spool.replay():
            yield part if part.grad is None else replace(part, grad=self.scale_grad(part.grad))

    def finish(self, result: LossResult) -> None:
        if self.fmt == "plain" and result.reduction != "none" and result.loss != "softmax":
            write_plain(result, self.out)
        elif self.fmt == "csv":
            for part in self._replayed() if self.spool is not None else ():
                self._csv(part)
            if not self.started:  # every row omitted: still a header
                self.csv.writerow(csv_header(result, show_grad=self.show_grad))
        elif self.fmt == "json":
            self._json(result)

    def _json(self, result: LossResult) -> None:
        out = self.out
        out.write(json.dumps(_json_head(result), ensure_ascii=False)[:-1])

        def stream_list(key: str, values_of) -> None:
            out.write(f', "{key}": [')
            first = True
            for part in self._replayed():
                values = values_of(part)
                if len(values):
                    out.write(("" if first else ", ") + _json_tokens(values, result.dtype))
                    first = False
            out.write("]")

        if result.reduction == "none":
            stream_list("value", lambda part: part.terms)
        else:
            out.write(f', "value": {json.dumps(json_number(result.value, result.dtype))}')
        stream_list("terms", lambda part: part.terms)
        if self.show_grad and result.grad is not None:
            stream_list("grad", lambda part: part.grad)
        tail = _json_tail(result)
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
