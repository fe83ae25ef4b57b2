"""Which steps end a MiniGrid episode, and how: one step from next to each object of a real layout."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from minigrid.core.constants import (
    COLOR_TO_IDX,
    OBJECT_TO_IDX,
)
from minigrid.core.world_object import (
    Key,
    WorldObj,
)

from promptpo.envs.minigrid.actions import PICKABLE, Outcome, is_free, place, probe
from promptpo.envs.minigrid.layout import STEPS, Start, is_cell, name_of, named_cells
from promptpo.envs.minigrid.mission import join_words, mission_objects


@dataclass(frozen=True)
class Trial:
    text: str
    outcome: Outcome
    kind: str


def endings(start: Start, names: tuple[str, ...], attrs: list[str], limit: int = 40) -> list[Trial]:
    """One step from next to each object of seed 0's layout (and each cell the step rules name): walk onto it,
    pick it up, toggle it (a locked door also holding its key; a door also with the other doors open), say done,
    drop each other object next to it. Only the steps that end the episode are kept."""
    action = {n: i for i, n in enumerate(names)}
    u = copy.deepcopy(start.fresh())  # (a copy: probes reset the env itself)
    mission = mission_objects(str(u.mission))
    targets = [((x, y), u.grid.get(x, y)) for y in range(u.grid.height) for x in range(u.grid.width)
               if u.grid.get(x, y) is not None and u.grid.get(x, y).type != "wall"][:limit]
    cells = named_cells(u, attrs)
    targets += [(c, None) for c in sorted(cells) if u.grid.get(*c) is None]  # (objects as reset left them)
    pickables = [(c, o) for c, o in targets if o is not None and o.type in PICKABLE]

    def named(cell: tuple[int, int], obj: WorldObj | None) -> str:
        if obj is None:
            return join_words([f"`self.{a}`" for a in attrs if is_cell(getattr(u, a, None))
                          and tuple(int(v) for v in getattr(u, a)) == cell] or ["the cell"], "and") + f" {cell}"
        mark = " (named by the mission)" if (OBJECT_TO_IDX[obj.type], COLOR_TO_IDX[obj.color]) in mission else ""
        return f"the {name_of(obj)}{mark}"

    def stand_by(u: Any, cell: tuple[int, int]) -> tuple[int, int] | None:
        """A free cell next to ``cell``, else a door next to it (opened, so the agent can stand in it)."""
        near = [(cell[0] - dx, cell[1] - dy) for dx, dy in STEPS]
        near = [c for c in near if c not in cells]  # standing there would trigger its rule whatever the action
        stand = next((c for c in near if is_free(u, c)), None)
        if stand is None:
            door = next((c for c in near if 0 <= c[0] < u.grid.width and 0 <= c[1] < u.grid.height
                         and u.grid.get(*c) is not None and u.grid.get(*c).type == "door"), None)
            if door is not None:
                u.grid.get(*door).is_open, u.grid.get(*door).is_locked = True, False
                stand = door
        return stand

    trials: list[Trial] = []

    def attempt(name: str, text: str, kind: str, prepare: Any) -> None:
        if name in action:
            result = probe(start, prepare, action[name])
            if result is not None and result[0].terminated:
                trials.append(Trial(text, result[0], kind))

    for cell, obj in targets:
        kind = obj.type if obj is not None else "cell"
        what = named(cell, obj)

        def near(u: Any, carry: Any = None, open_others: bool = False, cell: tuple[int, int] = cell) -> Any:
            stand = stand_by(u, cell)
            if stand is None:
                return None
            if open_others:
                for y in range(u.grid.height):
                    for x in range(u.grid.width):
                        other = u.grid.get(x, y)
                        if other is not None and other.type == "door" and (x, y) != cell:
                            other.is_open, other.is_locked = True, False
            return place(u, stand, cell, carry(u) if carry else None)

        for name in ("forward", "pickup", "toggle", "done"):
            attempt(name, f"'{name}' facing {what}, empty-handed", kind, near)
        if obj is not None and obj.type == "door":
            if obj.is_locked:
                def key(u: Any, colour: str = obj.color) -> WorldObj:
                    real = [u.grid.get(x, y) for y in range(u.grid.height) for x in range(u.grid.width)
                            if u.grid.get(x, y) is not None and u.grid.get(x, y).type == "key"
                            and u.grid.get(x, y).color == colour]
                    return real[0] if real else Key(colour)
                attempt("toggle", f"'toggle' facing {what} holding the {obj.color} key", kind,
                        lambda u, near=near, key=key: near(u, key))
            attempt("toggle", f"'toggle' facing {what} once the other doors are open", kind,
                    lambda u, near=near: near(u, None, True))
        for source, held in pickables[:4]:
            if source == cell or "drop" not in action:
                continue

            def drop(u: Any, source: tuple[int, int] = source, cell: tuple[int, int] = cell) -> Any:
                for dx, dy in STEPS:
                    spot = (cell[0] + dx, cell[1] + dy)
                    stand = stand_by(u, spot) if is_free(u, spot) else None
                    if stand is not None and stand != cell:
                        return place(u, stand, spot, u.grid.get(*source))
                return None

            attempt("drop", f"'drop' of the {name_of(held)} next to {what}", kind, drop)
    return trials


def trials_text(trials: list[Trial], success: bool, cap: int = 6) -> str:
    chosen = [t for t in trials if (t.outcome.reward > 0) == success]
    if not success:  # one example per action and kind of object is enough
        seen, kept = set(), []
        for t in chosen:
            key = (t.text.split("'")[1], t.kind, round(t.outcome.reward, 3))
            if key not in seen:
                seen.add(key)
                kept.append(t)
        chosen = kept
    lines = [f"{t.text} -> reward {t.outcome.reward:.3g}" for t in chosen[:cap]]
    more = f" (and {len(chosen) - cap} more)" if len(chosen) > cap else ""
    return "; ".join(lines) + more
