"""Files, stdin and pipelines: every source form, format detection, columns, streaming."""

from __future__ import annotations

import gzip
import json
import math
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from tests.memory import peak_kb

SEED = "y_hat,y\n2,4\n3,5\n4,6\n5,7\n"


# --- source forms ----------------------------------------------------------------------------


def test_every_source_form_gives_the_inline_answer(cli, write):
    inline = cli("mse", "2,3,4,5", "4,5,6,7").stdout
    path = write("seed.csv", SEED)
    assert inline == "4.0\n"
    assert cli("mse", path).stdout == inline
    assert cli("mse", "-", stdin=SEED.encode()).stdout == inline
    assert cli("mse", stdin=SEED.encode()).stdout == inline  # implicit stdin
    assert cli("mse", write("seed.csv.gz", gzip.compress(SEED.encode()))).stdout == inline
    assert cli("mse", write("seed.bin", gzip.compress(SEED.encode()))).stdout == inline  # by content
    preds, targets = write("p.txt", "2\n3\n4\n5\n"), write("t.txt", "4\n5\n6\n7\n")
    assert cli("mse", preds, targets).stdout == inline
    assert cli("mse", preds, "-", stdin=b"4\n5\n6\n7\n").stdout == inline
    assert cli("mse", preds, "4,5,6,7").stdout == inline


@pytest.mark.parametrize("fmt", ["plain", "csv", "json"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_file_output_is_identical_to_inline_output(cli, write, fmt, reduction):
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=50), rng.normal(size=50)
    table = "a,b\n" + "".join(f"{p!r},{t!r}\n" for p, t in zip(x.tolist(), y.tolist()))
    grad = [] if fmt == "plain" else ["--grad"]  # plain carries no gradient (a usage error)
    inline = cli("l1", ",".join(map(repr, x.tolist())), ",".join(map(repr, y.tolist())), "-r", reduction, "-f", fmt, *grad)
    from_file = cli("l1", write("t.csv", table), "-r", reduction, "-f", fmt, *grad)
    assert from_file.status == inline.status == 0
    assert _without_columns(from_file.stdout, fmt, {"prediction": "a", "target": "b"}) == inline.stdout


def _without_columns(stdout: str, fmt: str, expected: dict) -> str:
    """File output names the columns it read (JSON "columns"); the rest equals inline output."""
    if fmt != "json":
        return stdout
    document = json.loads(stdout)
    assert document.pop("columns") == expected
    return json.dumps(document, ensure_ascii=False) + "\n"


def test_no_arguments_on_a_terminal_is_a_usage_error_not_a_wait(cli):
    run = cli("mse", stdin_tty=True)
    assert run.status == 2
    assert "no input" in run.stderr


def test_stdin_given_twice_is_refused(cli):
    run = cli("mse", "-", "-", stdin=SEED.encode())
    assert run.status == 2 and "'-' (stdin) is given twice" in run.stderr


# --- format detection and tolerated oddities ---------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        "2,4\n3,5\n4,6\n5,7\n",  # no header
        "2\t4\n3\t5\n4\t6\n5\t7\n",  # tab
        "y_hat;y\n2;4\n3;5\n4;6\n5;7\n",  # semicolon
        "y_hat|y\n2|4\n3|5\n4|6\n5|7\n",  # pipe
        "y_hat y\n2   4\n3 5\n4\t6\n5 7\n",  # runs of white space
        "\ufeffy_hat,y\r\n2,4\r\n3,5\r\n4,6\r\n5,7\r\n",  # Excel: BOM and CRLF
        "# made by hand\ny_hat,y\n\n2,4\n# a comment\n3,5\n\n4,6\n5,7",  # comments, blank lines, no final newline
        'y_hat,y\n"2","4"\n"3",5\n4,"6"\n5,7\n',  # quoted numbers
        "y_hat , y\n 2 , 4\n3,  5\n4 ,6\n5,7\n",  # spaces around fields
    ],
)
def test_tolerated_formats(cli, write, content):
    run = cli("mse", write("t.csv", content))
    assert run.status == 0, run.stderr
    assert run.stdout == "4.0\n"


def test_header_and_delimiter_options_override_detection(cli, write):
    path = write("t.csv", "1,2\n3,5\n")  # a numeric first row is data unless told otherwise
    assert cli("mse", path).stdout == "2.5\n"
    assert cli("mse", path, "--header").stdout == "4.0\n"
    assert cli("mse", write("h.csv", "a:b\n1:2\n"), "--delimiter", ":").stdout == "1.0\n"
    assert cli("mse", write("tab.tsv", "1\t2\n"), "-d", "tab").stdout == "1.0\n"


# --- columns ---------------------------------------------------------------------------------


def test_columns_by_name_and_by_index(cli, write):
    path = write("r.csv", "id,y,y_hat\n1,4,2\n2,5,3\n3,6,4\n4,7,5\n")
    by_name = cli("mse", path, "--pred", "y_hat", "--target", "y")
    by_index = cli("mse", path, "--pred", "3", "--target", "2")
    assert by_name.stdout == by_index.stdout == "4.0\n"


def test_two_files_take_a_named_column_each(cli, write):
    preds = write("p.csv", "id,score\n1,2\n2,3\n3,4\n4,5\n")
    labels = write("l.csv", "id,label\n1,4\n2,5\n3,6\n4,7\n")
    assert cli("mse", preds, labels, "--pred", "score", "--target", "label").stdout == "4.0\n"


def test_column_errors_list_what_exists(cli, write):
    path = write("r.csv", "id,y,y_hat\n1,4,2\n")
    run = cli("mse", path, "--pred", "yhat", "--target", "y")
    assert run.status == 2
    assert "--pred 'yhat': no such column; did you mean 'y_hat'" in run.stderr
    assert "has 3 columns (id, y, y_hat)" in run.stderr
    run = cli("mse", write("abc.csv", "a,b,c\n1,4,2\n"))
    assert run.status == 2 and 'candidates: "a", "b", "c"; say which with --pred and --target' in run.stderr
    assert "no such column" in cli("mse", path, "--pred", "9", "--target", "2").stderr
    one = write("one.txt", "1\n2\n")
    assert "has 1 column (no header): give the targets too" in cli("mse", one).stderr


# --- cross-entropy and softmax tables ----------------------------------------------------------

LOGITS = [[1, 2, 0.5], [0.1, -1, 3], [2, 2, -0.5], [0, 1, 0]]
PLAIN_MEAN = 0.4549893779569246  # semantics.md worked example


def _rows(values):
    return "".join(",".join(str(v) for v in row) + "\n" for row in values)


@pytest.mark.parametrize(
    "files, options",
    [
        ({"d.csv": "c0,c1,c2,label\n" + "".join(f"{_rows([r]).strip()},{y}\n" for r, y in zip(LOGITS, [1, 2, 0, 1]))}, []),
        ({"d.csv": "cat,dog,bird,label\n" + "".join(f"{_rows([r]).strip()},{y}\n" for r, y in zip(LOGITS, "dog bird cat dog".split()))}, []),
        ({"d.csv": "label,a,b,c,note\n" + "".join(f"{y},{_rows([r]).strip()},x\n" for r, y in zip(LOGITS, [1, 2, 0, 1]))}, ["--target", "1", "--logits", "2-4"]),
        ({"x.csv": _rows(LOGITS), "y.txt": "1\n2\n0\n1\n"}, []),
        ({"x.csv": _rows(LOGITS), "y.txt": "dog\nbird\ncat\ndog\n"}, ["--classes", "cat,dog,bird"]),
        ({"x.csv": _rows(LOGITS), "p.csv": "0,1,0\n0,0,1\n1,0,0\n0,1,0\n"}, []),  # one-hot probability rows
    ],
)
def test_xent_table_forms(cli, write, files, options):
    paths = [write(name, content) for name, content in files.items()]
    run = cli("xent", *paths, *options)
    assert run.status == 0, run.stderr
    assert float(run.stdout) == pytest.approx(PLAIN_MEAN, rel=1e-12)


def test_xent_unknown_label_names_its_line(cli, write):
    path = write("d.csv", "cat,dog,label\n1,2,dog\n3,4,cow\n")
    run = cli("xent", path)
    assert run.status == 1
    assert f"{path}:3: label 'cow' is not a class (cat, dog)" in run.stderr


def test_softmax_of_a_file_is_one_row_per_sample(cli, write):
    run = cli("softmax", write("x.csv", _rows(LOGITS)), "-f", "json")
    value = np.array(json.loads(run.stdout)["value"])
    assert value.shape == (4, 3) and np.allclose(value.sum(axis=1), 1)


# --- errors with file:line:column --------------------------------------------------------------


@pytest.mark.parametrize(
    "content, status, message",
    [
        ("y_hat,y\n1,2\n3,x\n", 1, ':3: column "y": \'x\' is not a number'),
        ("y_hat,y\n1,2\n12,5,3\n", 1, ":3: 3 fields, but the header has 2"),
        ("1,2\n3\n", 1, ":2: 1 field, but the first row has 2"),
        ("", 1, ": no data (the input is empty)"),
        ("\n\n# nothing\n", 1, ": no data (the input is empty)"),
        ("y_hat,y\n", 1, ": no data rows, only a header"),
        (b"y_hat,y\n1,2\n\x00\x01\x02", 1, ":3: NUL byte: this looks like a binary file"),
        (b"y_hat,y\n1,2\n\xff\xfe,1\n", 1, ":3: bytes that are not UTF-8 text"),
    ],
)
def test_file_errors_name_file_line_and_column(cli, write, content, status, message):
    path = write("bad.csv", content)
    run = cli("mse", path)
    assert run.status == status
    assert run.stdout == ""
    assert run.stderr == f"losscli: error: {path}{message}" + run.stderr.split(message, 1)[1]
    assert run.stderr.count("\n") == 1


def test_a_bad_value_deep_in_a_big_file_names_its_line(cli, write):
    lines = ["y_hat,y"] + [f"{i},{i + 1}" for i in range(300_000)]
    lines[250_001] = "12,5;3"
    path = write("big.csv", "\n".join(lines) + "\n")
    run = cli("mse", path)
    assert run.status == 1
    assert f"{path}:250002: column \"y\": '5;3' is not a number" in run.stderr


def test_missing_file_and_directory(cli, tmp_path):
    assert "no such file" in cli("mse", str(tmp_path / "nope.csv")).stderr
    run = cli("mse", str(tmp_path), "1,2")
    assert run.status == 1 and "is a directory" in run.stderr


def test_two_files_of_different_lengths(cli, write):
    run = cli("mse", write("p.txt", "1\n2\n3\n"), write("t.txt", "1\n2\n"))
    assert run.status == 1
    assert "t.txt has 2 rows but" in run.stderr and "p.txt has 3" in run.stderr


# --- streaming -------------------------------------------------------------------------------


def test_reduction_none_writes_exactly_one_row_per_input_row(cli, write):
    n = 123_457  # several blocks
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=n).round(6), rng.normal(size=n).round(6)
    path = write("t.csv", "".join(f"{a},{b}\n" for a, b in zip(x.tolist(), y.tolist())))
    plain = cli("l1", path, "-r", "none").stdout.splitlines()
    assert len(plain) == n
    assert np.array_equal(np.array(plain, dtype=float), np.abs(x - y))
    rows = cli("l1", path, "-r", "none", "-f", "csv").stdout.splitlines()
    assert len(rows) == n + 1 and rows[-1].startswith(f"{n},")


def test_streamed_sum_equals_the_whole_array_sum(cli, write):
    n = 200_000
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=n) * 1e3, rng.normal(size=n)
    path = write("t.csv", "".join(f"{a!r},{b!r}\n" for a, b in zip(x.tolist(), y.tolist())))
    streamed = float(cli("mse", path, "-r", "sum").stdout)
    assert streamed == pytest.approx(float(np.sum((x - y) ** 2)), rel=1e-14)


def test_big_table_view_shows_head_tail_count_and_abbreviated_derivation(cli, write):
    path = write("t.csv", "".join(f"{i},{i + 1}\n" for i in range(100_000)))
    text = cli("l1", path, "-f", "table", "--rows", "6", "--no-header").stdout
    assert "⋮ 99994 more rows (100000 in all" in text
    assert "│ 100000 │" in text and "│      1 │" in text
    assert "(|0−1| + |1−2| + |2−3| + … + |99999−100000|) / 100000 = 1" in text


@pytest.mark.parametrize("reader", ["numpy", "auto"])
def test_peak_memory_does_not_grow_with_input_size(tmp_path, reader):
    rng = np.random.default_rng(11)
    million = "".join(f"{a:.4f},{b:.4f}\n" for a, b in rng.normal(size=(1_000_000, 2)).tolist())
    small, large = tmp_path / "1M.csv", tmp_path / "4M.csv"
    small.write_text(million)
    large.write_text(million * 4)
    peaks = {rows: peak_kb(["mse", str(path)], reader=reader)[1] for rows, path in (("1M", small), ("4M", large))}
    # Reading whole would add ≥ 3M × 2 × 8 bytes × several copies, about 100 MB.
    assert peaks["4M"] - peaks["1M"] < 15_000, peaks


@pytest.mark.parametrize("buffered", [True, False])
def test_closed_pipe_ends_quietly(tmp_path, buffered):
    path = tmp_path / "t.csv"
    np.savetxt(path, np.arange(400_000).reshape(-1, 2), fmt="%d", delimiter=",")
    # With buffered stdout the broken pipe surfaces only at the final flush, in run().
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED" or not buffered}
    for pipeline in (f"{sys.executable} -m losscli l1 {path} -r none --no-header | head -1",
                     f"{sys.executable} -m losscli mse 1,2 3,4 | true"):
        done = subprocess.run(["bash", "-c", pipeline], capture_output=True, text=True, timeout=60, env=env)
        assert done.stderr == ""
    pipeline = f"{sys.executable} -m losscli l1 {path} -r none --no-header | head -1; exit ${{PIPESTATUS[0]}}"
    done = subprocess.run(["bash", "-c", pipeline], capture_output=True, text=True, env=env)
    assert done.stdout == "1.0\n"
    assert done.returncode == 141  # 128 + SIGPIPE, as cat reports it; 1 would mean bad data


# --- cross-entropy tables stream too ----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["plain", "csv", "json"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "options", [[], ["--weight", "1,2,0.5", "--ignore-index", "2"], ["--label-smoothing", "0.1", "--weight", "1,2,0.5"]]
)
def test_xent_file_output_is_identical_to_inline_output(cli, write, fmt, reduction, options):
    rng = np.random.default_rng(4)
    logits, labels = rng.normal(size=(40, 3)) * 3, rng.integers(0, 3, size=40)
    grad = [] if fmt == "plain" else ["--grad"]  # plain carries no gradient (a usage error)
    inline = cli(
        "xent", ";".join(",".join(map(repr, row)) for row in logits.tolist()), ",".join(map(str, labels)),
        "-r", reduction, "-f", fmt, *grad, *options, "--classes", "a,b,c",  # the file's header names them
    )
    table = "a,b,c,label\n" + "".join(f"{r[0]!r},{r[1]!r},{r[2]!r},{y}\n" for r, y in zip(logits.tolist(), labels))
    from_file = cli("xent", write("x.csv", table), "-r", reduction, "-f", fmt, *grad, *options)
    assert inline.status == from_file.status == 0, from_file.stderr
    columns = {"logits": ["a", "b", "c"], "target": "label"}
    assert _without_columns(from_file.stdout, fmt, columns) == inline.stdout


def test_xent_over_many_blocks_equals_the_whole_array_answer(cli, write):
    rng = np.random.default_rng(8)
    n = 60_000  # several 1 MiB blocks
    logits, labels = rng.normal(size=(n, 4)).round(5), rng.integers(0, 4, size=n)
    names = np.array(["ant", "bee", "cat", "dog"])[labels]
    path = write("x.csv", "ant,bee,cat,dog,label\n" + "".join(
        f"{a},{b},{c},{d},{y}\n" for (a, b, c, d), y in zip(logits.tolist(), names)
    ))
    from losscli import cross_entropy

    expected = cross_entropy(logits, labels, weight=[1, 2, 3, 4])
    run = cli("xent", path, "--weight", "1,2,3,4", "-f", "json")
    assert json.loads(run.stdout)["value"] == pytest.approx(float(expected.value), rel=1e-13)
    rows = cli("xent", path, "-r", "none").stdout.splitlines()
    assert len(rows) == n


def test_xent_two_files_stream_side_by_side(cli, write):
    logits = write("x.csv", "1,2,0.5\n0.1,-1,3\n2,2,-0.5\n0,1,0\n")
    assert float(cli("xent", logits, write("y.txt", "1\n2\n0\n1\n")).stdout) == pytest.approx(0.4549893779569246, rel=1e-12)
    run = cli("xent", logits, write("short.txt", "1\n2\n"))
    assert run.status == 1 and "short.txt has 2 rows but" in run.stderr


@pytest.mark.parametrize("reader", ["numpy", "auto"])
def test_xent_peak_memory_does_not_grow_with_input_size(tmp_path, reader):
    rng = np.random.default_rng(12)
    block = "".join(f"{a:.3f},{b:.3f},{c:.3f},{y}\n" for (a, b, c), y in zip(rng.normal(size=(300_000, 3)).tolist(), rng.integers(0, 3, 300_000)))
    small, large = tmp_path / "s.csv", tmp_path / "l.csv"
    small.write_text("a,b,c,label\n" + block)
    large.write_text("a,b,c,label\n" + block * 4)
    peaks = {name: peak_kb(["xent", str(path)], reader=reader)[1] for name, path in (("small", small), ("large", large))}
    assert peaks["large"] - peaks["small"] < 15_000, peaks


# --- softmax tables stream row by row ----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["plain", "csv", "json", "table"])
@pytest.mark.parametrize("options", [[], ["--log", "-t", "2"], ["--dim", "0"], ["--dim", "0", "--dtype", "float32", "--log"]])
def test_softmax_file_output_is_identical_to_inline_output(cli, write, fmt, options):
    logits = np.random.default_rng(6).normal(size=(30, 4)) * 5
    inline = cli("softmax", ";".join(",".join(map(repr, row)) for row in logits.tolist()), "-f", fmt, *options)
    path = write("x.csv", "".join(",".join(map(repr, row)) + "\n" for row in logits.tolist()))
    from_file = cli("softmax", path, "-f", fmt, *options)
    assert inline.status == from_file.status == 0, from_file.stderr
    assert from_file.stdout == inline.stdout


def test_a_one_column_table_is_one_vector(cli):
    assert cli("softmax", stdin=b"1\n2\n3\n4\n").stdout == cli("softmax", "1,2,3,4").stdout


def test_softmax_streams_many_blocks(cli, write):
    logits = np.random.default_rng(7).normal(size=(80_000, 3)).round(4)
    path = write("x.csv", "".join(f"{a},{b},{c}\n" for a, b, c in logits.tolist()))
    rows = cli("softmax", path).stdout.splitlines()
    assert len(rows) == 80_000
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    assert np.allclose(np.array([r.split("\t") for r in rows], dtype=float), expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("rows_shown, expected_terms", [(8, 3), (4, 2), (2, 1)])
def test_streamed_xent_table_writes_the_first_and_last_terms_in_order(cli, write, rows_shown, expected_terms):
    rng = np.random.default_rng(13)
    logits, labels = rng.normal(size=(3000, 2)).round(3), np.arange(3000) % 2
    path = write("x.csv", "a,b,label\n" + "".join(f"{a},{b},{y}\n" for (a, b), y in zip(logits.tolist(), labels)))
    terms = cli("xent", path, "-r", "none").stdout.split()
    lines = cli("xent", path, "-f", "table", "--rows", str(rows_shown), "--digits", "6").stdout.splitlines()
    line = next(line for line in lines if line.startswith("("))  # the derivation, before the notes and metrics
    written = [f"{float(t):.6g}" for t in terms[:expected_terms]] + ["…", f"{float(terms[-1]):.6g}"]
    assert line.startswith("(" + " + ".join(written) + ") / 3000 = ")


def test_streamed_xent_table_with_probability_rows(cli, write):
    logits = write("x.csv", "".join(f"{i % 3},{i % 5},{i % 7}\n" for i in range(100)))
    probs = write("p.csv", "0.2,0.3,0.5\n" * 100)
    run = cli("xent", logits, probs, "-f", "table", "--rows", "4")
    assert run.status == 0, run.stderr
    assert "⋮ 96 more rows (100 in all" in run.stdout and "/ 100 = " in run.stdout


@pytest.mark.parametrize("argv", [["mse", "-r", "sum"], ["l1"], ["softmax", "-f", "json"]])
def test_float32_file_input_matches_float32_inline_input(cli, write, argv):
    values = np.random.default_rng(14).normal(size=(150_000, 2)) * 100  # several blocks
    path = write("t.csv", "".join(f"{a!r},{b!r}\n" for a, b in values.tolist()))
    from losscli import mse, l1, softmax

    x = values.astype(np.float32)
    expected = {"mse": lambda: mse(x[:, 0], x[:, 1], reduction="sum").value,
                "l1": lambda: l1(x[:, 0], x[:, 1]).value}
    run = cli(argv[0], path, *argv[1:], "--dtype", "float32")
    assert run.status == 0, run.stderr
    if argv[0] == "softmax":
        document = json.loads(run.stdout)
        assert document["dtype"] == "float32"
        assert document["value"][:2] == [[float(str(v)) for v in row] for row in softmax(x[:2]).value]
    else:
        assert run.stdout == str(expected[argv[0]]()) + "\n"


def _fifo_run(tmp_path, name: str, content: bytes, *argv: str) -> subprocess.CompletedProcess:
    """losscli reading a named pipe that a writer fills once, as ``<(…)`` and ``mkfifo`` do; in a
    subprocess with a timeout, since a second open of a drained pipe would wait for ever."""
    fifo = tmp_path / name
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(content,), daemon=True)
    writer.start()
    done = subprocess.run([sys.executable, "-m", "losscli", argv[0], name, *argv[1:]], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    writer.join(timeout=5)
    return done


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.parametrize("reader", ["numpy", "auto"])
def test_a_named_pipe_is_read_once_and_gives_the_files_answer(tmp_path, reader, monkeypatch):
    # Reading the first bytes (is it a .npy?) and then the table each opened the pipe: the table
    # lost what the first read took (277.8 instead of 2.0), a small pipe hung.
    monkeypatch.setenv("LOSSCLI_READER", reader)
    rng = np.random.default_rng(21)
    p, t = rng.normal(size=(2, 60_000))
    text = "p,t\n" + "".join(f"{a!r},{b!r}\n" for a, b in zip(p.tolist(), t.tolist()))
    whole = _fifo_run(tmp_path, "big", text.encode(), "mse")
    assert whole.returncode == 0, whole.stderr
    assert float(whole.stdout) == pytest.approx(math.fsum(((p - t) ** 2).tolist()) / p.size, rel=1e-13)
    small = _fifo_run(tmp_path, "small", b"p,t\n1,2\n3,5\n", "mse")
    assert (small.returncode, small.stdout) == (0, "2.5\n"), small.stderr
    lines = text.splitlines(keepends=True)
    lines[50_000] = "1.5,abc\n"  # line 50001 of the file
    bad = _fifo_run(tmp_path, "bad", "".join(lines).encode(), "mse")
    assert bad.returncode == 1 and bad.stderr == "losscli: error: bad:50001: column \"t\": 'abc' is not a number\n"

