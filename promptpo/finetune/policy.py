"""A fine-tuned run as a policy: its base sandboxed and its learner in this process (``promptpo.load_policy``), and
what `verify` and `play` do with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from promptpo.errors import ConfigError, RunStoreError
from promptpo.finetune.config import Base, FinetuneConfig

KINDS = ("finetune", "td3", "sac", "tqc")
"""Run folders this package writes (a residual's, and the off-policy learners' from scratch)."""


def is_finetuned(folder: Any) -> bool:
    return folder.kind in KINDS


def config_of(folder: Any) -> FinetuneConfig:
    """The settings ``folder`` recorded, with its base program (base.py) read back; a record that is not what
    promptpo writes (a copied folder someone changed) is refused in one line."""
    data = folder.meta.get("config")
    if not isinstance(data, dict) or "env" not in data:
        raise RunStoreError(f"{folder.path}/run.json has no fine-tuning configuration", "the run folder is corrupt")
    base = None
    if data.get("base"):
        path = folder.path / "base.py"
        if not path.is_file():
            raise RunStoreError(f"{path} is missing: the fine-tuning's base program", "the run folder is corrupt")
        record = data["base"]
        try:
            base = Base(str(record["run"]), str(record["candidate"]), path.read_text(encoding="utf-8"),
                        _whole(record["env_steps"]), _number(record.get("score")))
        except (KeyError, TypeError, ValueError):
            raise RunStoreError(f"{folder.path}/run.json's base is not what promptpo writes",
                                "the run folder is corrupt") from None
        if base.sha256 != record.get("sha256"):
            raise RunStoreError(f"{path} is not the program the run fine-tuned (its SHA-256 differs from run.json's)",
                                "the run folder was changed after the run")
    try:
        return FinetuneConfig.from_record(data, base, folder.path.parent)
    except (TypeError, ValueError, ConfigError) as err:  # a value of another type, or out of range
        raise RunStoreError(f"{folder.path}/run.json's fine-tuning configuration is not what promptpo writes "
                            f"({type(err).__name__})", "the run folder is corrupt") from None


def judged_of(folder: Any) -> dict:
    """summary.json's judgement ({} before there is one), its values checked."""
    judged = folder.summary.get("judged")
    if judged is None:
        return {}
    if (not isinstance(judged, dict) or judged.get("result") not in ("base", "finetuned")
            or any(judged.get(k) is not None and _number(judged[k]) is None
                   for k in ("finetuned_return", "base_return", "p_value", "episodes"))):
        raise RunStoreError(f"{folder.path}/summary.json's judgement is not what promptpo writes",
                            "the run folder is corrupt")
    return judged


def seed_of(folder: Any) -> int:
    try:
        return _whole(folder.meta.get("seed") or 0)
    except (TypeError, ValueError):
        raise RunStoreError(f"{folder.path}/run.json's seed is not a whole number", "the run folder is corrupt") from None


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{value!r} is not a whole number")
    return value


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def load_policy(source: str | Path, env: str | None = None, *, sandbox: str = "process", out: str | Path = "runs",
                seed: int = 0, **options: Any) -> Any:
    """``promptpo.load_policy``: a fine-tuning's run as its result (:func:`load`), anything else as
    promptpo.policy.loader loads it."""
    from promptpo.policy import loader
    from promptpo.records import RunFolder

    path = Path(source)
    if not path.is_file():
        try:
            folder = RunFolder.find(str(source), Path(out))
        except RunStoreError:
            folder = None
        if folder is not None and is_finetuned(folder):
            return load(folder, sandbox, seed)
    return loader.load_policy(source, env, sandbox=sandbox, out=out, seed=seed, **options)


def load(folder: Any, sandbox: str = "process", seed: int = 0) -> Any:
    """The run's result as a policy with ``reset()`` and ``act(obs)``: the base in its sandbox worker plus the
    learner's correction (or the base alone, where the judgement kept it, or the learner alone, from scratch)."""
    from promptpo.envs import load_spec
    from promptpo.finetune.base import sandboxed
    from promptpo.finetune.residual import CombinedPolicy, Correction

    config = config_of(folder)
    judged = judged_of(folder)
    model_path = folder.path / "model.zip"
    if not model_path.is_file():
        raise RunStoreError(f"run {folder.name} has no trained learner (model.zip): it ended "
                            f"{folder.summary.get('status', 'early')}", "resume it, or load another run")
    spec = load_spec(config.env)
    correction = Correction.of(spec, config)
    model = None if judged.get("result") == "base" else weights_only(config, correction, model_path, seed)
    base = sandboxed(config.base, spec, sandbox, seed) if config.base else None
    return CombinedPolicy(base, model, correction)


def weights_only(config: FinetuneConfig, correction: Any, path: Path, seed: int) -> Any:
    """The learner in ``path`` as a new model of the run's settings given only its weights (torch's weights_only
    load): SB3's own ``load`` unpickles the archive's data, which would run code planted in a folder someone hands
    you to verify."""
    from promptpo.baselines.ppo import training_env
    from promptpo.finetune.learner import make_model
    from promptpo.finetune.residual import ResidualEnv

    env = ResidualEnv(training_env(correction.spec, seed), correction, None)
    try:
        model = make_model(config, env, seed, correction.spec.id)
    finally:
        env.close()
    try:
        model.set_parameters(str(path), exact_match=True, device="cpu")
    except Exception as err:  # noqa: BLE001 - SB3/torch raise many kinds for a damaged or foreign archive
        raise RunStoreError(f"{path} does not hold this run's learner ({type(err).__name__}: {str(err)[:200]})",
                            "the run folder is damaged or was changed after the run") from None
    return model


def replay(folder: Any, episodes: int, seed: int, sandbox: str = "process", video: Path | None = None) -> dict:
    """The run's result played on ``episodes`` fresh episodes of ``seed`` (not the run's): what `verify` reports
    and `play` shows (``video``: the episodes written to a .gif or .mp4)."""
    import os

    import numpy as np

    from promptpo.envs import load_spec
    from promptpo.envspec import ends_at_success
    from promptpo.finetune.residual import play
    from promptpo.policy.play import Frames, write_video
    from promptpo.seeds import episode_secret

    os.environ.setdefault("MUJOCO_GL", "egl")
    spec = load_spec(config_of(folder).env)
    chosen = spec.episodes(seed, episodes, episode_secret())
    frames = Frames(episodes) if video is not None else None
    policy = load(folder, sandbox, seed)
    env = spec.make_env(seed)
    try:
        returns, successes, lengths = play(policy, spec, env, chosen, ends_at_success(spec, spec.target), frames)
    finally:
        env.close()
        policy.close()
    result = {"run": folder.name, "seed": seed, "episodes": episodes, "env_steps": sum(lengths),
              "mean_return": float(np.mean(returns)), "std_return": float(np.std(returns)), "returns": returns,
              "lengths": lengths, "episode_seeds": [e.seed for e in chosen]}
    if spec.has_success:
        result["success_rate"] = float(np.mean(successes))
        result["successes"] = successes
    if frames is not None and frames.all():
        result["video"] = str(write_video(video, frames.all()))
    return result


def write_verification(folder: Any, result: dict) -> Path:
    from promptpo.engine.store import now_iso

    target = folder.path / "verifications"
    target.mkdir(exist_ok=True)
    path = target / f"{now_iso().replace(':', '')}-s{result['seed']}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
