"""Adaptive hyperparameters for PPO vs static ones, under one total env-step budget per seed.

Methods (seeds 0..K-1, every env step of every training counted): static PPO (RL Zoo values);
schedule mode with scripted answers (an annealing / KL-adaptive schedule, 2 rounds x 2
candidates); schedule mode with the offline proposer (CMA-ES over a parameterised schedule, one
generation); online mode with scripted answers (11 decisions: before training and every tenth); Optuna TPE (4 trials, median
pruner); Ray Tune PBT (population 4). Every method is evaluated on one grid (the budget / 20 in whole
rollouts; PBT once per interval of that length). Writes benchmarks/results/schedules.json and .png.

    python benchmarks/schedules.py [--seeds 5] [--envs gymnasium/CartPole-v1 gymnasium/Pendulum-v1]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ANSWERS = HERE / "answers"
BUDGET = {"gymnasium/CartPole-v1": 100_000, "gymnasium/Pendulum-v1": 100_000}


def grid(env: str, budget: int) -> int:
    """The one evaluation grid of every method: the budget / 20, in whole rollouts (PPO's default)."""
    from promptpo.baselines.hyperparams import for_env
    from promptpo.baselines.ppo import PPOConfig

    return PPOConfig(env, budget).grid(for_env(env))


def one_seed(env: str, seed: int, out: str, budget: int) -> list[str]:
    """Every method but PBT for one seed (PBT needs Ray and runs in the parent), all on one evaluation grid."""
    from promptpo.baselines.ppo import PPOConfig, train
    from promptpo.baselines.tuners import SearchConfig, run_optuna
    from promptpo.api import run_schedule
    from promptpo.schedule.task import ScheduleConfig

    folder, every = Path(out), grid(env, budget)
    runs = [train(PPOConfig(env, budget, out=folder, eval_every=every), seed)]
    runs.append(run_schedule(ScheduleConfig(env=env, model=f"scripted:{ANSWERS / 'schedule'}", steps=budget // 4,
                                            rounds=2, candidates=2, eval_every=every, seed=seed, out=folder)))
    runs.append(run_schedule(ScheduleConfig(env=env, model="offline", steps=budget // 8, rounds=1, candidates=4,
                                            eval_every=every, seed=seed, out=folder)))
    runs.append(run_schedule(ScheduleConfig(env=env, model=f"scripted:{ANSWERS / 'online.jsonl'}", steps=budget,
                                            online=True, interval=budget // 10, eval_every=every, seed=seed,
                                            out=folder)))
    runs.append(run_optuna(SearchConfig(env, budget, budget // 4, eval_every=every, out=folder), seed))
    return [str(r) for r in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--envs", nargs="*", default=list(BUDGET))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget", type=int, default=None, help="Override every env's budget (smoke tests).")
    parser.add_argument("--runs", type=Path, default=Path("runs") / "benchmarks" / "schedules")
    args = parser.parse_args()
    if args.budget:
        BUDGET.update({env: args.budget for env in BUDGET})

    import multiprocessing

    import ray

    from promptpo.baselines.tuners import SearchConfig, run_pbt, start_ray
    from promptpo.views.compare import compare, load_run, to_json
    from promptpo.views.plot import save

    started, folders, timings = time.monotonic(), [], {}
    for env in args.envs:
        t0 = time.monotonic()
        out = args.runs / env.replace("/", "-")
        with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for runs in pool.map(one_seed, [env] * args.seeds, range(args.seeds), [str(out)] * args.seeds,
                                 [BUDGET[env]] * args.seeds):
                folders += [Path(r) for r in runs]
        t1 = time.monotonic()
        start_ray(num_cpus=args.workers)
        try:
            for seed in range(args.seeds):
                folders.append(run_pbt(SearchConfig(env, BUDGET[env], grid(env, BUDGET[env]), population=4, out=out),
                                       seed))  # PBT evaluates once per interval: the interval is the grid
        finally:
            ray.shutdown()
        timings[env] = {"methods_but_pbt_s": round(t1 - t0, 1), "pbt_s": round(time.monotonic() - t1, 1)}
        print(f"{env}: {timings[env]}", flush=True)
    records = [load_run(f) for f in folders]
    comparison = compare(records, with_hyperscore=False)
    report = {"benchmark": "schedules", "seeds": args.seeds, "budgets": BUDGET, "timings": timings,
              "wall_time_s": round(time.monotonic() - started, 1), **to_json(comparison)}
    save(records, HERE / "results" / "schedules.png", comparison)
    (HERE / "results" / "schedules.json").write_text(json.dumps(report, indent=2) + "\n")
    for g in comparison.groups:
        print(f"{g.env} {g.method}: steps to target {g.steps_to_target} (mean {g.mean_steps()}), final return "
              f"{g.final_return.mean} CI {g.final_return.ci}, vs ppo {g.vs_ppo}")


if __name__ == "__main__":
    main()
