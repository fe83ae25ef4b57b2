"""Kernel facilities a candidate could use to reach past its worker: other processes' memory, shared kernel objects,
asynchronous and direct I/O (unkillable processes, the machine's AIO slots), and the shared page cache (marks a later
worker could read). The worker's seccomp filter (sandbox/seccomp.py) denies them on both backends, before any
candidate code runs, for the candidate and everything it starts."""

from __future__ import annotations

import time

PROBES = '''
import ctypes, os, socket

libc = ctypes.CDLL(None, use_errno=True)
X86 = os.uname().machine == "x86_64"

def errno_of(result):
    return 0 if result >= 0 else ctypes.get_errno()

def probe():
    ctx = ctypes.c_ulong(0)
    child = os.fork()
    if child == 0:  # something to attach to that is ours (attaching to another process would stop it)
        import time
        time.sleep(30)
        os._exit(0)
    attached = errno_of(libc.ptrace(16, child, 0, 0))
    os.kill(child, 9)
    os.waitpid(child, 0)
    found = {
        "ptrace_attach": attached,
        "io_setup": errno_of(libc.syscall(206 if X86 else 0, 1, ctypes.byref(ctx))),
        "io_uring_setup": errno_of(libc.syscall(425, 8, ctypes.create_string_buffer(120))),
        "mincore": errno_of(libc.syscall(27 if X86 else 232, 0, 4096, ctypes.create_string_buffer(1))),
        "inotify": errno_of(libc.inotify_init1(0)),
        "keyctl": errno_of(libc.syscall(250 if X86 else 219, 0, 0, 0, 0)),
        "unshare_net": errno_of(libc.unshare(0x40000000)),
        "userfaultfd": errno_of(libc.syscall(323 if X86 else 282, 0)),
        "perf_event_open": errno_of(libc.syscall(298 if X86 else 241, 0, 0, -1, -1, 0)),
        "bpf": errno_of(libc.syscall(321 if X86 else 280, 0, 0, 0)),
    }
    path = os.__file__
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_DIRECT))
        found["o_direct"] = 0
    except OSError as err:
        found["o_direct"] = err.errno
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        found["fadvise"] = 0
    except OSError as err:
        found["fadvise"] = err.errno
    found["readahead"] = errno_of(libc.readahead(fd, ctypes.c_long(0), ctypes.c_size_t(4096)))
    if os.fork() == 0:  # a child inherits the filter
        os._exit(0 if errno_of(libc.syscall(206 if X86 else 0, 1, ctypes.byref(ctypes.c_ulong(0)))) else 1)
    found["child_ptrace"] = os.wait()[1] >> 8 or "denied"
    print("PROBES", sorted((k, v) for k, v in found.items() if v == 0 and k != "child_ptrace"),
          found["child_ptrace"])

probe()

def act(obs):
    return int(obs[2] > 0)
'''


def test_every_probe_of_the_kernel_is_denied(attack):
    """Each call would succeed for an unfiltered process of the sandbox user (the harness runs them unsandboxed
    in test_the_probes_work_outside_the_sandbox)."""
    line = next(l for l in attack(PROBES).output.splitlines() if l.startswith("PROBES"))
    assert line == "PROBES [] denied", line


def test_the_probes_work_outside_the_sandbox(tmp_path):
    """The probes are real: in a plain process (no filter) most of them succeed."""
    import subprocess
    import sys

    script = tmp_path / "probe.py"
    script.write_text(PROBES.replace("probe()\n\ndef act", "probe()\n\ndef _unused"))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60).stdout
    allowed = eval(out.split("PROBES ", 1)[1].rsplit(" ", 1)[0])  # noqa: S307 - the test's own output
    names = {name for name, _ in allowed}
    assert {"ptrace_attach", "io_setup", "io_uring_setup", "o_direct", "fadvise", "inotify", "readahead"} <= names, out


HANGUP = '''
import os, socket, time

def _hang_up():
    for fd in range(3, 32):  # the frame channel: shut it, then go on running
        try:
            socket.socket(fileno=fd).shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    try:
        os.close(1)
    except OSError:
        pass

def act(obs):
    _hang_up()
    while True:
        time.sleep(1)
'''


def test_a_worker_that_hangs_up_and_runs_on_is_not_waited_for(attack, backend):
    started = time.monotonic()
    result = attack(HANGUP, act_timeout_s=1.0, load_timeout_s=2.0)
    assert result.outcome in ("crashed", "timeout") and time.monotonic() - started < 25  # the whole run, both candidates


def test_a_docker_worker_writes_no_log_file():
    """Docker's default json-file driver turned 15 MiB of newlines into a 1.1 GB file on the host."""
    from promptpo.isolation import make_sandbox
    from promptpo.isolation.base import Limits
    from promptpo.isolation.session import PolicySession

    with make_sandbox("docker") as sandbox:
        with PolicySession(sandbox, Limits(), None) as session:
            config = sandbox.client.api.inspect_container(session.worker.container.id)
    assert config["HostConfig"]["LogConfig"]["Type"] == "none" and not config.get("LogPath")
