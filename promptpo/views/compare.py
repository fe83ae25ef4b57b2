"""``promptpo compare``: runs grouped by environment and method, with statistics across seeds.

A promptpo run's curve is its best-so-far score over the env steps its evaluations used; a PPO
run's curve is its periodic evaluation. Steps to target are read off those curves ("not reached"
stays that, never a number); final scores get Student-t intervals and their spread across seeds (robustness)
chi-square ones, the intervals the t-tests below invert, so they agree at any n. Methods are compared to PPO on steps to target, where a seed
that never reached the target counts as the whole budget it spent (a lower bound, so a method
cannot look fast by failing): the ratio, the fraction of PPO's steps saved with the test's interval of
the difference (over PPO's mean), and Welch's t-test across seeds (never paired by seed number: promptpo's seed k
and PPO's seed k share no randomness, so the samples are independent).

A group's sample is the distinct seeds of one method (promptpo.records.facts.Method: the model string, a scripted
run's answer set, and the settings that make another method): a second run of a seed is a repeat, not a seed, and
a run that did not finish (interrupted, still running, stopped short of its steps) is left out unless asked for
(promptpo.views.samples); ``Comparison.excluded`` says which runs were left out and why. Runs are read by promptpo.records, and their
curves, best and steps to target are its facts, so compare shows what every other view shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from promptpo.envs.targets import RETURN_FLOOR, target_for
from promptpo.envspec import Target
from promptpo.views.samples import RunRecord, find_runs, load_run, record_of, samples
from promptpo.stats import compare_samples, first_reaching, hyperscore, mean_ci, sample_std, std_ci

__all__ = ["Comparison", "GroupResult", "RunRecord", "Summary", "compare", "find_runs", "load_run", "record_of",
           "samples", "to_json"]
"""RunRecord, find_runs, load_run, record_of and samples live in promptpo.views.samples; compare's callers find them
here too."""


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
    excluded: list[str] = field(default_factory=list)
    """Runs left out of the groups, each with why (not finished, a repeat of a seed)."""
    runs: list[RunRecord] = field(default_factory=list)
    """The runs the groups sample (what a plot of the comparison draws)."""


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
            hyperscore_params: dict | None = None, include_unfinished: bool = False) -> Comparison:
    """``hyperscore_params``: beta, gamma, kappa for the HyperScore column (default: promptpo.stats' values), e.g.
    those an hrl run fitted (promptpo.baselines.hyperscore). Groups sample distinct seeds of finished runs
    (``samples``); what was left out is in ``excluded``."""
    records, excluded = samples(records, include_unfinished)
    envs = sorted({r.env for r in records})
    targets = {env: target_for(env) for env in envs}
    result = Comparison({env: t.describe() if t else None for env, t in targets.items()})
    result.excluded, result.runs = excluded, records
    result.grids = check_grids(records, allow_different_grids)
    for env, grids in result.grids.items():
        if len(grids) > 1:
            result.notes.append(f"{env}: evaluated at different intervals ({', '.join(f'{g:,}' for g in grids)} env "
                                "steps): steps to target are only as fine as each run's grid")
    for env in envs:
        methods = sorted({r.method for r in records if r.env == env}, key=lambda m: (not _is_ppo(m), m))
        horizon = max((r.facts.env_steps for r in records if r.env == env), default=0)
        groups = [_group(env, m, [r for r in records if r.env == env and r.method == m], targets[env], horizon)
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
        ppos = [g for g in groups if _is_ppo(g.method)]
        ppo = max(ppos, key=lambda g: len(g.runs), default=None)
        if len(ppos) > 1:
            result.notes.append(f"{env}: several PPO baselines ({'; '.join(g.method for g in ppos)}): methods are "
                                f"compared with {ppo.method}, the one with the most seeds")
        for group in groups:
            if ppo is not None and group is not ppo:
                group.vs_ppo = _versus(group, ppo)
        result.groups += groups
    return result


def _is_ppo(method: str) -> bool:
    return method == "ppo" or method.startswith("ppo [")


def _group(env: str, method: str, runs: list[RunRecord], target: Target | None, horizon: int = 0) -> GroupResult:
    reached = [first_reaching(r.curve, target) if target else None for r in runs]
    tokens = [(r.summary.get("prompt_tokens") or 0) + (r.summary.get("completion_tokens") or 0) for r in runs]
    return GroupResult(
        env=env, method=method, runs=[r.path.name for r in runs], seeds=[r.seed for r in runs],
        final_return=Summary.of([final_return(r) for r in runs]),
        final_return_std=Summary.spread([final_return(r) for r in runs]),
        final_success=Summary.of([final_success(r) for r in runs]),
        steps_to_target=[p.env_steps if p else None for p in reached],
        episodes_to_target=[p.episodes if p else None for p in reached],
        spent=[_spent(r) for r in runs],
        wall_time_s=Summary.of([r.summary.get("wall_time_s") for r in runs]),
        llm_calls=Summary.of([_calls(r) for r in runs]),
        tokens=Summary.of(tokens), cost_usd=Summary.of([r.summary.get("cost_usd") for r in runs]),
        episodes_end=_ending({r.end_at_success for r in runs}),
        auc=Summary.of([_area(r, horizon) for r in runs]),
        eval_every=sorted({r.eval_every for r in runs if r.eval_every is not None}))


def _spent(run: RunRecord) -> int:
    return run.facts.env_steps


def _calls(run: RunRecord) -> int | None:
    """LLM calls answered, counted from the recorded answers (a summary written before calls were counted when
    answered counted those sent); the summary's count for a folder that keeps no calls."""
    if run.facts.calls_kept:
        return run.facts.calls_answered
    return run.summary.get("llm_calls")


def _area(run: RunRecord, horizon: int) -> float | None:
    """The mean of the run's curve over 0..``horizon`` env steps (the most any run of its env spent): the same
    span for every method, each curve held at its last value (promptpo.records.facts.Facts.area)."""
    return run.facts.area(horizon or None)


def final_return(run: RunRecord) -> float | None:
    """What the run delivers (promptpo.records.facts): a training's final return as measured (a search's: its best
    trial's), a program run's best's mean return."""
    return run.facts.final_return


def final_success(run: RunRecord) -> float | None:
    return run.facts.final_success


def _ending(rules: set[bool]) -> str:
    return "mixed" if len(rules) > 1 else "at the first success" if True in rules else "after all their steps"


def _versus(group: GroupResult, ppo: GroupResult) -> dict:
    """How many times fewer env steps than PPO the method needed to reach the target, the fraction
    of PPO's steps it saved (with the test's interval), and a test across seeds. A seed that did
    not reach the target counts as the steps it spent: a lower bound on what it would have needed. The test is
    Welch's: the two samples are independent whatever their seed numbers."""
    if group.reached == 0 and ppo.reached == 0:
        return {"ratio": None, "saved": None, "saved_ci95": None, "test": None, "p_value": None,
                "note": "not reached by both"}
    fast = [v for v in group.steps_or_spent() if v is not None]
    slow = [v for v in ppo.steps_or_spent() if v is not None]
    diff = compare_samples(fast, slow, paired=False)  # seed k of promptpo and of PPO share no randomness: Welch's
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
            "grids": result.grids, "excluded": result.excluded}
