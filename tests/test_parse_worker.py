"""The numpy reader's worker processes (parse_worker) change nothing but the time: the same bytes
out, the same file:line errors, one line and 130 on Ctrl-C, no worker left behind.

Expectations: the same run with the workers turned off (LOSSCLI_WORKERS=0), numpy's own loadtxt,
and the error text the serial reader gives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from losscli import parse_worker, readers

RNG = np.random.default_rng(31)
BLOCK = 50_000  # bytes a block: a 1 MB file is about 20 blocks, most of them parsed by workers


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setenv("LOSSCLI_READER", "numpy")
    monkeypatch.setattr(readers.DelimitedTable._read_chunk, "__defaults__", (BLOCK,))


def _both(cli, monkeypatch, *argv):
    """The run with workers and without."""
    runs = []
    for workers in ("2", "0"):
        monkeypatch.setenv("LOSSCLI_WORKERS", workers)
        runs.append(cli(*argv))
    return runs


def _pairs(rows: int) -> np.ndarray:
    return RNG.normal(size=(rows, 2)) * 10.0 ** RNG.integers(-3, 4, size=(rows, 2))


def test_parse_is_loadtxt_or_none_with_the_lines_and_whether_a_long_exponent_occurs():
    options = dict(delimiter=",", comments="#", ndmin=2, dtype=np.float64)
    tails = readers.LONG_EXPONENT_TAILS_BYTES
    values, lines, found = parse_worker.parse(b"1,2\n3.5,-4e-300\n", options, tails)
    assert np.array_equal(values, [[1, 2], [3.5, -4e-300]]) and (lines, found) == (2, True)
    assert parse_worker.parse(b"1,2\n3,4E+05\n\n", options, tails)[1:] == (3, False)
    assert parse_worker.parse(b"1,2\n3,x\n", options, tails)[0] is None  # the main process names the field
    assert parse_worker.parse(b"1,2\n\xff,3\n", options, tails)[0] is None


def test_many_blocks_give_the_same_bytes_with_and_without_workers(cli, tmp_path, monkeypatch, small_blocks):
    values = _pairs(40_000)
    lines = [f"{a!r},{b!r}" for a, b in values.tolist()]
    # Blocks the workers decline or that need the main process: missing values, a comment,
    # a blank line, quoted fields, an out-of-range literal (the warning names its line).
    lines[7_000] = "NA,1.5"
    lines[15_000] = "# a comment"
    lines[20_000] = ""
    lines[25_000] = '"2.5","1"'
    lines[30_000] = "1e400,2"
    path = tmp_path / "pairs.csv"
    path.write_text("p,t\n" + "\n".join(lines) + "\n")
    for argv in (["mse", str(path), "-f", "json"], ["l1", str(path), "-r", "none", "--nan-policy", "omit"]):
        with_workers, without = _both(cli, monkeypatch, *argv)
        assert with_workers.status == without.status == 0, with_workers.stderr
        assert (with_workers.stdout, with_workers.stderr) == (without.stdout, without.stderr)
    assert "pairs.csv:30002: 1e400 is out of the float64 range" in without.stderr


def test_the_sum_is_numpys_over_the_whole_file(cli, tmp_path, monkeypatch, small_blocks):
    values = _pairs(30_000)
    path = tmp_path / "pairs.csv"
    np.savetxt(path, values, fmt="%.17g", delimiter=",")
    monkeypatch.setenv("LOSSCLI_WORKERS", "2")
    done = cli("mse", str(path), "-r", "none")
    expected = (values[:, 0] - values[:, 1]) ** 2
    assert np.array_equal(np.array(done.stdout.split(), dtype=float), expected)


@pytest.mark.parametrize("bad, message", [
    ("1.5,x", 'pairs.csv:{line}: column "t": \'x\' is not a number'),
    ("1.5,2,3", "pairs.csv:{line}: 3 fields, but the header has 2"),
])
def test_an_error_in_a_late_block_names_the_same_line(cli, tmp_path, monkeypatch, small_blocks, bad, message):
    lines = [f"{a!r},{b!r}" for a, b in _pairs(30_000).tolist()]
    lines[22_222] = bad
    path = tmp_path / "pairs.csv"
    path.write_text("p,t\n" + "\n".join(lines) + "\n")
    with_workers, without = _both(cli, monkeypatch, "mse", str(path))
    assert with_workers.status == without.status == 1
    assert with_workers.stderr == without.stderr
    assert message.format(line=22_224) in without.stderr


def test_ctrl_c_while_workers_parse_is_one_line_and_leaves_no_worker(tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("workers are forked on Linux only")
    path = tmp_path / "big.csv"
    np.savetxt(path, _pairs(2_000_000), fmt="%.17g", delimiter=",")  # seconds of parsing
    env = {**os.environ, "LOSSCLI_READER": "numpy", "LOSSCLI_WORKERS": "2"}
    command = [sys.executable, "-c", "from losscli.__main__ import run; run()", "mse", str(path)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    workers: list[str] = []
    deadline = time.monotonic() + 30
    while len(workers) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
        workers = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    assert len(workers) == 2, "the workers did not start"
    os.killpg(process.pid, signal.SIGINT)  # as a terminal does: to the whole process group
    _, err = process.communicate(timeout=60)
    assert (process.returncode, err.decode()) == (130, "losscli: interrupted\n")
    time.sleep(0.5)
    for pid in workers:  # dead (a zombie until init reaps it) or gone
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split()[2] in ("Z", "X")


def test_no_fork_means_the_main_process_parses_everything(cli, tmp_path, monkeypatch, small_blocks):
    # Too many processes (fork fails with EAGAIN): the same answer, nothing said about it.
    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(parse_worker, "_executor", None)  # as in a fresh process
    monkeypatch.setattr(os, "fork", no_fork)
    values = _pairs(20_000)
    path = tmp_path / "pairs.csv"
    np.savetxt(path, values, fmt="%.17g", delimiter=",")
    monkeypatch.setenv("LOSSCLI_WORKERS", "2")
    done = cli("mse", str(path), "-r", "none")
    assert (done.status, done.stderr) == (0, "")
    assert np.array_equal(np.array(done.stdout.split(), dtype=float), (values[:, 0] - values[:, 1]) ** 2)


@pytest.mark.parametrize("forks", [1, 2])
def test_a_pool_that_half_starts_is_stopped_and_the_answer_comes(tmp_path, forks):
    # Under a process limit the first worker forks and the next is refused: the started worker
    # waited for work for ever and the exit for it (a hang after the answer); now one line, exit 0.
    if not sys.platform.startswith("linux"):
        pytest.skip("workers are forked on Linux only")
    values = _pairs(300_000)
    path = tmp_path / "pairs.csv"
    np.savetxt(path, values, fmt="%.17g", delimiter=",")
    code = (
        "import os, sys\n"
        "real, calls = os.fork, [0]\n"
        "def fork():\n"
        "    calls[0] += 1\n"
        f"    if calls[0] > {forks}:\n"
        "        raise OSError(11, 'Resource temporarily unavailable')\n"
        "    return real()\n"
        "os.fork = fork\n"
        "from losscli.__main__ import run\n"
        f"sys.argv = ['losscli', 'mse', {str(path)!r}]\n"
        "run()\n"
    )
    env = {**os.environ, "LOSSCLI_READER": "numpy", "LOSSCLI_WORKERS": "2"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert (done.returncode, done.stderr) == (0, "")
    assert float(done.stdout) == pytest.approx(np.mean((values[:, 0] - values[:, 1]) ** 2), rel=1e-12)

