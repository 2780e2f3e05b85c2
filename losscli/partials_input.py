"""Reading partial results for ``losscli combine``: files or stdin of JSON, one document a line.

A document is what ``losscli LOSS --format json`` writes (its ``"partial"`` is taken), or a
partial alone. Every problem names its file and line.
"""

from __future__ import annotations

import json
from typing import BinaryIO, Iterator

from .errors import DataError, UsageError
from .inputs import printable
from .losses.partial import Partial


def _lines(name: str, stream: BinaryIO) -> Iterator[tuple[str, bytes]]:
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield f"{name}:{number}", line


def partial_from_line(where: str, line: bytes) -> Partial:
    try:
        document = json.loads(line)
    except (ValueError, UnicodeDecodeError) as error:
        raise DataError(f"{where}: not JSON ({error}); combine reads what --format json writes, one document a line") from None
    except RecursionError:
        raise DataError(f"{where}: JSON nested too deeply to be a partial") from None
    if isinstance(document, dict) and "partial" in document:
        document = document["partial"]
    elif isinstance(document, dict) and "loss" in document and "version" not in document:
        raise UsageError(
            f"{where}: this {document.get('loss')} output has no \"partial\" (--reduction none keeps every term, and "
            "softmax has no reduction): nothing to combine"
        )
    return Partial.from_dict(document, where)


def read_partials(names: list[str], stdin: BinaryIO | None) -> list[tuple[str, Partial]]:
    """The partials in the files ``names`` (``-`` is stdin), or in stdin when there are none,
    each with where it was read (``file:line``)."""
    partials = []
    for name in names or ["-"]:
        if name == "-":
            if stdin is None:
                raise UsageError("no stdin to read partials from")
            partials += [(where, partial_from_line(where, line)) for where, line in _lines("<stdin>", stdin)]
            continue
        try:
            with open(name, "rb") as stream:
                partials += [(where, partial_from_line(where, line)) for where, line in _lines(printable(name), stream)]
        except OSError as error:
            raise DataError(f"{printable(name)}: {error.strerror or error}") from None
    if not partials:
        raise DataError("no partials to combine: the input is empty")
    return partials
