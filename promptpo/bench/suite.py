"""Benchmark suites: tasks x seeds x methods, from a TOML or YAML file or one of the shipped ones.

A suite file::

    name = "mine"
    tasks = ["metaworld/reach", "gymnasium/CartPole-v1"]   # "metaworld/*": every installed MT1 task
    optional_tasks = ["gymnasium/LunarLander-v3"]          # included where the environment is installed
    seeds = [0, 1, 2]

    [[methods]]
    name = "promptpo"            # the method's label in folders and tables
    kind = "promptpo"            # promptpo (an optimize run) or ppo (the Stable-Baselines3 baseline)
    model = "{model}"            # promptpo only; {model} is bench's --model
    options = { rounds = 10, max-env-steps = 100000 }   # the command's own options

Each (task, method, seed) is a job: one ordinary run folder under the bench folder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from promptpo.errors import ConfigError

KINDS = ("promptpo", "ppo")


@dataclass(frozen=True)
class Method:
    name: str
    kind: str
    model: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def argv(self, task: str, seed: int, model: str | None, out: Path) -> list[str]:
        """The promptpo command line of this method's job on ``task`` with ``seed``."""
        options = [arg for key, value in self.options.items() for arg in _option(key, value)]
        if self.kind == "ppo":
            return ["baseline", "ppo", task, "--seeds", "1", "--first-seed", str(seed), "--workers", "1", *options,
                    "--out", str(out)]
        chosen = (self.model or "{model}").replace("{model}", model or "")
        if not chosen:
            raise ConfigError(f"method {self.name!r} takes its model from --model, and none was given",
                              "pass --model, e.g. --model offline")
        return ["optimize", task, "--model", chosen, "--seed", str(seed), *options, "--out", str(out)]


@dataclass(frozen=True)
class Job:
    task: str
    method: Method
    seed: int

    @property
    def key(self) -> str:
        """Its folder under the bench folder: method/task/seed-N."""
        return f"{self.method.name}/{self.task.replace('/', '-')}/seed-{self.seed}"


@dataclass(frozen=True)
class Suite:
    name: str
    tasks: list[str]
    seeds: list[int]
    methods: list[Method]

    def jobs(self) -> list[Job]:
        return [Job(task, method, seed) for method in self.methods for task in self.tasks for seed in self.seeds]


def _option(key: str, value: Any) -> list[str]:
    flag = "--" + key.replace("_", "-")
    if value is True:
        return [flag]
    if value is False or value is None:
        return []
    return [flag, str(value)]


def shipped() -> dict[str, Path]:
    folder = resources.files("promptpo.bench") / "suites"
    return {p.name.removesuffix(".toml"): Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}


def load(name_or_path: str, seeds: list[int] | None = None) -> Suite:
    """A shipped suite by name, or a suite file; ``seeds`` replaces the file's."""
    path = shipped().get(name_or_path) or Path(name_or_path)
    if not path.is_file():
        raise ConfigError(f"no suite {name_or_path!r}",
                          f"give a .toml or .yaml file or one of: {', '.join(sorted(shipped()))}")
    data = _read(path)
    try:
        methods = [Method(str(m["name"]), str(m.get("kind", "promptpo")), m.get("model"), dict(m.get("options") or {}))
                   for m in data["methods"]]
        tasks = [str(t) for t in data["tasks"]]
        suite = Suite(str(data.get("name", path.stem)), _expand(tasks) + _installed(data.get("optional_tasks", [])),
                      [int(s) for s in (seeds if seeds is not None else data.get("seeds", [0]))], methods)
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"suite {path} is malformed ({type(err).__name__}: {err})",
                          "it needs tasks, seeds and [[methods]] with a name (see promptpo bench --help)") from None
    for method in methods:
        if method.kind not in KINDS:
            raise ConfigError(f"suite {path}: method {method.name!r} has kind {method.kind!r}",
                              f"use one of: {', '.join(KINDS)}")
    if len({m.name for m in methods}) != len(methods) or not suite.tasks or not suite.seeds:
        raise ConfigError(f"suite {path} needs tasks, seeds and methods with distinct names")
    return suite


def only(suite: Suite, names: list[str]) -> Suite:
    """The suite with just the methods named (a bench folder keeps the others' jobs for later)."""
    unknown = [n for n in names if n not in {m.name for m in suite.methods}]
    if unknown or not names:
        raise ConfigError(f"suite {suite.name} has no method {', '.join(unknown) or '(none given)'}",
                          f"its methods: {', '.join(m.name for m in suite.methods)}")
    return Suite(suite.name, suite.tasks, suite.seeds, [m for m in suite.methods if m.name in names])


def _read(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = tomllib.loads(text)
    except Exception as err:  # noqa: BLE001 - either parser's error, said in one line
        raise ConfigError(f"cannot read the suite {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"suite {path} is not a table of settings")
    return data


def _expand(tasks: list[str]) -> list[str]:
    out = []
    for task in tasks:
        if task == "metaworld/*":
            from promptpo.envs.metaworld import known_tasks

            out += [f"metaworld/{name}" for name in known_tasks()]
        else:
            out.append(task)
    return out


def _installed(tasks: list[str]) -> list[str]:
    """The optional tasks whose environment can be made here (LunarLander needs Box2D)."""
    from promptpo.envs import load_spec

    found = []
    for task in tasks:
        try:
            load_spec(task).make_env(0).close()
            found.append(task)
        except Exception:  # noqa: BLE001 - not installed: left out, as the suite says
            continue
    return found
