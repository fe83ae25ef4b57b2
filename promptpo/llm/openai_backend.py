"""``openai:MODEL`` — the official OpenAI SDK, also for any OpenAI-compatible server (--api-base)."""

from __future__ import annotations

import os

from promptpo.llm.base import Completion, GenParams, Request
from promptpo.llm.provider import ProviderBackend
from promptpo.llm.retry import classify


class OpenAIBackend(ProviderBackend):
    name = "openai"
    prefix = "openai:MODEL"

    def __init__(self, model: str, params: GenParams):
        super().__init__(model)
        self.api_base = params.api_base or os.environ.get("OPENAI_BASE_URL")
        self.price_model = model
        self._client = None

    @property
    def label(self) -> str:
        return f"openai:{self.model}"

    def check(self) -> None:
        self.require_key("OPENAI_API_KEY", "OpenAI", self.api_base)
        import openai  # noqa: F401 - imported here, before a wave's threads: importing it in several at once
        #               exposed a partially initialised httpx to one of them

    def client(self, params: GenParams):
        if self._client is None:
            import openai

            key = self.require_key("OPENAI_API_KEY", "OpenAI", self.api_base) or "not-needed"
            self._client = openai.OpenAI(api_key=key, base_url=self.api_base, max_retries=0, timeout=params.timeout_s)
        return self._client

    def _complete_once(self, request: Request) -> Completion:
        params = request.params
        try:
            sampling = {} if params.temperature is None else {"temperature": params.temperature}
            response = self.client(params).chat.completions.create(
                model=self.model, messages=[{"role": m.role, "content": m.content} for m in request.messages],
                max_tokens=params.max_tokens, timeout=params.timeout_s, **sampling)
            choice = response.choices[0]
            text = choice.message.content or ""
            usage = response.usage
        except Exception as exc:  # noqa: BLE001 - every provider failure goes through the one table
            raise classify(exc, self.label) from None
        return Completion(text=text, model=response.model or self.model,
                          prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                          completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                          finish_reason=choice.finish_reason)
