"""PyTorch parity at the non-finite edges, and one answer whatever the reader or block size.

Expectations are PyTorch 2.13.0+cpu runs (the call that produced each is in a comment) or a
derivation by hand; none is losscli's own output.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from losscli import DataError, cross_entropy, elementwise_loss, fast_reader, readers, softmax
from losscli.losses import CrossEntropyAccumulator

nan = math.nan

# ---------------------------------------------------------------------------------------------
# 1. cross-entropy whose mean divides by Σ w[y] = 0

LOGITS = [[1, 2, 0.5], [0.1, -1, 3], [2, 2, -0.5]]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_zero_total_weight_makes_the_mean_and_its_gradient_nan(dtype, eps):
    # Every target is class 1, whose weight is 0: the mean is Σ L_n / Σ w[y_n] with Σ w[y_n] = 0.
    # Without smoothing every L_n = 0·(−log p) = 0, so 0/0 = nan. With smoothing Σ L_n > 0, and
    # PyTorch adds the nll part (0/0 = nan) to the smoothing part (x/0 = inf): nan, not inf.
    # The gradient is (∂ΣL/∂x)·(1/0): 0·inf or x·inf, which PyTorch gives as nan in every entry.
    # torch.nn.functional.cross_entropy(x, torch.tensor([1, 1, 1]), weight=torch.tensor([1., 0., 1.]),
    #     label_smoothing=eps) -> nan, x.grad all nan (float64 and float32).
    x = np.array(LOGITS, dtype=dtype)
    r = cross_entropy(x, [1, 1, 1], weight=[1, 0, 1], label_smoothing=eps)
    assert np.isnan(r.value)
    assert np.isnan(r.grad).all()
    assert any("Σ w[y] over the scored targets is 0" in note for note in r.notes)


def test_zero_total_weight_keeps_ignored_rows_at_a_zero_gradient():
    # F.cross_entropy(x, torch.tensor([1, -100, 1]), weight=torch.tensor([1., 0., 1.])).backward()
    # -> nan; x.grad = [[nan]*3, [0., 0., 0.], [nan]*3]  (same with label_smoothing=0.2)
    for eps in (0.0, 0.2):
        r = cross_entropy(np.array(LOGITS), [1, -100, 1], weight=[1, 0, 1], label_smoothing=eps)
        assert np.isnan(r.value)
        assert np.isnan(r.grad[[0, 2]]).all()
        assert r.grad[1].tolist() == [0.0, 0.0, 0.0] and not np.signbit(r.grad[1]).any()


@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("weight", [None, [1, 0, 1]])
def test_every_target_ignored_keeps_pytorchs_zero_gradient(eps, weight):
    # F.cross_entropy(x, torch.tensor([-100] * 3), weight=w, label_smoothing=eps).backward()
    # -> nan; x.grad all +0.0 (with and without weights, with and without smoothing).
    r = cross_entropy(np.array(LOGITS), [-100, -100, -100], weight=weight, label_smoothing=eps)
    assert np.isnan(r.value)
    assert r.grad.tolist() == [[0.0] * 3] * 3 and not np.signbit(r.grad).any()


def test_zero_total_weight_sum_and_none_are_untouched():
    # F.cross_entropy(x, [1, 1, 1], weight=[1, 0, 1], reduction='sum', label_smoothing=0.2)
    # -> 0.6958017063860863; reduction='none' -> [0.228582504547726, 0.20276989586139882, 0.2644493059769615]
    r = cross_entropy(np.array(LOGITS), [1, 1, 1], weight=[1, 0, 1], label_smoothing=0.2, reduction="sum")
    assert r.value == pytest.approx(0.6958017063860863, rel=1e-15)
    assert np.isfinite(r.grad).all()
    r = cross_entropy(np.array(LOGITS), [1, 1, 1], weight=[1, 0, 1], label_smoothing=0.2, reduction="none")
    np.testing.assert_allclose(r.value, [0.228582504547726, 0.20276989586139882, 0.2644493059769615], rtol=1e-14)


def test_one_sample_of_zero_weight_is_nan():
    # F.cross_entropy(torch.tensor([1., 2., .5]), torch.tensor(1), weight=[1., 0., 1.]) -> nan, grad [nan]*3
    r = cross_entropy([1, 2, 0.5], 1, weight=[1, 0, 1])
    assert np.isnan(r.value) and np.isnan(r.grad).all() and r.grad.shape == (3,)


def test_zero_total_weight_from_a_file_stream(cli, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b,c,y\n1,2,0.5,1\n0.1,-1,3,1\n2,2,-0.5,1\n")
    run = cli("xent", str(path), "--target", "y", "--weight", "1,0,1", "--label-smoothing", "0.2", "-g", "-f", "csv")
    assert run.status == 0
    *rows, footer = run.stdout.splitlines()[1:]
    assert len(rows) == 3 and all(row.endswith(",nan,nan,nan") for row in rows)
    assert footer.startswith("mean,") and footer.split(",")[-4] == "nan"  # the reduction row: the mean is nan too
    assert "0/0 = nan" in run.stderr


# ---------------------------------------------------------------------------------------------
# 2. --nan-policy covers nan the computation makes (inf − inf, 0·inf)


@pytest.mark.parametrize("loss", ["l1", "mse"])
def test_inf_minus_inf_follows_the_nan_policy(cli, loss):
    # Row 1 is ŷ − y = inf − inf = nan (torch: F.mse_loss / F.l1_loss of [inf, 1] vs [inf, 0] -> nan).
    run = cli(loss, "inf,1", "inf,0", "--nan-policy", "raise")
    assert (run.status, run.stdout) == (1, "")
    assert run.stderr == "losscli: error: row 1: ŷ − y is inf − inf, which is nan (--nan-policy raise)\n"
    # omit: only row 2 is left, |1 − 0| = (1 − 0)² = 1.
    run = cli(loss, "inf,1", "inf,0", "--nan-policy", "omit")
    assert (run.status, run.stdout) == (0, "1.0\n")
    assert "1 row with nan omitted" in run.stderr
    run = cli(loss, "inf,1,nan", "inf,0,0")
    assert (run.status, run.stdout) == (0, "nan\n")
    assert "2 rows with nan (first: row 1; 1 of them made by the computation: ŷ − y is inf − inf)" in run.stderr


def test_computed_nan_in_cross_entropy_follows_the_nan_policy(cli):
    # A +inf logit: log_softmax([inf, 0]) = [inf − inf, −inf − inf·…] = nan
    # (torch: F.cross_entropy([[inf, 0], [1, 2]], [0, 1], reduction='none') -> [nan, 0.31326168751822286]).
    run = cli("xent", "inf,0;1,2", "0,1", "--nan-policy", "raise")
    assert run.status == 1 and "row 1: a logit of +inf gives inf − inf in the softmax" in run.stderr
    run = cli("xent", "inf,0;1,2", "0,1", "--nan-policy", "omit")
    assert run.status == 0 and float(run.stdout) == pytest.approx(0.31326168751822286, rel=1e-15)
    # A −inf logit at a class of weight 0: 0·inf
    # (torch: F.cross_entropy([[1, 2], [-inf, 0], [0, 1]], [0, 0, 1], weight=[0., 1.], reduction='none')
    #  -> [0.0, nan, 0.31326168751822286]).
    run = cli("xent", "1,2;-inf,0;0,1", "0,0,1", "--weight", "0,1")
    assert run.stdout == "nan\n" and "first: row 2; made by the computation" in run.stderr
    run = cli("xent", "1,2;-inf,0;0,1", "0,0,1", "--weight", "0,1", "--nan-policy", "omit", "-r", "sum")
    assert float(run.stdout) == pytest.approx(0.31326168751822286, rel=1e-15)


def test_the_first_nan_is_named_whichever_made_it():
    with pytest.raises(DataError, match="row 2: a logit of"):
        cross_entropy(np.array([[1, 2], [np.inf, 0], [nan, 1]]), [0, 0, 1], nan_policy="raise")


# ---------------------------------------------------------------------------------------------
# 3. literals out of the dtype's range


@pytest.mark.parametrize(
    "argv, warning",
    [
        (["mse", "1,1e400,1e500", "0,0,0"], "prediction: value 2 '1e400' is out of the float64 range and became inf (2 values in all)"),
        (["mse", "1,2", "1e-400,0"], "target: value 1 '1e-400' is out of the float64 range and became 0"),
        (["l1", "1e39,1", "0,0", "--dtype", "float32"], "prediction: value 1 '1e39' is out of the float32 range and became inf; --dtype float64 keeps it"),
        (["softmax", "1,-1e400"], "input: value 2 '-1e400' is out of the float64 range and became -inf"),
        (["xent", "1,2;3,1e39", "0,1", "--dtype", "float32"], "logits row 2: value 2 '1e39' is out of the float32 range"),
    ],
)
def test_inline_literals_out_of_range_are_named(cli, argv, warning):
    run = cli(*argv)
    assert run.status == 0
    assert f"losscli: warning: {warning}" in run.stderr
    assert cli(*argv, "-q").stderr == ""


def test_ordinary_literals_make_no_range_note(cli):
    for argv in (["mse", "inf,0,0.0,-0,1e-300", "1,1,1,1,1"], ["mse", "1e-40,0", "0,0", "--dtype", "float32"]):
        assert "range" not in cli(*argv).stderr


def test_file_values_beyond_float32_are_named(cli, tmp_path):
    # 1e39 > float32 max (3.4e38): inf; 1e-50 < the least float32 subnormal (1.4e-45): 0.
    path = tmp_path / "v.csv"
    path.write_text("p,t\n1,2\n3,1e-50\n1e39,1\n")
    run = cli("mse", str(path), "--dtype", "float32")
    assert run.stdout == "inf\n"
    assert "row 2: 1e-50 is out of the float32 range and became 0 (2 values in all)" in run.stderr


# ---------------------------------------------------------------------------------------------
# 4. one answer whatever the reader or the block size

ROWS = 300_007


@pytest.fixture(scope="module")
def big_files(tmp_path_factory):
    # Magnitudes spread over decades make the rounding of a sum depend on how it is grouped: with
    # these seeds the per-block sums of before gave mse and xent --ignore-index 2 one last bit
    # apart between the numpy reader (1 MiB blocks) and polars (2 MiB).
    root = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(5)
    pairs = root / "pairs.csv"
    values = rng.normal(size=(ROWS, 2)) * 10 ** rng.uniform(-3, 3, size=(ROWS, 2))
    np.savetxt(pairs, values, fmt="%.12g", delimiter=",", header="p,t", comments="")
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(ROWS, 3)) * 10 ** rng.uniform(-1, 2, size=(ROWS, 1))
    labels = rng.integers(0, 3, size=ROWS)
    table = root / "xent.csv"
    np.savetxt(table, np.column_stack([logits, labels]), fmt=["%.12g"] * 3 + ["%d"], delimiter=",",
               header="a,b,c,label", comments="")
    probabilities = rng.dirichlet([1, 1, 1], size=ROWS)
    probs = root / "probs.csv"
    np.savetxt(probs, probabilities, fmt="%.17g", delimiter=",")
    logits_only = root / "logits.csv"
    np.savetxt(logits_only, logits, fmt="%.12g", delimiter=",")
    return {"pairs": str(pairs), "xent": str(table), "probs": str(probs), "logits": str(logits_only)}


CASES = {
    "l1": lambda f: ["l1", f["pairs"]],
    "mse": lambda f: ["mse", f["pairs"]],
    "xent-index": lambda f: ["xent", f["xent"], "--target", "label"],
    "xent-weighted": lambda f: ["xent", f["xent"], "--target", "label", "--weight", "0.3,1.7,0.9"],
    "xent-ignore": lambda f: ["xent", f["xent"], "--target", "label", "--ignore-index", "2"],
    "xent-probs": lambda f: ["xent", f["logits"], f["probs"], "--label-smoothing", "0.1"],
}


@pytest.mark.parametrize("case", CASES)
def test_the_value_does_not_depend_on_the_reader_or_the_blocks(cli, big_files, monkeypatch, case):
    argv = [*CASES[case](big_files), "-f", "json"]
    outputs = {}
    for reader, numpy_bytes, polars_bytes in [
        ("numpy", 1 << 20, None),
        ("auto", None, 2 << 20),
        ("numpy", 777_777, None),
        ("auto", None, 1_234_567),
    ]:
        monkeypatch.setenv("LOSSCLI_READER", reader)
        if numpy_bytes:  # _read_chunk's default block size was bound when it was defined
            monkeypatch.setattr(readers.DelimitedTable._read_chunk, "__defaults__", (numpy_bytes,))
        if polars_bytes:
            monkeypatch.setattr(fast_reader, "BLOCK_BYTES", polars_bytes)
        run = cli(*argv)
        assert run.status == 0, run.stderr
        outputs[(reader, numpy_bytes, polars_bytes)] = run.stdout
    assert len(set(outputs.values())) == 1, outputs


def test_the_value_is_the_exact_sum_to_within_rounding(cli, big_files):
    # Independent check of the same file: math.fsum of the terms (exactly rounded), divided by n.
    data = np.loadtxt(big_files["pairs"], delimiter=",", skiprows=1)
    expected = math.fsum(((data[:, 0] - data[:, 1]) ** 2).tolist()) / len(data)
    assert float(cli("mse", big_files["pairs"]).stdout) == pytest.approx(expected, rel=4e-16)


# ---------------------------------------------------------------------------------------------
# 5. softmax follows PyTorch's kernel


@pytest.mark.parametrize(
    "x, dim, dtype, expected",
    [
        # torch.softmax(torch.tensor([1., 2., 3., 4.], dtype=torch.float64), 0)
        ([1, 2, 3, 4], 0, "float64", [0.03205860328008499, 0.08714431874203257, 0.23688281808991016, 0.6439142598879724]),
        # torch.softmax(torch.tensor([1., 2., 3., 4.]), 0)  (float32)
        ([1, 2, 3, 4], 0, "float32", [0.032058604061603546, 0.08714432269334793, 0.23688283562660217, 0.6439142823219299]),
        # torch.softmax(torch.tensor([[1., 2.], [3., 3.]], dtype=torch.float64), -1)
        ([[1, 2], [3, 3]], -1, "float64", [[0.26894142136999516, 0.7310585786300049], [0.5, 0.5]]),
        # torch.softmax(torch.tensor([[1., 2.], [3., 3.]]), -1)  (float32)
        ([[1, 2], [3, 3]], -1, "float32", [[0.2689414322376251, 0.7310585975646973], [0.5, 0.5]]),
        # torch.softmax(torch.tensor([[1., 2.], [3., 3.]]), 0)  (float32: this kernel divides by Σ)
        ([[1, 2], [3, 3]], 0, "float32", [[0.11920291930437088, 0.2689414322376251], [0.8807970285415649, 0.7310585975646973]]),
        # torch.softmax(torch.tensor([1000., -1000., 0.]), 0) and torch.log_softmax of it (both dtypes)
        ([1000, -1000, 0], 0, "float32", [1.0, 0.0, 0.0]),
    ],
)
def test_softmax_is_pytorchs_to_the_last_bit(x, dim, dtype, expected):
    r = softmax(np.array(x, dtype=dtype), dim=dim)
    assert r.value.astype(np.float64).tolist() == expected


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_log_softmax_of_the_readme_example_is_pytorchs(dtype):
    # torch.log_softmax(torch.tensor([1000., -1000., 0.], dtype=...), 0) -> [0., -2000., -1000.]
    # torch.log_softmax(torch.tensor([1., 2., 3., 4.], dtype=torch.float64), 0)
    assert softmax(np.array([1000, -1000, 0], dtype=dtype), log=True).value.tolist() == [0.0, -2000.0, -1000.0]
    if dtype == "float64":
        expected = [-3.4401896985611953, -2.4401896985611953, -1.4401896985611953, -0.44018969856119533]
        assert softmax(np.array([1, 2, 3, 4.0]), log=True).value.tolist() == expected


@pytest.mark.parametrize("reader", ["numpy", "auto"])
def test_file_literals_out_of_the_float64_range_are_warned(cli, write, monkeypatch, reader):
    # float("1e400") is inf and float("1e-400") is 0 (IEEE 754 rounding, as PyTorch reads them).
    monkeypatch.setenv("LOSSCLI_READER", reader)
    run = cli("mse", write("lit.csv", "p,t\n1,2\n3,1e-5\n2,1e-400\n4,2.5E+0400\n"), "-f", "json")
    assert json.loads(run.stdout)["value"] is None  # inf: JSON writes null
    assert "lit.csv:4: 1e-400 is out of the float64 range and became 0 (2 such values in all)" in run.stderr
    plain = cli("mse", write("ok.csv", "p,t\n1,2\n3,1e-5\n2,1e-300\n"))
    assert plain.stderr == ""  # ordinary exponents: no warning
