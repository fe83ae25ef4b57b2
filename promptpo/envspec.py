"""What the model is told about an environment, and how the host makes and resets it.

An :class:`EnvSpec` is built by a spec file (``envspecs/<family>/<task>.py`` defines ``SPEC``)
or, for ids without a file, by the family's automatic builder in :mod:`promptpo.envs`.
Everything that crosses into the sandbox is described by ``obs_arrays`` and ``action``; the
simulator itself never leaves the host.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import numpy as np

from promptpo.seeds import entropy


@dataclass(frozen=True)
class ObsField:
    """A named part of the observation, as the model should read it."""

    name: str
    """Identifier used in prompts and trajectory digests, e.g. ``hand_pos``."""
    index: str
    """Python expression that selects it from ``obs``, e.g. ``obs[0:3]`` or ``obs['image']``."""
    meaning: str
    """What it is, in words."""
    units: str = ""
    """Physical units or encoding, e.g. ``m``, ``rad/s``, ``object id``."""
    select: Callable[[Any], np.ndarray] | None = field(default=None, compare=False, repr=False)
    """Host-side selector used for digests; built from ``index`` when omitted."""
    digest: bool = True
    """Whether trajectory digests track this field (off for redundant ones, e.g. a previous frame)."""

    def value(self, obs: Any) -> np.ndarray:
        raw = self.select(obs) if self.select is not None else eval(_compiled(self.index), {"obs": obs})  # noqa: S307
        return np.asarray(raw, dtype=float).ravel()


@cache
def _compiled(expression: str) -> Any:
    """Spec-file index expressions (trusted text shipped with promptpo), compiled once."""
    return compile(expression, "<obs field>", "eval")


@dataclass(frozen=True)
class Feature:
    """A number computed from the observation, for programs the offline proposer writes."""

    name: str
    expression: str
    """Python expression over ``obs`` (numpy as ``np``) giving one number."""
    scale: float = 1.0
    """Multiplies the feature so that useful weights are of order one."""


@dataclass(frozen=True)
class ProgramTemplate:
    """A program with named constants for the offline proposer to search (CMA-ES)."""

    source: str
    """Python source with ``{NAME}`` where each constant's value goes."""
    constants: tuple[tuple[str, float, float], ...]
    """(name, starting value, search scale): the value is start + scale * z, z searched from 0."""


@dataclass(frozen=True)
class ArraySpec:
    """One numeric array of the observation as it crosses the wire."""

    name: str
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ActionSpec:
    kind: Literal["discrete", "box"]
    n: int = 0
    """Number of actions (discrete)."""
    shape: tuple[int, ...] = ()
    """Action vector shape (box)."""
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()
    meanings: tuple[str, ...] = ()
    """One entry per discrete action or per box dimension."""

    def describe(self) -> str:
        if self.kind == "discrete":
            names = ", ".join(f"{i} = {m}" for i, m in enumerate(self.meanings)) if self.meanings else ""
            return f"Discrete({self.n}): return an int in [0, {self.n - 1}]" + (f". {names}" if names else "")
        bounds = f"low {list(self.low)}, high {list(self.high)}"
        dims = "; ".join(f"[{i}] {m}" for i, m in enumerate(self.meanings)) if self.meanings else ""
        return (f"Box{self.shape} float array, {bounds}; values outside are clipped"
                + (f". Dimensions: {dims}" if dims else ""))

    def check(self, action: np.ndarray) -> tuple[Any, bool]:
        """What the simulator gets for ``action`` as a policy returned it: an int (discrete) or a float32 array
        clipped to the bounds, and whether it was clipped. A non-finite action or a discrete one outside
        [0, n) is a ValueError saying so."""
        if not np.all(np.isfinite(action)):
            raise ValueError(f"act returned a non-finite action {np.asarray(action).tolist()}")
        if self.kind == "discrete":
            value = float(action)
            if value != int(value) or not 0 <= value < self.n:
                raise ValueError(f"act returned {value:g}; expected an int in [0, {self.n - 1}]")
            return int(value), False
        low, high = np.reshape(self.low, self.shape), np.reshape(self.high, self.shape)
        clipped = np.clip(action, low, high)
        return clipped.astype(np.float32), bool(np.any(clipped != action))


@dataclass(frozen=True)
class Target:
    """When a run may stop early."""

    metric: Literal["success_rate", "mean_return"]
    threshold: float

    def reached(self, success_rate: float | None, mean_return: float | None) -> bool:
        value = success_rate if self.metric == "success_rate" else mean_return
        return value is not None and value >= self.threshold

    def describe(self) -> str:
        return (f"success rate >= {self.threshold:g}" if self.metric == "success_rate"
                else f"mean return >= {self.threshold:g}")


@dataclass(frozen=True)
class Episode:
    """One evaluation episode: its index, seed and anything the family recorded at reset."""

    index: int
    seed: int
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class EnvSpec:
    id: str
    """promptpo id, e.g. ``metaworld/reach``."""
    family: str
    title: str
    description: str
    observation: Sequence[ObsField]
    obs_arrays: Sequence[ArraySpec]
    action: ActionSpec
    reward_source: str
    horizon: int
    starter: str
    make_env: Callable[[int], Any] = field(repr=False)
    """seed -> a fresh Gymnasium env (host side only)."""
    target: Target | None = None
    success_criterion: str | None = None
    is_success: Callable[[dict, float, bool], bool] | None = field(default=None, repr=False)
    """(info, reward, terminated) -> whether this step counts as success."""
    success_any_step: bool = False
    """Success at any step counts and the environment does not end the episode there (Meta-World): a run
    whose target is a success rate ends each episode at its first success (see ``ends_at_success``)."""
    episode_plan: Callable[[int, int, str | None], list[Episode]] | None = field(default=None, repr=False)
    """(run_seed, n, secret) -> the episodes to evaluate; default: n seeds drawn from run_seed and the secret."""
    reset_episode: Callable[[Any, Episode], tuple[Any, dict]] | None = field(default=None, repr=False)
    """(env, episode) -> (obs, info); default ``env.reset(seed=episode.seed)``."""
    derived: Callable[[Any], dict[str, float]] | None = field(default=None, repr=False)
    """Host-side key quantities per step for digests, e.g. distance to goal."""
    derived_doc: str = ""
    ended_by: Callable[[dict[str, Any]], str] | None = field(default=None, repr=False)
    """(the last observation's values by field name) -> why the environment terminated the episode, in words
    (e.g. Gymnasium MuJoCo: which healthy range was left); "" when it cannot tell."""
    offline_features: Sequence[Feature] | None = None
    """Features for the offline proposer's affine programs; default: the named observation elements."""
    offline_template: ProgramTemplate | None = None
    """A structured program for the offline proposer instead of the affine map (e.g. Meta-World)."""
    notes: str = ""
    facts: Sequence[str] = ()
    """What was read from the installed environment or measured on it (joint axes and ranges, clipped observation
    elements, info keys, missions, success rules, what each action does): shown after the description, and where
    the two disagree these win."""
    source: str = "automatic"
    """Where the spec came from: a spec file path or ``automatic``."""

    @property
    def has_success(self) -> bool:
        return self.is_success is not None

    def episodes(self, run_seed: int, n: int, secret: str | None = None) -> list[Episode]:
        """The n evaluation episodes of ``run_seed``, drawn with ``secret`` (promptpo.seeds; None: the run seed alone,
        as runs recorded before the secret were)."""
        if self.episode_plan is not None:
            return self.episode_plan(run_seed, n, secret)
        seeds = np.random.SeedSequence(entropy(run_seed, secret)).generate_state(n, dtype=np.uint32)
        return [Episode(i, int(s)) for i, s in enumerate(seeds)]

    def reset(self, env: Any, episode: Episode) -> tuple[Any, dict]:
        if self.reset_episode is not None:
            return self.reset_episode(env, episode)
        return env.reset(seed=episode.seed)

    def judge_step(self, length: int, reward: float, terminated: Any, truncated: Any, info: Any,
                   end_at_success: bool) -> tuple[bool, bool]:
        """After step ``length`` of an episode: (it succeeded at this step, the episode is over). Success counts at
        any step; an episode ends when the env ends it, at the horizon, or at its first success where
        ``end_at_success``. (The sandbox's evaluation, promptpo.policy.evaluate, records more of the same rule.)"""
        success = self.is_success is not None and bool(self.is_success(info, float(reward), bool(terminated)))
        return success, bool(terminated or truncated or length >= self.horizon or (end_at_success and success))

    def encode_obs(self, obs: Any) -> dict[str, np.ndarray]:
        """Host obs -> named numeric arrays for the wire."""
        if len(self.obs_arrays) == 1 and self.obs_arrays[0].name == "obs":
            spec = self.obs_arrays[0]
            return {"obs": np.asarray(obs, dtype=spec.dtype).reshape(spec.shape)}
        return {a.name: np.asarray(obs[a.name], dtype=a.dtype).reshape(a.shape) for a in self.obs_arrays}


def judged_by_success(spec: EnvSpec, target: Target | None) -> bool:
    """Whether a run's candidates are judged by their success rate (the env defines success and the target is
    a success rate) rather than by their return: the cascade's rule, verify's test, the prompts."""
    return spec.has_success and target is not None and target.metric == "success_rate"


def ends_at_success(spec: EnvSpec, target: Target | None, full_episodes: bool = False) -> bool:
    """Whether episodes end at their first success: when success at any step is what counts, the run's
    target is a success rate (so the steps after it carry no information) and --full-episodes is off."""
    return spec.success_any_step and not full_episodes and judged_by_success(spec, target)


def ending_rule(spec: EnvSpec, end_at_success: bool) -> str:
    """One sentence for prompts and reports: how an episode ends."""
    if end_at_success:
        return (f"The episode ends at that first successful step (nothing after it could change the score); an "
                f"episode without success runs all {spec.horizon} steps.")
    if spec.success_any_step:
        return f"Episodes always run the full {spec.horizon} steps; they never end early."
    return f"Episodes run the full {spec.horizon} steps unless the environment ends them."
