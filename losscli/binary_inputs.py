"""Binary tables: ``.npy``/``.npz`` (numpy's own reader, never unpickling) and parquet / Arrow IPC /
feather (polars, the ``fast`` extra), read in blocks of rows with the same interface as a CSV table.

A file is recognised by its first bytes (``\\x93NUMPY``, ``PK\\x03\\x04`` holding ``.npy`` members,
``PAR1``, ``ARROW1``) or by its extension, never by trying to parse it as text. Columns play their
roles by the rules of ``columns.py``, exactly as a CSV's: a 1-D array is one column, a 2-D array
one column per class, an ``.npz`` member or a parquet column is named by its name. Values are
read as float64, as CSV values are (``--dtype float32`` rounds them back, exactly, for float32
data); integer arrays are class indices as they are. A ``.npy`` file is memory-mapped and an
``.npz`` member is read from its zip stream a block at a time, so memory stays flat; stdin is
spooled to a temporary file first (a zip or parquet file cannot be read front to back).
"""

from __future__ import annotations

import errno
import os
import zipfile
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator, Sequence

import numpy as np

from .columns import TableShape, resolve_column_list
from .errors import DataError, UsageError
from .inputs import printable, quoted

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"
PARQUET_MAGIC = b"PAR1"
ARROW_MAGIC = b"ARROW1"
EXTENSIONS = {
    ".npy": "npy", ".npz": "npz", ".parquet": "parquet", ".pq": "parquet",
    ".arrow": "ipc", ".feather": "ipc", ".ipc": "ipc",
}
KIND_NAMES = {"npy": ".npy", "npz": ".npz", "parquet": "parquet", "ipc": "Arrow IPC/feather"}
SUPPORTED = ".npy, .npz, parquet and Arrow IPC/feather"
BLOCK_VALUES = 1 << 17  # values per block (1 MB of float64), whatever the row width
SAMPLE_ROWS = 50  # rows shown to the column-role rules, as a CSV's first lines are
HEAD_BYTES = 512  # enough for a zip's first member name


def _kind_of_magic(head: bytes) -> str | None:
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if head.startswith(ARROW_MAGIC):
        return "ipc"
    if head.startswith(ZIP_MAGIC) and len(head) >= 30:
        name_length = int.from_bytes(head[26:28], "little")
        if head[30 : 30 + name_length].endswith(b".npy"):
            return "npz"  # a zip whose first member is an array: np.savez / np.savez_compressed
    return None


def detect(name: str, head: bytes) -> str | None:
    """The binary format of a file from its first bytes and its name, or None for text.

    A name that promises a binary format the bytes do not have is an error, not a text table.
    """
    by_magic = _kind_of_magic(head)
    by_name = EXTENSIONS.get(os.path.splitext(name)[1].lower())
    if by_name is None or by_name == by_magic:
        return by_magic
    if head.startswith(ZIP_MAGIC) and by_name == "npz":
        return "npz"  # a zip named .npz whose first member is not an array: np.load names the fault
    raise DataError(f"{printable(name)}: not a {KIND_NAMES[by_name]} file (its first bytes are {head[:8]!r})")


def peek_stdin(stdin: BinaryIO) -> tuple[BinaryIO, bytes]:
    """stdin as a stream that can be peeked (wrapped once), and its first bytes, left unread."""
    stream = stdin if hasattr(stdin, "peek") else __import__("io").BufferedReader(stdin)
    try:
        return stream, stream.peek(HEAD_BYTES)[:HEAD_BYTES]
    except OSError:
        return stream, b""


def head_of(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read(HEAD_BYTES)
    except OSError:
        return b""  # the text reader opens it again and names the fault


# ---------------------------------------------------------------------------------------------
# stdin to a temporary file


def temporary_failure(error: OSError, directory: str | None) -> DataError:
    """A temporary file that cannot be written, in the words ``render._Spool`` uses."""
    reason = error.strerror or str(error)
    if directory is None:
        return DataError(f"no temporary directory: {reason}; set TMPDIR to a writable folder")
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return DataError(f"temporary directory {directory} is full; set TMPDIR to a folder with room")
    return DataError(f"cannot use temporary directory {directory}: {reason}; set TMPDIR to a writable folder")


def spool_to_file(stream: BinaryIO, prefix: str = "losscli-stdin-"):
    """Copy ``stream`` to a named temporary file (deleted on close) in $TMPDIR; the open file."""
    import shutil
    import tempfile

    directory = os.environ.get("TMPDIR") or None
    try:
        directory = directory or tempfile.gettempdir()
        spool = tempfile.NamedTemporaryFile(prefix=prefix, dir=directory)
    except OSError as error:
        raise temporary_failure(error, directory) from error
    try:
        shutil.copyfileobj(stream, spool, 1 << 20)
        spool.flush()
    except OSError as error:
        spool.close()
        raise temporary_failure(error, directory) from error
    return spool


# ---------------------------------------------------------------------------------------------
# arrays and their columns


@dataclass
class Member:
    """One array of a file (a ``.npy``, an ``.npz`` member, a parquet column) read as rows."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    rows_from: Callable[[], Iterator[np.ndarray]]  # its rows, a block at a time, front to back
    head: np.ndarray  # its first SAMPLE_ROWS rows
    array_shape: tuple[int, ...] | None = None  # an array of 3+ dimensions read flattened: its own shape

    @property
    def width(self) -> int:
        return 1 if len(self.shape) == 1 else self.shape[1]

    @property
    def numeric(self) -> bool:
        return self.dtype.kind in "biuf"


def _check_array(name: str, shape: tuple[int, ...], dtype: np.dtype, where: str, flatten: bool = False) -> None:
    if dtype.hasobject:
        raise DataError(f"{where}: holds Python objects, which losscli never unpickles; save numbers instead")
    if dtype.kind not in "biufUS":
        raise DataError(f"{where}: holds {dtype} values; losscli reads numbers (and text labels)")
    if len(shape) not in (1, 2) and not (flatten and len(shape) > 2):
        raise DataError(
            f"{where}: a {len(shape)}-D array (shape {shape}); losscli reads 1-D and 2-D arrays here (element-wise losses "
            "take any shape, and xent and nll (N, C, d1, …) or (B, T, V) logits as their first argument)"
        )


def _flat_shape(shape: tuple[int, ...], flatten: bool) -> tuple[int, ...]:
    """An array of 3+ dimensions read by an element-wise loss is one column of its values in C order."""
    return (int(np.prod(shape)),) if flatten and len(shape) > 2 else tuple(shape)


def _rows_per_block(width: int) -> int:
    return max(1, BLOCK_VALUES // max(width, 1))


def _memmap_member(path: str, name: str, flatten: bool = False) -> Member:
    """A ``.npy`` file, memory-mapped: blocks are slices of the file, read when touched."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        if "allow_pickle" in str(error) or "object" in str(error).lower():
            raise DataError(f"{printable(name)}: holds Python objects, which losscli never unpickles; save numbers instead") from None
        raise DataError(f"{printable(name)}: not a readable .npy file ({error})") from None
    except OSError as error:
        raise DataError(f"{printable(name)}: cannot read ({error.strerror or error})") from None
    _check_array(name, array.shape, array.dtype, printable(name), flatten)
    array_shape = tuple(array.shape) if array.ndim > 2 else None
    if array_shape is not None:
        array = array.reshape(-1)  # a view of the mapping (a copy only for Fortran order)
    step = _rows_per_block(1 if array.ndim == 1 else array.shape[1])
    row_bytes = array.dtype.itemsize * (1 if array.ndim == 1 else array.shape[1])

    def rows() -> Iterator[np.ndarray]:
        for start in range(0, array.shape[0], step):
            block = np.array(array[start : start + step])  # a copy: the mapping's pages can be dropped
            _drop_pages(array, start * row_bytes, (start + len(block)) * row_bytes)
            yield block

    return Member(os.path.basename(name), array.shape, array.dtype, rows, np.array(array[:SAMPLE_ROWS]), array_shape)


def _drop_pages(array: np.ndarray, start: int, stop: int) -> None:
    """Tell the kernel the mapped bytes ``start:stop`` of the array's data are done with: read
    pages of a mapping count in the resident size until dropped, and a file can be larger than
    memory."""
    import mmap

    mapping = getattr(array, "_mmap", None)
    if mapping is None or not hasattr(mapping, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return
    offset = array.offset if hasattr(array, "offset") else 0  # where the data starts in the file
    first = (offset + start) // mmap.PAGESIZE * mmap.PAGESIZE
    last = (offset + stop) // mmap.PAGESIZE * mmap.PAGESIZE  # the page holding the next row stays
    if last > first:
        try:
            mapping.madvise(mmap.MADV_DONTNEED, first, last - first)
        except (OSError, ValueError):
            pass  # only a hint


def npy_header(stream: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, Fortran order, dtype) from a .npy header at the stream's position, read by numpy's
    own format module; ``ValueError`` if it is not one (``EOFError`` if it is cut short)."""
    fmt = np.lib.format
    version = fmt.read_magic(stream)
    reader = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(version)
    if reader is None:
        raise ValueError(f"version {version}")
    return reader(stream)


def _npy_stream_header(stream: BinaryIO, where: str, flatten: bool = False) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        shape, fortran, dtype = npy_header(stream)
    except ValueError as error:
        raise DataError(f"{where}: not a readable .npy array ({error})") from None
    _check_array(where, shape, dtype, where, flatten)
    return shape, fortran, dtype


def _streamed_rows(open_stream: Callable[[], BinaryIO], where: str, flatten: bool = False) -> Iterator[np.ndarray]:
    """The rows of a ``.npy`` stream (an ``.npz`` member), a block at a time."""
    with open_stream() as stream:
        shape, fortran, dtype = _npy_stream_header(stream, where, flatten)
        if fortran and len(shape) >= 2:  # column-major: its rows are not contiguous; read it whole
            whole = np.lib.format.read_array(_Rewound(stream, shape, fortran, dtype), allow_pickle=False)
            yield whole.reshape(_flat_shape(shape, flatten))  # C order, as a .npy's flattening
            return
        shape = _flat_shape(shape, flatten)
        width = 1 if len(shape) == 1 else shape[1]
        step = _rows_per_block(width)
        row_bytes = dtype.itemsize * width
        left = shape[0]
        while left:
            take = min(step, left)
            data = stream.read(take * row_bytes)
            if len(data) != take * row_bytes:
                raise DataError(f"{where}: the array is cut short ({shape[0] - left + len(data) // max(row_bytes, 1)} of {shape[0]} rows)")
            yield np.frombuffer(data, dtype=dtype).reshape((take, *shape[1:]))
            left -= take


class _Rewound:
    """A stream past its header, read again by ``read_array`` as a whole .npy: a header is rewritten."""

    def __init__(self, stream, shape, fortran, dtype) -> None:
        import io

        header = io.BytesIO()
        np.lib.format.write_array_header_2_0(header, {"shape": shape, "fortran_order": fortran, "descr": np.lib.format.dtype_to_descr(dtype)})
        self._head = io.BytesIO(np.lib.format.magic(2, 0) + header.getvalue())
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        data = self._head.read(size)
        if size < 0 or len(data) < size:
            data += self._stream.read(-1 if size < 0 else size - len(data))
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _npz_members(path: str, name: str, flatten: bool = False) -> list[Member]:
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise DataError(f"{printable(name)}: not a readable .npz file ({error})") from None
    members = []
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            continue
        member = info.filename[: -len(".npy")]
        where = f"{printable(name)}: member {quoted(member)}"
        opener = lambda info=info: archive.open(info)  # noqa: E731
        with opener() as stream:
            shape, fortran, dtype = _npy_stream_header(stream, where, flatten)
        array_shape = tuple(shape) if len(shape) > 2 else None
        shape = _flat_shape(shape, flatten)
        head = next(iter(_streamed_rows(opener, where, flatten)), np.empty((0, *shape[1:]), dtype=dtype))[:SAMPLE_ROWS]
        rows = lambda opener=opener, where=where: _streamed_rows(opener, where, flatten)  # noqa: E731
        members.append(Member(member, shape, dtype, rows, head, array_shape))
    if not members:
        raise DataError(f"{printable(name)}: an .npz file with no arrays in it")
    return members


def _polars_members(path: str, name: str, kind: str) -> list[Member]:
    from importlib.util import find_spec

    if find_spec("polars") is None:
        raise UsageError(f"{printable(name)}: reading {KIND_NAMES[kind]} files needs polars: pip install 'losscli[fast]'")
    import polars as pl

    scan = pl.scan_parquet if kind == "parquet" else pl.scan_ipc
    try:
        schema = scan(path).collect_schema()
        row_count = int(scan(path).select(pl.len()).collect().item())
        head = scan(path).head(SAMPLE_ROWS).collect()
    except Exception as error:  # polars raises its own error kinds for a damaged file
        raise DataError(f"{printable(name)}: not a readable {KIND_NAMES[kind]} file ({str(error).splitlines()[0]})") from None
    members = []
    for column, dtype in schema.items():
        where = f"{printable(name)}: column {quoted(column)}"
        if dtype.is_numeric() or dtype == pl.Boolean:
            numpy_dtype = np.dtype(np.float64) if dtype.is_float() else np.dtype(np.int64)
        elif dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum)):
            numpy_dtype = np.dtype("U")
        else:
            numpy_dtype = None  # lists, structs, dates: an error if the column is used

        def rows(column=column, where=where, dtype=dtype, readable=numpy_dtype is not None) -> Iterator[np.ndarray]:
            if not readable:
                raise DataError(f"{where} holds {dtype} values; losscli reads columns of numbers (and text labels)")
            for frame in scan(path).select(column).collect_batches(chunk_size=BLOCK_VALUES):
                yield _column_values(frame.to_series(), dtype)

        if numpy_dtype is None:
            sample = np.array([str(v) for v in head[column].to_list()])
        else:
            sample = _column_values(head[column], dtype)
        members.append(Member(column, (row_count,), numpy_dtype or np.dtype("U"), rows, sample))
        if numpy_dtype is None:
            members[-1].dtype = np.dtype("V8")  # neither numbers nor text: never a role's column
    return members


def _column_values(series, dtype) -> np.ndarray:
    import polars as pl

    if dtype.is_float():
        return series.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    if dtype.is_numeric() or dtype == pl.Boolean:
        if series.null_count():
            return series.cast(pl.Float64).fill_null(float("nan")).to_numpy()
        return series.cast(pl.Int64).to_numpy()
    return np.array(series.cast(pl.String).fill_null("").to_list(), dtype=str)


# ---------------------------------------------------------------------------------------------
# the table


@dataclass
class Block:
    values: np.ndarray
    first_line: int  # the 1-based row of its first row


@dataclass
class BinaryTable:
    """The columns of a binary file, with ``DelimitedTable``'s interface (``columns``, ``shape()``,
    ``blocks``, ``text_blocks``, ``read_all``)."""

    source: object
    kind: str
    members: list[Member]
    has_header: bool  # whether columns have names (npz members, parquet columns), not 1, 2, …
    spool: object = None  # the temporary copy of stdin, kept open while the table is read
    notes: list[str] = field(default_factory=list)
    names_classes: bool = False  # header names are member names, never class names

    def __post_init__(self) -> None:
        self.places: list[tuple[int, int | None]] = []  # column -> (member, column within it)
        self.columns: list[str] = []
        for m, member in enumerate(self.members):
            if len(member.shape) == 1:
                self.places.append((m, None))
                self.columns.append(member.name if self.has_header else str(len(self.columns) + 1))
            else:
                for j in range(member.width):
                    self.places.append((m, j))
                    self.columns.append(f"{member.name}_{j}" if self.has_header else str(len(self.columns) + 1))
        if not self.columns:
            raise DataError(f"{printable(self.source.name)}: an array with no columns")
        self.numeric = [self.members[m].numeric for m, _ in self.places]
        self.sample = [list(row) for row in zip(*(self._sample_text(i) for i in range(len(self.columns))))]

    def _sample_text(self, i: int) -> list[str]:
        m, j = self.places[i]
        head = self.members[m].head
        values = head if j is None else head[:, j]
        if values.dtype.kind in "iub":
            return [str(int(v)) for v in values.tolist()]
        if values.dtype.kind == "f":
            return [repr(float(v)) for v in values.tolist()]
        return [str(v) for v in values.tolist()]

    # -- what the column-role rules see --------------------------------------------------------

    def describe_columns(self) -> str:
        shapes = ", ".join(f"{printable(m.name)} {m.shape}" for m in self.members) if self.has_header else f"shape {self.members[0].shape}"
        count = "1 column" if len(self.columns) == 1 else f"{len(self.columns)} columns"
        return f"{printable(self.source.name)} has {count} ({shapes})"

    def column_label(self, index: int) -> str:
        return f'"{printable(self.columns[index])}"' if self.has_header else str(index + 1)

    def _member_columns(self, name: str) -> list[int]:
        return [i for i, (m, _) in enumerate(self.places) if self.members[m].name == name]

    def resolve(self, spec: str, option: str) -> int:
        """A column by name (an array member, or ``logits_3`` of a 2-D one) or 1-based position."""
        if spec.isdigit():
            index = int(spec) - 1
            if not 0 <= index < len(self.columns):
                raise UsageError(f"{option} {spec}: no such column; {self.describe_columns()}")
            return index
        if spec in self.columns:
            return self.columns.index(spec)
        whole = self._member_columns(spec)
        if len(whole) > 1:
            raise UsageError(f"{option} {quoted(spec)} is a 2-D array of {len(whole)} columns; {option} takes one column")
        names = ", ".join(printable(m.name) for m in self.members)
        raise UsageError(f"{option} {quoted(spec)}: no such {'member' if self.kind == 'npz' else 'column'} ({self.describe_columns()}; names: {names})")

    def resolve_many(self, spec: str, option: str) -> list[int]:
        return resolve_column_list(spec, option, self.resolve, self._member_columns)

    def shape(self) -> TableShape:
        return TableShape(
            self.columns, self.has_header, self.numeric, self.sample,
            self.column_label, self.resolve, self.resolve_many, self.describe_columns,
        )

    # -- data -----------------------------------------------------------------------------------

    def _member_blocks(self, usecols: Sequence[int]) -> Iterator[tuple[int, dict[int, np.ndarray]]]:
        """(first row, {member: its rows}) for the members ``usecols`` need, rows aligned."""
        used = sorted({self.places[i][0] for i in usecols})
        self.check_array_shapes(used)
        lengths = {self.members[m].shape[0] for m in used}
        if len(lengths) > 1:
            counts = ", ".join(f"{printable(self.members[m].name)} has {self.members[m].shape[0]}" for m in used)
            raise DataError(f"{printable(self.source.name)}: the arrays have different numbers of rows ({counts})")
        streams = {m: self.members[m].rows_from() for m in used}
        held = {m: None for m in used}
        row = 0
        while True:
            for m in used:
                if held[m] is None or not len(held[m]):
                    held[m] = next(streams[m], None)
            if any(held[m] is None for m in used):
                return
            take = min(len(held[m]) for m in used)
            yield row, {m: held[m][:take] for m in used}
            held = {m: held[m][take:] for m in used}
            row += take

    def array_shape(self, column: int) -> tuple[int, ...]:
        """The shape of the array a column comes from (before an N-D array was flattened)."""
        member = self.members[self.places[column][0]]
        return member.array_shape or member.shape

    def check_array_shapes(self, used: Sequence[int]) -> None:
        """Members paired element by element: an N-D one only with one of its own shape (no broadcasting)."""
        shapes = {self.members[m].array_shape or self.members[m].shape for m in used}
        if len(shapes) > 1 and any(self.members[m].array_shape for m in used):
            found = ", ".join(f"{printable(self.members[m].name)} {self.members[m].array_shape or self.members[m].shape}" for m in used)
            raise DataError(f"{printable(self.source.name)}: the arrays have different shapes ({found}); element-wise losses pair arrays of the same shape (no broadcasting)")

    def _gather(self, arrays: dict[int, np.ndarray], usecols: Sequence[int]) -> np.ndarray:
        columns = []
        for i in usecols:
            m, j = self.places[i]
            values = arrays[m] if j is None else arrays[m][:, j]
            if not self.members[m].numeric:
                raise DataError(f"{printable(self.source.name)}: column {self.column_label(i)} holds text, not numbers")
            columns.append(values.astype(np.float64, copy=False))
        if len(usecols) and all(self.places[i][0] == self.places[usecols[0]][0] for i in usecols) and self.places[usecols[0]][1] is not None:
            m = self.places[usecols[0]][0]
            wanted = [self.places[i][1] for i in usecols]
            if wanted == list(range(self.members[m].width)):  # a whole 2-D array: no copy column by column
                return np.ascontiguousarray(arrays[m], dtype=np.float64)
        return np.column_stack(columns) if columns else np.empty((0, 0))

    def blocks(self, usecols: list[int]) -> Iterator[Block]:
        """The rows, block by block, as float64 arrays of the ``usecols`` columns."""
        any_rows = False
        for row, arrays in self._member_blocks(usecols):
            any_rows = True
            yield Block(self._gather(arrays, usecols), row + 1)
        if not any_rows:
            raise DataError(f"{printable(self.source.name)}: no data rows (the arrays are empty)")

    def read_all(self, usecols: list[int]) -> np.ndarray:
        return np.concatenate([block.values for block in self.blocks(usecols)])

    def text_blocks(self, index: int, usecols: list[int]) -> Iterator[tuple[list[str], list[int], np.ndarray]]:
        """Block by block: one column as text (labels), the row of each, the numeric ``usecols``."""
        m, j = self.places[index]
        for row, arrays in self._member_blocks([index, *usecols]):
            values = arrays[m] if j is None else arrays[m][:, j]
            labels = [str(v) for v in values.tolist()]
            yield labels, list(range(row + 1, row + 1 + len(labels))), self._gather(arrays, usecols)


def open_table(source, kind: str, path: str, spool=None, flatten: bool = False) -> BinaryTable:
    """The table of binary file ``path`` (``source`` names it in messages); with ``flatten`` (an
    element-wise loss) an array of 3+ dimensions is one column of its values in C order."""
    name = source.name
    if kind == "npy":
        return BinaryTable(source, kind, [_memmap_member(path, name, flatten)], has_header=False, spool=spool)
    if kind == "npz":
        return BinaryTable(source, kind, _npz_members(path, name, flatten), has_header=True, spool=spool)
    return BinaryTable(source, kind, _polars_members(path, name, kind), has_header=True, spool=spool)
