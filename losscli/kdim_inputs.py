"""K-dimensional class inputs: logits of PyTorch's layout ``(N, C, d1, …)`` (classes on axis 1) or
a language model's ``(B, T, V)`` (classes last), read as rows of C scores, one row per position.

Targets have the logits' shape without the class axis (class indices) or the logits' own shape
(probabilities). Which axis holds the classes is read from the two shapes; when both readings fit
(``T == V``) or the targets are probabilities, ``--class-dim`` says which. A ``.npy`` is
memory-mapped and read a block of positions at a time (its pages dropped when done), so memory
stays bounded however large the array; an ``.npz`` member is read whole (zip members cannot be
mapped). Positions become rows in C order of the target shape, the order ``reshape(-1)`` gives.
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from . import binary_inputs
from .errors import DataError, UsageError
from .inputs import printable, quoted
from .result import ClassLayout, shape_text

BLOCK_VALUES = binary_inputs.BLOCK_VALUES  # logits read per block (1 MB as float64)


def _without(shape: tuple[int, ...], axis: int) -> tuple[int, ...]:
    return shape[:axis] + shape[axis + 1 :]


CLASS_DIM_CHOICES = "--class-dim 1 (PyTorch's (N, C, d1, …)) or --class-dim -1 (classes last, (B, T, V))"


def class_axis(logits_shape: tuple[int, ...], target_shape: tuple[int, ...], class_dim: int | None) -> ClassLayout:
    """Which axis of the logits holds the classes, from the shapes (or ``--class-dim``).

    >>> class_axis((4, 7, 50), (4, 7), None).class_dim
    2
    >>> class_axis((4, 5, 3, 3), (4, 3, 3), None).class_dim
    1
    """
    ndim, last = len(logits_shape), len(logits_shape) - 1
    probabilities = tuple(target_shape) == tuple(logits_shape)
    if class_dim is not None:
        if not -ndim <= class_dim < ndim or class_dim % ndim not in (1, last):
            raise UsageError(f"--class-dim {class_dim}: the logits {shape_text(logits_shape)} have their classes on axis 1 or the last (-1); say {CLASS_DIM_CHOICES}")
        axis = class_dim % ndim
        wanted = _without(logits_shape, axis)
        if not probabilities and tuple(target_shape) != wanted:
            raise DataError(
                f"target has shape {shape_text(target_shape)}, but logits {shape_text(logits_shape)} with the classes on axis {axis} "
                f"take class indices of shape {shape_text(wanted)} or probabilities of shape {shape_text(logits_shape)}"
            )
        return ClassLayout(tuple(logits_shape), axis, "--class-dim", probabilities)
    if probabilities:
        raise UsageError(
            f"target has the logits' shape {shape_text(logits_shape)} (probabilities), so the shapes cannot say which axis holds "
            f"the classes: say {CLASS_DIM_CHOICES}"
        )
    fits = [axis for axis in (1, last) if tuple(target_shape) == _without(logits_shape, axis)]
    if len(fits) == 2:
        raise UsageError(
            f"target shape {shape_text(target_shape)} fits logits {shape_text(logits_shape)} with the classes on axis 1 "
            f"(C = {logits_shape[1]}) and on the last axis (C = {logits_shape[-1]}): say which with {CLASS_DIM_CHOICES}"
        )
    if not fits:
        raise DataError(
            f"target has shape {shape_text(target_shape)}; logits {shape_text(logits_shape)} take class indices of shape "
            f"{shape_text(_without(logits_shape, 1))} (classes on axis 1, PyTorch's (N, C, d1, …)) or "
            f"{shape_text(_without(logits_shape, last))} (classes last, (B, T, V)), or probabilities of shape {shape_text(logits_shape)}"
        )
    return ClassLayout(tuple(logits_shape), fits[0], "shapes", False)


# ---------------------------------------------------------------------------------------------
# arrays: a memory-mapped .npy, an .npz member, inline values


@dataclass
class Array:
    """One input array and where it came from (its name in messages)."""

    name: str
    values: np.ndarray  # an np.memmap for a .npy file, else in memory

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values.shape)

    def drop(self, start: int, stop: int) -> None:
        """Values ``start:stop`` (C order) are done with: a mapped file's pages can go."""
        if isinstance(self.values, np.memmap):
            size = self.values.dtype.itemsize
            binary_inputs._drop_pages(self.values, start * size, stop * size)


def _npy_header_shape(path: str) -> tuple[tuple[int, ...], np.dtype] | None:
    try:
        with open(path, "rb") as file:
            shape, _, dtype = binary_inputs.npy_header(file)
            return shape, dtype
    except (OSError, ValueError, EOFError):
        return None  # the table reader opens it again and names the fault


def _npz_shapes(path: str) -> dict[str, tuple[int, ...]]:
    """The members of an .npz and their shapes, from their headers alone."""
    shapes = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.filename.endswith(".npy"):
                    with archive.open(info) as stream:
                        try:
                            shapes[info.filename[: -len(".npy")]] = binary_inputs.npy_header(stream)[0]
                        except ValueError:
                            pass  # not an array of a version numpy writes: left to the table reader
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return {}
    return shapes


def _kind(path: str) -> str | None:
    try:
        return binary_inputs.detect(path, binary_inputs.head_of(path))
    except DataError:
        return None  # the table reader names the fault


def _checked(name: str, values: np.ndarray) -> np.ndarray:
    if values.dtype.kind not in "biuf":
        raise DataError(f"{printable(name)}: holds {values.dtype} values; class losses read numbers")
    if values.size == 0:
        raise DataError(f"{printable(name)}: the array is empty (shape {shape_text(values.shape)})")
    return values


def _load_npy(path: str, name: str) -> Array:
    try:
        values = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        raise DataError(f"{printable(name)}: not a readable .npy file of numbers ({error})") from None
    except OSError as error:
        raise DataError(f"{printable(name)}: cannot read ({error.strerror or error})") from None
    if not values.flags.c_contiguous:  # Fortran order: its positions are not contiguous; read whole
        values = np.ascontiguousarray(values)
    return Array(os.path.basename(name), _checked(name, values))


def _load_member(path: str, name: str, member: str) -> Array:
    try:
        with np.load(path, allow_pickle=False) as archive:
            values = archive[member]
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"{printable(name)}: member {quoted(member)} is not readable ({error})") from None
    return Array(member, _checked(f"{name}: member {member}", np.ascontiguousarray(values)))


@dataclass
class KdimInputs:
    """Logits of three or more dimensions and their targets, with the class axis decided."""

    logits: Array
    target: Array
    layout: ClassLayout
    note: str | None  # what losscli decided by itself, for stderr
    columns: dict[str, str] | None  # the .npz members used, when losscli chose them
    spool: object = None  # the temporary copy of stdin the logits are mapped from, kept open

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(rows of C scores, their targets) a block of positions at a time, as float64."""
        return position_blocks(self.logits, self.target, self.layout)

    def position_of(self, row: int) -> str:
        """Row ``row`` (1-based) as its place in the target array: ``(1, 3)``."""
        index = np.unravel_index(row - 1, self.layout.positions_shape)
        return shape_text(tuple(int(i) for i in index))


def position_blocks(logits: Array, target: Array, layout: ClassLayout) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Blocks of rows: the logits viewed as (A, C, D), positions (a, d) in C order.

    Classes last: A is every position and D = 1; classes on axis 1: A = N and D = d1·d2·…. A block
    holds whole runs of ``a`` when they fit in ``BLOCK_VALUES``, else one ``a`` and part of its ``d``.
    """
    shape, axis = layout.shape, layout.class_dim
    classes = shape[axis]
    if axis == len(shape) - 1:
        outer, inner = math.prod(shape[:-1]), 1
    else:
        outer, inner = shape[0], math.prod(shape[2:])
    x = logits.values.reshape(outer, classes, inner)
    y = target.values.reshape(outer, classes, inner) if layout.probabilities else target.values.reshape(outer, inner)
    per_outer = classes * inner
    outer_step = max(1, BLOCK_VALUES // per_outer)
    inner_step = inner if per_outer <= BLOCK_VALUES else max(1, BLOCK_VALUES // classes)
    target_width = classes * inner if layout.probabilities else inner
    for a0 in range(0, outer, outer_step):
        a1 = min(outer, a0 + outer_step)
        for d0 in range(0, inner, inner_step):
            d1 = min(inner, d0 + inner_step)
            scores = np.ascontiguousarray(np.asarray(x[a0:a1, :, d0:d1], dtype=np.float64).transpose(0, 2, 1)).reshape(-1, classes)
            if layout.probabilities:
                targets = np.ascontiguousarray(np.asarray(y[a0:a1, :, d0:d1], dtype=np.float64).transpose(0, 2, 1)).reshape(-1, classes)
            else:
                targets = np.asarray(y[a0:a1, d0:d1], dtype=np.float64).reshape(-1)
            yield scores, targets
        logits.drop(a0 * per_outer, a1 * per_outer)
        target.drop(a0 * target_width, a1 * target_width)


def open_inputs(
    arguments: list[str], sources: list, class_dim: int | None, target_spec: str | None, logits_spec: str | None,
    parse_target: Callable[[str], np.ndarray], stdin=None,
) -> KdimInputs | None:
    """The K-dimensional inputs the arguments name, or None when the logits are not such an array
    (a table, a 1-D or 2-D array: the ordinary readers take them).

    The logits come from a ``.npy`` of 3 or more dimensions, or from an ``.npz`` that holds such a
    member; targets from a second ``.npy``/``.npz``, inline values, or the ``.npz``'s other member.
    """
    if not arguments or sources[0] is None:
        return None
    name, spool = sources[0].name, None
    if sources[0].is_stdin:
        spool = _spooled_stdin(stdin)
        if spool is None:
            return None
        path, kind = spool.name, "npy"
    else:
        path = sources[0].path
        kind = _kind(path)
    columns: dict[str, str] | None = None
    if kind == "npy":
        header = _npy_header_shape(path)
        if header is None or len(header[0]) < 3:
            return None
        if logits_spec is not None:
            raise UsageError(f"--logits {quoted(logits_spec)} names an .npz member or table columns; {printable(name)} is one array")
        logits = _load_npy(path, name)
        members: dict[str, tuple[int, ...]] = {}
    elif kind == "npz":
        members = _npz_shapes(path)
        wide = [m for m, shape in members.items() if len(shape) >= 3]
        if logits_spec is not None:
            if logits_spec not in members:
                if not wide:
                    return None  # columns of 2-D members: the table reader resolves them
                raise UsageError(f"--logits {quoted(logits_spec)}: no such member of {printable(name)} (members: {', '.join(map(printable, members))})")
            if len(members[logits_spec]) < 3:
                return None
            chosen = logits_spec
        elif len(wide) == 1:
            chosen = wide[0]
        elif not wide:
            return None
        else:
            raise UsageError(f"{printable(name)} has {len(wide)} arrays of 3 or more dimensions ({', '.join(map(printable, wide))}): say which holds the logits with --logits")
        logits = _load_member(path, name, chosen)
        members = {m: s for m, s in members.items() if m != chosen}
        if logits_spec is None:
            columns = {"logits": chosen}
    else:
        return None

    if len(arguments) == 1:
        if kind != "npz":
            raise UsageError(f"{printable(name)} holds the logits {shape_text(logits.shape)}; give the targets too (a .npy, an .npz, or inline values)")
        target = _target_member(path, name, members, target_spec, logits.shape, columns)
    else:
        target = _target_argument(arguments[1], sources[1], target_spec, parse_target)
    layout = class_axis(logits.shape, target.shape, class_dim)
    decided = []  # what losscli chose by itself, for one note
    if columns is not None:
        decided.append(", ".join(f"{role} = {quoted(member)}" for role, member in columns.items()))
    if layout.decided_by == "shapes":
        decided.append(
            f"{layout.caption()} (the target shape {shape_text(target.shape)} is the logits' without "
            f"axis {layout.class_dim}; --class-dim sets it)"
        )
    note = f"{printable(name)}: " + "; ".join(decided) if decided else None
    return KdimInputs(logits, target, layout, note, columns, spool)


def peekable(stdin):
    """stdin wrapped (once) so that its first bytes can be looked at and left unread."""
    return binary_inputs.peek_stdin(stdin)[0]


def _spooled_stdin(stdin):
    """stdin holding a .npy of 3+ dimensions, copied to a temporary file (a mapping needs a file);
    None, with stdin left unread, for anything else (the table reader takes it)."""
    if stdin is None:
        return None
    stream, head = binary_inputs.peek_stdin(stdin)
    if binary_inputs.detect("", head) != "npy":
        return None
    import io

    try:
        ndim = len(binary_inputs.npy_header(io.BytesIO(head))[0])
    except (ValueError, EOFError):
        return None
    if ndim < 3:
        return None
    return binary_inputs.spool_to_file(stream)


def _target_member(path: str, name: str, members: dict, target_spec: str | None, logits_shape, columns: dict | None) -> Array:
    if target_spec is not None:
        if target_spec not in members:
            raise UsageError(f"--target {quoted(target_spec)}: no such member of {printable(name)} (members: {', '.join(map(printable, members))})")
        return _load_member(path, name, target_spec)
    fitting = [m for m, shape in members.items() if len(shape) == len(logits_shape) - 1 or tuple(shape) == tuple(logits_shape)]
    if len(fitting) != 1:
        found = ", ".join(f"{printable(m)} {shape_text(tuple(s))}" for m, s in members.items()) or "none"
        raise UsageError(f"{printable(name)}: which member holds the targets of the logits {shape_text(tuple(logits_shape))}? (other members: {found}); say which with --target")
    if columns is not None:
        columns["target"] = fitting[0]
    return _load_member(path, name, fitting[0])


def _target_argument(argument: str, source, target_spec: str | None, parse_target: Callable[[str], np.ndarray]) -> Array:
    if source is None:
        return Array("target", _checked("target", np.asarray(parse_target(argument))))
    if source.is_stdin:
        raise UsageError("targets of K-dimensional logits come from a .npy, an .npz or inline values, not stdin")
    kind = _kind(source.path)
    if kind == "npy":
        if target_spec is not None:
            raise UsageError(f"--target {quoted(target_spec)} names an .npz member or a table column; {printable(source.name)} is one array")
        return _load_npy(source.path, source.name)
    if kind == "npz":
        members = _npz_shapes(source.path)
        if target_spec is None:
            if len(members) != 1:
                raise UsageError(f"{printable(source.name)} has {len(members)} arrays ({', '.join(map(printable, members))}): say which holds the targets with --target")
            target_spec = next(iter(members))
        elif target_spec not in members:
            raise UsageError(f"--target {quoted(target_spec)}: no such member of {printable(source.name)} (members: {', '.join(map(printable, members))})")
        return _load_member(source.path, source.name, target_spec)
    raise UsageError(f"targets of K-dimensional logits come from a .npy, an .npz or inline values; {printable(source.name)} is a table")
