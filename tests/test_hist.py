"""--hist: the terms' histogram counted while streaming, against numpy.histogram of terms computed
here, the top-1 % share against a sort, its bounds past the exact limit, and flat memory."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from losscli.histogram import TermHistogram, choose_edges

from .conftest import run_cli
from tests.memory import peak_kb


def _check_counts(histogram: dict, terms: np.ndarray) -> None:
    """Counts, under/overflow and nan as numpy counts ``terms`` on the reported edges."""
    edges = np.array(histogram["edges"])
    finite = terms[~np.isnan(terms)]
    inside = finite[(finite >= edges[0]) & (finite <= edges[-1])]
    assert histogram["counts"] == np.histogram(inside, edges)[0].tolist()
    assert histogram["underflow"] == int((finite < edges[0]).sum())
    assert histogram["overflow"] == int((finite > edges[-1]).sum())
    assert histogram["nan"] == int(np.isnan(terms).sum())
    assert sum(histogram["counts"]) + histogram["underflow"] + histogram["overflow"] + histogram["nan"] == terms.size


def _top_share(terms: np.ndarray) -> float:
    k = math.ceil(terms.size / 100)
    return float(np.sort(terms)[-k:].sum() / terms.sum())


def test_streamed_file_counts_equal_numpy_histogram_and_the_edges_come_from_the_first_block(write):
    rng = np.random.default_rng(7)
    rows = 150_000  # several reading blocks, with a heavier tail later so some terms overflow
    y = rng.normal(size=rows)
    y_hat = y + rng.normal(size=rows) * np.where(np.arange(rows) < rows // 2, 1.0, 3.0)
    text = "y_hat,y\n" + "\n".join(f"{a!r},{b!r}" for a, b in zip(y_hat.tolist(), y.tolist())) + "\n"
    path = write("big.csv", text)
    run = run_cli("mse", path, "--pred", "y_hat", "--target", "y", "--hist", "-f", "json", "-q")
    assert run.status == 0, run.stderr
    document = json.loads(run.stdout)
    histogram = document["histogram"]
    terms = (y_hat - y) ** 2
    _check_counts(histogram, terms)
    assert histogram["overflow"] > 0  # the first block did not see the largest terms
    assert histogram["top"]["terms"] == 1500
    assert histogram["top"]["share"] == pytest.approx(_top_share(terms), rel=1e-9)


def test_omitted_rows_are_not_counted_and_nan_terms_are(cli):
    omitted = json.loads(cli("l1", "1,nan,3,4,10", "0,0,0,nan,0", "--nan-policy", "omit", "--hist", "-f", "json").stdout)
    assert omitted["n"] == 3
    _check_counts(omitted["histogram"], np.array([1.0, 3.0, 10.0]))
    kept = json.loads(cli("l1", "1,nan,3,4,10", "0,0,0,nan,0", "--hist", "-f", "json").stdout)
    _check_counts(kept["histogram"], np.array([1.0, np.nan, 3.0, np.nan, 10.0]))
    assert kept["histogram"]["top"]["share"] == pytest.approx(10 / 14)


def test_class_loss_histogram_counts_its_samples(cli):
    logits = np.array([[1, 2, 0.5], [0.1, -1, 3], [2, 2, -0.5], [0, 5, 0]])
    target = np.array([1, 2, 0, 0])
    run = cli("xent", ";".join(",".join(map(str, r)) for r in logits), ",".join(map(str, target)), "--hist", "-f", "json")
    document = json.loads(run.stdout)
    shifted = logits - logits.max(axis=1, keepdims=True)
    terms = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(4), target]
    _check_counts(document["histogram"], terms)
    assert document["histogram"]["top"]["share"] == pytest.approx(terms.max() / terms.sum())


def test_ignored_targets_are_not_terms_of_the_histogram(cli, write):
    # An ignored target's row has no term (PyTorch gives it 0 and no share of the mean): counting
    # it would put a spike at 0 and raise the top share.
    logits = np.array([[1, 2, 0.5], [0.1, -1, 3], [0, 0, 0], [1, 1, 1], [2, 0, 1]])
    target = np.array([1, -100, 2, -100, 0])
    kept = target != -100
    shifted = logits - logits.max(axis=1, keepdims=True)
    terms = (np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(5), np.where(kept, target, 0)])[kept]
    inline = cli("xent", ";".join(",".join(map(str, r)) for r in logits), ",".join(map(str, target)), "--hist", "-f", "json")
    path = write("x.csv", "a,b,c,label\n" + "".join(f"{a},{b},{c},{y}\n" for (a, b, c), y in zip(logits.tolist(), target)))
    streamed = cli("xent", path, "--target", "label", "--hist", "-f", "json")
    for run in (inline, streamed):
        histogram = json.loads(run.stdout)["histogram"]
        _check_counts(histogram, terms)
        assert sum(histogram["counts"]) == 3
        assert histogram["top"]["share"] == pytest.approx(terms.max() / terms.sum())


def test_table_draws_the_histogram_under_the_table_and_the_top_share_line(cli):
    run = cli("mse", "0,0,0,0,0,0,0,0,0,10", "0,0,0,0,0,0,0,0,0,0", "--hist", "--format", "table")
    lines = run.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("histogram of the 10 terms"))
    assert start > next(i for i, line in enumerate(lines) if "= 10" in line)  # after the derivation
    bins = lines[start + 1:-1]
    assert bins[0].split()[:3] == ["[0,", "25)", "9"] and bins[-1].split()[:3] == ["[75,", "100]", "1"]
    assert lines[-1] == "the top 1% of terms (1) hold 100.0% of the total loss"


@pytest.mark.parametrize("fmt", ["csv", "plain"])
def test_hist_where_it_has_no_place_is_a_usage_error(cli, fmt):
    run = cli("mse", "1,2", "3,4", "--hist", "-f", fmt)
    assert run.status == 2 and "--format table or --format json" in run.stderr and run.stdout == ""


def test_negative_terms_have_no_share(cli):
    # gaussian-nll terms are negative when the variance is small and the error 0 (log σ² < 0).
    run = cli("gaussian-nll", "1,2", "1,2", "0.1,0.1", "--hist", "-f", "json")
    top = json.loads(run.stdout)["histogram"]["top"]
    assert top["share"] is None and "negative" in top["why_none"]


def test_edges_are_log_spaced_for_terms_spanning_decades_and_linear_otherwise():
    edges, spacing = choose_edges(np.array([0.0, 1e-5, 0.1, 3.0, 4e3]))
    assert spacing == "log" and edges[0] == 0 and edges[-1] == 4e3
    ratios = edges[2:] / edges[1:-1]
    np.testing.assert_allclose(ratios, ratios[0])
    edges, spacing = choose_edges(np.array([-2.0, 0.5, 3.0]))
    assert spacing == "linear" and edges[0] == -2 and edges[-1] == 3
    np.testing.assert_allclose(np.diff(edges), np.diff(edges)[0])


@pytest.mark.parametrize("seed", range(5))
def test_past_the_exact_limit_the_share_is_bounded_by_the_histogram(seed):
    rng = np.random.default_rng(seed)
    terms = rng.pareto(1.5, size=20_000)
    histogram = TermHistogram(exact_limit=50)  # the top 1 % is 200 terms: more than kept
    for block in np.array_split(terms, 7):
        histogram.observe(block)
    top = histogram.summary().top
    assert not top.exact
    assert top.low <= _top_share(terms) <= top.high
    exact = TermHistogram(exact_limit=200)
    for block in np.array_split(terms, 7):
        exact.observe(block)
    assert exact.summary().top.low == pytest.approx(_top_share(terms), rel=1e-12)


def test_memory_stays_flat_with_hist_on_a_million_rows(tmp_path):
    path = tmp_path / "million.csv"
    rng = np.random.default_rng(3)
    block = "".join(f"{a:.3f},{b:.3f}\n" for a, b in rng.normal(size=(10_000, 2)).tolist())
    path.write_text("y_hat,y\n" + block * 100)  # 1M rows
    argv = ["mse", str(path), "--pred", "y_hat", "--target", "y", "-f", "table", "-q"]
    _, without = peak_kb(argv)
    _, with_hist = peak_kb([*argv, "--hist"])
    # The kept largest terms are at most 100,000 float64 (0.8 MB); the input is ~14 MB of text
    # and 16 MB of numbers, so memory proportional to it would show as tens of MB more.
    assert with_hist - without < 8_000, (without, with_hist)
