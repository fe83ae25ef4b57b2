"""The Python API: ``promptpo.optimize(...)`` (policy runs), ``run_schedule(...)`` (schedule and online runs), and
what they return.

Every kind of run is checked, started and continued the same way: ``prepare`` finds its kind in the registry
(promptpo.engine.kinds) and makes the kind's checks, ``run`` starts it in a new run folder, and ``execute`` runs it
into a folder (promptpo.resume continues one with it)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptpo.engine.config import MODEL_ENV, NO_MODEL_NOTICE, RunConfig, check_offline, options_of
from promptpo.engine.kinds import Kind, kind_of
from promptpo.engine.launch import execute as launch
from promptpo.engine.launch import RunResult, new_run_id, versions
from promptpo.engine.replay import Replay
from promptpo.engine.state import Observer
from promptpo.engine.store import RunStore
from promptpo.engine.task import TaskKind
from promptpo.envs import load_spec
from promptpo.envspec import EnvSpec
from promptpo.isolation import make_sandbox
from promptpo.isolation.base import Sandbox
from promptpo.llm.base import Backend
from promptpo.policy.config import OptimizeConfig
from promptpo.schedule.config import ScheduleConfig
from promptpo.search import make_proposer

__all__ = ["Prepared", "RunResult", "execute", "new_run_id", "optimize", "prepare",
           "run", "run_optimize", "run_schedule", "versions"]

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """Everything checked and built that can be, before a run folder exists."""

    kind: Kind
    config: RunConfig
    model: str
    backend: Backend
    spec: EnvSpec
    sandbox: Sandbox


def prepare(config: RunConfig) -> Prepared:
    """Check a run of any kind: what its kind needs installed, the config, the backend (key present?), the
    environment, the kind's own checks and the sandbox; raise ConfigError early. The offline proposer searches the
    kind's template (default: the spec's), one round being one CMA-ES generation."""
    kind = kind_of(config)
    kind.available()
    config.validate()
    model = config.resolved_model()
    backend = make_proposer(model, config.gen, config.model_selection, config.seed)
    backend.check()
    spec = load_spec(config.env)
    kind.check(config, backend, spec)
    if backend.name == "offline":
        check_offline(config)
        if not (config.model or os.environ.get(MODEL_ENV)):
            log.warning(NO_MODEL_NOTICE)
        backend.bind(spec, config.seed, config.candidates, template=kind.offline_template())
        config.candidates = backend.popsize
    sandbox = make_sandbox(config.sandbox)
    RunStore.check_writable(Path(config.out))
    return Prepared(kind, config, model, backend, spec, sandbox)


def run(config: RunConfig | Prepared, observer: Observer | None = None, then: dict[str, Any] | None = None
        ) -> RunResult:
    """A run of any kind into a new run folder under ``config.out`` (``then``: the stage its command runs after it,
    recorded in run.json for `promptpo resume`)."""
    prepared = config if isinstance(config, Prepared) else prepare(config)
    kind, c = prepared.kind, prepared.config
    kind.starting(c, prepared.spec, prepared.backend)
    store = RunStore.create(Path(c.out), new_run_id(kind.folder_label(prepared.spec)))
    return execute(prepared, store, observer, then=then)


def execute(prepared: Prepared, store: RunStore, observer: Observer | None = None,
            replay: Callable[[TaskKind], Replay] | None = None, run_json: dict[str, Any] | None = None,
            elapsed: float = 0.0, then: dict[str, Any] | None = None) -> RunResult:
    """Run ``prepared`` into ``store``: a new run, or a resumed one (``replay(task)`` gives what the folder
    recorded; ``run_json`` is the old run.json). What follows its end is its kind's (a policy joins the library);
    ``then`` is recorded in a new run's run.json as the stage its command runs after it (`optimize --finetune`), so
    `promptpo resume` runs it too."""
    kind, config, backend = prepared.kind, prepared.config, prepared.backend
    task = kind.task(config, prepared.spec, prepared.sandbox)
    task.method = kind.method(backend)
    meta = {"method": task.method, **({"then": then} if then else {})}
    result = launch(task, config, backend, store, model=prepared.model, meta=meta, observer=observer,
                    replay=replay(task) if replay else None, run_json=run_json, elapsed=elapsed)
    return kind.finished(config, result)


def optimize(env: str, model: str | None = None, *, observer: Observer | None = None, **options: Any) -> RunResult:
    """Optimize a policy for ``env`` with ``model``; options are OptimizeConfig, Budgets,
    GenParams or Limits field names, e.g. ``rounds=3, max_env_steps=50_000, temperature=0.5``."""
    return run(options_of(options, OptimizeConfig, "promptpo.optimize", env=env, model=model), observer)


def run_optimize(config: OptimizeConfig | Prepared, observer: Observer | None = None) -> RunResult:
    """A policy run into a new run folder (``run``)."""
    return run(config, observer)


def run_schedule(config: ScheduleConfig, observer: Observer | None = None) -> Path:
    """A schedule (or online) run into a new run folder under ``config.out``; returns the folder."""
    return run(config, observer).run_dir

