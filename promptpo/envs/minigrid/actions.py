"""What each action does in a MiniGrid env, measured by stepping it from prepared states (the agent put in
front of a wall, a door, a key, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from minigrid.core.constants import (
    COLOR_NAMES,
    IDX_TO_OBJECT,
    STATE_TO_IDX,
)
from minigrid.core.world_object import (
    Ball,
    Box,
    Door,
    Floor,
    Goal,
    Key,
    Lava,
    Wall,
    WorldObj,
)

from promptpo.envs.minigrid.layout import STEPS, Start, name_of, named_cells
from promptpo.envs.minigrid.mission import join_words

PICKABLE = ("key", "ball", "box")


@dataclass(frozen=True)
class Outcome:
    change: str
    reward: float
    terminated: bool

    def text(self) -> str:
        end = ""
        if self.terminated:
            end = f"the episode ends with reward {self.reward:.3g}" + (" (success)" if self.reward > 0 else "")
        elif self.reward:
            end = f"reward {self.reward:.3g}"
        return "; ".join(p for p in (self.change, end) if p) or "nothing changes"

    @property
    def effect(self) -> bool:
        return bool(self.change) or self.terminated or bool(self.reward)


def _snapshot(u: Any) -> tuple:
    held = u.carrying
    return (tuple(int(v) for v in u.agent_pos), int(u.agent_dir), None if held is None else name_of(held),
            u.grid.encode().copy())


def _change(before: tuple, after: tuple, front: tuple[int, int]) -> tuple[str, set[str]]:
    """What a step changed, in words, and the object types that changed elsewhere in the grid."""
    (pos0, dir0, held0, grid0), (pos1, dir1, held1, grid1) = before, after
    parts = []
    turn = (dir1 - dir0) % 4
    if turn:
        parts.append({1: "turns right: direction d becomes (d + 1) % 4", 3: "turns left: direction d becomes (d + 3) % 4",
                      2: "turns around"}[turn])
    if pos1 != pos0:
        parts.append("moves onto that cell" if pos1 == front else f"moves to {pos1}")
    cell0, cell1 = tuple(grid0[front]), tuple(grid1[front])
    kind0, kind1 = IDX_TO_OBJECT[cell0[0]], IDX_TO_OBJECT[cell1[0]]
    if held0 is None and held1 is not None:
        parts.append("picks it up (the cell empties; obs['carrying'] shows it)" if kind1 == "empty" else f"now holds {held1}")
    elif held0 is not None and held1 is None:
        parts.append(f"puts the held {held0.split()[-1]} down on that cell" if kind1 == held0.split()[-1]
                     else "the held object is gone")
    elif held0 != held1:
        parts.append(f"now holds {held1}")
    elif cell0 != cell1:
        if kind0 == kind1 == "door":
            opened, closed, locked = STATE_TO_IDX["open"], STATE_TO_IDX["closed"], STATE_TO_IDX["locked"]
            parts.append({(closed, opened): "opens it", (opened, closed): "closes it", (locked, opened):
                          "unlocks and opens it", (locked, closed): "unlocks it"}.get((cell0[2], cell1[2]),
                                                                                      "the door changes"))
        elif kind1 == "empty":
            parts.append(f"the {kind0} disappears")
        else:
            parts.append(f"the {kind0} is replaced by a {kind1}" + (" (what it contained)" if kind0 == "box" else ""))
    changed = np.argwhere(np.any(grid0 != grid1, axis=2))
    elsewhere = {IDX_TO_OBJECT[int(g[tuple(c)][0])] for c in changed if tuple(c) != front and tuple(c) != pos0
                 and tuple(c) != pos1 for g in (grid0, grid1)} - {"empty", "agent"}
    return ", ".join(parts), elsewhere


def probe(start: Start, prepare: Any, action: int) -> tuple[Outcome, set[str]] | None:
    """From ``start``, let ``prepare(env)`` set up the state (it returns the cell in front, or None if it cannot),
    take ``action`` (in the unwrapped env) and say what changed."""
    u = start.fresh()
    front = prepare(u)
    if front is None:
        return None
    before = _snapshot(u)
    _, reward, terminated, _, _ = u.step(action)
    change, elsewhere = _change(before, _snapshot(u), tuple(front))
    return Outcome(change, float(reward), bool(terminated)), elsewhere


def place(u: Any, stand: tuple[int, int], front: tuple[int, int], carry: WorldObj | None = None) -> tuple[int, int]:
    u.agent_pos = np.array(stand)
    u.agent_dir = STEPS.index((front[0] - stand[0], front[1] - stand[1]))
    if carry is not None:
        if carry.cur_pos is not None and tuple(carry.cur_pos) != (-1, -1):
            u.grid.set(*carry.cur_pos, None)
        carry.cur_pos = np.array([-1, -1])
    u.carrying = carry
    return front


def is_free(u: Any, cell: tuple[int, int]) -> bool:
    return (0 < cell[0] < u.grid.width - 1 and 0 < cell[1] < u.grid.height - 1 and u.grid.get(*cell) is None
            and tuple(int(v) for v in u.agent_pos) != cell)


def _workbench(u: Any, attrs: list[str]) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """A free cell to stand on with a free cell in front, away from the layout's objects and named cells; in a
    grid too cramped for that, the agent's own cell and whatever inner cell is next to it (overwritten)."""
    avoid = named_cells(u, attrs)
    objects = {(x, y) for y in range(u.grid.height) for x in range(u.grid.width)
               if u.grid.get(x, y) is not None and u.grid.get(x, y).type != "wall"} | avoid
    start = tuple(int(v) for v in u.agent_pos)
    cells = [start] + [(x, y) for y in range(u.grid.height) for x in range(u.grid.width)]
    for strict in (True, False):
        for stand in cells:
            if stand != start and not is_free(u, stand):
                continue
            for dx, dy in STEPS:
                front = (stand[0] + dx, stand[1] + dy)
                near = {(c[0] + a, c[1] + b) for c in (stand, front) for a, b in ((0, 0), *STEPS)}
                if is_free(u, front) and not {stand, front} & avoid and (not strict or not near & objects):
                    return stand, front
    for dx, dy in STEPS:
        front = (start[0] + dx, start[1] + dy)
        if 0 < front[0] < u.grid.width - 1 and 0 < front[1] < u.grid.height - 1 and front not in avoid:
            return start, front
    return None


def _make(kind: str, colour: str, inside: str = "") -> WorldObj:
    if kind == "box":
        return Box(colour, contains=Key(inside) if inside else None)
    return {"key": Key, "ball": Ball, "goal": lambda c: Goal(), "lava": lambda c: Lava(), "floor": Floor,
            "wall": lambda c: Wall()}[kind](colour)


def action_effects(start: Start, names: tuple[str, ...], kinds: set[str], mission: str,
                   attrs: list[str]) -> tuple[dict[int, list[tuple[str, Outcome]]], set[str]]:
    """For each action, (situation, outcome) measured from prepared states built only of the kinds of objects
    this env holds (in colours the mission does not name); the object types that changed elsewhere during these
    steps. States where the agent holds something are prepared only if 'pickup' picked something up."""
    action = {n: i for i, n in enumerate(names)}
    free = [c for c in COLOR_NAMES if c not in mission.lower().split()] or list(COLOR_NAMES)
    colour, other = free[0], free[1 % len(free)]
    pick = [k for k in PICKABLE if k in kinds]
    bare = "with empty hands" if pick else ""
    cases: list[tuple[str, str, Any, Any, str]] = [  # (what it faces, action, front object, held object, held words)
        ("an empty cell", a, None, None, bare if a in ("pickup", "drop", "toggle") else "")
        for a in ("left", "right", "forward", "pickup", "drop", "toggle", "done")]
    cases += [("a wall", a, "wall", None, bare if a != "forward" else "") for a in ("forward", "pickup", "toggle")]
    if "door" in kinds:
        door = {"a closed door": {}, "an open door": {"is_open": True}}
        if "locked door" in kinds:
            door["a locked door"] = {"is_locked": True}
        cases += [(label, a, ("door", state), None, bare if a == "toggle" else "") for label, state in door.items()
                  for a in ("forward", "toggle")]
        if "locked door" in kinds and "key" in kinds:
            cases += [("a locked door", "toggle", ("door", {"is_locked": True}), "key", "holding a key of its colour"),
                      ("a locked door", "toggle", ("door", {"is_locked": True}), ("key", other),
                       "holding a key of another colour")]
    box = "box" if "empty box" in kinds else ("box", "key")  # the kind of box this env has
    for kind in pick:
        made = box if kind == "box" else kind
        cases += [(f"a {kind}", a, made, None, bare if a != "forward" else "")
                  for a in ("forward", "pickup") + (("toggle",) * (kind != "box"))]
        cases.append((f"a {kind}", "pickup", made, (pick[-1], other), f"holding a {pick[-1]}"))
    if "empty box" in kinds:
        cases.append(("an empty box", "toggle", "box", None, bare))
    if "full box" in kinds:
        cases.append(("a box with a key inside", "toggle", ("box", "key"), None, bare))
    for kind in pick:  # dropping each kind of object the agent can hold, onto what it may face
        cases += [("an empty cell", "drop", None, kind, f"holding a {kind}"),
                  ("a wall", "drop", "wall", kind, f"holding a {kind}"),
                  (f"a {pick[0]}", "drop", pick[0] if pick[0] != "box" else box, kind, f"holding a {kind}")]
        if "door" in kinds:
            cases.append(("an open door", "drop", ("door", {"is_open": True}), kind, f"holding a {kind}"))
    for kind, label in (("goal", "the goal square"), ("lava", "lava"), ("floor", "a floor tile")):
        if kind in kinds:
            cases.append((label, "forward", kind, None, ""))

    def build(spec: Any) -> WorldObj | None:
        if spec is None:
            return None
        if isinstance(spec, tuple) and spec[0] == "door":
            return Door(colour, **spec[1])
        if isinstance(spec, tuple) and spec[0] == "box":
            return _make("box", colour, other)
        kind, tint = spec if isinstance(spec, tuple) else (spec, colour)
        return _make(kind, tint)

    effects: dict[int, list[tuple[tuple[str, str], Outcome]]] = {}
    moved: set[str] = set()
    cases.sort(key=lambda case: case[3] is not None)  # empty-handed first: they show whether anything can be held
    for thing, name, front_obj, held, words in cases:
        if name not in action:
            continue
        if held is not None and not any("picks it up" in o.change for _, o in effects.get(action.get("pickup", -1), [])):
            continue  # nothing can be picked up here, so the agent never holds anything

        def prepare(u: Any, front_obj: Any = front_obj, held: Any = held) -> tuple[int, int] | None:
            bench = _workbench(u, attrs)
            if bench is None:
                return None
            stand, front = bench
            u.grid.set(*front, build(front_obj))
            return place(u, stand, front, build(held))

        result = probe(start, prepare, action[name])
        if result is not None:
            effects.setdefault(action[name], []).append(((thing, words), result[0]))
            moved |= result[1]
    return effects, moved


def effect_text(cases: list[tuple[tuple[str, str], Outcome]]) -> str:
    """'facing a closed door: opens it; facing a wall or a key with empty hands, or facing a locked door holding
    a key of another colour: nothing changes' from measured cases ((what it faces, what it holds), outcome)."""
    if len(cases) == 1:
        return f"{cases[0][1].text()} (measured facing {_situation([cases[0][0]])})"
    groups: dict[str, list[tuple[str, str]]] = {}
    for situation, outcome in cases:
        groups.setdefault(outcome.text(), []).append(situation)
    return "; ".join(f"facing {_situation(situations)}: {text}" for text, situations in groups.items())


def _situation(situations: list[tuple[str, str]]) -> str:
    """'an empty cell or a wall with empty hands, or a key holding a ball': what was faced, by what was held."""
    held: dict[str, list[str]] = {}
    for thing, words in situations:
        if thing not in held.setdefault(words, []):
            held[words].append(thing)
    faced: dict[tuple[str, ...], list[str]] = {}  # the same things faced holding a key, a ball, ...: one entry
    for words, things in held.items():
        faced.setdefault(tuple(things), []).append(words)
    parts = []
    for things, words in faced.items():
        if len(words) > 1 and all(w.startswith("holding ") for w in words):
            words = ["holding " + join_words([w.removeprefix("holding ") for w in words])]
        parts += [join_words(list(things)) + (f" {w}" if w else "") for w in words]
    return ", or facing ".join(parts)
