"""--by-class (the loss split by class) and floors (the least value a loss can take on its targets).

Expected numbers come from numpy written here from the formulas (semantics.md), scikit-learn's
recall_score and compute_class_weight, and the least loss found by evaluating the loss itself.
"""

from __future__ import annotations

import csv
import io
import json
import math
import tracemalloc

import numpy as np
import pytest
from sklearn.metrics import recall_score
from sklearn.utils.class_weight import compute_class_weight

from losscli import cross_entropy, nll_loss
from losscli.losses import POINTWISE_LOSSES, CrossEntropyAccumulator, NLLAccumulator, PointwiseAccumulator, pointwise_loss

from .golden import inline_values

RNG = np.random.default_rng(11)

# Every loss, classified: (has --by-class, has a floor). A new loss must be added here.
CLASSIFIED = {
    "l1": (False, False), "mse": (False, False), "huber": (False, False), "smooth-l1": (False, False),
    "bce": (True, True), "bce-logits": (True, True), "focal": (True, False),
    "poisson-nll": (False, False), "gaussian-nll": (False, False),
    "kl": (False, False),  # KL reaches 0 at x = log p: the targets' entropy is not a floor of it
    "xent": (True, True), "nll": (True, False),
}
CLASS_ACCUMULATORS = {"xent": CrossEntropyAccumulator, "nll": NLLAccumulator}


def test_every_registered_loss_is_classified():
    assert set(CLASSIFIED) == set(POINTWISE_LOSSES) | set(CLASS_ACCUMULATORS)
    for name, spec in POINTWISE_LOSSES.items():
        assert (spec.by_class is not None, spec.floor is not None) == CLASSIFIED[name], name
    for name, accumulator in CLASS_ACCUMULATORS.items():
        assert (accumulator.has_by_class, accumulator.has_floor) == CLASSIFIED[name], name


# --- independent per-class numbers --------------------------------------------------------------


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _expected(labels, predicted, terms, classes, weight=None):
    """count, mean loss, loss share, weight share, recall per class, by numpy and scikit-learn."""
    count = np.array([np.sum(labels == c) for c in range(classes)])
    sums = np.array([terms[labels == c].sum() for c in range(classes)])
    w = np.ones(classes) if weight is None else np.asarray(weight)
    recall = recall_score(labels, predicted, labels=list(range(classes)), average=None, zero_division=np.nan)
    return count, sums / count, sums / terms.sum(), w * count / (w * count).sum(), recall


def _check(by_class, expected, weight_share=True):
    count, mean, share, w_share, recall = expected
    rows = by_class.rows
    assert [r.count for r in rows] == count.tolist()
    assert [r.mean_loss for r in rows] == pytest.approx(mean, rel=1e-12)
    assert [r.loss_share for r in rows] == pytest.approx(share, rel=1e-12)
    assert [r.accuracy for r in rows] == pytest.approx(recall, rel=1e-15)
    if weight_share:
        assert [r.weight_share for r in rows] == pytest.approx(w_share, rel=1e-12)
    else:
        assert all(r.weight_share is None for r in rows)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("loss", ["xent", "nll"])
def test_class_losses_by_class_match_numpy_and_scikit_learn(loss, weighted):
    samples, classes = 200, 4
    logits = RNG.normal(size=(samples, classes)) * 2
    labels = RNG.choice(classes, size=samples, p=[0.5, 0.3, 0.15, 0.05])
    target = labels.astype(float)
    target[::17] = -100  # ignored: left out of every class, and counted
    weight = RNG.uniform(0.5, 2, classes) if weighted else None
    scores = _log_softmax(logits) if loss == "nll" else logits
    call = cross_entropy if loss == "xent" else nll_loss
    result = call(scores, target, weight=weight, by_class=True)
    kept = target != -100
    lp = _log_softmax(logits)[kept]
    w = np.ones(classes) if weight is None else weight
    terms = -w[labels[kept]] * lp[np.arange(kept.sum()), labels[kept]]
    expected = _expected(labels[kept], np.argmax(logits[kept], axis=1), terms, classes, weight)
    _check(result.by_class, expected)
    assert result.by_class.excluded == {"ignored": int((~kept).sum())}
    # The suggestion is scikit-learn's "balanced" weight, over the counted samples.
    balanced = compute_class_weight("balanced", classes=np.arange(classes), y=labels[kept])
    assert result.by_class.suggestion.values == pytest.approx(balanced, rel=1e-15)
    assert result.by_class.suggestion.flag == "--weight"
    # Each class's terms add up to the loss: the shares are of the same sum the mean divides.
    sums = [r.mean_loss * r.count for r in result.by_class.rows]
    assert sum(sums) / w[labels[kept]].sum() == pytest.approx(float(result.value), rel=1e-12)


def test_probability_targets_count_in_their_argmax_class():
    samples, classes = 60, 3
    logits = RNG.normal(size=(samples, classes))
    target = RNG.dirichlet(np.ones(classes), size=samples)
    result = cross_entropy(logits, target, by_class=True)
    labels = np.argmax(target, axis=1)
    terms = -(target * _log_softmax(logits)).sum(axis=1)
    _check(result.by_class, _expected(labels, np.argmax(logits, axis=1), terms, classes), weight_share=False)
    assert "argmax" in result.by_class.classed_by
    assert any("argmax" in note for note in result.notes)  # the decision is said on stderr too


def _binary_terms(loss, x, y):
    if loss == "bce":
        return -(y * np.log(x) + (1 - y) * np.log1p(-x))
    bce = np.logaddexp(0, -x) * y + np.logaddexp(0, x) * (1 - y)
    if loss == "bce-logits":
        return bce
    p = 1 / (1 + np.exp(-x))
    p_t = p * y + (1 - p) * (1 - y)
    return (0.25 * y + 0.75 * (1 - y)) * (1 - p_t) ** 2 * bce


@pytest.mark.parametrize("loss", ["bce", "bce-logits", "focal"])
def test_binary_losses_by_class_match_numpy_and_scikit_learn(loss):
    n = 300
    y = (RNG.random(n) < 0.2).astype(float)
    y[:10] = [0.9, 0.1, 0.5, 0.51, 0.3, 0.7, 0.2, 0.8, 0.05, 0.95]  # soft: the nearer class, 0.5 is 0
    x = RNG.normal(size=n) * 2 + (y - 0.5)
    if loss == "bce":
        x = 1 / (1 + np.exp(-x))
    result = pointwise_loss(POINTWISE_LOSSES[loss], x, y, by_class=True)
    labels = (y > 0.5).astype(int)
    predicted = (x > (0.5 if loss == "bce" else 0)).astype(int)
    _check(result.by_class, _expected(labels, predicted, _binary_terms(loss, x, y), 2), weight_share=False)
    assert "10 soft targets" in result.by_class.classed_by
    assert any("10 soft targets" in note for note in result.notes)
    negatives, positives = np.sum(labels == 0), np.sum(labels == 1)
    suggestion = result.by_class.suggestion
    if loss == "focal":
        assert (suggestion.flag, suggestion.values) == ("--alpha", pytest.approx((negatives / n,), rel=1e-15))
    else:  # bce has no pos_weight: the suggestion names bce-logits, whose option it is
        assert (suggestion.flag, suggestion.command) == ("--pos-weight", "bce-logits")
        assert suggestion.values == pytest.approx((negatives / positives,), rel=1e-15)


def test_a_class_without_samples_gets_no_weight_suggestion_and_nan_accuracy():
    result = cross_entropy([[1.0, 0, 0], [0, 1, 0]], [0, 1], by_class=True)
    assert result.by_class.suggestion.values is None and "class 2" in result.by_class.suggestion.why_not
    assert result.by_class.rows[2].count == 0 and math.isnan(result.by_class.rows[2].accuracy)


def test_nan_policy_omit_leaves_the_omitted_rows_out_of_every_class():
    logits = np.array([[1.0, 0], [np.nan, 0], [0, 2], [0, 1]])
    result = cross_entropy(logits, [0, 1, 1, 0], nan_policy="omit", by_class=True)
    assert [r.count for r in result.by_class.rows] == [2, 1]
    assert [r.accuracy for r in result.by_class.rows] == [0.5, 1.0]
    x, y = np.array([0.2, np.nan, 0.9]), np.array([0.0, 1, 1])
    binary = pointwise_loss(POINTWISE_LOSSES["bce"], x, y, nan_policy="omit", by_class=True)
    assert [r.count for r in binary.by_class.rows] == [1, 1]


# --- streaming ----------------------------------------------------------------------------------


def _blocks(n: int) -> list[slice]:
    cuts = [0, 1, 777, 20_000, 20_001, n]  # across the per-class sums' 16384-row chunks
    return [slice(a, b) for a, b in zip(cuts, cuts[1:])]


def test_class_loss_streamed_in_blocks_equals_the_whole_array_bit_for_bit():
    n, classes = 40_000, 5
    logits = RNG.normal(size=(n, classes))
    labels = RNG.integers(0, classes, n).astype(float)
    labels[::13] = -100
    options = dict(weight=[1, 2, 0.5, 1, 3], label_smoothing=0.2, by_class=True)
    whole = cross_entropy(logits, labels, **options)
    streamed = CrossEntropyAccumulator("mean", keep_rows=0, **options)
    for block in _blocks(n):
        streamed.add(logits[block], labels[block])
    result = streamed.result()
    assert result.by_class == whole.by_class and result.floor == whole.floor


def test_binary_loss_streamed_in_blocks_equals_the_whole_array_bit_for_bit():
    n = 40_000
    x, y = RNG.normal(size=n), RNG.random(n)
    whole = pointwise_loss(POINTWISE_LOSSES["bce-logits"], x, y, pos_weight=[2.5], by_class=True)
    streamed = PointwiseAccumulator(POINTWISE_LOSSES["bce-logits"], keep_rows=0, parameters={"pos_weight": np.array([2.5])},
                                    by_class=True)
    for block in _blocks(n):
        streamed.add(x[block], y[block])
    result = streamed.result()
    assert result.by_class == whole.by_class and result.floor == whole.floor


def test_a_file_gives_the_numbers_of_inline_values(cli, write):
    logits = RNG.normal(size=(30, 3)).round(3)
    labels = RNG.integers(0, 3, 30)
    path = write("d.csv", "a,b,c,label\n" + "".join(f"{r[0]},{r[1]},{r[2]},{t}\n" for r, t in zip(logits, labels)))
    args = ["--by-class", "--label-smoothing", "0.1", "-f", "json", "-q"]
    from_file = json.loads(cli("xent", path, "--target", "label", *args).stdout)  # the logit headers name the classes
    inline_logits = ";".join(",".join(map(repr, r.tolist())) for r in logits)
    inline = json.loads(cli("xent", inline_logits, inline_values(labels), "--classes", "a,b,c", *args).stdout)
    for key in ("by_class", "suggested_weight", "floor"):
        assert from_file[key] == inline[key]


# --- floors -------------------------------------------------------------------------------------


def smoothing_floor(epsilon: float, classes: int) -> float:
    """H(q′) as the issue writes it: −(1−ε+ε/C)·log(1−ε+ε/C) − (C−1)·(ε/C)·log(ε/C)."""
    on, off = 1 - epsilon + epsilon / classes, epsilon / classes
    return -on * math.log(on) - (classes - 1) * off * math.log(off)


def _smoothed_terms(logits, labels, epsilon, weight=None):
    """nn.CrossEntropyLoss(label_smoothing=ε, weight=w, reduction='none'), index targets (semantics.md)."""
    lp = _log_softmax(logits)
    classes = logits.shape[1]
    w = np.ones(classes) if weight is None else np.asarray(weight)
    picked = -lp[np.arange(len(labels)), labels]
    return (1 - epsilon) * w[labels] * picked + epsilon / classes * -(lp * w).sum(axis=1)


def test_the_smoothing_floor_for_two_classes_is_pytorchs():
    result = cross_entropy([[3.0, -1], [0, 2]], [0, 1], label_smoothing=0.1)
    assert result.floor.value == pytest.approx(0.1985152433, abs=1e-10)  # semantics.md, checked against PyTorch


@pytest.mark.parametrize("classes, epsilon", [(2, 0.1), (3, 0.1), (10, 0.3), (4, 1.0)])
def test_the_smoothing_floor_is_h_of_q_prime_and_the_least_loss_a_model_reaches(classes, epsilon):
    labels = np.arange(6) % classes
    result = cross_entropy(RNG.normal(size=(6, classes)), labels, label_smoothing=epsilon)
    floor = smoothing_floor(epsilon, classes)
    assert result.floor.value == pytest.approx(floor, rel=1e-12)
    assert f"ε={epsilon:g} over C={classes}" in result.floor.why
    # Predicting the smoothed target q′ itself reaches the floor (through losscli); nothing does better.
    q = np.full((6, classes), epsilon / classes) + (1 - epsilon) * np.eye(classes)[labels]
    assert float(cross_entropy(np.log(q), labels, label_smoothing=epsilon).value) == pytest.approx(floor, rel=1e-12)
    assert np.all(_smoothed_terms(np.log(q) + RNG.normal(size=q.shape), labels, epsilon) > floor)
    # A perfect, ever more confident model (logits k·onehot(y)) comes down to the floor and no lower:
    # one sample per k, in one call.
    k = np.linspace(0, 20, 20_001)
    terms = cross_entropy(k[:, None] * np.eye(classes)[0], np.zeros(k.size), label_smoothing=epsilon, reduction="none").terms
    assert terms.min() == pytest.approx(floor, rel=1e-7) and terms.min() >= floor * (1 - 1e-12)


def test_with_weights_the_floor_is_reached_by_the_weighted_smoothed_target():
    classes, epsilon, weight = 3, 0.2, np.array([1.0, 3.0, 0.5])
    labels = np.array([0, 1, 2, 1, 1])
    result = cross_entropy(RNG.normal(size=(5, classes)), labels, weight=weight, label_smoothing=epsilon)
    a = (1 - epsilon) * weight[labels][:, None] * np.eye(classes)[labels] + epsilon / classes * weight
    best = np.log(a / a.sum(axis=1, keepdims=True))
    least = float(cross_entropy(best, labels, weight=weight, label_smoothing=epsilon).value)
    assert result.floor.value == pytest.approx(least, rel=1e-12)
    assert _smoothed_terms(best + 0.1 * RNG.normal(size=best.shape), labels, epsilon, weight).sum() > least * weight[labels].sum()


def test_probability_targets_floor_is_their_mean_entropy():
    target = RNG.dirichlet(np.ones(4), size=8)
    result = cross_entropy(RNG.normal(size=(8, 4)), target)
    entropy = -(target * np.log(target)).sum(axis=1).mean()
    assert result.floor.value == pytest.approx(entropy, rel=1e-12)
    assert float(cross_entropy(np.log(target), target).value) == pytest.approx(entropy, rel=1e-12)


@pytest.mark.parametrize("loss, parameters", [("bce", {}), ("bce-logits", {}), ("bce-logits", {"pos_weight": [3.0]}),
                                              ("bce", {"weight": [2.0]})])
def test_soft_binary_targets_floor_is_the_least_bce(loss, parameters):
    t = np.array([0.1, 0.5, 0.8, 1.0, 0.0, 0.3])
    spec = POINTWISE_LOSSES[loss]
    result = pointwise_loss(spec, np.full(6, 0.5 if loss == "bce" else 0.0), t, **parameters)
    pw = parameters.get("pos_weight", [1.0])[0]
    best = pw * t / (pw * t + 1 - t)  # where −(pw·t·log q + (1−t)·log(1−q)) is least
    with np.errstate(divide="ignore"):  # t = 0 or 1: a logit of ∓inf, here ∓50 (its term is e^−50 from 0)
        best_input = best if loss == "bce" else np.clip(np.log(best) - np.log1p(-best), -50, 50)
    least = float(pointwise_loss(spec, best_input, t, **parameters).value)
    assert result.floor.value == pytest.approx(least, rel=1e-9)
    if not parameters:
        entropy = -(t * np.log(np.where(t > 0, t, 1)) + (1 - t) * np.log(np.where(t < 1, 1 - t, 1)))
        assert result.floor.value == pytest.approx(entropy.mean(), rel=1e-12)


def test_no_floor_where_a_perfect_prediction_costs_0():
    assert pointwise_loss(POINTWISE_LOSSES["bce-logits"], [0.3, -1], [1.0, 0.0]).floor is None  # hard targets
    assert cross_entropy([[1.0, 0]], [0]).floor is None  # index targets, no smoothing
    assert nll_loss([[-0.1, -2.4]], [0], weight=[2, 1]).floor is None
    # Hard targets: ever more confident correct logits bring the loss to 0.
    assert float(pointwise_loss(POINTWISE_LOSSES["bce-logits"], [40.0, -40.0], [1.0, 0.0]).value) < 1e-16


def test_the_floor_follows_the_reduction():
    t, x = np.array([0.2, 0.7, 1.0]), np.zeros(3)
    spec = POINTWISE_LOSSES["bce-logits"]
    mean = pointwise_loss(spec, x, t).floor.value
    assert pointwise_loss(spec, x, t, reduction="sum").floor.value == pytest.approx(3 * mean, rel=1e-15)
    none = pointwise_loss(spec, x, t, reduction="none").floor
    assert none.value == pytest.approx(mean, rel=1e-15) and "mean per term" in none.why


# --- the command line ---------------------------------------------------------------------------

LOGITS = "1,2,0.5;0.1,-1,3;2,2,-0.5;0,1,0;3,0,0"
LABELS = "1,2,0,1,-100"


def test_table_shows_the_class_table_the_suggestion_and_the_floor(cli):
    run = cli("xent", LOGITS, LABELS, "--by-class", "--label-smoothing", "0.1", "--classes", "cat,dog,bird", "-f", "table")
    assert run.status == 0, run.stderr
    out = run.stdout
    section = out[out.index("by class"):]
    assert "n = 4, 1 ignored target not counted" in section
    assert all(h in section for h in ("class", "count", "mean loss", "loss share", "w[y] share", "accuracy"))
    assert "1 dog" in section and "2 bird" in section
    # 4 samples: cat 1, dog 2, bird 1 → N/(C·count) = 4/3, 2/3, 4/3
    assert "suggested: --weight 1.333,0.6667,1.333 (balanced: N/(C·count_c)" in section
    assert f"floor: {smoothing_floor(0.1, 3):.4g} (label smoothing ε=0.1 over C=3" in section


def test_json_carries_by_class_the_suggestion_and_the_floor(cli):
    run = cli("xent", LOGITS, LABELS, "--by-class", "--label-smoothing", "0.1", "--classes", "cat,dog,bird", "-f", "json")
    document = json.loads(run.stdout)
    assert [row["class"] for row in document["by_class"]] == ["cat", "dog", "bird"]
    assert set(document["by_class"][0]) == {"class", "count", "mean_loss", "loss_share", "accuracy", "weight_share"}
    assert document["by_class_excluded"] == {"ignored": 1}
    assert document["suggested_weight"]["values"] == [4 / 3, 2 / 3, 4 / 3]
    assert document["suggested_weight"]["option"] == f"--weight {4 / 3!r},{2 / 3!r},{4 / 3!r}"
    assert document["floor"]["value"] == pytest.approx(smoothing_floor(0.1, 3) * 4 / 4, rel=1e-12)
    binary = json.loads(cli("bce-logits", "1.4,-0.8,0.3", "1,0,0", "--by-class", "-f", "json").stdout)
    assert binary["suggested_pos_weight"]["values"] == 2.0 and "weight_share" not in binary["by_class"][0]
    assert "floor" not in binary  # hard targets


def test_json_without_by_class_has_the_floor_only(cli):
    document = json.loads(cli("bce", "0.5,0.5", "0.2,0.9", "-f", "json").stdout)
    assert "by_class" not in document and document["floor"]["value"] > 0


@pytest.mark.parametrize("fmt, delimiter", [("csv", ","), ("plain", "\t")])
def test_csv_and_plain_write_the_class_table_instead_of_the_rows(cli, write, fmt, delimiter):
    inline = cli("bce", "0.9,0.2,0.6,0.4", "1,0,0,1", "--by-class", "-f", fmt)
    path = write("b.csv", "p,y\n0.9,1\n0.2,0\n0.6,0\n0.4,1\n")
    streamed = cli("bce", path, "--by-class", "-f", fmt, "-q")
    assert inline.stdout == streamed.stdout
    rows = list(csv.reader(io.StringIO(inline.stdout), delimiter=delimiter))
    assert rows[0] == ["class", "count", "mean_loss", "loss_share", "weight_share", "accuracy"]
    assert [row[:2] for row in rows[1:]] == [["0", "2"], ["1", "2"]]
    assert float(rows[1][2]) == pytest.approx(-(math.log(0.8) + math.log(0.4)) / 2, rel=1e-15)
    assert [row[5] for row in rows[1:]] == ["0.5", "0.5"]


@pytest.mark.parametrize("argv", [["mse", "1,2", "1,3"], ["softmax", "1,2"], ["kl", "-1,-1", "0.5,0.5"]])
def test_by_class_on_a_loss_without_classes_is_a_usage_error_naming_those_with(cli, argv):
    run = cli(*argv, "--by-class")
    assert run.status == 2
    assert run.stderr.strip() == (
        f"losscli: error: --by-class splits a class loss by class (bce, bce-logits, focal, nll, xent); {argv[0]} has no classes"
    )


def test_by_class_with_a_gradient_in_csv_is_refused(cli):
    run = cli("xent", LOGITS, LABELS, "--by-class", "--grad", "-f", "csv")
    assert run.status == 2 and "--by-class with csv output" in run.stderr


@pytest.mark.parametrize("name, shown", [("xent", True), ("nll", True), ("focal", True), ("mse", False), ("softmax", False)])
def test_help_shows_by_class_only_where_it_works(cli, capsys, name, shown):
    run = cli(name, "--help")
    assert ("--by-class" in run.stdout + capsys.readouterr().out) == shown



def _peak_bytes(blocks: int, by_class: bool) -> tuple[int, object]:
    """Peak memory numpy allocates (tracemalloc) while xent streams ``blocks`` blocks of 5,000 rows."""
    rng = np.random.default_rng(5)
    logits, labels = rng.normal(size=(5_000, 4)), rng.integers(0, 4, 5_000).astype(float)
    accumulator = CrossEntropyAccumulator("mean", keep_rows=0, with_grad=False, label_smoothing=0.1, by_class=by_class)
    accumulator.add(logits, labels)  # the first block makes what lasts the whole stream
    tracemalloc.start()
    try:
        for _ in range(blocks - 1):
            accumulator.add(logits, labels)
        result = accumulator.result()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_by_class_streams_in_flat_memory():
    short, long = _peak_bytes(4, True), _peak_bytes(24, True)
    assert [row.count for row in long[1].by_class.rows] == [6 * row.count for row in short[1].by_class.rows]
    # 100,000 more rows held would be 100,000 × 5 × 8 bytes = 4 MB; a block's own arrays are below 0.5 MB.
    assert long[0] - short[0] < 200_000, (short[0], long[0])
    assert long[0] - _peak_bytes(24, False)[0] < 500_000  # --by-class adds about a block's worth, not more


@pytest.mark.parametrize("fmt", ["markdown", "latex"])
def test_by_class_in_markdown_or_latex_is_the_tables_section(cli, fmt):
    # The same per-class rows as the table view, as a pasteable table of the format, text escaped for it.
    from losscli.typeset import latex_text, markdown_text

    escape = markdown_text if fmt == "markdown" else latex_text
    table = cli("xent", LOGITS, LABELS, "--by-class", "-f", "table").stdout.splitlines()
    run = cli("xent", LOGITS, LABELS, "--by-class", "-f", fmt)
    assert run.status == 0, run.stderr
    for starts in ("suggested:", "by class ("):
        assert escape(next(line for line in table if line.startswith(starts))) in run.stdout
    section = table[next(i for i, line in enumerate(table) if line.startswith("by class (")):]
    rows = [[c.strip() for c in line.strip("│").split("│")] for line in section if line.startswith("│")]
    rows = [cells for cells in rows if cells[0][:1].isdigit()]  # the per-class rows, not the header
    assert len(rows) == 3
    separator = " | " if fmt == "markdown" else " & "
    for cells in rows:
        line = separator.join(escape(c) for c in cells)
        assert line in run.stdout, line


def test_a_vocabulary_of_classes_shows_those_with_samples_and_says_so(cli):
    # 200,000 classes took minutes to draw; people see the classes that occur (JSON has them all).
    rng = np.random.default_rng(30)
    logits, labels = rng.normal(size=(4, 40)), np.array([3, 17, 17, 39])
    args = (";".join(",".join(map(repr, row)) for row in logits.tolist()), ",".join(map(str, labels)), "--by-class")
    table = cli("xent", *args, "-f", "table").stdout
    assert "shown: 3 of 40 classes, those with samples; --format json or csv lists every class" in table
    drawn = {int(line.split("│")[1]) for line in table.splitlines()[table.splitlines().index(
        next(l for l in table.splitlines() if l.startswith("by class"))):] if line.startswith("│")}
    assert drawn == {3, 17, 39}
    assert len(json.loads(cli("xent", *args, "-f", "json").stdout)["by_class"]) == 40
    # a row's 40 logits are its first ten, …, its last (the cell wraps: its column, line by line)
    lines = [line.split("│") for line in table.splitlines() if line.startswith("│")]
    start = next(k for k, cells in enumerate(lines) if cells[1].strip() == "1")
    cell = lines[start][2]
    for cells in lines[start + 1:]:
        if cells[1].strip():
            break
        cell += cells[2]
    assert cell.replace(" ", "") == f"[{','.join(f'{v:.4g}' for v in logits[0, :10])},…,{logits[0, -1]:.4g}](40values)"

