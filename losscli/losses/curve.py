"""What ``losscli plot`` draws a loss against: declared by each loss, never guessed from its name.

A ``Curve`` names the x axis (the error d = ŷ − y, the probability or logit of the true class,
...) and builds the loss's inputs from x, the other inputs held fixed. The first input a pointwise
curve builds is x itself, so the loss's own gradient (w.r.t. its first input) is the slope along the axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Axis:
    """An x axis that several losses can share (curves are drawn together only on one axis)."""

    key: str
    label: str
    low: float = -math.inf  # the domain: a requested range must lie within it
    high: float = math.inf
    default: tuple[float, float] = (-3.0, 3.0)
    symbol: str = "x"  # the variable, as the gradient's label writes it: ∂loss/∂d


ERROR = Axis("error", "error d = ŷ − y", symbol="d")  # y is held fixed, so ∂loss/∂d = ∂loss/∂ŷ
PROBABILITY = Axis("probability", "probability p of the true class", 0.0, 1.0, (0.02, 1.0), symbol="p")
LOGIT = Axis("logit", "logit x of the true class")
LOG_PROBABILITY = Axis("log_probability", "log-probability x of the true class", -math.inf, 0.0, (-5.0, 0.0))
LOG_RATE = Axis("log_rate", "log-rate x")
RATE = Axis("rate", "rate x", 0.0, math.inf, (0.1, 5.0))


@dataclass(frozen=True)
class Curve:
    """A loss as a function of one number: ``inputs(x)`` gives the loss's inputs for the points x."""

    axis: Axis
    held: str  # the other inputs, held fixed, as the plot says them: "y = 0"
    inputs: Callable[[np.ndarray], tuple[np.ndarray, ...]]


def held_fixed(axis: Axis, held: str, *others: float) -> Curve:
    """A pointwise curve: the first input is x, the others the constants ``others``."""
    return Curve(axis, held, lambda x: (x, *(np.full_like(x, value) for value in others)))
