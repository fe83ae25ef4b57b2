"""Environment specs: every shipped file, the automatic specs, and id errors."""

from __future__ import annotations

import inspect
import textwrap

import numpy as np
import pytest

from promptpo.envs import load_spec, spec_files
from promptpo.errors import ConfigError, EnvNotFoundError

REQUIRED = {"metaworld/reach", "metaworld/push", "metaworld/pick-place", "metaworld/door-open",
            "metaworld/drawer-open", "metaworld/button-press", "gymnasium/CartPole-v1", "gymnasium/MountainCar-v0",
            "gymnasium/MountainCarContinuous-v0", "gymnasium/Pendulum-v1", "gymnasium/Acrobot-v1",
            "minigrid/DoorKey-5x5", "minigrid/Empty-8x8"}


def test_every_required_spec_file_ships():
    assert REQUIRED <= set(spec_files())


@pytest.mark.parametrize("env_id", sorted(REQUIRED))
def test_spec_matches_the_installed_environment(env_id):
    spec = load_spec(env_id)
    assert spec.id == env_id and spec.source.endswith(".py")
    assert spec.horizon > 0 and spec.starter.strip() and spec.description.strip()
    assert "def " in spec.reward_source
    env = spec.make_env(0)
    try:
        [episode] = spec.episodes(0, 1)
        obs, _ = spec.reset(env, episode)
        encoded = spec.encode_obs(obs)
        assert [(k, v.shape) for k, v in encoded.items()] == [(a.name, a.shape) for a in spec.obs_arrays]
        for field in spec.observation:
            if field.digest:
                assert np.all(np.isfinite(field.value(obs)))
    finally:
        env.close()


def test_reward_source_is_the_installed_code_not_a_copy():
    from metaworld.envs.sawyer_reach_v3 import SawyerReachEnvV3

    from promptpo.envs.source import live_branches, without_rendering

    spec = load_spec("metaworld/reach")
    installed = textwrap.dedent(inspect.getsource(SawyerReachEnvV3.compute_reward)).strip()
    assert live_branches(installed, {"reward_function_version": "v2"}) in spec.reward_source
    assert "tcp_to_target = float(np.linalg.norm(tcp - target))" in installed  # the live branch, verbatim
    assert "tcp_to_target = float(np.linalg.norm(tcp - target))" in spec.reward_source
    assert "def evaluate_state" in spec.reward_source and "def inner" not in spec.reward_source  # decorator peeled off
    from gymnasium.envs.classic_control.cartpole import CartPoleEnv

    cartpole = textwrap.dedent(inspect.getsource(CartPoleEnv.step)).strip()
    assert without_rendering(cartpole, None) in load_spec("gymnasium/CartPole-v1").reward_source  # drawing left out


def test_minigrid_encoding_comes_from_the_installed_constants():
    from minigrid.core.constants import OBJECT_TO_IDX

    spec = load_spec("minigrid/DoorKey-5x5")
    assert str(OBJECT_TO_IDX) in spec.description
    assert spec.action.n == 7 and spec.action.meanings[5] == "toggle"


def test_metaworld_episodes_cover_distinct_goals_and_are_reproducible():
    spec = load_spec("metaworld/reach")
    plan = spec.episodes(3, 50)
    assert sorted(e.extras["task"] for e in plan) == list(range(50))
    assert plan == spec.episodes(3, 50) and plan != spec.episodes(4, 50)


@pytest.mark.parametrize("env_id, kind", [("gymnasium/FrozenLake-v1", "discrete"), ("gymnasium/Blackjack-v1", "discrete"),
                                          ("minigrid/FourRooms", "discrete"), ("metaworld/window-open", "box")])
def test_ids_without_a_spec_file_get_an_automatic_spec(env_id, kind):
    spec = load_spec(env_id)
    assert spec.source == "automatic" and spec.action.kind == kind
    assert spec.description.strip() and "def " in spec.reward_source
    env = spec.make_env(0)
    try:
        obs, _ = spec.reset(env, spec.episodes(0, 1)[0])
        assert set(spec.encode_obs(obs)) == {a.name for a in spec.obs_arrays}
    finally:
        env.close()


def test_lunar_lander_works_or_says_what_to_install():
    try:
        import Box2D  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="box2d"):
            load_spec("gymnasium/LunarLander-v3")
    else:
        assert load_spec("gymnasium/LunarLander-v3").target.threshold == 200


@pytest.mark.parametrize("env_id, hint", [("gymnasium/CartPol-v1", "gymnasium/CartPole-v1"),
                                          ("metaworld/reech", "metaworld/reach"),
                                          ("minigrid/DoorKey5x5", "minigrid/DoorKey-5x5"),
                                          ("CartPole-v1", "gymnasium/CartPole-v1"),
                                          ("atari/Pong", "FAMILY/NAME")])
def test_unknown_ids_suggest_close_matches(env_id, hint):
    with pytest.raises(EnvNotFoundError) as err:
        load_spec(env_id)
    assert hint in str(err.value)


def test_lunarlander_has_a_spec_and_a_hand_written_lander_lands(tmp_path):
    """Box2D is installed where the tests run (the SAM-HRL-HS benchmark needs LunarLander-v3)."""
    import promptpo
    from conftest import ROOT

    spec = load_spec("gymnasium/LunarLander-v3")
    assert spec.obs_arrays[0].shape == (8,) and spec.action.n == 4 and spec.target.threshold == 200
    result = promptpo.optimize("gymnasium/LunarLander-v3", f"scripted:{ROOT / 'benchmarks' / 'answers' / 'lunarlander'}",
                               out=tmp_path, rounds=1, candidates=1, episodes=5, cascade=0, add_to_library=False)
    assert result.summary["best_score"] > 100  # gymnasium's own heuristic lander, as a policy program
