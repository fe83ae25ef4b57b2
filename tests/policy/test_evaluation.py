"""What an evaluation found (promptpo.policy.evaluation): episode endings, the summary numbers over finished
episodes only, completeness after a cascade's first stage, and the rank key's order."""

from __future__ import annotations

import pytest

from promptpo.candidate import UNRANKED
from promptpo.outcome import Outcome
from promptpo.policy.evaluation import EpisodeResult, Evaluation, Fault, Stage


def episode(ret: float = 0.0, length: int = 10, success: bool | None = None, success_step: int | None = None,
            completed: bool = True, **flags) -> EpisodeResult:
    return EpisodeResult(0, 0, {}, episode_return=ret, length=length, success=success, success_step=success_step,
                         completed=completed, **flags)


def evaluation(*episodes: EpisodeResult, outcome: Outcome = Outcome.OK, **fields) -> Evaluation:
    return Evaluation(outcome, list(episodes), sum(e.length for e in episodes), 0.1, **fields)


def test_an_episode_says_how_it_ended():
    assert episode(completed=False).ending == "not finished"
    assert episode(terminated=True).ending == "terminated"
    assert episode(truncated=True).ending == "time limit"
    assert episode(ended_at_success=True, terminated=False).ending == "ended at success"


def test_steps_to_success_is_the_first_success_else_every_step():
    assert episode(length=50, success=True, success_step=12).steps_to_success == 12
    assert episode(length=50, success=False).steps_to_success == 50


def test_summary_numbers_count_finished_episodes_only():
    result = evaluation(episode(10.0, success=True, success_step=4), episode(30.0, success=False),
                        episode(99.0, length=3, success=True, success_step=1, completed=False))
    assert result.returns == [10.0, 30.0]
    assert result.mean_return == pytest.approx(20.0) and result.std_return == pytest.approx(10.0)
    assert result.success_rate == pytest.approx(0.5)
    assert result.mean_steps_to_success == pytest.approx((4 + 10) / 2)
    assert result.episodes_run == 3  # the unfinished one played steps too


def test_without_finished_episodes_or_success_the_numbers_are_none():
    crashed = evaluation(episode(completed=False, length=0), outcome=Outcome.CRASHED,
                         fault=Fault(Outcome.CRASHED, "boom", episode=0, step=0))
    assert crashed.mean_return is crashed.std_return is crashed.success_rate is None
    assert crashed.episodes_run == 0 and not crashed.ok and crashed.problem == "boom"
    assert evaluation(episode(5.0)).success_rate is None  # the env defines no success
    assert evaluation(episode(5.0)).problem == ""


def test_a_cascade_stopped_after_its_first_stage_is_not_complete():
    assert evaluation(episode()).complete
    assert evaluation(episode(), stage=Stage(2, 10, passed=True, reason="")).complete
    assert not evaluation(episode(), stage=Stage(2, 10, passed=False, reason="below the bar")).complete


def test_rank_key_orders_success_then_sooner_then_return():
    sure = evaluation(episode(1.0, success=True, success_step=40), episode(1.0, success=True, success_step=40))
    half = evaluation(episode(500.0, success=True, success_step=5), episode(500.0, success=False))
    sooner = evaluation(episode(0.5, success=True, success_step=10), episode(0.5, success=True, success_step=10))
    richer = evaluation(episode(2.0, success=True, success_step=40), episode(2.0, success=True, success_step=40))
    assert sooner.rank_key() > richer.rank_key() > sure.rank_key() > half.rank_key()
    assert evaluation(episode(9.0)).rank_key() > evaluation(episode(8.0)).rank_key()  # return alone, no success
    failed = evaluation(episode(1e9), outcome=Outcome.TIMEOUT)
    assert failed.rank_key() == UNRANKED < half.rank_key()
