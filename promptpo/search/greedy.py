"""Greedy refinement: slot k of a round refines the k-th best candidate so far (cycling), for diversity.
Slot 0 refines the run's best (fully evaluated); the others rank by score, a candidate a cascade stopped early by
the episodes it ran: one stopped at 900 is a better parent than a complete one at 50."""

from __future__ import annotations

from collections.abc import Sequence

from promptpo.candidate import Candidate, ranked


class Greedy:
    name = "greedy"

    def parent(self, history: Sequence[Candidate], round_: int, slot: int) -> Candidate | None:
        """The candidate slot ``slot`` refines, or None to write from scratch (round 0, nothing scored yet)."""
        order = ranked(history)
        if round_ == 0 or not order:
            return None
        order = [order[0], *sorted(order[1:], key=lambda c: c.rank_key(), reverse=True)]
        return order[slot % len(order)]

    def inspirations(self, history: Sequence[Candidate], round_: int, slot: int,
                     parent: Candidate | None) -> list[Candidate]:
        return []  # the refinement prompt's history shows the best ones anyway

    def record(self, history: Sequence[Candidate], round_: int) -> dict | None:
        return None
