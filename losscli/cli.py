"""The command line: parse options (Typer), call the core, render, map errors to exit statuses.

``main`` is the one place where a ``LossCliError`` (or a Typer usage error) becomes one line on
stderr and an exit status; nothing below it prints errors or exits.
"""

from __future__ import annotations

import inspect
import os
import signal
import sys
from contextvars import ContextVar
from dataclasses import dataclass, replace
from enum import Enum
from functools import partial
from typing import Annotated, Callable, Optional

import numpy as np
import typer
from typer.core import TyperCommand, TyperGroup

from . import __version__, losses, readers, render, table_view
from .environment import Environment
from .errors import DataError, ExitStatus, LossCliError, OutputClosed, UsageError, cannot_start
from .inputs import is_number, parse_class_names, parse_inline, parse_labels, printable, shadowed_indices

PROG = "losscli"
# ignore_unknown_options lets "-1,2" through as a positional (Click would call it an option);
# real unknown options are then caught by reject_option_like below.
CONTEXT = {"ignore_unknown_options": True, "help_option_names": ["-h", "--help"]}


# The choices come from where they are defined, so a new one needs no second edit here.
Reduction = Enum("Reduction", {name: name for name in losses.REDUCTIONS}, type=str)
NanPolicy = Enum("NanPolicy", {name: name for name in losses.NAN_POLICIES}, type=str)


class Format(str, Enum):
    auto = "auto"
    table = "table"
    plain = "plain"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    latex = "latex"
    partial = "partial"


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
        "--format",
        "-f",
        help="Output: table on a terminal, plain on a pipe (csv with --grad) (auto); or json, csv, plain, table; "
        "markdown or latex: the table and the derivation, ready to paste. "
        "plain carries only the values, so plain with --grad is refused. "
        "partial: one JSON line of exact sums and counts for losscli combine (as json's \"partial\"), no rows.",
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
HeaderOption = Annotated[
    Optional[bool],
    typer.Option("--header/--no-header", help="Whether a table's first row names the columns (default: detected).", show_default=False),
]
DelimiterOption = Annotated[
    Optional[str],
    typer.Option("--delimiter", "-d", help="Field separator of a table: , ; | tab space (default: detected).", show_default=False),
]
DecimalOption = Annotated[
    Optional[str],
    typer.Option(
        "--decimal",
        help="Decimal mark in a table: . (default) or , for 1,5 (then the delimiter is ; unless -d says otherwise).",
        show_default=False,
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no warnings on stderr.")]
BY_CLASS_HELP = (
    "Split the loss by class: per class its count, mean loss (Σ of its terms as reduction none gives them, "
    "weight included, / count), share of the loss, share of Σ w[y] (xent, nll with index targets), accuracy "
    "(the fraction of its samples predicted as it: its recall), and a rebalancing option from the counts. "
    "Probability targets count in their argmax class; binary soft targets in the nearer class (t > 0.5 is 1). "
    "json adds by_class; csv and plain write the per-class table instead of the per-row terms."
)
# Every loss command has --by-class, hidden where the loss has no classes, so that it is a usage
# error naming the commands that take it (not Click's "no such option").
ByClassOption = Annotated[bool, typer.Option("--by-class", help=BY_CLASS_HELP, hidden=True)]
ExplainOption = Annotated[
    bool,
    typer.Option("--explain", "-e", help="After the table, the derivation step by step with your numbers (with --grad, the chain rule too)."),
]
MetricsOption = Annotated[
    bool,
    typer.Option(
        "--metrics",
        help="Metrics beside the loss (accuracy, perplexity, MAE, RMSE, R², ...) in plain and csv output: a "
        "key<TAB>value line each after the value (plain), a row each after the reduction's (csv). The table and "
        "json always show them. Not with --reduction none in plain or csv (one line per input row).",
    ),
]
TopKOption = Annotated[
    Optional[int],
    typer.Option("--top-k", min=1, help="Add the top-k accuracy to the metrics: the target among the k highest scores.", show_default=False),
]
HistOption = Annotated[
    bool,
    typer.Option(
        "--hist",
        help="A histogram of the terms (bins from the first block) and the share of the total held by the "
        "largest 1 % of them: under the table, or as \"histogram\" in JSON.",
    ),
]


NanPolicyOption = Annotated[
    NanPolicy,
    typer.Option(
        "--nan-policy",
        help="Rows holding nan: keep them (nan result, PyTorch's answer), raise an error, or omit them from the "
        "reduction (n counts the rest). Output keeps one line per input row: an omitted row is nan in plain "
        "and csv (its inputs as given), null in json.",
    ),
]


def _first_field(value: str) -> str:
    fields = value.replace(";", ",").split(",")[0].split()
    return fields[0] if fields else ""


def shield_negative_numbers(argv: list[str]) -> list[str]:
    """Keep ``-inf,2`` and ``-1e5;3`` from being read as clusters of short options.

    Click would read ``-0.5,inf`` as ``-0 -. -5 … -f`` and take ``-f`` (--format). A leading
    space makes it a positional; the inline parser strips it again.
    """
    options, operands = split_operands(argv)
    shielded = [
        " " + arg if arg.startswith("-") and not arg.startswith("--") and is_number(_first_field(arg)) else arg
        for arg in options
    ]
    return shielded if operands is None else [*shielded, "--", *operands]


def split_operands(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """``argv`` before the first ``--`` and after it (None without one): after it, nothing is an option."""
    if "--" not in argv:
        return argv, None
    end = argv.index("--")
    return argv[:end], argv[end + 1:]


# The positionals given after "--" in the running command: names such as "-lead.csv", never options.
_OPERANDS: ContextVar[frozenset[str]] = ContextVar("operands", default=frozenset())


def reject_option_like(value: str | None, command: str) -> None:
    """A positional that starts with '-' but is not a number was meant as an option (unless after ``--``)."""
    if value and value.startswith("-") and value != "-" and value not in _OPERANDS.get():
        if not is_number(_first_field(value)):
            raise UsageError(f"no such option: {value} (see '{PROG} {command} --help')")


def resolve_format(fmt: Format, env: Environment, grad: bool = False, explain: bool = False) -> str:
    """The concrete format; on a pipe csv when the gradient is asked, since plain cannot carry it.
    ``--explain`` is for people: a table even on a pipe, and refused with a machine format."""
    if explain:
        if fmt is Format.auto:
            return "table"
        if fmt.value not in render.HUMAN_FORMATS:
            raise UsageError(
                f"--explain writes for people; {fmt.value} stays machine output: use --format table, markdown or latex"
            )
    if fmt is Format.auto:
        return "table" if env.stdout_isatty else ("csv" if grad else "plain")
    if fmt is Format.plain and grad:
        raise UsageError("plain output carries only the values; use --format csv or --format json for the gradient")
    if fmt is Format.partial and grad:
        raise UsageError("--format partial carries only the sums for losscli combine; use --format csv or json for the gradient")
    return fmt.value


def warn(env: Environment, result, quiet: bool, fmt: str, show_metrics: bool = False) -> None:
    """The result's notes on stderr; what --nan-policy omit dropped too, unless a table shows it;
    why a metric is absent, when --metrics asked for them in plain or csv (table and json say it)."""
    if quiet:
        return
    for note in result.notes:
        env.warn(note)
    if result.omitted and fmt not in render.HUMAN_FORMATS:
        env.warn(result.omitted_note())
    if show_metrics and fmt in ("plain", "csv") and result.metrics is not None:
        for note in result.metrics.notes:
            env.note(note)


def check_metrics(show: bool, fmt: str, reduction: str, loss: str, declared) -> bool:
    """Whether the metrics are computed: when shown (table, json, --metrics). ``--metrics`` is refused
    for a loss without metrics and for per-row plain or csv output, where its lines would mix with the rows."""
    if show and (declared is None or declared.reason):
        raise UsageError(f"--metrics: {loss} has no metrics beside the loss: {declared.reason if declared else 'none declared'}")
    if show and fmt == "partial":
        raise UsageError("--metrics are not carried by a partial (losscli combine joins the loss alone): use --format json")
    if show and fmt in ("plain", "csv") and reduction == "none":
        raise UsageError(
            f"--metrics adds lines after the reduced value, but with --reduction none the {fmt} output is one line "
            "per input row and they would mix: use --format json (its \"metrics\" object), --format table, or a reduction"
        )
    return show or fmt in ("table", "json")


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
    quiet: bool = False,
    explain: bool = False,
    show_metrics: bool = False,
) -> None:
    env: Environment = ctx.obj
    concrete = resolve_format(fmt, env, grad, explain)
    warn(env, result, quiet, concrete, show_metrics)
    render.write(
        result,
        concrete,
        env.stdout,
        digits=digits,
        show_grad=grad,
        class_names=class_names,
        max_rows=None if all_rows else rows,
        explain=explain,
        show_metrics=show_metrics,
    )


def check_hist(hist: bool, fmt: str) -> None:
    """--hist has a place only in the table and in JSON: csv and plain carry the rows alone."""
    if hist and fmt not in ("table", "json"):
        raise UsageError(f"--hist is drawn under the table or written in JSON, not in {fmt}: add --format table or --format json")


def term_histogram(hist: bool):
    """A histogram the stream feeds block by block (None without --hist: nothing imported)."""
    if not hist:
        return None
    from .histogram import TermHistogram

    return TermHistogram()


def with_histogram(result, histogram):
    """``result`` carrying the histogram of its terms (whole-array input: one block)."""
    if histogram is None:
        return result
    return replace(result, histogram=histogram.summary())


def announce(env: Environment, options: readers.TableOptions, quiet: bool) -> None:
    """What reading decided by itself (columns, a header), one note per table, before any result."""
    if not quiet:
        for note in options.report.notes:
            env.note(note)


def table_options(
    env: Environment, header: bool | None, delimiter: str | None, progress=None, *,
    decimal: str | None = None, nan_policy: str = "propagate",
) -> readers.TableOptions:
    separator = readers.parse_delimiter(delimiter)
    return readers.TableOptions(
        header=header,
        delimiter=separator,
        on_progress=None if progress is None else lambda read: progress.update(bytes_read=read),
        stdin=env.stdin,
        decimal=readers.parse_decimal(decimal, separator),
        nan_policy=nan_policy,
    )


def positional(
    env: Environment, values: list[str | None], command: str, delimiter: str | None, decimal: str | None = None
) -> list[str]:
    """The positionals given; with none, stdin must be a pipe (never wait on a terminal).

    ``--delimiter`` and ``--decimal`` are checked here too, so a bad one is an error even with inline values.
    """
    readers.parse_decimal(decimal, readers.parse_delimiter(delimiter))
    given = [v for v in values if v is not None]
    for value in given:
        reject_option_like(value, command)
    if not given and env.stdin_isatty:
        raise UsageError(f"no input: give values or a file, or pipe a table in (see '{PROG} {command} --help')")
    return given


# ---------------------------------------------------------------------------------------------


def _flags_take_no_value(params: list) -> list:
    """A flag's help shows no metavar: Typer 0.29's rich help writes ``<bool>`` after --grad."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class Command(TyperCommand):
    def get_params(self, ctx) -> list:
        return _flags_take_no_value(super().get_params(ctx))


class Group(TyperGroup):
    def get_params(self, ctx) -> list:
        return _flags_take_no_value(super().get_params(ctx))


app = typer.Typer(
    name=PROG,
    cls=Group,
    help="PyTorch's losses on the command line, with every term shown and the sum written out.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from .fast_reader import describe

        print(f"{PROG} {__version__}\n{describe()}")
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


def _pointwise_help(spec: losses.PointwiseLoss) -> str:
    example = spec.example.replace("[", "\\[")  # rich help would read [ … ] as markup
    term = f"term per element = {spec.formula or spec.term_label}"
    reductions = {"mean": "mean = Σ terms / n", "sum": "sum = Σ terms", "batchmean": "batchmean = Σ terms / N (rows)"}
    reduced = ", ".join(reductions[r] for r in spec.reductions if r in reductions)
    branch = "; the table's branch column says which part each row took" if any(s.key == "branch" for s in spec.steps) else ""
    values = " ".join(i.name.upper() for i in spec.inputs)
    return (
        f"{spec.title}, as {spec.torch_name}.\n\n"
        f"{term}; {reduced}{branch}.\n\n"
        f"Example: losscli {spec.name} {spec.example_args}   →   {example}\n\n"
        f"Values ({values}): 2,3,4,5 or \"2 3 4 5\"; a matrix as \"1,2;3,4\"; or a file, or - for stdin. "
        "Shapes must match exactly."
    )


def _common_options(
    grad: GradOption = False,
    nan_policy: NanPolicyOption = NanPolicy("propagate"),
    dtype: DTypeOption = DType.float64,
    fmt: FormatOption = Format.auto,
    digits: DigitsOption = 4,
    rows: RowsOption = 20,
    all_rows: AllRowsOption = False,
    header: HeaderOption = None,
    delimiter: DelimiterOption = None,
    decimal: DecimalOption = None,
    quiet: QuietOption = False,
    explain: ExplainOption = False,
    metrics: MetricsOption = False,
    by_class: ByClassOption = False,
    hist: HistOption = False,
) -> None:
    """The options every loss command has (its signature is what the commands reuse)."""


def _common_parameters(takes_by_class: bool) -> list[inspect.Parameter]:
    """``_common_options`` as keyword parameters; ``--by-class`` shown in the help only where it works."""
    params = []
    for param in inspect.signature(_common_options, eval_str=True).parameters.values():
        if param.name == "by_class" and takes_by_class:
            param = param.replace(annotation=Annotated[bool, typer.Option("--by-class", help=BY_CLASS_HELP)])
        params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))
    return params


def check_by_class(command: str, takes_it: bool, by_class: bool, fmt: str, grad: bool) -> None:
    """--by-class only where the loss has classes, and not with a per-row gradient it cannot carry."""
    if by_class and not takes_it:
        takers = [*(n for n, s in losses.POINTWISE_LOSSES.items() if s.by_class is not None), *CLASS_COMMANDS]
        raise UsageError(f"--by-class splits a class loss by class ({', '.join(sorted(takers))}); {command} has no classes")
    if by_class and fmt == "partial":
        raise UsageError("--by-class is not carried by a partial (losscli combine joins the loss alone): use --format json")
    if by_class and grad and fmt in ("plain", "csv"):
        raise UsageError(
            f"--by-class with {fmt} output writes the per-class table, which has no gradient; drop --grad or use -f json"
        )


def _pointwise_signature(spec: losses.PointwiseLoss) -> inspect.Signature:
    """The command's parameters, declared by the spec: its inputs, their columns, reduction, parameters."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    for i in spec.inputs:
        argument = typer.Argument(help=i.help or f"{i.name}: values, a file, or - for stdin", metavar=i.name.upper(), show_default=False)
        params.append(inspect.Parameter(f"input_{i.key}", keyword, default=None, annotation=Annotated[Optional[str], argument]))
    for i in spec.inputs:
        option = typer.Option(f"--{i.key}", help=f"{i.name.capitalize()} column of a table: name or 1-based index.", show_default=False)
        params.append(inspect.Parameter(f"column_{i.key}", keyword, default=None, annotation=Annotated[Optional[str], option]))
    choices = Enum(f"Reduction_{spec.name}", {r: r for r in spec.reductions}, type=str)
    reduction = typer.Option("--reduction", "-r", help="How the per-element terms are combined, as in PyTorch.")
    params.append(inspect.Parameter("reduction", keyword, default=choices("mean"), annotation=Annotated[choices, reduction]))
    params += _common_parameters(spec.by_class is not None)
    for parameter in spec.parameters:
        params.append(inspect.Parameter(f"parameter_{parameter.name}", keyword, default=parameter.default,
                                        annotation=Annotated[_parameter_type(parameter), _parameter_option(parameter)]))
    return inspect.Signature(params)


def _parameter_type(parameter: losses.LossParameter) -> type:
    if parameter.vector:
        return Optional[str]  # 1,2,0.5 or a file, read by option_values
    return bool if parameter.is_switch else float


def _parameter_option(parameter: losses.LossParameter):
    if parameter.is_switch:
        name = parameter.flag[2:]
        return typer.Option(f"--{name}/--no-{name}", help=parameter.help or f"{parameter.symbol} in the formula.")
    if parameter.vector:
        return typer.Option(parameter.flag, help=(parameter.help or f"{parameter.symbol} in the formula") + ".", show_default=False)
    bounds = []
    if parameter.minimum is not None:
        bounds.append(("≥ " if parameter.minimum_allowed else "> ") + f"{parameter.minimum:g}")
    if parameter.maximum is not None:
        bounds.append(f"≤ {parameter.maximum:g}")
    where = f" ({parameter.symbol} {', '.join(bounds)})" if bounds else ""
    return typer.Option(parameter.flag, help=(parameter.help or f"{parameter.symbol} in the formula") + where + ".")


def add_pointwise_command(spec: losses.PointwiseLoss) -> None:
    def command(ctx: typer.Context, **given) -> None:
        env: Environment = ctx.obj
        reduction, grad, nan_policy, dtype = given["reduction"].value, given["grad"], given["nan_policy"].value, given["dtype"].value
        delimiter, decimal, quiet = given["delimiter"], given["decimal"], given["quiet"]
        rows, all_rows = given["rows"], given["all_rows"]
        parameters = {p.name: p.checked(parameter_value(env, p, given[f"parameter_{p.name}"], decimal)) for p in spec.parameters}
        arguments = positional(env, [given[f"input_{i.key}"] for i in spec.inputs], spec.name, delimiter, decimal)
        explain = given["explain"]
        concrete = resolve_format(given["fmt"], env, grad, explain)  # before any work: plain with --grad is refused
        show_metrics = given["metrics"]
        with_metrics = check_metrics(show_metrics, concrete, reduction, spec.name, spec.metrics)
        by_class = given["by_class"]
        check_by_class(spec.name, spec.by_class is not None, by_class, concrete, grad)
        check_hist(given["hist"], concrete)
        histogram = term_histogram(given["hist"])
        sources = readers.sources_of(arguments)
        literal_notes: list[str] = []  # inline values out of the dtype's range
        if len(arguments) == len(spec.inputs) and all(source is None for source in sources):
            inputs = [parse_inline(text, i.name, dtype, literal_notes) for text, i in zip(arguments, spec.inputs)]
            result = losses.pointwise_loss(spec, *inputs, reduction=reduction, nan_policy=nan_policy, by_class=by_class,
                                           **parameters)
            result = replace(result, notes=(*literal_notes, *result.notes))
            if histogram is not None:
                histogram.observe(result.scored_terms())
            result = with_histogram(result, histogram)
            emit(ctx, result, given["fmt"], digits=given["digits"], grad=grad, rows=rows, all_rows=all_rows, quiet=quiet,
                 explain=explain, show_metrics=show_metrics)
            return
        progress = progress_for(env, sources, quiet)
        with progress:
            options = table_options(env, given["header"], delimiter, progress, decimal=decimal, nan_policy=nan_policy)
            inline = partial(parse_inline, dtype=dtype, notes=literal_notes)
            columns = [given[f"column_{i.key}"] for i in spec.inputs]
            blocks = readers.elementwise_blocks(arguments, sources, inline, options, *columns, with_var=len(columns) == 3)
            announce(env, options, quiet)
            accumulator = losses.PointwiseAccumulator(
                spec, reduction, keep_rows=keep_rows(concrete, rows, all_rows), nan_policy=nan_policy,
                with_grad=grad, dtype=dtype, input_notes=literal_notes, parameters=parameters, with_metrics=with_metrics,
                by_class=by_class,
            )
            stream(env, accumulator, blocks, progress, fmt=concrete, grad=grad, digits=given["digits"],
                   max_rows=None if all_rows else rows, quiet=quiet, reading=options, explain=explain,
                   show_metrics=show_metrics, by_class=by_class, histogram=histogram)

    command.__signature__ = _pointwise_signature(spec)
    app.command(spec.name, cls=Command, help=_pointwise_help(spec), context_settings=CONTEXT)(command)


def parameter_value(env: Environment, parameter: losses.LossParameter, given, decimal: str | None):
    """A parameter as typed: a vector one (``--weight 1,2,0.5`` or a file) read into numbers."""
    if parameter.vector and given is not None:
        return option_values(env, given, parameter.flag, decimal)
    return given


def option_values(env: Environment, text: str, option: str, decimal: str | None) -> np.ndarray:
    """A list-valued option, inline or from a file: every such option goes through here."""
    return readers.option_values(text, option, readers.TableOptions(stdin=env.stdin, decimal=readers.parse_decimal(decimal, False)))


def shadowed_indices_note(class_names: list[str] | None) -> tuple[str, ...]:
    """Numeric class names that are other classes' indices: a note that targets are read as names."""
    shadowed = shadowed_indices(class_names)
    if not shadowed:
        return ()
    name, position = (printable(part) for part in map(str, shadowed[0]))
    return (
        f"--classes names numbers that are also class indices: targets are read as class names only, "
        f"so target {name} is class {position} (the name {name!r}), not index {name}",
    )


def with_notes(result, notes: tuple[str, ...]):
    """``result`` with ``notes`` added: on stderr and in JSON like the core's own notes."""
    return replace(result, notes=result.notes + notes) if notes else result


def progress_for(env: Environment, sources, quiet: bool) -> render.Progress:
    """A progress bar over the sources' bytes: shown only on a terminal's stderr, never with -q."""
    return render.Progress(env.stderr, readers.total_bytes(sources), env.stderr_isatty and not quiet)


def located(error: DataError, reading: readers.TableOptions) -> DataError:
    """An error about row N of a file, as ``file:line: …`` like every other data error."""
    line = reading.line_of_row(error.row) if error.row is not None else None
    if line is None:
        return error
    return DataError(f"{printable(reading.report.rows_from.name)}:{line}: {error.detail}")


def keep_rows(fmt: str, rows: int, all_rows: bool) -> int | None:
    """Rows an accumulator keeps for the output: the table's head and tail; none for a stream."""
    if fmt not in render.HUMAN_FORMATS:
        return 0
    return None if all_rows else rows


def stream(env: Environment, accumulator, blocks, progress, *, fmt, grad, digits, max_rows, quiet, reading,
           class_names=None, notes=(), explain: bool = False, show_metrics=False, by_class: bool = False,
           histogram=None, layout=None) -> None:
    """Compute block by block; machine formats write rows as they come, the table at the end."""
    writer = None
    if fmt not in render.HUMAN_FORMATS:
        writer = render.StreamWriter(fmt, env.stdout, accumulator.scale_grad, reduction=accumulator.reduction,
                                     show_grad=grad, class_names=class_names, show_metrics=show_metrics,
                                     by_class=by_class)
    table_rows = 0
    try:
        for inputs in blocks:
            part = accumulator.add_block(*inputs)
            if histogram is not None:  # every scored term, block by block (omitted rows and ignored targets are not)
                histogram.observe(part.scored_terms())
            progress.update(rows=accumulator.rows_seen)
            if writer is None and max_rows is None:
                # --all keeps every row for the table: stop as soon as there are more than it can draw.
                table_rows += part.rows
                table_view.check_all_rows(table_rows)
            if writer is not None:
                writer.block(part)
        result = with_histogram(with_notes(accumulator.result(), (*reading.report.warnings, *notes)), histogram)
    except DataError as error:
        raise located(error, reading) from None
    if reading.report.columns:
        result = replace(result, input_columns=dict(reading.report.columns))
    if layout is not None:
        result = replace(result, layout=layout)
    progress.close()
    warn(env, result, quiet, fmt, show_metrics)
    if writer is not None:
        writer.finish(result)
    else:
        render.write(result, fmt, env.stdout, digits=digits, show_grad=grad, class_names=class_names, max_rows=max_rows,
                     explain=explain)


for _spec in losses.POINTWISE_LOSSES.values():
    add_pointwise_command(_spec)


@dataclass(frozen=True)
class ClassLossCommand:
    """A class loss's command: its accumulator, whole-array function and help; the rest is shared."""

    name: str
    accumulator: type  # losses.CrossEntropyAccumulator or a subclass
    whole: Callable  # the API function on whole arrays
    help: str
    scores_metavar: str  # the first positional's name in the usage line
    scores_help: str
    target_help: str
    columns_help: str
    smoothing: bool  # takes --label-smoothing


def _class_options(
    ctx: typer.Context,
    logits: Annotated[Optional[str], typer.Argument(show_default=False)] = None,
    target: Annotated[Optional[str], typer.Argument(show_default=False)] = None,
    reduction: ReductionOption = Reduction("mean"),
    weight: Annotated[Optional[str], typer.Option("--weight", "-w", help="Per-class weights: 1,2,0.5", show_default=False)] = None,
    ignore_index: Annotated[int, typer.Option("--ignore-index", help="Target value that is skipped.")] = losses.DEFAULT_IGNORE_INDEX,
    label_smoothing: Annotated[float, typer.Option("--label-smoothing", help="ε in [0, 1].")] = 0.0,
    classes: Annotated[Optional[str], typer.Option("--classes", help="Class names: cat,dog,bird", show_default=False)] = None,
    target_column: Annotated[Optional[str], typer.Option("--target", help="Label column of a table: name or 1-based index.", show_default=False)] = None,
    logits_columns: Annotated[Optional[str], typer.Option("--logits", show_default=False)] = None,
    top_k: TopKOption = None,
    class_dim: Annotated[Optional[int], typer.Option(
        "--class-dim", help="The logits' class axis in 3+ dimensions: 1 (PyTorch's (N, C, d1, …)) or -1 ((B, T, V)); read from the shapes when they tell.",
        show_default=False)] = None,
) -> None:
    """The options of a class loss before the common ones (per-loss help filled in by ``_class_signature``)."""


def _class_signature(loss: ClassLossCommand) -> inspect.Signature:
    """``_class_options`` with this loss's help on its inputs (and without options it does not take)."""
    own = {
        "logits": typer.Argument(help=loss.scores_help, metavar=loss.scores_metavar, show_default=False),
        "target": typer.Argument(help=loss.target_help, show_default=False),
        "logits_columns": typer.Option("--logits", help=loss.columns_help, show_default=False),
    }
    params = []
    for param in inspect.signature(_class_options, eval_str=True).parameters.values():
        if param.name == "label_smoothing" and not loss.smoothing:
            continue
        if param.name in own:
            param = param.replace(annotation=Annotated[Optional[str], own[param.name]])
        params.append(param)
    params += _common_parameters(loss.accumulator.has_by_class)
    return inspect.Signature(params)


def add_class_command(loss: ClassLossCommand) -> None:
    def command(ctx: typer.Context, **given) -> None:
        run_class_loss(ctx, loss, **given)

    command.__signature__ = _class_signature(loss)
    app.command(loss.name, cls=Command, help=loss.help, context_settings=CONTEXT)(command)


def run_class_loss(
    ctx: typer.Context, loss: ClassLossCommand, *, logits, target, reduction, weight, ignore_index, classes,
    target_column, logits_columns, grad, nan_policy, dtype, fmt, digits, rows, all_rows, header, delimiter, decimal,
    quiet, explain, label_smoothing: float = 0.0, top_k: int | None = None, metrics: bool = False, by_class: bool = False,
    hist: bool = False, class_dim: int | None = None,
) -> None:
    """A class loss on inline values or streamed over tables: the one path of xent and nll."""
    env: Environment = ctx.obj
    scores = loss.accumulator.form.name
    arguments = positional(env, [logits, target], loss.name, delimiter, decimal)
    concrete = resolve_format(fmt, env, grad, explain)  # before any work: plain with --grad is refused
    with_metrics = check_metrics(metrics, concrete, reduction.value, loss.name, loss.accumulator.metrics)
    check_by_class(loss.name, loss.accumulator.has_by_class, by_class, concrete, grad)
    check_hist(hist, concrete)
    histogram = term_histogram(hist)
    class_names = parse_class_names(classes) if classes else None
    sources = readers.sources_of(arguments)
    options = dict(
        weight=option_values(env, weight, "--weight", decimal) if weight is not None else None,
        ignore_index=ignore_index,
        nan_policy=nan_policy.value,
        top_k=top_k,
        by_class=by_class,
    )
    if loss.smoothing:
        options["label_smoothing"] = label_smoothing

    def checked(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if class_names is not None and len(class_names) != x.shape[-1]:
            raise UsageError(f"--classes names {len(class_names)} classes but the {scores} have {x.shape[-1]}")
        return x, y

    literal_notes: list[str] = []  # inline values out of the dtype's range
    from . import kdim_inputs

    if sources and sources[0] is not None and sources[0].is_stdin and env.stdin is not None:
        env.stdin = kdim_inputs.peekable(env.stdin)  # looked at, left unread for the table reader
    kdim = kdim_inputs.open_inputs(arguments, sources, class_dim, target_column, logits_columns,
                                   lambda text: parse_inline(text, "target"), env.stdin)
    if kdim is not None:
        run_kdim(env, loss, kdim, options, reduction=reduction.value, dtype=dtype.value, fmt=concrete, grad=grad, digits=digits,
                 rows=rows, all_rows=all_rows, quiet=quiet, class_names=class_names, with_metrics=with_metrics,
                 explain=explain, metrics=metrics, by_class=by_class, histogram=histogram, checked=checked)
        return
    if class_dim is not None and class_dim not in (1, -1):
        raise UsageError(f"--class-dim {class_dim}: (N, C) logits have their classes on axis 1 (also -1)")
    if len(arguments) == 2 and sources == [None, None]:
        x, y = checked(parse_inline(arguments[0], scores, dtype.value, literal_notes), parse_labels(arguments[1], class_names))
        y = y.astype(dtype.value) if y.shape == x.shape else y
        result = loss.whole(x, y, reduction=reduction.value, **options)
        result = with_notes(result, (*literal_notes, *shadowed_indices_note(class_names)))
        if histogram is not None:
            histogram.observe(result.scored_terms())
        result = with_histogram(result, histogram)
        emit(ctx, result, fmt, digits=digits, grad=grad, class_names=class_names, rows=rows, all_rows=all_rows, quiet=quiet,
             explain=explain, show_metrics=metrics)
        return
    progress = progress_for(env, sources, quiet)
    with progress:
        reading = table_options(env, header, delimiter, progress, decimal=decimal, nan_policy=nan_policy.value)
        blocks, names = readers.xent_blocks(
            arguments, sources, reading,
            lambda text: parse_inline(text, scores, notes=literal_notes), parse_labels, target_column,
            logits_columns, class_names,
        )
        announce(env, reading, quiet)
        accumulator = loss.accumulator(
            reduction.value, keep_rows=keep_rows(concrete, rows, all_rows), with_grad=grad,
            dtype=dtype.value, input_notes=literal_notes, with_metrics=with_metrics, **options
        )
        stream(env, accumulator, (checked(x, y) for x, y in blocks), progress, fmt=concrete, grad=grad,
               digits=digits, max_rows=None if all_rows else rows, quiet=quiet, class_names=names, reading=reading,
               notes=shadowed_indices_note(class_names), explain=explain, show_metrics=metrics, by_class=by_class,
               histogram=histogram)


def run_kdim(env: Environment, loss: ClassLossCommand, kdim, options: dict, *, reduction, dtype, fmt, grad, digits, rows,
             all_rows, quiet, class_names, with_metrics, explain, metrics, by_class, histogram, checked) -> None:
    """A class loss on K-dimensional logits: positions streamed as rows, the layout in the title/JSON."""
    reading = readers.TableOptions(stdin=env.stdin)
    if kdim.note is not None:
        reading.report.notes.append(kdim.note)
    if kdim.columns:
        reading.report.columns.update(kdim.columns)
    announce(env, reading, quiet)
    accumulator = loss.accumulator(
        reduction, keep_rows=keep_rows(fmt, rows, all_rows), with_grad=grad, with_metrics=with_metrics,
        dtype=dtype, **options,
    )
    try:
        stream(env, accumulator, (checked(x, y) for x, y in kdim.blocks()), render.Progress(env.stderr, None, False),
               fmt=fmt, grad=grad, digits=digits, max_rows=None if all_rows else rows, quiet=quiet,
               class_names=class_names, reading=reading, notes=shadowed_indices_note(class_names), explain=explain,
               show_metrics=metrics, by_class=by_class, histogram=histogram, layout=kdim.layout)
    except DataError as error:
        if error.row is None:
            raise
        raise DataError(f"{printable(kdim.target.name)} at {kdim.position_of(error.row)} (row {error.row}): {error.detail}") from None


XENT = ClassLossCommand(
    name="xent",
    accumulator=losses.CrossEntropyAccumulator,
    whole=losses.cross_entropy,
    help="""Cross-entropy on logits, as torch.nn.CrossEntropyLoss.

    loss_n = −log softmax(x_n)\\[y_n] (× w\\[y_n]); mean divides by Σ w\\[y_n] (the count without weights).

    Probability targets (same shape as the logits): loss_n = −Σ_c w_c t_nc log p_nc; mean divides by N.

    Label smoothing ε mixes each target with the uniform ε/C, as PyTorch does.

    Example: losscli xent "1,2,0.5;0.1,-1,3" 1,2   →   (0.4644 + 0.07077) / 2 = 0.2676

    Tables: losscli xent data.csv --target label (the other numeric columns are the logits).
    """,
    scores_metavar="logits",
    scores_help="Logits: C values, N rows \"1,2,0.5;0.1,-1,3\", a file, or -",
    target_help="Class indices (or names), probability rows, a file, or -",
    columns_help="Logit columns of a table: c0,c1,c2 or 2-11.",
    smoothing=True,
)

NLL = ClassLossCommand(
    name="nll",
    accumulator=losses.NLLAccumulator,
    whole=losses.nll_loss,
    help="""Negative log-likelihood of log-probabilities, as torch.nn.NLLLoss.

    loss_n = −w\\[y_n]·x_n\\[y_n], the input x taken as log-probabilities (log_softmax output), as given; mean divides by Σ w\\[y_n] over the non-ignored targets (the count without weights).

    nll(log_softmax(x), y) is xent(x, y); give logits to xent instead.

    Example: losscli nll "-1.6094,-0.3567,-2.3026;-0.1165,-2.3026,-4.6052" 1,0   →   (0.3567 + 0.1165) / 2 = 0.2366

    Tables: losscli nll data.csv --target label (the other numeric columns are the log-probabilities).
    """,
    scores_metavar="logprobs",
    scores_help="Log-probabilities: C values, N rows \"-1.61,-0.36,-2.3;-0.12,-2.3,-4.61\", a file, or -",
    target_help="Class indices (or names with --classes), a file, or -",
    columns_help="Log-probability columns of a table: c0,c1,c2 or 2-11.",
    smoothing=False,
)

CLASS_COMMANDS = ("xent", "nll")
for _class_loss in (XENT, NLL):
    add_class_command(_class_loss)


@app.command("softmax", cls=Command, context_settings=CONTEXT)
def softmax(
    ctx: typer.Context,
    values: Annotated[Optional[str], typer.Argument(help="A vector 1,2,3,4, a matrix \"1,2;3,4\", a file, or -", show_default=False)] = None,
    logits_columns: Annotated[Optional[str], typer.Option("--logits", help="Columns of a table to softmax: c0,c1,c2 or 2-11 (default: the numeric ones that are not an index or a label).", show_default=False)] = None,
    dim: Annotated[int, typer.Option("--dim", help="Axis the probabilities sum to 1 over.")] = -1,
    temperature: Annotated[float, typer.Option("--temperature", "-t", help="T > 0: softmax(x / T).")] = 1.0,
    log: Annotated[bool, typer.Option("--log", help="log-softmax instead.")] = False,
    dtype: DTypeOption = DType.float64,
    fmt: FormatOption = Format.auto,
    digits: DigitsOption = 4,
    rows: RowsOption = 20,
    all_rows: AllRowsOption = False,
    header: HeaderOption = None,
    delimiter: DelimiterOption = None,
    decimal: DecimalOption = None,
    quiet: QuietOption = False,
    explain: ExplainOption = False,
    by_class: ByClassOption = False,
) -> None:
    """Softmax (or log-softmax) of a vector or of each row, as torch.softmax, computed stably.

    softmax(x)_i = e^(x_i − max) / Σ_j e^(x_j − max)

    Example: losscli softmax 1,2,3,4   →   e^1 / (e^1 + e^2 + e^3 + e^4) = 0.03206

    A table (file or stdin) is one row per sample, streamed; a one-column table is one vector.
    """
    env: Environment = ctx.obj
    check_by_class("softmax", False, by_class, "", False)
    arguments = positional(env, [values], "softmax", delimiter, decimal)
    source = readers.sources_of(arguments)[0] if arguments else readers.STDIN
    input_columns = None
    literal_notes: list[str] = []  # inline values out of the dtype's range
    if source is None:
        if logits_columns is not None:
            raise UsageError("--logits picks columns of a table; the input here is inline values")
        x = parse_inline(arguments[0], "input", dtype.value, literal_notes)
    else:
        concrete = resolve_format(fmt, env, explain=explain)
        spooled = None
        if source.is_stdin and dim in (0, -2) and concrete not in render.HUMAN_FORMATS and env.stdin is not None:
            # Softmax down the columns reads its input three times: stdin goes to a file first.
            from .binary_inputs import spool_to_file

            spooled = spool_to_file(env.stdin)
            source = readers.Source(source.name, spooled.name)
        progress = progress_for(env, [source], quiet)
        with progress:
            reading = table_options(env, header, delimiter, progress, decimal=decimal)
            x = readers.table_rows(reading, source, logits_columns)
            announce(env, reading, quiet)
            if not isinstance(x, np.ndarray) and dim in (0, -2) and concrete not in render.HUMAN_FORMATS:
                # Down each column: the maxima, then the sums, then the output, each a read of the file.
                column_softmax = losses.ColumnSoftmax(temperature=temperature, log=log)

                def again():
                    fresh = replace(reading, report=readers.InputReport(), on_progress=None)
                    return (block.astype(dtype.value, copy=False) for block in readers.table_rows(fresh, source, logits_columns))

                for block in x:
                    column_softmax.see_max(block.astype(dtype.value, copy=False))
                for block in again():
                    column_softmax.see_sum(block)
                stream(env, column_softmax, ((block, None) for block in again()), progress, fmt=concrete, grad=False,
                       digits=digits, max_rows=None, quiet=quiet, reading=reading)
                return
            if not isinstance(x, np.ndarray) and dim in (-1, 1):
                # Softmax along each row: rows are independent, so the table streams.
                accumulator = losses.SoftmaxAccumulator(
                    temperature=temperature, log=log, keep_rows=keep_rows(concrete, rows, all_rows)
                )
                blocks = ((block.astype(dtype.value, copy=False), None) for block in x)
                stream(env, accumulator, blocks, progress, fmt=concrete, grad=False, digits=digits,
                       max_rows=None if all_rows else rows, quiet=quiet, reading=reading, explain=explain)
                return
            x = (x if isinstance(x, np.ndarray) else np.concatenate(list(x))).astype(dtype.value, copy=False)
            input_columns = reading.report.columns
    result = losses.softmax(x, dim=dim, temperature=temperature, log=log)
    result = with_notes(result, tuple(literal_notes))
    if input_columns:
        result = replace(result, input_columns=dict(input_columns))
    emit(ctx, result, fmt, digits=digits, rows=rows, all_rows=all_rows, quiet=quiet, explain=explain)


@app.command("combine", cls=Command, context_settings=CONTEXT)
def combine(
    ctx: typer.Context,
    parts: Annotated[Optional[list[str]], typer.Argument(metavar="PARTS", help="Files of partials (JSON, one document a line), or - for stdin (the default).", show_default=False)] = None,
    fmt: FormatOption = Format.auto,
    digits: DigitsOption = 4,
    quiet: QuietOption = False,
) -> None:
    """Join the partial results of shards into the whole input's value.

    Each part is a line of `losscli LOSS ... --format partial` (exact sums, counts and options, no rows), or of --format json (its "partial"); combine's own json and partial output are parts again, so combines nest. Parts of another loss, reduction, dtype or options are refused. Metrics, --by-class and --hist are not combined.

    Example: ls shard-* | xargs -P 4 -n 1 losscli mse --format partial | losscli combine
    """
    from .losses.partial import combine as combined
    from .partials_input import read_partials

    env: Environment = ctx.obj
    for name in parts or []:
        reject_option_like(name, "combine")
    if not parts and env.stdin_isatty:
        raise UsageError(f"no input: give files of partials, or pipe them in (see '{PROG} combine --help')")
    if fmt.value in ("markdown", "latex"):
        raise UsageError(f"{fmt.value} writes the rows and their derivation, and a combined result has no rows: "
                         "use --format table, plain, csv, json or partial")
    read = read_partials(parts or [], env.stdin)
    result = combined([partial for _, partial in read], [where for where, _ in read]).result()
    emit(ctx, result, fmt, digits=digits, quiet=quiet)


@app.command("plot", cls=Command, context_settings=CONTEXT)
def plot(
    ctx: typer.Context,
    names: Annotated[Optional[list[str]], typer.Argument(metavar="LOSS", help="Losses to draw: l1 mse \"huber --delta 0.5\" (a loss's options in quotes with it, as on its own command).", show_default=False)] = None,
    x_range: Annotated[Optional[str], typer.Option("--range", help="LOW:HIGH of the x axis, e.g. -3:3 or --range=-5:5 (default: the axis's own: -3:3 for the error, 0.02:1 for a probability).", show_default=False)] = None,
    grad: Annotated[bool, typer.Option("--grad", "-g", help="Also draw each loss's derivative ∂loss/∂x, in a second panel.")] = False,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Write FILE.svg or FILE.png instead (needs matplotlib: pip install 'losscli\\[plot]').", show_default=False)] = None,
    size: Annotated[str, typer.Option("--size", help="WIDTHxHEIGHT in pixels of --output.")] = "800x500",
) -> None:
    """Curves of losses against the error d = ŷ − y (regression) or the logit / probability of the
    true class (classification): each loss declares its x axis and the inputs held fixed.

    Example: losscli plot l1 mse "huber --delta 0.5" --grad

    Drawn in the terminal (braille dots, colours unless NO_COLOR or a pipe); --output writes an SVG or PNG.
    """
    from . import plot as plotting

    for name in names or []:
        reject_option_like(name, "plot")
    plotting.run(ctx.obj, names or [], x_range, grad, output, size)


# ---------------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None, env: Environment | None = None) -> int:
    """Run losscli on ``argv`` and return the exit status; every error is reported here.

    Messages go through ``env.error``/``env.say``, which escape control characters and never
    fail: a closed stderr loses the message, not the result or the status.
    """
    env = env or Environment.from_system()
    argv = shield_negative_numbers(sys.argv[1:] if argv is None else list(argv))
    operands = _OPERANDS.set(frozenset(split_operands(argv)[1] or ()))
    try:
        status = int(app(args=argv, prog_name=PROG, standalone_mode=False, obj=env) or 0)
        if status == ExitStatus.INTERRUPTED:  # Typer turns Ctrl-C into Exit(130), silently
            env.say("interrupted")
            return status
        env.stdout.flush()  # buffered output meets a full disk here, while it can still be reported
        return status
    except LossCliError as error:
        env.error(error.message + (_file_like_option_hint(argv) if error.status == ExitStatus.USAGE else ""))
        return int(error.status)
    except KeyboardInterrupt:
        env.say("interrupted")
        return int(ExitStatus.INTERRUPTED)
    except OutputClosed:
        return int(ExitStatus.BROKEN_PIPE)
    except Exception as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            # `losscli` alone: the help is already printed; exit 2 as Typer's standalone mode does.
            return int(error.exit_code)
        if isinstance(error, (ImportError, MemoryError)):  # Typer loads pydantic only now
            env.error(cannot_start(error))
            return int(ExitStatus.DATA)
        # Typer's own usage errors (bad option value, unknown command) carry exit_code and
        # format_message; anything else is a bug and keeps its traceback.
        if not (hasattr(error, "exit_code") and hasattr(error, "format_message")):
            raise
        context = getattr(error, "ctx", None)
        command = getattr(context, "command_path", PROG)
        unknown = _unknown_option(argv, context)
        message = f"no such option: {unknown}" if unknown else _one_line(error.format_message())
        env.error(f"{message} (see '{command} --help')" + _file_like_option_hint(argv))
        return int(error.exit_code)
    finally:
        _OPERANDS.reset(operands)


def _file_like_option_hint(argv: list[str]) -> str:
    """When an argument read as options is a file here (``-lead.csv``), how to name it."""
    options = split_operands(argv)[0]
    for word in options[1:]:
        if word.startswith("-") and word != "-" and not word.startswith("--") and os.path.exists(word):
            return f"; {printable(word)} is a file here: put it after `--` ({PROG} {options[0]} -- {printable(word)})"
    return ""


def _unknown_option(argv: list[str], context) -> str | None:
    """The first argument that looks like an option the command does not have.

    With ignore_unknown_options Click reports a misspelt ``--grda`` after the values as an
    unexpected extra argument; the user meant an option, so that is what the error names.
    Nothing after ``--`` is an option.
    """
    command = getattr(context, "command", None)
    if command is None:
        return None
    known = {name for param in command.params for name in (*param.opts, *param.secondary_opts)}
    for arg in split_operands(argv)[0]:
        if arg.startswith("-") and arg != "-" and arg.split("=", 1)[0] not in known:
            return arg
    return None


def _settle(stream, fd: int) -> None:
    """Flush ``stream``; if it cannot be written (full disk, broken pipe), point its descriptor at
    /dev/null so Python's own flush at exit neither prints an error nor changes the status to 120."""
    if stream is None:
        return
    try:
        stream.flush()
    except (OSError, ValueError):
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
            stream.flush()
        except (OSError, ValueError):
            pass


def run() -> None:
    """Run the command with the real streams and exit with its status (``losscli.__main__.run``
    calls this once Ctrl-C is handled)."""
    status = main()
    if status == ExitStatus.INTERRUPTED:
        # Said already; leave at once, as losscli.__main__ does for an interrupt outside main.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        os._exit(status)
    _settle(sys.stdout, 1)
    _settle(sys.stderr, 2)
    # The answer is out. The worker processes are stopped while a Ctrl-C is still reported in one
    # line; after that none may reach the interpreter's exit hooks, which would print a traceback.
    workers = sys.modules.get(f"{__package__}.parse_worker")
    if workers is not None:
        workers.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(status)
