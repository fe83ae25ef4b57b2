"""`promptpo baseline ppo` and `promptpo compare`."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import click

from promptpo.views.tables import comparison_tables
from promptpo.commands.common import EVAL_EVERY, EVAL_POINTS, OUT, SeedBars, console, eval_text, setup_logging
from promptpo.commands.finetune import scratch_command


@click.group()
def baseline() -> None:
    """Train baselines that promptpo runs are compared against."""


@baseline.command("ppo")
@click.argument("env")
@click.option("--steps", type=int, required=True, help="Training env steps per seed.")
@click.option("--seeds", type=int, default=3, show_default=True, help="Number of seeds (0, 1, ...).")
@click.option("--first-seed", type=int, default=0, show_default=True, help="Seed of the first run.")
@click.option("--workers", type=int, default=None, help="Parallel worker processes (default: one per core).")
@EVAL_POINTS
@EVAL_EVERY
@click.option("--eval-episodes", type=int, default=None,
              help="Episodes per evaluation (default: 50 goal variations for Meta-World, 10 otherwise).")
@click.option("--executor", default="local", show_default=True,
              help="Where seeds run: local (--workers processes) or ray (one Ray task per seed).")
@click.option("--address", default=None, help="Ray cluster address for --executor ray (else $RAY_ADDRESS, else a "
              "local Ray).")
@click.option("--full-episodes", is_flag=True, help="Run evaluation episodes to their end; by default they end at "
              "their first success where promptpo's runs do (Meta-World), so returns compare.")
@OUT
def baseline_ppo(env: str, steps: int, seeds: int, first_seed: int, workers: int | None, eval_points: int,
                 eval_every: int | None, eval_episodes: int | None, executor: str, address: str | None,
                 full_episodes: bool, out: Path) -> None:
    """Train Stable-Baselines3 PPO on ENV with the RL Zoo's tuned hyperparameters, one run folder per seed."""
    setup_logging(False)
    from promptpo.baselines import check_installed
    from promptpo.baselines.hyperparams import check_steps, for_env
    from promptpo.baselines.ppo import PPOConfig, run_seeds
    from promptpo.envs import load_spec
    from promptpo.errors import ConfigError, require_at_least_one
    from promptpo.engine.config import check_executor
    from promptpo.engine.store import RunStore

    check_executor(executor)
    require_at_least_one((("--steps", steps), ("--seeds", seeds), ("--eval-points", eval_points),
                          ("--eval-every", eval_every if eval_every is not None else 1)))
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1 (got {workers})")
    check_installed()
    spec = load_spec(env)
    RunStore.check_writable(out)
    hp = for_env(spec.id)
    check_steps("--steps", steps, hp, spec.id)
    err = console(stderr=True)
    err.print(f"PPO on {spec.id}: {steps:,} steps x {seeds} seeds; hyperparameters: "
                  f"{hp.source.split(';')[0]}", markup=False)
    config = PPOConfig(spec.id, steps, eval_points, eval_episodes, out, full_episodes, eval_every)
    seed_list = list(range(first_seed, first_seed + seeds))
    with SeedBars(err, steps) as bars:
        updates = {seed: bars.bar(f"seed {seed}") for seed in seed_list}

        def update(seed: int, done: int, mean: float | None, success: float | None) -> None:
            updates[seed](done, eval_text(mean, success))

        if executor == "ray":  # one Ray task per seed; each run folder comes back packed
            from promptpo.baselines.ppo import train_packed
            from promptpo.isolation.cluster import each, unpack

            folders = [out / "?"] * len(seed_list)
            for i, made, problem in each(train_packed, [(config, seed) for seed in seed_list], address):
                if problem is not None:
                    raise problem
                name, packed = made
                folders[i] = out / name
                unpack(packed, folders[i])
                updates[seed_list[i]](steps, "trained on Ray")
        else:
            folders = run_seeds(config, seed_list, workers or os.cpu_count() or 1, update)
    for folder in folders:
        print(f"run folder: {folder}")


for _algo in ("sac", "td3", "tqc"):
    baseline.add_command(scratch_command(_algo))


@baseline.command("optuna")
@click.argument("env")
@click.option("--steps", type=int, required=True, help="Total env steps per seed, over all trials.")
@click.option("--trial-steps", type=int, required=True, help="Env steps of one trial.")
@click.option("--seeds", type=int, default=1, show_default=True, help="Number of seeds.")
@click.option("--first-seed", type=int, default=0, show_default=True, help="Seed of the first run.")
@EVAL_POINTS
@EVAL_EVERY
@click.option("--eval-episodes", type=int, default=None, help="Episodes per evaluation.")
@OUT
def baseline_optuna(env: str, steps: int, trial_steps: int, seeds: int, first_seed: int, eval_points: int,
                    eval_every: int | None, eval_episodes: int | None, out: Path) -> None:
    """Optuna TPE over static PPO hyperparameters (median pruner, which sees each evaluation of a trial), every
    trial's steps counted."""
    _search("optuna", env, steps, trial_steps, range(first_seed, first_seed + seeds), eval_points, eval_episodes, 4,
            out, eval_every)


@baseline.command("pbt")
@click.argument("env")
@click.option("--steps", type=int, required=True, help="Total env steps per seed, over all population members.")
@click.option("--interval", type=int, required=True, help="Env steps between exploit/explore decisions.")
@click.option("--population", type=int, default=4, show_default=True, help="Population size.")
@click.option("--seeds", type=int, default=1, show_default=True, help="Number of seeds.")
@click.option("--first-seed", type=int, default=0, show_default=True, help="Seed of the first run.")
@click.option("--eval-episodes", type=int, default=None, help="Episodes per evaluation.")
@OUT
def baseline_pbt(env: str, steps: int, interval: int, population: int, seeds: int, first_seed: int,
                 eval_episodes: int | None, out: Path) -> None:
    """Population-Based Training with Ray Tune's PBT scheduler, every member's steps counted."""
    _search("pbt", env, steps, interval, range(first_seed, first_seed + seeds), 20, eval_episodes, population,
            out)  # evaluated once per --interval


@baseline.command("hrl")
@click.argument("env")
@click.option("--steps", type=int, required=True, help="Total env steps per seed, over all trials.")
@click.option("--trial-steps", type=int, required=True, help="Env steps of one trial.")
@click.option("--seeds", type=int, default=1, show_default=True, help="Number of seeds.")
@click.option("--first-seed", type=int, default=0, show_default=True, help="Seed of the first run.")
@click.option("--trials-per-activation", type=int, default=2, show_default=True,
              help="Trials a worker runs each time the manager sends it to a region.")
@click.option("--warmup", type=int, default=6, show_default=True,
              help="Trials before the HyperScore's beta, gamma, kappa are first fitted.")
@click.option("--manager", type=click.Choice(["learned", "llm"]), default="learned", show_default=True,
              help="Who chooses (worker, region): the REINFORCE manager, or an LLM (--model) with it as fallback.")
@click.option("--model", default=None, help="The LLM for --manager llm (any promptpo model string).")
@EVAL_POINTS
@EVAL_EVERY
@click.option("--eval-episodes", type=int, default=None, help="Episodes per evaluation.")
@OUT
def baseline_hrl(env: str, steps: int, trial_steps: int, seeds: int, first_seed: int, trials_per_activation: int,
                 warmup: int, manager: str, model: str | None, eval_points: int, eval_every: int | None,
                 eval_episodes: int | None, out: Path) -> None:
    """SAM-HRL-HS: a manager learns which worker (TPE, CMA-ES, random) to send to which region of PPO's
    hyperparameter space, rewarded by a HyperScore fitted to predict final returns; every trial's steps counted."""
    setup_logging(False)
    from promptpo.baselines import check_installed
    from promptpo.baselines.hrl import HRLConfig, run_hrl
    from promptpo.baselines.tuners import SearchConfig
    from promptpo.engine.store import RunStore
    from promptpo.envs import load_spec
    from promptpo.errors import ConfigError, require_at_least_one

    require_at_least_one((("--steps", steps), ("--trial-steps", trial_steps), ("--seeds", seeds),
                          ("--trials-per-activation", trials_per_activation), ("--warmup", warmup),
                          ("--eval-points", eval_points), ("--eval-every", eval_every if eval_every is not None else 1)))
    if trial_steps > steps:
        raise ConfigError("one trial is larger than the whole budget", "lower --trial-steps or raise --steps")
    manager_for = None
    if manager == "llm":
        manager_for = _llm_manager(model)
    elif model is not None:
        raise ConfigError("--model is for --manager llm", "add --manager llm, or leave --model out")
    check_installed("optuna")
    spec = load_spec(env)
    RunStore.check_writable(out)
    search = SearchConfig(spec.id, steps, trial_steps, eval_points, eval_episodes, 4, out, eval_every)
    config = HRLConfig(search, trials_per_activation, warmup, manager=manager)
    _each_seed("hrl", range(first_seed, first_seed + seeds), steps,
               lambda seed, update: run_hrl(config, seed, update, manager_for))


def _llm_manager(model: str | None):
    """What makes the LLM manager for each seed's search (the backend checked once, before any training)."""
    from promptpo.baselines.llm_manager import LLMManager
    from promptpo.errors import ConfigError
    from promptpo.llm import make_backend
    from promptpo.llm.base import GenParams

    if not model or model == "offline":
        raise ConfigError("--manager llm needs an LLM", "give --model, e.g. --model anthropic/claude-sonnet-4-5")
    params = GenParams(max_tokens=256)
    backend = make_backend(model, params)
    backend.check()
    return lambda record, hp, regions, config: LLMManager(backend, params, config, record, hp, regions)


def _search(kind: str, env: str, steps: int, trial_steps: int, seeds: range, eval_points: int,
            eval_episodes: int | None, population: int, out: Path, eval_every: int | None = None) -> None:
    setup_logging(False)
    from promptpo.baselines import check_installed
    from promptpo.baselines.tuners import SearchConfig, run_optuna, run_pbt
    from promptpo.envs import load_spec
    from promptpo.errors import ConfigError, require_at_least_one
    from promptpo.engine.store import RunStore

    require_at_least_one((("--steps", steps), ("--trial-steps/--interval", trial_steps), ("--seeds", len(seeds)),
                          ("--population", population), ("--eval-points", eval_points),
                          ("--eval-every", eval_every if eval_every is not None else 1)))
    if trial_steps > steps:
        raise ConfigError("one trial or interval is larger than the whole budget", "lower it or raise --steps")
    check_installed(kind)
    spec = load_spec(env)
    RunStore.check_writable(out)
    config = SearchConfig(spec.id, steps, trial_steps, eval_points, eval_episodes, population, out, eval_every)
    search = run_optuna if kind == "optuna" else run_pbt
    _each_seed(kind, seeds, steps, lambda seed, update: search(config, seed, update))


def _each_seed(kind: str, seeds: range, steps: int, search) -> None:
    """``search(seed, update)`` for every seed with a progress bar each (update(spent, best)), then the folders."""
    folders = []
    with SeedBars(console(stderr=True), steps) as bars:
        for seed in seeds:
            bar = bars.bar(f"{kind} seed {seed}")

            def update(spent: int, best: float | None, bar=bar) -> None:
                bar(spent, None if best is None or best == float("-inf") else f"best return {best:.1f}")

            folders.append(search(seed, update))
    for folder in folders:
        print(f"run folder: {folder}")


@click.command("compare")
@click.argument("runs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option("--plot", type=click.Path(path_type=Path), default=None,
              help="Write learning curves to this .png (or a self-contained .html page).")
@click.option("--hyperscore", is_flag=True, help="Add the HyperScore column (see promptpo.stats).")
@click.option("--hyperscore-from", "hyperscore_from", default=None,
              help="Score the HyperScore column with the beta, gamma, kappa this hrl run fitted (implies --hyperscore).")
@click.option("--allow-different-grids", is_flag=True,
              help="Compare runs evaluated at different intervals anyway (steps to target are then only as fine as "
                   "each run's grid).")
@click.option("--include-unfinished", is_flag=True,
              help="Count runs that did not finish (interrupted, still running, stopped short of their steps) as "
                   "seeds; by default they are left out and the table says so.")
@OUT
def compare_runs(runs: tuple[str, ...], as_json: bool, plot: Path | None, hyperscore: bool,
                 hyperscore_from: str | None, allow_different_grids: bool, include_unfinished: bool,
                 out: Path) -> None:
    """Compare RUNS (folders, ids, globs, or folders holding runs such as a bench's) per environment and method,
    with statistics across distinct seeds (a second run of a seed is a repeat, not a seed)."""
    from promptpo.views.compare import compare, find_runs, to_json

    unreadable: list[str] = []
    records = find_runs(list(runs), out, unreadable)
    params = _fitted_hyperscore(hyperscore_from, out) if hyperscore_from else None
    hyperscore = hyperscore or params is not None
    result = compare(records, with_hyperscore=hyperscore, allow_different_grids=allow_different_grids,
                     hyperscore_params=params, include_unfinished=include_unfinished)
    result.excluded[:0] = unreadable
    if params is not None:
        result.notes.append(f"HyperScore with beta {params['beta']:.4g}, gamma {params['gamma']:.4g}, kappa "
                            f"{params['kappa']:.4g}, as fitted by {hyperscore_from}")
    text = comparison_table(result, hyperscore)
    if as_json:
        print(json.dumps(to_json(result), indent=2))
    else:
        sys.stdout.write(text)
    if not result.groups:
        print("nothing to compare: every run was left out (see above)", file=sys.stderr)
    if plot is not None and not result.runs:
        print(f"no plot written to {plot}: no run to draw", file=sys.stderr)
    elif plot is not None:
        from promptpo.views.plot import save

        print(f"plot: {save(result.runs, plot, result, text)}", file=sys.stderr)


def _fitted_hyperscore(run: str, out: Path) -> dict:
    """beta, gamma, kappa from an hrl run's summary.json."""
    from promptpo.errors import ConfigError
    from promptpo.records import RunFolder

    folder = RunFolder.find(run, out)
    fit = folder.summary.get("hyperscore_fit") or {}
    if not fit.get("trials"):
        raise ConfigError(f"run {folder.path.name} has no fitted HyperScore (a {folder.kind} run, or too few trials "
                          "to fit one)", "give an hrl run whose search ran past its --warmup")
    return {k: float(fit[k]) for k in ("beta", "gamma", "kappa")}


def comparison_table(result, hyperscore: bool) -> str:
    from rich.console import Console
    from rich.table import Table

    from promptpo.text import shown

    recorder = Console(width=240, record=True, file=io.StringIO())
    for made in comparison_tables(result, hyperscore):  # shown: a method's "[penalty=0.1]" is not rich markup
        table = Table(title=shown(made["title"]), caption=shown(made["caption"]))
        for column in made["columns"]:
            table.add_column(shown(column))
        for row in made["rows"]:
            table.add_row(*(shown(cell) for cell in row))
        recorder.print(table)
    for note in result.notes:
        recorder.print(f"note: {note}", markup=False)
    if result.excluded:
        recorder.print(f"left out ({len(result.excluded)} runs):", markup=False)
        for line in result.excluded:
            recorder.print(f"  {line}", markup=False)
    return recorder.export_text()
