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
WHOLE = 2.0**52
"""From here on a float64 has no fractional part: rounding it is a no-op (and multiplying it by 10**4 to
round could overflow to inf)."""


def _round1(value: float) -> float:
    value = float(value)
    return float(np.round(value, 4)) if abs(value) < WHOLE else value


def _round(values: np.ndarray | float) -> list[float] | float:
    if np.ndim(values) == 0:
        return _round1(values)
    return [_round1(v) for v in np.ravel(values)]


@dataclass
class Track:
    """Start/end/min/max of one quantity over an episode."""

    start: Any = None
    end: Any = None
    min: Any = None
    min_step: int = 0
    max: Any = None
    max_step: int = 0

    def as_record(self) -> dict:
        """As recorded: a vector's track has no extremes, so none are written."""
        if self.min is None:
            return {"start": self.start, "end": self.end}
        return {"start": self.start, "end": self.end, "min": self.min, "min_step": self.min_step, "max": self.max,
                "max_step": self.max_step}


@dataclass
class Term:
    """One scalar the environment reports in ``info`` at every step (a reward term, a flag, a distance)."""

    last: float = 0.0
    min: float = float("inf")
    min_step: int = 0
    max: float = float("-inf")
    max_step: int = 0
    flag: bool = True
    """Only 0 and 1 were seen (success, grasped, near the object)."""
    first_on: int | None = None
    """The first step a flag was on."""
    lost_at: int | None = None
    """The first step after ``first_on`` where it was off again."""

    def add(self, value: float, step: int) -> None:
        self.last = value
        if value < self.min:
            self.min, self.min_step = value, step
        if value > self.max:
            self.max, self.max_step = value, step
        self.flag = self.flag and value in (0.0, 1.0)
        if value > 0 and self.first_on is None:
            self.first_on = step
        elif value <= 0 and self.first_on is not None and self.lost_at is None:
            self.lost_at = step

    def text(self, name: str) -> str:
        if self.flag:
            if self.first_on is None:
                return f"{name} never"
            return f"{name} first at step {self.first_on}" + (
                f", lost again at step {self.lost_at}" + (" and back by the end" if self.last > 0 else "")
                if self.lost_at is not None else "")
        return (f"{name} last {self.last:.4g} (min {self.min:.4g} at step {self.min_step}, max {self.max:.4g} "
                f"at step {self.max_step})" if self.min != self.max else f"{name} {self.last:.4g} throughout")


MAX_TERMS = 12
"""Info entries digested per episode (the first ones the environment reports)."""


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
    info: dict[str, Term] = field(default_factory=dict)
    """The environment's own per-step terms from ``info`` (Meta-World: near_object, grasp_success, ...)."""


class Recorder:
    """Accumulates an :class:`EpisodeDigest` one step at a time."""

    def __init__(self, spec: EnvSpec):
        self.spec = spec
        self.fields = [f for f in spec.observation if f.digest]
        self.digest = EpisodeDigest()
        self._sum: np.ndarray | None = None
        """Sum of the actions over ``_scale`` (and of their squares in ``_sumsq``): a policy may return any
        finite float64 (1e308), whose square, or sum over a few steps, would overflow to inf."""
        self._sumsq: np.ndarray | None = None
        self._scale: np.ndarray | None = None
        """Per element, a power of two (at least 1) above half the largest magnitude seen: every scaled action
        is below 2 in magnitude, so the sums stay finite."""
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
            self._sum, self._sumsq, self._scale = np.zeros_like(a), np.zeros_like(a), np.ones_like(a)
            self.digest.action_min, self.digest.action_max = list(a), list(a)
        self._rescale(np.abs(a))
        scaled = a / self._scale
        self._sum += scaled
        self._sumsq += scaled * scaled
        self._steps += 1
        self.digest.action_min = list(np.minimum(self.digest.action_min, a))
        self.digest.action_max = list(np.maximum(self.digest.action_max, a))
        self.digest.clipped_steps += int(clipped)

    def _rescale(self, magnitude: np.ndarray) -> None:
        """Raise ``_scale`` where ``magnitude`` reaches twice it, rescaling the sums so far (exactly: by powers
        of two)."""
        grown = magnitude / 2 >= self._scale
        if not grown.any():
            return
        scale = np.where(grown, np.ldexp(1.0, np.frexp(magnitude)[1] - 1), self._scale)  # magnitude / scale in [1, 2)
        ratio = self._scale / scale
        self._sum *= ratio
        self._sumsq *= ratio * ratio
        self._scale = scale

    def info(self, info: dict, step: int) -> None:
        terms = self.digest.info
        for key, value in info.items():
            if key in terms:
                terms[key].add(float(value), step)
            elif (len(terms) < MAX_TERMS and isinstance(key, str) and not key.startswith("_")
                  and isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating))
                  and np.isfinite(float(value))):
                terms[key] = Term()
                terms[key].add(float(value), step)

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
            low, high = np.array(d.action_min), np.array(d.action_max)
            mean = self._sum / self._steps
            std = np.sqrt(np.maximum(self._sumsq / self._steps - mean**2, 0)) * self._scale
            # within what the actions span (as they are, up to rounding): both stay finite
            d.action_mean = _round(np.clip(mean * self._scale, low, high))
            d.action_std = _round(np.minimum(std, high / 2 - low / 2))
            d.action_min, d.action_max = _round(low), _round(high)
        d.reward_first, d.reward_last = _round(d.reward_first), _round(d.reward_last)
        d.reward_max = _round(d.reward_max) if np.isfinite(d.reward_max) else 0.0
        for term in d.info.values():
            term.last, term.min, term.max = _round(term.last), _round(term.min), _round(term.max)
        for track in (*d.fields.values(), *d.derived.values()):
            track.start, track.end = _round(track.start), _round(track.end)
            if track.min is not None:
                track.min, track.max = _round(track.min), _round(track.max)
        return d
