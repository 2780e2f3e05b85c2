"""Loading the PyTorch reference cases and comparing with the tolerances the project promises."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# The workplace's shared/golden (beside the checkout) is the reference; tests/data holds a copy of
# it so that a checkout on its own still tests against PyTorch's numbers.
_SHARED = Path(__file__).resolve().parents[2] / "shared" / "golden" / "torch_cases.json"
GOLDEN_PATH = _SHARED if _SHARED.exists() else Path(__file__).resolve().parent / "data" / "torch_cases.json"


def golden_path(filename: str) -> Path:
    """``filename`` in shared/golden when the workplace has it, else the vendored copy in tests/data."""
    shared = _SHARED.parent / filename
    return shared if shared.exists() else Path(__file__).resolve().parent / "data" / filename


# float64 within 1e-12 relative (1e-300 absolute); float32 within 2e-6 relative. Tiny float32
# losses lose relative precision (semantics.md), so float32 also gets a small absolute floor.
TOLERANCES = {"float64": dict(rtol=1e-12, atol=1e-300), "float32": dict(rtol=2e-6, atol=1e-8)}


def _decode(value):
    """The golden file writes nan/inf as strings."""
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, str):
        return float(value)
    return value


def load_cases(path: Path = GOLDEN_PATH) -> list[dict]:
    data = json.loads(path.read_text())
    for case in data["cases"]:
        for expected in case["expected"].values():
            for key in list(expected):
                expected[key] = _decode(expected[key])
    return data["cases"]


CASES = load_cases()


def case_ids(cases):
    return [case["id"] for case in cases]


def assert_matches(actual, expected, dtype: str) -> None:
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, equal_nan=True, **TOLERANCES[dtype])


def inline_values(values) -> str:
    """A golden case's array as losscli's inline syntax: ``1.0,2.0`` or rows ``1.0,2.0;3.0,4.0`` (exact reprs)."""
    array = np.asarray(values, dtype=float)
    rows = array.reshape(1, -1) if array.ndim <= 1 else array
    return ";".join(",".join(repr(float(v)) for v in row) for row in rows)
