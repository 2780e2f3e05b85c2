"""The command line: parse options (Typer), call the core, render, map errors to exit statuses.

``main`` is the one place where a ``LossCliError`` (or a Typer usage error) becomes one line on
stderr and an exit status; nothing below it prints errors or exits.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from . import __version__, core, render
from .environment import Environment
from .errors import ExitStatus, LossCliError, UsageError
from .inputs import is_number, parse_class_names, parse_inline, parse_labels, parse_option_vector

PROG = "losscli"
# ignore_unknown_options lets "-1,2" through as a positional (Click would call it an option);
# real unknown options are then caught by reject_option_like below.
CONTEXT = {"ignore_unknown_options": True, "help_option_names": ["-h", "--help"]}


class Reduction(str, Enum):
    mean = "mean"
    sum = "sum"
    none = "none"


class Format(str, Enum):
    auto = "auto"
    table = "table"
    plain = "plain"
    json = "json"
    csv = "csv"


class DType(str, Enum):
    float64 = "float64"
    float32 = "float32"


ReductionOption = Annotated[
    Reduction, typer.Option("--reduction", "-r", help="How the per-element terms are combined, as in PyTorch.")
]
GradOption = Annotated[
    bool, typer.Option("--grad", "-g", help="Also show the gradient of the loss w.r.t. each input element.")
]
FormatOption = Annotated[
    Format,
    typer.Option(
        "--format", "-f", help="Output: table on a terminal, plain on a pipe (auto); or json, csv, plain, table."
    ),
]
DTypeOption = Annotated[DType, typer.Option("--dtype", help="float32 reproduces PyTorch's default tensors.")]
DigitsOption = Annotated[
    int, typer.Option("--digits", min=1, max=17, help="Significant digits in the table (machine formats are exact).")
]
RowsOption = Annotated[
    int, typer.Option("--rows", min=2, help="Rows the table shows (first and last halves) before eliding.")
]
AllRowsOption = Annotated[bool, typer.Option("--all", help="Show every row in the table.")]


def reject_option_like(value: str | None) -> None:
    """A positional that starts with '-' but is not a number was meant as an option."""
    if value and value.startswith("-") and value != "-":
        first = value.replace(";", ",").split(",")[0].split()[0] if value.strip("-") else value
        if not is_number(first):
            raise UsageError(f"no such option: {value} (see '{PROG} --help')")


def emit(
    ctx: typer.Context,
    result,
    fmt: Format,
    *,
    digits: int,
    grad: bool = False,
    class_names: list[str] | None = None,
    rows: int = 20,
    all_rows: bool = False,
) -> None:
    env: Environment = ctx.obj
    for note in result.notes:
        env.warn(note)
    concrete = fmt.value
    if fmt is Format.auto:
        concrete = "table" if env.stdout_isatty else "plain"
    render.write(
        result,
        concrete,
        env.stdout,
        digits=digits,
        show_grad=grad,
        class_names=class_names,
        max_rows=None if all_rows else rows,
    )


def required(value: str | None, name: str, command: str) -> str:
    if value is None:
        raise UsageError(f"missing {name} (see '{PROG} {command} --help')")
    return value


# ---------------------------------------------------------------------------------------------

app = typer.Typer(
    name=PROG,
    help="PyTorch's losses on the command line, with every term shown and the sum written out.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"{PROG} {__version__}")
        raise typer.Exit()


@app.callback()
def top_level(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = None,
) -> None:
    """PyTorch's losses on the command line, with every term shown and the sum written out.

    Example: losscli mse 2,3,4,5 4,5,6,7 --reduction sum
    """


def _elementwise_help(spec: core.ElementwiseLoss) -> str:
    example = {"l1": "(|2−4| + |3−5| + |4−6| + |5−7|) / 4 = 2", "mse": "\\[(2−4)² + (3−5)² + (4−6)² + (5−7)²] / 4 = 4"}
    return (
        f"{spec.title}, as {spec.torch_name}.\n\n"
        f"term = {spec.term_label.replace('[', '')} per element; mean = Σ terms / n, sum = Σ terms.\n\n"
        f"Example: losscli {spec.name} 2,3,4,5 4,5,6,7   →   {example.get(spec.name, '')}\n\n"
        "Values: 2,3,4,5 or \"2 3 4 5\"; a matrix as \"1,2;3,4\". Shapes must match exactly."
    )


def add_elementwise_command(spec: core.ElementwiseLoss) -> None:
    def command(
        ctx: typer.Context,
        prediction: Annotated[Optional[str], typer.Argument(help="Predictions ŷ: 2,3,4,5", show_default=False)] = None,
        target: Annotated[Optional[str], typer.Argument(help="Targets y: 4,5,6,7", show_default=False)] = None,
        reduction: ReductionOption = Reduction.mean,
        grad: GradOption = False,
        dtype: DTypeOption = DType.float64,
        fmt: FormatOption = Format.auto,
        digits: DigitsOption = 4,
        rows: RowsOption = 20,
        all_rows: AllRowsOption = False,
    ) -> None:
        reject_option_like(prediction)
        reject_option_like(target)
        x = parse_inline(required(prediction, "prediction", spec.name), "prediction", dtype.value)
        y = parse_inline(required(target, "target", spec.name), "target", dtype.value)
        result = core.elementwise_loss(spec.name, x, y, reduction=reduction.value)
        emit(ctx, result, fmt, digits=digits, grad=grad, rows=rows, all_rows=all_rows)

    app.command(spec.name, help=_elementwise_help(spec), context_settings=CONTEXT)(command)


for _spec in core.ELEMENTWISE_LOSSES.values():
    add_elementwise_command(_spec)


@app.command("xent", context_settings=CONTEXT)
def xent(
    ctx: typer.Context,
    logits: Annotated[Optional[str], typer.Argument(help="Logits: C values, or N rows \"1,2,0.5;0.1,-1,3\"", show_default=False)] = None,
    target: Annotated[Optional[str], typer.Argument(help="Class indices (or names), or probability rows", show_default=False)] = None,
    reduction: ReductionOption = Reduction.mean,
    weight: Annotated[Optional[str], typer.Option("--weight", "-w", help="Per-class weights: 1,2,0.5", show_default=False)] = None,
    ignore_index: Annotated[int, typer.Option("--ignore-index", help="Target value that is skipped.")] = core.DEFAULT_IGNORE_INDEX,
    label_smoothing: Annotated[float, typer.Option("--label-smoothing", help="ε in [0, 1].")] = 0.0,
    classes: Annotated[Optional[str], typer.Option("--classes", help="Class names for the table: cat,dog,bird", show_default=False)] = None,
    grad: GradOption = False,
    dtype: DTypeOption = DType.float64,
    fmt: FormatOption = Format.auto,
    digits: DigitsOption = 4,
    rows: RowsOption = 20,
    all_rows: AllRowsOption = False,
) -> None:
    """Cross-entropy on logits, as torch.nn.CrossEntropyLoss.

    loss_n = −log softmax(x_n)\\[y_n] (× w\\[y_n]); mean divides by Σ w\\[y_n] (the count without weights).

    Probability targets (same shape as the logits): loss_n = −Σ_c w_c t_nc log p_nc; mean divides by N.

    Label smoothing ε mixes each target with the uniform ε/C, as PyTorch does.

    Example: losscli xent "1,2,0.5;0.1,-1,3" 1,2   →   (0.4644 + 0.07077) / 2 = 0.2676
    """
    for value in (logits, target):
        reject_option_like(value)
    class_names = parse_class_names(classes) if classes else None
    x = parse_inline(required(logits, "logits", "xent"), "logits", dtype.value)
    y = parse_labels(required(target, "target", "xent"), class_names)
    w = parse_option_vector(weight, "--weight") if weight is not None else None
    if class_names is not None and len(class_names) != x.shape[-1]:
        raise UsageError(f"--classes names {len(class_names)} classes but the logits have {x.shape[-1]}")
    result = core.cross_entropy(
        x,
        y.astype(dtype.value) if y.ndim == 2 or y.shape == x.shape else y,
        reduction=reduction.value,
        weight=w,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )
    emit(ctx, result, fmt, digits=digits, grad=grad, class_names=class_names, rows=rows, all_rows=all_rows)


@app.command("softmax", context_settings=CONTEXT)
def softmax(
    ctx: typer.Context,
    values: Annotated[Optional[str], typer.Argument(help="A vector 1,2,3,4 or a matrix \"1,2;3,4\"", show_default=False)] = None,
    dim: Annotated[int, typer.Option("--dim", "-d", help="Axis the probabilities sum to 1 over.")] = -1,
    temperature: Annotated[float, typer.Option("--temperature", "-t", help="T > 0: softmax(x / T).")] = 1.0,
    log: Annotated[bool, typer.Option("--log", help="log-softmax instead.")] = False,
    dtype: DTypeOption = DType.float64,
    fmt: FormatOption = Format.auto,
    digits: DigitsOption = 4,
    rows: RowsOption = 20,
    all_rows: AllRowsOption = False,
) -> None:
    """Softmax (or log-softmax) of a vector or of each row, as torch.softmax, computed stably.

    softmax(x)_i = e^(x_i − max) / Σ_j e^(x_j − max)

    Example: losscli softmax 1,2,3,4   →   e^1 / (e^1 + e^2 + e^3 + e^4) = 0.03206
    """
    reject_option_like(values)
    x = parse_inline(required(values, "input", "softmax"), "input", dtype.value)
    result = core.softmax(x, dim=dim, temperature=temperature, log=log)
    emit(ctx, result, fmt, digits=digits, rows=rows, all_rows=all_rows)


# ---------------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None, env: Environment | None = None) -> int:
    """Run losscli on ``argv`` and return the exit status; every error is reported here."""
    env = env or Environment.from_system()
    try:
        status = app(args=argv, prog_name=PROG, standalone_mode=False, obj=env)
        return int(status or 0)
    except LossCliError as error:
        env.stderr.write(f"{PROG}: error: {_one_line(error.message)}\n")
        return int(error.status)
    except KeyboardInterrupt:
        env.stderr.write(f"{PROG}: interrupted\n")
        return int(ExitStatus.INTERRUPTED)
    except Exception as error:
        # Typer's own usage errors (bad option value, unknown command) carry exit_code and
        # format_message; anything else is a bug and keeps its traceback.
        if not (hasattr(error, "exit_code") and hasattr(error, "format_message")):
            raise
        command = getattr(getattr(error, "ctx", None), "command_path", PROG)
        env.stderr.write(f"{PROG}: error: {_one_line(error.format_message())} (see '{command} --help')\n")
        return int(error.exit_code)


def run() -> None:
    """Console-script entry point: real streams, quiet on a closed pipe."""
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head -1`): stop quietly, and keep Python's exit-time flush
        # from raising again on the dead pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = ExitStatus.DATA
    sys.exit(status)
