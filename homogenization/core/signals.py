"""A stop signal at any phase of a command ends it with a record or a line saying why there is none.

SIGTERM (a scheduler, ``kill``), SIGINT (Ctrl+C) and SIGUSR2 (SLURM's warning before preemption)
kill a Python process silently by default: a job stopped while reading its data would leave no
record and no message. :class:`StopSignals` raises :class:`Stopped` instead, naming the phase the
command was in (``phase``, set by the command as it goes), so the entry point can write its record
and exit with 128 + the signal number. Files are written staged and renamed into place, so a stop
at any point leaves nothing half-written. Training itself takes the signal at the end of a step
and saves a checkpoint first (``training/callbacks/preemption.py``), with these handlers
restored after it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGUSR2")


class Stopped(BaseException):
    """The command stopped on a signal. ``previous_handler``: the handler installed before ours
    for SIGUSR2 (submitit's requeue), for the entry point to call once the record is written.

    Not an ``Exception``, like KeyboardInterrupt: a signal lands in whatever code is running, and
    code that catches every Exception and goes on would swallow it (a logging handler prints
    "--- Logging error ---" and continues; the job then ran to its end, the signal lost)."""

    def __init__(self, signal_number: int, message: str, previous_handler: Callable | None = None,
                 phase: str | None = None):
        self.signal_number = signal_number
        self.previous_handler = previous_handler
        self.phase = phase
        self.recorded = False    # set once the job's record says it was interrupted
        super().__init__(message)

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal_number).name

    @property
    def exit_status(self) -> int:
        return 128 + self.signal_number


class StopSignals:
    """Within ``with StopSignals("starting") as stop:``, a stop signal raises :class:`Stopped`
    naming ``stop.phase``. Handlers are only installed from the main thread (Python allows no
    other); elsewhere the context does nothing."""

    def __init__(self, phase: str, outcome: str = "run the same command to go on"):
        self.phase = phase
        self.outcome = outcome
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.signal(number, self._on_signal)
                              for number in (signal.Signals[name] for name in STOP_SIGNALS)}
        return self

    def __exit__(self, *exc_info) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def _on_signal(self, signum: int, frame) -> None:
        previous = self._previous.get(signum) if signum == signal.SIGUSR2 else None
        name = signal.Signals(signum).name
        raise Stopped(signum, f"{name} received while {self.phase}: stopped at once; {self.outcome}",
                      previous if callable(previous) else None, self.phase)


def handler_to_chain(handler: object, signum: int) -> Callable | None:
    """The handler to call once a job stopped by ``signum`` has written its record (submitit's
    requeue on SIGUSR2): past a :class:`StopSignals` handler, which only raises, to the one it
    replaced."""
    owner = getattr(handler, "__self__", None)
    if isinstance(owner, StopSignals):
        handler = owner._previous.get(signum)
    return handler if callable(handler) else None
