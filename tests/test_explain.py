"""--explain, --format markdown and --format latex: the derivation a tutorial writes by hand.

The tutorial's three examples are checked against text written out here by hand; every other
derivation is checked by a property: each line that is arithmetic on numbers, evaluated again
here, gives the number it ends with, and that number is what losscli computed.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from losscli import losses
from losscli.explain import Equation, Frac, Grid, explain
from losscli.losses.pointwise import pointwise_loss
from losscli.typeset import latex_math, markdown_text, text_math

# ---------------------------------------------------------------------------------------------
# the tutorial's examples, written out by hand


def _lines(run) -> list[str]:
    return [line.rstrip() for line in run.stdout.splitlines()]


def test_mse_explain_grad_is_the_tutorials_hand_computation_and_chain_rule(cli):
    run = cli("mse", "2,3,4,5", "4,5,6,7", "--explain", "--grad")
    lines = _lines(run)
    assert run.status == 0
    for expected in (
        "  ℓᵢ = (ŷᵢ − yᵢ)²",
        "  ℓ₁ = (ŷ₁ − y₁)² = (2 − 4)² = 4",
        "  ℓ₂ = (ŷ₂ − y₂)² = (3 − 5)² = 4",
        "  ℓ₃ = (ŷ₃ − y₃)² = (4 − 6)² = 4",
        "  ℓ₄ = (ŷ₄ − y₄)² = (5 − 7)² = 4",
        "  L = (ℓ₁ + ℓ₂ + ℓ₃ + ℓ₄) / n = (4 + 4 + 4 + 4) / 4 = 16/4 = 4",
        "  ∂L/∂ŷᵢ = ∂L/∂ℓᵢ · ∂ℓᵢ/∂ŷᵢ   — ∂L/∂ℓᵢ = 1/n for the mean",
        "  ∂ℓᵢ/∂ŷᵢ = 2(ŷᵢ − yᵢ)",
        "  ∂L/∂ŷ₁ = 2(ŷ₁ − y₁)/n = 2(2 − 4)/4 = −1",
        "  ∂L/∂ŷ₄ = 2(ŷ₄ − y₄)/n = 2(5 − 7)/4 = −1",
    ):
        assert expected in lines
    # The explanation follows the table, its one-line derivation still there.
    assert lines.index("[(2−4)² + (3−5)² + (4−6)² + (5−7)²] / 4 = 4") < lines.index("Explained: MSE, reduction=mean, float64")


def test_softmax_explain_writes_every_share_as_the_tutorial_does(cli):
    lines = _lines(cli("softmax", "1,2,3,4", "--explain"))
    total = sum(math.exp(k) for k in (1, 2, 3, 4))  # 84.79
    assert "  Σⱼ e^(xⱼ) = e^1 + e^2 + e^3 + e^4 = 2.718 + 7.389 + 20.09 + 54.6 = 84.79" in lines
    for k, power in enumerate(("2.718", "7.389", "20.09", "54.6"), start=1):
        share = f"{math.exp(k) / total:.4g}"
        subscript = "₀₁₂₃₄"[k]
        assert f"  softmax(x){subscript} = e^{k} / (e^1 + e^2 + e^3 + e^4) = {power}/84.79 = {share}" in lines


def test_xent_explain_goes_from_e4_to_0_4402(cli):
    lines = _lines(cli("xent", "1,2,3,4", "3", "--explain"))
    steps = [
        "  e^(x₁) = [e^1, e^2, e^3, e^4] = [2.718, 7.389, 20.09, 54.6]",
        "  Σⱼ e^(x₁[j]) = 2.718 + 7.389 + 20.09 + 54.6 = 84.79",
        "  p₁[3] = e^4 / (e^1 + e^2 + e^3 + e^4) = 54.6/84.79 = 0.6439",
        "  ℓ₁ = −log p₁[3] = −log 0.6439 = 0.4402",
        "  L = ℓ₁/1 = 0.4402/1 = 0.4402",
    ]
    assert [lines.index(step) for step in steps] == sorted(lines.index(step) for step in steps)
    # The target as the tutorial's one-hot row.
    assert "  row  y  0  1  2  3" in lines and "    1  3  0  0  0  1" in lines


def test_label_smoothing_is_written_as_its_two_parts(cli):
    # (1 − ε)·(−log p[y]) + ε/C·Σ_c(−log p_c), checked against the same formula computed here.
    lines = _lines(cli("xent", "1,2,3,4", "3", "--label-smoothing", "0.1", "--explain"))
    neg_log_p = -(np.array([1.0, 2, 3, 4]) - np.log(np.exp([1.0, 2, 3, 4]).sum()))
    loss = 0.9 * neg_log_p[3] + 0.1 / 4 * neg_log_p.sum()
    expected = (
        f"  ℓ₁ = 0.9·{neg_log_p[3]:.4g} + 0.1/4·({' + '.join(f'{v:.4g}' for v in neg_log_p)}) "
        f"= 0.9·{neg_log_p[3]:.4g} + 0.1/4·{neg_log_p.sum():.4g} = {loss:.4g}"
    )
    assert expected in lines


def test_class_names_head_the_one_hot_rows(cli):
    lines = _lines(cli("xent", "2,0.5,-1;0.1,1.2,0.3", "猫,狗", "--classes", "猫,狗,兔", "--explain"))
    header = next(line for line in lines if line.strip().startswith("row"))
    assert header.split() == ["row", "y", "猫", "狗", "兔"]
    assert lines[lines.index(header) + 1].split() == ["1", "猫", "1", "0", "0"]
    assert lines[lines.index(header) + 2].split() == ["2", "狗", "0", "1", "0"]


# ---------------------------------------------------------------------------------------------
# every loss: each written step is arithmetic that holds


def _whole_results():
    """One result per loss, reduction and option that changes the formula (the registry's all)."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=5), rng.normal(size=5)
    p, t = rng.uniform(0.05, 0.95, 5), (rng.uniform(size=5) > 0.5).astype(float)
    counts = rng.integers(0, 5, 5).astype(float)
    logits = rng.normal(size=(3, 4)) * 2
    cases = []
    for name, spec in losses.POINTWISE_LOSSES.items():
        inputs = {
            "bce": (p, t), "bce-logits": (x, t), "focal": (x, t), "poisson-nll": (x, counts),
            "gaussian-nll": (x, y, rng.uniform(0.5, 2, 5)), "kl": (np.log(p), rng.uniform(size=5)),
        }.get(name, (x, y))
        options = [{}] + {
            "huber": [{"delta": 0.5}], "smooth-l1": [{"beta": 0.5}], "bce": [{"weight": np.arange(1.0, 6)}],
            "bce-logits": [{"pos_weight": np.array([3.0]), "weight": np.array([2.0])}], "focal": [{"alpha": -1.0}],
            "poisson-nll": [{"full": True}], "gaussian-nll": [{"full": True}],
            "kl": [{"log_target": True}],
        }.get(name, [])
        for reduction in spec.reductions:
            for given in options:
                cases.append((f"{name}-{reduction}-{sorted(given)}", pointwise_loss(spec, *inputs, reduction=reduction, **given)))
    for reduction in ("mean", "none"):  # rates, not log-rates
        cases.append((f"poisson-nll-rate-{reduction}", pointwise_loss(
            losses.POINTWISE_LOSSES["poisson-nll"], np.exp(x), counts, reduction=reduction, log_input=False)))
    labels = np.array([0, 3, 1])
    log_probabilities = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    for reduction in ("mean", "sum", "none"):
        cases.append((f"xent-{reduction}", losses.cross_entropy(logits, labels, reduction=reduction)))
        cases.append((f"xent-weighted-smoothed-{reduction}", losses.cross_entropy(
            logits, np.array([0, -100, 2]), reduction=reduction, weight=np.array([1.0, 2, 3, 4]), label_smoothing=0.2)))
        cases.append((f"xent-probs-{reduction}", losses.cross_entropy(
            logits, rng.dirichlet(np.ones(4), 3), reduction=reduction, label_smoothing=0.1)))
        cases.append((f"nll-{reduction}", losses.nll_loss(
            log_probabilities, labels, reduction=reduction, weight=np.array([1.0, 2, 3, 4]))))
    # Past SUM_TERMS rows the written sums elide their middle: a step must never read as a sum of
    # the few terms shown (once "(1 + 2 + 3 + 8) / 8 = 36/8").
    long_x, long_y = rng.normal(size=9), rng.normal(size=9)
    for reduction in ("mean", "sum"):
        cases.append((f"mse-9-{reduction}", pointwise_loss(losses.POINTWISE_LOSSES["mse"], long_x, long_y, reduction=reduction)))
        long_labels = np.array([0, -100, 2, 1, 3, -100, 0, 1, 2])
        cases.append((f"xent-9-weighted-{reduction}", losses.cross_entropy(
            rng.normal(size=(9, 4)), long_labels, reduction=reduction, weight=np.array([1.0, 2, 3, 4]))))
    cases.append(("softmax", losses.softmax(rng.normal(size=6))))
    cases.append(("softmax-dim0-T", losses.softmax(logits, dim=0, temperature=2.0)))
    cases.append(("log-softmax", losses.softmax(logits, log=True)))
    return cases


CASES = _whole_results()
_FUNCTIONS = {"exp": np.exp, "log": np.log, "sign": np.sign, "abs": np.abs, "array": np.array}


def _as_python(text: str) -> str | None:
    """A written step as a Python expression, or None when it holds symbols, not only numbers."""
    if "…" in text or "∞" in text or "nan" in text:
        return None
    code = text.replace("−", "-").replace("·", "*").replace("½", "0.5").replace("²", "**2")
    code = re.sub(r"e\^\(", "exp(", code)
    code = re.sub(r"e\^([0-9.]+)", r"exp(\1)", code)
    code = code.replace("^", "**")
    code = re.sub(r"\|([^|]*)\|", r"abs(\1)", code)
    code = re.sub(r"log ([0-9.e+-]+)", r"log(\1)", code)
    code = re.sub(r"(\d|\))\s*\(", r"\1*(", code)
    code = code.replace("[", "array([").replace("]", "])")
    letters = re.sub(r"\b(exp|log|sign|abs|array)\b|\d\.?\d*e[-+]\d+", "", code)
    if re.search(r"[^\W\d_]", letters):
        return None
    return code


def _side_text(side) -> str:
    if isinstance(side, Frac):
        return f"({_side_text(side.numerator)})/({_side_text(side.denominator)})"
    if isinstance(side, tuple):
        return "".join(_side_text(part) for part in side)
    return side


@pytest.mark.parametrize("name, result", CASES, ids=[name for name, _ in CASES])
def test_every_written_step_evaluates_to_the_number_it_ends_with(name, result):
    derivation = explain(result, digits=12, show_grad=result.grad is not None)
    checked = 0
    for section in derivation.sections:
        for item in section.items:
            if not isinstance(item, Equation) or len(item.sides) < 2:
                continue
            *steps, last = (_side_text(side) for side in item.sides)
            expected = _as_python(last)
            if expected is None:
                continue
            for step in steps:
                code = _as_python(step)
                if code is None:
                    continue
                value = eval(code, {"__builtins__": {}}, _FUNCTIONS)  # noqa: S307 - our own text
                np.testing.assert_allclose(value, eval(expected, {"__builtins__": {}}, _FUNCTIONS), rtol=1e-7, atol=1e-9,
                                           err_msg=f"{step} = {last}")
                checked += 1
    assert checked >= 2  # every derivation writes some arithmetic out


@pytest.mark.parametrize("name, result", CASES, ids=[name for name, _ in CASES])
def test_the_derivation_ends_at_the_value_losscli_computed(name, result):
    derivation = explain(result, digits=12)
    last = [item for item in derivation.sections[-1].items if isinstance(item, Equation)][-1]
    value = np.ravel(result.value)
    if result.reduction == "none" or not result.presentation.reduces:
        value = np.ravel(result.value)[-1:]  # the last row written out is the input's last
    written = float(_side_text(last.sides[-1]).replace("−", "-"))
    np.testing.assert_allclose(written, value[-1], rtol=1e-11)


def test_every_registered_loss_declares_its_explanation_and_is_checked_here():
    for name, spec in losses.POINTWISE_LOSSES.items():
        assert spec.explained is not None, f"{name} declares no Explained (see losses/pointwise.py)"
    checked = {result.loss for _, result in CASES}
    assert checked == {*losses.POINTWISE_LOSSES, "xent", "nll", "softmax"}


# ---------------------------------------------------------------------------------------------
# files: the first and last rows, with ⋮


def test_a_long_file_is_explained_by_its_first_and_last_rows(cli, write):
    path = write("big.csv", "y_hat,y\n" + "".join(f"{i},{i + 1}\n" for i in range(100)))
    lines = _lines(cli("l1", path, "--explain"))
    assert "  ℓ₁ = |ŷ₁ − y₁| = |0 − 1| = 1" in lines
    assert "  ℓ₁₀₀ = |ŷ₁₀₀ − y₁₀₀| = |99 − 100| = 1" in lines
    forward = lines[lines.index("Forward pass"):]
    assert forward[4] == "  ⋮"
    assert "  L = (ℓ₁ + ℓ₂ + ℓ₃ + … + ℓ₁₀₀) / n = (1 + 1 + 1 + … + 1) / 100 = 100/100 = 1" in lines


# ---------------------------------------------------------------------------------------------
# formats: explain is for people, markdown and latex are well formed


def test_a_sum_over_a_files_head_and_tail_marks_the_rows_between(cli, write):
    path = write("l40.csv", "".join(f"{i},{i + 1}\n" for i in range(1, 41)))
    lines = _lines(cli("l1", path, "--no-header", "--rows", "4", "--explain"))
    assert "  L = (ℓ₁ + ℓ₂ + … + ℓ₃₉ + ℓ₄₀) / n = (1 + 1 + … + 1 + 1) / 40 = 40/40 = 1" in lines
    labels = write("x.csv", "a,b,label\n" + "".join(f"{i % 3},{i % 5},{i % 2 if i % 5 else -100}\n" for i in range(40)))
    weighted = [l for l in _lines(cli("xent", labels, "--target", "label", "--rows", "4", "--weight", "1,2", "--explain"))
                if l.startswith("  L = (ℓ")]
    # row 1 holds an ignored target (-100 where i % 5 == 0: rows 1, 6, …, 36), so the sum starts at ℓ₂
    assert weighted and weighted[0].startswith("  L = (ℓ₂ + … + ℓ₃₉ + ℓ₄₀) / (w[y₂] + … + w[y₃₉] + w[y₄₀])"), weighted


def test_explain_with_a_machine_format_is_a_usage_error(cli):
    for fmt in ("json", "csv", "plain"):
        run = cli("mse", "1,2", "3,4", "--explain", "-f", fmt)
        assert run.status == 2
        assert run.stderr.startswith("losscli: error: --explain writes for people") and "--format table, markdown or latex" in run.stderr


def test_explain_on_a_pipe_still_writes_the_table_and_derivation(cli):
    run = cli("mse", "1,2", "3,4", "--explain")  # stdout is not a terminal here
    assert run.status == 0 and "Explained: MSE" in run.stdout and "┃" in run.stdout


MARKUP_CASES = [
    ("l1", "2,3,4,5", "4,5,6,7"), ("mse", "2,3", "4,5", "--grad"), ("huber", "2,3", "2.5,5"),
    ("smooth-l1", "2,3", "2.5,5"), ("bce", "0.8,0.3", "1,0", "--weight", "2"), ("bce-logits", "1.4,-0.8", "1,0"),
    ("focal", "1.4,-0.8", "1,0"), ("poisson-nll", "0,1,2", "1,0,3", "--full"), ("gaussian-nll", "2,3", "4,5", "1,2"),
    ("kl", "-1.39,-0.29", "0.25,0.75"), ("nll", "-1.5,-0.5,-2;-0.1,-3,-2.5", "a|b,c*d", "-q"),
    ("xent", "1,2,0.5;0.1,-1,3", "a|b,e_f&{%}", "--grad", "--label-smoothing", "0.1"), ("softmax", "1,2,3,4"),
]
CLASS_NAMES = ["--classes", "a|b,c*d,e_f&{%}"]


def _markdown_cells(row: str) -> int:
    """Cells of a GitHub table row: split on pipes that are not escaped."""
    return len(re.split(r"(?<!\\)\|", row.strip().strip("|")))


@pytest.mark.parametrize("args", MARKUP_CASES, ids=[a[0] for a in MARKUP_CASES])
def test_markdown_tables_have_the_same_column_count_on_every_row(cli, args):
    extra = CLASS_NAMES if args[0] in ("xent", "nll") else []
    run = cli(*args, *extra, "-f", "markdown")
    assert run.status == 0, run.stderr
    tables, current = [], []
    for line in run.stdout.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert tables
    for table in tables:
        widths = {_markdown_cells(row) for row in table}
        assert len(widths) == 1, table
        assert re.fullmatch(r"\|(---:\|)+", table[1])
    assert run.stdout.count("```math") == run.stdout.count("\\begin{aligned}") >= 2
    if extra:  # user text is escaped: the pipe in a class name is not a cell border
        assert "a\\|b" in run.stdout


def _latex_is_balanced(text: str) -> None:
    stack = []
    for match in re.finditer(r"\\(begin|end)\{([^}]*)\}", text):
        if match.group(1) == "begin":
            stack.append(match.group(2))
        else:
            assert stack and stack.pop() == match.group(2), match.group(0)
    assert not stack
    depth = 0
    for character in re.sub(r"\\[{}]", "", text):
        depth += {"{": 1, "}": -1}.get(character, 0)
        assert depth >= 0
    assert depth == 0


@pytest.mark.parametrize("args", MARKUP_CASES, ids=[a[0] for a in MARKUP_CASES])
def test_latex_has_balanced_environments_and_braces(cli, args):
    extra = CLASS_NAMES if args[0] in ("xent", "nll") else []
    run = cli(*args, *extra, "-f", "latex")
    assert run.status == 0, run.stderr
    _latex_is_balanced(run.stdout)
    assert "\\begin{tabular}" in run.stdout and "\\begin{align*}" in run.stdout and "\\frac{" in run.stdout
    if extra:  # a user's class name arrives escaped
        assert "e\\_f\\&\\{\\%\\}" in run.stdout


def test_user_text_is_escaped_for_latex_and_markdown():
    from losscli.typeset import latex_text

    assert latex_text("a_b&c%d{e}$#") == r"a\_b\&c\%d\{e\}\$\#"
    assert markdown_text("*a*|_b_`c`") == r"\*a\*\|\_b\_\`c\`"


def test_the_math_notation_in_text_and_latex():
    assert text_math(("ℓ_{12} = ", Frac("Σ_i ℓ_i", "n"))) == "ℓ₁₂ = (Σᵢ ℓᵢ) / n"
    assert text_math(Frac("2(2 − 4)", "4")) == "2(2 − 4)/4"
    assert latex_math(Frac("e^(x_n[k])", "Σ_j e^(x_n[j])")) == r"\frac{e^{x_n[k]}}{\sum_j e^{x_n[j]}}"
    assert latex_math("½·d_i² + 10⁻¹²") == r"\tfrac{1}{2} \cdot d_i^{2} + 10^{-12}"
    # A bare number as exponent is braced whole: LaTeX would raise only the "0" of e^0.5.
    assert latex_math("e^0.5 + e^10 + e^1.5e−3") == r"e^{0.5} + e^{10} + e^{1.5e-3}"
    # A hyphenated name is one operator, not log minus softmax.
    assert latex_math("log-softmax(x)_i") == r"\operatorname{log-softmax}(x)_i"


def test_all_ignored_targets_are_written_as_zero_over_zero(cli):
    # PyTorch: the mean over no targets is 0/0 = nan; the sum is 0.
    mean = _lines(cli("xent", "1,2;3,4", "1,1", "--ignore-index", "1", "--explain"))
    assert mean[-1].startswith("  L = 0/0 = nan")
    weighted = _lines(cli("xent", "1,2;3,4", "1,1", "--ignore-index", "1", "--weight", "1,2", "--explain"))
    assert weighted[-1].startswith("  L = 0/0 = nan")
    total = _lines(cli("xent", "1,2;3,4", "1,1", "--ignore-index", "1", "-r", "sum", "--explain"))
    assert total[-1].startswith("  L = 0 ")


def test_softmax_with_a_temperature_names_the_scaled_values(cli):
    # T = 2: the shares are of x/T = [0.5, 1, 1.5, 2], and the derivation says so.
    lines = _lines(cli("softmax", "1,2,3,4", "--temperature", "2", "--explain"))
    total = sum(math.exp(v) for v in (0.5, 1, 1.5, 2))  # 16.24
    assert "Explained: softmax over dim 0, float64, temperature=2" in lines
    assert "  x/T = [0.5, 1, 1.5, 2]" in lines
    assert f"  Σⱼ e^(xⱼ/T) = e^0.5 + e^1 + e^1.5 + e^2 = 1.649 + 2.718 + 4.482 + 7.389 = {total:.4g}" in lines
    log = _lines(cli("softmax", "1,2,3", "--log", "-t", "0.5", "--explain"))
    last = 6 - math.log(sum(math.exp(v) for v in (2, 4, 6)))  # x₃/T = 6
    assert f"  log-softmax(x)₃ = x₃/T − log Σⱼ e^(xⱼ/T) = 6 − log 465.4 = −{-last:.4g}" in log


def test_the_title_of_the_derivation_names_the_options(cli):
    lines = _lines(cli("huber", "1,2", "0,0", "--delta", "0.5", "--explain"))
    assert "Explained: HUBER, reduction=mean, float64, delta=0.5" in lines
    focal = _lines(cli("focal", "1,-1", "1,0", "--alpha", "0.25", "--gamma", "2", "--explain"))
    assert any(line.startswith("Explained: FOCAL") and "alpha=0.25" in line and "gamma=2" in line for line in focal)


@pytest.mark.parametrize("fmt", ["table", "markdown", "latex"])
def test_control_characters_in_class_names_never_reach_the_output(cli, fmt):
    run = cli("xent", "1,2,3", "0", "--classes", "a\x1bb,c,d", "--explain", "--by-class", "--format", fmt)
    assert run.status == 0, run.stderr
    assert "\x1b" not in run.stdout and "x1bb" in run.stdout  # escaped as a\\x1bb, then for the format


def test_grid_of_targets_in_every_format_has_one_column_per_class():
    result = losses.cross_entropy(np.array([[1.0, 2, 3], [0, 0, 1]]), np.array([2, 0]))
    grids = [item for s in explain(result).sections for item in s.items if isinstance(item, Grid)]
    assert len(grids) == 1 and all(len(row) == 2 + 3 for row in grids[0].rows)
