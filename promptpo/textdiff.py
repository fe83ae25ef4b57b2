"""A diff of two programs that stays cheap whatever the programs are: `promptpo diff` and the web view.

Programs come from answers of up to 400,000 characters; diffing (and colouring) two of those can take minutes and,
in the web view, would hold every other request. Past :data:`MAX_LINES` lines or :data:`MAX_CHARS` characters a
side, no diff is computed and the caller says why and how to diff the files instead.
"""

from __future__ import annotations

import difflib

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
    one the cascade stopped, then success rate, then mean steps to the first success, then mean return (a
    schedule's: steps to the threshold where ``criterion`` is "steps", the area under the curve, the final return).
    The first line says which ranks higher and by what; a change in return never comes first where success decides."""
    s1, s2 = first.get("score") or {}, second.get("score") or {}
    if not s1 or not s2 or s1.get("mean_return") is None or s2.get("mean_return") is None:
        return []
    changes: list[tuple[str, float, float, str, bool]] = []  # (what, old, new, format, higher is better)
    if "auc" in s1 and "auc" in s2:  # schedules (promptpo.tasks.schedule.Training.rank_key)
        if criterion == "steps" and s1.get("steps_to_threshold") is not None \
                and s2.get("steps_to_threshold") is not None:
            changes.append(("env steps to the threshold", s1["steps_to_threshold"], s2["steps_to_threshold"], ",.0f",
                            False))
        changes.append(("area under the curve", s1["auc"], s2["auc"], ".1f", True))
        changes.append(("final return", s1["mean_return"], s2["mean_return"], ".2f", True))
    elif s1.get("success_rate") is not None and s2.get("success_rate") is not None:
        changes.append(("success rate", s1["success_rate"], s2["success_rate"], ".2f", True))
        if s1.get("mean_steps_to_success") is not None and s2.get("mean_steps_to_success") is not None:
            changes.append(("mean steps to the first success", s1["mean_steps_to_success"],
                            s2["mean_steps_to_success"], ".1f", False))
    if "auc" not in s1 or "auc" not in s2:
        changes.append(("mean return", s1["mean_return"], s2["mean_return"], ".2f", True))
    said = [f"{what} {old:{fmt}} -> {new:{fmt}} ({new - old:+{fmt}})" for what, old, new, fmt, _ in changes]
    complete1, complete2 = s1.get("complete", True) is not False, s2.get("complete", True) is not False
    if complete1 != complete2:
        higher, lower = (a, b) if complete1 else (b, a)
        lines = [f"{higher} ranks higher: it was scored on all its episodes and the cascade stopped {lower}, "
                 "which ranks below every complete candidate whatever its numbers",
                 "change, in rank order: " + "; ".join(said)]
    else:
        decided = next((i for i, (_, old, new, fmt, _) in enumerate(changes) if f"{old:{fmt}}" != f"{new:{fmt}}"),
                       None)
        if decided is None:
            lines = [f"{a} and {b} rank the same: " + "; ".join(said)]
        else:
            _, old, new, _, up = changes[decided]
            higher = b if (new > old) == up else a
            lines = [f"{higher} ranks higher, by {said[decided]}"]
            if len(said) > 1:
                lines.append("change, in rank order: " + "; ".join(said))
    for name, record in ((a, first), (b, second)):
        stage = (record.get("evaluation") or {}).get("stage")
        if stage and not stage.get("passed", True):
            lines.append(f"{name}'s numbers are of its first {stage['episodes']} of {stage['of']} episodes only: "
                         f"the cascade stopped it there ({stage['reason']})")
    return lines
