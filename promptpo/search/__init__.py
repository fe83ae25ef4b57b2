"""How the engine picks the parents of the next round's candidates."""

from promptpo.search.greedy import Greedy

__all__ = ["Greedy"]
