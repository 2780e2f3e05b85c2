"""The human view: a rich table of every term, the reduction row, and the derivation line.

Numbers here are rounded for reading (``--digits``); the machine formats in ``render`` never are.
Text that came from the user is wrapped in ``rich.text.Text``, so ``[bold]`` stays ``[bold]``.
rich is imported only when a table is drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, TextIO

import numpy as np

from .errors import UsageError
from .inputs import printable
from .result import ClassTargets, HandTerms, LossResult, SoftmaxSlices

DERIVATION_TERMS = 6  # longer sums are written as the first few terms, "…", the last one
MIN_FIT_DIGITS = 3  # a table too wide for the terminal may round to this few digits before it stacks
ALL_ROWS_LIMIT = 10_000  # rich draws a table in memory: 10,000 rows take seconds, millions never end


def rounded(value, digits: int) -> str:
    """A number for reading: ``digits`` significant digits, no trailing zeros."""
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value.is_integer() and abs(value) < 10**15:
        return str(int(value))  # 99999 reads better than 1e+05, and is just as exact
    text = f"{value:.{digits}g}"
    return "0" if text == "-0" else text


def _operand(value, digits: int) -> str:
    """A number written after a minus sign: negatives get parentheses, ``2−(-4)``."""
    text = rounded(value, digits)
    return f"({text})" if text.startswith("-") else text


def written_sum(term: Callable[[int], str], total: int, available: int | None = None, head: int | None = None) -> str:
    """A sum as a person writes it: every term, or the first three, "…", the last one.

    ``term(i)`` writes the i-th of the ``available`` kept terms (of ``total``); the first ``head``
    of them are the input's first terms (a big input keeps only its head and tail).
    """
    available = total if available is None else available
    head = available if head is None else head
    if available == total and total <= DERIVATION_TERMS:
        return " + ".join(term(i) for i in range(total))
    first = [term(i) for i in range(min(3, head, available - 1))]
    return " + ".join(first + ["…", term(available - 1)])


def _head_rows(result: LossResult) -> int:
    """How many of the kept rows are the first rows computed on (after any omitted ones)."""
    return min(result.rows if result.head_rows is None else result.head_rows, result.rows)


def derivation(result: LossResult, digits: int) -> str | None:
    """The reduction written as a person checks it by hand, e.g. ``(|2−4| + |3−5|) / 2 = 2``."""
    if isinstance(result.details, SoftmaxSlices):
        return _softmax_derivation(result, digits)
    if result.reduction == "none":
        return None
    value = rounded(result.value, digits)
    if isinstance(result.details, HandTerms):
        return _hand_derivation(result, result.details, digits, value)
    if isinstance(result.details, ClassTargets):
        return _class_derivation(result, result.details, digits, value)
    return None


def _hand_derivation(result: LossResult, hand: HandTerms, digits: int, value: str) -> str:
    """Each term as a person writes it, summed, then divided: ``[(2−4)² + (3−5)²] / 2 = 4``."""
    fields = [c.key for c in result.columns if c.values.dtype.kind == "f"]
    # A matrix input keeps its shape in terms; rows here are elements.
    columns = {key: np.ravel(result.column(key).values) for key in fields}
    terms = np.ravel(result.terms)

    def term(i: int) -> str:
        written = {key: (rounded if n == 0 else _operand)(values[i], digits) for n, (key, values) in enumerate(columns.items())}
        return hand.template.format(**written, term=rounded(terms[i], digits))

    opening, closing = hand.group
    body = opening + written_sum(term, result.n, result.rows, _head_rows(result)) + closing
    if result.denominator is None:
        return f"{body} = {value}"
    return f"{body} / {rounded(result.denominator, digits)} = {value}"


def _class_derivation(result: LossResult, targets: ClassTargets, digits: int, value: str) -> str:
    """``(ℓ₁ + ℓ₂ + …) / denominator``, over the non-ignored samples the result kept."""
    kept = np.arange(result.rows)
    if targets.target_kind == "index":
        kept = np.flatnonzero(result.column("target").values != result.parameters["ignore_index"])
    counted = targets.valid  # non-ignored samples in the whole input
    head = int(np.sum(kept < _head_rows(result)))
    if counted == 0:
        total = "0"
    else:
        total = written_sum(lambda i: rounded(result.terms[kept[i]], digits), counted, kept.size, head)
        total = f"({total})" if counted > 1 and result.reduction == "mean" else total
    if result.reduction == "sum":
        return f"{total} = {value}"
    if result.denominator_label == "Σ w[y]":
        w_y = result.column("weight").values
        weights = written_sum(lambda i: rounded(w_y[kept[i]], digits), counted, kept.size, head)
        return f"{total} / ({weights}) = {value}   (weighted mean: divided by Σ w[y], as PyTorch)"
    return f"{total} / {rounded(result.denominator, digits)} = {value}"


def _softmax_derivation(result: LossResult, digits: int) -> str:
    """The first output element of the first slice along ``dim``, written out."""
    scaled = np.asarray(result.details.scaled)
    dim = result.details.dim
    first = np.moveaxis(scaled, dim, -1).reshape(-1, scaled.shape[dim])[0]
    overflow = np.any(np.abs(first[np.isfinite(first)]) > 700)
    top = np.max(first)

    def power(x) -> str:
        if overflow:
            return f"e^({rounded(x, digits)}−{_operand(top, digits)})"
        return f"e^{_operand(x, digits)}"

    denominator = written_sum(lambda i: power(first[i]), first.size)
    value = np.moveaxis(np.asarray(result.value), dim, -1).reshape(-1, scaled.shape[dim])[0][0]
    if result.parameters["log"]:
        head = f"({rounded(first[0], digits)}−{_operand(top, digits)})" if overflow else rounded(first[0], digits)
        return f"{head} − log({denominator}) = {rounded(value, digits)}"
    return f"{power(first[0])} / ({denominator}) = {rounded(value, digits)}"


VECTOR_CELL_VALUES = 12  # a longer vector (a vocabulary's logits) shows its ends; csv and json hold every value


def _cell(values: np.ndarray, i: int, digits: int, labels: list[str] | None = None) -> str:
    cell = values[i]
    if np.ndim(cell):
        flat = np.ravel(cell)
        if flat.size > VECTOR_CELL_VALUES:
            head = ", ".join(rounded(v, digits) for v in flat[: VECTOR_CELL_VALUES - 2])
            return f"[{head}, …, {rounded(flat[-1], digits)}] ({flat.size} values)"
        return "[" + ", ".join(rounded(v, digits) for v in flat) + "]"
    if labels is not None and values.dtype.kind in "iu" and 0 <= cell < len(labels):
        return f"{cell} {printable(labels[cell])}"
    if values.dtype.kind in "iu":
        return str(int(cell))
    if values.dtype.kind == "U":
        return str(cell)
    return rounded(cell, digits)


def shown_rows(result: LossResult, limit: int | None) -> list[int]:
    """Which of the rows the columns hold the table draws: all, or the first and last halves."""
    if limit is None or result.rows <= limit:
        return list(range(result.rows))
    head = (limit + 1) // 2
    return list(range(head)) + list(range(result.rows - (limit - head), result.rows))


def check_all_rows(rows: int) -> None:
    """``--all`` draws every row, and rich builds a whole table in memory: refuse a huge one."""
    if rows > ALL_ROWS_LIMIT:
        raise UsageError(
            f"--all: a table shows at most {ALL_ROWS_LIMIT:,} rows and this input has more; "
            "-f csv writes every row (or pick how many the table shows with --rows N)"
        )


# ---------------------------------------------------------------------------------------------
# glyphs: a stream that cannot encode them (PYTHONIOENCODING=ascii, latin-1) gets ASCII stand-ins

ASCII_STAND_INS = {
    "ŷ": "yhat", "−": "-", "²": "^2", "Σ": "sum", "⋮": "...", "…": "...", "∂": "d", "′": "'",
    # and those of --explain
    "ℓ": "l", "·": "*", "—": "--", "½": "1/2", "∞": "inf", "ε": "eps", "δ": "delta", "β": "beta", "α": "alpha",
    "γ": "gamma", "σ": "sigma", "π": "pi", "≥": ">=", "≤": "<=", "⁺": "+", "⁻¹²": "^-12",
}
_BOX_GLYPHS = "┏━┳┓┃┡╇┩│├┼┤└┴┘─"


def _encoding(out: TextIO) -> str:
    return getattr(out, "encoding", None) or "utf-8"  # StringIO has none and holds any text


def unicode_ok(out: TextIO) -> bool:
    """Whether ``out`` can take the table's box lines and symbols."""
    try:
        (_BOX_GLYPHS + "".join(ASCII_STAND_INS)).encode(_encoding(out))
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def plain_glyphs(text: str, encoding: str) -> str:
    """``text`` with ASCII stand-ins for the table's symbols; anything else unencodable escaped."""
    for glyph, stand_in in ASCII_STAND_INS.items():
        text = text.replace(glyph, stand_in)
    return text.encode(encoding, "backslashreplace").decode(encoding)


# ---------------------------------------------------------------------------------------------
# layout: a table when it fits the width, with fewer digits if need be, else one block per row

_OPERATORS = {"+", "−", "-", "/", "=", "×"}  # kept with the term after them when a line wraps


def wrap_between_terms(text: str, width: int, indent: str = "    ") -> list[str]:
    """``text`` in lines of at most ``width`` cells, broken only at spaces, never inside a number.

    An operator (``+``, ``/``, ``=``) stays with the term after it, so a continued line starts
    with one. A single term wider than ``width`` is kept whole on its own line.
    """
    from rich.cells import cell_len

    words: list[str] = []
    for word in text.split(" "):
        if words and words[-1] in _OPERATORS:
            words[-1] += " " + word
        else:
            words.append(word)
    lines = [words[0]]
    for word in words[1:]:
        if word and lines[-1].strip() and cell_len(lines[-1]) + 1 + cell_len(word) > width:
            lines.append(indent + word)
        else:
            lines[-1] += " " + word
    return [line.rstrip() for line in lines]


@dataclass
class Grid:
    """The table as text: headers, body rows (None where rows are hidden), the reduction row."""

    headers: list[str]
    index_columns: int
    body: list[list[str] | None]
    footer: list[str] | None


def table_grid(result: LossResult, shown: list[int], digits: int, grad, class_names, glyphs) -> Grid:
    headers = result.index_headers() + [column.label for column in result.columns]
    if grad is not None:
        headers.append(f"∂loss/∂{result.presentation.grad_of}")
    body: list[list[str] | None] = []
    previous = None
    for i in shown:
        position = int(result.row_numbers[i]) if result.row_numbers is not None else i
        if previous is not None and position - previous > 1:
            body.append(None)
        previous = position
        cells = [str(v) for v in result.index_values(i)]
        for column in result.columns:
            labels = class_names if column.key == result.presentation.class_column else None
            cells.append(_cell(np.asarray(column.values), i, digits, labels))
        if grad is not None:
            cells.append(_cell(grad, i, digits))
        body.append(cells)
    footer = None
    if result.reduction != "none":
        footer = [result.reduction] + [""] * (len(headers) - 1)
        footer[len(result.index_headers()) + len(result.columns) - 1] = rounded(result.value, digits)
    return Grid(
        headers=[glyphs(h) for h in headers],
        index_columns=len(result.index_headers()),
        body=[None if row is None else [glyphs(c) for c in row] for row in body],
        footer=footer,
    )


def _widest_word(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(word) for word in text.split(" ")), default=0)


def fit_widths(grid: Grid, width: int) -> list[int] | None:
    """Column widths that fit ``width`` with no number cut (a cell may wrap only at a space).

    None when even the narrowest such columns are too wide.
    """
    from rich.cells import cell_len

    rows = [grid.headers] + [row for row in grid.body if row is not None] + ([grid.footer] if grid.footer else [])
    natural = [max(cell_len(row[k]) for row in rows) for k in range(len(grid.headers))]
    narrowest = [max(_widest_word(row[k]) for row in rows) for k in range(len(grid.headers))]
    room = width - (3 * len(natural) + 1)  # a space either side of each cell, and the rules
    if sum(narrowest) > room:
        return None
    if sum(natural) <= room:
        return natural
    widths, spare = narrowest[:], room - sum(narrowest)
    while spare:  # share what is left among the columns that wrap (vectors, long headers)
        growing = [k for k in range(len(widths)) if widths[k] < natural[k]]
        for k in growing[:spare]:
            widths[k] += 1
        spare -= len(growing[:spare])
    return widths


def _draw_table(console, grid: Grid, widths: list[int], unicode: bool) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.HEAVY_HEAD if unicode else box.ASCII)
    for k, (header, width) in enumerate(zip(grid.headers, widths)):
        # overflow="fold" never draws "…"; the widths are wide enough that it never folds a number.
        style = "dim" if k < grid.index_columns else None
        table.add_column(Text(header), justify="right", style=style, width=width, overflow="fold")
    gap = "⋮" if unicode else ":"  # one cell wide, as the columns were measured
    for row in grid.body:
        table.add_row(*map(Text, [gap] * len(widths) if row is None else row))
    if grid.footer is not None:
        table.add_section()
        table.add_row(*(Text(cell, style="bold") for cell in grid.footer))
    console.print(table)


def _stacked_lines(grid: Grid, width: int, unicode: bool) -> list[str]:
    """One block per row: its position, then a ``label  value`` line for each column."""
    from rich.cells import cell_len

    labels = grid.headers[grid.index_columns:]
    label_width = max(cell_len(label) for label in labels)
    lines: list[str] = []

    def block(heading: str, values: list[str]) -> None:
        lines.append(heading)
        for label, value in zip(labels, values):
            if not value:
                continue
            lead = "  " + label + " " * (label_width - cell_len(label)) + "  "
            wrapped = wrap_between_terms(value, max(width - cell_len(lead), 1), indent="")
            lines.append(lead + wrapped[0])
            lines.extend(" " * cell_len(lead) + more for more in wrapped[1:])

    for row in grid.body:
        if row is None:
            lines.append("⋮" if unicode else ASCII_STAND_INS["⋮"])
            continue
        index = zip(grid.headers[: grid.index_columns], row[: grid.index_columns])
        block(", ".join(f"{name} {value}" for name, value in index), row[grid.index_columns:])
    if grid.footer is not None:
        block(grid.footer[0], grid.footer[grid.index_columns:])
    return lines


def write_table(
    result: LossResult,
    out: TextIO,
    *,
    digits: int = 4,
    show_grad: bool = False,
    class_names: list[str] | None = None,
    max_rows: int | None = 20,
    width: int | None = None,
    explain: bool = False,
) -> None:
    """The table of ``result`` at ``width`` columns (the terminal's when None), then its notes;
    with ``explain``, the derivation step by step.

    The table keeps ``digits`` if it fits, else drops to as few as ``MIN_FIT_DIGITS`` (and its
    title says so), else becomes one block per row. The derivation wraps between terms on a
    terminal (or at an explicit ``width``) and is one line on a pipe.
    """
    from rich.console import Console
    from rich.text import Text

    if max_rows is None:
        check_all_rows(result.rows)
    console = Console(file=out, width=width, highlight=False, markup=False, emoji=False)
    unicode = unicode_ok(out)
    encoding = _encoding(out)
    wrap = console.is_terminal or width is not None

    def glyphs(text: str) -> str:
        return text if unicode else plain_glyphs(text, encoding)

    def say(text: str, style: str = "") -> None:
        text = glyphs(text)
        for line in wrap_between_terms(text, console.width) if wrap else [text]:
            console.print(Text(line, style=style), soft_wrap=True)

    caption = table_caption(result)
    grad = result.grad_rows() if show_grad and result.grad is not None else None
    shown = shown_rows(result, max_rows)
    for fit_digits in range(digits, min(digits, MIN_FIT_DIGITS) - 1, -1):
        grid = table_grid(result, shown, fit_digits, grad, class_names, glyphs)
        widths = fit_widths(grid, console.width)
        if widths is not None:
            say(caption if fit_digits == digits else f"{caption}, {fit_digits} digits to fit")
            _draw_table(console, grid, widths, unicode)
            break
    else:
        say(caption)
        grid = table_grid(result, shown, digits, grad, class_names, glyphs)
        for line in _stacked_lines(grid, console.width, unicode):
            console.print(Text(line), soft_wrap=True)

    rows_in = result.rows if result.rows_in is None else result.rows_in
    hidden = rows_in - len(shown)
    if hidden:
        say(f"⋮ {hidden} more row{'s' if hidden > 1 else ''} ({rows_in} in all; --all shows every row)")
    if result.omitted:
        say(result.omitted_note())
    line = derivation(result, digits)
    if line:
        say(line)
    if isinstance(result.details, ClassTargets) and result.reduction == "mean":
        say(_xent_normaliser_note(result), style="dim")
    if result.metrics is not None:
        shown_metrics = [f"{label} {rounded(value, digits)}" for label, value in result.metrics.labelled()]
        if shown_metrics:
            say("metrics: " + ", ".join(shown_metrics))
        for note in result.metrics.notes:
            say(note, style="dim")
    if result.by_class is not None:
        _by_class_section(result, console, say, glyphs, digits, class_names, unicode)
    if result.floor is not None:
        say(f"floor: {rounded(result.floor.value, digits)} ({result.floor.why})")

    if result.histogram is not None:
        from .hist_view import histogram_lines

        for text in histogram_lines(result.histogram, console.width, unicode):
            console.print(Text(glyphs(text)), soft_wrap=True, crop=False)
    if explain:
        from .explain import explain as derive
        from .typeset import explanation_lines

        console.print()
        for text in explanation_lines(derive(result, digits=digits, show_grad=show_grad, class_names=class_names), unicode):
            say(text)


def by_class_view(result: LossResult, digits: int, class_names) -> tuple[str, Grid, list[str]]:
    """``--by-class`` for people: the heading, the per-class grid, the lines after it (what accuracy
    means, the suggested option). The table, Markdown and LaTeX show the same."""
    by_class = result.by_class
    shown, shown_note = _shown_classes(by_class.rows)
    shares = any(row.weight_share is not None for row in by_class.rows)
    headers = ["class", "count", "mean loss", "loss share", *(["w[y] share"] if shares else []), "accuracy"]
    body = []
    for row in shown:
        name = f"{row.index} {printable(class_names[row.index])}" if class_names and row.index < len(class_names) else str(row.index)
        cells = [name, str(row.count), rounded(row.mean_loss, digits), rounded(row.loss_share, digits)]
        cells += [rounded(row.weight_share, digits)] if shares else []
        body.append(cells + [rounded(row.accuracy, digits)])
    excluded = {"ignored": "ignored target", "nan_target": "row with a nan target"}
    left_out = [f"{count} {excluded[key]}{'s' if count > 1 else ''}" for key, count in by_class.excluded.items()]
    heading = f"by class ({by_class.classed_by}; n = {by_class.counted}" + "".join(f", {t} not counted" for t in left_out) + "):"
    after = [
        "accuracy: the fraction of the class's samples predicted as it (its recall); mean loss: Σ terms / count, "
        "each term as reduction none gives it"
    ] + ([shown_note] if shown_note else [])
    suggestion = by_class.suggestion
    option = suggestion.option(lambda v: rounded(v, digits))
    where = f" with `losscli {suggestion.command}`" if suggestion.command != result.loss else ""
    if option is None:
        after.append(f"suggested {suggestion.flag}: none ({suggestion.why_not})")
    else:
        after.append(f"suggested: {option}{where} ({suggestion.rule})")
    return heading, Grid(headers=headers, index_columns=1, body=body, footer=None), after


SHOWN_CLASSES = 30  # more classes than this (a vocabulary) are not all drawn for people


def _shown_classes(rows) -> tuple[list, str | None]:
    """The classes a person is shown, and what was left out: every class when there are few;
    else those with samples, or the SHOWN_CLASSES with the largest loss share (a language model's
    200,000 classes took minutes to draw)."""
    if len(rows) <= SHOWN_CLASSES:
        return list(rows), None
    seen = [row for row in rows if row.count]
    if len(seen) <= SHOWN_CLASSES:
        kept, which = seen, "those with samples"
    else:
        def share(row) -> float:
            return row.loss_share if row.loss_share == row.loss_share else -math.inf

        kept = sorted(sorted(seen, key=share, reverse=True)[:SHOWN_CLASSES], key=lambda row: row.index)
        which = f"the {SHOWN_CLASSES} with the largest loss share"
    return kept, f"shown: {len(kept)} of {len(rows)} classes, {which}; --format json or csv lists every class"


def _by_class_section(result: LossResult, console, say, glyphs, digits: int, class_names, unicode: bool) -> None:
    """``--by-class``: a small table of the classes after the main one, then the suggested option."""
    from rich.text import Text

    heading, grid, after = by_class_view(result, digits, class_names)
    say(heading)
    grid = Grid([glyphs(h) for h in grid.headers], grid.index_columns, [[glyphs(c) for c in row] for row in grid.body], None)
    widths = fit_widths(grid, console.width)
    if widths is not None:
        _draw_table(console, grid, widths, unicode)
    else:
        for line in _stacked_lines(grid, console.width, unicode):
            console.print(Text(line), soft_wrap=True)
    say(after[0], style="dim")
    for line in after[1:]:
        say(line)


def table_caption(result: LossResult, columns: bool = True) -> str:
    """The line above the table: the loss, its reduction, dtype and options, the columns read."""
    name = result.presentation.name
    caption = f"{name}, reduction={result.reduction}, {result.dtype}"
    for key, value in result.parameters.items():
        if isinstance(value, (float, bool)) and not isinstance(result.details, (ClassTargets, SoftmaxSlices)):
            caption += f", {key}={value:g}" if isinstance(value, float) else (f", {key}" if value else "")
        elif isinstance(value, np.ndarray) and value.ndim == 1 and not isinstance(result.details, (ClassTargets, SoftmaxSlices)):
            caption += f", {key}=" + _vector_text(value)
    if isinstance(result.details, SoftmaxSlices):
        caption = f"{name} over dim {result.details.dim}, {result.dtype}"
        temperature = result.parameters.get("temperature", 1.0)
        caption += f", temperature={temperature:g}" if temperature != 1 else ""
    if columns and result.input_columns:
        caption += "; columns: " + ", ".join(f"{role} {_column_names(names)}" for role, names in result.input_columns.items())
    if result.layout is not None:
        caption += "; " + result.layout.caption()
    return caption


def _vector_text(values: np.ndarray) -> str:
    """A vector parameter in the caption: every value when few, else its ends and length."""
    shown = [f"{v:g}" for v in values.tolist()]
    if len(shown) <= 6:
        return "[" + ", ".join(shown) + "]"
    return "[" + ", ".join(shown[:3]) + f", …, {shown[-1]}] ({len(shown)} values)"


def _column_names(names) -> str:
    """``"y_hat"``, ``3``, or a run of logit columns shortened to its ends."""
    def one(name):
        return f'"{printable(name)}"' if isinstance(name, str) else str(name)

    if not isinstance(names, list):
        return one(names)
    if len(names) > 4:
        return f"{one(names[0])} … {one(names[-1])} ({len(names)})"
    return ", ".join(map(one, names))


def _xent_normaliser_note(result: LossResult) -> str:
    if result.denominator_label == "Σ w[y]":
        return "mean divides by Σ w[y] over the non-ignored targets (PyTorch's weighted mean), not by N"
    if result.denominator_label == "N":
        return "probability targets: mean divides by N, the number of samples (weights or not)"
    return "mean divides by the number of non-ignored targets"


