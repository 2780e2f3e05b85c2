"""``losscli plot --output FILE.svg|png``: the curves through matplotlib (the optional ``losscli[plot]``).

The same colours as the terminal picture (``plot_view.PALETTE``); the SVG keeps its text as text
(svg.fonttype none) and each curve's line carries the id ``curve-N`` (``grad-N`` for a derivative).
"""

from __future__ import annotations

from pathlib import Path

from .curves import CurveData, held_text
from .errors import OutputError, UsageError
from .plot_view import colour

KINDS = ("svg", "png")
DPI = 100  # --size is in pixels: figure inches × DPI


def kind_of(path: str) -> str:
    kind = Path(path).suffix.lower().lstrip(".")
    if kind not in KINDS:
        raise UsageError(f"--output {path}: the file must end in .svg or .png")
    return kind


def _matplotlib():
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError(
            "--output needs matplotlib, which the optional extra installs: pip install 'losscli[plot]' "
            "(without --output the curves are drawn in the terminal)"
        ) from None
    return matplotlib, Figure


def write(path: str, kind: str, data: list[CurveData], *, grad: bool, size: tuple[int, int]) -> None:
    matplotlib, Figure = _matplotlib()
    axis = data[0].axis
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "losscli"}):
        figure = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI, layout="constrained")
        panels = figure.subplots(2 if grad else 1, 1, sharex=True, squeeze=False)[:, 0]
        for i, d in enumerate(data):
            panels[0].plot(d.x, d.loss, color=colour(i), label=f"{i + 1} {d.label}", gid=f"curve-{i}", linewidth=1.8)
            if grad:
                panels[1].plot(d.x, d.grad, color=colour(i), gid=f"grad-{i}", linewidth=1.8)
        panels[0].set_ylabel("loss")
        helds = {d.held for d in data}
        held = next(iter(helds)) if len(helds) == 1 else "; ".join(f"{d.label}: {d.held}" for d in data)
        panels[0].set_title(f"loss against the {axis.label} (held fixed: {held})", fontsize="medium")
        if grad:
            panels[1].set_ylabel(f"∂loss/∂{axis.symbol}")
        for panel in panels:
            panel.axhline(0, color="#999999", linewidth=0.6, zorder=0)
            panel.grid(alpha=0.3)
        panels[-1].set_xlabel(axis.label)
        panels[0].legend(loc="best", frameon=False)
        try:
            figure.savefig(path, format=kind, dpi=DPI)
        except OSError as error:
            raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
