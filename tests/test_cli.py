"""The command line on inline input: seed examples, every option, every output format."""

from __future__ import annotations

import csv
import io
import json
import shlex

import numpy as np
import pytest

from losscli import POINTWISE_LOSSES, __version__

from .golden import CASES, assert_matches, case_ids


# --- the seed examples ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["l1", "2,3,4,5", "4,5,6,7"], 2.0),
        (["mse", "2,3,4,5", "4,5,6,7"], 4.0),
        (["l1", "2,3,4,5", "4,5,6,7", "--reduction", "sum"], 8.0),
        (["mse", "2,3,4,5", "4,5,6,7", "--reduction", "sum"], 16.0),
    ],
)
def test_seed_examples_print_the_bare_value_on_a_pipe(cli, argv, expected):
    run = cli(*argv)
    assert run.status == 0, run.stderr
    assert run.stdout == f"{expected!r}\n"
    assert run.stderr == ""


def test_seed_softmax_matches_pytorch(cli):
    run = cli("softmax", "1,2,3,4", "--format", "json")
    expected = next(c for c in CASES if c["id"] == "seed-softmax")["expected"]["float64"]["value"]
    assert_matches(json.loads(run.stdout)["value"], expected, "float64")


def test_space_separated_values_equal_comma_separated(cli):
    assert cli("mse", "2 3 4 5", "4 5 6 7").stdout == cli("mse", "2,3,4,5", "4,5,6,7").stdout


def test_negative_positionals_need_no_double_dash(cli):
    run = cli("l1", "-1,-2", "3,4")
    assert run.status == 0, run.stderr
    assert run.stdout == "5.0\n"  # (|-1-3| + |-2-4|) / 2


def test_scientific_nan_and_inf_parse(cli):
    run = cli("l1", "1e2,nan,-inf", "1E2,0,0", "--reduction", "none")
    assert run.stdout.split() == ["0.0", "nan", "inf"]


# --- every case of the golden file, through --format json ------------------------------------


def argv_for(case: dict, dtype: str) -> list[str]:
    def inline(values) -> str:
        array = np.asarray(values, dtype=float)
        rows = array.reshape(1, -1) if array.ndim <= 1 else array
        return ";".join(",".join(repr(float(v)) for v in row) for row in rows)

    argv = [case["op"], inline(case["input"])]
    if case["op"] in ("l1", "mse", "xent"):
        if case["op"] == "xent" and case["target_kind"] == "index":
            target = ",".join(str(int(v)) for v in np.ravel(case["target"]))
        else:
            target = inline(case["target"])
        argv += [target, "--reduction", case["reduction"], "--grad"]
    if "weight" in case:
        argv += ["--weight", inline(case["weight"])]
    for key in ("ignore_index", "label_smoothing", "dim", "temperature"):
        if key in case:
            argv += ["--" + key.replace("_", "-"), str(case[key])]
    if case.get("log"):
        argv.append("--log")
    return argv + ["--dtype", dtype, "--format", "json"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_golden_case_through_the_cli(cli, case, dtype):
    run = cli(*argv_for(case, dtype))
    assert run.status == 0, run.stderr
    document = json.loads(run.stdout)
    expected = case["expected"][dtype]
    assert document["dtype"] == dtype
    value, grad = document["value"], document.get("grad")
    if np.shape(case["input"])[0] == 1 and np.ndim(case["input"]) == 2:
        # Inline text has no way to write a one-row matrix: "1,2,3" is a vector. Same numbers.
        value = np.reshape(value, np.shape(expected["value"]))
        grad = np.reshape(grad, np.shape(expected["grad"])) if "grad" in expected else None
    assert_matches(value, expected["value"], dtype)
    if "grad" in expected:
        assert_matches(grad, expected["grad"], dtype)


# --- options ---------------------------------------------------------------------------------


def test_reduction_none_prints_one_value_per_line(cli):
    run = cli("mse", "2,3,4,5", "4,5,7,7", "-r", "none")
    assert run.stdout.splitlines() == ["4.0", "4.0", "9.0", "4.0"]


def test_grad_in_json_is_the_pytorch_gradient(cli):
    document = json.loads(cli("mse", "2,3,4,5", "4,5,6,7", "--grad", "-f", "json").stdout)
    assert document["grad"] == [-1.0, -1.0, -1.0, -1.0]  # 2(ŷ−y)/n


def test_l1_gradient_is_zero_where_prediction_equals_target(cli):
    document = json.loads(cli("l1", "1,2,3", "1,0,5", "--grad", "-f", "json", "-r", "sum").stdout)
    assert document["grad"] == [0.0, 1.0, -1.0]


def test_no_grad_key_without_grad(cli):
    assert "grad" not in json.loads(cli("mse", "1,2", "1,3", "-f", "json").stdout)


def test_xent_weighted_mean_divides_by_the_target_weights(cli):
    # semantics.md worked example: 2.800383900387449 / 5.5
    x = "1,2,0.5;0.1,-1,3;2,2,-0.5;0,1,0"
    document = json.loads(cli("xent", x, "1,2,0,1", "--weight", "1,2,0.5", "-f", "json").stdout)
    assert document["value"] == pytest.approx(0.5091607091613544, rel=1e-12)
    assert document["denominator"] == 5.5
    assert document["denominator_is"] == "Σ w[y]"


def test_xent_ignore_index_drops_the_row_from_numerator_and_denominator(cli):
    x = "1,2,0.5;0.1,-1,3;2,2,-0.5;0,1,0"
    run = cli("xent", x, "1,-100,0,1", "--weight", "1,2,0.5", "-f", "json")
    assert json.loads(run.stdout)["value"] == pytest.approx(0.5529993581814406, rel=1e-12)


def test_xent_every_target_ignored_gives_nan_and_says_why(cli):
    run = cli("xent", "1,2;3,4", "-100,-100", "-f", "json", "--grad")
    document = json.loads(run.stdout)
    assert document["value"] is None  # nan, as PyTorch; JSON has no NaN token
    assert document["grad"] == [[0.0, 0.0], [0.0, 0.0]]
    assert "every target equals ignore_index" in run.stderr


def test_xent_label_smoothing_matches_semantics_example(cli):
    x = "1,2,0.5;0.1,-1,3;2,2,-0.5;0,1,0"
    plain = cli("xent", x, "1,2,0,1", "--label-smoothing", "0.1")
    weighted = cli("xent", x, "1,2,0,1", "--label-smoothing", "0.1", "--weight", "1,2,0.5")
    assert float(plain.stdout) == pytest.approx(0.570822711290258, rel=1e-12)
    assert float(weighted.stdout) == pytest.approx(0.5901831309203519, rel=1e-12)


def test_xent_probability_targets_divide_by_n_even_with_weights(cli):
    x = "1,2,0.5;0.1,-1,3;2,2,-0.5;0,1,0"
    p = ".2,.7,.1;0,0,1;.5,.25,.25;.25,.5,.25"
    assert float(cli("xent", x, p).stdout) == pytest.approx(0.8237393779569246, rel=1e-12)
    weighted = json.loads(cli("xent", x, p, "--weight", "1,2,0.5", "-f", "json").stdout)
    assert weighted["value"] == pytest.approx(0.8368432760238844, rel=1e-12)
    assert weighted["denominator"] == 4 and weighted["target_kind"] == "probs"


def test_xent_single_sample_with_a_scalar_target(cli):
    assert float(cli("xent", "1000,-1000,0", "1").stdout) == 2000.0


def test_xent_class_names_as_targets(cli):
    by_name = cli("xent", "1,2,0.5;0.1,-1,3", "dog,bird", "--classes", "cat,dog,bird")
    by_index = cli("xent", "1,2,0.5;0.1,-1,3", "1,2")
    assert by_name.stdout == by_index.stdout


def test_xent_warns_when_the_logits_look_like_probabilities(cli):
    run = cli("xent", "0.2,0.7,0.1;0.1,0.1,0.8", "1,2")
    assert run.status == 0
    assert "applies it twice" in run.stderr


def test_softmax_is_stable_on_large_logits(cli):
    assert cli("softmax", "1000,-1000,0").stdout == "1.0\t0.0\t0.0\n"
    assert cli("softmax", "1000,-1000,0", "--log").stdout == "0.0\t-2000.0\t-1000.0\n"
    assert cli("softmax", "-1e4,-1e4").stdout == "0.5\t0.5\n"


def test_softmax_dim_and_temperature(cli):
    columns = json.loads(cli("softmax", "1,2;3,5", "--dim", "0", "-f", "json").stdout)["value"]
    assert np.allclose(np.sum(columns, axis=0), 1)
    expected = np.exp([0.5, 1.0]) / np.exp([0.5, 1.0]).sum()
    hot = json.loads(cli("softmax", "1,2", "-t", "2", "-f", "json").stdout)["value"]
    assert np.allclose(hot, expected, rtol=1e-15)


def test_float32_gives_float32_numbers(cli):
    expected = (np.float32(0.1) - np.float32(0.3)) ** 2
    assert cli("mse", "0.1", "0.3", "--dtype", "float32").stdout == str(expected) + "\n"  # 0.040000007


# --- output formats --------------------------------------------------------------------------


def test_auto_format_is_a_table_on_a_terminal_and_plain_on_a_pipe(cli):
    assert "┃" in cli("mse", "2,3,4,5", "4,5,6,7", tty=True).stdout
    assert cli("mse", "2,3,4,5", "4,5,6,7", tty=False).stdout == "4.0\n"


def test_machine_formats_keep_round_trip_precision(cli):
    x, y = 0.1, 0.7
    exact = (x - y) ** 2
    run = cli("mse", repr(x), repr(y), "-f", "json", "--digits", "2")
    assert json.loads(run.stdout)["value"] == exact
    assert float(cli("mse", repr(x), repr(y)).stdout) == exact
    rows = list(csv.DictReader(io.StringIO(cli("mse", repr(x), repr(y), "-f", "csv").stdout)))
    assert float(rows[0]["sq_diff"]) == exact


def test_json_has_the_promised_keys_and_no_nan_tokens(cli):
    run = cli("l1", "1,nan", "1,2", "-f", "json", "--grad", "-r", "none")
    document = json.loads(run.stdout)  # a NaN token would still parse in Python: check the text too
    assert "NaN" not in run.stdout
    assert {"loss", "reduction", "dtype", "n", "value", "terms", "grad"} <= document.keys()
    assert document["value"] == [0.0, None]
    assert document["grad"] == [0.0, 0.0]  # PyTorch: 0 at a nan difference


def test_csv_has_a_header_one_row_per_element_and_the_reduction_row(cli):
    text = cli("l1", "2,3,4,5", "4,5,6,7", "-f", "csv", "--grad").stdout
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["row", "pred", "target", "diff", "abs_diff", "grad"]
    assert len(rows) == 6 and rows[1] == ["1", "2.0", "4.0", "-2.0", "2.0", "-0.25"]
    assert rows[-1] == ["mean", "", "", "", "2.0", ""]
    assert "\r" not in text


def test_csv_for_xent_expands_the_class_vectors(cli):
    rows = list(csv.reader(io.StringIO(cli("xent", "1,2,3;3,2,1", "0,2", "-f", "csv").stdout)))
    assert rows[0][:5] == ["row", "logits_0", "logits_1", "logits_2", "target"]
    assert [r[4] for r in rows[1:-1]] == ["0", "2"]  # the last row is the mean


# --- the table -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, line",
    [
        (["l1", "2,3,4,5", "4,5,6,7"], "(|2−4| + |3−5| + |4−6| + |5−7|) / 4 = 2"),
        (["l1", "2,3,4,5", "4,5,6,7", "-r", "sum"], "(|2−4| + |3−5| + |4−6| + |5−7|) = 8"),
        (["mse", "2,3,4,5", "4,5,6,7"], "[(2−4)² + (3−5)² + (4−6)² + (5−7)²] / 4 = 4"),
        (["mse", "2,3,4,5", "4,5,6,7", "-r", "sum"], "[(2−4)² + (3−5)² + (4−6)² + (5−7)²] = 16"),
        (["mse", "1,-2", "3,-4"], "[(1−3)² + (-2−(-4))²] / 2 = 4"),
        (["softmax", "1,2,3,4"], "e^1 / (e^1 + e^2 + e^3 + e^4) = 0.03206"),
        (["mse", "1,2,3,4,5,6,7,8", "0,0,0,0,0,0,0,0", "-r", "sum"], "[(1−0)² + (2−0)² + (3−0)² + … + (8−0)²] = 204"),
        (["xent", "1,2,0.5;0.1,-1,3", "1,2"], "(0.4644 + 0.07077) / 2 = 0.2676"),
    ],
)
def test_table_ends_in_the_derivation_line(cli, argv, line):
    run = cli(*argv, "-f", "table")
    assert run.status == 0, run.stderr
    assert line in run.stdout.splitlines()


def test_table_shows_every_term_and_the_reduction_row(cli):
    text = cli("mse", "2,3,4,5", "4,5,6,8", "-f", "table").stdout
    assert "(ŷ−y)²" in text and "ŷ−y" in text
    body = [line for line in text.splitlines() if line.startswith("│")]
    assert [line.split("│")[-2].strip() for line in body] == ["4", "4", "4", "9", "5.25"]


def test_table_digits_round_only_the_table(cli):
    text = cli("mse", "0", "0.123456789", "-f", "table", "--digits", "3").stdout
    assert "0.0152" in text and "0.01524157" not in text


def test_class_names_that_look_like_markup_are_shown_literally(cli):
    text = cli("xent", "1,2;3,4", "0,1", "--classes", "[bold]a[/bold],[red]b", "-f", "table").stdout
    assert "[bold]a[/bold]" in text and "[red]b" in text


def test_long_tables_elide_the_middle_rows(cli):
    values = ",".join(str(i) for i in range(50))
    text = cli("l1", values, values, "-f", "table", "--rows", "6").stdout
    assert "⋮ 44 more rows (50 in all" in text
    assert "│   50 │" in text and "│    4 │" not in text


# --- help and version ------------------------------------------------------------------------


@pytest.mark.parametrize("command, formula", [("l1", "|ŷ−y|"), ("mse", "(ŷ−y)²"), ("xent", "log softmax"), ("softmax", "e^(x_i − max)")])
def test_each_subcommand_help_shows_its_formula_and_an_example(cli, capsys, command, formula):
    status = cli(command, "--help").status
    text = capsys.readouterr().out
    assert status == 0
    assert formula in text and f"losscli {command} " in text


def test_version_names_the_active_reader(cli, capsys, monkeypatch):
    assert cli("--version").status == 0
    first, reader = capsys.readouterr().out.splitlines()
    assert first == f"losscli {__version__}"
    assert reader.startswith("reader: polars") or reader.startswith("reader: numpy.loadtxt")
    monkeypatch.setenv("LOSSCLI_READER", "numpy")
    cli("--version")
    assert capsys.readouterr().out.splitlines()[1] == "reader: numpy.loadtxt (LOSSCLI_READER=numpy)"


@pytest.mark.parametrize("name", list(POINTWISE_LOSSES))
def test_the_help_example_of_each_loss_is_what_the_table_prints(cli, name):
    spec = POINTWISE_LOSSES[name]
    assert spec.example in cli(name, *shlex.split(spec.example_args), "-f", "table").stdout.splitlines()
