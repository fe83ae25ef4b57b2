"""When an evaluation is a fall that restores the best actor, and when it is only an evaluation's noise."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from promptpo.records.folder import finite

ROLLBACK_P = 0.05
"""An evaluation below the best by more than --rollback restores the best actor only when a one-sided Welch t-test
against the best's episodes gives p below this (a fragile gait's spread is not a fall)."""


def fell(returns: list[float], best: float, rollback: float, before: list[float] | tuple[float, int]) -> bool:
    """Worse than the best by more than ``rollback`` of its |return| (at least 1: a best of 0 has no fraction to fall
    by, and --rollback 1e9 must still mean never), and beyond noise: a base whose gait falls in
    some episodes scores 1,443 ± 606 on ten, and an actor that changes nothing that matters draws another ten
    outcomes; a one-sided Welch t-test against the best's own episodes (``before``: their returns, or their standard
    deviation and count) tells a fall from that. Welch, not paired: the episodes start alike, but a changed gait
    falls in other ones."""
    mean = float(np.mean(returns))
    if not mean < best - rollback * max(abs(best), 1.0):  # a NaN falls through here, as before
        return False
    spread, n = before if isinstance(before, tuple) else (_std(before), len(before))
    std = _std(returns)
    if n < 2 or len(returns) < 2 or (spread == 0 and std == 0):  # nothing to tell noise by: the means tell it
        return True
    from scipy import stats

    p_value = float(stats.ttest_ind_from_stats(mean, std, len(returns), best, spread, n, equal_var=False,
                                               alternative="less").pvalue)
    return not p_value >= ROLLBACK_P  # NaN (non-finite returns) counts as a fall


def recorded_spread(events: Path, env_steps: int, episodes: int) -> tuple[float, int]:
    """The best evaluation's standard deviation (ddof 1) and episodes from its eval event, for a checkpoint written
    before the state kept its returns; (0, 0) when none is found: the means decide, as they did."""
    try:
        lines = events.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:  # missing, or no file: the means decide
        lines = []
    for line in lines:
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):  # a line a kill cut short, or one changed by hand
            continue
        if not isinstance(event, dict):
            continue
        std = event.get("std_return")
        if (event.get("event") == "eval" and event.get("env_steps") == env_steps and episodes > 1
                and finite(std)):  # a changed record: the means decide
            return float(std) * math.sqrt(episodes / (episodes - 1)), episodes
    return 0.0, 0


def _std(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
