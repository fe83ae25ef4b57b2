"""How a candidate's evaluation ended, and the fault that carries a bad ending to the loop; how a run ended."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    OK = "ok"
    NO_CODE = "no_code"                # the answer held no code block
    BAD_EDIT = "bad_edit"              # its SEARCH/REPLACE blocks could not be applied (promptpo.edits)
    SYNTAX_ERROR = "syntax_error"
    UNPARSEABLE = "unparseable"        # parsing it overflowed (absurdly deep or large source)
    NO_ENTRY_POINT = "no_entry_point"  # neither a Policy class with act() nor an act() function
    REFUSED = "refused"                # the gate refused it before it ran (promptpo.gate)
    CRASHED = "crashed"                # the code raised, or the worker died
    BLOCKED = "blocked"                # the code tried what the sandbox forbids (network, host files)
    TIMEOUT = "timeout"                # an act call or the whole candidate ran past its wall time
    CPU_LIMIT = "cpu_limit"
    MEMORY = "memory"
    OUTPUT_LIMIT = "output_limit"      # printed far more than the output cap
    INVALID_ACTION = "invalid_action"  # NaN/inf, wrong shape or out-of-range discrete action
    INVALID_RESULT = "invalid_result"  # a called function returned something that is not JSON
    PROTOCOL_ERROR = "protocol_error"  # the worker broke the wire protocol
    SANDBOX_ERROR = "sandbox_error"    # the sandbox itself failed (not the candidate's fault)
    NOT_EVALUATED = "not_evaluated"    # a budget ran out, or the run reached its target, before its evaluation

    @property
    def is_limit(self) -> bool:
        return self in (Outcome.TIMEOUT, Outcome.CPU_LIMIT, Outcome.MEMORY, Outcome.OUTPUT_LIMIT)

    @property
    def needs_repair(self) -> bool:
        """The candidate could not be scored as written: the model gets a repair prompt."""
        return self not in (Outcome.OK, Outcome.NOT_EVALUATED)


class CandidateFault(Exception):
    """The candidate (not the host) failed; recorded on the candidate and fed back to the model."""

    def __init__(self, outcome: Outcome, message: str, traceback: str = "", env: int | None = None):
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.traceback = traceback
        self.env = env


class RunStatus(StrEnum):
    """Where a run stands, as run.json and summary.json record it (a str: the records hold the value)."""

    RUNNING = "running"
    COMPLETED = "completed"                  # every round ran
    TARGET_REACHED = "target_reached"
    BUDGET_EXHAUSTED = "budget_exhausted"
    ANSWERS_EXHAUSTED = "answers_exhausted"  # the scripted answers ran out
    FAILED = "failed"                        # the backend gave up, or an internal error
    INTERRUPTED = "interrupted"              # Ctrl-C, SIGTERM, SIGHUP, or a process gone (killed, OOM)

    @property
    def finished(self) -> bool:
        """The run ended on its own: nothing to resume (promptpo.resume), a bench job done, the command's exit 0."""
        return self in (RunStatus.COMPLETED, RunStatus.TARGET_REACHED, RunStatus.BUDGET_EXHAUSTED,
                        RunStatus.ANSWERS_EXHAUSTED)

    @property
    def exit_code(self) -> int:
        """How the command that ran it exits: 0 finished, 130 interrupted (as for Ctrl-C), else 1."""
        return 0 if self.finished else 130 if self is RunStatus.INTERRUPTED else 1

    @classmethod
    def read(cls, text: object) -> RunStatus | None:
        """The status a record holds; None when it holds none, or a word this version does not know."""
        try:
            return cls(text)
        except ValueError:
            return None
