"""``provider/model`` — any provider litellm routes to (openai/, anthropic/, ollama/, ...)."""

from __future__ import annotations

from promptpo.errors import ConfigError
from promptpo.llm.base import PROVIDER_MODEL, Completion, GenParams, Request
from promptpo.llm.provider import ProviderBackend, litellm
from promptpo.llm.retry import classify


class LiteLLMBackend(ProviderBackend):
    name = "litellm"
    prefix = PROVIDER_MODEL

    def __init__(self, model: str, params: GenParams):
        super().__init__(model)
        self.api_base = params.api_base
        self.price_model = model

    def check(self) -> None:
        provider = self.model.split("/", 1)[0]
        lib = litellm()
        if provider not in lib.provider_list:
            raise ConfigError(f"unknown provider {provider!r} in model {self.model!r}",
                              "use provider/model with a litellm provider, e.g. openai/gpt-4o or ollama/qwen2.5-coder:7b")
        env = lib.validate_environment(self.model)
        missing = [k for k in env.get("missing_keys", []) if not k.endswith("API_BASE")]
        if missing and not self.api_base:
            raise ConfigError(f"no API key for {self.model}: {', '.join(missing)} is not set",
                              f"export {missing[0]}=... or pick another backend with --model")

    def _complete_once(self, request: Request) -> Completion:
        params = request.params
        try:
            sampling = {} if params.temperature is None else {"temperature": params.temperature}
            response = litellm().completion(
                model=self.model, messages=[{"role": m.role, "content": m.content} for m in request.messages],
                max_tokens=params.max_tokens, timeout=params.timeout_s, api_base=self.api_base,
                num_retries=0, max_retries=0, **sampling)
            choice = response.choices[0]
            text = choice.message.content or ""
            usage = getattr(response, "usage", None)
        except Exception as exc:  # noqa: BLE001 - every provider failure goes through the one table
            raise classify(exc, self.label) from None
        cost = None
        try:
            cost = float(litellm().completion_cost(completion_response=response))
        except Exception:  # noqa: BLE001 - price unknown for this model
            cost = None
        return Completion(text=text, model=getattr(response, "model", None) or self.model,
                          prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                          completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
                          cost_usd=cost, finish_reason=getattr(choice, "finish_reason", None))
