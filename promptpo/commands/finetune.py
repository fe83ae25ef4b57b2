"""`promptpo finetune` (a residual learner on top of a run's program) and `promptpo baseline sac|td3|tqc`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from promptpo.commands.common import SeedBars, console, eval_text, setup_logging
from promptpo.commands.options import field_option, offered, run_options
from promptpo.finetune.config import FinetuneConfig

SEEDS = click.option("--seeds", type=int, default=1, show_default=True, help="Number of seeds (0, 1, ...).")
FIRST_SEED = click.option("--first-seed", type=int, default=0, show_default=True, help="Seed of the first run.")
SCRATCH_FIELDS = ("steps", "eval_points", "eval_every", "eval_episodes", "out")
"""What a learner from scratch is given (the rest of FinetuneConfig is the residual's)."""


@click.command()
@click.argument("run")
@click.argument("candidate", required=False)
@run_options(FinetuneConfig)
@SEEDS
@FIRST_SEED
def finetune(run: str, candidate: str | None, verbose: bool = False, seeds: int = 1, first_seed: int = 0,
             **given) -> None:
    """Train an RL residual on top of RUN's program (its best, or CANDIDATE): the program keeps running in its
    sandbox and the learner adds a correction that starts at zero; the result is the better of the two on fresh
    episodes. Its curve continues from the env steps RUN spent."""
    setup_logging(verbose)
    _finetune(run, candidate, _config(given), range(first_seed, first_seed + seeds))


def finetune_run(run: str, candidate: str | None, algo: str, steps: int, out: Path, seed: int, sandbox: str) -> None:
    """`optimize --finetune ALGO:STEPS`: the stage after a run, with `promptpo finetune`'s defaults, the base in the
    run's own sandbox backend."""
    _finetune(run, candidate, {"algo": algo, "steps": steps, "out": out, "sandbox": sandbox}, range(seed, seed + 1))


def _finetune(run: str, candidate: str | None, settings: dict, seeds: range) -> None:
    from promptpo.baselines import check_installed
    from promptpo.finetune.base import read_base

    check_installed("finetune")
    base, env = read_base(run, candidate, Path(settings["out"]))
    config = FinetuneConfig(env=env, base=base, **settings)
    _check(config)
    err = console(stderr=True)
    err.print(f"fine-tuning {base.run} {base.candidate} ({_score(base.score)}, {base.env_steps:,} env steps) with "
              f"a {config.algo.upper()} residual at scale {config.residual_scale}: {config.steps:,} steps x "
              f"{len(seeds)} seeds", markup=False)
    _train_seeds(config, seeds, err)


def scratch_command(algo: str) -> click.Command:
    """`promptpo baseline ALGO ENV`: the same trainer with no base, with RL Zoo's settings."""

    @click.command(algo, help=f"Train {algo.upper()} on ENV from scratch (RL Baselines3 Zoo's MuJoCo settings), one run "
                              "folder per seed, on the same evaluation grid and episodes as every other method.")
    @click.argument("env")
    @SEEDS
    @FIRST_SEED
    def command(env: str, seeds: int, first_seed: int, **given) -> None:
        setup_logging(False)
        from promptpo.baselines import check_installed
        from promptpo.envs import load_spec

        check_installed("finetune")
        spec = load_spec(env)
        config = FinetuneConfig(env=spec.id, algo=algo, **_config(given))
        _check(config)
        err = console(stderr=True)
        err.print(f"{algo.upper()} on {spec.id}: {config.steps:,} steps x {seeds} seeds", markup=False)
        _train_seeds(config, range(first_seed, first_seed + seeds), err)

    for name in SCRATCH_FIELDS:
        command = field_option(FinetuneConfig, name)(command)
    return command


def resume_finetuning(folder, finish: bool = False) -> None:
    """`promptpo resume` of a fine-tuning or off-policy run: its learner, buffer and curve continue (``finish``: it
    trains no more, and is judged where it stopped)."""
    from promptpo.finetune.folder import resumable
    from promptpo.finetune.train import train

    from promptpo.records.folder import numbers

    config, seed, store = resumable(folder)
    numbers(folder.summary, folder.path / "summary.json", ("training_env_steps",))
    trained = int(folder.summary.get("training_env_steps") or 0)
    err = console(stderr=True)
    with SeedBars(err, trained if finish and trained else config.steps) as bars:
        updates = []

        def ready() -> None:  # the checkpoint was taken: a refusal before this is its one line alone
            err.print(f"{'judging' if finish else 'resuming'} {folder.name} at {trained:,} of {config.steps:,} "
                      "training steps", markup=False)
            updates.append(bars.bar(f"seed {seed}"))

        made = train(config, seed, lambda s, done, mean: updates[0](done, eval_text(mean)), store=store,
                     finish=finish, ready=ready)
    _report([made])


def _config(given: dict) -> dict:
    names = {o.name for o in offered(FinetuneConfig)}
    return {k: v for k, v in given.items() if k in names}


def _check(config: FinetuneConfig) -> None:
    from promptpo.finetune.folder import check

    check(config)


def _score(score: float | None) -> str:
    return "no score" if score is None else f"mean return {score:.1f}"


def _train_seeds(config: FinetuneConfig, seeds: range, err) -> None:
    """Each seed in turn, with a progress bar each; then each run folder and how it ended."""
    from promptpo.engine.store import RunStore
    from promptpo.finetune.train import train

    RunStore.check_writable(config.out)
    folders = []
    with SeedBars(err, config.steps) as bars:
        updates = {seed: bars.bar(f"seed {seed}") for seed in seeds}
        for seed in seeds:
            folders.append(train(dataclasses.replace(config), seed,
                                 lambda s, done, mean: updates[s](done, eval_text(mean))))
    _report(folders)


def _report(folders: list[Path]) -> None:
    import json

    from promptpo.outcome import RunStatus

    worst = RunStatus.COMPLETED
    for folder in folders:
        summary = json.loads((folder / "summary.json").read_text())
        judged = summary.get("judged") or {}
        said = summary["reason"]
        if judged.get("base_return") is not None:
            said += f" (fine-tuned {judged['finetuned_return']:.1f} vs base {judged['base_return']:.1f})"
        print(f"run folder: {folder}  [{summary['status']}] {said}")
        status = RunStatus.read(summary["status"])
        if status is not None and not status.finished:
            worst = status
            if (folder / "checkpoint.zip").is_file():  # a base that failed at once left nothing to continue
                console(stderr=True).print(f"continue it with: promptpo resume {folder.name} --out {folder.parent} "
                                           "(or judge it where it stopped: add --finish)", markup=False)
    if worst is not RunStatus.COMPLETED:
        raise SystemExit(worst.exit_code)
