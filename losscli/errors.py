"""The one error type losscli raises for a person's mistake, and the exit statuses it maps to.

Errors are raised where the problem is found, with a message that names what is wrong and
where; ``losscli.cli.main`` is the only place that turns them into stderr text and an exit status.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    DATA = 1  # the input holds something that cannot be computed on, or the output cannot be written
    USAGE = 2  # the command line itself is wrong (Typer/Click use 2 too)
    INTERRUPTED = 130  # 128 + SIGINT, as shells report it
    BROKEN_PIPE = 141  # 128 + SIGPIPE: what `cat` reports when `| head` stops reading


class LossCliError(Exception):
    """A person's mistake, described in one line (no "error:" prefix; the CLI adds it)."""

    status: ExitStatus = ExitStatus.DATA

    def __init__(self, message: str, *, status: ExitStatus | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class UsageError(LossCliError):
    """The arguments or options are wrong: bad option value, conflicting options, missing input."""

    status = ExitStatus.USAGE


class DataError(LossCliError):
    """The numbers themselves are wrong: not a number, shapes differ, class index out of range.

    ``at_row`` makes one about a row of the input (1-based); where the rows came from a file,
    the CLI names its file and line instead (``cls.csv:7: class index 4 is out of range …``).
    """

    status = ExitStatus.DATA
    row: int | None = None
    detail: str = ""

    @classmethod
    def at_row(cls, row: int, detail: str, subject: str = "target") -> "DataError":
        error = cls(f"{subject} row {row}: {detail}")
        error.row, error.detail = row, detail
        return error


class OutputError(LossCliError):
    """Output cannot be written: stdout fails (a full disk, closed) or the temporary directory does."""

    status = ExitStatus.DATA


class OutputClosed(Exception):
    """The reader of stdout went away (``| head -1``): not a mistake, the end of the output."""


def cannot_start(error: BaseException) -> str:
    """One line for a library that failed to load (too little memory under ``ulimit -v``, a broken
    install): the machine's problem, not a bug of losscli's, so no traceback.

    >>> cannot_start(ImportError("long advice … Original error was: failed to map segment"))
    'cannot start: failed to map segment'
    """
    reason = " ".join(str(error).split()) or type(error).__name__
    return "cannot start: " + reason.rsplit("Original error was: ", 1)[-1]
