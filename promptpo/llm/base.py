"""The one seam to language models: ``Backend.complete(request) -> Completion``."""

from __future__ import annotations

import hashlib
import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from promptpo.options import option


@dataclass(frozen=True)
class Message:
    role: str
    """system, user or assistant"""
    content: str


@dataclass(frozen=True)
class GenParams:
    """Generation and transport settings for every call of a run."""

    temperature: float | None = field(default=None, metadata=option(
        "Sampling temperature (default: the provider's; some models accept no other)."))
    """Sampling temperature; None sends none (the provider's default; some models accept no other)."""
    max_tokens: int = field(default=4096, metadata=option("Longest answer, in tokens."))
    api_base: str | None = field(default=None, metadata=option(
        "Base URL of the provider or of a compatible server."))
    """Base URL of the provider or of a compatible server (Ollama, vLLM, a proxy)."""
    timeout_s: float = field(default=120.0, metadata=option("Seconds per LLM request before it is retried.",
                                                            flag="--llm-timeout"))
    """Per-request timeout; a request that hangs longer is retried."""
    retry_for_s: float = field(default=300.0, metadata=option(
        "How long one LLM call keeps retrying connection errors, server errors, rate limits and timeouts (backoff "
        "with jitter) before the run stops, e.g. 90s, 5m, 1h.", flag="--retry-for", duration=True))
    """How long one call keeps retrying retryable failures (connection errors, 5xx, 429, timeouts) before
    the run ends on it: long enough to ride out a provider's or a local server's restart."""
    max_attempts: int | None = None
    """Attempts per call, including the first, for retryable failures; None: as many as ``retry_for_s`` allows."""
    max_wait_s: float = 60.0
    """Longest backoff between attempts (a Retry-After header is honoured up to this)."""

    def public(self) -> dict:
        """What is safe to record: everything, with credentials stripped from the URL."""
        return {"temperature": self.temperature, "max_tokens": self.max_tokens, "timeout_s": self.timeout_s,
                "api_base": strip_credentials(self.api_base), "max_attempts": self.max_attempts,
                "max_wait_s": self.max_wait_s, "retry_for_s": self.retry_for_s}


@dataclass(frozen=True)
class Request:
    messages: tuple[Message, ...]
    params: GenParams
    call_index: int = 1
    """Number of this call in the run, counted from 1 (names the files llm/NNNN.*)."""
    prompt_path: Path | None = None
    """Where the run recorded the prompt (the manual backend points the person at it)."""
    response_path: Path | None = None
    """Where the answer will be recorded (the manual backend waits for it there)."""
    deadline: float | None = None
    """time.monotonic() by which the run's time budget ends, if it has one."""
    on_wait: Callable[[str], None] | None = field(default=None, compare=False, repr=False)
    """Told, in one line, when the call waits to retry (the live display shows it)."""

    def cache_key(self, model: str) -> str:
        """What identifies an answer for reuse: model, generation parameters and the exact prompt (not the
        retry window, which was added later and does not shape an answer: keys of older runs still match)."""
        params = {k: v for k, v in self.params.public().items() if k != "retry_for_s"}
        payload = json.dumps({"model": model, "params": params,
                              "messages": [[m.role, m.content] for m in self.messages]}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class Completion:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    """None when the price of the model is unknown."""
    latency_s: float = 0.0
    finish_reason: str | None = None
    attempts: int = 1
    tokens_estimated: str | None = None
    """How the token counts were estimated when the backend reported none (None: reported)."""
    extra: dict = field(default_factory=dict)


FREE_BACKENDS = ("scripted", "manual", "offline")
"""Backends whose calls cost nothing, so an unknown price is not an unknown cost."""

PROVIDER_MODEL = "provider/model"
"""The prefix of the backend that takes any ``provider/model`` string (litellm's routing)."""

BACKENDS: dict[str, type[Backend]] = {}
"""Prefix (as a model string writes it: 'manual', 'openai:MODEL', 'provider/model') -> the backend class it
chooses; filled by the subclasses that declare a ``prefix`` (promptpo.llm.make_backend reads it)."""


class Backend(ABC):
    """Adding a provider is one new subclass in one new file.

    What a backend can do is declared here, with defaults that do nothing: the engine calls every hook on every
    backend and never probes for one."""

    name: str = "backend"
    prefix: ClassVar[str | None] = None
    """The model strings that choose it, as the README's table writes them: a word alone ('manual'), a word, a
    colon and what the backend is given ('openai:MODEL'), or PROVIDER_MODEL (any 'provider/model' string, given
    whole). None: not chosen by a model string (a mixture, a replay)."""

    uses_prompts: bool = True
    """Whether it reads the prompts (False: a proposer that is not a model, e.g. offline: it gets no repair or
    reflection prompts, and its calls are not counted as LLM calls)."""
    concurrent: bool = True
    """Whether calls may be in flight side by side (False: a proposer whose answers depend on the order it is
    asked in, which the engine then asks in slot order)."""
    credited: bool = False
    """Whether it learns what each call's candidate brought (``credit``); the candidate events then record
    ``improved``."""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        prefix = cls.__dict__.get("prefix")  # its own, not one it inherits
        if prefix is not None:
            if prefix in BACKENDS:
                raise TypeError(f"model prefix {prefix!r} is claimed by {BACKENDS[prefix].__name__} and {cls.__name__}")
            BACKENDS[prefix] = cls

    @classmethod
    def from_model(cls, given: str, params: GenParams) -> Backend:
        """The backend for a model string that chose it: ``given`` is what follows 'word:' (the whole string for
        PROVIDER_MODEL, '' for a word alone)."""
        return cls(given, params)  # type: ignore[call-arg]

    def __init__(self, model: str):
        self.model = model

    @abstractmethod
    def complete(self, request: Request) -> Completion: ...

    def prepare(self, request: Request) -> None:
        """Told as a call is sent, in slot order, before any answer (a mixture chooses the call's model here)."""

    def account(self, call: int, completion: Completion) -> None:
        """Told of each answer, fresh or replayed, before it is recorded (a mixture counts it for its member)."""

    def credit(self, call: int, improved: bool) -> None:
        """Told, if ``credited``, whether the candidate of ``call`` improved on its parent (a mixture's bandit)."""

    def observe(self, key: tuple) -> None:
        """Told how each of its own samples ranks (promptpo.candidate.sample_key), in the order recorded."""

    def summary(self) -> dict | None:
        """What the run's summary records about it under ``models`` (None: nothing)."""
        return None

    def cached(self, request: Request) -> Completion | None:
        """An answer recorded before for this exact request (a resumed run), else None."""
        return None

    def check(self) -> None:
        """Raise ConfigError before the run starts if the backend cannot work (e.g. no API key)."""

    def estimate_cost(self, prompt_chars: int, max_tokens: int) -> float | None:
        """Upper bound of one call's cost in USD, or None when the price is unknown."""
        return None

    @property
    def label(self) -> str:
        return self.model

    def header(self) -> str:
        """What the run's header says about how this backend answers, beyond its label ('' for nothing)."""
        return ""


def strip_credentials(url: str | None) -> str | None:
    return re.sub(r"//[^/@]+@", "//***@", url) if url else url


SECRET_ENV = re.compile(r"(API_KEY|_TOKEN|_SECRET|PASSWORD)$")


def redact(text: str) -> str:
    """Replace the values of secret-looking environment variables (API keys) with ***."""
    for name, value in os.environ.items():
        if SECRET_ENV.search(name) and len(value) >= 8 and value in text:
            text = text.replace(value, "***")
    return text
