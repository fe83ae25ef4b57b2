"""What every view shows of a run, derived once from its records: the best, steps to target, the curve, calls,
the seed and the method.

- The best is the engine's: by the rank key (success, then sooner, then return; promptpo.policy.evaluation), among
  candidates scored in full. summary.json names it; a rebuilt summary derives it the same way.
- Env steps to target are the steps the run had spent when the evaluation that reached it was recorded.
- A curve starts at 0 env steps (a point with no value: nothing measured yet) and holds the best so far up to
  the steps the run spent, so an area under it covers the same span for every method.
- Calls are counted as sent (a prompt recorded) and answered (an answer recorded).
- A run is finished when it ended on its own (target, budget, answers, all rounds; a training's full steps);
  ``unfinished`` says why not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from promptpo.candidate import UNRANKED, policy_rank_key, training_rank_key
from promptpo.envspec import Target
from promptpo.outcome import RunStatus
from promptpo.records.folder import POLICY_KIND, Folder, numbers, slot
from promptpo.records.liveness import gone
from promptpo.stats import CurvePoint, first_reaching

POLICY_SETTINGS = ("candidates", "rounds", "episodes", "search", "edit", "cascade", "tune_constants", "target",
                   "full_episodes", "reflect", "feedback_fn")
"""Config fields of a policy run that make it another method when they differ (with the model string)."""
TRAINING_SETTINGS = ("steps", "hyperparams_source", "criterion")
FINETUNE_SETTINGS = ("residual_scale", "inputs", "warmup", "critic_steps", "noise", "penalty", "ramp", "actor_warmup",
                     "critic_norm", "gamma", "n_step_returns", "rollback", "options")
"""Config fields of a fine-tuning that make it another method when they differ (with its base program)."""
RECORDED_LATER = {"ramp": 0, "actor_warmup": 0, "critic_norm": False, "n_step_returns": 1}
"""What a fine-tuning recorded before these fields existed ran with."""


@dataclass(frozen=True)
class Method:
    """What a run is a sample of: its method's name (with the model string: a scripted run's answer set is its
    path) and the settings that make two runs of it different methods."""

    name: str
    settings: tuple[tuple[str, str], ...] = ()

    def differing(self, others: list[Method]) -> str:
        """``name`` plus the settings in which it differs from the other methods of the same name."""
        same = [o for o in others if o.name == self.name and o != self]
        if not same:
            return self.name
        mine = dict(self.settings)
        keys = sorted({k for o in same for k, v in dict(o.settings).items() if mine.get(k) != v}
                      | {k for k in mine if any(dict(o.settings).get(k) != mine[k] for o in same)})
        return self.name + " [" + ", ".join(f"{k}={mine.get(k, '-')}" for k in keys) + "]"


@dataclass
class Facts:
    run: str
    path: Path
    kind: str
    env: str
    seed: int | None
    method: Method
    status: str
    unfinished: str
    """Why the run is not finished (interrupted, still running, stopped short of its steps), or ''."""
    recovered: str
    """Why its summary was rebuilt from the other records, or ''."""
    best: str | None
    """The best candidate scored in full (by the rank key); None for a training or when none was."""
    best_stopped: str | None
    """With no ``best``: the best of the candidates a cascade stopped early."""
    best_score: float | None
    best_std: float | None
    best_success: float | None
    target: Target | None
    """The run's own target (None for a training, which has none of its own)."""
    env_steps: int
    episodes: int
    curve: list[CurvePoint]
    calls_sent: int
    calls_answered: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    wall_time_s: float | None
    candidates: int
    final_return: float | None
    """A training's last evaluation (a search's: its best trial's); a program run's: its best's score (what the
    run delivers), whatever its summary's final_return or the curve's last point say (those only for a folder
    with no candidate record to judge)."""
    final_success: float | None
    model_zip: Path | None = None
    calls_kept: bool = False
    """Whether the folder keeps its LLM calls (llm/): then ``calls_sent`` and ``calls_answered`` count them."""
    end_at_success: bool = False
    eval_every: int | None = None
    problems: list[str] = field(default_factory=list)
    training_steps: int | None = None
    """A residual's training env steps, which its budget counts (``env_steps`` also hold its base run's); else None."""

    @property
    def finished(self) -> bool:
        return not self.unfinished

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def reaching(self, target: Target | None = None) -> CurvePoint | None:
        """The first point of the curve that meets ``target`` (default: the run's own), or None."""
        target = target or self.target
        return first_reaching(self.curve, target) if target else None

    @property
    def steps_to_target(self) -> int | None:
        point = self.reaching()
        return point.env_steps if point else None

    def area(self, end: int | None = None) -> float | None:
        """The mean of the curve over env steps 0..``end`` (default: what the run spent), as a step function held
        at its last value; before its first measured point it has its first value (the policy the method had at
        0 steps: PPO's untrained network, promptpo's first program)."""
        points = sorted((p for p in self.curve if p.mean_return is not None), key=lambda p: p.env_steps)
        end = max(end or self.env_steps, points[-1].env_steps if points else 0)
        if not points or end <= 0:
            return None
        total, x, y = 0.0, 0, points[0].mean_return
        for p in points:
            total += (min(p.env_steps, end) - x) * y
            x, y = min(p.env_steps, end), p.mean_return
        total += (end - x) * y
        return total / end


def facts_of(run: Folder, summary: dict, recovered: str = "") -> Facts:
    """What ``run``'s records say, with its summary (stored, or rebuilt from the rest and then ``recovered`` says
    why: promptpo.records.run)."""
    s, meta = summary, run.meta
    sent, answered = run.calls() if run.asks_a_model else ([], [])
    programs = run.has_programs
    best = best_stopped = None
    if programs:
        named = s.get("best_candidate") if not recovered else None
        best = next((r for r in run.candidates if r["id"] == named), None) or best_of(run.candidates, criterion_of(meta))
        if best is None:
            best_stopped = best_of(run.candidates, criterion_of(meta), stopped=True)
    curve = _event_curve(run) if run.kind == POLICY_KIND else _logged_curve(run)
    spent = int(s.get("env_steps") or 0) or max((p.env_steps for p in curve), default=0)
    if curve and curve[-1].mean_return is not None and spent > curve[-1].env_steps:
        last = curve[-1]  # the best so far holds to the last step spent
        curve.append(CurvePoint(spent, int(s.get("episodes") or last.episodes), last.mean_return, last.success_rate))
    score = record_score(best)
    status, reason = str(s.get("status") or meta.get("status") or RunStatus.RUNNING), str(s.get("reason") or "")
    if status == RunStatus.RUNNING and (why := gone(s)):  # killed (SIGKILL, OOM) before it could record its end
        status, reason = RunStatus.INTERRUPTED, why
    final = next((p for p in reversed(curve) if p.mean_return is not None), None)
    trained = s.get("training_env_steps")
    training = trained if isinstance(trained, int) and not isinstance(trained, bool) and trained != spent else None
    return Facts(
        run=run.name, path=run.path, kind=run.kind, env=str(meta.get("env")), seed=seed_of(meta),
        method=method_of(meta), status=status, unfinished=_unfinished(run, status, reason, spent, training),
        recovered=recovered,
        best=best["id"] if best else None, best_stopped=best_stopped["id"] if best_stopped else None,
        best_score=score.get("mean_return") if programs else s.get("best_score"),
        best_std=score.get("std_return") if programs else None,
        best_success=score.get("success_rate") if programs else s.get("best_success_rate"),
        target=parse_target(s.get("target") or meta.get("target")), env_steps=spent,
        episodes=int(s.get("episodes") or 0), curve=curve, calls_sent=len(sent), calls_answered=len(answered),
        prompt_tokens=int(s.get("prompt_tokens") or 0), completion_tokens=int(s.get("completion_tokens") or 0),
        cost_usd=s.get("cost_usd"), wall_time_s=s.get("wall_time_s"), candidates=len(run.candidates),
        final_return=score.get("mean_return") if best else s.get("final_return", final.mean_return if final else None),
        final_success=score.get("success_rate") if best else s.get("final_success_rate",
                                                                   final.success_rate if final else None),
        model_zip=run.model_zip, calls_kept=(run.path / "llm").is_dir(), end_at_success=bool(meta.get("end_at_success", False)),
        eval_every=meta.get("eval_every"), problems=list(run.problems), training_steps=training)


# -- the rank key, from records -----------------------------------------------------------
def record_score(record: dict | None) -> dict:
    return (record or {}).get("score") or {}


def complete(record: dict) -> bool:
    stage = (record.get("evaluation") or {}).get("stage")
    return bool(record_score(record).get("complete", True)) and not (stage and not stage.get("passed", True))


def rank_key(record: dict, criterion: str = "auc") -> tuple[float, ...]:
    """The engine's rank key of a candidate record, computed by the engine's own functions from the recorded
    score (promptpo.candidate.policy_rank_key; a schedule's promptpo.candidate.training_rank_key, by the run's
    ``criterion``): higher is better, UNRANKED without a score. Every view ranks with this one."""
    score = record_score(record)
    if record.get("outcome") != "ok":
        return UNRANKED
    if "auc" in score:
        return training_rank_key(score["auc"], score.get("steps_to_threshold"), score.get("mean_return"), criterion)
    return policy_rank_key(score.get("success_rate"), score.get("mean_steps_to_success"), score.get("mean_return"))


def best_of(records: list[dict], criterion: str = "auc", stopped: bool = False) -> dict | None:
    """The first record with the highest rank key among those scored in full (``stopped``: among those a
    cascade stopped early), as the engine picks it (a later equal one does not replace it)."""
    best = None
    for record in records:
        key = rank_key(record, criterion)
        if key == UNRANKED or complete(record) == stopped:
            continue
        if best is None or key > rank_key(best, criterion):
            best = record
    return best


# -- curves -----------------------------------------------------------------------------
def _event_curve(run: Folder) -> list[CurvePoint]:
    events = run.events()
    for e in events:
        if e.get("event") == "candidate":  # a word for a number: a RunStoreError naming the file
            numbers(e, run.path / "events.jsonl", ("total_env_steps", "total_episodes"))
    return event_curve(run.candidates, events, criterion_of(run.meta))


def event_curve(records: list[dict], events: list[dict], criterion: str = "auc") -> list[CurvePoint]:
    """The best so far (by the rank key, among candidates scored in full) after each candidate, at the env steps
    the run had spent then (``placements``), in order of env steps; from 0. The best is judged here from the
    records, not from the events' ``best`` flags or their order: after a resume, events are not in slot order and
    their flags were judged from partial histories."""
    curve, best = [CurvePoint(0, 0, None, None)], None
    for steps, episodes, r in sorted(placements(records, events), key=lambda p: p[0]):
        key = rank_key(r, criterion)
        if key != UNRANKED and complete(r) and (best is None or key > rank_key(best, criterion)):
            best = r
        if best is not None:
            score = record_score(best)
            curve.append(CurvePoint(steps, episodes, score.get("mean_return"), score.get("success_rate")))
    return curve


def placements(records: list[dict], events: list[dict]) -> list[tuple[int, int, dict]]:
    """(env steps, episodes, record) for each candidate in slot order: the run's totals up to it. A candidate's are
    its event's ``total_env_steps`` (which count constant tuning too); one with no event yet (the engine saves a
    record the moment its evaluation ends, and logs its event when its wave ends) is placed at the totals before it
    plus its own. A candidate event with no record (folders written before records were kept, or an event whose
    record is gone) stands for its record."""
    candidates = [e for e in events if e.get("event") == "candidate"]
    if not any("id" in e for e in candidates):  # logs before candidates were named in them
        candidates = [{**e, "id": f"event {i}"} for i, e in enumerate(candidates)]
    logged = {e["id"]: e for e in candidates if "id" in e}
    kept = {r.get("id") for r in records}
    records = [*records, *(_as_record(e, i) for i, e in enumerate(logged.values()) if e["id"] not in kept)]
    placed, steps, episodes = [], 0, 0
    for r in sorted(records, key=slot):
        e = logged.get(r.get("id"), {})
        ran = len((r.get("evaluation") or {}).get("episodes") or []) or int(r.get("episodes_run") or 0)
        if e.get("total_env_steps") is not None:
            steps, episodes = int(e["total_env_steps"]), int(e.get("total_episodes") or episodes + ran)
        else:
            steps, episodes = steps + int(r.get("env_steps") or 0), episodes + ran
        placed.append((steps, episodes, r))
    return placed


def _as_record(event: dict, order: int) -> dict:
    """A candidate event as the record it stands for (an old folder keeps no records)."""
    scored = event.get("outcome") == "ok" and event.get("mean_return") is not None
    named = re.fullmatch(r"r(\d+)c(\d+)", str(event["id"]))
    return {"id": event["id"], "round": int(named[1]) if named else 0, "index": int(named[2]) if named else order,
            "outcome": event.get("outcome"), "env_steps": event.get("env_steps"),
            "score": {"mean_return": event["mean_return"], "success_rate": event.get("success_rate")} if scored
            else None}


def _logged_curve(run: Folder) -> list[CurvePoint]:
    """A training's evaluations (curve.jsonl), from 0."""
    points = []
    for p in run.curve():
        steps = p.get("env_steps")
        if isinstance(steps, (int, float)) and not isinstance(steps, bool) and abs(steps) < 1e18:  # 10**400: none
            points.append(CurvePoint(int(p["env_steps"]), int(p.get("episodes") or 0), p.get("mean_return"),
                                     p.get("success_rate"), p.get("wall_time_s")))
    points.sort(key=lambda p: p.env_steps)
    return points if points and points[0].env_steps == 0 else [CurvePoint(0, 0, None, None), *points]


# -- what the run is ----------------------------------------------------------------------
def seed_of(meta: dict) -> int | None:
    """The seed a run recorded (run.json's, else its config's)."""
    return meta.get("seed", (meta.get("config") or {}).get("seed"))


def criterion_of(meta: dict) -> str:
    """What a run ranks its candidates by: a schedule run's --criterion ("auc" or "steps"); "auc" otherwise (a
    policy's rank key does not read it)."""
    return str((meta.get("config") or {}).get("criterion") or "auc")


def method_of(meta: dict) -> Method:
    config = meta.get("config") or {}
    kind = meta.get("kind", POLICY_KIND)
    if kind == POLICY_KIND:
        settings = {k: config.get(k) for k in POLICY_SETTINGS if k in config}
        settings["max_env_steps"] = (config.get("budgets") or {}).get("max_env_steps")
        settings["temperature"] = (config.get("gen") or {}).get("temperature")
        settings.update(examples_of(config))
        model = meta.get("model") or config.get("model")
        name = f"promptpo ({model})" if model else str(meta.get("method") or "promptpo (?)")
    else:
        source = {**config, **meta}
        settings = {k: source.get(k) for k in TRAINING_SETTINGS if k in source}
        if kind == "finetune":
            settings.update(finetune_settings(config, meta.get("base")))
        name = str(meta.get("method") or kind)
        if meta.get("model") and kind in ("schedule", "online"):  # 'promptpo schedule (scripted)' names its backend:
            name = f"{name.split(' (')[0]} ({meta['model']})"       # the model string says which answers or model
    return Method(name, tuple(sorted((k, str(v)) for k, v in settings.items() if v is not None)))


def finetune_settings(config: dict, base: object) -> dict:
    """A fine-tuning's learning settings (what --residual-scale, --ramp, ... were) and its base program's sha256:
    runs that differ in them are not seeds of one method."""
    settings = {k: config.get(k, RECORDED_LATER.get(k)) for k in FINETUNE_SETTINGS}
    for key, value in settings.items():
        if isinstance(value, float) and value.is_integer():
            settings[key] = int(value)  # 1.0 and 1 are one setting
        elif isinstance(value, dict):
            settings[key] = json.dumps(value, sort_keys=True, default=str) if value else None
    settings["base"] = str(base.get("sha256"))[:12] if isinstance(base, dict) else None
    return settings


def examples_of(config: dict) -> dict:
    """The library examples a policy run's first prompt showed, as method settings: runs shown different solved
    tasks are not seeds of one method. Left out when they are the default (none asked, none shown), so runs
    recorded before these fields were kept compare with runs that showed none."""
    found = {}
    if config.get("examples") is not None:
        found["examples"] = config["examples"]
    if config.get("examples_same_task"):
        found["examples_same_task"] = True
    shown = [e for e in config.get("shown_examples") or [] if isinstance(e, dict)]
    if shown:
        names = [str(e.get("name") or e.get("env") or "?") for e in shown]
        found["shown_examples"] = f"{len(shown)} ({', '.join(names)})"
    return found


def _unfinished(run: Folder, status: str, reason: str, spent: int, training: int | None) -> str:
    steps = run.meta.get("steps") if not run.has_programs else None
    done, unit = (spent, "env steps") if training is None else (training, "training steps")
    ended = RunStatus.read(status)
    if ended and ended.finished:
        if isinstance(steps, int) and done < steps:
            return f"stopped at {done:,} of {steps:,} {unit}"
        return ""
    at = f" at {done:,} of {steps:,} {unit}" if isinstance(steps, int) else f" after {spent:,} env steps"
    return f"{status}{at}" + (f" ({reason})" if reason else "")


TARGET = re.compile(r"(success rate|mean return) >= (-?[0-9.eE+-]+)")


def parse_target(text) -> Target | None:
    """A target as run records state it ('success rate >= 1', 'mean return >= 475')."""
    found = TARGET.fullmatch(str(text or "").strip())
    if not found:
        return None
    return Target("success_rate" if found[1] == "success rate" else "mean_return", float(found[2]))
