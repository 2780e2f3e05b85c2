"""Rows of a streamed block as text, at C speed: the common cases of ``render.csv_rows`` and of
the plain per-row output (``-r none``, softmax).

Writing a row at a time through ``csv.writer`` cost about 3 µs per row of Python work (index
cells, a list per row, a cell per value), and ``repr`` of a float about 0.45 µs more per value on
the project's machines: at 1M rows, ``--grad -f csv`` took 8 s and ``-r none`` 2.4× awk. With
polars (the ``fast`` extra) the columns are written by its CSV writer (shortest round-trip
floats, in Rust, about 30 ns a value), and its text is put in Python's spelling (``nan``,
``1e-05``, ``2.5e-07``), so the bytes are those of ``repr``; without it, ``repr`` of a list of
tuples formats them in C. Blocks that need more (float32's shortest text, omitted rows, class
names, text columns) return None and take the general path.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

LINES = 1 << 15  # lines formatted at once: their text and numbers stay a few MB
WIDE = 1000  # more columns than this: polars' cost grows with the column count (see fast_reader)
WORKER_LINES = 1 << 14  # lines a worker formats at once: a 1 MiB block of two columns is about 3
FEW_ROWS = 4096  # fewer rows are formatted by repr: importing polars (~85 ms) would cost more


def _python_spelling(values: np.ndarray):
    """Float64 ``values`` as polars strings spelt as Python's ``repr`` spells them.

    polars writes nan as "NaN", 5.6e-05 as "0.000056" and 1e-9 as "1e-9" (same digits, other
    spelling). Both switch spelling where the shortest digits' exponent changes, so the values
    to respell are found by magnitude: exponents -5 to -9 (gradients of a mean over many rows,
    nearly a whole column) get their zero by a literal replace; the rest are written by ``repr``.
    """
    import polars as pl

    text = pl.Series(values).cast(pl.String)
    with np.errstate(invalid="ignore"):
        size = np.abs(values)
        padded = np.flatnonzero((size < 1e-5) & (size >= 1e-9))
        respelt = np.flatnonzero(np.isnan(values) | ((size < 1e-4) & (size >= 1e-5)))
    if len(padded):
        text = text.scatter(padded, text.gather(padded).str.replace("e-", "e-0", literal=True))
    if len(respelt):
        text = text.scatter(respelt, list(map(repr, values[respelt].tolist())))
    return text


def _as_columns(values: np.ndarray) -> list[np.ndarray] | None:
    """A per-row array as one array per output column (a 2-D one gives a column per entry)."""
    values = np.asarray(values)
    if values.dtype.kind not in "fiu" or (values.dtype.kind == "f" and values.dtype != np.float64):
        return None
    if values.ndim == 1:
        return [values]
    if values.ndim == 2:
        return list(values.T)
    return None


def _columns(part, grad) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    if part.dtype != "float64" or part.omitted_rows is not None:
        return None
    columns = []
    for column in part.columns:
        values = np.asarray(column.values)
        if values.ndim != 1 or values.dtype.kind not in "fiu":
            return None
        columns.append(values)
    if grad is not None:
        grad_columns = _as_columns(grad)
        if grad_columns is None:
            return None
        columns += grad_columns
    positions = part.positions()
    if part.index_headers() == ["row", "col"]:
        width = part.shape[1]
        return [positions // width + 1, positions % width + 1], columns
    return [positions + 1], columns


def csv_text(part, use_polars: bool | None = None, grad: np.ndarray | None = None) -> Iterator[str] | None:
    """The csv lines (index columns, each column, then ``grad``'s columns: ``part.grad_rows()``
    for ``--grad``) of ``part``, a piece at a time, or None when it is not the common case."""
    found = _columns(part, grad)
    if found is None:
        return None
    index, columns = found
    return _pieces([*index, *columns], _polars(use_polars, len(index[0])), ",")


def plain_text(values: np.ndarray, use_polars: bool | None = None) -> Iterator[str] | None:
    """Float64 ``values`` as plain lines, one per entry (1-D) or per row with tabs (2-D), a piece
    at a time; None for other dtypes or rows too wide to split into columns.

    >>> "".join(plain_text(np.array([0.1 + 0.2, -0.0, float("nan")]), use_polars=False))
    '0.30000000000000004\\n-0.0\\nnan\\n'
    """
    if values.dtype != np.float64 or values.ndim not in (1, 2) or (values.ndim == 2 and values.shape[1] > WIDE):
        return None
    return _pieces(_as_columns(values), _polars(use_polars, len(values)), "\t")


def _polars(use_polars: bool | None, rows: int) -> bool:
    if use_polars is None:
        from . import fast_reader

        return rows >= FEW_ROWS and fast_reader.enabled()
    return use_polars


def _pieces(arrays: list[np.ndarray], use_polars: bool, separator: str) -> Iterator[str]:
    if not arrays:
        return
    if use_polars:
        yield from _polars_pieces(arrays, separator)
    elif len(arrays[0]) >= 2 * WORKER_LINES:
        yield from _worker_pieces(arrays, separator)
    else:
        for start in range(0, len(arrays[0]), LINES):
            yield repr_text([a[start : start + LINES] for a in arrays], separator)


def _polars_pieces(arrays: list[np.ndarray], separator: str) -> Iterator[str]:
    import polars as pl

    for start in range(0, len(arrays[0]), LINES):
        chunk = [a[start : start + LINES] for a in arrays]
        frame = pl.DataFrame({f"c{i}": _python_spelling(a) if a.dtype.kind == "f" else a for i, a in enumerate(chunk)})
        yield frame.write_csv(include_header=False, quote_style="never", separator=separator)


def _worker_pieces(arrays: list[np.ndarray], separator: str) -> Iterator[str]:
    """``repr_text`` of each piece on the worker processes (parse_worker), in order, a few
    pieces in flight: ``repr`` holds the GIL at about 0.45 µs a value, the workers share it out."""
    from collections import deque

    from . import parse_worker

    pending: deque = deque()

    def done() -> str:
        chunk, future = pending.popleft()
        text = parse_worker.result(future)
        return text if text is not None else repr_text(chunk, separator)

    for start in range(0, len(arrays[0]), WORKER_LINES):
        chunk = [a[start : start + WORKER_LINES] for a in arrays]
        pending.append((chunk, parse_worker.submit(repr_text, chunk, separator)))
        if len(pending) > parse_worker.workers():
            yield done()
    while pending:
        yield done()


def repr_text(chunk: list[np.ndarray], separator: str) -> str:
    """Lines of the columns ``chunk``, each value as ``repr`` writes it, formatted in C."""
    if len(chunk) == 1:
        return "\n".join(map(repr, chunk[0].tolist())) + "\n"
    text = repr(list(zip(*(a.tolist() for a in chunk))))  # "[(1, 2, 0.5, nan), (…)]"
    return text[2:-2].replace("), (", "\n").replace(", ", separator) + "\n"
