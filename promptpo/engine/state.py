"""What a run has done so far (the display and summary.json show it), and how a run stops."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from promptpo.candidate import Candidate
from promptpo.outcome import RunStatus


class StopRun(Exception):
    """Ends the run with a status: target_reached, budget_exhausted, ..."""

    def __init__(self, status: RunStatus, reason: str = ""):
        super().__init__(reason or status)
        self.status, self.reason = status, reason


class Interrupted(BaseException):
    """Ctrl-C, SIGTERM or SIGHUP: the run folder is finished as 'interrupted' and can be resumed."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class RunState:
    """Counters the display and summary.json show; updated after every step."""

    round: int = 0
    candidates: int = 0
    requests: int = 0
    """Answers asked for (numbers the llm/NNNN files); LLM calls unless the proposer is offline."""
    llm_calls: int = 0
    """LLM calls answered (an answer recorded before a crash included)."""
    llm_sent: int = 0
    """LLM calls sent: what --max-llm-calls counts; more than ``llm_calls`` when some got no answer (scripted
    answers that ran out, a backend that gave up, a stop while they were in flight)."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_estimated: str | None = None
    """How the counts were estimated where a backend reported none (None: all reported)."""
    cost_usd: float = 0.0
    cost_known: bool = True
    env_steps: int = 0
    """All simulator steps, constant tuning included."""
    env_steps_planned: int | None = None
    """What the run will spend if it runs to the end (shown as progress), when that is known."""
    in_flight_steps: int = 0
    """Steps of the evaluation going on now (a training reports them as it goes)."""
    in_flight: dict[str, str] = field(default_factory=dict)
    """Calls and evaluations going on now (several at once in a wave), each with what it is doing."""
    tuning_env_steps: int = 0
    tuning_evaluations: int = 0
    episodes: int = 0
    best: Candidate | None = None
    status: RunStatus = RunStatus.RUNNING
    reason: str = ""
    last: str = ""
    folder: str = ""
    """The run folder (told to the observer as ``start`` before anything else happens)."""
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


Observer = Callable[[str, RunState], None]
"""Told (what happened, the state) after every step: llm_request, evaluating, progress, candidate, end."""
