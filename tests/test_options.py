"""promptpo.options and promptpo.commands.options: each run option is stated once, on its config field, and the
run commands' click options are made from the fields. The expectations below are read from the dataclasses, never
listed again by hand."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from types import NoneType

import click
import pytest

from promptpo.commands.optimize import optimize
from promptpo.commands.options import run_config
from promptpo.commands.prompt import prompt
from promptpo.commands.schedule import schedule
from promptpo.engine.config import Budgets, RunConfig, duration_text, parse_duration
from promptpo.errors import ConfigError
from promptpo.isolation.base import Limits
from promptpo.llm.base import GenParams
from promptpo.options import flag, flags, one_of, options
from promptpo.policy.config import OptimizeConfig
from promptpo.schedule.config import ScheduleConfig

COMMANDS = [(optimize, OptimizeConfig), (schedule, ScheduleConfig), (prompt, OptimizeConfig)]
NOT_RUN_OPTIONS = {"env", "verbose", "help", "candidate", "show_spec", "finetune_with"}
"""The commands' parameters that are no config field: ENV, -v, --help, `prompt`'s own two, and `optimize --finetune`
(a fine-tuning run of its own after the run: its settings are FinetuneConfig's)."""


def offered_fields(config_class):
    """(name, option, default in this config, type) of every field the command line sets, nested groups included."""
    found = []
    hints = typing.get_type_hints(config_class)
    own = options(config_class)
    for f in dataclasses.fields(config_class):
        if f.name in own:
            found.append((f.name, own[f.name], f.default, hints[f.name]))
        elif f.name in ("budgets", "gen", "limits"):
            group = f.default_factory()
            inner = typing.get_type_hints(type(group))
            found += [(name, o, getattr(group, name), inner[name]) for name, o in options(type(group)).items()]
    return found


def base(hint):
    args = [a for a in typing.get_args(hint) if a is not NoneType]
    return args[0] if args else hint


@pytest.mark.parametrize("command, config_class", COMMANDS, ids=[c.name for c, _ in COMMANDS])
def test_every_offered_field_is_an_option_with_its_flag_help_choices_and_default(command, config_class):
    params = {p.name: p for p in command.params}
    given = command.make_context(command.name, ["some/env"]).params  # what each option is without being given
    fields = offered_fields(config_class)
    assert len(fields) > 30  # the engine's 29 and the kind's own
    for name, o, default, hint in fields:
        param = params[name]
        assert param.opts == [flag(name, o)] and param.help == o.help, name
        if o.multiple:
            assert param.multiple and given[name] == (), name
        elif o.switch:
            assert isinstance(param.type, click.Choice) and param.type.choices == ("on", "off")
            assert given[name] == ("on" if default else "off"), name
        elif base(hint) is bool:  # a flag: it turns the default over
            assert param.is_flag and given[name] is False, name
            assert o.flag or not default, name  # one that sets a field off names itself (--no-library)
        elif o.duration:
            assert given[name] is None if default is None else parse_duration(given[name]) == default, name
        else:
            assert given[name] == default, name
            if o.choices:
                assert isinstance(param.type, click.Choice) and param.type.choices == o.choices, name
                assert default in o.choices
    assert set(params) - NOT_RUN_OPTIONS == {name for name, *_ in fields}  # no run option written by hand


def test_each_command_shows_its_own_configs_defaults():
    """`schedule` shows ScheduleConfig's 3 rounds and 2 s act timeout where `optimize` shows 10 and 5 s."""
    for command, config_class in COMMANDS:
        defaults = {p.name: p.default for p in command.params}
        config = config_class(env="x")
        assert (defaults["rounds"], defaults["act_timeout_s"]) == (config.rounds, config.limits.act_timeout_s)
    assert ScheduleConfig(env="x").rounds != RunConfig(env="x").rounds
    assert ScheduleConfig(env="x").limits.act_timeout_s != RunConfig(env="x").limits.act_timeout_s


@pytest.mark.parametrize("command, config_class", COMMANDS, ids=[c.name for c, _ in COMMANDS])
def test_no_option_given_makes_the_configs_defaults(command, config_class):
    given = dict(command.make_context(command.name, ["some/env"]).params)
    made = run_config(config_class, given.pop("env"), given)
    expected = config_class(env="some/env")
    drop = {"salt", "episode_secret"}  # drawn afresh for every config
    assert {k: v for k, v in dataclasses.asdict(made).items() if k not in drop} == \
        {k: v for k, v in dataclasses.asdict(expected).items() if k not in drop}
    assert set(given) <= NOT_RUN_OPTIONS  # what is left is the command's own


def test_given_options_reach_their_fields_and_groups():
    args = ["x", "--model", "a", "--model", "b@0.3", "--reflection", "off", "--no-library", "--feedback-fn", "off",
            "--retry-for", "1h", "--max-time", "30m", "--act-timeout", "3", "--llm-timeout", "9", "--reflect",
            "--max-env-steps", "100", "--out", "elsewhere", "--episodes", "7", "--edit", "diff"]
    given = dict(optimize.make_context("optimize", args).params)
    config = run_config(OptimizeConfig, given.pop("env"), given)
    assert config.model == "a,b@0.3" and config.reflection is False and config.add_to_library is False
    assert config.feedback_fn is False and config.reflect is True and config.episodes == 7 and config.edit == "diff"
    assert config.gen == dataclasses.replace(GenParams(), retry_for_s=3600.0, timeout_s=9.0)
    assert config.budgets == Budgets(max_env_steps=100, max_time=1800.0)
    assert config.limits == dataclasses.replace(Limits(), act_timeout_s=3.0) and config.out == Path("elsewhere")
    assert given == {"verbose": False, "finetune_with": None}  # what remains is the command's own


def test_a_schedule_keeps_its_own_limits_beside_a_given_act_timeout():
    given = dict(schedule.make_context("schedule", ["x", "--online"]).params)
    config = run_config(ScheduleConfig, given.pop("env"), given)
    assert config.online and config.limits == ScheduleConfig(env="x").limits and config.rounds == 3


def test_a_subclass_that_changes_a_default_keeps_the_option():
    assert options(ScheduleConfig)["rounds"] == options(RunConfig)["rounds"]
    assert list(options(ScheduleConfig))[:len(options(RunConfig))] == list(options(RunConfig))


def test_flags_are_derived_unless_named():
    assert flags(Budgets) == {f.name: "--" + f.name.replace("_", "-") for f in dataclasses.fields(Budgets)}
    assert flags(Limits) == {"act_timeout_s": "--act-timeout"}  # the only limit the command line sets
    assert flags(GenParams)["timeout_s"] == "--llm-timeout" and "max_wait_s" not in flags(GenParams)


@pytest.mark.parametrize("name", [n for n, o in options(OptimizeConfig).items() if o.choices])
def test_validate_takes_the_choices_the_command_line_offers(name):
    choices = options(OptimizeConfig)[name].choices
    for value in choices:
        OptimizeConfig(env="x", **{name: value}).validate()
    with pytest.raises(ConfigError, match=one_of(choices)):
        OptimizeConfig(env="x", **{name: "nonsense"}).validate()


def test_one_of_words_a_list_of_choices():
    assert one_of(("full", "diff", "auto")) == "full, diff or auto"
    assert one_of(("weighted", "bandit")) == "weighted or bandit" and one_of(("only",)) == "only"


@pytest.mark.parametrize("seconds", [1, 90, 300, 45.5, 3600, 5400, 7200])
def test_a_duration_shown_reads_back_as_itself(seconds):
    assert parse_duration(duration_text(seconds)) == seconds
    assert duration_text(GenParams().retry_for_s) == "5m"
