"""A MiniGrid mission as the policy sees it: the objects its text names, as (type, colour) id rows."""

from __future__ import annotations

import re

import numpy as np
from minigrid.core.constants import (
    COLOR_NAMES,
    COLOR_TO_IDX,
    OBJECT_TO_IDX,
)

MISSION_SLOTS = 3


NAMEABLE = tuple(t for t in OBJECT_TO_IDX if t not in ("unseen", "empty", "agent"))


def mission_objects(text: str) -> list[tuple[int, int]]:
    """(object type id, colour id or -1) of each object the mission names, in order: "pick up the blue ball"
    -> [(ball, blue)]."""
    words = re.findall(r"[a-z]+", text.lower())
    return [(OBJECT_TO_IDX[w], COLOR_TO_IDX.get(words[i - 1], -1) if i else -1)
            for i, w in enumerate(words) if w in NAMEABLE]


def mission_array(text: str) -> np.ndarray:
    pairs = np.zeros((MISSION_SLOTS, 2), dtype=np.int64)
    for row, pair in zip(pairs, mission_objects(text)):
        row[:] = pair
    return pairs


def template(missions: list[str]) -> str:
    """'pick up the {colour} ball' from missions that differ only in some words; "" if their wording differs."""
    split = [[w.strip("'\"") for w in m.split()] for m in missions]
    if len({len(s) for s in split}) != 1:
        return ""
    words = []
    for column in zip(*split):
        values = set(column)
        words.append(column[0] if len(values) == 1 else "{colour}" if values <= set(COLOR_NAMES)
                     else "{object}" if values <= set(NAMEABLE) else "{...}")
    return " ".join(words)


def join_words(items: list[str], word: str = "or") -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {word} " + items[-1]
