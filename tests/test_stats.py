"""Statistics: intervals that agree with the tests, steps to target, tests against scipy, HyperScore values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from promptpo.envspec import Target
from promptpo.stats import (CurvePoint, compare_samples, first_reaching, hyperscore, mean_ci,
                            proportion_ci, sample_std, std_ci)


def test_the_spread_across_seeds_has_an_interval_that_is_wide_at_small_n():
    values = [500.0, 500.0, 500.0, 500.0, 59.4]
    low, high = std_ci(values)
    assert sample_std(values) == pytest.approx(np.std(values, ddof=1))
    assert 0.0 < low < sample_std(values) < high
    # three seeds: a bootstrap said [0, sd]; the chi-square interval reaches far above the observed sd
    three = [400.0, 500.0, 312.4]
    assert std_ci(three)[1] > 4 * sample_std(three) and std_ci([7.0]) is None


def test_mean_intervals_agree_with_the_t_test_at_three_seeds():
    values = [180.0, 260.0, 420.0]
    low, high = mean_ci(values)
    for mu in (low - 1e-6, high + 1e-6):  # just outside the interval: the test rejects
        assert scipy_stats.ttest_1samp(values, mu).pvalue < 0.05
    for mu in (low + 1e-6, high - 1e-6):  # just inside: it does not
        assert scipy_stats.ttest_1samp(values, mu).pvalue > 0.05
    assert mean_ci([2.0, 2.0]) == (2.0, 2.0) and mean_ci([1.0]) is None


def test_success_rate_interval_is_exact_not_degenerate():
    low, high = proportion_ci(5, 5)
    assert high == 1.0 and 0.4 < low < 0.6  # Clopper-Pearson: 5/5 does not prove 50/50
    assert proportion_ci(0, 0) is None and proportion_ci(0, 10)[0] == 0.0


def test_steps_saved_and_its_interval():
    fast, slow = [15000.0, 15000.0, 20000.0, 15000.0, 25000.0], [20000.0, 25000.0, 25000.0, 15000.0, 20000.0]
    diff = compare_samples(fast, slow, paired=True)
    assert diff.saved == pytest.approx(1 - np.mean(fast) / np.mean(slow))
    low, high = diff.saved_ci
    assert low < 0 < diff.saved < high < 1  # 14% saved, but the interval holds no saving at all
    clear = compare_samples([2500.0, 2600.0, 2400.0, 2500.0], [20000.0, 25000.0, 21000.0, 24000.0], paired=True)
    assert 0.7 < clear.saved_ci[0] < clear.saved < clear.saved_ci[1] <= 1  # t with 3 dof: wider than a bootstrap
    unpaired = compare_samples(fast[:3], slow, paired=False)
    assert unpaired.test == "Welch's t-test" and unpaired.saved_ci[0] < unpaired.saved < unpaired.saved_ci[1]
    assert compare_samples([3.0, 3.0], [6.0, 6.0], paired=True).saved_ci == (0.5, 0.5)


def test_the_saved_interval_excludes_zero_exactly_when_the_test_rejects():
    rng = np.random.default_rng(3)
    for _ in range(200):  # 3 seeds, as in the case a bootstrap got wrong ([-60%, -7%] with p = 0.198)
        fast = rng.normal(20000, 6000, 3).clip(1000)
        slow = fast + rng.normal(2000, 4000, 3)
        for paired in (True, False):
            diff = compare_samples(list(fast), list(slow), paired)
            excludes = not diff.saved_ci[0] <= 0 <= diff.saved_ci[1]
            assert excludes == (diff.p_value < 0.05), (fast, slow, paired)


def test_first_reaching_returns_the_first_point_or_none():
    curve = [CurvePoint(1000, 10, 100.0), CurvePoint(3000, 25, 480.0), CurvePoint(2000, 20, 476.0)]
    assert first_reaching(curve, Target("mean_return", 475)).env_steps == 2000
    assert first_reaching(curve, Target("mean_return", 499)) is None
    successes = [CurvePoint(500, 1, 10.0, 0.5), CurvePoint(1000, 2, 20.0, 0.9)]
    assert first_reaching(successes, Target("success_rate", 0.9)).episodes == 2


def test_paired_and_welch_tests_match_scipy():
    fast, slow = [2500.0, 5000.0, 2500.0], [10000.0, 30000.0, 20000.0]
    paired = compare_samples(fast, slow, paired=True)
    assert paired.ratio == pytest.approx(np.mean(slow) / np.mean(fast))
    assert paired.p_value == pytest.approx(scipy_stats.ttest_rel(slow, fast).pvalue)
    assert paired.test == "paired t-test"
    welch = compare_samples(fast, slow + [25000.0], paired=False)
    assert welch.p_value == pytest.approx(scipy_stats.ttest_ind(slow + [25000.0], fast, equal_var=False).pvalue)
    assert welch.test == "Welch's t-test"
    assert compare_samples([1.0], [2.0], paired=False).p_value is None


def test_hyperscore_values():
    assert hyperscore(1.0) == pytest.approx(100 * (1 + (1 / 3) ** 2))  # sigmoid(-ln 2) = 1/3
    z = 5 * math.log(0.5) - math.log(2)
    assert hyperscore(0.5) == pytest.approx(100 * (1 + (1 / (1 + math.exp(-z))) ** 2))
    assert hyperscore(0.9, beta=4, gamma=0, kappa=1.5) == pytest.approx(
        100 * (1 + (1 / (1 + math.exp(-4 * math.log(0.9)))) ** 1.5))
    assert hyperscore(0.5) < hyperscore(0.9) < hyperscore(1.0)
    with pytest.raises(ValueError):
        hyperscore(0.0)
