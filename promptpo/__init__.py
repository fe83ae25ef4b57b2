"""promptpo: a large language model as a policy optimizer for reinforcement learning.

    >>> import promptpo
    >>> result = promptpo.optimize("gymnasium/CartPole-v1", model="openai/gpt-4o", rounds=3)
    >>> result.best_path, result.score
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from promptpo.api import RunResult


def optimize(env: str, model: str | None = None, **options: Any) -> RunResult:
    """See :func:`promptpo.api.optimize` (imported lazily: simulators and LLM clients are slow to load)."""
    from promptpo.api import optimize as _optimize

    return _optimize(env, model, **options)


def load_policy(path):
    """Load a policy file written by `promptpo export` (or best.py): ``reset()``, then ``act(obs)``.

    The code runs in this process, outside any sandbox: load only files you have audited."""
    from promptpo.export import load_policy as _load

    return _load(path)


__all__ = ["load_policy", "optimize", "__version__"]
