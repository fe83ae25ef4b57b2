"""`promptpo verify` on a schedule run: re-train with the schedule on fresh seeds, one run folder per seed.

Each fresh seed's folder is laid out like a `promptpo baseline ppo` run of that seed (the same training seed,
the same evaluation episodes, the same evaluation grid), so `compare` pairs the schedule with static PPO seed by
seed. The verdict tests what the run optimised (its criterion: the area under the curve, or the env steps to
the target) one-sided: the recorded training is "a lucky seed" only when the fresh seeds score significantly
worse than it did (one-sample t-test at ``ALPHA``).
"""

from __future__ import annotations

import time

import numpy as np

from promptpo.engine.store import RunStore, now_iso
from promptpo.errors import ConfigError
from promptpo.isolation import make_sandbox
from promptpo.records import RunFolder
from promptpo.stats import mean_ci

ALPHA = 0.05
"""Level of the one-sided test that calls the recorded training a lucky seed."""

KIND = "schedule-verify"


def fresh_seeds(run_seed: int, count: int, first: int | None) -> list[int]:
    """``count`` seeds from ``first`` (default: the one after the run's); the run's own seed is never fresh."""
    start = run_seed + 1 if first is None else first
    seeds = list(range(start, start + count))
    if run_seed in seeds:
        raise ConfigError(f"seed {run_seed} is the one the schedule was chosen on, so it is not fresh",
                          f"start the fresh seeds after it (--first-seed {run_seed + 1})")
    return seeds


def retrain(run: RunFolder, candidate_id: str | None, seeds: int = 5, first_seed: int | None = None,
            sandbox: str = "process", on_point=None) -> dict:
    """Train with the schedule once per fresh seed, each in its own run folder next to the run; record the
    verdict in the run's verifications/. ``on_point(seed, point)`` after every evaluation."""
    from promptpo.baselines.hyperparams import for_env
    from promptpo.baselines.ppo import append_point, curve_summary, run_id
    from promptpo.engine.launch import versions
    from promptpo.envs import load_spec
    from promptpo.envs.targets import target_for
    from promptpo.schedule.config import ScheduleConfig
    from promptpo.schedule.task import train

    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1 (got {seeds})")
    record = run.candidate(candidate_id)
    config = ScheduleConfig.from_record(run.meta["config"], run.path.parent)
    spec = load_spec(config.env)
    hp, target, code = for_env(spec.id), target_for(spec.id), run.code(record["id"])
    method = f"{run.meta.get('method') or 'promptpo schedule'} {record['id']} on fresh seeds"
    folders, trainings, fresh = [], [], fresh_seeds(config.seed, seeds, first_seed)
    for seed in fresh:
        store = RunStore.create(run.path.parent, run_id(spec.id, seed, "schedule-verify"), folders=())
        episodes = spec.episodes(seed, config.evaluation_episodes(spec), config.episode_secret)
        meta = {"id": store.root.name, "kind": KIND, "method": method, "env": spec.id, "seed": seed,
                "steps": config.steps, "source": {"run": run.path.name, "candidate": record["id"]},
                "hyperparams": hp.values, "hyperparams_source": hp.source,
                "eval": {"every": config.grid(hp), "episodes": episodes},
                "eval_every": config.grid(hp), "versions": versions(), "started": now_iso(), "ended": None,
                "status": "running"}
        store.write_json("run.json", meta)

        def point(p, std, seed=seed, store=store) -> None:
            append_point(store, p, std)
            if on_point is not None:
                on_point(seed, p)

        with make_sandbox(sandbox) as box:
            training, trainer = train(code, spec, hp, config, seed, episodes, box, target, on_point=point)
        status = "completed" if training.ok else "failed"
        reason = "" if training.ok else training.problem
        store.write_json("summary.json", curve_summary(store.root.name, spec.id, method, seed, status, reason, trainer,
                                                       auc=training.auc, steps_to_threshold=training.steps_to_threshold))
        store.event("run_end", status=status, reason=reason)
        store.write_json("run.json", {**meta, "ended": now_iso(), "status": status})
        folders.append(store.root)
        trainings.append(training)
    result = _verdict(record, config, trainings, target)
    result.update(run=run.path.name, candidate=record["id"], env=spec.id, seeds=fresh,
                  folders=[f.name for f in folders], method=method)
    store = RunStore(run.path)
    name = f"verifications/{record['id']}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    store.write_json(name, result)
    store.event("verification", candidate=record["id"], seeds=result["seeds"], gap=result["gap"], file=name,
                folders=result["folders"])
    return {**result, "file": name}


def _verdict(record: dict, config, trainings: list, target) -> dict:
    """The run's criterion on the fresh seeds against the recorded training's, one-sided."""
    score = record.get("score") or {}
    finals = [t.final.mean_return if t.final else None for t in trainings]
    aucs = [t.auc for t in trainings]
    if config.criterion == "steps":  # a seed that never reached the target counts as the whole training
        what, recorded = "env steps to the target", score.get("steps_to_threshold")
        recorded = config.steps if recorded is None else recorded
        values = [t.steps_to_threshold if t.steps_to_threshold is not None else config.steps for t in trainings]
        worse = "greater"
    else:
        what, recorded, values, worse = "area under the curve", score.get("auc"), aucs, "less"
    failed = [t.problem for t in trainings if not t.ok]
    base = {"criterion": config.criterion, "judged_on": what, "recorded": recorded, "verified": values,
            "verified_ci95": mean_ci([v for v in values if v is not None]),
            "recorded_final_return": score.get("mean_return"), "verified_final_returns": finals,
            "verified_aucs": aucs, "test": "", "p_value": None}
    if failed:
        return {**base, "gap": True, "verdict": f"the schedule did not run cleanly on a fresh seed ({failed[0]})",
                "outcome": "failed"}
    if recorded is None or len(values) < 2:
        return {**base, "gap": False, "verdict": f"too few fresh seeds to test the {what}"}
    test, p = "one-sided one-sample t-test", _one_sample(values, recorded, worse)
    mean = float(np.mean(values))
    if p < ALPHA:
        return {**base, "gap": True, "test": test, "p_value": p,
                "verdict": f"the fresh seeds' {what} {mean:,.1f} is significantly worse than the recorded "
                           f"{recorded:,.1f} ({test}, p={p:.3g}): a lucky seed"}
    return {**base, "gap": False, "test": test, "p_value": p,
            "verdict": f"the fresh seeds' {what} {mean:,.1f} is not significantly worse than the recorded "
                       f"{recorded:,.1f} ({test}, p={p:.3g})"}


def _one_sample(values: list[float], recorded: float, worse: str) -> float:
    """p-value that the fresh seeds' mean is worse than ``recorded`` (``worse``: the scipy alternative)."""
    from scipy.stats import ttest_1samp

    data = np.asarray(values, dtype=float)
    if np.all(data == data[0]):  # no spread: the test is undefined; the difference is the answer
        below = data[0] < recorded if worse == "less" else data[0] > recorded
        return 0.0 if below else 1.0
    return float(ttest_1samp(data, recorded, alternative=worse).pvalue)
