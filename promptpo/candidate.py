"""A candidate: one answer of the model, its code as checked, and how it did."""

from __future__ import annotations

from dataclasses import dataclass

from promptpo.evaluate import Evaluation
from promptpo.extract import Extracted
from promptpo.outcome import Outcome


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
    evaluation: Evaluation | None = None
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
        return self.evaluation.rank_key() if self.evaluation else (float("-inf"), float("-inf"))

    @property
    def env_steps(self) -> int:
        return self.evaluation.env_steps if self.evaluation else 0

    @property
    def error(self) -> str:
        """One line saying why the candidate could not be scored, or ''."""
        if not self.extracted.ok:
            return self.extracted.message
        if self.evaluation and self.evaluation.fault:
            return self.evaluation.fault.message
        return ""


def candidate_id(round_: int, index: int) -> str:
    return f"r{round_:02d}c{index}"
