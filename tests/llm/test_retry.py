"""promptpo.llm.retry: provider failures classified once, and the one retry policy that acts on them."""

from __future__ import annotations

import logging
import time

import pytest

from promptpo.errors import BackendError
from promptpo.llm.base import Completion, GenParams
from promptpo.llm.retry import (
    CONNECTION, MALFORMED, SERVER, STATUS_RULES, TIMEOUT, UNKNOWN, call_with_retries, classify, empty_answer, rule_for,
)


class Response:
    def __init__(self, status_code: int | None = None, headers: dict | None = None):
        self.status_code, self.headers = status_code, headers or {}


class StatusError(Exception):
    """An SDK error that carries its HTTP status as ``status_code`` (openai, anthropic)."""

    def __init__(self, message: str, status_code: int, headers: dict | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.response = Response(status_code, headers)


class HTTPStatusError(Exception):
    """An error whose status is only on its response (httpx)."""

    def __init__(self, message: str, status_code: int):
        super().__init__(message)
        self.response = Response(status_code)


def named(name: str, base: type[BaseException] = Exception) -> type[BaseException]:
    """An exception class called ``name``, as a provider's SDK would raise it (classified by name, not import)."""
    return type(name, (base,), {})


@pytest.mark.parametrize("status, kind, retryable", [
    (400, "bad_request", False), (401, "auth", False), (403, "permission", False), (404, "not_found", False),
    (408, "timeout", True), (409, "conflict", True), (413, "too_large", False), (422, "bad_request", False),
    (429, "rate_limit", True), (500, "server_error", True), (503, "server_error", True), (599, "server_error", True),
])
def test_http_statuses_are_classified_by_the_table(status, kind, retryable):
    for error in (StatusError("boom", status), HTTPStatusError("boom", status)):
        rule = rule_for(error)
        assert (rule.kind, rule.retryable) == (kind, retryable)


def test_an_unlisted_client_status_is_not_retried():
    assert rule_for(StatusError("teapot", 418)) is UNKNOWN


@pytest.mark.parametrize("name, rule", [
    ("APITimeoutError", TIMEOUT), ("ReadTimeout", TIMEOUT), ("ConnectTimeout", TIMEOUT),
    ("APIConnectionError", CONNECTION), ("ConnectError", CONNECTION), ("NetworkError", CONNECTION),
    ("APIResponseValidationError", MALFORMED), ("JSONDecodeError", MALFORMED), ("RemoteProtocolError", MALFORMED),
    ("ServiceUnavailableError", SERVER), ("InternalServerError", SERVER), ("SomethingElse", UNKNOWN),
])
def test_exceptions_without_a_status_are_classified_by_their_class_names(name, rule):
    assert rule_for(named(name)("x")) is rule
    assert rule_for(named("Wrapped", named(name))("x")) is rule  # a subclass counts as its base


def test_builtin_timeouts_and_refused_connections_are_retryable():
    assert rule_for(TimeoutError("slow")) is TIMEOUT
    assert rule_for(ConnectionRefusedError(111, "refused")) is CONNECTION  # a ConnectionError by its class


def test_a_timeout_wins_over_a_status_it_carries():
    error = named("APITimeoutError")("took too long")
    error.status_code = 400
    assert rule_for(error) is TIMEOUT


def test_classify_says_what_went_wrong_and_what_to_do():
    err = classify(StatusError("Invalid API key\nsecond line of the body", 401), "openai")
    assert isinstance(err, BackendError)
    assert err.message == "the provider rejected the API key (HTTP 401): Invalid API key"  # the first line only
    assert err.hint == "check the key in your environment" and str(err) == f"{err.message} ({err.hint})"
    assert (err.kind, err.retryable, err.retry_after) == ("auth", False, None)


def test_a_server_error_names_its_status():
    err = classify(StatusError("upstream down", 502), "openai")
    assert err.message == "the provider had a server error (HTTP 502): upstream down"
    assert err.kind == "server_error" and err.retryable


def test_an_unknown_failure_names_the_backend_and_the_exception():
    err = classify(ValueError("odd"), "litellm")
    assert err.message == "litellm failed: ValueError: odd" and not err.retryable and err.kind == "error"
    assert classify(ValueError(), "litellm").message == "litellm failed: ValueError: ValueError"  # no text: its name


def test_classify_keeps_keys_out_and_the_detail_short(monkeypatch):
    monkeypatch.setenv("SOMEPROVIDER_API_KEY", "sk-very-secret-value")
    err = classify(StatusError("bad key sk-very-secret-value " + "x" * 1000, 401), "openai")
    assert "sk-very-secret-value" not in str(err) and "***" in err.message
    assert len(err.message) <= len("the provider rejected the API key (HTTP 401): ") + 300


@pytest.mark.parametrize("headers, expected", [({"retry-after": "7"}, 7.0), ({"Retry-After": "1.5"}, 1.5),
                                               ({"retry-after": "-3"}, 0.0), ({"retry-after": "Wed, 21 Oct"}, None),
                                               ({}, None)])
def test_a_retry_after_header_is_read_from_the_response(headers, expected):
    assert classify(StatusError("slow down", 429, headers), "openai").retry_after == expected


def test_a_retry_after_header_on_the_exception_itself_is_read():
    error = named("RateLimitError")("slow down")
    error.status_code, error.headers = 429, {"retry-after": "4"}
    assert classify(error, "anthropic").retry_after == 4.0


def test_an_empty_answer_is_retryable():
    err = empty_answer()
    assert err.message == "the model returned an empty answer" and err.kind == "empty" and err.retryable


def test_every_status_rule_that_is_not_retried_says_what_to_do_or_is_a_request_problem():
    for status, rule in STATUS_RULES.items():
        assert f"HTTP {status}" in rule.message
        assert rule.retryable or rule.hint or rule.kind == "bad_request", status


# -- the retry policy -------------------------------------------------------------------------------


def flaky(*outcomes):
    """A call that raises or returns ``outcomes`` in turn, counting its calls."""
    calls = []

    def fn() -> Completion:
        calls.append(1)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return fn, calls


def retryable(retry_after: float | None = None) -> BackendError:
    return BackendError("rate limited", kind="rate_limit", retryable=True, retry_after=retry_after)


def test_retryable_failures_are_retried_until_an_answer_and_the_attempts_counted():
    fn, calls = flaky(retryable(), retryable(), Completion("ok", "m"))
    slept: list[float] = []
    completion = call_with_retries(fn, GenParams(max_wait_s=4.0), "call 1", sleep=slept.append)
    assert completion.text == "ok" and completion.attempts == 3 and len(calls) == 3
    assert len(slept) == 2 and all(0 <= s <= 4.0 for s in slept)  # backoff with jitter, each capped


def test_a_failure_that_is_not_retryable_is_raised_at_once():
    error = BackendError("bad key", kind="auth")
    fn, calls = flaky(error, Completion("never", "m"))
    slept: list[float] = []
    with pytest.raises(BackendError) as caught:
        call_with_retries(fn, GenParams(), "call 1", sleep=slept.append)
    assert caught.value is error and len(calls) == 1 and slept == []


def test_other_exceptions_are_not_retried():
    fn, calls = flaky(KeyError("bug"), Completion("never", "m"))
    with pytest.raises(KeyError):
        call_with_retries(fn, GenParams(), "call 1", sleep=lambda s: None)
    assert len(calls) == 1


def test_max_attempts_bounds_the_attempts_and_the_last_error_is_raised():
    errors = [BackendError(f"down {i}", kind="server_error", retryable=True) for i in range(5)]
    fn, calls = flaky(*errors)
    with pytest.raises(BackendError) as caught:
        call_with_retries(fn, GenParams(max_attempts=3), "call 1", sleep=lambda s: None)
    assert caught.value is errors[2] and len(calls) == 3


def test_retry_after_sets_the_wait_up_to_max_wait():
    fn, _ = flaky(retryable(0.5), retryable(100.0), Completion("ok", "m"))
    slept: list[float] = []
    call_with_retries(fn, GenParams(max_wait_s=2.0), "call 1", sleep=slept.append)
    assert slept == [0.5, 2.0]


def test_the_retry_window_ends_before_a_wait_that_would_pass_it():
    fn, calls = flaky(retryable(5.0), Completion("ok", "m"))
    slept: list[float] = []
    with pytest.raises(BackendError, match="rate limited"):
        call_with_retries(fn, GenParams(retry_for_s=1.0), "call 1", sleep=slept.append)
    assert len(calls) == 1 and slept == []


def test_the_run_s_deadline_ends_the_retries():
    fn, calls = flaky(retryable(3.0), Completion("ok", "m"))
    with pytest.raises(BackendError):
        call_with_retries(fn, GenParams(), "call 1", sleep=lambda s: None, deadline=time.monotonic() + 2.0)
    assert len(calls) == 1
    fn, calls = flaky(retryable(3.0), Completion("ok", "m"))  # a later deadline leaves room for the wait
    assert call_with_retries(fn, GenParams(), "call 1", sleep=lambda s: None,
                             deadline=time.monotonic() + 60).attempts == 2


def test_each_wait_is_told_and_logged(caplog):
    fn, _ = flaky(retryable(1.0), Completion("ok", "m"))
    heard: list[str] = []
    with caplog.at_level(logging.WARNING, logger="promptpo.llm.retry"):
        call_with_retries(fn, GenParams(retry_for_s=300), "LLM call 7", sleep=lambda s: None, on_wait=heard.append)
    assert len(heard) == 1
    assert heard[0].startswith("LLM call 7: rate limited; retrying in 1.0 s (attempt 1, ")
    assert heard[0].endswith("s of the 300 s retry window used)")
    assert [r.getMessage() for r in caplog.records] == heard
