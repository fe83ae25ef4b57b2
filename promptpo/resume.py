"""`promptpo resume`: continue a run that died (Ctrl-C, kill -9, a closed laptop).

The loop is deterministic given its answers and evaluations, so a resumed run replays it from
the start with two caches built from the run folder: recorded LLM answers, keyed by a hash of
model, parameters and the exact prompt (reused, never paid for again), and recorded evaluations,
keyed by the code and its episodes. Work that finished is neither redone nor logged twice; the
answer or evaluation that was in flight when the run died is redone. Budgets carry over: spent
tokens, cost, env steps and wall time count again from the records.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict

from promptpo.api import RunResult, execute, prepare
from promptpo.config import Budgets, OptimizeConfig
from promptpo.envspec import Episode
from promptpo.errors import RunStoreError
from promptpo.evaluate import Evaluation, Evaluator
from promptpo.isolation.base import Limits
from promptpo.llm.base import Backend, Completion, GenParams, Request
from promptpo.runfolder import RunFolder
from promptpo.store import RunStore, evaluation_from_record

DETERMINISTIC = ("offline", "scripted")
FINISHED = ("completed", "target_reached", "budget_exhausted", "answers_exhausted")


def _evaluation_key(code: str, episodes: list[Episode]) -> str:
    plan = [[e.index, e.seed, e.extras] for e in episodes]
    return hashlib.sha256(json.dumps([code, plan], sort_keys=True).encode()).hexdigest()


class Replay:
    def __init__(self, run: RunFolder, model: str):
        self.answers_by_key: dict[str, list[Completion]] = defaultdict(list)
        for meta_path in sorted((run.path / "llm").glob("[0-9][0-9][0-9][0-9].json")):
            call = int(meta_path.stem)
            response = run.path / "llm" / f"{call:04d}.response.md"
            if not response.exists():
                continue
            meta = json.loads(meta_path.read_text())
            key = meta.get("cache_key")
            if key is None:
                continue
            self.answers_by_key[key].append(Completion(
                text=response.read_text(encoding="utf-8"), model=meta.get("model", model),
                prompt_tokens=meta.get("prompt_tokens", 0), completion_tokens=meta.get("completion_tokens", 0),
                cost_usd=meta.get("cost_usd"), latency_s=meta.get("latency_s", 0.0), attempts=meta.get("attempts", 1),
                tokens_estimated=meta.get("tokens_estimated"), extra={"cached": True}))
        self.evaluations_by_key: dict[str, Evaluation] = {}
        for record in run.candidates:
            evaluation = evaluation_from_record(record)
            if evaluation is not None:
                episodes = [Episode(e["index"], e["seed"], e["extras"]) for e in record["evaluation"]["episodes"]]
                self.evaluations_by_key[_evaluation_key(run.code(record["id"]), episodes)] = evaluation
        self.answered_calls = {int(p.name[:4]) for p in (run.path / "llm").glob("[0-9][0-9][0-9][0-9].json")
                               if (run.path / "llm" / f"{p.name[:4]}.response.md").exists()}
        self._deterministic = False
        self.answers = sum(len(v) for v in self.answers_by_key.values())
        self.evaluations = len(self.evaluations_by_key)
        self._label = model

    def has_answer(self, request: Request) -> bool:
        if self._deterministic:
            return request.call_index in self.answered_calls
        return bool(self.answers_by_key.get(request.cache_key(self._label)))

    def has_evaluation(self, code: str, episodes: list[Episode]) -> bool:
        return _evaluation_key(code, episodes) in self.evaluations_by_key

    def backend(self, inner: Backend) -> Backend:
        self._deterministic = inner.name in DETERMINISTIC
        # Free, deterministic backends answer again (the offline proposer must rebuild its state).
        return inner if self._deterministic else ReplayBackend(inner, self)

    def evaluator(self, inner: Evaluator) -> Evaluator:
        replay = self

        class ReplayEvaluator(Evaluator):
            def __init__(self) -> None:
                super().__init__(inner.spec, inner.sandbox, inner.limits, inner.pool, inner.session)

            def evaluate(self, code: str, episodes: list[Episode], limits: Limits | None = None) -> Evaluation:
                cached = replay.evaluations_by_key.get(_evaluation_key(code, episodes))
                return cached if cached is not None else inner.evaluate(code, episodes, limits)

        return ReplayEvaluator()


class ReplayBackend(Backend):
    """Answers recorded prompts from the run folder (in the order they were first answered);
    asks the real backend for anything else."""

    def __init__(self, inner: Backend, replay: Replay):
        super().__init__(inner.model)
        self.inner, self.replay = inner, replay
        self.name = inner.name

    @property
    def label(self) -> str:
        return self.inner.label

    def complete(self, request: Request) -> Completion:
        queue = self.replay.answers_by_key.get(request.cache_key(self.inner.label))
        return queue.pop(0) if queue else self.inner.complete(request)

    def estimate_cost(self, prompt_chars: int, max_tokens: int) -> float | None:
        return self.inner.estimate_cost(prompt_chars, max_tokens)


def config_of(run: RunFolder) -> OptimizeConfig:
    data = run.meta.get("config")
    if not isinstance(data, dict) or "env" not in data:
        raise RunStoreError(f"{run.path}/run.json has no run configuration", "only promptpo optimize runs can resume")
    gen = dict(data["gen"])
    return OptimizeConfig(
        env=data["env"], model=data["model"], rounds=data["rounds"], candidates=data["candidates"],
        episodes=data["episodes"], seed=data["seed"], sandbox=data["sandbox"], max_repairs=data["max_repairs"],
        target=data["target"], prompt_budget=data["prompt_budget"], out=run.path.parent,
        tune_constants=data.get("tune_constants", False), tune_evals=data.get("tune_evals", 30),
        budgets=Budgets(**data["budgets"]), gen=GenParams(**gen), limits=Limits(**data["limits"]))


def resume(run: RunFolder, observer=None) -> RunResult:
    if run.kind != "promptpo":
        raise RunStoreError(f"{run.path.name} is a {run.kind} run", "only promptpo optimize runs can resume")
    status = run.summary.get("status") or run.meta.get("status")
    if status in FINISHED:
        raise RunStoreError(f"run {run.path.name} already finished ({status})", "nothing to resume")
    prepared = prepare(config_of(run))
    replay = Replay(run, prepared.backend.label)
    elapsed = float(run.summary.get("wall_time_s") or 0.0)
    return execute(prepared, RunStore(run.path), observer, replay=replay, run_json=dict(run.meta), elapsed=elapsed)
