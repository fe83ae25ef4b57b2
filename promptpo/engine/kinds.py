"""The registry of run kinds: what a run of each kind needs beyond its TaskKind, looked up by name or by config.

A kind of run is a TaskKind (what a program is and how it is scored: promptpo.engine.task) and a ``Kind``: the
config a run of it reads, the checks made before its run folder exists, how comparisons label it and what follows
its end. Each kind's package declares its Kind in its ``kind.py``, where the subclass registers itself.
promptpo.api starts runs and promptpo.resume continues them through this registry alone, so adding a kind edits
neither. Nothing of the engine's run imports it or any kind: the kinds' modules are imported on the first lookup,
as the llm package's backends are.
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from promptpo.engine.config import RunConfig
from promptpo.engine.launch import RunResult
from promptpo.engine.task import TaskKind
from promptpo.envspec import EnvSpec
from promptpo.llm.base import Backend

KINDS: dict[str, Kind] = {}
"""Every kind registered so far, by name (read it through ``registered``, which finds them all first)."""


class Kind:
    """A kind of run. Subclass it once per kind, naming its ``config`` and ``task``: the subclass registers itself
    under the task's name (what run.json records), and a name registered twice is an error."""

    config: ClassVar[type[RunConfig]]
    """The configuration a run of this kind reads (a resumed one reads it back from its run.json)."""
    task: ClassVar[type[TaskKind]]
    """The task kind a run of it drives, made as ``task(config, spec, sandbox)``; its ``name`` is the kind's."""
    rounds: ClassVar[bool] = True
    """Whether a run goes in rounds of candidates (online steering is one training)."""
    doing: ClassVar[str] = "optimizing"
    """What a run is said to be doing to its env, in the display (``optimizing ENV``)."""
    resuming: ClassVar[str] = "resuming"
    """The same, for a resumed run."""
    mode: ClassVar[str] = ""
    """The word the method label puts after 'promptpo' ('' for none)."""
    named_backends: ClassVar[tuple[str, ...]] = ("scripted", "manual")
    """Backends whose runs make one method each, labelled by the backend's name rather than by its model."""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "task" not in cls.__dict__:  # a base for other kinds, not a kind itself
            return
        name = cls.task.name
        if name in KINDS:
            raise TypeError(f"run kind {name!r} is registered by {type(KINDS[name]).__name__} and {cls.__name__}")
        KINDS[name] = cls()

    @property
    def name(self) -> str:
        return self.task.name

    def chooses(self, config: RunConfig) -> bool:
        """Whether a run of ``config`` is of this kind (kinds that share a config class tell their runs apart here)."""
        return True

    def available(self) -> None:
        """Raise ConfigError, before anything else is checked, when what a run of this kind needs is not installed."""

    def check(self, config: RunConfig, backend: Backend, spec: EnvSpec) -> None:
        """The kind's own checks of a run about to start or resume, once its backend and env are known (raise
        ConfigError); it may settle what the config derives from them (a schedule's steps in whole rollouts)."""

    def offline_template(self) -> Any:
        """The program template the offline proposer searches (None: the env spec's own)."""
        return None

    def folder_label(self, spec: EnvSpec) -> str:
        """What a new run folder's name says after its time stamp."""
        return f"{self.name}-{spec.id}"

    def method(self, backend: Backend) -> str:
        """How comparisons group a run: 'promptpo' and the kind's ``mode``, then the model, or the backend's name
        for the ``named_backends``."""
        who = backend.name if backend.name in self.named_backends else backend.label
        return " ".join(filter(None, ("promptpo", self.mode))) + f" ({who})"

    def starting(self, config: RunConfig, spec: EnvSpec, backend: Backend) -> None:
        """Settle what a new run fixes as it starts (a resumed run keeps what its run.json recorded)."""

    def finished(self, config: RunConfig, result: RunResult) -> RunResult:
        """What follows the end of a run, new or resumed (a policy that reached its target joins the library)."""
        return result


@cache
def registered() -> dict[str, Kind]:
    """Every kind, by name: each package of promptpo with a ``kind.py`` has it imported here, on first use."""
    package = Path(__file__).resolve().parents[1]
    for module in sorted(package.glob("*/kind.py")):
        importlib.import_module(f"promptpo.{module.parent.name}.kind")
    return KINDS


def named(name: str) -> Kind | None:
    """The kind run.json calls ``name``, or None (a baseline's training is no kind of run the engine drives)."""
    return registered().get(name)


def kind_of(config: RunConfig) -> Kind:
    """The kind a run of ``config`` is: of the kinds that read its class (the most specific), the one it chooses."""
    found = [k for k in registered().values() if isinstance(config, k.config) and k.chooses(config)]
    if not found:
        raise TypeError(f"no kind of run reads a {type(config).__name__}")
    return max(found, key=lambda k: len(k.config.__mro__))
