"""MiniGrid tasks, shown to the policy as the fully observable symbolic grid."""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

import gymnasium as gym
import minigrid  # noqa: F401 - registers the MiniGrid ids
import numpy as np
from minigrid.core.actions import Actions
from minigrid.core.constants import (
    COLOR_TO_IDX,
    DIR_TO_VEC,
    OBJECT_TO_IDX,
    STATE_TO_IDX,
)
from minigrid.wrappers import FullyObsWrapper

from promptpo.envs.docstring import clean
from promptpo.envs.minigrid.findings import Findings, correct_table, study
from promptpo.envs.minigrid.mission import MISSION_SLOTS, mission_array
from promptpo.envs.minigrid.rules import step_classes
from promptpo.envs.source import methods_defining, source_of
from promptpo.envs.spaces import action_spec
from promptpo.envspec import ArraySpec, EnvSpec, ObsField, Target
from promptpo.errors import ConfigError


def gym_id(name: str) -> str:
    return f"MiniGrid-{name}-v0"


def make(name: str, seed: int = 0) -> Any:
    return CarryingObs(FullyObsWrapper(gym.make(gym_id(name), disable_env_checker=True)))


class CarryingObs(gym.ObservationWrapper):
    """Full grid + direction + what the agent holds + the objects the mission names (its free text is dropped)."""

    def __init__(self, env: Any):
        super().__init__(env)
        inner = env.observation_space
        self.observation_space = gym.spaces.Dict({
            "image": inner["image"],
            "direction": inner["direction"],
            "carrying": gym.spaces.Box(0, 255, (2,), dtype=np.int64),
            "mission": gym.spaces.Box(-1, 255, (MISSION_SLOTS, 2), dtype=np.int64),
        })

    def observation(self, obs: dict) -> dict:
        held = self.unwrapped.carrying
        carrying = (np.array([OBJECT_TO_IDX[held.type], COLOR_TO_IDX[held.color]], dtype=np.int64)
                    if held is not None else np.zeros(2, dtype=np.int64))
        return {"image": obs["image"], "direction": np.int64(obs["direction"]), "carrying": carrying,
                "mission": _mission_array(str(self.unwrapped.mission))}


@cache
def _mission_array(text: str) -> np.ndarray:
    array = mission_array(text)
    array.flags.writeable = False
    return array


def is_success(info: dict, reward: float, terminated: bool) -> bool:
    return bool(terminated and reward > 0)


def known_tasks() -> list[str]:
    return sorted(k.removeprefix("MiniGrid-").removesuffix("-v0") for k in gym.registry
                  if k.startswith("MiniGrid-") and k.endswith("-v0"))


def encoding_doc() -> str:
    """The symbolic encoding, read from the installed minigrid constants (never a hand copy)."""
    dirs = ", ".join(f"{i} = {tuple(int(v) for v in vec)}" for i, vec in enumerate(DIR_TO_VEC))
    return (
        "obs['image'][x, y] = (object type, colour, state) of the cell in column x, row y "
        "(x grows to the right, y grows DOWNWARDS; (0, 0) is the top-left corner; the outer ring is wall).\n"
        f"object type ids: {OBJECT_TO_IDX}\n"
        f"colour ids: {COLOR_TO_IDX}\n"
        f"door state ids: {STATE_TO_IDX}\n"
        "The agent's own cell holds (agent id, colour id of red, direction).\n"
        f"obs['direction']: the way the agent faces, index -> (dx, dy) step taken by 'forward': {dirs}.\n"
        "obs['carrying']: (object type, colour) of what the agent holds, (0, 0) when it holds nothing.\n"
        f"obs['mission']: (object type, colour) of each object the mission text names, in order, colour -1 when it "
        f"names none, padded with (0, 0) rows to {MISSION_SLOTS} rows.")


def minigrid_spec(name: str, *, title: str = "", description: str = "", starter: str | None = None,
                  notes: str = "", source: str = "automatic") -> EnvSpec:
    env = make(name)
    try:
        try:
            env.reset(seed=0)
        except Exception as err:  # noqa: BLE001 - e.g. a release that ships an env without its data files
            raise ConfigError(f"minigrid/{name} cannot be run with the installed minigrid: "
                              f"{type(err).__name__}: {str(err).splitlines()[0][:200]}",
                              "choose another task, or install a minigrid release that ships it whole") from None
        unwrapped = env.unwrapped
        horizon = int(unwrapped.max_steps)
        doc = inspect.cleandoc(description or (type(unwrapped).__doc__ or name))
        names = tuple(a.name for a in Actions)[: env.action_space.n]
        findings = _findings(name)
        reward = reward_source(type(unwrapped))
        action = action_spec(env.action_space, names)
        w, h = unwrapped.width, unwrapped.height
    finally:
        env.close()
    return EnvSpec(
        id=f"minigrid/{name}", family="minigrid", title=title or f"MiniGrid {name}",
        description=(correct_table(clean(doc), findings.acting) + "\n\nSymbolic encoding of the observation:\n"
                     + encoding_doc()),
        observation=[
            ObsField("image", "obs['image']", f"full grid, uint8 array of shape ({w}, {h}, 3), indexed [x, y]", "ids"),
            ObsField("direction", "obs['direction']", "facing direction 0..3", "index"),
            ObsField("carrying", "obs['carrying']", "(object type, colour) held, (0, 0) if nothing", "ids"),
            ObsField("mission", "obs['mission']", f"(object type, colour) of each object the mission names, "
                     f"{MISSION_SLOTS} rows", "ids", digest=False),
            ObsField("agent_pos", "agent position", "(x, y) of the cell where obs['image'] holds the agent", "cells",
                     select=lambda obs: np.argwhere(obs["image"][:, :, 0] == OBJECT_TO_IDX["agent"])[:1].ravel()),
        ],
        obs_arrays=[ArraySpec("image", "uint8", (w, h, 3)), ArraySpec("direction", "int64", ()),
                    ArraySpec("carrying", "int64", (2,)), ArraySpec("mission", "int64", (MISSION_SLOTS, 2))],
        action=action, reward_source=reward, horizon=horizon,
        starter=starter or DEFAULT_STARTER, make_env=lambda seed: make(name, seed),
        target=Target("success_rate", 1.0), success_criterion=findings.success, facts=tuple(findings.facts),
        is_success=is_success, notes=notes, source=source)


@cache
def _findings(name: str) -> Findings:
    """What the spec states about the installed env beyond its docstring, measured once per process."""
    env = make(name)
    try:
        names = tuple(a.name for a in Actions)[: env.action_space.n]
        return study(env, gym_id(name), names)
    finally:
        env.close()


def reward_source(cls: type) -> str:
    """``_reward`` and every ``step`` that runs, the env's own first: an override calls ``super().step``, whose
    rules (what each action does, the goal and lava squares) apply too."""
    steps = step_classes(cls)
    parts = [source_of(*methods_defining(cls, ("_reward",)))]
    for klass in steps:
        label = ("the base rules every MiniGrid env runs" if klass.__name__ == "MiniGridEnv" and len(steps) > 1
                 else "this env's own step" if klass is cls or len(steps) > 1 else "")
        parts.append(f"# {klass.__name__}.step" + (f": {label}" if label else "") + "\n"
                     + source_of(*methods_defining(klass, ("step",))))
    return "\n\n".join(parts)


DEFAULT_STARTER = '''import numpy as np

LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE, DONE = range(7)


class Policy:
    def reset(self):
        """Called at the start of every episode."""

    def act(self, obs):
        grid = obs["image"]          # grid[x, y] = (type, colour, state)
        direction = int(obs["direction"])
        mission = obs["mission"]     # rows of (type, colour) the mission names
        # TODO: plan a path on the grid and return one action
        return FORWARD
'''
