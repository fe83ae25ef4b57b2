"""The offline proposer (no LLM) against PPO: same env-step budget, same evaluation protocol, 3 seeds.

For each env, promptpo runs with --model offline and --max-env-steps BUDGET (it stops early at
the env's target); PPO trains BUDGET steps with the RL Zoo's hyperparameters. Writes
benchmarks/results/offline.json and offline.png (run folders go to runs/benchmarks/offline/).

    python benchmarks/offline.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import promptpo
from promptpo.baselines.ppo import PPOConfig, run_seeds
from promptpo.views.compare import compare, load_run, to_json
from promptpo.views.plot import save

HERE = Path(__file__).resolve().parent
# Env-step budget per env: 100k, except MountainCarContinuous at the RL Zoo's own 20k.
BUDGETS = {"gymnasium/CartPole-v1": 100_000, "gymnasium/Pendulum-v1": 100_000,
           "gymnasium/MountainCarContinuous-v0": 20_000, "metaworld/reach": 100_000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--envs", nargs="*", default=list(BUDGETS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=Path, default=Path("runs") / "benchmarks" / "offline")
    args = parser.parse_args()
    started = time.monotonic()
    records, timings = [], {}
    for env in args.envs:
        budget = BUDGETS[env]
        out = args.runs / env.replace("/", "-")
        t0 = time.monotonic()
        for seed in range(args.seeds):
            result = promptpo.optimize(env, "offline", seed=seed, out=out, rounds=10_000, max_env_steps=budget)
            records.append(load_run(result.run_dir))
            print(f"{env} offline seed {seed}: {result.status}, best {result.score}, "
                  f"success {result.success_rate}, {result.summary['env_steps']} env steps", flush=True)
        t1 = time.monotonic()
        eval_points = 10 if env.startswith("metaworld/") else 20
        for folder in run_seeds(PPOConfig(env, budget, eval_points, None, out), list(range(args.seeds)), args.workers):
            records.append(load_run(folder))
        timings[env] = {"offline_s": round(t1 - t0, 1), "ppo_s": round(time.monotonic() - t1, 1), "budget": budget}
        print(f"{env}: offline {timings[env]['offline_s']} s, ppo {timings[env]['ppo_s']} s", flush=True)
    comparison = compare(records, with_hyperscore=True)
    plot = save(records, HERE / "results" / "offline.png", comparison)
    report = {"benchmark": "offline", "seeds": args.seeds, "budgets": BUDGETS, "timings": timings,
              "wall_time_s": round(time.monotonic() - started, 1), "plot": plot.name, **to_json(comparison)}
    (HERE / "results" / "offline.json").write_text(json.dumps(report, indent=2) + "\n")
    for group in comparison.groups:
        print(f"{group.env} {group.method}: steps to target {group.steps_to_target}, final return "
              f"{group.final_return.mean}, final success {group.final_success.mean}")


if __name__ == "__main__":
    main()
