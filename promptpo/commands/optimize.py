"""`promptpo optimize` and `promptpo envs`, and the display a run (new or resumed) is watched under."""

from __future__ import annotations

import ast

import click

from promptpo.commands.common import console, finish, setup_logging
from promptpo.commands.options import run_config, run_options
from promptpo.policy.config import OptimizeConfig
from promptpo.text import visible


@click.command()
@click.argument("env")
@run_options(OptimizeConfig)
@click.option("--finetune", "finetune_with", default=None, metavar="ALGO:STEPS",
              help="Then fine-tune the best program with an RL residual (`promptpo finetune`'s defaults), e.g. "
                   "td3:150k; its curve continues from the run's env steps.")
def optimize(env: str, finetune_with: str | None = None, **options) -> None:
    """Write, sandbox-run and refine a policy for ENV until it reaches its target or a budget ends."""
    setup_logging(options["verbose"])
    from promptpo.api import prepare, run

    then = {"finetune": finetune_with} if finetune_with else None
    config = run_config(OptimizeConfig, env, options)
    stage = _stage(then, config)
    prepared = prepare(config)
    watch(prepared, lambda display: run(prepared, observer=display, then=then), then=stage)


def _stage(then, config, recorded_in: str | None = None):
    """What runs on a finished run's best after it (checked now): ``{"finetune": "ALGO:STEPS"}``, recorded in
    run.json, so a resumed run runs it too (``recorded_in``: that run.json, named when what it holds is wrong). It
    runs with the run's own seed and sandbox backend, as ``config`` (checked) has them."""
    from promptpo.errors import ConfigError

    if then is None:
        return None
    given = then.get("finetune") if isinstance(then, dict) else None
    if not isinstance(given, str) or set(then) != {"finetune"}:
        raise ConfigError(f"{recorded_in} holds an unknown stage after the run: "
                          f"{visible(repr(then)[:80], keep_newlines=False)}",
                          "the run folder is not as promptpo wrote it")
    what = "--finetune" if recorded_in is None else f"{recorded_in}'s stage after the run,"
    return _finetune_stage(given, config.seed, config.sandbox, what)


def _finetune_stage(given: str, seed: int, sandbox: str, what: str = "--finetune"):
    """``ALGO:STEPS`` (steps as 150000, 150k or 1.5m) checked now; the stage it runs on a finished run's best, with
    the run's seed and in its sandbox backend."""
    from promptpo.errors import ConfigError
    from promptpo.finetune.config import ALGOS

    algo, _, steps_text = given.partition(":")
    scale = {"k": 1_000, "m": 1_000_000}.get(steps_text[-1:].lower(), 1)
    try:
        steps = int(float(steps_text[:-1] if scale > 1 else steps_text) * scale)
    except (ValueError, OverflowError):  # 'x', or 'inf' / '1e400'
        steps = 0
    if algo not in ALGOS or steps < 1:
        raise ConfigError(f"{what} {visible(given[:80], keep_newlines=False)!r} is not ALGO:STEPS",
                          f"e.g. --finetune td3:150k (ALGO: {', '.join(ALGOS)})")

    def stage(result) -> None:
        from promptpo.commands.finetune import finetune_run

        finetune_run(str(result.run_dir), None, algo, steps, result.run_dir.parent, seed, sandbox)

    return stage


def watch(prepared, run, resumed: bool = False, then=None) -> None:
    """Run ``run(display)`` under the live display (header, the run folder as it starts, each candidate), then say
    how it ended and exit with its status's code. What the header says the run does is its kind's."""
    from promptpo.views.display import RunDisplay

    c, kind = prepared.config, prepared.kind
    display = RunDisplay(console(stderr=True), prepared.spec.id, prepared.backend.label,
                         c.rounds if kind.rounds else None, c.candidates, prepared.spec.has_success,
                         what=kind.resuming if resumed else kind.doing, note=prepared.backend.header())
    with display:
        result = run(display)
    if result.library_entry:
        console(stderr=True).print(f"added to the library as {result.library_entry} (--no-library not to)")
    finish(result, then)


def resume_run(folder) -> None:
    """`promptpo resume`: the run continued under the same display as `optimize` (or `schedule`)."""
    from promptpo.resume import resumable

    job = resumable(folder)
    then = _stage(folder.meta.get("then"), job.prepared.config, f"{folder.path.name}/run.json")
    watch(job.prepared, job, resumed=True, then=then)


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
