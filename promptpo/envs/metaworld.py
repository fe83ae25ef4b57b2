"""Meta-World MT1 (v3) tasks: one task, 50 goal variations, success at any step."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, partial
from typing import Any

import numpy as np

from promptpo.envs.source import reward_code
from promptpo.seeds import entropy
from promptpo.envspec import ActionSpec, ArraySpec, EnvSpec, Episode, ObsField, ProgramTemplate, Target

N_GOALS = 50
HORIZON = 500


def _field(name: str, start: int, stop: int, meaning: str, units: str, digest: bool = True) -> ObsField:
    index = f"obs[{start}]" if stop == start + 1 else f"obs[{start}:{stop}]"
    return ObsField(name, index, meaning, units, select=lambda obs, a=start, b=stop: obs[a:b], digest=digest)


def observation_fields(obj1: str, obj2: str, measured: Measured | None = None) -> list[ObsField]:
    """The 39-number observation; ``measured`` (from the live environment) decides what the second object's
    slot holds and how the quaternions read, instead of a default that is wrong for some tasks."""
    m = measured or Measured()
    if m.obj2_zero:
        obj2_meaning, quat2 = f"position of the second object: {obj2}", "always zeros in this task (no second object)"
    else:
        role = obj2 if obj2 != DEFAULT_OBJ2 else "see the reward source for its role"
        obj2_meaning = (f"position of the second object ({role}); measured at reset: {m.obj2_reset}"
                        + (", the same for every goal variation" if m.obj2_fixed else ", varies with the goal"))
        quat2 = "orientation of the second object as a quaternion" + m.quat_order
    quat1 = ("always zeros in this task (the orientation is not reported)" if m.quat1_zero else
             f"orientation of the first object as a quaternion{m.quat_order}; at reset it reads {m.quat1_reset}")
    frame = [
        ("hand_pos", 0, 3, "end-effector (gripper) position x, y, z", "m"),
        ("gripper_open", 3, 4, "normalised distance between the two fingers: " + (
            f"measured {m.gripper_closed:.2f} when closed on nothing and {m.gripper_open:.2f} fully open (holding an "
            "object it stays between)" if m.gripper_closed is not None else "0 closed, 1 fully open"), "fraction"),
        ("obj1_pos", 4, 7, f"position of the first object: {obj1}", "m"),
        ("obj1_quat", 7, 11, quat1, "quaternion"),
        ("obj2_pos", 11, 14, obj2_meaning, "m"),
        ("obj2_quat", 14, 18, quat2, "quaternion"),
    ]
    fields = [_field(*f, digest=not (m.obj2_zero and f[0].startswith("obj2")) and not (m.quat1_zero and f[0] == "obj1_quat"))
              for f in frame]
    fields += [_field(f"prev_{name}", a + 18, b + 18, f"the same as {name} one step earlier", units, digest=False)
               for name, a, b, _, units in frame]
    fields.append(_field("goal_pos", 36, 39, "goal position for this episode (varies per goal variation)", "m"))
    return fields


DEFAULT_OBJ2 = "unused (zeros)"
DEFAULT_OBJ1 = "the task's main object"


@dataclass(frozen=True)
class Measured:
    """Facts about a task's observation read off its live environment at reset (a few goal variations)."""

    obj2_zero: bool = True
    obj2_fixed: bool = True
    obj2_reset: str = ""
    quat1_zero: bool = False
    quat1_reset: str = ""
    quat_order: str = " (x, y, z, w)"
    gripper_closed: float | None = None
    """obs[3] after closing on nothing for 15 steps (not 0)."""
    gripper_open: float | None = None
    hand_low: tuple[float, ...] = ()
    hand_high: tuple[float, ...] = ()
    lowest_z: float | None = None
    """The lowest hand z reached moving straight down from the start for 80 steps."""
    first_jump: float = 0.0
    """How far obj1_pos moves between the reset observation and the first step's under a zero action."""

    def facts(self) -> str:
        """The measured facts as prompt text."""
        lines = []
        if self.hand_low:
            box = ", ".join(f"{a} in [{lo:g}, {hi:g}]" for a, lo, hi in zip("xyz", self.hand_low, self.hand_high))
            lines.append(f"the hand is kept within {box}"
                         + (f"; moving straight down from its start it got no lower than z = {self.lowest_z:.3f}"
                            if self.lowest_z is not None else "") + ".")
        if self.first_jump > 0.01:
            lines.append(f"the first observation of an episode is stale: obj1_pos moves by {self.first_jump:.2f} m "
                         "between the reset observation and step 1 with the hand still; read positions from step 1 on.")
        return " ".join(lines)


def measure(env: Any, goals: int = 3) -> Measured:
    """Reset ``env`` on the first ``goals`` goal variations of seed 0 and read the object slots: a slot that
    reads zeros on every reset holds nothing; an unrotated object's quaternion shows where w sits. Then probe:
    one still step (a stale first observation), the gripper closed on nothing and opened, the hand moved down."""
    rows = np.array([reset_episode(env, e)[0][:18] for e in episode_plan(0, goals)], dtype=float)
    obj2, quat1 = rows[:, 11:14], rows[:, 7:11]
    unrotated = quat1[0].round(3)
    order = (" (w, x, y, z)" if np.allclose(np.abs(unrotated), [1, 0, 0, 0]) else
             " (x, y, z, w)" if np.allclose(np.abs(unrotated), [0, 0, 0, 1]) else " (x, y, z, w, as MuJoCo reports it)")
    text = lambda v: "[" + ", ".join(f"{x + 0.0:.3g}" for x in v) + "]"  # noqa: E731 - (no "-0")
    start = reset_episode(env, episode_plan(0, 1)[0])[0]
    first = env.step(np.zeros(4))[0]
    gripper = [env.step(np.array([0.0, 0.0, 0.0, 1.0]))[0][3] for _ in range(15)][-1]
    opened = [env.step(np.array([0.0, 0.0, 0.0, -1.0]))[0][3] for _ in range(15)][-1]
    lowest = min(env.step(np.array([0.0, 0.0, -1.0, -1.0]))[0][2] for _ in range(80))
    unwrapped = env.unwrapped
    return Measured(bool(np.all(obj2 == 0)), bool(np.allclose(obj2, obj2[0], atol=1e-6)), text(obj2[0]),
                    bool(np.all(quat1 == 0)), text(unrotated), order, float(gripper), float(opened),
                    tuple(float(x) for x in unwrapped.hand_low), tuple(float(x) for x in unwrapped.hand_high),
                    float(lowest), float(np.linalg.norm(first[4:7] - start[4:7])))


ACTION = ActionSpec(
    "box", shape=(4,), low=(-1.0,) * 4, high=(1.0,) * 4,
    meanings=("move end effector along x (1.0 is about 1 cm this step)",
              "move end effector along y", "move end effector along z",
              "gripper effort: -1 opens, +1 closes"))

COORDINATES = ("World frame in metres: x is left(-)/right(+) across the table, y points away from "
               "the robot base, z is up (the table surface is near z = 0). Each step the end effector "
               "moves towards its current position plus action[:3] / 100 (the arm lags behind large moves).")


def derived(obs: np.ndarray, axis: str = "") -> dict[str, float]:
    """Distances between hand, obj1 and goal; with ``axis``, first the one-axis distance the task's success
    test uses (window-close: x only)."""
    hand, obj, goal = obs[0:3], obs[4:7], obs[36:39]
    tested = {f"obj_to_goal_{axis}": float(abs(obj["xyz".index(axis)] - goal["xyz".index(axis)]))} if axis else {}
    return {**tested, "hand_to_obj": float(np.linalg.norm(hand - obj)),
            "obj_to_goal": float(np.linalg.norm(obj - goal)),
            "hand_to_goal": float(np.linalg.norm(hand - goal))}


def derived_doc(axis: str) -> str:
    tested = (f"obj_to_goal_{axis} = |obj1_pos.{axis} - goal_pos.{axis}|, the distance this task's success test "
              "uses; " if axis else "")
    return (tested + "hand_to_obj = |hand_pos - obj1_pos|, obj_to_goal = |obj1_pos - goal_pos| (3-D), hand_to_goal = "
            "|hand_pos - goal_pos| (metres). The env's own terms from info are reported too; for most tasks its "
            "obj_to_target is the distance the success test compares with the threshold, but not for all: the task "
            "description says which point the test measures")


OFFLINE_TEMPLATE = ProgramTemplate(
    source='''"""Meta-World controller from the promptpo offline proposer (CMA-ES, no LLM): {note}."""

import numpy as np

TO_GOAL = {TO_GOAL}          # gain on goal - hand
TO_OBJECT = {TO_OBJECT}      # gain on object - hand
OBJECT_TO_GOAL = {OBJECT_TO_GOAL}  # gain on goal - object
GRIP = {GRIP}                # gripper effort far from the object
GRIP_NEAR = {GRIP_NEAR}      # gripper effort once the hand is at the object
NEAR = {NEAR}                # metres: what counts as "at the object"


def act(obs):
    hand, obj, goal = obs[0:3], obs[4:7], obs[36:39]
    move = TO_GOAL * (goal - hand) + TO_OBJECT * (obj - hand) + OBJECT_TO_GOAL * (goal - obj)
    near = np.linalg.norm(obj - hand) < NEAR
    grip = GRIP_NEAR if near else GRIP
    return np.append(np.clip(move, -1.0, 1.0), np.clip(grip, -1.0, 1.0))
''',
    constants=(("TO_GOAL", 0.0, 10.0), ("TO_OBJECT", 0.0, 10.0), ("OBJECT_TO_GOAL", 0.0, 10.0),
               ("GRIP", 0.0, 1.0), ("GRIP_NEAR", 0.0, 1.0), ("NEAR", 0.05, 0.03)))
"""Proportional moves towards goal and object plus a gripper switch: enough structure for reaching;
tasks with phases (pick, then place) need an LLM's program."""


def make(task: str, seed: int) -> Any:
    import gymnasium as gym
    import metaworld  # noqa: F401 - registers Meta-World/MT1

    env = gym.make("Meta-World/MT1", env_name=task, seed=seed, disable_env_checker=True)
    env.get_wrapper_attr("toggle_sample_tasks_on_reset")(False)
    return env


def episode_plan(run_seed: int, n: int, secret: str | None = None) -> list[Episode]:
    """Episodes cycle through the 50 goal variations in an order fixed by the run seed and the secret
    (promptpo.seeds)."""
    order = np.random.default_rng(entropy(run_seed, secret)).permutation(N_GOALS)
    seeds = np.random.SeedSequence(entropy(run_seed, secret)).generate_state(n, dtype=np.uint32)
    return [Episode(i, int(seeds[i]), {"task": int(order[i % N_GOALS])}) for i in range(n)]


def reset_episode(env: Any, episode: Episode) -> tuple[Any, dict]:
    tasks = env.get_wrapper_attr("tasks")
    env.unwrapped.set_task(tasks[episode.extras["task"]])
    return env.reset(seed=episode.seed)


def is_success(info: dict, reward: float, terminated: bool) -> bool:
    return bool(info.get("success", 0.0) > 0)


def task_class(task: str) -> type:
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    return ALL_V3_ENVIRONMENTS[task]


@dataclass(frozen=True)
class Live:
    """What a spec reads off the installed task: the reward code as it runs, and measured observation facts."""

    reward_source: str
    measured: Measured


@cache
def live(task: str) -> Live:
    """Build the task once: its reward and success code with the branch for its ``reward_function_version``
    and every helper it calls (promptpo.envs.source.reward_code), and what its observation slots hold."""
    env = make(task, 0)
    try:
        unwrapped = env.unwrapped
        reward = reward_code(task_class(task), ("evaluate_state", "compute_reward"),
                             fixed={"reward_function_version": unwrapped.reward_function_version}, instance=unwrapped)
        return Live(reward, measure(env))
    finally:
        env.close()


def known_tasks() -> list[str]:
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    return sorted(name.removesuffix("-v3") for name in ALL_V3_ENVIRONMENTS)


def metaworld_spec(task: str, *, title: str = "", description: str = "", obj1: str = DEFAULT_OBJ1,
                   obj2: str = DEFAULT_OBJ2, starter: str | None = None, notes: str = "",
                   source: str = "automatic") -> EnvSpec:
    from promptpo.envs.metaworld_tasks import SUCCESS_AXIS, TASKS

    facts = live(task)
    axis = SUCCESS_AXIS.get(task.removesuffix("-v3"), "")
    reward = facts.reward_source
    what, obj = TASKS[task.removesuffix("-v3")]
    obj1 = obj if obj1 == DEFAULT_OBJ1 else obj1
    return EnvSpec(
        id=f"metaworld/{task.removesuffix('-v3')}", family="metaworld",
        title=title or f"Meta-World {task}",
        description=(description or what).strip() + "\n\n" + COORDINATES
        + (f"\n\nMeasured in the installed task: {facts.measured.facts()}" if facts.measured.facts() else ""),
        observation=observation_fields(obj1, obj2, facts.measured),
        obs_arrays=[ArraySpec("obs", "float64", (39,))], action=ACTION,
        reward_source=reward, horizon=HORIZON, starter=starter or DEFAULT_STARTER,
        make_env=lambda seed: make(task, seed), target=Target("success_rate", 1.0),
        success_criterion=("An episode succeeds if info['success'] is true at ANY step (see evaluate_state "
                           "below)."),
        is_success=is_success, success_any_step=True, episode_plan=episode_plan, reset_episode=reset_episode,
        offline_template=OFFLINE_TEMPLATE,
        derived=partial(derived, axis=axis), derived_doc=derived_doc(axis),
        notes=notes, source=source)


DEFAULT_STARTER = '''import numpy as np


class Policy:
    def reset(self):
        """Called at the start of every episode."""

    def act(self, obs):
        hand = obs[0:3]
        goal = obs[36:39]
        action = np.zeros(4)
        # TODO: move the hand, open or close the gripper
        return action
'''
