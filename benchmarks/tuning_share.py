"""Constant tuning's share of a run and what it buys: Hopper-v5, scripted answers that declare TUNABLE.

Runs `promptpo optimize gymnasium/Hopper-v5 --tune-constants` with the answers in
benchmarks/answers/hopper_tunable (standing PD controllers and hop cycles, one per round) under a 200,000-step
budget, and records per seed: tuning's share of the env steps, the best return, which candidate made it
(the model's or the tuner's), the phases and why each stopped. Writes benchmarks/results/tuning_share.json.

    python benchmarks/tuning_share.py [--seeds 0 1 2] [--rounds 6] [--max-env-steps 200000] [--tune-share 0.5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
ANSWERS = HERE / "answers" / "hopper_tunable"


def one_run(seed: int, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "runs"
        command = [sys.executable, "-m", "promptpo", "optimize", "gymnasium/Hopper-v5", "--model",
                   f"scripted:{ANSWERS}", "--rounds", str(args.rounds), "--candidates", "1", "--tune-constants",
                   "--max-env-steps", str(args.max_env_steps), "--seed", str(seed), "--out", str(out)]
        if args.tune_share is not None:
            command += ["--tune-share", str(args.tune_share)]
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"run failed ({proc.returncode}): {proc.stderr[-2000:]}")
        [run] = [p for p in out.iterdir() if p.is_dir()]
        summary = json.loads((run / "summary.json").read_text())
        events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines() if line.strip()]
        phases = [{k: e.get(k) for k in ("parent", "constants", "evaluations", "env_steps", "improved", "stopped")}
                  for e in events if e["event"] == "tuning"]
        best = json.loads((run / "candidates" / f"{summary['best_candidate']}.json").read_text())
        model_best = max((json.loads(p.read_text()) for p in (run / "candidates").glob("*.json")),
                         key=lambda c: -1e9 if c.get("kind") == "tuned" or not c.get("score")
                         else c["score"]["mean_return"])
        return {"seed": seed, "status": summary["status"], "env_steps": summary["env_steps"],
                "tuning_env_steps": summary["tuning_env_steps"],
                "tuning_share": round(summary["tuning_env_steps"] / max(1, summary["env_steps"]), 3),
                "llm_calls": summary["llm_calls"], "best": summary["best_candidate"], "best_kind": best["kind"],
                "best_return": summary["best_score"],
                "model_best_return": (model_best.get("score") or {}).get("mean_return"),
                "phases_sum_match": sum(p["env_steps"] for p in phases) == summary["tuning_env_steps"],
                "phases": phases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-env-steps", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=6, help="one scripted answer per round (6 are given)")
    parser.add_argument("--tune-share", type=float, default=None, help="default: promptpo's own")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "tuning_share.json")
    args = parser.parse_args()
    runs = [one_run(seed, args) for seed in args.seeds]
    result = {"benchmark": "tuning_share", "env": "gymnasium/Hopper-v5", "max_env_steps": args.max_env_steps,
              "rounds": args.rounds,
              "tune_share": args.tune_share, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for r in runs:
        print(f"seed {r['seed']}: tuning {r['tuning_env_steps']:,} of {r['env_steps']:,} env steps "
              f"({r['tuning_share']:.0%}), {r['llm_calls']} calls, best {r['best_return']:.1f} ({r['best_kind']}), "
              f"model's best {r['model_best_return']:.1f}")


if __name__ == "__main__":
    main()
