"""The ``promptpo`` command. Heavy modules (simulators, litellm) load inside the commands only,
so ``promptpo --help`` answers at once."""

from __future__ import annotations

import ast
import json
import logging
import os
import sys
from pathlib import Path

import click

from promptpo.errors import PromptpoError, RunStoreError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}, no_args_is_help=True)
@click.version_option(package_name="promptpo")
def cli() -> None:
    """promptpo: an LLM writes, sandbox-runs and refines reinforcement-learning policies."""

EXIT_CODES = {"completed": 0, "target_reached": 0, "budget_exhausted": 0, "answers_exhausted": 0,
              "failed": 1, "interrupted": 130}


def _console(stderr: bool = False):
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:  # piped output: do not wrap tables at 80 columns
        console = Console(stderr=stderr, highlight=False, width=200)
    return console


def _setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    handler = RichHandler(console=_console(stderr=True), show_time=False, show_path=False)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s", handlers=[handler])


@cli.command()
@click.argument("env")
@click.option("--model", default=None, help="LLM backend: provider/model (litellm), openai:MODEL, anthropic:MODEL, "
              "manual or scripted:PATH. Default: $PROMPTPO_MODEL.")
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
             target: float | None, max_repairs: int, prompt_budget: int, temperature: float | None, max_tokens: int,
             api_base: str | None, llm_timeout: float, act_timeout: float, out: Path, verbose: bool) -> None:
    """Write, sandbox-run and refine a policy for ENV until it reaches its target or a budget ends."""
    _setup_logging(verbose)
    from promptpo.api import prepare, run_optimize
    from promptpo.config import Budgets, OptimizeConfig, parse_duration
    from promptpo.display import RunDisplay
    from promptpo.isolation.base import Limits
    from promptpo.llm.base import GenParams

    config = OptimizeConfig(
        env=env, model=model, rounds=rounds, candidates=candidates, episodes=episodes, seed=seed, sandbox=sandbox,
        max_repairs=max_repairs, target=target, prompt_budget=prompt_budget, out=out,
        budgets=Budgets(max_llm_calls, max_env_steps, max_cost, parse_duration(max_time) if max_time else None),
        gen=GenParams(temperature=temperature, max_tokens=max_tokens, timeout_s=llm_timeout, api_base=api_base),
        limits=Limits(act_timeout_s=act_timeout))
    prepared = prepare(config)
    display = RunDisplay(_console(stderr=True), prepared.spec.id, prepared.backend.label, rounds, candidates,
                         prepared.spec.has_success)
    with display:
        result = run_optimize(prepared, observer=display)
    _print_result(result)
    sys.exit(EXIT_CODES.get(result.status, 1))


def _print_result(result) -> None:
    console = _console(stderr=True)
    s = result.summary
    best = "none" if result.best_candidate is None else (
        f"{result.best_candidate}: mean return {result.score:.2f}"
        + (f", success rate {result.success_rate:.2f}" if s.get("best_success_rate") is not None else ""))
    cost = "unknown (unpriced model)" if s["cost_usd"] is None else f"${s['cost_usd']:.4f}"
    console.print(f"status: {result.status}" + (f" — {result.reason}" if result.reason else ""))
    console.print(f"best: {best}")
    console.print(f"env steps {s['env_steps']:,} · LLM calls {s['llm_calls']} · tokens {s['prompt_tokens']:,} in / "
                  f"{s['completion_tokens']:,} out · cost {cost} · {s['wall_time_s']:.0f} s")
    print(f"run folder: {result.run_dir}")


@cli.command()
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
    console = _console()
    console.print(table)
    console.print("Without a spec file, any registered Gymnasium id works as gymnasium/<id>, any Meta-World MT1 task "
                  "as metaworld/<task> and any MiniGrid env as minigrid/<name> (e.g. minigrid/FourRooms).")
    if all_gymnasium:
        import gymnasium as gym

        for key in sorted(k for k in gym.registry if "/" not in k):
            console.print(f"gymnasium/{key}")


def _run_dir(run: str, out: Path) -> Path:
    for candidate in (Path(run), out / run):
        if (candidate / "run.json").is_file():
            return candidate
    raise RunStoreError(f"no run folder {run!r} (looked in . and {out})", "run `promptpo runs` to list runs")


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as err:
        raise RunStoreError(f"{path} is not valid JSON ({err.msg})", "the run folder is corrupt") from None


OUT = click.option("--out", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
                   help="Folder holding run folders.")


@cli.command()
@OUT
def runs(out: Path) -> None:
    """List the runs in the output folder, newest first."""
    from rich.table import Table

    folders = sorted((p.parent for p in out.glob("*/run.json")), key=lambda p: p.name, reverse=True)
    if not folders:
        _console().print(f"no runs in {out}")
        return
    table = Table()
    for column in ("run", "env", "model", "status", "best", "return", "success", "env steps", "LLM calls", "cost"):
        table.add_column(column, no_wrap=column in ("run", "env"))
    for folder in folders:
        run, summary = _read(folder / "run.json"), _read(folder / "summary.json")
        table.add_row(folder.name, run.get("env", "?"), run.get("model", "?"), summary.get("status", run.get("status", "?")),
                      str(summary.get("best_candidate") or "-"), _num(summary.get("best_score")),
                      _num(summary.get("best_success_rate")), str(summary.get("env_steps", "-")),
                      str(summary.get("llm_calls", "-")), _num(summary.get("cost_usd"), "$"))
    _console().print(table)


def _num(value, prefix: str = "") -> str:
    return "-" if value is None else f"{prefix}{value:.4g}" if isinstance(value, float) else f"{prefix}{value}"


@cli.command()
@click.argument("run")
@OUT
def show(run: str, out: Path) -> None:  # noqa: PLR0915
    """Summarise RUN (a run folder or run id): settings, totals and every candidate."""
    from rich.table import Table

    folder = _run_dir(run, out)
    meta, summary = _read(folder / "run.json"), _read(folder / "summary.json")
    if not meta:
        raise RunStoreError(f"{folder}/run.json is missing", "the run folder is incomplete")
    head = Table(title=f"run {folder.name}", show_header=False)
    head.add_column(style="bold")
    head.add_column()
    for key in ("env", "model", "sandbox", "seed", "target", "started", "ended"):
        head.add_row(key, str(meta.get(key)))
    for key in ("status", "reason", "best_candidate", "best_score", "best_success_rate", "env_steps", "llm_calls",
                "prompt_tokens", "completion_tokens", "cost_usd", "wall_time_s"):
        head.add_row(key, _num(summary.get(key)))
    if meta.get("kind") == "ppo":
        table = Table(title="learning curve (deterministic evaluation)")
        for column in ("env steps", "episodes", "mean return", "success", "wall s"):
            table.add_column(column)
        for line in (folder / "curve.jsonl").read_text().splitlines() if (folder / "curve.jsonl").exists() else []:
            p = json.loads(line)
            table.add_row(f"{p['env_steps']:,}", str(p["episodes"]), _num(p["mean_return"]), _num(p["success_rate"]),
                          _num(p["wall_time_s"]))
    else:
        table = Table(title="candidates")
        for column in ("id", "kind", "parent", "outcome", "mean return", "success", "env steps", "problem"):
            table.add_column(column)
        for path in sorted((folder / "candidates").glob("*.json")):
            c = _read(path)
            score = c.get("score") or {}
            table.add_row(c.get("id", path.stem), c.get("kind", ""), str(c.get("parent") or "-"), c.get("outcome", ""),
                          _num(score.get("mean_return")), _num(score.get("success_rate")), str(c.get("env_steps", 0)),
                          (c.get("error") or "")[:60])
    console = _console()
    console.print(head)
    console.print(table)


@cli.group()
def baseline() -> None:
    """Train baselines that promptpo runs are compared against."""


@baseline.command("ppo")
@click.argument("env")
@click.option("--steps", type=int, required=True, help="Training env steps per seed.")
@click.option("--seeds", type=int, default=3, show_default=True, help="Number of seeds (0, 1, ...).")
@click.option("--first-seed", type=int, default=0, show_default=True, help="Seed of the first run.")
@click.option("--workers", type=int, default=None, help="Parallel worker processes (default: one per core).")
@click.option("--eval-points", type=int, default=20, show_default=True, help="Evaluations along training.")
@click.option("--eval-episodes", type=int, default=None,
              help="Episodes per evaluation (default: 50 goal variations for Meta-World, 10 otherwise).")
@click.option("--executor", default="local", show_default=True, help="Where seeds run: local.")
@OUT
def baseline_ppo(env: str, steps: int, seeds: int, first_seed: int, workers: int | None, eval_points: int,
                 eval_episodes: int | None, executor: str, out: Path) -> None:
    """Train Stable-Baselines3 PPO on ENV with the RL Zoo's tuned hyperparameters, one run folder per seed."""
    _setup_logging(False)
    from promptpo.baselines import check_installed
    from promptpo.baselines.hyperparams import for_env
    from promptpo.baselines.ppo import PPOConfig, run_seeds
    from promptpo.envs import load_spec
    from promptpo.errors import ConfigError
    from promptpo.store import RunStore

    if executor != "local":
        raise ConfigError(f"unknown executor {executor!r}", "only --executor local is available in this version")
    for name, value in (("--steps", steps), ("--seeds", seeds), ("--eval-points", eval_points)):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1 (got {value})")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1 (got {workers})")
    check_installed()
    spec = load_spec(env)
    RunStore.check_writable(out)
    hp = for_env(spec.id)
    console = _console(stderr=True)
    console.print(f"PPO on {spec.id}: {steps:,} steps x {seeds} seeds; hyperparameters: "
                  f"{hp.source.split(';')[0]}", markup=False)
    config = PPOConfig(spec.id, steps, eval_points, eval_episodes, out)
    seed_list = list(range(first_seed, first_seed + seeds))
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[score]}"), console=console) as progress:
        tasks = {s: progress.add_task(f"seed {s}", total=steps, score="") for s in seed_list}

        def update(seed: int, done: int, mean: float | None, success: float | None) -> None:
            score = {} if mean is None else {"score": f"eval return {mean:.1f}" + (
                f", success {success:.2f}" if success is not None else "")}
            progress.update(tasks[seed], completed=min(done, steps), **score)

        folders = run_seeds(config, seed_list, workers or os.cpu_count() or 1, update)
    for folder in folders:
        print(f"run folder: {folder}")


@cli.command("compare")
@click.argument("runs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option("--plot", type=click.Path(path_type=Path), default=None,
              help="Write learning curves to this .png (or a self-contained .html page).")
@click.option("--hyperscore", is_flag=True, help="Add the HyperScore column (see promptpo.stats).")
@OUT
def compare_runs(runs: tuple[str, ...], as_json: bool, plot: Path | None, hyperscore: bool, out: Path) -> None:
    """Compare RUNS (folders, ids or globs) per environment and method, with statistics across seeds."""
    from promptpo.compare import compare, find_runs, to_json

    records = find_runs(list(runs), out)
    result = compare(records, with_hyperscore=hyperscore)
    text = _comparison_table(result, hyperscore)
    if as_json:
        print(json.dumps(to_json(result), indent=2))
    else:
        sys.stdout.write(text)
    if plot is not None:
        from promptpo.plot import save

        print(f"plot: {save(records, plot, result, text)}", file=sys.stderr)


def _comparison_table(result, hyperscore: bool) -> str:
    from statistics import mean

    from rich.console import Console
    from rich.table import Table

    def interval(s, fmt: str = "{:.1f}") -> str:
        if s.mean is None:
            return "-"
        text = fmt.format(s.mean)
        return text + (f" [{fmt.format(s.ci[0])}, {fmt.format(s.ci[1])}]" if s.ci else "")

    console = Console(width=240, record=True, file=open(os.devnull, "w"))
    for env, target in result.targets.items():
        table = Table(title=f"{env} — target: {target or 'none'}")
        columns = ["method", "seeds", "final return [95% CI]", "success [95% CI]", "steps to target",
                   "episodes to target", "vs PPO (x fewer steps, p)", "wall s", "LLM calls", "tokens", "cost $"]
        plain = lambda s, fmt: "-" if s.mean is None else fmt.format(s.mean)  # noqa: E731 - means only
        for column in columns + (["HyperScore"] if hyperscore else []):
            table.add_column(column)
        for g in (g for g in result.groups if g.env == env):
            reached = [s for s in g.steps_to_target if s is not None]
            steps = "not reached" if not reached else f"{mean(reached):,.0f} ({g.reached}/{len(g.runs)} reached)"
            eps = [e for e in g.episodes_to_target if e is not None]
            episodes = "not reached" if not eps else f"{mean(eps):,.0f}"
            versus = "-"
            if g.vs_ppo:
                versus = g.vs_ppo["note"] if g.vs_ppo["ratio"] is None else (
                    f"{g.vs_ppo['ratio']:.1f}x" + (f", p={g.vs_ppo['p_value']:.3g} ({g.vs_ppo['test']})"
                                                   if g.vs_ppo["p_value"] is not None else f" ({g.vs_ppo['test']})"))
            row = [g.method, str(len(g.runs)), interval(g.final_return), interval(g.final_success, "{:.2f}"), steps,
                   episodes, versus, plain(g.wall_time_s, "{:.0f}"), plain(g.llm_calls, "{:.0f}"),
                   plain(g.tokens, "{:,.0f}"), plain(g.cost_usd, "{:.4f}")]
            table.add_row(*row, *([f"{g.hyperscore:.1f}" if g.hyperscore is not None else "-"] if hyperscore else []))
        console.print(table)
    return console.export_text()


@cli.group()
def sandbox() -> None:
    """Build and check the isolation backends."""


@sandbox.command("build")
@click.option("--base", default=None, help="Base image with python3 (default: python:3.11-slim).")
@click.option("--wheelhouse", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="Folder with the numpy wheel to install (default: download the host's numpy version).")
@click.option("--tag", default=None, help="Image tag (default: promptpo-sandbox:<hash of the worker files>).")
def sandbox_build(base: str | None, wheelhouse: Path | None, tag: str | None) -> None:
    """Build the Docker sandbox image from sandbox/Dockerfile (the build itself has no network)."""
    _setup_logging(False)
    from promptpo.isolation.image import DEFAULT_BASE, build

    built = build(base or DEFAULT_BASE, wheelhouse, tag)
    print(f"built {built}")


@sandbox.command("doctor")
def sandbox_doctor() -> None:
    """Report which sandbox backends work on this machine, and why not."""
    from promptpo.isolation.check import diagnose

    console = _console()
    working = 0
    for backend, ok, detail in diagnose():
        working += ok
        console.print(f"{backend:8} {'ok' if ok else 'unavailable':12} {detail}", markup=False)
    sys.exit(0 if working else 1)


def main(argv: list[str] | None = None) -> None:
    try:
        code = cli.main(args=argv, prog_name="promptpo", standalone_mode=False)
    except PromptpoError as err:
        print(f"promptpo: error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except click.exceptions.NoArgsIsHelpError as err:
        print(err.ctx.get_help() if err.ctx else "", file=sys.stderr)
        sys.exit(0)
    except click.UsageError as err:
        where = f" (see promptpo {err.ctx.info_name} --help)" if err.ctx and err.ctx.info_name != "promptpo" else \
            " (see promptpo --help)"
        print(f"promptpo: error: {err.format_message()}{where}", file=sys.stderr)
        sys.exit(2)
    except click.exceptions.Abort:
        print("promptpo: interrupted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("promptpo: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as err:  # noqa: BLE001 - a bug: one line, the traceback on request
        if os.environ.get("PROMPTPO_DEBUG"):
            raise
        print(f"promptpo: internal error: {type(err).__name__}: {err} (set PROMPTPO_DEBUG=1 for the traceback "
              "and please report it)", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
