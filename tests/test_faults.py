"""Faults of the process and its streams: a full or closed stdout, a closed or broken stderr, a
temporary directory that is missing or full, ``--`` before names that start with '-', control
characters in messages, Ctrl-C at any moment.

Most need real file descriptors, so they run losscli as a subprocess (``python -m losscli``, and
the installed console script where one row says so).
"""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from losscli import render
from losscli.environment import Environment
from losscli.errors import DataError

PYTHON_M = [sys.executable, "-m", "losscli"]
SCRIPT = [str(Path(sys.executable).with_name("losscli"))]  # the venv's console script

# Two rows, one header: mean of (1−3)², (2−2)² = 2; gradient 2(ŷ−y)/n = −2, 0.
SMALL = "y_hat,y\n1,3\n2,2\n"
WITH_NAN = "y_hat,y\n1,3\nnan,2\n"
CONTROL_NAME = "\x1b[31mbad\r\n.csv"  # colour escape, carriage return, newline

NO_SPACE = "cannot write to stdout: No space left on device"
CLOSED = "cannot write to stdout: Bad file descriptor (stdout is closed)"

# (id, command, stdout, stderr, environment, status, expected stdout, expected stderr)
# stdout/stderr: "pipe" (captured), "full" (/dev/full), "closed" (fd closed, as `>&-`), "broken"
# (a pipe whose reader is gone). Expected stdout: the exact text, a dict of JSON fields, or None
# when not captured. Expected stderr: "" (nothing), a fragment of the one error line, or None.
FAULTS = [
    ("stdout-full", ["mse", "2,3,4,5", "4,5,6,7"], "full", "pipe", {}, 1, None, NO_SPACE),
    ("stdout-full-unbuffered", ["mse", "2,3,4,5", "4,5,6,7"], "full", "pipe", {"PYTHONUNBUFFERED": "1"}, 1, None, NO_SPACE),
    ("stdout-full-script", SCRIPT + ["mse", "2,3,4,5", "4,5,6,7"], "full", "pipe", {}, 1, None, NO_SPACE),
    ("stdout-full-table", ["mse", "2,3,4,5", "4,5,6,7", "--format", "table"], "full", "pipe", {}, 1, None, NO_SPACE),
    ("stdout-full-stream", ["mse", "small.csv", "-r", "none", "-f", "csv"], "full", "pipe", {}, 1, None, NO_SPACE),
    ("stdout-full-json-spool", ["mse", "small.csv", "--grad", "-f", "json"], "full", "pipe", {"PYTHONUNBUFFERED": "1"}, 1, None, NO_SPACE),
    ("stdout-closed", ["mse", "2,3,4,5", "4,5,6,7"], "closed", "pipe", {}, 1, None, CLOSED),
    ("stdout-closed-unbuffered", ["mse", "2,3,4,5", "4,5,6,7"], "closed", "pipe", {"PYTHONUNBUFFERED": "1"}, 1, None, CLOSED),
    ("stdout-closed-script", SCRIPT + ["mse", "small.csv", "-r", "none"], "closed", "pipe", {}, 1, None, CLOSED),
    # A warning is best effort: without stderr the result and the status are those of a normal run.
    ("warning-shown", ["mse", "1e200", "0"], "pipe", "pipe", {}, 0, "inf\n", "warning: 1 term overflowed to inf"),
    ("warning-stderr-closed", ["mse", "1e200", "0"], "pipe", "closed", {}, 0, "inf\n", None),
    ("warning-stderr-closed-script", SCRIPT + ["mse", "1e200", "0"], "pipe", "closed", {}, 0, "inf\n", None),
    ("warning-stderr-closed-unbuffered", ["mse", "1e200", "0"], "pipe", "closed", {"PYTHONUNBUFFERED": "1"}, 0, "inf\n", None),
    ("warning-stderr-broken", ["mse", "1e200", "0"], "pipe", "broken", {}, 0, "inf\n", None),
    ("warning-stderr-full", ["mse", "1e200", "0"], "pipe", "full", {}, 0, "inf\n", None),
    ("warning-stderr-closed-file", ["mse", "nan.csv"], "pipe", "closed", {}, 0, "nan\n", None),
    ("error-stderr-closed", ["mse", "1,2", "1,x"], "pipe", "closed", {}, 1, "", None),
    ("usage-stderr-broken", ["mse", "1,2", "3,4", "--frobnicate"], "pipe", "broken", {}, 2, "", None),
    # The spool of --format json: $TMPDIR is used when set, and its failure named.
    ("tmpdir-used", ["mse", "small.csv", "--grad", "-f", "json"], "pipe", "pipe", {"TMPDIR": "{dir}"}, 0,
     {"value": 2.0, "grad": [-2.0, 0.0]}, ""),
    ("tmpdir-missing", ["mse", "small.csv", "--grad", "-f", "json"], "pipe", "pipe", {"TMPDIR": "{dir}/no/such"}, 1, "",
     "cannot use temporary directory {dir}/no/such: No such file or directory; set TMPDIR to a writable folder"),
    ("tmpdir-is-a-file", ["mse", "small.csv", "-r", "mean", "--grad", "-f", "csv"], "pipe", "pipe", {"TMPDIR": "{dir}/small.csv"}, 1, "",
     "cannot use temporary directory {dir}/small.csv: Not a directory"),
    # "--" ends the options, so a file whose name starts with '-' can be named.
    ("dashdash-file", ["mse", "--", "-lead.csv"], "pipe", "pipe", {}, 0, "2.0\n", ""),
    ("dashdash-after-options", ["mse", "--grad", "-f", "json", "--", "-lead.csv"], "pipe", "pipe", {}, 0, {"grad": [-2.0, 0.0]}, ""),
    ("dashdash-missing-file", ["mse", "--", "-none.csv"], "pipe", "pipe", {}, 1, "", "-none.csv: no such file"),
    ("dashdash-inline", ["l1", "--", "-1,-2", "3,4"], "pipe", "pipe", {}, 0, "5.0\n", ""),  # (4 + 6) / 2
    ("negative-inline", ["l1", "-1,-2", "3,4"], "pipe", "pipe", {}, 0, "5.0\n", ""),
    ("option-without-dashdash", ["mse", "1,2", "--frobnicate"], "pipe", "pipe", {}, 2, "", "no such option: --frobnicate"),
    ("dashdash-extra", ["mse", "--", "-lead.csv", "-x", "-y"], "pipe", "pipe", {}, 2, "", "unexpected extra argument"),
    # Without "--" the name is read as short options; a file of that name here gets the hint.
    ("dash-file-hint", ["mse", "-lead.csv", "2"], "pipe", "pipe", {}, 2, "",
     "-lead.csv is a file here: put it after `--` (losscli mse -- -lead.csv)"),
    # Control characters in a file name are escaped, never sent to the terminal.
    ("control-file-name", ["mse", CONTROL_NAME], "pipe", "pipe", {}, 1, "", "\\x1b[31mbad\\r\\n.csv"),
    # ... and in a column name, escaped once (not '\\\\x1b' as repr of the escaped text gives).
    ("control-column-name", ["mse", "small.csv", "--pred", "p\x1bq"], "pipe", "pipe", {}, 2, "", "--pred 'p\\x1bq': no such column"),
]


def _files(folder: Path) -> None:
    (folder / "small.csv").write_text(SMALL)
    (folder / "-lead.csv").write_text(SMALL)
    (folder / "nan.csv").write_text(WITH_NAN)
    (folder / CONTROL_NAME).write_text("y_hat,y\n1,x\n")


def _stream(kind: str, closers: list):
    if kind == "pipe":
        return subprocess.PIPE
    if kind == "full":
        handle = open("/dev/full", "wb")
        closers.append(handle.close)
        return handle
    if kind == "broken":
        read_end, write_end = os.pipe()
        os.close(read_end)
        closers.append(lambda: os.close(write_end))
        return write_end
    return None  # "closed": closed in the child, see _close_in_child


def run_fault(command, stdout, stderr, env, cwd: Path) -> tuple[int, str | None, str | None]:
    argv = command if command[0] == SCRIPT[0] else PYTHON_M + command
    closers: list = []
    to_close = [fd for fd, kind in ((1, stdout), (2, stderr)) if kind == "closed"]

    def close_in_child() -> None:
        for fd in to_close:
            os.close(fd)

    environment = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    environment.update({k: v.format(dir=cwd) for k, v in env.items()})
    try:
        process = subprocess.run(
            argv, cwd=cwd, env=environment, stdin=subprocess.DEVNULL,
            stdout=_stream(stdout, closers), stderr=_stream(stderr, closers),
            preexec_fn=close_in_child if to_close else None, timeout=60,
        )
    finally:
        for close in closers:
            close()
    decode = lambda data: None if data is None else data.decode("utf-8")  # noqa: E731
    return process.returncode, decode(process.stdout), decode(process.stderr)


@pytest.mark.parametrize(
    "command, stdout, stderr, env, status, expected_out, expected_err",
    [row[1:] for row in FAULTS],
    ids=[row[0] for row in FAULTS],
)
def test_fault(tmp_path, command, stdout, stderr, env, status, expected_out, expected_err):
    _files(tmp_path)
    code, out, err = run_fault(command, stdout, stderr, env, tmp_path)
    assert code == status, err
    if isinstance(expected_out, dict):
        document = json.loads(out)
        assert {key: document[key] for key in expected_out} == expected_out
    else:
        assert out == expected_out
    if err is None:
        return
    assert "Traceback" not in err
    if expected_err == "":
        assert err == ""
        return
    # One line, the tool's name first, and nothing in it that could drive a terminal.
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("losscli: error: " if status else "losscli: warning: ")
    assert expected_err.format(dir=tmp_path) in err
    assert not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in err[:-1]), repr(err)


# ---------------------------------------------------------------------------------------------
# the temporary directory failing under the spool: injected (a full disk cannot be made here)


class _FullFile(io.BytesIO):
    """A temporary file on a disk that fills up: writes fail with ENOSPC (or ``code``)."""

    code = errno.ENOSPC

    def write(self, data) -> int:
        raise OSError(self.code, os.strerror(self.code))


class _QuotaFile(_FullFile):
    code = errno.EDQUOT


class _FullOnFlush(io.BytesIO):
    """Writes land in a buffer; the disk is found full when it is flushed."""

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _refuse(code: int):
    def temporary_file(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return temporary_file


def _no_usable_dir():
    raise FileNotFoundError(errno.ENOENT, "No usable temporary directory found in ['/tmp']")


SPOOL_FAULTS = [
    # (id, TMPDIR, what tempfile does, expected message)
    ("full-on-write", "/big", {"TemporaryFile": lambda *a, **k: _FullFile()},
     "temporary directory /big is full; set TMPDIR to a folder with room"),
    ("quota-on-write", "/big", {"TemporaryFile": lambda *a, **k: _QuotaFile()},
     "temporary directory /big is full; set TMPDIR to a folder with room"),
    ("full-on-flush", "/big", {"TemporaryFile": lambda *a, **k: _FullOnFlush()},
     "temporary directory /big is full; set TMPDIR to a folder with room"),
    ("read-only", "/ro", {"TemporaryFile": _refuse(errno.EROFS)},
     "cannot use temporary directory /ro: Read-only file system; set TMPDIR to a writable folder"),
    ("no-permission", "/ro", {"TemporaryFile": _refuse(errno.EACCES)},
     "cannot use temporary directory /ro: Permission denied; set TMPDIR to a writable folder"),
    ("none-usable", None, {"gettempdir": _no_usable_dir},
     "no temporary directory: No usable temporary directory found in ['/tmp']; set TMPDIR to a writable folder"),
]


@pytest.mark.parametrize("tmpdir, patches, message", [row[1:] for row in SPOOL_FAULTS], ids=[row[0] for row in SPOOL_FAULTS])
@pytest.mark.parametrize("extra", [["-f", "json"], ["-f", "csv", "--grad"]], ids=["json", "csv-grad"])
def test_spool_fault(cli, monkeypatch, tmp_path, tmpdir, patches, message, extra):
    import tempfile

    (tmp_path / "small.csv").write_text(SMALL)
    if tmpdir is None:
        monkeypatch.delenv("TMPDIR", raising=False)
    else:
        monkeypatch.setenv("TMPDIR", tmpdir)
    for name, replacement in patches.items():
        monkeypatch.setattr(tempfile, name, replacement)
    run = cli("mse", str(tmp_path / "small.csv"), *extra)
    assert (run.status, run.stdout, run.stderr) == (1, "", f"losscli: error: {message}\n")


# ---------------------------------------------------------------------------------------------
# control characters: escaped where every message is written, whatever raised it


def test_any_error_message_is_escaped(cli, monkeypatch):
    from losscli import losses

    def raising(*args, **kwargs):
        raise DataError("column \x1b]0;title\x07 in a\rb\nc\tname \u202e")

    monkeypatch.setattr(losses, "pointwise_loss", raising)
    run = cli("mse", "1,2", "3,4")
    assert (run.status, run.stdout) == (1, "")
    assert run.stderr == "losscli: error: column \\x1b]0;title\\x07 in a\\rb\\nc\\tname \\u202e\n"


def test_typer_usage_errors_are_escaped(cli):
    run = cli("\x1b[2Jnosuch", "1")
    assert run.status == 2
    assert run.stderr.count("\n") == 1 and "\x1b" not in run.stderr and "\\x1b[2Jnosuch" in run.stderr


def test_warnings_are_escaped_and_never_fail():
    out = io.StringIO()
    Environment(stdin=None, stdout=out, stderr=out).warn("row \x1b[31m1\x1b[0m\r")
    assert out.getvalue() == "losscli: warning: row \\x1b[31m1\\x1b[0m\\r\n"

    closed = io.StringIO()
    closed.close()
    for stderr in (None, closed):
        Environment(stdin=None, stdout=io.StringIO(), stderr=stderr).warn("lost, harmlessly")


# ---------------------------------------------------------------------------------------------
# Ctrl-C


def test_the_entry_point_imports_nothing_heavy():
    """Ctrl-C is handled before numpy and Typer load: the entry module must not import them."""
    (entry,) = metadata.entry_points(group="console_scripts", name="losscli")
    assert entry.value == "losscli.__main__:run"
    probe = "import sys, losscli.__main__; print(sorted({'numpy', 'typer', 'rich'} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded == "[]\n"
    from losscli import LossResult, mse  # the API is still there, loaded on first use

    assert float(mse([2, 3], [4, 6]).value) == (4 + 9) / 2 and LossResult is type(mse([1], [1]))


# python -S: the interpreter's own start-up (site and its .pth files) is not losscli's code; a
# Ctrl-C there is Python's. From the entry point on, every interrupt must give one line and 130.
_LAUNCH = [sys.executable, "-S", "-c",
           "import sys; sys.path[:0] = {paths!r}; from losscli.__main__ import run; run()"]


def _interrupted_run(delays: list[float]) -> tuple[int, str]:
    import site

    paths = [str(Path(__file__).resolve().parents[1]), *site.getsitepackages()]
    argv = [part.format(paths=paths) if "{paths" in part else part for part in _LAUNCH] + ["mse"]
    # Reading the table from a stdin that never ends keeps losscli running at every delay.
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for delay in delays:
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    return process.returncode, err.decode()


@pytest.mark.parametrize("delays", [[0], [0.05], [0.1], [0.2], [0.4], [0.05, 0.01]],
                         ids=["0", "0.05", "0.1", "0.2", "0.4", "twice"])
def test_ctrl_c_at_any_moment(delays):
    status, err = _interrupted_run(delays)
    assert "Traceback" not in err
    if status == -signal.SIGINT:
        # Delivered before the interpreter set up its handler: killed silently, as a shell reports 130.
        assert err == "" and delays == [0]
    else:
        assert (status, err) == (130, "losscli: interrupted\n")


@pytest.mark.parametrize("limit_kb", [60_000, 150_000])
def test_too_little_memory_to_start_is_one_line_not_a_traceback(limit_kb):
    # Under a small `ulimit -v` numpy's or pydantic's libraries cannot be mapped: the machine's
    # problem, said in one line (which library fails first depends on the limit).
    command = " ".join(map(str, SCRIPT)) + " mse 1,2 3,4"
    done = subprocess.run(["bash", "-c", f"ulimit -v {limit_kb}; {command}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("losscli: error: cannot start: ") and done.stderr.count("\n") == 1
