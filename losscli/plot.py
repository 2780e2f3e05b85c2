"""``losscli plot``: parse the requested losses, compute their curves (``curves``), and draw them on
the terminal (``plot_view``) or into an SVG/PNG (``plot_file``, matplotlib from ``losscli[plot]``).

Imported only by the plot command, so the loss commands never pay for it.
"""

from __future__ import annotations

import numpy as np

from .curves import axis_of, curve_data, parse_loss, parse_range, plottable
from .errors import UsageError

FILE_POINTS = 1001  # samples of each curve in a picture file


def parse_size(text: str) -> tuple[int, int]:
    """``--size 800x500``: width and height in pixels."""
    parts = text.lower().split("x")
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        width, height = (int(p) for p in parts)
        if 100 <= width <= 10_000 and 100 <= height <= 10_000:
            return width, height
    raise UsageError(f"--size takes WIDTHxHEIGHT in pixels, each 100 to 10000, such as 800x500; not {text!r}")


def run(env, names: list[str], x_range: str | None, grad: bool, output: str | None, size: str) -> None:
    if not names:
        raise UsageError("name at least one loss to plot: losscli plot l1 mse \"huber --delta 0.5\"")
    registry = plottable()
    requests = [parse_loss(name, registry) for name in names]
    axis, _ = axis_of(requests, registry)
    low, high = parse_range(x_range, axis)
    if output is not None:
        from . import plot_file

        pixels = parse_size(size)
        kind = plot_file.kind_of(output)
        data = curve_data(requests, np.linspace(low, high, FILE_POINTS), registry)
        plot_file.write(output, kind, data, grad=grad, size=pixels)
        return
    from . import plot_view

    area = plot_view.layout(env.stdout, grad)
    data = curve_data(requests, np.linspace(low, high, area.points), registry)
    plot_view.draw(env.stdout, data, area, low, high, grad=grad)
