"""What every search run is configured by: rounds, candidates, repairs, budgets, the model's and the
sandbox's settings. Each task kind's config (policy runs, schedule runs) extends ``RunConfig``.

Each field the command line sets carries its option (promptpo.options): the commands' options are made from
these fields, in their order, so a field is the one statement of its option."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from promptpo.edits import MODES
from promptpo.errors import ConfigError, fields_at_least_one
from promptpo.isolation.base import Limits
from promptpo.llm.base import GenParams
from promptpo.llm.mixture import SELECTIONS
from promptpo.options import flags, one_of, option
from promptpo.search import SEARCHES
from promptpo.seeds import episode_secret

MODEL_ENV = "PROMPTPO_MODEL"
NO_MODEL_NOTICE = ("no model configured: using the offline proposer (CMA-ES over a program built from the env spec, "
                   "no LLM). To use an LLM pass --model (e.g. openai/gpt-4o, anthropic:claude-sonnet-4-5, manual) "
                   f"or set {MODEL_ENV}.")


@dataclass
class Budgets:
    """Hard limits for a run; None means no limit. Each is checked before it could be exceeded."""

    max_llm_calls: int | None = field(default=None, metadata=option("Budget: LLM calls."))
    """LLM calls, repairs included."""
    max_env_steps: int | None = field(default=None, metadata=option("Budget: simulator steps."))
    """Simulator steps over all evaluations. An evaluation is only started if its worst case
    (policies: episodes x horizon; schedules: one training) still fits."""
    max_cost: float | None = field(default=None, metadata=option("Budget: USD."))
    """USD. A call is only made if its worst case (the prompt as sent + max_tokens at the model's
    price) fits; for models without a known price only the spent cost is checked."""
    max_time: float | None = field(default=None, metadata=option("Budget: wall time, e.g. 900, 30m, 2h.",
                                                                 duration=True))
    """Wall-clock seconds for the whole run."""


EXECUTORS = ("local", "ray")
"""Where evaluations (and bench jobs, PPO seeds) run: this machine, or Ray tasks (promptpo.isolation.cluster)."""


def check_executor(name: str) -> None:
    if name not in EXECUTORS:
        raise ConfigError(f"unknown executor {name!r}", f"choose one of: {', '.join(EXECUTORS)}")


@dataclass
class RunConfig:
    env: str
    """Environment id, e.g. metaworld/reach or gymnasium/CartPole-v1."""
    model: str | None = field(default=None, metadata=option(
        "LLM backend: provider/model (litellm), openai:MODEL, anthropic:MODEL, manual, scripted:PATH or offline (no "
        "LLM). Default: $PROMPTPO_MODEL, else offline. Give it more than once to share the calls between models, "
        "each with an optional weight: --model a --model b@0.3.", multiple=True))
    """LLM backend string; falls back to $PROMPTPO_MODEL, then to the offline proposer. Several models joined by
    commas, each with an optional @weight, share the run's calls (promptpo.llm.mixture)."""
    model_selection: str = field(default="weighted", metadata=option(
        "With several models: pick one per call by weight, or by a bandit on how often each one's candidates "
        "improved on their parent.", choices=SELECTIONS))
    """How a run with several models picks one per call: weighted or bandit."""
    rounds: int = field(default=10, metadata=option("Refinement rounds."))
    """Refinement rounds (round 0 writes from scratch, later rounds refine)."""
    candidates: int = field(default=4, metadata=option("Candidates (LLM calls) per round."))
    """Candidates per round, each its own LLM call."""
    seed: int = field(default=0, metadata=option("Run seed: fixes evaluation episodes, goals and training seeds."))
    """Run seed: fixes the evaluation episodes (seeds, goal variations) and the worker's RNG."""
    sandbox: str = field(default="process", metadata=option("Isolation backend: process or docker."))
    """Isolation backend: process (bubblewrap) or docker (promptpo.isolation.BACKENDS)."""
    budgets: Budgets = field(default_factory=Budgets)
    concurrency: int = field(default=0, metadata=option(
        "Candidates of a round proposed together, their LLM calls in flight at once; they see the same history. "
        "0: the whole round. 1: one at a time, stopping at the first answer that reaches the target."))
    """Slots of a round proposed together, their calls in flight at once (0: all of the round's candidates).
    Their prompts see the same history; 1 asks one at a time and stops at the first answer that reaches the
    target. Recorded: it shapes the run."""
    workers: int = field(default=0, metadata=option(
        "Evaluations run side by side (0: one per core); never changes the results."))
    """Evaluations run side by side (0: one per core). Only speed: the run folder is the same for any number."""
    executor: str = field(default="local", metadata=option(
        "Where evaluations run: local, or ray (Ray tasks on --address / $RAY_ADDRESS, else a local Ray; each node "
        "sandboxes its candidates itself)."))
    """Where evaluations run: local (this machine's --workers) or ray (Ray tasks, promptpo.isolation.cluster)."""
    address: str | None = field(default=None, metadata=option("Ray cluster address for --executor ray."))
    """The Ray cluster's address (else $RAY_ADDRESS, else a local Ray)."""
    search: str = field(default="greedy", metadata=option(
        "How parents are chosen: greedy (slot k refines the k-th best) or islands (separate populations with "
        "MAP-Elites cells, migrating their best every --migrate-every rounds).", choices=SEARCHES))
    """How parents are chosen: greedy (slot k refines the k-th best) or islands (promptpo.search.islands)."""
    islands: int = field(default=2, metadata=option("Islands of --search islands."))
    """Islands of the islands search."""
    migrate_every: int = field(default=3, metadata=option("Rounds between migrations (--search islands)."))
    """Rounds between migrations of each island's best to the next island."""
    edit: str = field(default="auto", metadata=option(
        "How refinement and repair answers may give their program: full (whole programs), diff (SEARCH/REPLACE "
        "blocks against the program the prompt names) or auto (either).", choices=MODES))
    """How refinement and repair answers may give their program: full, diff or auto (promptpo.edits)."""
    reflect: bool = field(default=False, metadata=option(
        "After each round, one short extra LLM call asks the model what the round taught it; its answers are "
        "shown in later prompts."))
    """After each round but the last, one short extra call asks the model what the round taught it; the answers
    are shown in later refinement prompts."""
    reflection: bool = field(default=True, metadata=option(
        "Show the model its own analysis (what its answer said before the program) for the parent and the latest "
        "round.", switch=True))
    """Show the model its own analysis (the answer's text before its program) of the parent and the latest round."""
    max_repairs: int = field(default=2, metadata=option("Repair prompts after a candidate that cannot be scored."))
    """Repair prompts allowed after a candidate that cannot be scored (syntax error, crash, limit)."""
    prompt_budget: int = field(default=12000, metadata=option(
        "Tokens per prompt, counted as the run records them (system prompt included); the history is trimmed to "
        "fit."))
    """Approximate tokens per prompt; the history is trimmed to fit."""
    gen: GenParams = field(default_factory=GenParams)
    limits: Limits = field(default_factory=Limits)
    out: Path = field(default=Path("runs"), metadata=option("Folder for run folders."))
    """Folder that receives the run folder."""
    salt: str = field(default_factory=lambda: secrets.token_hex(8))
    """The secret the sandbox worker's RNG seeds are derived with (promptpo.seeds.worker_seed): kept in
    run.json, which the sandbox never sees, so a re-run draws the same and a policy cannot tell its episodes."""
    episode_secret: str | None = field(default_factory=lambda: episode_secret())
    """What the evaluation episodes' seeds are drawn with besides the run seed (promptpo.seeds): kept in run.json,
    which the sandbox never sees, so a policy cannot draw them itself; None for runs recorded before it."""
    gate: bool = True
    """Refuse code that reaches outside what a program needs before it runs (promptpo.gate), and let
    only the gate's modules import in the sandbox. Off only to test the sandbox alone."""

    def __post_init__(self) -> None:
        if not self.gate and self.limits.guard:
            self.limits = dataclasses.replace(self.limits, guard=False)

    POSITIVE = ("rounds", "candidates", "prompt_budget")
    """Fields that must be at least 1 (subclasses add theirs)."""
    BEFORE: ClassVar[dict[str, Any]] = {"concurrency": 1, "reflection": False, "episode_secret": None}
    """Values for fields a newer version added whose default changes behaviour: what a run recorded
    before they existed did (a subclass lists its own)."""

    def resolved_model(self) -> str:
        """--model, else $PROMPTPO_MODEL, else the offline proposer (no LLM)."""
        return self.model or os.environ.get(MODEL_ENV) or "offline"

    def validate(self) -> RunConfig:
        fields_at_least_one(self, self.POSITIVE)
        if self.concurrency < 0 or self.workers < 0:
            raise ConfigError(f"--concurrency and --workers must be 0 (automatic) or more (got {self.concurrency}, "
                              f"{self.workers})")
        check_executor(self.executor)
        if self.search not in SEARCHES or self.islands < 1 or self.migrate_every < 1:
            raise ConfigError(f"--search must be {one_of(SEARCHES)}, --islands and --migrate-every at least 1 (got "
                              f"{self.search!r}, {self.islands}, {self.migrate_every})")
        if self.model_selection not in SELECTIONS:
            raise ConfigError(f"--model-selection must be {one_of(SELECTIONS)} (got {self.model_selection!r})")
        if self.edit not in MODES:
            raise ConfigError(f"--edit must be {one_of(MODES)} (got {self.edit!r})")
        if self.max_repairs < 0:
            raise ConfigError(f"--max-repairs must be 0 or more (got {self.max_repairs})")
        for name, flag in flags(Budgets).items():
            value = getattr(self.budgets, name)
            if value is not None and (not math.isfinite(value) or value <= 0):
                raise ConfigError(f"{flag} must be a positive number (got {value})")
        t = self.gen.temperature
        if self.gen.timeout_s <= 0 or self.gen.max_tokens < 1 or (t is not None and not 0 <= t <= 2):
            raise ConfigError("--llm-timeout and --max-tokens must be positive and --temperature in [0, 2]")
        if not self.gen.retry_for_s > 0:
            raise ConfigError(f"--retry-for must be a positive duration (got {self.gen.retry_for_s})")
        check_limits(self.limits)
        return self

    def public(self) -> dict:
        """What run.json records (credentials stripped from the API base)."""
        data = asdict(self)
        data["out"] = str(self.out)
        data["gen"] = self.gen.public()
        return data

    @classmethod
    def from_record(cls, data: dict[str, Any], out: Path) -> RunConfig:
        """The config a run.json recorded (fields a newer version added take ``BEFORE`` or their defaults)."""
        names = {f.name for f in dataclasses.fields(cls)}
        nested = {"budgets": Budgets, "gen": GenParams, "limits": Limits}
        values: dict[str, Any] = {k: v for k, v in cls.BEFORE.items() if k not in data}
        for key, value in data.items():
            if key not in names:
                continue
            if key in nested:
                known = {f.name for f in dataclasses.fields(nested[key])}
                value = nested[key](**{k: v for k, v in (value or {}).items() if k in known})
            values[key] = value
        values["out"] = out
        return cls(**values)


def check_limits(limits: Limits) -> None:
    """Every limit is a positive, finite number: a zero or negative one would stop every candidate before it
    ran (``--act-timeout 0`` ended a run 'completed, best: none' with no reason given)."""
    offered = flags(Limits)  # the limits the command line sets (the others only through the Python API)
    for name, value in asdict(limits).items():
        if isinstance(value, bool):
            continue
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            flag = offered.get(name, f"the limit {name}")
            raise ConfigError(f"{flag} must be a positive number (got {value:g})",
                              f"e.g. {flag} {getattr(Limits, name)}" if name in offered else None)


LLM_ONLY = ("search", "edit", "reflect", "temperature", "api_base", "max_llm_calls", "examples")
"""Options that shape what a language model is asked or how its calls are counted: at their defaults (and
--examples 0) the offline proposer (CMA-ES, no LLM) runs exactly as without them."""
UNSHOWN = ("api_base",)
"""Options an error names without their value (an address may hold credentials)."""


def check_offline(config: RunConfig) -> None:
    """Refuse options that mean nothing to the offline proposer, rather than ignore them."""
    parts = (config.gen, config.budgets, config)
    values = {f.name: getattr(part, f.name) for part in parts for f in dataclasses.fields(part)}
    defaults = {f.name: f.default for part in parts for f in dataclasses.fields(part)}
    offered = {name: text for part in parts for name, text in flags(type(part)).items()}
    given = [offered[name] + ("" if isinstance(values[name], bool) or name in UNSHOWN else f" {values[name]}")
             for name in LLM_ONLY
             if name in values and values[name] != defaults[name] and not (name == "examples" and values[name] == 0)]
    if given:
        why = "" if config.model else f", which runs when no --model is given and ${MODEL_ENV} is unset"
        cap = "; cap an offline run with --rounds, --max-env-steps or --max-time" if config.budgets.max_llm_calls else ""
        raise ConfigError(f"{', '.join(given)} mean{'s' if len(given) == 1 else ''} nothing to the offline proposer "
                          f"(CMA-ES over a program template, no LLM){why}",
                          f"drop {'it' if len(given) == 1 else 'them'} or pass --model with an LLM{cap}")


def options_of(options: dict[str, Any], config_class: type[RunConfig], where: str, **fixed: Any) -> RunConfig:
    """A config from flat keyword options (the Python API): each goes to the config, its budgets, gen
    or limits, by field name; an unknown one is a ConfigError."""
    groups = {cls: {f.name for f in dataclasses.fields(cls)} for cls in (Budgets, GenParams, Limits)}
    top = {f.name for f in dataclasses.fields(config_class)} - {"budgets", "gen", "limits"}
    picked: dict[type, dict[str, Any]] = {cls: {} for cls in groups}
    values: dict[str, Any] = dict(fixed)
    for key, value in options.items():
        owner = next((cls for cls, names in groups.items() if key in names), None)
        if owner is not None:
            picked[owner][key] = value
        elif key in top:
            values[key] = Path(value) if key == "out" else str(value) if isinstance(value, Path) else value
        else:
            raise ConfigError(f"unknown option {key!r} for {where}")
    defaults = {f.name: f for f in dataclasses.fields(config_class)}
    limits = defaults["limits"].default_factory()  # a task kind's own default limits, with the options applied
    return config_class(budgets=Budgets(**picked[Budgets]), gen=GenParams(**picked[GenParams]),
                        limits=dataclasses.replace(limits, **picked[Limits]), **values)


def parse_duration(text: str) -> float:
    """'90', '90s', '30m', '2h' -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise ConfigError(f"cannot read the duration {text!r}", "use seconds or a unit, e.g. 90, 30m, 2h")
    value = float(match.group(1)) * UNITS[match.group(2)]
    if value <= 0:
        raise ConfigError(f"the duration {text!r} must be positive")
    return value


UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}


def duration_text(seconds: float) -> str:
    """300 -> '5m', 7200 -> '2h', 90 -> '90s': a duration as parse_duration reads it, in its largest whole unit."""
    unit = next(u for u in ("h", "m", "s") if seconds % UNITS[u] == 0 or u == "s")
    return f"{seconds / UNITS[unit]:g}{unit}"
