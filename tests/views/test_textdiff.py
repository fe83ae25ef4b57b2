"""promptpo.views.textdiff: the score change `promptpo diff` prints, in the engine's rank order."""

from __future__ import annotations

from promptpo.views.textdiff import score_change


def record(success: float, steps: float, mean_return: float, stage: dict | None = None) -> dict:
    return {"outcome": "ok", "score": {"mean_return": mean_return, "std_return": 1.0, "success_rate": success,
                      "mean_steps_to_success": steps, "complete": stage is None or stage["passed"]},
            "evaluation": {"stage": stage}}


def test_success_lost_is_said_before_return_gained():
    """A reach candidate went from success 1.00 to 0.00 (stopped after 2 episodes) and diff said
    "+1704.43 mean return" and nothing else."""
    solved = record(1.0, 60.0, 189.78)
    stopped = record(0.0, 500.0, 1894.21, {"episodes": 2, "of": 10, "passed": False,
                                           "reason": "0/2 successes in the first 2 episodes"})
    lines = score_change("r01c0", solved, "r02c1", stopped)
    assert lines[0].startswith("r01c0 ranks higher") and "cascade stopped r02c1" in lines[0]
    assert lines[1].index("success rate 1.00 -> 0.00 (-1.00)") < lines[1].index("mean return 189.78 -> 1894.21")
    assert "r02c1's numbers are of its first 2 of 10 episodes only" in lines[-1]


def test_the_first_key_that_differs_decides():
    assert score_change("a", record(1.0, 80.0, 300.0), "b", record(1.0, 40.0, 100.0))[0] == (
        "b ranks higher, by mean steps to the first success 80.0 -> 40.0 (-40.0)")
    assert score_change("a", record(0.5, 300.0, 10.0), "b", record(0.2, 450.0, 900.0))[0] == (
        "a ranks higher, by success rate 0.50 -> 0.20 (-0.30)")
    returns_only = {"outcome": "ok", "score": {"mean_return": 5.0, "std_return": 0.0, "success_rate": None}}
    assert score_change("a", returns_only, "b", {"outcome": "ok", "score": {**returns_only["score"], "mean_return": 7.5}}) == [
        "b ranks higher, by mean return 5.00 -> 7.50 (+2.50)"]
    assert score_change("a", {"score": None, "outcome": "crashed"}, "b", record(1.0, 1.0, 1.0)) == []


def test_schedules_rank_by_their_own_key():
    def schedule(auc: float, final: float, steps: int | None) -> dict:
        return {"outcome": "ok", "score": {"auc": auc, "mean_return": final, "std_return": 0.0, "success_rate": None,
                          "steps_to_threshold": steps}}

    slow, fast = schedule(120.0, 500.0, 40_000), schedule(150.0, 300.0, 20_000)
    assert score_change("a", slow, "b", fast)[0] == "b ranks higher, by area under the curve 120.0 -> 150.0 (+30.0)"
    assert score_change("a", slow, "b", fast, "steps")[0] == (
        "b ranks higher, by env steps to the threshold 40,000 -> 20,000 (-20,000)")


def test_a_schedule_that_never_reached_the_threshold_ranks_below_one_that_did():
    """--criterion steps: the engine ranks a schedule with no steps to the threshold as -inf whatever its area;
    diff skipped the steps when either side had none and said the one with the larger area ranked higher."""
    def schedule(auc: float, steps: int | None) -> dict:
        return {"outcome": "ok", "score": {"auc": auc, "mean_return": 100.0, "std_return": 0.0, "success_rate": None,
                                           "steps_to_threshold": steps}}

    reached, missed = schedule(100.0, 5000), schedule(200.0, None)
    assert score_change("a", reached, "b", missed, "steps")[0] == (
        "a ranks higher, by env steps to the threshold 5,000 -> not reached")
    assert score_change("b", missed, "a", reached, "steps")[0] == (
        "a ranks higher, by env steps to the threshold not reached -> 5,000")
    assert score_change("a", reached, "b", missed)[0] == (  # by area, the default criterion
        "b ranks higher, by area under the curve 100.0 -> 200.0 (+100.0)")
