"""The configuration of a schedule run (`promptpo schedule`): the engine's settings plus the training's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from promptpo.engine.config import RunConfig
from promptpo.errors import ConfigError, fields_at_least_one
from promptpo.isolation.base import Limits
from promptpo.options import one_of, option

if TYPE_CHECKING:
    from promptpo.envspec import EnvSpec

CRITERIA = ("auc", "steps")
"""How schedules are ranked (promptpo.candidate.training_rank_key)."""


@dataclass
class ScheduleConfig(RunConfig):
    rounds: int = 3
    candidates: int = 2
    max_repairs: int = 1
    limits: Limits = field(default_factory=lambda: Limits(act_timeout_s=2.0))
    steps: int = field(default=50_000, metadata=option(
        "Env steps per PPO training (per candidate; in total with --online)."))
    """Env steps of one PPO training (per candidate in schedule mode; in total in online mode)."""
    every: int = field(default=1, metadata=option("Call the schedule every N rollouts."))
    """Schedule mode: call the schedule every this many rollouts."""
    online: bool = field(default=False, metadata=option(
        "One training; the model picks hyperparameters every --interval steps."))
    """Steer one training (ask the model every ``interval`` env steps) instead of scoring schedules each by its own."""
    interval: int = field(default=10_000, metadata=option("Online mode: env steps per decision."))
    """Online mode: ask the model every this many env steps."""
    criterion: str = field(default="auc", metadata=option("Rank schedules by auc or steps (to threshold)."))
    """How schedules are ranked: auc (mean evaluation return over the curve) or steps (to the threshold)."""
    eval_points: int = field(default=20, metadata=option(
        "Evaluations over --steps when --eval-every is not given (the grid: --steps / N)."))
    """Evaluations along each training when ``eval_every`` is not given (the grid is ``steps / eval_points``)."""
    eval_every: int | None = field(default=None, metadata=option(
        "Env steps between evaluations, in whole rollouts; the same for every method with the same --steps by "
        "default (--steps / 20), so that steps to target compare."))
    """Env steps between evaluations, in whole rollouts (promptpo.baselines.hyperparams.eval_grid)."""
    eval_episodes: int | None = field(default=None, metadata=option("Episodes per evaluation."))
    """Episodes per evaluation (None: 50 goal variations for Meta-World, 10 otherwise)."""

    POSITIVE = ("rounds", "candidates", "prompt_budget", "steps", "every", "interval", "eval_points")

    def validate(self) -> ScheduleConfig:
        super().validate()
        fields_at_least_one(self, self.POSITIVE)
        if self.criterion not in CRITERIA:
            raise ConfigError(f"unknown criterion {self.criterion!r}", f"choose {one_of(CRITERIA)}")
        if self.executor != "local":
            raise ConfigError("schedule runs train on this machine: --executor ray applies to optimize, bench and "
                              "baseline ppo", "drop --executor")
        if self.eval_every is not None and self.eval_every < 1:
            raise ConfigError(f"--eval-every must be at least 1 (got {self.eval_every})")
        return self

    def evaluation_episodes(self, spec: EnvSpec) -> int:
        return self.eval_episodes or (50 if spec.family == "metaworld" else 10)

    def grid(self, hp) -> int:
        from promptpo.baselines.hyperparams import eval_grid

        return eval_grid(self.steps, hp, self.eval_every, self.eval_points)
