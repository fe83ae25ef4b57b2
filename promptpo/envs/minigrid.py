"""MiniGrid tasks, shown to the policy as the fully observable symbolic grid."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import minigrid  # noqa: F401 - registers the MiniGrid ids
import numpy as np
from minigrid.core.actions import Actions
from minigrid.core.constants import COLOR_TO_IDX, DIR_TO_VEC, OBJECT_TO_IDX, STATE_TO_IDX
from minigrid.wrappers import FullyObsWrapper

from promptpo.envs.source import methods_defining, source_of
from promptpo.envspec import ArraySpec, EnvSpec, ObsField, Target
from promptpo.envs.spaces import action_spec


def gym_id(name: str) -> str:
    return f"MiniGrid-{name}-v0"


def make(name: str, seed: int = 0) -> Any:
    return CarryingObs(FullyObsWrapper(gym.make(gym_id(name), disable_env_checker=True)))


class CarryingObs(gym.ObservationWrapper):
    """Full grid + direction + what the agent holds; the free-text mission is dropped."""

    def __init__(self, env: Any):
        super().__init__(env)
        inner = env.observation_space
        self.observation_space = gym.spaces.Dict({
            "image": inner["image"],
            "direction": inner["direction"],
            "carrying": gym.spaces.Box(0, 255, (2,), dtype=np.int64),
        })

    def observation(self, obs: dict) -> dict:
        held = self.unwrapped.carrying
        carrying = (np.array([OBJECT_TO_IDX[held.type], COLOR_TO_IDX[held.color]], dtype=np.int64)
                    if held is not None else np.zeros(2, dtype=np.int64))
        return {"image": obs["image"], "direction": np.int64(obs["direction"]), "carrying": carrying}


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
        "'forward' moves one cell in the facing direction if that cell is empty, open door, goal or "
        "floor; 'pickup' and 'toggle' act on the cell in front of the agent (toggle opens a door; a "
        "locked door needs the key of its colour to be carried).")


def minigrid_spec(name: str, *, title: str = "", description: str = "", starter: str | None = None,
                  notes: str = "", source: str = "automatic") -> EnvSpec:
    env = make(name)
    try:
        unwrapped = env.unwrapped
        horizon = int(unwrapped.max_steps)
        doc = description or (type(unwrapped).__doc__ or name)
        reward = source_of(*methods_defining(type(unwrapped), ("_reward", "step")))
        action = action_spec(env.action_space, tuple(a.name for a in Actions)[: env.action_space.n])
        w, h = unwrapped.width, unwrapped.height
    finally:
        env.close()
    return EnvSpec(
        id=f"minigrid/{name}", family="minigrid", title=title or f"MiniGrid {name}",
        description=doc.strip() + "\n\nSymbolic encoding of the observation:\n" + encoding_doc(),
        observation=[
            ObsField("image", "obs['image']", f"full grid, uint8 array of shape ({w}, {h}, 3), indexed [x, y]", "ids"),
            ObsField("direction", "obs['direction']", "facing direction 0..3", "index"),
            ObsField("carrying", "obs['carrying']", "(object type, colour) held, (0, 0) if nothing", "ids"),
            ObsField("agent_pos", "agent position", "(x, y) of the agent cell (digest only)", "cells",
                     select=lambda obs: np.argwhere(obs["image"][:, :, 0] == OBJECT_TO_IDX["agent"])[:1].ravel()),
        ],
        obs_arrays=[ArraySpec("image", "uint8", (w, h, 3)), ArraySpec("direction", "int64", ()),
                    ArraySpec("carrying", "int64", (2,))],
        action=action, reward_source=reward, horizon=horizon,
        starter=starter or DEFAULT_STARTER, make_env=lambda seed: make(name, seed),
        target=Target("success_rate", 1.0),
        success_criterion="An episode succeeds when the agent reaches the goal square (terminated with reward > 0).",
        is_success=is_success, notes=notes, source=source)


DEFAULT_STARTER = '''import numpy as np

LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE, DONE = range(7)


class Policy:
    def reset(self):
        """Called at the start of every episode."""

    def act(self, obs):
        grid = obs["image"]          # grid[x, y] = (type, colour, state)
        direction = int(obs["direction"])
        # TODO: plan a path on the grid and return one action
        return FORWARD
'''
