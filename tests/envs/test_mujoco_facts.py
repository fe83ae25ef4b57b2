"""Facts about Gymnasium MuJoCo environments, checked against the installed mujoco and gymnasium by behaviour:
each fact the prompt states is re-measured here in another way (a wrong fact fails a test)."""

from __future__ import annotations

import re

import gymnasium as gym
import mujoco
import numpy as np
import pytest

from promptpo.envs import load_spec


@pytest.fixture(scope="module")
def specs():
    return {name: load_spec(f"gymnasium/{name}") for name in ("Hopper-v5", "Walker2d-v5", "HalfCheetah-v5", "Ant-v5")}


def joint_qpos(env, name: str) -> int:
    model = env.unwrapped.model
    return int(model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)])


@pytest.mark.parametrize("name", ["Hopper-v5", "Walker2d-v5", "HalfCheetah-v5"])
def test_each_named_element_is_the_joint_value_it_is_named_for(specs, name):
    env = gym.make(name)
    env.reset(seed=3)
    data = env.unwrapped.data
    obs = env.unwrapped._get_obs()
    for field in specs[name].observation:
        i = int(field.index[4:-1])
        joint = field.name.removesuffix("_vel")
        model = env.unwrapped.model
        jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, joint)
        value = data.qvel[model.jnt_dofadr[jid]] if field.name.endswith("_vel") else data.qpos[model.jnt_qposadr[jid]]
        assert obs[i] == pytest.approx(np.clip(value, -10, 10)), field


@pytest.mark.parametrize("name", ["Hopper-v5", "Walker2d-v5"])
def test_the_clipped_velocities_are_the_ones_the_env_clips(specs, name):
    fact = next(f for f in specs[name].facts if "clipped by the env's code" in f)
    low, high = (float(v) for v in re.search(r"\[(-?[\d.]+), (-?[\d.]+)\]", fact).groups())
    env = gym.make(name)
    env.reset(seed=0)
    env.unwrapped.data.qvel[:] = 1e3
    obs = env.unwrapped._get_obs()
    stated = {int(i) for i in range(int(re.search(r"obs\[(\d+)\.\.(\d+)\]", fact).group(1)),
                                     int(re.search(r"obs\[(\d+)\.\.(\d+)\]", fact).group(2)) + 1)}
    assert {int(i) for i in np.flatnonzero(obs == high)} == stated and low == -high


@pytest.mark.parametrize("name", ["Hopper-v5", "Walker2d-v5", "Ant-v5"])
def test_the_info_keys_stated_are_a_steps(specs, name):
    env = gym.make(name)
    env.reset(seed=0)
    _, _, _, _, info = env.step(env.action_space.sample() * 0)
    fact = next(f for f in specs[name].facts if f.startswith("a step's info holds"))
    assert fact.split(": ", 1)[1].split(", ") == sorted(info)
    absent = next((f for f in specs[name].facts if "does not return" in f), "")
    for key in re.findall(r"[a-z_]+$|[a-z_]+(?=,)", absent.split(": ", 1)[-1]) if absent else []:
        assert key not in info


def test_which_way_a_positive_angle_moves_a_leg_is_what_the_simulator_does(specs):
    """Walker2d's thigh joints turn about -y: a positive angle swings the leg forward (the foot's x grows)."""
    env = gym.make("Walker2d-v5")
    env.reset(seed=0)
    model, data = env.unwrapped.model, env.unwrapped.data
    foot = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "foot")
    before = data.xpos[foot].copy()
    data.qpos[joint_qpos(env, "thigh_joint")] += 0.2
    mujoco.mj_forward(model, data)
    moved = data.xpos[foot][0] - before[0]
    fact = next(f for f in specs["Walker2d-v5"].facts if f.startswith("thigh_joint ("))
    assert ("forward (+x)" in fact) == (moved > 0) and "hinge about -y" in fact
    assert "range -150 to 0 deg" in fact  # read from the model: jnt_range
    assert np.degrees(model.jnt_range[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, "thigh_joint")][0]) == \
        pytest.approx(-150)


@pytest.mark.parametrize("name", ["Hopper-v5", "Walker2d-v5"])
def test_a_hip_torque_with_the_foot_planted_turns_the_torso_as_the_facts_say(specs, name):
    """A helper answering Hopper prompts read '+ moves thigh's subtree forward' as 'a positive hip torque tips the
    torso back when the foot is planted' and fed its torso's pitch back the wrong way for three rounds. The facts
    now say the body above a joint turns about the opposite axis when the subtree is held: the thigh hinge turns
    about -y, so the torso turns about +y (rooty: + tips it forward), with the thigh's value. Measured from rest
    on the ground: the thigh's value falls (it starts at its upper limit) and rooty falls with it."""
    facts = specs[name].facts
    assert any("a hinge about -y turns it about +y" in f for f in facts)
    thigh = next(f for f in facts if f.startswith("thigh_joint ("))
    rooty = next(f for f in facts if f.startswith("rooty ("))
    assert "hinge about -y" in thigh and "hinge about +y" in rooty and "forward (+x)" in rooty
    env = gym.make(name)
    obs, _ = env.reset(seed=0)
    start = obs[1:3].copy()  # rooty, and the (right) thigh's angle
    for _ in range(8):
        obs, *_ = env.step(np.array([-0.3] + [0.0] * (env.action_space.shape[0] - 1)))
    pitch, hip = obs[1:3] - start
    assert hip < -0.05 and pitch < -0.5 * abs(hip)  # the torso turned with the hip's value, most of its angle


@pytest.mark.parametrize("name", ["Hopper-v5", "HalfCheetah-v5"])
def test_each_actuators_joint_and_gear_are_the_models(specs, name):
    """The joint an action element is stated to drive is the one whose value grows when that element is positive."""
    env = gym.make(name)
    model = env.unwrapped.model
    for a in range(model.nu):
        fact = next(f for f in specs[name].facts if re.search(rf"\baction\[{a}\] gear ", f))
        joint = fact.split(" (", 1)[0]
        assert joint == mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, int(model.actuator_trnid[a][0]))
        assert f"action[{a}] gear {model.actuator_gear[a][0]:g}" in fact
        env.reset(seed=0)
        start = env.unwrapped.data.qpos[joint_qpos(env, joint)]
        push = np.zeros(model.nu)
        push[a] = env.action_space.high[a]
        for _ in range(3):
            env.step(push)
        assert env.unwrapped.data.qpos[joint_qpos(env, joint)] > start  # "a positive action pushes the value up"
    assert any("a positive action pushes the joint's value up" in f for f in specs[name].facts)


def test_the_termination_rule_is_what_ends_an_episode(specs):
    spec = specs["Walker2d-v5"]
    fact = next(f for f in spec.facts if f.startswith("the episode ends"))
    assert "rootz (obs[0]" in fact and "(0.8, 2)" in fact and "rooty (obs[1]" in fact and "(-1, 1)" in fact
    env = gym.make("Walker2d-v5")
    env.reset(seed=0)
    env.unwrapped.data.qpos[joint_qpos(env, "rootz")] = 0.7  # below the height the fact states
    _, _, terminated, _, _ = env.step(np.zeros(6))
    assert terminated


def test_the_docstrings_observation_section_goes_where_every_element_is_measured(specs):
    assert "exclude_current_positions_from_observation=False` during construction" not in specs["Walker2d-v5"].description
    assert any(f.name == "thigh_left_joint_vel" and "thigh_left" in f.meaning for f in specs["Walker2d-v5"].observation)
    ant = specs["Ant-v5"]  # contact forces are not joint values: the description keeps its section, one entry covers them
    assert "cfrc_ext" in ant.description and any(f.index == "obs[27:105]" and not f.digest for f in ant.observation)
    assert any(f.startswith("the episode ends") and "root_z (obs[0]" in f for f in ant.facts)


def test_an_ants_terminated_episode_says_which_healthy_range_it_left(specs):
    """Ant ends an episode when its torso's z leaves _healthy_z_range; a digest names it (it said nothing) and
    tracks the observation (it showed no observation line)."""
    ant = specs["Ant-v5"]
    low, high = gym.make("Ant-v5").unwrapped._healthy_z_range
    assert "root_z = 1.05 left its healthy range" in ant.ended_by({"root_z": high + 0.05})
    assert ant.ended_by({"root_z": (low + high) / 2}) == ""
    assert [f.name for f in ant.observation if f.digest][:2] == ["root_z", "root_qw"]


def test_the_joints_that_start_at_a_limit_are_the_ones_that_do(specs):
    """A real model lost two Hopper calls not knowing that the thigh and knee start at their upper limit: positive
    torque there does nothing. Checked by driving them: from the start, a positive push does not move them up."""
    fact = next(f for f in specs["Hopper-v5"].facts if "start at (or beyond) their upper limit" in f)
    named = fact.split(" start at", 1)[0].split(", ")
    assert named == ["thigh_joint", "leg_joint"]
    env = gym.make("Hopper-v5")
    model = env.unwrapped.model
    for name in ("thigh_joint", "leg_joint", "foot_joint"):
        env.reset(seed=0)
        start = float(env.unwrapped.data.qpos[joint_qpos(env, name)])
        a = next(i for i in range(model.nu) if int(model.actuator_trnid[i][0])
                 == mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name))
        push = np.zeros(model.nu)
        push[a] = 1.0
        for _ in range(3):
            env.step(push)
        reached = float(env.unwrapped.data.qpos[joint_qpos(env, name)])
        assert (name in named) == (reached - start < 0.02), (name, start, reached)  # held at the limit, or rising


def test_the_bodies_masses_and_segments_are_the_models(specs):
    fact = next(f for f in specs["Hopper-v5"].facts if f.startswith("bodies at the start pose"))
    model = gym.make("Hopper-v5").unwrapped.model
    for b in range(1, model.nbody):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, b)
        assert f"{name} {model.body_mass[b]:.2g} kg" in fact
    assert "foot 5.3 kg (0.26, 0.1)-(-0.13, 0.1)" in fact  # toe ahead of the ankle, heel behind, on the floor


def test_a_root_hinge_says_where_the_body_turns():
    """Swimmer's root hinge is about z: its top does not move (the prompt said 'nowhere measurable'); its front does."""
    spec = load_spec("gymnasium/Swimmer-v5")
    fact = next(f for f in spec.facts if f.startswith("free_body_rot ("))
    env = gym.make("Swimmer-v5")
    env.reset(seed=0)
    u = env.unwrapped
    before = u.data.xmat[1].reshape(3, 3)[:, 0].copy()
    u.data.qpos[joint_qpos(env, "free_body_rot")] += 0.1
    mujoco.mj_forward(u.model, u.data)
    moved = u.data.xmat[1].reshape(3, 3)[:, 0] - before
    assert "turns the front (+x end) of torso" in fact and ("to the left (+y)" in fact) == (moved[1] > 0)
    assert "nowhere measurable" not in fact
    hopper = load_spec("gymnasium/Hopper-v5")
    assert hopper.observation[5].meaning.startswith("horizontal velocity of torso")  # rootx_vel, said as a velocity
