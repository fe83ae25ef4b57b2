"""One wave of a round: slots proposed together, whatever finishes first recorded in slot order.

A wave's prompts are built from the same history, their calls are numbered and their budgets reserved
in slot order before any is sent, up to ``--concurrency`` answers are awaited at once and up to
``--workers`` evaluations run at once (each slot's answer is evaluated as soon as it arrives), and the
candidates are recorded in slot order after all have finished. So the run folder depends on the
answers and on the wave's width, never on which call or evaluation happened to finish first: a
resumed run and a run with one worker come out the same. The repairs of a wave form the next wave.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from promptpo.engine.state import StopRun
from promptpo.errors import AnswersExhausted, BackendError
from promptpo.extract import Extracted
from promptpo.llm.base import Completion, Request
from promptpo.prompting import Prompt

JOIN_POLL_S = 0.2
"""How often the main thread looks up from waiting (so Ctrl-C and SIGTERM are handled at once)."""


@dataclass
class Pending:
    """One slot of a wave: its call as sent, then its answer, program and evaluation as they arrive."""

    slot: int
    prompt: Prompt
    request: Request
    call: int
    answered: bool
    """Recorded before a crash (a resumed run reuses it)."""
    round_: int = 0
    steps_reserved: int = 0
    """Env steps held for its evaluation (its worst case) from when it is sent until it is recorded."""
    cost_reserved: float = 0.0
    """The call's worst-case cost, held until its real cost is known."""
    completion: Completion | None = None
    extracted: Extracted | None = None
    result: Any = None
    error: BaseException | None = None
    """What ended the slot's call (a backend that gave up, answers exhausted), raised after the wave."""
    stop: StopRun | None = None
    """Why its evaluation did not start (the time budget ran out while the call was in flight)."""


def run_all(jobs: list[Callable[[], None]]) -> None:
    """Each job on its own daemon thread (daemon: a call that hangs cannot keep an interrupted run alive);
    returns when all have finished. Jobs catch their own errors; limits are the semaphores they take."""
    threads = [threading.Thread(target=job, daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(JOIN_POLL_S)


class Wave:
    """The slots of one wave through the engine: ``engine.send`` (main thread, slot order), then per slot,
    concurrently, the answer (``engine.receive``), its program and its evaluation."""

    def __init__(self, engine, round_: int):
        self.engine, self.round = engine, round_
        self.evaluating = engine.evaluation_slots

    def run(self, prompts: list[Prompt]) -> list:
        """The wave's candidates, recorded in slot order; a budget that stopped part of the wave, or a backend
        error, is raised after what was paid for is recorded."""
        engine = self.engine
        best = engine.state.best.evaluation if engine.state.best is not None else None
        sent: list[Pending] = []
        stop: StopRun | None = None
        for slot, prompt in enumerate(prompts):
            try:
                sent.append(engine.send(prompt, self.round, slot))
            except StopRun as err:  # what the budgets allow of this wave is sent; the rest is not
                stop = err
                break
        if not getattr(engine.backend, "concurrent", True):  # a proposer whose answers depend on the order it
            for pending in sent:                              # is asked in (offline): asked in slot order
                self._answer(pending)
        run_all([lambda p=pending: self._slot(p, best) for pending in sent])
        candidates = [engine.record_pending(pending, self.round) for pending in sent]
        for pending in sent:
            if pending.error is not None:
                engine.stop_at_target()  # a run that reached its target ends as such, whatever came after
                raise pending.error
        stop = stop or next((p.stop for p in sent if p.stop is not None), None)
        if stop is not None:
            raise stop
        return candidates

    def _answer(self, pending: Pending) -> None:
        try:
            pending.completion = self.engine.receive(pending)
        except (BackendError, AnswersExhausted) as err:
            pending.error = err

    def _slot(self, pending: Pending, best) -> None:
        try:
            self._through(pending, best)
        except BaseException as err:  # noqa: BLE001 - raised in the main thread once the wave is recorded
            pending.error = err

    def _through(self, pending: Pending, best) -> None:
        """Its answer (unless it came already: recorded before, or asked in slot order), its program, its
        evaluation. What it holds of the budgets is given back when it is recorded."""
        engine = self.engine
        if pending.completion is None and pending.error is None:
            self._answer(pending)
        if pending.completion is None:
            return
        pending.extracted = engine.read(pending)
        if not pending.extracted.ok:
            return
        with self.evaluating:
            try:
                pending.result = engine.evaluate_slot(pending, best)
            except StopRun as err:
                pending.stop = err
