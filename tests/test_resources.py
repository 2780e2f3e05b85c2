"""Bounded resources and robust reading: wide rows, very long lines, CR-only files, a low ulimit -v,
and failures inside the optional polars reader."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from losscli import fast_reader, readers
from tests.memory import peak_kb


def _run(argv: list[str], reader: str = "auto", ulimit_kb: int | None = None) -> subprocess.CompletedProcess:
    """losscli in a fresh process; a hang fails the test through the timeout."""
    command = [sys.executable, "-m", "losscli", *argv]
    if ulimit_kb is not None:
        command = ["bash", "-c", f'ulimit -v {ulimit_kb} && exec "$@"', "losscli", *command]
    env = {**os.environ, "LOSSCLI_READER": reader}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


def _cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    top = logits.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
    return float(np.mean(log_z - logits[np.arange(len(targets)), targets]))


# --- wide rows --------------------------------------------------------------------------------


@pytest.mark.parametrize("reader", ["numpy", "auto"])
def test_a_wide_table_is_read_in_memory_proportional_to_its_values(tmp_path, reader):
    logits = np.round(np.random.default_rng(5).normal(size=(2, 200_000)), 3)
    path = tmp_path / "wide.csv"
    np.savetxt(path, logits, fmt="%.3f", delimiter=",")
    small = tmp_path / "small.csv"
    np.savetxt(small, logits[:, :3], fmt="%.3f", delimiter=",")
    (value,), peak = peak_kb(["xent", str(path), "0,1"], reader=reader)
    _, base = peak_kb(["xent", str(small), "0,1"], reader=reader)
    assert float(value) == pytest.approx(_cross_entropy(logits, np.array([0, 1])), rel=1e-12)
    # polars took 1.4 GB for these 2 x 200k values (3.2 MB as floats); numpy's path needs a
    # small multiple of the values and of the text (2.6 MB).
    assert peak - base < 25 * logits.nbytes // 1024, (peak, base)


ONE_ROW = np.round(np.random.default_rng(6).normal(size=500_000), 3)


def _softmax_written(out: str) -> None:
    exps = np.exp(ONE_ROW - ONE_ROW.max())
    written = np.array(open(out).read().rstrip("\n").split("\t"), dtype=float)
    assert np.allclose(written, exps / exps.sum(), rtol=1e-12, atol=0)


def _xent_written(out: str) -> None:
    top = ONE_ROW.max()
    assert float(open(out).read()) == pytest.approx(top + np.log(np.exp(ONE_ROW - top).sum()) - ONE_ROW[0], rel=1e-12)


# What one row of values may cost above the interpreter, in multiples of the values as float64:
# the text, the offsets of its fields, the parsed row and the loss's arrays. softmax's streaming
# accumulator (core.py) holds the row's softmax twice more: the last block's result, and the kept
# rows (here the whole row) computed again for the result's metadata. The old code took 40x: a
# list of the row's fields, one of its column numbers, and one join of its output.
@pytest.mark.parametrize(
    "argv, check, times",
    [(["xent", "{path}", "0"], _xent_written, 10), (["softmax", "{path}", "--format", "plain"], _softmax_written, 16)],
    ids=["xent", "softmax-plain"],
)
def test_one_row_of_half_a_million_values_takes_memory_proportional_to_them(tmp_path, argv, check, times):
    path, narrow, out = tmp_path / "row.csv", tmp_path / "narrow.csv", tmp_path / "out.txt"
    path.write_text(",".join(map(repr, ONE_ROW.tolist())) + "\n")
    # The baseline is a row just wide enough to be read the same way (numpy, not polars).
    narrow.write_text(",".join(map(repr, ONE_ROW[: fast_reader.WIDE_COLUMNS + 1].tolist())) + "\n")
    _, peak = peak_kb([a.format(path=path) for a in argv], reader="auto", out=str(out))
    check(str(out))
    _, base = peak_kb([a.format(path=narrow) for a in argv], reader="auto", out=str(out))
    assert peak - base < times * ONE_ROW.nbytes // 1024, (peak, base)


def test_a_row_of_full_precision_values_is_not_held_twice(tmp_path):
    # 17-digit values: the text is 2.4x the floats, so a second copy of it (bytes beside the
    # decoded text) shows; xent on this row measured 12.1x with one copy, 14.5x with two (at 2M
    # values: 9.1x and 11.5x).
    row = np.random.default_rng(8).normal(size=500_000)
    path, narrow, out = tmp_path / "row.csv", tmp_path / "narrow.csv", tmp_path / "out.txt"
    path.write_text(",".join(map(repr, row.tolist())) + "\n")
    narrow.write_text(",".join(map(repr, row[: fast_reader.WIDE_COLUMNS + 1].tolist())) + "\n")
    _, peak = peak_kb(["xent", str(path), "0"], reader="auto", out=str(out))
    top = row.max()
    assert float(open(out).read()) == pytest.approx(top + np.log(np.exp(row - top).sum()) - row[0], rel=1e-12)
    _, base = peak_kb(["xent", str(narrow), "0"], reader="auto", out=str(out))
    assert peak - base < 13.3 * row.nbytes // 1024, (peak, base)


def test_wide_tables_skip_the_polars_reader():
    assert fast_reader.WIDE_COLUMNS <= 1000  # above this width polars is slower than numpy and grows


# --- very long lines, parsed in pieces ---------------------------------------------------------


@pytest.fixture
def small_pieces(monkeypatch):
    """Lines of more than 64 characters count as long: the piecewise parse runs on small files."""
    monkeypatch.setattr(readers, "PIECE_CHARS", 64)
    monkeypatch.setattr(readers, "LONG_TEXT", 128)


def _wide_rows(rows: int, columns: int, delimiter: str = ",") -> tuple[np.ndarray, str]:
    values = np.round(np.random.default_rng(rows * columns).normal(size=(rows, columns)) * 100, 2)
    return values, "".join(delimiter.join(repr(v) for v in row) + "\n" for row in values.tolist())


LONG_LINE_CASES = {
    "plain": _wide_rows(3, 50)[1],
    "header, comments and blanks": "# logits\n" + ",".join(f"c{i}" for i in range(50)) + "\n\n"
    + _wide_rows(3, 50)[1].replace("\n", "  # a note\n", 1),
    "spaces around fields": _wide_rows(3, 50)[1].replace(",", " , "),
    "quoted": _wide_rows(3, 50)[1].replace("1", '"1"', 1).replace(",2", ',"2"'),
    "whitespace delimited": _wide_rows(3, 50, " ")[1].replace(" ", "  \t"),
    "CRLF": _wide_rows(3, 50)[1].replace("\n", "\r\n"),
    "bad value": _wide_rows(3, 50)[1].replace(",", ",x", 37),
    "empty field": _wide_rows(3, 50)[1].replace(",", ",,", 45),
    "short row": _wide_rows(3, 50)[1].replace(",", ";", 1),
    "long row": _wide_rows(3, 50)[1].replace("\n", ",1\n", 2),
    "one huge field": "1," + "9" * 300 + "\n2,3\n",
    "no final newline": _wide_rows(3, 50)[1].rstrip("\n"),
}


@pytest.mark.parametrize("reader", ["numpy", "auto"])
@pytest.mark.parametrize("name", list(LONG_LINE_CASES))
def test_long_lines_in_pieces_give_the_whole_line_answer(cli, tmp_path, monkeypatch, name, reader):
    path = tmp_path / "t.csv"
    path.write_text(LONG_LINE_CASES[name])
    monkeypatch.setenv("LOSSCLI_READER", reader)
    whole = cli("softmax", str(path), "-f", "csv")
    monkeypatch.setattr(readers, "PIECE_CHARS", 64)
    monkeypatch.setattr(readers, "LONG_TEXT", 128)
    monkeypatch.setattr(fast_reader, "WIDE_COLUMNS", 1)  # every table here goes to the piecewise numpy path
    monkeypatch.setattr(readers, "WIDE_FIELDS", 8)  # and its sampled lines are kept as offsets, not lists
    pieces = cli("softmax", str(path), "-f", "csv")
    assert (pieces.status, pieces.stdout, pieces.stderr) == (whole.status, whole.stdout, whole.stderr)


def test_long_lines_in_pieces_give_the_numpy_answer(cli, tmp_path, small_pieces):
    values, text = _wide_rows(4, 300)
    path = tmp_path / "t.csv"
    path.write_text(text)
    out = cli("softmax", str(path), "--log", "-f", "plain").stdout.splitlines()
    got = np.array([line.split("\t") for line in out], dtype=float)
    shifted = values - values.max(axis=1, keepdims=True)
    expected = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    assert got.shape == values.shape and np.allclose(got, expected, rtol=1e-13, atol=1e-13)


def test_a_bad_value_in_a_long_line_names_its_line_and_column(cli, tmp_path, small_pieces):
    _, text = _wide_rows(3, 300)
    lines = text.splitlines()
    fields = lines[1].split(",")
    fields[250] = "1.5.2"
    lines[1] = ",".join(fields)
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    result = cli("softmax", str(path))
    assert result.status == 1
    assert result.stderr == f"losscli: error: {path}:2: column 251: '1.5.2' is not a number\n"


# --- CR-only (old Mac) line endings ----------------------------------------------------------


@pytest.mark.parametrize("reader", ["numpy", "auto"])
def test_a_cr_only_file_reads_as_the_same_lines_with_newlines(cli, tmp_path, monkeypatch, reader):
    monkeypatch.setenv("LOSSCLI_READER", reader)
    text = "y_hat,y\n1.5,2\n# note\n3,-4.25\n\n0.5,0\n"
    unix, mac = tmp_path / "unix.csv", tmp_path / "mac.csv"
    unix.write_text(text)
    mac.write_bytes(text.replace("\n", "\r").encode())
    for loss in ("mse", "l1"):
        assert cli(loss, str(mac), "-r", "none").stdout == cli(loss, str(unix), "-r", "none").stdout
    assert cli("mse", str(mac)).stdout == f"{((1.5 - 2) ** 2 + 7.25 ** 2 + 0.5 ** 2) / 3!r}\n"


@pytest.mark.parametrize("reader", ["numpy", "auto"])
def test_a_cr_only_file_longer_than_the_line_limit_streams(cli, tmp_path, monkeypatch, reader):
    monkeypatch.setenv("LOSSCLI_READER", reader)
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 100_000)  # the file is 30 times longer
    pairs = np.random.default_rng(4).integers(-99, 99, size=(300_000, 2))
    path = tmp_path / "mac.csv"
    path.write_bytes("".join(f"{a},{b}\r" for a, b in pairs.tolist()).encode())
    assert float(cli("mse", str(path), "-r", "sum").stdout) == float(((pairs[:, 0] - pairs[:, 1]) ** 2).sum())
    # line numbers count CR-ended lines across blocks
    data = path.read_bytes().split(b"\r")
    data[250_000 - 1] = b"7,seven"
    path.write_bytes(b"\r".join(data))
    result = cli("mse", str(path))
    assert result.stderr == f"losscli: error: {path}:250000: column 2: 'seven' is not a number\n"


def test_line_endings_are_told_apart_from_the_first_bytes():
    assert readers._line_end(b"1,2\r\n3,4\r\n") == b"\n"
    assert readers._line_end(b"1,2\r3,4\r") == b"\r"
    assert readers._line_end(b"1,2,3,4\r") is None  # maybe the first half of \r\n: read on
    assert readers._line_end(b"1,2,3,4") is None


# --- a low address-space limit, and failures inside polars -----------------------------------


@pytest.mark.parametrize("rows", [3, 200_000])
def test_a_low_ulimit_v_neither_hangs_nor_aborts(tmp_path, rows):
    pairs = np.random.default_rng(rows).normal(size=(rows, 2)).round(6)
    path = tmp_path / "t.csv"
    np.savetxt(path, pairs, fmt="%.6f", delimiter=",")
    expected = ((pairs[:, 0] - pairs[:, 1]) ** 2).mean()
    for _ in range(3):  # the polars reader hung or aborted in most of 8 runs under 800 MB
        done = _run(["mse", str(path)], ulimit_kb=800_000)
        assert (done.returncode, done.stderr) == (0, "")
        assert float(done.stdout) == pytest.approx(expected, rel=1e-12)


def test_the_version_says_why_polars_is_not_used_under_a_low_ulimit_v():
    done = _run(["--version"], ulimit_kb=800_000)
    assert "reader: numpy.loadtxt (ulimit limits the address space to 781 MB; polars needs 4 GB)" in done.stdout


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(lambda: __import__("polars").exceptions.PanicException("a Rust panic"), id="panic"),
        pytest.param(lambda: MemoryError(), id="memory"),
        pytest.param(lambda: OSError("no room"), id="os"),
    ],
)
def test_a_failure_inside_polars_falls_back_to_numpy(cli, tmp_path, monkeypatch, failure):
    import polars

    def failing_read_csv(*args, **kwargs):
        raise failure()

    monkeypatch.setattr(polars, "read_csv", failing_read_csv)
    path = tmp_path / "t.csv"
    path.write_text("p,t\n1,2\n3,5\n")
    assert fast_reader.parse_block(b"1,2\n", 2, ",") is None
    assert cli("mse", str(path)).stdout == "2.5\n"


def test_a_thread_that_cannot_start_falls_back_to_numpy(cli, tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    def no_threads(self, *args, **kwargs):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(ThreadPoolExecutor, "submit", no_threads)
    path = tmp_path / "t.csv"
    path.write_text("p,t\n1,2\n3,5\n")
    assert cli("mse", str(path)).stdout == "2.5\n"
