"""The streams losscli talks to, injectable so tests can be a terminal or a pipe at will."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from .errors import OutputClosed, OutputError
from .inputs import printable

PROG = "losscli"


def _write_failed(error: OSError) -> Exception:
    """What a failed write to stdout means: the reader went away, or an error to report."""
    if isinstance(error, BrokenPipeError):
        return OutputClosed()
    return OutputError(f"cannot write to stdout: {error.strerror or error}")


class PipeAwareStdout:
    """stdout whose failures Typer lets through to ``cli.main`` (it would turn any OSError into
    exit status 1 or a traceback): a closed pipe raises OutputClosed, anything else (a full
    disk, a closed descriptor) an OutputError naming the OS reason."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if self._stream is None:  # started with stdout closed (`>&-`)
            raise OutputError("cannot write to stdout: Bad file descriptor (stdout is closed)")
        try:
            return self._stream.write(text)
        except OSError as error:
            raise _write_failed(error) from error

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except OSError as error:
            raise _write_failed(error) from error

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@dataclass
class Environment:
    stdin: BinaryIO
    stdout: TextIO
    stderr: TextIO
    stdin_isatty: bool = False
    stdout_isatty: bool = False
    stderr_isatty: bool = False

    @classmethod
    def from_system(cls) -> "Environment":
        def isatty(stream) -> bool:
            try:
                return stream.isatty()
            except (AttributeError, ValueError):
                return False

        return cls(
            stdin=sys.stdin.buffer if sys.stdin is not None else None,
            stdout=PipeAwareStdout(sys.stdout),
            stderr=sys.stderr,
            stdin_isatty=sys.stdin is not None and isatty(sys.stdin),
            stdout_isatty=isatty(sys.stdout),
            stderr_isatty=isatty(sys.stderr),
        )

    def say(self, text: str) -> None:
        """``losscli: text`` as one line on stderr: the one place messages are written.

        Control characters are escaped, so no file or column name can drive the terminal.
        Best effort: a closed or broken stderr loses the message, never the result or the
        exit status.
        """
        line = f"{PROG}: {printable(text)}\n"
        try:
            self.stderr.write(line)
            self.stderr.flush()
        except (OSError, ValueError, AttributeError):  # broken pipe or full disk; closed; None (`2>&-`)
            pass

    def warn(self, message: str) -> None:
        self.say(f"warning: {message}")

    def note(self, message: str) -> None:
        """Something losscli decided by itself that changes the answer (which columns, a header)."""
        self.say(f"note: {message}")

    def error(self, message: str) -> None:
        self.say(f"error: {message}")
