"""Turning what a person typed into numpy arrays, with positions for every error message.

Inline values: ``2,3,4,5``, ``"2 3 4 5"``, ``"1,2,3;3,2,1"`` (rows split by ``;``). Only number
syntax is accepted (no Python literals, no underscores, no hex): nothing typed is evaluated.
"""

from __future__ import annotations

import re

import numpy as np

from .errors import DataError, UsageError

# What a number looks like here: ASCII decimal or scientific, or nan/inf (any case, with a sign).
# float() alone would also take "1_000" and Unicode digits such as "١".
NUMBER = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)", re.IGNORECASE)


def is_number(token: str) -> bool:
    return NUMBER.fullmatch(token) is not None


def printable(text: str) -> str:
    """``text`` with control characters escaped, so input can never drive the terminal."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def _fields(row: str) -> list[str]:
    if "," in row:
        return [field.strip() for field in row.split(",")]
    return row.split()


def split_inline(text: str, name: str) -> list[list[str]]:
    """The tokens of an inline value, row by row; empty values are errors naming their position."""
    if not text.strip():
        raise DataError(f"{name} is empty")
    rows = text.split(";")
    table = []
    for r, row in enumerate(rows, start=1):
        where = f"{name} row {r}" if len(rows) > 1 else name
        fields = _fields(row)
        if not fields or fields == [""]:
            raise DataError(f"{where} is empty (a stray ';'?)")
        for k, field in enumerate(fields, start=1):
            if not field:
                raise DataError(f"{where}: value {k} is empty (two commas in a row, or a trailing comma?)")
        table.append(fields)
    widths = {len(fields) for fields in table}
    if len(widths) > 1:
        r = next(i for i, fields in enumerate(table, start=1) if len(fields) != len(table[0]))
        raise DataError(f"{name} row {r} has {len(table[r - 1])} values but row 1 has {len(table[0])}")
    return table


def parse_inline(text: str, name: str, dtype: str = "float64", notes: list[str] | None = None) -> np.ndarray:
    """An inline vector (one row) or matrix (rows split by ``;``) as an array of ``dtype``.

    A literal that ``dtype`` cannot hold (``1e400`` → inf, ``1e-400`` → 0) is kept as PyTorch
    would make it, and ``notes`` (when given) gets one line saying so.

    >>> parse_inline("1,2;3,4", "input").tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    >>> parse_inline("-1 2.5e1 nan", "input").tolist()
    [-1.0, 25.0, nan]
    """
    table = split_inline(text, name)
    for r, fields in enumerate(table, start=1):
        for k, field in enumerate(fields, start=1):
            if not is_number(field):
                where = f"{name} row {r}" if len(table) > 1 else name
                raise DataError(f"{where}: value {k} is not a number: {printable(field)!r}")
    array = np.array([[float(field) for field in fields] for fields in table], dtype=np.float64)
    with np.errstate(over="ignore"):  # 1e39 in float32: inf, as in PyTorch, and noted below
        narrowed = array.astype(dtype, copy=False)
    if notes is not None:
        notes.extend(_out_of_range(table, narrowed, name, dtype))
    return narrowed[0] if len(table) == 1 else narrowed


def _out_of_range(table: list[list[str]], values: np.ndarray, name: str, dtype: str) -> list[str]:
    """One note on the literals that became inf or 0 although they are neither (first and count)."""
    with np.errstate(all="ignore"):
        suspects = np.isinf(values) | (values == 0)
    lost = []
    for r, k in zip(*np.nonzero(suspects)):
        field = table[r][k]
        mantissa = re.split("[eE]", field)[0]
        if np.isinf(values[r, k]) and "inf" not in field.lower() or values[r, k] == 0 and re.search("[1-9]", mantissa):
            lost.append((r, k))
    if not lost:
        return []
    r, k = lost[0]
    where = f"{name} row {r + 1}" if len(table) > 1 else name
    became = f"{float(values[r, k]):g}"
    more = f" ({len(lost)} values in all)" if len(lost) > 1 else ""
    hint = "; --dtype float64 keeps it" if dtype != "float64" and np.isfinite(float(table[r][k])) and float(table[r][k]) != 0 else ""
    return [f"{where}: value {k + 1} {printable(table[r][k])!r} is out of the {dtype} range and became {became}{more}{hint}"]


def class_index(label: str, classes: list[str] | None) -> float | None:
    """A target label as a class index: a class name's position, or the number itself; else None.

    >>> class_index("dog", ["cat", "dog"]), class_index("2", None), class_index("cow", ["cat"])
    (1.0, 2.0, None)
    """
    if classes and label in classes:
        return float(classes.index(label))
    return float(label) if is_number(label) else None


def parse_labels(text: str, classes: list[str] | None) -> np.ndarray:
    """Class-index targets typed inline: numbers, or class names from ``--classes``.

    >>> parse_labels("dog,cat", ["cat", "dog"]).tolist()
    [1.0, 0.0]
    """
    table = split_inline(text, "target")
    if len(table) > 1:  # a matrix of targets: probability rows, numbers only
        return parse_inline(text, "target")
    labels = []
    for k, field in enumerate(table[0], start=1):
        index = class_index(field, classes)
        if index is None:
            known = f" (classes: {', '.join(map(printable, classes))})" if classes else ""
            raise DataError(f"target value {k} is neither a number nor a class name: {printable(field)!r}{known}")
        labels.append(index)
    return np.array(labels, dtype=np.float64)


def parse_class_names(text: str) -> list[str]:
    """``--classes 猫,狗,兔`` as a list of names; names must be distinct and non-empty."""
    names = [name.strip() for name in text.split(",")]
    for i, name in enumerate(names):
        if not name:
            raise UsageError(f"--classes: name {i + 1} is empty")
        if name in names[:i]:
            raise UsageError(f"--classes: {printable(name)!r} is given twice")
    return names


def parse_option_vector(text: str, option: str) -> np.ndarray:
    """A numeric option such as ``--weight 1,2,0.5``; a bad value is a usage error."""
    try:
        values = parse_inline(text, option)
    except DataError as error:
        raise UsageError(error.message) from None
    if values.ndim != 1:
        raise UsageError(f"{option} takes one row of numbers, not a matrix")
    return values
