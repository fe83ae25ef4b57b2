"""PPO hyperparameters: the RL Zoo's tuned values where it has them, stated defaults otherwise."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ZOO_FILE = Path(__file__).with_name("zoo_ppo.json")

# The RL Zoo has no Meta-World MT1 entry; these follow common PPO settings for 500-step
# continuous-control episodes (one episode per env per rollout, normalized observations).
METAWORLD_DEFAULTS: dict[str, Any] = {
    "normalize": True, "n_envs": 4, "policy": "MlpPolicy", "n_steps": 500, "batch_size": 500, "n_epochs": 10,
    "learning_rate": 3e-4, "gamma": 0.99, "gae_lambda": 0.95, "clip_range": 0.2, "ent_coef": 0.0,
    "policy_kwargs": {"net_arch": [256, 256]},
}
SB3_DEFAULTS: dict[str, Any] = {"n_envs": 1, "policy": "MlpPolicy"}


@dataclass(frozen=True)
class Hyperparams:
    values: dict[str, Any]
    source: str
    tuned: bool
    """True when the values come from the RL Zoo's tuned table."""


def zoo_key(env_id: str) -> str:
    family, _, name = env_id.partition("/")
    return f"MiniGrid-{name}-v0" if family == "minigrid" else name


def for_env(env_id: str) -> Hyperparams:
    table = json.loads(ZOO_FILE.read_text())
    key = zoo_key(env_id)
    if key in table and not key.startswith("_"):
        return Hyperparams(dict(table[key]), f"RL Zoo tuned ({key}); {table['_source']}", True)
    if env_id.startswith("metaworld/"):
        return Hyperparams(dict(METAWORLD_DEFAULTS), "promptpo defaults: the RL Zoo has no Meta-World MT1 entry", False)
    return Hyperparams(dict(SB3_DEFAULTS), f"Stable-Baselines3 defaults: the RL Zoo has no entry for {key}", False)


def rollout_steps(hp: Hyperparams) -> int:
    """Env steps of one PPO rollout (n_steps x n_envs; SB3's n_steps default is 2048).

    SB3 trains in whole rollouts, so a training of N steps is rounded down to whole rollouts:
    a budget is a ceiling, never overshot."""
    return int(hp.values.get("n_steps", 2048)) * int(hp.values.get("n_envs", 1))


def whole_rollouts(steps: int, hp: Hyperparams) -> int:
    """The env steps a training of ``steps`` really takes: whole rollouts, never more."""
    return steps - steps % rollout_steps(hp)


EVAL_POINTS = 20
"""Evaluations over ``--steps`` by default, for every method that trains PPO (one ruler for all)."""


def eval_grid(steps: int, hp: Hyperparams, every: int | None = None, points: int = EVAL_POINTS) -> int:
    """Env steps between two evaluations: ``every``, else ``steps / points``, rounded to whole rollouts (at least
    one). PPO, schedule, online, Optuna and PBT runs evaluate at the multiples of it, so with the same ``--steps``
    (and the same rollout) they are measured on the same marks and steps to target compare."""
    rollout = rollout_steps(hp)
    wanted = every if every is not None else steps / max(1, points)
    return max(rollout, int(round(wanted / rollout)) * rollout)


def check_steps(option: str, steps: int, hp: Hyperparams, env_id: str) -> None:
    """A clear error when ``steps`` cannot hold one PPO rollout."""
    from promptpo.errors import ConfigError

    if steps < rollout_steps(hp):
        raise ConfigError(f"{option} {steps} is less than one PPO rollout for {env_id} "
                          f"({rollout_steps(hp)} env steps: n_steps x n_envs)",
                          f"give {option} at least {rollout_steps(hp)}")


def schedule(value: Any):
    """'lin_0.001' -> a linear schedule from 0.001 to 0 (SB3 passes the remaining progress, 1 -> 0)."""
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value[4:])
        return lambda remaining: remaining * start
    return value


def ppo_kwargs(values: dict[str, Any]) -> dict[str, Any]:
    """The subset SB3's PPO constructor takes, with schedules resolved."""
    skip = {"n_envs", "n_timesteps", "policy", "normalize"}
    return {k: schedule(v) if k in ("learning_rate", "clip_range") else v for k, v in values.items() if k not in skip}
