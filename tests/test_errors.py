"""The error catalogue: every mistake gets one line on stderr, the right exit status, no stdout."""

from __future__ import annotations

import pytest

USAGE, DATA = 2, 1

CATALOGUE = [
    # (argv, exit status, fragment of the one-line message)
    (["mse", "2,x,4", "1,2,3"], DATA, "prediction: value 2 is not a number: 'x'"),
    (["mse", "1,2,3", "1,2,3,4"], DATA, "target has 4 values but prediction has 3"),
    (["mse", "", "1"], DATA, "prediction is empty"),
    (["mse", "  ", "1"], DATA, "prediction is empty"),
    (["l1", "1,,2", "1,2,3"], DATA, "prediction: value 2 is empty"),
    (["l1", "1,2,", "1,2,3"], DATA, "prediction: value 3 is empty"),
    (["l1", "1,2;3", "1,2;3,4"], DATA, "prediction row 2 has 1 values but row 1 has 2"),
    (["l1", "1,2;", "1,2"], DATA, "prediction row 2 is empty"),
    (["mse", "1;2;3", "1,2,3"], DATA, "target has shape (3,) but prediction has shape (3, 1) (no broadcasting"),
    (["mse", "1_000", "1"], DATA, "prediction: value 1 is not a number: '1_000'"),
    (["mse", "0x10", "1"], DATA, "not a number: '0x10'"),
    (["mse", "1,2", "1,\x1b[31m"], DATA, "not a number: '\\x1b[31m'"),
    (["mse", "1,2"], USAGE, "'1,2' is one inline value; give the target too"),
    (["mse", "1,2", "3,4", "--reduction", "avg"], USAGE, "'avg' is not one of"),
    (["mse", "1,2", "3,4", "--format", "xml"], USAGE, "--format"),
    (["mse", "1,2", "3,4", "--frobnicate"], USAGE, "no such option: --frobnicate (see 'losscli mse --help')"),
    (["softmax", "1,2,3", "--grad"], USAGE, "no such option: --grad (see 'losscli softmax --help')"),
    (["mse", "1,2", "3,4", "--grad", "-f", "plain"], USAGE, "plain output carries only the values; use --format csv or --format json for the gradient"),
    (["xent", "1,2", "0", "-f", "plain", "-g"], USAGE, "plain output carries only the values; use --format csv or --format json"),
    (["mse", "1,2", "3,4", "-d", "ab"], USAGE, "--delimiter 'ab' cannot separate numbers"),
    (["mse", "1,2", "--frobnicate"], USAGE, "no such option: --frobnicate"),
    (["mse", "1,2", "3,4", "5"], USAGE, "unexpected extra argument"),
    (["nosuchloss", "1"], USAGE, "No such command 'nosuchloss'"),
    (["xent", "1,2,3", "5"], DATA, "target row 1: class index 5 is out of range for 3 classes (0 to 2)"),
    (["xent", "1,2,3", "1.5"], DATA, "target row 1: class index 1.5 is not a whole number"),
    (["xent", "1,2,3", "-3"], DATA, "target row 1: class index -3 is negative"),
    (["xent", "1,2;3,4", "0,1,1"], DATA, "target has shape (3,) but logits have shape (2, 2)"),
    (["xent", "1,2;3,4", ".5,.6;.5,.5"], DATA, "target row 1: the probabilities sum to 1.1; probability targets must sum to 1 (within 0.001)"),
    (["xent", "1,2;3,4", "1.5,-.5;.5,.5"], DATA, "target row 1: probability -0.5 is negative"),
    (["xent", "1,2,3", "1", "--weight", "1,2"], USAGE, "weight has 2 entries but there are 3 classes"),
    (["xent", "1,2,3", "1", "--weight", "1,-2,1"], USAGE, "weight 1 (class 1) is -2; weights must be finite and ≥ 0"),
    (["xent", "1,2,3", "1", "--weight", "1,a,1"], USAGE, "--weight: value 2 is not a number: 'a'"),
    (["xent", "1,2,3", "1", "--label-smoothing", "1.5"], USAGE, "label smoothing must be between 0 and 1, not 1.5"),
    (["xent", "1,2,3", "1", "--label-smoothing", "x"], USAGE, "--label-smoothing"),
    (["xent", "1,2,3", "1", "--ignore-index", "x"], USAGE, "--ignore-index"),
    (["xent", "1,2;3,4", ".5,.5;1,0", "--ignore-index", "0"], USAGE, "--ignore-index 0 is not supported with probability targets (as in PyTorch, only a negative ignore_index is allowed with them)"),
    (["xent", "1,2,3", ".2,.3,.5", "--ignore-index", "2"], USAGE, "--ignore-index 2 is not supported with probability targets"),
    (["xent", "1,2", "cat", "--classes", "dog,cow"], DATA, "target value 1 is neither a number nor a class name: 'cat' (classes: dog, cow)"),
    (["xent", "1,2", "0", "--classes", "a,b,c"], USAGE, "--classes names 3 classes but the logits have 2"),
    (["xent", "1,2", "0", "--classes", "a,a"], USAGE, "--classes: 'a' is given twice"),
    (["softmax", "1,2", "--temperature", "0"], USAGE, "temperature must be a positive number, not 0"),
    (["softmax", "1,2", "--temperature", "-1"], USAGE, "temperature must be a positive number, not -1"),
    (["softmax", "1,2", "--dim", "1"], USAGE, "dim 1 is out of range for a 1-D input (use one of -1, 0)"),
    (["softmax", "1,2;3,4", "--dim", "-3"], USAGE, "dim -3 is out of range for a 2-D input"),
    (["mse", "２，３", "1,2"], DATA, "prediction: full-width comma '，' in '２，３': use ','"),
    (["mse", "1,2", "2，3"], DATA, "target: full-width comma '，' in '2，3': use ','"),
    (["mse", "1；2", "1"], DATA, "full-width semicolon '；'"),
    (["mse", "[1,2],[3,4]", "1,2;3,4"], DATA, "prediction: brackets do not match; write a list as [1,2,3]"),
    (["mse", "[1,2", "1,2"], DATA, "prediction: brackets do not match"),
    (["mse", "[[1,2]x[3,4]]", "1"], DATA, "prediction: brackets do not match"),
    (["mse", "[1,,2]", "1,2,3"], DATA, "prediction: value 2 is empty"),  # inline, an empty value is a typo
    (["mse", "1,2", "3,4", "--decimal", "x"], USAGE, "--decimal 'x': use . (the default) or ,"),
    (["mse", "1,2", "3,4", "--decimal", ",", "-d", ","], USAGE, "--decimal , and --delimiter , cannot both be a comma"),
    (["xent", "1,2,3", "0", "--classes", "1,2,3"], DATA, "target value 1 is not a class name: '0' (classes: 1, 2, 3); with numeric class names"),
    (["xent", "1,2,3", "1", "--weight", "[1,2],[3]"], USAGE, "--weight: brackets do not match"),
]


# Mistakes that involve files: (argv with {dir} for the folder, files to write there, status, fragment).
FILE_CATALOGUE = [
    (["mse", "{dir}/empty.csv"], {"empty.csv": ""}, DATA, "empty.csv: no data (the input is empty)"),
    (["mse", "{dir}/h.csv"], {"h.csv": "y_hat,y\n"}, DATA, "h.csv: no data rows, only a header"),
    (["mse", "{dir}/missing.csv"], {}, DATA, "missing.csv: no such file"),
    (["mse", "{dir}", "1,2"], {}, DATA, "is a directory, not a file"),
    (["mse", "/proc/self/mem", "1,2"], {}, DATA, "/proc/self/mem: read failed near line 1"),
    (["mse", "{dir}/b.bin"], {"b.bin": b"\x00\x01\x02\x03"}, DATA, "b.bin:1: NUL byte: this looks like a binary file"),
    (["mse", "{dir}/l.csv"], {"l.csv": b"a,b\n1,2\n\xe9,3\n"}, DATA, "l.csv:3: bytes that are not UTF-8 text"),
    (["mse", "{dir}/r.csv"], {"r.csv": "a,b\n1,2\n3,4,5\n"}, DATA, "r.csv:3: 3 fields, but the header has 2"),
    (["mse", "{dir}/v.csv"], {"v.csv": "y_hat,y\n1,2\n12,5;3\n"}, DATA, 'v.csv:3: column "y": \'5;3\' is not a number'),
    (["mse", "{dir}/e.csv", "--nan-policy", "raise"], {"e.csv": "y_hat,y\n1,\n"}, DATA, 'e.csv:2: column "y": an empty value (--nan-policy raise'),
    (["mse", "{dir}/p.txt", "{dir}/t.txt"], {"p.txt": "1\n2\n3\n", "t.txt": "1\n2\n"}, DATA, "t.txt has 2 rows but"),
    (["mse", "{dir}/c.csv", "--pred", "yhat", "--target", "y"], {"c.csv": "y_hat,y\n1,2\n"}, USAGE, "--pred 'yhat': no such column; did you mean 'y_hat'?"),
    (["mse", "{dir}/c.csv", "--pred", "7", "--target", "1"], {"c.csv": "y_hat,y\n1,2\n"}, USAGE, "--pred 7: no such column"),
    (["mse", "{dir}/d.csv", "--pred", "a", "--target", "b"], {"d.csv": "a,a,b\n1,2,3\n"}, USAGE, "column name 'a' appears twice (columns 1 and 2)"),
    (["mse", "1_000", "1"], {}, DATA, "value 1 is not a number: '1_000'"),
    (["mse", "١,2", "1,2"], {}, DATA, "value 1 is not a number: '١'"),
    (["xent", "{dir}/t.csv", "--target", "4"], {"t.csv": "0.1,0.2,0.3,1\n" * 99_999 + "0.1,0.2,0.3,7\n"}, DATA, "t.csv:100000: class index 7 is out of range for 3 classes (0 to 2)"),
    (["xent", "{dir}/l.csv", "--target", "label", "--logits", "1-9"], {"l.csv": "a,b,label\n1,2,0\n"}, USAGE, "--logits 1-9: column 4: no such column"),
    (["mse", "{dir}/three.csv"], {"three.csv": "a,b,c\n1,2,3\n"}, USAGE, "has 3 columns (a, b, c): which hold the prediction and the target?; candidates: \"a\", \"b\", \"c\"; say which with --pred and --target"),
    (["mse", "-", "-"], {}, USAGE, "'-' (stdin) is given twice"),
    (["mse", "{dir}/g.csv.gz"], {"g.csv.gz": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage"}, DATA, "g.csv.gz: read failed near line 1"),
    (["mse", "{dir}/long.csv"], {"long.csv": "y_hat,y\n" + "1," * 2_000_000 + "1\n"}, DATA, "long.csv:2: 2000001 fields, but the header has 2"),
    (["mse", "{dir}/f.csv", "--delimiter", "ab"], {"f.csv": "1,2\n"}, USAGE, "--delimiter 'ab' cannot separate numbers"),
    (["l1", "{dir}/f.csv", "--grad", "--format", "plain"], {"f.csv": "1,2\n"}, USAGE, "plain output carries only the values; use --format csv"),
    (["xent", "{dir}/f.csv", "--target", "3", "-g", "-f", "plain"], {"f.csv": "1,2,0\n"}, USAGE, "plain output carries only the values"),
    (["mse", "{dir}/m.csv", "--nan-policy", "raise"], {"m.csv": "1,NA\n2,3\n"}, DATA, "m.csv:1: column 2: missing value 'NA' (--nan-policy raise"),
    (["mse", "{dir}/m.csv", "--nan-policy", "raise"], {"m.csv": "1,\n2,3\n"}, DATA, "m.csv:1: column 2: an empty value (--nan-policy raise"),
    (["xent", "{dir}/x.csv"], {"x.csv": "a,b\n1,2\n"}, USAGE, "say which column holds the labels with --target"),
    (["xent", "{dir}/x.csv", "--target", "label"], {"x.csv": "cat,dog,label\n1,2,cow\n"}, DATA, "x.csv:2: label 'cow' is not a class (cat, dog)"),
    (["xent", "{dir}/x.csv", "--target", "label", "--logits", "3-1"], {"x.csv": "a,b,label\n1,2,0\n"}, USAGE, "--logits 3-1: the range runs backwards"),
    (["mse", "{dir}/c.csv", "--pred", "0", "--target", "1"], {"c.csv": "y_hat,y\n1,2\n"}, USAGE, "--pred 0: columns are numbered from 1"),
    (["mse", "{dir}/c.csv", "--pred", "1", "--target", "0"], {"c.csv": "y_hat,y\n1,2\n"}, USAGE, "--target 0: columns are numbered from 1"),
    (["xent", "{dir}/x.csv", "--target", "3", "--logits", "0-2"], {"x.csv": "a,b,label\n1,2,0\n"}, USAGE, "--logits 0-2: column 0: columns are numbered from 1"),
    (["xent", "{dir}/x.csv", "--target", "3", "--logits", "0,1"], {"x.csv": "a,b,label\n1,2,0\n"}, USAGE, "--logits 0: columns are numbered from 1"),
    (["mse", "{dir}/n.csv", "--nan-policy", "raise"], {"n.csv": "a,b\n1,2\n3,nan\n"}, DATA, "n.csv:3: column \"b\": missing value 'nan' (--nan-policy raise"),
    (["mse", "{dir}/n.csv", "--nan-policy", "raise"], {"n.csv": "a;b\n1;2\nnull;4\n"}, DATA, "n.csv:3: column \"a\": missing value 'null'"),
    (["mse", "{dir}/eu.csv"], {"eu.csv": "a;b\n1,5;2\n"}, DATA, "eu.csv:2: column \"a\": '1,5' is not a number (a decimal comma? read it with --decimal ,)"),
    (["mse", "{dir}/eu.csv", "--decimal", ","], {"eu.csv": "a;b\n1,5;2\n1.500;3\n"}, DATA, "eu.csv:3: column \"a\": '1.500' has a '.' but --decimal is ','"),
    (["mse", "{dir}/a.zip"], {"a.zip": b"PK\x03\x04\x14\x00\x00\x00"}, DATA, "a.zip: compressed with zip; unpack it first"),
    (["mse", "{dir}/a.zst"], {"a.zst": b"\x28\xb5\x2f\xfd\x00\x00"}, DATA, "a.zst: compressed with zstd; unpack it first"),
    (["mse", "{dir}/t.bz2"], {"t.bz2": b"BZh9" + b"garbage" * 4}, DATA, "t.bz2: read failed near line 1"),
    (["mse", "{dir}/t.xz"], {"t.xz": b"\xfd7zXZ\x00" + b"garbage" * 4}, DATA, "t.xz: read failed near line 1"),
    (["xent", "1,2,3", "1", "--weight", "{dir}/w.csv"], {"w.csv": "1,2\n3,4\n"}, DATA, "--weight {dir}/w.csv: 2 rows of 2 numbers; give one number per line or one row"),
    (["xent", "1,2,3", "1", "--weight", "{dir}/w.txt"], {"w.txt": "1\nx\n1\n"}, DATA, "w.txt:2: column 1: 'x' is not a number"),
]


@pytest.mark.parametrize("argv, status, fragment", CATALOGUE, ids=[" ".join(c[0]) for c in CATALOGUE])
def test_mistake_gives_one_line_and_exit_status(cli, argv, status, fragment):
    assert_one_error_line(cli(*argv), status, fragment)


@pytest.mark.parametrize(
    "argv, files, status, fragment", FILE_CATALOGUE, ids=[" ".join(c[0]).replace("{dir}/", "") for c in FILE_CATALOGUE]
)
def test_file_mistake_gives_one_line_and_exit_status(cli, tmp_path, argv, files, status, fragment):
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    run = cli(*(a.replace("{dir}", str(tmp_path)) for a in argv), stdin=b"1,2\n")
    assert_one_error_line(run, status, fragment.replace("{dir}", str(tmp_path)))


def assert_one_error_line(run, status: int, fragment: str) -> None:
    assert run.status == status, run.stderr
    assert run.stdout == ""
    assert run.stderr.startswith("losscli: error: ")
    assert run.stderr.count("\n") == 1, run.stderr
    assert fragment in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    "argv, warning",
    [
        (["mse", "1e200", "0"], "1 term overflowed to inf (first: row 1); the inf is kept"),
        (["mse", "1,nan", "1,2"], "1 row with nan (first: row 2), so the result is nan"),
        (["xent", "0.2,0.7,0.1", "1"], "the logits look like probabilities"),
        (["xent", "1,2;3,4", "-100,-100"], "every target equals ignore_index (-100)"),
    ],
)
def test_suspicious_input_computes_with_one_warning(cli, argv, warning):
    run = cli(*argv)
    assert run.status == 0 and run.stdout
    assert run.stderr == f"losscli: warning: {warning}" + run.stderr.split(warning, 1)[1]
    assert run.stderr.count("\n") == 1


def test_quiet_silences_warnings(cli):
    run = cli("mse", "1e200", "0", "--quiet")
    assert run.status == 0 and run.stderr == "" and run.stdout == "inf\n"
