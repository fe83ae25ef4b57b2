"""`promptpo sandbox doctor`: run a tiny candidate through each backend and say what happened, and who a candidate
is there: its uid as it sees it, the host uid its worker really runs as (read by the host from /proc: a candidate's
own /proc/self/uid_map shows only its namespace's parent, which nesting can hide), and whether /proc/sys is out of
its reach."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from promptpo.envspec import ActionSpec
from promptpo.errors import PromptpoError
from promptpo.isolation.base import Limits, Sandbox
from promptpo.outcome import CandidateFault

PROBE = "def act(obs):\n    return int(obs[0]) + 1\n"
WHO = '''import os

def identity():
    try:
        open("/proc/sys/kernel/core_pattern", "r+").close()
        sysctl = "writable"
    except OSError as err:
        sysctl = "absent" if isinstance(err, FileNotFoundError) else "read-only"
    return [os.getuid(), sysctl]
'''
"""Run with the import guard off (the doctor's own code): it only reads, and never writes /proc/sys."""


def host_uids(pids: list[int]) -> set[int]:
    """The real and effective uids of the worker's processes running worker.py, as the host sees them."""
    found = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if b"worker.py" not in handle.read():
                    continue
            with open(f"/proc/{pid}/status") as handle:
                row = next(line for line in handle if line.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        found |= {int(v) for v in row.split()[1:3]}
    return found


def probe(sandbox: Sandbox) -> str:
    from promptpo.isolation.session import PolicySession

    with PolicySession(sandbox, Limits(load_timeout_s=60), ActionSpec("discrete", n=3)) as session:
        session.load(PROBE)
        session.reset([0], seed=0)
        actions = session.act([0], {"obs": np.array([[1.0]])})
    if actions.tolist() != [2.0]:
        raise CandidateFault("protocol_error", f"probe answered {actions.tolist()} instead of [2.0]")
    return sandbox.describe()


def identity(sandbox: Sandbox) -> tuple[bool, str]:
    """(whether it is safe, one line): a candidate's uid, the host uid it is, and whether /proc/sys is writable."""
    from promptpo.isolation.session import PolicySession

    with PolicySession(sandbox, Limits(load_timeout_s=60, guard=False), None) as session:
        session.load(WHO, entry="identity")
        uid, sysctl = session.call("identity", [])
        hosts = host_uids(session.worker.host_pids())
    host = ", ".join(str(h) for h in sorted(hosts)) or "unknown"
    safe = uid != 0 and bool(hosts) and 0 not in hosts and sysctl != "writable"
    line = f"candidates run as uid {uid} (host uid {host}), /proc/sys {sysctl}"
    return safe, line if safe else f"{line}: NOT SAFE (host root, or kernel settings a candidate could write)"


def diagnose() -> Iterator[tuple[str, bool, str]]:
    from promptpo.isolation.bwrap import problem as bwrap_problem
    from promptpo.isolation.process import ProcessSandbox

    problem = bwrap_problem()
    try:
        with ProcessSandbox(use_bwrap=problem is None) as sandbox:
            detail = probe(sandbox)
            safe, who = identity(sandbox)
        yield "process", problem is None and safe, (f"{detail}; {who}" if problem is None
                                                    else f"runs, but {problem}: {detail}; {who}")
    except (PromptpoError, CandidateFault) as err:
        yield "process", False, str(err)
    try:
        from promptpo.isolation.docker import DockerSandbox

        with DockerSandbox() as sandbox:
            detail = probe(sandbox)
            safe, who = identity(sandbox)
            yield "docker", safe, f"{detail}; {who}"
    except (PromptpoError, CandidateFault) as err:
        yield "docker", False, str(err)
