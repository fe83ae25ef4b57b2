"""Greedy refinement: slot k of a round refines the k-th best candidate so far (cycling), for diversity."""

from __future__ import annotations

from collections.abc import Sequence

from promptpo.candidate import Candidate


class Greedy:
    name = "greedy"

    def parent(self, history: Sequence[Candidate], round_: int, slot: int) -> Candidate | None:
        """The candidate slot ``slot`` refines, or None to write from scratch (round 0, nothing scored yet)."""
        ranked = sorted((c for c in history if c.scored), key=lambda c: c.rank_key(), reverse=True)
        if round_ == 0 or not ranked:
            return None
        return ranked[slot % len(ranked)]
