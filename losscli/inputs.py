"""Turning what a person typed into numpy arrays, with positions for every error message.

Inline values: ``2,3,4,5``, ``"2 3 4 5"``, ``"1,2,3;3,2,1"`` (rows split by ``;``), and the same
written as a Python/JSON list, ``[2, 3, 4, 5]`` or ``[[1,2],[3,4]]``. Only number syntax is accepted
(no Python literals, no underscores, no hex): nothing typed is evaluated, brackets are only split.
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


# What tools write for a missing value in a file: pandas' and polars' empty field, R's NA, SQL's
# NULL, Python's None (the subset of pandas' default na_values that is not also a comment or a
# number; nan in any case is already a number). Inline, an empty value stays an error: a typo.
MISSING = frozenset({"", "NA", "N/A", "n/a", "NULL", "null", "None", "<NA>"})


def is_missing(token: str) -> bool:
    """A field that stands for a missing value (read as nan); nan itself is a number."""
    return token in MISSING


def is_value(token: str) -> bool:
    """A field of a numeric column: a number or a missing value."""
    return token in MISSING or NUMBER.fullmatch(token) is not None


def printable(text: str) -> str:
    """``text`` with control characters escaped, so input can never drive the terminal."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def quoted(text: str) -> str:
    """``text`` in quotes for a message, control characters escaped once (``repr`` would escape
    the escapes again: ``'p\\x1b'``)."""
    text = printable(text)
    return f'"{text}"' if "'" in text and '"' not in text else f"'{text}'"


def _fields(row: str) -> list[str]:
    if "," in row:
        return [field.strip() for field in row.split(",")]
    return row.split()


FULL_WIDTH = {"，": ",", "；": ";", "［": "[", "］": "]"}
BRACKETED_ROW = re.compile(r"\[([^\[\]]*)\]")


def _unbracket(text: str, name: str) -> str:
    """``[1, 2]`` as ``1, 2`` and ``[[1,2],[3,4]]`` as ``1,2;3,4`` (numpy's ``[[1. 2.] [3. 4.]]`` too)."""
    inner = text.strip()[1:-1].strip() if text.strip().endswith("]") else None
    if inner is not None and inner.startswith("["):
        rows = BRACKETED_ROW.findall(inner)
        if BRACKETED_ROW.sub("", inner).replace(",", " ").strip() == "" and rows:
            return ";".join(rows)
    elif inner is not None and "[" not in inner and "]" not in inner:
        return inner
    raise DataError(f"{name}: brackets do not match; write a list as [1,2,3] and a matrix as [[1,2],[3,4]] or \"1,2;3,4\"")


def split_inline(text: str, name: str) -> list[list[str]]:
    """The tokens of an inline value, row by row; empty values are errors naming their position."""
    for wide, ascii_mark in FULL_WIDTH.items():
        if wide in text:
            what = {",": "comma", ";": "semicolon"}.get(ascii_mark, "bracket")
            raise DataError(f"{name}: full-width {what} {wide!r} in {quoted(text)}: use {ascii_mark!r}")
    if text.lstrip().startswith("["):
        text = _unbracket(text, name)
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


def is_inline_numbers(text: str) -> bool:
    """Whether ``text`` reads as inline numbers (then it is a value, never a file name).

    >>> is_inline_numbers("2"), is_inline_numbers("[1, 2]"), is_inline_numbers("2.csv")
    (True, True, False)
    """
    try:
        table = split_inline(text, "value")
    except DataError:
        return False
    return all(is_number(field) for fields in table for field in fields)


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
                raise DataError(f"{where}: value {k} is not a number: {quoted(field)}")
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
    return [f"{where}: value {k + 1} {quoted(table[r][k])} is out of the {dtype} range and became {became}{more}{hint}"]


def shadowed_indices(classes: list[str] | None) -> list[tuple[str, int]]:
    """Class names that are also another class's index: ``--classes 1,2,3`` names class 0 '1'.

    With such names a target ``1`` could be class 0 (by name) or class 1 (by index).

    >>> shadowed_indices(["1", "2", "3"]), shadowed_indices(["0", "1"]), shadowed_indices(["2015", "2016"])
    ([('1', 0), ('2', 1)], [], [])
    """
    shadowed = []
    for position, name in enumerate(classes or ()):
        if is_number(name):
            value = float(name)
            if value.is_integer() and 0 <= value < len(classes) and value != position:
                shadowed.append((name, position))
    return shadowed


def class_index(label: str, classes: list[str] | None) -> float | None:
    """A target label as a class index: a class name's position, or the number itself; else None.

    When class names shadow indices (``shadowed_indices``), a label is read only as a name: a
    number that is no name would otherwise mean an index in the same column as names, and two
    labels could land on one class.

    >>> class_index("dog", ["cat", "dog"]), class_index("2", None), class_index("cow", ["cat"])
    (1.0, 2.0, None)
    >>> class_index("1", ["1", "2", "3"]), class_index("0", ["1", "2", "3"])
    (0.0, None)
    """
    if classes and label in classes:
        return float(classes.index(label))
    if not is_number(label) or (classes and shadowed_indices(classes)):
        return None
    return float(label)


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
            if is_number(field) and classes:
                raise DataError(
                    f"target value {k} is not a class name: {quoted(field)}{known}; "
                    "with numeric class names targets are read as names only"
                )
            raise DataError(f"target value {k} is neither a number nor a class name: {quoted(field)}{known}")
        labels.append(index)
    return np.array(labels, dtype=np.float64)


def parse_class_names(text: str) -> list[str]:
    """``--classes 猫,狗,兔`` as a list of names; names must be distinct and non-empty."""
    names = [name.strip() for name in text.split(",")]
    for i, name in enumerate(names):
        if not name:
            raise UsageError(f"--classes: name {i + 1} is empty")
        if name in names[:i]:
            raise UsageError(f"--classes: {quoted(name)} is given twice")
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
