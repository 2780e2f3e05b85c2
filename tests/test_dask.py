"""``losscli.dask``: a loss over Dask partitions equals the one-process value (the ``dask`` extra).

Skipped only when the extra is not installed; ``make test`` installs it.
"""

from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

from losscli.dask import loss, partial  # noqa: E402
from losscli.errors import UsageError  # noqa: E402

from .test_combine import CASES, close, options_for, random_inputs, whole_value  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    """A local Dask cluster (threads in this process: no worker start-up to wait for)."""
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as local:
        with distributed.Client(local) as client:
            yield client


def uneven_chunks(rows: int, rng) -> tuple[int, ...]:
    cuts = sorted(set(rng.integers(1, rows, size=6).tolist()))
    return tuple(np.diff([0, *cuts, rows]).tolist())


@pytest.mark.parametrize("name,reduction", CASES)
def test_loss_over_dask_arrays_equals_the_single_process_value(cluster, name, reduction):
    rng = np.random.default_rng(len(name) + len(reduction))
    rows = 20_000
    inputs = random_inputs(name, rows, rng)
    options = options_for(name)
    chunks = uneven_chunks(rows, rng)
    arrays = [da.from_array(a, chunks=(chunks, *a.shape[1:])) for a in inputs]
    got = loss(name, *arrays, reduction=reduction, split_every=3, **options)
    assert close(float(got.value), float(whole_value(name, reduction, inputs, **options)))
    assert got.n == rows and got.partial.counts["parts"] == len(chunks)


def test_inputs_with_different_chunks_are_aligned():
    rng = np.random.default_rng(4)
    pred, target = rng.normal(size=1000), rng.normal(size=1000)
    got = loss("l1", da.from_array(pred, chunks=300), da.from_array(target, chunks=170), scheduler="synchronous")
    assert close(float(got.value), float(np.mean(np.abs(pred - target))))


def test_loss_over_a_dask_dataframe_by_column_names(cluster):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(8)
    scores, labels = random_inputs("xent", 3000, rng)
    frame = pd.DataFrame({"c0": scores[:, 0], "c1": scores[:, 1], "c2": scores[:, 2], "c3": scores[:, 3], "label": labels})
    ddf = dd.from_pandas(frame, npartitions=7)
    options = {"weight": [1.0, 2.0, 0.5, 0.25]}
    got = loss("xent", ddf, columns=(["c0", "c1", "c2", "c3"], "label"), **options)
    assert close(float(got.value), float(whole_value("xent", "mean", (scores, labels), **options)))
    pred, target = rng.normal(size=3000), rng.normal(size=3000)
    ddf = dd.from_pandas(pd.DataFrame({"y_hat": pred, "y": target}), npartitions=4)
    by_name = loss("mse", ddf, columns=("y_hat", "y"), reduction="sum")
    by_series = loss("mse", ddf["y_hat"], ddf["y"], reduction="sum")
    assert close(float(by_name.value), float(np.sum((pred - target) ** 2)))
    assert by_name.value == by_series.value


def test_the_partial_is_lazy_and_refusals_come_before_computing():
    x = da.from_array(np.arange(10.0), chunks=4)
    delayed = partial("mse", x, x + 1)
    assert float(delayed.compute(scheduler="synchronous").value()) == 1.0
    with pytest.raises(UsageError, match="--reduction none"):
        partial("mse", x, x, reduction="none")
    with pytest.raises(UsageError, match="softmax"):
        partial("softmax", x)
    with pytest.raises(UsageError, match="rows"):
        partial("mse", x, da.from_array(np.arange(11.0), chunks=4))
