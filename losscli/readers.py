"""Reading numeric tables from files and stdin: sources, format detection, columns, blocks.

A table is read in blocks of about ``BLOCK_BYTES`` so that a file never has to fit in memory.
Each block is parsed by numpy's C ``loadtxt``; when that fails, the block is parsed again line
by line only to name the file, line and column at fault (``results.csv:1043: column "y_hat":
'12,5' is not a number``). Formats tolerated: UTF-8 BOM, CRLF, blank lines, ``#`` comments,
quoted numbers, spaces around fields, gzip, bzip2 and xz (by content, not by name). Empty fields
and ``NA``-like words are missing values, read as nan for ``--nan-policy``; ``--decimal ,`` reads
``1,5``.
"""

from __future__ import annotations

import csv
import io
import math
import re
import itertools
import operator
import zlib
import os
import stat
import warnings
from dataclasses import dataclass, field, replace
from typing import BinaryIO, Callable, Iterator, Sequence

import numpy as np

from .errors import DataError, UsageError
from . import columns
from .columns import WHOLE_NUMBER, TableShape
from .inputs import (
    class_index,
    is_inline_numbers,
    is_missing,
    is_number,
    is_value,
    parse_option_vector,
    printable,
    quoted,
    shadowed_indices,
)

BLOCK_BYTES = 1 << 20
LONG_EXPONENT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?0*[0-9]{3,}")  # 1e400, 2.5E-0320
# In every match of LONG_EXPONENT: searched as two patterns that each start with a letter, which
# re finds by a fast scan; one [eE] class is tried at every character (2.4 vs 0.6 ms a MiB).
LONG_EXPONENT_TAILS = (re.compile(r"e[-+]?0*[0-9]{3}"), re.compile(r"E[-+]?0*[0-9]{3}"))
LONG_EXPONENT_TAILS_BYTES = tuple(re.compile(tail.pattern.encode()) for tail in LONG_EXPONENT_TAILS)
MAX_LINE_BYTES = 64 << 20  # a "line" longer than this is not a table row
LONG_TEXT = 2 * BLOCK_BYTES  # a block this long holds a very long line: parsed in pieces
PIECE_CHARS = 1 << 18  # loadtxt needs about 14 bytes per character it is given (90 per value of a row)
SAMPLE_LINES = 50  # lines looked at to detect the delimiter and the numeric columns
WIDE_FIELDS = 10_000  # a sampled line with more fields keeps its text and where fields start, not a list
# The characters str.split() and str.strip() take for white space, among ASCII.
ASCII_SPACE = np.zeros(256, dtype=bool)
ASCII_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
DELIMITERS = {",": ",", "\t": "\t", ";": ";", "|": "|"}
DELIMITER_NAMES = {
    "comma": ",",
    "tab": "\t",
    "\\t": "\t",
    "semicolon": ";",
    "pipe": "|",
    "space": None,
    "whitespace": None,
}
# Compressed formats read by content, each with the standard-library module that opens it.
DECOMPRESSORS = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "lzma"}
# Formats the standard library cannot stream as one table: named, so the error says what to do.
UNREADABLE = {b"PK\x03\x04": "zip", b"PK\x05\x06": "zip", b"\x28\xb5\x2f\xfd": "zstd"}
DECIMAL_COMMA_HINT = "a decimal comma? read it with --decimal ,"


@dataclass(frozen=True)
class Source:
    """Where a table comes from: a path, or stdin (``path is None``)."""

    name: str
    path: str | None = None

    @property
    def is_stdin(self) -> bool:
        return self.path is None


STDIN = Source("<stdin>")


def source_for(argument: str) -> Source | None:
    """The file or stdin an argument names, or None when it is an inline value like ``2,3,4``."""
    if argument == "-":
        return STDIN
    if is_inline_numbers(argument):
        return None  # numbers are values, even where a file has that name (reach it as ./2)
    if os.path.exists(argument):
        return Source(argument, _readable_again(argument))
    looks_like_path = os.sep in argument or argument.lower().endswith(
        (".csv", ".tsv", ".txt", ".gz", ".dat", ".npy", ".npz", ".parquet", ".pq", ".arrow", ".feather", ".ipc")
    )
    if looks_like_path and not any(ch in argument for ch in ",; "):
        raise DataError(f"{printable(argument)}: no such file")
    return None


_STREAM_COPIES: dict[str, object] = {}  # a named pipe's temporary copy, by the name given; deleted at exit


def _readable_again(path: str) -> str:
    """``path``, or for a named pipe (``mkfifo``, ``<(…)``) a temporary copy of what it holds.

    A pipe can be read once, but a file is opened more than once (its first bytes tell a .npy
    from text, then the table is read, and an error's line may be looked up again): each open of a
    pipe would see only what the last left, or wait for a writer that is gone. Its name stays the
    one in every message.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return path  # the reader names the fault
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return path
    if path not in _STREAM_COPIES:
        from .binary_inputs import spool_to_file

        try:
            stream = open(path, "rb")
        except OSError as error:
            raise DataError(f"{printable(path)}: cannot read ({error.strerror or error})") from None
        with stream:
            _STREAM_COPIES[path] = spool_to_file(stream, prefix="losscli-pipe-")
    return _STREAM_COPIES[path].name


def parse_delimiter(text: str | None) -> str | None | bool:
    """``--delimiter`` as a character (None: runs of whitespace); False when not given."""
    if text is None:
        return False
    if text and not text.strip(" "):
        return None  # -d ' ' is -d space: runs of white space
    if text.lower() in DELIMITER_NAMES:
        return DELIMITER_NAMES[text.lower()]
    if len(text) == 1 and text not in "\"#\r\n" and not text.isalnum() and text not in ".-+":
        return text
    raise UsageError(
        f"--delimiter {quoted(text)} cannot separate numbers; use one character such as , ; | "
        "or a name: tab, comma, semicolon, pipe, space"
    )


def parse_decimal(text: str | None, delimiter: str | None | bool) -> str:
    """``--decimal`` as "." or ","; a comma cannot be both the decimal mark and the delimiter."""
    mark = {None: ".", ".": ".", "point": ".", "dot": ".", ",": ",", "comma": ","}.get(None if text is None else text.lower())
    if mark is None:
        raise UsageError(f"--decimal {quoted(text)}: use . (the default) or ,")
    if mark == "," and delimiter == ",":
        raise UsageError("--decimal , and --delimiter , cannot both be a comma; such files use ';' (-d ';')")
    return mark


# ---------------------------------------------------------------------------------------------
# opening


class _CountedReader:
    """The compressed bytes under a decompressor, counted, so progress compares like with like."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        self.raw.close()


class Decompressed:
    """A decompressing stream; ``compressed_bytes_read`` is how far into the file it has got."""

    def __init__(self, stream: BinaryIO, counted: _CountedReader) -> None:
        self.stream = stream
        self._counted = counted

    @property
    def compressed_bytes_read(self) -> int:
        return self._counted.bytes_read

    def read(self, size: int = -1) -> bytes:
        try:
            return self.stream.read(size)
        except Exception as error:
            import lzma

            if isinstance(error, lzma.LZMAError):  # not an OSError, unlike gzip's and bz2's errors
                raise OSError(str(error)) from None
            raise

    def close(self) -> None:
        self.stream.close()


def _regular_file_size(path_or_fd: str | int) -> int | None:
    """The size of a regular file; None for a FIFO, a terminal or a device, whose size says nothing."""
    try:
        info = os.stat(path_or_fd)
    except OSError:
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def open_binary(source: Source, stdin: BinaryIO | None) -> tuple[BinaryIO, int | None]:
    """The raw byte stream of ``source`` (decompressed when it is gzip, bzip2 or xz) and its size if known."""
    if source.is_stdin:
        if stdin is None:
            raise UsageError("stdin is closed; give a file or an inline value")
        raw, size = stdin, None
    else:
        try:
            if os.path.isdir(source.path):
                raise DataError(f"{printable(source.name)}: is a directory, not a file")
            raw = open(source.path, "rb")
            size = _regular_file_size(raw.fileno())
        except PermissionError:
            raise DataError(f"{printable(source.name)}: permission denied") from None
        except FileNotFoundError:
            raise DataError(f"{printable(source.name)}: no such file") from None
        except OSError as error:
            raise DataError(f"{printable(source.name)}: cannot read ({error.strerror})") from None
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
    try:
        magic = buffered.peek(6)[:6]
    except OSError as error:
        raise DataError(f"{printable(source.name)}: read failed near line 1 ({error.strerror})") from None
    for mark, kind in UNREADABLE.items():
        if magic.startswith(mark):
            raise DataError(f"{printable(source.name)}: compressed with {kind}; unpack it first")
    for mark, module in DECOMPRESSORS.items():
        if magic.startswith(mark):
            import importlib

            counted = _CountedReader(buffered)
            opener = importlib.import_module(module)
            stream = opener.GzipFile(fileobj=counted, mode="rb") if module == "gzip" else opener.open(counted, "rb")
            return Decompressed(stream, counted), size
    return buffered, size


# ---------------------------------------------------------------------------------------------
# fields and lines


def _swap_marks(text: str | None) -> str | None:
    """``1,5`` as ``1.5`` and ``1.5`` as ``1,5``: applied twice, the text is unchanged."""
    return None if text is None else text.translate(DECIMAL_SWAP)


DECIMAL_SWAP = str.maketrans(",.", ".,")


def _loadtxt(text: str, options: dict) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "input contained no data" on comment-only blocks
        return np.loadtxt(io.StringIO(text), **options)


def _missing_as_nan(text: str, delimiter: str | None) -> str:
    """``text`` with each missing-value field (``NA``, an empty field, ...) written ``nan``, for loadtxt.

    Only lines that may hold one (found by ``str.find``, at memchr speed) are split; lines with a
    comment are left for the exact parse, and a blank line holds no field, so it stays blank
    (skipped, never a row of nan).
    """
    starts = set()
    for needle in _maybe_missing_needles(delimiter):
        at = text.find(needle)
        while at >= 0:
            at += needle.startswith("\n")  # the line that begins after the newline
            starts.add(text.rfind("\n", 0, at) + 1)
            end = text.find("\n", at)
            at = -1 if end < 0 else text.find(needle, end + 1)
    if delimiter is not None:  # an empty field at the very start, or at the end of a last line without "\n"
        if text.startswith(delimiter):
            starts.add(0)
        tail = text.rstrip("\r")
        if tail.endswith(delimiter):
            starts.add(tail.rfind("\n") + 1)
    parts, done = [], 0
    for start in sorted(starts):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        parts += [text[done:start], _line_missing_as_nan(text[start:end], delimiter)]
        done = end
    parts.append(text[done:])
    return "".join(parts)


def _maybe_missing_needles(delimiter: str | None) -> tuple[str, ...]:
    # The letters of the missing words (NA, N/A, n/a, NULL, null, None, <NA>), a quoted empty
    # field, white space beside a delimiter, and an empty field: two delimiters, or one at
    # either end of a line.
    words = ("N", "u", "/", '""')
    if delimiter is None:
        return words
    d = delimiter
    return (*words, " ", "\t", d + d, "\n" + d, d + "\n", d + "\r\n", d + "\r")


def _line_missing_as_nan(line: str, delimiter: str | None) -> str:
    body = line.strip(" \t\r")
    if not body or "#" in body:
        return line
    if delimiter is None:
        return " ".join("nan" if is_missing(f.strip('"')) else f for f in body.split())
    fields = body.split(delimiter)  # a quoted field holding the delimiter is cut: its parts keep a lone '"'
    return delimiter.join("nan" if f.count('"') in (0, 2) and is_missing(f.strip(" \t").strip('"')) else f for f in fields)


def _every_column(usecols: Sequence[int], count: int) -> bool:
    """``usecols`` is 0, 1, …, count - 1: a block is used as parsed, not copied column by column."""
    return len(usecols) == count and all(map(operator.eq, usecols, itertools.count()))


def _numeric_columns(rows: Sequence[Sequence[str]], count: int) -> list[bool]:
    """Whether each of ``count`` columns holds only values (numbers, missing) in the sampled rows."""
    numeric = np.ones(count, dtype=bool)
    for row in rows:
        width = min(len(row), count)
        numeric[:width] &= np.fromiter(map(is_value, itertools.islice(row, width)), dtype=bool, count=width)
    return numeric.tolist()


def _content(line: str) -> str:
    """A line without its comment and surrounding white space; '' for blank or comment lines.

    A leading tab stays: in a TSV it ends an empty first field (pandas' unnamed index column).
    """
    hash_at = line.find("#")
    if hash_at >= 0:
        line = line[:hash_at]
    line = line.rstrip()
    return line.lstrip(" \f\v") if line.lstrip(" \f\v").startswith("\t") else line.lstrip()


def split_fields(line: str, delimiter: str | None) -> list[str]:
    """The fields of one content line, unquoted and stripped."""
    if delimiter is None:
        return [f.strip('"') for f in line.split()]
    if '"' in line:
        return [f.strip() for f in next(csv.reader([line], delimiter=delimiter, skipinitialspace=True))]
    return [f.strip() for f in line.split(delimiter)]


class LineFields(Sequence[str]):
    """``split_fields(line, delimiter)`` of one very wide line, each field cut out when asked.

    A row of a million numbers as a list of strings took 60 MB; this keeps the line (which the
    parse holds anyway) and an int32 array of where fields start and end. Only unquoted ASCII
    lines are kept so (see ``wide_fields``), so the fields are exactly those of ``split_fields``.
    """

    def __init__(self, line: str, delimiter: str | None, starts: np.ndarray, ends: np.ndarray) -> None:
        self.line = line
        self.delimiter = delimiter
        self.starts = starts
        self.ends = ends

    def __len__(self) -> int:
        return len(self.starts)

    def _field(self, text: str) -> str:
        return text.strip('"') if self.delimiter is None else text.strip()

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self._field(self.line[self.starts[index] : self.ends[index]])

    def __iter__(self) -> Iterator[str]:
        """The fields in order, split in pieces by ``str.split`` (at C speed, in bounded memory)."""
        step = 1 << 16
        for first in range(0, len(self), step):
            last = min(first + step, len(self)) - 1
            piece = self.line[self.starts[first] : self.ends[last]]
            yield from map(self._field, piece.split(self.delimiter))


def _ascii_codes(line: str) -> Iterator[tuple[int, np.ndarray]]:
    """(offset, the bytes of the ASCII ``line`` from there), a piece at a time."""
    for offset in range(0, len(line), PIECE_CHARS):
        yield offset, np.frombuffer(line[offset : offset + PIECE_CHARS].encode("ascii"), dtype=np.uint8)


def wide_fields(line: str, delimiter: str | None) -> LineFields | None:
    """The fields of a content line as ``LineFields`` when it has more than ``WIDE_FIELDS`` of them
    and no quotes or non-ASCII characters (anything else is split by ``split_fields``); else None."""
    if len(line) <= WIDE_FIELDS or not line.isascii() or '"' in line:
        return None
    if delimiter is not None:
        if len(delimiter) != 1 or not delimiter.isascii() or line.count(delimiter) < WIDE_FIELDS:
            return None
        code = ord(delimiter)
        cuts = np.concatenate([np.flatnonzero(codes == code).astype(np.int32) + offset for offset, codes in _ascii_codes(line)])
        starts = np.concatenate([np.zeros(1, dtype=np.int32), cuts + 1])
        ends = np.concatenate([cuts, np.full(1, len(line), dtype=np.int32)])
        return LineFields(line, delimiter, starts, ends)
    starts, ends, space_before = [], [], True
    for offset, codes in _ascii_codes(line):
        space = ASCII_SPACE[codes]
        before = np.concatenate([[space_before], space[:-1]])
        starts.append(np.flatnonzero(~space & before).astype(np.int32) + offset)
        ends.append(np.flatnonzero(space & ~before).astype(np.int32) + offset)
        space_before = bool(space[-1])
    if not space_before:
        ends.append(np.full(1, len(line), dtype=np.int32))
    fields = LineFields(line, None, np.concatenate(starts), np.concatenate(ends))
    return fields if len(fields) > WIDE_FIELDS else None


def _line_end(data: bytes) -> bytes | None:
    """How the lines of a file end, from its first bytes (None while no line has ended)."""
    if b"\n" in data:
        return b"\n"
    if 0 <= data.find(b"\r") < len(data) - 1:  # a last \r may be the first half of \r\n
        return b"\r"
    return None


def detect_delimiter(lines: list[str]) -> str | None:
    """The delimiter that splits every sample line into the same number (>1) of fields."""
    def width(line: str, delimiter: str) -> int:
        # Counting is enough without quotes, and a very wide row is not split once per candidate.
        return len(split_fields(line, delimiter)) if '"' in line else line.count(delimiter) + 1

    for delimiter in DELIMITERS.values():
        counts = {width(line, delimiter) for line in lines}
        if len(counts) == 1 and counts.pop() > 1:
            return delimiter
    counts = {len(wide_fields(line, None) or line.split()) for line in lines}
    if len(counts) == 1 and counts.pop() > 1:
        return None
    return ","  # one column (or ragged: the parse will say where)


# ---------------------------------------------------------------------------------------------
# the table


class NumberedColumns(Sequence[str]):
    """The names of a headerless table's columns, "1", "2", …, made when asked: a row of
    millions of values needs no list of millions of names."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [str(i + 1) for i in range(*index.indices(self.count))]
        if not -self.count <= index < self.count:
            raise IndexError(index)
        return str(index % self.count + 1)


@dataclass
class Block:
    """Consecutive data rows: ``values`` has one row per data line, in the order of ``usecols``."""

    values: np.ndarray
    first_line: int  # file line number of the block's first line (1-based)


@dataclass
class DelimitedTable:
    """A delimited numeric table, read once, front to back, in blocks."""

    source: Source
    stream: BinaryIO
    size: int | None = None
    header_option: bool | None = None
    delimiter_option: str | None | bool = False
    on_progress: Callable[[int], None] | None = None
    data_words: frozenset[str] = frozenset()  # class names: a first row of only these in a text-only table is data
    decimal: str = "."  # "," reads 1,5 as 1.5 (the delimiter is then never ",")
    nan_policy: str = "propagate"  # "raise": a missing value or nan is an error at its file:line
    notes: list[str] = field(default_factory=list)  # what reading decided by itself, for the one stderr note
    warnings: list[str] = field(default_factory=list)  # what reading found in the data, shown with the result
    sample: list[list[str]] = field(default_factory=list)  # fields of the first data rows
    columns: list[str] = field(default_factory=list)
    has_header: bool = False
    delimiter: str | None = ","
    numeric: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._out_of_range: list = []  # count, first line, token, what it became
        self._line = 1  # line number of the next unread line
        self._pending = b""
        self._line_end: bytes | None = None  # b"\n" (also CRLF) or b"\r" (old Mac files); None until seen
        self._bytes_read = 0
        self._first_text = self._read_text()
        if self.decimal == ",":
            # Sniff the text as if written with decimal points, then give back the original text:
            # swapping "," and "." is its own inverse, and values are parsed from the original.
            self._first_text = _swap_marks(self._first_text)
            self._sniff()
            self._first_text = _swap_marks(self._first_text)
            if self.has_header:  # a headerless table's names are numbers: none to swap, and no list to make
                self.columns = [_swap_marks(name) for name in self.columns]
        else:
            self._sniff()

    # -- reading ----------------------------------------------------------------------------

    def _read_chunk(self, size: int = BLOCK_BYTES) -> bytes | None:
        """The next run of whole lines, about ``size`` bytes, undecoded (None at the end).

        Lines end in ``\n`` as they are given to the parsers: a file whose lines end in a lone
        ``\r`` has them translated, so that it streams and its line numbers count.
        """
        pieces = [self._pending]  # joined once: adding each read to the last would copy a long line many times
        held = len(self._pending)
        while True:
            try:
                raw = self.stream.read(size)
            except (OSError, EOFError, zlib.error) as error:  # a damaged or truncated .gz among them
                raise DataError(f"{self.source.name}: read failed near line {self._line} ({error})") from None
            self._bytes_read += len(raw)
            if self.on_progress is not None:
                self.on_progress(self._bytes_read)
            if not raw:
                self._pending = b""
                return self._as_lines(b"".join(pieces)) or None
            if self._line_end is None:
                self._line_end = _line_end(raw)
            cut = raw.rfind(self._line_end) if self._line_end else -1
            if cut < 0:
                pieces.append(raw)
                held += len(raw)
                if held > MAX_LINE_BYTES:
                    raise DataError(f"{self.source.name}:{self._line}: line is longer than {MAX_LINE_BYTES >> 20} MB")
                continue
            pieces.append(raw[: cut + 1])
            self._pending = raw[cut + 1 :]
            return self._as_lines(b"".join(pieces))

    def _as_lines(self, data: bytes) -> bytes:
        return data.replace(b"\r", b"\n") if self._line_end == b"\r" or b"\n" not in data else data

    def _read_text(self) -> str | None:
        data = self._read_chunk()
        return None if data is None else self._decode(data, self._line)

    def _decode(self, data: bytes, first_line: int) -> str:
        if first_line == 1 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]  # the UTF-8 BOM Excel writes
        nul = data.find(b"\0")
        if nul >= 0:
            line = first_line + data.count(b"\n", 0, nul)
            raise DataError(
                f"{self.source.name}:{line}: NUL byte: this looks like a binary file, not a table "
                "(losscli reads .npy, .npz, parquet and Arrow IPC/feather files; this one is none of them)"
            )
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            line = first_line + data.count(b"\n", 0, error.start)
            raise DataError(f"{self.source.name}:{line}: bytes that are not UTF-8 text") from None

    def _sniff(self) -> None:
        """Find the header, the delimiter and which columns hold numbers, from the first lines."""
        text = self._first_text or ""
        sample = []  # (line number, offset just past the line, content)
        offset = 0
        for number, line in enumerate(text.splitlines(keepends=True), start=self._line):
            offset += len(line)
            content = _content(line)
            if content:
                sample.append((number, offset, content))
            if len(sample) >= SAMPLE_LINES:
                break
        if not sample:
            raise DataError(f"{self.source.name}: no data (the input is empty)")
        contents = [content for _, _, content in sample]
        self.delimiter = detect_delimiter(contents) if self.delimiter_option is False else self.delimiter_option
        first, *below = (wide_fields(c, self.delimiter) or split_fields(c, self.delimiter) for c in contents)
        self.has_header = self.header_option if self.header_option is not None else self._is_header(first, below)
        if self.has_header:
            self.columns = list(first)
            header_line, past_header, _ = sample[0]
            self._first_text = text[past_header:]
            self._line = header_line + 1
            self.sample = below
        else:
            self.columns = NumberedColumns(len(first))
            self.sample = [first] + below
        self.numeric = _numeric_columns(self.sample, len(self.columns))

    def _is_header(self, first: list[str], below: list[list[str]]) -> bool:
        """Whether the first row names the columns (``--header/--no-header`` decide otherwise).

        A row with a number in it is data, except pandas' default labels ``0,1,…`` over float
        data (said in a note; over whole numbers it could be either, and that is a usage error).
        An all-text row is a header when numbers lie below it; over text only (a file of class
        names) it is data when every field is a class name given with ``--classes``.
        """
        skip = 1 if len(first) and first[0] == "" else 0  # pandas' unnamed index column
        if len(first) > skip and first[skip] == "0" and below:
            # 0,1,2 then names? Looked at field by field: a wide data row starting with 0 is no list.
            labels = range(skip, len(first))
            numbered = next((k for k in labels if not is_number(first[k])), len(first))
            named_after = all(first[k].strip() and not is_value(first[k]) for k in range(numbered, len(first)))
            if named_after and all(first[k] == str(k - skip) for k in range(skip, numbered)):
                return self._pandas_labels_are_header(first, below, numbered)
        if any(is_number(f) for f in first):
            return False
        numbers_below = any(below and all(i < len(r) and is_value(r[i]) for r in below) for i in range(len(first)))
        return numbers_below or not all(f in self.data_words for f in first)

    def _pandas_labels_are_header(self, first: list[str], below: list[list[str]], numbered_end: int) -> bool:
        """``0,1,…`` (after pandas' empty index name, before named columns such as ``label``)."""
        shown = ",".join(printable(f) for f in first)
        index_column = first[0] == ""
        numbered = range(1 if index_column else 0, numbered_end)
        whole = [all(i < len(r) and WHOLE_NUMBER.fullmatch(r[i]) for r in below) for i in numbered]
        written_as_floats = [
            all(i < len(r) and (is_missing(r[i]) or columns.written_as_float(r[i])) for r in below)
            for i in numbered
        ]
        if index_column or any(written_as_floats):
            self.notes.append(
                f"the first row ({shown}) is read as pandas' default column names, not data (--no-header reads it as data)"
            )
            return True
        if all(whole) and len(first) > 1:
            raise UsageError(
                f"{printable(self.source.name)}: the first row ({shown}) may be pandas' default column names or data; "
                "say which with --header or --no-header"
            )
        return False

    # -- columns ----------------------------------------------------------------------------

    def describe_columns(self) -> str:
        names = ", ".join(printable(c) for c in self.columns) if self.has_header else "no header"
        count = "1 column" if len(self.columns) == 1 else f"{len(self.columns)} columns"
        return f"{printable(self.source.name)} has {count} ({names})"

    def resolve(self, spec: str, option: str) -> int:
        """A column by header name or 1-based index (a digit string is always a position)."""
        if spec.isdigit():
            index = int(spec) - 1
            if index == -1:
                raise UsageError(f"{option} {spec}: columns are numbered from 1 (the first column is 1)")
            if not 0 <= index < len(self.columns):
                raise UsageError(f"{option} {spec}: no such column; {self.describe_columns()}")
            if self.has_header and spec in self.columns and self.columns.index(spec) != index:
                self.notes.append(
                    f"{option} {spec} is column {spec} ({self.column_label(index)}), not the column named "
                    f'"{spec}" (column {self.columns.index(spec) + 1}): a number always means a position'
                )
            return index
        matches = [i for i, name in enumerate(self.columns) if name == spec]
        if len(matches) > 1:
            where = " and ".join(str(i + 1) for i in matches)
            raise UsageError(
                f"{printable(self.source.name)}: column name {quoted(spec)} appears twice "
                f"(columns {where}); select it by position"
            )
        if not matches:
            import difflib

            near = difflib.get_close_matches(spec, self.columns, n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(quoted(n) for n in near)}?" if near else ""
            if not hint and not self.has_header:
                hint = "; the table was read without a header: if its first row names the columns, add --header"
            raise UsageError(f"{option} {quoted(spec)}: no such column{hint} ({self.describe_columns()})")
        return matches[0]

    def column_label(self, index: int) -> str:
        if not self.has_header:
            return str(index + 1)
        name = self.columns[index]
        return f'"{printable(name)}"' if name.strip() else str(index + 1)  # pandas' unnamed index: by position

    def shape(self) -> TableShape:
        """What the column-role rules (``columns.py``) need to know of this table."""
        return TableShape(
            self.columns, self.has_header, self.numeric, self.sample,
            self.column_label, self.resolve, self.resolve_many, self.describe_columns,
        )

    # -- data -------------------------------------------------------------------------------

    def blocks(self, usecols: list[int]) -> Iterator[Block]:
        """The data rows, block by block, as float64 arrays of the ``usecols`` columns."""
        from . import fast_reader

        fast = (
            fast_reader.enabled()
            and self.delimiter is not None
            and all(self.numeric)
            and len(self.columns) <= fast_reader.WIDE_COLUMNS
        )
        rows = 0
        for block in self._fast_blocks(usecols) if fast else self._numpy_blocks(usecols):
            rows += block.values.shape[0]
            yield block
        if self._out_of_range:
            count, line, token, became = self._out_of_range
            more = f" ({count} such values in all)" if count > 1 else ""
            self.warnings.append(
                f"{printable(self.source.name)}:{line}: {token} is out of the float64 range and became {became}{more}"
            )
        if not rows:
            self._no_rows()

    def _check_literals(self, data: str | bytes, first_line: int) -> None:
        """Count literals float64 cannot hold (``1e400`` becomes inf, ``1e-400`` 0) for one warning.

        Only a block with a three-digit exponent is searched: most files pay one scan for it
        (the whole pattern, tried at every digit, took 7 s over a row of 250k numbers).
        """
        tails = LONG_EXPONENT_TAILS_BYTES if isinstance(data, bytes) else LONG_EXPONENT_TAILS
        if not any(tail.search(data) for tail in tails):
            return
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        for match in LONG_EXPONENT.finditer(data):
            token = match.group()
            value = float(token)
            mantissa = re.split("[eE]", token)[0]
            if math.isinf(value) or (value == 0 and re.search("[1-9]", mantissa)):
                if not self._out_of_range:
                    line = first_line + data.count("\n", 0, match.start())
                    self._out_of_range = [0, line, token, "inf" if math.isinf(value) else "0"]
                self._out_of_range[0] += 1

    def _numpy_blocks(self, usecols: list[int]) -> Iterator[Block]:
        # A wide table's first block is one long line the workers would not take: no pool, and no
        # bytes copy of the text beside it.
        first_is_long = self._first_text is not None and len(self._first_text) > LONG_TEXT
        if self.decimal == "." and self.delimiter is not None and not first_is_long:
            yield from self._worker_blocks(usecols)
            return
        text = self._first_text
        self._first_text = None
        while text is not None:
            first_line = self._line
            self._check_literals(text, first_line)
            values = self._parse_text(text, first_line, usecols)
            self._line += text.count("\n")
            if values.shape[0]:
                yield Block(values, first_line)
            text = self._read_text()

    def _worker_blocks(self, usecols: list[int]) -> Iterator[Block]:
        """The numpy path with loadtxt's first attempt on worker processes (parse_worker), a few
        blocks ahead; each block is then finished here, in order, exactly as above."""
        from collections import deque

        from .parse_worker import Pool, workers

        data = self._first_text.encode("utf-8") if self._first_text is not None else self._read_chunk()
        self._first_text = None
        pending: deque = deque()

        def finished(pool: Pool) -> Block | None:
            chunk, future = pending.popleft()
            first_line = self._line
            parsed, lines, long_exponent = pool.result(future) or (None, chunk.count(b"\n"), True)
            text = self._decode(chunk, first_line)
            del chunk  # the bytes go before the text is parsed: a long line is not held twice
            if long_exponent:  # False: the worker found no three-digit exponent, so nothing to count
                self._check_literals(text, first_line)
            values = self._parse_text(text, first_line, usecols, parsed=parsed)
            self._line += lines
            return Block(values, first_line) if values.shape[0] else None

        pool = Pool()
        ahead = workers()  # blocks in flight: one per worker (none where none run)
        while data is not None:
            eligible = len(data) <= LONG_TEXT and b"\0" not in data
            options = self._loadtxt_options(b'"' in data, usecols)
            future = pool.submit(data, options, LONG_EXPONENT_TAILS_BYTES) if eligible else None
            pending.append((data, future))
            if len(pending) > ahead:
                block = finished(pool)
                if block is not None:
                    yield block
            data = self._read_chunk()
        while pending:
            block = finished(pool)
            if block is not None:
                yield block

    def _fast_blocks(self, usecols: list[int]) -> Iterator[Block]:
        """polars parses blocks on worker threads, in order; a block it declines goes to numpy."""
        from collections import deque
        from concurrent.futures import Future, ThreadPoolExecutor

        from .fast_reader import BLOCK_BYTES as FAST_BYTES, IN_FLIGHT, parse_block

        columns = len(self.columns)
        data = self._first_text.encode("utf-8") if self._first_text else self._read_chunk(FAST_BYTES)
        self._first_text = None
        pending: deque = deque()

        def finished() -> Block | None:
            future, chunk = pending.popleft()
            first_line = self._line
            self._check_literals(chunk, first_line)
            values = future.result()
            if values is None:
                values = self._parse_text(self._decode(chunk, first_line), first_line, list(range(columns)))
                self._line += chunk.count(b"\n")
            else:
                # polars accepts a block only if every line is a row: no need to count newlines.
                self._line += values.shape[0]
            values = values[:, usecols]
            return Block(values, first_line) if values.shape[0] else None

        def submitted(pool: ThreadPoolExecutor, chunk: bytes) -> Future:
            try:
                return pool.submit(parse_block, chunk, columns, self.delimiter, self.decimal, self.nan_policy == "raise")
            except RuntimeError:  # "can't start new thread" (a thread or memory limit): numpy parses it
                declined: Future = Future()
                declined.set_result(None)
                return declined

        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            while data is not None:
                pending.append((submitted(pool, data), data))
                if len(pending) >= IN_FLIGHT:
                    block = finished()
                    if block is not None:
                        yield block
                data = self._read_chunk(FAST_BYTES)
            while pending:
                block = finished()
                if block is not None:
                    yield block

    def _no_rows(self) -> None:
        only = ", only a header" if self.has_header else ""
        raise DataError(f"{self.source.name}: no data rows{only}")

    def _parse_text(self, text: str, first_line: int, usecols: list[int], parsed: np.ndarray | None = None) -> np.ndarray:
        """The rows of a block of whole lines; very long lines are parsed in pieces. ``parsed``
        is what loadtxt already gave for the block (on a worker process), if it did."""
        try:
            if len(text) > LONG_TEXT and all(self.numeric):
                return self._parse_long_lines(text, first_line, usecols)
            return self._parse(text, first_line, usecols, parsed)
        except MemoryError:
            last = first_line + max(text.count("\n") - 1, 0)
            raise DataError(
                f"{self.source.name}:{first_line}-{last}: not enough memory to parse these lines"
                f" ({len(text) >> 20} MB)"
            ) from None

    def _parse_long_lines(self, text: str, first_line: int, usecols: list[int]) -> np.ndarray:
        """Rows of a block holding lines too long for one loadtxt call, which needs ~10 bytes per
        character (a 60 MB row took 0.8 GB): such a line goes to loadtxt in pieces cut at
        delimiters; runs of shorter lines go to it whole."""
        every = _every_column(usecols, len(self.columns))
        parts = []
        short: list[str] = []  # a run of lines below a long one, and the number of its first line
        short_from = first_line
        for number, line in enumerate(text.split("\n"), start=first_line):
            if len(line) <= PIECE_CHARS:
                short.append(line)
                continue
            if short:
                parts.append(self._parse("\n".join(short) + "\n", short_from, usecols))
                short = []
            short_from = number + 1
            content = _content(line)
            if content:
                row = self._parse_long_line(content, number)
                parts.append(row[None] if every else row[None, usecols])
        if short:
            parts.append(self._parse("\n".join(short), short_from, usecols))
        if len(parts) == 1:
            return parts[0]
        return np.concatenate(parts) if parts else np.empty((0, len(usecols)))

    def _parse_long_line(self, content: str, number: int) -> np.ndarray:
        row = np.empty(len(self.columns))
        filled = start = 0
        while start < len(content):
            end = start + PIECE_CHARS
            if end >= len(content):
                end = len(content)
            elif self.delimiter is None:
                end = max(content.rfind(" ", start, end), content.rfind("\t", start, end))
            else:
                end = content.rfind(self.delimiter, start, end)
            if end <= start:  # no delimiter in a whole piece: not a row of numbers
                return self._parse_exactly(content, number, range(len(self.columns)))[0]
            piece = content[start:end]
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    values = np.loadtxt(
                        io.StringIO(piece), delimiter=self.delimiter, comments=None, ndmin=1,
                        dtype=np.float64, quotechar='"' if '"' in piece else None,
                    )
            except ValueError:
                values = None
            if values is None or values.ndim != 1 or filled + values.size > row.size:
                # The line-by-line parse names the fault, or accepts what loadtxt would not.
                return self._parse_exactly(content, number, range(len(self.columns)))[0]
            row[filled : filled + values.size] = values
            filled += values.size
            start = end + 1
        if filled != row.size:
            return self._parse_exactly(content, number, range(len(self.columns)))[0]
        return row

    def _loadtxt_options(self, quoted: bool, usecols: list[int]) -> dict:
        options = dict(delimiter=self.delimiter, comments="#", ndmin=2, dtype=np.float64)
        if quoted:
            options["quotechar"] = '"'  # only when needed: it halves loadtxt's speed
        if not all(self.numeric):
            options["usecols"] = list(usecols)  # other columns may hold text; _check_widths keeps rows honest
        return options

    def _parse(self, text: str, first_line: int, usecols: list[int], parsed: np.ndarray | None = None) -> np.ndarray:
        all_numeric = all(self.numeric)
        options = self._loadtxt_options('"' in text, usecols)
        if self.decimal == ",":
            if "." in text:  # a point where the decimal mark is a comma: a thousands separator?
                return self._parse_exactly(text, first_line, usecols)
            text_for_numpy = text.replace(",", ".")
        else:
            text_for_numpy = text
        try:
            values = parsed if parsed is not None else _loadtxt(text_for_numpy, options)
        except ValueError:
            try:  # missing values (NA, an empty field) written as nan, still in C
                values = _loadtxt(_missing_as_nan(text_for_numpy, self.delimiter), options)
            except ValueError:  # a bad field: read field by field to name it
                return self._parse_exactly(text, first_line, usecols)
        if values.shape[0] == 0:
            return np.empty((0, len(usecols)))
        if self.nan_policy == "raise" and np.isnan(values).any():
            return self._parse_exactly(text, first_line, usecols)  # to name the nan's file:line
        if all_numeric:
            if values.shape[1] != len(self.columns):
                return self._parse_exactly(text, first_line, usecols)
            return values if _every_column(usecols, values.shape[1]) else values[:, usecols]
        self._check_widths(text, first_line)
        return values

    def _content_rows(self, text: str, first_line: int) -> Iterator[tuple[int, list[str]]]:
        """(line number, fields) of each data line; blank and comment lines skipped, widths checked."""
        for number, line in enumerate(text.splitlines(), start=first_line):
            content = _content(line)
            if not content:
                continue
            fields = split_fields(content, self.delimiter)
            if len(fields) != len(self.columns):
                expected = "the header has" if self.has_header else "the first row has"
                raise DataError(
                    f"{self.source.name}:{number}: {len(fields)} field{'s' if len(fields) != 1 else ''}, "
                    f"but {expected} {len(self.columns)}"
                )
            yield number, fields

    def _check_widths(self, text: str, first_line: int) -> None:
        for _ in self._content_rows(text, first_line):
            pass

    def _number(self, value: str, line: int, column: int) -> float:
        where = f"{self.source.name}:{line}: column {self.column_label(column)}"
        if is_missing(value) or (self.nan_policy == "raise" and value.lower().lstrip("+-") == "nan"):
            if self.nan_policy == "raise":
                what = "an empty value" if not value else f"missing value {quoted(value)}"
                raise DataError(f"{where}: {what} (--nan-policy raise; propagate or omit read it as nan)")
            return float("nan")
        number = value
        if self.decimal == ",":
            if "." in value:
                raise DataError(
                    f"{where}: {quoted(value)} has a '.' but --decimal is ',' "
                    "(thousands separators are not read; without --decimal '.' is the decimal mark)"
                )
            number = value.replace(",", ".", 1) if value.count(",") == 1 else value
        if not is_number(number):
            hint = ""
            if self.decimal != "," and self.delimiter != "," and is_number(value.replace(",", ".", 1)):
                hint = f" ({DECIMAL_COMMA_HINT})"
            raise DataError(f"{where}: {quoted(value)} is not a number{hint}")
        return float(number)

    def _parse_exactly(self, text: str, first_line: int, usecols: list[int]) -> np.ndarray:
        """The slow, line-by-line parse: finds and names the first bad field."""
        rows = [[self._number(fields[i], number, i) for i in usecols] for number, fields in self._content_rows(text, first_line)]
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(usecols))

    def read_all(self, usecols: list[int]) -> np.ndarray:
        """Every data row at once (for losses that need the whole table)."""
        return np.concatenate([block.values for block in self.blocks(usecols)])

    def text_blocks(self, index: int, usecols: list[int]) -> Iterator[tuple[list[str], list[int], np.ndarray]]:
        """Block by block: one column as text (labels), the line of each row, the numeric ``usecols``."""
        text = self._first_text
        self._first_text = None
        rows = 0
        while text is not None:
            labels, lines, values = [], [], []
            for number, fields in self._content_rows(text, self._line):
                labels.append(fields[index])
                lines.append(number)
                values.append([self._number(fields[i], number, i) for i in usecols])
            self._line += text.count("\n")
            if labels:
                rows += len(labels)
                yield labels, lines, np.array(values, dtype=np.float64).reshape(len(values), len(usecols))
            text = self._read_text()
        if not rows:
            self._no_rows()

    def resolve_many(self, spec: str, option: str) -> list[int]:
        return columns.resolve_column_list(spec, option, self.resolve)


# ---------------------------------------------------------------------------------------------
# what a subcommand reads


@dataclass
class TableOptions:
    """How tables are read: ``--header/--no-header``, ``--delimiter``, and a progress callback."""

    header: bool | None = None
    delimiter: str | None | bool = False
    on_progress: Callable[[int], None] | None = None
    stdin: BinaryIO | None = None
    decimal: str = "."
    nan_policy: str = "propagate"
    report: "InputReport" = field(default_factory=lambda: InputReport())
    flatten_arrays: bool = False  # element-wise losses: a .npy of 3+ dimensions is one column

    def line_of_row(self, row: int) -> int | None:
        """The file line of data row ``row`` (1-based) of ``report.rows_from``, found by reading it
        again: only an error message needs it, and stdin cannot be read twice."""
        source = self.report.rows_from
        if source is None or source.is_stdin:
            return None
        table = replace(self, on_progress=None, report=InputReport()).open(source)
        if not isinstance(table, DelimitedTable):
            return None  # a binary table's rows are its rows: the message says "row N" already
        text, first_line, seen = table._first_text, table._line, 0
        while text is not None:
            for number, line in enumerate(text.splitlines(), start=first_line):
                if _content(line):
                    seen += 1
                    if seen == row:
                        return number
            first_line += text.count("\n")
            text = table._read_text()
        return None

    def open(self, source: Source, data_words: frozenset[str] = frozenset()) -> DelimitedTable:
        binary = self._open_binary_table(source)
        if binary is not None:
            return binary
        stream, size = open_binary(source, self.stdin)
        on_progress = self.on_progress
        if on_progress is not None and isinstance(stream, Decompressed):
            report = on_progress  # the file's size is compressed: count the compressed bytes read
            on_progress = lambda _decompressed: report(stream.compressed_bytes_read)  # noqa: E731
        delimiter = self.delimiter
        if self.decimal == "," and delimiter is False:
            delimiter = ";"  # Excel's CSV where the decimal mark is a comma
        return DelimitedTable(
            source, stream, size, header_option=self.header, delimiter_option=delimiter,
            on_progress=on_progress, data_words=data_words, decimal=self.decimal, nan_policy=self.nan_policy,
            warnings=self.report.warnings,
        )


def _open_binary_table(self: TableOptions, source: Source):
    """A .npy, .npz, parquet or Arrow file as a table (``binary_inputs``), or None for text.

    Told by its first bytes and its name; stdin holding one is copied to a temporary file first.
    """
    from . import binary_inputs

    if source.is_stdin:
        if self.stdin is None:
            return None
        self.stdin, head = binary_inputs.peek_stdin(self.stdin)
        kind = binary_inputs.detect("", head)
        if kind is None:
            return None
        spool = binary_inputs.spool_to_file(self.stdin)
        return binary_inputs.open_table(source, kind, spool.name, spool, self.flatten_arrays)
    if os.path.isdir(source.path):
        return None  # the text reader names it
    kind = binary_inputs.detect(source.path, binary_inputs.head_of(source.path))
    return None if kind is None else binary_inputs.open_table(source, kind, source.path, flatten=self.flatten_arrays)


TableOptions._open_binary_table = _open_binary_table


def option_values(text: str, option: str, options: TableOptions | None = None) -> np.ndarray:
    """A list-valued option (``--weight 1,2,0.5``) typed inline or read from a file.

    The one helper every such option uses: a file holds one number per line or one row.
    A bad inline value is a usage error; a bad value in a file is a data error at its line.
    """
    source = source_for(text) if text != "-" else None
    if source is None:
        return parse_option_vector(text, option)
    table = (options or TableOptions()).open(source)
    values = table.read_all(list(range(len(table.columns))))
    if values.shape[1] == 1:
        return values[:, 0]
    if values.shape[0] == 1:
        return values[0]
    raise DataError(
        f"{option} {printable(source.name)}: {values.shape[0]} rows of {values.shape[1]} numbers; "
        "give one number per line or one row"
    )


def sources_of(arguments: list[str]) -> list[Source | None]:
    """The file/stdin source of each argument (None for inline values); stdin at most once."""
    sources = [source_for(argument) for argument in arguments]
    if sum(1 for s in sources if s is not None and s.is_stdin) > 1:
        raise UsageError("'-' (stdin) is given twice; only one argument can read stdin")
    return sources


def total_bytes(sources: list[Source | None]) -> int | None:
    """The bytes a progress bar counts up to: known only when every source is a plain file."""
    files = [s for s in sources if s is not None]
    if not files or any(s.is_stdin for s in files):
        return None
    sizes = [_regular_file_size(s.path) for s in files]
    return None if None in sizes else sum(sizes)


@dataclass
class InputReport:
    """What reading decided by itself: the notes for stderr and the columns each role came from."""

    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # found while reading (literals out of range)
    columns: dict[str, object] = field(default_factory=dict)
    rows_from: Source | None = None  # the file whose data rows are the rows computed on, if one is

    def record(self, table: DelimitedTable, roles: columns.Roles) -> None:
        used = sum(len(indices) for indices in roles.chosen.values())
        if table.has_header or used < len(table.columns) or roles.doubts:  # a choice was made: name it
            for role, indices in roles.chosen.items():
                names = [table.columns[i] if table.has_header else i + 1 for i in indices]
                self.columns[role] = names if role == "logits" else names[0]
        parts = list(table.notes)
        decided = roles.note(table.shape())
        if decided:
            parts.append(decided)
        if parts:
            self.notes.append(f"{printable(table.source.name)}: " + "; ".join(parts))


def _pair_columns(table: DelimitedTable, pred: str | None, target: str | None, report: InputReport) -> list[int]:
    roles = columns.pair_roles(table.shape(), pred, target)
    report.record(table, roles)
    return [roles.one("prediction"), roles.one("target")]


def _var_columns(table: DelimitedTable, pred: str | None, target: str | None, var: str | None, report: InputReport) -> list[int]:
    roles = columns.var_roles(table.shape(), pred, target, var)
    report.record(table, roles)
    return [roles.one("prediction"), roles.one("target"), roles.one("var")]


def _one_column(table: DelimitedTable, spec: str | None, role: str, report: InputReport) -> int:
    names_of_role = {"target": columns.is_target_name, "var": columns.is_var_name}.get(role, columns.is_prediction_name)
    roles = columns.single_role(table.shape(), role, spec, names_of_role)
    report.record(table, roles)
    return roles.one(role)


def _column_blocks(table: DelimitedTable, index: int) -> Iterator[np.ndarray]:
    for block in table.blocks([index]):
        yield block.values[:, 0]


def _aligned(left: Iterator[np.ndarray], right: Iterator[np.ndarray], names: tuple[str, str]):
    """Pairs of blocks with the same number of rows from two sources read side by side."""
    buffers: list = [None, None]
    streams = [left, right]
    counts = [0, 0]
    done = [False, False]
    while True:
        for side in (0, 1):
            while (buffers[side] is None or len(buffers[side]) == 0) and not done[side]:
                block = next(streams[side], None)
                if block is None:
                    done[side] = True
                else:
                    counts[side] += len(block)
                    buffers[side] = block
        if any(b is None or len(b) == 0 for b in buffers):
            break
        take = min(len(buffers[0]), len(buffers[1]))
        yield buffers[0][:take], buffers[1][:take]
        buffers = [buffers[0][take:], buffers[1][take:]]
    if any(b is not None and len(b) for b in buffers) or not all(done):
        for side in (0, 1):
            counts[side] += sum(len(block) for block in streams[side])
        raise DataError(f"{names[1]} has {counts[1]} rows but {names[0]} has {counts[0]}")


def _aligned_many(streams: list[Iterator[np.ndarray]], names: tuple[str, ...]):
    """Tuples of blocks with the same number of rows from several sources read side by side."""
    buffers: list = [None] * len(streams)
    counts = [0] * len(streams)
    done = [False] * len(streams)
    while True:
        for side, stream in enumerate(streams):
            while (buffers[side] is None or len(buffers[side]) == 0) and not done[side]:
                block = next(stream, None)
                if block is None:
                    done[side] = True
                else:
                    counts[side] += len(block)
                    buffers[side] = block
        if any(b is None or len(b) == 0 for b in buffers):
            break
        take = min(len(b) for b in buffers)
        yield tuple(b[:take] for b in buffers)
        buffers = [b[take:] for b in buffers]
    if any(b is not None and len(b) for b in buffers) or not all(done):
        for side, stream in enumerate(streams):
            counts[side] += sum(len(block) for block in stream)
        short = next(side for side in range(1, len(streams)) if counts[side] != counts[0])
        raise DataError(f"{names[short]} has {counts[short]} rows but {names[0]} has {counts[0]}")


def _rows_in_order(values: np.ndarray) -> np.ndarray:
    """Row-major, as inline values are: numpy sums a matrix's axes in memory order, so the layout
    polars hands back (column-major) would change the last bit of a row's log-sum-exp."""
    return np.ascontiguousarray(values)


def _whole(blocks) -> np.ndarray:
    return blocks if isinstance(blocks, np.ndarray) else np.concatenate(list(blocks))


def elementwise_blocks(
    arguments: list[str],
    sources: list[Source | None],
    parse_inline: Callable[[str, str], np.ndarray],
    options: TableOptions,
    pred: str | None,
    target: str | None,
    var: str | None = None,
    *,
    with_var: bool = False,
) -> Iterator[tuple[np.ndarray, ...]]:
    """(prediction, target) blocks from one table, two one-column sources, or inline values;
    (prediction, target, var) with ``with_var`` (or a ``var`` column named)."""
    if with_var or var is not None:
        return _blocks_with_var(arguments, sources, parse_inline, options, (pred, target, var))
    options.flatten_arrays = True  # element by element, any shape pairs with its own
    if len(arguments) == 1 or not arguments:
        source = sources[0] if arguments else STDIN
        if source is None:
            raise UsageError(f"{quoted(arguments[0])} is one inline value; give the target too")
        table = options.open(source)
        options.report.rows_from = source
        pair = _pair_columns(table, pred, target, options.report)
        return ((block.values[:, 0], block.values[:, 1]) for block in table.blocks(pair))
    roles = ("prediction", "target")
    sides, shapes = [], []
    for argument, source, role, spec in zip(arguments, sources, roles, (pred, target)):
        if source is None:
            sides.append(parse_inline(argument, role))
            shapes.append(sides[-1].shape)
        else:
            table = options.open(source)
            column = _one_column(table, spec, role, options.report)
            sides.append(_column_blocks(table, column))
            shapes.append(table.array_shape(column) if hasattr(table, "array_shape") else None)
    if any(shape is not None and len(shape) > 2 for shape in shapes) and shapes[0] != shapes[1]:
        described = ", ".join(f"{role} {'(a table)' if shape is None else shape}" for role, shape in zip(roles, shapes))
        raise DataError(f"the prediction and target have different shapes ({described}); element-wise losses pair arrays of the same shape (no broadcasting)")
    if all(isinstance(c, np.ndarray) for c in sides):
        return iter([tuple(sides)])
    if any(isinstance(c, np.ndarray) for c in sides):
        return iter([(_whole(sides[0]), _whole(sides[1]))])
    labels = tuple(s.name for s in sources)
    return _aligned(sides[0], sides[1], labels)


def _blocks_with_var(arguments, sources, parse_inline, options: TableOptions, specs) -> Iterator[tuple[np.ndarray, ...]]:
    """(prediction, target, var) blocks from one table, three one-column sources, or inline values."""
    if len(arguments) <= 1:
        source = sources[0] if arguments else STDIN
        if source is None:
            raise UsageError(f"{quoted(arguments[0])} is one inline value; give the target and the variance too")
        table = options.open(source)
        options.report.rows_from = source
        used = _var_columns(table, *specs, options.report)
        return (tuple(block.values[:, i] for i in range(3)) for block in table.blocks(used))
    if len(arguments) != 3:
        raise UsageError("give the input, the target and the variance (three values or files), or one table with the three columns")
    sides = []
    for argument, source, role, spec in zip(arguments, sources, ("prediction", "target", "var"), specs):
        if source is None:
            sides.append(parse_inline(argument, role))
        else:
            table = options.open(source)
            sides.append(_column_blocks(table, _one_column(table, spec, role, options.report)))
    if all(isinstance(c, np.ndarray) for c in sides):
        return iter([tuple(sides)])
    if any(isinstance(c, np.ndarray) for c in sides):
        return iter([tuple(_whole(side) for side in sides)])
    return _aligned_many(sides, tuple(s.name for s in sources))


def _labels_to_indices(labels: list[str], lines: list[int], names: list[str] | None, source: Source) -> np.ndarray:
    indices = []
    for label, line in zip(labels, lines):
        index = class_index(label, names)
        if index is None:
            if not names:
                raise DataError(
                    f"{source.name}:{line}: label {quoted(label)} is not a class index "
                    "(name the classes with --classes, or give the logit columns header names)"
                )
            known = ", ".join(map(printable, names))
            raise DataError(f"{source.name}:{line}: label {quoted(label)} is not a class ({known})")
        indices.append(index)
    return np.array(indices)


def _label_blocks(table: DelimitedTable, label: int, usecols: list[int], names, source: Source):
    """(values of ``usecols``, class indices) block by block; labels may be numbers or names."""
    if table.numeric[label] and not shadowed_indices(names):  # numeric class names: read labels as names
        for block in table.blocks([*usecols, label]):
            yield _rows_in_order(block.values[:, :-1]), block.values[:, -1]
    else:
        for labels, lines, values in table.text_blocks(label, usecols):
            yield values, _labels_to_indices(labels, lines, names, source)


def xent_blocks(
    arguments: list[str],
    sources: list[Source | None],
    options: TableOptions,
    parse_logits: Callable[[str], np.ndarray],
    parse_target: Callable[[str, list[str] | None], np.ndarray],
    target_spec: str | None,
    logits_spec: str | None,
    classes: list[str] | None,
) -> tuple[Iterator[tuple[np.ndarray, np.ndarray]], list[str] | None]:
    """(logits, targets) blocks from any source form, and the class names to show."""
    if len(arguments) <= 1:
        source = sources[0] if arguments else STDIN
        if source is None:
            raise UsageError(f"{quoted(arguments[0])} is one inline value; give the target too")
        table = options.open(source, frozenset(classes or ()))
        options.report.rows_from = source
        label = columns.label_column(table.shape(), target_spec)
        roles = columns.logit_roles(table.shape(), logits_spec, exclude=[label], classes=classes)
        roles.chosen["target"] = [label]
        options.report.record(table, roles)
        logit_columns = roles.chosen["logits"]
        names = _class_names(table, logit_columns, classes)
        return (
            (values, np.asarray(labels)) for values, labels in _label_blocks(table, label, logit_columns, names, source)
        ), names
    logits_source, target_source = sources
    if logits_source is None:
        logits, names = parse_logits(arguments[0]), classes
    else:
        table = options.open(logits_source)
        roles = columns.logit_roles(table.shape(), logits_spec, classes=classes)
        options.report.record(table, roles)
        names = _class_names(table, roles.chosen["logits"], classes)
        logits = (_rows_in_order(block.values) for block in table.blocks(roles.chosen["logits"]))
    if target_source is None:
        target = parse_target(arguments[1], names)
    else:
        table = options.open(target_source, frozenset(names or ()))
        options.report.rows_from = target_source
        if len(table.columns) == 1 or target_spec is not None or not all(table.numeric):
            index = _one_column(table, target_spec, "target", options.report)
            target = (labels for _, labels in _label_blocks(table, index, [], names, target_source))
        else:
            roles = columns.logit_roles(table.shape(), None)  # probability rows, as wide as the logits
            options.report.record(table, roles)
            target = (_rows_in_order(block.values) for block in table.blocks(roles.chosen["logits"]))
    if isinstance(logits, np.ndarray) or isinstance(target, np.ndarray):
        return iter([(_whole(logits), _whole(target))]), names
    return _aligned(logits, target, (logits_source.name, target_source.name)), names


def _class_names(table: DelimitedTable, logit_columns: list[int], classes: list[str] | None) -> list[str] | None:
    """``--classes``, else the header's names of the logit columns; the two must agree."""
    header = [table.columns[i] for i in logit_columns] if table.has_header else None
    if classes is not None and header is not None:
        columns.check_classes_against_header(classes, header, table.describe_columns())
    if classes is not None:
        return classes
    if header is None or all(name.isdigit() for name in header) or not getattr(table, "names_classes", True):
        return None
    return columns.class_names_from_header(header)


def table_rows(options: TableOptions, source: Source, logits_spec: str | None = None) -> Iterator[np.ndarray] | np.ndarray:
    """The logit columns of a table: blocks of rows, or one vector when the table has one column."""
    table = options.open(source)
    if len(table.columns) == 1 and logits_spec is None:
        return table.read_all([0])[:, 0]  # a column of values is one vector, as inline
    roles = columns.logit_roles(table.shape(), logits_spec)
    options.report.record(table, roles)
    return (_rows_in_order(block.values) for block in table.blocks(roles.chosen["logits"]))
