"""promptpo.engine.signals: SIGTERM and SIGHUP end a run the way Ctrl-C does."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from promptpo.engine.signals import interrupt_on_signals
from promptpo.engine.state import Interrupted


@pytest.mark.parametrize("sig, name", [(signal.SIGTERM, "SIGTERM"), (signal.SIGHUP, "SIGHUP")])
def test_a_signal_inside_raises_interrupted_naming_it(sig, name):
    with pytest.raises(Interrupted) as caught, interrupt_on_signals():
        os.kill(os.getpid(), sig)
        threading.Event().wait(0.5)  # the handler runs in the main thread meanwhile
    assert caught.value.reason == f"stopped by {name}" and str(caught.value) == f"stopped by {name}"
    assert not isinstance(caught.value, Exception)  # a BaseException: `except Exception` in a task does not swallow it


def test_the_previous_handlers_are_back_after_the_block_however_it_ends():
    heard: list[int] = []
    before = {sig: signal.signal(sig, lambda signum, frame: heard.append(signum)) for sig in (signal.SIGTERM,
                                                                                            signal.SIGHUP)}
    try:
        mine = {sig: signal.getsignal(sig) for sig in before}
        with interrupt_on_signals():
            assert all(signal.getsignal(sig) is not mine[sig] for sig in mine)
        assert {sig: signal.getsignal(sig) for sig in mine} == mine
        with pytest.raises(Interrupted), interrupt_on_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            threading.Event().wait(0.5)
        assert {sig: signal.getsignal(sig) for sig in mine} == mine
        os.kill(os.getpid(), signal.SIGHUP)
        threading.Event().wait(0.2)
        assert heard == [signal.SIGHUP]  # the test's own handler hears it again
    finally:
        for sig, old in before.items():
            signal.signal(sig, old)


def test_outside_the_main_thread_nothing_changes():
    seen: dict = {}

    def inside() -> None:
        try:
            before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
            with interrupt_on_signals():  # signal.signal would raise ValueError here
                seen["inside"] = {sig: signal.getsignal(sig) for sig in before} == before
            seen["after"] = True
        except BaseException as err:  # noqa: BLE001 - shown by the assertion
            seen["error"] = err

    thread = threading.Thread(target=inside)
    thread.start()
    thread.join(5)
    assert seen == {"inside": True, "after": True}


def test_ctrl_c_raises_even_when_a_library_left_its_own_sigint_handler():
    """Ray Tune's handler stayed installed after a tuning run and turned a later run's Ctrl-C into a log line (the
    run then read 'completed'): inside, SIGINT raises KeyboardInterrupt; the library's handler is back after."""
    heard: list[int] = []

    def leftover(signum, frame):  # noqa: ARG001
        heard.append(signum)

    before = signal.signal(signal.SIGINT, leftover)
    try:
        with pytest.raises(KeyboardInterrupt), interrupt_on_signals():
            os.kill(os.getpid(), signal.SIGINT)
            threading.Event().wait(0.5)
        assert heard == [] and signal.getsignal(signal.SIGINT) is leftover
    finally:
        signal.signal(signal.SIGINT, before)


def test_an_ignored_sigint_stays_ignored():
    """A background job started by a shell without job control ignores SIGINT; a run does not change that."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupt_on_signals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            threading.Event().wait(0.2)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


class StopsInItsFinalizer:
    """An object whose ``__del__`` is running when the signal's handler runs: Python prints 'Exception ignored'
    and goes on (garbage collection of a sandbox worker or an SB3 buffer can be where a Ctrl-C lands)."""

    def __init__(self, sig: int):
        self.sig = sig

    def __del__(self):
        os.kill(os.getpid(), self.sig)
        threading.Event().wait(0.3)  # the handler runs here, and its exception is lost


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the lost exception, as expected
@pytest.mark.parametrize("sig, stop", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Interrupted),
                                       (signal.SIGHUP, Interrupted)])
def test_a_signal_a_finalizer_swallowed_is_raised_again_at_the_next_check(sig, stop):
    from promptpo.engine.signals import stop_if_signalled

    with interrupt_on_signals():
        stop_if_signalled()  # nothing heard yet: nothing raised
        StopsInItsFinalizer(sig)  # dropped at once: its __del__ swallows the handler's exception
        with pytest.raises(stop):
            stop_if_signalled()
    stop_if_signalled()  # outside the block: forgotten


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_run_whose_ctrl_c_a_finalizer_swallowed_ends_interrupted_at_the_next_wave(tmp_path, monkeypatch):
    """The engine checks between waves: a run stopped this way ends 'interrupted' (resumable) instead of running on
    to its end as if nothing had happened."""
    import json

    import promptpo
    from promptpo.engine.run import Engine

    code = "def act(obs):\n    return int(obs[2] > 0)\n"
    answers = tmp_path / "answers.jsonl"
    answers.write_text((json.dumps({"content": f"```python\n{code}```"}) + "\n") * 4)
    stop_at_target, dropped = Engine.stop_at_target, []

    def with_a_ctrl_c_in_a_finalizer(self):  # in the main thread, after the first wave
        if not dropped:
            dropped.append(threading.current_thread() is threading.main_thread())
            StopsInItsFinalizer(signal.SIGINT)
        return stop_at_target(self)

    monkeypatch.setattr(Engine, "stop_at_target", with_a_ctrl_c_in_a_finalizer)
    result = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{answers}", rounds=4, candidates=1, episodes=2,
                               target=1e9, out=tmp_path / "runs", add_to_library=False)
    assert dropped == [True]
    assert result.status == "interrupted" and result.reason == "stopped by the user (Ctrl-C)"
    assert result.summary["llm_calls"] == 1  # no round after the one the Ctrl-C came in


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_a_finalizer_swallowed_after_the_last_wave_does_not_read_completed(tmp_path, monkeypatch):
    """After the last wave come constant tuning, reflection and the end: a stop lost there is still a stop."""
    import json

    import promptpo
    from promptpo.engine.run import Engine

    code = "def act(obs):\n    return int(obs[2] > 0)\n"
    answers = tmp_path / "answers.jsonl"
    answers.write_text(json.dumps({"content": f"```python\n{code}```"}) + "\n")
    stop_at_target = Engine.stop_at_target

    def with_a_ctrl_c_in_a_finalizer(self):
        StopsInItsFinalizer(signal.SIGINT)
        return stop_at_target(self)

    monkeypatch.setattr(Engine, "stop_at_target", with_a_ctrl_c_in_a_finalizer)
    result = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{answers}", rounds=1, candidates=1, episodes=2,
                               target=1e9, out=tmp_path / "runs", add_to_library=False)
    assert result.status == "interrupted" and result.reason == "stopped by the user (Ctrl-C)"


def test_a_signal_while_the_handlers_are_put_back_stops_the_block_and_leaves_none_of_them():
    """A SIGTERM landing while the block's end puts the handlers back: every handler from before is back (one
    left half-way would turn a later SIGTERM outside any run into a traceback), and the block ends interrupted."""
    heard: list[int] = []
    test_handler = signal.signal(signal.SIGTERM, lambda signum, frame: heard.append(signum))
    original, sent = signal.signal, []
    try:
        def restoring(sig, handler):  # a SIGTERM sent (and handled) as the first handler goes back
            if not sent:
                sent.append(sig)
                os.kill(os.getpid(), signal.SIGTERM)
                threading.Event().wait(0.2)
            return original(sig, handler)

        with pytest.raises(Interrupted), interrupt_on_signals():
            signal.signal = restoring
        signal.signal = original
        assert signal.getsignal(signal.SIGTERM) is not None and heard == []
        os.kill(os.getpid(), signal.SIGTERM)
        threading.Event().wait(0.2)
        assert heard == [signal.SIGTERM]  # the test's own handler is back
        from promptpo.engine.signals import stop_if_signalled

        stop_if_signalled()  # nothing left behind
    finally:
        signal.signal = original
        original(signal.SIGTERM, test_handler)
