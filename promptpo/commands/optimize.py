"""`promptpo optimize` and `promptpo envs`."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import click

from promptpo.commands.common import console, setup_logging
from promptpo.llm.tokens import usage_text

EXIT_CODES = {"completed": 0, "target_reached": 0, "budget_exhausted": 0, "answers_exhausted": 0,
              "failed": 1, "interrupted": 130}


@click.command()
@click.argument("env")
@click.option("--model", default=None, help="LLM backend: provider/model (litellm), openai:MODEL, anthropic:MODEL, "
              "manual, scripted:PATH or offline (no LLM). Default: $PROMPTPO_MODEL, else offline.")
@click.option("--rounds", type=int, default=10, show_default=True, help="Refinement rounds.")
@click.option("--candidates", type=int, default=4, show_default=True, help="Candidates (LLM calls) per round.")
@click.option("--episodes", type=int, default=5, show_default=True, help="Evaluation episodes per candidate.")
@click.option("--seed", type=int, default=0, show_default=True, help="Run seed: fixes evaluation episodes and goals.")
@click.option("--sandbox", default="process", show_default=True, help="Isolation backend: process or docker.")
@click.option("--max-llm-calls", type=int, default=None, help="Budget: LLM calls.")
@click.option("--max-env-steps", type=int, default=None, help="Budget: simulator steps.")
@click.option("--max-cost", type=float, default=None, help="Budget: USD.")
@click.option("--max-time", default=None, help="Budget: wall time, e.g. 900, 30m, 2h.")
@click.option("--target", type=float, default=None, help="Stop at this success rate (mean return where the env has "
              "no success); default: the env's target.")
@click.option("--max-repairs", type=int, default=2, show_default=True,
              help="Repair prompts after a candidate that cannot be scored.")
@click.option("--tune-constants", is_flag=True,
              help="After each round, tune the best program's numeric constants with CMA-ES (no LLM call).")
@click.option("--tune-evals", type=int, default=30, show_default=True,
              help="Evaluations per constant-tuning phase (counted against --max-env-steps).")
@click.option("--prompt-budget", type=int, default=12000, show_default=True,
              help="Approximate tokens per prompt; the history is trimmed to fit.")
@click.option("--temperature", type=float, default=None,
              help="Sampling temperature (default: the provider's; some models accept no other).")
@click.option("--max-tokens", type=int, default=4096, show_default=True, help="Longest answer, in tokens.")
@click.option("--api-base", default=None, help="Base URL of the provider or of a compatible server.")
@click.option("--llm-timeout", type=float, default=120.0, show_default=True,
              help="Seconds per LLM request before it is retried.")
@click.option("--act-timeout", type=float, default=5.0, show_default=True, help="Seconds allowed per act() call.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
              help="Folder for run folders.")
@click.option("-v", "--verbose", is_flag=True, help="Log retries and sandbox details.")
def optimize(env: str, model: str | None, rounds: int, candidates: int, episodes: int, seed: int, sandbox: str,
             max_llm_calls: int | None, max_env_steps: int | None, max_cost: float | None, max_time: str | None,
             target: float | None, max_repairs: int, tune_constants: bool, tune_evals: int, prompt_budget: int, temperature: float | None, max_tokens: int,
             api_base: str | None, llm_timeout: float, act_timeout: float, out: Path, verbose: bool) -> None:
    """Write, sandbox-run and refine a policy for ENV until it reaches its target or a budget ends."""
    setup_logging(verbose)
    from promptpo.api import prepare, run_optimize
    from promptpo.config import Budgets, OptimizeConfig, parse_duration
    from promptpo.display import RunDisplay
    from promptpo.isolation.base import Limits
    from promptpo.llm.base import GenParams

    config = OptimizeConfig(
        env=env, model=model, rounds=rounds, candidates=candidates, episodes=episodes, seed=seed, sandbox=sandbox,
        max_repairs=max_repairs, target=target, tune_constants=tune_constants, tune_evals=tune_evals,
        prompt_budget=prompt_budget, out=out,
        budgets=Budgets(max_llm_calls, max_env_steps, max_cost, parse_duration(max_time) if max_time else None),
        gen=GenParams(temperature=temperature, max_tokens=max_tokens, timeout_s=llm_timeout, api_base=api_base),
        limits=Limits(act_timeout_s=act_timeout))
    prepared = prepare(config)
    display = RunDisplay(console(stderr=True), prepared.spec.id, prepared.backend.label, prepared.config.rounds,
                         prepared.config.candidates, prepared.spec.has_success)
    with display:
        result = run_optimize(prepared, observer=display)
    finish(result)


def finish(result) -> None:
    """Print how a run ended and where its folder is; exit with the status's code."""
    err = console(stderr=True)
    s = result.summary
    best = "none" if result.best_candidate is None else (
        f"{result.best_candidate}: mean return {result.score:.2f}"
        + (f", success rate {result.success_rate:.2f}" if s.get("best_success_rate") is not None else ""))
    cost = "unknown (unpriced model)" if s["cost_usd"] is None else f"${s['cost_usd']:.4f}"
    err.print(f"status: {result.status}" + (f" — {result.reason}" if result.reason else ""))
    err.print(f"best: {best}")
    err.print(f"env steps {s['env_steps']:,} · LLM calls {s['llm_calls']} · tokens {usage_text(s)} · cost {cost} · {s['wall_time_s']:.0f} s")
    print(f"run folder: {result.run_dir}")
    sys.exit(EXIT_CODES.get(result.status, 1))


@click.command()
@click.option("--all", "all_gymnasium", is_flag=True, help="Also list every registered Gymnasium id.")
def envs(all_gymnasium: bool) -> None:
    """List the environments with a spec file (any Gymnasium, Meta-World or MiniGrid id also works)."""
    from rich.table import Table

    from promptpo.envs import spec_files

    table = Table(title="Environments with a hand-written spec")
    table.add_column("id", style="bold")
    table.add_column("description")
    for env_id, path in spec_files().items():
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        table.add_row(env_id, doc.split(":", 1)[-1].strip())
    out = console()
    out.print(table)
    out.print("Without a spec file, any registered Gymnasium id works as gymnasium/<id>, any Meta-World MT1 task "
                  "as metaworld/<task> and any MiniGrid env as minigrid/<name> (e.g. minigrid/FourRooms).")
    if all_gymnasium:
        import gymnasium as gym

        for key in sorted(k for k in gym.registry if "/" not in k):
            out.print(f"gymnasium/{key}")
