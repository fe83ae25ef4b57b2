"""One wave of a round: slots proposed together, each saved the moment it is finished, taken in in slot order.

A wave's prompts are built from the same history; their calls are numbered, their candidate ids given and their
budgets reserved in slot order before any is sent; up to ``--concurrency`` answers are awaited at once and up to
``--workers`` evaluations run at once. Evaluations start in slot order (a slot's evaluation waits until those of
the slots before it have started, or are known not to be needed), each as soon as its answer is read and a worker
is free. A slot's candidate is saved to the run folder as soon as its evaluation ends (promptpo.engine.recording),
so Ctrl-C or a kill loses no finished evaluation; the run takes the wave's candidates in (history, events, what
the next prompts see) in slot order once all have finished (on Ctrl-C, only those before the first slot still
unfinished: the events of a run stopped and resumed are those of a run never stopped). The repairs of a wave form the next wave.

When an evaluation reaches the run's target, the run stops spending: the wave's evaluations that have not started
do not start (their answers are kept, and their candidates recorded as not evaluated, naming the candidate that
reached the target), and the run ends ``target_reached`` after the wave. Evaluations already running on other
workers at that moment finish and are counted: their steps were spent.

So the run folder depends on the answers and on the wave's width, never on which call or evaluation happened to
finish first: a resumed run and a run with one worker come out the same, and ``--workers 1`` and ``--workers 8``
give the same folder — except in a wave where the target is reached while other evaluations are running, which
more workers then add to the run's env steps (never to its steps to target: they come after the candidate that
reached it in slot order).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from promptpo.candidate import Candidate
from promptpo.engine.signals import stop_if_signalled
from promptpo.engine.state import StopRun
from promptpo.errors import AnswersExhausted, BackendError
from promptpo.extract import Extracted
from promptpo.llm.base import Completion, Request
from promptpo.outcome import RunStatus
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
    id: str = ""
    index: int = 0
    """The id and index of the candidate it makes, given in slot order when it is sent."""
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
    candidate: Candidate | None = None
    """What it made, once saved to the run folder."""
    taken: bool = False
    """Taken into the run (history, its event), in slot order."""


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
        self.order = threading.Condition()
        """Guards ``turn``, ``passed`` and ``reached``."""
        self.turn = 0
        """The slot whose evaluation may start next (those before it have started or need none)."""
        self.passed: set[int] = set()
        self.reached: str | None = None
        """The first of the wave's candidates to reach the run's target: no evaluation starts after it."""

    def run(self, prompts: list[Prompt]) -> list:
        """The wave's candidates, taken in in slot order; the run's target reached (first), a budget that
        stopped part of the wave, or a backend error, is raised after what was paid for is recorded. On Ctrl-C or
        SIGTERM the saved slots before the first unfinished one are taken in; later saved slots stay saved (resume
        reuses them) and those still in flight are dropped (resume redoes them)."""
        engine = self.engine
        stop_if_signalled()  # a Ctrl-C a finalizer swallowed still stops the run before the next wave
        best = engine.state.best.evaluation if engine.state.best is not None else None
        sent: list[Pending] = []
        stop: StopRun | None = None
        for slot, prompt in enumerate(prompts):
            try:
                pending = engine.send(prompt, self.round, slot)
            except StopRun as err:  # what the budgets allow of this wave is sent; the rest is not
                stop = err
                break
            pending.id, pending.index = engine.new_slot(self.round)
            sent.append(pending)
        try:
            if not engine.backend.concurrent:  # a proposer whose answers depend on the order it
                for pending in sent:                              # is asked in (offline): asked in slot order
                    self._answer(pending)
            run_all([lambda p=pending: self._slot(p, best) for pending in sent])
            stop_if_signalled()
            for pending in sent:  # a slot whose thread failed (a fault of the run) is saved as it stands
                engine.save_slot(pending)
            candidates = [engine.take_in_slot(pending) for pending in sent]
        except BaseException:
            engine.stop_saving()
            self._take_in_prefix(sent)
            raise
        engine.stop_at_target()  # a run that reached its target ends as such, whatever else stopped the wave
        for pending in sent:
            if pending.error is not None:
                raise pending.error
        stop = stop or next((p.stop for p in sent if p.stop is not None), None)
        if stop is not None:
            raise stop
        return candidates

    def _take_in_prefix(self, sent: list[Pending]) -> None:
        """The run is stopping mid-wave: take in the saved slots up to the first that has no saved candidate (still
        in flight, or ended without one: resume redoes it either way), no further.
        A later slot taken in now would log its event before the unfinished one's (resume evaluates that one last)
        with total env steps and a ``best`` judged without it; left saved but not taken in (its candidates/ files
        stay), resume reuses its evaluation and logs its event in slot order."""
        engine = self.engine
        for pending in sent:
            if pending.candidate is None:
                break
            engine.take_in_slot(pending)
        for pending in sent:
            engine.release(pending)

    def _answer(self, pending: Pending) -> None:
        try:
            pending.completion = self.engine.receive(pending)
        except (BackendError, AnswersExhausted) as err:
            pending.error = err

    def _slot(self, pending: Pending, best) -> None:
        """Its answer, program and evaluation, then its candidate saved to the run folder."""
        try:
            self._through(pending, best)
            self.engine.save_slot(pending)
        except BaseException as err:  # noqa: BLE001 - raised in the main thread once the wave is recorded
            pending.error = err
        finally:
            self._pass(pending)  # however it ended, the slots after it may start

    def _through(self, pending: Pending, best) -> None:
        """Its answer (unless it came already: recorded before, or asked in slot order), its program, its
        evaluation once its turn comes and a worker is free. What it holds of the budgets is given back when it
        is recorded."""
        engine = self.engine
        if pending.completion is None and pending.error is None:
            self._answer(pending)
        if pending.completion is None:
            return
        pending.extracted = engine.read(pending)
        if not pending.extracted.ok:
            return
        self._wait_turn(pending)
        if not engine.saving:  # the run is stopping (Ctrl-C, SIGTERM): nothing more starts
            return
        with self.evaluating:
            with self.order:
                reached = self.reached
            self._pass(pending)
            if reached is not None:  # recorded as a budget-stopped slot is: not evaluated, and why
                pending.stop = StopRun(RunStatus.TARGET_REACHED, f"{reached} reached {engine.task.target.describe()} "
                                                                 "before its evaluation started")
                return
            try:
                pending.result = engine.evaluate_slot(pending, best)
            except StopRun as err:
                pending.stop = err
            candidate = engine.save_slot(pending)  # before the worker is freed: the next slot sees the target
            if engine.reaches(candidate):
                with self.order:
                    self.reached = self.reached or candidate.id

    def _wait_turn(self, pending: Pending) -> None:
        """Until the slots before this one have started their evaluations or need none (or the run stops)."""
        with self.order:
            while self.turn < pending.slot and self.engine.saving:
                self.order.wait(JOIN_POLL_S)

    def _pass(self, pending: Pending) -> None:
        """This slot's evaluation has started, or it will have none: the next slot's turn may come."""
        with self.order:
            self.passed.add(pending.slot)
            while self.turn in self.passed:
                self.turn += 1
            self.order.notify_all()
