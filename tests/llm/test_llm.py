"""Every network backend against a local server speaking the providers' wire formats."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT
from llm_server import FakeLLMServer, answer, empty, hang, malformed, status
from promptpo.errors import BackendError, ConfigError
from promptpo.llm import backend_class, make_backend, registered
from promptpo.llm.base import Backend, GenParams, Message, Request, redact
from promptpo.search import OFFLINE, make_proposer

BACKENDS = [
    ("openai:gpt-4o-mini", "/v1", "/v1/chat/completions"),
    ("anthropic:claude-sonnet-4-5", "", "/v1/messages"),
    ("openai/gpt-4o-mini", "/v1", "/v1/chat/completions"),          # litellm
    ("anthropic/claude-sonnet-4-5", "", "/v1/messages"),            # litellm
]
KEYS = {"OPENAI_API_KEY": "sk-test-openai-0123456789", "ANTHROPIC_API_KEY": "sk-ant-test-0123456789"}


@pytest.fixture
def server(monkeypatch):
    for key, value in KEYS.items():
        monkeypatch.setenv(key, value)
    with FakeLLMServer() as srv:
        yield srv


def backend_for(server, model: str, prefix: str, **params):
    gen = GenParams(api_base=server.url + prefix, timeout_s=params.pop("timeout_s", 2.0), max_wait_s=0.05,
                    max_attempts=params.pop("max_attempts", 3), **params)
    backend = make_backend(model, gen)
    backend.check()
    waits: list[float] = []
    backend.sleep = waits.append
    return backend, gen, waits


def request(gen: GenParams) -> Request:
    return Request((Message("system", "be brief"), Message("user", "write a policy")), gen, call_index=1)


@pytest.mark.parametrize("model, prefix, path", BACKENDS)
def test_answer_tokens_and_cost_are_recorded(server, model, prefix, path):
    backend, gen, _ = backend_for(server, model, prefix, temperature=0.3)
    server.queue(answer("```python\ndef act(obs):\n    return 0\n```"))
    completion = backend.complete(request(gen))
    assert "def act" in completion.text
    assert (completion.prompt_tokens, completion.completion_tokens) == (11, 7)
    assert completion.cost_usd is not None and completion.cost_usd > 0  # both models are in litellm's price table
    assert completion.attempts == 1 and completion.latency_s >= 0
    sent = server.requests[-1]
    assert sent["path"] == path
    assert sent["body"]["temperature"] == 0.3
    assert sent["body"]["max_tokens"] == gen.max_tokens
    text = str(sent["body"]["messages"]) + str(sent["body"].get("system", ""))
    assert "be brief" in text and "write a policy" in text


@pytest.mark.parametrize("model, prefix, path", BACKENDS)
@pytest.mark.parametrize("fault", ["rate_limit", "server_error", "hang", "malformed", "empty"])
def test_transient_faults_are_retried(server, model, prefix, path, fault):
    faults = {"rate_limit": status(429, {"retry-after": "0.01"}), "server_error": status(500),
              "hang": hang(1.5), "malformed": malformed(), "empty": empty()}
    backend, gen, waits = backend_for(server, model, prefix, timeout_s=0.5)
    server.queue(faults[fault], answer("recovered"))
    completion = backend.complete(request(gen))
    assert completion.text == "recovered"
    assert completion.attempts == 2
    assert len(waits) == 1


@pytest.mark.parametrize("model, prefix", [("openai:gpt-4o-mini", "/v1"), ("anthropic:claude-sonnet-4-5", "")])
def test_retry_after_header_sets_the_wait(server, model, prefix):
    backend, gen, waits = backend_for(server, model, prefix)
    backend.sleep = waits.append
    gen = GenParams(api_base=gen.api_base, timeout_s=2.0, max_wait_s=30.0, max_attempts=3)
    server.queue(status(429, {"retry-after": "7"}), answer("ok"))
    assert backend.complete(request(gen)).text == "ok"
    assert waits == [7.0]


@pytest.mark.parametrize("model, prefix, path", BACKENDS)
def test_persistent_faults_give_up_after_max_attempts(server, model, prefix, path):
    backend, gen, waits = backend_for(server, model, prefix, max_attempts=3)
    server.queue(status(503), status(503), status(503), answer("never reached"))
    with pytest.raises(BackendError) as err:
        backend.complete(request(gen))
    assert err.value.kind == "server_error" and err.value.retryable
    assert len(waits) == 2 and len(server.requests) == 3


@pytest.mark.parametrize("model, prefix, path", BACKENDS)
@pytest.mark.parametrize("code, kind", [(401, "auth"), (404, "not_found"), (400, "bad_request")])
def test_permanent_faults_stop_at_once(server, model, prefix, path, code, kind):
    backend, gen, waits = backend_for(server, model, prefix)
    server.queue(status(code), answer("never reached"))
    with pytest.raises(BackendError) as err:
        backend.complete(request(gen))
    assert err.value.kind == kind and not err.value.retryable
    assert waits == [] and len(server.requests) == 1


@pytest.mark.parametrize("model, prefix, path", BACKENDS[:2])
def test_the_retry_window_bounds_a_persistent_fault(server, model, prefix, path):
    import time

    backend, _, _ = backend_for(server, model, prefix)
    backend.sleep = None  # real waits: the window is wall-clock time
    gen = GenParams(api_base=server.url + prefix, timeout_s=2.0, max_wait_s=0.05, retry_for_s=1.0)
    server.queue(*[status(503)] * 200)
    heard: list[str] = []
    started = time.monotonic()
    with pytest.raises(BackendError) as err:
        backend.complete(Request(request(gen).messages, gen, on_wait=heard.append))
    assert err.value.kind == "server_error" and time.monotonic() - started < 10
    assert len(server.requests) > 3 and len(heard) == len(server.requests) - 1  # every wait was told
    assert "retrying in" in heard[0] and "retry window" in heard[0]


def test_a_run_rides_out_a_server_that_is_down_for_25_seconds(tmp_path, monkeypatch):
    """A local OpenAI-compatible server restarting: connections are refused for 25 s, then it answers."""
    import socket
    import threading
    import time

    from conftest import ANSWERS, cli_env, only_run, read_json, run_cli

    with socket.socket() as probe:  # a free port that nothing listens on yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    def start_later() -> None:
        time.sleep(25)
        server = FakeLLMServer(lambda body: answer((ANSWERS / "cartpole" / "001.md").read_text()), port=port)
        server.__enter__()
        started.append(server)

    started: list = []
    threading.Thread(target=start_later, daemon=True).start()
    out = tmp_path / "runs"
    try:
        proc = run_cli("optimize", "gymnasium/CartPole-v1", "--model", "openai:local-model", "--api-base",
                       f"http://127.0.0.1:{port}/v1", "--rounds", "1", "--candidates", "1", "--out", str(out),
                       env=cli_env(OPENAI_API_KEY=KEYS["OPENAI_API_KEY"]), timeout=300)
    finally:
        for server in started:
            server.__exit__(None, None, None)
    assert started, "the server never came up"
    assert proc.returncode == 0, proc.stderr
    summary = read_json(only_run(out) / "summary.json")
    assert summary["status"] in ("completed", "target_reached") and summary["llm_calls"] == 1
    assert "could not connect" in proc.stderr and "retry window" in proc.stderr
    assert read_json(only_run(out) / "llm" / "0001.json")["attempts"] > 1


def test_connection_refused_is_a_connection_error(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEYS["OPENAI_API_KEY"])
    gen = GenParams(api_base="http://127.0.0.1:9/v1", timeout_s=1.0, max_wait_s=0.01, max_attempts=2)
    backend = make_backend("openai:gpt-4o-mini", gen)
    backend.sleep = lambda s: None
    with pytest.raises(BackendError) as err:
        backend.complete(request(gen))
    assert err.value.kind == "connection"


def test_keys_never_appear_in_error_messages(server, monkeypatch):
    backend, gen, _ = backend_for(server, "openai:gpt-4o-mini", "/v1")
    assert redact(f"bad key {KEYS['OPENAI_API_KEY']} rejected") == "bad key *** rejected"
    server.queue(status(401))
    with pytest.raises(BackendError) as err:
        backend.complete(request(gen))
    assert KEYS["OPENAI_API_KEY"] not in str(err.value)
    assert server.requests[-1]["headers"]["authorization"] == f"Bearer {KEYS['OPENAI_API_KEY']}"


@pytest.mark.parametrize("model, variable", [("openai:gpt-4o", "OPENAI_API_KEY"),
                                             ("anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
                                             ("openai/gpt-4o", "OPENAI_API_KEY"),
                                             ("anthropic/claude-sonnet-4-5", "ANTHROPIC_API_KEY")])
def test_missing_key_is_a_config_error(monkeypatch, model, variable):
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ConfigError, match=variable):
        make_backend(model, GenParams()).check()


def test_openai_compatible_server_needs_no_key(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    backend, gen, _ = backend_for(server, "openai:qwen2.5-coder", "/v1")
    server.queue(answer("local answer"))
    assert backend.complete(request(gen)).text == "local answer"


@pytest.mark.parametrize("model, message", [("gpt4", "malformed"), ("foo:bar", "unknown backend"),
                                            ("openai:", "names no model"), ("nosuchprovider/model", "unknown provider")])
def test_bad_model_strings(model, message, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "x" * 20)
    with pytest.raises(ConfigError, match=message):
        make_backend(model, GenParams()).check()


def test_help_path_does_not_need_litellm():
    import subprocess
    import sys

    code = "import sys, promptpo.cli, promptpo.llm; print('litellm' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


DOCUMENTED = {  # each model string of the README's backend table -> the backend class it chooses, and what it gets
    "openai/gpt-4o": ("LiteLLMBackend", "openai/gpt-4o"),
    "anthropic/claude-sonnet-4-5": ("LiteLLMBackend", "anthropic/claude-sonnet-4-5"),
    "gemini/...": ("LiteLLMBackend", "gemini/..."),
    "ollama/qwen2.5-coder:7b": ("LiteLLMBackend", "ollama/qwen2.5-coder:7b"),
    "openai:gpt-4o": ("OpenAIBackend", "gpt-4o"),
    "openai:Qwen/Qwen2.5-Coder-7B": ("OpenAIBackend", "Qwen/Qwen2.5-Coder-7B"),
    "anthropic:claude-sonnet-4-5": ("AnthropicBackend", "claude-sonnet-4-5"),
    "manual": ("ManualBackend", ""),
    "scripted:PATH": ("ScriptedBackend", "PATH"),
}
"""Model backends by the README's strings; ``offline`` (the same table) is the search side's proposer."""


def readme_model_strings() -> set[str]:
    """The model strings in the first column of the README's 'model string | backend | key' table."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| model string | backend"))
    found = set()
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        found |= {code.split(" --")[0] for code in re.findall(r"`([^`]+)`", line.split("|")[1])}
    return found


def test_every_documented_model_string_chooses_its_backend():
    assert readme_model_strings() == set(DOCUMENTED) | {OFFLINE}  # a new row of the table is added here too
    for model, (cls, given) in DOCUMENTED.items():
        chosen, passed = backend_class(model)
        assert (chosen.__name__, passed) == (cls, given), model
    assert type(make_proposer(OFFLINE, GenParams())).__name__ == "OfflineProposer"
    assert type(make_proposer("manual", GenParams())).__name__ == "ManualBackend"


def test_each_registered_prefix_builds_its_backend():
    built = {model: make_proposer(model, GenParams()) for model in
             ("openai/gpt-4o", "openai:gpt-4o", "anthropic:claude-sonnet-4-5", "manual", "offline",
              f"scripted:{ROOT / 'tests' / 'answers' / 'cartpole'}", "provider/model")}
    assert {m: (b.name, b.label) for m, b in built.items()} == {
        "openai/gpt-4o": ("litellm", "openai/gpt-4o"), "openai:gpt-4o": ("openai", "openai:gpt-4o"),
        "anthropic:claude-sonnet-4-5": ("anthropic", "anthropic:claude-sonnet-4-5"),
        "manual": ("manual", "manual"), "offline": ("offline", "offline (CMA-ES)"),
        f"scripted:{ROOT / 'tests' / 'answers' / 'cartpole'}":
            ("scripted", f"scripted:{ROOT / 'tests' / 'answers' / 'cartpole'}"),
        "provider/model": ("litellm", "provider/model")}
    assert set(registered()) == {"provider/model", "openai:MODEL", "anthropic:MODEL", "manual", "scripted:PATH"}


@pytest.mark.parametrize("model, message", [("manual:x", "unknown backend 'manual'"), ("offline:x", "unknown backend"),
                                            ("openai", "malformed"), ("anthropic:  ", "names no model"),
                                            ("scripted:", "names no model"),
                                            ("offline,manual", "cannot be mixed"), ("manual@2,offline@1", "cannot be mixed")])
def test_a_prefix_is_taken_only_in_its_own_form(model, message):
    with pytest.raises(ConfigError, match=message):
        make_proposer(model, GenParams())


def test_a_second_backend_cannot_claim_a_prefix():
    with pytest.raises(TypeError, match="claimed"):
        type("Twin", (Backend,), {"prefix": "manual", "complete": lambda self, request: None})
