"""nll (log-probabilities and class indices) and kl (distributions): PyTorch's golden cases, hand
derivations of the table, streaming, errors and identities."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from losscli import DataError, UsageError, cross_entropy, kl_div, log_softmax, nll_loss

from .golden import assert_matches, case_ids, golden_path, inline_values, load_cases
from .test_huber import table_rows
from tests.memory import peak_kb

MORE_CASES = load_cases(golden_path("torch_cases_more.json"))
NLL_CASES = [case for case in MORE_CASES if case["op"] == "nll"]
KL_CASES = [case for case in MORE_CASES if case["op"] == "kl"]
API = settings(max_examples=60, deadline=None)


def test_the_reference_holds_cases_of_both_losses():
    assert len(NLL_CASES) == 6 and len(KL_CASES) == 6


def _nll_options(case: dict) -> dict:
    options = {"reduction": case.get("reduction", "mean")}
    if "weight" in case:
        options["weight"] = case["weight"]
    if "ignore_index" in case:
        options["ignore_index"] = case["ignore_index"]
    return options


# --- golden: through the API and through --format json --------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", NLL_CASES, ids=case_ids(NLL_CASES))
def test_nll_golden_case_through_the_api(case, dtype):
    result = nll_loss(np.asarray(case["input"], dtype=dtype), case["target"], **_nll_options(case))
    expected = case["expected"][dtype]
    assert result.dtype == dtype
    assert_matches(result.value, expected["value"], dtype)
    assert_matches(result.grad, expected["grad"], dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", NLL_CASES, ids=case_ids(NLL_CASES))
def test_nll_golden_case_through_the_cli(cli, case, dtype):
    options = _nll_options(case)
    argv = ["nll", inline_values(case["input"]), ",".join(map(str, case["target"])), "-r", options["reduction"]]
    if "weight" in options:
        argv += ["--weight", ",".join(map(repr, options["weight"]))]
    if "ignore_index" in options:
        argv += ["--ignore-index", str(options["ignore_index"])]
    run = cli(*argv, "--grad", "--dtype", dtype, "--format", "json")
    assert run.status == 0, run.stderr
    document = json.loads(run.stdout)
    expected = case["expected"][dtype]
    assert document["loss"] == "nll" and document["dtype"] == dtype
    # One row "a,b" is one sample (C,): compare in the expected shape.
    assert_matches(np.reshape(document["value"], np.shape(expected["value"])), expected["value"], dtype)
    assert_matches(np.reshape(document["grad"], np.shape(expected["grad"])), expected["grad"], dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", KL_CASES, ids=case_ids(KL_CASES))
def test_kl_golden_case_through_the_api(case, dtype):
    x, y = (np.asarray(case[key], dtype=dtype) for key in ("input", "target"))
    result = kl_div(x, y, reduction=case.get("reduction", "mean"), log_target=case.get("log_target", False))
    expected = case["expected"][dtype]
    assert result.dtype == dtype
    assert_matches(result.value, expected["value"], dtype)
    assert_matches(result.grad, expected["grad"], dtype)
    # PyTorch's −0.0 where p = 0 (the gradient is −p / D) survives too.
    assert np.array_equal(np.signbit(result.grad), np.signbit(np.asarray(expected["grad"])))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", KL_CASES, ids=case_ids(KL_CASES))
def test_kl_golden_case_through_the_cli(cli, case, dtype):
    log_target = case.get("log_target", False)
    argv = ["kl", inline_values(case["input"]), inline_values(case["target"]), "-r", case.get("reduction", "mean")]
    argv += ["--log-target" if log_target else "--no-log-target", "--grad", "--dtype", dtype, "-f", "json"]
    run = cli(*argv)
    assert run.status == 0, run.stderr
    document = json.loads(run.stdout)
    expected = case["expected"][dtype]
    assert document["dtype"] == dtype and document["log_target"] is log_target
    shape = np.shape(case["input"])
    value = document["value"]
    value = np.reshape(value, shape) if case.get("reduction") == "none" else value
    assert_matches(value, expected["value"], dtype)
    assert_matches(np.reshape(document["grad"], shape), expected["grad"], dtype)


# --- by hand: the table and its derivation ------------------------------------------------------


def test_nll_table_shows_minus_x_at_the_target_and_the_weighted_mean(cli):
    # −x[y]: 0.5 (row 1, class 1) and 0.1 (row 2, class 0); w[y] = 2 and 1, so the terms are 1 and 0.1
    # and the mean is (1 + 0.1) / (2 + 1); the gradient is −w[y] / 3 at the target, 0 elsewhere.
    run = cli("nll", "-1.5,-0.5,-2;-0.1,-3,-2.5", "1,0", "-w", "1,2,0.5", "-g", "-f", "table")
    assert run.status == 0, run.stderr
    body = table_rows(run.stdout)
    assert body[0] == ["row", "log-probs", "y", "−x[y]", "w[y]", "loss", "∂loss/∂x"]
    assert body[1] == ["1", "[-1.5, -0.5, -2]", "1", "0.5", "2", "1", "[0, -0.6667, 0]"]
    assert body[2] == ["2", "[-0.1, -3, -2.5]", "0", "0.1", "1", "0.1", "[-0.3333, 0, 0]"]
    assert "(1 + 0.1) / (2 + 1) = 0.3667   (weighted mean: divided by Σ w[y], as PyTorch)" in run.stdout
    assert run.stdout.startswith("NLL, reduction=mean")


def test_nll_help_example_is_what_the_table_prints(cli, capsys):
    run = cli("nll", "--help")
    text = " ".join((run.stdout + capsys.readouterr().out).split())
    example = re.search(r"Example: losscli nll (\"[^\"]+\") (\S+) → (.+?\)) / 2 = ([\d.]+)", text)
    args, line = [example.group(1).strip('"'), example.group(2)], f"{example.group(3)} / 2 = {example.group(4)}"
    # −x₁[1] = −log 0.7 and −x₂[0] = −log 0.89: real log-probabilities, so no warning either
    assert line == f"({-math.log(0.7):.4g} + {-math.log(0.89):.4g}) / 2 = {-(math.log(0.7) + math.log(0.89)) / 2:.4g}"
    table = cli("nll", *args, "-f", "table")
    assert line in table.stdout.splitlines() and table.stderr == ""


def test_nll_ignored_target_drops_out_of_the_sum_and_the_denominator(cli):
    run = cli("nll", "-1,-2;-3,-0.5;-0.25,-4", "0,1,1", "--ignore-index", "1", "-f", "json", "-g", "-r", "mean")
    document = json.loads(run.stdout)
    assert document["terms"] == [1.0, 0.0, 0.0] and document["value"] == 1.0
    assert document["grad"] == [[-1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]


def test_kl_table_lets_each_term_be_rebuilt_by_hand(cli):
    x, y = [-1.3863, -0.2877, -0.6931, -0.6931], [0.5, 0.5, 0.9, 0.1]
    run = cli("kl", "-1.3863,-0.2877;-0.6931,-0.6931", "0.5,0.5;0.9,0.1", "-r", "batchmean", "-f", "table")
    assert run.status == 0, run.stderr
    body = table_rows(run.stdout)
    assert body[0] == ["row", "col", "x", "y", "p", "log p", "log p−x", "p·(log p−x)"]
    terms = []
    for i, (xi, yi) in enumerate(zip(x, y)):
        log_ratio = math.log(yi) - xi
        terms.append(yi * log_ratio)
        cells = [f"{v:.4g}" for v in (xi, yi, yi, math.log(yi), log_ratio, yi * log_ratio)]
        assert body[1 + i] == [str(i // 2 + 1), str(i % 2 + 1), *cells]
    # batchmean: the sum over the 2 rows, not the 4 elements
    value = f"{sum(terms) / 2:.4g}"
    written = " + ".join(f"{p:g}·{r:.4g}" if r >= 0 else f"{p:g}·({r:.4g})" for p, r in zip(y, (t / p for t, p in zip(terms, y))))
    assert f"({written}) / 2 = {value}" in run.stdout.splitlines()
    assert body[5][0] == "batchmean" and body[5][-1] == value


def test_kl_with_log_target_shows_p_as_e_to_the_target(cli):
    run = cli("kl", "-1,-2", "-0.5,-1.5", "--log-target", "-r", "sum", "-f", "table")
    body = table_rows(run.stdout)
    rows = [[f"{v:.4g}" for v in (x, y, math.exp(y), y, y - x, math.exp(y) * (y - x))] for x, y in ((-1, -0.5), (-2, -1.5))]
    assert [row[1:] for row in body[1:3]] == rows
    assert run.stdout.splitlines()[0] == "KL divergence, reduction=sum, float64, log_target"
    assert "log_target" not in cli("kl", "-1,-2", "0.5,0.5", "-f", "table").stdout.splitlines()[0]


def test_kl_zero_target_gives_zero_not_nan_and_a_zero_gradient(cli):
    document = json.loads(cli("kl", "-0.5,-1", "0,1", "-r", "none", "-g", "-f", "json").stdout)
    assert document["value"] == [0.0, 1.0]  # xlogy(0, 0) − 0·x = 0; 1·(log 1 − (−1)) = 1
    assert document["grad"] == [-0.0, -1.0]


# --- files and stdin -----------------------------------------------------------------------------


def test_nll_streams_a_csv_of_log_probability_columns_and_a_label(cli, write):
    rng = np.random.default_rng(3)
    scores = log_softmax(rng.normal(size=(30, 3)) * 2, axis=1)
    labels = rng.integers(0, 3, size=30)
    names = ["cat", "dog", "bird"]
    text = "cat,dog,bird,label\n" + "".join(
        ",".join(repr(float(v)) for v in row) + f",{names[k]}\n" for row, k in zip(scores, labels)
    )
    path = write("lp.csv", text)
    args = ["-w", "1,2,0.5", "-g", "-f", "json", "-q"]
    from_file = json.loads(cli("nll", path, "--target", "label", *args).stdout)
    from_stdin = json.loads(cli("nll", "--target", "label", *args, stdin=text.encode()).stdout)
    inline = json.loads(cli("nll", inline_values(scores), ",".join(names[k] for k in labels), "--classes", ",".join(names), *args).stdout)
    for document in (from_file, from_stdin):
        document.pop("columns", None)
        assert document == inline
    weights = np.array([1, 2, 0.5])[labels]
    expected = np.sum(-scores[np.arange(30), labels] * weights) / weights.sum()
    assert inline["value"] == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum"])
def test_kl_streams_two_columns_and_two_files_asinline_values(cli, write, reduction):
    rng = np.random.default_rng(8)
    p = rng.dirichlet(np.ones(50))
    x = np.log(rng.dirichlet(np.ones(50)))
    both = write("kl.csv", "x,p\n" + "".join(f"{a!r},{b!r}\n" for a, b in zip(x.tolist(), p.tolist())))
    xs = write("x.csv", "".join(f"{a!r}\n" for a in x.tolist()))
    ps = write("p.csv", "".join(f"{b!r}\n" for b in p.tolist()))
    args = ["-r", reduction, "-g", "-f", "json", "-q"]
    inline = json.loads(cli("kl", inline_values(x), inline_values(p), *args).stdout)
    for argv in (["kl", both, "--pred", "x", "--target", "p"], ["kl", xs, ps]):
        document = json.loads(cli(*argv, *args).stdout)
        document.pop("columns", None)
        assert document == inline
    # One vector: batchmean divides by its length, as PyTorch's size(0), so it equals the mean here.
    expected = np.sum(p * (np.log(p) - x)) / (1 if reduction == "sum" else 50)
    assert inline["value"] == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("loss", ["nll", "kl"])
def test_a_million_rows_stream_in_flat_memory(tmp_path, loss):
    rng = np.random.default_rng(12)
    rows = 1_000_000
    if loss == "nll":
        values = np.round(np.log(rng.dirichlet(np.ones(3), size=rows)), 4)
        labels = rng.integers(0, 3, size=rows)
        table = np.column_stack([values, labels])
        expected = float(np.mean(-values[np.arange(rows), labels]))
        formats = ["%.4f"] * 3 + ["%d"]
    else:
        x, p = np.round(np.log(rng.uniform(0.01, 1, size=rows)), 4), np.round(rng.uniform(0, 1, size=rows), 4)
        table = np.column_stack([x, p])
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = float(np.mean(np.where(p == 0, 0, p * np.log(p)) - p * x))
        formats = ["%.4f"] * 2
    big, small = tmp_path / "big.csv", tmp_path / "small.csv"
    np.savetxt(big, table, fmt=formats, delimiter=",")
    np.savetxt(small, table[:200_000], fmt=formats, delimiter=",")  # several blocks already
    label = ["--target", "4"] if loss == "nll" else []  # no header: the label column is named
    # The numpy reader: the polars one keeps blocks in flight, whose peak moves by ~13 MB between runs.
    (value,), peak = peak_kb([loss, str(big), *label, "-q"], reader="numpy")
    _, base = peak_kb([loss, str(small), *label, "-q"], reader="numpy")
    assert float(value) == pytest.approx(expected, rel=1e-11)
    # Flat: 5 times the rows, the same peak. Read whole, 800k more rows would add 13-26 MB of values alone.
    assert peak - base < 8_000, (peak, base)


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, status, message",
    [
        (["nll", "-1,-2;-0.5,-1", "0,2"], 1, "target row 2: class index 2 is out of range for 2 classes (0 to 1)"),
        (["nll", "-1,-2", "-1"], 1, "target row 1: class index -1 is negative"),
        (["nll", "-1,-2;-1,-3", "0.5,0.5;0.5,0.5"], 1, "target has the shape of the log-probabilities (2, 2)"),
        (["nll", "-1,-2", "1", "--weight", "1,2,3"], 2, "weight has 3 entries but there are 2 classes"),
        (["nll", "-1,-2", "1", "--label-smoothing", "0.1"], 2, "no such option: --label-smoothing"),
        (["nll", "-1,-2", "1", "-r", "batchmean"], 2, "Invalid value for '--reduction'"),
        (["nll", "-1,-2", "dog", "--classes", "cat,dog,bird"], 2, "--classes names 3 classes but the log-probabilities have 2"),
        (["kl", "-1,-2", "0.5,0.5", "--log-target", "1"], 2, "Got unexpected extra argument(s) (1)"),
        (["kl", "-1,-2", "0.5,0.5", "--log-target=yes"], 2, "Option '--log-target' does not take a value"),
        (["kl", "-1,-2", "0.5,0.5", "--weight", "1,2"], 2, "no such option: --weight"),
        (["kl", "-1,-2", "0.5,0.5,0"], 1, "target has 3 values but input has 2"),
        (["kl", "-1,-2", "0.5,0.5", "-r", "average"], 2, "Invalid value for '--reduction'"),
        (["kl", "-1,-2", "0.5,0.5", "--nan-policy", "raise", "--log-target"], 0, ""),
        (["kl", "-1,-2", "-0.5,0.5", "--nan-policy", "raise"], 1, "row 1: a target below 0 has no log"),
    ],
)
def test_mistakes_are_one_line_with_the_exit_status(cli, argv, status, message):
    run = cli(*argv)
    assert run.status == status, run.stderr
    if status:
        assert run.stdout == "" and run.stderr.count("\n") == 1
        assert run.stderr.startswith(f"losscli: error: {message}"), run.stderr


def test_a_computed_nan_is_said_once_and_never_called_an_overflow(cli):
    run = cli("kl", "-1,-2", "-0.5,1.5")
    assert run.stdout == "nan\n"
    assert "made by the computation: a target below 0 has no log" in run.stderr
    assert "overflow" not in run.stderr


def test_the_api_refuses_what_the_loss_does_not_take():
    with pytest.raises(TypeError):
        nll_loss([[-1.0, -2.0]], [0], label_smoothing=0.1)
    with pytest.raises(UsageError, match="reduction must be one of mean, batchmean, sum, none"):
        kl_div([-1.0], [0.5], reduction="average")
    with pytest.raises(DataError, match="class index 3 is out of range for 2 classes"):
        nll_loss([[-1.0, -2.0]], [3])


# --- properties ----------------------------------------------------------------------------------

logits = st.integers(1, 6).flatmap(
    lambda n: st.integers(2, 5).flatmap(
        lambda c: st.tuples(
            hnp.arrays(np.float64, (n, c), elements=st.floats(-30, 30, allow_nan=False)),
            hnp.arrays(np.int64, n, elements=st.integers(0, c - 1)),
            hnp.arrays(np.float64, c, elements=st.floats(0.1, 3)),
        )
    )
)


@API
@given(problem=logits, reduction=st.sampled_from(["mean", "sum", "none"]), weighted=st.booleans(),
       dtype=st.sampled_from(["float64", "float32"]))
def test_nll_of_log_softmax_is_cross_entropy(problem, reduction, weighted, dtype):
    x, y, w = problem
    x = x.astype(dtype)
    weight = w if weighted else None
    a = nll_loss(log_softmax(x, axis=1), y, reduction=reduction, weight=weight)
    b = cross_entropy(x, y, reduction=reduction, weight=weight)
    assert np.asarray(a.value).tobytes() == np.asarray(b.value).tobytes()
    assert a.terms.tobytes() == b.terms.tobytes()
    # The gradients differ by the softmax: ∂nll/∂lp = −w[y]·onehot, ∂xent/∂x = w[y]·(softmax − onehot).
    np.testing.assert_array_equal(a.grad != 0, np.eye(x.shape[1], dtype=bool)[y])


distributions = st.integers(1, 5).flatmap(
    lambda n: st.integers(1, 6).flatmap(
        lambda c: st.tuples(
            hnp.arrays(np.float64, (n, c), elements=st.floats(0, 1)),
            hnp.arrays(np.float64, (n, c), elements=st.floats(1e-6, 1)),
        )
    )
).filter(lambda pq: bool(np.all(pq[0].sum(axis=1) > 0)))


def _normalised(rows):
    return rows / rows.sum(axis=1, keepdims=True)


@API
@given(pq=distributions)
def test_kl_of_true_distributions_is_nonnegative_and_zero_for_equal_ones(pq):
    p, q = (_normalised(rows) for rows in pq)
    value = float(kl_div(np.log(q), p, reduction="sum").value)
    assert value >= -1e-12 * p.shape[0]
    log_p = np.log(np.where(p > 0, p, 1))  # finite where p = 0: there 0·(−inf) is nan, as in PyTorch
    assert float(kl_div(log_p, p, reduction="sum").value) == 0  # p log p − p log p, term by term
    assert float(kl_div(log_p, log_p, reduction="sum", log_target=True).value) == 0


@API
@given(pq=distributions)
def test_batchmean_times_rows_and_mean_times_elements_are_both_the_sum(pq):
    p, q = (_normalised(rows) for rows in pq)
    x = np.log(q)
    total = float(kl_div(x, p, reduction="sum").value)
    batchmean = float(kl_div(x, p, reduction="batchmean").value)
    mean = float(kl_div(x, p, reduction="mean").value)
    n, c = p.shape
    assert batchmean * n == pytest.approx(total, rel=1e-14, abs=1e-300)
    assert mean * n * c == pytest.approx(total, rel=1e-14, abs=1e-300)
    assert batchmean == pytest.approx(mean * c, rel=1e-14, abs=1e-300)
    # A vector is one sample of size(0) = its length: batchmean is the mean there.
    flat_x, flat_p = x.ravel(), p.ravel()
    assert kl_div(flat_x, flat_p, reduction="batchmean").value == kl_div(flat_x, flat_p, reduction="mean").value


@API
@given(pq=distributions, log_target=st.booleans())
def test_kl_gradient_is_minus_p_over_the_denominator(pq, log_target):
    p, q = (_normalised(rows) for rows in pq)
    target = np.log(np.where(p > 0, p, 1)) if log_target else p
    probability = np.exp(target) if log_target else p
    result = kl_div(np.log(q), target, reduction="batchmean", log_target=log_target)
    np.testing.assert_allclose(result.grad, -probability / p.shape[0], rtol=1e-15, atol=0)
