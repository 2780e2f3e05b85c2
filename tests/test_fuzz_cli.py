"""Robustness: whatever the command line and stdin, losscli answers with 0, 1 or 2 and no traceback.

In-process fuzzing through the ``cli`` fixture (hypothesis), then a few real subprocess runs.

Example counts (``settings(max_examples=...)``):
  * test_arbitrary_argv_and_stdin_never_crash ............. 400 examples
  * test_plausible_command_lines_never_crash ............... 500 examples
  * test_arbitrary_stdin_tables_never_crash ................ 500 examples
  * test_arbitrary_option_values_never_crash ............... 300 examples
  * test_any_ignore_index_and_class_index_never_crash ...... 200 examples
1900 hypothesis examples in all (about 20 s), plus 3 subprocess tests (about 2-4 s).

A bug is anything but the exit statuses of ``losscli.errors.ExitStatus`` for a finished run
(0 OK, 1 data error, 2 usage error), an exception escaping ``main`` (which would be a traceback
in a real process), or a failure that does not end in one ``losscli: error: ...`` line.

No argv token contains '/', and the in-process tests run from an empty directory, so no
token names an existing file (only '.' and '..' exist there: directories, refused by losscli).
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from losscli.errors import ExitStatus

FINISHED = {int(ExitStatus.OK), int(ExitStatus.DATA), int(ExitStatus.USAGE)}


def fuzz(examples: int):
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@pytest.fixture(autouse=True)
def empty_directory(tmp_path, monkeypatch):
    """Run from an empty directory: no argv token can name a real file."""
    monkeypatch.chdir(tmp_path)


# ---------------------------------------------------------------------------------------------
# strategies

COMMANDS = ["l1", "mse", "xent", "softmax"]
OPTIONS = [
    "--reduction", "-r", "--format", "-f", "--dim", "--weight", "-w", "--pred", "--target", "--logits",
    "--grad", "-g", "--dtype", "--digits", "--rows", "--all", "--header", "--no-header", "--delimiter",
    "-d", "--quiet", "-q", "--nan-policy", "--ignore-index", "--label-smoothing", "--classes",
    "--temperature", "-t", "--log", "--help", "-h", "--version", "--",
]
OPTION_VALUES = [
    "mean", "sum", "none", "avg", "auto", "table", "plain", "json", "csv", "float32", "float64",
    "float16", "propagate", "raise", "omit", "tab", "space", "comma", "semicolon", "pipe", "\\t",
    "\t", " ", "x", ",", ";", "|", '"', "#", "-", "", ",,", ";;", "1,", ",1", "1;", "a,b", "a,a",
    "1-3", "3-1", "1-", "0", "-0", "1", "2", "-1", "-2", "-100", "17", "18", "9999",
]
NUMBERS = [
    "0", "-0", "1", "-1", "0.5", ".5", "5.", "1e3", "-1e-3", "1E+2", "nan", "-nan", "NaN", "inf", "-inf",
    "+inf", "Infinity", "-Infinity", "1e308", "-1e308", "1e309", "1e-320", "4.9e-324",
    "9007199254740993", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
    "1000000000000000019884624838656", "١", "١٢", "٣.٥", "1_000", "0x10", "1e", "e1", "--1", "+-1",
]

# printable and control characters, unicode, and the lone surrogates argv holds for non-UTF-8 bytes
any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12)
number = st.one_of(
    st.sampled_from(NUMBERS),
    st.integers(-(10**20), 10**20).map(str),
    st.floats().map(repr),
    st.floats(-1e6, 1e6).map(lambda v: f"{v:g}"),
)
vector = st.lists(number, min_size=1, max_size=6).flatmap(
    lambda values: st.sampled_from([",", " ", ", ", ",,"]).map(lambda sep: sep.join(values))
)
matrix = st.lists(st.lists(number, min_size=1, max_size=4).map(",".join), min_size=1, max_size=4).map(";".join)
token = st.one_of(
    st.sampled_from(OPTIONS),
    st.sampled_from(OPTION_VALUES),
    number,
    vector,
    matrix,
    any_text,
).filter(lambda s: "/" not in s)
no_slash = lambda s: "/" not in s  # noqa: E731

# tables: numbers, words, empty and quoted cells, comments; any delimiter and line ending
cell = st.one_of(number, st.sampled_from(["", "a", "label", "y", "pred", "target", '"1"', '"1,5"', "# c", "cat", "x"]), any_text)
row = st.tuples(st.lists(cell, min_size=1, max_size=5), st.sampled_from([",", "\t", ";", "|", " ", ", "])).map(
    lambda pair: pair[1].join(pair[0])
)
table_text = st.tuples(
    st.lists(row, min_size=0, max_size=8),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.sampled_from(["", "\ufeff"]),
    st.booleans(),
).map(lambda t: t[2] + t[1].join(t[0]) + (t[1] if t[3] else ""))
table_bytes = table_text.map(lambda text: text.encode("utf-8", "surrogatepass"))


def _damaged_gzip(args) -> bytes:
    payload, cut, tail = args
    packed = gzip.compress(payload)
    return packed[: max(2, len(packed) - cut)] + tail


stdin_bytes = st.one_of(
    st.binary(max_size=300),
    table_bytes,
    table_bytes.map(gzip.compress),
    st.tuples(table_bytes, st.integers(0, 40), st.binary(max_size=20)).map(_damaged_gzip),
    st.binary(max_size=60).map(lambda body: b"\x1f\x8b" + body),
    st.binary(max_size=60).map(lambda body: gzip.compress(b"1,2\n")[:10] + body),
    table_bytes.map(lambda b: b[: len(b) // 2] + b"\xff\xfe" + b[len(b) // 2 :]),
    table_bytes.map(lambda b: b + b"\0"),
)


def check(run) -> None:
    assert run.status in FINISHED, (run.status, run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
    if run.status != 0:
        lines = run.stderr.splitlines()
        assert lines and lines[-1].startswith("losscli: error: "), run.stderr
        assert run.stderr.endswith("\n")


# ---------------------------------------------------------------------------------------------
# in-process fuzzing


@fuzz(400)
@given(
    argv=st.lists(st.one_of(st.sampled_from(COMMANDS), token), max_size=8),
    stdin=stdin_bytes,
    stdin_tty=st.booleans(),
    tty=st.booleans(),
)
def test_arbitrary_argv_and_stdin_never_crash(cli, argv, stdin, stdin_tty, tty):
    run = cli(*argv, stdin=stdin, stdin_tty=stdin_tty, tty=tty)
    if not argv:  # `losscli` alone prints the help and exits 2 (Typer's no_args_is_help), no error line
        assert (run.status, run.stderr) == (2, "")
        return
    check(run)


def _input_for(command: str):
    if command == "softmax":
        return st.lists(st.one_of(vector, matrix, st.just("-")), max_size=1)
    return st.lists(st.one_of(vector, matrix, st.just("-"), st.sampled_from(NUMBERS)), max_size=2)


option_pair = st.one_of(
    st.tuples(st.sampled_from(OPTIONS), st.one_of(st.sampled_from(OPTION_VALUES), number, vector)),
    st.tuples(st.sampled_from(["--grad", "--all", "--log", "--quiet", "--header", "--no-header"])),
    st.tuples(st.sampled_from(["--reduction", "--format", "--nan-policy", "--dtype"]), st.sampled_from(OPTION_VALUES)),
)


@fuzz(500)
@given(
    command=st.sampled_from(COMMANDS),
    data=st.data(),
    options=st.lists(option_pair, max_size=4),
    stdin=stdin_bytes,
)
def test_plausible_command_lines_never_crash(cli, command, data, options, stdin):
    inputs = data.draw(_input_for(command), label="inputs")
    argv = [command, *inputs, *(part for pair in options for part in pair)]
    argv = [a for a in argv if no_slash(a)]
    check(cli(*argv, stdin=stdin))


@fuzz(500)
@given(
    command=st.sampled_from(COMMANDS),
    extra=st.lists(
        st.sampled_from(
            [
                ["-r", "none"], ["-r", "sum"], ["-f", "json"], ["-f", "csv"], ["-f", "table"], ["-g"],
                ["--nan-policy", "omit"], ["--nan-policy", "raise"], ["--dtype", "float32"], ["--header"],
                ["--no-header"], ["--pred", "1"], ["--target", "2"], ["--target", "label"], ["--logits", "1-2"],
                ["--pred", "pred"], ["-d", "tab"], ["-d", ";"], ["-d", "space"], ["--rows", "2"], ["--all"],
                ["--classes", "a,b"], ["--dim", "0"], ["--log"], ["-t", "0.5"], ["--label-smoothing", "0.1"],
                ["--weight", "1,2"], ["--ignore-index", "0"],
            ]
        )
        | st.characters(codec=None, exclude_categories=()).filter(no_slash).map(lambda ch: ["-d", ch]),
        max_size=4,
    ),
    second=st.sampled_from([None, "-", "1,2", "0", "0.5,0.5"]),
    stdin=stdin_bytes,
)
def test_arbitrary_stdin_tables_never_crash(cli, command, extra, second, stdin):
    argv = [command, "-"]
    if second is not None and command != "softmax":
        argv = [command, second, "-"] if second == "1,2" else [command, "-", second] if second != "-" else argv
    check(cli(*argv, *(part for option in extra for part in option), stdin=stdin))


@fuzz(300)
@given(
    command=st.sampled_from(COMMANDS),
    option=st.sampled_from(
        ["--dim", "--temperature", "--ignore-index", "--label-smoothing", "--weight", "--digits", "--rows", "--classes", "--delimiter"]
    ),
    value=st.one_of(number, vector, any_text.filter(no_slash)),
    inputs=st.sampled_from(
        [["1,2,3", "2"], ["1,2;3,4", "0,1"], ["1,2;3,4", "0.5,0.5;1,0"], ["1,2,3"], ["1,2,3", "3,2,1"], ["nan,1", "1,nan"]]
    ),
    fmt=st.sampled_from(["plain", "json", "csv", "table"]),
)
def test_arbitrary_option_values_never_crash(cli, command, option, value, inputs, fmt):
    if command == "softmax":
        inputs = inputs[:1]
    check(cli(command, *inputs, option, value, "--format", fmt, "--grad" if command != "softmax" else "--log"))


big_integer = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 10**19, -(10**19), int(1e30), -100, -1, 0, 1]),
)


@fuzz(200)
@given(
    ignore_index=big_integer,
    labels=st.lists(st.one_of(big_integer, st.just(None)), min_size=1, max_size=3),
    fmt=st.sampled_from(["plain", "json", "csv", "table"]),
    smoothing=st.sampled_from(["0", "0.2"]),
)
def test_any_ignore_index_and_class_index_never_crash(cli, ignore_index, labels, fmt, smoothing):
    # None: this label is the ignore_index itself, written as an integer or as a float
    targets = [str(ignore_index) if label is None else str(label) for label in labels]
    logits = ";".join(["1,2,0.5"] * len(targets))
    check(cli("xent", logits, ",".join(targets), "--ignore-index", str(ignore_index), "--format", fmt,
              "--label-smoothing", smoothing, "--grad"))


# ---------------------------------------------------------------------------------------------
# real processes

LOSSCLI = [sys.executable, "-m", "losscli"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_output_piped_into_head_stops_quietly(tmp_path):
    rows = 200_000
    table = tmp_path / "big.csv"
    with open(table, "w") as f:
        f.write("pred,target\n")
        f.writelines(f"{i},{i + 1.5}\n" for i in range(rows))
    err = tmp_path / "stderr.txt"
    command = " ".join(
        [*(f"'{part}'" for part in LOSSCLI), "mse", f"'{table}'", "-r", "none", f"2>'{err}'", "| head -1;",
         'echo "status=${PIPESTATUS[0]}"']
    )
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, cwd=ROOT)
    lines = done.stdout.splitlines()
    assert lines[0] == "2.25"  # (0 − 1.5)²
    assert lines[1].startswith("status=")
    status = int(lines[1].removeprefix("status="))
    stderr = err.read_text()
    assert stderr == "", stderr
    assert status in (0, 1, 128 + signal.SIGPIPE), status  # stopped, and not by an error or a crash


def test_sigint_while_reading_a_stdin_that_never_ends_exits_130_with_one_line():
    process = subprocess.Popen(
        [*LOSSCLI, "mse"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    )
    try:
        process.stdin.write(b"pred,target\n1,2\n")
        process.stdin.flush()
        time.sleep(1.5)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = err.decode("utf-8", "replace")
    assert process.returncode == 130, (process.returncode, stderr)
    assert "Traceback" not in stderr, stderr
    assert len(stderr.splitlines()) == 1 and stderr.startswith("losscli: "), repr(stderr)
    assert out == b""


def test_no_arguments_and_an_empty_stdin_is_an_error_without_traceback():
    with open(os.devnull, "rb") as devnull:
        done = subprocess.run([*LOSSCLI, "mse"], stdin=devnull, capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert done.returncode in (1, 2), (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("losscli: error: "), done.stderr
    assert done.stdout == ""
