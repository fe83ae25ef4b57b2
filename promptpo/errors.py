"""The small tree of errors promptpo raises.

Every user-facing error carries one line that says what was wrong and what to do. The CLI
prints that line and exits with ``exit_code``; it never shows a traceback for these.
"""

from __future__ import annotations


class PromptpoError(Exception):
    """Base class. ``str(err)`` is the one line shown to the user."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} ({hint})")


class ConfigError(PromptpoError):
    """Bad input on the command line or in the Python API (budgets, paths, options)."""


def require_at_least_one(options) -> None:
    """A ConfigError for the first of ``options`` ((option name, value) pairs) that is below 1."""
    for name, value in options:
        if value < 1:
            raise ConfigError(f"{name} must be at least 1 (got {value})")


def fields_at_least_one(config, names: tuple[str, ...]) -> None:
    """``require_at_least_one`` for config fields, named as their command-line options."""
    require_at_least_one((f"--{name.replace('_', '-')}", getattr(config, name)) for name in names)


class EnvNotFoundError(ConfigError):
    """An environment id that no spec file and no Gymnasium registration knows."""


class BackendError(PromptpoError):
    """The LLM backend could not produce an answer.

    ``kind`` names the failure class from the retry table in :mod:`promptpo.llm.retry`;
    ``retryable`` says whether the retry policy would try again.
    """

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None, *, kind: str = "error",
                 retryable: bool = False, retry_after: float | None = None):
        super().__init__(message, hint)
        self.kind = kind
        self.retryable = retryable
        self.retry_after = retry_after


class AnswersExhausted(BackendError):
    """A scripted or replay backend has no answer left to give."""

    def __init__(self, message: str):
        super().__init__(message, kind="exhausted", retryable=False)


class SandboxError(PromptpoError):
    """The sandbox cannot be set up here: no engine, no image, no bubblewrap when required."""


class RunStoreError(PromptpoError):
    """A run folder is missing, corrupt or not writable."""
