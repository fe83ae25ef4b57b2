"""How a config field is offered on the command line: its help text, flag and choices, carried by the field.

The config dataclasses (promptpo.engine.config.RunConfig with its Budgets, GenParams and Limits, and each task
kind's config) are the one statement of each run option. A field the command line sets says so::

    rounds: int = field(default=10, metadata=option("Refinement rounds."))

and promptpo.commands.options makes the click option from it: the flag (``--rounds`` unless ``flag`` names
another), the type and default of the field (a config's subclass may change a default: each command shows its
own), the help text, and ``choices`` (the constant of the module that gives each value its meaning; validation
reads the same constant). A field without ``option`` is set only through the Python API or a run's records.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass


@dataclass(frozen=True)
class Option:
    help: str
    """The help text of the option (the field's docstring says more, for the Python API)."""
    flag: str = ""
    """The flag when it is not ``--field-name`` (a bool field whose default is True is set off by its flag,
    so it names one, e.g. ``--no-library``)."""
    choices: tuple[str, ...] = ()
    """The values the command line accepts, when it checks them itself."""
    switch: bool = False
    """A bool given as on or off (rather than as a flag)."""
    multiple: bool = False
    """Given once per value; the field holds the values joined by commas."""
    duration: bool = False
    """Given as seconds or with a unit (90, 30m, 2h: promptpo.engine.config.parse_duration); the field holds
    seconds, and its default is shown with a unit."""


def option(help: str, **settings) -> dict[str, Option]:
    """The metadata of a field the command line sets (``field(metadata=option(...))``)."""
    return {"option": Option(help, **settings)}


def options(cls) -> dict[str, Option]:
    """Field name -> option of every field of dataclass ``cls`` the command line sets, in field order. A subclass
    that changes a field's default (``rounds: int = 3``) keeps the option its base class declared."""
    declared: dict[str, Option] = {}
    for klass in reversed(cls.__mro__):
        if is_dataclass(klass):
            declared.update((f.name, f.metadata["option"]) for f in fields(klass) if "option" in f.metadata)
    return {f.name: declared[f.name] for f in fields(cls) if f.name in declared}


def flag(name: str, found: Option) -> str:
    """A field's flag on the command line (``--max-env-steps``, or the one it names: ``--act-timeout``)."""
    return found.flag or "--" + name.replace("_", "-")


def flags(cls) -> dict[str, str]:
    """Field name -> flag of every field of dataclass ``cls`` the command line sets."""
    return {name: flag(name, found) for name, found in options(cls).items()}


def one_of(values: tuple[str, ...]) -> str:
    """('full', 'diff', 'auto') -> 'full, diff or auto' (how an error names an option's choices)."""
    return " or ".join(filter(None, (", ".join(values[:-1]), values[-1]))) if values else ""
