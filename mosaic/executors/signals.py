"""Stop a run cleanly on SIGTERM and SIGHUP as on Ctrl-C.

Python turns SIGINT into ``KeyboardInterrupt``; SIGTERM and SIGHUP would kill the driver
outright, leaving its pool workers and queues behind. Inside ``stop_on_signals`` they raise
``RunInterrupted`` (a ``KeyboardInterrupt``) instead, so the same cleanup runs: executors kill
their workers, the output lock is released, and the CLI exits with 128 + the signal number.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class RunInterrupted(KeyboardInterrupt):
    """The run received a stop signal.

    Attributes:
        signum: the signal number (``signal.SIGTERM``, ...).
    """

    def __init__(self, signum: int):
        self.signum = int(signum)
        super().__init__(f"stopped by {signal.Signals(signum).name}")


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Raise ``RunInterrupted`` in the main thread on SIGTERM / SIGHUP while inside.

    Only signals still at their default action are taken over (a handler the host program
    installed is left alone), and only in the main thread (Python delivers signals there).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        raise RunInterrupted(signum)

    previous = {}
    for sig in SIGNALS:
        if signal.getsignal(sig) is signal.SIG_DFL:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
