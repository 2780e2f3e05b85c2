"""Which columns of a table play which role: the one step that turns a header into roles.

Every loss reads a table through ``resolve_roles``: it names the roles it needs (``prediction``
and ``target``; ``logits`` and ``target``; ``logits`` alone), and gets back the column of each
role, the columns it skipped and why, and the one note to print when losscli decided anything
by itself. The rules (README, "How losscli reads your columns"):

- A column named on the command line (``--pred``, ``--target``, ``--logits``) is used as named.
- Index-like columns are never data: pandas' unnamed leading index column, columns named like
  ids (``id``, ``index``, ``Unnamed: 0`` …), and whole-number columns that count the rows.
- Header names set roles when they are clear (``target``, ``label``, ``y_true`` … are targets;
  ``pred``, ``y_hat``, ``logit_*`` … are predictions) and win over column order; unclear names
  keep the order prediction, target.
- Whole-number columns among float logits (``fold``, ``epoch``) and text columns are not logits.
- What cannot be decided for sure is a usage error listing the candidates and the flag to use.

This module sees only names, types and a sample of the first rows; it reads nothing itself.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .errors import UsageError
from .inputs import is_missing, is_number, printable

TARGET_NAMES = frozenset(
    "target targets label labels y y_true ytrue true truth ground_truth groundtruth gt actual gold class".split()
)
PREDICTION_NAMES = frozenset(
    "pred preds prediction predictions predicted y_pred ypred y_hat yhat ŷ output outputs score scores".split()
)
LOGIT_PREFIXES = ("logit", "prob", "score", "p_")
ID_NAMES = frozenset("id ids index idx row row_id rowid row_number sample_id unnamed:_0".split())
WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")

GENERIC_NAME = re.compile(r"[A-Za-z]|[A-Za-z_]{0,8}[0-9]+")  # a, c1, x_3, col10, 0: placeholders, not classes
MAX_LISTED = 20  # candidates named in an error; past this, the first ones, the last, and the count
ROLE_FLAGS = {"prediction": "--pred", "target": "--target", "logits": "--logits", "var": "--var"}
VAR_NAMES = frozenset("var variance variances sigma2 sigma_2 sigma_sq sigma_squared σ² σ2 var_pred pred_var".split())


def normalised(name: str) -> str:
    """``" Y Hat"`` and ``"y-hat"`` both read as ``y_hat``."""
    return re.sub(r"[\s\-]+", "_", name.strip().casefold())


def is_target_name(name: str) -> bool:
    return normalised(name) in TARGET_NAMES


def is_var_name(name: str) -> bool:
    return normalised(name) in VAR_NAMES


def is_prediction_name(name: str) -> bool:
    name = normalised(name)
    return name in PREDICTION_NAMES or name.startswith(LOGIT_PREFIXES)


@dataclass(frozen=True)
class TableShape:
    """What a table's first lines show: names (or 1, 2, … without a header), types, a sample.

    ``sample`` holds the fields of the first data rows, as text, for the index and whole-number
    checks; ``label(i)`` names column ``i`` in messages; ``resolve(spec, flag)`` finds a column
    given on the command line (by name or 1-based position).
    """

    names: Sequence[str]
    has_header: bool
    numeric: Sequence[bool]
    sample: Sequence[Sequence[str]]
    label: Callable[[int], str]
    resolve: Callable[[str, str], int]
    resolve_many: Callable[[str, str], list[int]]
    describe: Callable[[], str]

    def column_text(self, i: int) -> list[str]:
        return [row[i] for row in self.sample if i < len(row)]

    def is_text(self, i: int) -> bool:
        """No sampled value is a number (names, notes): not data. A number column with a bad
        value is not text: the parse names that value and its line."""
        if self.numeric[i]:
            return False  # every sampled value is a number or missing (and a wide table has many)
        values = [v for v in self.column_text(i) if not is_missing(v)]
        words = any(ch.isalpha() for v in values for ch in v)  # "cat", not "1,5" (a decimal comma)
        return words and not any(is_number(v) for v in values)


def index_reason(shape: TableShape, i: int) -> str | None:
    """Why column ``i`` is a row index by its name, or None (see ``counts_rows`` for values).

    >>> shape = TableShape(["", "pred", "id"], True, [True] * 3, [], str, None, None, None)
    >>> [index_reason(shape, i) for i in range(3)]
    ["pandas' unnamed index column", None, 'named like a row id']
    """
    if not shape.has_header:
        return None
    name = normalised(shape.names[i])
    if not name and i == 0:
        return "pandas' unnamed index column"
    if name in ID_NAMES or name.startswith("unnamed:"):
        return "named like a row id"
    return None


def counts_rows(shape: TableShape, i: int) -> str | None:
    """Why the first column is a row number by its values (0, 1, 2, … or 1, 2, 3, …), or None.

    Only the first column, only without a name that states a role, and over three rows at
    least: two rows of 0/1 (a one-hot pair, binary labels) count by chance.
    """
    if i != 0 or (shape.has_header and (is_target_name(shape.names[i]) or is_prediction_name(shape.names[i]))):
        return None
    values = shape.column_text(i)
    if len(values) >= 3 and all(WHOLE_NUMBER.fullmatch(v) for v in values):
        numbers = [int(v) for v in values]
        if numbers[0] in (0, 1) and numbers == list(range(numbers[0], numbers[0] + len(numbers))):
            return f"counts the rows from {numbers[0]}"
    return None


def written_as_float(text: str) -> bool:
    """``1.5``, ``1.0``, ``2e-3``: how a float column is written (pandas writes 1.0, never 1);
    ``nan`` and ``inf`` say nothing about the column's type.

    >>> [written_as_float(t) for t in ("1.0", "2e-3", "3", "nan", "-inf")]
    [True, True, False, False, False]
    """
    return is_number(text) and ("." in text or "e" in text.lower()) and "n" not in text.lower()


def is_count_column(shape: TableShape, i: int) -> bool:
    """Non-negative whole numbers in every sampled row (``3``, not ``3.0``, as pandas writes ints):
    a fold, an epoch, a split; a logit column of whole numbers has negative ones too."""
    values = shape.column_text(i)
    return bool(values) and all(WHOLE_NUMBER.fullmatch(v) and not v.startswith("-") for v in values)


@dataclass
class Roles:
    """The columns chosen for each role (``logits`` may be several), and what was left out."""

    chosen: dict[str, list[int]] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)  # column -> why it is not data
    decided: bool = False  # losscli chose (names or skipping), not the command line or plain order
    doubts: list[str] = field(default_factory=list)  # columns kept that may not belong, said in the note

    def one(self, role: str) -> int:
        return self.chosen[role][0]

    def note(self, shape: TableShape) -> str | None:
        """What was decided, in words, or None when the command line or plain order decided."""
        if not self.decided and not self.doubts:
            return None
        used = "; ".join(f"{role} = {_list(shape, indices)}" for role, indices in self.chosen.items())
        skipped = ", ".join(f"{shape.label(i)} ({why})" for i, why in sorted(self.skipped.items()))
        return used + (f"; skipped {skipped}" if skipped else "") + "".join(f"; {doubt}" for doubt in self.doubts)


def _is_run(indices: Sequence[int]) -> bool:
    """``indices`` are consecutive columns, first to last (a range, or a list that could be one)."""
    return bool(indices) and indices[-1] - indices[0] == len(indices) - 1 and all(
        b - a == 1 for a, b in zip(indices, itertools.islice(indices, 1, None))
    )


def _list(shape: TableShape, indices: Sequence[int]) -> str:
    if len(indices) > 4 and _is_run(indices):
        return f"{shape.label(indices[0])} … {shape.label(indices[-1])} ({len(indices)} columns)"
    return ", ".join(shape.label(i) for i in indices)


def _columns_run(first: int, stop: int, more: list[int]) -> Sequence[int]:
    """Columns ``first`` to ``stop - 1`` and then ``more``: a range when ``more`` is empty, so a
    table of a million columns is not a list of a million ints (36 MB)."""
    return range(first, stop) if not more else [*range(first, stop), *more]


def _candidates(shape: TableShape, taken: set[int], roles: Roles, need: int = 1) -> list[int]:
    """Columns not named on the command line that could hold data: not an index, not text.

    A first column that only counts the rows is an index too, unless the roles need it.
    """
    # The free columns are a run, then a list once a column is left out after the run began.
    run_start, run_stop, more = 0, 0, []
    for i in range(len(shape.names)):
        if i in taken:
            reason = None
        else:
            named_for_a_role = shape.has_header and (is_target_name(shape.names[i]) or is_prediction_name(shape.names[i]))
            # A column named for a role holding text is data with bad values: the parse names them.
            reason = index_reason(shape, i) or ("text" if shape.is_text(i) and not named_for_a_role else None)
            if reason is not None:
                roles.skipped[i] = reason
        if i in taken or reason is not None:
            if run_start == run_stop:  # nothing free yet: the run starts later
                run_start = run_stop = i + 1
        elif more or (run_stop != i and run_stop > run_start):
            more.append(i)
        else:
            run_stop = i + 1
    free = _columns_run(run_start, run_stop, more)
    counter = counts_rows(shape, free[0]) if free else None
    if counter is not None and len(free) > need:
        roles.skipped[free[0]] = counter
        free = free[1:]
    return free


def _ambiguous(shape: TableShape, roles: Sequence[str], candidates: list[int], why: str) -> UsageError:
    if len(candidates) > MAX_LISTED:  # a table a million columns wide: not a million names
        listed = ", ".join(shape.label(i) for i in candidates[: MAX_LISTED - 1])
        listed += f", … {shape.label(candidates[-1])} ({len(candidates)} columns)"
    else:
        listed = ", ".join(shape.label(i) for i in candidates) or "none"
    flags = " and ".join(ROLE_FLAGS[r] for r in roles)
    return UsageError(f"{shape.describe()}: {why}; candidates: {listed}; say which with {flags}")


def pair_roles(shape: TableShape, pred_spec: str | None, target_spec: str | None, exclude: Sequence[int] = ()) -> Roles:
    """Prediction and target columns of one table (l1, mse and every pointwise loss).

    >>> shape = TableShape(["target", "prediction"], True, [True, True], [["1", ".5"], ["0", ".2"]],
    ...                    lambda i: ["target", "prediction"][i], None, None, lambda: "t.csv")
    >>> pair_roles(shape, None, None).chosen
    {'prediction': [1], 'target': [0]}
    """
    roles = Roles()
    given = {"prediction": pred_spec, "target": target_spec}
    for role, spec in given.items():
        if spec is not None:
            roles.chosen[role] = [shape.resolve(spec, ROLE_FLAGS[role])]
    if "prediction" in roles.chosen and roles.chosen.get("prediction") == roles.chosen.get("target"):
        raise UsageError(f"--pred and --target name the same column ({shape.label(roles.one('prediction'))})")
    missing = [role for role in ("prediction", "target") if role not in roles.chosen]
    if not missing:
        return roles
    taken = {i for indices in roles.chosen.values() for i in indices} | set(exclude)
    free = _candidates(shape, taken, roles, need=len(missing))
    by_name = {
        "prediction": [i for i in free if shape.has_header and is_prediction_name(shape.names[i])],
        "target": [i for i in free if shape.has_header and is_target_name(shape.names[i])],
    }
    if len(missing) == 1:
        role = missing[0]
        if len(by_name[role]) == 1:
            pick = by_name[role][0]
        elif len(free) == 1:
            pick = free[0]
        else:
            raise _ambiguous(shape, missing, free, f"which column holds the {role}?")
        roles.chosen[role] = [pick]
        roles.decided = bool(roles.skipped) or len(free) > 1
        return roles
    if len(free) == 1 and len(shape.names) == 1:
        raise UsageError(f"{shape.describe()}: give the targets too (a second file, '-' or inline values)")
    named_target, named_prediction = by_name["target"], by_name["prediction"]
    if len(named_target) == 1 and len(named_prediction) == 1 and named_target != named_prediction:
        prediction, target = named_prediction[0], named_target[0]
    elif len(free) == 2 and len(named_target) == 1:
        target = named_target[0]
        prediction = free[0] if free[1] == target else free[1]
    elif len(free) == 2 and len(named_prediction) == 1:
        prediction = named_prediction[0]
        target = free[0] if free[1] == prediction else free[1]
    elif len(free) == 2 and not named_target and not named_prediction:
        prediction, target = free  # unclear names: the documented order, prediction then target
    elif len(free) == 2:
        raise _ambiguous(shape, missing, free, "the header names do not say which is the prediction")
    else:
        raise _ambiguous(shape, missing, free, "which hold the prediction and the target?")
    roles.chosen = {"prediction": [prediction], "target": [target]}
    roles.decided = bool(roles.skipped) or [prediction, target] != sorted([prediction, target]) or len(free) > 2
    return roles


def var_roles(shape: TableShape, pred_spec: str | None, target_spec: str | None, var_spec: str | None) -> Roles:
    """Prediction, target and variance columns of one table (gaussian-nll).

    The variance is ``--var``, else the one column named like a variance (``var``, ``variance``,
    ``sigma2`` …), else the third of exactly three unnamed columns (the order of the arguments);
    anything else is a usage error naming ``--var``. The other two are ``pair_roles``'.
    """
    if var_spec is not None:
        var = shape.resolve(var_spec, "--var")
    else:
        given = {shape.resolve(spec, ROLE_FLAGS[role]) for role, spec in (("prediction", pred_spec), ("target", target_spec)) if spec}
        named = [i for i, name in enumerate(shape.names) if shape.has_header and i not in given and is_var_name(name)]
        free = [i for i in range(len(shape.names)) if i not in given and index_reason(shape, i) is None and not shape.is_text(i)]
        if len(named) == 1:
            var = named[0]
        elif not shape.has_header and len(free) == 3 and not given:
            var = free[2]
        else:
            listed = ", ".join(shape.label(i) for i in named) if named else "none is named var, variance or sigma2"
            raise UsageError(f"{shape.describe()}: which column holds the variance? ({listed}); say which with --var")
    roles = pair_roles(shape, pred_spec, target_spec, exclude=(var,))
    for role in ("prediction", "target"):
        if roles.one(role) == var:
            raise UsageError(f"{ROLE_FLAGS[role]} and --var name the same column ({shape.label(var)})")
    roles.chosen["var"] = [var]
    roles.decided = roles.decided or (var_spec is None and shape.has_header)
    return roles


def single_role(shape: TableShape, role: str, spec: str | None, names_of_role: Callable[[str], bool]) -> Roles:
    """One column for ``role`` (a one-column source of predictions, targets or labels)."""
    roles = Roles()
    if spec is not None:
        roles.chosen[role] = [shape.resolve(spec, ROLE_FLAGS[role])]
        return roles
    if len(shape.names) == 1:
        roles.chosen[role] = [0]
        return roles
    free = _candidates(shape, set(), roles) if role != "target" else _label_candidates(shape, roles)
    named = [i for i in free if shape.has_header and names_of_role(shape.names[i])]
    if len(named) == 1:
        roles.chosen[role] = named
    elif len(free) == 1:
        roles.chosen[role] = free
    else:
        raise _ambiguous(shape, [role], free, f"which column holds the {role}?")
    roles.decided = True
    return roles


def _label_candidates(shape: TableShape, roles: Roles) -> list[int]:
    """Label columns may hold names (text), but an index column is still no label."""
    free = []
    for i in range(len(shape.names)):
        reason = index_reason(shape, i) or (counts_rows(shape, i) if len(shape.names) > 1 else None)
        if reason is not None:
            roles.skipped[i] = reason
        else:
            free.append(i)
    return free


def label_column(shape: TableShape, spec: str | None) -> int:
    """The class-label column of a logits table: ``--target``, or the one header named like a target."""
    if spec is not None:
        return shape.resolve(spec, "--target")
    named = [i for i, name in enumerate(shape.names) if shape.has_header and is_target_name(name)]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        listed = ", ".join(shape.label(i) for i in named)
        raise UsageError(f"{shape.describe()}: several columns look like labels ({listed}); say which with --target")
    raise UsageError(f"{shape.describe()}: say which column holds the labels with --target")


def logit_roles(shape: TableShape, logits_spec: str | None, exclude: Sequence[int] = (), classes: Sequence[str] | None = None) -> Roles:
    """The logit columns of a table (xent with a label column, softmax, a logits file).

    Without ``--logits``: the numeric columns that are not an index, not ``exclude`` (the label)
    and not named like a target; whole-number columns are left out when float columns remain,
    and when some columns are named like logits (``logit_*``, ``prob_*``, class names) the
    others are left out. Anything left out is said in the note.
    """
    roles = Roles()
    if logits_spec is not None:
        chosen = shape.resolve_many(logits_spec, "--logits")
        for i in exclude:
            if i in chosen:
                raise UsageError(f"--logits includes the label column {shape.label(i)}")
        roles.chosen["logits"] = chosen
        return roles
    free = _candidates(shape, set(exclude), roles)
    labels = [i for i in free if shape.has_header and is_target_name(shape.names[i])]
    for i in labels:
        roles.skipped[i] = "named like a label"
    if labels:
        free = [i for i in free if i not in labels]
    class_names = {normalised(c) for c in classes or ()}
    named = [
        i for i in free
        if shape.has_header and (normalised(shape.names[i]).startswith(LOGIT_PREFIXES) or normalised(shape.names[i]) in class_names)
    ]
    if len(named) >= 2 and len(named) < len(free):
        for i in free:
            if i not in named:
                roles.skipped[i] = "not named like the logit columns"
        free = named
    # Only named columns can be told apart: without a header, whole-number logits are common.
    counts = [i for i in free if shape.has_header and is_count_column(shape, i) and i not in named]
    if counts and any(any(written_as_float(v) for v in shape.column_text(i)) for i in free):
        for i in counts:
            roles.skipped[i] = "whole numbers among float logits; --logits takes it"
        free = [i for i in free if i not in counts]
    if not free:
        swapped = any(why == "named like a label" for why in roles.skipped.values())
        hint = "; did you swap them? the logits come first, then the targets" if swapped else ""
        raise UsageError(f"{shape.describe()}: no numeric columns left for the logits; name them with --logits{hint}")
    roles.chosen["logits"] = free
    roles.decided = bool({i for i in roles.skipped if i not in exclude})
    # Without a header a whole-number column among float logits may be an id or a fold: kept (it
    # may be a logit), but said, since it changes every sample's loss.
    unnamed_counts = [i for i in free if not shape.has_header and is_count_column(shape, i)]
    if unnamed_counts and len(unnamed_counts) < len(free) and any(
            any(written_as_float(v) for v in shape.column_text(i)) for i in free):
        many = len(unnamed_counts) > 1
        columns = ("columns " if many else "column ") + ", ".join(shape.label(i) for i in unnamed_counts)
        roles.doubts.append(f"{columns} {'hold' if many else 'holds'} whole numbers among float logits and "
                            f"{'are' if many else 'is'} read as {'logits' if many else 'a logit'} "
                            "(an id? --logits names the logit columns)")
    return roles


def class_names_from_header(names: Sequence[str]) -> list[str]:
    """Logit column names as class names: a shared ``logit_``-style prefix is dropped.

    >>> class_names_from_header(["logit_cat", "logit_dog"]), class_names_from_header(["cat", "dog"])
    (['cat', 'dog'], ['cat', 'dog'])
    """
    if len(names) > 1:
        for separator in ("_", ".", ":", " "):
            heads = {name.split(separator, 1)[0] for name in names if separator in name}
            if len(heads) == 1 and all(separator in name for name in names):
                head = heads.pop()
                if normalised(head).startswith(LOGIT_PREFIXES) or normalised(head) in ("p", "logits"):
                    return [name.split(separator, 1)[1] for name in names]
    return list(names)


def check_classes_against_header(classes: Sequence[str], header_names: Sequence[str], describe: str) -> None:
    """``--classes`` must agree with a header that names the classes of the logit columns.

    The header decides the order: ``cat,dog`` over ``--classes dog,cat`` would read every label
    with the other class's logit. Placeholder names (``a,b``, ``c1,c2``, ``logit_0``, pandas'
    ``0,1``) name no class, and ``--classes`` names them.
    """
    from_header = class_names_from_header(header_names)
    if all(GENERIC_NAME.fullmatch(name) for name in from_header):
        return  # a, b, c1, c2, 0: placeholder columns name no class
    if list(classes) != list(from_header):
        raise UsageError(
            f"--classes {','.join(map(printable, classes))} disagrees with the header ({describe}), which names "
            f"the logit columns {','.join(map(printable, from_header))}; drop --classes (the header names the classes) "
            "or choose the columns with --logits"
        )


def resolve_column_list(spec: str, option: str, resolve, group=None) -> list[int]:
    """Columns listed as ``c0,c1,c2`` (names or indices) or ranges ``2-11`` (1-based, inclusive),
    each found by ``resolve(part, option)``; ``group(part)`` may name several at once (the
    columns of a 2-D .npz member), or give nothing."""
    indices = []
    for part in (p.strip() for p in spec.split(",")):
        if "-" in part and all(side.isdigit() for side in part.split("-", 1)):
            first, last = (int(side) for side in part.split("-", 1))
            if first > last:
                raise UsageError(f"{option} {part}: the range runs backwards")
            indices += [resolve(str(i), f"{option} {part}: column") for i in range(first, last + 1)]
        elif group is not None and len(group(part)) > 1:
            indices += group(part)
        else:
            indices.append(resolve(part, option))
    return indices
