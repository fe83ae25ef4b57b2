"""SIGTERM and SIGHUP end a run the way Ctrl-C does: the run folder is finished and can be resumed. Ctrl-C itself
raises KeyboardInterrupt during a run even when a library left its own SIGINT handler behind (Ray Tune's, for one,
ends a tuning run quietly and stays installed after it)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from promptpo.engine.state import Interrupted

NAMES = {signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


@contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """While inside: SIGTERM/SIGHUP raise Interrupted in the main thread and SIGINT raises KeyboardInterrupt, unless
    it is ignored (a background job's) or left to kill the process (elsewhere: nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):  # noqa: ARG001 - the signal module's signature
        raise Interrupted(f"stopped by {NAMES.get(signum, signum)}")

    previous = {sig: signal.signal(sig, handler) for sig in NAMES}
    if signal.getsignal(signal.SIGINT) not in (signal.SIG_IGN, signal.SIG_DFL, None):
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
