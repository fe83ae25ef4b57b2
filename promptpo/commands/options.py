"""A run command's options, made from its config's fields (promptpo.options), and the config made from what they
were given: `optimize` and `prompt` from OptimizeConfig, `schedule` from ScheduleConfig.

Each field the command line sets becomes one click option named like the field (its flag ``--field-name`` unless
the field names another), with the field's default in that config (``schedule`` shows 3 rounds, ``optimize``
10) and its type: a bool is a flag (one whose default is True is set off by it), ``switch`` an on/off choice,
``multiple`` an option given once per value, ``duration`` a text such as 30m. Fields of the nested Budgets,
GenParams and Limits stand where their group stands in the config. The engine's options come first, then
``-v``, then the task kind's own.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from types import NoneType
from typing import Any

import click

from promptpo.engine.config import RunConfig, duration_text, parse_duration
from promptpo.options import Option, flag, options

VERBOSE = click.option("-v", "--verbose", is_flag=True, help="Log retries and sandbox details.")


@dataclass(frozen=True)
class Offered:
    """One field a command offers: its name, the group it sits in (None: the config itself), its option, its
    default in the command's config and its type."""

    name: str
    group: str | None
    option: Option
    default: Any
    kind: type

    @property
    def flag(self) -> str:
        return flag(self.name, self.option)

    def click_option(self):
        o, default = self.option, self.default
        declared = (self.flag, self.name)  # the parameter is named as the field, whatever its flag
        if o.multiple:
            return click.option(*declared, multiple=True, help=o.help)
        if o.switch:
            return click.option(*declared, type=click.Choice(["on", "off"]), default="on" if default else "off",
                                show_default=True, help=o.help)
        if self.kind is bool:
            return click.option(*declared, is_flag=True, help=o.help)
        if o.duration:
            kind, default = str, None if default is None else duration_text(default)
        elif o.choices:
            kind = click.Choice(o.choices)
        else:
            kind = click.Path(path_type=Path) if self.kind is Path else self.kind
        if default is dataclasses.MISSING:
            return click.option(*declared, type=kind, required=True, help=o.help)
        return click.option(*declared, type=kind, default=default, show_default=default is not None, help=o.help)

    def value(self, given: Any) -> Any:
        """The field's value from what the command line gave."""
        o = self.option
        if o.multiple:
            return ",".join(given) or None
        if o.switch:
            return given == "on"
        if self.kind is bool:
            return not given if self.default else bool(given)
        if o.duration:  # an empty text is no limit where the default is none
            return None if given is None or (given == "" and self.default is None) else parse_duration(given)
        return given


def offered(config_class: type[RunConfig]) -> list[Offered]:
    """The fields of ``config_class`` (and of its nested groups) the command line sets, in the config's order."""
    found = []
    hints = typing.get_type_hints(config_class)
    offers = options(config_class)
    for f in dataclasses.fields(config_class):
        kind = bare(hints[f.name])
        if f.name in offers:
            found.append(Offered(f.name, None, offers[f.name], f.default, kind))
        elif dataclasses.is_dataclass(kind) and f.default_factory is not dataclasses.MISSING:  # a group
            defaults = f.default_factory()  # this config's own: a schedule's act timeout is 2 s
            inner = typing.get_type_hints(kind)
            found += [Offered(name, f.name, o, getattr(defaults, name), bare(inner[name]))
                      for name, o in options(kind).items()]
    return found


def bare(hint: Any) -> Any:
    """``int | None`` -> int."""
    args = [a for a in typing.get_args(hint) if a is not NoneType]
    return args[0] if len(args) == 1 else hint


def run_options(config_class: type[RunConfig]):
    """The options of a run command: the engine's (RunConfig's fields), ``-v``, then the task kind's own."""
    every = offered(config_class)
    engine = {f.name for f in dataclasses.fields(RunConfig)}
    made = [o.click_option() for o in every if (o.group or o.name) in engine] + [VERBOSE] + \
        [o.click_option() for o in every if (o.group or o.name) not in engine]

    def decorate(command):
        for made_option in reversed(made):
            command = made_option(command)
        return command

    return decorate


def field_option(config_class: type[RunConfig], name: str):
    """The click option of one field (commands that share it without being runs of that config)."""
    return next(o for o in offered(config_class) if o.name == name).click_option()


def run_config(config_class: type[RunConfig], env: str, given: dict) -> RunConfig:
    """The config of a run command's options (each popped from ``given``; what remains is the command's own)."""
    top: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for o in offered(config_class):
        value = o.value(given.pop(o.name))
        (groups.setdefault(o.group, {}) if o.group else top)[o.name] = value
    defaults = {f.name: f for f in dataclasses.fields(config_class)}
    nested = {group: dataclasses.replace(defaults[group].default_factory(), **values)
              for group, values in groups.items()}
    return config_class(env=env, **top, **nested)
