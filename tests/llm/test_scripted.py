"""promptpo.llm.scripted: prepared answers replayed in order, from a folder of files or a JSONL file."""

from __future__ import annotations

import json

import pytest

from conftest import scripted
from promptpo.errors import AnswersExhausted, ConfigError
from promptpo.llm import make_backend
from promptpo.llm.base import GenParams, Message, Request
from promptpo.llm.scripted import ScriptedBackend, load_answers


def request(call: int) -> Request:
    return Request((Message("user", "write a policy"),), GenParams(), call_index=call)


def test_a_folder_s_files_are_taken_in_name_order_and_hidden_ones_left_out(tmp_path):
    for name, text in [("010.md", "ten"), ("002.md", "two"), ("001.md", "one"), (".draft.md", "hidden")]:
        (tmp_path / name).write_text(text)
    (tmp_path / "sub").mkdir()  # folders are not answers
    assert load_answers(tmp_path) == ["one", "two", "ten"]


def test_a_jsonl_file_gives_one_answer_a_line_and_skips_blank_lines(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_text(json.dumps({"content": "first\nwith a newline"}) + "\n\n   \n" + json.dumps({"content": 2}) + "\n")
    assert load_answers(path) == ["first\nwith a newline", "2"]


def test_the_conftest_helper_writes_what_the_backend_replays(tmp_path):
    model = scripted(tmp_path / "run", "a", "b")
    backend = make_backend(model, GenParams())
    assert isinstance(backend, ScriptedBackend) and backend.answers == ["a", "b"]
    assert backend.model == model


@pytest.mark.parametrize("line", ['{"text": "no content"}', "not json", '["content"]'])
def test_a_bad_jsonl_line_is_named_by_its_number(tmp_path, line):
    path = tmp_path / "answers.jsonl"
    path.write_text(json.dumps({"content": "ok"}) + "\n" + line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_answers(path)
    assert caught.value.message == f"{path}:2 is not a JSON object with a 'content' field"
    assert caught.value.hint == 'write one {"content": "..."} per line'


def test_an_empty_folder_an_empty_file_and_a_missing_path_are_config_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".hidden").write_text("x")
    with pytest.raises(ConfigError, match="scripted answers folder .*empty is empty") as caught:
        load_answers(tmp_path / "empty")
    assert "001.md" in caught.value.hint
    (tmp_path / "blank.jsonl").write_text("\n\n")
    with pytest.raises(ConfigError, match="holds no answers"):
        load_answers(tmp_path / "blank.jsonl")
    with pytest.raises(ConfigError, match="scripted answers not found") as caught:
        ScriptedBackend(str(tmp_path / "nowhere"))
    assert "folder of answer files or a .jsonl file" in str(caught.value)


def test_call_k_gets_the_k_th_answer_in_any_order(tmp_path):
    backend = ScriptedBackend(scripted(tmp_path, "one", "two", "three").removeprefix("scripted:"))
    assert [backend.complete(request(k)).text for k in (3, 1, 2, 1)] == ["three", "one", "two", "one"]


def test_a_completion_carries_the_model_and_estimated_token_counts(tmp_path):
    backend = ScriptedBackend(scripted(tmp_path, "```python\ndef act(obs):\n    return 0\n```"
                                      ).removeprefix("scripted:"))
    completion = backend.complete(request(1))
    assert completion.model == f"scripted:{tmp_path / 'answers.jsonl'}"
    assert completion.prompt_tokens > 0 and completion.completion_tokens > 0 and completion.tokens_estimated


@pytest.mark.parametrize("call", [0, 3])
def test_a_call_past_the_answers_is_answers_exhausted(tmp_path, call):
    backend = ScriptedBackend(scripted(tmp_path, "one", "two").removeprefix("scripted:"))
    with pytest.raises(AnswersExhausted) as caught:
        backend.complete(request(call))
    assert str(caught.value) == f"the scripted answers ran out after 2 answers ({tmp_path / 'answers.jsonl'})"
    assert caught.value.kind == "exhausted" and not caught.value.retryable


def test_a_home_relative_path_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    scripted(tmp_path / "mine", "hello")
    assert ScriptedBackend("~/mine/answers.jsonl").complete(request(1)).text == "hello"
