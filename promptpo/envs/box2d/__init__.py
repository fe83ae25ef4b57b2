"""Gymnasium Box2D environments (LunarLander, BipedalWalker, CarRacing) as their installed code builds them.

Their docstrings describe the observation in a sentence ("hull angle speed, angular velocity, ...") and name no
element, and the sentence can be wrong (BipedalWalker's first element is the hull's angle, not its speed). The
installed ``step`` builds the observation as a list literal (``state = [...]``, perhaps extended by a
comprehension such as ``[l.fraction for l in self.lidar]``): each element is read from that code (the one Box2D
quantity it reads, e.g. ``self.lander.angularVelocity``, and the scale the code applies to it, evaluated with the
module's constants), then checked on a random rollout: an element is named only when, at every step, it equals
that quantity, read from the live simulator, scaled as stated. Elements that fail, or a list whose length is not
the observation's, keep generic names, so a release that changes ``step`` gets no wrong names.

Facts come from the live world and from measurement: which declared bounds the code never reaches (flags that are
0 or 1, lidar fractions in [0, 1], joints within their limits), the world's frame, gravity and time step, the
settings the env was made with, and what each action does (motors: read off the joints after a step; otherwise
the observation a few steps after each action, against doing nothing from the same state).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from promptpo.envs.box2d.code import (
    SEED,
    analyse,
    check,
    expand,
    observation_code,
    step_method,
)
from promptpo.envs.box2d.facts import (
    bounds_facts,
    effect_facts,
    motors_of,
    provenance,
    settings_facts,
    world_facts,
)
from promptpo.envs.box2d.naming import Tree, name_element
from promptpo.envspec import ObsField


@dataclass
class Reading:
    fields: list[ObsField] | None
    """None when the observation could not be read from the code (the caller's fields stay)."""
    facts: list[str] = field(default_factory=list)
    actions: tuple[str, ...] = ()
    """One meaning per action dimension, when measured (motors); else empty."""


def applies(env: Any) -> bool:
    world = getattr(env.unwrapped, "world", None)
    return type(world).__module__.startswith("Box2D")


def read(env: Any) -> Reading:
    """Observation fields, action meanings and facts of a Box2D env (it is reset and stepped; seed 0)."""
    try:
        return _read(env)
    except Exception as err:  # noqa: BLE001 - a release this module does not know: say so, keep generic names
        return Reading(None, [f"the observation could not be read from the installed code ({type(err).__name__})"])


def _read(env: Any) -> Reading:
    unwrapped = env.unwrapped
    env.reset(seed=SEED)
    facts = [*world_facts(env, frame=True), *settings_facts(env)]
    space = env.observation_space
    parsed = observation_code(type(unwrapped))
    flat = len(space.shape) == 1 and np.issubdtype(space.dtype, np.floating)
    if parsed is None or not flat:  # e.g. CarRacing's pixels: the world's frame is not what the policy sees
        return Reading(None, [*world_facts(env, frame=False), *settings_facts(env)])
    parts, name = parsed
    elements = expand(parts, unwrapped)
    size = int(space.shape[0])
    if len(elements) != size:
        facts.insert(0, f"the installed step builds `{name}` with {len(elements)} elements but the observation has "
                        f"{size}: its elements keep generic names")
        return Reading(None, facts)
    scope = step_method(type(unwrapped)).__globals__
    for element in elements:
        analyse(element, unwrapped, scope)
    steps = check(env, elements, scope)
    env.reset(seed=SEED)  # geometry (which side a leg is on, where a ray points) is read at the start
    tree = Tree(unwrapped, elements)
    fields = [name_element(element, tree, unwrapped, space) for element in elements]
    named = [e for e in elements if e.checked]
    facts.insert(0, provenance(type(unwrapped), name, elements, steps))
    facts[1:1] = bounds_facts(elements, fields, tree, space)
    actions: tuple[str, ...] = ()
    motors = motors_of(env, tree, fields)
    if motors is not None:
        actions, motor_facts = motors
        facts += motor_facts
    elif named:
        facts += effect_facts(env, fields, tree)
    env.reset(seed=SEED)
    return Reading(fields, facts, actions)
