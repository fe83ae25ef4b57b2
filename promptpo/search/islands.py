"""Islands: separate populations that evolve apart, keep distinct strategies in cells, and swap their best.

- Slot k of a round works on island ``k % N``; a candidate belongs to its parent's island (without a
  parent: the island of its index in its round).
- Every ``migrate_every`` rounds each island receives the best of the island before it (a ring).
- An island's members (its own candidates and the migrants it received) fill MAP-Elites cells over two
  behaviour descriptors of the candidate's evaluation: its quality (success rate in 5 bins, or mean return in
  5 bins of [0, target] for a positive target, else of the range of returns seen so far) and its action style (discrete actions: how much one action dominates; continuous:
  how much the actions vary within an episode), 3 bins. Each cell keeps its best candidate (its elite).
- The parent of a slot is, with probability ``exploit``, the island's j-th best elite (j: the slot's number
  within its island), else an elite drawn at random; the draw is seeded by the run seed, round and slot, so a
  run is a function of its records and ``resume`` rebuilds the same database.
- Inspirations: up to two other elites (the island's best of another cell, and the run's best when it lives
  elsewhere), shown in the prompt next to the parent.

Everything here is derived from the candidates recorded so far; ``record`` is what search.json holds.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from promptpo.candidate import Candidate, ranked

QUALITY_BINS = 5
STYLE_BINS = (0.1, 0.3)
"""Continuous actions: mean per-dimension standard deviation within an episode, on the action's own scale."""
DOMINANCE_BINS = (0.65, 0.85)
"""Discrete actions: the share of the most frequent action."""


def cell(candidate: Candidate, scale: tuple[float, float] = (0.0, 1.0)) -> tuple[int, int]:
    """(quality bin, action-style bin) of a scored candidate; ``scale``: the returns' range the quality bins
    split (success rates are binned on [0, 1] whatever it is)."""
    ev = candidate.evaluation
    rate = getattr(ev, "success_rate", None)
    low, high = (0.0, 1.0) if rate is not None else scale
    value = rate if rate is not None else (getattr(ev, "mean_return", None) or 0.0)
    quality = int(QUALITY_BINS * (value - low) / (high - low)) if high > low else 0
    return max(0, min(QUALITY_BINS - 1, quality)), style(ev)


def return_scale(history: Sequence[Candidate], target: float | None) -> tuple[float, float]:
    """What mean returns are binned against: [0, target] for a positive target, else the range seen so far."""
    if target is not None and target > 0:
        return 0.0, target
    values = [c.evaluation.mean_return for c in history if c.scored and c.evaluation.mean_return is not None]
    return (min(values), max(values)) if values else (0.0, 1.0)


def style(evaluation) -> int:
    episodes = [e for e in getattr(evaluation, "episodes", []) if e.length > 0]
    if not episodes:
        return 0
    counts: dict[int, int] = {}
    spreads = []
    for e in episodes:
        for action, n in e.digest.action_counts.items():
            counts[action] = counts.get(action, 0) + n
        if e.digest.action_std:
            spreads.append(sum(e.digest.action_std) / len(e.digest.action_std))
    if counts:
        share = max(counts.values()) / sum(counts.values())
        return sum(share >= b for b in DOMINANCE_BINS)
    spread = sum(spreads) / len(spreads) if spreads else 0.0
    return sum(spread >= b for b in STYLE_BINS)


@dataclass
class Island:
    number: int
    own: list[Candidate]
    migrants: list[Candidate]
    scale: tuple[float, float]

    def cells(self) -> dict[tuple[int, int], Candidate]:
        elites: dict[tuple[int, int], Candidate] = {}
        for c in ranked(self.own + self.migrants)[::-1]:  # worst first, so the best of each cell stays
            elites[cell(c, self.scale)] = c
        return elites

    def elites(self) -> list[Candidate]:
        return ranked(list(self.cells().values()))


class Islands:
    name = "islands"

    def __init__(self, islands: int = 2, migrate_every: int = 3, exploit: float = 0.7, seed: int = 0,
                 target: float | None = None):
        self.n, self.migrate_every, self.exploit, self.seed = max(1, islands), max(1, migrate_every), exploit, seed
        self.target = target

    # -- the database, rebuilt from the records -------------------------------------------
    def database(self, history: Sequence[Candidate], round_: int) -> tuple[list[Island], list[dict]]:
        """The islands as they stand at the start of ``round_``, and the migrations so far."""
        before = [c for c in history if c.round < round_]
        home = self.homes(before)
        scale = return_scale(before, self.target)
        islands = [Island(i, [c for c in before if home[c.id] == i], [], scale) for i in range(self.n)]
        migrations = []
        for at in range(self.migrate_every, round_ + 1, self.migrate_every):
            if self.n < 2:
                break
            bests = []
            for island in islands:
                earlier = [c for c in island.own + island.migrants if c.round < at]
                top = ranked(earlier)
                bests.append(top[0] if top and top[0].complete else None)
            for i, island in enumerate(islands):
                migrant = bests[(i - 1) % self.n]
                if migrant is not None and migrant not in island.own + island.migrants:
                    island.migrants.append(migrant)
                    migrations.append({"round": at, "from": (i - 1) % self.n, "to": i, "id": migrant.id})
        return islands, migrations

    def homes(self, history: Sequence[Candidate]) -> dict[str, int]:
        """Each candidate's island: its parent's, or without one, that of its index in its round."""
        home: dict[str, int] = {}
        for c in history:  # in record order: a parent is always recorded before its children
            home[c.id] = home[c.parent] if c.parent in home else c.index % self.n
        return home

    # -- the strategy --------------------------------------------------------------------
    def parent(self, history: Sequence[Candidate], round_: int, slot: int) -> Candidate | None:
        if round_ == 0 or not any(c.scored for c in history):
            return None
        islands, _ = self.database(history, round_)
        elites = islands[slot % self.n].elites()
        if not elites:  # an island with nothing scored yet starts from the run's best
            order = ranked(history)
            return order[slot % len(order)]
        rng = random.Random(f"{self.seed}:{round_}:{slot}")
        if rng.random() < self.exploit:
            return elites[(slot // self.n) % len(elites)]
        return rng.choice(elites)

    def inspirations(self, history: Sequence[Candidate], round_: int, slot: int,
                     parent: Candidate | None) -> list[Candidate]:
        if parent is None:
            return []
        islands, _ = self.database(history, round_)
        island = islands[slot % self.n]
        chosen = [e for e in island.elites() if e is not parent][:1]
        best = next(iter(ranked(history)), None)
        if best is not None and best is not parent and best not in chosen and best not in island.own:
            chosen.append(best)
        return chosen

    def record(self, history: Sequence[Candidate], round_: int) -> dict:
        """What search.json holds after ``round_``: every island's members, cells and migrants."""
        islands, migrations = self.database(history, round_ + 1)
        return {"search": self.name, "islands": self.n, "migrate_every": self.migrate_every, "exploit": self.exploit,
                "after_round": round_, "migrations": migrations,
                "occupied_cells": len({k for i in islands for k in i.cells()}),
                "population": [{"island": i.number, "members": [c.id for c in i.own],
                                "migrants": [c.id for c in i.migrants],
                                "cells": {f"q{q}-s{s}": c.id for (q, s), c in sorted(i.cells().items())}}
                               for i in islands]}
