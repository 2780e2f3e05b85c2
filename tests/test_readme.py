"""Every ```console block of README.md, run again: the README shows what the code does today."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def console_examples() -> list[tuple[str, str]]:
    examples = []
    for block in re.findall(r"```console\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, output = chunk.partition("\n")
            examples.append((command, output))
    return examples


def write_readme_files(folder: Path) -> None:
    """results.csv and bad.csv exactly as they were made for the README."""
    rng = np.random.default_rng(1)
    y = rng.normal(size=1000).round(3)
    y_hat = (y + rng.normal(scale=0.3, size=1000)).round(3)
    rows = "".join(f"{i + 1},{a},{b}\n" for i, (a, b) in enumerate(zip(y_hat, y)))
    (folder / "results.csv").write_text("id,y_hat,y\n" + rows)
    (folder / "bad.csv").write_text("y_hat,y\n1,2\n3,x\n")


EXAMPLES = console_examples()


def test_the_readme_has_examples():
    assert len(EXAMPLES) >= 15


@pytest.mark.parametrize("command, expected", EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_readme_example_is_what_losscli_prints(cli, tmp_path, monkeypatch, command, expected):
    monkeypatch.chdir(tmp_path)
    write_readme_files(tmp_path)
    argv = shlex.split(command)
    assert argv[0] == "losscli"
    run = cli(*argv[1:])
    printed = [line.rstrip() for line in (run.stderr + run.stdout).splitlines()]
    assert printed == [line.rstrip() for line in expected.splitlines()]
