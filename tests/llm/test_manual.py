"""The manual backend, with the test playing the person who answers the prompts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ANSWERS, cli_env, read_json

pytestmark = pytest.mark.slow


def start_manual_run(out: Path, stdin=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "promptpo", "optimize", "gymnasium/CartPole-v1", "--model", "manual",
                             "--out", str(out), "--rounds", "2", "--candidates", "1"],
                            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())


def wait_for(path_glob, folder: Path, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(folder.glob(path_glob)) if folder.exists() else []
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"{path_glob} did not appear under {folder}")


def test_person_answers_through_the_response_file(tmp_path):
    out = tmp_path / "runs"
    proc = start_manual_run(out)
    prompt = wait_for("*/llm/0001.prompt.md", out)
    assert "CartPole" in prompt.read_text() and "## user" in prompt.read_text()
    time.sleep(0.5)
    assert proc.poll() is None  # still waiting for the person
    response = prompt.with_name("0001.response.md")
    tmp = response.with_suffix(".tmp")
    tmp.write_text((ANSWERS / "cartpole" / "001.md").read_text())
    tmp.rename(response)  # written whole
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert str(prompt) in stderr  # the path was printed for the person
    run = prompt.parent.parent
    summary = read_json(run / "summary.json")
    assert summary["status"] == "target_reached" and summary["llm_calls"] == 1
    assert summary["best_score"] >= 475
    call = read_json(run / "llm" / "0001.json")
    assert call["model"] == "manual"
    # A person reports no usage: the tokens are estimated from the exact text exchanged, and marked so.
    assert summary["prompt_tokens"] > 500 and summary["completion_tokens"] > 20
    assert summary["tokens_estimated"] and summary["tokens_estimated"].startswith("estimated")
    assert (call["prompt_tokens"], call["completion_tokens"]) == (summary["prompt_tokens"], summary["completion_tokens"])
    assert call["tokens_estimated"] == summary["tokens_estimated"]
    shown = subprocess.run([sys.executable, "-m", "promptpo", "show", str(run)], capture_output=True, text=True,
                           env=cli_env(COLUMNS="200"))
    assert f"{summary['prompt_tokens']:,} in" in shown.stdout and "estimated" in shown.stdout


def test_person_pastes_the_answer_on_an_interactive_terminal(tmp_path):
    out = tmp_path / "runs"
    master, slave = os.openpty()
    proc = start_manual_run(out, stdin=slave)
    os.close(slave)
    try:
        wait_for("*/llm/0001.prompt.md", out)
        time.sleep(0.5)
        answer = (ANSWERS / "cartpole" / "001.md").read_text()
        os.write(master, (answer + "\nEOF\n").encode())
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        os.close(master)
    assert proc.returncode == 0, stderr
    assert "paste the answer here" in stderr
    run = next(out.iterdir())
    assert read_json(run / "summary.json")["best_score"] >= 475
    assert "def act" in (run / "llm" / "0001.response.md").read_text()


def test_a_round_of_manual_prompts_is_written_at_once(tmp_path):
    out = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "promptpo", "optimize", "gymnasium/CartPole-v1", "--model", "manual",
                             "--out", str(out), "--rounds", "1", "--candidates", "3", "--target", "1000"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env())
    prompts = [wait_for(f"*/llm/000{call}.prompt.md", out) for call in (1, 2, 3)]  # all before any answer
    time.sleep(0.5)
    assert proc.poll() is None and not list(out.glob("*/llm/*.response.md"))
    for prompt in reversed(prompts):  # answered in any order: recorded in slot order
        tmp = prompt.with_name("answer.tmp")
        tmp.write_text((ANSWERS / "cartpole" / "001.md").read_text())
        tmp.rename(prompt.with_name(prompt.name.replace("prompt", "response")))
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert all(str(p) in stderr for p in prompts)  # every path printed for the person
    run = prompts[0].parent.parent
    assert [read_json(run / "candidates" / f"r00c{i}.json")["llm_call"] for i in range(3)] == [1, 2, 3]
