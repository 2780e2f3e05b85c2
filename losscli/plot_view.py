"""``losscli plot`` on a terminal: curves drawn in braille dots (2×4 per character) through rich.

rich already draws the tables, so this costs no new dependency and little import time (measured
against plotext and uniplot: see the report of issue #13). rich drops the colours on a pipe, under
NO_COLOR and on a dumb terminal; each curve's number at its right end and in the legend still says
which is which. A stream that cannot encode braille gets ``*`` at one dot per character.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from .curves import CurveData, held_text
from .table_view import _encoding, plain_glyphs, unicode_ok

# matplotlib's tab10, so a curve has the same colour on the terminal and in --output.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
MIN_COLUMNS = 16  # of the drawing area, however narrow the terminal
HEIGHT = 14  # text rows of one panel; two panels (--grad) get GRAD_HEIGHT each
GRAD_HEIGHT = 9
# Braille dot bits by (row 0-3, column 0-1) inside one character.
_BRAILLE = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
_GUIDE = -1  # owner of the dotted zero lines


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def tick(value: float) -> str:
    text = f"{value:.3g}"
    return "0" if text in ("-0", "0") else text


@dataclass(frozen=True)
class Layout:
    """The drawing area in characters and dots; ``dots`` is (columns, rows) of dots per character."""

    columns: int
    rows: int
    dots: tuple[int, int]

    @property
    def points(self) -> int:
        return self.columns * self.dots[0]


def layout(out: TextIO, grad: bool, width: int | None = None) -> Layout:
    """The drawing area for ``out``'s width (the terminal's, COLUMNS, or 80 on a pipe)."""
    from rich.console import Console

    width = width or Console(file=out).width
    label_width = 9  # y ticks such as -1.5e+03, then the axis
    columns = max(MIN_COLUMNS, width - label_width - 4)
    dots = (2, 4) if unicode_ok(out) and _braille_ok(out) else (1, 1)
    return Layout(columns, GRAD_HEIGHT if grad else HEIGHT, dots)


def _braille_ok(out: TextIO) -> bool:
    try:
        "⣿".encode(_encoding(out))
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class Canvas:
    """Dots on a grid of characters; each character takes the colour of the last curve in it."""

    def __init__(self, area: Layout, y_low: float, y_high: float, x_low: float, x_high: float):
        self.area = area
        self.bits = np.zeros((area.rows, area.columns), dtype=np.int32)
        self.owner = np.full((area.rows, area.columns), _GUIDE - 1, dtype=np.int32)
        self.y_low, self.y_high, self.x_low, self.x_high = y_low, y_high, x_low, x_high
        self.height = area.rows * area.dots[1]

    def dot_row(self, y: float) -> int:
        span = self.y_high - self.y_low
        return int(round((self.y_high - y) / span * (self.height - 1)))

    def dot(self, column: int, row: int, owner: int) -> None:
        per_column, per_row = self.area.dots
        cell_row, cell_column = row // per_row, column // per_column
        if not (0 <= cell_row < self.area.rows and 0 <= cell_column < self.area.columns):
            return
        self.bits[cell_row, cell_column] |= _BRAILLE[row % 4][column % 2] if per_column == 2 else 1
        if owner != _GUIDE or self.owner[cell_row, cell_column] < _GUIDE:
            self.owner[cell_row, cell_column] = owner

    def guides(self) -> None:
        """Dotted lines at y = 0 and x = 0 when they are inside the picture."""
        if self.y_low < 0 < self.y_high:
            row = self.dot_row(0.0)
            for column in range(0, self.area.points, 6):
                self.dot(column, row, _GUIDE)
        if self.x_low < 0 < self.x_high:
            column = int(round(-self.x_low / (self.x_high - self.x_low) * (self.area.points - 1)))
            for row in range(0, self.height, 3):
                self.dot(column, row, _GUIDE)

    def curve(self, values: np.ndarray, owner: int) -> int | None:
        """One dot per dot column, joined vertically to the previous one; the last row drawn."""
        previous = None
        for column, value in enumerate(values):
            if not math.isfinite(value):
                previous = None
                continue
            row = self.dot_row(float(value))
            low, high = (row, row) if previous is None else (min(row, previous), max(row, previous))
            for joined in range(low, high + 1):  # a steep part is a vertical run of dots
                self.dot(column, joined, owner)
            previous = row
        return previous

    def glyph(self, row: int, column: int) -> str:
        bits = int(self.bits[row, column])
        if self.area.dots == (2, 4):
            return chr(0x2800 + bits) if bits else " "
        return ("." if self.owner[row, column] == _GUIDE else "*") if bits else " "


def _y_range(series: list[np.ndarray]) -> tuple[float, float]:
    finite = np.concatenate([s[np.isfinite(s)] for s in series]) if series else np.array([])
    if finite.size == 0:
        return -1.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    if low == high:
        return low - 1.0, high + 1.0
    # A loss's minimum sampled beside 0 (0.000254) reads better as 0: the axis then starts there.
    if 0 < low < 0.05 * high:
        low = 0.0
    elif low < 0.05 * high < 0 and high < 0:
        high = 0.0
    return low, high


def _y_ticks(series: list[np.ndarray], rows: int) -> dict[int, str]:
    """Tick labels by text row: the top, the middle and the bottom of the panel's y range."""
    y_low, y_high = _y_range(series)
    ticks = {0: tick(y_high), rows - 1: tick(y_low)}
    if rows >= 5:
        ticks[(rows - 1) // 2] = tick(y_high - (y_high - y_low) * ((rows - 1) // 2) / (rows - 1))
    return ticks


def _panel_lines(title: str, series: list[np.ndarray], area: Layout, x_low: float, x_high: float, label_width: int):
    """A panel as rich Texts: the title, the canvas with y ticks and curve numbers, the x ticks."""
    from rich.text import Text

    y_low, y_high = _y_range(series)
    canvas = Canvas(area, y_low, y_high, x_low, x_high)
    canvas.guides()
    ends = {}
    for i, values in enumerate(series):
        last = canvas.curve(values, i)
        if last is not None:
            ends[i] = last // area.dots[1]
    # Each curve's number at the right of the row where it ends (the next free row if taken).
    labels: dict[int, int] = {}
    for i, row in sorted(ends.items(), key=lambda item: item[1]):
        while row in labels and row + 1 < area.rows:
            row += 1
        labels.setdefault(row, i)
    ticks = _y_ticks(series, area.rows)
    lines = [Text(title, style="bold")]
    for row in range(area.rows):
        line = Text(ticks.get(row, "").rjust(label_width) + (" ┤" if row in ticks else " │"))
        for column in range(area.columns):
            owner = int(canvas.owner[row, column])
            style = "dim" if owner == _GUIDE else (colour(owner) if owner >= 0 else "")
            line.append(canvas.glyph(row, column), style=style)
        if row in labels:
            line.append(f" {labels[row] + 1}", style=colour(labels[row]))
        lines.append(line)
    lines.append(Text(" " * label_width + " └" + "─" * area.columns))
    lines.append(Text(" " * (label_width + 2) + _x_ticks(x_low, x_high, area.columns)))
    return lines


def _x_ticks(low: float, high: float, columns: int) -> str:
    """Tick values under the axis: the ends, the middle and the quarters when there is room."""
    count = 5 if columns >= 48 else 3 if columns >= 20 else 2
    row = [" "] * columns
    for k in range(count):
        value = low + (high - low) * k / (count - 1)
        text = tick(value)
        at = round(k / (count - 1) * (columns - 1))
        start = min(max(0, at - len(text) // 2), columns - len(text))
        row[start:start + len(text)] = list(text)
    return "".join(row)


def draw(out: TextIO, data: list[CurveData], area: Layout, low: float, high: float, *, grad: bool, width: int | None = None) -> None:
    """The curves (and their derivatives, with ``grad``) with axes, labels and a legend."""
    from rich.console import Console
    from rich.text import Text

    console = Console(file=out, width=width, highlight=False, markup=False, emoji=False)
    unicode = unicode_ok(out) and area.dots == (2, 4)
    axis = data[0].axis

    def show(text: Text, wrap: bool = False) -> None:
        """A canvas line as it is (it fits the width by construction); the legend wrapped to the width."""
        if not unicode:
            text = Text.assemble(*((_ascii(span_text, _encoding(out)), style) for span_text, style in _spans(text)))
        console.print(text, soft_wrap=not wrap, crop=False)

    panels = [("loss", [d.loss for d in data])]
    if grad:
        panels.append((f"∂loss/∂{axis.symbol}, the gradient along the {axis.label}", [d.grad for d in data]))
    title = f"loss against the {axis.label}"
    label_width = max(len(t) for _, series in panels for t in _y_ticks(series, area.rows).values())
    for i, (name, series) in enumerate(panels):
        for j, line in enumerate(_panel_lines(title if i == 0 else name, series, area, low, high, label_width)):
            show(line, wrap=j == 0)  # the title wraps; the canvas lines fit by construction
    show(Text(" " * 3 + f"x: {axis.label} →"), wrap=True)
    legend = Text()
    for i, d in enumerate(data):
        legend.append(("━━ " if unicode else "-- ") + f"{i + 1} ", style=colour(i))
        legend.append(d.label + ("   " if i + 1 < len(data) else ""))
    show(legend, wrap=True)
    held = held_text(data)
    show(Text(f"held fixed: {held}", style="dim"), wrap=True)


_ASCII_FRAME = str.maketrans({"┤": "+", "│": "|", "└": "+", "─": "-", "→": ">", "━": "-"})


def _ascii(text: str, encoding: str) -> str:
    return plain_glyphs(text.translate(_ASCII_FRAME), encoding)


def _spans(text):
    """(text, style) pieces of a rich Text, for rebuilding it with ASCII stand-ins."""
    plain = text.plain
    spans = sorted(text.spans, key=lambda s: s.start)
    at, pieces = 0, []
    for span in spans:
        if span.start > at:
            pieces.append((plain[at:span.start], text.style or ""))
        pieces.append((plain[span.start:span.end], span.style))
        at = span.end
    if at < len(plain):
        pieces.append((plain[at:], text.style or ""))
    return pieces
