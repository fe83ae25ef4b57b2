"""SIGTERM and SIGHUP end a run the way Ctrl-C does: the run folder is finished and can be resumed. Ctrl-C itself
raises KeyboardInterrupt during a run even when a library left its own SIGINT handler behind (Ray Tune's, for one,
ends a tuning run quietly and stays installed after it).

A handler's exception can be lost: raised while the main thread runs a finalizer (``__del__``, a weakref callback,
as garbage collection of a sandbox worker or an SB3 buffer may), Python prints "Exception ignored" and goes on. So
each signal is also remembered, and ``stop_if_signalled()``, called where a run goes from one piece of work to the
next, raises it again."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from promptpo.engine.state import Interrupted

NAMES = {signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}
_heard: list[BaseException] = []
"""The stop a signal raised inside the block, kept in case a finalizer swallowed it."""


@contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """While inside: SIGTERM/SIGHUP raise Interrupted in the main thread and SIGINT raises KeyboardInterrupt, unless
    it is ignored (a background job's) or left to kill the process (elsewhere: nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    closing: list[BaseException | None] = []  # once the handlers go back: a stop is kept here, raised after

    def handler(signum, frame):  # noqa: ARG001 - the signal module's signature
        stop = (KeyboardInterrupt() if signum == signal.SIGINT
                else Interrupted(f"stopped by {NAMES.get(signum, signum)}"))
        _heard[:] = [stop]
        if closing:
            closing.append(stop)
            return
        raise stop

    previous = {sig: signal.signal(sig, handler) for sig in NAMES}
    if signal.getsignal(signal.SIGINT) not in (signal.SIG_IGN, signal.SIG_DFL, None):
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, handler)
    _heard.clear()
    ended = False
    try:
        yield
        ended = True
    finally:
        closing.append(None)  # from here the handler raises nothing, so every handler from before goes back
        for sig, old in previous.items():
            signal.signal(sig, old)
        _heard.clear()
    if ended and closing[1:]:  # a signal came while they went back: the block was stopped all the same
        raise closing[1]


def stop_if_signalled() -> None:
    """Raise again the stop a signal raised inside ``interrupt_on_signals`` (a finalizer may have swallowed it);
    nothing when none came."""
    if _heard and threading.current_thread() is threading.main_thread():  # where the handler would have raised
        stop = _heard[0]
        raise type(stop)(*stop.args)
