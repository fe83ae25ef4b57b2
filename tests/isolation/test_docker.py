"""The Docker sandbox for real: same results as the process sandbox, cleanup, sweeping, recovery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ANSWERS, IN_CI, cli_env, docker_problem, only_run, read_json, run_cli, sandbox_containers
from promptpo.envspec import ActionSpec
from promptpo.isolation.base import Limits
from promptpo.isolation.session import PolicySession


PROBLEM = docker_problem()
if PROBLEM and IN_CI:
    raise RuntimeError(f"the Docker backend must work in CI: {PROBLEM}")
pytestmark = pytest.mark.skipif(PROBLEM is not None, reason=f"Docker backend unavailable here: {PROBLEM}")


def test_reach_in_docker_matches_the_process_sandbox(tmp_path):
    scores = {}
    for sandbox in ("process", "docker"):
        out = tmp_path / sandbox
        proc = run_cli("optimize", "metaworld/reach", "--model", f"scripted:{ANSWERS / 'reach'}", "--episodes", "10",
                       "--sandbox", sandbox, "--out", str(out))
        assert proc.returncode == 0, proc.stderr
        run = only_run(out)
        summary = read_json(run / "summary.json")
        assert summary["status"] == "target_reached" and summary["best_success_rate"] >= 0.9
        assert read_json(run / "run.json")["sandbox"].startswith(sandbox)
        scores[sandbox] = summary["best_score"]
    assert scores["docker"] == scores["process"]  # same episodes, same code: the same numbers
    assert sandbox_containers() == []  # removed when the run ended


def test_parallel_docker_lanes_score_as_one_and_leave_nothing_behind(tmp_path):
    import json

    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"content": f"```python\n{code}\n```"}) + "\n" for code in (
        "def act(obs):\n    return int(obs[2] > 0)", "def act(obs):\n    x, v, a, w = obs\n    return int(a + 0.3 * w > 0)",
        "def act(obs):\n    return 1")))
    records = {}
    for workers in ("2", "1"):
        out = tmp_path / workers
        proc = run_cli("optimize", "gymnasium/CartPole-v1", "--sandbox", "docker", "--model", f"scripted:{answers}",
                       "--rounds", "1", "--candidates", "3", "--episodes", "3", "--workers", workers, "--out", str(out),
                       "--target", "1000")  # out of reach: a run stops at its target, and every lane must run
        assert proc.returncode == 0, proc.stderr
        run = only_run(out)
        records[workers] = {p.name: {k: v for k, v in read_json(p).items() if k != "evaluation"}
                            | {"episodes": read_json(p)["evaluation"]["episodes"]}
                            for p in sorted((run / "candidates").glob("*.json"))}
        assert sandbox_containers() == []  # every lane's container removed when the run ended
    assert records["2"] == records["1"]


def test_a_killed_run_leaves_a_container_that_the_next_run_sweeps(tmp_path):
    out = tmp_path / "runs"
    victim = subprocess.Popen([sys.executable, "-m", "promptpo", "optimize", "gymnasium/CartPole-v1", "--sandbox",
                               "docker", "--model", f"scripted:{ANSWERS / 'cartpole_slow'}", "--episodes", "5",
                               "--workers", "1", "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=cli_env())
    deadline = time.monotonic() + 60
    while not sandbox_containers(victim.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sandbox_containers(victim.pid), "the run never started its container"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    left = sandbox_containers()
    assert len(left) == 1 and left[0].labels["promptpo.pid"] == str(victim.pid)
    [folder] = Path(tempfile.gettempdir()).glob(f"promptpo-ipc-{victim.pid}-*")  # its frame sockets' folder
    proc = run_cli("optimize", "gymnasium/CartPole-v1", "--sandbox", "docker", "--model",
                   f"scripted:{ANSWERS / 'cartpole'}", "--out", str(tmp_path / "next"))
    assert proc.returncode == 0, proc.stderr
    assert "left behind by runs that died" in proc.stderr
    assert sandbox_containers() == [] and not folder.exists()


def test_a_live_runs_containers_are_not_swept():
    from promptpo.isolation.docker import DockerSandbox, sweep

    with DockerSandbox() as sandbox:
        with PolicySession(sandbox, Limits(), ActionSpec("discrete", n=2)) as session:
            session.load("def act(obs):\n    return 1\n")
        assert sweep(sandbox.client) == []
        live = sandbox_containers()
        assert live and {c.labels["promptpo.pid"] for c in live} == {str(os.getpid())}  # the next worker's, at least
        assert os.path.isdir(sandbox.ipc_dir)
    assert sandbox_containers() == []


def test_closing_one_sandbox_leaves_another_of_the_same_process_running():
    """A fine-tuning holds a training worker while evaluation workers come and go: closing a sandbox removes its own
    containers only (it swept every container of the process, and the training worker died in reset())."""
    from promptpo.isolation.docker import DockerSandbox

    with DockerSandbox() as keeper:
        with PolicySession(keeper, Limits(), ActionSpec("discrete", n=2)) as session:
            session.load("def act(obs):\n    return 1\n")
            for _ in range(2):
                with DockerSandbox() as passing, PolicySession(passing, Limits(), ActionSpec("discrete", n=2)) as other:
                    other.load("def act(obs):\n    return 0\n")
                session.reset([0], seed=0)
                assert session.act([0], {"obs": np.zeros((1, 4))}).tolist() == [1.0]
            assert session.worker.container.id in {c.id for c in sandbox_containers()}


def test_every_worker_has_a_container_of_its_own_that_goes_with_it():
    """Nothing a candidate starts can reach a later one: each worker is a new container, removed when it ends."""
    from promptpo.isolation.docker import DockerSandbox

    with DockerSandbox() as sandbox:
        used = []
        for _ in range(3):
            with PolicySession(sandbox, Limits(), ActionSpec("discrete", n=2)) as session:
                session.load("def act(obs):\n    return 1\n")
                session.reset([0], seed=0)
                assert session.act([0], {"obs": np.zeros((1, 4))}).tolist() == [1.0]
                used.append(session.worker.container.id)
        assert len(set(used)) == 3
        deadline = time.monotonic() + 10
        while any(c.id in used for c in sandbox_containers()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [c for c in sandbox_containers() if c.id in used]


def test_a_spare_whose_container_died_is_replaced():
    from promptpo.isolation.docker import DockerSandbox

    with DockerSandbox() as sandbox:
        worker = sandbox.start(Limits())
        worker.close()
        spare = sandbox._next[1].result()
        spare.container.kill()  # the engine (or an OOM) took the container away between candidates
        with PolicySession(sandbox, Limits(), ActionSpec("discrete", n=2)) as session:
            session.load("def act(obs):\n    return 1\n")
            session.reset([0], seed=0)
            assert session.act([0], {"obs": np.zeros((1, 4))}).tolist() == [1.0]
            assert session.worker.container.id != spare.container.id
    assert sandbox_containers() == []


def test_container_settings():
    from promptpo.isolation.docker import DockerSandbox

    with DockerSandbox() as sandbox:
        with PolicySession(sandbox, Limits(memory_mb=512, processes=32), ActionSpec("discrete", n=2)) as session:
            session.load("def act(obs):\n    return 1\n")
            config = sandbox.client.api.inspect_container(session.worker.container.id)
    host = config["HostConfig"]
    assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] and host["Init"]
    assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"]
    assert host["Memory"] == 512 * 1024 * 1024 and host["MemorySwap"] == host["Memory"]
    assert host["PidsLimit"] > 32 and host["NanoCpus"] > 0
    assert config["Config"]["User"] == "65534:65534"
    assert not [e for e in config["Config"]["Env"] if "KEY" in e or "TOKEN" in e]
    assert not [a for a in config["Args"] if len(a) >= 32 and all(c in "0123456789abcdef" for c in a)]  # no token


def test_frames_go_over_the_worker_socket_and_fall_back_to_the_exec_stream(monkeypatch, caplog):
    """A worker that cannot connect its frame socket (a remote daemon, some Docker Desktop or SELinux set-ups)
    costs one slow start, then the run goes on with frames in the exec stream; both give the same actions."""
    from promptpo.isolation import docker as backend
    from promptpo.isolation import docker_worker

    code = "import numpy as np\ndef act(obs):\n    return int(obs[2] + 0.5 * obs[3] > 0)\n"
    obs = {"obs": np.array([[0.0, 0.0, 0.1, 0.2], [0.0, 0.0, -0.1, -0.3]])}
    spec = ActionSpec(kind="discrete", n=2, shape=())

    def actions(sandbox) -> list:
        with PolicySession(sandbox, Limits(), spec) as session:
            session.load(code)
            session.reset([0, 1], 0)
            return session.act([0, 1], obs).tolist()

    with backend.DockerSandbox() as sandbox:
        assert sandbox.frames_over_socket
        worker = sandbox.start(Limits())
        assert worker.channel is not None  # the socket path
        worker.close()
        over_socket = actions(sandbox)
    monkeypatch.setattr(backend, "FOLDER_MODE", 0o700)  # the sandbox user can no longer reach the socket it is told
    monkeypatch.setattr(docker_worker, "CONNECT_TIMEOUT_S", 2.0)
    with backend.DockerSandbox() as sandbox:
        with caplog.at_level("WARNING"):
            in_stream = actions(sandbox)
        assert not sandbox.frames_over_socket and "could not connect its frame socket" in caplog.text
        assert in_stream == over_socket == [1.0, 0.0]
    assert sandbox_containers() == []
