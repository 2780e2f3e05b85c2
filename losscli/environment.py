"""The streams losscli talks to, injectable so tests can be a terminal or a pipe at will."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import BinaryIO, TextIO

from .errors import OutputClosed


class PipeAwareStdout:
    """stdout whose closed pipe raises OutputClosed, which Typer (unlike a BrokenPipeError,
    which it turns into exit status 1) lets through to ``cli.main``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError as error:
            raise OutputClosed from error

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError as error:
            raise OutputClosed from error

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

    def warn(self, message: str) -> None:
        self.stderr.write(f"losscli: warning: {message}\n")

    def note(self, message: str) -> None:
        """Something losscli decided by itself that changes the answer (which columns, a header)."""
        self.stderr.write(f"losscli: note: {message}\n")
