"""The schedule and online kinds (`promptpo schedule`, with or without --online) as the registry of kinds knows them
(promptpo.engine.kinds): one config for both, which --online chooses between; Stable-Baselines3 needed; PPO's
budget in whole rollouts; the offline proposer searching a parameterised schedule (never steering online)."""

from __future__ import annotations

from typing import Any

from promptpo.engine.kinds import Kind
from promptpo.envspec import EnvSpec
from promptpo.errors import ConfigError
from promptpo.llm.base import Backend
from promptpo.schedule.online import OnlineTask
from promptpo.schedule.config import ScheduleConfig
from promptpo.schedule.task import ScheduleTask


class ScheduleKind(Kind):
    config = ScheduleConfig
    task = ScheduleTask
    doing = "writing PPO schedules for"
    resuming = "resuming PPO schedules for"
    mode = "schedule"
    named_backends = ("scripted", "manual", "offline")

    def chooses(self, config: ScheduleConfig) -> bool:
        return not config.online

    def available(self) -> None:
        from promptpo.baselines import check_installed

        check_installed()

    def check(self, config: ScheduleConfig, backend: Backend, spec: EnvSpec) -> None:
        """PPO's budget is rounded down to whole rollouts (PPO trains in whole rollouts: never past the budget)."""
        from promptpo.baselines.hyperparams import check_steps, for_env, whole_rollouts

        hp = for_env(spec.id)
        check_steps("--steps", config.steps, hp, spec.id)
        config.steps = whole_rollouts(config.steps, hp)

    def offline_template(self) -> Any:
        from promptpo.schedule.steering import schedule_template

        return schedule_template()


class OnlineKind(ScheduleKind):
    task = OnlineTask
    rounds = False
    doing = "steering PPO on"
    resuming = "resuming PPO steering of"
    mode = "online"

    def chooses(self, config: ScheduleConfig) -> bool:
        return config.online

    def check(self, config: ScheduleConfig, backend: Backend, spec: EnvSpec) -> None:
        super().check(config, backend, spec)
        if backend.name == "offline":
            raise ConfigError("online mode needs an LLM (or scripted answers)", "pass --model")
