"""The process sandbox: protocol, limits, and what candidate code can and cannot reach."""

from __future__ import annotations

import dataclasses
import logging
import socket
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import worker_processes
from promptpo.envspec import ActionSpec
from promptpo.isolation.base import Limits, descendants
from promptpo.isolation.bwrap import problem as bwrap_problem
from promptpo.isolation.process import ProcessSandbox
from promptpo.isolation.session import PolicySession
from promptpo.outcome import CandidateFault, Outcome

BOX = ActionSpec("box", shape=(2,), low=(-1.0, -1.0), high=(1.0, 1.0))
DISCRETE = ActionSpec("discrete", n=3)
OBS = {"obs": np.ones((1, 4))}


@pytest.fixture(params=[True, False], ids=["bwrap", "plain"])
def sandbox(request):
    if request.param and bwrap_problem():
        pytest.fail(f"bubblewrap is required for these tests: {bwrap_problem()}")
    with ProcessSandbox(use_bwrap=request.param) as sb:
        yield sb


@pytest.fixture
def bwrap():
    assert bwrap_problem() is None, bwrap_problem()
    with ProcessSandbox(use_bwrap=True) as sb:
        yield sb


def run(sandbox, code: str, action=BOX, limits: Limits | None = None, obs=OBS, steps: int = 1):
    """The code in the sandbox with the import guard off: these tests are about the sandbox alone."""
    limits = dataclasses.replace(limits or Limits(act_timeout_s=2, load_timeout_s=10), guard=False)
    with PolicySession(sandbox, limits, action) as session:
        session.load(textwrap.dedent(code))
        envs = list(range(len(next(iter(obs.values())))))
        session.reset(envs, seed=1)
        for _ in range(steps):
            actions = session.act(envs, obs)
        return actions, session


def fault(sandbox, code: str, **kwargs) -> CandidateFault:
    with pytest.raises(CandidateFault) as err:
        run(sandbox, code, **kwargs)
    return err.value


def test_actions_round_trip_and_each_episode_has_its_own_policy(sandbox):
    code = """
        import numpy as np
        class Policy:
            def reset(self):
                self.calls = 0
            def act(self, obs):
                self.calls += 1
                return np.array([obs[0] * self.calls, -0.5])
    """
    actions, _ = run(sandbox, code, obs={"obs": np.array([[0.1, 0, 0, 0], [0.2, 0, 0, 0]])}, steps=3)
    assert actions.shape == (2, 2)
    assert np.allclose(actions, [[0.3, -0.5], [0.6, -0.5]])


def test_function_entry_point_and_dict_observations(sandbox):
    code = """
        def act(obs):
            return int(obs["image"].sum() + obs["direction"]) % 3
    """
    obs = {"image": np.ones((1, 2, 2, 3), dtype=np.uint8), "direction": np.array([2])}
    actions, _ = run(sandbox, code, action=DISCRETE, obs=obs)
    assert actions.tolist() == [(12 + 2) % 3]


def test_worker_rng_is_seeded_per_reset(sandbox):
    code = """
        import numpy as np
        def act(obs):
            return np.random.uniform(-1, 1, size=2)
    """
    first, _ = run(sandbox, code)
    second, _ = run(sandbox, code)
    assert np.array_equal(first, second)


def test_prints_are_captured_not_mixed_into_the_protocol(sandbox):
    code = """
        import os
        def act(obs):
            print("hello from the policy")
            os.write(1, b"raw bytes on fd 1\\n")
            return [0.0, 0.0]
    """
    actions, session = run(sandbox, code)
    text, total = session.output()
    assert "hello from the policy" in text and "raw bytes on fd 1" in text
    assert actions.tolist() == [[0.0, 0.0]]


@pytest.mark.parametrize("code, outcome, words", [
    ("def act(obs):\n    raise ValueError('boom')", Outcome.CRASHED, "ValueError: boom"),
    ("x = 1", Outcome.NO_ENTRY_POINT, "neither a Policy class"),
    ("import os\ndef act(obs):\n    os._exit(3)", Outcome.CRASHED, "exited with code 3"),
    ("def act(obs):\n    return [1.0, 2.0, 3.0]", Outcome.INVALID_ACTION, "expected (2,)"),
    ("def act(obs):\n    return 'left'", Outcome.INVALID_ACTION, "expected a float array"),
    ("import numpy as np\ndef act(obs):\n    return np.ones(10**11)", Outcome.MEMORY, "MemoryError"),
    ("def act(obs):\n    while True:\n        pass", Outcome.TIMEOUT, "did not return within"),
])
def test_candidate_faults_have_the_right_outcome(sandbox, code, outcome, words):
    before = set(worker_processes())
    err = fault(sandbox, code)
    assert err.outcome is outcome, (err.outcome, err.message)
    assert words in err.message + err.traceback
    warm = sandbox._spare[1].result() if sandbox._spare else None  # the next worker, started in the background
    spare = {warm.proc.pid} | set(descendants(warm.proc.pid)) if warm else set()
    assert set(worker_processes()) - spare <= before  # nothing of the candidate is left behind
    sandbox.close()
    assert set(worker_processes()) <= before  # nor of the sandbox once it is closed


def test_traceback_points_at_the_policy_not_the_worker(sandbox):
    err = fault(sandbox, "def helper():\n    return 1 / 0\n\ndef act(obs):\n    return helper()")
    assert 'File "policy.py", line 2, in helper' in err.traceback
    assert "worker.py" not in err.traceback


def test_cpu_budget_stops_a_busy_worker(sandbox):
    code = "def act(obs):\n    while True:\n        pass"
    err = fault(sandbox, code, limits=Limits(act_timeout_s=30, candidate_cpu_s=1))
    assert err.outcome is Outcome.CPU_LIMIT, err.message


def test_candidate_wall_budget(sandbox):
    code = "import time\ndef act(obs):\n    time.sleep(0.4)\n    return [0.0, 0.0]"
    err = fault(sandbox, code, limits=Limits(act_timeout_s=5, candidate_wall_s=1.0), steps=10)
    assert err.outcome is Outcome.TIMEOUT and "wall-time budget" in err.message


def test_the_hosts_own_time_does_not_count_against_the_candidates_wall_budget(sandbox):
    import time

    limits = dataclasses.replace(Limits(act_timeout_s=2, load_timeout_s=10, candidate_wall_s=1.5), guard=False)
    with PolicySession(sandbox, limits, BOX) as session:  # a slow host: 2 s of its own between the calls
        session.load("def act(obs):\n    return [0.0, 0.0]\n")
        envs = list(range(len(OBS["obs"])))
        session.reset(envs, seed=1)
        for _ in range(4):
            time.sleep(0.5)
            session.act(envs, OBS)
        assert session.waited_s < 1.5 < time.monotonic() - session.started


def test_flooding_output_is_stopped(sandbox):
    code = "def act(obs):\n    while True:\n        print('x' * 10000)"
    err = fault(sandbox, code, limits=Limits(act_timeout_s=20, output_hard_bytes=1 << 20))
    assert err.outcome is Outcome.OUTPUT_LIMIT


def test_garbage_on_the_protocol_fds_is_a_protocol_error_not_a_host_crash(sandbox):
    code = """
        import os
        def act(obs):
            for fd in range(3, 20):
                try:
                    os.write(fd, b"\\xff" * 64)
                except OSError:
                    pass
            return [0.0, 0.0]
    """
    err = fault(sandbox, code)
    assert err.outcome in (Outcome.PROTOCOL_ERROR, Outcome.CRASHED)


def test_api_keys_do_not_reach_the_sandbox(sandbox, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-should-not-leak-123")
    code = """
        import os
        def act(obs):
            print(sorted(os.environ.items()))
            return [0.0, 0.0]
    """
    _, session = run(sandbox, code)
    text, _ = session.output()
    assert "sk-secret-should-not-leak-123" not in text and "OPENAI_API_KEY" not in text


def test_plain_fallback_warns_that_isolation_is_off(caplog):
    with caplog.at_level(logging.WARNING):
        sb = ProcessSandbox(use_bwrap=False)
    assert "ISOLATION ARE OFF" in caplog.text
    assert not sb.isolated and "NO bubblewrap" in sb.describe()


# -- isolation that only bubblewrap provides ------------------------------------------------

def test_no_network_even_to_the_host(bwrap):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    code = f"""
        import socket
        def act(obs):
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=2)
                print("CONNECTED")
            except OSError as err:
                print("blocked", err)
            return [0.0, 0.0]
    """
    _, session = run(bwrap, code)
    listener.close()
    text, _ = session.output()
    assert "blocked" in text and "CONNECTED" not in text


def test_host_files_are_invisible_and_the_runtime_is_read_only(bwrap, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    code = f"""
        import os
        def act(obs):
            for path in ({str(secret)!r}, "/etc/passwd", os.path.expanduser("~/.bashrc"), "/var/run/docker.sock"):
                print(path, os.path.exists(path))
            for path in ("/usr/evil", "/sandbox/worker/evil.py"):
                try:
                    open(path, "w").write("x")
                    print("WROTE", path)
                except OSError as err:
                    print("readonly", path)
            open("/tmp/scratch.txt", "w").write("fine")
            print("uid", os.getuid(), "pid", os.getpid())
            return [0.0, 0.0]
    """
    _, session = run(bwrap, code)
    text, _ = session.output()
    assert "WROTE" not in text
    assert f"{secret} False" in text and "/etc/passwd False" in text and "docker.sock False" in text
    assert "uid 65534" in text
    assert not Path("/usr/evil").exists()


def test_scratch_space_is_size_limited(bwrap):
    code = """
        def act(obs):
            with open("/tmp/big", "wb") as f:
                f.write(b"x" * (64 * 1024 * 1024))
            return [0.0, 0.0]
    """
    err = fault(bwrap, code, limits=Limits(file_size_mb=4))
    assert err.outcome is Outcome.CRASHED
    assert "File too large" in err.message  # RLIMIT_FSIZE (EFBIG) hits before the tmpfs fills


def test_streamed_requests_are_answered_whether_the_worker_still_polls_or_sleeps_again(sandbox):
    """After a reply to a ``stream`` request the worker polls for the next one for a few ms (sandbox/worker.py's
    Reader), then sleeps in select: requests sent within the window and long after it both get their answers."""
    code = "import numpy as np\ndef act(obs):\n    return np.asarray(obs[:2], dtype=float)\n"
    limits = Limits(act_timeout_s=2, load_timeout_s=10, guard=False)
    with PolicySession(sandbox, limits, BOX) as session:
        session.load(code)
        session.reset([0, 1], seed=1)
        for step, pause in enumerate([0.0, 0.0005, 0.05, 0.0, 0.2, 0.001]):
            time.sleep(pause)
            obs = np.full((2, 4), step / 10)
            session.send_act([0], {"obs": obs[:1]}, 2, stream=True)
            session.send_act([1], {"obs": obs[1:] + 0.5}, 2, stream=True)
            np.testing.assert_array_equal(session.receive_act([0], 2), obs[:1, :2])
            np.testing.assert_array_equal(session.receive_act([1], 2), obs[1:, :2] + 0.5)


def test_workers_poll_only_while_a_core_is_free(tmp_path):
    from promptpo.policy.lanes import SpareCore

    loadavg = tmp_path / "loadavg"
    spare = SpareCore(every_s=0.0, source=str(loadavg))
    spare.cores = 2
    loadavg.write_text("0.50 0.40 0.30 1/150 999\n")  # this host alone: the worker gets the other core
    assert spare()
    loadavg.write_text("1.50 1.40 1.30 2/150 999\n")  # another lane (or any busy program) runs too
    assert not spare()
    loadavg.unlink()  # nothing to go by: sleep as before
    assert not spare()
    cached = SpareCore(every_s=60.0, source=str(loadavg))
    cached.cores = 2
    loadavg.write_text("0.50 0.40 0.30 1/150 999\n")
    assert cached()
    loadavg.write_text("1.50 1.40 1.30 2/150 999\n")
    assert cached()  # read again only every every_s


def test_the_doctor_says_who_a_candidate_is_and_refuses_a_sandbox_that_maps_to_root(monkeypatch):
    """As root (here and in CI) the process sandbox drops to uid 65534 before bubblewrap; the doctor reads the
    candidate's uid through its namespace's map. Without the drop, bubblewrap would map the sandbox to host root."""
    import os

    from promptpo.isolation import bwrap
    from promptpo.isolation.check import diagnose, identity

    rows = {backend: (ok, detail) for backend, ok, detail in diagnose()}
    assert rows["process"][0] and "(host uid 0)" not in rows["process"][1]
    assert "host uid 65534" in rows["process"][1] or os.geteuid() != 0
    assert "/proc/sys" in rows["process"][1] and "/proc/sys writable" not in rows["process"][1]
    if os.geteuid() == 0:
        monkeypatch.setattr(bwrap, "as_root", lambda: False)  # as if the drop were not there
        with ProcessSandbox(use_bwrap=True) as sb:
            safe, line = identity(sb)
        assert not safe and "host uid 0" in line and "NOT SAFE" in line


def test_without_bubblewrap_a_root_run_still_runs_candidates_as_an_unprivileged_user():
    """The fallback has no network or file isolation, but as root its workers are still uid 65534 (CI runs as
    root); for anyone else, that user."""
    import os

    from promptpo.isolation.check import identity

    with ProcessSandbox(use_bwrap=False) as sb:
        safe, line = identity(sb)
    expected = 65534 if os.geteuid() == 0 else os.geteuid()
    assert f"uid {expected} (host uid {expected})" in line and safe
