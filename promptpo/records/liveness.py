"""Whether a run whose records say "running" is still running.

A run killed by SIGKILL or the OOM killer never writes its end, so its summary says "running" forever. While a run
runs, its summary.json names the process running it (``pid``, ``host``, and on Linux ``pid_start``, the process's
start time in clock ticks after boot, and ``boot_id``: promptpo.engine.state.this_process). A run recorded on this
host whose machine has rebooted since, whose pid is gone, or whose pid now belongs to a process started at another
time, was interrupted. A run recorded on another host (a shared folder) stays as recorded.
"""

from __future__ import annotations

import os
import socket

from promptpo.engine.state import boot_id, process_start

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
