"""Sample efficiency: promptpo and PPO on the same envs, budget and evaluation protocol, K seeds.

promptpo runs with --model (default: the scripted answers the tests use for that env, which is
a replay, not a live LLM); PPO trains with the RL Zoo's hyperparameters. Seeds are 0..K-1 for
both, so evaluation episodes match (the test is still Welch's: the two methods share no randomness). Writes
benchmarks/results/sample_efficiency_<env>.json and .png (run folders go to runs/benchmarks/).

    python benchmarks/sample_efficiency.py gymnasium/CartPole-v1 [--seeds 3] [--ppo-steps 100000]
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
ANSWERS = HERE.parent / "tests" / "answers"
SCRIPTED = {"gymnasium/CartPole-v1": "cartpole", "metaworld/reach": "reach", "minigrid/DoorKey-5x5": "doorkey"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("envs", nargs="+")
    parser.add_argument("--model", default=None, help="LLM backend for promptpo (default: scripted answers)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--ppo-steps", type=int, default=100_000)
    parser.add_argument("--eval-points", type=int, default=20)
    parser.add_argument("--eval-episodes", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=Path, default=Path("runs") / "benchmarks")
    args = parser.parse_args()
    for env in args.envs:
        started = time.monotonic()
        model = args.model or f"scripted:{ANSWERS / SCRIPTED[env]}"
        out = args.runs / env.replace("/", "-")
        folders = []
        for seed in range(args.seeds):
            result = promptpo.optimize(env, model, seed=seed, out=out, max_env_steps=args.ppo_steps)
            folders.append(result.run_dir)
            print(f"promptpo seed {seed}: {result.status}, best {result.score}, {result.summary['env_steps']} env steps")
        ppo_started = time.monotonic()
        config = PPOConfig(env, args.ppo_steps, args.eval_points, args.eval_episodes, out)
        folders += run_seeds(config, list(range(args.seeds)), args.workers)
        ppo_wall = time.monotonic() - ppo_started
        records = [load_run(f) for f in folders]
        comparison = compare(records, with_hyperscore=True)
        name = env.replace("/", "_")
        plot = save(records, HERE / "results" / f"sample_efficiency_{name}.png", comparison)
        report = {"benchmark": "sample_efficiency", "env": env, "promptpo_model": model, "seeds": args.seeds,
                  "ppo_steps": args.ppo_steps, "eval_points": args.eval_points,
                  "wall_time_s": round(time.monotonic() - started, 1), "ppo_wall_time_s": round(ppo_wall, 1),
                  "plot": plot.name, **to_json(comparison)}
        path = HERE / "results" / f"sample_efficiency_{name}.json"
        path.write_text(json.dumps(report, indent=2) + "\n")
        for group in comparison.groups:
            print(f"{env} {group.method}: steps to target {group.steps_to_target}, final return "
                  f"{group.final_return.mean}, vs ppo {group.vs_ppo}")
        print(f"wrote {path} and {plot} in {report['wall_time_s']} s")


if __name__ == "__main__":
    main()
