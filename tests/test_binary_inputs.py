"""Binary inputs (.npy, .npz, parquet, Arrow IPC/feather) give the answers of the same numbers in a CSV."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from tests.memory import peak_kb

RNG = np.random.default_rng(12)
PRED, TARGET = RNG.normal(size=9), RNG.normal(size=9)
LOGITS, LABELS = RNG.normal(size=(8, 4)), RNG.integers(0, 4, size=8)


def _csv(path, header: list[str] | None, *columns) -> str:
    """A CSV of the columns (a 2-D array is several), every value written exactly (repr)."""
    table = np.column_stack(columns)
    lines = ([",".join(header)] if header else []) + [",".join(repr(float(v)) for v in row) for row in table]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _answer(cli, *argv) -> dict:
    done = cli(*argv, "-f", "json", "-q")
    assert done.status == 0, done.stderr
    document = json.loads(done.stdout)
    return {key: document[key] for key in ("value", "terms", "n", "dtype")}


def test_npy_pairs_equal_the_csv_answer_for_l1_and_mse(cli, tmp_path):
    np.save(tmp_path / "pred.npy", PRED)
    np.save(tmp_path / "target.npy", TARGET)
    np.save(tmp_path / "both.npy", np.column_stack([PRED, TARGET]))
    table = _csv(tmp_path / "both.csv", None, PRED, TARGET)
    for loss in ("l1", "mse"):
        expected = _answer(cli, loss, table)
        assert expected["value"] == pytest.approx(
            np.mean(np.abs(PRED - TARGET)) if loss == "l1" else np.mean((PRED - TARGET) ** 2), rel=1e-15
        )
        assert _answer(cli, loss, str(tmp_path / "pred.npy"), str(tmp_path / "target.npy")) == expected
        assert _answer(cli, loss, str(tmp_path / "both.npy")) == expected


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_members_play_the_roles_their_names_say(cli, tmp_path, save):
    save(tmp_path / "run.npz", y=TARGET, y_hat=PRED)  # target first: the names decide, not the order
    expected = _answer(cli, "mse", _csv(tmp_path / "run.csv", ["y_hat", "y"], PRED, TARGET))
    assert _answer(cli, "mse", str(tmp_path / "run.npz")) == expected


def test_npz_members_chosen_with_flags(cli, tmp_path):
    np.savez(tmp_path / "run.npz", a=PRED, b=TARGET, c=TARGET + 1)
    expected = _answer(cli, "l1", _csv(tmp_path / "run.csv", None, PRED, TARGET + 1))
    assert _answer(cli, "l1", str(tmp_path / "run.npz"), "--pred", "a", "--target", "c") == expected


def test_ambiguous_npz_members_are_a_usage_error_naming_the_flags(cli, tmp_path):
    np.savez(tmp_path / "run.npz", a=PRED, b=TARGET, c=TARGET)
    done = cli("mse", str(tmp_path / "run.npz"))
    assert done.status == 2
    assert "--pred and --target" in done.stderr and '"a", "b", "c"' in done.stderr
    assert "Traceback" not in done.stderr


def test_xent_on_2d_logits_and_integer_targets_equals_the_csv_and_a_hand_formula(cli, tmp_path):
    np.save(tmp_path / "logits.npy", LOGITS)
    np.save(tmp_path / "labels.npy", LABELS)  # int64: class indices as they are
    np.savez(tmp_path / "batch.npz", logits=LOGITS, labels=LABELS)
    logits_csv = _csv(tmp_path / "logits.csv", None, LOGITS)
    labels_csv = tmp_path / "labels.csv"
    labels_csv.write_text("\n".join(map(str, LABELS)) + "\n")
    expected = _answer(cli, "xent", logits_csv, str(labels_csv))
    top = LOGITS.max(axis=1)
    by_hand = np.mean(np.log(np.exp(LOGITS - top[:, None]).sum(axis=1)) + top - LOGITS[np.arange(8), LABELS])
    assert expected["value"] == pytest.approx(by_hand, rel=1e-14)
    assert _answer(cli, "xent", str(tmp_path / "logits.npy"), str(tmp_path / "labels.npy")) == expected
    assert _answer(cli, "xent", str(tmp_path / "batch.npz")) == expected
    assert _answer(cli, "xent", str(tmp_path / "batch.npz"), "--logits", "logits", "--target", "labels") == expected


def test_softmax_of_a_2d_npy_equals_the_csv_answer(cli, tmp_path):
    np.save(tmp_path / "logits.npy", LOGITS)
    expected = _answer(cli, "softmax", _csv(tmp_path / "logits.csv", None, LOGITS))
    assert np.allclose(np.array(expected["value"]).sum(axis=1), 1, rtol=1e-15, atol=1e-15)
    assert _answer(cli, "softmax", str(tmp_path / "logits.npy")) == expected


def test_float32_npy_is_float64_unless_dtype_float32_is_asked(cli, tmp_path):
    values = np.float32(RNG.normal(size=(5, 3)))
    np.save(tmp_path / "x.npy", values)
    table = _csv(tmp_path / "x.csv", None, values.astype(np.float64))  # the float32 values, exactly
    assert _answer(cli, "softmax", str(tmp_path / "x.npy")) == _answer(cli, "softmax", table)
    as32 = _answer(cli, "softmax", str(tmp_path / "x.npy"), "--dtype", "float32")
    assert as32["dtype"] == "float32" and as32 == _answer(cli, "softmax", table, "--dtype", "float32")


@pytest.mark.parametrize("kind", ["parquet", "ipc"])
def test_parquet_and_feather_columns_equal_the_csv_answer(cli, tmp_path, kind):
    frame = pl.DataFrame({"id": np.arange(9), "pred": PRED, "target": TARGET})
    path = tmp_path / ("run.parquet" if kind == "parquet" else "run.feather")
    frame.write_parquet(path) if kind == "parquet" else frame.write_ipc(path)
    table = _csv(tmp_path / "run.csv", ["id", "pred", "target"], np.arange(9), PRED, TARGET)
    for loss in ("l1", "mse"):
        assert _answer(cli, loss, str(path)) == _answer(cli, loss, table)
    logits = pl.DataFrame({f"logit_{c}": LOGITS[:, c] for c in range(4)} | {"label": LABELS})
    logits.write_parquet(tmp_path / "cls.parquet")
    cls_csv = tmp_path / "cls.csv"
    cls_csv.write_text("logit_0,logit_1,logit_2,logit_3,label\n" + "".join(
        ",".join(repr(float(v)) for v in row) + f",{y}\n" for row, y in zip(LOGITS, LABELS)))
    assert _answer(cli, "xent", str(tmp_path / "cls.parquet")) == _answer(cli, "xent", str(cls_csv))
    assert _answer(cli, "softmax", str(tmp_path / "cls.parquet"), "--logits", "1-4") == _answer(
        cli, "softmax", str(cls_csv), "--logits", "1-4")


def test_binary_stdin_is_read_like_the_file(cli, tmp_path):
    np.savez(tmp_path / "run.npz", y_hat=PRED, y=TARGET)
    data = (tmp_path / "run.npz").read_bytes()
    done = cli("mse", "-", "-f", "json", "-q", stdin=data)
    assert json.loads(done.stdout)["value"] == _answer(cli, "mse", str(tmp_path / "run.npz"))["value"]


def test_pickled_object_arrays_are_refused_cleanly(cli, tmp_path):
    np.save(tmp_path / "objects.npy", np.array([1.0, "a", None], dtype=object), allow_pickle=True)
    np.save(tmp_path / "target.npy", np.zeros(3))
    done = cli("mse", str(tmp_path / "objects.npy"), str(tmp_path / "target.npy"))
    assert done.status == 1
    assert done.stderr.startswith("losscli: error: ") and "never unpickles" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_unknown_binary_names_the_supported_formats_and_a_wrong_extension_is_named(cli, tmp_path):
    (tmp_path / "blob.bin").write_bytes(b"\x01\x02\x00\x00binary")
    done = cli("mse", str(tmp_path / "blob.bin"))
    assert done.status == 1 and "NUL byte" in done.stderr and ".npy, .npz, parquet" in done.stderr
    np.save(tmp_path / "x.npy", PRED)
    (tmp_path / "x.parquet").write_bytes((tmp_path / "x.npy").read_bytes())
    done = cli("mse", str(tmp_path / "x.parquet"), str(tmp_path / "x.npy"))
    assert done.status == 1 and "not a parquet file" in done.stderr


def test_a_3d_array_is_refused_with_its_shape(cli, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 4)))
    done = cli("softmax", str(tmp_path / "x.npy"))
    assert done.status == 1 and "(2, 3, 4)" in done.stderr


def test_a_big_npy_is_read_in_flat_memory(tmp_path):
    rows = 2_000_000
    pred = np.random.default_rng(3).normal(size=(rows, 2))
    np.save(tmp_path / "big.npy", pred)  # 32 MB of values
    np.save(tmp_path / "small.npy", pred[:1000])
    (value,), peak = peak_kb(["mse", str(tmp_path / "big.npy"), "-f", "plain"], reader="numpy")
    _, base = peak_kb(["mse", str(tmp_path / "small.npy"), "-f", "plain"], reader="numpy")
    assert float(value) == pytest.approx(np.mean((pred[:, 0] - pred[:, 1]) ** 2), rel=1e-12)
    assert peak - base < 20_000, (peak, base)  # well under the 32 MB the file holds


def test_parquet_without_the_fast_extra_says_which_extra_to_install(cli, tmp_path, monkeypatch):
    import importlib.util

    pl.DataFrame({"pred": PRED, "target": TARGET}).write_parquet(tmp_path / "run.parquet")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "polars" else real(name, *a))
    done = cli("mse", str(tmp_path / "run.parquet"))
    assert done.status == 2 and "pip install 'losscli[fast]'" in done.stderr
    assert len(done.stderr.splitlines()) == 1
