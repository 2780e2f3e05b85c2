"""``python -m losscli`` and the ``losscli`` command.

Ctrl-C at any moment ends in one line, ``losscli: interrupted``, and status 130. Nothing heavy is
imported before the handling is in place (this module and the package's ``__init__`` import
nothing of their own), and while numpy, Typer and rich load (about 0.3 s) an interrupt is only
noted: raised inside an import it can come out as an ImportError (numpy's C extensions) or be
lost in a callback. It is acted on as soon as they are loaded.
"""

import sys

INTERRUPTED = 130  # errors.ExitStatus.INTERRUPTED (128 + SIGINT), spelt out to import nothing


def run() -> None:
    """Console-script entry point: install the Ctrl-C handling, then import and run the CLI."""
    received: list[int] = []
    try:
        import signal

        def note(signum, frame) -> None:
            received.append(signum)

        def interrupt(signum, frame) -> None:
            received.append(signum)
            raise KeyboardInterrupt

        # A SIGINT the shell told us to ignore (a background job) stays ignored.
        handled = signal.getsignal(signal.SIGINT) is signal.default_int_handler
        if handled:
            signal.signal(signal.SIGINT, note)
        try:
            from . import cli
        except (ImportError, MemoryError, KeyboardInterrupt) as error:
            if received:
                raise KeyboardInterrupt from None
            if isinstance(error, KeyboardInterrupt):
                # No Ctrl-C came: numpy raises this when OpenBLAS cannot start its threads.
                error = MemoryError("numpy could not start (too little memory or too many threads?)")
            from .errors import cannot_start

            sys.stderr.write(f"losscli: error: {cannot_start(error)}\n")
            sys.exit(1)

        if handled:
            signal.signal(signal.SIGINT, interrupt)
        if received:
            raise KeyboardInterrupt
        cli.run()
    except KeyboardInterrupt:
        _interrupted()
    except SystemExit:
        if received:  # the interrupt was swallowed on the way (a callback) but the run did stop
            _interrupted()
        raise
    except Exception:
        if received:  # a library turned the KeyboardInterrupt into an error of its own
            _interrupted()
        raise


def _interrupted() -> None:
    """Say so and leave with 130 at once.

    ``os._exit`` skips Python's exit-time flush (which could block on a stalled pipe once a
    second Ctrl-C is ignored) and CPython's rule that a KeyboardInterrupt which once passed
    through ``eval`` (``namedtuple`` uses it) ends the process by SIGINT instead of the status.
    """
    import os

    try:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C now changes nothing
    except BaseException:  # noqa: BLE001 - interrupted while even `signal` loaded: nothing to undo
        pass
    try:
        os.write(2, b"losscli: interrupted\n")
    except OSError:  # stderr closed: the status still says it
        pass
    os._exit(INTERRUPTED)


if __name__ == "__main__":
    run()
