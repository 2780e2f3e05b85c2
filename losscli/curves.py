"""The numbers ``losscli plot`` draws: each loss's term (and gradient) along its declared x axis,
computed by the loss itself (the registry's spec or class accumulator), never re-implemented here.

Pure numpy: no I/O, no rich, no matplotlib.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import losses
from .errors import UsageError
from .losses.base import LossParameter
from .losses.curve import Axis, Curve


@dataclass(frozen=True)
class Plottable:
    """A registered loss as ``plot`` sees it: its options and how to compute it along x."""

    name: str
    parameters: tuple[LossParameter, ...]
    curve: Callable[[dict], Curve | None]
    compute: Callable[[tuple, dict], tuple[np.ndarray, np.ndarray]]  # (inputs, parameters) -> (terms, ∂/∂x)


def _pointwise(spec: losses.PointwiseLoss, inputs: tuple, parameters: dict) -> tuple[np.ndarray, np.ndarray]:
    result = losses.pointwise_loss(spec, *inputs, reduction="none", **parameters)
    return result.terms, result.grad


def _class(whole: Callable, inputs: tuple, parameters: dict) -> tuple[np.ndarray, np.ndarray]:
    scores, target = inputs
    result = whole(scores, target, reduction="none", **parameters)
    return result.terms, result.grad[:, 0]  # the true class is class 0: ∂loss/∂x


# The class losses and their whole-array functions; their curves are declared on the accumulators.
CLASS_LOSSES = ((losses.CrossEntropyAccumulator, losses.cross_entropy), (losses.NLLAccumulator, losses.nll_loss))


def plottable() -> dict[str, Plottable]:
    """Every registered loss, by command name."""
    entries = {
        name: Plottable(name, spec.parameters, spec.curve_for, lambda inputs, p, spec=spec: _pointwise(spec, inputs, p))
        for name, spec in losses.POINTWISE_LOSSES.items()
    }
    for accumulator, whole in CLASS_LOSSES:
        entries[accumulator.name] = Plottable(
            accumulator.name, accumulator.curve_parameters, lambda p, a=accumulator: a.curve,
            lambda inputs, p, whole=whole: _class(whole, inputs, p),
        )
    return entries


@dataclass(frozen=True)
class CurveRequest:
    """One LOSS argument of ``plot``: a loss and the options given to it."""

    name: str
    given: dict  # parameter name -> value, only those typed
    label: str  # the legend's name: "huber δ=0.5"


def _number(text: str, flag: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{flag} takes a number, not {text!r}") from None


def parse_loss(text: str, registry: dict[str, Plottable] | None = None) -> CurveRequest:
    """``"huber --delta 0.5"`` (a name, then its options as on its own command) as a request.

    >>> parse_loss("huber --delta 0.5")
    CurveRequest(name='huber', given={'delta': 0.5}, label='huber δ=0.5')
    """
    registry = registry or plottable()
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise UsageError(f"cannot read the loss {text!r}: {error}") from None
    if not words:
        raise UsageError("an empty loss was given to plot; name one: l1, mse, \"huber --delta 0.5\", ...")
    name, rest = words[0], words[1:]
    if name not in registry:
        raise UsageError(f"no loss named {name!r} to plot; choose from {', '.join(sorted(registry))}")
    entry = registry[name]
    flags = {p.flag: p for p in entry.parameters if not p.vector}
    switches_off = {"--no-" + p.flag[2:]: p for p in entry.parameters if p.is_switch}
    given: dict = {}
    i = 0
    while i < len(rest):
        word, value = rest[i], None
        if "=" in word and word.startswith("--"):
            word, value = word.split("=", 1)
        if word in switches_off:
            given[switches_off[word].name] = False
        elif word in flags and flags[word].is_switch:
            given[flags[word].name] = True
        elif word in flags:
            if value is None:
                i += 1
                if i == len(rest):
                    raise UsageError(f"{word} of {name} needs a number")
                value = rest[i]
            given[flags[word].name] = flags[word].checked(_number(value, word))
        else:
            options = ", ".join(sorted(flags)) or "none"
            raise UsageError(f"{name} has no option {word!r} to plot with (its options: {options})")
        i += 1
    symbols = {p.name: p.symbol for p in entry.parameters}
    shown = [
        f"{symbols[key]}={value:g}" if not isinstance(value, bool) else (symbols[key] if value else f"no {symbols[key]}")
        for key, value in given.items()
    ]
    return CurveRequest(name, given, " ".join([name, *shown]))


@dataclass(frozen=True)
class CurveData:
    """One loss along x: its values and derivative, for a renderer to draw."""

    label: str
    x: np.ndarray
    loss: np.ndarray
    grad: np.ndarray
    axis: Axis
    held: str  # the other inputs, held fixed: "y = 0"


def parse_range(text: str | None, axis: Axis) -> tuple[float, float]:
    """``--range LOW:HIGH``, within the axis's domain (the axis's own range when None)."""
    if text is None:
        return axis.default
    parts = text.split(":")
    if len(parts) != 2:
        raise UsageError(f"--range takes LOW:HIGH such as -3:3, not {text!r}")
    low, high = (_number(part.strip(), "--range") for part in parts)
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise UsageError(f"--range needs finite LOW < HIGH, not {text!r}")
    if low < axis.low or high > axis.high:
        raise UsageError(f"--range {text} leaves the {axis.label}'s domain [{axis.low:g}, {axis.high:g}]")
    return low, high


def axis_of(requests: list[CurveRequest], registry: dict[str, Plottable] | None = None) -> tuple[Axis, list[Curve]]:
    """The one x axis the requested losses share, and each one's curve; a usage error if they differ."""
    registry = registry or plottable()
    curves = []
    for request in requests:
        entry = registry[request.name]
        parameters = {p.name: request.given.get(p.name, p.default) for p in entry.parameters}
        curve = entry.curve(parameters)
        if curve is None:
            raise UsageError(f"{request.name} declares no curve to plot")
        curves.append(curve)
    axis = curves[0].axis
    for request, curve in zip(requests, curves):
        if curve.axis != axis:
            raise UsageError(
                f"{requests[0].label} is drawn against the {axis.label} but {request.label} against the "
                f"{curve.axis.label}: plot them separately"
            )
    return axis, curves


def curve_data(requests: list[CurveRequest], x: np.ndarray, registry: dict[str, Plottable] | None = None) -> list[CurveData]:
    """Each requested loss at the points ``x`` (float64), by its own computation."""
    registry = registry or plottable()
    axis, curves = axis_of(requests, registry)
    x = np.asarray(x, dtype=np.float64)
    data = []
    for request, curve in zip(requests, curves):
        with np.errstate(all="ignore"):
            terms, grad = registry[request.name].compute(curve.inputs(x), request.given)
        data.append(CurveData(request.label, x, np.asarray(terms, np.float64), np.asarray(grad, np.float64), axis, curve.held))
    return data


def held_text(data: list[CurveData]) -> str:
    """What the curves hold fixed: ``y = 0``, or per group when they differ: ``y = 1 (bce-logits); …``."""
    groups: dict[str, list[str]] = {}
    for d in data:
        groups.setdefault(d.held, []).append(d.label)
    if len(groups) == 1:
        return next(iter(groups))
    return "; ".join(f"{held} ({', '.join(labels)})" for held, labels in groups.items())
