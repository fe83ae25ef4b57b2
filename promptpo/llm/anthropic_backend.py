"""``anthropic:MODEL`` — the official Anthropic SDK (Messages API)."""

from __future__ import annotations

import os

from promptpo.llm.base import Completion, GenParams, Request
from promptpo.llm.provider import ProviderBackend
from promptpo.llm.retry import classify


class AnthropicBackend(ProviderBackend):
    name = "anthropic"
    prefix = "anthropic:MODEL"

    def __init__(self, model: str, params: GenParams):
        super().__init__(model)
        self.api_base = params.api_base or os.environ.get("ANTHROPIC_BASE_URL")
        self.price_model = f"anthropic/{model}"
        self._client = None

    @property
    def label(self) -> str:
        return f"anthropic:{self.model}"

    def check(self) -> None:
        self.require_key("ANTHROPIC_API_KEY", "Anthropic", self.api_base)
        import anthropic  # noqa: F401 - imported here, before a wave's threads: importing it in several at once
        #               exposed a partially initialised httpx to one of them

    def client(self, params: GenParams):
        if self._client is None:
            import anthropic

            key = self.require_key("ANTHROPIC_API_KEY", "Anthropic", self.api_base) or "not-needed"
            self._client = anthropic.Anthropic(api_key=key, base_url=self.api_base, max_retries=0,
                                               timeout=params.timeout_s)
        return self._client

    def _complete_once(self, request: Request) -> Completion:
        params = request.params
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        messages = [{"role": m.role, "content": m.content} for m in request.messages if m.role != "system"]
        try:
            # Since SDK 1.0 sampling parameters travel in extra_body (the wire format is unchanged).
            extra = {} if params.temperature is None else {"temperature": params.temperature}
            response = self.client(params).messages.create(
                model=self.model, system=system, messages=messages, max_tokens=params.max_tokens,
                timeout=params.timeout_s, extra_body=extra or None)
            text = "".join(getattr(block, "text", "") for block in response.content)
        except Exception as exc:  # noqa: BLE001 - every provider failure goes through the one table
            raise classify(exc, self.label) from None
        return Completion(text=text, model=response.model or self.model,
                          prompt_tokens=response.usage.input_tokens or 0,
                          completion_tokens=response.usage.output_tokens or 0,
                          finish_reason=response.stop_reason)
