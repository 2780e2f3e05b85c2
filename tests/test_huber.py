"""Huber and smooth L1 (losses with a parameter): PyTorch's golden cases, hand derivations, identities."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from losscli import UsageError, elementwise_loss, huber, l1, smooth_l1
from losscli.losses import POINTWISE_LOSSES, PointwiseAccumulator

from .golden import _SHARED, assert_matches, case_ids, golden_path, inline_values, load_cases

MORE_CASES = load_cases(golden_path("torch_cases_more.json"))
CASES = [case for case in MORE_CASES if case["op"] in ("huber", "smooth-l1")]
PARAMETER = {"huber": "delta", "smooth-l1": "beta"}
API = settings(max_examples=60, deadline=None)


def test_the_vendored_copy_matches_the_shared_reference_and_holds_both_losses():
    vendored = Path(__file__).resolve().parent / "data" / "torch_cases_more.json"
    shared = _SHARED.parent / "torch_cases_more.json"
    if shared.exists():  # in the workplace checkout; a lone clone has only the copy
        assert vendored.read_bytes() == shared.read_bytes()
    assert sorted(case["op"] for case in CASES) == ["huber"] * 7 + ["smooth-l1"] * 7


def _parameter(case: dict) -> float:
    return case.get(PARAMETER[case["op"]], 1.0)  # absent: PyTorch's default


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_golden_case_through_the_api(case, dtype):
    x = np.asarray(case["input"], dtype=dtype)
    y = np.asarray(case["target"], dtype=dtype)
    keyword = {PARAMETER[case["op"]]: _parameter(case)}
    result = elementwise_loss(case["op"], x, y, reduction=case.get("reduction", "mean"), **keyword)
    expected = case["expected"][dtype]
    assert result.dtype == dtype
    assert_matches(result.value, expected["value"], dtype)
    assert_matches(result.grad, expected["grad"], dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_golden_case_through_the_cli(cli, case, dtype):
    flag = "--" + PARAMETER[case["op"]]
    argv = [case["op"], inline_values(case["input"]), inline_values(case["target"]), "--reduction", case.get("reduction", "mean")]
    argv += ["--grad", flag, repr(_parameter(case)), "--dtype", dtype, "--format", "json"]
    run = cli(*argv)
    assert run.status == 0, run.stderr
    document = json.loads(run.stdout)
    expected = case["expected"][dtype]
    assert document["dtype"] == dtype
    assert document[PARAMETER[case["op"]]] == _parameter(case)
    # Inline text has no one-row matrix ("1,2,3" is a vector): compare in the expected shape.
    value = np.reshape(document["value"], np.shape(expected["value"]))
    assert_matches(value, expected["value"], dtype)
    assert_matches(np.reshape(document["grad"], np.shape(expected["grad"])), expected["grad"], dtype)


# --- by hand ----------------------------------------------------------------------------------


def table_rows(stdout: str) -> list[list[str]]:
    """The cells of the header and of each row of a drawn table (the reduction row included)."""
    lines = [line.replace("┃", "│") for line in stdout.splitlines()]
    return [[cell.strip() for cell in line.strip("│").split("│")] for line in lines if line.startswith("│")]


@pytest.mark.parametrize(
    "argv, rows, derivation",
    [
        # d = −2 everywhere, |d| ≥ δ = 1: δ(|d| − δ/2) = 1.5, gradient δ·sign(d) / n = −1/4
        (["huber", "2,3,4,5", "4,5,6,7"],
         [["1", "2", "4", "-2", "linear", "1.5", "-0.25"]] * 1, "(1.5 + 1.5 + 1.5 + 1.5) / 4 = 1.5"),
        # d = 0, 0.5, 3, −2, 1 with δ = 1: ½·0², ½·0.5², 3 − ½, 2 − ½, and 1 − ½ (|d| = δ is linear)
        (["huber", "0,0.5,3,-2,1", "0,0,0,0,0", "-r", "sum"],
         [["1", "0", "0", "0", "quadratic", "0", "0"], ["2", "0.5", "0", "0.5", "quadratic", "0.125", "0.5"],
          ["3", "3", "0", "3", "linear", "2.5", "1"], ["4", "-2", "0", "-2", "linear", "1.5", "-1"],
          ["5", "1", "0", "1", "linear", "0.5", "1"], ["sum", "", "", "", "", "4.625", ""]],
         "(0 + 0.125 + 2.5 + 1.5 + 0.5) = 4.625"),
        # δ = 3: every |d| = 2 < 3, ½·2² = 2, gradient d / n = −1/2
        (["huber", "2,3,4,5", "4,5,6,7", "--delta", "3"],
         [["1", "2", "4", "-2", "quadratic", "2", "-0.5"]], "(2 + 2 + 2 + 2) / 4 = 2"),
        # β = 2, d = 0, 1, 3, −5, 2: ½·1²/2, 3 − 1, 5 − 1, 2 − 1 (|d| = β is linear, gradient 1)
        (["smooth-l1", "0,1,3,-5,2", "0,0,0,0,0", "--beta", "2", "-r", "sum"],
         [["1", "0", "0", "0", "quadratic", "0", "0"], ["2", "1", "0", "1", "quadratic", "0.25", "0.5"],
          ["3", "3", "0", "3", "linear", "2", "1"], ["4", "-5", "0", "-5", "linear", "4", "-1"],
          ["5", "2", "0", "2", "linear", "1", "1"], ["sum", "", "", "", "", "7.25", ""]],
         "(0 + 0.25 + 2 + 4 + 1) = 7.25"),
        # β = 0 is L1: every row linear, |d| each
        (["smooth-l1", "1,-2", "0,0", "--beta", "0"],
         [["1", "1", "0", "1", "linear", "1", "0.5"], ["2", "-2", "0", "-2", "linear", "2", "-0.5"]],
         "(1 + 2) / 2 = 1.5"),
    ],
)
def test_table_shows_each_rows_branch_and_the_derivation(cli, argv, rows, derivation):
    run = cli(*argv, "--grad", "-f", "table")
    assert run.status == 0, run.stderr
    body = table_rows(run.stdout)
    assert body[0][:5] == ["row", "ŷ", "y", "ŷ−y", "branch"]
    assert body[1 : 1 + len(rows)] == rows
    assert derivation in run.stdout.splitlines()
    flag = "--" + PARAMETER[argv[0]]
    parameter = argv[argv.index(flag) + 1] if flag in argv else "1"
    assert run.stdout.splitlines()[0].endswith(f", {PARAMETER[argv[0]]}={parameter}")


def test_csv_writes_the_branch_and_json_the_parameter(cli):
    text = cli("huber", "0,0.5,3", "0,0,0", "--delta", "0.75", "-f", "csv", "--grad", "-r", "none").stdout
    records = list(csv.DictReader(io.StringIO(text)))
    assert [r["branch"] for r in records] == ["quadratic", "quadratic", "linear"]
    # ½·0.5² = 0.125; 0.75·(3 − 0.375) = 1.96875
    assert [float(r["huber"]) for r in records] == [0.0, 0.125, 1.96875]
    assert [float(r["grad"]) for r in records] == [0.0, 0.5, 0.75]
    document = json.loads(cli("smooth-l1", "1,2", "0,0", "--beta", "0.5", "-f", "json").stdout)
    assert document["beta"] == 0.5 and document["value"] == (0.75 + 1.75) / 2


def test_a_file_streams_through_the_same_path_and_gives_the_inline_numbers(cli, write):
    pred, target = [0.25, -3.5, 1.0, 7.0, 0.0], [0.0, 0.0, 0.5, 6.9, 2.0]
    path = write("t.csv", "pred,target\n" + "".join(f"{p!r},{t!r}\n" for p, t in zip(pred, target)))
    for name, flag in (("huber", "--delta"), ("smooth-l1", "--beta")):
        args = ["-r", "none", "--grad", flag, "0.6", "-f", "json"]
        from_file = json.loads(cli(name, path, *args, "-q").stdout)
        inline = json.loads(cli(name, inline_values(pred), inline_values(target), *args).stdout)
        from_file.pop("columns")
        assert from_file == inline


def test_nan_rows_omitted_have_no_branch(cli):
    text = cli("huber", "0.5,nan,3", "0,0,0", "--nan-policy", "omit", "-f", "csv", "-r", "none", "-q").stdout
    assert [r["branch"] for r in csv.DictReader(io.StringIO(text))] == ["quadratic", "", "linear"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["huber", "1", "2", "--delta", "0"], "--delta must be greater than 0, not 0"),
        (["huber", "1", "2", "--delta", "-1"], "--delta must be greater than 0, not -1"),
        (["huber", "1", "2", "--delta", "nan"], "--delta must be greater than 0, not nan"),
        (["smooth-l1", "1", "2", "--beta", "-0.5"], "--beta must be at least 0, not -0.5"),
        (["l1", "1", "2", "--delta", "1"], "no such option: --delta"),
        (["mse", "1", "2", "--beta", "1"], "no such option: --beta"),
    ],
)
def test_a_bad_parameter_is_a_usage_error(cli, argv, message):
    run = cli(*argv)
    assert run.status == 2 and run.stdout == ""
    assert run.stderr.startswith(f"losscli: error: {message}")


def test_the_api_checks_the_parameter_too():
    with pytest.raises(UsageError, match="--delta must be greater than 0"):
        huber([1.0], [2.0], delta=0.0)
    with pytest.raises(UsageError, match="--beta must be at least 0"):
        smooth_l1([1.0], [2.0], beta=-1.0)
    with pytest.raises(TypeError):
        elementwise_loss("l1", [1.0], [2.0], delta=1.0)


@pytest.mark.parametrize("name, formula", [("huber", "½d² if |d| < δ, else δ(|d| − ½δ)"), ("smooth-l1", "½d²/β if |d| < β")])
def test_help_shows_the_formula_and_the_option(cli, capsys, name, formula):
    run = cli(name, "--help")
    text = " ".join((run.stdout + capsys.readouterr().out).split())
    assert formula in text and "--" + PARAMETER[name] in text


# --- properties -------------------------------------------------------------------------------

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, allow_subnormal=False).filter(
    lambda v: v == 0 or abs(v) >= 1e-100
)
pairs = st.integers(1, 12).flatmap(
    lambda n: st.tuples(hnp.arrays(np.float64, n, elements=finite), hnp.arrays(np.float64, n, elements=finite))
)
special = st.one_of(finite, st.sampled_from([math.inf, -math.inf, math.nan, -0.0]))
special_pairs = st.integers(1, 12).flatmap(
    lambda n: st.tuples(hnp.arrays(np.float64, n, elements=special), hnp.arrays(np.float64, n, elements=special))
)


@API
@given(data=pairs, delta=st.floats(1e-3, 1e3), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_huber_is_delta_times_smooth_l1_with_beta_delta(data, delta, reduction):
    prediction, target = data
    h = huber(prediction, target, delta=delta, reduction=reduction)
    s = smooth_l1(prediction, target, beta=delta, reduction=reduction)
    np.testing.assert_allclose(h.terms, delta * s.terms, rtol=1e-15, atol=0)
    np.testing.assert_allclose(h.value, delta * np.asarray(s.value), rtol=1e-15, atol=0)
    np.testing.assert_allclose(h.grad, delta * s.grad, rtol=1e-15, atol=0)


@API
@given(data=special_pairs, reduction=st.sampled_from(["mean", "sum", "none"]), dtype=st.sampled_from(["float64", "float32"]))
def test_smooth_l1_with_beta_zero_is_l1_bit_for_bit(data, reduction, dtype):
    prediction, target = (values.astype(dtype) for values in data)
    s = smooth_l1(prediction, target, beta=0.0, reduction=reduction)
    a = l1(prediction, target, reduction=reduction)
    for got, expected in ((s.value, a.value), (s.terms, a.terms), (s.grad, a.grad)):
        assert np.asarray(got).tobytes() == np.asarray(expected).tobytes()


@API
@given(data=pairs, delta=st.floats(1e-3, 1e3))
def test_the_branch_is_quadratic_exactly_where_the_difference_is_inside_delta(data, delta):
    prediction, target = data
    result = huber(prediction, target, delta=delta, reduction="none")
    inside = [abs(float(p) - float(t)) < delta for p, t in zip(prediction.tolist(), target.tolist())]
    assert result.column("branch").values.tolist() == ["quadratic" if i else "linear" for i in inside]


@API
@given(data=pairs, beta=st.floats(0.0, 10.0), cut=st.integers(0, 12))
def test_accumulator_with_a_parameter_is_the_same_for_any_block_split(data, beta, cut):
    prediction, target = data
    whole = PointwiseAccumulator(POINTWISE_LOSSES["smooth-l1"], "sum", parameters={"beta": beta})
    whole.add(prediction, target)
    split = PointwiseAccumulator(POINTWISE_LOSSES["smooth-l1"], "sum", parameters={"beta": beta})
    split.add(prediction[:cut], target[:cut]) if cut else None
    split.add(prediction[cut:], target[cut:]) if cut < prediction.size else None
    expected, got = whole.result(), split.result()
    assert got.value.tobytes() == expected.value.tobytes()
    np.testing.assert_array_equal(got.grad, expected.grad)
    assert got.parameters == {"beta": beta}
