"""Every ```console block of README.md, run again: the README shows what the code does today."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
# A block fenced with more backticks can hold output that has ``` in it (--format markdown).
README_COLUMNS = "80"
CONSOLE_BLOCK = re.compile(r"^(`{3,})console\n(.*?)^\1$", flags=re.S | re.M)


def console_examples() -> list[tuple[str, str]]:
    examples = []
    for _, block in CONSOLE_BLOCK.findall(README.read_text(encoding="utf-8")):
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
    # How losscli reads your columns: files as pandas and its users write them.
    (folder / "scores.csv").write_text(",target,prediction\n0,1.5,1.25\n1,0.5,1.0\n2,2.0,2.5\n3,1.0,0.75\n")
    cls = (
        "id,logit_cat,logit_dog,logit_bird,label,label_name,fold\n"
        "1,2.0,0.5,-1.0,{0},cat,0\n2,0.1,1.2,0.3,{1},dog,1\n3,-0.5,0.2,1.5,{2},bird,0\n4,1.1,1.0,0.9,{1},dog,1\n"
    )
    (folder / "cls.csv").write_text(cls.format(0, 1, 2))
    (folder / "cls1.csv").write_text(cls.format(1, 2, 3))  # 1-based labels
    (folder / "frame.csv").write_text("0,1\n0.25,0.5\n1.5,1.0\n-0.5,0.0\n")
    (folder / "counts.csv").write_text("0,1\n3,2\n5,5\n")
    (folder / "three.csv").write_text("a,b,c\n1.5,2.0,1.0\n0.5,0.0,1.0\n")
    # numpy files, as np.save and np.savez write them.
    np.save(folder / "preds.npy", np.array([2.5, 0.0, 2.0, 8.0]))
    np.save(folder / "targets.npy", np.array([3.0, -0.5, 2.0, 7.0]))
    np.savez(folder / "batch.npz", logits=np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]]), labels=np.array([1, 2]))
    # Big data: what `losscli mse shard-0N --pred 2 --target 3 --no-header -f partial` writes for the
    # four 250-row shards of results.csv, and an l1 partial of the first one.
    from losscli.losses.partial import partial_of

    parts = [partial_of("mse", y_hat[i : i + 250], y[i : i + 250]).to_dict() for i in range(0, 1000, 250)]
    (folder / "parts.jsonl").write_text("".join(json.dumps(part) + "\n" for part in parts))
    (folder / "l1.jsonl").write_text(json.dumps(partial_of("l1", y_hat[:250], y[:250]).to_dict()) + "\n")
    # Big data: K-dimensional logits, as a language model's (B, T, V) and a segmenter's (N, C, H, W).
    rng = np.random.default_rng(7)
    np.save(folder / "lm_logits.npy", rng.normal(size=(2, 3, 5)).round(1).astype(np.float32))
    np.save(folder / "lm_labels.npy", np.array([[4, 0, 2], [1, 1, -100]]))
    np.save(folder / "seg_logits.npy", rng.normal(size=(2, 3, 2, 2)).round(1))
    np.save(folder / "seg_labels.npy", np.array([[[0, 2], [1, 1]], [[2, 2], [0, 1]]]))
    np.save(folder / "square.npy", rng.normal(size=(2, 4, 4)).round(1))
    np.save(folder / "square_labels.npy", np.array([[0, 1, 2, 3], [3, 2, 1, 0]]))
    np.save(folder / "mask_logits.npy", rng.normal(size=(2, 1, 2, 2)).round(1))
    np.save(folder / "masks.npy", np.array([[[[1.0, 0.0], [0.0, 1.0]]], [[[1.0, 1.0], [0.0, 0.0]]]]))


EXAMPLES = console_examples()


def test_the_readme_has_examples():
    assert len(EXAMPLES) >= 15


@pytest.mark.parametrize("command, expected", EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_readme_example_is_what_losscli_prints(cli, tmp_path, monkeypatch, command, expected):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", README_COLUMNS)  # what rich draws to when the output is not a terminal
    write_readme_files(tmp_path)
    argv = shlex.split(command)
    assert argv[0] == "losscli"
    run = cli(*argv[1:])
    printed = [line.rstrip() for line in (run.stderr + run.stdout).splitlines()]
    assert printed == [line.rstrip() for line in expected.splitlines()]


def rewrite_readme() -> int:
    """Run every console example again and write what it prints into README.md; returns how many
    outputs changed. For the engineer whose change alters output: review ``git diff README.md``."""
    import tempfile

    from tests.conftest import run_cli

    changed = 0
    os.environ["COLUMNS"] = README_COLUMNS

    def rerun(block: re.Match) -> str:
        nonlocal changed
        lines = []
        fence, body = block.group(1), block.group(2)
        for chunk in re.split(r"^\$ ", body, flags=re.M)[1:]:
            command, _, old = chunk.partition("\n")
            with tempfile.TemporaryDirectory() as folder:
                cwd = os.getcwd()
                os.chdir(folder)
                try:
                    write_readme_files(Path(folder))
                    run = run_cli(*shlex.split(command)[1:])
                finally:
                    os.chdir(cwd)
            new = "".join(line.rstrip() + "\n" for line in (run.stderr + run.stdout).splitlines())
            changed += new != old
            lines.append(f"$ {command}\n{new}")
        return f"{fence}console\n" + "".join(lines) + fence

    text = CONSOLE_BLOCK.sub(rerun, README.read_text(encoding="utf-8"))
    README.write_text(text, encoding="utf-8")
    return changed


if __name__ == "__main__":  # python -m tests.test_readme: refresh the README's outputs
    print(f"{rewrite_readme()} example outputs changed")
