"""Which accumulator and output columns each loss name has: what partials need to be made and shown.

One table for every registered loss (pointwise specs and the class losses), so that
``losses.partial`` and ``losscli combine`` never branch on a loss's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import UsageError
from ..result import Presentation


@dataclass(frozen=True)
class Family:
    presentation: Presentation
    term_key: str  # the per-row term's column, whose footer holds the reduced value
    term_label: str
    accumulator: Callable[..., Any]  # (reduction, nan_policy=, dtype=, **options) -> an accumulator keeping no rows


def _pointwise(spec) -> Family:
    from .pointwise import PointwiseAccumulator

    def accumulator(reduction, *, nan_policy="propagate", dtype=None, **options):
        return PointwiseAccumulator(spec, reduction, keep_rows=0, nan_policy=nan_policy, with_grad=False, dtype=dtype,
                                    parameters=options, with_metrics=False)

    return Family(spec.presentation, spec.term_key, spec.term_label, accumulator)


def _classes(cls) -> Family:
    def accumulator(reduction, *, nan_policy="propagate", dtype=None, **options):
        return cls(reduction, keep_rows=0, nan_policy=nan_policy, with_grad=False, dtype=dtype, with_metrics=False, **options)

    return Family(cls.presentation, "loss", "loss", accumulator)


def family(name: str) -> Family:
    """The family of loss ``name``; a ``UsageError`` for softmax (no reduction) and unknown names."""
    from . import POINTWISE_LOSSES
    from .classes import CrossEntropyAccumulator, NLLAccumulator

    if name in POINTWISE_LOSSES:
        return _pointwise(POINTWISE_LOSSES[name])
    classes = {cls.name: cls for cls in (CrossEntropyAccumulator, NLLAccumulator)}
    if name in classes:
        return _classes(classes[name])
    if name == "softmax":
        raise UsageError("softmax is a transform with one output per input, not a reduction: it has no partial to combine")
    known = ", ".join([*POINTWISE_LOSSES, *classes])
    raise UsageError(f"no loss named {name!r} (one of {known})")
