"""Clean a long-lived sandbox container between candidates (Docker backend).

``reap.py KEEPER_PID`` kills every process in the container except PID 1 (init), the keeper
process that holds the container open, and itself; it repeats until none is left (a fork bomb
keeps forking for a while), then empties the scratch folders so the next candidate starts clean.
It prints one JSON line: {"killed": n, "survivors": [pids], "wiped": n}.
``reap.py --keeper`` prints the PIDs whose parent is PID 1 (run once, before any candidate).
Runs as the sandbox user, which owns every candidate process and file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time

SCRATCH = ("/tmp", "/dev/shm")


def processes() -> dict[int, int]:
    """pid -> parent pid, for every process visible in /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    stat = handle.read()
                found[int(entry)] = int(stat[stat.rindex(b")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    return found


def zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return True
    return stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] in (b"Z", b"X")


def reap(keeper: int) -> dict:
    spare = {1, keeper, os.getpid()}
    killed = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        targets = [p for p in processes() if p not in spare and not zombie(p)]
        if not targets:
            break
        for pid in targets:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)
    survivors = [p for p in processes() if p not in spare and not zombie(p)]
    wiped = 0
    for folder in SCRATCH:
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for name in entries:
            path = os.path.join(folder, name)
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
                wiped += 1
            except OSError:
                pass
    return {"killed": killed, "survivors": survivors, "wiped": wiped}


def main() -> None:
    if sys.argv[1:] == ["--keeper"]:
        print(json.dumps([pid for pid, parent in processes().items() if parent == 1]))
        return
    print(json.dumps(reap(int(sys.argv[1]))))


if __name__ == "__main__":
    main()
