"""The learner's view of the task and the combined policy: ``clip(base(obs) + S · half_range · r)``.

The base program is any object with ``reset(episode=None)`` and ``act(obs)`` returning the action a run would
execute (promptpo.policy.loader.SandboxedPolicy: the program runs in its sandbox worker; only observations go in
and checked actions come out). The correction ``r`` comes from a Stable-Baselines3 model on the host.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from promptpo.envspec import EnvSpec, Episode
from promptpo.errors import ConfigError


class Correction:
    """How the base's action and the learner's output ``r`` in [-1, 1] make the executed action, and what the learner
    sees. With no base the 'base action' is the middle of the range and S is 1: the learner from scratch."""

    def __init__(self, spec: EnvSpec, scale: float, with_base_action: bool, with_time: bool = False):
        action = spec.action
        if action.kind != "box":
            raise ConfigError(f"{spec.id}'s actions are {action.kind}: a residual adds a continuous correction",
                              "fine-tune a task with continuous (Box) actions, such as MuJoCo's or Meta-World's")
        self.spec = spec
        self.low = np.broadcast_to(np.asarray(action.low, np.float64), action.shape).copy()
        self.high = np.broadcast_to(np.asarray(action.high, np.float64), action.shape).copy()
        self.mid, self.half = (self.high + self.low) / 2, (self.high - self.low) / 2
        self.scale, self.with_base_action, self.with_time = scale, with_base_action, with_time
        self.size = int(np.prod(action.shape))

    @classmethod
    def of(cls, spec: EnvSpec, config: Any) -> Correction:
        """A run's correction (promptpo.finetune.config.FinetuneConfig): a learner from scratch sees no base action
        and moves the whole range."""
        parts = config.inputs.split("+")
        return cls(spec, config.residual_scale if config.residual else 1.0,
                   with_base_action=config.residual and "base" in parts, with_time="time" in parts)

    def features(self, obs: Any, base_action: np.ndarray, t: int) -> np.ndarray:
        """The learner's input: the observation, the base's action scaled to [-1, 1] and the fraction of the
        episode's horizon gone (``t`` steps), as the choice of inputs says."""
        parts = [np.asarray(obs, dtype=np.float32).ravel()]
        if self.with_base_action:
            parts.append(((base_action - self.mid) / self.half).astype(np.float32))
        if self.with_time:
            parts.append(np.array([t / self.spec.horizon], np.float32))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def feature_size(self, obs_space: Any) -> int:
        return (int(np.prod(obs_space.shape)) + (self.size if self.with_base_action else 0)
                + (1 if self.with_time else 0))

    def executed(self, base_action: np.ndarray, r: np.ndarray) -> np.ndarray:
        r = np.clip(np.asarray(r, dtype=np.float64).reshape(self.mid.shape), -1.0, 1.0)
        return np.clip(base_action + self.scale * self.half * r, self.low, self.high)


class ResidualEnv(gym.Env):
    """A Gymnasium environment for the learner: observation = the task's (and the base's action, scaled to
    [-1, 1]); action = r in [-1, 1]; the task steps with the executed action."""

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(self, env: Any, correction: Correction, base: Any | None):
        self.env, self.correction, self.base = env, correction, base
        size = correction.feature_size(env.observation_space)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (correction.size,), np.float32)
        self.base_action, self.t = correction.mid, 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, info = self.env.reset(seed=seed, options=options)
        if self.base is not None:
            self.base.reset()
        self.t = 0
        return self._observe(obs), info

    def step(self, r: np.ndarray):
        obs, reward, terminated, truncated, info = self.env.step(self.correction.executed(self.base_action, r))
        self.t += 1
        return self._observe(obs), reward, terminated, truncated, info

    def _observe(self, obs: Any) -> np.ndarray:
        self.base_action = (np.asarray(self.base.act(obs), np.float64) if self.base is not None
                            else self.correction.mid)
        return self.correction.features(obs, self.base_action, self.t)

    def close(self) -> None:
        self.env.close()


class CombinedPolicy:
    """The base (sandboxed) with the learner's correction (in this process), deterministic; ``model`` None: the base
    alone. ``reset(episode)`` pairs the base's seeds across policies that share it."""

    def __init__(self, base: Any | None, model: Any | None, correction: Correction):
        self.base, self.model, self.correction = base, model, correction
        self.t = 0  # steps since reset: the learner's time input, where it has one

    def reset(self, episode: int | None = None) -> None:
        self.t = 0
        if self.base is not None:
            self.base.reset(episode)

    def act(self, obs: Any) -> np.ndarray:
        base_action = np.asarray(self.base.act(obs), np.float64) if self.base is not None else self.correction.mid
        t, self.t = self.t, self.t + 1
        if self.model is None:
            return base_action
        r, _ = self.model.predict(self.correction.features(obs, base_action, t), deterministic=True)
        return self.correction.executed(base_action, r)

    __call__ = act

    def close(self) -> None:
        if self.base is not None:
            self.base.close()

    def __enter__(self) -> CombinedPolicy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def play(policy: CombinedPolicy, spec: EnvSpec, env: Any, episodes: list[Episode], end_at_success: bool,
         on_step: Any = None) -> tuple[list[float], list[bool], list[int]]:
    """``policy`` on each of ``episodes`` in turn (the base's seeds paired by episode number): returns, successes
    and lengths, under promptpo's episode rules (horizon, success). ``on_step(episode, env, step)``: e.g. a video's
    frames (promptpo.policy.play.Frames)."""
    returns, successes, lengths = [], [], []
    for number, episode in enumerate(episodes):
        obs, _ = spec.reset(env, episode)
        policy.reset(number)
        total, success, t = 0.0, False, 0
        if on_step is not None:
            on_step(number, env, 0)
        while True:
            obs, reward, terminated, truncated, info = env.step(policy.act(obs))
            total, t = total + float(reward), t + 1
            if on_step is not None:
                on_step(number, env, t)
            succeeded, over = spec.judge_step(t, reward, terminated, truncated, info, end_at_success)
            success = success or succeeded
            if over:
                break
        returns.append(total)
        successes.append(success)
        lengths.append(t)
    return returns, successes, lengths
