"""The Python API: ``promptpo.optimize(...)`` and what it returns."""

from __future__ import annotations

import logging
import os
import platform
import secrets
from dataclasses import dataclass, fields
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from promptpo.config import MODEL_ENV, NO_MODEL_NOTICE, Budgets, OptimizeConfig
from promptpo.envs import load_spec
from promptpo.envspec import EnvSpec
from promptpo.errors import ConfigError
from promptpo.evaluate import EnvPool, Evaluator
from promptpo.isolation import make_sandbox
from promptpo.isolation.base import Limits, Sandbox
from promptpo.llm import make_backend
from promptpo.llm.base import Backend, GenParams
from promptpo.loop import Observer, Run
from promptpo.store import RunStore, now_iso

log = logging.getLogger(__name__)

VERSIONED = ("promptpo", "numpy", "gymnasium", "metaworld", "mujoco", "minigrid", "litellm", "openai", "anthropic")


@dataclass
class RunResult:
    run_dir: Path
    status: str
    reason: str
    best_candidate: str | None
    best_code: str | None
    best_path: Path | None
    """best.py: a standalone policy file that needs only numpy."""
    score: float | None
    """Mean return of the best candidate."""
    success_rate: float | None
    summary: dict


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def method_label(backend: Backend) -> str:
    """How comparisons group runs: by model, with replayed and hand-written answers as one method each."""
    return f"promptpo ({backend.name})" if backend.name in ("scripted", "manual") else f"promptpo ({backend.label})"


def new_run_id(env_id: str) -> str:
    slug = env_id.replace("/", "-").lower()
    return f"{datetime.now():%Y%m%d-%H%M%S}-{slug}-{secrets.token_hex(2)}"


@dataclass
class Prepared:
    """Everything checked and built that can be, before a run folder exists."""

    config: OptimizeConfig
    model: str
    backend: Backend
    spec: EnvSpec
    sandbox: Sandbox


def prepare(config: OptimizeConfig) -> Prepared:
    """Check the config, the backend (key present?) and the environment; raise ConfigError early."""
    config.validate()
    model = config.resolved_model()
    backend = make_backend(model, config.gen)
    backend.check()
    spec = load_spec(config.env)
    if backend.name == "offline":  # one round is one CMA-ES generation
        if not (config.model or os.environ.get(MODEL_ENV)):
            log.warning(NO_MODEL_NOTICE)
        backend.bind(spec, config.seed, config.candidates)
        config.candidates = backend.popsize
    sandbox = make_sandbox(config.sandbox)
    RunStore.check_writable(Path(config.out))
    return Prepared(config, model, backend, spec, sandbox)


def run_optimize(config: OptimizeConfig | Prepared, observer: Observer | None = None) -> RunResult:
    prepared = config if isinstance(config, Prepared) else prepare(config)
    store = RunStore.create(Path(prepared.config.out), new_run_id(prepared.spec.id))
    return execute(prepared, store, observer)


def execute(prepared: Prepared, store: RunStore, observer: Observer | None = None, replay=None,
            run_json: dict[str, Any] | None = None, elapsed: float = 0.0) -> RunResult:
    """Run the loop into ``store``: a new run, or (with ``replay`` and the old ``run_json``) a resumed one."""
    config, backend, spec, sandbox = prepared.config, prepared.backend, prepared.spec, prepared.sandbox
    pool = EnvPool(spec, config.seed)
    evaluator = Evaluator(spec, sandbox, config.limits, pool)
    run = Run(config, spec, backend if replay is None else replay.backend(backend),
              evaluator if replay is None else replay.evaluator(evaluator), store, observer, replay=replay)
    run.state.started -= elapsed  # a resumed run carries its time budget over
    if run_json is None:
        run_json = {
            "id": store.root.name, "kind": "promptpo", "method": method_label(backend), "env": spec.id,
            "env_spec": spec.source, "model": backend.label,
            "backend": backend.name, "config": {**config.public(), "model": prepared.model},
            "sandbox": sandbox.describe(), "sandbox_isolated": sandbox.isolated,
            "seed": config.seed, "episodes": run.episodes, "target": run.target.describe() if run.target else None,
            "versions": versions(), "host": {"platform": platform.platform()},
            "started": now_iso(), "ended": None, "status": "running",
        }
        store.write_json("run.json", run_json)
        store.event("run_start", env=spec.id, model=backend.label, sandbox=sandbox.describe())
    else:
        run_json.update(status="running", ended=None, resumed=[*run_json.get("resumed", []), now_iso()])
        store.write_json("run.json", run_json)
        store.event("run_resume", cached_answers=replay.answers, cached_evaluations=replay.evaluations)
    try:
        state = run.execute()
    finally:
        pool.close()
        sandbox.close()
        run_json.update(ended=now_iso(), status=run.state.status, reason=run.state.reason)
        store.write_json("run.json", run_json)
    best = state.best
    return RunResult(run_dir=store.root, status=state.status, reason=state.reason,
                     best_candidate=best.id if best else None, best_code=best.code if best else None,
                     best_path=store.root / "best.py" if best else None,
                     score=best.evaluation.mean_return if best else None,
                     success_rate=best.evaluation.success_rate if best else None, summary=run.summary())


def optimize(env: str, model: str | None = None, *, observer: Observer | None = None, **options: Any) -> RunResult:
    """Optimize a policy for ``env`` with ``model``; options are OptimizeConfig, Budgets,
    GenParams or Limits field names, e.g. ``rounds=3, max_env_steps=50_000, temperature=0.5``."""
    groups = {cls: {f.name for f in fields(cls)} for cls in (Budgets, GenParams, Limits)}
    top = {f.name for f in fields(OptimizeConfig)} - {"budgets", "gen", "limits"}
    picked: dict[type, dict[str, Any]] = {cls: {} for cls in groups}
    config_kwargs: dict[str, Any] = {}
    for key, value in options.items():
        owner = next((cls for cls, names in groups.items() if key in names), None)
        if owner is not None:
            picked[owner][key] = value
        elif key in top:
            config_kwargs[key] = Path(value) if key == "out" else value
        else:
            raise ConfigError(f"unknown option {key!r} for promptpo.optimize")
    config = OptimizeConfig(env=env, model=model, budgets=Budgets(**picked[Budgets]), gen=GenParams(**picked[GenParams]),
                            limits=Limits(**picked[Limits]), **config_kwargs)
    return run_optimize(config, observer)
