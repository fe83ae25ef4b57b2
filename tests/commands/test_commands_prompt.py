"""promptpo.commands.prompt: `promptpo prompt ENV` prints, character for character, what a run with the same options
sends first (the README says so)."""

from __future__ import annotations

import json
import re

import pytest

from conftest import ANSWERS, cli_env, only_run, run_cli

pytestmark = pytest.mark.slow

OPTIONS = ("--rounds", "1", "--candidates", "2", "--episodes", "7", "--cascade", "3", "--max-env-steps", "40000",
           "--edit", "full", "--act-timeout", "2", "--feedback-fn", "off")
"""Options that each change the first prompt (`prompt` took only --rounds, --candidates and the library's)."""


def printed(stdout: str) -> list[tuple[str, str]]:
    parts = re.split(r"^===== (\w+) =====\n", stdout, flags=re.M)[1:]
    return [(role, text.removesuffix("\n")) for role, text in zip(parts[::2], parts[1::2])]


def test_prompt_is_the_first_prompt_a_run_records(tmp_path):
    env = cli_env(MUJOCO_GL="egl")
    solved = run_cli("optimize", "metaworld/reach", "--model", f"scripted:{ANSWERS / 'reach'}", "--rounds", "1",
                     "--candidates", "1", "--out", str(tmp_path / "reach"), env=env)  # joins the test's library
    assert solved.returncode == 0 and "added to the library" in solved.stderr, solved.stderr[-2000:]
    push = run_cli("optimize", "metaworld/push", "--model", f"scripted:{ANSWERS / 'push'}", *OPTIONS, "--no-library",
                   "--out", str(tmp_path / "push"), env=env)
    assert push.returncode == 0, push.stderr[-2000:]
    run = only_run(tmp_path / "push")
    sent = [(m["role"], m["content"]) for m in json.loads((run / "llm" / "0001.messages.json").read_text())]
    assert "# Worked examples from other tasks" in sent[-1][1] and "same 7 episodes" in sent[-1][1]

    shown = run_cli("prompt", "metaworld/push", "--model", f"scripted:{ANSWERS / 'push'}", *OPTIONS, env=env)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert printed(shown.stdout) == sent
    size = sum(len(text) for _, text in sent)
    assert f"# {size:,} characters" in shown.stderr

    other = run_cli("prompt", "metaworld/push", *OPTIONS[:-4], env=env)  # --act-timeout and --feedback-fn differ
    assert other.returncode == 0 and printed(other.stdout) != sent
