"""Starting a run into its folder (run.json, the first events), or continuing one, and finishing it."""

from __future__ import annotations

import platform
import secrets
from datetime import datetime
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from promptpo.engine.config import RunConfig
from promptpo.engine.run import Engine
from promptpo.engine.state import Observer
from promptpo.engine.store import RunStore, now_iso
from promptpo.engine.task import TaskKind
from promptpo.llm.base import Backend

VERSIONED = ("promptpo", "numpy", "gymnasium", "metaworld", "mujoco", "minigrid", "litellm", "openai", "anthropic",
             "stable-baselines3", "torch")


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def new_run_id(label: str) -> str:
    slug = label.replace("/", "-").lower()
    return f"{datetime.now():%Y%m%d-%H%M%S}-{slug}-{secrets.token_hex(2)}"


@dataclass
class RunResult:
    run_dir: Path
    status: str
    reason: str
    best_candidate: str | None
    best_code: str | None
    best_path: Path | None
    """best.py: the best program as a standalone file."""
    score: float | None
    """Mean return of the best candidate."""
    success_rate: float | None
    summary: dict
    library_entry: str | None = None
    """The library entry the run's best program was added as (promptpo.policy.library), if any."""


def result_of(engine: Engine) -> RunResult:
    state, best = engine.state, engine.state.best
    return RunResult(run_dir=engine.store.root, status=state.status, reason=state.reason,
                     best_candidate=best.id if best else None, best_code=best.code if best else None,
                     best_path=engine.store.root / "best.py" if best else None,
                     score=best.evaluation.mean_return if best else None,
                     success_rate=best.evaluation.success_rate if best else None, summary=engine.summary())


def execute(task: TaskKind, config: RunConfig, backend: Backend, store: RunStore, *, model: str,
            meta: dict[str, Any] | None = None, observer: Observer | None = None, replay=None,
            run_json: dict[str, Any] | None = None, elapsed: float = 0.0) -> RunResult:
    """Run ``task`` into ``store``: a new run (``meta`` adds to run.json), or, with ``replay`` and the
    old ``run_json``, a resumed one whose spent time counts against its budget."""
    engine = Engine(task, config, backend if replay is None else replay.backend(backend), store, observer, replay)
    engine.state.started -= elapsed
    if run_json is None:
        run_json = {"id": store.root.name, "kind": task.name, "env": task.env_id, "model": backend.label,
                    "backend": backend.name, "config": {**config.public(), "model": model}, "seed": config.seed,
                    **task.run_fields(), **(meta or {}), "versions": versions(),
                    "host": {"platform": platform.platform()}, "started": now_iso(), "ended": None,
                    "status": "running"}
        store.write_json("run.json", run_json)
        store.event("run_start", env=task.env_id, model=backend.label, kind=task.name)
    else:
        run_json.update(status="running", ended=None, resumed=[*run_json.get("resumed", []), now_iso()])
        store.write_json("run.json", run_json)
        store.event("run_resume", cached_answers=replay.answers, cached_evaluations=replay.evaluations)
    engine.state.folder = str(store.root)
    engine.observer("start", engine.state)  # where the run is recorded, said before it spends anything
    try:
        engine.execute()
    finally:
        task.close()
        run_json.update(ended=now_iso(), status=engine.state.status, reason=engine.state.reason)
        store.write_json("run.json", run_json)
    return result_of(engine)
