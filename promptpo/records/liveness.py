"""Whether a run whose records say "running" is still running.

A run killed by SIGKILL or the OOM killer never writes its end, so its summary says "running" forever. While a run
runs, its summary.json names the process running it (``pid``, ``host``, and on Linux ``pid_start``, the process's
start time in clock ticks after boot, and ``boot_id``: ``this_process``, which the engine records). A run recorded on this
host whose machine has rebooted since, whose pid is gone, or whose pid now belongs to a process started at another
time, was interrupted. A run recorded on another host (a shared folder) stays as recorded.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path

GONE = "its process is gone"


def gone(summary: dict) -> str:
    """Why a run recorded as running is not running (GONE), or '' when it may be running (or nothing recorded
    says otherwise)."""
    pid, host = summary.get("pid"), summary.get("host")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or host != socket.gethostname():
        return ""
    boot = boot_id()
    if summary.get("boot_id") and boot and boot != summary["boot_id"]:
        return GONE  # the machine rebooted since
    if not alive(pid):
        return GONE
    start = process_start(pid)
    if isinstance(summary.get("pid_start"), int) and start is not None and start != summary["pid_start"]:
        return GONE  # the pid was reused by another process
    return ""


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    return True


def this_process() -> dict:
    """Which process runs the run, recorded in summary.json while it runs (a run killed by SIGKILL or the OOM
    killer never records its end; ``gone`` tells it from these): ``pid``, ``host``
    (socket.gethostname()), ``pid_start`` (process_start: so a reused pid is not taken for it) and ``boot_id``
    (a pid from before a reboot is not taken for one after it); the last two only where /proc has them."""
    pid = os.getpid()
    fields: dict = {"pid": pid, "host": socket.gethostname(), **_fixed(pid)}
    return {k: v for k, v in fields.items() if v}


@cache
def _fixed(pid: int) -> dict:
    """What /proc says of process ``pid`` that cannot change while it runs (read once, not at every summary write):
    keyed by the pid, so a forked child reads its own (promptpo starts its processes with spawn, but a caller may
    fork). The host name is asked each time: it can change."""
    return {"pid_start": process_start(pid), "boot_id": boot_id()}


def process_start(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (the process's start, in clock ticks after boot), or None where it is missing.
    The command name before it may hold spaces and parentheses: the fields are counted from its last ')'."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def boot_id() -> str:
    """This boot's id (/proc/sys/kernel/random/boot_id), or '' where there is none."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""
