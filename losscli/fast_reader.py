"""The optional fast reader: polars parses blocks of an all-numeric table (``losscli[fast]``).

numpy's ``loadtxt`` holds the GIL and parses about 6M values/s, which cannot beat awk; polars'
CSV parser is several times faster and releases the GIL, so two blocks parse at once on two
cores (measured in benchmarks/RESULTS.md). It is used only where its answer is provably the same:
any block it cannot parse cleanly (a comment, a blank line, an empty or odd field, a ragged row)
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


def parse_block(data: bytes, columns: int, delimiter: str) -> np.ndarray | None:
    """Every column of a block of whole lines as float64, or None if polars cannot vouch for it."""
    import polars as pl

    schema = {f"c{i}": pl.Float64 for i in range(columns)}
    try:
        frame = pl.read_csv(data, has_header=False, separator=delimiter, schema=schema, quote_char='"')
    except Exception:  # any polars complaint: the numpy path will parse it or name the error
        return None
    if frame.width != columns or frame.null_count().sum_horizontal().item():
        return None  # an empty field or a short row: polars reads it as null, losscli calls it an error
    return frame.to_numpy()
