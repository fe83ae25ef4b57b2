"""Residual fine-tuning on top of a real model's programs, against learners from scratch, at the same total env
steps (the program's LLM and tuning phase included).

    # the runs (each resumable: an interrupted one continues, a finished one with the same base program is skipped)
    python benchmarks/residual.py run --env gymnasium/Hopper-v5 --base RUN_FOLDER --steps 150000 --seeds 0 1 \\
        --methods td3-residual sac-scratch --out /work/bench-residual
    # the table, JSON and plot from whatever finished (plus the runs the results file already holds)
    python benchmarks/residual.py report --out /work/bench-residual

Methods: ``td3-residual`` (no penalty on the correction), ``td3-residual-s0.4`` (a residual scale of 0.4, no
penalty), ``td3-residual-penalty`` (the correction penalized, ``--penalty 1``), ``td3-residual-penalty0.1``
(promptpo finetune's default, ``--penalty 0.1``), ``td3-residual-s0.3-penalty0.1`` (the same at a residual scale
of 0.3), ``td3-residual-s1`` (a correction as large as the action's half-range, no penalty: TD3 that starts
from the program), ``td3-residual-s1-free`` (the same, never rolled back: ``--rollback 1e9``; the result is still
the better of base and fine-tuned), ``td3-residual-s1-wide`` (that, with a warm-up of wider corrections,
``--noise 0.3``, and TD3 scratch's exploration noise of 0.1), ``td3-residual-s1-ramp`` (that, with the actor's
largest correction growing from a tenth of the half-range to all of it over the first 100k actor steps:
``--ramp 100000``), ``td3-residual-s1-ramp-penalty0.1`` (that, with the default penalty and roll-back),
``td3-residual-s1-ramp-penalty0.1-warm`` (that, with the actor's learning rate growing from 0 over its first 20k steps:
``--actor-warmup 20000``), ``td3-residual-s1-ramp-penalty0.1-norm`` (the ramp and penalty with a LayerNorm critic:
``--critic-norm``), ``td3-residual-s1-ramp-penalty0.1-gamma0.999`` (the ramp and penalty with a discount of
0.999 instead of TD3's 0.99, so the critic sees a fall hundreds of steps ahead), ``td3-residual-s1-ramp-penalty0.1-nstep5``
(that, at a discount of 0.995 with 5-step returns and 20k critic-only steps, so the values reach that far before
the actor moves), ``td3-residual-time`` (the default, the learner
also seeing the fraction of the episode gone: ``--inputs obs+base+time``), ``sac-residual``,
``naive-sac-residual`` (SAC with SB3's defaults otherwise: learning starts at 100 steps, entropy coefficient
from 1.0, no critic-only phase), and
``td3-scratch`` / ``sac-scratch`` / ``tqc-scratch`` (`promptpo baseline ALGO`, trained for the base's env steps
plus ``--steps``, so every curve ends at the same total), and ``continue-tuning``: the program's own constant tuning
continued for ``--steps`` (an optimize run whose every answer is the base program, ``--tune-constants`` with all of
its env steps; its curve is the best so far, shifted by the base's env steps). The base programs' answers are
committed under benchmarks/answers/residual/ENV (a helper answering `--model manual` prompts; replay them with
``--model scripted:DIR``). Writes benchmarks/results/residual.json and residual.png.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
METHODS = {
    "td3-residual": dict(algo="td3", penalty=0.0),
    "td3-residual-s0.4": dict(algo="td3", residual_scale=0.4, penalty=0.0),
    "td3-residual-penalty": dict(algo="td3", penalty=1.0),
    "td3-residual-penalty0.1": dict(algo="td3", penalty=0.1),
    "td3-residual-s0.3-penalty0.1": dict(algo="td3", residual_scale=0.3, penalty=0.1),
    "td3-residual-s1": dict(algo="td3", residual_scale=1.0, penalty=0.0),
    "td3-residual-s1-free": dict(algo="td3", residual_scale=1.0, penalty=0.0, rollback=1e9),
    "td3-residual-s1-wide": dict(algo="td3", residual_scale=1.0, penalty=0.0, rollback=1e9, noise=0.3,
                                 options={"action_noise": 0.1}),
    "td3-residual-s1-ramp": dict(algo="td3", residual_scale=1.0, penalty=0.0, rollback=1e9, noise=0.3,
                                 options={"action_noise": 0.1}, ramp=100_000),
    "td3-residual-s1-ramp-penalty0.1": dict(algo="td3", residual_scale=1.0, penalty=0.1, noise=0.3,
                                            options={"action_noise": 0.1}, ramp=100_000),
    "td3-residual-s1-ramp-penalty0.1-warm": dict(algo="td3", residual_scale=1.0, penalty=0.1, noise=0.3,
                                                 options={"action_noise": 0.1}, ramp=100_000, actor_warmup=20_000),
    "td3-residual-s1-ramp-penalty0.1-norm": dict(algo="td3", residual_scale=1.0, penalty=0.1, noise=0.3,
                                                 options={"action_noise": 0.1}, ramp=100_000, critic_norm=True),
    "td3-residual-s1-ramp-penalty0.1-gamma0.999": dict(algo="td3", residual_scale=1.0, penalty=0.1, noise=0.3,
                                                       options={"action_noise": 0.1, "gamma": 0.999}, ramp=100_000),
    "td3-residual-s1-ramp-penalty0.1-nstep5": dict(algo="td3", residual_scale=1.0, penalty=0.1, noise=0.3,
                                                   critic_steps=20_000, ramp=100_000,
                                                   options={"action_noise": 0.1, "gamma": 0.995, "n_steps": 5}),
    "td3-residual-time": dict(algo="td3", penalty=0.1, inputs="obs+base+time"),
    "sac-residual": dict(algo="sac"),
    "naive-sac-residual": dict(algo="sac", warmup=100, critic_steps=0, options={"ent_coef": "auto"}),
    "continue-tuning": dict(tuning=True),
    "td3-scratch": dict(algo="td3", scratch=True),
    "sac-scratch": dict(algo="sac", scratch=True),
    "tqc-scratch": dict(algo="tqc", scratch=True),
}


def run(args: argparse.Namespace) -> None:
    from promptpo.finetune.base import read_base
    from promptpo.finetune.config import FinetuneConfig
    from promptpo.finetune.folder import resumable
    from promptpo.finetune.train import train
    from promptpo.records import RunFolder, run_folders

    base, env = read_base(str(args.base), None, args.base.parent)
    for method in args.methods:
        settings = dict(METHODS[method])
        scratch = settings.pop("scratch", False)
        out = args.out / method
        if settings.pop("tuning", False):
            for seed in args.seeds:
                continue_tuning(base, env, args.steps, seed, out)
            continue
        steps = args.steps + (base.env_steps if scratch else 0)
        config = FinetuneConfig(env=env, steps=steps, base=None if scratch else base, out=out,
                                eval_every=args.eval_every, **settings)
        for seed in args.seeds:
            mine = [RunFolder(p) for p in run_folders(out)] if out.exists() else []
            mine = [f for f in mine if f.meta.get("seed") == seed and f.meta.get("env") == env
                    and (f.meta.get("steps", 0) >= steps if scratch  # a longer one's curve holds it: constant rates
                         else sha(f.meta.get("base")) == sha(base.record()))]
            if any(f.summary.get("status") == "completed" for f in mine):
                print(f"{method} seed {seed}: done", file=sys.stderr)
                continue
            stopped = [f for f in mine if (f.path / "checkpoint.zip").exists()]
            print(f"{method} seed {seed}: {'resuming' if stopped else 'training'} {steps:,} steps", file=sys.stderr)
            if stopped:
                config_, seed_, store = resumable(stopped[0])
                train(config_, seed_, store=store)
            else:
                train(config, seed)


def continue_tuning(base, env: str, steps: int, seed: int, out: Path) -> None:
    """``steps`` more env steps of the program's own constant tuning (CMA-ES over its TUNABLE constants, as its run
    did): an optimize run answered by the base program every round, tuning allowed all of its env steps."""
    import promptpo
    from promptpo.policy.verify import verify
    from promptpo.records import RunFolder, run_folders

    bases = out / "bases.json"
    known = json.loads(bases.read_text()) if bases.exists() else {}
    mine = [RunFolder(p) for p in run_folders(out)] if out.exists() else []
    if any(f.meta.get("seed") == seed and f.meta.get("env") == env and sha(known.get(f.path.name)) == sha(base.record())
           for f in mine):
        print(f"continue-tuning seed {seed}: done", file=sys.stderr)
        return
    out.mkdir(parents=True, exist_ok=True)
    answers = out / f"answers-{env.replace('/', '-')}-{seed}.jsonl"
    answers.write_text((json.dumps({"content": f"```python\n{base.code}```"}) + "\n") * 300)
    print(f"continue-tuning seed {seed}: tuning {steps:,} steps", file=sys.stderr)
    result = promptpo.optimize(env, f"scripted:{answers}", rounds=300, candidates=1, episodes=3, cascade=0,
                               tune_constants=True, tune_share=1.0, tune_evals=30, max_env_steps=steps, seed=seed,
                               target=1e9, out=out, add_to_library=False)
    checked = verify(RunFolder(result.run_dir), None, 10)  # its best so far is a maximum over noisy evaluations
    known[result.run_dir.name] = {**base.record(), "verified_best": checked.verified.mean_return}
    bases.write_text(json.dumps(known, indent=1))


def sha(base: dict | None) -> str | None:
    """Which program a run started from (its SHA-256): two bases of one task are two rows and two panels."""
    return (base or {}).get("sha256")


def group(entry: dict) -> str:
    """A report row's runs: a residual's by its base program, a learner from scratch's by its budget."""
    return sha(entry["base"]) or f"{entry['steps']} steps"


def curves(out: Path) -> dict:
    """(env, method) -> each seed's curve (total env steps, mean return), the judged result and the base."""
    from promptpo.records import POLICY_KIND, RunFolder, run_folders

    found: dict = {}
    for method_dir in sorted(p for p in out.iterdir() if p.is_dir() and p.name in METHODS):
        recorded = method_dir / "bases.json"  # continue-tuning's: each run's base, and its best verified
        tuned_bases = json.loads(recorded.read_text()) if recorded.exists() else {}
        for path in run_folders(method_dir):
            folder = RunFolder(path)
            summary = folder.summary
            if folder.kind == POLICY_KIND:  # continue-tuning: the best so far, after the base's own env steps
                if path.name not in tuned_bases:
                    continue  # still running, or not one of the benchmark's
                base = tuned_bases[path.name]
                curve = [[base["env_steps"] + p.env_steps, p.mean_return] for p in folder.facts.curve
                         if p.mean_return is not None]
            else:
                curve = [[p["env_steps"], p["mean_return"]] for p in folder.curve()]
                base = folder.meta.get("base")
            entry = {"seed": folder.meta.get("seed"), "status": summary.get("status"), "run": path.name,
                     "curve": curve, "judged": summary.get("judged") or judged_at_stop(folder),
                     "rollbacks": summary.get("rollbacks"),
                     "base": base, "steps": folder.meta.get("steps"), "wall_time_s": summary.get("wall_time_s"),
                     "verified_best": (tuned_bases.get(path.name) or {}).get("verified_best")}
            found.setdefault(folder.meta["env"], {}).setdefault(method_dir.name, []).append(entry)
    return found


def judged_at_stop(folder) -> dict | None:
    """A stopped run's judgement, made at the stop by the trainer's own (``Finetuning.judge``), from its events."""
    judged = [e for e in folder.events() if e.get("event") == "judged"]
    return {k: v for k, v in judged[-1].items() if k not in ("event", "t")} if judged else None


def kept(data: dict, results: Path) -> dict:
    """``data`` plus the runs the earlier results file recorded that ``data`` lacks (their folders were on another
    machine, or removed): a report on a new --out adds to the table instead of replacing it."""
    if not results.exists():
        return data
    seen = {s["run"] for methods in data.values() for runs in methods.values() for s in runs}
    for env, methods in json.loads(results.read_text()).get("curves", {}).items():
        for method, runs in methods.items():
            for entry in runs:
                if entry["run"] not in seen:
                    data.setdefault(env, {}).setdefault(method, []).append(entry)
    return data


def report(args: argparse.Namespace) -> None:
    import numpy as np

    data = kept(curves(args.out), args.results)
    rows = []
    for env, methods in data.items():
        for method, seeds in ((method, [s for s in runs if group(s) == key])
                              for method, runs in methods.items() for key in dict.fromkeys(group(s) for s in runs)):
            finals = [s["curve"][-1][1] for s in seeds if s["curve"]]
            ends = [s["curve"][-1][0] for s in seeds if s["curve"]]
            best = [max(p[1] for p in s["curve"]) for s in seeds if s["curve"]]
            judged = [s["judged"] for s in seeds]
            rows.append({"env": env, "method": method, "seeds": len(seeds),
                         "statuses": [s["status"] for s in seeds], "total_env_steps": ends,
                         "final_mean": float(np.mean(finals)) if finals else None,
                         "final_per_seed": finals, "best_eval_per_seed": best, "judged": judged,
                         "base_score": (seeds[0]["base"] or {}).get("score"), "base": seeds[0]["base"],
                         "verified_best_per_seed": [s.get("verified_best") for s in seeds],
                         "rollbacks_per_seed": [s.get("rollbacks") for s in seeds]})
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with open(args.results, "w") as out:
        json.dump({"rows": rows, "curves": data}, out, indent=1)
    print(markdown(rows))
    plot(data, args.results.with_suffix(".png"))


def markdown(rows: list[dict]) -> str:
    """The README's table: one line per (task, arm), each seed's numbers side by side."""
    def each(values, fmt="{:,.0f}") -> str:
        return " / ".join("—" if v is None else fmt.format(v) for v in values) or "—"

    lines = ["| task (base score) | arm | seeds | total env steps | last evaluation | best evaluation | roll-backs "
             "| result |", "|---|---|---|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: (r["env"], (r["base"] or {}).get("run", ""), r["method"])):
        base = "" if row["base_score"] is None else f" ({row['base']['run']} {row['base']['candidate']}: " \
                                                       f"{row['base_score']:,.0f})"
        result = " / ".join(judgement(judged, status) for judged, status in zip(row["judged"], row["statuses"]))
        if any(v is not None for v in row["verified_best_per_seed"]):
            result += f"; verified {each(row['verified_best_per_seed'])}"
        lines.append(f"| {row['env'].split('/')[-1]}{base} | {row['method']} | {row['seeds']} "
                     f"| {each(row['total_env_steps'])} | {each(row['final_per_seed'])} "
                     f"| {each(row['best_eval_per_seed'])} | {each(row['rollbacks_per_seed'], '{}')} | {result} |")
    return "\n".join(lines)


def judgement(judged: dict | None, status: str | None) -> str:
    """What the fresh episodes said at the end: which policy was kept, and both returns."""
    if not judged:
        return status or "?"
    if "base_return" not in judged:  # a learner from scratch: its last policy
        return f"{judged['finetuned_return']:,.0f} on fresh episodes"
    kept = "fine-tuned kept" if judged.get("result") == "finetuned" else "base kept"
    p = "" if judged.get("p_value") is None else f", p = {judged['p_value']:.2g}"
    return f"{kept}: {judged['finetuned_return']:,.0f} vs {judged['base_return']:,.0f}{p}"


def plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(env, key) for env, methods in data.items()  # a panel per base; learners from scratch in each
              for key in (list(dict.fromkeys(sha(s["base"]) for runs in methods.values() for s in runs if s["base"]))
                          or [None])]
    cols = min(2, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 4.2 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (env, key) in zip(axes.flat, panels):
        for method, runs in sorted(data[env].items()):
            seeds = [s for s in runs if sha(s["base"]) in (key, None)]
            for i, seed in enumerate(seeds):
                xs, ys = zip(*seed["curve"]) if seed["curve"] else ((), ())
                tuning = method == "continue-tuning"  # its best so far (on 3 episodes), not a fresh evaluation
                ax.plot(xs, ys, label=(f"{method} (best so far)" if tuning else method) if i == 0 else None,
                        alpha=0.85, color=colour(plt, method),
                        ls="--" if tuning else "-")
        base = next((s["base"] for runs in data[env].values() for s in runs if s["base"] and sha(s["base"]) == key),
                    None) or {"run": "none", "candidate": ""}
        if base.get("score") is not None:  # a residual's step-0 point is its score on the evaluation's episodes
            ax.axhline(base["score"], color="grey", ls=":", lw=1, label="the base's score in its run")
            ax.axvline(base["env_steps"], color="grey", ls=":", lw=1)
        ax.set_title(f"{env.split('/')[-1]}, base {base['run']} {base['candidate']}", fontsize=10)
        ax.set_xlabel("total env steps (LLM phase included)")
        ax.set_ylabel("mean evaluation return")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}", file=sys.stderr)


def colour(plt, method: str):
    """One colour per arm in every panel: tab20's strong colours first, then its light ones, never its greys (the
    base's lines are grey)."""
    shades = [i for i in range(0, 20, 2) if i != 14] + [i for i in range(1, 20, 2) if i != 15]
    return plt.get_cmap("tab20")(shades[sorted(METHODS).index(method) % len(shades)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run")
    one.add_argument("--env", required=False, help="(read from the base run)")
    one.add_argument("--base", type=Path, required=True, help="the promptpo run folder whose best program is the base")
    one.add_argument("--steps", type=int, default=150_000, help="fine-tuning steps beyond the base's")
    one.add_argument("--eval-every", type=int, default=5_000)
    one.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    one.add_argument("--methods", nargs="+", default=["td3-residual", "sac-scratch"], choices=sorted(METHODS))
    one.add_argument("--out", type=Path, required=True)
    rep = sub.add_parser("report")
    rep.add_argument("--out", type=Path, required=True)
    rep.add_argument("--results", type=Path, default=HERE / "results" / "residual.json")
    args = parser.parse_args()
    run(args) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()
