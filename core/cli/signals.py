"""SIGINT, SIGTERM and SIGHUP for the command line: end the run, keep the work.

While a command runs, :class:`SignalGuard` handles the three signals a user,
a scheduler (``timeout``, Slurm, systemd) or a closed terminal sends:

- before and during training, the first signal raises :class:`Signalled`, a
  :exc:`KeyboardInterrupt` whose ``stop_reason`` the training loop records
  (``"interrupted"`` for SIGINT, ``"terminated"`` for SIGTERM and SIGHUP):
  training stops after the current step, the report is printed and
  ``--save`` writes the model;
- from then on — and always while an output file is written — signals are
  only recorded, so a second Ctrl-C cannot cut a save short; the command
  ends with the status of the first signal, ``128 + signal number`` (130,
  143, 129), as shells report it.
"""

from __future__ import annotations

import contextlib
import signal
import threading

from ..hookspecs import hookimpl

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                if hasattr(signal, name))
STOP_REASONS = {"SIGINT": "interrupted", "SIGTERM": "terminated", "SIGHUP": "terminated"}


def exit_status(signum: int) -> int:
    """``128 + signum``: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + int(signum)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:  # pragma: no cover - not a known signal
        return f"signal {signum}"


class Signalled(KeyboardInterrupt):
    """The first SIGINT, SIGTERM or SIGHUP of a command, as an exception.

    ``signum`` is the signal, ``stop_reason`` what the training loop records.
    """

    def __init__(self, signum: int):
        super().__init__(signal_name(signum))
        self.signum = signum
        self.stop_reason = STOP_REASONS.get(signal_name(signum), "interrupted")


class SignalGuard:
    """The command's handlers for :data:`SIGNALS`; :meth:`restore` puts back the old.

    ``received`` lists every signal that arrived, in order.  In mode
    ``"raise"`` the first one raises :class:`Signalled` (once; the mode
    then becomes ``"defer"``); in mode ``"defer"`` signals are only recorded.
    """

    def __init__(self):
        self.received: list[int] = []
        self.mode = "raise"
        self._old: dict[int, object] = {}

    def install(self) -> "SignalGuard":
        if threading.current_thread() is not threading.main_thread():
            return self  # only the main thread may set handlers; leave them be
        for signum in SIGNALS:
            try:
                self._old[signum] = signal.signal(signum, self._handle)
            except (OSError, ValueError):  # pragma: no cover - not settable here
                pass
        return self

    def restore(self) -> None:
        for signum, old in self._old.items():
            signal.signal(signum, old)
        self._old.clear()

    def _handle(self, signum, frame) -> None:
        self.received.append(signum)
        if self.mode == "raise":
            self.mode = "defer"
            raise Signalled(signum)

    @property
    def first(self) -> int | None:
        """The first signal received, or ``None``."""
        return self.received[0] if self.received else None

    @contextlib.contextmanager
    def deferred(self):
        """Record signals only, for the length of the block (writing a file)."""
        old, self.mode = self.mode, "defer"
        try:
            yield self
        finally:
            self.mode = "defer" if self.received else old

    def defer(self) -> None:
        """From now on, record signals only (the training is over)."""
        self.mode = "defer"


class TrainingGuard:
    """A plugin telling the guard that training is over (``deltarule_train_end``).

    Once the loop has ended, a signal must not interrupt the library while it
    builds the result; the command then saves and reports, and exits with
    the signal's status.
    """

    def __init__(self, guard: SignalGuard):
        self.guard = guard

    @hookimpl(tryfirst=True)
    def deltarule_train_end(self, state) -> None:
        self.guard.defer()
