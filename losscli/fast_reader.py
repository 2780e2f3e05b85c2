"""The optional fast reader: polars parses blocks of an all-numeric table (``losscli[fast]``).

numpy's ``loadtxt`` holds the GIL and parses about 6M values/s, which cannot beat awk; polars'
CSV parser is several times faster and releases the GIL, so two blocks parse at once on two
cores (measured in benchmarks/RESULTS.md). It is used only where its answer is provably the same:
any block it cannot parse cleanly (a comment, a blank line, an odd field, a ragged row)
returns None and is parsed again by the numpy path, which gives the exact value or the exact
error message. Both parsers round every decimal correctly, so values are bit-identical.
``LOSSCLI_READER=numpy`` turns it off.

It is also off where it cannot run safely: polars' runtime maps about 1.3 GB of address space
for its threads and allocator, and under a lower ``ulimit -v`` it hangs or aborts (a Rust
allocation failure ends the process; Python cannot catch it). And tables wider than
``WIDE_COLUMNS`` go to numpy: polars' cost grows with the column count (2 rows of 1M columns
took 54 s and 6.6 GB; numpy, 4 s and 0.2 GB), and from about 1,000 columns it is no faster.
"""

from __future__ import annotations

import os
from importlib.util import find_spec

import numpy as np

BLOCK_BYTES = 2 << 20
IN_FLIGHT = 2  # blocks parsed at once: one per core on the project's 2-core machines
WIDE_COLUMNS = 1000  # wider tables are parsed by numpy (see above)
MIN_ADDRESS_SPACE = 4 << 30  # polars needed 1.6 GB to read 200k rows on 2 cores; more threads need more


def address_space_limit() -> int | None:
    """The lowest soft limit on this process's address space in bytes (ulimit -v, -d), or None."""
    try:
        import resource
    except ImportError:  # not a Unix
        return None
    limits = []
    for kind in ("RLIMIT_AS", "RLIMIT_DATA"):
        if hasattr(resource, kind):
            soft = resource.getrlimit(getattr(resource, kind))[0]
            if soft != resource.RLIM_INFINITY:
                limits.append(soft)
    return min(limits, default=None)


def _why_not() -> str | None:
    """Why polars is not used, or None when it is."""
    if os.environ.get("LOSSCLI_READER", "auto") == "numpy":
        return "LOSSCLI_READER=numpy"
    if find_spec("polars") is None:
        return "install losscli[fast] for the polars reader"
    limit = address_space_limit()
    if limit is not None and limit < MIN_ADDRESS_SPACE:
        return f"ulimit limits the address space to {limit >> 20} MB; polars needs {MIN_ADDRESS_SPACE >> 30} GB"
    return None


def enabled() -> bool:
    """polars is installed, not turned off with LOSSCLI_READER=numpy, and has room to run."""
    return _why_not() is None


def describe() -> str:
    """Which reader parses tables, for ``losscli --version``."""
    why = _why_not()
    if why is not None:
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
    path names its line. Any failure inside polars declines the block too.
    """
    if decimal == "," and b"." in data:
        return None  # polars would read 1.5 as well as 1,5; the numpy path calls the point an error
    try:
        return _parse_block(data, columns, delimiter, decimal, strict_nan)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # any polars complaint, even a Rust panic (pyo3's PanicException is a
        return None  # BaseException) or a failed allocation: numpy parses the block or names the error


def _parse_block(data: bytes, columns: int, delimiter: str, decimal: str, strict_nan: bool) -> np.ndarray | None:
    import polars as pl

    schema = {f"c{i}": pl.Float64 for i in range(columns)}
    frame = pl.read_csv(
        data, has_header=False, separator=delimiter, schema=schema, quote_char='"',
        null_values=NULL_WORDS, decimal_comma=decimal == ",",
    )
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
