"""The human table: never a cut number at any width, hidden rows marked, plain glyphs on an ASCII
stream, a bounded --all, and the help and no-argument behaviour around it."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import numpy as np

from losscli.readers import TableOptions
import pytest
from rich.cells import cell_len

from losscli import losses
from losscli.cli import stream
from losscli.environment import Environment
from losscli.errors import UsageError
from losscli.render import Progress
from losscli.table_view import ALL_ROWS_LIMIT, derivation, write_table

LOSSCLI = [sys.executable, "-m", "losscli"]
NUMBER = re.compile(r"(?<![\w.])-?(?:\d+\.?\d*|\.\d+)(?:e[-+]\d+)?(?![\w.])")


def drawn(result, width: int | None, **options) -> str:
    out = io.StringIO()
    write_table(result, out, width=width, **options)
    return out.getvalue()


def shown_digits(text: str, asked: int) -> int:
    """The digits the table used: those asked, or fewer when its title says it squeezed them."""
    squeezed = re.search(r", (\d+) digits to fit", text.splitlines()[0])
    return int(squeezed.group(1)) if squeezed else asked


def body_numbers(text: str) -> list[str]:
    """The numbers of the table's rows (not its headings), in either layout."""
    lines = text.splitlines()[1:]
    if any(line.startswith("│") for line in lines):
        body = [line for line in lines if line.startswith("│")]
    else:  # one block per row: headings "row 1", then "  label  value" lines
        body = []
        for line in lines:
            if line.startswith("  "):
                parts = re.split(r"\s{2,}", line.strip())
                body.append(parts[-1])
            elif re.match(r"row \d", line) or line in ("⋮", "mean", "sum"):
                body.append(line)
            else:
                break
    return [token for line in body for token in NUMBER.findall(line)]


def as_read(value: float, digits: int) -> float:
    """``value`` as a person reads it at ``digits`` significant digits (whole numbers whole)."""
    value = float(value)
    return value if value.is_integer() else float(f"{value:.{digits}g}")


def mse_case():
    p = np.array([-6.854e-08, 1.234567e-09, 3.3e-07, -2.5e-08])
    t = np.array([1e-07, 2e-09, -4.4e-08, 7.77e-09])
    d = p - t
    result = losses.elementwise_loss("mse", p, t)
    expected = [*range(1, 5), *p, *t, *d, *d**2, *(2 * d / 4), np.mean(d**2)]
    return result, expected


def xent_case():
    x = np.array([[1.23456, 2.34567, 0.545454, -3.3333, 4.4444, 5.5555, 6.12345], [0.1, -1, 3, 4, 5, 6, 7]])
    y = np.array([1, 2])
    log_p = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    nll = -log_p[[0, 1], y]
    grad = (np.exp(log_p) - np.eye(7)[y]) / 2
    result = losses.cross_entropy(x, y)
    expected = [1, 2, *x.ravel(), *y, *np.exp(-nll), *nll, *grad.ravel(), nll.mean()]
    return result, expected


def softmax_case():
    x = np.array([[0.5, 1.75, -2.25, 3.125, 9.5, -0.75], [12.5, 2.0, 4.25, -6.5, 0.125, 7.75]])
    e = np.exp(x)
    result = losses.softmax(x)
    expected = [1, 2, *range(1, 7), *x.ravel(), *e.ravel(), *e.sum(axis=1), *(e / e.sum(axis=1, keepdims=True)).ravel()]
    return result, expected


@pytest.mark.parametrize("width", [60, 80])
@pytest.mark.parametrize("case", [mse_case, xent_case, softmax_case], ids=["mse", "xent", "softmax"])
def test_a_narrow_table_shows_every_number_whole_and_right(case, width):
    result, expected = case()
    text = drawn(result, width, show_grad=True)
    assert "…" not in text
    digits = shown_digits(text, 4)
    assert 3 <= digits <= 4
    read = sorted(float(token) for token in body_numbers(text))
    assert set(read) == {as_read(v, digits) for v in expected}
    for line in text.splitlines()[1:]:
        assert cell_len(line) <= width, line


def test_the_command_fits_the_terminal_width_from_columns():
    command = [*LOSSCLI, "mse", "-6.854e-08,1.234567e-09", "1e-7,2e-9", "--format", "table", "--grad"]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "60"}, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "…" not in done.stdout
    assert {"-6.854e-08", "-1.685e-07", "1.42e-14"} <= set(body_numbers(done.stdout))


def test_a_table_that_fits_keeps_its_digits_and_layout():
    text = drawn(xent_case()[0], 200, show_grad=True)
    assert shown_digits(text, 4) == 4 and "digits to fit" not in text
    assert text.splitlines()[1].startswith("┏")
    assert "│    1 │ [1.235, 2.346, 0.5455, -3.333, 4.444, 5.556, 6.123] │" in text


def test_fewer_digits_are_said_in_the_title_and_too_narrow_stacks_one_block_per_row():
    result = xent_case()[0]
    squeezed = drawn(result, 60, show_grad=True)
    assert squeezed.splitlines()[0].endswith(", 3 digits to fit") and "┏" in squeezed
    stacked = drawn(result, 40, show_grad=True).splitlines()
    assert "┏" not in "".join(stacked)
    assert stacked[1] == "row 1" and stacked[2].startswith("  logits ")


@pytest.mark.parametrize("width", [40, 60])
def test_the_derivation_wraps_only_between_terms(width):
    result = losses.cross_entropy(
        np.array([[1.5, 2.25, -0.125], [0.1, -1, 3], [2, 2, -0.5], [0, 1, 0]]), [1, 2, 0, 1], weight=[1, 2, 0.5]
    )
    line = derivation(result, 4)
    lines = drawn(result, width).splitlines()
    start = next(i for i, text in enumerate(lines) if text.startswith("(0.8963 + "))
    wrapped = [lines[start]]
    for text in lines[start + 1:]:
        if not text.startswith("    "):
            break
        wrapped.append(text)
    assert len(wrapped) > 1 and all(cell_len(text) <= width for text in wrapped)
    # Broken only at spaces: the lines joined again are the line, and no number was split.
    assert " ".join(" ".join(wrapped).split()) == " ".join(line.split())


def test_on_a_pipe_the_derivation_is_one_line():
    result = losses.elementwise_loss("mse", np.arange(6) + 0.123456, np.arange(6) * 1.5)
    text = drawn(result, None)
    assert derivation(result, 4) in text.splitlines()


@pytest.mark.parametrize(
    "argv, stdin",
    [
        (["softmax", "1,2,3;4,5,6", "--rows", "2"], b""),
        (["softmax", "-", "--rows", "2"], b"1,2\n3,4\n"),
        (["softmax", "-", "--rows", "4", "--no-header"], "".join(f"{i},{i + 1}\n" for i in range(9)).encode()),
        (["mse", "1,2,3,4,5", "5,4,3,2,1", "--rows", "2"], b""),
        (["xent", "-", "--target", "4", "--rows", "2"], b"0.5,1,0,1\n1,2,1,0\n3,1,2,2\n"),
    ],
)
def test_every_table_that_hides_rows_marks_the_gap(cli, argv, stdin):
    run = cli(*argv, "-f", "table", stdin=stdin)
    assert run.status == 0, run.stderr
    hidden = int(re.search(r"⋮ (\d+) more rows? \(", run.stdout).group(1))
    assert hidden > 0
    gaps = [line for line in run.stdout.splitlines() if line.startswith("│") and set(line) <= set("│⋮ ")]
    assert len(gaps) == 1


def test_one_hidden_row_is_one_more_row(cli):
    text = cli("mse", "1,2,3", "1,2,4", "--rows", "2", "-f", "table").stdout
    assert "⋮ 1 more row (3 in all;" in text and "more rows" not in text


def test_temperature_headings_name_what_the_column_holds(cli):
    text = cli("softmax", "1,2,3", "-t", "0.5", "-f", "table").stdout
    header = next(line for line in text.splitlines() if "softmax" in line and line.startswith("┃"))
    cells = [cell.strip() for cell in header.split("┃")[1:-1]]
    assert cells == ["row", "x", "x/0.5", "e^(x/0.5)", "Σ e^(x/0.5)", "softmax"]
    column = [line.split("│")[4].strip() for line in text.splitlines() if line.startswith("│")]
    assert [float(v) for v in column] == [as_read(v, 4) for v in np.exp(np.array([1, 2, 3]) / 0.5)]
    assert "e^x" in cli("softmax", "1,2,3", "-f", "table").stdout
    assert "e^(x/0.5−max)" in cli("softmax", "1000,2,3", "-t", "0.5", "-f", "table").stdout
    # The machine formats keep their keys.
    assert cli("softmax", "1,2,3", "-t", "0.5", "-f", "csv").stdout.splitlines()[0] == (
        "row,x,x_over_t,exp,sum_exp,softmax"
    )


# --- streams that cannot take unicode -----------------------------------------------------------


def test_an_ascii_stream_gets_plain_box_lines_and_stand_ins():
    buffer = io.BytesIO()
    stdout = io.TextIOWrapper(buffer, encoding="ascii", newline="\n")
    env = Environment(stdin=io.BytesIO(), stdout=stdout, stderr=io.StringIO())
    from losscli.cli import main

    assert main(["mse", "2,3,4,5,6", "4,5,6,7,9", "-f", "table", "--grad", "--rows", "2"], env) == 0
    stdout.flush()
    text = buffer.getvalue().decode("ascii")
    lines = text.splitlines()
    assert lines[2] == "|  row | yhat | y | yhat-y | (yhat-y)^2 | dloss/dyhat |"
    assert "|    : |    : | : |      : |          : |           : |" in lines
    assert "... 3 more rows (5 in all; --all shows every row)" in lines
    assert "[(2-4)^2 + (3-5)^2 + (4-6)^2 + (5-7)^2 + (6-9)^2] / 5 = 5" in lines


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_the_command_prints_a_table_on_a_non_utf8_stdout(encoding):
    command = [*LOSSCLI, "softmax", "1,2,3,4,5,6,7", "-f", "table", "--rows", "4"]
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    done = subprocess.run(command, capture_output=True, env=env, timeout=30)
    assert done.returncode == 0, done.stderr.decode(encoding, "replace")
    text = done.stdout.decode("ascii")
    first = np.exp(1) / np.exp(np.arange(1, 8)).sum()
    assert "sum e^x" in text and f"e^1 / (e^1 + e^2 + e^3 + ... + e^7) = {first:.4g}" in text.splitlines()


# --- --all is bounded --------------------------------------------------------------------------


def test_all_on_a_big_file_stops_with_a_hint_instead_of_drawing_it(cli, tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("".join(f"{i},{i + 1}\n" for i in range(30_000)))
    run = cli("l1", str(path), "-f", "table", "--all", "--no-header")
    assert run.status == 2 and run.stdout == ""
    assert run.stderr.startswith("losscli: error: --all: ") and "-f csv" in run.stderr
    assert f"{ALL_ROWS_LIMIT:,}" in run.stderr


def test_all_stops_reading_once_the_table_would_be_too_long():
    taken = []

    def blocks():
        for k in range(100):
            taken.append(k)
            yield np.arange(1000.0), np.zeros(1000)

    env = Environment(stdin=io.BytesIO(), stdout=io.StringIO(), stderr=io.StringIO())
    accumulator = losses.PointwiseAccumulator(losses.POINTWISE_LOSSES["l1"], "mean", keep_rows=None, with_grad=False)
    with pytest.raises(UsageError):
        stream(env, accumulator, blocks(), Progress(env.stderr, None, False), fmt="table", grad=False,
               digits=4, max_rows=None, quiet=True, reading=TableOptions())
    assert len(taken) == ALL_ROWS_LIMIT // 1000 + 1
    assert env.stdout.getvalue() == ""


def test_all_inline_beyond_the_limit_is_refused_and_below_it_shows_every_row(cli):
    many = ",".join(["1"] * (ALL_ROWS_LIMIT + 1))
    assert cli("l1", many, many, "-f", "table", "--all").status == 2
    text = cli("l1", ",".join(map(str, range(30))), ",".join(["0"] * 30), "-f", "table", "--all").stdout
    assert "more row" not in text and sum(line.startswith("│") for line in text.splitlines()) == 31


# --- help ----------------------------------------------------------------------------------------


def test_no_arguments_prints_the_help_and_no_error_line():
    done = subprocess.run(LOSSCLI, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode == 2  # Typer's own exit status for no_args_is_help
    assert "Usage: losscli" in done.stdout and "mse" in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize("argv", [["mse", "--help"], ["--help"], ["softmax", "--help"]])
def test_flags_show_no_metavar_in_the_help(argv):
    env = {**os.environ, "COLUMNS": "100", "TERM": "dumb"}
    done = subprocess.run([*LOSSCLI, *argv], capture_output=True, text=True, timeout=30, env=env)
    assert done.returncode == 0
    assert "<bool>" not in done.stdout
    assert re.search(r"--help\s+-h\s+Show this message", done.stdout)
    if argv[0] != "--help":
        assert re.search(r"--header\s+--no-header\s+Whether", done.stdout)
        assert "<int range>" in done.stdout  # options that take a value still say what
