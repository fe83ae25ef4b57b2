"""Statistics for comparisons: bootstrap confidence intervals, steps to a target, tests across
seeds, and the HyperScore transform."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from promptpo.envspec import Target

# HyperScore defaults, from the HyperScore papers' parameter guide (beta "gradient" 4-6,
# gamma "bias" -ln 2, kappa "power boost" 1.5-2.5): a transform that stretches the top of the scale.
HYPERSCORE_BETA = 5.0
HYPERSCORE_GAMMA = -math.log(2.0)
HYPERSCORE_KAPPA = 2.0


def bootstrap_ci(values: Sequence[float], confidence: float = 0.95, resamples: int = 9999,
                 seed: int = 0, statistic=np.mean) -> tuple[float, float] | None:
    """BCa bootstrap interval of ``statistic`` (default the mean; scipy.stats.bootstrap); None below 2 values."""
    data = np.asarray(values, dtype=float)
    if data.size < 2:
        return None
    if np.all(data == data[0]):
        value = float(statistic(data))
        return value, value
    return _bootstrap((data,), statistic, False, confidence, resamples, seed)


def sample_std(values, axis: int = -1) -> np.ndarray:
    """The spread across seeds (standard deviation with Bessel's correction)."""
    return np.std(values, axis=axis, ddof=1)


def _bootstrap(data: tuple, statistic, paired: bool, confidence: float, resamples: int,
               seed: int) -> tuple[float, float] | None:
    import warnings

    from scipy import stats

    with warnings.catch_warnings():  # degenerate resamples (e.g. all equal) are handled below
        warnings.simplefilter("ignore")
        for method in ("BCa", "percentile"):  # BCa can fail on tiny samples: fall back
            result = stats.bootstrap(data, statistic, paired=paired, vectorized=True, confidence_level=confidence,
                                     n_resamples=resamples, method=method, random_state=np.random.default_rng(seed))
            low, high = result.confidence_interval
            if np.isfinite(low) and np.isfinite(high):
                return float(low), float(high)
    return None


@dataclass(frozen=True)
class CurvePoint:
    env_steps: int
    episodes: int
    mean_return: float | None
    success_rate: float | None = None
    wall_time_s: float | None = None


def first_reaching(curve: Sequence[CurvePoint], target: Target) -> CurvePoint | None:
    """The first evaluation point that meets the target, or None ("not reached", never a number)."""
    return next((p for p in sorted(curve, key=lambda p: p.env_steps)
                 if target.reached(p.success_rate, p.mean_return)), None)


@dataclass(frozen=True)
class Difference:
    ratio: float | None
    """mean of ``slow`` / mean of ``fast`` (how many times more steps ``slow`` needed)."""
    test: str
    statistic: float | None
    p_value: float | None
    saved: float | None = None
    """1 - mean of ``fast`` / mean of ``slow``: the fraction of ``slow``'s steps ``fast`` did without."""
    saved_ci: tuple[float, float] | None = None
    """95% bootstrap interval of ``saved`` (seeds resampled in pairs when paired)."""


def compare_samples(fast: Sequence[float], slow: Sequence[float], paired: bool) -> Difference:
    """Ratio of means and a test of the difference: paired t-test when the samples are matched
    seed by seed, Welch's t-test otherwise. Needs at least 2 values per side for a test."""
    from scipy import stats

    a, b = np.asarray(fast, dtype=float), np.asarray(slow, dtype=float)
    ratio = float(b.mean() / a.mean()) if a.size and b.size and a.mean() != 0 else None
    saved = float(1.0 - a.mean() / b.mean()) if a.size and b.size and b.mean() != 0 else None
    paired = paired and a.size == b.size
    interval = _saved_ci(a, b, paired) if saved is not None and a.size >= 2 and b.size >= 2 else None
    if paired and a.size >= 2:
        if np.all(a - b == (a - b)[0]):  # zero variance in the differences: the test is undefined
            return Difference(ratio, "paired t-test", None, None, saved, interval)
        result = stats.ttest_rel(b, a)
        return Difference(ratio, "paired t-test", float(result.statistic), float(result.pvalue), saved, interval)
    if a.size >= 2 and b.size >= 2 and (a.std() > 0 or b.std() > 0):
        result = stats.ttest_ind(b, a, equal_var=False)
        return Difference(ratio, "Welch's t-test", float(result.statistic), float(result.pvalue), saved, interval)
    return Difference(ratio, "none (fewer than 2 seeds per side)", None, None, saved, interval)


def _saved_ci(fast: np.ndarray, slow: np.ndarray, paired: bool) -> tuple[float, float] | None:
    def saved(a, b, axis=-1):
        return 1.0 - np.mean(a, axis=axis) / np.mean(b, axis=axis)

    if np.all(fast == fast[0]) and np.all(slow == slow[0]):
        value = float(saved(fast, slow))
        return value, value
    return _bootstrap((fast, slow), saved, paired, 0.95, 9999, 0)


def hyperscore(v: float, beta: float = HYPERSCORE_BETA, gamma: float = HYPERSCORE_GAMMA,
               kappa: float = HYPERSCORE_KAPPA) -> float:
    """``100 * (1 + sigmoid(beta * ln(V) + gamma) ** kappa)`` for a normalized score V in (0, 1]."""
    if not 0.0 < v <= 1.0:
        raise ValueError(f"HyperScore needs a normalized score in (0, 1], got {v}")
    z = beta * math.log(v) + gamma
    return 100.0 * (1.0 + (1.0 / (1.0 + math.exp(-z))) ** kappa)
