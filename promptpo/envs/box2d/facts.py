"""Facts measured on a Box2D env: bounds the code never reaches, the world's frame, gravity and time step, the
settings it was made with, and what each action does."""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

import numpy as np

from promptpo.envs.box2d.code import (
    SEED,
    Element,
    Unknown,
    evaluate,
    live_value,
    step_method,
)
from promptpo.envs.box2d.naming import JOINT, Tree, body_paths, key_of, owner_of
from promptpo.envspec import ObsField

PROBE_STEPS = 5
"""Steps an action is held to measure its effect against doing nothing from the same state."""


GRID = 17
"""Values tried per dimension of a continuous action (step 0.125 on [-1, 1])."""


def provenance(cls: type, name: str, elements: list[Element], steps: int) -> str:
    failed = [e.index for e in elements if not e.checked]
    said = (f"the Observation list below is read from the installed `{cls.__name__}.step` (it returns `{name}`, "
            f"{len(elements)} elements) and checked on {steps} random steps: each named element equalled the quantity "
            "named, scaled as stated, at every step")
    if failed:
        said += f"; obs[{_spans(failed)}] could not be matched and keep generic names"
    return said


def _spans(indices: list[int]) -> str:
    runs, start = [], None
    for k, i in enumerate(indices):
        if start is None:
            start = i
        if k + 1 == len(indices) or indices[k + 1] != i + 1:
            runs.append(f"{start}]..obs[{i}" if i > start + 1 else f"{start}], obs[{i}" if i > start else f"{start}")
            start = None
    return "], obs[".join(runs)


def bounds_facts(elements: list[Element], fields: list[ObsField], tree: Tree, space: Any) -> list[str]:
    """Where the declared bounds say more than the code can produce, and whether anything is clipped."""
    facts = []
    flags = [e for e in elements if e.checked and e.flag is not None]
    if flags:
        values = sorted({v for e in flags for v in e.flag})
        declared = sorted({(float(space.low[e.index]), float(space.high[e.index])) for e in flags})
        facts.append(f"obs[{_spans([e.index for e in flags])}] ({', '.join(fields[e.index].name for e in flags)}) "
                     f"are only ever {' or '.join(f'{v:g}' for v in values)}"
                     + (f" (the space declares {', '.join(f'[{lo + 0.0:g}, {hi:g}]' for lo, hi in declared)})"
                        if declared != [(values[0], values[-1])] else ""))
    rays = [e for e in elements if e.checked and e.leaf[-1] == "fraction" and fields[e.index].name[-1].isdigit()]
    if rays:
        low, high = min(float(space.low[e.index]) for e in rays), max(float(space.high[e.index]) for e in rays)
        seen = (min(e.low for e in rays), max(e.high for e in rays))
        facts.append(f"obs[{_spans([e.index for e in rays])}] (rays) are fractions in [0, 1] (seen: {seen[0]:.3g} to "
                     f"{seen[1]:.3g})" + (f"; the space declares [{low:g}, {high:g}] but a fraction is never negative"
                                         if low < 0 else ""))
    limited: dict[tuple[str, str], list[str]] = {}
    for element in elements:
        owner = owner_of(element.leaf, JOINT) if element.checked else None
        if owner is None or element.leaf[-1] != "angle" or element.affine is None:
            continue
        joint = live_value(tree.unwrapped, owner)
        if not getattr(joint, "limitEnabled", False):
            continue
        a, b = element.affine
        ends = sorted((a * joint.lowerLimit + b, a * joint.upperLimit + b))
        lo, hi = float(space.low[element.index]), float(space.high[element.index])
        limited.setdefault((f"{ends[0]:.3g} to {ends[1]:.3g}", f"[{lo:.3g}, {hi:.3g}]"), []).append(element)
    if limited:
        declared = sorted({d for _, d in limited})
        seen = [f"{fields[e.index].name} {e.low:.3g} to {e.high:.3g}" for group in limited.values() for e in group]
        facts.append("the joints' limits, in observation terms: "
                     + "; ".join(f"{' and '.join(f'{fields[e.index].name} (obs[{e.index}])' for e in group)} {ends}"
                                 for (ends, _), group in limited.items())
                     + f" (the space declares {' and '.join(declared)}); Box2D enforces them softly, so hard contacts "
                     f"push past them (the random steps reached {', '.join(seen)})")
    if not any("clip" in ast.unparse(e.expr) for e in elements if e.expr is not None):
        facts.append("no element is clipped: step returns each value as computed, so the space's bounds are not "
                     "enforced (the scaled elements are marked in the list)")
    return facts


def world_facts(env: Any, frame: bool) -> list[str]:
    unwrapped = env.unwrapped
    gravity = tuple(float(g) for g in unwrapped.world.gravity)
    dt = _time_step(type(unwrapped), unwrapped)
    said = ["world frame: x to the right, y up; angles and angular velocities are counter-clockwise positive"] \
        if frame else []
    if any(gravity) and frame:
        said.append(f"gravity ({gravity[0]:g}, {gravity[1]:g}) world units/s^2")
    if dt is not None:
        said.append(f"each env step advances the physics {dt:.4g} s")
    return ["; ".join(said)] if said else []


def _time_step(cls: type, unwrapped: Any) -> float | None:
    """The first argument of ``world.Step(...)`` in ``step`` (or a method it is in), evaluated."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(step_method(cls))))
    except (OSError, TypeError, SyntaxError):
        return None
    scope = step_method(cls).__globals__
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Step" \
                and node.args:
            try:
                return evaluate(node.args[0], Element(0, "", None), unwrapped, scope, 0.0)
            except Unknown:
                return None
    return None


def settings_facts(env: Any) -> list[str]:
    """The constructor's settings that the env keeps under their own name, with their live values."""
    unwrapped = env.unwrapped
    try:
        parameters = inspect.signature(type(unwrapped).__init__).parameters
    except (TypeError, ValueError):
        return []
    shown = []
    for name in parameters:
        if name in ("self", "render_mode", "verbose") or not hasattr(unwrapped, name):
            continue
        value = getattr(unwrapped, name)
        if isinstance(value, (bool, int, float, str)) or value is None:
            shown.append(f"{name}={value!r}")
    return [f"this run's environment is made with {', '.join(shown)}"] if shown else []


def motors_of(env: Any, tree: Tree, fields: list[ObsField]) -> tuple[tuple[str, ...], list[str]] | None:
    """For a continuous action whose every dimension sets one revolute joint's motor: what it sets (read off the
    joints after a step with that dimension alone at several values)."""
    from gymnasium import spaces

    unwrapped = env.unwrapped
    space = env.action_space
    if not (isinstance(space, spaces.Box) and len(space.shape) == 1):
        return None
    joints = [j for j in unwrapped.world.joints if type(j).__name__.endswith("RevoluteJoint")]
    if not joints:
        return None
    values = (0.3, 1.0, -0.6)
    meanings, drives = [], []
    for k in range(space.shape[0]):
        readings = {}
        for v in values:
            env.reset(seed=SEED)
            action = np.zeros(space.shape, dtype=space.dtype)
            action[k] = v
            env.step(action)
            joints = [j for j in unwrapped.world.joints if type(j).__name__.endswith("RevoluteJoint")]
            readings[v] = [(float(j.motorSpeed), float(j.GetMaxMotorTorque())) for j in joints]
        moved = [j for j in range(len(joints)) if len({readings[v][j] for v in values}) > 1]
        if len(moved) != 1:
            return None
        j = moved[0]
        speeds = {v: readings[v][j][0] for v in values}
        torques = {v: readings[v][j][1] for v in values}
        joint = joints[j]
        path = next((p for key, p in body_paths(unwrapped, type(joint).__name__) if key == key_of(joint)), f"joint {j}")
        name = next((f.name.removesuffix("_angle") for f in fields
                     if f.name.endswith("_angle") and f"({path}:" in f.meaning), path)
        magnitudes = {round(abs(s), 6) for s in speeds.values()}
        if len(magnitudes) == 1 and all(np.sign(s) == np.sign(v) for v, s in speeds.items()):
            speed = ("fixed", magnitudes.pop())
        elif all(abs(s / v - speeds[1.0]) < 1e-6 * (1 + abs(speeds[1.0])) for v, s in speeds.items()):
            speed = ("proportional", speeds[1.0])
        else:
            return None
        ratios = {round(t / abs(v), 4) for v, t in torques.items()}
        if len(ratios) == 1:
            torque = ("proportional", ratios.pop())
        elif len(set(torques.values())) == 1:
            torque = ("fixed", torques[1.0])
        else:
            return None
        drives.append((k, name, speed, torque))
        meanings.append(f"{name} motor: torque {torque[1]:g} x |a| toward sign(a)" if speed[0] == "fixed"
                        and torque[0] == "proportional" else f"{name} motor")
    return tuple(meanings), _motor_words(drives)


def _motor_words(drives: list[tuple[int, str, tuple[str, float], tuple[str, float]]]) -> list[str]:
    """One fact when every dimension drives its motor the same way (BipedalWalker), else one per dimension."""
    def how(speed: tuple[str, float], torque: tuple[str, float]) -> str:
        aim = (f"aims at {speed[1]:g} rad/s whatever the action's size, toward larger angles for a positive action "
               "and smaller ones for a negative one") if speed[0] == "fixed" else \
            f"aims at {speed[1]:g} x action rad/s"
        strength = f"with torque up to {torque[1]:g} x |action|" if torque[0] == "proportional" else \
            f"with torque up to {torque[1]:g}"
        tail = (": the action's size sets the strength, its sign the direction (it is not a speed or angle target)"
                if speed[0] == "fixed" and torque[0] == "proportional" else "")
        return f"{aim}, {strength}{tail}"

    kinds = {(speed[0], torque) for _, _, speed, torque in drives}
    if len(drives) > 1 and len(kinds) == 1:
        (kind, torque), = kinds
        listed = ", ".join(f"action[{k}] {name} ({speed[1]:g}{' rad/s' if kind == 'fixed' else ''})"
                           for k, name, speed, _ in drives)
        common = how((kind, 0.0), torque).replace("aims at 0 rad/s", "aims at its speed").replace(
            "aims at 0 x action rad/s", "aims at its speed x action")
        return [(f"each action dimension drives one joint's motor (read off the joints after a step): {listed}; "
                 f"each motor {common}")]
    return [f"action[{k}] drives {name}'s motor (read off the joint after a step): it {how(speed, torque)}"
            for k, name, speed, torque in drives]


def effect_facts(env: Any, fields: list[ObsField], tree: Tree) -> list[str]:
    """What each action does to the named observation, a few steps after it, against doing nothing."""
    from gymnasium import spaces

    space = env.action_space
    named = [k for k, f in enumerate(fields) if not f.name.startswith("obs_")]
    if isinstance(space, spaces.Discrete):
        base = _after(env, int(space.start))
        facts = []
        for a in range(int(space.start) + 1, int(space.start + space.n)):
            delta = _after(env, a) - base
            facts.append(f"action {a}: {_describe(delta, fields, named, tree)}")
        return [f"each action held for {PROBE_STEPS} steps from the same start, against action {int(space.start)} "
                "(measured): " + "; ".join(facts)] if facts else []
    if not (isinstance(space, spaces.Box) and len(space.shape) == 1):
        return []
    neutral = np.clip(np.zeros(space.shape), space.low, space.high).astype(space.dtype)
    base = _after(env, neutral)
    facts = []
    for k in range(space.shape[0]):
        grid = np.linspace(float(space.low[k]), float(space.high[k]), GRID)
        effects = []
        for v in grid:
            action = neutral.copy()
            action[k] = v
            effects.append(_after(env, action) - base)
        size = [float(np.max(np.abs(d[named]))) if named else 0.0 for d in effects]
        top = max(size) if size else 0.0
        if top == 0:
            facts.append(f"action[{k}] has no measured effect")
            continue
        dead = [v for v, s in zip(grid, size) if s <= 1e-9 * top]
        said = []
        if dead:
            said.append(f"no effect for {_interval(dead, grid)}")
        for side in (grid > (max(dead) if dead else 0), grid < (min(dead) if dead else 0)):
            live = [i for i in np.flatnonzero(side)]
            if not live:
                continue
            near, far = (live[0], live[-1]) if side[-1] else (live[-1], live[0])
            said.append(f"a = {grid[near]:g}: {_describe(effects[near], fields, named, tree)}; a = {grid[far]:g}: "
                        f"{_describe(effects[far], fields, named, tree)}")
        facts.append(f"action[{k}] ({GRID} values from {grid[0]:g} to {grid[-1]:g} tried, the others at 0): "
                     + "; ".join(said))
    return [f"each action held for {PROBE_STEPS} steps from the same start, against an all-zero action "
            "(measured): " + " | ".join(facts)] if facts else []


def _after(env: Any, action: Any) -> np.ndarray:
    env.reset(seed=SEED)
    obs = None
    for _ in range(PROBE_STEPS):
        obs, *_ = env.step(action)
    return np.asarray(obs, dtype=float).ravel()


def _describe(delta: np.ndarray, fields: list[ObsField], named: list[int], tree: Tree) -> str:
    if not named or float(np.max(np.abs(delta[named]))) == 0:
        return "no effect"
    top = float(np.max(np.abs(delta[named])))
    shown = sorted((k for k in named if abs(delta[k]) >= 0.1 * top), key=lambda k: -abs(delta[k]))[:3]
    parts = ", ".join(f"{fields[k].name} {delta[k]:+.3g}" for k in shown)
    root = str(tree.root[-1]) if tree.root else ""
    words = []
    for k in shown:
        name = fields[k].name
        if name == f"{root}_angular_vel":
            words.append("turns it counter-clockwise" if delta[k] > 0 else "turns it clockwise")
        elif name == f"{root}_vx":
            words.append("pushes it toward +x" if delta[k] > 0 else "pushes it toward -x")
        elif name == f"{root}_vy":
            words.append("pushes it up" if delta[k] > 0 else "pushes it down")
    return parts + (f" ({', '.join(words)})" if words else "")


def _interval(dead: list[float], grid: np.ndarray) -> str:
    lo, hi = min(dead), max(dead)
    return f"{lo:g} <= a <= {hi:g}" if len(dead) == int(np.sum((grid >= lo) & (grid <= hi))) else \
        "a in " + ", ".join(f"{v:g}" for v in dead)
