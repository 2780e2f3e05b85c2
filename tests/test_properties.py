"""Mathematical invariants of losscli, checked with hypothesis on generated inputs.

In the style of scikit-learn's ``tests/test_common.py``: the pointwise tests are generic and
parametrized over the registry ``losscli.losses.POINTWISE_LOSSES``. Each registered loss must
have a ``Profile`` in ``PROFILES`` (``test_every_registered_pointwise_loss_is_classified``
enforces it): the domain its inputs are drawn from, a plain-Python formula of its per-element
term (the independent expectation) and the named property sets it belongs to (function of the
difference, zero iff equal, non-negative). Properties every pointwise loss has (permutation,
reductions, gradients, block splits, the CLI's formats) run over all of them.

Sections:
  1. pointwise losses through the API (property sets, permutation, reductions, gradients)
  2. ``PointwiseAccumulator`` over arbitrary block splits
  3. softmax / log-softmax
  4. cross-entropy (index vs one-hot targets, gradients, ignore_index)
  5. the CLI: one value in plain, json, csv and the table

Example counts (``settings(max_examples=...)``): 40 for sections 1-4 per parametrized case,
12 for the CLI tests of section 5 (each example runs the CLI up to five times); the suite
runs them for every registered loss, so the counts stay modest.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from losscli import losses
from losscli.errors import DataError
from losscli.losses import POINTWISE_LOSSES, PointwiseAccumulator, cross_entropy, elementwise_loss, softmax

REDUCED = ("mean", "sum")

API = settings(max_examples=40, deadline=None)
CLI = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def floats(bound: float = 1e3, tiny: float = 0.0, low: float | None = None):
    """Finite float64 values in [low (default -bound), bound]; magnitudes in (0, tiny) are left out."""
    values = st.floats(-bound if low is None else low, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    if tiny:
        values = values.filter(lambda v: v == 0 or abs(v) >= tiny)
    return values


# ---------------------------------------------------------------------------------------------
# How each pointwise loss is tested: the classification every registered loss must have


DIFFERENCE = "function of the difference"  # term(ŷ, y) = f(ŷ − y): the reference is written in d
ZERO_IFF_EQUAL = "zero iff equal"  # every term is 0 exactly where ŷ = y, and positive elsewhere
NON_NEGATIVE = "non-negative"  # every term ≥ 0 on the loss's domain
PROPERTY_SETS = (DIFFERENCE, ZERO_IFF_EQUAL, NON_NEGATIVE)


@dataclass(frozen=True)
class Profile:
    """A loss's valid inputs, an independent per-element reference (plain Python floats), and the
    property sets it belongs to. ``kinks`` are differences where a difference loss's derivative
    jumps or bends (central differences stay away from them); ``rtol`` 0 means bit-exact terms."""

    elements: tuple  # one hypothesis strategy per input, each element drawn within the domain
    reference: Callable[..., float]
    sets: frozenset
    kinks: tuple = ()
    rtol: float = 0.0


def _difference(term: Callable[[float], float]) -> Callable[..., float]:
    return lambda x, y: term(x - y)


# Any finite value; magnitudes below 1e-100 are left out, since their squares underflow to 0.
VALUES = floats(1e3, tiny=1e-100)

# Defaults as PyTorch's (δ = β = 1).
PROFILES = {
    "l1": Profile((VALUES, VALUES), _difference(abs), frozenset(PROPERTY_SETS), kinks=(0.0,)),
    "mse": Profile((VALUES, VALUES), _difference(lambda d: d * d), frozenset(PROPERTY_SETS)),
    "huber": Profile(
        (VALUES, VALUES),
        _difference(lambda d: 0.5 * d * d if abs(d) < 1.0 else 1.0 * (abs(d) - 0.5 * 1.0)),
        frozenset(PROPERTY_SETS), kinks=(-1.0, 1.0),
    ),
    "smooth-l1": Profile(
        (VALUES, VALUES),
        _difference(lambda d: 0.5 * d * d / 1.0 if abs(d) < 1.0 else abs(d) - 0.5 * 1.0),
        frozenset(PROPERTY_SETS), kinks=(-1.0, 1.0),
    ),
}


# Losses whose domain or inputs the generic strategies here do not draw yet: each has the same
# properties (golden cases, reductions, gradients by central differences, block splits, its own
# property set) in its family's test module.
TESTED_ELSEWHERE = {
    "bce": "tests/test_binary.py",
    "bce-logits": "tests/test_binary.py",
    "focal": "tests/test_binary.py",
    "poisson-nll": "tests/test_likelihood.py",
    "gaussian-nll": "tests/test_likelihood.py",
    "kl": "tests/test_classdist.py",
}


def test_every_registered_pointwise_loss_is_classified():
    """A new loss must say how it is tested: its domain, reference term and property sets."""
    assert set(PROFILES) | set(TESTED_ELSEWHERE) == set(POINTWISE_LOSSES)
    assert not set(PROFILES) & set(TESTED_ELSEWHERE)
    for name, profile in PROFILES.items():
        assert len(profile.elements) == len(POINTWISE_LOSSES[name].inputs), name
        assert profile.sets <= set(PROPERTY_SETS), name
        assert not profile.kinks or DIFFERENCE in profile.sets, name


LOSSES = sorted(PROFILES)


def in_set(property_set: str) -> list[str]:
    return [name for name in LOSSES if property_set in PROFILES.get(name, Profile((), abs, frozenset())).sets]


SHAPES = hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=8)


@st.composite
def inputs_of(draw, name: str, shapes=SHAPES, share_some: bool = True):
    """Inputs of one shape within the loss's domain; for two-input losses some targets copy the prediction."""
    shape = draw(shapes)
    arrays = [draw(hnp.arrays(np.float64, shape, elements=elements)) for elements in PROFILES[name].elements]
    if share_some and ZERO_IFF_EQUAL in PROFILES[name].sets:
        same = draw(hnp.arrays(np.bool_, shape))
        arrays[1] = np.where(same, arrays[0], arrays[1])
    return tuple(arrays)


def reference_terms(name: str, *inputs: np.ndarray) -> list[float]:
    term = PROFILES[name].reference
    return [term(*values) for values in zip(*(a.ravel().tolist() for a in inputs))]


def assert_terms(name: str, got, inputs) -> None:
    expected = np.array(reference_terms(name, *inputs))
    got = np.ravel(got)
    if PROFILES[name].rtol:
        np.testing.assert_allclose(got, expected, rtol=PROFILES[name].rtol, atol=1e-300)
    else:
        np.testing.assert_array_equal(got, expected)


def close(a: float, b: float, rel: float) -> bool:
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


def tolerance(name: str) -> float:
    return max(PROFILES[name].rtol, 1e-12)


# ---------------------------------------------------------------------------------------------
# 1. pointwise losses through the API


@pytest.mark.parametrize("name", in_set(ZERO_IFF_EQUAL))
@API
@given(data=st.data())
def test_loss_is_zero_exactly_when_prediction_equals_target(name, data):
    inputs = data.draw(inputs_of(name))
    equal = bool(np.array_equal(inputs[0], inputs[1]))
    for reduction in REDUCED:
        value = float(elementwise_loss(name, *inputs, reduction=reduction).value)
        assert (value == 0) == equal, (reduction, value)
    terms = np.asarray(elementwise_loss(name, *inputs, reduction="none").value)
    np.testing.assert_array_equal(terms == 0, inputs[0] == inputs[1])


@pytest.mark.parametrize("name", in_set(NON_NEGATIVE))
@API
@given(data=st.data())
def test_loss_is_nonnegative(name, data):
    inputs = data.draw(inputs_of(name))
    for reduction in REDUCED:
        assert float(elementwise_loss(name, *inputs, reduction=reduction).value) >= 0
    terms = np.asarray(elementwise_loss(name, *inputs, reduction="none").value)
    assert terms.shape == inputs[0].shape
    assert np.all(terms >= 0)


@pytest.mark.parametrize("name", in_set(DIFFERENCE))
@API
@given(data=st.data(), shift=st.integers(-64, 64))
def test_loss_of_the_difference_does_not_change_when_both_inputs_shift(name, data, shift):
    # Values on a grid of 1/8 keep x + c and y + c exact, so ŷ − y is the same number.
    grid = st.integers(-800, 800).map(lambda k: k / 8)
    x = data.draw(hnp.arrays(np.float64, 6, elements=grid))
    y = data.draw(hnp.arrays(np.float64, 6, elements=grid))
    before = elementwise_loss(name, x, y, reduction="none")
    after = elementwise_loss(name, x + shift, y + shift, reduction="none")
    np.testing.assert_array_equal(after.value, before.value)
    np.testing.assert_array_equal(after.grad, before.grad)


@pytest.mark.parametrize("name", LOSSES)
@API
@given(data=st.data(), permutation_seed=st.randoms(use_true_random=False))
def test_loss_is_invariant_to_one_permutation_of_every_input(name, data, permutation_seed):
    inputs = data.draw(inputs_of(name))
    order = list(range(inputs[0].size))
    permutation_seed.shuffle(order)
    shuffled = [a.ravel()[order].reshape(a.shape) for a in inputs]
    for reduction in REDUCED:
        before = float(elementwise_loss(name, *inputs, reduction=reduction).value)
        after = float(elementwise_loss(name, *shuffled, reduction=reduction).value)
        assert close(before, after, 1e-12), (reduction, before, after)
    before = np.asarray(elementwise_loss(name, *inputs, reduction="none").value).ravel()
    after = np.asarray(elementwise_loss(name, *shuffled, reduction="none").value).ravel()
    np.testing.assert_array_equal(after, before[order])


@pytest.mark.parametrize("name", LOSSES)
@API
@given(data=st.data())
def test_mean_is_sum_over_n_and_both_match_the_reference_formula(name, data):
    inputs = data.draw(inputs_of(name))
    n = inputs[0].size
    mean = elementwise_loss(name, *inputs, reduction="mean")
    total = elementwise_loss(name, *inputs, reduction="sum")
    exact_sum = math.fsum(reference_terms(name, *inputs))
    assert close(float(mean.value), float(total.value) / n, 1e-12)
    assert close(float(total.value), exact_sum, tolerance(name)) or abs(float(total.value) - exact_sum) < 1e-9
    assert mean.n == total.n == n
    assert mean.denominator == n


@pytest.mark.parametrize("name", LOSSES)
@API
@given(data=st.data())
def test_reduction_none_summed_is_the_sum_and_each_term_is_the_reference(name, data):
    inputs = data.draw(inputs_of(name))
    none = elementwise_loss(name, *inputs, reduction="none")
    total = float(elementwise_loss(name, *inputs, reduction="sum").value)
    terms = np.asarray(none.value)
    assert terms.shape == inputs[0].shape
    assert close(math.fsum(terms.ravel().tolist()), total, 1e-12)
    assert_terms(name, terms, inputs)


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
    profile = PROFILES[name]
    if DIFFERENCE in profile.sets:
        prediction = data.draw(hnp.arrays(np.float64, shape, elements=floats(10.0)), label="prediction")
        away = floats(10.0).filter(lambda d: all(abs(d - kink) >= 0.01 for kink in profile.kinks))
        offset = data.draw(hnp.arrays(np.float64, shape, elements=away), label="offset")
        inputs = (prediction, prediction - offset)
    else:  # a profile's domain keeps 0.01 or more from its edges, so x ± h stays inside
        inputs = tuple(data.draw(hnp.arrays(np.float64, shape, elements=e)) for e in profile.elements)
    prediction, *others = inputs
    result = elementwise_loss(name, *inputs, reduction=reduction)
    numeric = _central_differences(
        lambda p: elementwise_loss(name, p, *others, reduction=reduction).value, prediction, FD_STEP
    )
    assert np.shape(result.grad) == prediction.shape
    np.testing.assert_allclose(result.grad, numeric, rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# 2. PointwiseAccumulator over blocks


@st.composite
def split_inputs(draw, name: str, max_size: int = 120, nan: bool = False):
    """1-D inputs of the loss (nan among the first when ``nan``) and block bounds cutting them."""
    n = draw(st.integers(1, max_size))
    first, *rest = PROFILES[name].elements
    first = first if not nan else st.one_of(first, st.just(float("nan")))
    inputs = [draw(hnp.arrays(np.float64, n, elements=e)) for e in (first, *rest)]
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=min(n - 1, 12)))) if n > 1 else []
    return (*inputs, [0, *cuts, n])


def _feed(accumulator: PointwiseAccumulator, *data):
    *inputs, bounds = data
    blocks = []
    for start, stop in zip(bounds, bounds[1:]):
        blocks.append(accumulator.add(*(a[start:stop] for a in inputs)))
    return blocks


@API
@given(data=split_inputs("mse", max_size=200))
def test_chunked_sum_is_the_exact_sum_of_fixed_chunks_whatever_the_blocks(data):
    values, _, bounds = data
    summed = _SmallChunks()
    for start, stop in zip(bounds, bounds[1:]):
        summed.add(values[start:stop])
    # Independently: chunks of 7 counted from the first value, each summed by numpy, added exactly.
    expected = math.fsum(float(np.sum(values[i : i + 7])) for i in range(0, values.size, 7))
    assert summed.total() == expected


class _SmallChunks(losses.ChunkedSum):
    CHUNK = 7  # so that a few dozen values span many chunks


@pytest.mark.parametrize("reduction", losses.REDUCTIONS)
@pytest.mark.parametrize("name", LOSSES)
@API
@given(data=st.data())
def test_accumulator_gives_the_same_result_for_any_block_split(name, reduction, data):
    *inputs, bounds = data.draw(split_inputs(name))
    n = inputs[0].size
    whole = PointwiseAccumulator(POINTWISE_LOSSES[name], reduction)
    whole.add(*inputs)
    split = PointwiseAccumulator(POINTWISE_LOSSES[name], reduction)
    blocks = _feed(split, *inputs, bounds)
    expected, got = whole.result(), split.result()
    reference = reference_terms(name, *inputs)

    # identical terms, block by block and in the result
    assert_terms(name, np.concatenate([b.terms for b in blocks]), inputs)
    np.testing.assert_array_equal(np.concatenate([b.rows for b in blocks]), np.arange(n))
    np.testing.assert_array_equal(got.terms, expected.terms)
    np.testing.assert_array_equal(got.grad, expected.grad)
    assert got.n == expected.n == n
    if reduction == "none":
        np.testing.assert_array_equal(got.value, expected.value)
    else:
        exact = math.fsum(reference) / (n if reduction == "mean" else 1)
        assert got.value.tobytes() == expected.value.tobytes()  # the blocks never change a bit
        assert close(float(got.value), exact, tolerance(name)) or abs(float(got.value) - exact) < 1e-9


@pytest.mark.parametrize("name", LOSSES)
@API
@given(data=st.data(), keep=st.integers(0, 12), reduction=st.sampled_from(losses.REDUCTIONS))
def test_accumulator_keeps_the_first_and_last_rows_for_the_table(name, data, keep, reduction):
    *inputs, bounds = data.draw(split_inputs(name))
    n = inputs[0].size
    accumulator = PointwiseAccumulator(POINTWISE_LOSSES[name], reduction, keep_rows=keep)
    _feed(accumulator, *inputs, bounds)
    result = accumulator.result()
    head = list(range(min((keep + 1) // 2, n)))
    tail = [i for i in range(max(n - keep // 2, 0), n) if i not in head]
    kept = head + tail
    assert_terms(name, result.terms, [a[kept] for a in inputs])
    first = POINTWISE_LOSSES[name].inputs[0].key
    np.testing.assert_array_equal(result.column(first).values, inputs[0][kept])
    if len(kept) == n:
        assert result.row_numbers is None
    else:
        np.testing.assert_array_equal(result.row_numbers, kept)
    if reduction != "none":  # the value is still over every row
        exact = math.fsum(reference_terms(name, *inputs)) / (n if reduction == "mean" else 1)
        assert close(float(result.value), exact, tolerance(name)) or abs(float(result.value) - exact) < 1e-9


@pytest.mark.parametrize("name", LOSSES)
@API
@given(data=st.data(), reduction=st.sampled_from(REDUCED))
def test_accumulator_omitting_nan_equals_the_loss_on_the_other_rows(name, data, reduction):
    *inputs, bounds = data.draw(split_inputs(name, nan=True))
    keep = ~np.isnan(inputs[0])
    accumulator = PointwiseAccumulator(POINTWISE_LOSSES[name], reduction, nan_policy="omit")
    _feed(accumulator, *inputs, bounds)
    if not keep.any():
        with pytest.raises(DataError):
            accumulator.result()
        return
    result = accumulator.result()
    reference = reference_terms(name, *(a[keep] for a in inputs))
    exact = math.fsum(reference) / (len(reference) if reduction == "mean" else 1)
    assert result.n == len(reference)
    assert result.omitted == int((~keep).sum())
    assert close(float(result.value), exact, tolerance(name)) or abs(float(result.value) - exact) < 1e-9
    np.testing.assert_array_equal(result.row_numbers if result.row_numbers is not None else np.arange(keep.size), np.flatnonzero(keep))


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


def vectors_of(name: str):
    """1 to 30 elements of each input of the loss, within its domain."""
    elements = PROFILES[name].elements
    return st.integers(1, 30).flatmap(lambda n: st.tuples(*(hnp.arrays(np.float64, n, elements=e) for e in elements)))


@pytest.mark.parametrize("source", ["inline", "stdin"])
@pytest.mark.parametrize("reduction", REDUCED)
@pytest.mark.parametrize("name", LOSSES)
@CLI
@given(data=st.data(), digits=st.integers(1, 6))
def test_cli_value_is_the_same_in_every_format(cli, name, reduction, source, data, digits):
    inputs = data.draw(vectors_of(name))
    spec = POINTWISE_LOSSES[name]
    n = inputs[0].size
    if source == "inline":
        args, stdin = [name, *(inline(a) for a in inputs)], b""
    else:
        rows = "".join(",".join(repr(v) for v in values) + "\n" for values in zip(*(a.tolist() for a in inputs)))
        args, stdin = [name, "-"], (",".join(i.key for i in spec.inputs) + "\n" + rows).encode()
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
    assert footer["row"] == reduction and float(footer[spec.term_key]) == plain
    terms = [float(r[spec.term_key]) for r in records]
    reduced = math.fsum(terms) / (n if reduction == "mean" else 1)
    assert close(plain, reduced, 1e-12)
    exact = math.fsum(reference_terms(name, *inputs)) / (n if reduction == "mean" else 1)
    assert close(plain, exact, tolerance(name)) or abs(plain - exact) < 1e-9

    table = run("--format", "table", "--digits", str(digits))
    squeezed = re.search(r", (\d+) digits to fit", table)  # a table too wide for 80 columns says so
    cells = table_reduction_cell(table, reduction)
    assert shows_rounded(cells[-1], plain, int(squeezed.group(1)) if squeezed else digits), cells


@pytest.mark.parametrize("name", LOSSES)
@CLI
@given(data=st.data())
def test_cli_reduction_none_writes_the_same_terms_in_plain_json_and_csv(cli, name, data):
    inputs = data.draw(vectors_of(name))
    args = [name, *(inline(a) for a in inputs), "--reduction", "none"]
    plain = cli(*args, "--format", "plain")
    assert plain.status == 0, plain.stderr
    lines = [float(t) for t in plain.stdout.split()]
    document = json.loads(cli(*args, "--format", "json").stdout)
    records = list(csv.DictReader(io.StringIO(cli(*args, "--format", "csv").stdout)))
    assert_terms(name, lines, inputs)
    assert document["value"] == lines
    assert [float(r[POINTWISE_LOSSES[name].term_key]) for r in records] == lines


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


@pytest.mark.parametrize("name", in_set(DIFFERENCE))
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
