"""promptpo.search.greedy: slot k of a round refines the k-th best candidate so far, cycling."""

from __future__ import annotations

from dataclasses import dataclass

from promptpo.candidate import UNRANKED, Candidate, CandidateKind
from promptpo.extract import Extracted
from promptpo.outcome import Outcome
from promptpo.search.greedy import Greedy


@dataclass
class Scored:
    """A result scored ``value`` (None: could not be scored); ``complete`` False: a cascade stopped it early."""

    value: float | None
    complete: bool = True
    env_steps: int = 10

    @property
    def ok(self) -> bool:
        return self.value is not None

    @property
    def outcome(self) -> Outcome:
        return Outcome.OK if self.ok else Outcome.CRASHED

    def rank_key(self) -> tuple[float, ...]:
        return (self.value,) if self.ok else UNRANKED


def candidate(cid: str, value: float | None, complete: bool = True, evaluated: bool = True) -> Candidate:
    return Candidate(cid, 0, 0, CandidateKind.INITIAL, None, 1, Extracted("def act(obs): return 0", Outcome.OK),
                     Scored(value, complete) if evaluated else None)


def test_round_0_writes_from_scratch():
    history = [candidate("a", 5.0)]
    assert Greedy().parent(history, 0, 0) is None and Greedy().parent(history, 0, 3) is None


def test_nothing_scored_yet_writes_from_scratch():
    history = [candidate("crashed", None), candidate("not_run", None, evaluated=False)]
    assert Greedy().parent(history, 2, 0) is None
    assert Greedy().parent([], 1, 0) is None


def test_slot_k_refines_the_k_th_best_cycling_and_never_an_unscored_one():
    history = [candidate("mid", 2.0), candidate("crashed", None), candidate("best", 9.0), candidate("low", -1.0)]
    parents = [Greedy().parent(history, 1, slot).id for slot in range(5)]
    assert parents == ["best", "mid", "low", "best", "mid"]


def test_slot_0_refines_the_runs_best_and_a_stopped_candidate_ranks_by_its_score_after_it():
    """The run's best is complete (slot 0); a candidate the cascade stopped at 100 on its first episodes is a better
    parent for slot 1 than a complete one at 1 (it used to come last, whatever it scored)."""
    history = [candidate("early_high", 100.0, complete=False), candidate("complete_low", 1.0),
               candidate("complete_mid", 3.0), candidate("early_low", -5.0, complete=False)]
    parents = [Greedy().parent(history, 1, slot).id for slot in range(4)]
    assert parents == ["complete_mid", "early_high", "complete_low", "early_low"]
    stopped_only = [candidate("a", 2.0, complete=False), candidate("b", 7.0, complete=False)]
    assert [Greedy().parent(stopped_only, 1, slot).id for slot in range(2)] == ["b", "a"]


def test_greedy_adds_no_inspirations_and_records_no_database():
    history = [candidate("a", 1.0), candidate("b", 2.0)]
    greedy = Greedy()
    assert greedy.name == "greedy"
    assert greedy.inspirations(history, 1, 0, history[1]) == []
    assert greedy.record(history, 1) is None
