"""LLM backends, chosen by the model string.

``provider/model``   litellm (openai/gpt-4o, anthropic/claude-sonnet-4-5, ollama/qwen2.5-coder:7b, ...)
``openai:MODEL``     the official OpenAI SDK (any OpenAI-compatible server with --api-base)
``anthropic:MODEL``  the official Anthropic SDK
``manual``           a person or external agent answers prompt files in the run folder
``scripted:PATH``    prepared answers replayed in order

Each backend names its own prefix (``Backend.prefix``) and is registered by subclassing; adding a provider is one
new module in this package, found when the first backend is made.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import cache

from promptpo.errors import ConfigError
from promptpo.llm.base import BACKENDS, PROVIDER_MODEL, Backend, Completion, GenParams, Message, Request

MODEL_HELP = ("use provider/model (litellm, e.g. openai/gpt-4o), openai:MODEL, anthropic:MODEL, manual, "
              "scripted:PATH or offline")
ROUTED = re.compile(r"[A-Za-z0-9_.-]+/\S+")
"""What a ``provider/model`` string looks like."""


def make_backend(model: str, params: GenParams, selection: str = "weighted", seed: int = 0) -> Backend:
    """``model``: one model string, or several joined by commas (``a,b@0.3``: promptpo.llm.mixture)."""
    model = model.strip()
    if "," in model:
        from promptpo.llm.mixture import Mixture, split_models

        members = [(make_backend(name, params), weight) for name, weight in split_models(model)]
        return Mixture(members, selection, seed)
    chosen, given = backend_class(model)
    return chosen.from_model(given, params)


def backend_class(model: str) -> tuple[type[Backend], str]:
    """The backend class a single model string chooses, and what it is given (see ``Backend.prefix``)."""
    words, schemes = {}, {}
    for prefix, cls in registered().items():
        if prefix == PROVIDER_MODEL:
            continue
        word, colon, _ = prefix.partition(":")
        (schemes if colon else words)[word] = cls
    if model in words:
        return words[model], ""
    scheme, colon, rest = model.partition(":")
    if colon and "/" not in scheme:
        if scheme not in schemes:
            raise ConfigError(f"unknown backend {scheme!r} in model {model!r}", MODEL_HELP)
        if not rest.strip():
            raise ConfigError(f"model {model!r} names no model or path after '{scheme}:'", MODEL_HELP)
        return schemes[scheme], rest
    if ROUTED.fullmatch(model):
        return registered()[PROVIDER_MODEL], model
    raise ConfigError(f"malformed model string {model!r}", MODEL_HELP)


@cache
def registered() -> dict[str, type[Backend]]:
    """Every backend of this package by prefix: its modules are imported here, on first use (none imports a
    provider's SDK or litellm at module level, so this stays fast and off the --help path)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return BACKENDS


__all__ = ["Backend", "Completion", "GenParams", "Message", "Request", "make_backend"]
