"""losscli.mistakes: every rule of the table fires on the mistake it names and stays silent on the
correct input next to it; blocks never change what is found."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pytest

from losscli.errors import DataError
from losscli.mistakes import RULES, Watch


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


RNG = np.random.default_rng(7)
LOGITS = RNG.normal(size=(12, 3))  # rows are samples, 3 classes
PROBABILITIES = _softmax(LOGITS)
LOG_PROBABILITIES = np.log(PROBABILITIES)
LABELS = np.array([0, 1, 2, 1, 0, 2, 2, 1, 0, 0, 1, 2])
BINARY = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1.0])
with np.errstate(divide="ignore"):
    LOG_WITH_ZEROS = np.log(np.array([[1.0, 0, 0], [0.5, 0.5, 0]]))  # log 0 = -inf is a log-probability
SIGMOID_OF = 1 / (1 + np.exp(-np.linspace(-3, 3, 10)))  # 10 probabilities, as a sigmoid gives them


@dataclass
class Case:
    rule: str
    hit: bool  # the rule fires; a near miss (hit False) is correct input, which gives no finding at all
    loss: str
    inputs: dict
    parameters: dict = field(default_factory=dict)
    reduction: str = "mean"
    row: int | None = None  # the 1-based row an error names


CASES = [
    Case("logits-into-bce", True, "bce", {"input": np.array([0.1, 0.9, 2.5, 0.3]), "target": np.array([0, 1, 1, 0.0])}, row=3),
    Case("logits-into-bce", True, "bce", {"input": np.array([0.1, -0.5]), "target": np.array([0, 1.0])}, row=2),
    Case("logits-into-bce", False, "bce", {"input": np.array([0.0, 1.0, 0.5, 1e-12]), "target": np.array([0, 1, 1, 0.0])}),
    Case("plus-minus-one-labels", True, "bce-logits", {"input": np.linspace(-3, 3, 6), "target": np.array([1, 1, -1, 1, -1, -1.0])}, row=3),
    Case("plus-minus-one-labels", True, "bce", {"input": np.full(3, 0.5), "target": np.array([-1, 1, -1.0])}, row=1),
    Case("plus-minus-one-labels", True, "focal", {"input": np.linspace(-3, 3, 4), "target": np.array([1, -1, 1, 1.0])}, {"alpha": 0.25, "gamma": 2.0}, row=2),
    Case("plus-minus-one-labels", False, "bce-logits", {"input": np.linspace(-3, 3, 10), "target": BINARY}),
    Case("plus-minus-one-labels", False, "focal", {"input": np.linspace(-3, 3, 10), "target": np.ones(10)}),
    Case("negative-poisson-rate", True, "poisson-nll", {"input": np.array([0.5, 2.0, -0.1]), "target": np.array([1, 2, 0.0])}, {"log_input": False}, row=3),
    Case("negative-poisson-rate", False, "poisson-nll", {"input": np.array([0.5, 2.0, -0.1]), "target": np.array([1, 2, 0.0])}, {"log_input": True}),
    Case("negative-poisson-rate", False, "poisson-nll", {"input": np.array([0.5, 2.0, -0.1]), "target": np.array([1, 2, 0.0])}),  # PyTorch's default: log_input
    Case("negative-poisson-rate", False, "poisson-nll", {"input": np.array([0.0, 2.0, 3.0]), "target": np.array([1, 2, 0.0])}, {"log_input": False}),
    Case("probabilities-into-logits", True, "bce-logits", {"input": SIGMOID_OF, "target": BINARY}),
    Case("probabilities-into-logits", True, "focal", {"input": SIGMOID_OF, "target": BINARY}),
    Case("probabilities-into-logits", False, "bce-logits", {"input": SIGMOID_OF[:9], "target": BINARY[:9]}),  # 9: too few to tell
    Case("probabilities-into-logits", False, "bce-logits", {"input": np.linspace(-3, 3, 10), "target": BINARY}),
    Case("probabilities-into-nll", True, "nll", {"input": PROBABILITIES, "target": LABELS}),
    Case("probabilities-into-nll", False, "nll", {"input": LOG_PROBABILITIES, "target": LABELS}),
    Case("logits-into-nll", True, "nll", {"input": LOGITS, "target": LABELS}),
    Case("logits-into-nll", True, "nll", {"input": LOG_PROBABILITIES - 1.0, "target": LABELS}),  # every input < 0, rows off
    Case("logits-into-nll", False, "nll", {"input": LOG_PROBABILITIES.astype(np.float32), "target": LABELS}),
    Case("logits-into-nll", False, "nll", {"input": LOG_WITH_ZEROS, "target": np.array([0, 1])}),
    Case("probabilities-into-kl", True, "kl", {"input": PROBABILITIES, "target": PROBABILITIES[::-1]}, reduction="batchmean"),
    Case("probabilities-into-kl", False, "kl", {"input": LOG_WITH_ZEROS, "target": np.array([[1.0, 0, 0], [0.25, 0.75, 0]])}, reduction="batchmean"),
    # log of a float32 probability rounded up to 1.0000001 is 1.2e-7 > 0: rounding, not a mistake
    Case("probabilities-into-kl", False, "kl", {"input": np.log(np.array([[1.0000001, 1e-13], [0.5, 0.5]], dtype=np.float32)), "target": np.array([[1.0, 0], [0.5, 0.5]])}, reduction="batchmean"),
    Case("log-target-without-flag", True, "kl", {"input": LOG_PROBABILITIES, "target": LOG_PROBABILITIES[::-1]}, reduction="batchmean"),
    Case("log-target-without-flag", False, "kl", {"input": LOG_PROBABILITIES, "target": LOG_PROBABILITIES[::-1]}, {"log_target": True}, "batchmean"),
    Case("log-target-without-flag", False, "kl", {"input": LOG_PROBABILITIES, "target": PROBABILITIES[::-1]}, {"log_target": False}, "sum"),
    Case("kl-mean", True, "kl", {"input": LOG_PROBABILITIES, "target": PROBABILITIES[::-1]}),
    Case("kl-mean", True, "kl", {"input": LOG_PROBABILITIES[0], "target": PROBABILITIES[1]}),  # 1-D: one distribution
    Case("kl-mean", False, "kl", {"input": LOG_PROBABILITIES, "target": PROBABILITIES[::-1]}, reduction="batchmean"),
    Case("softmax-into-xent", True, "xent", {"input": PROBABILITIES, "target": LABELS}),
    Case("softmax-into-xent", True, "xent", {"input": PROBABILITIES.round(3), "target": LABELS}),  # printed with 3 decimals
    Case("softmax-into-xent", False, "xent", {"input": LOGITS, "target": LABELS}),
    Case("softmax-into-xent", False, "xent", {"input": np.array([[0.2, 0.83], [0.5, 0.5]]), "target": np.array([1, 0])}),  # sums to 1.03
]


def outcome(case: Case, sizes: list[int] | None = None):
    """The findings of ``case`` (or the error's rule, row and message), fed in blocks of ``sizes``."""
    watch = Watch(case.loss, case.reduction, case.parameters)
    n = len(case.inputs["input"])
    edges = np.cumsum([0, *(sizes or [n])])
    edges = np.append(edges[edges < n], n)
    try:
        for start, stop in zip(edges[:-1], edges[1:]):
            block = {role: values[start:stop] for role, values in case.inputs.items()}
            watch.observe(block, np.arange(start, stop))
    except DataError as error:
        return ("error", error.rule, error.row, error.message)
    return [(f.rule, f.level, f.message) for f in watch.findings()]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.rule}-{'hit' if c.hit else 'miss'}-{c.loss}")
def test_rule_fires_on_its_mistake_and_not_on_correct_input(case):
    got = outcome(case)
    level = next(rule.level for rule in RULES if rule.name == case.rule)
    if not case.hit:
        assert got == []
    elif level == "error":
        assert got[:3] == ("error", case.rule, case.row)
    else:
        assert [(rule, lvl) for rule, lvl, _ in got] == [(case.rule, level)]


def test_every_rule_has_a_hit_and_a_near_miss():
    for rule in RULES:
        assert {case.hit for case in CASES if case.rule == rule.name} == {True, False}, rule.name
    assert {case.rule for case in CASES} <= {rule.name for rule in RULES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.rule}-{'hit' if c.hit else 'miss'}-{c.loss}")
def test_blocks_do_not_change_the_findings(case):
    whole = outcome(case)
    assert outcome(case, [1] * len(case.inputs["input"])) == whole
    assert outcome(case, [2, 1, 5]) == whole


def test_blocks_fold_into_the_summary_of_the_whole():
    inputs = {"input": np.vstack([LOGITS, PROBABILITIES, [[np.nan, 0, 1]]]), "target": np.append(np.append(LABELS, LABELS), 0)}
    whole, split = Watch("xent", "mean", {}), Watch("xent", "mean", {})
    whole.observe(inputs, np.arange(25))
    for start, stop in [(0, 3), (3, 4), (4, 20), (20, 25)]:
        split.observe({role: values[start:stop] for role, values in inputs.items()}, np.arange(start, stop))
    assert split.seen.summaries == whole.seen.summaries
    s = whole.seen.input
    # Independently: 75 values, 1 nan, the 12 softmax rows sum to 1, the nan row is not judged.
    assert (s.count, s.nan, s.finite, s.rows, s.sum_one, s.width) == (75, 1, 74, 24, 12, 3)
    assert s.low == LOGITS.min() and s.high == max(LOGITS.max(), 1.0)
    assert s.unit == np.sum((LOGITS >= 0) & (LOGITS <= 1)) + 36 + 2


def test_an_error_names_the_row_of_the_whole_data_and_the_value():
    watch = Watch("bce", "mean", {})
    watch.observe({"input": np.array([0.2, 0.4]), "target": np.array([0, 1.0])}, np.arange(2))
    with pytest.raises(DataError) as raised:
        watch.observe({"input": np.array([0.3, 0.9, 1.7, -4.0]), "target": np.zeros(4)}, np.arange(2, 6))
    assert raised.value.row == 5
    assert "1.7" in raised.value.detail and "`losscli bce-logits`" in raised.value.detail


def test_the_earliest_of_two_errors_is_raised():
    inputs = {"input": np.array([0.5, 0.5, 3.0]), "target": np.array([1, -1, 1.0])}
    got = outcome(Case("", True, "bce", inputs))
    assert got[1:3] == ("plus-minus-one-labels", 2)


def test_labels_that_are_not_all_plus_minus_one_stop_at_a_later_minus_one_only_if_plus_minus_one_so_far():
    # -1 then 0.5: stops at the -1 (the targets up to it are ±1 labels), whatever the blocks.
    case = Case("", True, "bce-logits", {"input": np.zeros(3), "target": np.array([1, -1, 0.5])})
    assert outcome(case)[1:3] == ("plus-minus-one-labels", 2) == outcome(case, [1, 1, 1])[1:3]
    # 0.5 then -1: not ±1 labels; this rule has nothing to say.
    assert outcome(Case("", True, "bce-logits", {"input": np.zeros(3), "target": np.array([1, 0.5, -1])})) == []


def test_kl_mean_names_the_factor_between_mean_and_batchmean():
    x, y = LOG_PROBABILITIES, PROBABILITIES[::-1]
    terms = y * (np.log(y) - x)
    factor = (terms.sum() / x.shape[0]) / terms.mean()  # batchmean / mean
    [(_, _, message)] = outcome(Case("", True, "kl", {"input": x, "target": y}))
    assert f"C = {round(factor)}" in message and "`--reduction batchmean`" in message


def test_nan_is_left_to_the_nan_policy():
    # A nan is neither a logit nor a probability: bce does not stop on it, the other values still count.
    assert outcome(Case("", True, "bce", {"input": np.array([0.2, np.nan]), "target": np.array([0, 1.0])})) == []
    found = outcome(Case("", True, "bce-logits", {"input": np.append(SIGMOID_OF, np.nan), "target": np.append(BINARY, 1)}))
    assert [rule for rule, _, _ in found] == ["probabilities-into-logits"]


def test_losses_without_rules_and_unknown_parameters_find_nothing():
    for loss in ("mse", "l1", "huber", "gaussian-nll", "no-such-loss"):
        watch = Watch(loss, "mean", {"delta": 1.0, "colour": "blue"})
        watch.observe({"input": np.array([-5.0, 2.0]), "target": np.array([-1.0, 1.0]), "var": np.array([1.0, 2.0])}, np.arange(2))
        assert watch.findings() == []


def test_the_row_by_row_path_and_the_block_path_summarise_alike():
    # focal has error rules (checked row by row), xent has none (block totals only).
    inputs = {"input": np.vstack([LOGITS, [[np.nan, -1, 1]], PROBABILITIES]), "target": np.zeros(25)}
    by_row, by_block = Watch("focal", "mean", {}), Watch("xent", "mean", {})
    for start, stop in [(0, 5), (5, 25)]:
        block = {role: values[start:stop] for role, values in inputs.items()}
        by_row.observe(block, np.arange(start, stop))
        by_block.observe(block, np.arange(start, stop))
    assert by_row.seen.summaries == by_block.seen.summaries


# The rules wired into the commands: what a user sees, a hit and a near miss per command.
CLI_PROBS = ",".join(str(v) for v in np.linspace(0.05, 0.95, 10))
CLI_LOGITS = ",".join(str(v) for v in np.linspace(-3, 3, 10))
CLI_LABELS = ",".join("1" if i % 2 else "0" for i in range(10))
CLI_CASES = [
    # (argv, exit status, text stderr must hold, or "" for no message at all)
    (["bce", "0.8,2.5", "1,0"], 1, "for logits use `losscli bce-logits`"),
    (["bce", "0.8,0.5", "1,0"], 0, ""),
    (["bce-logits", CLI_PROBS, CLI_LABELS], 0, "warning:"),
    (["bce-logits", CLI_LOGITS, CLI_LABELS], 0, ""),
    (["bce-logits", "0.3,-1.2", "1,-1"], 1, "(y+1)/2"),
    (["nll", "0.7,0.2,0.1;0.1,0.8,0.1", "0,1"], 0, "log"),
    (["nll", "-0.35,-1.6,-2.3;-2.3,-0.22,-2.3", "0,1"], 0, ""),
    (["kl", "-0.69,-0.69;-0.1,-2.3", "0.5,0.5;0.9,0.1"], 0, "batchmean"),
    (["kl", "-0.69,-0.69;-0.1,-2.3", "0.5,0.5;0.9,0.1", "-r", "batchmean"], 0, ""),
    (["kl", "0.5,0.5;0.9,0.1", "0.5,0.5;0.9,0.1", "-r", "batchmean"], 0, "log"),
    (["poisson-nll", "2,-1", "1,0", "--no-log-input"], 1, "--log-input"),
    (["poisson-nll", "2,1", "1,0", "--no-log-input"], 0, ""),
]


@pytest.mark.parametrize("argv, status, said", CLI_CASES, ids=[" ".join(c[0][:1] + c[0][3:]) + f"/{c[2] or 'silent'}" for c in CLI_CASES])
def test_the_commands_say_what_the_rules_find_and_nothing_on_correct_input(cli, argv, status, said):
    run = cli(*argv, "-f", "plain")
    assert run.status == status, run.stderr
    if said:
        assert said in run.stderr and run.stderr.count("\n") == 1, run.stderr
    else:
        assert run.stderr == ""
