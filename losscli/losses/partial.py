"""Partial results: the state of a reduction that another one of the same loss and options can join.

A ``Partial`` holds what every reduction needs (the sum of the terms as exact pieces, the
counts, ``Σ w[y]`` for a weighted mean, the batch size for ``batchmean``) and the options that
change the answer, so that shards of one input, computed anywhere, give the whole input's value.
Merging is exact and order-free: the sums are kept as ``exact_pieces``, so ``math.fsum`` of the
merged pieces is the correctly rounded sum of every shard's chunk sums, whatever the grouping.
A shard's chunk sums differ from the whole input's only in where its 16,384-value chunks start,
so a combined value matches the one-pass value to a few units in the last place of the sum.

Pure numpy and the standard library: no I/O. ``losscli combine`` reads partials from JSON
(``from_dict``); ``losscli.dask`` folds them over partitions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import DataError, UsageError
from .base import exact_pieces

PARTIAL_VERSION = 1
PER_ELEMENT = "per element"  # a vector option holding one value per row: the shard's data, not shared
COUNTS = ("n", "batch", "rows", "valid", "omitted", "nan", "parts")


def _option_value(value):
    """An option as JSON writes it and ``==`` compares it: vectors as lists of floats."""
    if isinstance(value, np.ndarray):
        return [float(v) for v in value.ravel().tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return value


def _number_out(value: float):
    """A float for JSON, exact: repr round-trips; nan and ±inf as strings (JSON has neither)."""
    return value if math.isfinite(value) else repr(value)


def _number_in(value, where: str) -> float:
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise DataError(f"{where}: {value!r} is not a number")


@dataclass(frozen=True)
class Partial:
    """What a reduction of one loss over some rows leaves to be joined with the rest.

    ``denominator`` names what ``mean`` (or ``batchmean``) divides by: a count (``n``,
    ``batch``) or a sum (``weights``: ``Σ w[y]``); ``denominator_is`` is how the output labels it.
    ``facts`` are what the data must agree on across parts (a class loss's target kind and class
    count). Build one with ``partial_of`` or an accumulator's ``partial()``.

    >>> a = partial_of("mse", [2.0, 3.0], [4.0, 5.0])
    >>> b = partial_of("mse", [4.0, 5.0], [6.0, 7.0])
    >>> float(a.merge(b).value())
    4.0
    """

    loss: str
    reduction: str
    dtype: str
    options: dict
    denominator: str
    denominator_is: str
    facts: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    sums: dict = field(default_factory=dict)  # name -> exact pieces: "terms", "weights"

    def check_joins(self, other: "Partial", what: str = "the other part", first: str = "the first") -> None:
        """A ``UsageError`` naming what differs between two partials that cannot be joined."""
        for name in ("loss", "reduction", "dtype"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                raise UsageError(f"cannot combine: {what} has {name} {theirs} but {first} has {mine}")
        for option in sorted(set(self.options) | set(other.options)):
            mine, theirs = self.options.get(option), other.options.get(option)
            if mine != theirs:
                flag = "--" + option.replace("_", "-")
                raise UsageError(f"cannot combine: {what} has {flag} {_shown(theirs)} but {first} has {_shown(mine)}")
        for fact in sorted(set(self.facts) | set(other.facts)):
            mine, theirs = self.facts.get(fact), other.facts.get(fact)
            if mine != theirs:
                raise DataError(f"cannot combine: {what} has {fact.replace('_', ' ')} {theirs} but {first} has {mine}")

    def merge(self, other: "Partial") -> "Partial":
        """Both parts as one; refuses parts of another loss, reduction, dtype or options."""
        self.check_joins(other)
        counts = {k: self.counts.get(k, 0) + other.counts.get(k, 0) for k in COUNTS if k in self.counts or k in other.counts}
        sums = {k: exact_pieces(list(self.sums.get(k, [])) + list(other.sums.get(k, []))) for k in {*self.sums, *other.sums}}
        return replace(self, counts=counts, sums=dict(sorted(sums.items())))

    def total(self, name: str = "terms") -> float:
        """A sum, correctly rounded from its exact pieces."""
        with np.errstate(all="ignore"):
            try:
                return math.fsum(self.sums.get(name, [0.0]))
            except (OverflowError, ValueError):
                return float(np.sum(self.sums.get(name, [0.0])))

    def denominator_value(self) -> float:
        return self.total("weights") if self.denominator == "weights" else float(self.counts[self.denominator])

    def value(self):
        """The reduced value, as the accumulator's ``result()`` computes it (in the data's dtype)."""
        dtype = np.dtype(self.dtype)
        with np.errstate(all="ignore"):
            total = dtype.type(self.total())
            if self.reduction == "sum":
                return total
            denominator = dtype.type(self.denominator_value())
            return total / denominator if denominator else dtype.type(np.nan)

    def to_dict(self) -> dict:
        """The partial as JSON: versioned, every float exact (repr), nan and ±inf as strings."""
        return {
            "version": PARTIAL_VERSION,
            "loss": self.loss,
            "reduction": self.reduction,
            "dtype": self.dtype,
            "options": {k: _json_option(v) for k, v in self.options.items()},
            "facts": dict(self.facts),
            "denominator": self.denominator,
            "denominator_is": self.denominator_is,
            "counts": dict(self.counts),
            "sums": {k: [_number_out(v) for v in pieces] for k, pieces in self.sums.items()},
        }

    @staticmethod
    def from_dict(document, where: str = "partial") -> "Partial":
        """A partial read back from ``to_dict``'s JSON, checked against what its loss's own
        partial is (options, denominator, facts, counts, sums): a hand-edited or foreign line is a
        ``DataError`` naming ``where``, never a wrong value."""
        from .families import family

        def bad(why: str) -> DataError:
            return DataError(f"{where}: not a valid losscli partial: {why}")

        if not isinstance(document, dict) or "version" not in document:
            raise DataError(f"{where}: not a losscli partial")
        version = document["version"]
        if type(version) is not int or version != PARTIAL_VERSION:
            raise DataError(f"{where}: partial version {version!r}; this losscli reads version {PARTIAL_VERSION}")
        missing = [key for key in _KEYS if key not in document]
        if missing:
            raise bad("no " + ", ".join(missing))
        for key in ("loss", "reduction", "dtype", "denominator", "denominator_is"):
            if not isinstance(document[key], str):
                raise bad(f"{key} {document[key]!r} is not a name")
        for key in ("options", "facts", "counts", "sums"):
            if not isinstance(document[key], dict):
                raise bad(f"{key} is not an object")
        options = {k: _json_option_in(v, where) for k, v in document["options"].items()}
        facts = _facts_in(document["facts"], bad)
        per_element = {k for k, v in options.items() if v == PER_ELEMENT}
        try:
            kind = family(document["loss"])
            accumulator = kind.accumulator(
                document["reduction"], nan_policy=options.get("nan_policy"), dtype=document["dtype"],
                **{k: v for k, v in options.items() if k != "nan_policy" and k not in per_element},
            )
            form = accumulator.partial_form(facts) if facts else accumulator.partial_form()
        except (UsageError, DataError, TypeError, ValueError) as error:
            raise bad(str(error)) from None
        # Only a pointwise loss's vector option (bce's --weight) can have been one value per row.
        vectors = {p.name for p in getattr(getattr(accumulator, "spec", None), "parameters", ()) if p.vector}
        form["options"].update({k: PER_ELEMENT for k in per_element & vectors})
        if form["options"] != options:
            differs = sorted(k for k in {*form["options"], *options} if form["options"].get(k, ...) != options.get(k, ...))
            raise bad(f"option {differs[0]} {_shown(options.get(differs[0]))!s} is not what {document['loss']} writes")
        for key in ("denominator", "denominator_is", "dtype"):
            if form[key] != document[key]:
                raise bad(f"{key} {document[key]!r}, where {document['loss']} {document['reduction']} has {form[key]!r}")
        if form.get("facts", {}) != facts:
            raise bad(f"facts {facts} do not belong to {document['loss']}")
        counts = _counts_in(document["counts"], form["denominator"], bad)
        sums = {k: _pieces_in(k, v, where, bad) for k, v in document["sums"].items()}
        expected_sums = {"terms", "weights"} if form["denominator"] == "weights" else {"terms"}
        if set(sums) != expected_sums:
            raise bad(f"sums {sorted(sums)}, where {document['loss']} writes {sorted(expected_sums)}")
        partial = Partial(**form, counts=counts, sums=sums)
        if "weights" in sums and partial.total("weights") < 0:
            raise bad("a negative sum of weights")
        return partial

    def result(self):
        """The value as a ``LossResult`` the renderers write like any other (no per-row terms).

        Metrics, ``--by-class`` and the histogram are not carried by a partial: they are absent.
        """
        from ..result import Column, LossResult
        from .families import family

        shown = family(self.loss)
        n = self.counts.get("n", 0)
        notes = []
        if self.counts.get("nan"):
            rows = self.counts["nan"]
            notes.append(
                f"{rows} row{'s' if rows > 1 else ''} with nan in the parts, so the result is nan; "
                "--nan-policy omit skips them"
            )
        mean = self.reduction != "sum"
        if mean and self.denominator_value() == 0:
            notes.append(f"the parts' denominator ({self.denominator_is}) is 0, as when every target is ignored: "
                         "the mean is nan (0 / 0), as in PyTorch")
        return LossResult(
            loss=self.loss,
            reduction=self.reduction,
            dtype=self.dtype,
            n=n,
            value=self.value(),
            terms=np.empty(0, dtype=self.dtype),
            grad=None,
            columns=(Column(shown.term_key, shown.term_label, np.empty(0, dtype=self.dtype)),),
            presentation=shown.presentation,
            denominator=self.denominator_value() if mean else None,
            denominator_label=self.denominator_is,
            notes=tuple(notes),
            shape=(n,),
            parameters={k: np.asarray(v) if isinstance(v, list) else v for k, v in self.options.items() if k != "nan_policy"},
            details=Combined(self.facts, self.counts.get("parts", 1)),
            omitted=self.counts.get("omitted") if self.options.get("nan_policy") == "omit" else None,
            rows_in=0,  # the table shows no rows, and none are hidden: the parts' rows are not here
            partial_of=lambda: self,
        )


@dataclass(frozen=True)
class Combined:
    """The ``details`` of a combined result: what the parts agreed on and how many there were."""

    facts: dict
    parts: int

    def to_dict(self) -> dict:
        return {**self.facts, "parts": self.parts}


_KEYS = ("loss", "reduction", "dtype", "options", "facts", "denominator", "denominator_is", "counts", "sums")


def _facts_in(facts: dict, bad) -> dict:
    """A class loss's facts (target kind, class count) as read; ``{}`` for the others."""
    if not facts:
        return {}
    if set(facts) != {"target_kind", "classes"}:
        raise bad(f"facts {sorted(facts)}, where a class loss writes target_kind and classes")
    if facts["target_kind"] not in ("index", "probs"):
        raise bad(f"target kind {facts['target_kind']!r}")
    if type(facts["classes"]) is not int or facts["classes"] < 1:
        raise bad(f"classes {facts['classes']!r} is not a count")
    return dict(facts)


def _counts_in(counts: dict, denominator: str, bad) -> dict:
    """Counts as read: whole numbers ≥ 0 (parts ≥ 1) of known names, the denominator's among them."""
    unknown = sorted(set(counts) - set(COUNTS))
    if unknown:
        raise bad(f"unknown count {unknown[0]!r}")
    for name in ("n", "parts", *([denominator] if denominator != "weights" else [])):
        if name not in counts:
            raise bad(f"no count {name!r}")
    for name, value in counts.items():
        if type(value) is not int or value < (1 if name == "parts" else 0):
            raise bad(f"count {name} {value!r} is not a whole number{' ≥ 1' if name == 'parts' else ' ≥ 0'}")
    return dict(counts)


def _pieces_in(name: str, pieces, where: str, bad) -> list[float]:
    if not isinstance(pieces, list):
        raise bad(f"sum {name} is not a list of numbers")
    return [_number_in(v, where) for v in pieces]


def _shown(value) -> str:
    if isinstance(value, list):
        return ",".join(map(repr, value))
    return "none" if value is None else (repr(value) if isinstance(value, float) else str(value))


def _json_option(value):
    if isinstance(value, float):
        return _number_out(value)
    return value


def _json_option_in(value, where: str):
    if isinstance(value, list):
        return [_number_in(v, where) for v in value]
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    return value


def combine(partials, names: list[str] | None = None) -> Partial:
    """Every partial merged into one, pairwise as a tree (exact in any order); refuses mismatches,
    naming the part that differs from the first (by ``names``, else its 1-based number).

    >>> parts = [partial_of("l1", [1.0, 2.0], [0.0, 0.0]), partial_of("l1", [4.0], [0.0])]
    >>> float(combine(parts).value()), combine(parts).counts["parts"]
    (2.3333333333333335, 2)
    """
    partials = list(partials)
    if not partials:
        raise DataError("no partials to combine")
    names = names or [f"part {number}" for number in range(1, len(partials) + 1)]
    first = partials[0]
    for name, other in zip(names[1:], partials[1:]):
        first.check_joins(other, name, names[0])
    while len(partials) > 1:
        partials = [a.merge(b) for a, b in zip(partials[::2], partials[1::2])] + partials[len(partials) - len(partials) % 2:]
    return partials[0]


def new_accumulator(name: str, reduction: str = "mean", *, nan_policy: str = "propagate", dtype: str | None = None,
                    **options):
    """An accumulator of loss ``name`` that keeps no rows and computes no gradient or metrics:
    what shards need to make their partials."""
    from .families import family

    return family(name).accumulator(reduction, nan_policy=nan_policy, dtype=dtype, **options)


def partial_of(name: str, *inputs, reduction: str = "mean", nan_policy: str = "propagate", dtype: str | None = None,
               **options) -> Partial:
    """The partial of loss ``name`` over ``inputs`` (arrays, as its API function takes them).

    >>> p = partial_of("xent", [[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]], [1, 2], weight=[1, 2, 0.5])
    >>> p.denominator, p.total("weights")
    ('weights', 2.5)
    """
    accumulator = new_accumulator(name, reduction, nan_policy=nan_policy, dtype=dtype, **options)
    accumulator.add(*inputs)
    return accumulator.partial()


def no_partial(reduction: str) -> None:
    """``--reduction none`` keeps every term: there is nothing to combine."""
    if reduction == "none":
        raise UsageError(
            "--reduction none keeps every term, so there is no partial to combine: use mean or sum (or batchmean)"
        )
