"""A derivation and a table as terminal text, GitHub Markdown or LaTeX.

``explain`` decides what is written; this module only decides how. Its math notation: Unicode
symbols (ŷ, Σ, ∂, ε, ·, −, ²), ``_i`` / ``_{…}`` subscripts, ``^(…)`` exponents and ``Frac``.
Text that came from the user (class names, column names) is escaped for Markdown and LaTeX.
"""

from __future__ import annotations

import re
from typing import Iterator

from .explain import ELIDED, Derivation, Equation, Frac, Grid, Prose

# ---------------------------------------------------------------------------------------------
# terminal text

_SUBSCRIPT = dict(zip("0123456789+−=()aehijklmnoprstuvx,", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ,"))
_SUBSCRIPTED = re.compile(r"_\{([^{}]*)\}|_(\w)")


def _subscripts(text: str, unicode: bool = True) -> str:
    """``ℓ_{12}`` → ``ℓ₁₂`` where Unicode has every subscript; else ``ℓ_(n,c)`` / ``p_t`` stay readable."""
    def one(match: re.Match) -> str:
        inner = match.group(1) if match.group(1) is not None else match.group(2)
        if unicode and all(c in _SUBSCRIPT for c in inner):
            return "".join(_SUBSCRIPT[c] for c in inner)
        return "_" + inner if len(inner) == 1 else f"_({inner})"

    return _SUBSCRIPTED.sub(one, text)


def _top_level(text: str, operators: tuple[str, ...]) -> bool:
    """Whether ``text`` has one of ``operators`` outside brackets: ``a + b`` yes, ``2(a − b)`` no."""
    depth = 0
    for i, c in enumerate(text):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and any(text.startswith(op, i) for op in operators) and i > 0:
            return True
    return False


def text_math(math, unicode: bool = True) -> str:
    if isinstance(math, str):
        return _subscripts(math, unicode)
    if isinstance(math, tuple):
        return "".join(text_math(part, unicode) for part in math)
    numerator, denominator = text_math(math.numerator, unicode), text_math(math.denominator, unicode)
    operators = (" + ", " − ", " · ", "·", " ")
    top = _top_level(numerator, operators)
    bottom = _top_level(denominator, operators)
    numerator = f"({numerator})" if top else numerator
    denominator = f"({denominator})" if bottom else denominator
    return f"{numerator} / {denominator}" if top or bottom else f"{numerator}/{denominator}"


def distinct(sides) -> list[str]:
    """The sides of an equation chain without a step that repeats the one before (``0.5/1 = 0.5/1``)."""
    kept: list[str] = []
    for side in sides:
        if not kept or side != kept[-1]:
            kept.append(side)
    return kept


def explanation_lines(derivation: Derivation, unicode: bool = True) -> Iterator[str]:
    """The derivation for a terminal: a heading per section, an indented line per step
    (subscripts as ``_1`` where the terminal cannot show ``₁``)."""
    yield f"Explained: {derivation.title}"
    for section in derivation.sections:
        yield section.title
        for item in section.items:
            if isinstance(item, Equation):
                line = " = ".join(distinct(text_math(side, unicode) for side in item.sides))
                yield "  " + line + (f"   — {_subscripts(item.note, unicode)}" if item.note else "")
            elif isinstance(item, Grid):
                yield from ("  " + row for row in _aligned([item.headers, *item.rows]))
            else:
                yield "  " + _subscripts(item.text, unicode)


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[k]) for row in rows if k < len(row)) for k in range(max(map(len, rows)))]
    return ["  ".join(cell.rjust(widths[k]) for k, cell in enumerate(row)).rstrip() for row in rows]


# ---------------------------------------------------------------------------------------------
# LaTeX

_LATEX_SYMBOLS = {
    "ŷ": r"\hat{y}", "−": "-", "·": r" \cdot ", "×": r" \times ", "½": r"\tfrac{1}{2}", "Σ": r"\sum ",
    "∂": r"\partial ", "ε": r"\varepsilon ", "δ": r"\delta ", "β": r"\beta ", "α": r"\alpha ", "γ": r"\gamma ",
    "σ": r"\sigma ", "π": r"\pi ", "λ": r"\lambda ", "ℓ": r"\ell ", "≤": r"\le ", "≥": r"\ge ", "⋮": r"\vdots ",
    "…": r"\ldots ", "∞": r"\infty ", "→": r"\to ", "∈": r"\in ", "√": r"\surd ", "%": r"\%", "#": r"\#",
    "&": r"\&", "$": r"\$", "~": r"\sim ",
}
_SUPERSCRIPT = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻", "0123456789+-"))
_FUNCTIONS = {"log": r"\log ", "exp": r"\exp ", "max": r"\max ", "min": r"\min "}
# Words (a hyphen joins names such as log-softmax), superscripts, ``^(`` and ``^`` with a bare number.
_TOKEN = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*|[⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻]+|\^\(|\^[−-]?[0-9.]+(?:e[−+-]?[0-9]+)?|.", re.S)


def latex_math(math) -> str:
    """The notation in LaTeX math: ``\\frac``, ``\\hat{y}``, ``e^{x_i}``, ``\\log``."""
    if isinstance(math, tuple):
        return "".join(latex_math(part) for part in math)
    if isinstance(math, Frac):
        return r"\frac{" + latex_math(math.numerator) + "}{" + latex_math(math.denominator) + "}"
    out, closers = [], []  # closers: for each open parenthesis, what closes it (")" or "}")
    for token in _TOKEN.findall(math):
        if token == "^(":
            out.append("^{")
            closers.append("}")
        elif token == "(":
            out.append("(")
            closers.append(")")
        elif token == ")":
            out.append(closers.pop() if closers else ")")
        elif token[0] == "^":  # e^0.5 → e^{0.5}: LaTeX would raise only the first character
            out.append("^{" + token[1:].replace("−", "-") + "}")
        elif token[0] in _SUPERSCRIPT:
            out.append("^{" + "".join(_SUPERSCRIPT[c] for c in token) + "}")
        elif token.isascii() and token.replace("-", "").isalpha():
            if token in _FUNCTIONS:
                out.append(_FUNCTIONS[token])
            elif len(token) == 1:
                out.append(token)
            else:
                out.append(r"\operatorname{" + token + "}")
        else:
            out.append(_LATEX_SYMBOLS.get(token, token))
    return re.sub(r" +([_^])", r"\1", re.sub(r" +", " ", "".join(out))).strip()


_LATEX_TEXT = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
               "^": r"\textasciicircum{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}"}


def latex_text(text: str, unicode: bool = False) -> str:
    """Prose (or a user's class name) for LaTeX: specials escaped, symbols as inline math; with
    ``unicode`` the symbols are kept, as MathJax's ``\text`` (GitHub's math blocks) shows them."""
    out = []
    for c in text:
        if c in _LATEX_TEXT:
            out.append(_LATEX_TEXT[c])
        elif unicode:
            out.append(c)
        elif c in _LATEX_SYMBOLS and c not in "%#&$~":
            out.append(r"\ensuremath{" + _LATEX_SYMBOLS[c].strip() + "}")
        elif c in _SUPERSCRIPT:
            out.append(r"\textsuperscript{" + _SUPERSCRIPT[c] + "}")
        else:
            out.append(c)
    return "".join(out)


def _aligned_rows(items, unicode: bool = False) -> list[str]:
    """A section's equations and prose as the rows of an ``align*`` (or ``aligned``): ``L &= …``."""
    rows = []
    for item in items:
        if isinstance(item, Equation):
            left, *right = distinct(latex_math(side) for side in item.sides)
            line = left + " &= " + " = ".join(right) if right else "&" + left
            if item.note:
                line += r" && \text{" + latex_text(item.note, unicode) + "}"
            rows.append(line)
        elif item is ELIDED:
            rows.append(r"&\vdots")
        elif isinstance(item, Prose):
            rows.append(r"&\text{" + latex_text(item.text, unicode) + "}")
    return rows


def latex_lines(derivation: Derivation) -> Iterator[str]:
    """Each section: its title, then an ``align*`` of its equations (prose as ``\\text``)."""
    for section in derivation.sections:
        yield r"\paragraph{" + latex_text(section.title) + "}"
        grids = [item for item in section.items if isinstance(item, Grid)]
        for grid in grids:
            yield from latex_tabular(list(grid.headers), [list(row) for row in grid.rows], None)
        rows = _aligned_rows(section.items)
        if rows:
            yield r"\begin{align*}"
            yield " \\\\\n".join(rows)
            yield r"\end{align*}"


def latex_tabular(headers: list[str], body: list[list[str] | None], footer: list[str] | None) -> Iterator[str]:
    """A ``tabular``: one row per body row (None is an elision), a rule, the footer."""
    yield r"\begin{tabular}{" + "r" * len(headers) + "}"
    yield r"\hline"
    yield " & ".join(latex_text(h) for h in headers) + r" \\"
    yield r"\hline"
    for row in body:
        cells = [r"\vdots"] + [""] * (len(headers) - 1) if row is None else [latex_text(c) for c in row]
        if row is None:
            cells[0] = r"$\vdots$"
        yield " & ".join(cells) + r" \\"
    if footer is not None:
        yield r"\hline"
        yield " & ".join(r"\textbf{" + latex_text(c) + "}" if c else "" for c in footer) + r" \\"
    yield r"\hline"
    yield r"\end{tabular}"


# ---------------------------------------------------------------------------------------------
# Markdown (GitHub's: pipe tables, ```math blocks)

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def markdown_text(text: str) -> str:
    """A cell or a line of prose for Markdown: every character that could format escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def markdown_table(headers: list[str], body: list[list[str] | None], footer: list[str] | None) -> Iterator[str]:
    """A GitHub pipe table: every row has as many cells as the header."""
    yield "| " + " | ".join(markdown_text(h) for h in headers) + " |"
    yield "|" + "|".join("---:" for _ in headers) + "|"
    for row in body:
        cells = ["⋮"] + [""] * (len(headers) - 1) if row is None else [markdown_text(c) for c in row]
        yield "| " + " | ".join(cells) + " |"
    if footer is not None:
        yield "| " + " | ".join(f"**{markdown_text(c)}**" if c else "" for c in footer) + " |"


def markdown_lines(derivation: Derivation) -> Iterator[str]:
    """Each section: its title in bold, its grids as tables, its equations in a ```math block."""
    for section in derivation.sections:
        yield ""
        yield f"**{markdown_text(section.title)}**"
        for item in section.items:
            if isinstance(item, Grid):
                yield ""
                yield from markdown_table(list(item.headers), [list(row) for row in item.rows], None)
        rows = _aligned_rows(section.items, unicode=True)
        if rows:
            yield ""
            yield "```math"
            yield r"\begin{aligned}"
            yield " \\\\\n".join(rows)
            yield r"\end{aligned}"
            yield "```"


# ---------------------------------------------------------------------------------------------
# whole documents: --format markdown and --format latex


def write_document(result, fmt: str, out, *, digits: int = 4, show_grad: bool = False, class_names=None,
                   max_rows: int | None = 20) -> None:
    """The caption, the table (the same rows and rounding as the terminal's) and the derivation."""
    from .explain import explain
    from .table_view import by_class_view, check_all_rows, rounded, shown_rows, table_caption, table_grid

    if max_rows is None:
        check_all_rows(result.rows)
    grad = result.grad_rows() if show_grad and result.grad is not None else None
    grid = table_grid(result, shown_rows(result, max_rows), digits, grad, class_names, lambda text: text)
    derivation = explain(result, digits=digits, show_grad=show_grad, class_names=class_names)
    rows_in = result.rows if result.rows_in is None else result.rows_in
    hidden = rows_in - sum(row is not None for row in grid.body)
    more = f"⋮ {hidden} more rows ({rows_in} in all; --all shows every row)" if hidden else None
    footers = [more] if more else []
    if result.metrics is not None and result.metrics.labelled():
        footers.append("metrics: " + ", ".join(f"{label} {rounded(value, digits)}" for label, value in result.metrics.labelled()))
    if result.floor is not None:
        footers.append(f"floor: {rounded(result.floor.value, digits)} ({result.floor.why})")
    by_class = by_class_view(result, digits, class_names) if result.by_class is not None else None
    if fmt == "markdown":
        lines = [f"**{markdown_text(table_caption(result))}**", ""]
        lines += markdown_table(grid.headers, grid.body, grid.footer)
        lines += [""] + [markdown_text(line) + "  " for line in footers] if footers else []
        if by_class is not None:
            heading, grid_of_classes, after = by_class
            lines += ["", markdown_text(heading), ""]
            lines += markdown_table(grid_of_classes.headers, grid_of_classes.body, None)
            lines += [""] + [markdown_text(line) + "  " for line in after]
        lines += markdown_lines(derivation)
    else:
        lines = [r"\begin{center}", latex_text(table_caption(result)) + r"\\[4pt]"]
        lines += latex_tabular(grid.headers, grid.body, grid.footer)
        lines += [r"\end{center}"] + [latex_text(line) + r"\\" for line in footers]
        if by_class is not None:
            heading, grid_of_classes, after = by_class
            lines += [latex_text(heading) + r"\\[4pt]"]
            lines += latex_tabular(grid_of_classes.headers, grid_of_classes.body, None)
            lines += [r"\par " + latex_text(line) for line in after]
        lines += latex_lines(derivation)
    out.write("".join(line + "\n" for line in lines))
