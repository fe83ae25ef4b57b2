"""LLM backends, chosen by the model string.

``provider/model``   litellm (openai/gpt-4o, anthropic/claude-sonnet-4-5, ollama/qwen2.5-coder:7b, ...)
``openai:MODEL``     the official OpenAI SDK (any OpenAI-compatible server with --api-base)
``anthropic:MODEL``  the official Anthropic SDK
``manual``           a person or external agent answers prompt files in the run folder
``scripted:PATH``    prepared answers replayed in order
``offline``          no LLM: CMA-ES over the constants of a program built from the env spec
"""

from __future__ import annotations

import re

from promptpo.errors import ConfigError
from promptpo.llm.base import Backend, Completion, GenParams, Message, Request

MODEL_HELP = ("use provider/model (litellm, e.g. openai/gpt-4o), openai:MODEL, anthropic:MODEL, manual, "
              "scripted:PATH or offline")
SCHEMES = ("openai", "anthropic", "scripted")


def make_backend(model: str, params: GenParams, selection: str = "weighted", seed: int = 0) -> Backend:
    """``model``: one model string, or several joined by commas (``a,b@0.3``: promptpo.llm.mixture)."""
    model = model.strip()
    if "," in model:
        from promptpo.llm.mixture import Mixture, split_models

        members = [(make_backend(name, params), weight) for name, weight in split_models(model)]
        if any(b.name == "offline" for b, _ in members):
            raise ConfigError("the offline proposer cannot be mixed with models", "give --model offline alone")
        return Mixture(members, selection, seed)
    if model == "manual":
        from promptpo.llm.manual import ManualBackend

        return ManualBackend()
    if model == "offline":
        from promptpo.llm.offline import OfflineBackend

        return OfflineBackend()
    scheme, colon, rest = model.partition(":")
    if colon and "/" not in scheme:
        if scheme not in SCHEMES:
            raise ConfigError(f"unknown backend {scheme!r} in model {model!r}", MODEL_HELP)
        if not rest.strip():
            raise ConfigError(f"model {model!r} names no model or path after '{scheme}:'", MODEL_HELP)
        if scheme == "scripted":
            from promptpo.llm.scripted import ScriptedBackend

            return ScriptedBackend(rest)
        if scheme == "openai":
            from promptpo.llm.openai_backend import OpenAIBackend

            return OpenAIBackend(rest, params)
        from promptpo.llm.anthropic_backend import AnthropicBackend

        return AnthropicBackend(rest, params)
    if re.fullmatch(r"[A-Za-z0-9_.-]+/\S+", model):
        from promptpo.llm.litellm_backend import LiteLLMBackend

        return LiteLLMBackend(model, params)
    raise ConfigError(f"malformed model string {model!r}", MODEL_HELP)


__all__ = ["Backend", "Completion", "GenParams", "Message", "Request", "make_backend"]
