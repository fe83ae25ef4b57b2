"""`promptpo schedule`: the model writes PPO hyperparameter schedules and refines them.

Schedule mode: rounds x candidates; each candidate is a ``schedule(progress, metrics)`` program
that steers one PPO training of ``steps`` env steps (in the sandbox, see promptpo.schedule); the
model then sees learning-curve digests and what each schedule did. Online mode (``online=True``):
one PPO training; every ``interval`` env steps the model answers with new hyperparameter values
as JSON, which are validated, clipped to the bounds and applied.

Both write a run folder like any other (run.json, events.jsonl, llm/, curve.jsonl, summary.json),
so ``runs``, ``show`` and ``compare`` read them. A schedule run's curve.jsonl is its best-so-far
evaluation over the cumulative training steps of all its candidates.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

import jinja2
import numpy as np

from promptpo.baselines.hyperparams import check_steps, for_env, whole_rollouts
from promptpo.baselines.ppo import Trainer
from promptpo.candidate import candidate_id
from promptpo.envs import load_spec
from promptpo.envspec import EnvSpec, Target
from promptpo.errors import AnswersExhausted, BackendError, ConfigError, fields_at_least_one
from promptpo.extract import ALLOWED_IMPORTS, Extracted, extract
from promptpo.feedback import Feedback
from promptpo.isolation import make_sandbox
from promptpo.isolation.base import Limits
from promptpo.llm import make_backend
from promptpo.llm.base import Backend, GenParams, Message, Request, redact
from promptpo.outcome import Outcome
from promptpo.prompting import CHARS_PER_TOKEN, select_history
from promptpo.resources import data_dir
from promptpo.schedule import BOUNDS, apply, schedule_callback, schedule_template, training_metrics, validate
from promptpo.stats import CurvePoint, first_reaching
from promptpo.store import RunStore, now_iso

log = logging.getLogger(__name__)


@dataclass
class ScheduleConfig:
    env: str
    model: str
    steps: int = 50_000
    """Env steps of one PPO training (per candidate in schedule mode; in total in online mode)."""
    rounds: int = 3
    candidates: int = 2
    every: int = 1
    """Schedule mode: call the schedule every this many rollouts."""
    interval: int = 10_000
    """Online mode: ask the model every this many env steps."""
    online: bool = False
    criterion: str = "auc"
    """How schedules are ranked: auc (mean evaluation return over the curve) or steps (to the threshold)."""
    eval_points: int = 10
    eval_episodes: int | None = None
    seed: int = 0
    max_repairs: int = 1
    sandbox: str = "process"
    prompt_budget: int = 12000
    out: Path = Path("runs")
    gen: GenParams = field(default_factory=GenParams)
    limits: Limits = field(default_factory=lambda: Limits(act_timeout_s=2.0))

    def validate(self) -> ScheduleConfig:
        fields_at_least_one(self, ("steps", "rounds", "candidates", "every", "interval", "eval_points"))
        if self.criterion not in ("auc", "steps"):
            raise ConfigError(f"unknown criterion {self.criterion!r}", "choose auc or steps")
        return self


@dataclass
class ScheduleCandidate:
    id: str
    round: int
    index: int
    kind: str
    parent: str | None
    llm_call: int
    extracted: Extracted
    curve: list[CurvePoint] = field(default_factory=list)
    calls: list = field(default_factory=list)
    fault: str | None = None
    env_steps: int = 0
    auc: float | None = None
    steps_to_threshold: int | None = None

    @property
    def code(self) -> str:
        return self.extracted.code

    @property
    def outcome(self) -> Outcome:
        if not self.extracted.ok:
            return self.extracted.outcome
        if self.fault:
            try:
                return Outcome(self.fault.split(":")[0])
            except ValueError:
                return Outcome.CRASHED
        return Outcome.OK if self.curve else Outcome.NOT_EVALUATED

    @property
    def scored(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def error(self) -> str:
        return self.extracted.message if not self.extracted.ok else (self.fault or "")

    @property
    def final(self) -> CurvePoint | None:
        return self.curve[-1] if self.curve else None

    def rank_key(self, criterion: str = "auc") -> tuple[float, float]:
        if not self.scored or self.auc is None:
            return (float("-inf"), float("-inf"))
        if criterion == "steps":
            return (-self.steps_to_threshold if self.steps_to_threshold is not None else float("-inf"), self.auc)
        return (self.auc, self.final.mean_return or 0.0)


def score_text(c: ScheduleCandidate) -> str:
    if c.final is None:
        return f"no score ({c.outcome})"
    text = f"area under the curve {c.auc:.1f}, final return {c.final.mean_return:.1f}"
    if c.final.success_rate is not None:
        text += f", final success {c.final.success_rate:.2f}"
    return text + (f", threshold reached after {c.steps_to_threshold} steps" if c.steps_to_threshold is not None
                   else ", threshold not reached")


def digest(c: ScheduleCandidate) -> list[str]:
    if not c.curve:
        return []
    lines = ["Learning curve (env steps: evaluation return): "
             + ", ".join(f"{p.env_steps}: {p.mean_return:.1f}" for p in c.curve)]
    returns = [p.mean_return for p in c.curve]
    peak = int(np.argmax(returns))
    if returns[-1] < 0.7 * returns[peak] and returns[peak] > 0:
        lines.append(f"Training collapsed: the return peaked at {returns[peak]:.1f} ({c.curve[peak].env_steps} steps) "
                     f"and ended at {returns[-1]:.1f}.")
    elif len(returns) >= 4 and max(returns[-3:]) <= max(returns[:-3]):
        lines.append("Training stalled: the last three evaluations did not improve on earlier ones.")
    applied = [call for call in c.calls if call.applied]
    if applied:
        first, last = applied[0], applied[-1]
        lines.append(f"The schedule was called {len(c.calls)} times; first it set {first.applied} "
                     f"(progress {first.progress}), last {last.applied} (progress {last.progress}).")
    refused = [r for call in c.calls for r in call.refused]
    if refused:
        lines.append(f"{len(refused)} values were refused, e.g.: {'; '.join(refused[:3])}.")
    return lines


class ScheduleRun:
    def __init__(self, config: ScheduleConfig, spec: EnvSpec, backend: Backend, store: RunStore):
        self.config, self.spec, self.backend, self.store = config, spec, backend, store
        self.hp = for_env(spec.id)
        self.episodes = spec.episodes(config.seed, config.eval_episodes or (50 if spec.family == "metaworld" else 10))
        self.target = compare_target(spec)
        self.history: list[ScheduleCandidate] = []
        self.calls = self.prompt_tokens = self.completion_tokens = 0
        self.tokens_estimated: str | None = None
        self.cost = 0.0
        self.env_steps = 0
        self.started = time.monotonic()
        self.status, self.reason = "running", ""
        self.curve: list[CurvePoint] = []
        self.progress: Callable[[int, int, str], None] | None = None
        """Called with (env steps trained, steps planned, what is happening) as the run goes."""
        self.planned = config.steps if config.online else config.rounds * config.candidates * config.steps
        self._env = jinja2.Environment(loader=jinja2.FileSystemLoader(data_dir("prompts")),
                                       undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)

    # -- prompts ---------------------------------------------------------------------------
    def _context(self) -> dict:
        hp = {k: v for k, v in self.hp.values.items() if k not in ("policy", "n_timesteps")}
        return {"env": {"title": self.spec.title, "id": self.spec.id, "description": self.spec.description},
                "steps": self.config.steps, "hp_source": self.hp.source.split(";")[0],
                "hyperparameters": json.dumps(hp, indent=1), "eval_points": self.config.eval_points,
                "criterion": ("the mean evaluation return over the learning curve (area under the curve)"
                              if self.config.criterion == "auc" else
                              f"the env steps until the evaluation first reaches {self.target.describe()}")}

    def _messages(self, template: str, **extra: Any) -> tuple[Message, ...]:
        system = self._env.get_template("schedule_system.j2").render(
            every=self.config.every, bounds=_bounds_text(), allowed_imports=", ".join(sorted(ALLOWED_IMPORTS)),
            timeout_s=f"{self.config.limits.act_timeout_s:g}")
        user = self._env.get_template(template).render(**self._context(), **extra)
        return (Message("system", system.strip()), Message("user", user.strip()))

    def feedback(self, c: ScheduleCandidate, labels: list[str] | None = None) -> Feedback:
        return Feedback(c.id, c.parent, c.kind, str(c.outcome), score_text(c), c.code, digest=digest(c),
                        error=c.error, labels=labels or [])

    def prompt(self, round_: int, slot: int) -> tuple[str, tuple[Message, ...], str | None]:
        if self.backend.name == "offline":
            note = f"offline proposer: round {round_} (one CMA-ES generation), sample {slot}; no LLM, no prompt"
            return "proposal", (Message("user", note),), None
        scored = sorted((c for c in self.history if c.scored), key=lambda c: c.rank_key(self.config.criterion),
                        reverse=True)
        if round_ == 0 or not scored:
            return "first", self._messages("schedule_first.j2"), None
        parent = scored[slot % len(scored)]
        macro = self._env.get_template("_schedule_candidate.j2").module.candidate
        entries, dropped = select_history(self.history, parent, self.feedback, lambda fb, full: len(macro(fb, full)),
                                          self.config.prompt_budget * CHARS_PER_TOKEN - 4000)
        return "refine", self._messages("schedule_refine.j2", entries=entries, dropped=dropped,
                                        parent=self.feedback(parent)), parent.id

    # -- the loop ---------------------------------------------------------------------------
    def loop(self) -> None:
        for round_ in range(self.config.rounds):
            for slot in range(self.config.candidates):
                kind, messages, parent = self.prompt(round_, slot)
                candidate = self.attempt(kind, messages, parent, round_)
                if self.backend.name == "offline":
                    self.backend.observe(candidate.rank_key(self.config.criterion) if candidate.scored else None)
                    continue
                for _ in range(self.config.max_repairs):
                    if candidate.scored:
                        break
                    repair = self._messages("schedule_repair.j2", failed=self.feedback(candidate))
                    candidate = self.attempt("repair", repair, candidate.id, round_)

    def attempt(self, kind: str, messages: tuple[Message, ...], parent: str | None, round_: int) -> ScheduleCandidate:
        text = self.ask(kind, messages, round_)
        index = sum(1 for c in self.history if c.round == round_)
        candidate = ScheduleCandidate(candidate_id(round_, index), round_, index,
                                      "offline" if kind == "proposal" else kind, parent, self.calls,
                                      extract(text, entry="schedule"))
        if candidate.extracted.ok:
            self.train(candidate)
        self.record(candidate)
        return candidate

    def tell(self, done: int, note: str) -> None:
        self.planned = max(self.planned, done)  # repairs train more schedules than planned
        if self.progress is not None:
            self.progress(done, self.planned, note)

    def ask(self, kind: str, messages: tuple[Message, ...], round_: int) -> str:
        call = self.calls + 1
        if self.backend.name != "offline":
            self.tell(self.env_steps, f"{kind} prompt: waiting for the model")
        prompt_path = self.store.record_prompt(call, kind, [{"role": m.role, "content": m.content} for m in messages])
        self.store.event("llm_request", call=call, prompt=kind)
        self.calls = call
        completion = self.backend.complete(Request(messages, self.config.gen, call, prompt_path,
                                                   self.store.response_path(call)))
        self.store.record_response(call, completion, {"call": call, "prompt": kind, "round": round_})
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        self.tokens_estimated = completion.tokens_estimated or self.tokens_estimated
        self.cost += completion.cost_usd or 0.0
        self.store.event("llm_response", call=call, prompt_tokens=completion.prompt_tokens,
                         completion_tokens=completion.completion_tokens,
                         tokens_estimated=completion.tokens_estimated, cost_usd=completion.cost_usd)
        return completion.text

    def train(self, candidate: ScheduleCandidate) -> None:
        trainer = Trainer(self.spec, self.hp, self.config.seed, self.episodes)
        with make_sandbox(self.config.sandbox) as sandbox:
            callback = schedule_callback(candidate.code, sandbox, self.config.limits, self.config.every,
                                         self.config.steps)
            offset = self.env_steps
            try:
                trainer.learn(self.config.steps, self.config.eval_points, callbacks=(callback,),
                              on_steps=lambda n: self.tell(offset + n, f"training {candidate.id}"),
                              on_point=lambda p, _: self.tell(offset + p.env_steps,
                                                              f"{candidate.id}: eval return {p.mean_return:.1f}"))
            finally:
                trainer.close()
        candidate.curve, candidate.calls, candidate.fault = trainer.curve, callback.calls, callback.fault
        candidate.env_steps = int(trainer.model.num_timesteps)
        candidate.auc = float(np.mean([p.mean_return for p in trainer.curve]))
        reached = first_reaching(trainer.curve, self.target) if self.target else None
        candidate.steps_to_threshold = reached.env_steps if reached else None
        self.env_steps += candidate.env_steps
        best = max((p.mean_return for p in self.curve), default=float("-inf"))
        for point in trainer.curve:  # best so far, over the cumulative steps of every candidate
            best = max(best, point.mean_return)
            self.curve.append(CurvePoint(offset + point.env_steps, point.episodes, best, point.success_rate,
                                         point.wall_time_s))
        with open(self.store.root / "curve.jsonl", "w") as handle:
            handle.writelines(json.dumps(asdict(p)) + "\n" for p in self.curve)

    def record(self, candidate: ScheduleCandidate) -> None:
        self.history.append(candidate)
        self.store.write_text(f"candidates/{candidate.id}.py", candidate.code)
        self.store.write_json(f"candidates/{candidate.id}.json", {
            "id": candidate.id, "round": candidate.round, "index": candidate.index, "kind": candidate.kind,
            "parent": candidate.parent, "llm_call": candidate.llm_call, "outcome": candidate.outcome,
            "error": candidate.error, "static_findings": candidate.extracted.findings,
            "score": None if not candidate.curve else {
                "auc": candidate.auc, "mean_return": candidate.final.mean_return, "std_return": 0.0,
                "success_rate": candidate.final.success_rate, "steps_to_threshold": candidate.steps_to_threshold},
            "env_steps": candidate.env_steps, "curve": candidate.curve, "schedule_calls": candidate.calls,
            "evaluation": None})
        self.store.event("candidate", id=candidate.id, parent=candidate.parent, kind=candidate.kind,
                         outcome=candidate.outcome, error=candidate.error, env_steps=candidate.env_steps,
                         auc=candidate.auc, total_env_steps=self.env_steps)
        self.write_summary()

    def best(self) -> ScheduleCandidate | None:
        scored = [c for c in self.history if c.scored]
        return max(scored, key=lambda c: c.rank_key(self.config.criterion)) if scored else None

    def write_summary(self) -> None:
        best = self.best()
        self.store.write_json("summary.json", {
            "run_id": self.store.root.name, "env": self.spec.id, "model": self.backend.label,
            "method": method_label(self.backend, "schedule"), "seed": self.config.seed, "status": self.status,
            "reason": self.reason, "best_candidate": best.id if best else None,
            "best_score": best.final.mean_return if best else None,
            "best_success_rate": best.final.success_rate if best else None,
            "final_return": best.final.mean_return if best else None,
            "final_success_rate": best.final.success_rate if best else None, "candidates": len(self.history),
            "env_steps": self.env_steps, "llm_calls": self.calls if self.backend.name != "offline" else 0,
            "proposals": self.calls, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "tokens_estimated": self.tokens_estimated,
            "cost_usd": round(self.cost, 6),
            "wall_time_s": round(time.monotonic() - self.started, 2)})
        if best is not None:
            self.store.write_text("best.py", f"# promptpo best schedule: {best.id}, {score_text(best)}\n\n{best.code}")

    def execute(self) -> None:
        try:
            self.loop()
            self.status = "completed"
        except AnswersExhausted as err:
            self.status, self.reason = "answers_exhausted", str(err)
        except BackendError as err:
            self.status, self.reason = "failed", redact(str(err))
        except KeyboardInterrupt:
            self.status, self.reason = "interrupted", "stopped by the user (Ctrl-C)"
        finally:
            self.write_summary()
            self.store.event("run_end", status=self.status, reason=self.reason)


def compare_target(spec: EnvSpec) -> Target | None:
    from promptpo.compare import target_for

    return target_for(spec.id)


def method_label(backend: Backend, mode: str) -> str:
    kind = backend.name if backend.name in ("scripted", "manual", "offline") else backend.label
    return f"promptpo {mode} ({kind})"


def _bounds_text() -> str:
    return ", ".join(f"{k} in [{low:g}, {high:g}]" for k, (low, high) in BOUNDS.items()) + " (target_kl may be None)"


JSON_BLOCK = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)


def parse_decision(text: str) -> tuple[Any, str | None]:
    """The JSON object in an online answer, or (None, why it is unusable)."""
    match = JSON_BLOCK.search(text) or re.search(r"(\{.*\})", text, re.DOTALL)
    if match is None:
        return None, "the answer holds no JSON object"
    try:
        return json.loads(match.group(1)), None
    except json.JSONDecodeError as err:
        return None, f"the JSON does not parse ({err.msg})"


class OnlineRun(ScheduleRun):
    """One PPO training; every ``interval`` env steps the model picks the hyperparameters."""

    def loop(self) -> None:
        from stable_baselines3.common.callbacks import BaseCallback

        run, trainer = self, Trainer(self.spec, self.hp, self.config.seed, self.episodes)
        self.decisions: list[dict] = []

        class Online(BaseCallback):
            def __init__(self) -> None:
                super().__init__()
                self.next = run.config.interval

            def _on_step(self) -> bool:
                if self.num_timesteps >= self.next:
                    self.next += run.config.interval
                    run.decide(self.model, min(1.0, self.num_timesteps / run.config.steps))
                return True

        try:
            trainer.learn(self.config.steps, self.config.eval_points, callbacks=(Online(),),
                          on_steps=lambda n: self.tell(n, "training"),
                          on_point=lambda p, _: self.tell(p.env_steps, f"eval return {p.mean_return:.1f}"))
        finally:
            trainer.close()
            self.env_steps = int(trainer.model.num_timesteps)
            self.curve = trainer.curve
            with open(self.store.root / "curve.jsonl", "w") as handle:
                handle.writelines(json.dumps(asdict(p)) + "\n" for p in self.curve)

    def decide(self, model: Any, progress: float) -> None:
        metrics = training_metrics(model, progress)
        history = [f"at {d['env_steps']} steps: {d['note']}" for d in self.decisions[-10:]]
        messages = self._messages("online.j2", history=history or ["(no decision yet)"], metrics=metrics,
                                  metrics_json=json.dumps(metrics, indent=1), interval=self.config.interval,
                                  bounds=_bounds_text())
        decision, problem = parse_decision(self.ask("online", messages, 0))
        applied, refused = validate(decision, clip=True) if problem is None else ({}, [problem])
        if problem is None and not isinstance(decision, dict):
            problem = "the answer is not a JSON object"
        apply(model, applied)
        note = (f"set {applied}" if applied else "kept the current values") + (f" ({'; '.join(refused)})" if refused else "")
        record = {"env_steps": int(model.num_timesteps), "progress": round(progress, 4), "answer": decision,
                  "applied": applied, "refused": refused, "note": note}
        self.decisions.append(record)
        self.store.event("online_decision", **record)

    def best(self) -> None:
        return None

    def write_summary(self) -> None:
        last = self.curve[-1] if self.curve else None
        self.store.write_json("summary.json", {
            "run_id": self.store.root.name, "env": self.spec.id, "model": self.backend.label,
            "method": method_label(self.backend, "online"), "seed": self.config.seed, "status": self.status,
            "reason": self.reason, "best_candidate": None,
            "best_score": last.mean_return if last else None,
            "best_success_rate": last.success_rate if last else None,
            "final_return": last.mean_return if last else None,
            "final_success_rate": last.success_rate if last else None,
            "env_steps": self.env_steps, "llm_calls": self.calls, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "tokens_estimated": self.tokens_estimated,
            "cost_usd": round(self.cost, 6),
            "wall_time_s": round(time.monotonic() - self.started, 2)})


def verify_schedule(run, candidate_id: str | None, seeds: int = 3, sandbox: str = "process") -> dict:
    """Re-train with the schedule on fresh seeds; flag a recorded score outside their 95% interval."""
    from promptpo.stats import bootstrap_ci
    from promptpo.verify import SEED_OFFSET

    record = run.candidate(candidate_id)
    data = run.meta["config"]
    config = ScheduleConfig(env=run.meta["env"], model="scripted:-", steps=data["steps"], every=data["every"],
                            eval_points=data["eval_points"], eval_episodes=data["eval_episodes"], sandbox=sandbox,
                            limits=Limits(**data["limits"]))
    spec = load_spec(config.env)
    hp = for_env(spec.id)
    finals, aucs = [], []
    for i in range(seeds):
        seed = int(data["seed"]) + SEED_OFFSET + i
        episodes = spec.episodes(seed, config.eval_episodes or (50 if spec.family == "metaworld" else 10))
        trainer = Trainer(spec, hp, seed, episodes)
        with make_sandbox(sandbox) as box:
            callback = schedule_callback(run.code(record["id"]), box, config.limits, config.every, config.steps)
            try:
                trainer.learn(config.steps, config.eval_points, callbacks=(callback,))
            finally:
                trainer.close()
        finals.append(trainer.curve[-1].mean_return)
        aucs.append(float(np.mean([p.mean_return for p in trainer.curve])))
    recorded = (record.get("score") or {}).get("mean_return")
    interval = bootstrap_ci(finals)
    gap = recorded is not None and interval is not None and not interval[0] - 1e-9 <= recorded <= interval[1] + 1e-9
    verdict = (f"the recorded final return {recorded:.1f} is outside the fresh seeds' 95% interval "
               f"[{interval[0]:.1f}, {interval[1]:.1f}]: a lucky seed" if gap else
               "the recorded final return is within the fresh seeds' 95% interval")
    result = {"run": run.path.name, "candidate": record["id"], "env": spec.id, "seeds": seeds,
              "recorded_final_return": recorded, "verified_final_returns": finals, "verified_aucs": aucs,
              "final_return_ci95": interval, "gap": bool(gap), "verdict": verdict}
    store = RunStore(run.path)
    name = f"verifications/{record['id']}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    store.write_json(name, result)
    store.event("verification", candidate=record["id"], seeds=seeds, final_returns=finals, gap=bool(gap), file=name)
    return {**result, "file": name}


def run_schedule(config: ScheduleConfig, progress: Callable[[int, int, str], None] | None = None) -> Path:
    from promptpo.api import new_run_id, versions
    from promptpo.baselines import check_installed

    config.validate()
    check_installed()
    backend = make_backend(config.model, config.gen)
    backend.check()
    spec = load_spec(config.env)
    hp = for_env(spec.id)
    check_steps("--steps", config.steps, hp, spec.id)
    config.steps = whole_rollouts(config.steps, hp)  # PPO trains in whole rollouts: never past the budget
    if backend.name == "offline":  # CMA-ES over a parameterised schedule; one round is one generation
        if config.online:
            raise ConfigError("online mode needs an LLM (or scripted answers)", "pass --model")
        backend.bind(spec, config.seed, config.candidates, template=schedule_template())
        config.candidates = backend.popsize
    make_sandbox(config.sandbox).close()  # fail early if the sandbox cannot work here
    kind = "online" if config.online else "schedule"
    store = RunStore.create(Path(config.out), new_run_id(f"{kind}-{spec.id}"))
    run = (OnlineRun if config.online else ScheduleRun)(config, spec, backend, store)
    run.progress = progress
    meta = {"id": store.root.name, "kind": kind, "method": method_label(backend, kind), "env": spec.id,
            "model": backend.label, "seed": config.seed, "config": {**asdict(config), "out": str(config.out),
                                                                     "gen": config.gen.public()},
            "hyperparams": run.hp.values, "hyperparams_source": run.hp.source, "bounds": BOUNDS,
            "versions": versions(), "started": now_iso(), "ended": None, "status": "running"}
    store.write_json("run.json", meta)
    run.execute()
    meta.update(ended=now_iso(), status=run.status, reason=run.reason)
    store.write_json("run.json", meta)
    return store.root
