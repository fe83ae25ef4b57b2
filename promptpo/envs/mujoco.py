"""Gymnasium MuJoCo environments as their installed model shows them, not as their docstring tells.

Each observation element is matched to the model's joint position or velocity it is (measured: a joint's value is
nudged and the element that moves by exactly as much is that joint's), elements the code clips are found by
driving the velocities far out, and each joint's axis, range and sense is read from the model and measured (which
way a positive angle moves what hangs from the joint). Each actuator's joint, gear and control range come from the
model, and the info keys from a real step. Where the docstring says otherwise (a key the step does not return,
rows named after the wrong leg), the prompt says these facts win.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from promptpo.envspec import ObsField

NUDGE = 0.0173
"""What a joint's position or velocity is moved by to find its observation element (an unremarkable number)."""
FAR = 1e4
"""A velocity far outside any range: an element that stays below it is clipped by the env's code."""
TURN = 0.1
"""Radians a hinge is turned to measure which way its angle moves things."""
AXES = "xyz"
WORDS = {"x": ("forward", "backward"), "y": ("to the left", "to the right"), "z": ("up", "down")}


@dataclass
class Reading:
    fields: list[ObsField]
    facts: list[str] = field(default_factory=list)
    complete: bool = False
    """Every observation element was matched to a joint (the docstring's observation section can go)."""


def applies(env: Any) -> bool:
    unwrapped = env.unwrapped
    return hasattr(unwrapped, "model") and hasattr(unwrapped, "data") and hasattr(unwrapped, "_get_obs") and \
        type(unwrapped.model).__module__.startswith("mujoco")


def read(env: Any, doc: str = "") -> Reading:
    """The observation fields and the facts of a MuJoCo env (reset with seed 0; the env is stepped once)."""
    import mujoco

    unwrapped = env.unwrapped
    env.reset(seed=0)
    model, data = unwrapped.model, unwrapped.data
    saved = (data.qpos.copy(), data.qvel.copy())
    base = np.asarray(unwrapped._get_obs(), dtype=float).ravel()
    joints = [_joint(model, j) for j in range(model.njnt)]
    found: dict[int, tuple[str, Any, int]] = {}
    for kind, array, address in (("position", data.qpos, "jnt_qposadr"), ("velocity", data.qvel, "jnt_dofadr")):
        for k in range(array.shape[0]):
            array[k] += NUDGE
            moved = np.asarray(unwrapped._get_obs(), dtype=float).ravel() - base
            array[k] -= NUDGE
            hits = np.flatnonzero(np.isclose(moved, NUDGE, atol=1e-9))
            if len(hits) == 1 and np.count_nonzero(np.abs(moved) > 1e-12) == 1:
                found[int(hits[0])] = (kind, _owner(joints, model, k, kind), k)
    data.qvel[:] = FAR
    clipped = np.asarray(unwrapped._get_obs(), dtype=float).ravel()
    data.qpos[:], data.qvel[:] = saved
    mujoco.mj_forward(model, data)
    fields, bounds, rest = [], {}, []
    for i in range(base.shape[0] + 1):
        if i < base.shape[0] and i not in found:
            rest.append(i)
            continue
        if rest:  # a run of elements that are not joints' values: one entry, not tracked in digests
            fields.append(ObsField(f"other_{rest[0]}_{rest[-1]}", f"obs[{rest[0]}:{rest[-1] + 1}]",
                                   f"{len(rest)} elements that are not joint positions or velocities (see the "
                                   "description)", digest=False))
            rest = []
        if i < base.shape[0]:
            kind, joint, k = found[i]
            fields.append(_field(i, kind, joint, k))
            if kind == "velocity" and abs(clipped[i]) < FAR / 2:
                bounds.setdefault(round(float(abs(clipped[i])), 6), []).append(i)
    facts = _layout(fields, found, base.shape[0], joints)
    facts += [f"obs[{_spans(idx)}] (velocities) are clipped by the env's code to [{-b:g}, {b:g}]: a faster joint "
              f"still reads {b:g}" for b, idx in sorted(bounds.items())]
    facts += _control_facts(model, data, joints)
    start = np.asarray(getattr(unwrapped, "init_qpos", model.qpos0), dtype=float)
    facts += _start_facts(unwrapped, joints, start)
    facts.append(_body_fact(model, start))
    facts += _info_facts(env, doc)
    return Reading(fields, facts, complete=len(found) == base.shape[0])


def without_observation_section(description: str, *, complete: bool) -> str:
    """The description with the measured observation list in place of its "## Observation Space" section (which
    names rows after the wrong leg, and tells of construction options a run does not use) where every element was
    measured; otherwise without that section's element-by-element table only (its prose names what the rest is)."""
    kept, inside = [], False
    lines = description.split("\n")
    for n, line in enumerate(lines):
        heading = re.match(r"^(#{1,2})\s+(.*)$", line)
        if heading:
            inside = heading.group(2).strip().lower() == "observation space"
        if inside and (complete or _element_table(lines, n) or _introduces_dropped_table(lines, n)):
            continue
        kept.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _introduces_dropped_table(lines: list[str], n: int) -> bool:
    """A line like "The joints are:" whose table (after blank lines) is dropped."""
    if not lines[n].rstrip().endswith(":") or lines[n].lstrip().startswith("|"):
        return False
    following = next((k for k in range(n + 1, len(lines)) if lines[k].strip()), None)
    return following is not None and _element_table(lines, following)


def _element_table(lines: list[str], n: int) -> bool:
    """Whether line n is in a markdown table of elements (a "Num" column) or of joints (the facts list every joint
    from the model; the docstring's table has misspelt names)."""
    if not lines[n].lstrip().startswith("|"):
        return False
    start = n
    while start > 0 and lines[start - 1].lstrip().startswith("|"):
        start -= 1
    return bool(re.match(r"^\s*\|\s*(Num|joint)\s*\|", lines[start]))


def _joint(model, j: int) -> dict:
    import mujoco

    kinds = {0: "free", 1: "ball", 2: "slide", 3: "hinge"}
    body = int(model.jnt_bodyid[j])
    return {"id": j, "name": mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j) or f"joint{j}",
            "type": kinds.get(int(model.jnt_type[j]), "?"), "qpos": int(model.jnt_qposadr[j]),
            "dof": int(model.jnt_dofadr[j]), "body": body, "axis": np.asarray(model.jnt_axis[j], dtype=float),
            "body_name": mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, body) or f"body{body}",
            "root": int(model.body_parentid[body]) == 0,
            "range": tuple(float(v) for v in model.jnt_range[j]) if model.jnt_limited[j] else None}


def _owner(joints: list[dict], model, k: int, kind: str) -> dict:
    key, width = ("qpos", {"free": 7, "ball": 4}) if kind == "position" else ("dof", {"free": 6, "ball": 3})
    return next(j for j in joints if j[key] <= k < j[key] + width.get(j["type"], 1))


def _field(i: int, kind: str, joint: dict, k: int) -> ObsField:
    name, jtype = joint["name"], joint["type"]
    if jtype in ("free", "ball"):
        part = k - (joint["qpos"] if kind == "position" else joint["dof"])
        labels = (["x", "y", "z", "qw", "qx", "qy", "qz"] if jtype == "free" else ["qw", "qx", "qy", "qz"]) \
            if kind == "position" else (["vx", "vy", "vz", "wx", "wy", "wz"] if jtype == "free" else ["wx", "wy", "wz"])
        label = labels[part]
        units = ("m" if label in "xyz" else "") if kind == "position" else ("m/s" if label.startswith("v") else "rad/s")
        what = "quaternion component" if kind == "position" and label.startswith("q") else kind
        meaning = f"{what} {label} of {jtype} joint {name} ({joint['body_name']})"
        if jtype == "free" and label == "z" and kind == "position":
            meaning = f"height of {joint['body_name']}: {meaning}"
        return ObsField(f"{name}_{label}" + ("_vel" if kind == "velocity" else ""), f"obs[{i}]", meaning, units)
    slide = jtype == "slide"
    units = ("m" if slide else "rad") if kind == "position" else ("m/s" if slide else "rad/s")
    what = ("position" if slide else "angle") if kind == "position" else "velocity"
    meaning = f"{what} of {jtype} {name} ({joint['body_name']})"
    if slide and joint["root"]:  # a root slide is where the robot is: say so in words
        axis = AXES[int(np.argmax(np.abs(joint["axis"])))]
        where = {"z": "height", "x": "horizontal position", "y": "sideways position"}[axis] if kind == "position" \
            else {"z": "vertical velocity", "x": "horizontal velocity", "y": "sideways velocity"}[axis]
        meaning = f"{where} of {joint['body_name']}: {meaning}"
    return ObsField(name + ("_vel" if kind == "velocity" else ""), f"obs[{i}]", meaning, units)


def _layout(fields: list[ObsField], found: dict, size: int, joints: list[dict]) -> list[str]:
    """Which joints the observation holds, and which it leaves out (e.g. the torso's x position)."""
    seen = {found[i][1]["name"] for i in found if found[i][0] == "position"}
    held = {found[i][2] for i in found if found[i][0] == "position"}
    missing = [j["name"] for j in joints if j["name"] not in seen and j["type"] == "slide"]
    missing += [f"{j['name']} along {axis}" for j in joints if j["type"] == "free"
                for k, axis in zip(range(j["qpos"], j["qpos"] + 3), AXES) if k not in held]
    facts = [f"the observation's {size} elements were matched to the model's joints by nudging each joint: "
             + ("all of them are joint positions and velocities, listed below" if len(found) == size else
                f"{len(found)} are joint positions or velocities, the other {size - len(found)} are not")]
    if missing:
        facts.append("the observation does not hold the position of " + ", ".join(missing)
                     + " (the robot's distance travelled; a step's info has it)")
    return facts


def _spans(indices: list[int]) -> str:
    return f"{indices[0]}..{indices[-1]}" if indices == list(range(indices[0], indices[-1] + 1)) else \
        ", ".join(str(i) for i in indices)


def _direction(delta: np.ndarray, planar: bool) -> str:
    parts = []
    for axis, value in zip(AXES, delta):
        if abs(value) >= 0.2 * np.max(np.abs(delta)) and abs(value) > 1e-6 and not (planar and axis == "y"):
            parts.append(f"{WORDS[axis][0 if value > 0 else 1]} ({'+' if value > 0 else '-'}{axis})")
    return " and ".join(parts) or "nowhere measurable"


def _control_facts(model, data, joints: list[dict]) -> list[str]:
    """One line per hinge or slide joint (axis, range, which way a positive value moves things, the action that
    drives it), after one line saying what all of them share."""
    import mujoco

    acting = {}
    for a in range(model.nu):
        acting.setdefault(int(model.actuator_trnid[a][0]), []).append(a)
    ranges = {tuple(float(v) for v in model.actuator_ctrlrange[a]) for a in range(model.nu)}
    shared = [f"every action element is clipped to [{low:g}, {high:g}]" for low, high in ranges] if len(ranges) == 1 else []
    shared.append("action[i] applies gear x action as a torque (a force on a slide joint) to the one joint named "
                  "with it; with a positive gear a positive action pushes the joint's value up")
    shared.append("'+ moves B's subtree' says where the centre of mass of body B and everything attached below it "
                  "goes when the joint's value grows and the body above the joint holds still")
    shared.append("the same torque (or force) acts on the body above the joint with the opposite sign: where B's "
                  "subtree is held instead (a foot on the ground), a growing value turns the body above about the "
                  "opposite axis (a hinge about -y turns it about +y), or pushes it the opposite way")
    lines = ["; ".join(shared)]
    for joint in joints:
        if joint["type"] not in ("hinge", "slide"):
            continue
        drives = [f"action[{a}] gear {float(model.actuator_gear[a][0]):g}"
                  + ("" if len(ranges) == 1 else " in [{:g}, {:g}]".format(*model.actuator_ctrlrange[a]))
                  for a in acting.get(joint["id"], [])]
        lines.append(f"{joint['name']} ({', '.join(drives) or 'no actuator'}): {_joint_words(model, data, joint)}")
    unattached = [a for target, acts in acting.items() if not any(j["id"] == target for j in joints) for a in acts]
    lines += [f"action[{a}] ({mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_ACTUATOR, a) or 'unnamed'}) drives "
              "something other than a joint (a tendon or site)" for a in unattached]
    return lines


def _joint_words(model, data, joint: dict) -> str:
    import mujoco

    axis = joint["axis"]
    sense = "".join(("+" if v > 0 else "-") + AXES[i] for i, v in enumerate(axis) if abs(v) > 1e-9) or "?"
    span = "" if joint["range"] is None else (
        f", range {joint['range'][0]:g} to {joint['range'][1]:g} m" if joint["type"] == "slide" else
        f", range {np.degrees(joint['range'][0]):.0f} to {np.degrees(joint['range'][1]):.0f} deg")
    planar = _planar(model)
    if joint["type"] == "slide":
        return f"slides {joint['body_name']} along {sense}{span}"
    moved = mujoco.MjData(model)
    moved.qpos[:] = data.qpos
    moved.qpos[joint["qpos"]] += TURN
    mujoco.mj_forward(model, moved)
    mujoco.mj_forward(model, data)
    body = joint["body"]
    if joint["root"]:  # the root body turns about its own origin: say where its top (or its front) goes
        frame, turned = data.xmat[body].reshape(3, 3), moved.xmat[body].reshape(3, 3)
        hinge = frame @ joint["axis"]
        top = abs(float(frame[:, 2] @ hinge)) < 0.9  # the hinge is not about the body's own vertical
        k, what = (2, "tips the top of") if top else (0, "turns the front (+x end) of")
        return (f"hinge about {sense}{span}; + {what} {joint['body_name']} "
                f"{_direction(turned[:, k] - frame[:, k], planar and top)}")
    delta = moved.subtree_com[body] - data.subtree_com[body]
    return f"hinge about {sense}{span}; + moves {joint['body_name']}'s subtree {_direction(delta, planar)}"


def _planar(model) -> bool:
    """Whether the model moves in the x-z plane: it has joints, and every hinge turns about y."""
    return model.nq > 0 and all(abs(a[0]) < 1e-9 and abs(a[2]) < 1e-9
                                for a, t in zip(model.jnt_axis, model.jnt_type) if t == 3)


def _start_facts(unwrapped: Any, joints: list[dict], start: np.ndarray) -> list[str]:
    """Where the joints start (``start``, the model's init_qpos; reset adds a little noise), and which start at a
    limit: a joint at its upper limit can only move down from there (Hopper's thigh and knee, which cost a real model
    two calls)."""
    noise = getattr(unwrapped, "_reset_noise_scale", None)
    at = {"lower": [], "upper": []}
    for j in joints:
        if j["type"] not in ("hinge", "slide") or j["range"] is None:
            continue
        value, (low, high) = start[j["qpos"]], j["range"]
        margin = 0.02 * (high - low)
        if value <= low + margin:
            at["lower"].append(j["name"])
        elif value >= high - margin:
            at["upper"].append(j["name"])
    noisy = f" (reset adds uniform noise of up to +-{noise:g})" if noise else ""
    facts = [f"{', '.join(names)} start{'s' if len(names) == 1 else ''} at (or beyond) "
             f"{'its' if len(names) == 1 else 'their'} {end} limit{noisy}: from there {'it' if len(names) == 1 else 'they'} can only move "
             f"{'up' if end == 'lower' else 'down'}" for end, names in at.items() if names]
    return facts


def _body_fact(model, start: np.ndarray) -> str:
    """Each body's mass and the segments its capsules span at the start pose (``start``), in world coordinates."""
    import mujoco

    data = mujoco.MjData(model)
    data.qpos[:] = start
    mujoco.mj_forward(model, data)
    planar = _planar(model)
    short = lambda v: f"{round(float(v), 2) + 0.0:g}"  # noqa: E731 - 0.6, not 0.60; 0, not -0.00
    point = (lambda p: f"({short(p[0])}, {short(p[2])})") if planar else \
        (lambda p: f"({short(p[0])}, {short(p[1])}, {short(p[2])})")
    parts = []
    for b in range(1, model.nbody):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, b) or f"body{b}"
        capsules = [g for g in range(model.ngeom) if model.geom_bodyid[g] == b
                    and model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE]
        shape = ""
        if capsules:  # its longest: where the segment runs
            g = max(capsules, key=lambda g: model.geom_size[g][1])
            axis = data.geom_xmat[g].reshape(3, 3)[:, 2] * model.geom_size[g][1]
            shape = f" {point(data.geom_xpos[g] - axis)}-{point(data.geom_xpos[g] + axis)} r{short(model.geom_size[g][0])}"
        parts.append(f"{name} {model.body_mass[b]:.2g} kg{shape}")
    axes = "x, z" if planar else "x, y, z"
    return (f"bodies at the start pose: mass, and the ends of its longest capsule in world ({axes}) m with its radius: "
            + "; ".join(parts))


def _info_facts(env: Any, doc: str) -> list[str]:
    """The keys a step's info really holds, and the ones the docstring names that it does not."""
    env.reset(seed=0)
    _, _, _, _, info = env.step(np.zeros(env.action_space.shape, dtype=env.action_space.dtype))
    env.reset(seed=0)
    keys = sorted(info)
    facts = [f"a step's info holds: {', '.join(keys)}" if keys else "a step's info is empty"]
    named = set(re.findall(r'"([a-z_]+)"', doc)) | set(re.findall(r"info\[['\"]([a-z_]+)['\"]\]", doc))
    absent = sorted(k for k in named if k not in info and ("position" in k or "velocity" in k or k.startswith("reward")))
    if absent:
        facts.append(f"the description names info keys this version's step does not return: {', '.join(absent)}")
    return facts
