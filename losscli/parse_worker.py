"""Worker processes that parse blocks for the default (numpy) reader, beside the main one.

numpy's ``loadtxt`` holds the GIL (about 11 ms a MiB on the project's machines, most of a
10M-row read), so threads cannot share the parsing; forked processes can. A worker does only the
first, C-speed attempt: ``loadtxt`` of one block with the options the main process chose, giving
the array or None. Everything else stays in the main process, in file order: line numbers, the
out-of-range literal warning, the fallbacks (missing values, the line-by-line parse that names a
bad field) and every error message. The arrays are the ones ``loadtxt`` would give in the main
process, so values and per-block sums are bit for bit the same.

Workers are used only where ``fork`` is (Linux), after the first blocks (a small input does not
pay ~10 ms for a fork); the same workers format per-row output when polars does not (csv_text). A worker ignores Ctrl-C (the main process says "interrupted", once), writes
nothing to the terminal, and dies with the main process. A worker that cannot start or dies makes
its blocks parse in the main process. ``LOSSCLI_WORKERS=0`` turns them off.
"""

from __future__ import annotations

import io
import os
import sys
import warnings
from concurrent.futures import Future

import numpy as np

WORKERS = 2  # one per core on the project's 2-core machines; the main process reads and computes
START_AFTER = 2  # blocks parsed in the main process before workers start (inputs over ~2 MiB use them)


def _count() -> int:
    text = os.environ.get("LOSSCLI_WORKERS", "")
    if text.isdigit():
        return int(text)
    return min(WORKERS, len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else WORKERS


def parse(data: bytes, options: dict, tails: tuple = ()) -> tuple[np.ndarray | None, int, bool]:
    """``loadtxt`` of a block of whole lines (None where it raises: the main process then parses
    the block itself and names what is wrong), the block's newline count, and whether one of the
    ``tails`` patterns occurs in it (a literal that may be out of float64's range): the scans
    the main process would otherwise make."""
    lines = data.count(b"\n")
    found = any(tail.search(data) for tail in tails)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data" on comment-only blocks
            return np.loadtxt(io.StringIO(data.decode("utf-8")), **options), lines, found
    except (ValueError, UnicodeDecodeError, MemoryError):
        return None, lines, found


def _quiet() -> None:
    """In a worker: Ctrl-C is the main process's to report; nothing reaches the terminal; it dies
    with the main process even if that one ends by ``os._exit``."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.dup2(devnull, 1)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


_executor = None  # one set of workers per process, shared by the reader and the writer


def _shared(workers: int):
    """The process's worker pool, started on first use; None where it cannot start."""
    global _executor
    if _executor is None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "fork() with threads" (Python 3.12+)
            _executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_quiet)
        import atexit

        atexit.register(close)  # before the interpreter tears modules down under the pool's callbacks
    return _executor


def close() -> None:
    """Stop the worker processes, waiting for them (a no-op where none started)."""
    global _executor
    executor, _executor = _executor, None
    if executor is not None:
        executor.shutdown(wait=True, cancel_futures=True)


_unavailable = False  # a pool failed once in this process: the rest is done in the main process


def submit(function, *args) -> Future | None:
    """``function(*args)`` on a worker process, or None (no workers here: run it yourself)."""
    count = workers()
    if count < 1 or _unavailable:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _shared(count).submit(function, *args)
    except (OSError, RuntimeError, ValueError):  # cannot fork, no threads left, a broken pool
        _give_up()
        return None


def _give_up() -> None:
    """No more workers in this process. A pool that half started (one fork done, the next refused
    under a process limit) is stopped here: its started worker would wait for work for ever, and
    the interpreter's exit for it."""
    global _executor, _unavailable
    broken, _executor, _unavailable = _executor, None, True
    if broken is None:
        return
    for process in list((getattr(broken, "_processes", None) or {}).values()):  # the pool keeps no public list
        try:
            process.kill()
            process.join(1)
        except (OSError, ValueError, AssertionError):
            pass
    try:
        broken.shutdown(wait=False, cancel_futures=True)
    except Exception:  # noqa: BLE001 - a half-made pool may fail to shut down; its workers are gone
        pass


def result(future: Future | None):
    """The worker's answer, or None (not submitted, or the worker died: do it yourself)."""
    if future is None:
        return None
    try:
        return future.result()
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception:  # BrokenProcessPool (a worker killed), a pickling failure
        return None


def workers() -> int:
    """How many blocks to keep in flight: the worker count where workers run, else 0."""
    return _count() if sys.platform.startswith("linux") else 0


class Pool:
    """A stream's blocks parsed by the workers, past its first ``START_AFTER`` blocks (a small
    input does not pay for a fork); ``submit`` returns None for a block to parse here."""

    def __init__(self) -> None:
        self.blocks = 0

    def submit(self, data: bytes, options: dict, tails: tuple = ()) -> Future | None:
        self.blocks += 1
        return None if self.blocks <= START_AFTER else submit(parse, data, options, tails)

    result = staticmethod(result)
