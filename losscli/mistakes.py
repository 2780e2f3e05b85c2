"""Spotting the mistakes people make when they call a loss: logits where probabilities belong,
±1 labels, probabilities into nll or kl, kl's ``mean``, softmax output into cross-entropy.

A ``Watch`` follows one computation block by block. For each input (by role: "input", "target",
"var") it keeps a ``Summary``: a handful of counts, a minimum and a maximum, so memory stays
bounded however many rows stream past. The rules are the one table ``RULES``; a rule reads those
summaries (and the loss's parameters) and never the data itself.

- An "error" rule is checked on every row as it arrives: its condition is evaluated on the running
  summary up to each row (vectorised, with cumulative sums), and the first row where it holds
  raises ``DataError``. Splitting the data into blocks therefore never changes where it stops.
- "warning" and "info" rules are decided by ``Watch.findings()`` once every block is in.

To add a rule, append one ``Rule`` to ``RULES``: its name, the losses it applies to, its level,
a condition over ``Seen`` and a one-line message that names the command or flag that fixes it.
A condition must combine its parts with ``&``, ``|`` and ``np.logical_not`` (not ``and``/``or``/``not``)
so that it works on the per-row arrays of an error rule as well as on the final numbers. Then add a hit and
a near miss for it to ``CASES`` in tests/test_mistakes.py (a test checks that every rule has both).
If a rule needs a fact the summary does not keep, add a count to ``_counts``: it must be a
count (added up over blocks) or an extreme, so that blocks fold into one summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Callable

import numpy as np

from losscli.errors import DataError

# "Sums to 1" and "logsumexp is 0" within 1e-2: softmax output that was printed or saved with 3
# decimals (0.333, 0.333, 0.333) still counts, while logits almost never sum to 1 that closely.
ROW_TOLERANCE = 1e-2

# Logits ~ N(0, 1) all land in [0, 1] with probability 0.3413^10 ≈ 2e-5 for 10 of them: with fewer,
# a handful of small logits would be taken for probabilities too often.
FEW_PROBABILITIES = 10

# log(p) of a probability rounded a few ulps above 1 (float32) is about 1e-7, not a mistake; an
# input above this cannot be a log-probability.
LOG_PROBABILITY_SLACK = 1e-6

_COUNTS = ("count", "nan", "finite", "unit", "signs", "binary", "whole", "negative", "rows", "sum_one", "lse_zero")


@dataclass(frozen=True)
class Finding:
    rule: str  # the rule's name, e.g. "logits-into-bce"
    level: str  # "error" (raised as DataError), "warning" (stderr + JSON notes), "info" (table footer / JSON only)
    message: str  # one line, names what to do (the command or flag that fixes it)


@dataclass(frozen=True)
class Summary:
    """What one input has shown so far. Each field is a number, or for an error rule's check an
    array holding the summary up to each row of a block. NaN is left to the nan policy: counts of
    kinds of values, ``low`` and ``high`` read the values that are not nan."""

    count: object = 0  # values seen (nan included)
    nan: object = 0
    finite: object = 0
    unit: object = 0  # in [0, 1]
    signs: object = 0  # -1 or 1
    binary: object = 0  # 0 or 1
    whole: object = 0  # finite whole numbers
    negative: object = 0  # < 0
    rows: object = 0  # rows of a 2-D input without nan, the ones the two row counts judge
    sum_one: object = 0  # rows summing to 1 within ROW_TOLERANCE
    lse_zero: object = 0  # rows whose logsumexp is 0 within ROW_TOLERANCE (log-probabilities)
    low: object = math.inf
    high: object = -math.inf
    width: int = 0  # C, the last dimension of a 2-D input; 0 for a 1-D one

    @property
    def values(self):
        return self.count - self.nan

    def every(self, kind: str):
        """Whether there are values and every one (nan aside) is of ``kind`` ("unit", "signs", ...)."""
        return (self.values > 0) & (getattr(self, kind) == self.values)

    @property
    def rows_are_probabilities(self):
        """Every row is in [0, 1] and sums to 1: what softmax gives."""
        return (self.width > 1) & (self.rows > 0) & self.every("unit") & (self.sum_one == self.rows)

    @property
    def classes(self):
        """C, the last dimension (a 1-D input's length)."""
        return self.width if self.width else self.count

    def at(self, index: int) -> "Summary":
        return replace(self, **{f.name: _item(getattr(self, f.name), index) for f in fields(self)})


def _item(value, index: int):
    return value[index].item() if isinstance(value, np.ndarray) else value


def _counts(x: np.ndarray, each_row: bool) -> dict[str, object]:
    """Every field of ``Summary`` for a block: its totals, or (``each_row``) an array per row for the
    row-by-row check of error rules. Whole-block numpy passes, no loop over rows."""
    n = x.shape[0]
    values = x.reshape(n, -1)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    k = values.shape[1]
    count = (lambda mask: np.count_nonzero(mask, axis=1)) if each_row else np.count_nonzero
    least, most = (lambda a: a.min(1), lambda a: a.max(1)) if each_row else (np.min, np.max)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        nan = np.isnan(values)
        finite = np.isfinite(values)
        if nan.any():
            low_of, high_of = np.where(nan, np.inf, values), np.where(nan, -np.inf, values)
        else:
            low_of = high_of = values
        counts = {
            "count": np.full(n, k) if each_row else n * k,
            "nan": count(nan),
            "finite": count(finite),
            "unit": count((values >= 0) & (values <= 1)),
            "signs": count(np.abs(values) == 1),
            "binary": count((values == 0) | (values == 1)),
            "whole": count(finite & (values == np.floor(values))),
            "negative": count(values < 0),
            "low": least(low_of) if k else (np.full(n, np.inf) if each_row else np.inf),
            "high": most(high_of) if k else (np.full(n, -np.inf) if each_row else -np.inf),
        }
        if x.ndim == 2 and k:
            clean = ~nan.any(1)
            peak = values.max(1)
            # logsumexp >= the row's maximum, so only rows whose maximum is at most ROW_TOLERANCE can
            # be log-probabilities: the exp pass is skipped for the others (most rows of logits).
            near = clean & (peak <= ROW_TOLERANCE)
            lse_zero = np.zeros(n, dtype=bool)
            if near.any():
                candidates = values[near]
                top = peak[near]
                lse_zero[near] = np.abs(top + np.log(np.exp(candidates - top[:, None]).sum(1))) <= ROW_TOLERANCE
            rows = {
                "rows": clean,
                "sum_one": clean & (np.abs(values.sum(1, dtype=np.float64) - 1) <= ROW_TOLERANCE),
                "lse_zero": lse_zero,
            }
        else:
            rows = dict.fromkeys(("rows", "sum_one", "lse_zero"), np.zeros(n, dtype=bool))
        counts.update({name: mask.astype(np.int64) if each_row else np.count_nonzero(mask) for name, mask in rows.items()})
    return counts


def _totals(counts: dict[str, np.ndarray]) -> dict[str, object]:
    """The block totals of per-row counts."""
    return {name: (value.min() if name == "low" else value.max() if name == "high" else value.sum()) for name, value in counts.items()}


def _fold(before: Summary, counts: dict[str, object], each_row: bool) -> Summary:
    """``before`` followed by a block's counts (``_counts``): the summary after the block, or
    (``each_row``) an array-valued summary after each of its rows."""
    if not each_row:
        return replace(
            before,
            **{name: getattr(before, name) + int(counts[name]) for name in _COUNTS},
            low=min(before.low, float(counts["low"])),
            high=max(before.high, float(counts["high"])),
        )
    return replace(
        before,
        **{name: getattr(before, name) + np.cumsum(counts[name]) for name in _COUNTS},
        low=np.minimum(before.low, np.minimum.accumulate(counts["low"])),
        high=np.maximum(before.high, np.maximum.accumulate(counts["high"])),
    )


@dataclass(frozen=True)
class Seen:
    """What a rule may read: the computation's settings and a summary per input role."""

    loss: str
    reduction: str
    parameters: dict
    summaries: dict = field(default_factory=dict)

    def __getattr__(self, role: str) -> Summary:
        if role.startswith("__"):
            raise AttributeError(role)
        return self.summaries.get(role, Summary())

    def get(self, name: str, default=None):
        value = self.parameters.get(name)
        return default if value is None else value

    def at(self, index: int) -> "Seen":
        return replace(self, summaries={role: s.at(index) for role, s in self.summaries.items()})


@dataclass(frozen=True)
class Rule:
    name: str
    losses: frozenset
    level: str  # "error", "warning" or "info"
    when: Callable[[Seen], object]
    message: Callable[[Seen], str]
    role: str = "input"  # the input an error's row belongs to


def _outside_unit(s: Summary) -> float:
    return s.low if s.low < 0 else s.high


def _logits_into_nll(seen: Seen) -> str:
    s = seen.input
    why = (
        f"it holds {s.high:g} > 0"
        if s.high > LOG_PROBABILITY_SLACK
        else f"{s.rows - s.lse_zero} of {s.rows} rows have a logsumexp far from 0"
    )
    return (
        f"the input does not look like log-probabilities ({why}): nll takes log-probabilities; for raw "
        "logits use `losscli xent`, which applies log-softmax itself"
    )


def _kl_mean(seen: Seen) -> str:
    c = seen.input.classes
    if seen.input.width:
        return (
            f"reduction mean divides by every element (N·C), so it is the KL divergence divided by C = {c}; "
            "`--reduction batchmean` divides by N and gives the KL divergence, as PyTorch warns"
        )
    return (
        f"for a 1-D input both mean and batchmean divide by its length C = {c}; the KL divergence of "
        f"this one distribution is `--reduction sum` (= mean · {c})"
    )


_BINARY = frozenset({"bce", "bce-logits", "focal"})
_ON_LOGITS = frozenset({"bce-logits", "focal"})

RULES: tuple[Rule, ...] = (
    Rule(
        "logits-into-bce", frozenset({"bce"}), "error",
        lambda seen: (seen.input.low < 0) | (seen.input.high > 1),
        lambda seen: (
            f"input {_outside_unit(seen.input):g} is outside [0, 1]: bce takes probabilities; "
            "for logits use `losscli bce-logits`"
        ),
    ),
    Rule(
        "plus-minus-one-labels", _BINARY, "error",
        # The first -1 while every target so far is -1 or 1: the ±1 convention of SVMs and margins.
        lambda seen: (seen.target.negative > 0) & seen.target.every("signs"),
        lambda seen: "target -1: targets must be in [0, 1]; map the ±1 labels to 0/1, e.g. (y+1)/2",
        role="target",
    ),
    Rule(
        "negative-poisson-rate", frozenset({"poisson-nll"}), "error",
        lambda seen: (not seen.get("log_input", True)) & (seen.input.negative > 0),
        lambda seen: (
            f"input {seen.input.low:g} is a negative rate: without --log-input the input is the rate, "
            "which must be >= 0 (PyTorch gives nan); if the inputs are log-rates, add `--log-input`"
        ),
    ),
    Rule(
        "probabilities-into-logits", _ON_LOGITS, "warning",
        lambda seen: (seen.input.values >= FEW_PROBABILITIES) & seen.input.every("unit"),
        lambda seen: (
            f"every input lies in [0, 1], like probabilities, but {seen.loss} takes logits and applies "
            "the sigmoid itself (so it would apply it twice): pass the logits"
            + (", or use `losscli bce` for probabilities" if seen.loss == "bce-logits" else "")
        ),
    ),
    Rule(
        "probabilities-into-nll", frozenset({"nll"}), "warning",
        lambda seen: seen.input.rows_are_probabilities,
        lambda seen: (
            "the input looks like probabilities (each row is in [0, 1] and sums to 1), but nll takes "
            "log-probabilities: take their log, or use `losscli xent` on the logits"
        ),
    ),
    Rule(
        "logits-into-nll", frozenset({"nll"}), "warning",
        lambda seen: np.logical_not(seen.input.rows_are_probabilities)
        & ((seen.input.high > LOG_PROBABILITY_SLACK) | (seen.input.lse_zero < seen.input.rows)),
        _logits_into_nll,
    ),
    Rule(
        "probabilities-into-kl", frozenset({"kl"}), "warning",
        lambda seen: seen.input.high > LOG_PROBABILITY_SLACK,
        lambda seen: (
            f"the input holds {seen.input.high:g} > 0, which is not a log-probability: kl takes log q as "
            "input (e.g. log-softmax of the logits), not probabilities or logits; take the log first"
        ),
    ),
    Rule(
        "log-target-without-flag", frozenset({"kl"}), "warning",
        lambda seen: (not seen.get("log_target", False)) & (seen.target.negative > 0),
        lambda seen: (
            f"the target holds {seen.target.low:g} < 0, so it looks like log p, but kl reads it as p "
            "(a negative p gives nan); add `--log-target`"
        ),
    ),
    Rule(
        "kl-mean", frozenset({"kl"}), "warning",
        lambda seen: (seen.reduction == "mean") & (seen.input.classes > 1),
        _kl_mean,
    ),
    Rule(
        "softmax-into-xent", frozenset({"xent"}), "warning",
        lambda seen: seen.input.rows_are_probabilities,
        # The wording of CrossEntropyAccumulator's note, which this rule replaces.
        lambda seen: (
            "the logits look like probabilities (each row is in [0, 1] and sums to 1); cross-entropy "
            "applies softmax itself, so passing softmax output applies it twice"
        ),
    ),
)


class Watch:
    """Watches the blocks of one computation for signs of a mistake (streaming: block by block).

    >>> watch = Watch("bce-logits", "mean", {})
    >>> watch.observe({"input": np.linspace(0, 1, 12), "target": np.ones(12)}, np.arange(12))
    >>> [finding.rule for finding in watch.findings()]
    ['probabilities-into-logits']
    """

    def __init__(self, loss: str, reduction: str, parameters: dict[str, object]) -> None:
        self.seen = Seen(loss, reduction, dict(parameters), {})
        self.rules = [rule for rule in RULES if loss in rule.losses]
        self._errors = [rule for rule in self.rules if rule.level == "error"]

    def observe(self, inputs: dict[str, np.ndarray], rows: np.ndarray) -> None:
        """One block. An error-level rule raises DataError at the first offending row."""
        if not self.rules:
            return
        rows = np.asarray(rows)
        if not len(rows):
            return
        blocks = {role: np.atleast_1d(np.asarray(values)) for role, values in inputs.items()}
        before = {
            role: replace(self.seen.summaries.get(role, Summary()), width=values.shape[1] if values.ndim == 2 else 0)
            for role, values in blocks.items()
        }
        if self._errors:
            per_row = {role: _counts(values, each_row=True) for role, values in blocks.items()}
            self._check_rows(before, per_row, rows)
            totals = {role: _totals(counts) for role, counts in per_row.items()}
        else:
            totals = {role: _counts(values, each_row=False) for role, values in blocks.items()}
        self.seen = replace(
            self.seen,
            summaries={**self.seen.summaries, **{role: _fold(before[role], totals[role], False) for role in blocks}},
        )

    def _check_rows(self, before: dict[str, Summary], per_row: dict, rows: np.ndarray) -> None:
        n = len(rows)
        summaries = {
            # An input without a value per row (a scalar var) is the same summary at every row.
            role: _fold(before[role], counts, True) if len(counts["count"]) == n else _fold(before[role], _totals(counts), False)
            for role, counts in per_row.items()
        }
        upto = replace(self.seen, summaries=summaries)
        first = None
        for rule in self._errors:
            hits = np.broadcast_to(np.asarray(rule.when(upto), dtype=bool), (n,))
            if hits.any() and (first is None or int(np.argmax(hits)) < first[0]):
                first = (int(np.argmax(hits)), rule)
        if first is not None:
            index, rule = first
            error = DataError.at_row(int(rows[index]) + 1, rule.message(upto.at(index)), subject=rule.role)
            error.rule = rule.name  # which rule stopped it, for JSON and tests
            raise error

    def findings(self) -> list[Finding]:
        """Warning- and info-level findings once every block is in."""
        return [
            Finding(rule.name, rule.level, rule.message(self.seen))
            for rule in self.rules
            if rule.level != "error" and bool(rule.when(self.seen))
        ]
