"""The policy task kind (`promptpo optimize`): the model writes ``Policy.act``; it is scored by
episodes of the real simulator, run in lock-step on the host with the actions from the sandbox."""

from __future__ import annotations

import json
import multiprocessing.util
import os
import tempfile
import time
from dataclasses import replace
from functools import cache
from typing import Any

from promptpo.policy.config import OptimizeConfig
from promptpo.policy.digest import EpisodeDigest, Term, Track
from promptpo.candidate import Candidate
from promptpo.engine.context import RunContext
from promptpo.engine.task import TaskKind
from promptpo.envspec import EnvSpec, Target, ending_rule, ends_at_success, judged_by_success
from promptpo.policy import cascade, library
from promptpo.policy.evaluate import Evaluator
from promptpo.policy.evaluation import EpisodeResult, Evaluation, Fault, Stage
from promptpo.policy.lanes import Lanes
from promptpo.policy.pool import EnvPool
from promptpo.extract import ALLOWED_IMPORTS, author, trust_lines
from promptpo.policy.feedback import build, score_line
from promptpo.isolation.cluster import Host
from promptpo.isolation import make_sandbox
from promptpo.isolation.base import Limits, Sandbox
from promptpo.outcome import Outcome
from promptpo.prompting import PromptBook
from promptpo.records import POLICY_KIND
from promptpo.policy import summarizer
from promptpo.policy.evaluation import Notes
from promptpo.policy.summarizer import defines_feedback
from promptpo.policy.trajectory import Keeper
from promptpo.policy.tuning import RULE as tuning_rule
from promptpo.policy.tuning_share import share_text, tuning_costs
from promptpo.text import comment_header


class PolicyTask(TaskKind):
    name = POLICY_KIND

    def __init__(self, config: OptimizeConfig, spec: EnvSpec, sandbox: Sandbox, evaluator: Evaluator | None = None):
        self.config, self.spec, self.sandbox = config, spec, sandbox
        self.env_id = spec.id
        self.pool = EnvPool(spec, config.seed)
        self.target = run_target(config, spec)
        self.end_at_success = ends_at_success(spec, self.target, config.full_episodes)
        self.evaluator = evaluator or Evaluator(spec, sandbox, config.limits, self.pool, salt=config.salt,
                                                end_at_success=self.end_at_success)
        self.config_json = json.dumps(config.public())
        """What a lane's process or a Ray node rebuilds this task from (promptpo.policy.task.evaluate_on_node)."""
        self.remote = None
        if config.executor == "ray" and evaluator is None:
            from promptpo.isolation.cluster import Remote

            self.remote = Remote(evaluate_on_node, config.address)
        self.parallel_evaluations = 1 if evaluator is not None else (
            config.workers or (self.remote.slots if self.remote else os.cpu_count() or 1))
        """Evaluations it can run side by side: one lane (sandbox and simulators) each, made when first needed,
        or as many Ray tasks."""
        self.lanes = Lanes(self._here, lambda: Host(evaluate_on_node, self.config_json),
                           self.parallel_evaluations)
        """This process evaluates, and each further lane is a child process with its own sandbox and simulators
        (host-side stepping is Python: threads would share one interpreter lock)."""
        self.episodes = spec.episodes(config.seed, config.episodes, config.episode_secret)
        self.by_success = judged_by_success(spec, self.target)
        """Whether candidates are judged by success (the cascade's rule) rather than by return."""
        self.prompts = policy_prompts(config, spec)
        self.tuned_parents: set[str] = set()
        """Candidates a tuning phase has had (each is tuned at most once)."""
        self.feedback_fn: tuple[str, str] | None = None
        """(candidate id, program) of the last Feedback class that worked, run on programs without their own."""
        self.tuning = False
        """True during a constant-tuning phase: its many evaluations run no feedback function."""

    # -- scoring -------------------------------------------------------------------------
    def worst_case_steps(self) -> int:
        return self.config.episodes * self.spec.horizon

    def evaluate(self, code: str, limits: Limits, progress: Any, best: Evaluation | None = None) -> Evaluation:
        notes = self.config.feedback_fn and not self.tuning
        keep = self.config.feedback_fn and self.tuning
        kept = self.feedback_fn if notes else None
        if self.remote is not None:  # on a Ray node, which runs this same method there
            return self.remote(self.config_json, code, limits, best, kept, notes, keep)
        with self.lanes.take() as lane:
            return lane(code, limits, best, kept, notes, keep)

    def _here(self, code: str, limits: Limits, best: Evaluation | None,
              kept: tuple[str, str] | None = None, notes: bool = True, keep: bool = False) -> Evaluation:
        """The cascade's episodes, then (``notes``) the feedback function: the program's own, else ``kept`` (the
        last that worked), on the steps kept of its episodes. ``keep`` (a tuning sample) keeps its steps instead,
        for notes_for if it wins its phase."""
        sources = self._sources(code, kept) if notes else []
        keeper = Keeper() if sources or keep else None
        started = time.monotonic()
        result = cascade.evaluate(self.evaluator, code, self.episodes, self.config.cascade, best, self.by_success,
                                  limits, keeper)
        if keeper is not None and sources and any(t.steps for t in keeper.trajectories):
            # Its allowance is what is left of the candidate's (a run's --max-time included), not a fresh one.
            left = limits.candidate_wall_s - (time.monotonic() - started)
            result.notes = summarizer.run(self.sandbox, replace(limits, candidate_wall_s=left), sources,
                                          keeper.trajectories)
        elif keeper is not None:
            result.kept = keeper.trajectories
        return result

    def _sources(self, code: str, kept: tuple[str, str] | None) -> list[tuple[str | None, str]]:
        own = [(None, code)] if self.config.feedback_fn and defines_feedback(code) else []
        return own + ([kept] if kept is not None else [])

    def notes_for(self, code: str, result: Evaluation) -> None:
        """The feedback notes of a tuning phase's winner, from the steps its sample kept (no episode played again)."""
        sources = self._sources(code, self.feedback_fn)
        if result.kept and sources and any(t.steps for t in result.kept):
            result.notes = summarizer.run(self.sandbox, self.config.limits, sources, result.kept)
        result.kept = None

    def evaluation_plan(self) -> Any:
        plan: list = [[e.index, e.seed, e.extras] for e in self.episodes]
        if self.config.cascade or self.end_at_success:  # (runs from before either existed keep their keys)
            plan.append({"cascade": self.config.cascade, "end_at_success": self.end_at_success})
        return plan

    def reached(self, best: Candidate | None) -> bool:
        return (best is not None and self.target is not None
                and self.target.reached(best.evaluation.success_rate, best.evaluation.mean_return))

    def score_line(self, result: Evaluation | None) -> str:
        return score_line(result, self.spec.has_success)

    def recorded(self, run: RunContext, candidate: Candidate) -> None:
        """A program whose own Feedback class worked makes that class the one later programs get."""
        notes = candidate.evaluation.notes if candidate.evaluation is not None else []
        if notes and notes[0].source is None and notes[0].ok:
            self.feedback_fn = (candidate.id, candidate.code)
        elif self.feedback_fn is not None and any(n.source == self.feedback_fn[0] and not n.ok and not n.by_host
                                                  for n in notes):
            self.feedback_fn = None  # the kept one failed too: none until the model writes another

    def after_round(self, run: RunContext, round_: int) -> None:
        if self.config.tune_constants and any(c.scored for c in run.history):
            from promptpo.policy.tuning import tune

            self.tuning = True
            try:
                line = tune(run, self, round_, self.tuned_parents)
            finally:
                self.tuning = False
            if line:
                self.prompts.tuning_log.append(line)
                run.tell("tuning", line)

    def progress_note(self, run: RunContext, round_: int) -> str:
        if not self.config.tune_constants:
            return ""
        from promptpo.policy.tuning import status

        return status(run, self, round_)

    def close(self) -> None:
        self.lanes.close()
        self.pool.close()
        self.sandbox.close()

    # -- records -------------------------------------------------------------------------
    def record_fields(self, candidate: Candidate) -> dict:
        ev: Evaluation | None = candidate.evaluation
        return {
            "tuned_constants": candidate.tuned,
            "score": None if not candidate.scored else {
                "mean_return": ev.mean_return, "std_return": ev.std_return,
                "success_rate": ev.success_rate if self.spec.has_success else None,
                "mean_steps_to_success": ev.mean_steps_to_success if self.spec.has_success else None,
                "complete": ev.complete},
            "evaluation": None if ev is None else {
                "wall_time_s": round(ev.wall_time_s, 3), "fault": ev.fault, "output": ev.output,
                "output_bytes": ev.output_bytes, "stage": ev.stage, "episodes": ev.episodes, "notes": ev.notes},
        }

    def result_from_record(self, record: dict) -> Evaluation | None:
        return evaluation_from_record(record)

    def best_file(self, candidate: Candidate, run_id: str) -> str:
        seeds = ", ".join(str(e.seed) for e in self.episodes[:10]) + (" ..." if len(self.episodes) > 10 else "")
        header = [f"promptpo best policy — run {run_id}", f"env: {self.spec.id}",
                  f"candidate: {candidate.id} (round {candidate.round}, {candidate.kind}, parent {candidate.parent})",
                  f"score: {self.score_line(candidate.evaluation)}", f"evaluation seeds: {seeds}",
                  *trust_lines(candidate.code, str(self.config.out / run_id / "best.py"),
                               author(candidate.kind, self.config.resolved_model() == "offline"))]
        return comment_header(header) + "\n\n" + candidate.code

    def summary_fields(self, best: Candidate | None) -> dict:
        ev = best.evaluation if best else None
        return {"best_score": ev.mean_return if ev else None, "best_std": ev.std_return if ev else None,
                "best_success_rate": ev.success_rate if ev and self.spec.has_success else None}

    def run_fields(self) -> dict:
        return {"env_spec": self.spec.source, "sandbox": self.sandbox.describe(),
                "sandbox_isolated": self.sandbox.isolated, "episodes": self.episodes,
                "target": self.target.describe() if self.target else None, "end_at_success": self.end_at_success,
                "cascade": self.config.cascade}


RANKING = ("success rate, then how soon episodes succeed (mean steps to the first success; an episode without "
           "success counts all its steps), and only then mean return, as a tie-break (an episode that ends sooner "
           "collects less reward: that never counts against it)")
"""How candidates are ranked where the env defines success (promptpo.policy.evaluation.Evaluation.rank_key)."""


def run_target(config: OptimizeConfig, spec: EnvSpec) -> Target | None:
    """The environment's target, or --target on the env's own metric."""
    base = spec.target
    if config.target is None:
        return base
    metric = base.metric if base else ("success_rate" if spec.has_success else "mean_return")
    return Target(metric, config.target)


def budget_text(config: OptimizeConfig) -> str:
    """The run's budgets as the prompt states them."""
    b = config.budgets
    parts = [f"{config.rounds} round{'s' if config.rounds != 1 else ''} of {config.candidates} "
             f"candidate{'s' if config.candidates != 1 else ''}"]
    if b.max_llm_calls is not None:
        parts.append(f"at most {b.max_llm_calls} LLM calls (repairs count)")
    if b.max_env_steps is not None:
        parts.append(f"at most {b.max_env_steps:,} env steps (every episode of every candidate counts)")
    return ", ".join(parts)


def policy_prompts(config: OptimizeConfig, spec: EnvSpec) -> PromptBook:
    """The policy prompts: the environment as the templates show it, and the rules of the sandbox."""
    target = run_target(config, spec)
    end_at_success = ends_at_success(spec, target, config.full_episodes)
    first = config.cascade if 0 < config.cascade < config.episodes else 0
    obs_kind = ("a dict of numpy arrays" if len(spec.obs_arrays) > 1 or spec.obs_arrays[0].name != "obs"
                else f"a numpy array of shape {spec.obs_arrays[0].shape} ({spec.obs_arrays[0].dtype})")
    view = {"title": spec.title, "id": spec.id, "description": spec.description, "obs_kind": obs_kind,
            "fields": [f for f in spec.observation if f.index.startswith("obs")],
            "derived": [f for f in spec.observation if not f.index.startswith("obs")], "action": spec.action.describe(), "horizon": spec.horizon,
            "episodes": config.episodes, "success": spec.success_criterion or "",
            "ending": ending_rule(spec, end_at_success), "cascade": first,
            "cascade_by_success": judged_by_success(spec, target),
            "ranking": RANKING if spec.has_success else "mean return",
            "target": target.describe() if target else "as high a mean return as possible",
            "derived_doc": spec.derived_doc, "notes": spec.notes, "facts": list(spec.facts),
            "reward_source": spec.reward_source,
            "starter": spec.starter.strip(), "candidates": config.candidates, "budget": budget_text(config),
            "tuning": config.tune_constants, "tune_share": share_text(config), "tune_rule": tuning_rule,
            **tuning_costs(config, config.episodes * spec.horizon),
            "examples": config.shown_examples, "min_overlap": f"{library.MIN_OVERLAP:g}"}
    rules = {"allowed_imports": ", ".join(sorted(ALLOWED_IMPORTS)), "act_timeout_s": f"{config.limits.act_timeout_s:g}",
             "feedback_fn": config.feedback_fn, "note_chars": summarizer.NOTE_CHARS, "note_s": f"{summarizer.CALL_S:g}"}
    return PromptBook("", {"spec": view}, rules, lambda c, labels: build(spec, c, labels), config.prompt_budget,
                      config.edit, config.reflection)


@cache
def _task_on_node(config_json: str) -> PolicyTask:
    """The policy task a lane's process or a Ray node evaluates with (made once per process and run config)."""
    from pathlib import Path

    from promptpo.envs import load_spec

    config = OptimizeConfig.from_record(json.loads(config_json), Path(tempfile.gettempdir()))
    config.workers, config.executor = 1, "local"
    task = PolicyTask(config, load_spec(config.env), make_sandbox(config.sandbox))
    multiprocessing.util.Finalize(task, task.close, exitpriority=10)  # a lane's process closes its sandbox
    return task


def evaluate_on_node(config_json: str, code: str, limits: Limits, best: Evaluation | None,
                     kept: tuple[str, str] | None = None, notes: bool = True, keep: bool = False) -> Evaluation:
    """One evaluation of a run in another process (a lane, or a Ray node with --executor ray): the same episodes,
    seeds and worker secret as in the run's own process, in that process's own sandbox; ``kept``: the run's
    last working feedback function."""
    return _task_on_node(config_json)._here(code, limits, best, kept, notes, keep)


def evaluation_from_record(record: dict) -> Evaluation | None:
    """The Evaluation a candidate record holds (the inverse of PolicyTask.record_fields)."""
    data = record.get("evaluation")
    if data is None:
        return None

    def digest(d: dict) -> EpisodeDigest:
        return EpisodeDigest(**{**d, "fields": {k: Track(**t) for k, t in d["fields"].items()},
                                "derived": {k: Track(**t) for k, t in d["derived"].items()},
                                "action_counts": {int(k): v for k, v in d["action_counts"].items()},
                                "info": {k: Term(**t) for k, t in d.get("info", {}).items()}})

    episodes = [EpisodeResult(**{**e, "digest": digest(e["digest"])}) for e in data["episodes"]]
    fault, stage = data.get("fault"), data.get("stage")
    return Evaluation(Outcome(record["outcome"]), episodes, record["env_steps"], data["wall_time_s"],
                      None if fault is None else Fault(**{**fault, "outcome": Outcome(fault["outcome"])}),
                      data.get("output", ""), data.get("output_bytes", 0), None if stage is None else Stage(**stage),
                      [Notes(**n) for n in data.get("notes", [])])
