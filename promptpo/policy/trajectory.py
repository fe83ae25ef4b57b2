"""Per-step records of an evaluation's episodes, kept only for a feedback function to read.

The digest (promptpo.policy.digest) keeps a few numbers per episode; a model-written ``Feedback`` class
(promptpo.policy.summarizer) gets the steps themselves: the observations the policy saw, the actions the
simulator got, the rewards and the env's scalar ``info`` values. They are kept on the host, within
a byte cap over the whole evaluation, and dropped once the feedback function has run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

KEEP_MB = 64
"""The most an evaluation keeps of its episodes' steps for a feedback function."""
STEP_OVERHEAD = 256
"""Bytes charged per kept step beyond its arrays' own (the Python objects that hold them)."""
MAX_INFO_KEYS = 12
"""``info`` entries kept per step (the first scalar ones the env reports, as the digest takes them)."""


def _scalar(value: Any) -> bool:
    return isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating))


@dataclass
class Trajectory:
    """One episode's steps: ``observations`` has one more entry than the other lists (the last one seen)."""

    episode: int
    observations: list[dict[str, np.ndarray]] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    infos: dict[str, list] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    """Info keys whose every value so far was a bool."""
    cut_at: int | None = None
    """The step after which nothing more was kept (the byte cap was reached)."""

    @property
    def steps(self) -> int:
        return len(self.rewards)

    def arrays(self) -> dict[str, np.ndarray]:
        """The wire form: ``obs.<name>`` (T+1, ...), ``actions`` (T, ...), ``rewards`` (T,), ``info.<key>`` (T,)."""
        out = {f"obs.{name}": np.stack([o[name] for o in self.observations]) for name in self.observations[0]}
        out["actions"] = np.stack(self.actions) if self.actions else np.zeros((0,))
        out["rewards"] = np.asarray(self.rewards, dtype=np.float64)
        for key, values in self.infos.items():
            out[f"info.{key}"] = np.asarray(values, dtype=bool if key in self.flags else np.float64)
        return out


class Keeper:
    """Records the steps of an evaluation's episodes (over one batch or several: a cascade's stages) until
    ``limit_bytes`` are held over all of them."""

    def __init__(self, limit_bytes: int = KEEP_MB * 1024 * 1024):
        self.trajectories: list[Trajectory] = []
        self.left = limit_bytes

    def batch(self, episodes: list[int]) -> list[Trajectory]:
        """Trajectories for the next batch of episodes, one per episode index, kept with the others."""
        made = [Trajectory(e) for e in episodes]
        self.trajectories += made
        return made

    def _take(self, trajectory: Trajectory, size: int) -> bool:
        if trajectory.cut_at is not None:
            return False
        if size > self.left:
            trajectory.cut_at = trajectory.steps
            return False
        self.left -= size
        return True

    def start(self, trajectory: Trajectory, obs: dict[str, np.ndarray]) -> None:
        if self._take(trajectory, sum(a.nbytes for a in obs.values())):
            trajectory.observations.append({k: np.array(v) for k, v in obs.items()})

    def step(self, t: Trajectory, action: Any, reward: float, obs: dict[str, np.ndarray], info: dict) -> None:
        action = np.asarray(action, dtype=np.float64)
        if t.steps == 0:  # the info keys are fixed at the first step, as the digest's terms are
            t.infos = {k: [] for k, v in list(info.items()) if isinstance(k, str) and not k.startswith("_")
                       and _scalar(v)}
            t.infos = dict(list(t.infos.items())[:MAX_INFO_KEYS])
            t.flags = {k for k in t.infos if isinstance(info[k], (bool, np.bool_))}
        size = STEP_OVERHEAD + action.nbytes + 8 + 8 * len(t.infos) + sum(a.nbytes for a in obs.values())
        if not self._take(t, size):
            return
        t.actions.append(action)
        t.rewards.append(float(reward))
        t.observations.append({k: np.array(v) for k, v in obs.items()})
        for key, values in t.infos.items():
            value = info.get(key)
            if not _scalar(value):
                value = float("nan")
            if key in t.flags and not isinstance(value, (bool, np.bool_)):
                t.flags.discard(key)
            values.append(bool(value) if key in t.flags else float(value))
