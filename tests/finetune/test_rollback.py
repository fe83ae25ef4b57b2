"""promptpo.finetune.rollback.fell: a fall is a fraction of the best's |return| (at least 1) and beyond noise."""

from __future__ import annotations

import pytest

from promptpo.finetune.rollback import fell, recorded_spread

STEADY = [0.0, 0.1, -0.1, 0.05, -0.05]  # a best of 0 (a sparse task, or a return that sums to nothing)
COLLAPSED = [-500.0, -510.0, -490.0, -505.0, -495.0]


@pytest.mark.parametrize("best_returns", [STEADY, [0.0] * 5, (0.0, 5)])
def test_never_means_never_even_when_the_best_is_zero(best_returns):
    """--rollback 1e9 is 'never' in the help: a fraction of a best of 0 was 0, so any fall beyond noise rolled back."""
    assert not fell(COLLAPSED, 0.0, 1e9, best_returns)
    assert fell(COLLAPSED, 0.0, 0.1, best_returns)  # the default still restores after a collapse


@pytest.mark.parametrize("best", [0.0, 0.4, -0.4])
def test_a_fall_smaller_than_the_fraction_of_one_is_not_a_fall(best):
    near = [best - 0.05] * 5
    assert not fell(near, best, 0.1, [best] * 5)
    assert fell([best - 0.2] * 5, best, 0.1, [best] * 5)


def test_large_returns_fall_by_their_own_fraction():
    best = [2000.0, 2010.0, 1990.0, 2005.0, 1995.0]
    assert not fell([1850.0, 1860.0, 1840.0, 1855.0, 1845.0], 2000.0, 0.1, best)  # 7.5% below: kept
    assert fell([1700.0, 1710.0, 1690.0, 1705.0, 1695.0], 2000.0, 0.1, best)  # 15% below and beyond noise


@pytest.mark.parametrize("std", ["1" + "0" * 400, "true", "NaN", "Infinity", "\"2.0\"", "[2.0]"])
def test_a_changed_eval_event_leaves_the_means_to_decide(tmp_path, std):
    """An older checkpoint's best spread comes from its eval event: one whose std is no number a float holds (a
    400-digit integer overflowed math.isfinite) counts as none, without an error."""
    events = tmp_path / "events.jsonl"
    events.write_text('{"event": "eval", "env_steps": 500, "std_return": %s}\n' % std)
    assert recorded_spread(events, 500, 10) == (0.0, 0)
    events.write_text('{"event": "eval", "env_steps": 500, "std_return": 3.0}\n')
    assert recorded_spread(events, 500, 10) == pytest.approx((3.0 * (10 / 9) ** 0.5, 10))
