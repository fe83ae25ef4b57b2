"""How the engine picks the parents of the next round's candidates: greedy (the k-th best) or islands."""

from promptpo.search.greedy import Greedy
from promptpo.search.islands import Islands

SEARCHES = ("greedy", "islands")

__all__ = ["SEARCHES", "Greedy", "Islands"]
