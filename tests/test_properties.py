"""Mathematical invariants of losscli, checked with hypothesis on generated inputs.

In the style of scikit-learn's ``tests/test_common.py``: the element-wise tests are generic and
parametrized over the registry ``losscli.losses.POINTWISE_LOSSES``, so a loss added there is
checked here without new code -- except that it must also get an entry in ``REFERENCE_TERMS``
(a plain-Python formula of its per-element term, the independent expectation these tests
compare against; ``test_every_registered_loss_has_a_reference_term`` enforces that).

Sections:
  1. element-wise losses through the API (sign, zero, permutation, reductions, gradients)
  2. ``PointwiseAccumulator`` over arbitrary block splits
  3. softmax / log-softmax
  4. cross-entropy (index vs one-hot targets, gradients, ignore_index)
  5. the CLI: one value in plain, json, csv and the table

Example counts (``settings(max_examples=...)``): 60 for sections 1-4 per parametrized case,
25 for the CLI tests of section 5 (each example runs the CLI up to five times).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from losscli import losses
from losscli.errors import DataError
from losscli.losses import POINTWISE_LOSSES, PointwiseAccumulator, cross_entropy, elementwise_loss, softmax

# Losses that are not a function of ŷ − y (their properties are tested in their own files:
# kl in test_classdist.py); the generic tests below hold for the others.
NOT_OF_THE_DIFFERENCE = {"kl"}
LOSSES = sorted(set(POINTWISE_LOSSES) - NOT_OF_THE_DIFFERENCE)
REDUCED = ("mean", "sum")

# The per-element term of each registered loss, written independently of losscli (Python floats).
REFERENCE_TERMS = {
    "l1": lambda d: abs(d),
    "mse": lambda d: d * d,
    "huber": lambda d: 0.5 * d * d if abs(d) < 1.0 else 1.0 * (abs(d) - 0.5 * 1.0),  # default δ = 1
    "smooth-l1": lambda d: 0.5 * d * d / 1.0 if abs(d) < 1.0 else abs(d) - 0.5 * 1.0,  # default β = 1
}
# Differences where each term's derivative jumps (l1) or bends (huber, smooth-l1 at the default 1):
# central differences are compared only away from them.
KINKS = {"l1": (0.0,), "mse": (), "huber": (-1.0, 1.0), "smooth-l1": (-1.0, 1.0)}

API = settings(max_examples=60, deadline=None)
CLI = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---------------------------------------------------------------------------------------------
# strategies


def floats(bound: float = 1e3, tiny: float = 0.0):
    """Finite float64 values in [-bound, bound]; magnitudes in (0, tiny) are left out."""
    values = st.floats(-bound, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    if tiny:
        values = values.filter(lambda v: v == 0 or abs(v) >= tiny)
    return values


SHAPES = hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=8)


@st.composite
def pairs(draw, bound: float = 1e3, tiny: float = 1e-100, shapes=SHAPES, share_some: bool = True):
    """(prediction, target) of one shape; some targets are copies of their prediction."""
    shape = draw(shapes)
    elements = floats(bound, tiny)
    prediction = draw(hnp.arrays(np.float64, shape, elements=elements))
    target = draw(hnp.arrays(np.float64, shape, elements=elements))
    if share_some:
        same = draw(hnp.arrays(np.bool_, shape))
        target = np.where(same, prediction, target)
    return prediction, target


def reference_terms(name: str, prediction: np.ndarray, target: np.ndarray) -> list[float]:
    term = REFERENCE_TERMS[name]
    return [term(float(p) - float(t)) for p, t in zip(prediction.ravel().tolist(), target.ravel().tolist())]


def close(a: float, b: float, rel: float) -> bool:
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


# ---------------------------------------------------------------------------------------------
# 1. element-wise losses


def test_every_registered_loss_has_a_reference_term():
    assert set(POINTWISE_LOSSES) - NOT_OF_THE_DIFFERENCE == set(REFERENCE_TERMS) == set(KINKS)


@pytest.mark.parametrize("name", LOSSES)
@API
@given(data=pairs())
def test_loss_is_nonnegative_and_zero_exactly_when_prediction_equals_target(name, data):
    prediction, target = data
    equal = bool(np.array_equal(prediction, target))
    for reduction in REDUCED:
        value = float(elementwise_loss(name, prediction, target, reduction=reduction).value)
        assert value >= 0
        assert (value == 0) == equal, (reduction, value)
    terms = np.asarray(elementwise_loss(name, prediction, target, reduction="none").value)
    assert terms.shape == prediction.shape
    assert np.all(terms >= 0)
    np.testing.assert_array_equal(terms == 0, prediction == target)


@pytest.mark.parametrize("name", LOSSES)
@API
@given(data=pairs(), permutation_seed=st.randoms(use_true_random=False))
def test_loss_is_invariant_to_one_permutation_of_both_inputs(name, data, permutation_seed):
    prediction, target = data
    order = list(range(prediction.size))
    permutation_seed.shuffle(order)
    shuffled_prediction = prediction.ravel()[order].reshape(prediction.shape)
    shuffled_target = target.ravel()[order].reshape(target.shape)
    for reduction in REDUCED:
        before = float(elementwise_loss(name, prediction, target, reduction=reduction).value)
        after = float(elementwise_loss(name, shuffled_prediction, shuffled_target, reduction=reduction).value)
        assert close(before, after, 1e-12), (reduction, before, after)
    before = np.asarray(elementwise_loss(name, prediction, target, reduction="none").value).ravel()
    after = np.asarray(elementwise_loss(name, shuffled_prediction, shuffled_target, reduction="none").value).ravel()
    np.testing.assert_array_equal(after, before[order])


@pytest.mark.parametrize("name", LOSSES)
@API
@given(data=pairs())
def test_mean_is_sum_over_n_and_both_match_the_reference_formula(name, data):
    prediction, target = data
    n = prediction.size
    mean = elementwise_loss(name, prediction, target, reduction="mean")
    total = elementwise_loss(name, prediction, target, reduction="sum")
    exact_sum = math.fsum(reference_terms(name, prediction, target))
    assert close(float(mean.value), float(total.value) / n, 1e-12)
    assert close(float(total.value), exact_sum, 1e-12)
    assert close(float(mean.value), exact_sum / n, 1e-12)
    assert mean.n == total.n == n
    assert mean.denominator == n


@pytest.mark.parametrize("name", LOSSES)
@API
@given(data=pairs())
def test_reduction_none_summed_is_the_sum_and_each_term_is_the_reference(name, data):
    prediction, target = data
    none = elementwise_loss(name, prediction, target, reduction="none")
    total = float(elementwise_loss(name, prediction, target, reduction="sum").value)
    terms = np.asarray(none.value)
    assert terms.shape == prediction.shape
    assert close(math.fsum(terms.ravel().tolist()), total, 1e-12)
    np.testing.assert_array_equal(terms.ravel(), np.array(reference_terms(name, prediction, target)))


def _central_differences(f, x: np.ndarray, h: float) -> np.ndarray:
    grad = np.empty_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (float(f(up)) - float(f(down))) / ((up[index] - down[index]))
    return grad


# Each loss is differentiated only at differences 0.01 (≫ the step) or more away from its kinks.
FD_STEP = 1e-4
GRAD_SHAPES = hnp.array_shapes(min_dims=1, max_dims=2, max_side=5)


@pytest.mark.parametrize("reduction", REDUCED)
@pytest.mark.parametrize("name", LOSSES)
@API
@given(data=st.data())
def test_gradient_matches_central_differences(name, reduction, data):
    shape = data.draw(GRAD_SHAPES, label="shape")
    prediction = data.draw(hnp.arrays(np.float64, shape, elements=floats(10.0)), label="prediction")
    away = floats(10.0).filter(lambda d: all(abs(d - kink) >= 0.01 for kink in KINKS[name]))
    offset = data.draw(hnp.arrays(np.float64, shape, elements=away), label="offset")
    target = prediction - offset
    result = elementwise_loss(name, prediction, target, reduction=reduction)
    numeric = _central_differences(
        lambda p: elementwise_loss(name, p, target, reduction=reduction).value, prediction, FD_STEP
    )
    assert np.shape(result.grad) == prediction.shape
    np.testing.assert_allclose(result.grad, numeric, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# 2. PointwiseAccumulator over blocks


@st.composite
def split_arrays(draw, max_size: int = 120, nan: bool = False):
    n = draw(st.integers(1, max_size))
    elements = floats(1e3) if not nan else st.one_of(floats(1e3), st.just(float("nan")))
    prediction = draw(hnp.arrays(np.float64, n, elements=elements))
    target = draw(hnp.arrays(np.float64, n, elements=floats(1e3)))
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=min(n - 1, 12)))) if n > 1 else []
    return prediction, target, [0, *cuts, n]


def _feed(accumulator: PointwiseAccumulator, prediction, target, bounds):
    blocks = []
    for start, stop in zip(bounds, bounds[1:]):
        blocks.append(accumulator.add(prediction[start:stop], target[start:stop]))
    return blocks


@pytest.mark.parametrize("reduction", losses.REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
@API
@given(data=split_arrays())
def test_accumulator_gives_the_same_result_for_any_block_split(name, reduction, data):
    prediction, target, bounds = data
    whole = PointwiseAccumulator(POINTWISE_LOSSES[name], reduction)
    whole.add(prediction, target)
    split = PointwiseAccumulator(POINTWISE_LOSSES[name], reduction)
    blocks = _feed(split, prediction, target, bounds)
    expected, got = whole.result(), split.result()
    reference = reference_terms(name, prediction, target)

    # identical terms, block by block and in the result
    np.testing.assert_array_equal(np.concatenate([b.terms for b in blocks]), np.array(reference))
    np.testing.assert_array_equal(np.concatenate([b.rows for b in blocks]), np.arange(prediction.size))
    np.testing.assert_array_equal(got.terms, expected.terms)
    np.testing.assert_array_equal(got.grad, expected.grad)
    assert got.n == expected.n == prediction.size
    if reduction == "none":
        np.testing.assert_array_equal(got.value, expected.value)
    else:
        exact = math.fsum(reference) / (prediction.size if reduction == "mean" else 1)
        assert got.value.tobytes() == expected.value.tobytes()  # the blocks never change a bit
        assert close(float(got.value), exact, 1e-13)


class _SmallChunks(losses.ChunkedSum):
    CHUNK = 7  # so that a few dozen values span many chunks


@API
@given(data=split_arrays(max_size=200))
def test_chunked_sum_is_the_exact_sum_of_fixed_chunks_whatever_the_blocks(data):
    values, _, bounds = data
    summed = _SmallChunks()
    for start, stop in zip(bounds, bounds[1:]):
        summed.add(values[start:stop])
    # Independently: chunks of 7 counted from the first value, each summed by numpy, added exactly.
    expected = math.fsum(float(np.sum(values[i : i + 7])) for i in range(0, values.size, 7))
    assert summed.total() == expected


@pytest.mark.parametrize("name", LOSSES)
@API
@given(data=split_arrays(), keep=st.integers(0, 12), reduction=st.sampled_from(losses.REDUCTIONS))
def test_accumulator_keeps_the_first_and_last_rows_for_the_table(name, data, keep, reduction):
    prediction, target, bounds = data
    n = prediction.size
    accumulator = PointwiseAccumulator(POINTWISE_LOSSES[name], reduction, keep_rows=keep)
    _feed(accumulator, prediction, target, bounds)
    result = accumulator.result()
    head = list(range(min((keep + 1) // 2, n)))
    tail = [i for i in range(max(n - keep // 2, 0), n) if i not in head]
    kept = head + tail
    reference = np.array(reference_terms(name, prediction, target))
    np.testing.assert_array_equal(result.terms, reference[kept])
    np.testing.assert_array_equal(result.column("pred").values, prediction[kept])
    if len(kept) == n:
        assert result.row_numbers is None
    else:
        np.testing.assert_array_equal(result.row_numbers, kept)
    if reduction != "none":  # the value is still over every row
        exact = math.fsum(reference.tolist()) / (n if reduction == "mean" else 1)
        assert close(float(result.value), exact, 1e-13)


@pytest.mark.parametrize("name", LOSSES)
@API
@given(data=split_arrays(nan=True), reduction=st.sampled_from(REDUCED))
def test_accumulator_omitting_nan_equals_the_loss_on_the_other_rows(name, data, reduction):
    prediction, target, bounds = data
    keep = ~np.isnan(prediction)
    accumulator = PointwiseAccumulator(POINTWISE_LOSSES[name], reduction, nan_policy="omit")
    _feed(accumulator, prediction, target, bounds)
    if not keep.any():
        with pytest.raises(DataError):
            accumulator.result()
        return
    result = accumulator.result()
    reference = reference_terms(name, prediction[keep], target[keep])
    exact = math.fsum(reference) / (len(reference) if reduction == "mean" else 1)
    assert result.n == len(reference)
    assert result.omitted == int((~keep).sum())
    assert close(float(result.value), exact, 1e-13)
    np.testing.assert_array_equal(result.row_numbers if result.row_numbers is not None else np.arange(prediction.size), np.flatnonzero(keep))


# ---------------------------------------------------------------------------------------------
# 3. softmax


@st.composite
def logit_matrices(draw, bound: float = 1e4, max_side: int = 8):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=max_side))
    x = draw(hnp.arrays(np.float64, shape, elements=floats(bound)))
    dim = draw(st.sampled_from(range(-x.ndim, x.ndim)))
    return x, dim


@API
@given(data=logit_matrices())
def test_softmax_is_a_finite_distribution_along_dim_even_for_large_logits(data):
    x, dim = data
    p = np.asarray(softmax(x, dim=dim).value)
    lp = np.asarray(softmax(x, dim=dim, log=True).value)
    assert p.shape == lp.shape == x.shape
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(lp))
    assert np.all((p >= 0) & (p <= 1))
    assert np.all(lp <= 0)
    np.testing.assert_allclose(p.sum(axis=dim), 1.0, rtol=0, atol=1e-12)
    # order preserving: a larger logit never gets a smaller probability
    moved_x, moved_p = np.moveaxis(x, dim, -1).reshape(-1, x.shape[dim]), np.moveaxis(p, dim, -1).reshape(-1, x.shape[dim])
    for row_x, row_p in zip(moved_x, moved_p):
        order = np.argsort(row_x, kind="stable")
        assert np.all(np.diff(row_p[order]) >= 0)
        assert row_p[np.argmax(row_x)] == row_p.max() > 0


@API
@given(data=logit_matrices(), shift=st.data())
def test_softmax_is_invariant_to_a_constant_added_along_dim(data, shift):
    x, dim = data
    shape = list(x.shape)
    shape[dim] = 1
    c = shift.draw(hnp.arrays(np.float64, tuple(shape), elements=floats(1e4)))
    shifted = x + c
    np.testing.assert_allclose(softmax(shifted, dim=dim).value, softmax(x, dim=dim).value, rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(
        softmax(shifted, dim=dim, log=True).value, softmax(x, dim=dim, log=True).value, rtol=1e-9, atol=1e-8
    )


@API
@given(data=logit_matrices())
def test_log_softmax_is_the_log_of_softmax_where_that_is_finite(data):
    x, dim = data
    p = np.asarray(softmax(x, dim=dim).value)
    lp = np.asarray(softmax(x, dim=dim, log=True).value)
    np.testing.assert_array_equal(lp, losses.log_softmax(x, axis=dim))
    normal = p > 1e-300  # log of a subnormal probability has lost its precision
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(lp[normal], np.log(p[normal]), rtol=1e-12, atol=1e-12)


@API
@given(data=logit_matrices(bound=1e3), temperature=st.floats(0.01, 100))
def test_softmax_with_temperature_is_softmax_of_x_over_t(data, temperature):
    x, dim = data
    for log in (False, True):
        got = softmax(x, dim=dim, temperature=temperature, log=log).value
        expected = softmax(x / temperature, dim=dim, log=log).value
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-300)


# ---------------------------------------------------------------------------------------------
# 4. cross-entropy


@st.composite
def xent_problems(draw, bound: float = 5.0, vector: bool = True):
    """(logits, class indices) as (N, C) and (N,), or (C,) and a scalar."""
    classes = draw(st.integers(2, 5))
    if vector and draw(st.booleans()):
        logits = draw(hnp.arrays(np.float64, classes, elements=floats(bound)))
        labels = np.array(draw(st.integers(0, classes - 1)), dtype=np.float64)
        return logits, labels
    samples = draw(st.integers(1, 6))
    logits = draw(hnp.arrays(np.float64, (samples, classes), elements=floats(bound)))
    labels = draw(hnp.arrays(np.float64, samples, elements=st.integers(0, classes - 1).map(float)))
    return logits, labels


def one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes)[labels.astype(int)]


def weights_for(classes: int):
    return hnp.arrays(np.float64, classes, elements=st.floats(0.1, 3.0))


@API
@given(problem=xent_problems(bound=1e3))
def test_xent_one_hot_probabilities_equal_class_indices_without_weights(problem):
    logits, labels = problem
    classes = logits.shape[-1]
    targets = one_hot(labels, classes)
    for reduction in losses.REDUCTIONS:
        by_index = cross_entropy(logits, labels, reduction=reduction)
        by_probs = cross_entropy(logits, targets, reduction=reduction)
        assert by_index.details.target_kind == "index" and by_probs.details.target_kind == "probs"
        np.testing.assert_allclose(by_probs.value, by_index.value, rtol=1e-12, atol=0)
        np.testing.assert_allclose(by_probs.grad, by_index.grad, rtol=1e-12, atol=1e-15)
    # and both are the textbook -log softmax(x)[y], averaged over the samples
    rows = logits.reshape(-1, classes)
    expected = [
        max(r) + math.log(math.fsum(math.exp(v - max(r)) for v in r)) - r[int(y)]
        for r, y in zip(rows.tolist(), np.ravel(labels).tolist())
    ]
    # The reference adds and subtracts logits of size |x| around a loss that may be tiny, so its
    # own rounding error is about eps·|x|: compare on that scale, not relative to the loss.
    scale = max(1.0, float(np.max(np.abs(logits))))
    assert abs(float(cross_entropy(logits, labels).value) - math.fsum(expected) / len(expected)) <= 1e-12 * scale


@API
@given(problem=xent_problems(vector=False), data=st.data())
def test_xent_one_hot_equals_indices_with_weights_for_sum_and_none(problem, data):
    logits, labels = problem
    weight = data.draw(weights_for(logits.shape[-1]))
    targets = one_hot(labels, logits.shape[-1])
    for reduction in ("sum", "none"):
        by_index = cross_entropy(logits, labels, reduction=reduction, weight=weight)
        by_probs = cross_entropy(logits, targets, reduction=reduction, weight=weight)
        np.testing.assert_allclose(by_probs.value, by_index.value, rtol=1e-12, atol=0)


XENT_SCENARIOS = ["index", "index+weight", "index+smoothing", "index+ignore", "index+all", "probs", "probs+weight+smoothing"]


@pytest.mark.parametrize("reduction", REDUCED)
@pytest.mark.parametrize("scenario", XENT_SCENARIOS)
@API
@given(problem=xent_problems(), data=st.data())
def test_xent_gradient_matches_central_differences(scenario, reduction, problem, data):
    logits, target = problem
    classes = logits.shape[-1]
    options = {"reduction": reduction}
    if "weight" in scenario or "all" in scenario:
        options["weight"] = data.draw(weights_for(classes), label="weight")
    if "smoothing" in scenario or "all" in scenario:
        options["label_smoothing"] = data.draw(st.floats(0.0, 1.0), label="label_smoothing")
    if "ignore" in scenario or "all" in scenario:
        ignore_index = data.draw(st.sampled_from([-100, -1, 0, classes - 1]), label="ignore_index")
        options["ignore_index"] = ignore_index
        ignored = data.draw(hnp.arrays(np.bool_, target.shape), label="ignored")
        target = np.where(ignored, float(ignore_index), target)
        assume(np.any(target != ignore_index))  # an all-ignored mean is nan
    if scenario.startswith("probs"):
        raw = data.draw(hnp.arrays(np.float64, logits.shape, elements=st.floats(0.0, 1.0)), label="probabilities")
        assume(np.all(raw.reshape(-1, classes).sum(axis=1) > 0.1))
        target = raw / raw.sum(axis=-1, keepdims=True)
    result = cross_entropy(logits, target, **options)
    numeric = _central_differences(lambda x: cross_entropy(x, target, **options).value, logits, 1e-6)
    assert np.shape(result.grad) == logits.shape
    np.testing.assert_allclose(result.grad, numeric, rtol=1e-5, atol=1e-6)


@API
@given(problem=xent_problems(vector=False), data=st.data())
def test_xent_ignored_rows_contribute_nothing(problem, data):
    logits, labels = problem
    classes = logits.shape[-1]
    ignore_index = data.draw(st.sampled_from([-100, -7, 0, classes - 1]))
    ignored = data.draw(hnp.arrays(np.bool_, labels.shape))
    target = np.where(ignored, float(ignore_index), labels)
    ignored = target == ignore_index
    options = {"ignore_index": ignore_index}
    if data.draw(st.booleans()):
        options["weight"] = data.draw(weights_for(classes))
    options["label_smoothing"] = data.draw(st.sampled_from([0.0, 0.1, 0.7]))
    none = cross_entropy(logits, target, reduction="none", **options)
    assert np.all(np.asarray(none.value)[ignored] == 0)
    for reduction in REDUCED:
        grad = np.asarray(cross_entropy(logits, target, reduction=reduction, **options).grad)
        assert np.all(grad[ignored] == 0)
    assume(not ignored.all())
    kept_logits, kept_target = logits[~ignored], target[~ignored]
    for reduction in REDUCED:
        with_ignored = float(cross_entropy(logits, target, reduction=reduction, **options).value)
        without = float(cross_entropy(kept_logits, kept_target, reduction=reduction, **options).value)
        assert close(with_ignored, without, 1e-12), (reduction, with_ignored, without)
    np.testing.assert_allclose(
        np.asarray(none.value)[~ignored],
        np.asarray(cross_entropy(kept_logits, kept_target, reduction="none", **options).value),
        rtol=1e-12,
        atol=0,
    )


# ---------------------------------------------------------------------------------------------
# 5. the CLI: one value, every format


def inline(values: np.ndarray) -> str:
    return ",".join(repr(float(v)) for v in values)


def table_reduction_cell(table: str, reduction: str) -> list[str]:
    """The cells of the table's reduction row (the row whose first cell is ``reduction``)."""
    for line in table.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line)]
        cells = [c for c in cells if c]
        if cells and cells[0] == reduction:
            return cells
    raise AssertionError(f"no {reduction!r} row in the table:\n{table}")


def shows_rounded(cell: str, value: float, digits: int) -> bool:
    """A table cell shows ``value`` rounded to ``digits`` significant digits (or exactly, if whole)."""
    try:
        shown = float(cell)
    except ValueError:
        return False
    if shown == float(f"{value:.{digits}g}"):
        return True
    return value.is_integer() and cell == str(int(value))  # a whole number may be written out in full


vectors = st.integers(1, 30).flatmap(
    lambda n: st.tuples(
        hnp.arrays(np.float64, n, elements=floats(1e3)), hnp.arrays(np.float64, n, elements=floats(1e3))
    )
)


@pytest.mark.parametrize("source", ["inline", "stdin"])
@pytest.mark.parametrize("reduction", REDUCED)
@pytest.mark.parametrize("name", LOSSES)
@CLI
@given(data=vectors, digits=st.integers(1, 6))
def test_cli_value_is_the_same_in_every_format(cli, name, reduction, source, data, digits):
    prediction, target = data
    n = prediction.size
    if source == "inline":
        args, stdin = [name, inline(prediction), inline(target)], b""
    else:
        rows = "".join(f"{p!r},{t!r}\n" for p, t in zip(prediction.tolist(), target.tolist()))
        args, stdin = [name, "-"], ("pred,target\n" + rows).encode()
    args += ["--reduction", reduction]

    def run(*extra):
        result = cli(*args, *extra, stdin=stdin)
        assert result.status == 0, result.stderr
        assert result.stderr == ""
        return result.stdout

    plain = float(run("--format", "plain"))
    document = json.loads(run("--format", "json"))
    assert document["value"] == plain
    assert document["n"] == n

    *records, footer = csv.DictReader(io.StringIO(run("--format", "csv")))
    assert len(records) == n
    assert footer["row"] == reduction and float(footer[POINTWISE_LOSSES[name].term_key]) == plain
    terms = [float(r[POINTWISE_LOSSES[name].term_key]) for r in records]
    reduced = math.fsum(terms) / (n if reduction == "mean" else 1)
    assert close(plain, reduced, 1e-12)
    exact = math.fsum(reference_terms(name, prediction, target)) / (n if reduction == "mean" else 1)
    assert close(plain, exact, 1e-12)

    table = run("--format", "table", "--digits", str(digits))
    squeezed = re.search(r", (\d+) digits to fit", table)  # a table too wide for 80 columns says so
    cells = table_reduction_cell(table, reduction)
    assert shows_rounded(cells[-1], plain, int(squeezed.group(1)) if squeezed else digits), cells


@pytest.mark.parametrize("name", LOSSES)
@CLI
@given(data=vectors)
def test_cli_reduction_none_writes_the_same_terms_in_plain_json_and_csv(cli, name, data):
    prediction, target = data
    args = [name, inline(prediction), inline(target), "--reduction", "none"]
    plain = cli(*args, "--format", "plain")
    assert plain.status == 0, plain.stderr
    lines = [float(t) for t in plain.stdout.split()]
    document = json.loads(cli(*args, "--format", "json").stdout)
    records = list(csv.DictReader(io.StringIO(cli(*args, "--format", "csv").stdout)))
    expected = reference_terms(name, prediction, target)
    assert lines == expected
    assert document["value"] == expected
    assert [float(r[POINTWISE_LOSSES[name].term_key]) for r in records] == expected


@pytest.mark.parametrize("reduction", REDUCED)
@CLI
@given(problem=xent_problems(vector=False), digits=st.integers(1, 6))
def test_cli_xent_value_is_the_same_in_every_format(cli, reduction, problem, digits):
    logits, labels = problem
    args = [
        "xent",
        ";".join(inline(row) for row in logits),
        ",".join(str(int(v)) for v in labels),
        "--reduction",
        reduction,
    ]

    def run(*extra):
        result = cli(*args, *extra)
        assert result.status == 0, result.stderr
        return result.stdout

    plain = float(run("--format", "plain"))
    assert json.loads(run("--format", "json"))["value"] == plain
    *records, footer = csv.DictReader(io.StringIO(run("--format", "csv")))
    assert len(records) == logits.shape[0]
    assert footer["row"] == reduction and float(footer["loss"]) == plain
    terms = [float(r["loss"]) for r in records]
    assert close(plain, math.fsum(terms) / (len(terms) if reduction == "mean" else 1), 1e-12)
    cells = table_reduction_cell(run("--format", "table", "--digits", str(digits)), reduction)
    assert any(shows_rounded(cell, plain, digits) for cell in cells[1:]), cells


special = st.one_of(floats(1e3), st.sampled_from([float("inf"), float("-inf"), float("nan"), -0.0]))


@pytest.mark.parametrize("name", LOSSES)
@CLI
@given(data=st.integers(1, 6).flatmap(lambda n: st.tuples(hnp.arrays(np.float64, n, elements=special), hnp.arrays(np.float64, n, elements=special))))
def test_cli_computes_what_the_api_computes_on_any_typed_numbers(cli, name, data):
    """Every number syntax losscli documents (inf, -inf, nan, negatives) reaches the computation."""
    prediction, target = data
    typed = [",".join(repr(float(v)) for v in values) for values in (prediction, target)]
    run = cli(name, *typed, "--reduction", "none", "--format", "json")
    assert run.status == 0, (typed, run.stderr)
    expected = reference_terms(name, prediction, target)
    assert json.loads(run.stdout)["value"] == [v if math.isfinite(v) else None for v in expected]
