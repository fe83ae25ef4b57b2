"""Token estimates for backends that report no usage."""

from __future__ import annotations

from llm_server import FakeLLMServer, answer
from promptpo.llm import make_backend
from promptpo.llm.base import Completion, GenParams, Message, Request
from promptpo.llm.tokens import TIKTOKEN, count, usage_text, with_estimated_usage

REQUEST = Request((Message("system", "You write policies."), Message("user", "Balance the pole. " * 50)),
                  GenParams(), call_index=1)


def test_the_bundled_tokenizer_counts_offline():
    # litellm (a core dependency) ships cl100k_base; tiktoken would otherwise download it.
    assert count("hello world") == 2
    assert count("") == 0
    text = "def act(obs):\n    return int(obs[2] > 0)\n"
    assert 5 < count(text) < len(text)


def test_missing_usage_is_estimated_and_marked():
    completion = with_estimated_usage(REQUEST, Completion(text="```python\ndef act(obs):\n    return 0\n```",
                                                          model="m"))
    assert completion.tokens_estimated == TIKTOKEN
    assert completion.prompt_tokens == count("You write policies.") + count("Balance the pole. " * 50) + 8
    assert completion.completion_tokens == count(completion.text)
    assert usage_text(vars(completion)).endswith(f"out ({TIKTOKEN})")


def test_reported_usage_is_kept():
    completion = with_estimated_usage(REQUEST, Completion(text="x", model="m", prompt_tokens=11, completion_tokens=7))
    assert (completion.prompt_tokens, completion.completion_tokens, completion.tokens_estimated) == (11, 7, None)
    assert usage_text(vars(completion)) == "11 in / 7 out"


def test_scripted_answers_are_counted(tmp_path):
    (tmp_path / "001.md").write_text("some answer " * 10)
    completion = make_backend(f"scripted:{tmp_path}", GenParams()).complete(REQUEST)
    assert completion.completion_tokens == count("some answer " * 10) and completion.tokens_estimated


def test_a_server_that_reports_no_usage_is_estimated(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")

    with FakeLLMServer() as server:
        server.report_usage = False
        server.queue(answer("plain answer without usage"))
        backend = make_backend("openai:local-model", GenParams(api_base=server.url + "/v1", timeout_s=5))
        completion = backend.complete(REQUEST)
    assert completion.text == "plain answer without usage"
    assert completion.completion_tokens == count("plain answer without usage") and completion.tokens_estimated
