"""The terms' histogram under the table (--hist): one line per bin with a bar, then the top-1 % line."""

from __future__ import annotations

from .result import TermsHistogram, TopShare

_EIGHTHS = " ▏▎▍▌▋▊▉"


def _edge(value: float) -> str:
    text = f"{value:.3g}"
    return "0" if text in ("-0", "0") else text


def _bar(count: int, most: int, width: int, unicode: bool) -> str:
    if most == 0 or count == 0:
        return ""
    length = count / most * width
    if not unicode:
        return "#" * max(1, round(length))
    whole, part = int(length), int((length - int(length)) * 8)
    return "█" * whole + (_EIGHTHS[part] if part else "") or "▏"


def top_line(top: TopShare) -> str:
    """The footer: what share of the total the largest 1 % of the terms hold."""
    who = f"the top {top.fraction:.0%} of terms ({top.terms:,})"
    if top.low is None:
        return f"{who}: no share of the total ({top.why_none})"
    if top.exact:
        return f"{who} hold {top.low:.1%} of the total loss"
    return (
        f"{who} hold between {top.low:.1%} and {top.high:.1%} of the total loss "
        "(bounds from the histogram: too many terms to keep the largest)"
    )


def histogram_lines(histogram: TermsHistogram, width: int, unicode: bool = True) -> list[str]:
    """The histogram as lines at most ``width`` wide (a bar shrinks first, never below 4 characters)."""
    edges, counts = histogram.edges, histogram.counts
    spacing = "log-spaced" if histogram.spacing == "log" else "equal"
    lines = [f"histogram of the {histogram.n:,} terms ({len(counts)} {spacing} bins from the first block):"]
    ranges = [
        f"[{_edge(edges[i])}, {_edge(edges[i + 1])}{']' if i == len(counts) - 1 else ')'}" for i in range(len(counts))
    ]
    label_width = max(len(r) for r in ranges)
    count_width = max(len(f"{int(c):,}") for c in counts)
    bar_width = max(4, width - label_width - count_width - 4)
    most = int(counts.max()) if len(counts) else 0
    for text, count in zip(ranges, counts):
        count = int(count)
        lines.append(f"  {text.ljust(label_width)} {f'{count:,}'.rjust(count_width)} {_bar(count, most, bar_width, unicode)}".rstrip())
    outside = []
    if histogram.underflow:
        outside.append(f"{histogram.underflow:,} below {_edge(edges[0])}")
    if histogram.overflow:
        outside.append(f"{histogram.overflow:,} above {_edge(edges[-1])}")
    if histogram.nan:
        outside.append(f"{histogram.nan:,} nan")
    if outside:
        lines.append("  outside the bins: " + ", ".join(outside))
    lines.append(top_line(histogram.top))
    return lines
