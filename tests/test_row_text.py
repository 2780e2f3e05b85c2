"""Per-row output formatted in bulk (csv_text: polars or repr of a list) is byte for byte what
Python's ``repr`` writes a value at a time, for every spelling a float64 can take.

Expectations are ``repr`` of each value (Python's shortest round-trip text) and numpy's own
arithmetic on the inputs, never losscli's output.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from losscli import csv_text, render
from losscli.losses import POINTWISE_LOSSES, PointwiseAccumulator

RNG = np.random.default_rng(12)
POWERS = 10.0 ** np.arange(-12, 18)


def edge_floats() -> np.ndarray:
    """Every spelling: signed zeros, nan, infinities, subnormals, the exponent switches of repr
    (1e-4, 1e16) and polars' (1e-5, 1e-9, 1e-10) with their neighbours, sums that do not round."""
    special = [0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-310,
               1.7976931348623157e308, 0.1 + 0.2, 1e16, 1e16 + 2, 9999999999999998.0, 123456789012345680.0,
               1.0, -1.5, 100.0, 2.5e-07, 5.6e-05, 1e-09, 1.5e-09]
    near = np.concatenate([POWERS, np.nextafter(POWERS, 0), np.nextafter(POWERS, np.inf)])
    spread = RNG.normal(size=3000) * 10.0 ** RNG.integers(-320, 300, size=3000)
    tiny = RNG.normal(size=3000) * 10.0 ** RNG.integers(-11, -3, size=3000)  # gradients of a mean
    values = np.concatenate([special, near, -near, spread, tiny])
    return RNG.permutation(values)


@pytest.mark.parametrize("use_polars", [True, False])
def test_plain_lines_are_the_repr_of_each_value(use_polars):
    values = edge_floats()
    expected = "".join(repr(v) + "\n" for v in values.tolist())
    assert "".join(csv_text.plain_text(values, use_polars=use_polars)) == expected
    for spelling in ("-0.0\n", "nan\n", "inf\n", "5e-324\n", "1e+16\n", "0.30000000000000004\n", "5.6e-05\n", "1e-09\n"):
        assert spelling in expected  # the case is exercised


@pytest.mark.parametrize("use_polars", [True, False])
def test_plain_rows_are_tab_separated_reprs(use_polars):
    values = edge_floats()[:6000].reshape(-1, 3)
    expected = "".join("\t".join(map(repr, row)) + "\n" for row in values.tolist())
    assert "".join(csv_text.plain_text(values, use_polars=use_polars)) == expected


def test_plain_text_declines_what_it_cannot_spell():
    assert csv_text.plain_text(np.float32([1.5, 2.5])) is None  # float32's shortest text differs
    assert csv_text.plain_text(np.zeros((2, csv_text.WIDE + 1))) is None


def test_write_lines_and_rows_match_repr_at_any_size():
    # Small arrays take repr without importing polars, big ones polars when installed: same bytes.
    for n in (1, 7, csv_text.FEW_ROWS + 5):
        values = edge_floats()[:n]
        out = io.StringIO()
        render.write_lines(out, values, "float64")
        assert out.getvalue() == "".join(repr(v) + "\n" for v in values.tolist())


def _mse_block(pred: np.ndarray, target: np.ndarray, reduction: str):
    accumulator = PointwiseAccumulator(POINTWISE_LOSSES["mse"], reduction=reduction, keep_rows=0, with_grad=True)
    return accumulator, accumulator.add_block(pred, target)


@pytest.mark.parametrize("use_polars", [True, False])
def test_csv_with_gradient_is_the_csv_writers_text(use_polars):
    pred, target = edge_floats()[:5000], RNG.normal(size=5000)
    _, part = _mse_block(pred, target, "sum")
    general = io.StringIO()
    csv.writer(general, lineterminator="\n").writerows(render.csv_rows(part, show_grad=True))
    fast = "".join(csv_text.csv_text(part, use_polars=use_polars, grad=part.grad_rows()))
    assert fast == general.getvalue()
    first = next(csv.reader(io.StringIO(fast)))
    assert first[-1] == repr(float(2 * (pred[0] - target[0])))  # the gradient of a sum, by hand


def _file(tmp_path, pred, target) -> str:
    path = tmp_path / "pt.csv"
    path.write_text("p,t\n" + "".join(f"{a!r},{b!r}\n" for a, b in zip(pred.tolist(), target.tolist())))
    return str(path)


@pytest.mark.parametrize("reader", ["auto", "numpy"])
def test_a_file_streams_exact_terms_and_mean_gradients(cli, tmp_path, monkeypatch, reader):
    monkeypatch.setenv("LOSSCLI_READER", reader)
    n = 3 * csv_text.FEW_ROWS  # big enough for polars' writer when it is installed
    pred, target = RNG.normal(size=n), RNG.normal(size=n)
    pred[:3] = [0.1 + 0.2, -0.0, 1e-200]
    target[:3] = [0.0, 0.0, 0.0]
    path = _file(tmp_path, pred, target)
    diff = pred - target

    plain = cli("mse", path, "-r", "none", "-f", "plain", "-q")
    assert plain.status == 0, plain.stderr
    assert plain.stdout == "".join(repr(v) + "\n" for v in (diff * diff).tolist())

    done = cli("mse", path, "--grad", "-f", "csv", "-q")
    assert done.status == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[0][-1] == "grad" and len(rows) == n + 2  # header, a row each, the mean's row
    # d(mean)/dp = 2 (p - t) / n, as the gradient of the mean is written: the term's grad over n.
    assert [r[-1] for r in rows[1:-1]] == list(map(repr, (2 * diff / n).tolist()))


@pytest.mark.parametrize("workers", ["2", "0"])
def test_without_polars_big_blocks_are_formatted_by_workers_as_repr(monkeypatch, workers):
    # The default install formats pieces of a big block on worker processes (parse_worker).
    monkeypatch.setenv("LOSSCLI_WORKERS", workers)
    values = np.resize(edge_floats(), 2 * csv_text.WORKER_LINES + 123)
    lines = "".join(csv_text.plain_text(values, use_polars=False))
    assert lines == "".join(repr(v) + "\n" for v in values.tolist())
    rows = np.resize(edge_floats(), (2 * csv_text.WORKER_LINES + 7, 3))  # past the threshold as rows, too
    expected = "".join("\t".join(map(repr, row)) + "\n" for row in rows.tolist())
    assert "".join(csv_text.plain_text(rows, use_polars=False)) == expected


def test_a_dead_worker_leaves_the_text_to_the_main_process(monkeypatch):
    from concurrent.futures import Future

    from losscli import parse_worker

    def broken(*args):
        future = Future()
        future.set_exception(RuntimeError("a worker was killed"))
        return future

    monkeypatch.setattr(parse_worker, "submit", broken)
    values = np.resize(edge_floats(), 2 * csv_text.WORKER_LINES)
    assert "".join(csv_text.plain_text(values, use_polars=False)) == "".join(repr(v) + "\n" for v in values.tolist())
