"""What leaves the sandbox: the gate in a real run, best.py and export headers, the sandboxed
load_policy, the worker's import guard, and `promptpo play`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import promptpo
from conftest import ANSWERS, IN_CI, docker_problem, only_run, read_json, run_cli, scripted
from promptpo.envspec import ActionSpec
from promptpo.errors import ConfigError
from promptpo.isolation.base import Limits
from promptpo.isolation.process import ProcessSandbox
from promptpo.isolation.session import PolicySession
from promptpo.policy.loader import PolicyFailed, SandboxedPolicy
from promptpo.outcome import CandidateFault

CLEAN = """```python
class Policy:
    def act(self, obs):
        x, v, a, w = obs
        return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)
```"""


def trojans(marker: Path) -> dict[str, str]:
    """The two answers of the issue: each scored perfectly and ran os.system once best.py was loaded."""
    return {
        "reset_through_random": f"""```python
import random


class Policy:
    def reset(self):
        random._os.system("touch {marker}")

    def act(self, obs):
        x, v, a, w = obs
        return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)
```""",
        "module_level_builtins": f"""```python
import random

m = (vars(random.__builtins__) if not isinstance(random.__builtins__, dict) else random.__builtins__)["__im" + "port__"]("o" + "s")
m.system("touch {marker}")


def act(obs):
    x, v, a, w = obs
    return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)
```""",
    }


def backends() -> list[str]:
    found = ["process"]
    problem = docker_problem()
    if problem is None:
        found.append("docker")
    elif IN_CI:
        pytest.fail(f"the Docker backend must work in CI: {problem}")
    return found


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("trojan", ["reset_through_random", "module_level_builtins"])
def test_a_trojan_answer_is_refused_and_the_clean_repair_becomes_best(tmp_path, backend, trojan):
    marker = tmp_path / "marker"
    answers = scripted(tmp_path / "answers.jsonl", trojans(marker)[trojan], CLEAN)
    out = tmp_path / "runs"
    proc = run_cli("optimize", "gymnasium/CartPole-v1", "--model", answers, "--sandbox", backend,
                   "--candidates", "1", "--episodes", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    run = only_run(out)
    first = read_json(run / "candidates" / "r00c0.json")
    assert first["outcome"] == "refused" and first["env_steps"] == 0  # never evaluated
    repair_prompt = (run / "llm" / "0002.prompt.md").read_text()
    assert "refused before running" in repair_prompt and "line " in repair_prompt
    second = read_json(run / "candidates" / "r00c1.json")
    assert second["outcome"] == "ok" and second["kind"] == "repair"
    best = (run / "best.py").read_text()
    assert "random._os" not in best and "__im" not in best
    assert "GENERATED, UNTRUSTED CODE" in best and "gate: passed" in best
    with promptpo.load_policy(run / "best.py") as policy:  # sandboxed, env from the header
        assert isinstance(policy, SandboxedPolicy)
        policy.reset()
        assert policy.act(np.zeros(4)) in (0, 1)
    assert not marker.exists()


def test_load_policy_of_a_hand_written_trojan_runs_nothing_on_the_host(tmp_path):
    marker = tmp_path / "marker"
    for name, answer in trojans(marker).items():
        path = tmp_path / f"{name}.py"
        path.write_text("# env: gymnasium/CartPole-v1\n" + answer.split("```python\n")[1].split("```")[0])
        with pytest.raises(ConfigError, match="does not pass the gate"):
            promptpo.load_policy(path, trusted=True)  # never imported in-process
        try:
            with promptpo.load_policy(path) as policy:  # sandboxed: the guard and the sandbox stop it
                policy.reset()
                policy.act(np.zeros(4))
        except PolicyFailed as err:
            assert "sandbox" in str(err) or "did not load" in str(err)
        assert not marker.exists(), name


def test_load_policy_in_process_only_for_code_the_gate_passes(tmp_path):
    path = tmp_path / "clean.py"
    path.write_text(CLEAN.split("```python\n")[1].split("```")[0])
    policy = promptpo.load_policy(path, trusted=True)
    policy.reset()
    assert policy.act([0.0, 0.0, 0.1, 0.0]) == 1
    with pytest.raises(ConfigError, match="names no environment"):
        promptpo.load_policy(path)  # sandboxed needs the env: none in the file, none given
    with promptpo.load_policy(path, env="gymnasium/CartPole-v1") as sandboxed:
        assert sandboxed.act([0.0, 0.0, 0.1, 0.0]) == 1
    assert sandboxed._session is None  # closed: its worker is gone


def test_the_worker_guard_gives_facades_and_refuses_the_rest():
    limits = Limits(act_timeout_s=5, load_timeout_s=20)
    action = ActionSpec("discrete", n=2)
    with ProcessSandbox() as box:
        for code, problem in (("import os\ndef act(obs):\n    return 0\n", "ImportError"),
                              ("import numpy as np\nx = np._core\ndef act(obs):\n    return 0\n", "AttributeError"),
                              ("import numpy as np\nx = np.ctypeslib\ndef act(obs):\n    return 0\n", "AttributeError"),
                              ("import random\nx = random._os\ndef act(obs):\n    return 0\n", "AttributeError"),
                              ("x = open\ndef act(obs):\n    return 0\n", "NameError")):
            with PolicySession(box, limits, action) as session, pytest.raises(CandidateFault) as err:
                session.load(code)
            assert problem in err.value.message, (code, err.value.message)
        fine = ("import numpy as np\nfrom numpy.linalg import norm\nimport numpy.random\nfrom collections import deque\n"
                "class Base:\n    def act(self, obs):\n        return int(norm(np.asarray(obs)) > 0)\n"
                "class Policy(Base):\n    pass\n")
        with PolicySession(box, limits, action) as session:
            session.load(fine)  # allowed modules work through their facades; act is inherited
            session.reset([0], 1)
            assert session.act([0], {"obs": np.ones((1, 4))}).tolist() == [1.0]
        with PolicySession(box, Limits(guard=False), action) as session:
            session.load("import os\ndef act(obs):\n    return 0\n")  # the guard off: only the sandbox holds


def test_alias_entry_point_runs(tmp_path):
    alias = "```python\nclass Controller:\n    def act(self, obs):\n        x, v, a, w = obs\n" \
            "        return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)\n\n\nPolicy = Controller\n```"
    answers = scripted(tmp_path / "answers.jsonl", alias)
    result = promptpo.optimize("gymnasium/CartPole-v1", answers, out=tmp_path / "runs", rounds=1,
                               candidates=1, episodes=2)
    assert result.status == "target_reached", result.reason


def test_export_refuses_code_the_gate_refuses_unless_allowed(tmp_path):
    ok_but_outside = "```python\nimport os\n\n\ndef act(obs):\n    x, v, a, w = obs\n" \
                     "    return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)\n```"
    answers = scripted(tmp_path / "answers.jsonl", ok_but_outside)
    result = promptpo.optimize("gymnasium/CartPole-v1", answers, out=tmp_path / "runs", rounds=1,
                               candidates=1, episodes=2, gate=False)  # scored only because the gate was off
    assert result.status == "target_reached", result.reason
    refused = run_cli("export", str(result.run_dir), "-o", str(tmp_path / "p.py"))
    assert refused.returncode == 2 and "does not pass the gate" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "p.py").exists()
    allowed = run_cli("export", str(result.run_dir), "-o", str(tmp_path / "p.py"), "--allow-findings")
    assert allowed.returncode == 0, allowed.stderr
    text = (tmp_path / "p.py").read_text()
    assert "# gate: refused: line 1: imports os" in text and "load_policy" in text


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("play")
    made = {}
    for env, answers in (("gymnasium/CartPole-v1", "cartpole"), ("metaworld/reach", "reach")):
        proc = run_cli("optimize", env, "--model", f"scripted:{ANSWERS / answers}", "--candidates", "1",
                       "--episodes", "2", "--out", str(out / answers))
        assert proc.returncode == 0, proc.stderr
        made[env] = only_run(out / answers)
    proc = run_cli("optimize", "metaworld/pick-place", "--model", "offline", "--rounds", "1", "--candidates", "1",
                   "--episodes", "1", "--out", str(out / "pick-place"))
    assert proc.returncode == 0, proc.stderr
    made["metaworld/pick-place"] = only_run(out / "pick-place")
    return made


def test_best_py_and_export_say_who_wrote_the_program(runs, tmp_path):
    offline = runs["metaworld/pick-place"]
    proposer = "written by the offline proposer (CMA-ES over a program template, no language model)"
    assert proposer in (offline / "best.py").read_text() and "language model:" not in (offline / "best.py").read_text()
    proc = run_cli("export", str(offline), "-o", str(tmp_path / "offline.py"))
    assert proc.returncode == 0, proc.stderr
    assert proposer in (tmp_path / "offline.py").read_text()
    model = runs["gymnasium/CartPole-v1"]
    assert "UNTRUSTED CODE written by a language model: read it" in (model / "best.py").read_text()


def test_play_cartpole_prints_every_episode(runs):
    proc = run_cli("play", str(runs["gymnasium/CartPole-v1"]), "--episodes", "3")
    assert proc.returncode == 0, proc.stderr
    assert "mean return 500.00" in proc.stdout and "gate: passed" in proc.stdout
    assert proc.stdout.count("500.00") >= 4  # three episodes and the mean


def test_play_reach_writes_a_video_with_frames(runs, tmp_path):
    import imageio.v3 as iio

    video = tmp_path / "reach.gif"
    proc = run_cli("play", str(runs["metaworld/reach"]), "--episodes", "2", "--video", str(video))
    assert proc.returncode == 0, proc.stderr
    assert "success rate 1.00" in proc.stdout and "ended at their first success, as in the run" in proc.stdout
    steps = [int(row.split("│")[4]) for row in proc.stdout.splitlines() if row.count("│") >= 5 and
             row.split("│")[1].strip().isdigit()]
    assert len(steps) == 2 and all(s < 500 for s in steps), proc.stdout  # ended at success, as the run's did
    frames = iio.imread(video, index=None)
    assert frames.shape[-1] == 3 and float(frames.std()) > 1.0  # real pictures, not a blank canvas
    assert frames.shape[0] >= min(sum(steps), 2 * 60)  # short episodes keep every step, long ones >= 60 frames
    assert "every step" in proc.stdout or "every 2nd step" in proc.stdout
    mp4 = tmp_path / "reach.mp4"
    proc = run_cli("play", str(runs["metaworld/reach"]), "--episodes", "1", "--seed", "7", "--video", str(mp4),
                   "--full-episodes")
    assert proc.returncode == 0, proc.stderr
    assert " 500 " in proc.stdout and "ran to their end (--full-episodes)" in proc.stdout
    assert 60 < iio.imread(mp4, index=None).shape[0] <= 120  # 500 steps kept as every 8th: no more than 120 frames
    assert "every 8th step" in proc.stdout


def test_play_pick_place_on_fresh_goals(runs):
    proc = run_cli("play", str(runs["metaworld/pick-place"]), "--episodes", "2")
    assert proc.returncode == 0, proc.stderr
    assert "success rate" in proc.stdout and proc.stdout.count(" 500 ") >= 2  # two full episodes were played


def test_play_rejects_bad_input_in_one_line(runs, tmp_path):
    proc = run_cli("play", str(runs["gymnasium/CartPole-v1"]), "--video", str(tmp_path / "x.avi"))
    assert proc.returncode == 2 and "use a .gif or .mp4" in proc.stderr
    assert "Traceback" not in proc.stderr
