"""What a MiniGrid env's resets hold, measured on several seeds: grid size, start, objects, rooms, and the
named attributes its rules read."""

from __future__ import annotations

import copy
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from minigrid.core.constants import (
    COLOR_TO_IDX,
    OBJECT_TO_IDX,
)
from minigrid.core.world_object import (
    WorldObj,
)

from promptpo.envs.minigrid.mission import (
    join_words,
    mission_array,
    mission_objects,
    template,
)

SEEDS = tuple(range(5))
"""Resets measured for the mission, the layout and the named attributes."""


COPY_AFTER_S = 0.005
"""A reset slower than this: probes start from copies of one reset instead of resetting again."""


STEPS = ((1, 0), (0, 1), (-1, 0), (0, -1))


@dataclass
class Layout:
    seed: int
    mission: str
    size: tuple[int, int]
    start: tuple[tuple[int, int], int]
    objects: list[tuple[tuple[int, int], WorldObj]]
    """Every non-wall object with its cell."""
    rooms: int
    attrs: dict[str, str] = field(default_factory=dict)
    """Named ``self`` attributes as words."""


class Start:
    """Where every probe starts: the env as seed 0's reset leaves it, made by resetting again or, where resetting
    is slow (a generator that searches), by copying a kept reset."""

    def __init__(self, env: Any, seed: int, reset_s: float):
        self.env, self.seed = env, seed
        self.kept = copy.deepcopy(env.unwrapped) if reset_s > COPY_AFTER_S else None

    def fresh(self) -> Any:
        if self.kept is not None:
            return copy.deepcopy(self.kept)
        self.env.reset(seed=self.seed)
        return self.env.unwrapped


def layouts(env: Any, attrs: list[str], budget_s: float = 3.0) -> tuple[list[Layout], Start]:
    """The layouts of ``SEEDS`` (fewer if resetting is slow: at least one) and where the probes start."""
    found, start, started = [], None, time.perf_counter()
    for seed in SEEDS:
        if found and time.perf_counter() - started > budget_s:
            break
        env.reset(seed=seed)
        u = env.unwrapped
        if start is None:
            start = Start(env, seed, time.perf_counter() - started)
        grid = u.grid
        objects = [((x, y), grid.get(x, y)) for y in range(grid.height) for x in range(grid.width)
                   if grid.get(x, y) is not None and grid.get(x, y).type != "wall"]
        layout = Layout(seed, str(u.mission), (grid.width, grid.height),
                        (tuple(int(v) for v in u.agent_pos), int(u.agent_dir)), objects, count_rooms(u))
        layout.attrs = {a: describe_attr(getattr(u, a, None), u) for a in attrs if hasattr(u, a)}
        found.append(layout)
    start.fresh()  # (leaves the env at the probes' start)
    return found, start


def count_rooms(u: Any) -> int:
    """Regions of cells that are neither wall nor door, joined through doors, reachable from the agent's."""
    grid = u.grid
    label = -np.ones((grid.width, grid.height), dtype=int)
    solid = lambda x, y: grid.get(x, y) is not None and grid.get(x, y).type in ("wall", "door")
    regions = 0
    for x in range(grid.width):
        for y in range(grid.height):
            if label[x, y] >= 0 or solid(x, y):
                continue
            label[x, y], queue = regions, deque([(x, y)])
            while queue:
                a, b = queue.popleft()
                for dx, dy in STEPS:
                    c = (a + dx, b + dy)
                    if 0 <= c[0] < grid.width and 0 <= c[1] < grid.height and label[c] < 0 and not solid(*c):
                        label[c] = regions
                        queue.append(c)
            regions += 1
    links: dict[int, set[int]] = {}
    for x in range(grid.width):
        for y in range(grid.height):
            if grid.get(x, y) is not None and grid.get(x, y).type == "door":
                near = {int(label[x + dx, y + dy]) for dx, dy in STEPS
                        if 0 <= x + dx < grid.width and 0 <= y + dy < grid.height and label[x + dx, y + dy] >= 0}
                for r in near:
                    links.setdefault(r, set()).update(near)
    start = int(label[tuple(u.agent_pos)])
    seen, queue = {start}, [start]
    while queue:
        for r in links.get(queue.pop(), ()):
            if r not in seen:
                seen.add(r)
                queue.append(r)
    return len(seen)


def name_of(obj: WorldObj | None) -> str:
    if obj is None:
        return "nothing"
    state = ""
    if obj.type == "door":
        state = "open " if obj.is_open else "locked " if obj.is_locked else "closed "
    return f"{state}{obj.color} {obj.type}"


def describe_attr(value: Any, u: Any) -> str:
    """A named attribute after reset, in words: an object (and whether it is the only one of its kind and the
    one the mission names), a cell (and what is on or next to it), a string (and whether the mission says it)."""
    mission = str(u.mission)
    grid = u.grid
    if isinstance(value, WorldObj):
        same = sum(1 for y in range(grid.height) for x in range(grid.width)
                   if grid.get(x, y) is not None and grid.get(x, y).type == value.type)
        named = (OBJECT_TO_IDX[value.type], COLOR_TO_IDX[value.color]) in mission_objects(mission)
        return (f"the {name_of(value)}" + (f" (the only {value.type} in the grid)" if same == 1 else "")
                + (" named by the mission" if named else ""))
    if isinstance(value, (tuple, list, np.ndarray)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) for v in value):
        x, y = (int(v) for v in value)
        if not (0 <= x < grid.width and 0 <= y < grid.height):
            return "a cell outside the grid"
        here = grid.get(x, y)
        if here is not None:
            named = (OBJECT_TO_IDX[here.type], COLOR_TO_IDX[here.color]) in mission_objects(mission)
            return f"the cell of the {name_of(here)}" + (" named by the mission" if named else "")
        near = [name_of(grid.get(x + dx, y + dy)) for dx, dy in STEPS
                if 0 <= x + dx < grid.width and 0 <= y + dy < grid.height and grid.get(x + dx, y + dy) is not None
                and grid.get(x + dx, y + dy).type != "wall"]
        return "an empty cell" + (f" next to the {' and the '.join(near)}" if near else "")
    if isinstance(value, str):
        return f"'{value}'" + (" (the mission says it)" if value in mission.split() else "")
    return repr(value)[:60]


def named_cells(u: Any, attrs: list[str]) -> set[tuple[int, int]]:
    """The cells the step rules name (``self.success_pos``, ...) in the current reset."""
    return {tuple(int(v) for v in getattr(u, a)) for a in attrs if is_cell(getattr(u, a, None))}


def is_cell(value: Any) -> bool:
    return (isinstance(value, (tuple, list, np.ndarray)) and len(value) == 2
            and all(isinstance(v, (int, np.integer)) for v in value))


def layout_facts(found: list[Layout], seeds: str, kinds: set[str]) -> list[str]:
    facts = []
    missions = [lay.mission for lay in found]
    example = found[0].mission
    rows = mission_array(example).tolist()
    reading = f"The text is not in obs; obs['mission'] holds the objects it names: {rows}"
    if len(set(missions)) == 1:
        facts.append(f"Mission (env.unwrapped.mission after reset, the same on {seeds}): '{example}'. {reading}.")
    else:
        common = template(missions)
        distinct = list(dict.fromkeys(missions))
        shown = ", ".join(f"'{m}'" for m in distinct[:4]) + (", ..." if len(distinct) > 4 else "")
        facts.append("Mission (env.unwrapped.mission after reset) varies with the seed: "
                     + (f"'{common}'; " if common else "")
                     + f"{len(distinct)} different ones on {seeds} ({len(missions)} resets): {shown}. "
                     f"{reading} for '{example}'.")
    sizes = sorted({lay.size for lay in found})
    facts.append("Grid: " + " or ".join(f"{w} x {h}" for w, h in sizes) + " cells including the outer wall ring"
                 + (" (varies with the seed)." if len(sizes) > 1 else f", the same on {seeds}."))
    places, dirs = sorted({lay.start[0] for lay in found}), sorted({lay.start[1] for lay in found})
    facts.append("The agent starts " + (f"at {places[0]}" if len(places) == 1 else f"at {len(places)} different cells")
                 + (f" facing direction {dirs[0]}" if len(dirs) == 1 else f" facing directions {dirs}") + f" ({seeds}).")
    parts = []
    for kind in sorted({o.type for lay in found for _, o in lay.objects}, key=lambda t: OBJECT_TO_IDX[t]):
        counts = [sum(1 for _, o in lay.objects if o.type == kind) for lay in found]
        objs = [o for lay in found for _, o in lay.objects if o.type == kind]
        colours = sorted({o.color for o in objs})
        detail = [colours[0] if len(colours) == 1 else f"colours {', '.join(colours)}"]
        if kind == "door":
            detail.insert(0, " or ".join(sorted({name_of(o).split()[0] for o in objs})))
        inside = sorted({name_of(o.contains) for o in objs if getattr(o, "contains", None) is not None})
        if inside:
            detail.append(f"holding {join_words(inside)}")
        count = str(min(counts)) if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
        parts.append(f"{kind} x{count} ({'; '.join(detail)})")
    facts.append(f"Objects in the grid at reset besides walls ({seeds}): " + (", ".join(parts) or "none") + ".")
    if "door" in kinds:
        rooms = sorted({lay.rooms for lay in found})
        facts.append("Rooms: walls and doors split the area the agent can reach into "
                     + (f"{rooms[0]} room{'s' * (rooms[0] != 1)} on every seed" if len(rooms) == 1
                        else f"{rooms[0]}-{rooms[-1]} rooms")
                     + f" ({seeds}; a room is a connected region of non-wall cells, a corridor counting as one).")
    return facts
