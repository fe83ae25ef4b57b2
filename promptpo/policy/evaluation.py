"""What evaluating a candidate found: each episode's result, the fault that stopped it, a cascade's first stage,
and the Evaluation the engine ranks, records and feeds back (made by promptpo.policy.evaluate.Evaluator)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from promptpo.candidate import UNRANKED, policy_rank_key
from promptpo.outcome import Outcome
from promptpo.policy.digest import EpisodeDigest


@dataclass
class Notes:
    """What one feedback function said about an evaluation's episodes, or why it could not."""

    source: str | None
    """The candidate whose Feedback class ran; None: the evaluated program's own."""
    lines: list[list] = field(default_factory=list)
    """[episode index, note] per episode it summarised."""
    error: str = ""
    traceback: str = ""
    output: str = ""
    """The end of what it printed, when it failed."""
    cut: list[list] = field(default_factory=list)
    """[episode index, step] for episodes whose steps were kept only up to that step (promptpo.policy.trajectory.KEEP_MB)."""
    by_host: bool = False
    """The error was the host's (the sandbox would not start a worker, ...), not the feedback function's."""

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class EpisodeResult:
    index: int
    seed: int
    extras: dict[str, Any]
    episode_return: float = 0.0
    length: int = 0
    success: bool | None = None
    success_step: int | None = None
    terminated: bool = False
    truncated: bool = False
    completed: bool = False
    digest: EpisodeDigest = field(default_factory=EpisodeDigest)
    ended_at_success: bool = False
    """The host ended the episode at its first success (the steps after it could not change the score)."""

    @property
    def ending(self) -> str:
        if not self.completed:
            return "not finished"
        return "ended at success" if self.ended_at_success else "terminated" if self.terminated else "time limit"

    @property
    def steps_to_success(self) -> int:
        """When it first succeeded; an episode without success counts all its steps."""
        return self.success_step if self.success_step is not None else self.length


@dataclass
class Fault:
    outcome: Outcome
    message: str
    traceback: str = ""
    episode: int | None = None
    step: int | None = None


@dataclass
class Stage:
    """A cascade's first stage: the episodes it ran, whether the candidate went on, and why."""

    episodes: int
    of: int
    """Episodes of a full evaluation."""
    passed: bool
    reason: str


@dataclass
class Evaluation:
    outcome: Outcome
    episodes: list[EpisodeResult]
    env_steps: int
    wall_time_s: float
    fault: Fault | None = None
    output: str = ""
    output_bytes: int = 0
    stage: Stage | None = None
    """Set when the evaluation was a cascade (promptpo.policy.cascade): how its first stage went."""
    notes: list[Notes] = field(default_factory=list)
    """What the model's feedback functions said about the episodes (promptpo.policy.summarizer); recorded."""
    kept: list | None = field(default=None, repr=False, compare=False)
    """The steps kept of a tuning sample's episodes (promptpo.policy.trajectory), so the phase's winner can get its feedback
    notes afterwards without playing its episodes again; not recorded."""

    @property
    def complete(self) -> bool:
        """Scored on every planned episode (not stopped after a cascade's first stage)."""
        return self.stage is None or self.stage.passed

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def problem(self) -> str:
        return self.fault.message if self.fault else ""

    @property
    def episodes_run(self) -> int:
        return sum(1 for e in self.episodes if e.length > 0)

    @property
    def returns(self) -> list[float]:
        return [e.episode_return for e in self.episodes if e.completed]

    @property
    def mean_return(self) -> float | None:
        return float(np.mean(self.returns)) if self.returns else None

    @property
    def std_return(self) -> float | None:
        return float(np.std(self.returns)) if self.returns else None

    @property
    def success_rate(self) -> float | None:
        flags = [e.success for e in self.episodes if e.completed and e.success is not None]
        return float(np.mean(flags)) if flags else None

    @property
    def mean_steps_to_success(self) -> float | None:
        """Mean over finished episodes of the step of first success (its length when it never succeeded)."""
        done = [e.steps_to_success for e in self.episodes if e.completed and e.success is not None]
        return float(np.mean(done)) if done else None

    def rank_key(self) -> tuple[float, float, float]:
        """Higher is better: success rate (where defined), then sooner success (fewer mean steps to the first
        success, failed episodes counting their full length), then mean return. Ranking on how soon rather
        than on return keeps an episode ended at its success from ranking below one that went on collecting."""
        if not self.ok:
            return UNRANKED
        return policy_rank_key(self.success_rate, self.mean_steps_to_success, self.mean_return)
