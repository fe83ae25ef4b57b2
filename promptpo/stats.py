"""Statistics for comparisons: confidence intervals (Student-t for means across seeds, chi-square for their
spread, Clopper-Pearson for success rates, BCa bootstrap over episodes), steps to a target, tests across
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
                 seed: int = 0) -> tuple[float, float] | None:
    """BCa bootstrap interval of the mean (scipy.stats.bootstrap; percentile where BCa fails on a tiny or
    degenerate sample), for many episodes of one candidate; None below 2 values."""
    import warnings

    from scipy import stats

    data = np.asarray(values, dtype=float)
    if data.size < 2:
        return None
    if np.all(data == data[0]):
        return float(data[0]), float(data[0])
    with warnings.catch_warnings():  # degenerate resamples (e.g. all equal) are handled below
        warnings.simplefilter("ignore")
        for method in ("BCa", "percentile"):
            result = stats.bootstrap((data,), np.mean, vectorized=True, confidence_level=confidence,
                                     n_resamples=resamples, method=method, random_state=np.random.default_rng(seed))
            low, high = result.confidence_interval
            if np.isfinite(low) and np.isfinite(high):
                return float(low), float(high)
    return None


def sample_std(values, axis: int = -1) -> np.ndarray:
    """The spread across seeds (standard deviation with Bessel's correction)."""
    return np.std(values, axis=axis, ddof=1)


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """Student-t interval of the mean (the interval the t-tests of ``compare_samples`` invert, so the two agree
    at any n); None below 2 values."""
    from scipy import stats

    data = np.asarray(values, dtype=float)
    if data.size < 2:
        return None
    mean, sem = float(data.mean()), float(stats.sem(data))
    if sem == 0:
        return mean, mean
    low, high = stats.t.interval(confidence, data.size - 1, loc=mean, scale=sem)
    return float(low), float(high)


def std_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """Chi-square interval of the standard deviation (normal samples): honest, i.e. wide, at small n, where a
    bootstrap of 3 values can only return spreads it has seen."""
    from scipy import stats

    data = np.asarray(values, dtype=float)
    if data.size < 2:
        return None
    s, dof = float(sample_std(data)), data.size - 1
    tail = (1 - confidence) / 2
    return (s * math.sqrt(dof / stats.chi2.ppf(1 - tail, dof)), s * math.sqrt(dof / stats.chi2.ppf(tail, dof)))


def proportion_ci(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Clopper-Pearson (exact) interval of a success rate: 5/5 is [0.48, 1.00], not [1.00, 1.00]."""
    from scipy import stats

    if trials < 1:
        return None
    interval = stats.binomtest(int(successes), int(trials)).proportion_ci(confidence, method="exact")
    return float(interval.low), float(interval.high)


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
    """95% interval of ``saved``: the test's interval of the difference in means over ``slow``'s mean."""


def compare_samples(fast: Sequence[float], slow: Sequence[float], paired: bool) -> Difference:
    """Ratio of means and a test of the difference: paired t-test when the samples are matched
    seed by seed, Welch's t-test otherwise. Needs at least 2 values per side for a test. The interval of
    the fraction saved is the test's 95% interval of the difference divided by ``slow``'s mean, so it
    excludes 0 exactly when p < 0.05."""
    from scipy import stats

    a, b = np.asarray(fast, dtype=float), np.asarray(slow, dtype=float)
    ratio = float(b.mean() / a.mean()) if a.size and b.size and a.mean() != 0 else None
    saved = float(1.0 - a.mean() / b.mean()) if a.size and b.size and b.mean() != 0 else None
    paired = paired and a.size == b.size

    def interval(result) -> tuple[float, float] | None:
        if saved is None:
            return None
        low, high = result.confidence_interval(0.95)  # no method saves more than all of slow's steps: at most 1
        return float(low / b.mean()), min(1.0, float(high / b.mean()))

    if paired and a.size >= 2:
        if np.all(a - b == (a - b)[0]):  # zero variance in the differences: the test is undefined
            return Difference(ratio, "paired t-test", None, None, saved, None if saved is None else (saved, saved))
        result = stats.ttest_rel(b, a)
        return Difference(ratio, "paired t-test", float(result.statistic), float(result.pvalue), saved,
                          interval(result))
    if a.size >= 2 and b.size >= 2 and (a.std() > 0 or b.std() > 0):
        result = stats.ttest_ind(b, a, equal_var=False)
        return Difference(ratio, "Welch's t-test", float(result.statistic), float(result.pvalue), saved,
                          interval(result))
    if a.size >= 2 and b.size >= 2:  # every seed of both sides gave the same value: no spread to test against
        return Difference(ratio, "none (no spread across seeds on either side)", None, None, saved, None)
    return Difference(ratio, f"none (fewer than 2 seeds on a side: {a.size} vs {b.size})", None, None, saved, None)


def hyperscore(v: float, beta: float = HYPERSCORE_BETA, gamma: float = HYPERSCORE_GAMMA,
               kappa: float = HYPERSCORE_KAPPA) -> float:
    """``100 * (1 + sigmoid(beta * ln(V) + gamma) ** kappa)`` for a normalized score V in (0, 1]."""
    if not 0.0 < v <= 1.0:
        raise ValueError(f"HyperScore needs a normalized score in (0, 1], got {v}")
    z = beta * math.log(v) + gamma
    return 100.0 * (1.0 + (1.0 / (1.0 + math.exp(-z))) ** kappa)
