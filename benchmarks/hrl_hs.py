"""Episodes to target under one env-step budget: static PPO, Optuna, PBT, SAM-HRL-HS and promptpo's policy mode.

On CartPole-v1 (target 475), MountainCar-v0 (-110) and LunarLander-v3 (200), every method gets the same total
env-step budget per seed (every trial, population member and evaluation episode of a policy run counted) and
is evaluated on the same grid; episodes to target are the training episodes (policy mode: evaluation episodes)
spent until the first evaluation at the target, from `promptpo compare`.

Methods: static PPO with the RL Zoo's hyperparameters; Optuna TPE (median pruner); PBT (population 4); SAM-HRL-HS
with its learned manager; SAM-HRL-HS with a scripted LLM manager (a fixed rotation of worker choices over the whole
space: the --manager llm path with scripted answers, not a model); promptpo's policy mode with scripted answers
(hand-written programs: tests/answers/cartpole, benchmarks/answers/{mountaincar,lunarlander}; not a model).

    python benchmarks/hrl_hs.py [--seeds 3] [--jobs 2] [--envs CartPole-v1 ...] [--out benchmarks/results/hrl_hs.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent
BUDGETS = {  # env -> (total env steps per seed, steps of one trial, evaluation grid); whole rollouts of every method
    "CartPole-v1": (100_000, 10_240, 5_120),
    "MountainCar-v0": (204_800, 20_480, 10_240),
    "LunarLander-v3": (262_144, 65_536, 32_768),
}
ANSWERS = {"CartPole-v1": ROOT / "tests" / "answers" / "cartpole",
           "MountainCar-v0": HERE / "answers" / "mountaincar", "LunarLander-v3": HERE / "answers" / "lunarlander"}
PAPER = {  # SAM-HRL-HS's headline table: episodes to target, as printed
    "MAML": {"CartPole-v1": 3500, "MountainCar-v0": 7200, "LunarLander-v3": 12000},
    "REINFORCE": {"CartPole-v1": 5800, "MountainCar-v0": 10500, "LunarLander-v3": 18000},
    "SAM-HRL-HS": {"CartPole-v1": 1800, "MountainCar-v0": 3100, "LunarLander-v3": 5500},
}
METHODS = ("ppo", "optuna", "pbt", "hrl", "hrl-llm-scripted", "promptpo-scripted")
EVAL_EPISODES = 10
ROTATION = [{"worker": w, "region": 0} for w in ("tpe", "cmaes", "random")]


def command(method: str, env: str, seed: int, out: Path, scratch: Path) -> list[str]:
    steps, trial, grid = BUDGETS[env]
    env_id = f"gymnasium/{env}"
    common = ["--eval-episodes", str(EVAL_EPISODES), "--out", str(out)]
    if method == "ppo":
        return ["baseline", "ppo", env_id, "--steps", str(steps), "--seeds", "1", "--first-seed", str(seed),
                "--workers", "1", "--eval-every", str(grid), *common]
    if method == "optuna":
        return ["baseline", "optuna", env_id, "--steps", str(steps), "--trial-steps", str(trial), "--first-seed",
                str(seed), "--eval-every", str(grid), *common]
    if method == "pbt":
        return ["baseline", "pbt", env_id, "--steps", str(steps), "--interval", str(grid), "--population", "4",
                "--first-seed", str(seed), *common]
    if method.startswith("hrl"):
        extra = []
        if method == "hrl-llm-scripted":
            answers = scratch / f"manager-{env}-{seed}.jsonl"
            answers.write_text("".join(json.dumps({"content": json.dumps(ROTATION[i % 3])}) + "\n" for i in range(200)))
            extra = ["--manager", "llm", "--model", f"scripted:{answers}"]
        return ["baseline", "hrl", env_id, "--steps", str(steps), "--trial-steps", str(trial), "--first-seed", str(seed),
                "--eval-every", str(grid), *extra, *common]
    return ["optimize", env_id, "--model", f"scripted:{ANSWERS[env]}", "--seed", str(seed), "--rounds",
            str(len(list(ANSWERS[env].glob("*.md")))), "--candidates", "1", "--episodes", str(EVAL_EPISODES),
            "--max-env-steps", str(steps), "--no-library", "--out", str(out)]


def run(job: tuple[str, str, int], root: Path, scratch: Path) -> dict:
    method, env, seed = job
    out = root / method / env / f"seed-{seed}"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "promptpo", *command(method, env, seed, out, scratch)],
                          capture_output=True, text=True, env={**__import__("os").environ, "CI": "true"})
    print(f"{method:18s} {env:15s} seed {seed}: exit {done.returncode} in {time.monotonic() - started:.0f} s",
          flush=True)
    if done.returncode != 0:
        raise SystemExit(f"{method} on {env} seed {seed} failed:\n{done.stderr[-3000:]}")
    return {"method": method, "env": env, "seed": seed, "folder": str(next(out.iterdir()))}


def summarise(folders: list[str]) -> dict:
    from promptpo.views.compare import compare, find_runs
    from promptpo.stats import mean_ci

    records = find_runs(folders, Path("."))
    for record in records:  # one label per method, whatever the run calls itself
        record.method = Path(record.path).parts[-4]
    table = {}
    for group in compare(records, allow_different_grids=True).groups:
        reached = [e for e in group.episodes_to_target if e is not None]
        steps = [s for s in group.steps_to_target if s is not None]
        ci = mean_ci(reached)
        table.setdefault(group.env.split("/")[1], {})[group.method] = {
            "reached": f"{len(reached)}/{len(group.episodes_to_target)}",
            "episodes_to_target": group.episodes_to_target, "steps_to_target": group.steps_to_target,
            "mean_episodes": round(sum(reached) / len(reached), 1) if reached else None,
            "ci95_episodes": [round(ci[0], 1), round(ci[1], 1)] if ci else None,
            "mean_steps": round(sum(steps) / len(steps)) if steps else None,
            "final_return": round(group.final_return.mean, 2) if group.final_return.mean is not None else None}
    return table


def markdown(table: dict, seeds: int) -> str:
    envs = [e for e in BUDGETS if e in table]
    lines = ["| method | " + " | ".join(f"{e} (budget {BUDGETS[e][0]:,} steps)" for e in envs) + " |",
             "|---|" + "---|" * len(envs)]
    for method in METHODS:
        cells = []
        for env in envs:
            r = table[env].get(method)
            if r is None:
                cells.append("-")
            elif r["mean_episodes"] is None:
                cells.append(f"not reached (0/{seeds}; final return {r['final_return']})")
            else:
                ci = f" [{r['ci95_episodes'][0]:,.0f}, {r['ci95_episodes'][1]:,.0f}]" if r["ci95_episodes"] else ""
                cells.append(f"{r['mean_episodes']:,.0f}{ci} ({r['reached']})")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    for name, row in PAPER.items():
        lines.append(f"| paper: {name} | " + " | ".join(f"{row[e]:,}" for e in envs) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--envs", nargs="+", default=list(BUDGETS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--keep", type=Path, default=None, help="Keep the run folders here (default: a temp dir).")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "hrl_hs.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp) / "runs"
        jobs = [(m, e, s) for e in args.envs for m in args.methods if m != "pbt" for s in range(args.seeds)]
        with ThreadPoolExecutor(args.jobs) as pool:  # PBT starts its own Ray on every core: run it alone, after
            done = list(pool.map(lambda job: run(job, root, Path(tmp)), jobs))
        done += [run(("pbt", e, s), root, Path(tmp)) for e in args.envs for s in range(args.seeds)
                 if "pbt" in args.methods]
        table = summarise([d["folder"] for d in done])
    result = {"benchmark": "hrl_hs", "seeds": args.seeds, "budgets": {e: BUDGETS[e] for e in args.envs},
              "eval_episodes": EVAL_EPISODES, "table": table, "paper": PAPER, "markdown": markdown(table, args.seeds),
              "note": "episodes to target: mean over the seeds that reached it, 95% Student-t interval, (reached/seeds); "
                      "promptpo-scripted and hrl-llm-scripted are scripted, not a model"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(result["markdown"])


if __name__ == "__main__":
    main()
