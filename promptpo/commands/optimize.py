"""`promptpo optimize` and `promptpo envs`, and the display a run (new or resumed) is watched under."""

from __future__ import annotations

import ast

import click

from promptpo.commands.common import console, finish, run_config, run_options, setup_logging


@click.command()
@click.argument("env")
@run_options(rounds=10, candidates=4, max_repairs=2, act_timeout=5.0)
@click.option("--episodes", type=int, default=5, show_default=True, help="Evaluation episodes per candidate.")
@click.option("--target", type=float, default=None, help="Stop at this success rate (mean return where the env has "
              "no success); default: the env's target.")
@click.option("--tune-constants", is_flag=True,
              help="After each round, tune the constants the program declares in TUNABLE with CMA-ES (no LLM "
              "call): the higher-ranked of the run's best and the round's best complete program not tuned itself before "
              "(a tuned result may be tuned further).")
@click.option("--tune-evals", type=int, default=30, show_default=True,
              help="Evaluations per constant-tuning phase (counted against --max-env-steps).")
@click.option("--tune-share", type=float, default=0.5, show_default=True,
              help="The most of the run's env steps constant tuning may spend (of --max-env-steps; without it, next to "
              "rounds x candidates x episodes x horizon). 1: no cap.")
@click.option("--full-episodes", is_flag=True, help="Run every episode to its end; by default, where the target is a "
              "success rate and success at any step counts (Meta-World), an episode ends at its first success.")
@click.option("--cascade", type=int, default=2, show_default=True, help="Episodes of each candidate's first stage: "
              "the rest only if they leave it able to beat the best so far. 0: every candidate gets all episodes.")
@click.option("--feedback-fn", type=click.Choice(["on", "off"]), default="on", show_default=True,
              help="Run the answer's own `class Feedback` on its episodes and show its notes in later prompts.")
@click.option("--examples", type=int, default=None, help="Solved tasks from the library shown in the first prompt "
              "as worked examples (default: 2 when the library has entries; 0: none).")
@click.option("--examples-same-task", is_flag=True, help="Let the examples include entries of this env id.")
@click.option("--library", default=None, help="Library folder (default $PROMPTPO_LIBRARY, else "
              "~/.local/share/promptpo/library).")
@click.option("--no-library", "no_library", is_flag=True, help="Do not add the best program to the library when "
              "the run reaches its target.")
def optimize(env: str, no_library: bool, feedback_fn: str, **options) -> None:
    """Write, sandbox-run and refine a policy for ENV until it reaches its target or a budget ends."""
    setup_logging(options["verbose"])
    from promptpo.api import prepare, run_optimize
    from promptpo.policy.config import OptimizeConfig

    prepared = prepare(run_config(OptimizeConfig, env, options, add_to_library=not no_library,
                                  feedback_fn=feedback_fn == "on"))
    watch(prepared, lambda display: run_optimize(prepared, observer=display))


def watch(prepared, run, what: str = "optimizing", online: bool = False) -> None:
    """Run ``run(display)`` under the live display (header, the run folder as it starts, each candidate), then say
    how it ended and exit with its status's code."""
    from promptpo.views.display import RunDisplay

    c = prepared.config
    display = RunDisplay(console(stderr=True), prepared.spec.id, prepared.backend.label, None if online else c.rounds,
                         c.candidates, prepared.spec.has_success, what=what, note=prepared.backend.header())
    with display:
        result = run(display)
    if result.library_entry:
        console(stderr=True).print(f"added to the library as {result.library_entry} (--no-library not to)")
    finish(result)


def resume_run(folder) -> None:
    """`promptpo resume`: the run continued under the same display as `optimize` (or `schedule`)."""
    from promptpo.resume import resumable

    job = resumable(folder)
    watch(job.prepared, job, what=job.prepared.kind.resuming, online=job.online)


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
