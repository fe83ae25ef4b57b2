"""Token counts for backends that report no usage (manual, scripted, servers that omit it).

The estimate uses tiktoken's ``cl100k_base`` encoding from the copy litellm ships (so it works
offline and without importing litellm, which is slow); where that is missing, four characters per
token. A completion that carries an estimate says so (``Completion.tokens_estimated`` names the
method), and the run records it next to the counts.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from pathlib import Path

from promptpo.llm.base import Completion, Request

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4
"""Tokens a chat format adds per message (role and separators), as OpenAI documents for its models."""
HEURISTIC = f"estimated: {CHARS_PER_TOKEN} characters per token"
TIKTOKEN = "estimated: tiktoken cl100k_base"


@cache
def _encoding():
    """cl100k_base from litellm's bundled tiktoken cache, or None when that is not available."""
    try:
        import tiktoken
    except ImportError:
        return None
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        spec = importlib.util.find_spec("litellm")
        if spec is None or not spec.submodule_search_locations:
            return None
        bundled = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
        if not bundled.is_dir():
            return None
        os.environ["TIKTOKEN_CACHE_DIR"] = str(bundled)  # what litellm itself does on import
    try:
        return tiktoken.get_encoding("cl100k_base")
    except Exception:  # noqa: BLE001 - no cached encoding (it would be downloaded): use the heuristic
        return None


def method() -> str:
    return TIKTOKEN if _encoding() is not None else HEURISTIC


def count(text: str) -> int:
    """Tokens in ``text`` by the best estimate available here."""
    if not text:
        return 0
    encoding = _encoding()
    if encoding is None:
        return max(1, -(-len(text) // CHARS_PER_TOKEN))
    return len(encoding.encode(text, disallowed_special=()))


def count_messages(messages) -> int:
    """Tokens a prompt of these messages takes: each message's content plus the chat format's overhead."""
    return sum(count(m.content) + MESSAGE_OVERHEAD for m in messages)


def with_estimated_usage(request: Request, completion: Completion) -> Completion:
    """Fill in token counts the backend did not report, marked as estimated."""
    if completion.prompt_tokens or completion.completion_tokens:
        return completion
    completion.prompt_tokens = count_messages(request.messages)
    completion.completion_tokens = count(completion.text)
    completion.tokens_estimated = method()
    return completion


def usage_text(summary: dict) -> str:
    """'1,234 in / 567 out', marked when the counts are estimates (a summary.json or a state's fields)."""
    text = f"{summary.get('prompt_tokens') or 0:,} in / {summary.get('completion_tokens') or 0:,} out"
    estimated = summary.get("tokens_estimated")
    return text + (f" ({estimated})" if estimated else "")
