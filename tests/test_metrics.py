"""Metrics beside the loss: every loss declares its set; the numbers agree with scikit-learn's
definitions (computed here, independently), perplexity with PyTorch's golden losses, and the
same numbers come from inline input, files and any block size."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    max_error,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    top_k_accuracy_score,
)

from losscli import cli as losscli_cli
from losscli.losses import (
    POINTWISE_LOSSES,
    CrossEntropyAccumulator,
    NLLAccumulator,
    PointwiseAccumulator,
    cross_entropy,
    elementwise_loss,
    nll_loss,
)
from losscli.losses.metrics import BinaryMetrics, NoMetrics, RegressionMetrics

from .golden import CASES, inline_values

REGRESSION = {"l1", "mse", "huber", "smooth-l1", "poisson-nll", "gaussian-nll"}
BINARY_THRESHOLDS = {"bce": 0.5, "bce-logits": 0.0, "focal": 0.0}
WITHOUT_METRICS = {"kl"}  # a distribution against a distribution: no label, no scale to compare
RNG = np.random.default_rng(11)


def test_every_registered_loss_declares_its_metrics():
    assert REGRESSION | set(BINARY_THRESHOLDS) | WITHOUT_METRICS == set(POINTWISE_LOSSES)
    for name, spec in POINTWISE_LOSSES.items():
        if name in REGRESSION:
            assert isinstance(spec.metrics, RegressionMetrics), name
        elif name in BINARY_THRESHOLDS:
            assert spec.metrics == BinaryMetrics(BINARY_THRESHOLDS[name]), name
        else:
            assert isinstance(spec.metrics, NoMetrics) and spec.metrics.reason, name
    for command in (losscli_cli.XENT, losscli_cli.NLL):
        assert command.accumulator.metrics.reason is None, command.name


def _inputs(name: str, n: int = 200):
    """Valid inputs of each regression loss and the prediction the metrics compare with the target."""
    x, y = RNG.normal(size=n), RNG.normal(size=n) * 2 + 5
    if name == "gaussian-nll":
        return (x, y, RNG.random(n) + 0.1), x, y
    if name == "poisson-nll":
        counts = RNG.poisson(3, size=n).astype(float)
        return (x, counts), np.exp(x), counts  # the log-rate's rate
    return (x, y), x, y


@pytest.mark.parametrize("name", sorted(REGRESSION))
def test_regression_metrics_are_scikit_learns(name):
    inputs, prediction, target = _inputs(name)
    metrics = elementwise_loss(name, *inputs).metrics.values
    assert metrics["mae"] == pytest.approx(mean_absolute_error(target, prediction), rel=1e-13)
    assert metrics["rmse"] == pytest.approx(math.sqrt(mean_squared_error(target, prediction)), rel=1e-13)
    assert metrics["r2"] == pytest.approx(r2_score(target, prediction), rel=1e-12)
    assert metrics["max_error"] == max_error(target, prediction)


def test_poisson_without_log_input_compares_the_rate_as_given():
    rate, counts = RNG.random(50) * 4, RNG.poisson(2, size=50).astype(float)
    metrics = elementwise_loss("poisson-nll", rate, counts, log_input=False).metrics.values
    assert metrics["mae"] == pytest.approx(mean_absolute_error(counts, rate), rel=1e-13)


def test_r2_of_a_constant_target_is_undefined_and_said():
    metrics = elementwise_loss("mse", [1.0, 2.0, 3.0], [0.1, 0.1, 0.1]).metrics
    assert math.isnan(metrics.values["r2"])
    # scikit-learn's mean of three 0.1s misses 0.1 by an ulp, so it divides by ~1e-34 instead of 0.
    assert abs(r2_score([0.1] * 3, [1.0, 2.0, 3.0], force_finite=False)) > 1e30
    assert metrics.notes == ("R² is undefined: every target is 0.1, so Σ(y − ȳ)² = 0",)


def test_r2_streamed_over_a_million_rows_in_uneven_blocks_is_scikit_learns():
    # A large offset makes the naive Σy² − n·ȳ² lose every digit; the chunk merges must not.
    n = 1_000_000
    target = 1e6 + RNG.normal(size=n)
    prediction = target + RNG.normal(size=n) * 0.5
    accumulator = PointwiseAccumulator(POINTWISE_LOSSES["mse"], "mean", keep_rows=0, with_grad=False)
    cuts = [0, 1, 777, 40_000, 123_457, 500_000, 999_999, n]
    for start, stop in zip(cuts, cuts[1:]):
        accumulator.add(prediction[start:stop], target[start:stop])
    got = accumulator.result().metrics.values
    assert got["r2"] == pytest.approx(r2_score(target, prediction), rel=1e-12)
    assert got["rmse"] == pytest.approx(math.sqrt(mean_squared_error(target, prediction)), rel=1e-12)
    whole = elementwise_loss("mse", prediction, target).metrics.values
    assert got == whole  # bit for bit, whatever the blocks


@pytest.mark.parametrize("name, threshold", sorted(BINARY_THRESHOLDS.items()))
def test_binary_accuracy_is_scikit_learns(name, threshold):
    scores = RNG.random(300) if threshold == 0.5 else RNG.normal(size=300)
    labels = (RNG.random(300) < 0.4).astype(float)
    metrics = elementwise_loss(name, scores, labels).metrics.values
    assert metrics == {"accuracy": accuracy_score(labels, scores > threshold)}


def test_binary_accuracy_is_absent_for_soft_targets_and_says_why():
    metrics = elementwise_loss("bce", [0.8, 0.3, 0.6], [1, 0, 0.7]).metrics
    assert metrics.values == {}
    assert metrics.notes == ("no accuracy: it needs targets of 0 or 1, and 1 is not (first: row 3, 0.7)",)


def _logits(n=300, classes=5):
    return RNG.normal(size=(n, classes)), RNG.integers(0, classes, size=n)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_class_accuracy_and_top_k_are_scikit_learns(k):
    logits, labels = _logits()
    metrics = cross_entropy(logits, labels, top_k=k).metrics
    assert metrics.values["accuracy"] == accuracy_score(labels, logits.argmax(axis=1))
    assert metrics.top_k == k
    expected = top_k_accuracy_score(labels, logits, k=k, labels=range(5))
    assert metrics.values["top_k_accuracy"] == pytest.approx(expected, abs=1e-15)


def test_ties_go_to_the_lower_class_as_argmax_so_top_1_is_the_accuracy():
    # Row [2, 2, −0.5] with target 1: argmax says 0 (wrong); class 1 is second, so in the top 2.
    metrics = cross_entropy([[2, 2, -0.5]], [1], top_k=1).metrics.values
    assert metrics["accuracy"] == metrics["top_k_accuracy"] == 0.0
    assert cross_entropy([[2, 2, -0.5]], [1], top_k=2).metrics.values["top_k_accuracy"] == 1.0


def test_ignored_targets_are_left_out_of_every_metric():
    logits, labels = _logits(100, 4)
    labels[::3] = -100
    kept = labels != -100
    metrics = cross_entropy(logits, labels, top_k=2).metrics.values
    lp = logits[kept] - np.log(np.exp(logits[kept]).sum(axis=1, keepdims=True))
    mean_nll = -lp[np.arange(kept.sum()), labels[kept]].mean()
    assert metrics["accuracy"] == accuracy_score(labels[kept], logits[kept].argmax(axis=1))
    assert metrics["top_k_accuracy"] == pytest.approx(top_k_accuracy_score(labels[kept], logits[kept], k=2, labels=range(4)))
    assert metrics["perplexity"] == pytest.approx(math.exp(mean_nll), rel=1e-13)
    assert metrics["bits_per_token"] == pytest.approx(mean_nll / math.log(2), rel=1e-13)


def test_perplexity_does_not_depend_on_weight_or_label_smoothing():
    logits, labels = _logits(50, 3)
    plain = cross_entropy(logits, labels).metrics.values
    dressed = cross_entropy(logits, labels, weight=[1, 5, 0.1], label_smoothing=0.2).metrics.values
    assert dressed == plain


XENT_GOLDEN = [c for c in CASES if c["op"] == "xent" and "weight" not in c and "label_smoothing" not in c]


@pytest.mark.parametrize("case", XENT_GOLDEN, ids=[c["id"] for c in XENT_GOLDEN])
def test_perplexity_is_exp_of_pytorchs_unweighted_mean_cross_entropy(case):
    expected = case["expected"]["float64"]["value"]
    ignore = case.get("ignore_index", -100)
    target = np.asarray(case["target"])
    counted = target.shape[0] if case["target_kind"] == "probs" else int(np.sum(np.atleast_1d(target) != ignore))
    mean = {"mean": expected, "sum": expected / counted}.get(case["reduction"])
    if mean is None:
        mean = float(np.sum(expected)) / counted
    metrics = cross_entropy(case["input"], case["target"], ignore_index=ignore).metrics.values
    assert metrics["perplexity"] == pytest.approx(math.exp(mean), rel=1e-12)
    assert metrics["bits_per_token"] == pytest.approx(mean / math.log(2), rel=1e-12)


def test_probability_targets_score_the_argmax_of_the_target():
    logits, _ = _logits(60, 4)
    target = RNG.dirichlet(np.ones(4), size=60)
    metrics = cross_entropy(logits, target, top_k=2).metrics.values
    assert metrics["accuracy"] == accuracy_score(target.argmax(axis=1), logits.argmax(axis=1))
    assert metrics["top_k_accuracy"] == pytest.approx(
        top_k_accuracy_score(target.argmax(axis=1), logits, k=2, labels=range(4)))
    lp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert metrics["perplexity"] == pytest.approx(math.exp(-(target * lp).sum(axis=1).mean()), rel=1e-12)


def test_nll_perplexity_is_exp_of_the_mean_negative_log_probability():
    log_probabilities = np.log(RNG.dirichlet(np.ones(3), size=40))
    labels = RNG.integers(0, 3, size=40)
    metrics = nll_loss(log_probabilities, labels, weight=[1, 2, 3]).metrics.values
    assert metrics["perplexity"] == pytest.approx(math.exp(-log_probabilities[np.arange(40), labels].mean()), rel=1e-13)
    assert metrics["accuracy"] == accuracy_score(labels, log_probabilities.argmax(axis=1))


def test_nan_omit_leaves_the_rows_out_and_propagate_makes_every_metric_nan():
    x, y = RNG.normal(size=20), RNG.normal(size=20)
    x[[3, 11]] = np.nan
    omitted = elementwise_loss("mse", x, y, nan_policy="omit").metrics.values
    assert omitted == elementwise_loss("mse", x[~np.isnan(x)], y[~np.isnan(x)]).metrics.values
    assert all(math.isnan(v) for v in elementwise_loss("mse", x, y).metrics.values.values())
    logits, labels = _logits(20, 3)
    logits[5, 1] = np.nan
    values = cross_entropy(logits, labels, top_k=2).metrics.values
    assert all(math.isnan(v) for v in values.values())
    kept = np.arange(20) != 5
    assert (cross_entropy(logits, labels, nan_policy="omit").metrics.values
            == cross_entropy(logits[kept], labels[kept]).metrics.values)
    assert math.isnan(elementwise_loss("bce-logits", [0.5, np.nan], [1, 0]).metrics.values["accuracy"])


# --- the command line ---------------------------------------------------------------------------


def _metrics_of(cli, *argv):
    run = cli(*argv, "-f", "json")
    assert run.status == 0, run.stderr
    return json.loads(run.stdout).get("metrics")


def test_json_keys_per_family(cli):
    assert list(_metrics_of(cli, "mse", "2,3,4,5", "4,5,6,7.5")) == ["mae", "rmse", "r2", "max_error"]
    assert list(_metrics_of(cli, "bce", "0.8,0.3", "1,0")) == ["accuracy"]
    assert list(_metrics_of(cli, "xent", "1,2,0.5;0.1,-1,3", "1,2", "--top-k", "2")) == [
        "accuracy", "top_k", "top_k_accuracy", "perplexity", "bits_per_token"]
    assert list(_metrics_of(cli, "nll", "-1.5,-0.5,-2;-0.1,-3,-2.5", "1,0")) == ["accuracy", "perplexity", "bits_per_token"]
    assert _metrics_of(cli, "kl", "-1.39,-0.29", "0.5,0.5") is None
    assert "metrics" not in cli("softmax", "1,2", "-f", "json").stdout


def test_json_writes_a_non_finite_metric_as_null(cli):
    document = json.loads(cli("mse", "1,2,3", "0.1,0.1,0.1", "-f", "json").stdout)
    assert document["metrics"]["r2"] is None
    assert document["metrics_notes"] == ["R² is undefined: every target is 0.1, so Σ(y − ȳ)² = 0"]


def test_table_footer_rounds_like_the_table(cli):
    # MAE = (2 + 2 + 2 + 2.5)/4; RMSE = √(18.25/4); R² = 1 − 18.25/Σ(y − 5.625)² = 1 − 18.25/6.6875.
    lines = cli("mse", "2,3,4,5", "4,5,6,7.5", "-f", "table").stdout.splitlines()
    r2 = 1 - 18.25 / 6.6875
    assert lines[-1] == f"metrics: MAE 2.125, RMSE {math.sqrt(18.25 / 4):.4g}, R² {r2:.4g}, max error 2.5"
    xent = cli("xent", "1,2,3,4", "3", "-f", "table", "--digits", "3").stdout.splitlines()
    nll = math.log(sum(math.exp(v) for v in (1, 2, 3, 4))) - 4
    assert xent[-1] == f"metrics: accuracy 1, perplexity {math.exp(nll):.3g}, bits/token {nll / math.log(2):.3g}"


def test_plain_metrics_are_key_tab_value_lines_after_the_value(cli):
    run = cli("mse", "2,3,4,5", "4,5,6,7.5", "--metrics", "-f", "plain")
    lines = run.stdout.splitlines()
    assert lines[0] == "4.5625"
    assert dict(line.split("\t") for line in lines[1:]) == {
        "mae": "2.125", "rmse": repr(math.sqrt(18.25 / 4)), "r2": repr(1 - 18.25 / 6.6875), "max_error": "2.5"}
    assert cli("mse", "2,3,4,5", "4,5,6,7.5").stdout == "4.5625\n"  # only when asked


def test_csv_metrics_are_rows_after_the_reduction_row(cli):
    lines = cli("xent", "1,2,0.5;0.1,-1,3", "1,0", "--metrics", "--top-k", "2", "-f", "csv").stdout.splitlines()
    header = lines[0].split(",")
    assert lines[3].startswith("mean,")
    rows = [line.split(",") for line in lines[4:]]
    assert [row[0] for row in rows] == ["accuracy", "top_k", "top_k_accuracy", "perplexity", "bits_per_token"]
    assert all(row[header.index("loss")] and len(row) == len(header) for row in rows)
    assert rows[0][header.index("loss")] == "0.5" and rows[1][header.index("loss")] == "2"


def test_metrics_refused_where_they_would_mix_with_rows_or_do_not_exist(cli):
    for fmt in ("plain", "csv"):
        run = cli("mse", "1,2", "3,4", "-r", "none", "--metrics", "-f", fmt)
        assert run.status == 2 and run.stdout == "" and "--reduction none" in run.stderr
    run = cli("kl", "-1.39,-0.29", "0.5,0.5", "--metrics")
    assert run.status == 2 and run.stderr.startswith("losscli: error: --metrics: kl has no metrics")
    assert cli("softmax", "1,2", "--metrics").status == 2
    run = cli("xent", "1,2,3", "1", "--top-k", "4")
    assert (run.status, run.stderr) == (2, "losscli: error: --top-k 4 is more than the 3 classes\n")
    assert cli("mse", "1,2", "3,4", "-r", "none", "--metrics", "-f", "json").status == 0


def test_metrics_streamed_from_a_file_equal_the_inline_ones(cli, write, monkeypatch):
    n = 120_000  # about 3 MB: several blocks of the reader
    prediction, target = RNG.normal(size=n).round(6), (RNG.normal(size=n) * 3 + 100).round(6)
    path = write("r.csv", "pred,target\n" + "".join(f"{a!r},{b!r}\n" for a, b in zip(prediction.tolist(), target.tolist())))
    inline = elementwise_loss("mse", prediction, target).metrics.to_dict()["metrics"]
    assert _metrics_of(cli, "mse", path) == inline
    monkeypatch.setenv("LOSSCLI_READER", "numpy")
    assert _metrics_of(cli, "mse", path) == inline
    lines = cli("mse", path, "--metrics", "-f", "plain").stdout.splitlines()
    assert {k: float(v) for k, v in (line.split("\t") for line in lines[1:])} == inline
    assert inline["r2"] == pytest.approx(r2_score(target, prediction), rel=1e-12)


def test_class_metrics_streamed_from_a_file_equal_the_inline_ones(cli, write):
    logits, labels = _logits(3000, 3)
    logits = logits.round(4)
    labels[::7] = -100
    path = write("x.csv", "a,b,c,label\n" + "".join(
        f"{a},{b},{c},{y}\n" for (a, b, c), y in zip(logits.tolist(), labels.tolist())))
    inline = cross_entropy(logits, labels, top_k=2).metrics.to_dict()["metrics"]
    assert _metrics_of(cli, "xent", path, "--target", "label", "--top-k", "2") == inline
    accumulator = CrossEntropyAccumulator("mean", top_k=2)
    for start in range(0, 3000, 701):
        accumulator.add(logits[start:start + 701], labels[start:start + 701])
    assert accumulator.result().metrics.to_dict()["metrics"] == inline
    nll = NLLAccumulator("sum", with_metrics=False)
    nll.add(np.log(np.full((2, 2), 0.5)), np.array([0, 1]))
    assert nll.result().metrics is None


def test_streamed_csv_with_gradient_ends_with_the_metric_rows(cli, write):
    path = write("r.csv", "pred,target\n2,4\n3,5\n4,6\n5,7.5\n")
    lines = cli("mse", path, "--grad", "--metrics", "-f", "csv").stdout.splitlines()
    assert [line.split(",")[0] for line in lines[-5:]] == ["mean", "mae", "rmse", "r2", "max_error"]
    assert lines[-4] == "mae,,,,2.125,"
