"""The configuration of a policy run (`promptpo optimize`): the engine's settings plus the policy's."""

from __future__ import annotations

from dataclasses import dataclass, field

from promptpo.errors import ConfigError
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
    """After each round, tune the constants the program declares in TUNABLE with CMA-ES (no LLM call)."""
    tune_evals: int = 30
    """Evaluations each constant-tuning phase may spend (they count against --max-env-steps)."""
    tune_share: float = 0.5
    """The most of the run's env steps constant tuning may spend: of --max-env-steps, or without it, next to the
    most the model's candidates could spend (rounds x candidates x episodes x horizon). 1: no cap."""
    full_episodes: bool = False
    """Run every episode to its end even where the run's target is a success rate and success at any step
    counts (Meta-World); by default such episodes end at their first success (promptpo.envspec.ends_at_success)."""
    cascade: int = 2
    """Episodes of a candidate's first stage (promptpo.policy.cascade); the rest only if they leave it able to beat
    the best so far. 0 evaluates every candidate on all its episodes."""
    feedback_fn: bool = True
    """Run the program's own ``class Feedback`` on its episodes and show its notes (promptpo.policy.summarizer)."""

    examples: int | None = None
    """Solved tasks from the library shown in the first prompt (None: 2 when the library has entries)."""
    examples_same_task: bool = False
    """Let the examples include entries of this very env id."""
    library: str | None = None
    """The library folder (promptpo.policy.library; default $PROMPTPO_LIBRARY, else the user's data dir)."""
    add_to_library: bool = True
    """Add the best program to the library when the run reaches its target."""
    shown_examples: list = field(default_factory=list)
    """The library entries the first prompt shows, copied when the run starts (so resume shows the same)."""

    POSITIVE = ("rounds", "candidates", "episodes", "prompt_budget", "tune_evals")
    BEFORE = {**RunConfig.BEFORE, "full_episodes": True, "cascade": 0, "tune_share": 1.0, "feedback_fn": False}
    """What a run recorded before these fields existed did (resumed as it ran)."""

    def validate(self) -> OptimizeConfig:
        super().validate()
        if not 0 < self.tune_share <= 1:
            raise ConfigError(f"--tune-share must be a fraction in (0, 1] (got {self.tune_share:g})")
        if self.examples is not None and self.examples < 0:
            raise ConfigError(f"--examples must be 0 or more (got {self.examples})")
        if self.cascade < 0:
            raise ConfigError(f"--cascade must be 0 (off) or a number of episodes (got {self.cascade})")
        return self
