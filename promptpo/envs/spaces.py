"""Gymnasium spaces -> the wire layout (ArraySpec), the action description and default fields."""

from __future__ import annotations

from typing import Any

import numpy as np

from promptpo.envspec import ActionSpec, ArraySpec, ObsField
from promptpo.errors import ConfigError


def obs_arrays(space: Any) -> list[ArraySpec]:
    from gymnasium import spaces

    if isinstance(space, spaces.Dict):
        arrays = []
        for key, sub in space.spaces.items():
            if isinstance(sub, spaces.Text):
                continue  # free text (e.g. a MiniGrid mission) does not cross the wire
            if isinstance(sub, spaces.Dict):  # the wire carries one array per key: obs[key] would be a dict
                raise ConfigError(f"observation space {space} is not supported: its key {key!r} holds a Dict",
                                  "promptpo handles a Dict of arrays (Box, Discrete, MultiDiscrete, MultiBinary), "
                                  "not Dicts inside it")
            [inner] = obs_arrays(sub)
            arrays.append(ArraySpec(str(key), inner.dtype, inner.shape))
        return arrays
    if isinstance(space, spaces.Box):
        dtype = "float64" if np.issubdtype(space.dtype, np.floating) else str(np.dtype(space.dtype))
        return [ArraySpec("obs", dtype, tuple(space.shape))]
    if isinstance(space, spaces.Discrete):
        return [ArraySpec("obs", "int64", ())]
    if isinstance(space, (spaces.MultiDiscrete, spaces.MultiBinary)):
        return [ArraySpec("obs", "int64", tuple(np.shape(space.sample())))]
    if isinstance(space, spaces.Tuple) and all(isinstance(s, spaces.Discrete) for s in space.spaces):
        return [ArraySpec("obs", "int64", (len(space.spaces),))]
    raise ConfigError(f"observation space {space} is not supported",
                      "promptpo handles Box, Discrete, MultiDiscrete, MultiBinary, Dict and tuples of Discrete")


def default_fields(space: Any) -> list[ObsField]:
    """One field per key (Dict) or per element (small flat Box); coarse fields otherwise."""
    from gymnasium import spaces

    if isinstance(space, spaces.Dict):
        return [ObsField(a.name, f"obs[{a.name!r}]", f"{a.dtype} array of shape {a.shape}")
                for a in obs_arrays(space)]
    [array] = obs_arrays(space)
    if isinstance(space, spaces.Box) and len(array.shape) == 1 and array.shape[0] <= 32:
        return [ObsField(f"obs_{i}", f"obs[{i}]", f"element {i}, bounds [{lo:g}, {hi:g}]")
                for i, (lo, hi) in enumerate(zip(space.low, space.high))]
    return [ObsField("obs", "obs", f"{array.dtype} array of shape {array.shape}")]


def action_spec(space: Any, meanings: tuple[str, ...] = ()) -> ActionSpec:
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        if space.start != 0:
            raise ConfigError(f"action space {space} starts at {space.start}", "only Discrete spaces starting at 0 are supported")
        return ActionSpec("discrete", n=int(space.n), meanings=meanings)
    if isinstance(space, spaces.Box):
        return ActionSpec("box", shape=tuple(space.shape),
                          low=tuple(float(x) for x in np.ravel(space.low)),
                          high=tuple(float(x) for x in np.ravel(space.high)), meanings=meanings)
    raise ConfigError(f"action space {space} is not supported", "promptpo handles Discrete and Box actions")
