"""poisson-nll and gaussian-nll: PyTorch's golden cases, hand derivations, files, memory, errors, identities."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from losscli import gaussian_nll, mse, poisson_nll

from .golden import assert_matches, case_ids, golden_path, inline_values, load_cases
from .test_huber import table_rows
from tests.memory import peak_kb

CASES = [case for case in load_cases(golden_path("torch_cases_more.json")) if case["op"] in ("poisson-nll", "gaussian-nll")]
API = settings(max_examples=60, deadline=None)
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def test_the_reference_holds_both_losses():
    assert sorted(case["op"] for case in CASES) == ["gaussian-nll"] * 6 + ["poisson-nll"] * 6


def _switches(case: dict) -> dict:
    if case["op"] == "poisson-nll":
        return {"log_input": case.get("log_input", True), "full": case.get("full", False)}
    return {"full": case.get("full", False)}


def _api(case: dict, dtype: str):
    x = np.asarray(case["input"], dtype=dtype)
    y = np.asarray(case["target"], dtype=dtype)
    reduction = case.get("reduction", "mean")
    if case["op"] == "poisson-nll":
        return poisson_nll(x, y, reduction=reduction, **_switches(case))
    return gaussian_nll(x, y, np.asarray(case["var"], dtype=dtype), reduction=reduction, **_switches(case))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_golden_case_through_the_api(case, dtype):
    result = _api(case, dtype)
    expected = case["expected"][dtype]
    assert result.dtype == dtype
    assert_matches(result.value, expected["value"], dtype)
    assert_matches(result.grad, expected["grad"], dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_golden_case_through_the_cli(cli, case, dtype):
    argv = [case["op"], inline_values(case["input"]), inline_values(case["target"])]
    if case["op"] == "gaussian-nll":
        argv.append(inline_values(case["var"]))
    for name, on in _switches(case).items():
        argv.append(f"--{'' if on else 'no-'}{name.replace('_', '-')}")
    run = cli(*argv, "-r", case.get("reduction", "mean"), "--grad", "--dtype", dtype, "--format", "json")
    assert run.status == 0, run.stderr
    document = json.loads(run.stdout)
    expected = case["expected"][dtype]
    assert document["dtype"] == dtype
    for name, on in _switches(case).items():
        assert document[name] is on
    assert_matches(np.reshape(document["value"], np.shape(expected["value"])), expected["value"], dtype)
    assert_matches(np.reshape(document["grad"], np.shape(expected["grad"])), expected["grad"], dtype)


# --- by hand ----------------------------------------------------------------------------------


def test_poisson_table_shows_e_to_the_x_and_y_times_x(cli):
    # x = 0, 1, 2; y = 1, 0, 3: e^x − y·x = 1 − 0, e − 0, e² − 6; gradient (e^x − y) / 3
    run = cli("poisson-nll", "0,1,2", "1,0,3", "--grad", "-f", "table")
    assert run.status == 0, run.stderr
    body = table_rows(run.stdout)
    assert body[0] == ["row", "x", "y", "e^x", "y·x", "nll", "∂loss/∂x"]
    assert body[1:4] == [["1", "0", "1", "1", "0", "1", "0"], ["2", "1", "0", "2.718", "0", "2.718", "0.9061"],
                         ["3", "2", "3", "7.389", "6", "1.389", "1.463"]]
    mean = (1 + math.e + math.exp(2) - 6) / 3
    assert f"[(1−0) + (2.718−0) + (7.389−6)] / 3 = {mean:.4g}" in run.stdout.splitlines()


def test_poisson_full_without_log_input_shows_the_log_and_the_stirling_term(cli):
    # x = 2, y = 3 (rate 2): 2 − 3·log 2 plus the Stirling term 3·log 3 − 3 + ½log 6π (y > 1);
    # x = 1, y = 1: 1 − 1·log(1 + 1e-8) ≈ 1 − 1e-8 and no Stirling term (y ≤ 1)
    run = cli("poisson-nll", "2,1", "3,1", "--no-log-input", "--full", "-r", "sum", "-f", "table")
    assert run.status == 0, run.stderr
    body = table_rows(run.stdout)
    assert body[0] == ["row", "x", "y", "y·log(x+ε)", "stirling", "nll"]
    stirling = 3 * math.log(3) - 3 + 0.5 * math.log(6 * math.pi)
    first = 2 - 3 * math.log(2) + stirling
    assert body[1] == ["1", "2", "3", f"{3 * math.log(2):.4g}", f"{stirling:.4g}", f"{first:.4g}"]
    assert body[2] == ["2", "1", "1", "1e-08", "0", "1"]
    line = f"[(2−{3 * math.log(2):.4g}+{stirling:.4g}) + (1−1e-08+0)] = {first + 1:.4g}"
    assert line in run.stdout.splitlines()


def test_gaussian_table_shows_the_difference_the_clamped_var_and_the_term(cli):
    # d = −2 each; var 1, 0 (clamped to ε = 0.5), 4: ½(log v + 4/v); gradient d / v / 3
    run = cli("gaussian-nll", "2,3,4", "4,5,6", "1,0,4", "--eps", "0.5", "--grad", "-f", "table")
    assert run.status == 0, run.stderr
    body = table_rows(run.stdout)
    assert body[0] == ["row", "ŷ", "y", "σ²", "ŷ−y", "v=max(σ²,ε)", "nll", "∂loss/∂ŷ"]
    terms = [0.5 * (math.log(v) + 4 / v) for v in (1, 0.5, 4)]
    assert body[2] == ["2", "3", "5", "0", "-2", "0.5", f"{terms[1]:.4g}", f"{-2 / 0.5 / 3:.4g}"]
    mean = sum(terms) / 3
    line = f"[½(log 1+(-2)²/1) + ½(log 0.5+(-2)²/0.5) + ½(log 4+(-2)²/4)] / 3 = {mean:.4g}"
    assert line in run.stdout.splitlines()
    full = cli("gaussian-nll", "2", "4", "1", "--full", "-f", "json").stdout
    assert json.loads(full)["value"] == pytest.approx(2 + HALF_LOG_2PI, rel=1e-15)


# --- files ------------------------------------------------------------------------------------


def test_files_stream_to_the_inline_answer(cli, write):
    x, y, var = [0.5, -1.25, 2.0, 0.0], [1.0, 0.0, 3.0, 2.0], [0.5, 2.0, 1e-9, 3.0]
    rows = lambda *columns: "".join(",".join(repr(v) for v in row) + "\n" for row in zip(*columns))
    inline = [",".join(map(repr, values)) for values in (x, y, var)]
    rates = [abs(v) for v in x]  # a rate is never negative (losscli.mistakes stops a negative one)
    for args, first in ((["--full"], x), (["--no-log-input", "-r", "sum"], rates)):
        expected = cli("poisson-nll", ",".join(map(repr, first)), inline[1], *args, "-f", "json").stdout
        two = write("two.csv", rows(first, y))
        assert json.loads(cli("poisson-nll", two, *args, "-f", "json").stdout)["value"] == json.loads(expected)["value"]
    expected = json.loads(cli("gaussian-nll", *inline, "-f", "json", "-r", "none", "--grad").stdout)
    named = write("named.csv", "target,var,input\n" + rows(y, var, x))  # var and target found by name
    three = write("three.csv", rows(x, y, var))  # no header: the order of the arguments
    run = cli("gaussian-nll", named, "-f", "json", "-r", "none", "--grad")
    assert run.status == 0, run.stderr
    assert "prediction = \"input\"" in run.stderr and "var = \"var\"" in run.stderr
    for document in (json.loads(run.stdout), json.loads(cli("gaussian-nll", three, "-f", "json", "-r", "none", "--grad").stdout)):
        assert document["value"] == expected["value"] and document["grad"] == expected["grad"]
    # Three one-column files side by side, and one of them inline.
    paths = [write(f"{name}.txt", rows(values)) for name, values in (("x", x), ("y", y), ("v", var))]
    assert json.loads(cli("gaussian-nll", *paths, "-f", "json", "-r", "none").stdout)["value"] == expected["value"]
    assert json.loads(cli("gaussian-nll", *paths[:2], inline[2], "-f", "json", "-r", "none").stdout)["value"] == expected["value"]


def test_a_var_column_is_named_by_var_or_by_its_name(cli, write):
    path = write("t.csv", "a,b,c\n1,2,0.5\n3,1,2\n")
    run = cli("gaussian-nll", path)
    assert run.status == 2 and "--var" in run.stderr and run.stderr.count("\n") == 1
    by_flag = float(cli("gaussian-nll", path, "--var", "c").stdout)
    assert by_flag == pytest.approx(np.mean([0.5 * (math.log(0.5) + 1 / 0.5), 0.5 * (math.log(2) + 4 / 2)]), rel=1e-15)
    assert float(cli("gaussian-nll", write("s.csv", "a,b,sigma2\n1,2,0.5\n3,1,2\n")).stdout) == by_flag


def test_a_million_rows_stream_in_flat_memory(tmp_path):
    rng = np.random.default_rng(10)
    data = np.round(np.column_stack([rng.normal(size=1_000_000), rng.normal(size=1_000_000), rng.uniform(0.5, 2, 1_000_000)]), 3)
    million = "".join(f"{a:.3f},{b:.3f},{c:.3f}\n" for a, b, c in data.tolist())
    small, large = tmp_path / "1M.csv", tmp_path / "4M.csv"
    small.write_text(million)
    large.write_text(million * 4)
    (value,), peak = peak_kb(["gaussian-nll", str(small)])
    (value_4m,), peak_4m = peak_kb(["gaussian-nll", str(large)])
    value, value_4m = float(value), float(value_4m)
    x, y, var = data.T
    assert value == pytest.approx(np.mean(0.5 * (np.log(var) + (x - y) ** 2 / var)), rel=1e-12)
    assert value_4m == pytest.approx(value, rel=1e-12)
    # 3M more rows (72 MB as float64) cost next to nothing: nothing grows with the rows.
    assert peak_4m - peak < 15_000, (peak, peak_4m)
    (value,), _ = peak_kb(["poisson-nll", str(small), "--pred", "1", "--target", "3"])
    assert float(value) == pytest.approx(np.mean(np.exp(x) - var * x), rel=1e-12)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, status, message",
    [
        (["gaussian-nll", "1,2,3", "1,2,3", "1,-0.5,2"], 1, "row 2: var -0.5 is negative"),
        (["gaussian-nll", "1,2", "1,2"], 2, "give the input, the target and the variance"),
        (["gaussian-nll", "1,2", "1,2", "1"], 1, "var has 1 values but prediction has 2"),
        (["gaussian-nll", "1", "1", "1", "--eps", "-1"], 2, "--eps must be at least 0"),
        (["poisson-nll", "1", "1", "--eps", "-1e-8"], 2, "--eps must be at least 0"),
    ],
)
def test_errors_are_one_line_with_their_status(cli, argv, status, message):
    run = cli(*argv)
    assert run.status == status and message in run.stderr and run.stderr.count("\n") == 1, run.stderr


def test_a_negative_var_in_a_file_names_its_line(cli, write):
    run = cli("gaussian-nll", write("v.csv", "input,target,var\n1,1,1\n2,2,2\n3,3,-1\n"))
    assert run.status == 1 and "v.csv:4: var -1 is negative" in run.stderr


# --- properties -------------------------------------------------------------------------------

values = st.floats(-20, 20, allow_nan=False, allow_subnormal=False)
arrays = lambda elements: hnp.arrays(np.float64, st.integers(1, 12), elements=elements)


@API
@given(st.data())
def test_gaussian_with_unit_variance_is_half_mse_plus_a_constant(data):
    x = data.draw(arrays(values))
    y = data.draw(hnp.arrays(np.float64, x.shape, elements=values))
    ones = np.ones_like(x)
    assert gaussian_nll(x, y, ones).value == pytest.approx(mse(x, y).value / 2, rel=1e-12, abs=1e-300)
    full = gaussian_nll(x, y, ones, full=True, reduction="sum").value
    assert full == pytest.approx(mse(x, y, reduction="sum").value / 2 + x.size * HALF_LOG_2PI, rel=1e-12)


@API
@given(st.data())
def test_gaussian_is_least_at_the_target_for_any_variance(data):
    x = data.draw(arrays(values))
    y = data.draw(hnp.arrays(np.float64, x.shape, elements=values))
    var = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(1e-3, 1e3)))
    at_target = gaussian_nll(y, y, var, reduction="none").value
    assert np.all(gaussian_nll(x, y, var, reduction="none").value >= at_target)
    np.testing.assert_allclose(at_target, 0.5 * np.log(var), rtol=1e-15)


@API
@given(st.data())
def test_poisson_of_a_log_rate_equals_poisson_of_the_rate(data):
    x = data.draw(arrays(st.floats(-5, 5)))
    y = data.draw(hnp.arrays(np.float64, x.shape, elements=st.integers(0, 30).map(float)))
    full = data.draw(st.booleans())
    of_log = poisson_nll(x, y, full=full, reduction="none")
    of_rate = poisson_nll(np.exp(x), y, log_input=False, eps=0, full=full, reduction="none")
    np.testing.assert_allclose(of_rate.value, of_log.value, rtol=1e-9, atol=1e-12)
    # d/dx of e^x − y·x is e^x − y; through the rate λ = e^x the chain rule gives (1 − y/λ)·λ.
    np.testing.assert_allclose(of_rate.grad * np.exp(x), of_log.grad, rtol=1e-9, atol=1e-12)


@API
@given(st.data())
def test_poisson_is_least_where_the_rate_is_the_target(data):
    y = data.draw(hnp.arrays(np.float64, st.integers(1, 12), elements=st.integers(1, 30).map(float)))
    rate = data.draw(hnp.arrays(np.float64, y.shape, elements=st.floats(0.01, 60)))
    best = poisson_nll(np.log(y), y, reduction="none").value  # y − y·log y
    assert np.all(poisson_nll(np.log(rate), y, reduction="none").value >= best - 1e-12 * np.abs(best))
    # With --full the minimum over the rate is ½log(2πy) > 0 for y > 1, and the loss never negative.
    full = poisson_nll(np.log(y), y, full=True, reduction="none").value
    np.testing.assert_allclose(full[y > 1], 0.5 * np.log(2 * np.pi * y[y > 1]), rtol=1e-9)
