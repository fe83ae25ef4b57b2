"""The configuration of a policy run (`promptpo optimize`): the engine's settings plus the policy's."""

from __future__ import annotations

from dataclasses import dataclass, field

from promptpo.errors import ConfigError
from promptpo.engine.config import MODEL_ENV, NO_MODEL_NOTICE, Budgets, RunConfig, parse_duration
from promptpo.options import option

__all__ = ["MODEL_ENV", "NO_MODEL_NOTICE", "Budgets", "OptimizeConfig", "parse_duration"]


@dataclass
class OptimizeConfig(RunConfig):
    episodes: int = field(default=5, metadata=option("Evaluation episodes per candidate."))
    """Evaluation episodes per candidate, run in lock-step."""
    target: float | None = field(default=None, metadata=option(
        "Stop at this success rate (mean return where the env has no success); default: the env's target."))
    """Stop once the best candidate reaches this (success rate where the env defines success,
    mean return otherwise); default: the environment's own target."""
    tune_constants: bool = field(default=False, metadata=option(
        "After each round, tune the constants the program declares in TUNABLE with CMA-ES (no LLM call): the "
        "higher-ranked of the run's best and the round's best complete program not tuned itself before (a tuned "
        "result may be tuned further)."))
    """After each round, tune the constants the program declares in TUNABLE with CMA-ES (no LLM call)."""
    tune_evals: int = field(default=30, metadata=option(
        "Evaluations per constant-tuning phase (counted against --max-env-steps)."))
    """Evaluations each constant-tuning phase may spend (they count against --max-env-steps)."""
    tune_share: float = field(default=0.5, metadata=option(
        "The most of the run's env steps constant tuning may spend (of --max-env-steps; without it, next to "
        "rounds x candidates x episodes x horizon). 1: no cap."))
    """The most of the run's env steps constant tuning may spend: of --max-env-steps, or without it, next to the
    most the model's candidates could spend (rounds x candidates x episodes x horizon). 1: no cap."""
    full_episodes: bool = field(default=False, metadata=option(
        "Run every episode to its end; by default, where the target is a success rate and success at any step "
        "counts (Meta-World), an episode ends at its first success."))
    """Run every episode to its end even where the run's target is a success rate and success at any step
    counts (Meta-World); by default such episodes end at their first success (promptpo.envspec.ends_at_success)."""
    cascade: int = field(default=2, metadata=option(
        "Episodes of each candidate's first stage: the rest only if they leave it able to beat the best so far. "
        "0: every candidate gets all episodes."))
    """Episodes of a candidate's first stage (promptpo.policy.cascade); the rest only if they leave it able to beat
    the best so far. 0 evaluates every candidate on all its episodes."""
    feedback_fn: bool = field(default=True, metadata=option(
        "Run the answer's own `class Feedback` on its episodes and show its notes in later prompts.", switch=True))
    """Run the program's own ``class Feedback`` on its episodes and show its notes (promptpo.policy.summarizer)."""

    examples: int | None = field(default=None, metadata=option(
        "Solved tasks from the library shown in the first prompt as worked examples (default: 2 when the library "
        "has entries; 0: none)."))
    """Solved tasks from the library shown in the first prompt (None: 2 when the library has entries)."""
    examples_same_task: bool = field(default=False, metadata=option(
        "Let the examples include entries of this env id."))
    """Let the examples include entries of this very env id."""
    library: str | None = field(default=None, metadata=option(
        "Library folder (default $PROMPTPO_LIBRARY, else ~/.local/share/promptpo/library)."))
    """The library folder (promptpo.policy.library; default $PROMPTPO_LIBRARY, else the user's data dir)."""
    add_to_library: bool = field(default=True, metadata=option(
        "Do not add the best program to the library when the run reaches its target.", flag="--no-library"))
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
        if self.tune_constants and self.tune_evals < 2:
            raise ConfigError(f"--tune-evals must be at least 2 with --tune-constants (got {self.tune_evals})",
                              "a CMA-ES generation is at least 2 evaluations; the default is 30")
        if self.cascade < 0:
            raise ConfigError(f"--cascade must be 0 (off) or a number of episodes (got {self.cascade})")
        return self
