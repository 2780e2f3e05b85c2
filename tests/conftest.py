from __future__ import annotations

import io
import os
from dataclasses import dataclass

import pytest
from hypothesis import settings

# CI must pass or fail the same way every time: there the examples are drawn from a fixed seed.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

from losscli.cli import main
from losscli.environment import Environment


@dataclass
class Run:
    status: int
    stdout: str
    stderr: str


def run_cli(*argv: str, stdin: bytes = b"", tty: bool = False, stdin_tty: bool = False) -> Run:
    """Run losscli in-process with injected streams; ``tty`` makes stdout look like a terminal."""
    out, err = io.StringIO(), io.StringIO()
    env = Environment(
        stdin=io.BytesIO(stdin),
        stdout=out,
        stderr=err,
        stdin_isatty=stdin_tty,
        stdout_isatty=tty,
        stderr_isatty=False,
    )
    status = main(list(argv), env)
    return Run(status, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def write(tmp_path):
    """Write a file in the test's folder (text as UTF-8, or bytes as given) and return its path."""

    def write(name: str, content: str | bytes) -> str:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(path)

    return write


def without_columns(stdout: str) -> str:
    """JSON output without the ``columns`` a table was read from: what inline input of the
    same numbers prints (the columns are tested on their own in test_columns.py)."""
    import json

    document = json.loads(stdout)
    document.pop("columns", None)
    return json.dumps(document, ensure_ascii=False) + "\n"
