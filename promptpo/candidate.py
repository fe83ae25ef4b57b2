"""A candidate: one answer of the model, its code as checked, and how it did.

What "how it did" is depends on the task kind: an ``Evaluation`` of episodes for a policy, a
``Training`` for a schedule. The engine only needs what ``Result`` promises.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TYPE_CHECKING

from promptpo.outcome import Outcome

if TYPE_CHECKING:  # a candidate only holds one: the CLI's start-up need not load the gate behind extract
    from promptpo.extract import Extracted

UNRANKED = (float("-inf"), float("-inf"), float("-inf"))


def policy_rank_key(success_rate: float | None, mean_steps_to_success: float | None,
                    mean_return: float | None) -> tuple[float, float, float]:
    """The rank key of a policy scored as these numbers say (``evaluation.Evaluation.rank_key``; promptpo.records
    ranks recorded candidates with it): success rate where defined, then sooner success, then mean return."""
    if mean_return is None:
        return UNRANKED
    if success_rate is None:
        return (0.0, 0.0, mean_return)
    return (success_rate, -(mean_steps_to_success or 0.0), mean_return)


def training_rank_key(auc: float | None, steps_to_threshold: int | None, final_return: float | None,
                      criterion: str) -> tuple[float, float]:
    """The rank key of a training scored as these numbers say (``schedule.task.Training.rank_key``; promptpo.records
    ranks recorded schedule candidates with it): steps to the threshold (criterion "steps") or the area under the
    curve, then the area or the final return."""
    if auc is None:
        return UNRANKED
    if criterion == "steps":
        return (-steps_to_threshold if steps_to_threshold is not None else float("-inf"), auc)
    return (auc, final_return or 0.0)


class Result(Protocol):
    """What a task kind's scorer returns for one program."""

    outcome: Outcome
    env_steps: int
    """Simulator steps this result cost."""

    @property
    def ok(self) -> bool: ...

    @property
    def problem(self) -> str:
        """One line saying why it could not be scored, or ''."""

    @property
    def episodes_run(self) -> int:
        """Episodes that took at least one step (what summary.json counts as episodes)."""

    @property
    def complete(self) -> bool:
        """Scored in full (not stopped early by a cascade): only such a result can make a candidate the best."""

    @property
    def mean_return(self) -> float | None:
        """The mean return it scored (a training's: at its last evaluation); None without a score."""

    @property
    def success_rate(self) -> float | None:
        """The share of episodes that succeeded, where the env defines success; else None."""

    def rank_key(self) -> tuple[float, ...]:
        """Higher is better; UNRANKED when the result has no score."""


class CandidateKind(StrEnum):
    """How a candidate came to be (its record holds the value; schedule runs recorded before the engine wrote
    'first' for an initial one)."""

    INITIAL = "initial"  # written from scratch (round 0)
    REFINE = "refine"    # a parent improved on
    REPAIR = "repair"    # a candidate that could not be scored, mended
    OFFLINE = "offline"  # a sample of the offline proposer (CMA-ES, no LLM)
    TUNED = "tuned"      # a parent's constants tuned by CMA-ES (no LLM call)


@dataclass
class Candidate:
    id: str
    """``r03c2``: round 3, candidate 2 of that round."""
    round: int
    index: int
    kind: CandidateKind
    parent: str | None
    llm_call: int | None
    extracted: Extracted
    evaluation: Result | None = None
    tuned: list[dict] | None = None
    """For a tuned candidate: the constants changed from the parent ({line, old, new})."""
    answer: str = ""
    """The start of the answer when no program could be read from it (shown in the repair prompt)."""
    analysis: str = ""
    """What the answer said before its program (promptpo.extract.analysis): the model's own reasoning."""
    skipped: str = ""
    """Why a readable program was not evaluated (a budget ran out, or another candidate reached the target first)."""

    @property
    def code(self) -> str:
        return self.extracted.code

    @property
    def outcome(self) -> Outcome:
        if not self.extracted.ok:
            return self.extracted.outcome
        return self.evaluation.outcome if self.evaluation else Outcome.NOT_EVALUATED

    @property
    def scored(self) -> bool:
        return self.evaluation is not None and self.evaluation.ok

    @property
    def complete(self) -> bool:
        """Scored on every planned episode: only a complete candidate can become the run's best."""
        return self.scored and getattr(self.evaluation, "complete", True)  # a result without stages is complete

    @property
    def needs_repair(self) -> bool:
        return self.outcome.needs_repair

    def rank_key(self) -> tuple[float, ...]:
        return self.evaluation.rank_key() if self.evaluation else UNRANKED

    @property
    def env_steps(self) -> int:
        return self.evaluation.env_steps if self.evaluation else 0

    @property
    def error(self) -> str:
        """One line saying why the candidate could not be scored, or ''."""
        if not self.extracted.ok:
            return self.extracted.message
        return self.evaluation.problem if self.evaluation else self.skipped


def ranked(history: Sequence[Candidate]) -> list[Candidate]:
    """Scored candidates, best first: complete ones by their rank key, then those a cascade stopped early."""
    return sorted((c for c in history if c.scored), key=lambda c: (c.complete, c.rank_key()), reverse=True)


def sample_key(result: Result | None) -> tuple:
    """How a search over samples (CMA-ES) orders one: unscored last, then stopped early, then complete, each
    by its rank key."""
    if result is None or not result.ok:
        return (-1, *UNRANKED)
    return (int(getattr(result, "complete", True)), *result.rank_key())


def fitness_of(keys: Sequence[tuple]) -> list[float]:
    """Keys -> values for a minimizer that only uses their order (CMA-ES): 0 for the best, equal keys equal."""
    place = {key: float(i) for i, key in enumerate(sorted(set(keys), reverse=True))}
    return [place[key] for key in keys]


def candidate_id(round_: int, index: int) -> str:
    return f"r{round_:02d}c{index}"
