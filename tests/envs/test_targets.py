"""promptpo.envs.targets: what counts as solving an env when runs are compared (success rate 0.9 for Meta-World and
MiniGrid, the registered reward threshold for Gymnasium)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import promptpo.envs
from promptpo.envs.targets import RETURN_FLOOR, SUCCESS_TARGET, target_for
from promptpo.envspec import Target


@pytest.mark.parametrize("env", ["metaworld/reach-v3", "minigrid/MiniGrid-DoorKey-5x5-v0"])
def test_success_families_are_solved_at_a_success_rate_of_0_9(env, monkeypatch):
    monkeypatch.setattr(promptpo.envs, "load_spec", lambda env: pytest.fail("a success family needs no spec"))
    assert target_for(env) == Target("success_rate", SUCCESS_TARGET) == Target("success_rate", 0.9)


def test_gymnasium_uses_its_registered_reward_threshold():
    assert target_for("gymnasium/CartPole-v1") == Target("mean_return", 475.0)


@pytest.mark.parametrize("target, expected", [
    (Target("mean_return", 10.0), Target("mean_return", 10.0)),
    (Target("success_rate", 1.0), None),  # a spec's own success target is not a return threshold
    (None, None),
])
def test_only_a_return_threshold_of_the_spec_counts(target, expected, monkeypatch):
    monkeypatch.setattr(promptpo.envs, "load_spec", lambda env: SimpleNamespace(target=target))
    assert target_for("gymnasium/Whatever-v0") == expected


def test_return_floors_are_at_or_below_the_targets():
    assert RETURN_FLOOR["gymnasium/CartPole-v1"] == 0.0
    for env, floor in RETURN_FLOOR.items():
        target = target_for(env)
        assert target is None or floor <= target.threshold, env
