"""What a module name in a program refers to: the allowed modules as they are installed here.

A program may use a module only as ``module.name``: never as a value that could be passed on (to a method's
``self``, a container, a call) where an attribute of it could no longer be checked. Each ``module.name`` is
resolved against the installed module: a name that leads to a module outside the allow-list (``typing.warnings``,
``numpy.ma``) or to a metaclass or a denied value (``typing.ABCMeta``, ``typing.get_type_hints``) is refused, whatever module it is reached through.
"""

from __future__ import annotations

import importlib
import types
import warnings
from dataclasses import dataclass
from functools import cache

from promptpo.gate.rules import ALLOWED_MODULES, DENIED_VALUES, TYPE_ONLY_VALUES


@dataclass(frozen=True)
class Resolved:
    """What ``module.name`` is: another allowed module, a refused value (with why), a value that may only name a
    type (``numpy.ndarray``: with why), or anything else."""

    module: str | None = None
    refused: str | None = None
    type_only: str | None = None


ANYTHING = Resolved()


@cache
def module(name: str) -> types.ModuleType | None:
    if name not in ALLOWED_MODULES:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(name)
    except ImportError:
        return None


@cache
def denied() -> dict[int, tuple[str, str]]:
    """id of each denied value -> (its dotted name, why)."""
    found = {}
    for dotted, why in DENIED_VALUES.items():
        owner, _, attr = dotted.rpartition(".")
        value = getattr(module(owner), attr, None)
        if value is not None:
            found[id(value)] = (dotted, why)
    return found


def resolve_value(owner: str, attr: str) -> object | None:
    """The value ``owner.attr`` is in the installed module (None when there is none)."""
    base = module(owner)
    if base is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return getattr(base, attr)
    except Exception:  # noqa: BLE001 - no such attribute here
        return None


@cache
def type_only() -> dict[int, tuple[str, str]]:
    """id of each value that may only name a type -> (its dotted name, why)."""
    found = {}
    for dotted, why in TYPE_ONLY_VALUES.items():
        owner, _, attr = dotted.rpartition(".")
        value = resolve_value(owner, attr)
        if value is not None:
            found[id(value)] = (dotted, why)
    return found


def resolve(owner: str, attr: str) -> Resolved:
    """``owner.attr`` for an allowed module ``owner``."""
    if f"{owner}.{attr}" in ALLOWED_MODULES:
        return Resolved(module=f"{owner}.{attr}")
    base = module(owner)
    if base is None:
        return ANYTHING
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = getattr(base, attr)
    except Exception:  # noqa: BLE001 - no such attribute here: it fails when run, harmlessly
        return ANYTHING
    if isinstance(value, types.ModuleType):
        if value.__name__ in ALLOWED_MODULES:
            return Resolved(module=value.__name__)
        return Resolved(refused=f"{owner}.{attr} is the module {value.__name__}, which policies may not use")
    if isinstance(value, type) and issubclass(value, type):
        return Resolved(refused=f"{owner}.{attr} is a metaclass, which builds classes from a mapping")
    if (type(value).__module__ or "").startswith("numpy._pytesttester"):
        return Resolved(refused=f"{owner}.{attr} runs pytest in this process, with arguments the caller chooses")
    if id(value) in denied():
        dotted, why = denied()[id(value)]
        return Resolved(refused=f"{owner}.{attr} is {dotted}, which {why}")
    if id(value) in type_only():
        dotted, why = type_only()[id(value)]
        return Resolved(type_only=f"{owner}.{attr} ({dotted}) may only name a type (isinstance, annotations): {why}")
    return ANYTHING
