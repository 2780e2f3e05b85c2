"""CSV rows of a streamed block as one string, at C speed: the common case of ``render.csv_rows``.

Writing a row at a time through ``csv.writer`` cost about 3 µs per row of Python work (index
cells, a list per row, a cell per value), and ``repr`` of a float about 1 µs more per value on
the project's machines; a softmax of 1M × 10 is 10M rows of four floats. With polars (the
``fast`` extra) the columns are written by its CSV writer (shortest round-trip floats, in Rust,
on every core), and its text is put in Python's spelling (``nan``, ``1e-05``, ``2.5e-07``), so the
bytes are those of ``csv_rows``; without it, ``repr`` of a list of tuples formats them in C.
Blocks that need more (float32's shortest text, omitted rows, gradients, class names, text
columns) return None and take the general path.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

LINES = 1 << 15  # lines formatted at once: their text and numbers stay a few MB
def _python_spelling(values: np.ndarray):
    """Float64 ``values`` as polars strings spelt as Python's ``repr`` spells them.

    polars writes nan as "NaN", 1e-9 as "1e-9" and 5.6e-05 as "0.000056" (same digits, other
    spelling): those values, found by magnitude, are written by ``repr`` instead.
    """
    import polars as pl

    text = pl.Series(values).cast(pl.String)
    with np.errstate(invalid="ignore"):
        size = np.abs(values)
        respelt = np.flatnonzero(np.isnan(values) | ((size < 1e-4) & (size >= 1e-10)))
    if len(respelt):
        text = text.scatter(respelt, list(map(repr, values[respelt].tolist())))
    return text


def _columns(part) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    if part.dtype != "float64" or part.omitted_rows is not None:
        return None
    columns = []
    for column in part.columns:
        values = np.asarray(column.values)
        if values.ndim != 1 or values.dtype.kind not in "fiu":
            return None
        columns.append(values)
    positions = part.positions()
    if part.index_headers() == ["row", "col"]:
        width = part.shape[1]
        return [positions // width + 1, positions % width + 1], columns
    return [positions + 1], columns


def csv_text(part, use_polars: bool | None = None) -> Iterator[str] | None:
    """The csv lines (index columns, then each column) of ``part``, a piece at a time, or None
    when it is not the common case."""
    found = _columns(part)
    if found is None:
        return None
    index, columns = found
    if use_polars is None:
        from . import fast_reader

        use_polars = fast_reader.enabled()
    return _pieces([*index, *columns], use_polars)


def _pieces(arrays: list[np.ndarray], use_polars: bool) -> Iterator[str]:
    for start in range(0, len(arrays[0]), LINES):
        chunk = [a[start : start + LINES] for a in arrays]
        if use_polars:
            import polars as pl

            frame = pl.DataFrame({f"c{i}": _python_spelling(a) if a.dtype.kind == "f" else a for i, a in enumerate(chunk)})
            yield frame.write_csv(include_header=False, quote_style="never")
        else:
            text = repr(list(zip(*(a.tolist() for a in chunk))))  # "[(1, 2, 0.5, nan), (…)]"
            yield text[2:-2].replace("), (", "\n").replace(", ", ",") + "\n"
