"""A fine-tuning's run folder: started (run.json and base.py), checked before it is, continued from where it
stopped, and summed up (summary.json)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from promptpo.baselines.ppo import run_id
from promptpo.engine.store import RunStore, now_iso
from promptpo.envs import load_spec
from promptpo.errors import ConfigError, RunStoreError
from promptpo.finetune.checkpoint import curve
from promptpo.finetune.config import FinetuneConfig
from promptpo.finetune.residual import Correction
from promptpo.outcome import RunStatus

if TYPE_CHECKING:
    from promptpo.finetune.train import Finetuning


def resumable(folder) -> tuple[FinetuneConfig, int, RunStore]:
    """What an interrupted fine-tuning (or off-policy baseline) continues with: its config, seed and store."""
    from promptpo.finetune.policy import config_of
    from promptpo.records.folder import numbers

    numbers(folder.meta, folder.path / "run.json", ("seed",))
    if int(folder.meta.get("seed") or 0) < 0:
        raise RunStoreError(f"{folder.path / 'run.json'}: its seed is negative ({folder.meta['seed']})",
                            "the run folder is corrupt")
    status = RunStatus.read(folder.summary.get("status") or folder.meta.get("status"))
    if status is not None and status.finished:
        raise RunStoreError(f"run {folder.name} already finished ({status})", "nothing to resume")
    if not (folder.path / "checkpoint.zip").is_file():
        raise RunStoreError(f"run {folder.name} has no checkpoint to continue from", "start it again")
    return config_of(folder), int(folder.meta.get("seed") or 0), RunStore(folder.path)


def check(config: FinetuneConfig) -> None:
    """What can be refused before any folder is made: the environment, and that its actions are continuous."""
    spec = load_spec(config.env)
    if spec.action.kind != "box" and not config.residual:
        raise ConfigError(f"{spec.id}'s actions are {spec.action.kind}: this {config.algo.upper()} learns continuous "
                          "actions", "give a task with continuous (Box) actions, or use `promptpo baseline ppo`")
    Correction.of(spec, config)


def start(config: FinetuneConfig, seed: int) -> RunStore:
    """A new run folder for one seed, with its settings and the base program."""
    from promptpo.engine.launch import versions

    spec = load_spec(config.env)
    store = RunStore.create(Path(config.out), run_id(spec.id, seed, config.kind), folders=())
    meta = {"id": store.root.name, "kind": config.kind, "method": config.method, "env": spec.id, "seed": seed,
            "steps": config.steps, "algo": config.algo, "config": config.record(),
            "eval": {"every": config.grid, "episodes": config.eval_episodes}, "eval_every": config.grid,
            "base": config.base.record() if config.base else None, "versions": versions(), "started": now_iso(),
            "ended": None, "status": RunStatus.RUNNING}
    store.write_json("run.json", meta)
    if config.base is not None:
        (store.root / "base.py").write_text(config.base.code, encoding="utf-8")
    return store


def summary(config: FinetuneConfig, meta: dict, finetuning: Finetuning, status: str, reason: str,
            judged: dict | None) -> dict:
    points = curve(finetuning.store.root)
    last = points[-1] if points else None
    best = None if judged is None else (judged["finetuned_return"] if judged["result"] == "finetuned"
                                        else judged.get("base_return"))
    return {"run_id": meta.get("id", finetuning.store.root.name), "env": finetuning.spec.id, "model": config.method,
            "method": config.method,
            "seed": finetuning.seed, "status": status, "reason": reason, "best_candidate": None,
            "best_score": best, "final_return": last.get("mean_return") if last else None,
            "final_success_rate": last.get("success_rate") if last else None,
            "env_steps": finetuning.offset + finetuning.trained, "training_env_steps": finetuning.trained,
            "base_env_steps": finetuning.offset, "episodes": finetuning.state["episodes"],
            "rollbacks": finetuning.state["rollbacks"], "judged": judged,
            "llm_calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0,
            "wall_time_s": round(finetuning.state["wall_time_s"] + time.monotonic() - finetuning.started, 2)}
