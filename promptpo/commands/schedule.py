"""`promptpo schedule`: the model writes PPO hyperparameter schedules (or, with --online, steers one training)."""

from __future__ import annotations

import click

from promptpo.commands.common import setup_logging
from promptpo.commands.optimize import watch
from promptpo.commands.options import run_config, run_options
from promptpo.schedule.config import ScheduleConfig


@click.command("schedule")
@click.argument("env")
@run_options(ScheduleConfig)
def schedule(env: str, **options) -> None:
    """The model writes PPO hyperparameter schedules for ENV (or, with --online, steers one training)."""
    setup_logging(options["verbose"])
    from promptpo.api import prepare, run

    prepared = prepare(run_config(ScheduleConfig, env, options))
    watch(prepared, lambda display: run(prepared, observer=display))
