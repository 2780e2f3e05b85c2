"""The streams losscli talks to, injectable so tests can be a terminal or a pipe at will."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import BinaryIO, TextIO


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
            stdout=sys.stdout,
            stderr=sys.stderr,
            stdin_isatty=sys.stdin is not None and isatty(sys.stdin),
            stdout_isatty=isatty(sys.stdout),
            stderr_isatty=isatty(sys.stderr),
        )

    def warn(self, message: str) -> None:
        self.stderr.write(f"losscli: warning: {message}\n")
