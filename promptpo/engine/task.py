"""A task kind: what a run searches over, plugged into the one engine.

The engine proposes, evaluates, records, selects and stops; a task kind says what the program's
entry point is, how a program is scored, what the model is shown and what the records hold. Its hooks
ask the engine for no more than a ``RunContext`` (promptpo.engine.context).
Adding a kind (a feedback function, a reward function) is one subclass of TaskKind, its registration
(a promptpo.engine.kinds.Kind in its package's kind.py: its config, checks and label) and its templates.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from typing import Any

from promptpo.candidate import Candidate, Result
from promptpo.engine.context import RunContext
from promptpo.envspec import Target
from promptpo.isolation.base import Limits


class TaskKind(ABC):
    """The hooks that take a ``run`` get the context of the run it is part of (the Engine driving it)."""

    name: str = "task"
    """What run.json calls this kind of run (its ``kind``)."""
    method: str = ""
    """How comparisons group the run (set by its Kind once the backend is known)."""
    parallel_evaluations: int = 1
    """Evaluations it can run side by side (the engine runs at most --workers at once)."""
    env_id: str = ""
    entry: str = "policy"
    """What the program must define: 'policy' (a Policy class or an act function) or a function's name."""
    prompts: Any
    """A promptpo.prompting.PromptBook: the kind's first, refine and repair prompts."""
    target: Target | None = None

    @abstractmethod
    def worst_case_steps(self) -> int:
        """The most env steps one evaluation can take (reserved against --max-env-steps before it starts)."""

    @abstractmethod
    def evaluate(self, code: str, limits: Limits, progress: Any, best: Result | None = None) -> Result:
        """Score ``code``; ``progress(steps_so_far, note)`` may be called while it runs. ``best`` is the best
        result so far, for a kind that stops a clearly worse candidate early (policies: promptpo.policy.cascade)."""

    def planned_steps(self) -> int | None:
        """The env steps a run to the end would take, when that is known (shown as progress)."""
        return None

    def evaluation_key(self, code: str) -> str:
        """What identifies an evaluation for reuse on resume: the code and what it is scored on."""
        return hashlib.sha256(json.dumps([code, self.evaluation_plan()], sort_keys=True,
                                         default=str).encode()).hexdigest()

    @abstractmethod
    def evaluation_plan(self) -> Any:
        """The JSON-able description of what every candidate is scored on (episodes, seeds, steps)."""

    @abstractmethod
    def result_from_record(self, record: dict) -> Result | None:
        """The Result a candidate record holds (the inverse of ``record_fields``)."""

    @abstractmethod
    def record_fields(self, candidate: Candidate) -> dict:
        """The kind's part of candidates/<id>.json (score, evaluation, ...)."""

    @abstractmethod
    def score_line(self, result: Result) -> str:
        """One line for the display and best.py: the score, or why there is none."""

    @abstractmethod
    def best_file(self, candidate: Candidate, run_id: str) -> str:
        """best.py: the best program with a header saying what it is."""

    @abstractmethod
    def summary_fields(self, best: Candidate | None) -> dict:
        """The kind's part of summary.json."""

    def reached(self, best: Candidate | None) -> bool:
        """Whether the best candidate meets the run's target."""
        return False

    def run_fields(self) -> dict:
        """The kind's part of run.json."""
        return {}

    def drive(self, run: RunContext) -> None:
        """The run itself: rounds of candidates (a kind that is not round-based replaces this)."""
        run.search()

    def after_round(self, run: RunContext, round_: int) -> None:
        """Work between rounds that asks no model (policies: constant tuning)."""

    def progress_note(self, run: RunContext, round_: int) -> str:
        """What the kind will still do that a refinement prompt should say (policies: what tuning will still do)."""
        return ""

    def recorded(self, run: RunContext, candidate: Candidate) -> None:
        """Called after every candidate is recorded (schedules: the run's learning curve)."""

    def close(self) -> None:
        """Release simulators and sandboxes."""
