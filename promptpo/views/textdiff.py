"""A diff of two programs that stays cheap whatever the programs are: `promptpo diff` and the web view.

Programs come from answers of up to 400,000 characters; diffing (and colouring) two of those can take minutes and,
in the web view, would hold every other request. Past :data:`MAX_LINES` lines or :data:`MAX_CHARS` characters a
side, no diff is computed and the caller says why and how to diff the files instead.
"""

from __future__ import annotations

import difflib

from promptpo.candidate import UNRANKED
from promptpo.records.facts import rank_key

MAX_LINES = 3000
MAX_CHARS = 200_000


def too_large(*texts: str) -> str | None:
    """Why ``texts`` are too large to diff here, or None."""
    for text in texts:
        lines = text.count("\n") + 1
        if lines > MAX_LINES or len(text) > MAX_CHARS:
            return (f"a program of {lines:,} lines and {len(text):,} characters is past what is diffed here "
                    f"({MAX_LINES:,} lines, {MAX_CHARS:,} characters)")
    return None


def unified(old: str, new: str, old_name: str, new_name: str) -> str:
    """The unified diff of ``old`` and ``new`` (empty when they are the same); call too_large first."""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        old_name, new_name))


def score_change(a: str, first: dict, b: str, second: dict, criterion: str = "auc") -> list[str]:
    """How candidate ``b``'s score differs from ``a``'s, in the engine's rank order: a complete evaluation before
    one the cascade stopped, then the rank key (promptpo.records.facts.rank_key, the engine's: success rate, then
    mean steps to the first success, then mean return; a schedule's: steps to the threshold where ``criterion`` is
    "steps", none reached ranking below any, then the area under the curve; else the area, then the final return).
    The first line says which ranks higher and by the first part of the key that differs, so it never disagrees
    with the engine; a change in return never comes first where success decides."""
    key1, key2 = rank_key(first, criterion), rank_key(second, criterion)
    if UNRANKED in (key1, key2):
        return []
    s1, s2 = first["score"], second["score"]
    changes = [c for c in _parts(s1, s2, criterion) if c[1] is not None or c[2] is not None]
    said = [f"{what} {_shown(old, fmt, what)} -> {_shown(new, fmt, what)}"
            + (f" ({new - old:+{fmt}})" if old is not None and new is not None else "") for what, old, new, fmt, _ in changes]
    complete1, complete2 = s1.get("complete", True) is not False, s2.get("complete", True) is not False
    if complete1 != complete2:
        higher, lower = (a, b) if complete1 else (b, a)
        lines = [(f"{higher} ranks higher: it was scored on all its episodes and the cascade stopped {lower}, "
                  "which ranks below every complete candidate whatever its numbers"),
                 "change, in rank order: " + "; ".join(said)]
    elif key1 == key2:
        lines = [f"{a} and {b} rank the same: " + "; ".join(said)]
    else:
        part = next(i for i, (one, two) in enumerate(zip(key1, key2)) if one != two)
        decided = next(i for i, change in enumerate(changes) if change[4] == part)
        lines = [f"{b if key2 > key1 else a} ranks higher, by {said[decided]}"]
        if len(said) > 1:
            lines.append("change, in rank order: " + "; ".join(said))
    for name, record in ((a, first), (b, second)):
        stage = (record.get("evaluation") or {}).get("stage")
        if stage and not stage.get("passed", True):
            lines.append(f"{name}'s numbers are of its first {stage['episodes']} of {stage['of']} episodes only: "
                         f"the cascade stopped it there ({stage['reason']})")
    return lines


STEPS = "env steps to the threshold"


def _parts(s1: dict, s2: dict, criterion: str) -> list[tuple[str, float | None, float | None, str, int | None]]:
    """(what, old, new, format, which part of the rank key it is, None: shown, not ranked), in rank order."""
    def both(name: str) -> tuple:
        return s1.get(name), s2.get(name)

    if "auc" in s1 and "auc" in s2:  # schedules (promptpo.schedule.task.Training.rank_key)
        if criterion == "steps":
            return [(STEPS, *both("steps_to_threshold"), ",.0f", 0), ("area under the curve", *both("auc"), ".1f", 1),
                    ("final return", *both("mean_return"), ".2f", None)]
        return [("area under the curve", *both("auc"), ".1f", 0), ("final return", *both("mean_return"), ".2f", 1)]
    parts = []
    if s1.get("success_rate") is not None or s2.get("success_rate") is not None:
        parts.append(("success rate", *both("success_rate"), ".2f", 0))
        parts.append(("mean steps to the first success", *both("mean_steps_to_success"), ".1f", 1))
    return [*parts, ("mean return", *both("mean_return"), ".2f", 2)]


def _shown(value: float | None, fmt: str, what: str) -> str:
    if value is None:
        return "not reached" if what == STEPS else "none"
    return f"{value:{fmt}}"
