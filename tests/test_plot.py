"""losscli plot: curve data against the losses themselves and hand formulas, the terminal picture
(colours, NO_COLOR, pipes, narrow widths), the SVG and PNG files, and the usage errors."""

from __future__ import annotations

import io
import math
import re
import struct
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from losscli import losses
from losscli.curves import CLASS_LOSSES, axis_of, curve_data, parse_loss, parse_range, plottable
from losscli.environment import Environment
from losscli.plot_view import PALETTE

from .conftest import run_cli

ALL = sorted(plottable())


def test_every_registered_loss_declares_its_curve():
    assert set(ALL) == set(losses.POINTWISE_LOSSES) | {"xent", "nll"}
    for name, spec in losses.POINTWISE_LOSSES.items():
        defaults = {p.name: p.default for p in spec.parameters}
        assert spec.curve_for(defaults) is not None, name
    assert losses.CrossEntropyAccumulator.curve is not None and losses.NLLAccumulator.curve is not None


@pytest.mark.parametrize("name", ALL)
def test_curve_data_equal_the_loss_computed_point_by_point(name):
    """Each sampled point is the loss called on that one point's inputs, through the public API."""
    request = parse_loss(name)
    axis, (curve,) = axis_of([request])
    low, high = parse_range(None, axis)
    x = np.linspace(low, high, 9)
    (data,) = curve_data([request], x)
    for i, point in enumerate(x):
        inputs = curve.inputs(np.array([point]))
        if name in losses.POINTWISE_LOSSES:
            result = losses.elementwise_loss(name, *inputs, reduction="sum")
            grad = result.grad[0]
        else:
            whole = {accumulator.name: function for accumulator, function in CLASS_LOSSES}[name]
            result = whole(*inputs, reduction="sum")
            grad = result.grad[0][0]
        assert data.loss[i] == pytest.approx(float(result.value), rel=1e-12, abs=1e-300), (name, point)
        assert data.grad[i] == pytest.approx(float(grad), rel=1e-12, abs=1e-300), (name, point)


def _softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


# Hand formulas of each loss along its axis (the other inputs held as the curve declares).
HAND = {
    "l1": (lambda d: np.abs(d), lambda d: np.sign(d)),
    "mse": (lambda d: d**2, lambda d: 2 * d),
    "huber --delta 0.5": (lambda d: np.where(np.abs(d) < 0.5, d**2 / 2, 0.5 * (np.abs(d) - 0.25)), lambda d: np.clip(d, -0.5, 0.5)),
    "smooth-l1 --beta 2": (lambda d: np.where(np.abs(d) < 2, d**2 / 4, np.abs(d) - 1), lambda d: np.clip(d / 2, -1, 1)),
    "gaussian-nll": (lambda d: d**2 / 2, lambda d: d),
    "bce": (lambda p: -np.log(p), lambda p: -1 / p),
    "bce-logits": (lambda x: _softplus(-x), lambda x: 1 / (1 + np.exp(-x)) - 1),
    "xent": (lambda x: _softplus(-x), lambda x: 1 / (1 + np.exp(-x)) - 1),
    "focal --gamma 0 --alpha 0.25": (lambda x: 0.25 * _softplus(-x), lambda x: 0.25 * (1 / (1 + np.exp(-x)) - 1)),
    "nll": (lambda x: -x, lambda x: -np.ones_like(x)),
    "kl": (lambda x: -x, lambda x: -np.ones_like(x)),
    "poisson-nll": (lambda x: np.exp(x) - x, lambda x: np.exp(x) - 1),
}


@pytest.mark.parametrize("loss", sorted(HAND))
def test_curve_data_follow_the_hand_formula(loss):
    request = parse_loss(loss)
    axis, _ = axis_of([request])
    low, high = parse_range(None, axis)
    x = np.linspace(low, high, 13)[1:-1]  # away from kinks at the ends of a probability range
    x = x[np.abs(x) > 1e-9]  # and from l1's kink at 0
    (data,) = curve_data([request], x)
    term, grad = HAND[loss]
    np.testing.assert_allclose(data.loss, term(x), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(data.grad, grad(x), rtol=1e-9, atol=1e-12)


def test_options_are_parsed_as_on_the_losss_own_command_and_named_in_the_legend():
    request = parse_loss("poisson-nll --no-log-input --eps=0.001")
    assert request.given == {"log_input": False, "eps": 0.001}
    axis, _ = axis_of([request])
    assert axis.key == "rate"  # the declared axis follows the option


def _tty(monkeypatch, *env: tuple[str, str]):
    """A run whose stdout is a terminal (rich decides colours from the stream and the environment)."""
    for name in ("NO_COLOR", "FORCE_COLOR", "COLORTERM", "TERM", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env:
        monkeypatch.setenv(name, value)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    status = __import__("losscli.cli", fromlist=["main"]).main(
        ["plot", "l1", "mse", "huber --delta 0.5", "--grad"],
        Environment(stdin=io.BytesIO(), stdout=out, stderr=io.StringIO(), stdout_isatty=True),
    )
    assert status == 0
    return out.getvalue()


def test_on_a_truecolour_terminal_each_curve_takes_the_palette_colour_matplotlib_uses(monkeypatch):
    text = _tty(monkeypatch, ("TERM", "xterm-256color"), ("COLORTERM", "truecolor"), ("COLUMNS", "100"))
    for hex_colour in PALETTE[:3]:
        r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
        assert f"38;2;{r};{g};{b}" in text


def test_no_color_drops_the_colours_but_keeps_the_picture(monkeypatch):
    text = _tty(monkeypatch, ("TERM", "xterm-256color"), ("NO_COLOR", "1"), ("COLUMNS", "100"))
    assert not re.search(r"\x1b\[[0-9;]*3[0-9][;m]", text)  # no foreground colour of any kind
    assert "⣀" in re.sub(r"\x1b\[[0-9;]*m", "", text) or "⠉" in text


def test_on_a_pipe_no_escape_codes_and_a_legend_naming_each_loss_with_its_options():
    run = run_cli("plot", "l1", "mse", "huber --delta 0.5", "--grad")
    assert run.status == 0 and "\x1b" not in run.stdout
    assert "1 l1" in run.stdout and "2 mse" in run.stdout and "3 huber δ=0.5" in run.stdout
    assert "error d = ŷ − y" in run.stdout and "∂loss/∂d" in run.stdout and "held fixed: y = 0" in run.stdout
    # The gradient is named by the axis's own variable: p for BCE on probabilities.
    assert "∂loss/∂p, the gradient along the probability p" in run_cli("plot", "bce", "--grad").stdout


@pytest.mark.parametrize("columns", [30, 60, 120])
def test_the_picture_fits_the_terminals_width(monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    run = run_cli("plot", "bce-logits", "focal", "xent --label-smoothing 0.1", "--grad")
    assert run.status == 0
    assert max(len(line) for line in run.stdout.splitlines()) <= max(columns, 30)


def test_the_curve_is_where_the_loss_is():
    """mse on -3:3: 9 at both ends (the top row) and 0 in the middle (the bottom row)."""
    run = run_cli("plot", "mse")
    rows = [line for line in run.stdout.splitlines() if "┤" in line or "│" in line]
    top, bottom = rows[0], rows[-1]
    assert top.split("┤")[0].strip() == "9" and bottom.split("┤")[0].strip() == "0"
    canvas_top, canvas_bottom = top.split("┤")[1], bottom.split("┤")[1]
    assert canvas_top[0] != " " and canvas_top.rstrip(" 1")[-1] != " "  # both ends reach the top
    middle = len(canvas_bottom) // 2
    assert canvas_bottom[middle - 3:middle + 3].strip()  # the minimum sits on the bottom row


def test_svg_has_one_path_per_curve_and_a_legend_entry_per_loss(tmp_path):
    path = tmp_path / "losses.svg"
    run = run_cli("plot", "l1", "mse", "huber --delta 0.5", "--grad", "--output", str(path))
    assert run.status == 0, run.stderr
    root = ET.parse(path).getroot()
    ns = {"svg": "http://www.w3.org/2000/svg"}
    groups = {g.get("id"): g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("id")}
    for prefix in ("curve", "grad"):
        ids = sorted(i for i in groups if i.startswith(prefix + "-"))
        assert ids == [f"{prefix}-{i}" for i in range(3)]
        for i in ids:
            assert len(groups[i].findall("svg:path", ns)) == 1
    for i, colour in enumerate(PALETTE[:3]):
        style = groups[f"curve-{i}"].find("svg:path", ns).get("style")
        assert f"stroke: {colour}" in style
    legend = [t.text for t in groups["legend_1"].iter("{http://www.w3.org/2000/svg}text")]
    assert legend == ["1 l1", "2 mse", "3 huber δ=0.5"]


@pytest.mark.parametrize("size", [(800, 500), (640, 960)])
def test_png_is_written_at_the_requested_size(tmp_path, size):
    path = tmp_path / "losses.png"
    run = run_cli("plot", "bce", "--output", str(path), "--size", f"{size[0]}x{size[1]}")
    assert run.status == 0, run.stderr
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR"
    assert struct.unpack(">II", header[16:24]) == size


def test_without_matplotlib_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib then raises ImportError
    run = run_cli("plot", "mse", "--output", str(tmp_path / "x.png"))
    assert run.status == 2 and "losscli[plot]" in run.stderr and len(run.stderr.splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["l1", "bce"], "plot them separately"),
        (["bce", "--range", "-1:1"], "domain [0, 1]"),
        (["mse", "--range", "3:-3"], "LOW < HIGH"),
        (["mse", "--range", "a:b"], "takes a number"),
        (["huber --delta -1"], "--delta must be greater than 0"),
        (["huber --beta 1"], "huber has no option '--beta'"),
        (["nope"], "no loss named 'nope'"),
        ([], "name at least one loss"),
        (["mse", "--output", "x.pdf"], ".svg or .png"),
        (["mse", "--output", "x.png", "--size", "10x10"], "--size"),
    ],
)
def test_usage_errors_are_one_line_with_status_2(argv, message):
    run = run_cli("plot", *argv)
    assert run.status == 2, run
    assert message in run.stderr and len(run.stderr.splitlines()) == 1 and run.stdout == ""


def test_range_is_honoured():
    run = run_cli("plot", "mse", "--range=-5:5")
    assert run.status == 0
    assert run.stdout.splitlines()[1].split("┤")[0].strip() == "25"


def test_plot_is_not_imported_by_a_loss_command():
    import subprocess

    code = "import sys; from losscli.cli import main; main(['mse', '1,2', '3,4']); print(sorted(m for m in sys.modules if m.startswith(('losscli.plot', 'losscli.curves', 'losscli.hist', 'matplotlib'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_curves_nan_breaks_the_line_instead_of_failing():
    # bce's gradient at p = 0 is finite (PyTorch's ε floor), the term is clamped at 100: all drawable.
    (data,) = curve_data([parse_loss("bce")], np.array([0.0, 0.5, 1.0]))
    assert data.loss[0] == 100 and math.isfinite(data.grad[0])
