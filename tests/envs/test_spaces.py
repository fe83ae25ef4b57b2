"""promptpo.envs.spaces: Gymnasium spaces as the wire layout (ArraySpec), default observation fields and the action
description."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from promptpo.envs.spaces import action_spec, default_fields, obs_arrays
from promptpo.envspec import ActionSpec, ArraySpec
from promptpo.errors import ConfigError


@pytest.mark.parametrize("space, expected", [
    (spaces.Box(-1, 1, (4,), dtype=np.float32), ArraySpec("obs", "float64", (4,))),  # floats cross as float64
    (spaces.Box(0, 255, (7, 7, 3), dtype=np.uint8), ArraySpec("obs", "uint8", (7, 7, 3))),
    (spaces.Discrete(5), ArraySpec("obs", "int64", ())),
    (spaces.MultiDiscrete([3, 4]), ArraySpec("obs", "int64", (2,))),
    (spaces.MultiBinary(6), ArraySpec("obs", "int64", (6,))),
    (spaces.Tuple((spaces.Discrete(32), spaces.Discrete(11), spaces.Discrete(2))), ArraySpec("obs", "int64", (3,))),
])
def test_obs_arrays_of_one_array(space, expected):
    assert obs_arrays(space) == [expected]


def test_a_dict_is_one_array_per_key_and_its_text_stays_behind():
    space = spaces.Dict({"image": spaces.Box(0, 255, (3, 3, 3), dtype=np.uint8), "direction": spaces.Discrete(4),
                         "mission": spaces.Text(10)})
    assert obs_arrays(space) == [ArraySpec("direction", "int64", ()), ArraySpec("image", "uint8", (3, 3, 3))]  # key order


@pytest.mark.parametrize("space", [spaces.Tuple((spaces.Discrete(2), spaces.Box(0, 1, (1,)))), spaces.Text(5),
                                   spaces.Graph(spaces.Box(0, 1, (2,)), None)])
def test_unsupported_observation_spaces(space):
    with pytest.raises(ConfigError, match="is not supported"):
        obs_arrays(space)


@pytest.mark.parametrize("inner", [{"a": spaces.Discrete(2), "b": spaces.Discrete(2)}, {"m": spaces.Text(3)},
                                   {"a": spaces.Discrete(2)}])
def test_a_nested_dict_is_refused_with_a_config_error(inner):
    with pytest.raises(ConfigError, match="is not supported"):
        obs_arrays(spaces.Dict({"outer": spaces.Dict(inner)}))


def test_default_fields_of_a_small_box_name_each_element_with_its_bounds():
    fields = default_fields(spaces.Box(np.array([-1.0, 0.0]), np.array([1.0, 2.5]), dtype=np.float64))
    assert [(f.name, f.index, f.meaning) for f in fields] == [
        ("obs_0", "obs[0]", "element 0, bounds [-1, 1]"), ("obs_1", "obs[1]", "element 1, bounds [0, 2.5]")]


def test_default_fields_of_a_large_or_shaped_box_and_a_discrete_are_one_coarse_field():
    assert [(f.name, f.index) for f in default_fields(spaces.Box(-1, 1, (33,)))] == [("obs", "obs")]
    assert len(default_fields(spaces.Box(-1, 1, (32,)))) == 32
    [field] = default_fields(spaces.Box(0, 255, (2, 2), dtype=np.uint8))
    assert field.meaning == "uint8 array of shape (2, 2)"
    assert default_fields(spaces.Discrete(3))[0].meaning == "int64 array of shape ()"


def test_default_fields_of_a_dict_are_one_per_key():
    fields = default_fields(spaces.Dict({"pos": spaces.Box(-1, 1, (3,)), "mission": spaces.Text(4)}))
    assert [(f.name, f.index, f.meaning) for f in fields] == [
        ("pos", "obs['pos']", "float64 array of shape (3,)")]


def test_action_specs():
    assert action_spec(spaces.Discrete(3), ("left", "stay", "right")) == ActionSpec(
        "discrete", n=3, meanings=("left", "stay", "right"))
    box = action_spec(spaces.Box(np.array([-1.0, -2.0], dtype=np.float32), np.array([1.0, 2.0], dtype=np.float32)))
    assert box == ActionSpec("box", shape=(2,), low=(-1.0, -2.0), high=(1.0, 2.0))
    assert all(type(x) is float for x in box.low + box.high)


def test_unsupported_action_spaces():
    with pytest.raises(ConfigError, match="starts at 1"):
        action_spec(spaces.Discrete(3, start=1))
    with pytest.raises(ConfigError, match="is not supported"):
        action_spec(spaces.MultiDiscrete([2, 2]))
