"""The one run engine: propose (prompt, ask, extract, repair) → evaluate → record → select → stop or go on.

It owns what every search shares — budgets (reserved before each call and evaluation: promptpo.engine.budget),
records (each candidate saved as it finishes, taken in in slot order: promptpo.engine.recording), resume,
progress and the summary — and knows nothing of policies or schedules: a ``TaskKind``
says how a program is scored and what the model is shown, and asks the engine for no more than its
``RunContext`` (promptpo.engine.context), which the Engine provides.
"""

from __future__ import annotations

import logging
import os
import threading

from promptpo.candidate import Candidate
from promptpo.engine.budget import Budgeted
from promptpo.engine.config import RunConfig
from promptpo.engine.recording import Recording
from promptpo.engine.signals import interrupt_on_signals, stop_if_signalled
from promptpo.engine.state import Interrupted, Observer, RunState, StopRun
from promptpo.engine.store import RunStore
from promptpo.engine.task import TaskKind
from promptpo.errors import AnswersExhausted, BackendError
from promptpo.edits import read_answer
from promptpo.extract import Extracted, analysis
from promptpo.llm.base import FREE_BACKENDS, Backend, Completion, Request, redact
from promptpo.outcome import RunStatus
from promptpo.prompting import Prompt
from promptpo.search import Greedy, Islands
from promptpo.engine.wave import Pending, Wave
from promptpo.text import clean

log = logging.getLogger(__name__)


def member_of(completion: Completion) -> dict:
    """Which model of a mixture answered (promptpo.llm.mixture), for the call's records."""
    member = completion.extra.get("member")
    return {"member": member} if member else {}


class Engine(Budgeted, Recording):
    def __init__(self, task: TaskKind, config: RunConfig, backend: Backend, store: RunStore,
                 observer: Observer | None = None, replay=None, search=None):
        self.task, self.config, self.backend, self.store = task, config, backend, store
        self.replay = replay
        """When resuming: the answers and evaluations already recorded (promptpo.engine.replay)."""
        self.observer = observer or (lambda kind, state: None)
        self.search_strategy = search or self._strategy()
        self.state = RunState(env_steps_planned=task.planned_steps())
        self._init_recording()
        self.lock = threading.RLock()
        """Guards the counters, reservations and display state that calls and evaluations in flight update."""
        self.reserved_steps, self.reserved_cost = 0, 0.0
        workers = config.workers or os.cpu_count() or 1
        self.evaluation_slots = threading.Semaphore(max(1, min(workers, task.parallel_evaluations)))
        """At most --workers evaluations at once (a task kind says how many it can run side by side)."""

    # -- the run -------------------------------------------------------------------------
    def execute(self) -> RunState:
        """Run the task and always leave a finished run folder behind."""
        if self.replay is None:  # from the start: which process runs it (a run killed by SIGKILL is told from it);
            self.write_summary()  # a resumed run keeps the summary it had until its replay has counted it again
        try:
            with interrupt_on_signals():
                self.task.drive(self)
                stop_if_signalled()  # after the last wave, tuning or reflection: a lost Ctrl-C is not 'completed'
            self.state.status = RunStatus.COMPLETED
        except StopRun as stop:
            self.state.status, self.state.reason = stop.status, stop.reason
        except AnswersExhausted as err:
            self.state.status, self.state.reason = RunStatus.ANSWERS_EXHAUSTED, str(err)
        except BackendError as err:
            self.state.status, self.state.reason = RunStatus.FAILED, redact(str(err))
            self.store.event("llm_error", kind=err.kind, message=self.state.reason)
        except (KeyboardInterrupt, Interrupted) as err:
            self.state.status = RunStatus.INTERRUPTED
            self.state.reason = err.reason if isinstance(err, Interrupted) else "stopped by the user (Ctrl-C)"
        except Exception as err:
            self.state.status, self.state.reason = RunStatus.FAILED, f"internal error: {type(err).__name__}: {err}"
            raise
        finally:
            self.stop_saving()  # an evaluation still in flight (a daemon thread) writes nothing after the end
            if self.history:  # the round a stop cut short is in the database too
                self.record_search(self.state.round)
            self.write_summary()
            self.store.end("run_end", status=self.state.status, reason=self.state.reason)  # nothing logs after it
            self.observer("end", self.state)
        return self.state

    def search(self) -> None:
        """Rounds of candidates, in waves of ``--concurrency`` slots (promptpo.engine.wave): each slot proposes
        one, and the ones that cannot be scored are repaired together in the next wave."""
        width = self.wave_width
        for round_ in range(self.config.rounds):
            self.state.round = round_
            for start in range(0, self.config.candidates, width):
                slots = range(start, min(start + width, self.config.candidates))
                prompts = [self.next_prompt(round_, slot, ahead) for ahead, slot in enumerate(slots)]
                for _ in range(1 + (self.config.max_repairs if self.uses_prompts else 0)):
                    failed = [c for c in Wave(self, round_).run(prompts) if c is not None and c.needs_repair]
                    prompts = [self.task.prompts.repair(c, self.edited(c)) for c in failed]
                    if not prompts:
                        break
                self.stop_at_target()
            self.task.after_round(self, round_)
            self.record_search(round_)
            self.stop_at_target()
            if self.config.reflect and self.uses_prompts and round_ + 1 < self.config.rounds:
                self.reflect(round_)

    def reflect(self, round_: int) -> None:
        """--reflect: one short call asking what ``round_`` taught the model; later refinement prompts show it."""
        completion, call, answered = self.ask(self.task.prompts.review(self.history, round_), round_)
        text = analysis(completion.text)  # prose only, capped like an answer's analysis
        self.task.prompts.learned.append((round_, text))
        if not answered:
            self.store.event("reflection", round=round_, call=call, text=text)

    def _strategy(self):
        c = self.config
        if c.search != "islands":
            return Greedy()
        target = self.task.target
        scale = target.threshold if target is not None and target.metric == "mean_return" else None
        return Islands(c.islands, c.migrate_every, seed=c.seed, target=scale)

    def record_search(self, round_: int) -> None:
        """search.json: the strategy's database after ``round_`` (islands: members, cells, migrations)."""
        record = self.search_strategy.record(self.history, round_)
        if record is not None:
            self.store.write_json("search.json", record)

    @property
    def wave_width(self) -> int:
        """Slots proposed together: --concurrency (0: all of a round's candidates)."""
        return max(1, min(self.config.concurrency or self.config.candidates, self.config.candidates))

    def next_prompt(self, round_: int, slot: int, ahead: int = 0) -> Prompt:
        """``ahead``: prompts of the same wave asked before this one (their calls are not counted yet)."""
        if not self.uses_prompts:
            return self.task.prompts.proposal(round_, slot)
        parent = self.search_strategy.parent(self.history, round_, slot)
        if parent is None:
            return self.task.prompts.first(slot)
        inspirations = self.search_strategy.inspirations(self.history, round_, slot, parent)
        return self.task.prompts.refine(self.history, parent, inspirations, self.progress(round_, ahead))

    def progress(self, round_: int, ahead: int) -> str:
        """Where the run is, for a refinement prompt: its call against --max-llm-calls, or its round."""
        cap, rounds = self.config.budgets.max_llm_calls, self.config.rounds
        note = self.task.progress_note(self, round_)
        if cap is not None:
            call = self.state.llm_sent + ahead + 1
            line = f"This is LLM call {call} of at most {cap}; {max(0, cap - call)} left after this one."
        else:
            left = rounds - round_ - 1
            line = (f"This is round {round_ + 1} of {rounds}; {left} round{'s' if left != 1 else ''} of "
                    f"{self.config.candidates} candidate{'s' if self.config.candidates != 1 else ''} left after this one.")
        return f"{line} {note}".strip()

    def edited(self, candidate: Candidate) -> Candidate | None:
        """The program an answer without code of its own was to edit: its nearest ancestor with code."""
        by_id = {c.id: c for c in self.history}
        while candidate is not None and not candidate.code:
            candidate = by_id.get(candidate.parent)
        return candidate

    def read(self, pending: Pending) -> Extracted:
        """The program a slot's answer gives: whole, or as edits to the program its prompt named."""
        return read_answer(pending.completion.text, pending.prompt.base, self.config.edit, entry=self.task.entry,
                           gated=self.config.gate)

    @property
    def uses_prompts(self) -> bool:
        return self.backend.uses_prompts

    def reaches(self, candidate: Candidate | None) -> bool:
        """Whether ``candidate`` meets the run's target (only a candidate scored in full can)."""
        return candidate is not None and candidate.complete and self.task.reached(candidate)

    def stop_at_target(self) -> None:
        if self.task.reached(self.state.best):
            raise StopRun(RunStatus.TARGET_REACHED, f"{self.state.best.id} reached {self.task.target.describe()}")

    # -- one call ------------------------------------------------------------------------
    def ask(self, prompt: Prompt, round_: int) -> tuple[Completion, int, bool]:
        """One answer for ``prompt``, recorded: (completion, call number, whether it was recorded before)."""
        pending = self.send(prompt, round_)
        completion = pending.completion or self.receive(pending)
        self.release(pending)
        return completion, pending.call, pending.answered

    def send(self, prompt: Prompt, round_: int, slot: int = 0) -> Pending:
        """Number, record and reserve one call (in the main thread, in slot order); an answer recorded before a
        crash is taken from the run folder here."""
        self.check_budgets(prompt_chars=prompt.chars)
        call = self.state.requests + 1
        messages = [{"role": m.role, "content": m.content} for m in prompt.messages]
        prompt_path = self.store.record_prompt(call, prompt.kind, messages)
        request = Request(prompt.messages, self.config.gen, call, prompt_path, self.store.response_path(call),
                          deadline=self._deadline(), on_wait=lambda line: self.tell("llm_wait", line))
        answered = self.replay is not None and self.replay.has_answer(request)  # recorded before a crash
        if not answered:
            self.store.event("llm_request", call=call, prompt=prompt.kind, parent=prompt.parent,
                             chars=prompt.chars, dropped=list(prompt.dropped), summarised=list(prompt.summarised))
        self.state.requests = call
        self.state.llm_sent += self.uses_prompts
        pending = Pending(slot, prompt, request, call, answered, round_=round_)
        self.backend.prepare(request)  # a mixture chooses the call's model here, in slot order
        self._reserve(pending)
        cached = self.backend.cached(request)
        if cached is not None:
            pending.completion = self._received(pending, cached)
        return pending

    def receive(self, pending: Pending) -> Completion:
        """The answer to a sent call (any thread), recorded and counted."""
        self.tell("llm_request", f"waiting for LLM call {pending.call} ({pending.prompt.kind})" if self.uses_prompts
                  else f"proposal {pending.call}", flight=f"call {pending.call}")
        try:
            return self._received(pending, self.backend.complete(pending.request))
        finally:
            self.landed(f"call {pending.call}")

    def _received(self, pending: Pending, completion: Completion) -> Completion:
        completion.text = clean(completion.text)  # storable as it is evaluated: no lone surrogates
        call, request = pending.call, pending.request
        self.backend.account(call, completion)  # a mixture counts the answer for the model that gave it
        self.store.record_response(call, completion, {"call": call, "prompt": pending.prompt.kind,
                                                      "round": pending.round_, **member_of(completion),
                                                      "cache_key": request.cache_key(self.backend.label)})
        with self.lock:
            s = self.state
            s.llm_calls += self.uses_prompts  # answered: a call that never was is not counted as one
            s.prompt_tokens += completion.prompt_tokens
            s.completion_tokens += completion.completion_tokens
            s.tokens_estimated = completion.tokens_estimated or s.tokens_estimated
            if completion.cost_usd is None:
                s.cost_known = s.cost_known and self.backend.name in FREE_BACKENDS
            else:
                s.cost_usd += completion.cost_usd
            self.reserved_cost -= pending.cost_reserved
            pending.cost_reserved = 0.0
        if not pending.answered:
            self.store.event("llm_response", call=call, prompt_tokens=completion.prompt_tokens,
                             completion_tokens=completion.completion_tokens,
                             tokens_estimated=completion.tokens_estimated, cost_usd=completion.cost_usd,
                             **member_of(completion),
                             latency_s=round(completion.latency_s, 3), attempts=completion.attempts)
        return completion

    # -- evaluations ---------------------------------------------------------------------
    def evaluate(self, code: str, note: str, tuning: bool = False):
        """Score ``code`` within the budgets (its worst case must fit before it starts); count its steps."""
        stop_if_signalled()  # constant tuning's evaluations, one after another in the main thread
        self.check_budgets(llm=False)
        self.tell("evaluating", note)
        result = self._score(code, note, self.state.best.evaluation if self.state.best is not None else None)
        self._count(result, tuning)
        if tuning:
            self.save_sample(code, result)
        return result

    def evaluate_slot(self, pending: Pending, best):
        """Score a wave slot's program (any thread; its steps were reserved when it was sent)."""
        self._check_time()
        note = f"evaluating the answer to call {pending.call}"
        self.tell("evaluating", note, flight=note)
        try:
            return self._score(pending.extracted.code, note, best)
        finally:
            self.landed(note)

    def _score(self, code: str, note: str, best):
        cached = self.replay.evaluation(self.task.evaluation_key(code)) if self.replay is not None else None
        return cached if cached is not None else self.task.evaluate(code, self._limits(), self.progress_reporter(note),
                                                                    best)

    def _count(self, result, tuning: bool = False) -> None:
        with self.lock:
            self.state.in_flight_steps = 0
            self.state.env_steps += result.env_steps
            self.state.episodes += result.episodes_run
            if tuning:
                self.state.tuning_env_steps += result.env_steps
                self.state.tuning_evaluations += 1

    # -- progress ------------------------------------------------------------------------
    def tell(self, kind: str, note: str, flight: str | None = None) -> None:
        """What is happening now; ``flight`` names a call or evaluation that stays in flight until ``landed``."""
        with self.lock:
            self.state.last = note
            if flight is not None:
                self.state.in_flight[flight] = note
            self.observer(kind, self.state)

    def landed(self, flight: str) -> None:
        with self.lock:
            self.state.in_flight.pop(flight, None)

    def progress_reporter(self, note: str):
        """``progress(steps, detail)`` for an evaluation that reports as it goes (a training)."""
        def progress(steps: int, detail: str = "") -> None:
            self.in_flight(steps)
            self.tell("progress", f"{note}: {detail}" if detail else note)

        return progress

    # -- the rest of what a task kind may ask (promptpo.engine.context.RunContext) ---------
    def spent(self, env_steps: int) -> None:
        """Count ``env_steps`` the task spent itself, outside ``evaluate`` (online: its one training)."""
        with self.lock:
            self.state.in_flight_steps = 0
            self.state.env_steps += env_steps

    def in_flight(self, env_steps: int) -> None:
        """Env steps of the work going on now, shown before they are counted."""
        self.state.in_flight_steps = env_steps

    def event(self, name: str, /, **fields) -> None:
        """One line of events.jsonl."""
        self.store.event(name, **fields)

    def write_text(self, name: str, text: str) -> None:
        """A file of the run folder, written whole."""
        self.store.write_text(name, text)
