"""What every network backend shares: retries, timing, empty-answer handling, pricing."""

from __future__ import annotations

import os
import time
from abc import abstractmethod
from functools import cache
from types import ModuleType

from promptpo.errors import BackendError
from promptpo.llm.base import Backend, Completion, Request
from promptpo.llm.retry import call_with_retries, empty_answer
from promptpo.llm.tokens import with_estimated_usage


@cache
def litellm() -> ModuleType:
    """litellm, imported on first use (it is slow) and kept off the network for its price map."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm as module

    module.suppress_debug_info = True
    module.telemetry = False
    return module


def price(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """USD cost from litellm's price table, or None when the model is not in it."""
    try:
        prompt_cost, completion_cost = litellm().cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    except Exception:  # noqa: BLE001 - unknown model: price unknown, not an error
        return None
    return float(prompt_cost + completion_cost)


class ProviderBackend(Backend):
    """A backend that talks to a provider over the network."""

    price_model: str = ""
    """The model name litellm's price table knows this model by."""
    sleep = None
    """How to wait between attempts (time.sleep when None); tests record the waits instead."""

    def complete(self, request: Request) -> Completion:
        def once() -> Completion:
            started = time.monotonic()
            completion = self._complete_once(request)
            completion.latency_s = time.monotonic() - started
            if not completion.text.strip():
                raise empty_answer()
            return completion

        completion = call_with_retries(once, request.params, f"{self.label} call {request.call_index}", self.sleep,
                                       request.deadline, request.on_wait)
        with_estimated_usage(request, completion)  # a server that reports no usage still gets counted
        if completion.cost_usd is None:
            completion.cost_usd = price(self.price_model or self.model, completion.prompt_tokens,
                                        completion.completion_tokens)
        return completion

    @abstractmethod
    def _complete_once(self, request: Request) -> Completion:
        """One attempt; native errors must be raised as BackendError via retry.classify."""

    def estimate_cost(self, prompt_chars: int, max_tokens: int) -> float | None:
        return price(self.price_model or self.model, prompt_chars // 3 + 1, max_tokens)

    @staticmethod
    def require_key(variable: str, provider: str, api_base: str | None) -> str | None:
        """The key from the provider's usual variable; a custom --api-base may run without one."""
        key = os.environ.get(variable)
        if not key and not api_base:
            from promptpo.errors import ConfigError

            raise ConfigError(f"no API key for {provider}: {variable} is not set",
                              f"export {variable}=... or pick another backend with --model")
        return key


__all__ = ["BackendError", "ProviderBackend", "litellm", "price"]
