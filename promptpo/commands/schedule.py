"""`promptpo schedule`: the model writes PPO hyperparameter schedules (or, with --online, steers one training)."""

from __future__ import annotations

import click

from promptpo.commands.common import EVAL_EVERY, EVAL_POINTS, console, finish, run_config, run_options, setup_logging


@click.command("schedule")
@click.argument("env")
@run_options(rounds=3, candidates=2, max_repairs=1, act_timeout=2.0)
@click.option("--steps", type=int, default=50_000, show_default=True,
              help="Env steps per PPO training (per candidate; in total with --online).")
@click.option("--every", type=int, default=1, show_default=True, help="Call the schedule every N rollouts.")
@click.option("--online", is_flag=True, help="One training; the model picks hyperparameters every --interval steps.")
@click.option("--interval", type=int, default=10_000, show_default=True, help="Online mode: env steps per decision.")
@click.option("--criterion", default="auc", show_default=True, help="Rank schedules by auc or steps (to threshold).")
@EVAL_POINTS
@EVAL_EVERY
@click.option("--eval-episodes", type=int, default=None, help="Episodes per evaluation.")
def schedule(env: str, **options) -> None:
    """The model writes PPO hyperparameter schedules for ENV (or, with --online, steers one training)."""
    setup_logging(options["verbose"])
    from promptpo.views.display import RunDisplay
    from promptpo.engine.launch import new_run_id
    from promptpo.engine.store import RunStore
    from promptpo.api import execute_schedule, prepare_schedule
    from promptpo.schedule.task import ScheduleConfig

    prepared = prepare_schedule(run_config(ScheduleConfig, env, options))
    config = prepared.config
    mode = "online" if config.online else "schedule"
    store = RunStore.create(config.out, new_run_id(f"{mode}-{prepared.spec.id}"))
    display = RunDisplay(console(stderr=True), prepared.spec.id, prepared.backend.label,
                         None if config.online else config.rounds, config.candidates, prepared.spec.has_success,
                         what="steering PPO on" if config.online else "writing PPO schedules for",
                         note=prepared.backend.header())
    with display:
        result = execute_schedule(prepared, store, observer=display)
    finish(result)
