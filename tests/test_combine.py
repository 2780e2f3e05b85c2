"""Partial results and ``losscli combine``: shards of an input joined give the whole input's value.

The expectation is always the one-pass value of the whole input (the accumulator or the CLI on
the whole file), computed independently of any partial; exact pieces make merging order-free.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from losscli.errors import DataError, UsageError
from losscli.losses import POINTWISE_LOSSES
from losscli.losses.base import exact_pieces
from losscli.losses.classes import CrossEntropyAccumulator, NLLAccumulator
from losscli.losses.partial import Partial, combine, new_accumulator, partial_of

from .conftest import run_cli

CLASS_LOSSES = {cls.name: cls for cls in (CrossEntropyAccumulator, NLLAccumulator)}
EVERY_LOSS = sorted([*POINTWISE_LOSSES, *CLASS_LOSSES])
CLASSES = 4
RELATIVE = 1e-14


def reductions(name: str) -> list[str]:
    allowed = POINTWISE_LOSSES[name].reductions if name in POINTWISE_LOSSES else ("mean", "sum", "none")
    return [r for r in allowed if r != "none"]


CASES = [(name, reduction) for name in EVERY_LOSS for reduction in reductions(name)]


def random_inputs(name: str, rows: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Valid inputs for any registered loss: probabilities where a loss needs them, variances > 0,
    class scores with indices (a few ignored) for the class losses."""
    if name in CLASS_LOSSES:
        scores = rng.normal(size=(rows, CLASSES)) * 3
        if name == "nll":
            scores = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
        labels = rng.integers(0, CLASSES, size=rows).astype(np.float64)
        labels[rng.random(rows) < 0.05] = -100
        return scores, labels
    spec = POINTWISE_LOSSES[name]
    arrays = [rng.uniform(0.01, 0.99, rows), rng.uniform(0.0, 1.0, rows)]
    if len(spec.inputs) == 3:
        arrays.append(rng.uniform(0.1, 2.0, rows))
    return tuple(arrays)


def options_for(name: str) -> dict:
    """Options other than the defaults where a loss has them: what the partial must carry."""
    if name == "xent":
        return {"weight": [1.0, 2.0, 0.5, 0.25], "label_smoothing": 0.1}
    if name == "nll":
        return {"weight": [0.5, 1.0, 3.0, 1.5]}
    return {"huber": {"delta": 0.3}, "smooth-l1": {"beta": 0.2}, "focal": {"gamma": 1.5}}.get(name, {})


def whole_value(name: str, reduction: str, inputs, **options) -> float:
    accumulator = new_accumulator(name, reduction, **options)
    accumulator.add(*inputs)
    return accumulator.result().value


def split_points(rows: int, rng: np.random.Generator) -> list[int]:
    cuts = sorted(set(rng.integers(1, rows, size=rng.integers(1, 6)).tolist()))
    return [0, *cuts, rows]


def close(got: float, expected: float) -> bool:
    return got == expected or abs(got - expected) <= RELATIVE * abs(expected)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name,reduction", CASES)
def test_partials_of_any_split_combine_to_the_whole_value(name, reduction, seed):
    rng = np.random.default_rng(1000 * seed + len(name))
    rows = int(rng.integers(2, 40_000))  # past the 16,384-value chunks of the exact sum
    inputs = random_inputs(name, rows, rng)
    options = options_for(name)
    expected = whole_value(name, reduction, inputs, **options)
    bounds = split_points(rows, rng)
    parts = [partial_of(name, *(a[i:j] for a in inputs), reduction=reduction, **options) for i, j in zip(bounds, bounds[1:])]
    combined = combine(parts)
    assert combined.counts["parts"] == len(parts)
    assert combined.counts["n"] == rows
    assert close(float(combined.value()), float(expected)), (combined.value(), expected)
    # The merge is exact, so the grouping and order of the parts change no bit.
    shuffled = [parts[i] for i in rng.permutation(len(parts))]
    folded = shuffled[0]
    for part in shuffled[1:]:
        folded = part.merge(folded)
    assert folded.value() == combined.value()
    # Through JSON and back, every float is the same.
    again = combine([Partial.from_dict(json.loads(json.dumps(p.to_dict()))) for p in parts])
    assert again.value() == combined.value()


@pytest.mark.parametrize("name,reduction", CASES)
def test_one_partial_is_the_accumulators_own_value_bit_for_bit(name, reduction):
    rng = np.random.default_rng(7)
    inputs = random_inputs(name, 50_000, rng)
    accumulator = new_accumulator(name, reduction, **options_for(name))
    for start in range(0, 50_000, 7_000):  # blocks that do not line up with the chunks
        accumulator.add(*(a[start : start + 7_000] for a in inputs))
    assert accumulator.partial().value() == accumulator.result().value


def test_every_loss_with_a_reduction_has_a_partial_and_softmax_is_refused():
    for name in EVERY_LOSS:
        assert new_accumulator(name, "sum") is not None
    with pytest.raises(UsageError, match="softmax .* no partial"):
        partial_of("softmax", [1.0, 2.0])
    with pytest.raises(UsageError, match="no loss named"):
        partial_of("msee", [1.0], [2.0])


def test_reduction_none_has_no_partial():
    accumulator = new_accumulator("mse", "none")
    accumulator.add([1.0, 2.0], [0.0, 0.0])
    with pytest.raises(UsageError, match="--reduction none"):
        accumulator.partial()
    assert accumulator.result().partial is None


def test_weighted_mean_divides_by_the_combined_weight_sum():
    # By hand: rows of class 0 (w 1), 1 (w 3) in one part, class 1 and ignored in the other.
    lp = np.log(np.array([[0.5, 0.5], [0.25, 0.75], [0.2, 0.8], [0.9, 0.1]]))
    labels = np.array([0.0, 1.0, 1.0, -100.0])
    parts = [partial_of("nll", lp[:2], labels[:2], weight=[1.0, 3.0]), partial_of("nll", lp[2:], labels[2:], weight=[1.0, 3.0])]
    combined = combine(parts)
    expected = (-math.log(0.5) - 3 * math.log(0.75) - 3 * math.log(0.8)) / 7
    assert combined.total("weights") == 7.0
    assert math.isclose(float(combined.value()), expected, rel_tol=1e-15)
    assert combined.counts["valid"] == 3


def test_batchmean_divides_by_the_combined_rows_of_the_first_dimension():
    rng = np.random.default_rng(3)
    target = rng.dirichlet(np.ones(3), size=10)
    log_input = np.log(rng.dirichlet(np.ones(3), size=10))
    parts = [partial_of("kl", log_input[i:j], target[i:j], reduction="batchmean") for i, j in ((0, 3), (3, 10))]
    terms = target * (np.log(target) - log_input)
    assert combine(parts).counts["batch"] == 10
    assert math.isclose(float(combine(parts).value()), math.fsum(terms.ravel()) / 10, rel_tol=1e-14)


def test_nan_propagates_and_omitted_rows_are_counted():
    pred, target = np.array([1.0, np.nan, 3.0, 4.0]), np.array([0.0, 0.0, 0.0, 0.0])
    kept = combine([partial_of("mse", pred[:2], target[:2]), partial_of("mse", pred[2:], target[2:])])
    assert math.isnan(kept.value())
    assert "1 row with nan" in kept.result().notes[0]
    omitted = combine([partial_of("mse", pred[:2], target[:2], nan_policy="omit"),
                       partial_of("mse", pred[2:], target[2:], nan_policy="omit")])
    assert float(omitted.value()) == (1 + 9 + 16) / 3
    assert omitted.counts["omitted"] == 1 and omitted.result().omitted == 1


def test_float32_parts_give_the_float32_whole_value():
    rng = np.random.default_rng(11)
    pred, target = rng.normal(size=30_000).astype(np.float32), rng.normal(size=30_000).astype(np.float32)
    whole = whole_value("mse", "mean", (pred, target), dtype="float32")
    combined = combine([partial_of("mse", pred[i:j], target[i:j], dtype="float32") for i, j in ((0, 12_345), (12_345, 30_000))])
    assert combined.value().dtype == np.float32 and whole.dtype == np.float32
    assert combined.value() == whole


@pytest.mark.parametrize(
    "other,differs",
    [
        (dict(name="l1"), "loss l1 but part 1 has mse"),
        (dict(reduction="sum"), "reduction sum"),
        (dict(dtype="float32"), "dtype float32"),
        (dict(nan_policy="omit"), "--nan-policy omit"),
    ],
)
def test_parts_of_another_loss_or_options_are_refused_naming_what_differs(other, differs):
    first = partial_of("mse", [1.0], [2.0])
    second = partial_of(other.pop("name", "mse"), [1.0], [2.0], **other)
    with pytest.raises(UsageError, match=differs):
        combine([first, second])


def test_a_different_parameter_or_class_count_is_refused():
    with pytest.raises(UsageError, match="--delta 0.5 but part 1 has 1.0"):
        combine([partial_of("huber", [1.0], [2.0]), partial_of("huber", [1.0], [2.0], delta=0.5)])
    with pytest.raises(UsageError, match="--weight"):
        combine([partial_of("xent", [[1.0, 2.0]], [0], weight=[1, 2]), partial_of("xent", [[1.0, 2.0]], [0])])
    with pytest.raises(DataError, match="classes 3 but part 1 has 2"):
        combine([partial_of("xent", [[1.0, 2.0]], [0]), partial_of("xent", [[1.0, 2.0, 3.0]], [0])])


def test_exact_pieces_keep_the_exact_sum_and_the_specials():
    values = [1e308, 1.0, -1e308, 1e-300, 0.1, 0.2]
    assert math.fsum(exact_pieces(values)) == math.fsum(values)
    halves = exact_pieces(values[:3]) + exact_pieces(values[3:])
    assert math.fsum(halves) == math.fsum(values)
    assert exact_pieces([1.0, math.inf]) == [math.inf]
    assert math.isnan(exact_pieces([math.inf, -math.inf])[0])
    p = partial_of("mse", [math.inf, 1.0], [0.0, 0.0], reduction="sum")
    back = Partial.from_dict(json.loads(json.dumps(p.to_dict(), allow_nan=False)))
    assert back.value() == math.inf


# ---------------------------------------------------------------------------------------------
# the command line


def write_table(path, columns: list[np.ndarray], header: list[str] | None = None) -> None:
    with open(path, "w") as out:
        if header:
            out.write(",".join(header) + "\n")
        for row in zip(*columns):
            out.write(",".join(repr(float(v)) for v in row) + "\n")


def cli_options(name: str) -> list[str]:
    """options_for(name) as flags; the class losses' tables name their label column."""
    flags = []
    for key, value in options_for(name).items():
        flags += ["--" + key.replace("_", "-"), ",".join(map(repr, value)) if isinstance(value, list) else repr(value)]
    return flags + (["--target", "label"] if name in CLASS_LOSSES else ["--no-header"])


def table_of(name: str, inputs) -> tuple[list[np.ndarray], list[str] | None]:
    if name in CLASS_LOSSES:
        scores, labels = inputs
        return [*scores.T, labels], [f"c{i}" for i in range(CLASSES)] + ["label"]
    return list(inputs), None


@pytest.mark.parametrize("name,reduction", CASES)
def test_cli_shards_combined_equal_the_whole_file(tmp_path, name, reduction):
    rng = np.random.default_rng(5 + len(name))
    rows = 20_000
    inputs = random_inputs(name, rows, rng)
    flags = ["-r", reduction, "-q", *cli_options(name)]
    whole = tmp_path / "whole.csv"
    write_table(whole, *table_of(name, inputs))
    expected = run_cli(name, str(whole), *flags, "-f", "plain")
    assert expected.status == 0, expected.stderr
    # The CLI's whole-file value is the API's (an independent path: blocks read from the file).
    assert close(float(expected.stdout), float(whole_value(name, reduction, inputs, **options_for(name))))
    bounds = split_points(rows, rng)
    lines = []
    for number, (i, j) in enumerate(zip(bounds, bounds[1:])):
        shard = tmp_path / f"shard-{number}.csv"
        write_table(shard, *table_of(name, [a[i:j] for a in inputs]))
        run = run_cli(name, str(shard), *flags, "-f", "json" if number % 2 else "partial")
        assert run.status == 0, run.stderr
        lines.append(run.stdout)
    parts = tmp_path / "parts.jsonl"
    parts.write_text("".join(lines))
    from_file = run_cli("combine", str(parts), "-f", "plain")
    from_stdin = run_cli("combine", "-f", "plain", stdin="".join(lines).encode())
    assert from_file.status == 0, from_file.stderr
    assert from_file.stdout == from_stdin.stdout
    assert close(float(from_file.stdout), float(expected.stdout))


def test_cli_xent_shards_with_names_weights_and_ignored_targets(tmp_path):
    rng = np.random.default_rng(9)
    scores, labels = random_inputs("xent", 5_000, rng)
    header = ["c0", "c1", "c2", "c3", "label"]
    write_table(tmp_path / "whole.csv", [*scores.T, labels], header)
    options = ["--target", "label", "--weight", "1,2,0.5,0.25", "--ignore-index", "-100", "-q"]
    expected = run_cli("xent", str(tmp_path / "whole.csv"), *options, "-f", "json")
    lines = []
    for number, (i, j) in enumerate(((0, 1_000), (1_000, 4_321), (4_321, 5_000))):
        write_table(tmp_path / f"s{number}.csv", [*scores[i:j].T, labels[i:j]], header)
        lines.append(run_cli("xent", str(tmp_path / f"s{number}.csv"), *options, "-f", "json").stdout)
    combined = json.loads(run_cli("combine", "-f", "json", stdin="".join(lines).encode()).stdout)
    whole = json.loads(expected.stdout)
    assert close(combined["value"], whole["value"])
    assert combined["denominator"] == whole["denominator"]  # Σ w[y]: a sum of small whole multiples, exact
    assert combined["n"] == whole["n"] and combined["parts"] == 3
    assert combined["partial"]["counts"]["valid"] == whole["partial"]["counts"]["valid"]
    # A combined JSON is a partial again: combines nest.
    nested = run_cli("combine", "-f", "plain", stdin=(json.dumps(combined) + "\n").encode())
    assert float(nested.stdout) == combined["value"]


def test_cli_combine_writes_every_format_like_a_loss_command():
    lines = [run_cli("mse", "2,3", "4,5", "-f", "json").stdout, run_cli("mse", "4,5", "6,7", "-f", "json").stdout]
    stdin = "".join(lines).encode()
    assert run_cli("combine", "-f", "plain", stdin=stdin).stdout == "4.0\n"
    assert run_cli("combine", "-f", "csv", stdin=stdin).stdout == "row,sq_diff\nmean,4.0\n"
    table = run_cli("combine", "-f", "table", stdin=stdin).stdout
    assert "MSE, reduction=mean, float64" in table and "mean" in table and "4" in table
    document = json.loads(run_cli("combine", "-f", "json", stdin=stdin).stdout)
    assert document["value"] == 4.0 and document["n"] == 4 and document["denominator"] == 4.0
    assert document["partial"]["counts"]["parts"] == 2
    refused = run_cli("combine", "-f", "markdown", stdin=stdin)
    assert refused.status == 2 and "no rows" in refused.stderr
    # --format partial: the partial alone, the same as json's, and a part for combine again.
    alone = run_cli("combine", "-f", "partial", stdin=stdin).stdout
    assert json.loads(alone) == document["partial"]
    assert run_cli("combine", "-f", "plain", stdin=alone.encode()).stdout == "4.0\n"


def test_format_partial_is_json_s_partial_without_rows(tmp_path):
    rng = np.random.default_rng(2)
    write_table(tmp_path / "t.csv", [rng.normal(size=3000), rng.normal(size=3000)])
    for source in (["2,3,4", "4,5,7"], [str(tmp_path / "t.csv"), "--no-header"]):
        alone = run_cli("huber", *source, "--delta", "0.5", "-f", "partial")
        whole = run_cli("huber", *source, "--delta", "0.5", "-f", "json")
        assert alone.status == 0 and alone.stdout.count("\n") == 1
        assert json.loads(alone.stdout) == json.loads(whole.stdout)["partial"]
    none = run_cli("mse", "2,3", "4,5", "-r", "none", "-f", "partial")
    assert none.status == 2 and "no partial" in none.stderr
    softmax = run_cli("softmax", "1,2,3", "-f", "partial")
    assert softmax.status == 2 and "no partial" in softmax.stderr
    grad = run_cli("mse", "2,3", "4,5", "-g", "-f", "partial")
    assert grad.status == 2 and "gradient" in grad.stderr


def test_cli_combine_refuses_mismatches_and_what_is_not_a_partial():
    mse = run_cli("mse", "2,3", "4,5", "-f", "json").stdout
    huber = run_cli("huber", "2,3", "4,5", "--delta", "0.5", "-f", "json").stdout
    mismatch = run_cli("combine", stdin=(mse + huber).encode())
    assert mismatch.status == 2 and "<stdin>:2 has loss huber but <stdin>:1 has mse" in mismatch.stderr
    none = run_cli("combine", stdin=run_cli("mse", "2,3", "4,5", "-r", "none", "-f", "json").stdout.encode())
    assert none.status == 2 and "no \"partial\"" in none.stderr
    assert "partial" not in json.loads(run_cli("mse", "2,3", "4,5", "-r", "none", "-f", "json").stdout)
    softmax = run_cli("combine", stdin=run_cli("softmax", "1,2,3", "-f", "json").stdout.encode())
    assert softmax.status == 2 and "softmax has no reduction" in softmax.stderr
    garbage = run_cli("combine", stdin=b"{\"loss\": \n")
    assert garbage.status == 1 and "<stdin>:1: not JSON" in garbage.stderr
    empty = run_cli("combine", stdin=b"")
    assert empty.status == 1 and "no partials" in empty.stderr
    version = json.loads(mse)
    version["partial"]["version"] = 2
    future = run_cli("combine", stdin=(json.dumps(version) + "\n").encode())
    assert future.status == 1 and "partial version 2" in future.stderr


# A partial edited by hand (or written by something else) must never give a value: each of these
# was once read as a number (or a traceback). (path in the partial, new value, words of the error)
EDITS = [
    ("mse", ("counts", "n"), -3, "count n -3"),
    ("mse", ("counts", "n"), 0.5, "count n 0.5"),
    ("mse", ("counts", "n"), "3", "count n '3'"),
    ("mse", ("counts", "n"), True, "count n True"),
    ("mse", ("counts", "n"), 1e400, "count n inf"),
    ("mse", ("counts", "parts"), 0, "count parts 0"),
    ("mse", ("counts", "extra"), 1, "unknown count 'extra'"),
    ("mse", ("version",), True, "partial version True"),
    ("mse", ("reduction",), "xyz", "reduction must be one of"),
    ("mse", ("reduction",), "batchmean", "reduction must be one of"),
    ("mse", ("options", "nan_policy"), "bogus", "nan policy must be one of"),
    ("mse", ("options", "delta"), 5, "takes no parameter delta"),
    ("mse", ("sums", "terms"), "1.25", "sum terms is not a list"),
    ("mse", ("sums", "weights"), [1.0], "sums ['terms', 'weights']"),
    ("mse", ("denominator",), "batch", "denominator 'batch'"),
    ("mse", ("facts",), {"classes": 3, "target_kind": "index"}, "facts"),
    ("mse", ("loss",), "nope", "no loss named 'nope'"),
    ("mse", ("options",), None, "options is not an object"),
    ("xent", ("sums", "weights"), [-5.0], "negative sum of weights"),
    ("xent", ("options", "weight"), [1.0, 2.0], "weight has 2 entries but there are 3 classes"),
    ("xent", ("options", "weight"), "abc", "weight"),
    ("xent", ("facts", "classes"), -1, "classes -1"),
    ("xent", ("facts", "classes"), "x", "classes 'x'"),
    ("xent", ("facts", "target_kind"), "zzz", "target kind 'zzz'"),
    ("xent", ("options", "label_smoothing"), 5, "label smoothing must be between 0 and 1"),
    ("xent", ("options", "ignore_index"), "a", "ignore_index"),
    ("xent", ("denominator",), "batch", "denominator 'batch'"),
    ("xent", ("options", "weight"), "per element", "option weight"),
    ("mse", ("options", "delta"), "per element", "option delta"),
]


@pytest.mark.parametrize("loss, path, value, words", EDITS, ids=[f"{e[0]}-{'.'.join(e[1])}={e[2]!r}" for e in EDITS])
def test_a_hand_edited_partial_is_a_data_error_never_a_value(loss, path, value, words):
    made = {"mse": ("mse", "1,2,3", "1.5,2,2"), "xent": ("xent", "1,2,0.5;0.1,-1,3", "1,2", "-w", "1,2,3")}[loss]
    document = json.loads(run_cli(*made, "-f", "partial").stdout)
    place = document
    for key in path[:-1]:
        place = place[key]
    place[path[-1]] = value
    done = run_cli("combine", stdin=(json.dumps(document) + "\n").encode())
    assert (done.status, done.stdout) == (1, ""), done.stderr
    assert done.stderr.startswith("losscli: error: <stdin>:1: ") and done.stderr.count("\n") == 1, done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr


def test_bce_with_a_weight_per_row_combines_and_a_weight_per_column_must_match(tmp_path):
    rng = np.random.default_rng(12)
    p, t, w = rng.uniform(0.05, 0.95, 900), (rng.random(900) < 0.5).astype(float), rng.uniform(0.5, 2, 900)
    for name, values in (("p", p), ("t", t), ("w", w)):
        for i in range(3):
            np.save(tmp_path / f"{name}{i}.npy", values[i * 300 : (i + 1) * 300])
    parts = "".join(run_cli("bce", *(str(tmp_path / f"{n}{i}.npy") for n in "pt"), "--weight", str(tmp_path / f"w{i}.npy"),
                            "-f", "partial").stdout for i in range(3))
    assert json.loads(parts.splitlines()[0])["options"]["weight"] == "per element"  # the shard's rows, not an option
    by_hand = math.fsum((-w * (t * np.log(p) + (1 - t) * np.log1p(-p))).tolist()) / 900
    assert float(run_cli("combine", stdin=parts.encode()).stdout) == pytest.approx(by_hand, rel=1e-14)
    # Over a matrix's columns the weight is an option, which every part must share.
    first = run_cli("bce", "0.2,0.3;0.4,0.5", "1,0;0,1", "--weight", "1,2", "-f", "partial").stdout
    other = run_cli("bce", "0.2,0.3;0.4,0.5", "1,0;0,1", "--weight", "1,3", "-f", "partial").stdout
    refused = run_cli("combine", stdin=(first + other).encode())
    assert refused.status == 2 and "--weight 1.0,3.0 but <stdin>:1 has 1.0,2.0" in refused.stderr


def test_what_a_partial_does_not_carry_is_refused_not_dropped():
    for extra in (["--metrics"], ["--by-class"]):
        done = run_cli("xent", "1,2;3,4", "1,0", "-f", "partial", *extra)
        assert done.status == 2 and "not carried by a partial" in done.stderr and done.stdout == ""


def test_combining_parts_whose_targets_are_all_ignored_warns_of_the_nan():
    part = run_cli("xent", "1,2;3,4", "1,1", "--ignore-index", "1", "-f", "partial", "-q").stdout
    done = run_cli("combine", stdin=(part + part).encode())
    assert (done.status, done.stdout) == (0, "nan\n")  # PyTorch's mean over no targets: 0/0
    assert "the parts' denominator (n) is 0" in done.stderr


def test_json_nested_past_the_parsers_depth_is_a_data_error():
    done = run_cli("combine", stdin=("[" * 100_000 + "]" * 100_000 + "\n").encode())
    assert done.status == 1 and done.stderr == "losscli: error: <stdin>:1: JSON nested too deeply to be a partial\n"


def test_probability_targets_divide_by_the_combined_sample_count():
    rng = np.random.default_rng(12)
    logits, target = rng.normal(size=(900, 5)), rng.dirichlet(np.ones(5), size=900)
    parts = [partial_of("xent", logits[i:j], target[i:j], weight=[1, 2, 1, 1, 3]) for i, j in ((0, 100), (100, 900))]
    combined = combine(parts)
    lp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = math.fsum((-(np.array([1, 2, 1, 1, 3]) * target * lp).sum(axis=1)).tolist()) / 900
    assert combined.facts == {"target_kind": "probs", "classes": 5} and combined.denominator == "n"
    assert math.isclose(float(combined.value()), expected, rel_tol=1e-13)
    with pytest.raises(DataError, match="target kind index but part 1 has probs"):
        combine([parts[0], partial_of("xent", logits[:3], [0, 1, 2], weight=[1, 2, 1, 1, 3])])


def test_a_partial_line_is_one_write_so_parallel_shards_never_interleave():
    """xargs -P runs shards into one pipe; with PYTHONUNBUFFERED each write is a syscall of its own."""
    import io

    from losscli.environment import Environment
    from losscli.cli import main

    class Writes(io.StringIO):
        calls: list[str] = []

        def write(self, text):
            self.calls.append(text)
            return super().write(text)

    out = Writes()
    env = Environment(stdin=io.BytesIO(), stdout=out, stderr=io.StringIO())
    assert main(["xent", "1,2,0.5;0.1,-1,3", "1,2", "--weight", "1,2,0.5", "-f", "partial"], env) == 0
    assert len(out.calls) == 1 and out.calls[0].endswith("\n") and len(out.calls[0].encode()) < 4096
