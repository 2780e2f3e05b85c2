"""How losscli reads your columns: one row per file shape, with the roles, the note and the number.

Files are written the way pandas writes them (``to_csv`` with and without its index, default
column labels 0, 1, …), by a small writer below, so pandas is not needed to run the tests. Every
expected value is computed here with numpy from the arrays written, never taken from losscli.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from losscli import columns

RNG = np.random.default_rng(8)
N = 12
YHAT, Y = RNG.normal(size=N), RNG.normal(size=N)
LOGITS = RNG.normal(size=(N, 3)) * 2
LABELS = RNG.integers(0, 3, size=N)
NAMES = ["cat", "dog", "bird"]


def to_csv(frame: dict, index: bool = True) -> str:
    """pandas' ``DataFrame.to_csv``: a header of the column labels (an empty one over the index),
    floats as repr, ints as ints."""
    labels = [str(k) for k in frame]
    rows = zip(*frame.values())
    lines = ([""] if index else []) + labels
    out = [",".join(lines)]
    for i, row in enumerate(rows):
        cells = [str(i)] if index else []
        cells += [repr(float(v)) if isinstance(v, (float, np.floating)) else str(v) for v in row]
        out.append(",".join(cells))
    return "\n".join(out) + "\n"


def mse(p, t):
    return float(np.mean((np.asarray(p) - np.asarray(t)) ** 2))


def xent(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


def softmax_rows(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


logit_frame = {f"logit_{n}": LOGITS[:, c] for c, n in enumerate(NAMES)}

# (id, argv after the file, file content, expected JSON "columns" or None, note fragment or None,
#  expected value (float, or an array for softmax))
RESOLVED = [
    ("pandas index=False, default labels", ["mse"], to_csv({0: YHAT, 1: Y}, index=False),
     {"prediction": "0", "target": "1"}, "the first row (0,1) is read as pandas' default column names", mse(YHAT, Y)),
    ("pandas index=True, default labels", ["mse"], to_csv({0: YHAT, 1: Y}),
     {"prediction": "0", "target": "1"}, "pandas' unnamed index column", mse(YHAT, Y)),
    ("pandas index=True, named", ["mse"], to_csv({"pred": YHAT, "target": Y}),
     {"prediction": "pred", "target": "target"}, "skipped 1 (pandas' unnamed index column)", mse(YHAT, Y)),
    ("target first, by name", ["mse"], to_csv({"target": Y, "prediction": YHAT}, index=False),
     {"prediction": "prediction", "target": "target"}, 'prediction = "prediction"; target = "target"', mse(YHAT, Y)),
    ("y_true,y_pred", ["l1"], to_csv({"y_true": Y, "y_pred": YHAT}, index=False),
     {"prediction": "y_pred", "target": "y_true"}, 'prediction = "y_pred"', float(np.mean(np.abs(YHAT - Y)))),
    ("y,y_hat", ["mse"], to_csv({"y": Y, "y_hat": YHAT}, index=False),
     {"prediction": "y_hat", "target": "y"}, 'prediction = "y_hat"', mse(YHAT, Y)),
    ("unclear names keep the order", ["mse"], to_csv({"a": YHAT, "b": Y}, index=False),
     {"prediction": "a", "target": "b"}, None, mse(YHAT, Y)),
    ("Unnamed: 0 from a pandas round trip", ["mse"], to_csv({"Unnamed: 0": np.arange(N), "yhat": YHAT, "y": Y}, index=False),
     {"prediction": "yhat", "target": "y"}, '"Unnamed: 0" (named like a row id)', mse(YHAT, Y)),
    ("id column and names", ["mse"], to_csv({"id": np.arange(1, N + 1), "y_hat": YHAT, "y": Y}, index=False),
     {"prediction": "y_hat", "target": "y"}, '"id" (named like a row id)', mse(YHAT, Y)),
    ("headerless, first column counts rows", ["mse"],
     "".join(f"{i},{a!r},{b!r}\n" for i, (a, b) in enumerate(zip(YHAT.tolist(), Y.tolist()))),
     {"prediction": 2, "target": 3}, "1 (counts the rows from 0)", mse(YHAT, Y)),
    ("xent: id, named logits, label, label_name", ["xent"],
     to_csv({"id": np.arange(N), **logit_frame, "label": LABELS, "label_name": [NAMES[k] for k in LABELS]}, index=False),
     {"logits": ["logit_cat", "logit_dog", "logit_bird"], "target": "label"},
     '"id" (named like a row id), "label_name" (text)', xent(LOGITS, LABELS)),
    ("xent: a fold column after the label", ["xent"],
     to_csv({**logit_frame, "label": LABELS, "fold": np.arange(N) % 5}, index=False),
     {"logits": ["logit_cat", "logit_dog", "logit_bird"], "target": "label"}, '"fold" (not named like the logit columns)',
     xent(LOGITS, LABELS)),
    ("xent: an epoch column among unnamed float logits", ["xent"],
     to_csv({"a": LOGITS[:, 0], "b": LOGITS[:, 1], "c": LOGITS[:, 2], "epoch": np.arange(N) // 4, "label": LABELS}, index=False),
     {"logits": ["a", "b", "c"], "target": "label"}, '"epoch" (whole numbers among float logits', xent(LOGITS, LABELS)),
    ("xent: --logits takes the whole-number column when asked", ["xent", "--logits", "a,b,epoch"],
     to_csv({"a": LOGITS[:, 0], "b": LOGITS[:, 1], "epoch": (np.arange(N) // 4), "label": LABELS}, index=False),
     {"logits": ["a", "b", "epoch"], "target": "label"}, None,
     xent(np.c_[LOGITS[:, :2], np.arange(N) // 4].astype(float), LABELS)),
    ("xent: pandas index and default labels", ["xent", "--target", "5"],
     to_csv({0: LOGITS[:, 0], 1: LOGITS[:, 1], 2: LOGITS[:, 2], 3: LABELS}),
     {"logits": ["0", "1", "2"], "target": "3"}, "pandas' default column names", xent(LOGITS, LABELS)),
    ("xent: --classes agrees with the header", ["xent", "--classes", "cat,dog,bird"],
     to_csv({"cat": LOGITS[:, 0], "dog": LOGITS[:, 1], "bird": LOGITS[:, 2], "label": [NAMES[k] for k in LABELS]}, index=False),
     {"logits": ["cat", "dog", "bird"], "target": "label"}, None, xent(LOGITS, LABELS)),
    ("xent: label names match logit_ columns", ["xent"],
     to_csv({**logit_frame, "label": [NAMES[k] for k in LABELS]}, index=False),
     {"logits": ["logit_cat", "logit_dog", "logit_bird"], "target": "label"}, None, xent(LOGITS, LABELS)),
    ("softmax: a label column is not a logit", ["softmax"],
     to_csv({"a": LOGITS[:, 0], "b": LOGITS[:, 1], "c": LOGITS[:, 2], "label": LABELS}, index=False),
     {"logits": ["a", "b", "c"]}, '"label" (named like a label)', softmax_rows(LOGITS)),
    ("softmax: text and index columns are skipped", ["softmax"],
     to_csv({"a": LOGITS[:, 0], "b": LOGITS[:, 1], "name": [NAMES[k] for k in LABELS]}),
     {"logits": ["a", "b"]}, '"name" (text)', softmax_rows(LOGITS[:, :2])),
    ("xent: a nan among whole-number logits is no float column", ["xent", "--nan-policy", "omit"],
     "a,b,c,label\n1,2,3,0\n2,1,1,1\n0,0,nan,2\n1,1,1,1\n", {"logits": ["a", "b", "c"], "target": "label"}, None,
     xent(np.array([[1.0, 2, 3], [2, 1, 1], [1, 1, 1]]), np.array([0, 1, 1]))),
    ("TSV with pandas' index (the header starts with a tab)", ["mse"],
     to_csv({"pred": YHAT, "target": Y}).replace(",", "\t"), {"prediction": "pred", "target": "target"},
     "skipped 1 (pandas' unnamed index column)", mse(YHAT, Y)),
    ("xent: pandas' 0,1,2 labels then a named label column", ["xent"],
     to_csv({0: LOGITS[:, 0], 1: LOGITS[:, 1], 2: LOGITS[:, 2], "label": LABELS}, index=False),
     {"logits": ["0", "1", "2"], "target": "label"}, "pandas' default column names", xent(LOGITS, LABELS)),
    ("a number is a position even where a column has that name", ["mse", "--pred", "1", "--target", "2"],
     to_csv({0: YHAT, 1: Y, 2: Y * 2}, index=False), {"prediction": "0", "target": "1"},
     '--pred 1 is column 1 ("0"), not the column named "1" (column 2): a number always means a position', mse(YHAT, Y)),
    ("softmax: --logits picks", ["softmax", "--logits", "2-3"],
     to_csv({"a": LOGITS[:, 0], "b": LOGITS[:, 1], "c": LOGITS[:, 2]}, index=False),
     {"logits": ["b", "c"]}, None, softmax_rows(LOGITS[:, 1:])),
]


def _headerless(*columns) -> str:
    return "".join(",".join(repr(float(v)) if isinstance(v, (float, np.floating)) else str(v) for v in row) + "\n"
                   for row in zip(*columns))


IDS = np.arange(1000, 1000 + N)
RESOLVED += [
    # A shard cut from a table with an id column: nothing says it is an id, so it is a logit, and said.
    ("headerless: whole numbers among float logits are read as logits, and said", ["xent", "--target", "5", "--no-header"],
     _headerless(IDS, *LOGITS.T, LABELS), {"logits": [1, 2, 3, 4], "target": 5},
     "column 1 holds whole numbers among float logits and is read as a logit (an id? --logits names the logit columns)",
     xent(np.column_stack([IDS, LOGITS]), LABELS)),
    ("headerless: --logits leaves the id out, silently", ["xent", "--target", "5", "--no-header", "--logits", "2-4"],
     _headerless(IDS, *LOGITS.T, LABELS), {"logits": [2, 3, 4], "target": 5}, None, xent(LOGITS, LABELS)),
    ("headerless: whole-number logits alone are no doubt", ["xent", "--target", "4", "--no-header"],
     _headerless(*np.round(LOGITS).astype(int).T, LABELS), None, None, xent(np.round(LOGITS), LABELS)),
]


@pytest.mark.parametrize("case", RESOLVED, ids=[row[0] for row in RESOLVED])
def test_column_roles(cli, write, case):
    _, argv, content, expected_columns, note, expected = case
    path = write("f.csv", content)
    run = cli(argv[0], path, *argv[1:], "-f", "json")
    assert run.status == 0, run.stderr
    document = json.loads(run.stdout)
    assert document.get("columns") == expected_columns
    if note is None:
        assert "note:" not in run.stderr
    else:
        assert note in run.stderr and run.stderr.count("losscli: note:") == 1
        assert cli(argv[0], path, *argv[1:], "-q").stderr == ""  # -q silences the note
    assert np.allclose(document["value"], expected, rtol=1e-12, atol=0)


def test_names_set_the_gradient_sign(cli, write):
    # target,prediction read by position would give the gradient with the wrong sign.
    path = write("f.csv", to_csv({"target": Y, "prediction": YHAT}, index=False))
    grad = json.loads(cli("mse", path, "--grad", "-f", "json").stdout)["grad"]
    assert np.allclose(grad, 2 * (YHAT - Y) / N, rtol=1e-12)


# (id, argv after the file, file content, exit status, message fragment)
REFUSED = [
    ("0,1 over whole numbers", ["mse"], "0,1\n1,1\n0,0\n1,0\n", 2,
     "the first row (0,1) may be pandas' default column names or data; say which with --header or --no-header"),
    ("three unclear columns", ["mse"], to_csv({"a": YHAT, "b": Y, "c": Y}, index=False), 2,
     'candidates: "a", "b", "c"; say which with --pred and --target'),
    ("two target-like names", ["mse"], to_csv({"truth": Y, "label": YHAT}, index=False), 2,
     "the header names do not say which is the prediction"),
    ("--classes disagrees with the header", ["xent", "--classes", "dog,cat,bird"],
     to_csv({"cat": LOGITS[:, 0], "dog": LOGITS[:, 1], "bird": LOGITS[:, 2], "label": LABELS}, index=False), 2,
     "--classes dog,cat,bird disagrees with the header"),
    ("--classes that name other classes than the header", ["xent", "--classes", "a,b,c"],
     to_csv({"cat": LOGITS[:, 0], "dog": LOGITS[:, 1], "bird": LOGITS[:, 2], "label": LABELS}, index=False), 2,
     "--classes a,b,c disagrees with the header"),
    ("two label columns", ["xent"], to_csv({"a": LOGITS[:, 0], "b": LOGITS[:, 1], "y": LABELS, "label": LABELS}, index=False), 2,
     'several columns look like labels ("y", "label"); say which with --target'),
    ("1-based labels", ["xent"], to_csv({**logit_frame, "label": LABELS + 1}, index=False), 1,
     "f.csv:{line}: class index 3 is out of range for 3 classes (0 to 2); labels from 1 to 3 look 1-based: subtract 1"),
    ("-1 as no label", ["xent"], to_csv({**logit_frame, "label": np.where(LABELS == 0, -1, LABELS)}, index=False), 1,
     "f.csv:{line}: class index -1 is negative (only ignore_index, now -100, may be); if -1 marks a missing label, add --ignore-index -1"),
    ("a bad value is a data error, not a text column", ["mse"], "y_hat,y\n1,2\n3,x\n", 1, 'f.csv:3: column "y": \'x\' is not a number'),
]


@pytest.mark.parametrize("case", REFUSED, ids=[row[0] for row in REFUSED])
def test_column_roles_refused(cli, write, case):
    _, argv, content, status, message = case
    path = write("f.csv", content)
    if "{line}" in message:  # the first offending row, counted in the written file (header = line 1)
        rows = content.splitlines()[1:]
        bad = next(i for i, row in enumerate(rows) if row.endswith((",3", ",-1")))
        message = message.format(line=bad + 2)
    run = cli(argv[0], path, *argv[1:])
    assert (run.status, run.stdout) == (status, "")
    assert message in run.stderr and run.stderr.count("\n") == 1, run.stderr


def test_no_header_overrides_the_pandas_reading(cli, write):
    path = write("f.csv", to_csv({0: YHAT, 1: Y}, index=False))
    run = cli("mse", path, "--no-header", "-f", "json")
    assert json.loads(run.stdout)["value"] == pytest.approx(mse(np.r_[0, YHAT], np.r_[1, Y]), rel=1e-12)
    assert "note:" not in run.stderr


def test_numpy_savetxt_floats_are_data(cli, write, tmp_path):
    # np.savetxt writes no header; a first row of floats is never a header.
    path = tmp_path / "s.csv"
    np.savetxt(path, np.c_[YHAT, Y], delimiter=",")
    assert float(cli("mse", str(path)).stdout) == pytest.approx(mse(YHAT, Y), rel=1e-12)


def test_a_spreadsheet_export_with_a_bom_and_crlf_reads_its_names(cli, write):
    content = "\ufeffActual;Predicted\r\n" + "".join(f"{b!r};{a!r}\r\n" for a, b in zip(YHAT.tolist(), Y.tolist()))
    run = cli("mse", write("s.csv", content), "-f", "json", "--grad")
    document = json.loads(run.stdout)
    assert document["columns"] == {"prediction": "Predicted", "target": "Actual"}
    assert np.allclose(document["grad"], 2 * (YHAT - Y) / N, rtol=1e-12)


@pytest.mark.parametrize("name, target, prediction", [
    ("target", True, False), ("Y_True", True, False), ("ground truth", True, False), ("label", True, False),
    ("y_hat", False, True), ("logit_cat", False, True), ("prob_1", False, True), ("Prediction", False, True),
    ("a", False, False), ("label_name", False, False), ("fold", False, False),
])
def test_role_names(name, target, prediction):
    assert (columns.is_target_name(name), columns.is_prediction_name(name)) == (target, prediction)


def test_swapped_files_get_a_hint(cli, write):
    labels = write("labels.csv", "label\n" + "".join(f"{k}\n" for k in LABELS))
    logits = write("logits.csv", to_csv({"a": LOGITS[:, 0], "b": LOGITS[:, 1], "c": LOGITS[:, 2]}, index=False))
    run = cli("xent", labels, logits)
    assert run.status == 2 and "did you swap them? the logits come first, then the targets" in run.stderr
    assert float(cli("xent", logits, labels).stdout) == pytest.approx(xent(LOGITS, LABELS), rel=1e-12)


def test_a_name_on_a_headerless_table_suggests_header(cli, write):
    run = cli("xent", write("f.csv", "0.5,1.5,label\n1.0,2.0,1\n"), "--target", "label", "--no-header")
    assert run.status == 2 and "if its first row names the columns, add --header" in run.stderr
