"""K-dimensional class inputs: PyTorch's (N, C, d1, …) and a language model's (B, T, V), against
an independent numpy computation (log-softmax written out here), the class axis from the shapes
or --class-dim, and memory bounded for a large .npy."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from losscli import kdim_inputs
from tests.memory import peak_kb

RNG = np.random.default_rng(12)


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    top = np.max(x, axis=axis, keepdims=True)
    return x - top - np.log(np.sum(np.exp(x - top), axis=axis, keepdims=True))


def positions_last(x: np.ndarray, axis: int) -> np.ndarray:
    """(positions, C): the class axis moved last, positions in C order."""
    return np.moveaxis(x, axis, -1).reshape(-1, x.shape[axis])


def expected_xent(logits, target, axis, weight=None, ignore_index=-100, smoothing=0.0):
    """PyTorch's mean cross-entropy with index targets, position by position:
    Σ [(1−ε)·w[y]·(−lp[y]) + ε/C·Σ_c w_c·(−lp_c)] / Σ w[y] over the non-ignored positions."""
    lp = positions_last(log_softmax(logits, axis), axis)
    y = target.reshape(-1)
    classes = lp.shape[1]
    w = np.ones(classes) if weight is None else np.asarray(weight, dtype=float)
    keep = y != ignore_index
    lp, y = lp[keep], y[keep].astype(int)
    picked = -lp[np.arange(len(y)), y]
    terms = (1 - smoothing) * w[y] * picked + smoothing / classes * np.sum(-lp * w, axis=1)
    return terms.sum() / w[y].sum()


def save(tmp_path, name, array) -> str:
    path = tmp_path / name
    np.save(path, array)
    return str(path)


def json_of(run) -> dict:
    assert run.status == 0, run.stderr
    return json.loads(run.stdout)


@pytest.mark.parametrize("shape, axis", [
    ((3, 4, 5), 1),          # (N, C, d), C = 4: d = 5 is not a class count the targets fit
    ((2, 5, 3, 2), 1),       # (N, C, d1, d2)
    ((3, 6, 7), 2),          # (B, T, V)
    ((2, 3, 4, 9), 3),       # (B, T, U, V), classes last
])
def test_cross_entropy_of_k_dimensional_logits_is_the_mean_over_positions(cli, tmp_path, shape, axis):
    logits = RNG.normal(size=shape) * 2
    target = RNG.integers(0, shape[axis], size=shape[:axis] + shape[axis + 1:])
    run = cli("xent", save(tmp_path, "x.npy", logits), save(tmp_path, "y.npy", target), "-f", "json")
    document = json_of(run)
    assert document["value"] == pytest.approx(expected_xent(logits, target, axis), rel=1e-13)
    assert document["n"] == target.size
    assert document["layout"] == {
        "logits_shape": list(shape), "class_dim": axis, "class_dim_from": "shapes", "positions": target.size,
        "terms_shape": list(target.shape), "grad_shape": [target.size, shape[axis]],
    }
    # losscli decided the axis itself: one note says so
    assert run.stderr.count("losscli: note:") == 1
    assert f"classes on axis {axis} of {tuple(shape)}; {target.size} positions flattened to rows" in run.stderr


def test_the_table_title_says_where_the_classes_are(cli, tmp_path):
    logits = RNG.normal(size=(4, 7, 50))
    target = RNG.integers(0, 50, size=(4, 7))
    run = cli("xent", save(tmp_path, "x.npy", logits), save(tmp_path, "y.npy", target), "-f", "table", "-q")
    assert run.status == 0
    assert run.stdout.splitlines()[0].endswith("classes on axis 2 of (4, 7, 50); 28 positions flattened to rows")


def test_when_both_axes_fit_it_is_a_usage_error_naming_class_dim(cli, tmp_path):
    logits = RNG.normal(size=(2, 4, 4))  # (B, T, V) with T == V, or (N, C, d) with C == d
    target = RNG.integers(0, 4, size=(2, 4))
    x, y = save(tmp_path, "x.npy", logits), save(tmp_path, "y.npy", target)
    run = cli("xent", x, y)
    assert run.status == 2 and run.stdout == ""
    assert "--class-dim 1" in run.stderr and "--class-dim -1" in run.stderr
    for flag, axis in (("1", 1), ("-1", 2), ("2", 2)):
        document = json_of(cli("xent", x, y, "--class-dim", flag, "-f", "json"))
        assert document["value"] == pytest.approx(expected_xent(logits, target, axis), rel=1e-13)
        assert document["layout"]["class_dim"] == axis
        assert document["layout"]["class_dim_from"] == "--class-dim"


def test_an_explicit_class_dim_adds_no_note_and_must_fit_the_targets(cli, tmp_path):
    logits = RNG.normal(size=(3, 4, 5))
    target = RNG.integers(0, 4, size=(3, 5))
    x, y = save(tmp_path, "x.npy", logits), save(tmp_path, "y.npy", target)
    run = cli("xent", x, y, "--class-dim", "1")
    assert run.status == 0 and run.stderr == ""
    assert float(run.stdout) == pytest.approx(expected_xent(logits, target, 1), rel=1e-13)
    wrong = cli("xent", x, y, "--class-dim", "-1")
    assert wrong.status == 1 and "(3, 4)" in wrong.stderr
    middle = cli("xent", x, y, "--class-dim", "0")
    assert middle.status == 2 and "--class-dim" in middle.stderr


def test_targets_that_fit_no_axis_are_a_data_error(cli, tmp_path):
    run = cli("xent", save(tmp_path, "x.npy", RNG.normal(size=(3, 4, 5))), save(tmp_path, "y.npy", np.zeros((4, 5), int)))
    assert run.status == 1
    assert "(3, 5)" in run.stderr and "(3, 4)" in run.stderr


def test_ignore_index_weights_and_label_smoothing_over_positions(cli, tmp_path):
    logits = RNG.normal(size=(3, 5, 4, 2))
    target = RNG.integers(0, 5, size=(3, 4, 2))
    target[0, 1, 1] = target[2, 3, 0] = -100
    weight = [0.5, 2.0, 1.0, 3.0, 0.25]
    x, y = save(tmp_path, "x.npy", logits), save(tmp_path, "y.npy", target)
    document = json_of(cli("xent", x, y, "-w", "0.5,2,1,3,0.25", "--label-smoothing", "0.1", "-f", "json"))
    assert document["value"] == pytest.approx(expected_xent(logits, target, 1, weight, smoothing=0.1), rel=1e-13)
    assert document["denominator"] == pytest.approx(np.asarray(weight)[target[target >= 0]].sum(), rel=1e-15)
    other = target.copy()
    other[other == -100] = 3
    document = json_of(cli("xent", x, save(tmp_path, "z.npy", other), "--ignore-index", "3", "-f", "json"))
    assert document["value"] == pytest.approx(expected_xent(logits, other, 1, ignore_index=3), rel=1e-13)


def test_probability_targets_need_class_dim_and_divide_by_the_positions(cli, tmp_path):
    logits = RNG.normal(size=(2, 3, 6))
    shares = np.exp(RNG.normal(size=(2, 3, 6)))
    shares /= shares.sum(axis=-1, keepdims=True)
    x, t = save(tmp_path, "x.npy", logits), save(tmp_path, "t.npy", shares)
    asked = cli("xent", x, t)
    assert asked.status == 2 and "--class-dim" in asked.stderr
    document = json_of(cli("xent", x, t, "--class-dim", "-1", "--label-smoothing", "0.2", "-f", "json"))
    smoothed = 0.8 * positions_last(shares, 2) + 0.2 / 6
    expected = np.mean(-np.sum(smoothed * positions_last(log_softmax(logits, 2), 2), axis=1))
    assert document["value"] == pytest.approx(expected, rel=1e-13)
    assert document["target_kind"] == "probs"


def test_the_gradient_has_a_row_per_position_with_the_classes_last(cli, tmp_path):
    logits = RNG.normal(size=(2, 3, 2, 2))  # (N, C, d1, d2): C = 3
    target = RNG.integers(0, 3, size=(2, 2, 2))
    document = json_of(cli("xent", save(tmp_path, "x.npy", logits), save(tmp_path, "y.npy", target), "-g", "-f", "json", "-q"))
    lp = positions_last(log_softmax(logits, 1), 1)
    one_hot = np.eye(3)[target.reshape(-1)]
    expected = (np.exp(lp) - one_hot) / target.size
    grad = np.array(document["grad"])
    assert grad.shape == tuple(document["layout"]["grad_shape"]) == (8, 3)
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-17)


def test_reduction_none_gives_the_terms_in_position_order(cli, tmp_path):
    logits = RNG.normal(size=(2, 4, 3))
    target = RNG.integers(0, 3, size=(2, 4))
    x, y = save(tmp_path, "x.npy", logits), save(tmp_path, "y.npy", target)
    lp = positions_last(log_softmax(logits, 2), 2)
    expected = -lp[np.arange(8), target.reshape(-1)]
    plain = cli("xent", x, y, "-r", "none", "-f", "plain", "-q")
    np.testing.assert_allclose([float(v) for v in plain.stdout.split()], expected, rtol=1e-13)
    document = json_of(cli("xent", x, y, "-r", "none", "-f", "json", "-q"))
    np.testing.assert_allclose(np.reshape(document["value"], document["layout"]["terms_shape"]), expected.reshape(2, 4), rtol=1e-13)


def test_nll_takes_k_dimensional_log_probabilities(cli, tmp_path):
    log_p = log_softmax(RNG.normal(size=(3, 4, 5)), 1)
    target = RNG.integers(0, 4, size=(3, 5))
    document = json_of(cli("nll", save(tmp_path, "x.npy", log_p), save(tmp_path, "y.npy", target), "-f", "json"))
    picked = np.take_along_axis(log_p, target[:, None, :], axis=1)
    assert document["value"] == pytest.approx(-picked.mean(), rel=1e-13)


def test_an_npz_of_logits_and_labels_and_inline_targets(cli, tmp_path):
    logits = RNG.normal(size=(2, 3, 4))
    target = RNG.integers(0, 4, size=(2, 3))
    np.savez(tmp_path / "batch.npz", logits=logits, labels=target)
    run = cli("xent", str(tmp_path / "batch.npz"), "-f", "json")
    document = json_of(run)
    assert document["value"] == pytest.approx(expected_xent(logits, target, 2), rel=1e-13)
    assert document["columns"] == {"logits": "logits", "target": "labels"}
    assert "logits = 'logits', target = 'labels'" in run.stderr
    inline = ";".join(",".join(map(str, row)) for row in target)
    again = json_of(cli("xent", save(tmp_path, "x.npy", logits), inline, "-f", "json"))
    assert again["value"] == document["value"]


def test_a_class_index_out_of_range_is_named_by_its_position(cli, tmp_path):
    target = np.zeros((2, 3), dtype=int)
    target[1, 2] = 4
    run = cli("xent", save(tmp_path, "x.npy", RNG.normal(size=(2, 3, 4))), save(tmp_path, "y.npy", target), "-q")
    assert run.status == 1
    assert "y.npy at (1, 2) (row 6): class index 4 is out of range for 4 classes" in run.stderr


@pytest.mark.parametrize("shape, axis", [((3, 4, 5, 6), 1), ((2, 50, 7), 1), ((3, 5, 11), 2)])
def test_blocks_split_positions_in_order_whatever_their_size(cli, tmp_path, monkeypatch, shape, axis):
    """Blocks smaller than one sample's values split the positions of a sample: the same order."""
    monkeypatch.setattr(kdim_inputs, "BLOCK_VALUES", 17)
    logits = RNG.normal(size=shape)
    target = RNG.integers(0, shape[axis], size=shape[:axis] + shape[axis + 1:])
    document = json_of(cli("xent", save(tmp_path, "x.npy", logits), save(tmp_path, "y.npy", target),
                           "--class-dim", str(axis), "-r", "none", "-f", "json"))
    lp = positions_last(log_softmax(logits, axis), axis)
    np.testing.assert_allclose(document["terms"], -lp[np.arange(target.size), target.reshape(-1)], rtol=1e-13)


def test_2d_logits_take_class_dim_1_and_refuse_others(cli):
    assert cli("xent", "1,2,0.5;0.1,-1,3", "1,2", "--class-dim", "1").stdout == cli("xent", "1,2,0.5;0.1,-1,3", "1,2").stdout
    assert cli("xent", "1,2,0.5;0.1,-1,3", "1,2", "--class-dim", "0").status == 2


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="VmHWM is Linux's")
def test_a_large_npy_is_read_in_bounded_memory(tmp_path):
    rng = np.random.default_rng(3)
    big = rng.standard_normal(size=(16, 256, 1000), dtype=np.float32)  # 16 MB; 33 MB as float64
    target = rng.integers(0, 1000, size=(16, 256))
    x, y = save(tmp_path, "x.npy", big), save(tmp_path, "y.npy", target)
    small_x, small_y = save(tmp_path, "sx.npy", big[:1]), save(tmp_path, "sy.npy", target[:1])
    (value,), peak = peak_kb(["xent", x, y, "-q"])
    _, base = peak_kb(["xent", small_x, small_y, "-q"])
    assert float(value) == pytest.approx(expected_xent(big.astype(np.float64), target, 2), rel=1e-12)
    # read whole, the logits alone would add 16 MB mapped and 33 MB as float64
    assert peak - base < 8 * 1024, (peak, base)


# --- element-wise losses: any shape pairs with its own ---------------------------------------


def test_bce_with_logits_of_any_shape_is_the_mean_over_elements(cli, tmp_path):
    x = RNG.normal(size=(2, 1, 3, 4)) * 3  # a segmentation mask's (N, 1, H, W)
    y = RNG.integers(0, 2, size=x.shape).astype(float)
    expected = np.mean(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x))))
    run = cli("bce-logits", save(tmp_path, "x.npy", x), save(tmp_path, "y.npy", y))
    assert run.status == 0, run.stderr
    assert float(run.stdout) == pytest.approx(expected, rel=1e-13)
    fortran = cli("bce-logits", save(tmp_path, "xf.npy", np.asfortranarray(x)), save(tmp_path, "yf.npy", np.asfortranarray(y)))
    assert float(fortran.stdout) == pytest.approx(expected, rel=1e-13)
    np.savez(tmp_path / "pair.npz", pred=x, target=y)
    assert float(cli("bce-logits", str(tmp_path / "pair.npz")).stdout) == pytest.approx(expected, rel=1e-13)


def test_focal_of_a_3d_array_is_focal_of_its_flattened_values(cli, tmp_path):
    x = RNG.normal(size=(2, 3, 4))
    y = RNG.integers(0, 2, size=x.shape).astype(float)
    shaped = cli("focal", save(tmp_path, "x.npy", x), save(tmp_path, "y.npy", y), "-r", "none", "-f", "plain")
    flat = cli("focal", save(tmp_path, "xr.npy", x.reshape(-1)), save(tmp_path, "yr.npy", y.reshape(-1)), "-r", "none", "-f", "plain")
    assert shaped.status == 0 and shaped.stdout == flat.stdout and len(shaped.stdout.split()) == 24


def test_element_wise_arrays_of_different_shapes_are_refused(cli, tmp_path):
    x = save(tmp_path, "x.npy", RNG.normal(size=(2, 3, 4)))
    for other in (RNG.normal(size=(4, 3, 2)), RNG.normal(size=24)):
        run = cli("mse", x, save(tmp_path, "y.npy", other))
        assert run.status == 1 and "different shapes" in run.stderr
    np.savez(tmp_path / "pair.npz", pred=RNG.normal(size=(2, 3, 4)), target=RNG.normal(size=(4, 3, 2)))
    run = cli("mse", str(tmp_path / "pair.npz"))
    assert run.status == 1 and "different shapes" in run.stderr


def test_k_dimensional_logits_from_stdin_and_2d_ones_still_read_as_a_table(cli, tmp_path):
    import io

    logits = RNG.normal(size=(2, 3, 4))
    target = RNG.integers(0, 4, size=(2, 3))
    buffer = io.BytesIO()
    np.save(buffer, logits)
    run = cli("xent", "-", save(tmp_path, "y.npy", target), "-f", "json", stdin=buffer.getvalue())
    assert json_of(run)["value"] == pytest.approx(expected_xent(logits, target, 2), rel=1e-13)
    flat = io.BytesIO()
    np.save(flat, logits[0])  # (3, 4): rows of logits, the ordinary table path
    run = cli("xent", "-", "0,1,3", "-f", "json", stdin=flat.getvalue())
    assert json_of(run)["value"] == pytest.approx(expected_xent(logits[:1], target[:1] * 0 + [[0, 1, 3]], 2), rel=1e-13)
    assert "layout" not in json_of(run)


def test_the_python_api_takes_k_dimensional_logits_as_pytorch_does():
    from losscli import cross_entropy, nll_loss

    logits = RNG.normal(size=(3, 4, 2, 5))
    target = RNG.integers(0, 4, size=(3, 2, 5))
    assert float(cross_entropy(logits, target).value) == pytest.approx(expected_xent(logits, target, 1), rel=1e-13)
    terms = cross_entropy(logits, target, reduction="none").value
    lp = log_softmax(logits, 1)
    np.testing.assert_allclose(terms, -np.take_along_axis(lp, target[:, None], axis=1)[:, 0], rtol=1e-13)
    tokens = RNG.normal(size=(2, 6, 3))
    labels = RNG.integers(0, 3, size=(2, 6))
    assert float(cross_entropy(tokens, labels, class_dim=-1).value) == pytest.approx(expected_xent(tokens, labels, 2), rel=1e-13)
    assert float(nll_loss(log_softmax(tokens, 2), labels, class_dim=-1).value) == pytest.approx(expected_xent(tokens, labels, 2), rel=1e-13)
    with pytest.raises(Exception, match="class_dim=-1"):
        cross_entropy(tokens, labels)  # PyTorch's default: classes on axis 1
