"""What a resumed run reuses from its folder: recorded answers and recorded evaluations.

A run is deterministic given its answers and evaluations, so a resumed run replays it from the
start with two caches: LLM answers keyed by a hash of model, parameters and the exact prompt
(reused, never paid for again) and results keyed by the task kind's evaluation key (code and what
it is scored on), of candidates and of tuning samples alike. Work that finished is neither redone
nor logged twice; what was in flight when the run died is redone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from promptpo.candidate import Result
from promptpo.llm.base import Backend, Completion, Request
from promptpo.records import RunFolder

DETERMINISTIC = ("offline", "scripted")
"""Backends that are free and answer the same again: they are asked again (the offline proposer
must rebuild its state), and a recorded call number stands for a recorded answer."""


class Replay:
    def __init__(self, run: RunFolder, model: str, key_of: Callable[[dict], str | None],
                 result_of: Callable[[dict], Result | None]):
        """``key_of(record)`` and ``result_of(record)``: a candidate record's evaluation key and Result."""
        self.answers_by_key: dict[str, list[Completion]] = defaultdict(list)
        self.answered_calls: set[int] = set()
        for call in run.calls()[1]:  # answered: a response recorded (and its llm/NNNN.json, else asked again)
            meta = run.call_record(call)
            if meta is None:
                continue
            self.answered_calls.add(call)
            key = meta.get("cache_key")
            if key is None:
                continue
            self.answers_by_key[key].append(Completion(
                text=run.llm_text(call, "response.md"), model=meta.get("model", model),
                prompt_tokens=meta.get("prompt_tokens", 0), completion_tokens=meta.get("completion_tokens", 0),
                cost_usd=meta.get("cost_usd"), latency_s=meta.get("latency_s", 0.0), attempts=meta.get("attempts", 1),
                tokens_estimated=meta.get("tokens_estimated"), extra={"cached": True}))
        self.results_by_key: dict[str, Result] = {}
        for record in run.candidates:
            result, key = result_of(record), key_of(record)
            if result is not None and key is not None:
                self.results_by_key[key] = result
        for record in run.tuning_samples():  # (promptpo.engine.recording); one cut short by a kill runs again
            result = result_of(record) if record.get("key") else None
            if result is not None:
                self.results_by_key.setdefault(record["key"], result)
        self.logged = {e.get("id") for e in run.events() if e.get("event") == "candidate"}
        """Candidates whose event is already in events.jsonl (not logged again)."""
        self._deterministic = False
        self.answers = sum(len(v) for v in self.answers_by_key.values())
        self.evaluations = len(self.results_by_key)
        self._label = model

    def has_answer(self, request: Request) -> bool:
        if self._deterministic:
            return request.call_index in self.answered_calls
        return bool(self.answers_by_key.get(request.cache_key(self._label)))

    def evaluation(self, key: str) -> Result | None:
        return self.results_by_key.get(key)

    def backend(self, inner: Backend) -> Backend:
        self._deterministic = inner.name in DETERMINISTIC
        return inner if self._deterministic else ReplayBackend(inner, self)


class ReplayBackend(Backend):
    """Answers recorded prompts from the run folder (in the order they were first answered);
    asks the real backend for anything else."""

    def __init__(self, inner: Backend, replay: Replay):
        super().__init__(inner.model)
        self.inner, self.replay = inner, replay
        self.name = inner.name

    # What the inner backend declares, forwarded one by one (promptpo.llm.base.Backend).
    @property
    def label(self) -> str:
        return self.inner.label

    @property
    def uses_prompts(self) -> bool:  # type: ignore[override]
        return self.inner.uses_prompts

    @property
    def concurrent(self) -> bool:  # type: ignore[override]
        return self.inner.concurrent

    @property
    def credited(self) -> bool:  # type: ignore[override]
        return self.inner.credited

    def prepare(self, request: Request) -> None:
        self.inner.prepare(request)

    def account(self, call: int, completion: Completion) -> None:
        self.inner.account(call, completion)

    def credit(self, call: int, improved: bool) -> None:
        self.inner.credit(call, improved)

    def observe(self, key: tuple) -> None:
        self.inner.observe(key)

    def summary(self) -> dict | None:
        return self.inner.summary()

    def check(self) -> None:
        self.inner.check()

    def header(self) -> str:
        return self.inner.header()

    def estimate_cost(self, prompt_chars: int, max_tokens: int) -> float | None:
        return self.inner.estimate_cost(prompt_chars, max_tokens)

    def cached(self, request: Request) -> Completion | None:
        """Taken when the call is sent, in slot order: identical prompts get their answers in the order
        they were first answered."""
        queue = self.replay.answers_by_key.get(request.cache_key(self.inner.label))
        return queue.pop(0) if queue else None

    def complete(self, request: Request) -> Completion:
        return self.cached(request) or self.inner.complete(request)
