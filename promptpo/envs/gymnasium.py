"""Specs for Gymnasium ids: hand-written ones call :func:`gym_spec`, others get :func:`auto_spec`."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from promptpo.envs import box2d, mujoco
from promptpo.envs.docstring import clean, table
from promptpo.envs.source import methods_defining, reward_code
from promptpo.envs.spaces import action_spec, default_fields, obs_arrays
from promptpo.envspec import ActionSpec, EnvSpec, ObsField, Target

REWARD_METHODS = ("compute_reward", "_reward", "reward", "step")


def probe(gym_id: str, **kwargs: Any) -> Any:
    import gymnasium as gym

    return gym.make(gym_id, disable_env_checker=True, **kwargs)


def reward_source(env: Any, methods: Sequence[str] = REWARD_METHODS) -> str:
    """The reward methods the env defines and every helper they reach (``_get_rew``, ``is_healthy``, ...),
    with the values of the settings they read from the live instance."""
    cls = type(env.unwrapped)
    found = [getattr(fn, "__name__", "") for fn in methods_defining(cls, methods)]
    return reward_code(cls, [name for name in found if name], instance=env.unwrapped)


def _doc(env: Any) -> str:
    return inspect.getdoc(type(env.unwrapped)) or ""


def documented_fields(env: Any) -> list[ObsField]:
    """One field per element named from the docstring's observation table (Gymnasium MuJoCo and classic
    control have one) when it covers every element of a flat Box; the generic fields otherwise."""
    from gymnasium import spaces

    space = env.observation_space
    rows = table(_doc(env), "Observation")
    if not (isinstance(space, spaces.Box) and len(space.shape) == 1 and set(rows) == set(range(space.shape[0]))):
        return default_fields(space)
    fields, used = [], set()
    for i in range(space.shape[0]):
        row = rows[i]
        name = row.identifier if row.identifier not in used else f"{row.identifier}_{i}"
        used.add(name)
        joint = row.name.split(" ")[0] if row.name else ""
        meaning = row.meaning + (f" (joint {row.name})" if joint and not name.startswith(joint.lower()) else "")
        fields.append(ObsField(name, f"obs[{i}]", meaning, row.units))
    return fields


def documented_actions(env: Any) -> tuple[str, ...]:
    """Action meanings from the docstring's action table, when it covers every action dimension."""
    from gymnasium import spaces

    space = env.action_space
    rows = table(_doc(env), "Action")
    if isinstance(space, spaces.Discrete):
        size = int(space.n)
    elif isinstance(space, spaces.Box) and len(space.shape) == 1:
        size = int(space.shape[0])
    else:
        return ()
    if set(rows) != set(range(size)):
        return ()
    return tuple(rows[i].meaning + (f" ({rows[i].units})" if rows[i].units else "") for i in range(size))


def gym_spec(gym_id: str, *, title: str, description: str,
             observation: Sequence[ObsField] | None = None,
             action_meanings: tuple[str, ...] = (), starter: str | None = None,
             target: Target | None = None, reward_methods: Sequence[str] = REWARD_METHODS,
             notes: str = "", derived=None, derived_doc: str = "", is_success=None,
             success_criterion: str | None = None, source: str = "automatic") -> EnvSpec:
    """Build a spec for a registered Gymnasium id, filling in what the installed env knows."""
    env = probe(gym_id)
    try:
        horizon = env.spec.max_episode_steps or 1000
        if target is None and env.spec.reward_threshold is not None:
            target = Target("mean_return", float(env.spec.reward_threshold))
        action = action_spec(env.action_space, action_meanings or documented_actions(env))
        fields = list(observation) if observation else documented_fields(env)
        facts: list[str] = []
        if mujoco.applies(env):  # the installed model, measured, over the docstring
            reading = mujoco.read(env, description)
            fields = list(observation) if observation else reading.fields
            facts = reading.facts + health_facts(env, fields)
            if not observation:
                description = mujoco.without_observation_section(description, complete=reading.complete)
        # Box2D: the observation named from the installed step code, facts measured
        if not observation and box2d.applies(env):
            named = box2d.read(env)
            fields, facts = (named.fields or fields), [*facts, *named.facts]
            action = action_spec(env.action_space, action_meanings or documented_actions(env) or named.actions)
        return EnvSpec(
            id=f"gymnasium/{gym_id}", family="gymnasium", title=title, description=description,
            observation=fields, facts=facts,
            obs_arrays=obs_arrays(env.observation_space), action=action,
            reward_source=reward_source(env, reward_methods), horizon=int(horizon),
            starter=starter or default_starter(action),
            make_env=lambda seed: probe(gym_id), target=target,
            is_success=is_success, success_criterion=success_criterion,
            derived=derived, derived_doc=derived_doc, notes=notes, source=source,
            ended_by=healthy_ranges(env, fields))
    finally:
        env.close()


def auto_spec(gym_id: str) -> EnvSpec:
    """A spec built only from the registration, spaces, docstring and reward source."""
    env = probe(gym_id)
    try:
        doc = clean(_doc(env)) or "(the environment has no docstring)"
    finally:
        env.close()
    return gym_spec(gym_id, title=gym_id, description=doc,
                    notes="This description was generated automatically from the installed environment.")


def default_starter(action: ActionSpec) -> str:
    value = "0" if action.kind == "discrete" else f"np.zeros({action.shape})"
    return f'''import numpy as np


class Policy:
    def reset(self):
        """Called at the start of every episode."""

    def act(self, obs):
        return {value}
'''


HEALTH = (("_healthy_z_range", ("rootz", "root_z"), "the torso's height"),
          ("_healthy_angle_range", ("rooty",), "the torso's angle"))
"""Gymnasium MuJoCo's healthy ranges (Hopper, Walker2d, Ant, ...) and the observation part each is tested on (its
name as promptpo.envs.mujoco gives it: a slide joint's, or a free joint's z)."""


def _health_checks(env: Any, fields: Sequence[ObsField]) -> list[tuple[str, str, tuple[float, float]]]:
    unwrapped = env.unwrapped
    names = [f.name for f in fields]
    return [(part, words, tuple(getattr(unwrapped, attr))) for attr, parts, words in HEALTH if hasattr(unwrapped, attr)
            for part in parts if part in names]


def health_facts(env: Any, fields: Sequence[ObsField]) -> list[str]:
    """When the env ends an episode for being unhealthy, in terms of the observation, from the live instance."""
    unwrapped = env.unwrapped
    if not getattr(unwrapped, "_terminate_when_unhealthy", False):
        return []
    where = {f.name: f.index for f in fields}
    rules = [f"{part} ({where[part]}, {words}) leaves ({low:g}, {high:g})" for part, words, (low, high)
             in _health_checks(env, fields)]
    state = getattr(unwrapped, "_healthy_state_range", None)
    if state is not None:
        rules.append(f"any other element of the observation but the first leaves ({state[0]:g}, {state[1]:g})")
    return [f"the episode ends (terminated) as soon as {' or '.join(rules)}"] if rules else []


def healthy_ranges(env: Any, fields: Sequence[ObsField]):
    """For an env that terminates when unhealthy: a function naming which of its own healthy ranges the last
    observation left, read from the live instance (Hopper also bounds every other state value)."""
    unwrapped = env.unwrapped
    names = [f.name for f in fields]
    checks = _health_checks(env, fields)
    state = getattr(unwrapped, "_healthy_state_range", None)
    if not checks or not getattr(unwrapped, "_terminate_when_unhealthy", True):
        return None

    def ended_by(last: dict[str, Any]) -> str:
        left = [f"{words} {part} = {last[part]:.3g} left its healthy range ({low:g}, {high:g})"
                for part, words, (low, high) in checks
                if isinstance(last.get(part), float) and not low < last[part] < high]
        if state is not None:
            low, high = state
            left += [f"{name} = {last[name]:.3g} left the healthy state range ({low:g}, {high:g})"
                     for name in names[1:] if isinstance(last.get(name), float) and not low < last[name] < high]
        return "; ".join(left) if left else ""

    return ended_by
