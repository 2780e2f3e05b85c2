"""The error catalogue: every mistake gets one line on stderr, the right exit status, no stdout."""

from __future__ import annotations

import pytest

USAGE, DATA = 2, 1

CATALOGUE = [
    # (argv, exit status, fragment of the one-line message)
    (["mse", "2,x,4", "1,2,3"], DATA, "prediction: value 2 is not a number: 'x'"),
    (["mse", "1,2,3", "1,2,3,4"], DATA, "target has 4 values but prediction has 3"),
    (["mse", "", "1"], DATA, "prediction is empty"),
    (["mse", "  ", "1"], DATA, "prediction is empty"),
    (["l1", "1,,2", "1,2,3"], DATA, "prediction: value 2 is empty"),
    (["l1", "1,2,", "1,2,3"], DATA, "prediction: value 3 is empty"),
    (["l1", "1,2;3", "1,2;3,4"], DATA, "prediction row 2 has 1 values but row 1 has 2"),
    (["l1", "1,2;", "1,2"], DATA, "prediction row 2 is empty"),
    (["mse", "1;2;3", "1,2,3"], DATA, "target has shape (3,) but prediction has shape (3, 1) (no broadcasting"),
    (["mse", "1_000", "1"], DATA, "prediction: value 1 is not a number: '1_000'"),
    (["mse", "0x10", "1"], DATA, "not a number: '0x10'"),
    (["mse", "1,2", "1,\x1b[31m"], DATA, "not a number: '\\\\x1b[31m'"),
    (["mse", "1,2"], USAGE, "'1,2' is one inline value; give the target too"),
    (["mse", "1,2", "3,4", "--reduction", "avg"], USAGE, "'avg' is not one of"),
    (["mse", "1,2", "3,4", "--format", "xml"], USAGE, "--format"),
    (["mse", "1,2", "3,4", "--frobnicate"], USAGE, "(--frobnicate)"),
    (["mse", "1,2", "--frobnicate"], USAGE, "no such option: --frobnicate"),
    (["mse", "1,2", "3,4", "5"], USAGE, "unexpected extra argument"),
    (["nosuchloss", "1"], USAGE, "No such command 'nosuchloss'"),
    (["xent", "1,2,3", "5"], DATA, "target row 1: class index 5 is out of range for 3 classes (0 to 2)"),
    (["xent", "1,2,3", "1.5"], DATA, "target row 1: class index 1.5 is not a whole number"),
    (["xent", "1,2,3", "-3"], DATA, "target row 1: class index -3 is negative"),
    (["xent", "1,2;3,4", "0,1,1"], DATA, "target has shape (3,) but logits have shape (2, 2)"),
    (["xent", "1,2;3,4", ".5,.6;.5,.5"], DATA, "target row 1 sums to 1.1; probability targets must sum to 1 (within 0.001)"),
    (["xent", "1,2;3,4", "1.5,-.5;.5,.5"], DATA, "target row 1: probability -0.5 is negative"),
    (["xent", "1,2,3", "1", "--weight", "1,2"], USAGE, "weight has 2 entries but there are 3 classes"),
    (["xent", "1,2,3", "1", "--weight", "1,-2,1"], USAGE, "weight 1 (class 1) is -2; weights must be finite and ≥ 0"),
    (["xent", "1,2,3", "1", "--weight", "1,a,1"], USAGE, "--weight: value 2 is not a number: 'a'"),
    (["xent", "1,2,3", "1", "--label-smoothing", "1.5"], USAGE, "label smoothing must be between 0 and 1, not 1.5"),
    (["xent", "1,2,3", "1", "--label-smoothing", "x"], USAGE, "--label-smoothing"),
    (["xent", "1,2,3", "1", "--ignore-index", "x"], USAGE, "--ignore-index"),
    (["xent", "1,2", "cat", "--classes", "dog,cow"], DATA, "target value 1 is neither a number nor a class name: 'cat' (classes: dog, cow)"),
    (["xent", "1,2", "0", "--classes", "a,b,c"], USAGE, "--classes names 3 classes but the logits have 2"),
    (["xent", "1,2", "0", "--classes", "a,a"], USAGE, "--classes: 'a' is given twice"),
    (["softmax", "1,2", "--temperature", "0"], USAGE, "temperature must be a positive number, not 0"),
    (["softmax", "1,2", "--temperature", "-1"], USAGE, "temperature must be a positive number, not -1"),
    (["softmax", "1,2", "--dim", "1"], USAGE, "dim 1 is out of range for a 1-D input (use one of -1, 0)"),
    (["softmax", "1,2;3,4", "--dim", "-3"], USAGE, "dim -3 is out of range for a 2-D input"),
]


@pytest.mark.parametrize("argv, status, fragment", CATALOGUE, ids=[" ".join(c[0]) for c in CATALOGUE])
def test_mistake_gives_one_line_and_exit_status(cli, argv, status, fragment):
    run = cli(*argv)
    assert run.status == status
    assert run.stdout == ""
    assert run.stderr.startswith("losscli: error: ")
    assert run.stderr.count("\n") == 1, run.stderr
    assert fragment in run.stderr
    assert "Traceback" not in run.stderr
