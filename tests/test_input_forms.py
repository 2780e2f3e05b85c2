"""Common ways people write the same numbers: each form gives what the plain form gives.

Every expectation is the plain form (inline values, or a hand computation), never the code's own
output for the odd form. File forms run under both readers: the polars one (default when
installed) and LOSSCLI_READER=numpy.
"""

from __future__ import annotations

import bz2
import json
import lzma
import math
import os

import numpy as np
import pytest

from .conftest import without_columns

from losscli import fast_reader, readers

READERS = ["fast", "numpy"]


@pytest.fixture(params=READERS)
def reader(request, monkeypatch):
    if request.param == "numpy":
        monkeypatch.setenv("LOSSCLI_READER", "numpy")
    else:
        monkeypatch.delenv("LOSSCLI_READER", raising=False)
    return request.param


# --- missing values in files -----------------------------------------------------------------

PRED, TARGET = [2.0, 3.0, 4.0, 5.0, 6.0], [4.0, 5.0, 6.0, 7.0, 9.0]
MISSING_AT = 2  # the third row's target is missing


def table_with_missing(token: str) -> str:
    """What pandas' ``to_csv()`` writes (index column, empty header cell), with ``token`` for NaN."""
    rows = [f"{i},{p},{token if i == MISSING_AT else t}" for i, (p, t) in enumerate(zip(PRED, TARGET))]
    return ",y_hat,y\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize("token", ["", "NA", "N/A", "n/a", "NULL", "null", "None", "<NA>", "nan", "NaN", '""'])
def test_missing_values_follow_nan_policy(cli, write, reader, token):
    path = write("pandas.csv", table_with_missing(token))
    kept = [i for i in range(len(PRED)) if i != MISSING_AT]
    by_hand = sum((PRED[i] - TARGET[i]) ** 2 for i in kept) / len(kept)

    omitted = cli("mse", path, "--pred", "y_hat", "--target", "y", "--nan-policy", "omit")
    assert omitted.status == 0, omitted.stderr
    assert float(omitted.stdout) == by_hand
    assert "1 row with nan omitted" in omitted.stderr

    propagated = cli("mse", path, "--pred", "y_hat", "--target", "y")
    assert propagated.status == 0 and math.isnan(float(propagated.stdout))
    assert f"first: row {MISSING_AT + 1}" in propagated.stderr

    raised = cli("mse", path, "--pred", "y_hat", "--target", "y", "--nan-policy", "raise")
    assert raised.status == 1 and raised.stdout == ""
    assert raised.stderr.startswith(f"losscli: error: {path}:{MISSING_AT + 2}: column \"y\": ")


def test_missing_values_give_identical_bytes_in_both_readers(cli, write, monkeypatch):
    rng = np.random.default_rng(3)
    lines = ["p,t"]
    for k, (p, t) in enumerate(zip(rng.normal(size=300).tolist(), rng.normal(size=300).tolist())):
        lines.append(f"{p!r},{['NA', '', 'null'][k % 3] if k % 7 == 0 else repr(t)}")
    path = write("r.csv", "\r\n".join(lines) + "\r\n")  # R's write.csv on Windows: NA, CRLF
    outputs = {}
    for name in READERS:
        monkeypatch.setenv("LOSSCLI_READER", "numpy" if name == "numpy" else "auto")
        outputs[name] = [cli("l1", path, "-r", r, "-f", "csv", "--nan-policy", p).stdout for r, p in
                         [("none", "propagate"), ("mean", "omit"), ("sum", "propagate")]]
    assert outputs["fast"] == outputs["numpy"]
    assert outputs["fast"][0].count("nan") >= 300 // 7  # the missing rows are there, as nan


def test_the_fast_reader_reads_missing_values_itself_and_declines_ragged_rows():
    values = fast_reader.parse_block(b"1,NA\n,4\n5,6\n", 2, ",")
    assert values is not None  # accepted, not handed to numpy
    assert np.isnan(values[0, 1]) and np.isnan(values[1, 0]) and values[2].tolist() == [5.0, 6.0]
    assert fast_reader.parse_block(b"1,2\n3\n", 2, ",") is None  # a short row is not a missing value
    assert fast_reader.parse_block(b"1,2\n\n3,4\n", 2, ",") is None  # nor is a blank line
    assert fast_reader.parse_block(b"1\n\n3\n", 1, ",") is None
    assert fast_reader.parse_block(b"1,NA\n", 2, ",", strict_nan=True) is None  # raise: numpy names the line


def test_a_blank_line_in_a_one_column_file_is_skipped_not_missing(cli, write, reader):
    path = write("col.txt", "2\n\n3\nNA\n4\n")
    run = cli("softmax", path, "--format", "csv")
    assert run.status == 0
    assert run.stdout.count("\n") == 1 + 4  # header and 4 values: the blank line is no row


# --- European CSV ----------------------------------------------------------------------------


EXCEL_EUROPEAN = "\ufeffvorhersage;ziel\r\n2,5;4\r\n3;5,25\r\n-0,5;1e-1\r\n"  # Excel (de-DE): BOM, CRLF, ';', ','
PLAIN_PRED, PLAIN_TARGET = "2.5,3,-0.5", "4,5.25,1e-1"


@pytest.mark.parametrize("options", [["--decimal", ","], ["--decimal", ",", "-d", ";"], ["--decimal", "comma"]])
def test_decimal_comma_reads_a_european_csv(cli, write, reader, options):
    path = write("excel.csv", EXCEL_EUROPEAN.encode("utf-8"))
    plain = cli("mse", PLAIN_PRED, PLAIN_TARGET, "-f", "json")
    run = cli("mse", path, *options, "-f", "json")
    assert run.status == 0, run.stderr
    assert without_columns(run.stdout) == plain.stdout
    assert json.loads(run.stdout)["columns"] == {"prediction": "vorhersage", "target": "ziel"}


def test_decimal_comma_with_tabs(cli, write, reader):
    path = write("t.tsv", "2,5\t4\n3\t5,25\n-0,5\t1e-1\n")
    assert cli("mse", path, "--decimal", ",", "-d", "tab").stdout == cli("mse", PLAIN_PRED, PLAIN_TARGET).stdout


def test_decimal_comma_applies_to_a_list_option_file(cli, write):
    weights = write("w.txt", "1\n2\n0,5\n")
    assert cli("xent", "1,2,0.5", "2", "--weight", weights, "--decimal", ",").stdout == cli(
        "xent", "1,2,0.5", "2", "--weight", "1,2,0.5"
    ).stdout


# --- compressed files ------------------------------------------------------------------------

SEED = "y_hat,y\n2,4\n3,5\n4,6\n5,7\n"


@pytest.mark.parametrize("compress, name", [(bz2.compress, "seed.csv.bz2"), (lzma.compress, "seed.csv.xz"), (lzma.compress, "seed.dat")])
def test_bzip2_and_xz_are_read_by_content(cli, write, reader, compress, name):
    assert cli("mse", write(name, compress(SEED.encode()))).stdout == cli("mse", "2,3,4,5", "4,5,6,7").stdout


@pytest.mark.parametrize("compress", [bz2.compress, lzma.compress, __import__("gzip").compress])
def test_progress_of_a_compressed_file_counts_compressed_bytes(write, compress):
    content = "".join(f"{i},{i % 7}\n" for i in range(200_000)).encode()
    path = write("big.bin", compress(content))
    seen: list[int] = []
    table = readers.TableOptions(on_progress=seen.append).open(readers.Source(path, path))
    rows = sum(block.values.shape[0] for block in table.blocks([0, 1]))
    assert rows == 200_000
    assert max(seen) == os.path.getsize(path) == readers.total_bytes([readers.Source(path, path)])
    assert seen == sorted(seen)


def test_a_fifo_has_no_total(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert readers.total_bytes([readers.Source(str(fifo), str(fifo))]) is None


# --- inline forms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pred, target, plain_pred, plain_target",
    [
        ("[2, 3, 4, 5]", "[4,5,6,7]", "2,3,4,5", "4,5,6,7"),
        ("[[1,2],[3,4]]", "[[1, 2], [3, 5]]", "1,2;3,4", "1,2;3,5"),
        ("[[1. 2.]\n [3. 4.]]", "[[1 2] [3 5]]", "1,2;3,4", "1,2;3,5"),  # numpy's print
        ("[1,2;3,4]", "1,2;3,5", "1,2;3,4", "1,2;3,5"),  # MATLAB's
        (" [ -1.5, 2e3 ] ", "[0,0]", "-1.5,2e3", "0,0"),
    ],
)
def test_bracketed_lists_equal_the_plain_form(cli, pred, target, plain_pred, plain_target):
    plain = cli("mse", plain_pred, plain_target, "-f", "json")
    run = cli("mse", pred, target, "-f", "json")
    assert plain.status == 0 and run.status == 0, run.stderr
    assert run.stdout == plain.stdout


def test_bracketed_logits_labels_and_weights(cli):
    plain = cli("xent", "1,2,0.5;0.1,-1,3", "1,2", "--weight", "1,2,0.5", "-f", "json")
    run = cli("xent", "[[1, 2, 0.5], [0.1, -1, 3]]", "[1, 2]", "--weight", "[1, 2, 0.5]", "-f", "json")
    assert run.stdout == plain.stdout


def test_a_space_as_delimiter_means_runs_of_white_space(cli, write, reader):
    path = write("s.txt", "2  4\n3 5\n4\t6\n5 7\n")
    expected = cli("mse", "2,3,4,5", "4,5,6,7").stdout
    assert cli("mse", path, "-d", " ").stdout == expected
    assert cli("mse", path, "-d", "space").stdout == expected


@pytest.mark.parametrize("content", ["1\n2\n0.5\n", "1,2,0.5\n", "w\n1\n2\n0.5\n", "1;2;0.5"])
def test_weight_file_equals_inline_weights(cli, write, reader, content):
    path = write("w.txt", content)
    plain = cli("xent", "1,2,0.5;0.1,-1,3", "1,2", "--weight", "1,2,0.5", "-f", "json")
    run = cli("xent", "1,2,0.5;0.1,-1,3", "1,2", "--weight", path, "-f", "json")
    assert run.status == 0, run.stderr
    assert run.stdout == plain.stdout


# --- numbers are values, never file names ----------------------------------------------------


def test_numbers_are_values_even_where_files_have_their_names(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "2").write_text("10\n")
    (tmp_path / "3").write_text("20\n")
    (tmp_path / "0").mkdir()
    (tmp_path / "1").mkdir()
    assert float(cli("mse", "2", "3").stdout) == (2 - 3) ** 2
    assert float(cli("l1", "0", "1").stdout) == abs(0 - 1)
    assert float(cli("mse", "2,3", "3,3").stdout) == ((2 - 3) ** 2 + 0) / 2
    assert float(cli("mse", "./2", "./3").stdout) == (10 - 20) ** 2  # a file is reached by its path


# --- numeric class names ---------------------------------------------------------------------


def test_numeric_class_names_are_read_as_names_with_a_warning(cli, write, reader):
    # Star ratings 1..5 as class names: target "5" is the fifth class (index 4).
    logits = "0.1,0.2,0.3,0.4,0.5;1,0,0,0,2"
    by_index = cli("xent", logits, "4,0", "-f", "json")
    by_name = cli("xent", logits, "5,1", "--classes", "1,2,3,4,5", "-f", "json")
    assert by_name.status == 0
    assert json_terms(by_name.stdout) == json_terms(by_index.stdout)
    assert by_name.stderr.count("\n") == 1 and "read as class names only" in by_name.stderr
    assert "read as class names only" in json.loads(by_name.stdout)["notes"][0]  # said in JSON too
    table = write("stars.csv", "c1,c2,c3,c4,c5,stars\n0.1,0.2,0.3,0.4,0.5,5\n1,0,0,0,2,1\n")
    from_file = cli("xent", table, "--target", "stars", "--logits", "1-5", "--classes", "1,2,3,4,5", "-f", "json")
    assert json_terms(from_file.stdout) == json_terms(by_index.stdout)


def test_class_names_equal_to_their_indices_need_no_warning(cli):
    run = cli("xent", "1,2,3", "2", "--classes", "0,1,2")
    assert run.stderr == "" and run.stdout == cli("xent", "1,2,3", "2").stdout


def json_terms(text: str) -> tuple:
    document = json.loads(text)
    return document["value"], document["terms"]


@pytest.mark.parametrize("content", [
    "a,b,label\n1,NA,cat\n\n2,3,dog\n",
    "a,b,label\r\n1, NA ,cat\r\n\r\n# a,,comment\r\n2,3,dog\r\n",
    "a;b;label\n;1;cat\n2;3;dog\n",
])
def test_missing_values_beside_a_text_column_and_blank_lines(cli, write, reader, content):
    path = write("labels.csv", content)
    run = cli("xent", path, "--target", "label", "--classes", "cat,dog", "--nan-policy", "omit", "-f", "json")
    plain = cli("xent", "2,3", "dog", "--classes", "cat,dog", "-f", "json")
    assert run.status == 0, run.stderr
    value, terms = json_terms(run.stdout)
    # the omitted row keeps its place as null (--nan-policy omit keeps one output row per input row)
    assert (value, [t for t in terms if t is not None]) == json_terms(plain.stdout) and terms.count(None) == 1
    assert json.loads(run.stdout)["omitted"] == 1
