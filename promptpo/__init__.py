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


def load_policy(source, env: str | None = None, **options: Any):
    """A recorded policy (best.py, an export, a run folder or run id) with ``reset()`` and ``act(obs)``.

    It runs in the sandbox (its own worker; ``close()`` ends it). ``trusted=True`` loads it into this
    process instead, and only code the gate passes. A fine-tuning's run gives its result: the base sandboxed (even
    with ``trusted=True``), the learner's correction in this process. See :func:`promptpo.policy.loader.load_policy`
    and :func:`promptpo.finetune.policy.load_policy`."""
    from promptpo.finetune.policy import load_policy as _load

    return _load(source, env, **options)


__all__ = ["load_policy", "optimize", "__version__"]
