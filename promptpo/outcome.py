"""How a candidate's evaluation ended, and the fault that carries a bad ending to the loop."""

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
