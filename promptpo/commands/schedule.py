"""`promptpo schedule`: the model writes PPO hyperparameter schedules (or, with --online, steers one training)."""

from __future__ import annotations

import click

from promptpo.commands.common import console, finish, setup_logging
from promptpo.commands.options import run_config, run_options
from promptpo.schedule.config import ScheduleConfig


@click.command("schedule")
@click.argument("env")
@run_options(ScheduleConfig)
def schedule(env: str, **options) -> None:
    """The model writes PPO hyperparameter schedules for ENV (or, with --online, steers one training)."""
    setup_logging(options["verbose"])
    from promptpo.views.display import RunDisplay
    from promptpo.engine.launch import new_run_id
    from promptpo.engine.store import RunStore
    from promptpo.api import execute_schedule, prepare_schedule

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
