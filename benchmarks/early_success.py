"""Env steps that carry no information: ending episodes at success and cascade evaluation, off vs on.

Each case runs twice per seed with the same answers and seeds: "before" (``--full-episodes
--cascade 0``, every candidate on every step of every episode) and "after" (the defaults: episodes end
at their first success where the target is a success rate, and a 2-episode first stage). Reported per
case: env steps to the target (read off the run's best-so-far curve; a seed that never reached it counts
all the steps it spent, a lower bound, and the reached counts are given) and the
best candidate's verified score on fresh episodes (`promptpo verify`: Meta-World 50 fresh goals,
CartPole 100 fresh seeds), each run's episodes ending as it ended them. Scripted answers are a replay
of fixed answers (tests/answers), not a live LLM. Writes benchmarks/results/early_success.json and .png.

    python benchmarks/early_success.py [--seeds 3] [--cases reach,push,...] [--runs runs/benchmarks/early_success]

Runs already finished and verified in --runs are reused, so an interrupted benchmark picks up where it stopped.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import promptpo
from promptpo.views.compare import load_run
from promptpo.envs import load_spec
from promptpo.records import RunFolder
from promptpo.stats import first_reaching
from promptpo.policy.verify import verify

HERE = Path(__file__).resolve().parent
ANSWERS = HERE.parent / "tests" / "answers"
CASES = {  # name: (env, model, options)
    "reach": ("metaworld/reach", f"scripted:{ANSWERS / 'reach'}", {"episodes": 10, "candidates": 1}),
    "push": ("metaworld/push", f"scripted:{ANSWERS / 'push'}", {"episodes": 10, "candidates": 1}),
    "pick-place": ("metaworld/pick-place", f"scripted:{ANSWERS / 'pick_place'}", {"episodes": 10, "candidates": 1}),
    "offline-cartpole": ("gymnasium/CartPole-v1", "offline", {}),
    "offline-reach": ("metaworld/reach", "offline", {}),
    "offline-reach-cascade1": ("metaworld/reach", "offline", {"cascade": 1}),
    "tune-reach": ("metaworld/reach", f"scripted:{ANSWERS / 'reach_mistuned'}",
                   {"rounds": 1, "candidates": 1, "tune_constants": True}),
}
VARIANTS = {"before": {"full_episodes": True, "cascade": 0}, "after": {}}
SAME_BEFORE = {"offline-reach-cascade1": "offline-reach"}
"""Cases whose "before" run is another case's (the options they differ in are off before)."""


def one(case: str, variant: str, seed: int, out: Path) -> dict:
    """Run (or, when a finished and verified run of this case, variant and seed is in ``out``, reuse) one."""
    env, model, options = CASES[case]
    started = time.monotonic()
    where = out / (SAME_BEFORE.get(case, case) if variant == "before" else case) / variant
    folder = finished(where, seed)
    if folder is None:
        result = promptpo.optimize(env, model, seed=seed, out=where, **options, **VARIANTS[variant])
        folder = RunFolder(result.run_dir)
        if result.best_candidate is not None:
            verify(folder, None, None)
    summary = folder.summary
    reached = first_reaching(load_run(folder.path).curve, load_spec(env).target)
    row = {"case": case, "variant": variant, "seed": seed, "run": folder.path.name, "status": summary["status"],
           "env_steps": summary["env_steps"], "steps_to_target": reached.env_steps if reached else None,
           "llm_calls": summary["llm_calls"], "best": summary["best_candidate"],
           "recorded_success": summary.get("best_success_rate"), "recorded_return": summary.get("best_score"),
           "verified_success": None, "verified_return": None, "wall_time_s": round(time.monotonic() - started, 1)}
    checks = sorted((folder.path / "verifications").glob("*.json")) if summary["best_candidate"] else []
    if checks:
        checked = json.loads(checks[-1].read_text())
        row.update(verified_success=checked["verified"]["success_rate"],
                   verified_return=checked["verified"]["mean_return"],
                   verified_episodes_end_at_success=checked.get("end_at_success"))
    return row


def finished(out: Path, seed: int) -> RunFolder | None:
    """A run of ``seed`` under ``out`` that ended (and, if it has a best, was verified)."""
    for path in sorted(out.glob("*/run.json")) if out.is_dir() else []:
        folder = RunFolder(path.parent)
        summary = folder.summary
        ended = summary.get("status") in ("target_reached", "completed", "budget_exhausted", "answers_exhausted")
        if folder.meta.get("config", {}).get("seed") != seed or not ended:
            continue
        if summary.get("best_candidate") is None or any((path.parent / "verifications").glob("*.json")):
            return folder
    return None


def summarize(rows: list[dict]) -> list[dict]:
    table = []
    for case in dict.fromkeys(r["case"] for r in rows):
        line = {"case": case, "env": CASES[case][0], "model": CASES[case][1].split(":")[0]}
        for variant in VARIANTS:
            mine = [r for r in rows if r["case"] == case and r["variant"] == variant]
            steps = [r["steps_to_target"] for r in mine]
            kept = [s for s in steps if s is not None]
            spent = [s if s is not None else r["env_steps"] for s, r in zip(steps, mine)]
            line[variant] = {
                "reached": f"{len(kept)}/{len(mine)}", "steps_to_target": steps,
                "mean_steps_to_target": float(np.mean(kept)) if kept else None,
                "mean_steps_or_spent": float(np.mean(spent)) if spent else None,
                "mean_env_steps": float(np.mean([r["env_steps"] for r in mine])),
                "verified_success": _mean([r["verified_success"] for r in mine]),
                "verified_return": _mean([r["verified_return"] for r in mine])}
        b, a = line["before"]["mean_steps_or_spent"], line["after"]["mean_steps_or_spent"]
        line["fewer_steps"] = b / a if a and b else None
        """Mean over seeds of the steps to target, a seed that never reached it counting all it spent."""
        paired = [(x, y) for x, y in zip(line["before"]["steps_to_target"], line["after"]["steps_to_target"])
                  if x is not None and y is not None]
        line["fewer_steps_where_both_reached"] = (float(np.mean([x for x, _ in paired]) / np.mean([y for _, y in paired]))
                                                  if paired else None)
        line["lost"] = sum(x is not None and y is None for x, y in zip(line["before"]["steps_to_target"],
                                                                        line["after"]["steps_to_target"]))
        """Seeds that reached the target before and not after (the floor: none)."""
        table.append(line)
    return table


def _mean(values):
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def plot(table: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    x = np.arange(len(table))
    for offset, variant, label in ((-0.2, "before", "full episodes, no cascade"), (0.2, "after", "end at success + cascade (2 episodes; 1 where named)")):
        values = [t[variant]["mean_steps_or_spent"] or 0 for t in table]
        bars = ax.bar(x + offset, values, 0.4, label=label)
        for bar, t in zip(bars, table):
            ax.annotate(t[variant]["reached"], (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(x, [f"{t['case']}\n{t['fewer_steps']:.1f}x fewer" if t["fewer_steps"] else t["case"] for t in table],
                  fontsize=8)
    ax.set_ylabel("env steps to target (mean over seeds; not reached: all spent)")
    ax.set_title("promptpo: env steps to target before and after early success + cascade")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--runs", type=Path, default=Path("runs") / "benchmarks" / "early_success")
    args = parser.parse_args()
    rows = []
    started = time.monotonic()
    for case in args.cases.split(","):
        for seed in range(args.seeds):
            for variant in VARIANTS:
                rows.append(one(case, variant, seed, args.runs))
                r = rows[-1]
                print(f"{case} {variant} seed {seed}: {r['status']}, steps to target {r['steps_to_target']}, "
                      f"env steps {r['env_steps']}, verified success {r['verified_success']}, {r['wall_time_s']} s",
                      flush=True)
    table = summarize(rows)
    result = {"benchmark": "early_success", "seeds": args.seeds, "variants": VARIANTS,
              "wall_time_s": round(time.monotonic() - started, 1), "table": table, "runs": rows}
    path = HERE / "results" / "early_success.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    plot(table, HERE / "results" / "early_success.png")
    for t in table:
        b, a = t["before"], t["after"]
        print(f"{t['case']}: steps to target (not reached: spent) {b['mean_steps_or_spent']} -> "
              f"{a['mean_steps_or_spent']} ({t['fewer_steps'] and round(t['fewer_steps'], 1)}x), verified success "
              f"{b['verified_success']} -> {a['verified_success']}, reached {b['reached']} -> {a['reached']}, "
              f"lost {t['lost']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
