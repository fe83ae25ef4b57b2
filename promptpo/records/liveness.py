"""Whether a run whose records say "running" is still running.

A run killed by SIGKILL or the OOM killer never writes its end, so its summary says "running" forever. The engine
records the process that runs it (summary.json's ``pid`` and ``host``, and the time of its last write,
``heartbeat``); a run whose process is gone from this host, or whose heartbeat stopped long ago, was interrupted.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone

STALE_MINUTES = 10
"""A heartbeat older than this says the run's process is gone (used when its pid cannot be checked here)."""


def gone(summary: dict, meta: dict) -> str:
    """Why a run recorded as running is not running ('its process is gone'), or '' when it may be running (or
    nothing recorded says otherwise)."""
    pid, host = summary.get("pid", meta.get("pid")), summary.get("host", meta.get("host"))
    if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 and host == socket.gethostname():
        return "" if alive(pid) else "its process is gone"
    beat = summary.get("heartbeat")
    try:
        when = datetime.fromisoformat(str(beat)) if beat else None
    except ValueError:
        return ""
    if when is None:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    minutes = (datetime.now(timezone.utc) - when).total_seconds() / 60
    return f"no heartbeat for {minutes:,.0f} minutes: its process is gone" if minutes > STALE_MINUTES else ""


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True
