"""The optional fast reader: polars parses blocks of an all-numeric table (``losscli[fast]``).

numpy's ``loadtxt`` holds the GIL and parses about 6M values/s, which cannot beat awk; polars'
CSV parser is several times faster and releases the GIL, so two blocks parse at once on two
cores (measured in benchmarks/RESULTS.md). It is used only where its answer is provably the same:
any block it cannot parse cleanly (a comment, a blank line, an odd field, a ragged row)
returns None and is parsed again by the numpy path, which gives the exact value or the exact
error message. Both parsers round every decimal correctly, so values are bit-identical.
``LOSSCLI_READER=numpy`` turns it off.
"""

from __future__ import annotations

import os
from importlib.util import find_spec

import numpy as np

BLOCK_BYTES = 2 << 20
IN_FLIGHT = 2  # blocks parsed at once: one per core on the project's 2-core machines


def enabled() -> bool:
    """polars is installed and not turned off with LOSSCLI_READER=numpy."""
    return os.environ.get("LOSSCLI_READER", "auto") != "numpy" and find_spec("polars") is not None


def describe() -> str:
    """Which reader parses tables, for ``losscli --version``."""
    if not enabled():
        why = "LOSSCLI_READER=numpy" if find_spec("polars") else "install losscli[fast] for the polars reader"
        return f"reader: numpy.loadtxt ({why})"
    from importlib.metadata import version

    return f"reader: polars {version('polars')} (fast; LOSSCLI_READER=numpy for the default reader)"


# The missing values the numpy path reads as nan (losscli.inputs.MISSING, less the empty field,
# which polars reads as null by itself).
NULL_WORDS = ["NA", "N/A", "n/a", "NULL", "null", "None", "<NA>"]


def parse_block(
    data: bytes, columns: int, delimiter: str, decimal: str = ".", strict_nan: bool = False
) -> np.ndarray | None:
    """Every column of a block of whole lines as float64, or None if polars cannot vouch for it.

    Missing values (an empty field, ``NA``, ...) come back as nan, as the numpy path reads them;
    with ``strict_nan`` (``--nan-policy raise``) a block holding one is declined, so the numpy
    path names its line.
    """
    import polars as pl

    if decimal == "," and b"." in data:
        return None  # polars would read 1.5 as well as 1,5; the numpy path calls the point an error
    schema = {f"c{i}": pl.Float64 for i in range(columns)}
    try:
        frame = pl.read_csv(
            data, has_header=False, separator=delimiter, schema=schema, quote_char='"',
            null_values=NULL_WORDS, decimal_comma=decimal == ",",
        )
    except Exception:  # any polars complaint: the numpy path will parse it or name the error
        return None
    if frame.width != columns:
        return None
    if frame.null_count().sum_horizontal().item():
        # polars also reads a short row or a blank line as nulls, where losscli names a ragged
        # row or skips the blank line: take the nulls as missing values only when every line
        # is a row with every delimiter (polars refuses a row with too many).
        rows = frame.height
        if strict_nan or columns == 1 or data.count(delimiter.encode()) != rows * (columns - 1):
            return None
        if data.count(b"\n") + (not data.endswith(b"\n")) != rows:
            return None
        frame = frame.fill_null(float("nan"))
    values = frame.to_numpy()
    if strict_nan and np.isnan(values).any():
        return None
    return values
