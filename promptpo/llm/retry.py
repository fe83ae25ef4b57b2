"""Provider failures, classified once, and the one retry policy (tenacity) that acts on them.

Each backend turns its native exceptions into :class:`BackendError` with :func:`classify`;
:func:`call_with_retries` retries the retryable ones with exponential backoff and jitter,
honouring a provider's Retry-After header.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_before_delay, wait_random_exponential

from promptpo.errors import BackendError
from promptpo.llm.base import Completion, GenParams, redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    kind: str
    retryable: bool
    message: str
    hint: str | None = None


# HTTP status -> what it means for a run. Anything >= 500 is a server error.
STATUS_RULES: dict[int, Rule] = {
    400: Rule("bad_request", False, "the provider rejected the request (HTTP 400)",
              "the prompt may exceed the model's context: lower --prompt-budget or --max-tokens"),
    401: Rule("auth", False, "the provider rejected the API key (HTTP 401)", "check the key in your environment"),
    403: Rule("permission", False, "the API key may not use this model (HTTP 403)", "check the model name and your plan"),
    404: Rule("not_found", False, "the provider does not know this model or endpoint (HTTP 404)",
              "check the model name and --api-base"),
    408: Rule("timeout", True, "the provider timed out (HTTP 408)"),
    409: Rule("conflict", True, "the provider reported a conflict (HTTP 409)"),
    413: Rule("too_large", False, "the request is too large for the provider (HTTP 413)", "lower --prompt-budget"),
    422: Rule("bad_request", False, "the provider could not process the request (HTTP 422)"),
    429: Rule("rate_limit", True, "rate limited by the provider (HTTP 429)"),
}
SERVER = Rule("server_error", True, "the provider had a server error")
TIMEOUT = Rule("timeout", True, "the request timed out")
CONNECTION = Rule("connection", True, "could not connect to the provider", "check --api-base and your network")
MALFORMED = Rule("malformed", True, "the provider sent a response that could not be read")
EMPTY = Rule("empty", True, "the model returned an empty answer")
UNKNOWN = Rule("error", False, "the backend failed")


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _status(exc: BaseException) -> int | None:
    for attr in ("status_code", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) else None


def _retry_after(exc: BaseException) -> float | None:
    for source in (getattr(exc, "response", None), exc):
        headers = getattr(source, "headers", None)
        if headers is None:
            continue
        try:
            value = headers.get("retry-after") or headers.get("Retry-After")
        except AttributeError:
            continue
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def rule_for(exc: BaseException) -> Rule:
    names = _names(exc)
    if names & {"APITimeoutError", "Timeout", "TimeoutException", "ReadTimeout", "ConnectTimeout", "TimeoutError"}:
        return TIMEOUT
    status = _status(exc)
    if status is not None:
        return SERVER if status >= 500 else STATUS_RULES.get(status, UNKNOWN)
    if names & {"APIResponseValidationError", "JSONDecodeError", "DecodingError", "RemoteProtocolError"}:
        return MALFORMED
    if names & {"APIConnectionError", "ConnectError", "ConnectionError", "NetworkError"}:
        return CONNECTION
    if "ServiceUnavailableError" in names or "InternalServerError" in names:
        return SERVER
    return UNKNOWN


def classify(exc: BaseException, backend: str) -> BackendError:
    """A native provider exception as a BackendError with kind, retryability and a clean message."""
    rule = rule_for(exc)
    detail = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)[:300]
    status = _status(exc)
    message = rule.message if rule is not UNKNOWN else f"{backend} failed: {type(exc).__name__}"
    if rule is SERVER and status:
        message += f" (HTTP {status})"
    return BackendError(f"{message}: {detail}", rule.hint, kind=rule.kind, retryable=rule.retryable,
                        retry_after=_retry_after(exc))


def empty_answer() -> BackendError:
    return BackendError(EMPTY.message, kind=EMPTY.kind, retryable=True)


def call_with_retries(fn: Callable[[], Completion], params: GenParams, what: str,
                      sleep: Callable[[float], None] | None = None, deadline: float | None = None,
                      on_wait: Callable[[str], None] | None = None) -> Completion:
    """Run ``fn`` with the run's retry policy — exponential backoff with full jitter, each wait capped at
    ``max_wait_s``, for as long as ``retry_for_s`` (and ``max_attempts``, and the run's ``deadline``)
    allow — and re-raise the last BackendError when it gives up. ``on_wait(line)`` hears each wait."""
    backoff = wait_random_exponential(multiplier=1, max=params.max_wait_s)
    window = stop_before_delay(params.retry_for_s)

    def stop(state: RetryCallState) -> bool:
        if params.max_attempts is not None and state.attempt_number >= params.max_attempts:
            return True
        if deadline is not None and time.monotonic() + (state.upcoming_sleep or 0.0) >= deadline:
            return True  # the run's time budget ends before the next attempt
        return window(state)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, BackendError) and exc.retry_after is not None:
            return min(exc.retry_after, params.max_wait_s)
        return backoff(state)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception()
        line = (f"{what}: {exc}; retrying in {state.next_action.sleep:.1f} s (attempt {state.attempt_number}, "
                f"{state.seconds_since_start:.0f} s of the {params.retry_for_s:.0f} s retry window used)")
        log.warning("%s", line)
        if on_wait is not None:
            on_wait(line)

    kwargs = {"sleep": sleep} if sleep is not None else {}
    retrying = Retrying(stop=stop, wait=wait, reraise=True,
                        retry=retry_if_exception(lambda e: isinstance(e, BackendError) and e.retryable),
                        before_sleep=before_sleep, **kwargs)
    attempts = 0

    def attempt() -> Completion:
        nonlocal attempts
        attempts += 1
        return fn()

    completion = retrying(attempt)
    completion.attempts = attempts
    return completion
