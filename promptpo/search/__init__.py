"""The search side: how the engine picks the parents of the next round's candidates (greedy: the k-th best; or
islands), and the proposer that is not a model (``--model offline``: CMA-ES over a program's constants)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptpo.errors import ConfigError
from promptpo.search.greedy import Greedy
from promptpo.search.islands import Islands

if TYPE_CHECKING:
    from promptpo.llm.base import Backend, GenParams

SEARCHES = ("greedy", "islands")
OFFLINE = "offline"


def make_proposer(model: str, params: GenParams, selection: str = "weighted", seed: int = 0) -> Backend:
    """What answers a run's calls: the offline proposer for ``offline``; a model backend (promptpo.llm.make_backend)
    for any other model string, or several joined by commas (a mixture, which the offline proposer never joins)."""
    model = model.strip()
    if model == OFFLINE:
        from promptpo.search.offline import OfflineProposer

        return OfflineProposer()
    from promptpo.llm import make_backend
    from promptpo.llm.mixture import split_models

    if "," in model and any(name == OFFLINE for name, _ in split_models(model)):
        raise ConfigError("the offline proposer cannot be mixed with models", "give --model offline alone")
    return make_backend(model, params, selection, seed)


__all__ = ["OFFLINE", "SEARCHES", "Greedy", "Islands", "make_proposer"]
