"""Compact trajectory digests: what an episode looked like, in a few numbers per named field.

Recorded on the host as the episode runs (no trajectory is stored): start and end values of the
named observation fields and the spec's derived quantities, their extremes and when they
happened, reward milestones and action statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from promptpo.envspec import EnvSpec

MAX_FIELD_SIZE = 6  # larger fields (images, long vectors) are not digested element-wise


def _round(values: np.ndarray | float) -> list[float] | float:
    if np.ndim(values) == 0:
        return float(np.round(float(values), 4))
    return [float(np.round(v, 4)) for v in np.ravel(values)]


@dataclass
class Track:
    """Start/end/min/max of one quantity over an episode."""

    start: Any = None
    end: Any = None
    min: Any = None
    min_step: int = 0
    max: Any = None
    max_step: int = 0


@dataclass
class EpisodeDigest:
    fields: dict[str, Track] = field(default_factory=dict)
    derived: dict[str, Track] = field(default_factory=dict)
    reward_first: float = 0.0
    reward_last: float = 0.0
    reward_max: float = float("-inf")
    reward_max_step: int = 0
    action_mean: list[float] = field(default_factory=list)
    action_std: list[float] = field(default_factory=list)
    action_min: list[float] = field(default_factory=list)
    action_max: list[float] = field(default_factory=list)
    action_counts: dict[int, int] = field(default_factory=dict)
    clipped_steps: int = 0


class Recorder:
    """Accumulates an :class:`EpisodeDigest` one step at a time."""

    def __init__(self, spec: EnvSpec):
        self.spec = spec
        self.fields = [f for f in spec.observation if f.digest]
        self.digest = EpisodeDigest()
        self._sum: np.ndarray | None = None
        self._sumsq: np.ndarray | None = None
        self._steps = 0

    def observe(self, obs: Any, step: int) -> None:
        for f in self.fields:
            try:
                value = f.value(obs)
            except (IndexError, KeyError, TypeError, ValueError):
                continue
            if value.size == 0 or value.size > MAX_FIELD_SIZE:
                continue
            self._update(self.digest.fields, f.name, value, step)
        if self.spec.derived is not None:
            for name, value in self.spec.derived(obs).items():
                self._update(self.digest.derived, name, np.asarray([value]), step)

    @staticmethod
    def _update(tracks: dict[str, Track], name: str, value: np.ndarray, step: int) -> None:
        """Vectors keep start and end; scalars also keep their extremes and when they happened.
        Values stay raw here (this runs every step) and are rounded once, in finish()."""
        v = float(value[0]) if value.size == 1 else value
        track = tracks.get(name)
        if track is None:
            scalar = isinstance(v, float)
            tracks[name] = Track(start=v, end=v, min=v if scalar else None, max=v if scalar else None,
                                 min_step=step, max_step=step)
            return
        track.end = v
        if track.min is not None:
            if v < track.min:
                track.min, track.min_step = v, step
            elif v > track.max:
                track.max, track.max_step = v, step

    def act(self, action: np.ndarray, clipped: bool) -> None:
        a = np.atleast_1d(np.asarray(action, dtype=float))
        if self.spec.action.kind == "discrete":
            k = int(a[0])
            self.digest.action_counts[k] = self.digest.action_counts.get(k, 0) + 1
            return
        if self._sum is None:
            self._sum, self._sumsq = np.zeros_like(a), np.zeros_like(a)
            self.digest.action_min, self.digest.action_max = list(a), list(a)
        self._sum += a
        self._sumsq += a * a
        self._steps += 1
        self.digest.action_min = list(np.minimum(self.digest.action_min, a))
        self.digest.action_max = list(np.maximum(self.digest.action_max, a))
        self.digest.clipped_steps += int(clipped)

    def reward(self, r: float, step: int) -> None:
        d = self.digest
        if step == 1:
            d.reward_first = r
        d.reward_last = r
        if r > d.reward_max:
            d.reward_max, d.reward_max_step = r, step

    def finish(self) -> EpisodeDigest:
        d = self.digest
        if self._sum is not None and self._steps:
            mean = self._sum / self._steps
            d.action_mean = _round(mean)
            d.action_std = _round(np.sqrt(np.maximum(self._sumsq / self._steps - mean**2, 0)))
            d.action_min, d.action_max = _round(np.array(d.action_min)), _round(np.array(d.action_max))
        d.reward_first, d.reward_last = _round(d.reward_first), _round(d.reward_last)
        d.reward_max = _round(d.reward_max) if np.isfinite(d.reward_max) else 0.0
        for track in (*d.fields.values(), *d.derived.values()):
            track.start, track.end = _round(track.start), _round(track.end)
            if track.min is not None:
                track.min, track.max = _round(track.min), _round(track.max)
        return d
