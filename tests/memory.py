"""Peak memory of losscli runs in a fresh process, for the flat-memory tests.

VmHWM from /proc/self/status, not ru_maxrss: on Linux ru_maxrss survives exec, so a child would
inherit the high-water mark of this (pytest) process.
"""

from __future__ import annotations

import os
import subprocess
import sys


def peak_kb(*commands: list[str], reader: str | None = None, out: str | None = None, timeout: int = 300) -> tuple[list[str], int]:
    """(each command's stdout, stripped; VmHWM in kB) of losscli commands run one after the other
    in one fresh process through ``main``; with ``out`` they write to that file instead (their
    stdout is then ''), so a large output is not held in memory. ``reader`` sets LOSSCLI_READER."""
    code = (
        "import io, re, sys\n"
        "from losscli.cli import main\n"
        "from losscli.environment import Environment\n"
        f"for argv in {[list(c) for c in commands]!r}:\n"
        + (f"    with open({out!r}, 'w') as out:\n"
           "        assert main(argv, Environment(stdin=None, stdout=out, stderr=sys.stderr)) == 0\n"
           "    print('-')\n"
           if out else
           "    out = io.StringIO()\n"
           "    assert main(argv, Environment(stdin=None, stdout=out, stderr=sys.stderr)) == 0\n"
           "    print(out.getvalue().strip())\n")
        + "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
    )
    env = {**os.environ, **({"LOSSCLI_READER": reader} if reader else {})}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env, check=True)
    *values, peak = done.stdout.splitlines()
    return [("" if out else v) for v in values], int(peak)
