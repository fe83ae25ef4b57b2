"""The Python API: ``promptpo.optimize(...)`` (policy runs), ``run_schedule(...)`` (schedule and online
runs), and what they return."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptpo.policy.config import MODEL_ENV, NO_MODEL_NOTICE, OptimizeConfig
from promptpo.engine.config import RunConfig, check_offline, options_of
from promptpo.engine.launch import execute as launch
from promptpo.engine.launch import RunResult, new_run_id, versions
from promptpo.engine.state import Observer
from promptpo.engine.store import RunStore
from promptpo.envs import load_spec
from promptpo.envspec import EnvSpec
from promptpo.isolation import make_sandbox
from promptpo.isolation.base import Sandbox
from promptpo.search import make_proposer
from promptpo.llm.base import Backend
from promptpo.errors import ConfigError
from promptpo.schedule.online import OnlineTask
from promptpo.policy.task import PolicyTask
from promptpo.schedule.task import ScheduleConfig, ScheduleTask, method_label as schedule_method

__all__ = ["RunResult", "execute", "execute_schedule", "join_library", "new_run_id", "optimize", "prepare",
           "prepare_schedule", "run_optimize", "run_schedule", "versions"]

log = logging.getLogger(__name__)


def method_label(backend: Backend) -> str:
    """How comparisons group runs: by model, with replayed and hand-written answers as one method each."""
    return f"promptpo ({backend.name})" if backend.name in ("scripted", "manual") else f"promptpo ({backend.label})"


@dataclass
class Prepared:
    """Everything checked and built that can be, before a run folder exists."""

    config: RunConfig
    model: str
    backend: Backend
    spec: EnvSpec
    sandbox: Sandbox


def _prepared(config: RunConfig, checks: Callable[[Backend, EnvSpec], None] = lambda backend, spec: None,
              template: Any = None) -> Prepared:
    """Check the config, the backend (key present?), the environment and the sandbox; raise ConfigError
    early. ``checks(backend, spec)`` adds the kind's own checks; the offline proposer searches ``template``
    (default: the spec's), one round being one CMA-ES generation."""
    config.validate()
    model = config.resolved_model()
    backend = make_proposer(model, config.gen, config.model_selection, config.seed)
    backend.check()
    spec = load_spec(config.env)
    checks(backend, spec)
    if backend.name == "offline":
        check_offline(config)
        if not (config.model or os.environ.get(MODEL_ENV)):
            log.warning(NO_MODEL_NOTICE)
        backend.bind(spec, config.seed, config.candidates, template=template)
        config.candidates = backend.popsize
    sandbox = make_sandbox(config.sandbox)
    RunStore.check_writable(Path(config.out))
    return Prepared(config, model, backend, spec, sandbox)


def prepare(config: OptimizeConfig) -> Prepared:
    """A policy run, checked (see _prepared)."""
    return _prepared(config)


def run_optimize(config: OptimizeConfig | Prepared, observer: Observer | None = None) -> RunResult:
    from promptpo.policy import library

    prepared = config if isinstance(config, Prepared) else prepare(config)
    c = prepared.config
    if prepared.backend.uses_prompts:  # the offline proposer reads no prompt
        c.shown_examples = library.for_run(c, prepared.spec)
    store = RunStore.create(Path(c.out), new_run_id(prepared.spec.id))
    return join_library(prepared.config, execute(prepared, store, observer))


def join_library(config: OptimizeConfig, result: RunResult) -> RunResult:
    """A policy run that reached its target adds its best program to the library (unless --no-library), new
    or resumed alike; the run is recorded either way."""
    from promptpo.policy import library

    if not (config.add_to_library and result.status == "target_reached"):
        return result
    root = Path(config.library).expanduser() if config.library else library.default_root()
    try:
        result.library_entry = library.add(result.run_dir, root).name
    except (OSError, ConfigError) as err:
        log.warning("could not add the run to the library at %s: %s", root, err)
    return result


def execute(prepared: Prepared, store: RunStore, observer: Observer | None = None, replay=None,
            run_json: dict[str, Any] | None = None, elapsed: float = 0.0) -> RunResult:
    """Run the policy search into ``store``: a new run, or a resumed one (``replay(task)`` gives what the
    folder recorded; ``run_json`` is the old run.json)."""
    config, backend = prepared.config, prepared.backend
    task = PolicyTask(config, prepared.spec, prepared.sandbox)
    return launch(task, config, backend, store, model=prepared.model, meta={"method": method_label(backend)},
                  observer=observer, replay=replay(task) if replay else None, run_json=run_json, elapsed=elapsed)


def optimize(env: str, model: str | None = None, *, observer: Observer | None = None, **options: Any) -> RunResult:
    """Optimize a policy for ``env`` with ``model``; options are OptimizeConfig, Budgets,
    GenParams or Limits field names, e.g. ``rounds=3, max_env_steps=50_000, temperature=0.5``."""
    return run_optimize(options_of(options, OptimizeConfig, "promptpo.optimize", env=env, model=model), observer)


def prepare_schedule(config: ScheduleConfig) -> Prepared:
    """A schedule or online run, checked (see _prepared); PPO's budget is rounded down to whole rollouts."""
    from promptpo.baselines import check_installed
    from promptpo.baselines.hyperparams import check_steps, for_env, whole_rollouts
    from promptpo.schedule.steering import schedule_template

    check_installed()

    def checks(backend: Backend, spec: EnvSpec) -> None:
        hp = for_env(spec.id)
        check_steps("--steps", config.steps, hp, spec.id)
        config.steps = whole_rollouts(config.steps, hp)  # PPO trains in whole rollouts: never past the budget
        if backend.name == "offline" and config.online:
            raise ConfigError("online mode needs an LLM (or scripted answers)", "pass --model")

    return _prepared(config, checks, template=schedule_template())


def execute_schedule(prepared: Prepared, store: RunStore, observer: Observer | None = None, replay=None,
                     run_json: dict[str, Any] | None = None, elapsed: float = 0.0) -> RunResult:
    """Run a schedule (or online) search into ``store``; ``replay(task)`` when resuming."""
    config = prepared.config
    task = (OnlineTask if config.online else ScheduleTask)(config, prepared.spec, prepared.sandbox)
    task.method = schedule_method(prepared.backend.name, prepared.backend.label, task.name)
    return launch(task, config, prepared.backend, store, model=prepared.model, observer=observer,
                  replay=replay(task) if replay else None, run_json=run_json, elapsed=elapsed)


def run_schedule(config: ScheduleConfig, observer: Observer | None = None) -> Path:
    """A schedule (or online) run into a new run folder under ``config.out``; returns the folder."""
    prepared = prepare_schedule(config)
    kind = "online" if config.online else "schedule"
    store = RunStore.create(Path(config.out), new_run_id(f"{kind}-{prepared.spec.id}"))
    execute_schedule(prepared, store, observer)
    return store.root
