"""promptpo.llm.manual in-process: the answer is read from the response file once written whole, or pasted on a
terminal. (tests/llm/test_manual.py plays the person through the CLI.)"""

from __future__ import annotations

import io
import os
import threading
import time

import pytest

from promptpo.errors import BackendError, ConfigError
from promptpo.llm import make_backend, manual
from promptpo.llm.base import GenParams, Message, Request
from promptpo.llm.manual import ManualBackend


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setattr(manual, "POLL_S", 0.02)


class NotATerminal(io.StringIO):
    def isatty(self) -> bool:
        return False


class Terminal:
    """A pseudo-terminal: what the test writes with ``paste`` is what the person types (line by line, as a terminal
    in canonical mode delivers it)."""

    def __init__(self):
        self.master, slave = os.openpty()
        self.stream = os.fdopen(slave, "r")

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    def readline(self) -> str:
        return self.stream.readline()

    def paste(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> None:
        self.stream.close()
        os.close(self.master)


def request(tmp_path, call: int = 7, deadline: float | None = None) -> Request:
    return Request((Message("user", "write a policy"),), GenParams(), call_index=call,
                   prompt_path=tmp_path / f"{call:04d}.prompt.md", response_path=tmp_path / f"{call:04d}.response.md",
                   deadline=deadline)


def write_later(path, text: str, after: float = 0.1) -> threading.Thread:
    def write() -> None:
        time.sleep(after)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.rename(path)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_the_model_string_manual_chooses_it():
    backend = make_backend("manual", GenParams())
    assert isinstance(backend, ManualBackend) and backend.model == "manual" and backend.label == "manual"


def test_without_a_run_folder_it_is_a_config_error():
    with pytest.raises(ConfigError, match="the manual backend needs a run folder to exchange prompts and answers"):
        ManualBackend().complete(Request((Message("user", "x"),), GenParams()))


def test_the_answer_is_read_from_the_response_file_and_the_paths_are_told(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", NotATerminal())
    req = request(tmp_path)
    write_later(req.response_path, "```python\ndef act(obs):\n    return 0\n```\n")
    completion = ManualBackend().complete(req)
    assert completion.text == "```python\ndef act(obs):\n    return 0\n```\n" and completion.model == "manual"
    assert completion.latency_s >= 0.1 and completion.prompt_tokens > 0 and completion.tokens_estimated
    told = capsys.readouterr().err
    assert "[manual] prompt 0007 is waiting for an answer" in told
    assert f"read:  {req.prompt_path}" in told and f"write: {req.response_path}" in told
    assert "paste" not in told  # not a terminal: no pasting offered


def test_an_empty_response_file_is_not_an_answer(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin", NotATerminal())
    req = request(tmp_path)
    req.response_path.write_text("")  # created first, written later (an editor's save)

    def fill() -> None:
        time.sleep(0.15)
        req.response_path.write_text("the answer")

    threading.Thread(target=fill, daemon=True).start()
    assert ManualBackend().complete(req).text == "the answer"


def test_no_answer_before_the_run_s_deadline_is_a_timeout(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin", NotATerminal())
    started = time.monotonic()
    with pytest.raises(BackendError) as caught:
        ManualBackend().complete(request(tmp_path, deadline=time.monotonic() + 0.1))
    assert caught.value.message == "no manual answer arrived before the run's time budget ran out"
    assert caught.value.kind == "timeout" and time.monotonic() - started < 2


def test_on_a_terminal_the_answer_may_be_pasted_and_ended_by_eof(tmp_path, monkeypatch, capsys):
    terminal = Terminal()
    monkeypatch.setattr("sys.stdin", terminal)
    try:
        terminal.paste("line one\n\nEOF is not alone here\nEOF\n")
        completion = ManualBackend().complete(request(tmp_path))
    finally:
        terminal.close()
    assert completion.text == "line one\n\nEOF is not alone here\n"
    assert "or paste the answer here and end it with a line holding only EOF" in capsys.readouterr().err
    assert manual.STDIN.acquire(blocking=False)  # given back for the next prompt
    manual.STDIN.release()


def test_an_eof_before_any_pasted_line_keeps_waiting_for_the_file(tmp_path, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr("sys.stdin", terminal)
    req = request(tmp_path)
    try:
        terminal.paste("EOF\n")
        write_later(req.response_path, "from the file", after=0.15)
        assert ManualBackend().complete(req).text == "from the file"
    finally:
        terminal.close()


def test_only_one_waiting_call_reads_the_terminal(tmp_path, monkeypatch, capsys):
    terminal = Terminal()
    monkeypatch.setattr("sys.stdin", terminal)
    req = request(tmp_path, call=2)
    assert manual.STDIN.acquire(blocking=False)  # another call of the wave holds the terminal
    try:
        terminal.paste("pasted for the other call\nEOF\n")
        write_later(req.response_path, "from the file", after=0.1)
        assert ManualBackend().complete(req).text == "from the file"
    finally:
        manual.STDIN.release()
        terminal.close()
    assert "paste" not in capsys.readouterr().err
