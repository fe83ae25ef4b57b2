"""What leaves promptpo for the user's terminal, files and process: exceptions from a loaded policy carry no
terminal control sequences, actions are checked as a run checks them, a loaded policy leaves nothing behind at
exit, and exported datasets are valid JSONL line for line. On both sandbox backends where a sandbox is involved."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import promptpo
from conftest import cli_env
from promptpo.policy.loader import PolicyFailed
from security.conftest import promptpo_cgroups, sandbox_containers

ESCAPES = ["\x1b]52;c;cHduZWQ=\x07", "\x1b]0;pwned title\x07", "\x1b[2J\x1b[H", "\x1b[31m", "\u202e", "\x9b31m",
           "\u2028"]


def policy_file(tmp_path, body: str, env: str = "gymnasium/CartPole-v1"):
    path = tmp_path / "best.py"
    path.write_text(f"# env: {env}\n" + textwrap.dedent(body).strip() + "\n")
    return path


def test_a_loaded_policys_failure_carries_no_control_sequence(tmp_path, backend):
    text = "".join(ESCAPES)
    for where in ("load", "act"):
        body = (f"raise ValueError({text!r})\ndef act(obs):\n    return 0" if where == "load" else
                f"def act(obs):\n    print({text!r})\n    raise ValueError({text!r})")
        with pytest.raises(PolicyFailed) as err:
            policy = promptpo.load_policy(policy_file(tmp_path, body), sandbox=backend)
            policy.act([0.0, 0.0, 0.0, 0.0])
        message = str(err.value)
        assert not any(ch in message for ch in "\x1b\x07\x9b\u202e\u2028"), repr(message)
        assert "ValueError" in message and "\\x1b" in message  # shown, as an escape


@pytest.mark.parametrize("value, says", [("float('nan')", "non-finite"), ("float('inf')", "non-finite"),
                                         ("7", "expected an int"), ("-1", "expected an int"), ("0.5", "expected an int")])
def test_a_loaded_policys_discrete_action_is_checked_as_a_run_checks_it(tmp_path, backend, value, says):
    policy = promptpo.load_policy(policy_file(tmp_path, f"def act(obs):\n    return {value}"), sandbox=backend)
    with pytest.raises(PolicyFailed, match=says):
        policy.act([0.0, 0.0, 0.0, 0.0])


def test_a_loaded_policys_box_action_is_finite_and_in_range(tmp_path, backend):
    env = "gymnasium/Pendulum-v1"
    huge = promptpo.load_policy(policy_file(tmp_path, "def act(obs):\n    return [1e30]", env), sandbox=backend)
    action = huge.act(np.zeros(3))
    assert action.tolist() == [2.0] and action.dtype == np.float32  # clipped to the space, as a run does
    huge.close()
    nan = promptpo.load_policy(policy_file(tmp_path, "def act(obs):\n    return [float('nan')]", env), sandbox=backend)
    with pytest.raises(PolicyFailed, match="non-finite"):
        nan.act(np.zeros(3))


def test_a_trusted_policys_actions_are_checked_too(tmp_path):
    nan = promptpo.load_policy(policy_file(tmp_path, "def act(obs):\n    return [float('nan')]", "gymnasium/Pendulum-v1"),
                               trusted=True)
    with pytest.raises(PolicyFailed, match="non-finite"):
        nan.act(np.zeros(3))
    huge = promptpo.load_policy(policy_file(tmp_path, "def act(obs):\n    return [-1e30]", "gymnasium/Pendulum-v1"),
                                trusted=True)
    assert huge.act(np.zeros(3)).tolist() == [-2.0]
    odd = promptpo.load_policy(policy_file(tmp_path, "def act(obs):\n    return 3"), trusted=True)
    with pytest.raises(PolicyFailed, match="expected an int"):
        odd.act([0.0] * 4)


@pytest.mark.parametrize("close", [True, False], ids=["closed", "left-open"])
def test_a_loaded_policy_leaves_nothing_behind_at_exit(tmp_path, backend, close):
    path = policy_file(tmp_path, "def act(obs):\n    return 1")
    script = (f"import promptpo\npolicy = promptpo.load_policy({str(path)!r}, sandbox={backend!r})\n"
              f"print(policy.act([0.0, 0.0, 0.0, 0.0]))\n" + ("policy.close()\n" if close else ""))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=cli_env())
    assert proc.returncode == 0 and proc.stdout.strip() == "1", proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    assert not [g for g in _all_promptpo_cgroups()] and sandbox_containers() == []


def _all_promptpo_cgroups() -> list[str]:
    from pathlib import Path

    base = Path("/sys/fs/cgroup")
    mine = set(promptpo_cgroups())
    return [str(p) for p in [*base.glob("promptpo-*"), *base.glob("*/promptpo-*")] if str(p) not in mine
            and not _alive(p.name)]


def _alive(name: str) -> bool:
    from pathlib import Path

    pid = name.split("-")[1]
    return pid.isdigit() and Path(f"/proc/{pid}").exists()


def test_dataset_export_writes_one_json_object_per_line(tmp_path):
    answer = "Plan:\u2028line\u2029sep\x85next \x1b]52;c;x\x07\n```python\ndef act(obs):\n    return int(obs[2] > 0)\n```"
    answers = tmp_path / "answers.jsonl"
    answers.write_text(json.dumps({"content": answer}) + "\n")
    result = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{answers}", out=tmp_path / "runs", rounds=1,
                               candidates=1, episodes=1, add_to_library=False)
    from promptpo.views.dataset import export
    from promptpo.records import RunFolder

    out = tmp_path / "data.jsonl"
    assert export([RunFolder(result.run_dir)], out).written == 1
    text = out.read_text(encoding="utf-8")
    assert len(text.splitlines()) == 1 and not any(ch in text for ch in "\u2028\u2029\x85")
    [line] = text.splitlines()
    assert json.loads(line)["messages"][-1]["content"] == answer  # the exact answer, escaped only in the file
