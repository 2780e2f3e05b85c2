"""``--explain``: the derivation of a result, step by step, with the user's numbers.

A ``Derivation`` is made of ``Section``s of ``Equation``s (chains ``a = b = c``), ``Prose`` and
``Grid``s (the one-hot targets), written in a small math notation that ``typeset`` turns into
terminal text, Markdown or LaTeX: Unicode symbols, ``_i`` or ``_{…}`` subscripts, ``^(…)``
exponents, and ``Frac`` for a division. What each pointwise loss writes is declared by its
spec (``Explained``: its term and derivative, by cases); the class losses and softmax are
written here from their result, which holds every number the text needs.

>>> from losscli.losses import mse
>>> lines = explain(mse([2, 3], [4, 5]), digits=4, show_grad=False).sections[1].items
>>> lines[0].sides
('ℓ_{1}', '(ŷ_{1} − y_{1})²', '(2 − 4)²', '4')
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from typing import Union

import numpy as np

from .result import ClassTargets, HandTerms, LossResult, SoftmaxSlices
from .inputs import printable
from .table_view import rounded, table_caption

EXPLAIN_ROWS = 8  # every row up to this many; more are the first few, ⋮, the last one
HEAD_ROWS = 3
SUM_TERMS = 6  # a written sum of more terms is its first three, …, its last one
VECTOR_VALUES = 8  # a vector of more values is written as its ends


@dataclass(frozen=True)
class Frac:
    """A division, written ``a / b`` in text and ``\\frac{a}{b}`` in LaTeX."""

    numerator: "Math"
    denominator: "Math"


Math = Union[str, Frac, tuple]  # a tuple is its parts one after another


@dataclass(frozen=True)
class Equation:
    sides: tuple  # of Math, written with " = " between them
    note: str = ""  # prose after the equation


@dataclass(frozen=True)
class Prose:
    text: str


@dataclass(frozen=True)
class Grid:
    """A small table inside a derivation: the targets as one-hot (or smoothed) rows."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


ELIDED = Prose("⋮")


@dataclass(frozen=True)
class Section:
    title: str
    items: tuple


@dataclass(frozen=True)
class Derivation:
    title: str
    sections: tuple[Section, ...]


def explain(result: LossResult, *, digits: int = 4, show_grad: bool = False, class_names=None) -> Derivation:
    """The derivation of ``result``: formula, each row substituted, reduction, and with
    ``show_grad`` the backward pass."""
    writer = _Numbers(digits)
    if isinstance(result.details, SoftmaxSlices):
        return _softmax(result, writer)
    if isinstance(result.details, ClassTargets):
        return _class_loss(result, result.details, writer, show_grad, class_names)
    if isinstance(result.details, HandTerms) and result.details.explained is not None:
        return _pointwise(result, result.details, writer, show_grad)
    raise ValueError(f"{result.loss} declares no explanation")  # a loss added without one: a test catches it


# ---------------------------------------------------------------------------------------------
# numbers and sums as a person writes them


class _Numbers:
    def __init__(self, digits: int):
        self.digits = digits

    def __call__(self, value) -> str:
        """A number rounded for reading, as the table rounds it, with a true minus sign: ``−2``, ``∞``."""
        text = rounded(value, self.digits)
        return {"inf": "∞", "-inf": "−∞"}.get(text, text.replace("-", "−"))

    def operand(self, value) -> str:
        """A number after an operator: a negative one in parentheses, ``2 − (−4)``."""
        text = self(value)
        return f"({text})" if text.startswith("−") else text

    def vector(self, values, keep: tuple[int, ...] = ()) -> str:
        """``[a, b, c]``, or its first values, those at ``keep`` (the target class) and its last."""
        return _vector_of([self(v) for v in np.ravel(values)], keep)


class _Shown:
    """A value in a ``Case.numbers`` template: ``{x}`` rounded, ``{x:o}`` as an operand."""

    def __init__(self, value, numbers: _Numbers):
        self.value, self.numbers = value, numbers

    def __format__(self, spec: str) -> str:
        if isinstance(self.value, str):
            return self.value
        return self.numbers.operand(self.value) if spec == "o" else self.numbers(self.value)


def written_sum(parts: list[str]) -> str:
    """``a + b + c``, or its first three, ``…``, its last one."""
    if len(parts) > SUM_TERMS:
        parts = parts[:3] + ["…"] + parts[-1:]
    return " + ".join(parts)


def _shown_rows(count: int) -> list[int | None]:
    """The rows to write out of ``count`` kept ones: all when few, else the first ones, None (⋮), the last."""
    if count <= EXPLAIN_ROWS:
        return list(range(count))
    return list(range(HEAD_ROWS)) + [None, count - 1]


def _at(symbols: str, index: str) -> str:
    """A formula of element ``i`` written for one element: ``_i`` becomes ``_{3}``."""
    return symbols.replace("_i", "_{" + index + "}")


def _index(result: LossResult, row: int) -> str:
    return ",".join(str(v) for v in result.index_values(row))


def _reduction(result: LossResult, term: str, count: str) -> Equation:
    """``L = Σ ℓ_i / n`` and what the reduction is, in words."""
    total = "Σ_i " + term
    if result.reduction == "none":
        return Equation(("L_i", term), "no reduction: one loss per element")
    if result.reduction == "sum":
        return Equation(("L", total), "sum")
    if result.reduction == "batchmean":
        return Equation(("L", Frac(total, "N")), f"batchmean: divided by the batch size N = {result.denominator:g}, the input's first dimension")
    return Equation(("L", Frac(total, count)), f"mean: divided by the {count} = {result.denominator:g} {'elements' if count == 'n' else 'samples'}")


def _reduced(result: LossResult, symbols: list[str], values: list[str], denominator: str, n: _Numbers) -> Equation:
    """``L = (ℓ_1 + … ) / n = (4 + …) / 4 = 16 / 4 = 4`` with the result's numbers."""
    value = n(result.value)
    if result.reduction == "sum":
        return Equation(("L", written_sum(symbols), written_sum(values), value))
    total = n(float(result.value) * float(result.denominator))
    return Equation(("L", Frac(written_sum(symbols), denominator), Frac(written_sum(values), n(result.denominator)),
                     Frac(total, n(result.denominator)), value))


# ---------------------------------------------------------------------------------------------
# pointwise losses: the spec's declared cases


def _case(cases, row: dict):
    for case in cases:
        if case.when is None or case.when(row):
            return case
    return None  # a row whose case is unknown (nan): written by its value alone


def _pointwise(result: LossResult, hand: HandTerms, n: _Numbers, show_grad: bool) -> Derivation:
    explained = hand.explained
    grad_of = result.presentation.grad_of
    legend = ", ".join(f"{symbol}: {name}" for symbol, name in hand.symbols)
    count = "N" if result.reduction == "batchmean" else "n"
    term_symbols = explained.term[0].symbols if len(explained.term) == 1 else None
    formula = [Equation(("ℓ_i", case.symbols)) for case in explained.term]
    formula += [Equation(tuple(side.strip() for side in where.split(" = ", 1))) for where in explained.where]
    formula.append(_reduction(result, "ℓ_i", count))
    formula.append(Prose(f"{legend}; i = 1 … n, n = {result.n}" + (f"; {'; '.join(explained.notes)}" if explained.notes else "")))
    if term_symbols is None:
        formula[0:0] = [Prose("ℓ_i takes one of these forms, by the case it falls in:")]

    columns = {c.key: np.ravel(c.values) for c in result.columns}
    parameters = {k: v for k, v in result.parameters.items() if np.ndim(v) == 0 and v is not None}

    def row_values(i: int) -> dict:
        values = {key: _Shown(column[i] if column.dtype.kind != "U" else str(column[i]), n) for key, column in columns.items()}
        values.update({key: _Shown(float(v), n) for key, v in parameters.items() if not isinstance(v, bool)})
        values["term"] = _Shown(float(np.ravel(result.terms)[i]), n)
        return values

    def raw(i: int) -> dict:
        return {key: column[i] for key, column in columns.items()}

    forward, symbols, values = [], [], []
    kept = _shown_rows(result.rows)
    for i in kept:
        if i is None:
            forward.append(ELIDED)
            continue
        index = _index(result, i)
        term = float(np.ravel(result.terms)[i])
        case = _case(explained.term, raw(i))
        sides = [f"ℓ_{{{index}}}"]
        if case is not None:
            sides += [_at(_strip_condition(case.symbols), index), string.Formatter().vformat(case.numbers, (), row_values(i))]
        forward.append(Equation((*sides, n(term))))
    summed = _sum_rows(result)
    for i in summed:
        symbols.append(f"ℓ_{{{_index(result, i)}}}")
        values.append(n.operand(np.ravel(result.terms)[i]) if values else n(np.ravel(result.terms)[i]))
    everyone = list(range(result.rows))
    symbols, values = _with_gaps(result, summed, everyone, symbols), _with_gaps(result, summed, everyone, values)
    if result.reduction != "none":
        forward.append(_reduced(result, symbols, values, count, n))
    sections = [Section("Formula", tuple(formula)), Section("Forward pass", tuple(forward))]
    if show_grad and result.grad is not None:
        sections.append(_pointwise_backward(result, explained, grad_of, count, kept, row_values, raw, n))
    return Derivation(_title(result), tuple(sections))


def _sum_rows(result: LossResult) -> list[int]:
    rows = result.rows
    if rows <= SUM_TERMS:
        return list(range(rows))
    return [0, 1, 2, rows - 1]


def _with_gaps(result: LossResult, shown: list[int], summed: list[int], parts: list[str]) -> list[str]:
    """``parts`` of the kept rows ``shown`` with ``…`` wherever terms of the sum go unwritten:
    between rows not next to each other among the ``summed`` ones, where a file's head and tail
    windows meet, and after the last row when the rest of a file was not kept."""
    position = {row: k for k, row in enumerate(summed)}
    partial_file = result.rows < result.n
    head = result.head_rows if partial_file else None
    out = []
    for k, (row, part) in enumerate(zip(shown, parts)):
        if k:
            previous = shown[k - 1]
            if position[row] != position[previous] + 1 or (head is not None and previous < head <= row):
                out.append("…")
        out.append(part)
    if partial_file and (head is None or head >= result.rows):
        out.append("…")
    return out


def _strip_condition(symbols: str) -> str:
    """A case's formula without its condition: ``½·d_i²   (|d_i| < δ)`` → ``½·d_i²``."""
    return symbols.split("   (")[0]


def _pointwise_backward(result, explained, grad_of, count, kept, row_values, raw, n) -> Section:
    var = f"{grad_of}_i"
    scale = {"mean": count, "batchmean": "N"}.get(result.reduction)
    chain = Equation(
        (Frac("∂L", f"∂{var}"), (Frac("∂L", "∂ℓ_i"), " · ", Frac("∂ℓ_i", f"∂{var}"))),
        {"mean": f"∂L/∂ℓ_i = 1/{count} for the mean", "batchmean": "∂L/∂ℓ_i = 1/N for batchmean",
         "sum": "∂L/∂ℓ_i = 1 for the sum", "none": "no reduction: the gradient of Σ_i ℓ_i, as backward(ones) gives"}[result.reduction],
    )
    items = [chain]
    for case in explained.grad:
        derivative = _strip_condition(case.symbols)
        items.append(Equation((Frac("∂ℓ_i", f"∂{var}"), derivative), case.symbols[len(derivative):].strip()))
    grad = np.ravel(result.grad_rows())
    denominator = n(result.denominator) if scale else None
    for i in kept:
        if i is None:
            items.append(ELIDED)
            continue
        index = _index(result, i)
        case = _case(explained.grad, raw(i))
        sides = [Frac("∂L", f"∂{_at(var, index)}")]
        if case is not None:
            symbols = _at(_strip_condition(case.symbols), index)
            numbers = string.Formatter().vformat(case.numbers, (), row_values(i))
            sides += [Frac(symbols, scale), Frac(numbers, denominator)] if scale else [symbols, numbers]
        items.append(Equation((*sides, n(grad[i]))))
    return Section("Backward pass (chain rule)", tuple(items))


def _title(result: LossResult) -> str:
    return table_caption(result, columns=False)


# ---------------------------------------------------------------------------------------------
# cross-entropy and NLL


def _class_loss(result: LossResult, targets: ClassTargets, n: _Numbers, show_grad: bool, class_names) -> Derivation:
    p = result.parameters
    smoothing = float(p.get("label_smoothing") or 0.0)
    weight = p.get("weight")
    classes = targets.classes
    weighted = weight is not None
    scores = np.asarray(result.columns[0].values, dtype=np.float64)
    logits = targets.applies_softmax
    with np.errstate(all="ignore"):
        log_p = _log_softmax(scores) if logits else scores
    index_targets = targets.target_kind == "index"
    w = np.ones(classes) if weight is None else np.asarray(weight, dtype=np.float64)
    target = np.asarray(result.column("target").values)
    ignore = p.get("ignore_index")

    # q: the target distribution each sample's loss is taken against (one-hot, smoothed, or given).
    if index_targets:
        valid = target != ignore
        q = np.zeros_like(log_p)
        q[np.flatnonzero(valid), target[valid].astype(int)] = 1.0
    else:
        valid = np.ones(len(target), dtype=bool)
        q = np.asarray(target, dtype=np.float64)
    if smoothing:
        q = (1 - smoothing) * q + smoothing / classes

    formula = []
    if logits:
        formula.append(Equation(("p_n[k]", Frac("e^(x_n[k])", "Σ_j e^(x_n[j])")), "softmax of sample n's logits"))
        log_of = "log p_n"
    else:
        log_of = "x_n"
    wy, wk = ("w[y_n]·", "w[k]·") if weighted else ("", "")
    if index_targets and not smoothing:
        formula.append(Equation(("ℓ_n", f"−{wy}{log_of}[y_n]")))
    elif index_targets:
        formula.append(Equation(("ℓ_n", (f"(1 − ε)·(−{wy}{log_of}[y_n]) + ", Frac("ε", "C"), f"·Σ_k (−{wk}{log_of}[k])"))))
    else:
        formula.append(Equation(("ℓ_n", f"−Σ_k {wk}t'_n[k]·{log_of}[k]" if smoothing else f"−Σ_k {wk}t_n[k]·{log_of}[k]")))
        if smoothing:
            formula.append(Equation(("t'_n[k]", ("(1 − ε)·t_n[k] + ", Frac("ε", "C")))))
    denominator_symbol = {"Σ w[y]": "Σ_n w[y_n]"}.get(result.denominator_label, "N")
    if result.reduction == "mean":
        formula.append(Equation(("L", Frac("Σ_n ℓ_n", denominator_symbol)), _class_mean_words(result, index_targets, weighted)))
    elif result.reduction == "sum":
        formula.append(Equation(("L", "Σ_n ℓ_n"), "sum"))
    else:
        formula.append(Equation(("L_n", "ℓ_n"), "no reduction: one loss per sample"))
    legend = f"x: {'logits' if logits else 'log-probabilities'}, y: target class, C = {classes} classes, {result.n} sample{'s' if result.n != 1 else ''}"
    if smoothing:
        legend += f", ε = {smoothing:g} (label smoothing)"
    if weighted:
        legend += ", w = " + n.vector(w)
    if index_targets:
        legend += f"; targets equal to {ignore} are ignored"
    formula.append(Prose(legend))

    names = [printable(str(name)) for name in class_names] if class_names else [str(k) for k in range(classes)]
    kept = _shown_rows(result.rows)
    grid_rows = []
    for i in kept:
        if i is None:
            grid_rows.append(("⋮",) * (2 + min(classes, VECTOR_VALUES + 1)))
            continue
        if not valid[i]:
            grid_rows.append((str(_index(result, i)), f"{int(target[i])} (ignored)", *_elided(["·"] * classes)))
            continue
        label = names[int(target[i])] if index_targets else "t"
        grid_rows.append((str(_index(result, i)), label, *_elided([n(v) for v in q[i]])))
    grid_title = "Targets as rows of q: one-hot" if index_targets and not smoothing else (
        "Targets as rows of q: smoothed one-hot, (1 − ε)·one-hot + ε/C" if index_targets else
        ("Targets t, smoothed: (1 − ε)·t + ε/C" if smoothing else "Targets t (probabilities)"))
    target_section = Section(grid_title, (Grid(("row", "y", *_elided(names)), tuple(grid_rows)),))

    forward = []
    terms = np.asarray(result.terms, dtype=np.float64)
    for i in kept:
        if i is None:
            forward.append(ELIDED)
            continue
        forward.extend(_sample_steps(result, i, scores[i], log_p[i], q[i], w, target[i], valid[i], index_targets,
                                     smoothing, weighted, logits, terms[i], n))
    if result.reduction != "none":
        forward.append(_class_reduced(result, terms, target, valid, w, index_targets, weighted, n))
    sections = [Section("Formula", tuple(formula)), target_section, Section("Forward pass", tuple(forward))]
    if show_grad and result.grad is not None:
        sections.append(_class_backward(result, kept, log_p, q, w, valid, weighted, smoothing, logits, n))
    return Derivation(_title(result), tuple(sections))


def _elided(cells: list[str]) -> list[str]:
    return cells if len(cells) <= VECTOR_VALUES else cells[:HEAD_ROWS] + ["…"] + cells[-1:]


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - np.max(x, axis=1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))


def _class_mean_words(result: LossResult, index_targets: bool, weighted: bool) -> str:
    if not index_targets:
        return f"mean: divided by the N = {result.denominator:g} samples"
    if weighted:
        return "mean: divided by the sum of the target classes' weights, as PyTorch does"
    return f"mean: divided by N = {result.denominator:g}, the number of non-ignored targets"


def _powers(x: np.ndarray, n: _Numbers) -> tuple[list[str], float]:
    """``e^1, e^2, …`` or, when e^x would overflow, ``e^(x − m)`` with m the row's largest logit."""
    # Shifted as the computation is when e^x would overflow, or when an infinite logit makes it ∞ − ∞.
    shifted = not np.isfinite(x).all() or np.abs(x).max(initial=0) > 700
    shift = float(np.max(x)) if shifted else 0.0
    if shifted:
        return [f"e^({n(v)} − {n.operand(shift)})" for v in x], shift
    return [f"e^{n(v)}" if v >= 0 else f"e^({n(v)})" for v in x], 0.0


def _sample_steps(result, i, x, log_p, q, w, y, valid, index_targets, smoothing, weighted, logits, term, n) -> list:
    index = _index(result, i)
    steps = []
    if index_targets and not valid:
        return [Prose(f"sample {index}: y = {int(y)} is ignored (--ignore-index): no term, and no share of the mean")]
    label = int(y) if index_targets else None
    if logits:
        powers, shift = _powers(x, n)
        with np.errstate(all="ignore"):
            exp = np.exp(x - shift)
        total = float(np.sum(exp))
        keep = () if label is None else (label,)
        steps.append(Equation((f"e^(x_{{{index}}})", _vector_of(powers, keep), n.vector(exp, keep))))
        sum_side = f"Σ_j e^(x_{{{index}}}[j])" + (f" (shifted by {n(shift)})" if shift == shift and shift else "")
        steps.append(Equation((sum_side, written_sum([n(v) for v in exp]), n(total))))
        if label is not None:
            steps.append(Equation((f"p_{{{index}}}[{label}]", Frac(powers[label], _sum_of(powers)),
                                   Frac(n(exp[label]), n(total)), n(math.exp(log_p[label])))))
    if index_targets and not smoothing:
        picked = f"log p_{{{index}}}[{label}]" if logits else f"x_{{{index}}}[{label}]"
        number = f"log {n(math.exp(log_p[label]))}" if logits else n.operand(log_p[label])
        if weighted:
            steps.append(Equation((f"ℓ_{{{index}}}", f"−w[{label}]·{picked}", f"−{n(w[label])}·{number}", n(term))))
        else:
            steps.append(Equation((f"ℓ_{{{index}}}", f"−{picked}", f"−{number}", n(term))))
        return steps
    if logits:
        keep = () if label is None else (label,)
        steps.append(Equation((f"p_{{{index}}}", n.vector(np.exp(log_p), keep))))
        steps.append(Equation((f"−log p_{{{index}}}", n.vector(-log_p, keep))))
    neg = -log_p
    if index_targets:  # smoothed: (1 − ε)·(−w[y] log p[y]) + ε/C·Σ_k (−w[k] log p[k])
        eps, classes = smoothing, len(x)
        picked = w[label] * neg[label] if weighted else neg[label]
        spread = np.sum(w * neg) if weighted else np.sum(neg)
        first = f"{n(1 - eps)}·{n(picked)}"
        parts = [n(v) for v in (w * neg if weighted else neg)]
        steps.append(Equation((
            f"ℓ_{{{index}}}",
            (first, " + ", Frac(n(eps), str(classes)), "·(" + written_sum(parts) + ")"),
            (first, " + ", Frac(n(eps), str(classes)), "·" + n(spread)),
            n(term),
        ), "weights as w[y]·(−log p[y]) and w[k]·(−log p[k])" if weighted else ""))
        return steps
    products = [f"{n(wk)}·{n(qk)}·{n.operand(v)}" if weighted else f"{n(qk)}·{n.operand(v)}"
                for wk, qk, v in zip(w, q, neg)]
    steps.append(Equation((f"ℓ_{{{index}}}", written_sum(products), n(term))))
    return steps


def _vector_of(parts: list[str], keep: tuple[int, ...] = ()) -> str:
    if len(parts) <= VECTOR_VALUES:
        return "[" + ", ".join(parts) + "]"
    shown = sorted({*range(HEAD_ROWS), *(k for k in keep if 0 <= k < len(parts)), len(parts) - 1})
    written, previous = [], -1
    for k in shown:
        if k > previous + 1:
            written.append("…")
        written.append(parts[k])
        previous = k
    return "[" + ", ".join(written) + "]"


def _sum_of(parts: list[str]) -> str:
    return written_sum(parts)


def _class_reduced(result, terms, target, valid, w, index_targets, weighted, n) -> Equation:
    counted = [i for i in range(result.rows) if valid[i]]
    value = n(result.value)
    if not counted:  # every target ignored: PyTorch's sum is 0 and its mean 0/0
        if result.reduction == "sum":
            return Equation(("L", value), "every target is ignored: an empty sum")
        return Equation(("L", Frac("0", n(result.denominator)), value), "every target is ignored: a mean of nothing")
    shown = counted if len(counted) <= SUM_TERMS else counted[:3] + counted[-1:]
    symbols = _with_gaps(result, shown, counted, [f"ℓ_{{{_index(result, i)}}}" for i in shown])
    values = _with_gaps(result, shown, counted, [n(terms[i]) for i in shown])
    if result.reduction == "sum":
        return Equation(("L", " + ".join(symbols), " + ".join(values), value))
    if index_targets and weighted:
        weights = _with_gaps(result, shown, counted, [n(w[int(target[i])]) for i in shown])
        denominator_symbols = " + ".join("…" if s == "…" else f"w[y_{{{s[3:-1]}}}]" for s in symbols)
        return Equation(("L", Frac(" + ".join(symbols), denominator_symbols),
                         Frac(" + ".join(values), " + ".join(weights)), value))
    total = n(float(result.value) * float(result.denominator))
    return Equation(("L", Frac(" + ".join(symbols), n(result.denominator)),
                     Frac(" + ".join(values), n(result.denominator)), Frac(total, n(result.denominator)), value))


def _class_backward(result, kept, log_p, q, w, valid, weighted, smoothing, logits, n) -> Section:
    denominator = result.denominator if result.reduction == "mean" else None
    scale = "D" if denominator is not None else None
    items = []
    if logits:
        if weighted:
            local = ("p_n[k]·Σ_j w[j]·q_n[j] − w[k]·q_n[k]")
        else:
            local = "p_n[k] − q_n[k]"
    else:
        local = "−w[k]·q_n[k]" if weighted else "−q_n[k]"
    items.append(Equation((Frac("∂L", "∂x_n[k]"), (Frac("∂L", "∂ℓ_n"), " · ", Frac("∂ℓ_n", "∂x_n[k]")),
                           Frac(local, scale) if scale else local),
                          (f"D = {n(denominator)}, the mean's denominator; " if scale else "")
                          + "q_n: sample n's target row above" + ("; p_n = softmax(x_n)" if logits else "")))
    grad = result.grad_rows()
    for i in kept:
        if i is None:
            items.append(ELIDED)
            continue
        index = _index(result, i)
        if not valid[i]:
            items.append(Equation((Frac("∂L", f"∂x_{{{index}}}"), n.vector(grad[i])), "ignored: no gradient"))
            continue
        p = np.exp(log_p[i])
        keep = (int(np.argmax(q[i])),)  # the target class stays in view when a vector is elided
        if logits and weighted:
            local_numbers = f"{n.vector(p, keep)}·{n(np.sum(w * q[i]))} − {n.vector(w * q[i], keep)}"
        elif logits:
            local_numbers = f"{n.vector(p, keep)} − {n.vector(q[i], keep)}"
        else:
            local_numbers = "−" + n.vector(w * q[i] if weighted else q[i], keep)
        sides = [Frac("∂L", f"∂x_{{{index}}}"), Frac(local_numbers, n(denominator)) if scale else local_numbers, n.vector(grad[i], keep)]
        items.append(Equation(tuple(sides)))
    return Section("Backward pass (chain rule)", tuple(items))


# ---------------------------------------------------------------------------------------------
# softmax


def _softmax(result: LossResult, n: _Numbers) -> Derivation:
    slices = result.details
    p = result.parameters
    temperature = float(p.get("temperature", 1.0))
    log = bool(p.get("log"))
    scaled = np.moveaxis(np.asarray(slices.scaled, dtype=np.float64), slices.dim, -1)
    value = np.moveaxis(np.asarray(result.value, dtype=np.float64), slices.dim, -1)
    width = scaled.shape[-1]
    scaled, value = scaled.reshape(-1, width), value.reshape(-1, width)
    power = "x_i" if temperature == 1 else "x_i/T"
    formula = [Equation(("softmax(x)_i", Frac(f"e^({power})", "Σ_j e^(" + power.replace("_i", "_j") + ")")))]
    if log:
        formula.append(Equation(("log-softmax(x)_i", (power + " − log Σ_j e^(" + power.replace("_i", "_j") + ")"))))
    words = f"over dim {slices.dim}: each slice of {width} values sums to 1"
    if temperature != 1:
        words += f"; T = {temperature:g} (--temperature)"
    formula.append(Prose(words))
    items = []
    first_slice = _first_slice_number(result, width)
    # With a temperature the shares are taken of x/T: the written numbers are those of x/T.
    of = "x" if temperature == 1 else "x/T"
    power_j = power.replace("_i", "_j")
    for s in _shown_rows(len(scaled)):
        if s is None:
            items.append(ELIDED)
            continue
        x = scaled[s]
        powers, shift = _powers(x, n)
        with np.errstate(all="ignore"):
            exp = np.exp(x - shift)
        total = float(np.sum(exp))
        where = "" if len(scaled) == 1 else f"slice {first_slice(s)}: "
        items.append(Prose(f"{where}{of} = {n.vector(x)}"))
        items.append(Equation((f"Σ_j e^({power_j})" + (f" (shifted by {n(shift)})" if shift else ""), written_sum(powers),
                               written_sum([n(v) for v in exp]), n(total))))
        for j in _shown_rows(width) if width > EXPLAIN_ROWS else range(width):
            if j is None:
                items.append(ELIDED)
                continue
            at = power.replace("_i", f"_{{{j + 1}}}")
            if log:
                items.append(Equation((f"log-softmax(x)_{{{j + 1}}}", f"{at} − log Σ_j e^({power_j})",
                                       f"{n(x[j] - shift)} − log {n(total)}", n(value[s, j]))))
            else:
                items.append(Equation((f"softmax(x)_{{{j + 1}}}", Frac(powers[j], written_sum(powers)),
                                       Frac(n(exp[j]), n(total)), n(value[s, j]))))
    return Derivation(table_caption(result, columns=False),
                      (Section("Formula", tuple(formula)), Section("Each share", tuple(items))))


def _first_slice_number(result: LossResult, width: int):
    """The 1-based number of the s-th kept slice (a file keeps its first and last rows)."""
    if result.row_numbers is None:
        return lambda s: s + 1
    starts = np.asarray(result.row_numbers)[::width] // width
    return lambda s: int(starts[s]) + 1
