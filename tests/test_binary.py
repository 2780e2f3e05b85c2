"""BCE, BCE with logits and focal: PyTorch's golden cases, hand derivations, streaming, errors, identities."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from losscli import bce, bce_with_logits, focal
from losscli.errors import DataError, UsageError
from losscli.losses import POINTWISE_LOSSES, PointwiseAccumulator

from .golden import assert_matches, case_ids, golden_path, inline_values, load_cases
from tests.memory import peak_kb

CASES = [case for case in load_cases(golden_path("torch_cases_more.json")) if case["op"] in ("bce", "bce-logits", "focal")]
API_FUNCTIONS = {"bce": bce, "bce-logits": bce_with_logits, "focal": focal}
VECTORS = ("weight", "pos_weight")
NUMBERS = ("alpha", "gamma")
API = settings(max_examples=60, deadline=None)


def test_the_golden_file_holds_six_cases_of_each_binary_loss():
    assert sorted(case["op"] for case in CASES) == ["bce"] * 6 + ["bce-logits"] * 6 + ["focal"] * 6


def _options(case: dict) -> dict:
    return {key: case[key] for key in (*VECTORS, *NUMBERS) if key in case}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_golden_case_through_the_api(case, dtype):
    x = np.asarray(case["input"], dtype=dtype)
    y = np.asarray(case["target"], dtype=dtype)
    result = API_FUNCTIONS[case["op"]](x, y, reduction=case.get("reduction", "mean"), **_options(case))
    expected = case["expected"][dtype]
    assert result.dtype == dtype
    assert_matches(result.value, expected["value"], dtype)
    assert_matches(result.grad, expected["grad"], dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_golden_case_through_the_cli(cli, case, dtype):
    argv = [case["op"], inline_values(case["input"]), inline_values(case["target"]), "-r", case.get("reduction", "mean")]
    for key, value in _options(case).items():
        flag = "--" + key.replace("_", "-")
        argv += [flag, inline_values(value) if key in VECTORS else repr(value)]
    run = cli(*argv, "--grad", "--dtype", dtype, "--format", "json")
    assert run.status == 0, run.stderr
    document = json.loads(run.stdout)
    expected = case["expected"][dtype]
    assert document["dtype"] == dtype
    for key, value in _options(case).items():  # the options the loss took, in JSON
        assert document[key] == pytest.approx(value, rel=1e-7 if dtype == "float32" else 0)
    # Inline text has no one-row matrix ("1,2,3" is a vector): compare in the expected shape.
    assert_matches(np.reshape(document["value"], np.shape(expected["value"])), expected["value"], dtype)
    assert_matches(np.reshape(document["grad"], np.shape(expected["grad"])), expected["grad"], dtype)


# --- by hand ----------------------------------------------------------------------------------


def table_rows(stdout: str) -> list[list[str]]:
    lines = [line.replace("┃", "│") for line in stdout.splitlines()]
    return [[cell.strip() for cell in line.strip("│").split("│")] for line in lines if line.startswith("│")]


def shown(value: float) -> str:
    """A number as the table writes it at its default 4 digits."""
    return f"{value:.4g}"


def test_bce_table_shows_the_clamped_logs_the_weights_and_the_derivation(cli):
    # p = 0, 0.5, 1, 0.25 against y = 1, 0.5, 1, 0 with w = (1, 2) along the last dim:
    # −log 0 is clamped to 100; −2(½ log ½ + ½ log ½) = 2 log 2; y = 1 = p: 0 (log(1 − p) clamped but times 0);
    # −2 log 0.75. Gradients w(p − y)/max(p(1 − p), 1e-12): −1e12, 0, 0 (clamped denominator), 2·0.25/0.1875.
    terms = [100.0, 2 * math.log(2), 0.0, -2 * math.log(0.75)]
    run = cli("bce", "0,0.5;1,0.25", "1,0.5;1,0", "--weight", "1,2", "-r", "sum", "-g", "-f", "table")
    assert run.status == 0, run.stderr
    body = table_rows(run.stdout)
    assert body[0] == ["row", "col", "p", "y", "log p", "log(1−p)", "clamp", "w", "bce", "∂loss/∂p"]
    assert body[1] == ["1", "1", "0", "1", "-100", "0", "log p", "1", "100", "-1e+12"]
    assert body[2] == ["1", "2", "0.5", "0.5", shown(math.log(0.5)), shown(math.log(0.5)), "", "2", shown(terms[1]), "0"]
    assert body[3] == ["2", "1", "1", "1", "0", "-100", "", "1", "0", "0"]
    assert body[4] == ["2", "2", "0.25", "0", shown(math.log(0.25)), shown(math.log(0.75)), "", "2", shown(terms[3]),
                       shown(2 * 0.25 / 0.1875)]
    derivation = "(" + " + ".join(shown(t) for t in terms) + f") = {shown(math.fsum(terms))}"
    assert derivation in run.stdout.splitlines()
    # One term's clamp changed it (p = 0 with y = 1); p = 1 with y = 1 clamps a log that y zeroes.
    assert run.stderr.count("warning:") == 1 and "1 term had its log clamped at −100" in run.stderr
    assert "first: row 1" in run.stderr


def test_bce_logits_table_rebuilds_each_term_from_log_sigmoid(cli):
    # x = 0, y = 1, pos_weight 3: 3·log 2; x = 2, y = 0: softplus(2) = log(1 + e²) = 2 − log σ(2)
    terms = [3 * math.log(2), math.log1p(math.exp(2))]
    run = cli("bce-logits", "0,2", "1,0", "--pos-weight", "3", "-r", "sum", "-g", "-f", "table")
    assert run.status == 0, run.stderr
    body = table_rows(run.stdout)
    assert body[0] == ["row", "x", "y", "σ(x)", "log σ(x)", "pos_w", "bce", "∂loss/∂x"]
    sigmoid = 1 / (1 + math.exp(-2))
    # gradient (p·y + 1 − y)σ(x) − p·y: 3·½ − 3 and σ(2)
    assert body[1] == ["1", "0", "1", "0.5", shown(-math.log(2)), "3", shown(terms[0]), "-1.5"]
    assert body[2] == ["2", "2", "0", shown(sigmoid), shown(math.log(sigmoid)), "3", shown(terms[1]), shown(sigmoid)]
    assert f"({shown(terms[0])} + {shown(terms[1])}) = {shown(sum(terms))}" in run.stdout.splitlines()
    assert run.stdout.splitlines()[0] == "BCE-LOGITS, reduction=sum, float64, pos_weight=[3]"


def test_focal_table_shows_p_t_alpha_t_and_the_bce_it_scales(cli):
    # x = 0: σ = p_t = ½, bce = log 2; α_t = 0.25 for y = 1 and 0.75 for y = 0; (1 − ½)² = ¼
    terms = [0.25 * 0.25 * math.log(2), 0.75 * 0.25 * math.log(2)]
    run = cli("focal", "0,0", "1,0", "-r", "mean", "-f", "table")
    assert run.status == 0, run.stderr
    body = table_rows(run.stdout)
    assert body[0] == ["row", "x", "y", "σ(x)", "p_t", "α_t", "bce", "focal"]
    assert body[1] == ["1", "0", "1", "0.5", "0.5", "0.25", shown(math.log(2)), shown(terms[0])]
    assert body[2] == ["2", "0", "0", "0.5", "0.5", "0.75", shown(math.log(2)), shown(terms[1])]
    assert f"({shown(terms[0])} + {shown(terms[1])}) / 2 = {shown(sum(terms) / 2)}" in run.stdout.splitlines()
    assert run.stdout.splitlines()[0] == "FOCAL, reduction=mean, float64, alpha=0.25, gamma=2"


@pytest.mark.parametrize("name, says", [
    ("bce", "−w·(y·max(log p, −100) + (1 − y)·max(log(1 − p), −100))"),
    ("bce-logits", "w·(pos_weight·y·softplus(−x) + (1 − y)·softplus(x))"),
    ("focal", "whose default reduction is none; losscli's is mean"),
])
def test_help_shows_the_formula(cli, capsys, name, says):
    run = cli(name, "--help")
    text = " ".join((run.stdout + capsys.readouterr().out).split())
    assert says in text


def test_bce_mean_divides_by_the_element_count_not_the_weight_sum():
    # −w·log p with y = 1: w = 1 and 3 on p = ½ and ¼, then / 2 elements (÷ Σw would give / 4)
    result = bce([0.5, 0.25], [1, 1], weight=[1, 3])
    assert float(result.value) == pytest.approx((math.log(2) + 3 * math.log(4)) / 2, rel=1e-15)
    assert result.denominator == 2


# --- files --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["bce"], ["bce", "--weight", "0.5,1,2,1,0"], ["bce-logits", "--pos-weight", "2", "--weight", "3"],
     ["focal", "--alpha", "0.4", "--gamma", "1.5"]],
)
def test_a_file_streams_through_the_same_path_and_gives_the_inline_numbers(cli, write, argv):
    pred, target = [0.25, 0.0, 0.5, 0.999, 1.0], [0.0, 1.0, 0.3, 1.0, 1.0]
    path = write("t.csv", "pred,target\n" + "".join(f"{p!r},{t!r}\n" for p, t in zip(pred, target)))
    args = [*argv[1:], "-r", "none", "--grad", "-f", "json"]
    from_file = cli(argv[0], path, *args, "-q")
    inline = cli(argv[0], inline_values(pred), inline_values(target), *args, "-q")
    assert from_file.status == inline.status == 0, from_file.stderr + inline.stderr
    document = json.loads(from_file.stdout)
    assert document.pop("columns") == {"prediction": "pred", "target": "target"}
    assert document == json.loads(inline.stdout)


def test_a_weight_file_with_one_value_per_row_of_a_one_column_input(cli, write):
    """A 1-D input's last dimension is its length: PyTorch's broadcast takes one weight per row."""
    rng = np.random.default_rng(3)
    p, y, w = np.round(rng.uniform(0.01, 0.99, 500), 3), rng.integers(0, 2, 500).astype(float), np.round(rng.uniform(0, 2, 500), 2)
    data = write("p.csv", "pred,target\n" + "".join(f"{a!r},{b!r}\n" for a, b in zip(p.tolist(), y.tolist())))
    weights = write("w.txt", "".join(f"{v!r}\n" for v in w.tolist()))
    run = cli("bce", data, "--weight", weights, "-r", "sum", "-f", "plain", "-q")
    assert run.status == 0, run.stderr
    expected = math.fsum((-wi * (yi * math.log(pi) + (1 - yi) * math.log(1 - pi))) for pi, yi, wi in zip(p, y, w))
    assert float(run.stdout) == pytest.approx(expected, rel=1e-12)


def test_a_million_rows_stream_in_flat_memory(tmp_path):
    rng = np.random.default_rng(7)
    x = np.round(rng.uniform(0.001, 0.999, 1_000_000), 4)  # probabilities for bce, logits for the others
    y = rng.integers(0, 2, x.size).astype(float)
    million = "".join(f"{u!r},{v!r}\n" for u, v in zip(x.tolist(), y.tolist()))
    (tmp_path / "1M.csv").write_text("pred,target\n" + million)
    (tmp_path / "2M.csv").write_text("pred,target\n" + million * 2)
    # Written independently: the textbook forms, summed exactly.
    p_t = np.where(y == 1, 1 / (1 + np.exp(-x)), 1 / (1 + np.exp(x)))
    softplus_bce = y * np.logaddexp(0, -x) + (1 - y) * np.logaddexp(0, x)
    runs = [
        (["bce", "--weight", "1.5"], -1.5 * (y * np.log(x) + (1 - y) * np.log1p(-x))),
        (["bce-logits", "--pos-weight", "2"], 2 * y * np.logaddexp(0, -x) + (1 - y) * np.logaddexp(0, x)),
        (["focal"], np.where(y == 1, 0.25, 0.75) * (1 - p_t) ** 2 * softplus_bce),
    ]
    peaks = {}
    for rows in ("1M", "2M"):
        commands = [[name, str(tmp_path / f"{rows}.csv"), *options, "-r", "mean", "-q"] for (name, *options), _ in runs]
        values, peaks[rows] = peak_kb(*commands)
        for value, (argv, terms) in zip(values, runs):
            assert float(value) == pytest.approx(math.fsum(terms.tolist()) / x.size, rel=1e-9), argv
    # Holding the second million rows would add ≥ 1M × 2 × 8 bytes per copy: 16 MB, several times over.
    assert peaks["2M"] - peaks["1M"] < 15_000, peaks


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, status, message",
    [
        (["bce", "0.8,1.5", "1,0"], 1, "input row 2: probability 1.5 is outside [0, 1], which BCELoss requires; for logits use `losscli bce-logits`"),
        (["bce", "0.8,-0.25", "1,0"], 1, "input row 2: probability -0.25 is outside [0, 1]"),
        (["bce", "0.8,0.5", "1,-0.1"], 1, "input row 2: target -0.1 is outside [0, 1]"),
        (["bce", "0.8,inf", "1,0"], 1, "input row 2: probability inf is outside [0, 1]"),
        (["bce", "0.9,0.2;0.4,0", "1,0;1,1", "--weight", "2,0.5,1"], 2,
         "--weight has 3 values but the input's last dimension has 2; it is broadcast over that dimension: give 1 value or 2"),
        (["bce", "0.9,0.2,0.4", "1,0,1", "--weight", "2,0.5"], 2, "--weight has 2 values but the input has at least 3"),
        (["bce", "0.9,0.2", "1,0", "--weight", "2,0.5,1"], 2, "--weight has 3 values but the input has 2"),
        (["bce", "0.9,0.2", "1,0", "--weight", "2,-0.5"], 2, "--weight value 2 is -0.5; each must be finite and ≥ 0"),
        (["bce", "0.9,0.2", "1,0", "--weight", "1,nan"], 2, "--weight value 2 is nan"),
        (["bce-logits", "1,2;3,4", "1,0;0,1", "--pos-weight", "1,2,3"], 2, "--pos-weight has 3 values but the input's last dimension has 2"),
        (["bce-logits", "1,2", "1,0", "--pos-weight", "x"], 2, "--pos-weight"),
        (["focal", "1,2", "1,0", "--alpha", "1.5"], 2, "--alpha must be at most 1, not 1.5"),
        (["focal", "1,2", "1,0", "--gamma", "-1"], 2, "--gamma must be at least 0, not -1"),
    ],
)
def test_a_bad_value_is_one_line_naming_it(cli, argv, status, message):
    run = cli(*argv)
    assert run.status == status and run.stdout == ""
    assert run.stderr.startswith("losscli: error: ") and run.stderr.count("\n") == 1
    assert message in run.stderr, run.stderr


def test_a_probability_out_of_range_in_a_file_names_its_line(cli, write):
    path = write("p.csv", "pred,target\n0.9,1\n0.5,0\n1.25,1\n")
    run = cli("bce", path)
    assert run.status == 1 and run.stderr == f"losscli: error: {path}:4: probability 1.25 is outside [0, 1], which BCELoss requires; for logits use `losscli bce-logits`\n"


@pytest.mark.parametrize("weights, message", [("1,2,3", "--weight has 3 values but the input has at least 4"),
                                              ("1,2,3,4,5", "--weight has 5 values but the input has 4")])
def test_a_weight_of_the_wrong_length_for_a_one_column_file_is_refused(cli, write, weights, message):
    path = write("p.csv", "pred,target\n0.9,1\n0.5,0\n0.25,1\n0,0\n")
    run = cli("bce", path, "--weight", weights)
    assert run.status == 2 and message in run.stderr


def test_nan_is_left_to_the_nan_policy_not_the_range_check(cli):
    run = cli("bce", "0.5,nan", "1,0", "--nan-policy", "omit", "-f", "json", "-q")
    assert run.status == 0, run.stderr
    assert json.loads(run.stdout)["value"] == pytest.approx(math.log(2), rel=1e-15)
    assert cli("bce", "0.5,nan", "1,0", "--nan-policy", "raise").status == 1


def test_the_api_raises_the_same_errors():
    with pytest.raises(DataError, match="probability 2.0 is outside"):
        bce([0.5, 2.0], [1, 0])
    with pytest.raises(UsageError, match="--weight has 3 values"):
        bce([[0.5, 0.2]], [[1, 0]], weight=[1, 2, 3])
    with pytest.raises(UsageError, match="--pos-weight must be one row"):
        bce_with_logits([0.5], [1], pos_weight=[[1.0]])


# --- properties ---------------------------------------------------------------------------------

shapes = hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=6)


@st.composite
def binary_problems(draw, bound: float = 10.0):
    """(logits, soft or hard targets, a weight along the last dim) of one shape."""
    shape = draw(shapes)
    x = draw(hnp.arrays(np.float64, shape, elements=st.floats(-bound, bound, allow_subnormal=False)))
    hard = draw(st.booleans())
    targets = st.sampled_from([0.0, 1.0]) if hard else st.floats(0, 1, allow_subnormal=False)
    y = draw(hnp.arrays(np.float64, shape, elements=targets))
    w = draw(hnp.arrays(np.float64, draw(st.sampled_from([1, shape[-1]])), elements=st.floats(0, 5, allow_subnormal=False)))
    return x, y, w


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


@API
@given(problem=binary_problems())
def test_bce_logits_equals_bce_of_the_sigmoid_away_from_the_clamp(problem):
    x, y, w = problem
    for reduction in ("none", "sum"):
        with_logits = bce_with_logits(x, y, weight=w, reduction=reduction)
        on_probabilities = bce(_sigmoid(x), y, weight=w, reduction=reduction)
        np.testing.assert_allclose(with_logits.value, on_probabilities.value, rtol=1e-8, atol=1e-12)
    # d/dx = d/dp · σ'(x) = w(p − y)/(p(1 − p)) · p(1 − p) = w(p − y)
    np.testing.assert_allclose(bce_with_logits(x, y, weight=w, reduction="sum").grad,
                               w * (_sigmoid(x) - y), rtol=1e-12, atol=1e-15)


@API
@given(problem=binary_problems(bound=50.0), pos_weight=st.floats(0, 5, allow_subnormal=False))
def test_bce_logits_is_the_softplus_formula(problem, pos_weight):
    x, y, w = problem
    terms = bce_with_logits(x, y, weight=w, pos_weight=[pos_weight], reduction="none").value
    expected = w * (pos_weight * y * np.logaddexp(0, -x) + (1 - y) * np.logaddexp(0, x))
    np.testing.assert_allclose(terms, expected, rtol=1e-9, atol=1e-12)
    assert np.all(terms >= 0)  # targets in [0, 1], weights ≥ 0


@API
@given(problem=binary_problems(bound=50.0), alpha=st.one_of(st.just(-1.0), st.floats(0, 1)))
def test_focal_with_gamma_zero_is_alpha_t_times_bce_logits(problem, alpha):
    x, y, _ = problem
    plain = bce_with_logits(x, y, reduction="none")
    result = focal(x, y, alpha=alpha, gamma=0.0, reduction="none")
    if alpha < 0:  # no α term: exactly BCE with logits, value and gradient
        np.testing.assert_array_equal(result.value, plain.value)
        np.testing.assert_array_equal(result.grad, plain.grad)
    else:
        alpha_t = alpha * y + (1 - alpha) * (1 - y)
        np.testing.assert_allclose(result.value, alpha_t * plain.value, rtol=1e-15, atol=0)


@API
@given(problem=binary_problems(), gamma=st.floats(0, 4))
def test_focal_never_exceeds_its_alpha_weighted_bce(problem, gamma):
    x, y, _ = problem
    focused = focal(x, y, alpha=-1, gamma=gamma, reduction="none").value
    assert np.all(focused <= bce_with_logits(x, y, reduction="none").value * (1 + 1e-15))
    assert np.all(focused >= 0)


@API
@given(p=hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(0, 1)), data=st.data())
def test_bce_is_nonnegative_and_zero_only_at_certain_correct_predictions(p, data):
    y = data.draw(hnp.arrays(np.float64, p.shape, elements=st.sampled_from([0.0, 1.0])))
    terms = bce(p, y, reduction="none").value
    assert np.all(terms >= 0) and np.all(terms <= 100)  # the clamp bounds each term
    np.testing.assert_array_equal(terms == 0, p == y)


def _central_differences(f, x: np.ndarray, h: float) -> np.ndarray:
    grad = np.empty_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (float(f(up)) - float(f(down))) / (up[index] - down[index])
    return grad


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("name, parameters", [("bce", {"weight": [0.5]}), ("bce-logits", {"pos_weight": [2.5], "weight": [1.5]}),
                                              ("focal", {"alpha": 0.3, "gamma": 2.0}), ("focal", {"alpha": -1, "gamma": 1.5})])
@API
@given(problem=binary_problems(bound=5.0))
def test_gradient_matches_central_differences(name, parameters, reduction, problem):
    x, y, _ = problem
    if name == "bce":
        x = 0.05 + 0.9 * _sigmoid(x)  # probabilities away from 0 and 1, where the clamps act
    loss = API_FUNCTIONS[name]
    result = loss(x, y, reduction=reduction, **parameters)
    numeric = _central_differences(lambda v: loss(v, y, reduction=reduction, **parameters).value, x, 1e-6)
    np.testing.assert_allclose(result.grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@API
@given(data=st.data())
def test_a_weight_per_element_of_a_one_column_stream_gives_the_whole_arrays_bits(reduction, data):
    n = data.draw(st.integers(1, 60))
    p = data.draw(hnp.arrays(np.float64, n, elements=st.floats(0, 1)))
    y = data.draw(hnp.arrays(np.float64, n, elements=st.floats(0, 1)))
    w = data.draw(hnp.arrays(np.float64, n, elements=st.floats(0, 5)))
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=6))) if n > 1 else []
    whole = bce(p, y, weight=w, reduction=reduction)
    split = PointwiseAccumulator(POINTWISE_LOSSES["bce"], reduction, parameters={"weight": w})
    bounds = [0, *cuts, n]
    for start, stop in zip(bounds, bounds[1:]):
        split.add(p[start:stop], y[start:stop])
    result = split.result()
    np.testing.assert_array_equal(result.terms, whole.terms)
    np.testing.assert_array_equal(result.grad, whole.grad)
    np.testing.assert_array_equal(result.column("weight").values, w)
    assert np.asarray(result.value).tobytes() == np.asarray(whole.value).tobytes()
