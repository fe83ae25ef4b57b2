"""A candidate: one answer of the model, its code as checked, and how it did.

What "how it did" is depends on the task kind: an ``Evaluation`` of episodes for a policy, a
``Training`` for a schedule. The engine only needs what ``Result`` promises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from promptpo.extract import Extracted
from promptpo.outcome import Outcome

UNRANKED = (float("-inf"), float("-inf"))


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

    def rank_key(self) -> tuple[float, float]:
        """Higher is better; UNRANKED when the result has no score."""


@dataclass
class Candidate:
    id: str
    """``r03c2``: round 3, candidate 2 of that round."""
    round: int
    index: int
    kind: str
    """initial, refine, repair, offline (a CMA-ES sample) or tuned (constants tuned, no LLM)"""
    parent: str | None
    llm_call: int | None
    extracted: Extracted
    evaluation: Result | None = None
    tuned: list[dict] | None = None
    """For kind 'tuned': the constants changed from the parent ({line, old, new})."""

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
    def needs_repair(self) -> bool:
        return self.outcome.needs_repair

    def rank_key(self) -> tuple[float, float]:
        return self.evaluation.rank_key() if self.evaluation else UNRANKED

    @property
    def env_steps(self) -> int:
        return self.evaluation.env_steps if self.evaluation else 0

    @property
    def error(self) -> str:
        """One line saying why the candidate could not be scored, or ''."""
        if not self.extracted.ok:
            return self.extracted.message
        return self.evaluation.problem if self.evaluation else ""


def candidate_id(round_: int, index: int) -> str:
    return f"r{round_:02d}c{index}"
