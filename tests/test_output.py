"""Machine output (plain, csv, json) carries everything asked for, one line per input row.

Expectations are computed here from the inputs (numpy and math.fsum), never taken from losscli.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass

import numpy as np
import pytest

from losscli import losses

NAN = math.nan


@dataclass(frozen=True)
class Case:
    command: str
    x: tuple  # predictions, or logit rows
    y: tuple  # targets: values, class indices, or probability rows
    weight: tuple | None = None

    @property
    def id(self) -> str:
        kind = "probs" if self.command == "xent" and np.ndim(self.y) == 2 else ""
        return "-".join(filter(None, [self.command, kind, "weighted" if self.weight else ""]))

    def options(self) -> list[str]:
        return ["--weight", ",".join(map(repr, self.weight))] if self.weight else []


def _text(values, row=",", sep=";") -> str:
    array = np.asarray(values, dtype=float)
    if array.ndim == 1:
        return row.join(map(repr, array.tolist()))
    return sep.join(row.join(map(repr, r)) for r in array.tolist())


def _labels(values) -> str:
    return ",".join(str(int(v)) for v in values)


def arguments(case: Case, source: str, write) -> list[str]:
    """The case's inputs inline, or as files (one-column files; logits and targets apart for xent)."""
    is_index = case.command == "xent" and np.ndim(case.y) == 1
    if source == "inline":
        return [_text(case.x), _labels(case.y) if is_index else _text(case.y)]
    lines = lambda values: "".join(_text(np.reshape(values, (len(values), -1)), sep="\n") + "\n")
    targets = "".join(f"{int(v)}\n" for v in case.y) if is_index else lines(case.y)
    return [write("x.csv", lines(case.x)), write("y.csv", targets)]


# --- independent expectations ------------------------------------------------------------------


def expected_terms(case: Case) -> np.ndarray:
    x, y = np.asarray(case.x, dtype=float), np.asarray(case.y, dtype=float)
    if case.command == "l1":
        return np.abs(x - y)
    if case.command == "mse":
        return (x - y) ** 2
    lse = np.log(np.exp(x - x.max(axis=1, keepdims=True)).sum(axis=1)) + x.max(axis=1)
    w = np.ones(x.shape[1]) if case.weight is None else np.asarray(case.weight)
    if y.ndim == 2:
        return -(w * y * (x - lse[:, None])).sum(axis=1)
    picked = y.astype(int)
    return w[picked] * (lse - x[np.arange(len(x)), picked])


def expected_denominator(case: Case) -> float:
    if case.command == "xent" and np.ndim(case.y) == 1 and case.weight:
        return math.fsum(np.asarray(case.weight)[np.asarray(case.y, dtype=int)])
    return float(len(case.x))


def expected_grad(case: Case, reduction: str) -> np.ndarray:
    """The gradient by hand: sign(d)/n, 2d/n, (softmax − target)·w[y]/D (÷ 1 for sum)."""
    x, y = np.asarray(case.x, dtype=float), np.asarray(case.y, dtype=float)
    scale = expected_denominator(case) if reduction == "mean" else 1.0
    if case.command == "l1":
        return np.sign(x - y) / scale
    if case.command == "mse":
        return 2 * (x - y) / scale
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    target = y if y.ndim == 2 else np.eye(x.shape[1])[y.astype(int)]
    w_y = np.ones(len(x)) if case.weight is None or y.ndim == 2 else np.asarray(case.weight)[y.astype(int)]
    return w_y[:, None] * (p - target) / scale


# Dyadic numbers: every difference, square and sum is exact, so the element-wise expectations are exact.
CASES = [
    Case("l1", (2.5, -1.0, 4.0, 0.25, 7.0), (4.0, 5.0, 3.5, 0.0, -2.0)),
    Case("mse", (2.5, -1.0, 4.0, 0.25, 7.0), (4.0, 5.0, 3.5, 0.0, -2.0)),
    Case("xent", ((1, 2, 0.5), (0.1, -1, 3), (2, 2, -0.5), (0, 1, 0)), (1, 2, 0, 1)),
    Case("xent", ((1, 2, 0.5), (0.1, -1, 3), (2, 2, -0.5), (0, 1, 0)), (1, 2, 0, 1), weight=(1, 2, 0.5)),
    Case("xent", ((1, 2, 0.5), (0.1, -1, 3)), ((0.25, 0.75, 0), (0, 0.5, 0.5))),
]
EXACT = {"l1", "mse"}  # xent goes through exp and log: compared within a few ulps


def assert_equal_values(actual, expected, command: str) -> None:
    actual, expected = np.asarray(actual, dtype=float), np.asarray(expected, dtype=float)
    if command in EXACT:
        assert actual.tolist() == expected.tolist()
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-14, atol=1e-16)


def csv_table(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


SOURCES = ["inline", "file"]


# --- 1. the gradient is never silently dropped -------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_grad_on_a_pipe_is_csv_with_the_gradient_and_the_value(cli, write, case, reduction, source):
    run = cli(case.command, *arguments(case, source, write), "-r", reduction, "--grad", *case.options())
    assert run.status == 0, run.stderr
    rows = csv_table(run.stdout)
    header, body = rows[0], rows[1:-1] if reduction != "none" else rows[1:]
    grad_columns = [i for i, name in enumerate(header) if name.startswith("grad")]
    grad = np.array([[float(r[i]) for i in grad_columns] for r in body]).squeeze(axis=1 if len(grad_columns) == 1 else None)
    assert_equal_values(grad, expected_grad(case, reduction), case.command)
    if reduction != "none":
        assert rows[-1][0] == reduction  # the value is there too


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("case", CASES[:3], ids=[c.id for c in CASES[:3]])
def test_explicit_plain_with_grad_is_a_usage_error(cli, write, case, source):
    run = cli(case.command, *arguments(case, source, write), "--grad", "-f", "plain")
    assert run.status == 2 and run.stdout == ""
    assert run.stderr == (
        "losscli: error: plain output carries only the values; use --format csv or --format json for the gradient\n"
    )


def test_auto_format_without_grad_stays_plain_and_a_terminal_gets_the_table(cli):
    assert cli("mse", "1,2", "3,5").stdout == "6.5\n"
    assert "∂loss/∂ŷ" in cli("mse", "1,2", "3,5", "--grad", tty=True).stdout


# --- 2. the reduced value is in every format ----------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_csv_ends_with_the_reduction_row_holding_the_value(cli, write, case, reduction, source):
    run = cli(case.command, *arguments(case, source, write), "-r", reduction, "-f", "csv", *case.options())
    assert run.status == 0, run.stderr
    rows = csv_table(run.stdout)
    header, footer = rows[0], rows[-1]
    assert len(rows) == 1 + len(case.x) + 1
    term = header.index("loss" if case.command == "xent" else losses.POINTWISE_LOSSES[case.command].term_key)
    assert footer[0] == reduction and len(footer) == len(header)
    assert [cell for i, cell in enumerate(footer) if i not in (0, term)] == [""] * (len(header) - 2)
    total = math.fsum(expected_terms(case))
    expected = total / expected_denominator(case) if reduction == "mean" else total
    assert_equal_values(float(footer[term]), expected, case.command)
    # The same number as plain and json give.
    same = [*arguments(case, source, write), "-r", reduction, *case.options()]
    assert float(cli(case.command, *same, "-f", "plain").stdout) == float(footer[term])
    assert json.loads(cli(case.command, *same, "-f", "json").stdout)["value"] == float(footer[term])


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_csv_of_none_has_no_reduction_row(cli, write, case, source):
    rows = csv_table(cli(case.command, *arguments(case, source, write), "-r", "none", "-f", "csv").stdout)
    assert len(rows) == 1 + len(case.x)
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(1, len(case.x) + 1)]


def test_csv_of_softmax_has_no_reduction_row(cli):
    rows = csv_table(cli("softmax", "1,2,3", "-f", "csv").stdout)
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]


def test_csv_reduction_row_of_a_matrix_leaves_the_column_index_empty(cli):
    rows = csv_table(cli("mse", "1,2;3,4", "1,2;3,6", "-r", "sum", "-f", "csv").stdout)
    assert rows[0] == ["row", "col", "pred", "target", "diff", "sq_diff"]
    assert rows[-1] == ["sum", "", "", "", "", "4.0"]  # (4 − 6)²


# --- 3. --nan-policy omit keeps one output line per input row ----------------------------------

OMIT_CASES = [
    Case("l1", (1.5, NAN, 3.0, 4.0, NAN), (1.0, 2.0, NAN, 0.5, 8.0)),
    Case("mse", (NAN, 2.0, 3.0, 4.0), (1.0, 2.5, 3.0, -1.0)),
    Case("xent", ((1, 2, 0.5), (NAN, -1, 3), (2, 2, -0.5), (0, 1, 0)), (1, 2, 0, 1)),
    Case("xent", ((1, 2, 0.5), (0.1, -1, 3), (2, NAN, -0.5)), ((0.25, 0.75, 0), (0, 0.5, 0.5), (1, 0, 0))),
]


def _missing(case: Case) -> np.ndarray:
    x, y = np.asarray(case.x, dtype=float), np.asarray(case.y, dtype=float)
    rows = lambda a: np.isnan(a).reshape(len(case.x), -1).any(axis=1)
    return rows(x) | rows(y)


def _kept(case: Case) -> Case:
    keep = ~_missing(case)
    pick = lambda values: tuple(v for v, k in zip(values, keep) if k)
    return Case(case.command, pick(case.x), pick(case.y), case.weight)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("case", OMIT_CASES, ids=[c.id for c in OMIT_CASES])
def test_omit_plain_none_writes_nan_for_each_omitted_row(cli, write, case, source):
    run = cli(case.command, *arguments(case, source, write), "--nan-policy", "omit", "-r", "none")
    assert run.status == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == len(case.x)
    values = np.array([float(line) for line in lines])
    assert np.isnan(values).tolist() == _missing(case).tolist()
    assert_equal_values(values[~_missing(case)], expected_terms(_kept(case)), case.command)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("case", OMIT_CASES, ids=[c.id for c in OMIT_CASES])
def test_omit_json_holds_null_at_the_omitted_rows(cli, write, case, reduction, source):
    run = cli(case.command, *arguments(case, source, write), "--nan-policy", "omit", "-r", reduction, "-f", "json", "-g")
    document = json.loads(run.stdout)
    missing = _missing(case).tolist()
    assert [t is None for t in document["terms"]] == missing
    if reduction == "none":
        assert document["value"] == document["terms"]
    else:  # the reduction still skips them: n counts the kept rows
        kept = _kept(case)
        assert document["n"] == len(kept.x) and document["omitted"] == sum(missing)
        assert_equal_values(document["value"], math.fsum(expected_terms(kept)) / expected_denominator(kept), case.command)
    gone = [g is None or (isinstance(g, list) and all(v is None for v in g)) for g in document["grad"]]
    assert gone == missing
    kept_grad = [g for g, m in zip(document["grad"], missing) if not m]
    assert_equal_values(kept_grad, expected_grad(_kept(case), reduction), case.command)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("case", OMIT_CASES, ids=[c.id for c in OMIT_CASES])
def test_omit_csv_writes_every_row_with_its_inputs(cli, write, case, reduction, source):
    run = cli(case.command, *arguments(case, source, write), "--nan-policy", "omit", "-r", reduction, "-f", "csv", "-g")
    rows = csv_table(run.stdout)
    header, body = rows[0], rows[1 : 1 + len(case.x)]
    assert len(rows) == 1 + len(case.x) + (reduction != "none")
    assert [r[0] for r in body] == [str(i) for i in range(1, len(case.x) + 1)]
    inputs = [i for i, h in enumerate(header) if h.split("_")[0] in ("pred", "logits")]
    x = np.array([[float(r[i]) for i in inputs] for r in body])
    np.testing.assert_array_equal(x.reshape(np.shape(case.x)), np.asarray(case.x, dtype=float))  # nan == nan here
    term = header.index("loss" if case.command == "xent" else losses.POINTWISE_LOSSES[case.command].term_key)
    terms = np.array([float(r[term]) for r in body])
    assert np.isnan(terms).tolist() == _missing(case).tolist()
    for r, missing in zip(body, _missing(case)):
        if missing:
            assert all(math.isnan(float(r[i])) for i, h in enumerate(header) if h.startswith("grad"))


@pytest.mark.parametrize("command", ["l1", "mse", "xent"])
def test_omit_help_says_what_output_keeps(cli, capsys, command):
    assert cli(command, "--help").status == 0
    help_text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "one line per input row" in help_text


# --- 4. class names reach the machine formats -------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
def test_class_names_in_json_and_a_name_per_row_in_csv(cli, write, source):
    names = ["cat", "dog", "bird"]
    labels = ["dog", "bird", "cat", "dog"]
    logits = "1,2,0.5;0.1,-1,3;2,2,-0.5;0,1,0"
    if source == "inline":
        argv = [logits, ",".join(labels), "--classes", ",".join(names)]
    else:
        argv = [write("x.csv", "cat,dog,bird,label\n" + "".join(
            f"{row},{label}\n" for row, label in zip(logits.split(";"), labels)))]
    document = json.loads(cli("xent", *argv, "-f", "json").stdout)
    assert document["class_names"] == names and document["classes"] == 3
    rows = csv_table(cli("xent", *argv, "-f", "csv").stdout)
    header = rows[0]
    assert header[header.index("target") + 1] == "target_name"
    body = rows[1:-1]
    assert [r[header.index("target_name")] for r in body] == labels
    assert [names[int(r[header.index("target")])] for r in body] == labels


def test_class_names_are_absent_when_none_were_given(cli):
    assert "class_names" not in json.loads(cli("xent", "1,2;3,4", "0,1", "-f", "json").stdout)
    assert "target_name" not in cli("xent", "1,2;3,4", "0,1", "-f", "csv").stdout


def test_an_ignored_or_omitted_row_has_an_empty_class_name(cli):
    run = cli("xent", "1,2;3,4;nan,1", "0,1,1", "--classes", "a,b", "--ignore-index", "-1", "-f", "csv",
              "--nan-policy", "omit")
    rows = csv_table(run.stdout)
    assert [r[rows[0].index("target_name")] for r in rows[1:4]] == ["a", "b", "b"]
    run = cli("xent", "1,2;3,4", "0,-100", "--classes", "a,b", "-f", "csv")
    rows = csv_table(run.stdout)
    assert [r[rows[0].index("target_name")] for r in rows[1:3]] == ["a", ""]


# --- exact numbers: every float reads back as the API's float64 ---------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("command", ["l1", "mse", "xent"])
def test_every_csv_and_json_number_reads_back_as_the_api_result(cli, command, reduction):
    rng = np.random.default_rng(11)
    if command == "xent":
        x, y = rng.normal(size=(7, 3)) * 3, rng.integers(0, 3, size=7)
        argv = [_text(x), _labels(y)]
        api = losses.cross_entropy(x, y, reduction=reduction)
        per_row = {"loss": api.terms, "p_target": api.column("p_target").values}
    else:
        x, y = rng.normal(size=9) / 3, rng.normal(size=9) * 7
        argv = [_text(x), _text(y)]
        api = losses.elementwise_loss(command, x, y, reduction=reduction)
        per_row = {"diff": api.column("diff").values, losses.POINTWISE_LOSSES[command].term_key: api.terms}
    rows = csv_table(cli(command, *argv, "-r", reduction, "-f", "csv", "-g").stdout)
    header, body = rows[0], rows[1 : 1 + len(x)]
    for key, values in per_row.items():
        assert [float(r[header.index(key)]) for r in body] == values.tolist()
    grad = [[float(r[i]) for i, h in enumerate(header) if h.startswith("grad")] for r in body]
    assert np.array(grad).reshape(api.grad.shape).tolist() == api.grad.tolist()
    document = json.loads(cli(command, *argv, "-r", reduction, "-f", "json", "-g").stdout)
    assert document["terms"] == api.terms.tolist() and document["grad"] == api.grad.tolist()
    assert document["value"] == np.asarray(api.value).tolist()
    if reduction != "none":
        assert float(rows[-1][header.index("loss" if command == "xent" else key)]) == float(api.value)


# --- 5. warnings that fit ------------------------------------------------------------------------

NAN_NOTE = "1 row with nan (first: row 2), so the result is nan; --nan-policy omit skips them"
IGNORED = "every target equals ignore_index (-100): "

WARNINGS = [
    # (argv, the one warning, what stdout shows, as the warning says)
    (["l1", "1,nan", "1,2"], NAN_NOTE, ["nan"]),
    (["mse", "1,nan", "1,2"], NAN_NOTE, ["nan"]),
    (["xent", "1,2;nan,1", "0,1"], NAN_NOTE, ["nan"]),
    (["l1", "inf,1", "1,1"], "1 row with inf (first: row 1), so its term is inf, as PyTorch gives it", ["inf"]),
    (["mse", "1,2,-inf", "1,inf,0", "-r", "none"],
     "2 rows with inf (first: row 2), so their terms are inf, as PyTorch gives it", ["0.0", "inf", "inf"]),
    # inf − inf is a nan the computation makes: --nan-policy's warning, which says how it came about
    (["mse", "1,inf", "1,inf", "-r", "none"], "1 row with nan (first: row 2; made by the computation: ŷ − y is inf − inf), "
     "so the result is nan; --nan-policy omit skips them", ["0.0", "nan"]),
    (["xent", "1,2;inf,1", "0,0", "-r", "none"], "1 row with nan (first: row 2; made by the computation: a logit of +inf "
     "gives inf − inf in the softmax), so the result is nan; --nan-policy omit skips them", ["1.3132616875182228", "nan"]),
    (["xent", "1,2;-inf,1", "0,0", "-r", "none"], "1 row with inf (first: row 2), so its term is inf, as PyTorch gives it",
     ["1.3132616875182228", "inf"]),
    (["softmax", "1,nan,3"], "the input holds nan, so its softmax is nan, as PyTorch gives it", ["nan\tnan\tnan"]),
    (["softmax", "1,1;inf,0"], "1 row with inf (first: row 2), so its softmax is nan, as PyTorch gives it",
     ["0.5\t0.5", "nan\tnan"]),
    (["softmax", "1,nan;1,3", "--dim", "0"], "1 column with nan (first: column 2), so its softmax is nan, as PyTorch gives it",
     ["0.5\tnan", "0.5\tnan"]),
    (["softmax", "-inf,-inf;nan,0"], "2 rows with nan or only -inf (first: row 1), so their softmax is nan, as PyTorch gives it",
     ["nan\tnan", "nan\tnan"]),
    (["xent", "1,2;3,4", "-100,-100", "-r", "sum"], IGNORED + "the sum is 0 and the gradient zero, as in PyTorch", ["0.0"]),
    (["xent", "1,2;3,4", "-100,-100", "-r", "mean"], IGNORED + "the mean is nan (0 / 0) and the gradient zero, as in PyTorch", ["nan"]),
    (["xent", "1,2;3,4", "-100,-100", "-r", "none"], IGNORED + "every term is 0 and the gradient zero, as in PyTorch", ["0.0", "0.0"]),
]
PROBABILITIES = "the logits look like probabilities (each row is in [0, 1] and sums to 1); cross-entropy applies "


@pytest.mark.parametrize("argv, warning, shown", WARNINGS, ids=[" ".join(w[0]) for w in WARNINGS])
def test_a_suspicious_result_gets_one_warning_that_says_what_happened(cli, argv, warning, shown):
    run = cli(*argv)
    assert run.status == 0
    assert run.stderr == f"losscli: warning: {warning}\n"
    assert run.stdout.splitlines() == shown


@pytest.mark.parametrize(
    "argv",
    [
        ["xent", "-inf,1;1,2", "1,1"],  # -inf masks a class that is not the target: the loss is finite
        ["softmax", "-inf,0,1"],  # masked entries get probability 0
        ["xent", "0.5,0.4,0.05", "1"],  # sums to 0.95: not softmax output, even rounded
        ["mse", "1e300,1", "0,1", "-r", "none", "-f", "json"],  # overflow has its own note, not the inf one
    ],
)
def test_no_inf_or_probability_warning_where_nothing_is_amiss(cli, argv):
    stderr = cli(*argv).stderr
    assert "with inf" not in stderr and "softmax is nan" not in stderr and "look like probabilities" not in stderr


@pytest.mark.parametrize("logits", ["0.333,0.333,0.333;0.212,0.576,0.212", ",".join(["0.143"] * 7), "0.1,0.9;0.505,0.5"])
def test_rounded_softmax_output_as_logits_still_warns(cli, logits):
    labels = ",".join(["1"] * len(logits.split(";")))
    assert cli("xent", logits, labels).stderr.startswith("losscli: warning: " + PROBABILITIES)


def test_streamed_inputs_warn_as_inline_ones_with_rows_of_the_whole_input(cli, write):
    softmax = cli("softmax", write("s.csv", "1.5,2.5\n3.5,4.5\nnan,1.5\ninf,3.5\n"))
    assert softmax.stderr == "losscli: warning: 2 rows with nan or inf (first: row 3), so their softmax is nan, as PyTorch gives it\n"
    mse = cli("mse", write("m.csv", "p,t\n1,2\n3,inf\n"))
    assert mse.stderr == cli("mse", "1,3", "2,inf").stderr == (
        "losscli: warning: 1 row with inf (first: row 2), so its term is inf, as PyTorch gives it\n"
    )
    xent = cli("xent", write("x.csv", "1.5,2.5\ninf,1.5\n"), write("y.csv", "0\n1\n"))
    assert xent.stderr == cli("xent", "1.5,2.5;inf,1.5", "0,1").stderr == (
        "losscli: warning: 1 row with nan (first: row 2; made by the computation: a logit of +inf gives inf − inf "
        "in the softmax), so the result is nan; --nan-policy omit skips them\n"
    )


@pytest.mark.parametrize("ignore_index", ["-100", "-1"])
def test_a_negative_ignore_index_is_allowed_with_probability_targets(cli, ignore_index):
    default = cli("xent", "1,2;3,4", "0.5,0.5;1,0")
    assert cli("xent", "1,2;3,4", "0.5,0.5;1,0", "--ignore-index", ignore_index).stdout == default.stdout
