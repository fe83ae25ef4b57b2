"""The schedule task kind (`promptpo schedule`): the model writes ``schedule(progress, metrics)``; it is
scored by one PPO training (Stable-Baselines3, in the host) that it steers from the sandbox.

A run folder like any other (run.json, events.jsonl, llm/, candidates/, summary.json) plus
curve.jsonl: every evaluation as measured, over the cumulative training steps of all candidates (on the
evaluation grid of each training), which ``compare`` reads.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from promptpo.candidate import UNRANKED, Candidate, training_rank_key
from promptpo.engine.context import RunContext
from promptpo.engine.task import TaskKind
from promptpo.envspec import EnvSpec, Target
from promptpo.extract import ALLOWED_IMPORTS
from promptpo.isolation.base import Limits, Sandbox
from promptpo.outcome import Outcome
from promptpo.prompting import PromptBook, Recap
from promptpo.schedule.config import ScheduleConfig
from promptpo.stats import CurvePoint, first_reaching
from promptpo.schedule.steering import BOUNDS, ScheduleCall, schedule_callback
from promptpo.text import clean


@dataclass
class Training:
    """One PPO training steered by a schedule: its curve and what the schedule did."""

    curve: list[CurvePoint]
    calls: list[ScheduleCall]
    fault: str | None
    env_steps: int
    auc: float | None
    steps_to_threshold: int | None
    criterion: str = "auc"

    @property
    def outcome(self) -> Outcome:
        if self.fault:
            try:
                return Outcome(self.fault.split(":")[0])
            except ValueError:
                return Outcome.CRASHED
        return Outcome.OK if self.curve else Outcome.NOT_EVALUATED

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def problem(self) -> str:
        return self.fault or ""

    @property
    def episodes_run(self) -> int:
        return 0  # the training's episodes are counted as env steps; evaluations are outside the budget

    complete = True
    """A training is never stopped partway by a cascade."""

    @property
    def final(self) -> CurvePoint | None:
        return self.curve[-1] if self.curve else None

    @property
    def mean_return(self) -> float | None:
        return self.final.mean_return if self.final else None

    @property
    def success_rate(self) -> float | None:
        return self.final.success_rate if self.final else None

    def rank_key(self) -> tuple[float, float]:
        if not self.ok:
            return UNRANKED
        return training_rank_key(self.auc, self.steps_to_threshold, self.final.mean_return if self.final else None,
                                 self.criterion)


def score_text(t: Training | None) -> str:
    if t is None or t.final is None:
        return f"no score ({t.outcome if t else Outcome.NOT_EVALUATED})"
    text = f"area under the curve {t.auc:.1f}, final return {t.final.mean_return:.1f}"
    if t.final.success_rate is not None:
        text += f", final success {t.final.success_rate:.2f}"
    return text + (f", threshold reached after {t.steps_to_threshold} steps" if t.steps_to_threshold is not None
                   else ", threshold not reached")


MAX_DECISIONS = 12
"""Schedule calls that changed something, listed per candidate in the feedback (the rest are counted)."""


def digest(t: Training | None, target: Target | None = None) -> list[str]:
    if t is None or not t.curve:
        return []
    lines = ["Learning curve (env steps: evaluation return): "
             + ", ".join(f"{p.env_steps}: {p.mean_return:.1f}" for p in t.curve)]
    returns = [p.mean_return for p in t.curve]
    peak = int(np.argmax(returns))
    if returns[-1] < 0.7 * returns[peak] and returns[peak] > 0:
        lines.append(f"Training collapsed: the return peaked at {returns[peak]:.1f} ({t.curve[peak].env_steps} steps) "
                     f"and ended at {returns[-1]:.1f}.")
    elif target is not None and target.metric == "mean_return" and min(returns[-3:]) >= target.threshold:
        lines.append(f"The last evaluations all reached the target ({target.describe()}).")
    elif len(returns) >= 4 and max(returns[-3:]) <= max(returns[:-3]):
        lines.append("Training stalled: the last three evaluations did not improve on earlier ones.")
    applied = [call for call in t.calls if call.applied]
    if applied:
        shown = "; ".join(f"at {call.env_steps} steps (progress {call.progress}) set {call.applied}"
                          for call in applied[:MAX_DECISIONS])
        more = f"; and {len(applied) - MAX_DECISIONS} more changes" if len(applied) > MAX_DECISIONS else ""
        lines.append(f"The schedule was called {len(t.calls)} times and changed values {len(applied)} times: "
                     f"{shown}{more}.")
    refused = [r for call in t.calls for r in call.refused]
    if refused:
        lines.append(f"{len(refused)} values were refused, e.g.: {'; '.join(refused[:3])}.")
    return lines


def bounds_text() -> str:
    return ", ".join(f"{k} in [{low:g}, {high:g}]" for k, (low, high) in BOUNDS.items()) + " (target_kl may be None)"


class ScheduleTask(TaskKind):
    name = "schedule"
    entry = "schedule"

    def __init__(self, config: ScheduleConfig, spec: EnvSpec, sandbox: Sandbox):
        from promptpo.baselines.hyperparams import for_env
        from promptpo.envs.targets import target_for

        self.config, self.spec, self.sandbox = config, spec, sandbox
        self.env_id = spec.id
        self.hp = for_env(spec.id)
        self.episodes = spec.episodes(config.seed, config.evaluation_episodes(spec), config.episode_secret)
        self.target = target_for(spec.id)
        self.curve: list[CurvePoint] = []
        self.prompts = PromptBook("schedule_", self.context(), {
            "every": config.every, "every_steps": config.interval, "bounds": bounds_text(), "allowed_imports": ", ".join(sorted(ALLOWED_IMPORTS)),
            "timeout_s": f"{config.limits.act_timeout_s:g}"}, self.recap,
            config.prompt_budget, config.edit,
                                  config.reflection)

    def context(self) -> dict:
        hp = {k: v for k, v in self.hp.values.items() if k not in ("policy", "n_timesteps")}
        return {"env": {"title": self.spec.title, "id": self.spec.id, "description": self.spec.description},
                "steps": self.config.steps, "hp_source": self.hp.source.split(";")[0],
                "hyperparameters": json.dumps(hp, indent=1), "eval_points": self.config.eval_points,
                "target": self.target.describe() if self.target else "",
                "criterion": ("the mean evaluation return over the learning curve (area under the curve)"
                              if self.config.criterion == "auc" else
                              f"the env steps until the evaluation first reaches {self.target.describe()}")}

    def recap(self, c: Candidate, labels: list[str] | None = None) -> Recap:
        return Recap(c.id, c.parent, c.kind, str(c.outcome), score_text(c.evaluation), c.code,
                        digest=digest(c.evaluation, self.target), error=c.error, labels=labels or [],
                        analysis=clean(c.analysis))

    # -- scoring -------------------------------------------------------------------------
    def worst_case_steps(self) -> int:
        return self.config.steps

    def planned_steps(self) -> int | None:
        return self.config.rounds * self.config.candidates * self.config.steps

    def evaluation_plan(self) -> Any:
        c = self.config
        plan = {"seed": c.seed, "steps": c.steps, "every": c.every, "eval_points": c.eval_points,
                "episodes": [[e.index, e.seed, e.extras] for e in self.episodes], "criterion": c.criterion}
        return plan if c.eval_every is None else {**plan, "eval_every": c.eval_every}  # (older runs keep their keys)

    def trainer(self):
        from promptpo.baselines.ppo import Trainer

        return Trainer(self.spec, self.hp, self.config.seed, self.episodes)

    def evaluate(self, code: str, limits: Limits, progress: Any, best: Any = None) -> Training:
        return train(code, self.spec, self.hp, self.config, self.config.seed, self.episodes, self.sandbox,
                     self.target, on_steps=lambda n: progress(n, "training"),
                     on_point=lambda p, _: progress(p.env_steps, f"eval return {p.mean_return:.1f}"))[0]

    def score_line(self, result: Training | None) -> str:
        return score_text(result)

    # -- records -------------------------------------------------------------------------
    def record_fields(self, candidate: Candidate) -> dict:
        t: Training | None = candidate.evaluation
        return {"score": None if t is None or not t.curve else {
                    "auc": t.auc, "mean_return": t.final.mean_return, "std_return": 0.0,
                    "success_rate": t.final.success_rate, "steps_to_threshold": t.steps_to_threshold},
                "curve": t.curve if t else [], "schedule_calls": t.calls if t else [], "evaluation": None}

    def result_from_record(self, record: dict) -> Training | None:
        score = record.get("score")
        if not record.get("curve") or score is None:
            return None
        fault = record.get("error") if record.get("outcome") not in ("ok", None) else None
        return Training([CurvePoint(**p) for p in record["curve"]],
                        [ScheduleCall(**c) for c in record.get("schedule_calls", [])], fault or None,
                        int(record.get("env_steps", 0)), score.get("auc"), score.get("steps_to_threshold"),
                        self.config.criterion)

    def recorded(self, run: RunContext, candidate: Candidate) -> None:
        """Extend curve.jsonl: the training's evaluations as measured, over the run's cumulative training steps."""
        t: Training | None = candidate.evaluation
        if t is None or not t.curve:
            return
        offset = run.steps_taken - t.env_steps  # steps up to it in slot order, whatever finished first
        for point in t.curve:
            self.curve.append(CurvePoint(offset + point.env_steps, point.episodes, point.mean_return,
                                         point.success_rate, point.wall_time_s))
        run.write_text("curve.jsonl", "".join(json.dumps(asdict(p)) + "\n" for p in self.curve))

    def best_file(self, candidate: Candidate, run_id: str) -> str:
        return f"# promptpo best schedule: {candidate.id}, {score_text(candidate.evaluation)}\n\n{candidate.code}"

    def summary_fields(self, best: Candidate | None) -> dict:
        final = best.evaluation.final if best else None
        return {"method": self.method, "seed": self.config.seed,
                "target_reached": bool(best and best.evaluation.steps_to_threshold is not None),
                "best_score": final.mean_return if final else None,
                "best_success_rate": final.success_rate if final else None,
                "final_return": final.mean_return if final else None,
                "final_success_rate": final.success_rate if final else None}

    def run_fields(self) -> dict:
        return {"method": self.method, "hyperparams": self.hp.values, "hyperparams_source": self.hp.source,
                "bounds": BOUNDS, "sandbox": self.sandbox.describe(), "eval_every": self.config.grid(self.hp)}

    def close(self) -> None:
        self.sandbox.close()


def train(code: str, spec: EnvSpec, hp, config: ScheduleConfig, seed: int, episodes: list, sandbox: Sandbox,
          target: Target | None, on_point=None, on_steps=None) -> tuple[Training, Any]:
    """One PPO training on ``seed`` steered by the schedule ``code`` from ``sandbox``, evaluated on ``episodes``
    at the run's grid; ``on_point(point, std)`` after every evaluation. Returns the training and its (closed)
    promptpo.baselines.ppo.Trainer."""
    from promptpo.baselines.ppo import Trainer

    trainer = Trainer(spec, hp, seed, episodes)
    callback = schedule_callback(code, sandbox, config.limits, config.every, config.steps)
    try:
        trainer.learn(config.steps, config.grid(hp), on_point, on_steps, callbacks=(callback,))
    finally:
        trainer.close()
    reached = first_reaching(trainer.curve, target) if target else None
    auc = float(np.mean([p.mean_return for p in trainer.curve])) if trainer.curve else None
    return Training(trainer.curve, callback.calls, callback.fault, int(trainer.model.num_timesteps), auc,
                    reached.env_steps if reached else None, config.criterion), trainer


def method_label(backend_name: str, backend_label: str, mode: str) -> str:
    kind = backend_name if backend_name in ("scripted", "manual", "offline") else backend_label
    return f"promptpo {mode} ({kind})"
