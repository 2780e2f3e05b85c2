"""The optional polars reader gives exactly what the default numpy reader gives: values and errors."""

from __future__ import annotations

import numpy as np
import pytest

from losscli import fast_reader

ODD_FILES = {
    "repr floats": "".join(f"{a!r},{b!r}\n" for a, b in np.random.default_rng(2).normal(size=(5000, 2)).tolist()),
    "hard decimals": "2.2250738585072011e-308,9007199254740993\n0.1000000000000000055511151231257827,1e-5\n-0,5e-324\n",
    "specials": "y_hat,y\nnan,1\ninf,-inf\nInfinity,+1.5\n.5,5.\n",
    "quotes and CRLF": 'y_hat,y\r\n"1.5","2"\r\n3,"4.25"\r\n',
    "spaces": "y_hat,y\n 1.5, 2\n3 ,4\n",
    "comments and blanks": "# header next\ny_hat,y\n1,2\n\n# note\n3,4\n",
    "bad value deep down": "y_hat,y\n" + "1,2\n" * 70_000 + "3,x\n" + "5,6\n" * 10,
    "empty field": "y_hat,y\n1,2\n3,\n",
    "ragged": "y_hat,y\n1,2\n3,4,5\n",
    "underscore": "y_hat,y\n1_000,2\n",
    "hex": "y_hat,y\n0x10,2\n",
    "NA": "y_hat,y\nNA,2\n",
    "tab": "a\tb\n1\t2\n3\t4\n",
    "semicolons": "a;b\n1,5;2\n",
    "no final newline": "a,b\n1,2\n3,4",
}


def test_the_fast_reader_is_installed_for_the_tests():
    # make test installs losscli[fast]; without it the comparisons below would compare numpy with itself.
    assert fast_reader.enabled()


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("name", list(ODD_FILES))
def test_both_readers_print_the_same_bytes(cli, tmp_path, monkeypatch, name, reduction):
    path = tmp_path / "t.csv"
    path.write_text(ODD_FILES[name])
    runs = {}
    for reader in ("numpy", "auto"):
        monkeypatch.setenv("LOSSCLI_READER", reader)
        runs[reader] = cli("l1", str(path), "-r", reduction, "-f", "csv")
    assert runs["numpy"] == runs["auto"]


def test_both_readers_agree_on_a_multi_block_file(cli, tmp_path, monkeypatch):
    rng = np.random.default_rng(9)
    values = rng.standard_cauchy(size=(300_000, 2))  # wide exponents, many digits
    path = tmp_path / "big.csv"
    path.write_text("p,t\n" + "".join(f"{a!r},{b!r}\n" for a, b in values.tolist()))
    outputs = []
    for reader in ("numpy", "auto"):
        monkeypatch.setenv("LOSSCLI_READER", reader)
        outputs.append(cli("mse", str(path), "-r", "none").stdout)
    assert outputs[0] == outputs[1]
    assert np.array_equal(np.array(outputs[0].split(), dtype=float), (values[:, 0] - values[:, 1]) ** 2)
