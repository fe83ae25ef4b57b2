"""The host's simulators: made once per run and handed to each evaluation in turn."""

from __future__ import annotations

from typing import Any

from promptpo.envspec import EnvSpec


class EnvPool:
    """Host-side simulators, made once per run and reused by every candidate."""

    def __init__(self, spec: EnvSpec, seed: int):
        self.spec, self.seed = spec, seed
        self.envs: list[Any] = []

    def take(self, n: int) -> list[Any]:
        while len(self.envs) < n:
            self.envs.append(self.spec.make_env(self.seed))
        return self.envs[:n]

    def close(self) -> None:
        for env in self.envs:
            env.close()
        self.envs.clear()
