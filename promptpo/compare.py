"""``promptpo compare``: runs grouped by environment and method, with statistics across seeds.

A promptpo run's curve is its best-so-far score over the env steps its evaluations used; a PPO
run's curve is its periodic evaluation. Steps to target are read off those curves ("not reached"
stays that, never a number); final scores get Student-t intervals and their spread across seeds (robustness)
chi-square ones, the intervals the t-tests below invert, so they agree at any n. Methods are compared to PPO on steps to target, where a seed
that never reached the target counts as the whole budget it spent (a lower bound, so a method
cannot look fast by failing): the ratio, the fraction of PPO's steps saved with the test's interval of
the difference (over PPO's mean), and a t-test across seeds (paired when the seeds match one to one).
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from promptpo.envspec import Target
from promptpo.errors import RunStoreError
from promptpo.stats import CurvePoint, compare_samples, first_reaching, hyperscore, mean_ci, sample_std, std_ci

SUCCESS_FAMILIES = ("metaworld", "minigrid")
SUCCESS_TARGET = 0.9
# The worst return an episode can score (time limit x worst reward per step), used to normalize
# returns into (0, 1] for HyperScore; envs not listed use the lowest return seen in the comparison.
RETURN_FLOOR = {"gymnasium/CartPole-v1": 0.0, "gymnasium/MountainCar-v0": -200.0, "gymnasium/Acrobot-v1": -500.0,
                "gymnasium/MountainCarContinuous-v0": -99.9, "gymnasium/Pendulum-v1": -16.2736 * 200}


@dataclass
class RunRecord:
    path: Path
    env: str
    method: str
    seed: int | None
    curve: list[CurvePoint]
    summary: dict
    end_at_success: bool = False
    """Whether its evaluation episodes ended at their first success (returns then differ from full episodes)."""
    eval_every: int | None = None
    """Env steps between its evaluations (trainings: PPO, schedules, Optuna, PBT); None for a policy run, whose
    every candidate is an evaluation."""

    @property
    def final(self) -> CurvePoint | None:
        return self.curve[-1] if self.curve else None


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunStoreError(f"{path} is missing", "is this a complete promptpo run folder?") from None
    except json.JSONDecodeError as err:
        raise RunStoreError(f"{path} is not valid JSON ({err.msg})", "the run folder is corrupt") from None


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    except json.JSONDecodeError as err:
        raise RunStoreError(f"{path} has a line that is not JSON ({err.msg})", "the run folder is corrupt") from None


def promptpo_curve(events: list[dict]) -> list[CurvePoint]:
    """The run's best so far after every evaluated candidate (from the first that became the best): the
    engine marks which did (``best``); logs from before it did are ranked by success, then return."""
    curve, best = [], None
    for e in events:
        if e.get("event") != "candidate" or e.get("outcome") != "ok" or e.get("mean_return") is None:
            continue  # (schedule runs before the one engine logged no mean_return: their curve.jsonl has it)
        key = (e.get("success_rate") if e.get("success_rate") is not None else -1.0, e["mean_return"])
        if e["best"] if "best" in e else (best is None or key > best[0]):
            best = (key, e["mean_return"], e.get("success_rate"))
        if best is not None:  # steps spent before the first best count in the next point's total
            curve.append(CurvePoint(int(e["total_env_steps"]), int(e.get("total_episodes", 0)), best[1], best[2]))
    return curve


def load_run(path: Path) -> RunRecord:
    meta, summary = _read(path / "run.json"), _read(path / "summary.json")
    if meta.get("kind", "promptpo") != "promptpo":  # ppo, schedule, online, optuna, pbt: a logged curve
        curve = [CurvePoint(**{k: p.get(k) for k in ("env_steps", "episodes", "mean_return", "success_rate",
                                                      "wall_time_s")}) for p in _lines(path / "curve.jsonl")]
        method = meta.get("method", meta["kind"])
    else:
        curve = promptpo_curve(_lines(path / "events.jsonl"))
        method = meta.get("method") or f"promptpo ({meta.get('model', '?')})"
    seed = meta.get("seed", meta.get("config", {}).get("seed"))
    return RunRecord(path, meta["env"], method, seed, curve, summary, bool(meta.get("end_at_success", False)),
                     meta.get("eval_every"))


def find_runs(patterns: list[str], out: Path) -> list[RunRecord]:
    folders: list[Path] = []
    for pattern in patterns:
        matches = [Path(p) for p in sorted(glob.glob(pattern))] or [Path(pattern), out / pattern]
        found = [m for m in matches if (m / "run.json").is_file()]
        if not found:
            raise RunStoreError(f"no run folder matches {pattern!r}", "give run folders, run ids or a glob like 'runs/*'")
        folders += [f for f in found if f not in folders]
    return [load_run(folder) for folder in folders]


def target_for(env: str) -> Target | None:
    """Meta-World and MiniGrid: success rate >= 0.9; Gymnasium: the registered reward threshold."""
    if env.split("/")[0] in SUCCESS_FAMILIES:
        return Target("success_rate", SUCCESS_TARGET)
    from promptpo.envs import load_spec

    spec = load_spec(env)
    return spec.target if spec.target and spec.target.metric == "mean_return" else None


@dataclass
class Summary:
    """One number across seeds with its 95% interval (Student-t: the interval the tests invert)."""

    values: list[float]
    mean: float | None = None
    ci: tuple[float, float] | None = None

    @classmethod
    def of(cls, values: list[float | None]) -> Summary:
        kept = [float(v) for v in values if v is not None]
        return cls(kept, float(np.mean(kept)) if kept else None, mean_ci(kept))

    @classmethod
    def spread(cls, values: list[float | None]) -> Summary:
        """The standard deviation across seeds, with its chi-square interval (robustness)."""
        kept = [float(v) for v in values if v is not None]
        if len(kept) < 2:
            return cls(kept)
        return cls(kept, float(sample_std(kept)), std_ci(kept))


@dataclass
class GroupResult:
    env: str
    method: str
    runs: list[str]
    seeds: list[int | None]
    final_return: Summary
    final_return_std: Summary
    final_success: Summary
    steps_to_target: list[int | None]
    """Per run, in run order; None = not reached."""
    episodes_to_target: list[int | None]
    spent: list[int | None]
    """Env steps each run spent in all (its budget, used up or not)."""
    wall_time_s: Summary
    llm_calls: Summary
    tokens: Summary
    cost_usd: Summary
    hyperscore: float | None = None
    vs_ppo: dict | None = None
    episodes_end: str = "after all their steps"
    """When its runs' evaluation episodes ended: 'at the first success', 'after all their steps' or 'mixed'."""
    eval_every: list[int] = field(default_factory=list)
    """The evaluation grids of its runs (env steps between evaluations; empty for policy runs)."""
    auc: Summary = field(default_factory=lambda: Summary([]))
    """Area under each run's learning curve: the mean evaluation return over its points (on the common grid)."""

    @property
    def reached(self) -> int:
        return sum(s is not None for s in self.steps_to_target)

    def mean_steps(self) -> float | None:
        kept = [s for s in self.steps_to_target if s is not None]
        return float(np.mean(kept)) if kept else None

    def reached_steps(self) -> Summary:
        """Steps to target over the seeds that reached it."""
        return Summary.of(self.steps_to_target)

    def steps_or_spent(self) -> list[float | None]:
        """Steps to target per run; a run that never reached it counts as all the steps it spent."""
        return [float(s) if s is not None else (float(b) if b is not None else None)
                for s, b in zip(self.steps_to_target, self.spent)]


@dataclass
class Comparison:
    targets: dict[str, str | None]
    groups: list[GroupResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Caveats, e.g. returns of runs whose episodes ended differently."""
    grids: dict[str, list[int]] = field(default_factory=dict)
    """Per env, the evaluation grids of its trainings (one, unless allowed to differ)."""


def check_grids(records: list[RunRecord], allow: bool = False) -> dict[str, list[int]]:
    """Steps to target read off learning curves measured at different intervals favour whoever is measured
    more often: refuse (ConfigError) unless ``allow``."""
    from promptpo.errors import ConfigError

    grids: dict[str, list[int]] = {}
    for env in sorted({r.env for r in records}):
        by_method: dict[str, set[int]] = {}
        for r in records:
            if r.env == env and r.eval_every is not None:
                by_method.setdefault(r.method, set()).add(r.eval_every)
        grids[env] = sorted(set().union(*by_method.values()))
        if len(grids[env]) > 1 and not allow:
            per = "; ".join(f"{m}: every {', '.join(f'{g:,}' for g in sorted(found))}"
                            for m, found in sorted(by_method.items()))
            raise ConfigError(f"the runs of {env} were evaluated at different intervals ({per} env steps), so steps "
                              "to target would favour the one measured more often",
                              "re-run them with the same --eval-every, or pass --allow-different-grids")
    return grids


def compare(records: list[RunRecord], with_hyperscore: bool = False, allow_different_grids: bool = False,
            hyperscore_params: dict | None = None) -> Comparison:
    """``hyperscore_params``: beta, gamma, kappa for the HyperScore column (default: promptpo.stats' values), e.g.
    those an hrl run fitted (promptpo.baselines.hyperscore)."""
    envs = sorted({r.env for r in records})
    targets = {env: target_for(env) for env in envs}
    result = Comparison({env: t.describe() if t else None for env, t in targets.items()})
    result.grids = check_grids(records, allow_different_grids)
    for env, grids in result.grids.items():
        if len(grids) > 1:
            result.notes.append(f"{env}: evaluated at different intervals ({', '.join(f'{g:,}' for g in grids)} env "
                                "steps): steps to target are only as fine as each run's grid")
    for env in envs:
        methods = sorted({r.method for r in records if r.env == env}, key=lambda m: (m != "ppo", m))
        groups = [_group(env, m, [r for r in records if r.env == env and r.method == m], targets[env])
                  for m in methods]
        if with_hyperscore:
            floor = RETURN_FLOOR.get(env, min((p.mean_return for r in records if r.env == env for p in r.curve
                                               if p.mean_return is not None), default=0.0))
            for group in groups:
                group.hyperscore = _hyperscore(group, targets[env], floor, hyperscore_params or {})
        if len({g.episodes_end for g in groups}) > 1:
            result.notes.append(f"{env}: evaluation episodes ended differently across methods ("
                                + "; ".join(f"{g.method}: {g.episodes_end}" for g in groups)
                                + "): returns do not compare, success rates and steps to a success target do")
        ppo = next((g for g in groups if g.method == "ppo"), None)
        for group in groups:
            if ppo is not None and group is not ppo:
                group.vs_ppo = _versus(group, ppo)
        result.groups += groups
    return result


def _group(env: str, method: str, runs: list[RunRecord], target: Target | None) -> GroupResult:
    reached = [first_reaching(r.curve, target) if target else None for r in runs]
    tokens = [(r.summary.get("prompt_tokens") or 0) + (r.summary.get("completion_tokens") or 0) for r in runs]
    return GroupResult(
        env=env, method=method, runs=[r.path.name for r in runs], seeds=[r.seed for r in runs],
        final_return=Summary.of([final_return(r) for r in runs]),
        final_return_std=Summary.spread([final_return(r) for r in runs]),
        final_success=Summary.of([final_success(r) for r in runs]),
        steps_to_target=[p.env_steps if p else None for p in reached],
        episodes_to_target=[p.episodes if p else None for p in reached],
        spent=[r.summary.get("env_steps") or (max(p.env_steps for p in r.curve) if r.curve else None) for r in runs],
        wall_time_s=Summary.of([r.summary.get("wall_time_s") for r in runs]),
        llm_calls=Summary.of([r.summary.get("llm_calls") for r in runs]),
        tokens=Summary.of(tokens), cost_usd=Summary.of([r.summary.get("cost_usd") for r in runs]),
        episodes_end=_ending({r.end_at_success for r in runs}),
        auc=Summary.of([float(np.mean([p.mean_return for p in r.curve if p.mean_return is not None]))
                        if any(p.mean_return is not None for p in r.curve) else None for r in runs]),
        eval_every=sorted({r.eval_every for r in runs if r.eval_every is not None}))


def final_return(run: RunRecord) -> float | None:
    """A training's final return as its summary states it (a search's: its best trial's last evaluation), else
    the last point of its curve (a policy run: its best candidate)."""
    if "final_return" in run.summary:
        return run.summary["final_return"]
    return run.final.mean_return if run.final else None


def final_success(run: RunRecord) -> float | None:
    if "final_success_rate" in run.summary:
        return run.summary["final_success_rate"]
    return run.final.success_rate if run.final else None


def _ending(rules: set[bool]) -> str:
    return "mixed" if len(rules) > 1 else "at the first success" if True in rules else "after all their steps"


def _versus(group: GroupResult, ppo: GroupResult) -> dict:
    """How many times fewer env steps than PPO the method needed to reach the target, the fraction
    of PPO's steps it saved (with the test's interval), and a test across seeds. A seed that did
    not reach the target counts as the steps it spent: a lower bound on what it would have needed."""
    if group.reached == 0 and ppo.reached == 0:
        return {"ratio": None, "saved": None, "saved_ci95": None, "test": None, "p_value": None,
                "note": "not reached by both"}
    ours = {s: v for s, v in zip(group.seeds, group.steps_or_spent()) if v is not None}
    theirs = {s: v for s, v in zip(ppo.seeds, ppo.steps_or_spent()) if v is not None}
    paired = (None not in ours and set(ours) == set(theirs) and len(ours) == len(group.seeds) == len(ppo.seeds))
    seeds = sorted(ours, key=str)
    fast = [ours[s] for s in seeds] if paired else list(ours.values())
    slow = [theirs[s] for s in seeds] if paired else list(theirs.values())
    diff = compare_samples(fast, slow, paired)
    lower_bound = group.reached < len(group.runs) or ppo.reached < len(ppo.runs)
    note = f"{group.reached}/{len(group.runs)} vs {ppo.reached}/{len(ppo.runs)} seeds reached"
    if lower_bound:
        note += "; a seed that did not reach counts as the steps it spent (a lower bound)"
    return {"ratio": diff.ratio, "saved": diff.saved, "saved_ci95": list(diff.saved_ci) if diff.saved_ci else None,
            "test": diff.test, "statistic": diff.statistic, "p_value": diff.p_value, "lower_bound": lower_bound,
            "note": note}


def _hyperscore(group: GroupResult, target: Target | None, floor: float, params: dict) -> float | None:
    if target is not None and target.metric == "success_rate":
        v = group.final_success.mean
    elif target is not None and group.final_return.mean is not None and target.threshold > floor:
        v = (group.final_return.mean - floor) / (target.threshold - floor)
    else:
        return None
    return None if v is None else hyperscore(min(1.0, max(1e-6, v)), **params)


def to_json(result: Comparison) -> dict:
    def summary(s: Summary) -> dict:
        return {"mean": s.mean, "ci95": list(s.ci) if s.ci else None, "values": s.values}

    def group(g: GroupResult) -> dict:
        reached = g.reached_steps()
        return {
            "env": g.env, "method": g.method, "runs": g.runs, "seeds": g.seeds,
            "final_return": summary(g.final_return), "final_return_std": summary(g.final_return_std),
            "final_success_rate": summary(g.final_success),
            "steps_to_target": g.steps_to_target, "episodes_to_target": g.episodes_to_target, "env_steps": g.spent,
            "reached": f"{g.reached}/{len(g.runs)}", "mean_steps_to_target": reached.mean,
            "steps_to_target_ci95": list(reached.ci) if reached.ci else None,
            "wall_time_s": summary(g.wall_time_s), "llm_calls": summary(g.llm_calls), "tokens": summary(g.tokens),
            "cost_usd": summary(g.cost_usd), "hyperscore": g.hyperscore, "vs_ppo": g.vs_ppo,
            "episodes_end": g.episodes_end, "eval_every": g.eval_every, "auc": summary(g.auc), "n": len(g.runs)}

    return {"targets": result.targets, "groups": [group(g) for g in result.groups], "notes": result.notes,
            "grids": result.grids}
