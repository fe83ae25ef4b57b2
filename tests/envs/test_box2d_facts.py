"""Gymnasium Box2D environments (LunarLander, BipedalWalker) as the prompt describes them, checked against the
installed gymnasium and Box2D by behaviour: every name, scale, bound, setting and action effect the spec states is
re-measured here on the simulator (other seeds, other quantities where there are some), so a wrong fact fails a test
whatever the release. Also: the description keeps nothing a policy cannot act on, the reward source lists every
setting it reads, and a ``step`` that builds its observation differently gets names that follow it, or none."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap

import numpy as np
import pytest

pytest.importorskip("Box2D")

import gymnasium as gym
from gymnasium.envs.box2d.lunar_lander import LunarLander

from promptpo.envs import box2d, load_spec
from promptpo.envs.docstring import clean
from promptpo.envs.source import reward_code

IDS = ("LunarLander-v3", "LunarLanderContinuous-v3", "BipedalWalker-v3")


@pytest.fixture(scope="module")
def specs():
    return {name: load_spec(f"gymnasium/{name}") for name in IDS}


def rollout(name: str, steps: int, seed: int = 7):
    """(obs, unwrapped env) after each of ``steps`` random steps, over as many episodes as that takes."""
    env = gym.make(name)
    env.action_space.seed(seed)
    env.reset(seed=seed)
    for t in range(steps):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        yield np.asarray(obs, dtype=float), env.unwrapped
        if terminated or truncated:
            env.reset(seed=seed + t + 1)
    env.close()


def live(unwrapped, chain: str):
    """The value of ``self.a[0].b`` on the env."""
    value = unwrapped
    for attr, index in re.findall(r"\.(\w+)|\[(\d+)\]", chain.removeprefix("self")):
        value = value[int(index)] if index else getattr(value, attr)
    return value


def stated_map(field):
    """The quantity a field names (the `self....` it quotes) and the function its units state, obs = f(quantity)."""
    chain = re.search(r"`(self[\w.\[\]]+)`", field.meaning).group(1)
    units = field.units
    if units == "flag":
        return chain, lambda q: 1.0 if q else 0.0
    if units in ("rad", "rad/s", "world units", "world units/s", "fraction"):
        return chain, lambda q: q
    if found := re.match(r"^([\d.]+) x \((\w[\w ]*?) ([-+]) ([\d.]+)\)", units):
        a, sign, c = float(found.group(1)), found.group(3), float(found.group(4))
        return chain, lambda q: a * (q - c if sign == "-" else q + c)
    if found := re.match(r"^([\d.]+) x [\w/ ]+ \(divide by ([\d.]+)", units):
        assert found.group(1) == found.group(2)
        factor = float(found.group(1))
        return chain, lambda q: factor * q
    if found := re.match(r"^(\w+) ([-+]) ([\d.]+), ", units):
        b = float(found.group(3)) * (1 if found.group(2) == "+" else -1)
        return chain, lambda q: q + b
    raise AssertionError(f"{field.name}: units {units!r} state no scale this test can read")


@pytest.mark.parametrize("name", ["LunarLander-v3", "BipedalWalker-v3"])
def test_every_element_is_the_quantity_it_names_scaled_as_stated(specs, name):
    spec = specs[name]
    assert not any(f.name.startswith("obs_") for f in spec.observation), "an element the code could not name"
    maps = [(int(f.index[4:-1]), *stated_map(f)) for f in spec.observation]
    assert sorted(i for i, _, _ in maps) == list(range(len(maps)))
    for obs, unwrapped in rollout(name, 300):
        for i, chain, f in maps:
            value = live(unwrapped, chain)
            expected = f(value if isinstance(value, bool) else float(value))
            assert obs[i] == pytest.approx(expected, rel=1e-4, abs=1e-4), spec.observation[i]


def test_lunar_lander_legs_are_named_by_side_and_their_contacts_are_flags(specs):
    fields = specs["LunarLander-v3"].observation
    contacts = {f.name: int(f.index[4:-1]) for f in fields if "contact" in f.name}
    assert set(contacts.values()) == {6, 7} and all("leg" in name for name in contacts)
    touched = 0
    for obs, unwrapped in rollout("LunarLander-v3", 1500):
        assert set(obs[[6, 7]]) <= {0.0, 1.0}
        lander = unwrapped.lander
        for name, i in contacts.items():
            side = 1 if name.startswith("right") else -1 if name.startswith("left") else 0
            assert side, name
            legs = [leg for leg in unwrapped.legs if np.sign(lander.GetLocalPoint(leg.position)[0]) == side]
            assert len(legs) == 1 and obs[i] == float(legs[0].ground_contact), name
            touched += int(obs[i])
    assert touched > 0  # the random landers did touch down: the flags were exercised


def test_bipedal_walker_lidar_contacts_and_joint_limits(specs):
    spec = specs["BipedalWalker-v3"]
    fields = spec.observation
    assert [f.name for f in fields[14:]] == [f"lidar{k}" for k in range(10)]
    contacts = [int(f.index[4:-1]) for f in fields if f.name.endswith("_contact")]
    assert len(contacts) == 2
    for obs, unwrapped in rollout("BipedalWalker-v3", 600):
        assert np.all((obs[14:] >= 0) & (obs[14:] <= 1))
        assert set(obs[contacts]) <= {0.0, 1.0}
    env = gym.make("BipedalWalker-v3")
    fact = next(f for f in spec.facts if f.startswith("obs[14]..obs[23]"))
    low, high = env.observation_space.low[14], env.observation_space.high[14]
    assert "[0, 1]" in fact and (low >= 0 or f"declares [{low:g}, {high:g}]" in fact)
    obs, _ = env.reset(seed=3)
    down = next(i for i, f in enumerate(fields) if "straight down" in f.meaning)
    assert obs[down] < 1  # standing, the ground is within the downward ray's reach
    limits = next(f for f in spec.facts if f.startswith("the joints' limits"))
    for name, lo, hi in re.findall(r"(\w+_angle) \(obs\[\d+\]\)(?: and \w+_angle \(obs\[\d+\]\))? (-?[\d.]+) to "
                                   r"(-?[\d.]+)", limits):
        field = next(f for f in fields if f.name == name)
        joint = live(env.unwrapped, re.search(r"`(self[\w.\[\]]+)\.angle`", field.meaning).group(1))
        offset = stated_map(field)[1](0.0)
        assert (joint.lowerLimit + offset, joint.upperLimit + offset) == pytest.approx((float(lo), float(hi)), abs=6e-3)


def test_bipedal_walker_action_drives_the_motor_it_names(specs):
    spec = specs["BipedalWalker-v3"]
    fact = next(f for f in spec.facts if "drives one joint's motor" in f)
    torque = float(re.search(r"torque up to ([\d.]+) x \|action\|", fact).group(1))
    claims = re.findall(r"action\[(\d)\] (\w+) \(([\d.]+) rad/s\)", fact)
    assert len(claims) == 4
    env = gym.make("BipedalWalker-v3")
    for k, name, speed in claims:
        env.reset(seed=5)
        action = np.zeros(4, dtype=np.float32)
        action[int(k)] = -0.5
        obs, *_ = env.step(action)
        joints = env.unwrapped.joints
        moved = [j for j in joints if j.motorSpeed != 0]
        assert len(moved) == 1 and moved[0].motorSpeed == pytest.approx(-float(speed))  # the sign, not the size
        assert moved[0].GetMaxMotorTorque() == pytest.approx(torque * 0.5)
        field = next(f for f in spec.observation if f.name == f"{name}_angle")
        offset = stated_map(field)[1](0.0)
        angle = obs[int(field.index[4:-1])] - offset
        assert min(joints, key=lambda j: abs(j.angle - angle)) == moved[0]  # the joint named is the one driven
        assert f"{name} motor" in spec.action.meanings[int(k)]


def test_lunar_lander_actions_do_what_the_facts_say(specs):
    fact = next(f for f in specs["LunarLander-v3"].facts if f.startswith("each action held"))
    claims = dict(re.findall(r"action (\d): [^(;]*\(([^)]*)\)", fact))
    assert set(claims) == {"1", "2", "3"}
    env = gym.make("LunarLander-v3")

    def after(action: int, seed: int):
        env.reset(seed=seed)
        for _ in range(8):
            env.step(action)
        lander = env.unwrapped.lander
        return float(lander.angularVelocity), float(lander.linearVelocity.x), float(lander.linearVelocity.y)

    for seed in (11, 12):
        base = np.array(after(0, seed))
        for action, said in claims.items():
            spin, vx, vy = np.array(after(int(action), seed)) - base
            if "counter-clockwise" in said:
                assert spin > 0
            elif "clockwise" in said:
                assert spin < 0
            if "toward +x" in said:
                assert vx > 0
            if "toward -x" in said:
                assert vx < 0
            if "pushes it up" in said:
                assert vy > 0


def test_lunar_lander_continuous_dead_zones_are_real(specs):
    fact = next(f for f in specs["LunarLanderContinuous-v3"].facts if f.startswith("each action held"))
    zones = {int(k): (float(lo), float(hi)) for k, lo, hi in
             re.findall(r"action\[(\d)\][^|]*?no effect for (-?[\d.]+) <= a <= (-?[\d.]+)", fact)}
    assert set(zones) == {0, 1}
    env = gym.make("LunarLanderContinuous-v3")

    def after(action, seed=21):
        env.reset(seed=seed)
        for _ in range(6):
            obs, *_ = env.step(np.asarray(action, dtype=np.float32))
        return obs

    base = after([0, 0])
    rng = np.random.default_rng(0)
    for k, (lo, hi) in zones.items():
        for value in rng.uniform(lo, hi, 3):
            action = [0.0, 0.0]
            action[k] = value
            assert np.array_equal(after(action), base), (k, value)
        action = [0.0, 0.0]
        action[k] = 1.0
        assert not np.array_equal(after(action), base)


def test_settings_the_code_reads_are_listed_with_their_live_values():
    for name in ("LunarLander-v3", "LunarLanderContinuous-v3", "BipedalWalkerHardcore-v3", "CarRacing-v3"):
        spec = load_spec(f"gymnasium/{name}")
        listed = dict(re.findall(r"^#   self\.(\w+) = (.+)$", spec.reward_source, re.MULTILINE))
        env = gym.make(name)
        unwrapped = env.unwrapped
        for attr, shown in listed.items():
            value = getattr(unwrapped, attr)
            assert (shown == repr(value)) if isinstance(value, bool) else float(shown) == pytest.approx(value, rel=1e-5)
        code = "\n".join(line.split("#")[0] for line in spec.reward_source.splitlines())
        read = set(re.findall(r"self\.(\w+)", code))
        settings = {p for p in inspect.signature(type(unwrapped).__init__).parameters
                    if p in read and isinstance(getattr(unwrapped, p, None), (bool, int, float))}
        assert settings <= set(listed), f"{name}: settings read but not listed: {settings - set(listed)}"
        made = next((f for f in spec.facts if f.startswith("this run's environment is made with")), "")
        for key, shown in re.findall(r"(\w+)=([^,]+)", made):
            assert shown == repr(getattr(unwrapped, key)), (name, key)
    lander = load_spec("gymnasium/LunarLander-v3").reward_source
    assert {"enable_wind", "wind_power", "turbulence_power"} <= set(re.findall(r"^#   self\.(\w+) =", lander, re.MULTILINE))
    assert not re.search(r"^#   self\.(wind_idx|torque_idx|prev_shaping|helipad_y|game_over) =", lander, re.MULTILINE)
    assert "_create_particle" not in lander  # only drawing calls it; these runs do not draw


@pytest.mark.parametrize("name", ["LunarLander-v3", "BipedalWalker-v3", "BipedalWalkerHardcore-v3", "CarRacing-v3"])
def test_descriptions_keep_nothing_a_policy_cannot_act_on(name):
    spec = load_spec(f"gymnasium/{name}")
    text = spec.description
    assert not re.search(r"python3? \S+\.py|gym(nasium)?\.make|render_mode|^\s*(\$ |>>>)", text, re.MULTILINE)
    assert not re.search(r"\b(run|type):\s*$", text, re.MULTILINE)  # no sentence left introducing a removed command
    assert "## Arguments" not in text and "## Version History" not in text and "## Description" in text
    ast.parse(spec.reward_source)


def test_clean_drops_usage_and_keeps_the_task():
    doc = textwrap.dedent('''
        ## Description
        Some task. To watch a demo, run:
        ```shell
        python some/demo_script.py
        ```
        A model of the dynamics follows:
        ```
        x' = x + v
        ```
        It can be changed by passing `foo=True` during construction. The goal is to reach x = 1.
        The floor is slippery (see `slippery` in Argument section) at times.
        To play it yourself, use the keyboard.

         ## Reward:
         One point per step.
        ## Arguments
        ```python
        gym.make("X", foo=True)
        ```
        ## Transition Dynamics:
        v' = v - 0.1
    ''')
    shown = clean(doc)
    assert "Some task." in shown and "demo" not in shown and "python" not in shown and "run:" not in shown
    assert "x' = x + v" in shown and "A model of the dynamics follows:" in shown  # not a command: kept
    assert "The goal is to reach x = 1." in shown and "passing" not in shown
    assert "The floor is slippery at times." in shown and "Argument section" not in shown
    assert "keyboard" not in shown
    assert "One point per step." in shown  # an indented heading with a colon is still a section kept
    assert "gym.make" not in shown and "v' = v - 0.1" in shown


class Settings:
    FPS = 50

    def __init__(self, continuous: bool = True, power: float = 2.5, render_mode=None):
        self.continuous = continuous
        self.power = power
        self.render_mode = render_mode
        self.count = 0

    def reset(self):
        self.count = 0
        self.level = 3.0

    def step(self, action):
        if self.render_mode is not None:
            self._sparkle()
        self.count += 1
        gain = self.power * action if self.continuous else self.level
        return gain / self.FPS

    def _sparkle(self):
        return "drawn"


def test_reward_code_lists_construction_settings_and_drops_drawing():
    env = Settings()
    env.reset()
    source = reward_code(Settings, ["step"], instance=env)
    ast.parse(source)
    listed = dict(re.findall(r"^#   (self\.\w+) = (.+)$", source, re.MULTILINE))
    assert listed == {"self.FPS": "50", "self.continuous": "True", "self.power": "2.5"}  # not count or level: state
    assert "_sparkle" not in source and "rendering left out" in source


def observed_names(cls) -> list[str]:
    env = cls()
    try:
        reading = box2d.read(env)
        return [f.name for f in reading.fields] if reading.fields else []
    finally:
        env.close()


class Reordered(LunarLander):
    """A lander whose step builds its observation in another order, with other scales."""

    def step(self, action):
        _, reward, terminated, truncated, info = super().step(action)
        vel = self.lander.linearVelocity
        state = [
            self.lander.angle,
            2.0 * vel.y,
            vel.x - 1.0,
            self.lander.position.x,
            self.lander.position.y,
            self.lander.angularVelocity,
            1.0 if self.legs[1].ground_contact else 0.0,
            1.0 if self.legs[0].ground_contact else 0.0,
        ]
        return np.array(state, dtype=np.float32), reward, terminated, truncated, info


class Mixed(LunarLander):
    """One element mixes two quantities: it cannot be named, the others still are."""

    def step(self, action):
        _, reward, terminated, truncated, info = super().step(action)
        pos = self.lander.position
        state = [pos.x * pos.y, pos.y, 0.0 + self.lander.linearVelocity.x, self.lander.linearVelocity.y,
                 self.lander.angle, self.lander.angularVelocity, 1.0 if self.legs[0].ground_contact else 0.0,
                 1.0 if self.legs[1].ground_contact else 0.0]
        return np.array(state, dtype=np.float32), reward, terminated, truncated, info


class Longer(LunarLander):
    """The list has more elements than the observation space: nothing is named."""

    def step(self, action):
        _, reward, terminated, truncated, info = super().step(action)
        state = [self.lander.angle, self.lander.angle, self.lander.angle, self.lander.angle, self.lander.angle,
                 self.lander.angle, self.lander.angle, self.lander.angle, self.lander.angularVelocity]
        return np.array(state, dtype=np.float32), reward, terminated, truncated, info


def test_names_follow_the_installed_code_or_are_not_given():
    assert observed_names(Reordered) == ["lander_angle", "lander_vy", "lander_vx", "lander_x", "lander_y",
                                         "lander_angular_vel", "left_leg_contact", "right_leg_contact"]
    env = Reordered()
    reading = box2d.read(env)
    assert reading.fields[1].units.startswith("2 x") and reading.fields[2].units.startswith("vx - 1")
    mixed = observed_names(Mixed)
    assert mixed[0] == "obs_0" and mixed[1:] == ["lander_y", "lander_vx", "lander_vy", "lander_angle",
                                                 "lander_angular_vel", "right_leg_contact", "left_leg_contact"]
    env = Longer()
    reading = box2d.read(env)
    assert reading.fields is None and "9 elements but the observation has 8" in reading.facts[0]
