"""promptpo.engine.wave: one wave's slots, sent in slot order, answered side by side, taken in in slot order."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from guess_kind import GuessTask
from promptpo.engine.config import Budgets, RunConfig
from promptpo.engine.run import Engine
from promptpo.engine.store import RunStore
from promptpo.engine.wave import Pending, Wave, run_all
from promptpo.errors import BackendError
from promptpo.llm.base import Backend, Completion, Request


class Numbers(Backend):
    """Call k answers a program guessing ``numbers[k - 1]``, after ``delays[k]`` seconds, or raises ``fails[k]``."""

    def __init__(self, numbers, delays=None, fails=None, concurrent: bool = True):
        super().__init__("numbers")
        self.numbers, self.delays, self.fails = numbers, delays or {}, fails or {}
        self.concurrent = concurrent
        self.asked: list[tuple[int, bool]] = []
        """(call, asked from the main thread) in the order asked."""

    def complete(self, request: Request) -> Completion:
        self.asked.append((request.call_index, threading.current_thread() is threading.main_thread()))
        time.sleep(self.delays.get(request.call_index, 0.0))
        if request.call_index in self.fails:
            raise self.fails[request.call_index]
        return Completion(f"```python\ndef guess():\n    return {self.numbers[request.call_index - 1]}\n```\n", "numbers")


class Ordered(GuessTask):
    """Records the numbers its evaluations guess, in the order the evaluations start."""

    def __init__(self):
        super().__init__()
        self.started: list[float] = []

    def evaluate(self, code, limits, progress, best=None):
        scope: dict = {}
        exec(code, scope)  # noqa: S102 - a toy, as GuessTask.evaluate is
        self.started.append(scope["guess"]())
        return super().evaluate(code, limits, progress, best)


def engine(tmp_path, backend, task=None, **config) -> Engine:
    config = RunConfig(env="toy/guess", **{"rounds": 1, "candidates": 3, "workers": 3, **config})
    return Engine(task or Ordered(), config, backend, RunStore.create(tmp_path, "run"))


def test_a_pending_slot_holds_nothing_until_its_answer_arrives():
    pending = Pending(slot=2, prompt=None, request=None, call=5, answered=False)
    assert (pending.round_, pending.id, pending.index, pending.steps_reserved, pending.cost_reserved) == (0, "", 0, 0, 0.0)
    assert pending.completion is pending.extracted is pending.result is pending.error is pending.stop is None
    assert pending.candidate is None and not pending.taken


def test_run_all_runs_every_job_at_once_and_returns_when_all_have_finished():
    barrier = threading.Barrier(3, timeout=5)  # passes only if the three jobs run side by side
    done: list[int] = []
    daemons: list[bool] = []

    def job(i: int) -> None:
        daemons.append(threading.current_thread().daemon)
        barrier.wait()
        time.sleep(0.05 * i)
        done.append(i)

    run_all([lambda i=i: job(i) for i in range(3)])
    assert sorted(done) == [0, 1, 2] and daemons == [True] * 3


def test_a_slot_s_turn_comes_once_every_slot_before_it_has_passed():
    wave = Wave(SimpleNamespace(evaluation_slots=threading.Semaphore(1), saving=True), round_=0)
    wave._pass(SimpleNamespace(slot=2))
    wave._pass(SimpleNamespace(slot=1))
    assert wave.turn == 0  # slot 0 has not passed: slots 1 and 2 wait
    wave._pass(SimpleNamespace(slot=0))
    assert wave.turn == 3 and wave.passed == {0, 1, 2}


def test_waiting_for_a_turn_ends_when_the_run_stops_saving():
    stub = SimpleNamespace(evaluation_slots=threading.Semaphore(1), saving=True)
    wave = Wave(stub, round_=0)
    threading.Timer(0.1, lambda: setattr(stub, "saving", False)).start()
    started = time.monotonic()
    wave._wait_turn(SimpleNamespace(slot=1))  # slot 0 never passes
    assert wave.turn == 0 and time.monotonic() - started < 1.0


def test_slots_are_evaluated_and_taken_in_in_slot_order_whichever_answer_comes_first(tmp_path):
    backend = Numbers([10, 20, 30], delays={1: 0.4, 2: 0.2})  # call 3 answers first, call 1 last
    run = engine(tmp_path, backend)
    state = run.execute()
    assert state.status == "completed", state.reason
    assert sorted(call for call, _ in backend.asked) == [1, 2, 3] and not any(main for _, main in backend.asked)
    assert run.task.started == [10, 20, 30]
    assert [c.id for c in run.history] == ["r00c0", "r00c1", "r00c2"] and state.best.id == "r00c2"
    assert run.reserved_steps == 0 and state.env_steps == 30


def test_a_proposer_whose_answers_depend_on_order_is_asked_in_slot_order_from_the_main_thread(tmp_path):
    backend = Numbers([10, 20, 30], delays={1: 0.1}, concurrent=False)
    state = engine(tmp_path, backend).execute()
    assert backend.asked == [(1, True), (2, True), (3, True)]
    assert state.candidates == 3


def test_a_backend_error_is_raised_after_the_wave_s_other_slots_are_recorded(tmp_path):
    backend = Numbers([10, 20, 30], fails={2: BackendError("the provider rejected the API key", kind="auth")})
    run = engine(tmp_path, backend)
    state = run.execute()
    assert state.status == "failed" and state.reason == "the provider rejected the API key"
    assert run.task.started == [10, 30]  # the other slots were evaluated
    saved = sorted(p.stem for p in (run.store.root / "candidates").glob("*.json"))
    assert saved == ["r00c0", "r00c2"] and run.reserved_steps == 0


def test_a_budget_that_runs_out_mid_wave_sends_only_what_fits(tmp_path):
    backend = Numbers([10, 20, 30])
    run = engine(tmp_path, backend, budgets=Budgets(max_llm_calls=2))
    state = run.execute()
    assert state.status == "budget_exhausted" and state.reason == "LLM call budget of 2 used up"
    assert [call for call, _ in sorted(backend.asked)] == [1, 2] and [c.id for c in run.history] == ["r00c0", "r00c1"]


def test_no_evaluation_starts_after_the_slot_that_reached_the_target(tmp_path):
    run = engine(tmp_path, Numbers([41, 42, 43, 0]), workers=1, candidates=4)
    state = run.execute()
    assert state.status == "target_reached" and state.reason == "r00c1 reached mean return >= 0"
    assert run.task.started == [41, 42]
    assert [c.skipped for c in run.history[2:]] == ["r00c1 reached mean return >= 0 before its evaluation started"] * 2
