"""The optimization loop: render prompt, complete, extract, evaluate, record, feed back; stop when done."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from promptpo.candidate import Candidate, candidate_id
from promptpo.config import OptimizeConfig
from promptpo.envspec import EnvSpec, Target
from promptpo.errors import AnswersExhausted, BackendError
from promptpo.evaluate import Evaluation, Evaluator
from promptpo.extract import extract
from promptpo.feedback import score_line
from promptpo.llm.base import Backend, Request, redact
from promptpo.prompting import Prompt, Prompts
from promptpo.store import RunStore
from promptpo.tuning import Z_BOUND, beats, substitute, tunable_constants, values_for

log = logging.getLogger(__name__)

KINDS = {"first": "initial", "refine": "refine", "repair": "repair", "proposal": "offline"}


class StopRun(Exception):
    """Ends the loop with a status: target_reached, budget_exhausted, answers_exhausted, ..."""

    def __init__(self, status: str, reason: str = ""):
        super().__init__(reason or status)
        self.status, self.reason = status, reason


@dataclass
class RunState:
    """Counters the display and summary.json show; updated after every step."""

    round: int = 0
    candidates: int = 0
    requests: int = 0
    """Answers asked for (numbers the llm/NNNN files); LLM calls unless the proposer is offline."""
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_estimated: str | None = None
    """How the counts were estimated where a backend reported none (None: all reported)."""
    cost_usd: float = 0.0
    cost_known: bool = True
    env_steps: int = 0
    """All simulator steps, constant tuning included."""
    tuning_env_steps: int = 0
    tuning_evaluations: int = 0
    episodes: int = 0
    best: Candidate | None = None
    status: str = "running"
    reason: str = ""
    last: str = ""
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


Observer = Callable[[str, RunState], None]


class Run:
    def __init__(self, config: OptimizeConfig, spec: EnvSpec, backend: Backend, evaluator: Evaluator,
                 store: RunStore, observer: Observer | None = None, replay=None):
        self.config, self.spec, self.backend, self.evaluator, self.store = config, spec, backend, evaluator, store
        self.replay = replay
        """When resuming: knows which answers and evaluations are already recorded (promptpo.resume)."""
        self.observer = observer or (lambda kind, state: None)
        self.state = RunState()
        self.history: list[Candidate] = []
        self.episodes = spec.episodes(config.seed, config.episodes)
        self.target = self._target()
        self.prompts = Prompts(spec, config.episodes, config.limits.act_timeout_s, config.prompt_budget,
                               target=self.target.describe() if self.target else "")
        self._next_index: dict[int, int] = {}

    def _target(self) -> Target | None:
        base = self.spec.target
        if self.config.target is None:
            return base
        metric = base.metric if base else ("success_rate" if self.spec.has_success else "mean_return")
        return Target(metric, self.config.target)

    # -- the loop ----------------------------------------------------------------------
    def loop(self) -> None:
        for round_ in range(self.config.rounds):
            self.state.round = round_
            for slot in range(self.config.candidates):
                candidate = self.attempt(self.next_prompt(round_, slot), round_)
                for _ in range(self.config.max_repairs if self.uses_prompts else 0):
                    if not candidate.needs_repair:
                        break
                    candidate = self.attempt(self.prompts.repair(candidate), round_)
                self.stop_at_target()
            if self.config.tune_constants and self.state.best is not None:
                self.tune(round_)
                self.stop_at_target()

    def next_prompt(self, round_: int, slot: int) -> Prompt:
        if not self.uses_prompts:
            return self.prompts.proposal(round_, slot)
        parent = self.parent_for(slot) if round_ > 0 else None
        return self.prompts.refine(self.history, parent) if parent else self.prompts.first()

    @property
    def uses_prompts(self) -> bool:
        return getattr(self.backend, "uses_prompts", True)

    def stop_at_target(self) -> None:
        if self.target_reached():
            raise StopRun("target_reached", f"{self.state.best.id} reached {self.target.describe()}")

    def execute(self) -> RunState:
        """Run the loop and always leave a finished run folder behind."""
        try:
            self.loop()
            self.state.status = "completed"
        except StopRun as stop:
            self.state.status, self.state.reason = stop.status, stop.reason
        except AnswersExhausted as err:
            self.state.status, self.state.reason = "answers_exhausted", str(err)
        except BackendError as err:
            self.state.status, self.state.reason = "failed", redact(str(err))
            self.store.event("llm_error", kind=err.kind, message=self.state.reason)
        except KeyboardInterrupt:
            self.state.status, self.state.reason = "interrupted", "stopped by the user (Ctrl-C)"
        except Exception as err:
            self.state.status, self.state.reason = "failed", f"internal error: {type(err).__name__}: {err}"
            raise
        finally:
            self.write_summary()
            self.store.event("run_end", status=self.state.status, reason=self.state.reason)
            self.observer("end", self.state)
        return self.state

    # -- one candidate -----------------------------------------------------------------
    def attempt(self, prompt: Prompt, round_: int) -> Candidate:
        self.check_budgets(llm=True)
        call = self.state.requests + 1
        messages = [{"role": m.role, "content": m.content} for m in prompt.messages]
        prompt_path = self.store.record_prompt(call, prompt.kind, messages)
        request = Request(prompt.messages, self.config.gen, call, prompt_path, self.store.response_path(call),
                          deadline=self._deadline())
        answered = self.replay is not None and self.replay.has_answer(request)  # recorded before a crash
        if not answered:
            self.store.event("llm_request", call=call, prompt=prompt.kind, parent=prompt.parent,
                             chars=prompt.chars, dropped=list(prompt.dropped))
        self.state.last = f"waiting for LLM call {call} ({prompt.kind})"
        self.observer("llm_request", self.state)
        self.state.requests = call
        self.state.llm_calls += self.uses_prompts
        completion = self.backend.complete(request)
        self.store.record_response(call, completion, {"call": call, "prompt": prompt.kind, "round": round_,
                                                      "cache_key": request.cache_key(self.backend.label)})
        self.state.prompt_tokens += completion.prompt_tokens
        self.state.completion_tokens += completion.completion_tokens
        self.state.tokens_estimated = completion.tokens_estimated or self.state.tokens_estimated
        if completion.cost_usd is None:
            self.state.cost_known = self.state.cost_known and self.backend.name in ("scripted", "manual", "offline")
        else:
            self.state.cost_usd += completion.cost_usd
        if not answered:
            self.store.event("llm_response", call=call, prompt_tokens=completion.prompt_tokens,
                             completion_tokens=completion.completion_tokens,
                             tokens_estimated=completion.tokens_estimated, cost_usd=completion.cost_usd, latency_s=round(completion.latency_s, 3), attempts=completion.attempts)

        candidate = Candidate(self._new_id(round_), round_, self._next_index[round_] - 1, KINDS[prompt.kind],
                              prompt.parent, call, extract(completion.text))
        replayed = answered and (not candidate.extracted.ok or self.replay.has_evaluation(candidate.code, self.episodes))
        if candidate.extracted.ok:
            try:
                self.check_budgets(llm=False)
            except StopRun:
                self.record(candidate, replayed)  # the answer was paid for: keep it, marked not evaluated
                raise
            self.state.last = f"evaluating {candidate.id}"
            self.observer("evaluating", self.state)
            candidate.evaluation = self.evaluator.evaluate(candidate.code, self.episodes, self._limits())
            self.state.env_steps += candidate.env_steps
            self.state.episodes += sum(1 for e in candidate.evaluation.episodes if e.length > 0)
        self.record(candidate, replayed)
        return candidate

    def _new_id(self, round_: int) -> str:
        index = self._next_index.get(round_, 0)
        self._next_index[round_] = index + 1
        return candidate_id(round_, index)

    def tune(self, round_: int) -> None:
        """CMA-ES over the best program's numeric constants; keep the result if it clearly wins."""
        import cma

        parent = self.state.best
        constants = tunable_constants(parent.code)
        if not constants:
            self.store.event("tuning", parent=parent.id, constants=0, evaluations=0, env_steps=0, improved=None)
            return
        popsize = min(self.config.tune_evals, 4 + int(3 * np.log(len(constants))))
        strategy = cma.CMAEvolutionStrategy(np.zeros(len(constants)), 1.0, {
            "popsize": max(2, popsize), "bounds": [-Z_BOUND, Z_BOUND], "seed": self.config.seed + 17 + round_,
            "verbose": -9})
        best: tuple[Evaluation, list[float], str] | None = None
        spent, steps = 0, 0
        self.state.last = f"tuning {len(constants)} constants of {parent.id}"
        self.observer("tuning", self.state)
        while spent + strategy.popsize <= self.config.tune_evals:
            samples, fitness = strategy.ask(), []
            for z in samples:
                self.check_budgets(llm=False)
                values = values_for(constants, z)
                code = substitute(parent.code, constants, values)
                evaluation = self.evaluator.evaluate(code, self.episodes, self._limits())
                spent += 1
                steps += evaluation.env_steps
                self.state.env_steps += evaluation.env_steps
                self.state.tuning_env_steps += evaluation.env_steps
                key = evaluation.rank_key()
                fitness.append(-(key[0] * 1e6 + key[1]) if np.isfinite(key[1]) else 1e12)
                if evaluation.ok and (best is None or key > best[0].rank_key()):
                    best = (evaluation, values, code)
            strategy.tell(samples, fitness)
        self.state.tuning_evaluations += spent
        improved = None
        if best is not None and beats(best[0], parent.evaluation):
            evaluation, values, code = best
            tuned = Candidate(self._new_id(round_), round_, self._next_index[round_] - 1, "tuned", parent.id, None,
                              extract(f"```python\n{code}```"), evaluation,
                              [{"line": c.line, "old": c.text, "new": f"{v:.6g}"}
                               for c, v in zip(constants, values) if f"{v:.6g}" != f"{c.value:.6g}"])
            self.state.episodes += sum(1 for e in evaluation.episodes if e.length > 0)
            self.record(tuned)
            improved = tuned.id
        self.store.event("tuning", parent=parent.id, constants=len(constants), evaluations=spent, env_steps=steps,
                         improved=improved)

    def record(self, candidate: Candidate, replayed: bool = False) -> None:
        """Keep the candidate; ``replayed`` ones (already logged before a crash) are not logged twice."""
        self.history.append(candidate)
        self.state.candidates += 1
        observe = getattr(self.backend, "observe", None)
        if observe is not None and candidate.kind == "offline":  # the proposer learns from every sample
            observe(candidate.rank_key() if candidate.scored else None)
        self.store.record_candidate(candidate, self.spec.has_success)
        improved = candidate.scored and (self.state.best is None or candidate.rank_key() > self.state.best.rank_key())
        if improved:
            self.state.best = candidate
            self.store.record_best(candidate, self.best_header(candidate))
        ev = candidate.evaluation
        if not replayed:
            self.store.event("candidate", id=candidate.id, parent=candidate.parent, kind=candidate.kind,
                             outcome=candidate.outcome, error=candidate.error, env_steps=candidate.env_steps,
                             mean_return=ev.mean_return if ev else None,
                             success_rate=ev.success_rate if ev else None, best=improved,
                             total_env_steps=self.state.env_steps, total_episodes=self.state.episodes)
            if candidate.outcome.is_limit:
                self.store.event("limit_hit", id=candidate.id, outcome=candidate.outcome, message=candidate.error)
        self.state.last = (f"{candidate.id}: {score_line(ev, self.spec.has_success)}" if candidate.scored
                           else f"{candidate.id}: {candidate.outcome} — {candidate.error[:120]}")
        self.write_summary()
        self.observer("candidate", self.state)

    # -- choices and checks ------------------------------------------------------------
    def parent_for(self, slot: int) -> Candidate | None:
        """Slot k of a round refines the k-th best candidate so far (cycling), for diversity."""
        ranked = sorted((c for c in self.history if c.scored), key=lambda c: c.rank_key(), reverse=True)
        return ranked[slot % len(ranked)] if ranked else None

    def target_reached(self) -> bool:
        best = self.state.best
        return (best is not None and self.target is not None
                and self.target.reached(best.evaluation.success_rate, best.evaluation.mean_return))

    def check_budgets(self, llm: bool) -> None:
        b, s = self.config.budgets, self.state
        if b.max_time is not None and s.elapsed >= b.max_time:
            raise StopRun("budget_exhausted", f"time budget of {b.max_time:g} s used up")
        worst_steps = self.config.episodes * self.spec.horizon
        if b.max_env_steps is not None and s.env_steps + worst_steps > b.max_env_steps:
            raise StopRun("budget_exhausted", f"env-step budget: {s.env_steps} used of {b.max_env_steps}, and a "
                          f"candidate may need {worst_steps} more")
        if not llm:
            return
        if b.max_llm_calls is not None and self.uses_prompts and s.llm_calls >= b.max_llm_calls:
            raise StopRun("budget_exhausted", f"LLM call budget of {b.max_llm_calls} used up")
        if b.max_cost is not None:
            estimate = self.backend.estimate_cost(self.config.prompt_budget * 4, self.config.gen.max_tokens) or 0.0
            if s.cost_usd + estimate > b.max_cost:
                raise StopRun("budget_exhausted", f"cost budget: ${s.cost_usd:.4f} spent of ${b.max_cost:g}, and "
                              f"the next call may cost up to ${estimate:.4f}")

    def _deadline(self) -> float | None:
        b = self.config.budgets
        return None if b.max_time is None else self.state.started + b.max_time

    def _limits(self):
        b = self.config.budgets
        if b.max_time is None:
            return self.config.limits
        left = max(1.0, b.max_time - self.state.elapsed)
        return dataclasses.replace(self.config.limits,
                                   candidate_wall_s=min(self.config.limits.candidate_wall_s, left))

    # -- records -----------------------------------------------------------------------
    def best_header(self, candidate: Candidate) -> list[str]:
        ev = candidate.evaluation
        seeds = ", ".join(str(e.seed) for e in self.episodes[:10]) + (" ..." if len(self.episodes) > 10 else "")
        return [f"promptpo best policy — run {self.store.root.name}", f"env: {self.spec.id}",
                f"candidate: {candidate.id} (round {candidate.round}, {candidate.kind}, parent {candidate.parent})",
                f"score: {score_line(ev, self.spec.has_success)}", f"evaluation seeds: {seeds}",
                "Needs only numpy. Use it from a plain Gymnasium loop: " + (
                    "policy = Policy(); policy.reset(); action = policy.act(obs)." if candidate.extracted.entry == "Policy"
                    else "action = act(obs).")]

    def summary(self) -> dict:
        s, best = self.state, self.state.best
        return {
            "run_id": self.store.root.name, "env": self.spec.id, "model": self.backend.label,
            "status": s.status, "reason": s.reason,
            "best_candidate": best.id if best else None,
            "best_score": best.evaluation.mean_return if best else None,
            "best_std": best.evaluation.std_return if best else None,
            "best_success_rate": best.evaluation.success_rate if best and self.spec.has_success else None,
            "target": self.target.describe() if self.target else None,
            "target_reached": self.target_reached(),
            "rounds_started": s.round + 1 if self.history else 0, "candidates": s.candidates,
            "proposals": s.requests, "env_steps": s.env_steps, "tuning_env_steps": s.tuning_env_steps,
            "tuning_evaluations": s.tuning_evaluations, "episodes": s.episodes, "llm_calls": s.llm_calls,
            "prompt_tokens": s.prompt_tokens, "completion_tokens": s.completion_tokens,
            "tokens_estimated": s.tokens_estimated,
            "cost_usd": round(s.cost_usd, 6) if s.cost_known else None,
            "wall_time_s": round(s.elapsed, 2),
        }

    def write_summary(self) -> None:
        self.store.write_json("summary.json", self.summary())
