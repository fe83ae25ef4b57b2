"""What a task kind may ask of the engine that runs it: the ``RunContext`` its hooks are handed.

A kind's hooks (``drive``, ``after_round``, ``progress_note``, ``recorded``) get the run's context and use only
these members; promptpo.engine.run.Engine provides them. So a kind that is not round-based (online steering) or
works between rounds (constant tuning) still spends through the engine's budgets, counts and records, and never
reaches into the engine's state to change it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from promptpo.candidate import Candidate, Result
from promptpo.engine.config import RunConfig
from promptpo.engine.state import RunState
from promptpo.llm.base import Completion
from promptpo.prompting import Prompt

Progress = Callable[..., None]
"""``progress(steps, detail="")``: how far the work going on now has come, for the display."""


@runtime_checkable
class RunContext(Protocol):
    """The engine as a task kind sees it."""

    # -- what the run is and has done (read, never written) -------------------------------
    @property
    def config(self) -> RunConfig:
        """The run's configuration, its budgets included."""

    @property
    def state(self) -> RunState:
        """What the run has spent and found so far (counters, the best)."""

    @property
    def history(self) -> list[Candidate]:
        """The candidates taken in so far, in slot order."""

    @property
    def steps_taken(self) -> int:
        """Env steps spent up to the candidates taken in so far, in slot order."""

    # -- asking and scoring, within the budgets -------------------------------------------
    def search(self) -> None:
        """The engine's rounds of candidates (what a round-based kind's ``drive`` does)."""

    def ask(self, prompt: Prompt, round_: int) -> tuple[Completion, int, bool]:
        """One answer for ``prompt``, recorded: (completion, call number, whether it was recorded before a crash)."""

    def check_budgets(self, llm: bool = True) -> None:
        """Raise StopRun unless one more evaluation (and with ``llm`` one more call) fits the budgets."""

    def evaluate(self, code: str, note: str, tuning: bool = False) -> Result:
        """Score ``code`` within the budgets and count its steps (``tuning``: as a tuning sample, kept for resume)."""

    def spent(self, env_steps: int) -> None:
        """Count ``env_steps`` the kind spent itself, outside ``evaluate`` (online: its one training)."""

    # -- candidates made outside a wave ---------------------------------------------------
    def new_slot(self, round_: int) -> tuple[str, int]:
        """The id and index of the next candidate of ``round_``."""

    def record(self, candidate: Candidate) -> None:
        """Save a candidate made outside a wave (a tuned one) and take it into the run."""

    # -- saying what happens ----------------------------------------------------------------
    def tell(self, kind: str, note: str) -> None:
        """What is happening now, for the display."""

    def progress_reporter(self, note: str) -> Progress:
        """A ``progress`` for work that reports as it goes (a training)."""

    def in_flight(self, env_steps: int) -> None:
        """Env steps of the work going on now, shown before they are counted (told with the next display update)."""

    def event(self, name: str, /, **fields) -> None:
        """One line of events.jsonl."""

    def write_text(self, name: str, text: str) -> None:
        """A file of the run folder, written whole (curve.jsonl)."""
