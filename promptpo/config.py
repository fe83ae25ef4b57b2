"""The configuration of a policy run (`promptpo optimize`): the engine's settings plus the policy's."""

from __future__ import annotations

from dataclasses import dataclass

from promptpo.engine.config import MODEL_ENV, NO_MODEL_NOTICE, Budgets, RunConfig, parse_duration

__all__ = ["MODEL_ENV", "NO_MODEL_NOTICE", "Budgets", "OptimizeConfig", "parse_duration"]


@dataclass
class OptimizeConfig(RunConfig):
    episodes: int = 5
    """Evaluation episodes per candidate, run in lock-step."""
    target: float | None = None
    """Stop once the best candidate reaches this (success rate where the env defines success,
    mean return otherwise); default: the environment's own target."""
    tune_constants: bool = False
    """After each round, tune the best program's numeric constants with CMA-ES (no LLM call)."""
    tune_evals: int = 30
    """Evaluations each constant-tuning phase may spend (they count against --max-env-steps)."""

    POSITIVE = ("rounds", "candidates", "episodes", "prompt_budget", "tune_evals")
