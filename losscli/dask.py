"""Any loss over data beyond one machine, with Dask (``pip install 'losscli[dask]'``).

Each partition gives its partial result (``losses.partial``: exact sums, counts, options), and
the partials are merged as a tree (``split_every`` at a time), so only a few numbers per
partition travel; the value equals the one-process value to a few units in the last place (the
merge itself is exact). Dask is imported only when these functions run.

Inputs are Dask Arrays or Series, one per input of the loss (``mse``: prediction and target;
``xent``: an (N, C) array of logits and N class indices), or one Dask DataFrame with
``columns`` naming each input's column (a list of columns for the logits)::

    import dask.array as da
    x = da.arange(8.0, chunks=3)
    loss("mse", x, x + 2).value                     # 4.0
    loss("xent", ddf, columns=(["c0", "c1", "c2"], "label"), weight=[1, 2, 0.5])

(run in tests/test_dask.py, which the ``dask`` extra enables).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .errors import UsageError
from .losses.partial import Partial, combine, new_accumulator, no_partial


def _block_partial(name: str, reduction: str, options: dict, arrays: tuple) -> Partial | None:
    """One partition's partial; None for a partition with no rows (or only omitted ones)."""
    if not len(arrays[0]):
        return None
    accumulator = new_accumulator(name, reduction, **options)
    accumulator.add(*arrays)
    return accumulator.partial() if accumulator.n else None


def _merged(*parts: Partial | None) -> Partial | None:
    present = [part for part in parts if part is not None]
    return combine(present) if present else None


def _frame_columns(frame, columns: Sequence) -> tuple:
    """A pandas partition's columns as float arrays, one per input (a list of names: a matrix)."""
    return tuple(frame[list(c) if isinstance(c, (list, tuple)) else c].to_numpy(dtype=np.float64) for c in columns)


def _array_blocks(arrays: list) -> list[tuple]:
    """Dask Arrays aligned on their first axis (a matrix whole along its second), block by block."""
    first = arrays[0]
    aligned = []
    for array in arrays:
        if array.ndim > 2:
            raise UsageError(f"a Dask Array input has {array.ndim} dimensions; give 1-D columns or an (N, C) matrix")
        chunks = {0: first.chunks[0]} if array.ndim == 1 else {0: first.chunks[0], 1: -1}
        if array.shape[0] != first.shape[0]:
            raise UsageError(f"the Dask inputs have {first.shape[0]} and {array.shape[0]} rows")
        aligned.append(array.rechunk(chunks).to_delayed().reshape(-1))
    return list(zip(*aligned))


def _delayed_blocks(inputs: tuple, columns: Sequence | None) -> list:
    """One delayed tuple of numpy arrays per partition."""
    from dask import delayed

    if columns is not None:
        if len(inputs) != 1 or not hasattr(inputs[0], "to_delayed") or not hasattr(inputs[0], "columns"):
            raise UsageError("columns= names the columns of one Dask DataFrame: give the DataFrame alone")
        return [delayed(_frame_columns)(part, list(columns)) for part in inputs[0].to_delayed()]
    if not inputs:
        raise UsageError("give the loss's inputs: Dask Arrays or Series, or a DataFrame with columns=")
    if all(hasattr(i, "chunks") and hasattr(i, "rechunk") for i in inputs):
        return [delayed(tuple)(list(block)) for block in _array_blocks(list(inputs))]
    if all(hasattr(i, "to_delayed") and hasattr(i, "npartitions") for i in inputs):
        if len({i.npartitions for i in inputs}) != 1:
            raise UsageError("the Dask Series have different partitions: take them from one DataFrame")
        series = [i.to_delayed() for i in inputs]
        return [delayed(lambda *s: tuple(np.asarray(x, dtype=np.float64) for x in s))(*parts) for parts in zip(*series)]
    raise UsageError("inputs must all be Dask Arrays, or all Dask Series, or one DataFrame with columns=")


def partial(name: str, *inputs: Any, columns: Sequence | None = None, reduction: str = "mean",
            split_every: int = 8, **options):
    """The loss's partial over every partition, as a Dask Delayed (``.compute()`` gives a ``Partial``).

    ``options`` are the loss's: ``nan_policy``, ``dtype``, ``weight``, ``delta``, ``ignore_index``, ...
    """
    from dask import delayed

    no_partial(reduction)
    new_accumulator(name, reduction, **options)  # a usage error now: an unknown loss or option
    if split_every < 2:
        raise UsageError(f"split_every must be at least 2, not {split_every}")
    level = [delayed(_block_partial)(name, reduction, options, block) for block in _delayed_blocks(inputs, columns)]
    while len(level) > 1:
        level = [delayed(_merged)(*level[i : i + split_every]) for i in range(0, len(level), split_every)]
    return level[0] if level else delayed(None)


def loss(name: str, *inputs: Any, columns: Sequence | None = None, reduction: str = "mean", split_every: int = 8,
         scheduler: str | None = None, **options):
    """The loss over Dask collections, as a ``LossResult`` (``.value``; no per-row terms).

    ``scheduler`` is Dask's (None: the active client's or the collection's default).
    """
    import dask

    (merged,) = dask.compute(partial(name, *inputs, columns=columns, reduction=reduction, split_every=split_every,
                                     **options), scheduler=scheduler)
    if merged is None:
        from .errors import DataError

        raise DataError("no rows to compute on" if options.get("nan_policy") != "omit" else "every row holds nan (all omitted)")
    return merged.result()
