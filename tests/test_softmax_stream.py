"""Softmax over big tables: csv rows written a block at a time, and --dim 0 over a file in flat memory."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import losscli
from losscli import render
from losscli.csv_text import csv_text
from losscli.losses import SoftmaxAccumulator
from tests.memory import peak_kb

RNG = np.random.default_rng(21)


def _general_csv(part) -> str:
    """The rows as the csv module writes them, cell by cell (render.csv_rows)."""
    import csv

    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(render.csv_rows(part, show_grad=False))
    return out.getvalue()


@pytest.mark.parametrize("use_polars", [True, False])
def test_block_csv_text_is_byte_for_byte_the_csv_writers(use_polars):
    # Every spelling a float can take: tiny (1e-05 … 1e-09 and below), huge, nan, inf, -0.0.
    x = RNG.normal(size=(300, 5)) * 10.0 ** RNG.integers(-3, 3, size=(300, 5))
    x[0] = [np.nan, 1.0, 2.0, 3.0, 4.0]
    x[1] = [np.inf, 0.0, 0.0, 0.0, 0.0]
    x[2] = [-0.0, 12.0, 1e-300, 0.5, 1e300]
    x[3] = [0.0, -12.0, -9.0, -11.0, -10.5]  # probabilities near 1e-5 and 1e-9
    part = SoftmaxAccumulator().add_block(x)
    assert csv_text(part, use_polars=use_polars) is not None
    assert "".join(csv_text(part, use_polars=use_polars)) == _general_csv(part)
    assert "e-05" in _general_csv(part) and "nan" in _general_csv(part)  # the case above is exercised


def test_float32_blocks_take_the_general_path():
    part = SoftmaxAccumulator().add_block(np.float32(RNG.normal(size=(4, 3))))
    assert csv_text(part) is None


def _table(path, x: np.ndarray) -> str:
    path.write_text("".join(",".join(repr(float(v)) for v in row) + "\n" for row in x))
    return str(path)


def test_softmax_of_a_file_in_csv_equals_the_inline_answer(cli, tmp_path):
    x = RNG.normal(size=(6, 4)) * 6
    x[2, 1] = np.nan
    inline = ";".join(",".join(repr(float(v)) for v in row) for row in x)
    from_file = cli("softmax", _table(tmp_path / "x.csv", x), "-f", "csv", "-q")
    assert from_file.status == 0 and from_file.stdout == cli("softmax", inline, "-f", "csv", "-q").stdout


@pytest.mark.parametrize("options", [[], ["--log"], ["-t", "2.5"], ["--dtype", "float32"]])
def test_dim_0_over_a_file_equals_the_in_memory_answer(cli, tmp_path, options):
    x = RNG.normal(size=(40_000, 3)) * 4  # 2 MB of text: several blocks
    path = _table(tmp_path / "x.csv", x)
    dtype = np.float32 if "float32" in options else np.float64
    temperature = float(options[1]) if "-t" in options else 1.0
    expected = losscli.softmax(x.astype(dtype), dim=0, temperature=temperature, log="--log" in options).value
    # Independent check of the in-memory answer: each column sums to 1 (or logsumexp is 0).
    columns = np.exp(expected.astype(np.float64)) if "--log" in options else expected
    assert np.allclose(columns.sum(axis=0), 1, rtol=1e-4 if dtype == np.float32 else 1e-12)
    done = cli("softmax", path, "--dim", "0", *options, "-f", "json", "-q")
    assert done.status == 0, done.stderr
    got = np.array(json.loads(done.stdout)["value"], dtype=dtype)
    assert np.array_equal(got, expected)  # bit for bit: the same maxima and the same sums in the same order
    piped = cli("softmax", "-", "--dim", "0", *options, "-f", "json", "-q", stdin=(tmp_path / "x.csv").read_bytes())
    assert piped.stdout == done.stdout


def test_dim_0_over_a_file_says_which_columns_are_nan(cli, tmp_path):
    x = RNG.normal(size=(5, 3))
    x[3, 2] = np.inf
    done = cli("softmax", _table(tmp_path / "x.csv", x), "--dim", "0", "-f", "csv")
    inline = cli("softmax", ";".join(",".join(repr(float(v)) for v in row) for row in x), "--dim", "0", "-f", "csv")
    assert done.stdout == inline.stdout
    assert "1 column with inf (first: column 3)" in done.stderr and done.stderr == inline.stderr


def test_dim_0_over_a_big_file_keeps_memory_flat(tmp_path):
    rows = 800_000
    x = np.random.default_rng(4).normal(size=(rows, 4))
    np.save(tmp_path / "big.npy", x)
    # The base is past the first 100k-400k rows, where the allocator's and polars' pools settle
    # (measured: 100k → 400k +8-10 MB, 200k → 800k +1-3 MB).
    np.save(tmp_path / "small.npy", x[:200_000])
    out = str(tmp_path / "out.csv")
    _, peak = peak_kb(["softmax", str(tmp_path / "big.npy"), "--dim", "0", "-f", "csv"], reader="auto", out=out)
    with open(out) as written:
        header, first = written.readline(), written.readline()
    assert header.startswith("row,col,x,exp,sum_exp,softmax")
    top = x.max(axis=0)
    by_hand = np.exp(x[0, 0] - top[0]) / np.exp(x[:, 0] - top[0]).sum()
    assert float(first.split(",")[-1]) == pytest.approx(by_hand, rel=1e-12)
    _, base = peak_kb(["softmax", str(tmp_path / "small.npy"), "--dim", "0", "-f", "csv"], reader="auto", out=out)
    # 600k more rows are 19.2 MB of input alone (and 6 arrays of that size held whole): none of it stays.
    assert peak - base < 8_000, (peak, base)
