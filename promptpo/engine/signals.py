"""SIGTERM and SIGHUP end a run the way Ctrl-C does: the run folder is finished and can be resumed."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from promptpo.engine.state import Interrupted

NAMES = {signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}


@contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """While inside: SIGTERM/SIGHUP raise Interrupted in the main thread (elsewhere: nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):  # noqa: ARG001 - the signal module's signature
        raise Interrupted(f"stopped by {NAMES.get(signum, signum)}")

    previous = {sig: signal.signal(sig, handler) for sig in NAMES}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
