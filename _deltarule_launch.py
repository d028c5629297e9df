"""The ``deltarule`` console script's entry point, outside the package on purpose.

Importing :mod:`deltarule` takes a few tenths of a second (NumPy, pluggy).
A Ctrl-C (or SIGTERM, SIGHUP) during that time must end the command with one
line and the signal's status, like one at any later moment before training;
this module imports nothing heavy, so it can catch that.
"""

import signal
import sys


def _stop(signum, frame):
    raise KeyboardInterrupt(signum)


def main() -> int:
    for name in ("SIGTERM", "SIGHUP"):  # SIGINT already raises KeyboardInterrupt
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _stop)
    try:
        from deltarule.cli import main as run
    except KeyboardInterrupt as exc:
        signum = exc.args[0] if exc.args and isinstance(exc.args[0], int) else signal.SIGINT
        word = "interrupted" if signum == signal.SIGINT else \
            f"terminated ({signal.Signals(signum).name})"
        sys.stderr.write(f"deltarule: {word}\n")
        return 128 + int(signum)
    return run()
