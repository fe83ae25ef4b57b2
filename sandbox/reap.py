"""Clean a long-lived sandbox container between candidates (Docker backend).

``reap.py KEEPER_PID`` kills every process in the container except PID 1 (init), the keeper
process that holds the container open, and itself; it repeats until none is left (a fork bomb
keeps forking for a while), then empties the scratch folders so the next candidate starts clean.
It also removes the System V IPC objects (shared memory, semaphores, message queues) candidates
made, which would otherwise let one candidate find the next one's (a covert channel) and stay
charged to the container's memory; folders a candidate made read-only are made writable first.
It prints one JSON line: {"killed": n, "survivors": [pids], "wiped": n, "ipc": n, "left": [names]}.
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
    ipc = remove_ipc()
    wiped, left = 0, []
    for folder in SCRATCH:
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for name in entries:
            path = os.path.join(folder, name)
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    writable(path)
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
                wiped += 1
            except OSError:
                pass
        try:
            left += [os.path.join(folder, n) for n in os.listdir(folder)]
        except OSError:
            pass
    return {"killed": killed, "survivors": survivors, "wiped": wiped, "ipc": ipc, "left": left[:20]}


def writable(top: str) -> None:
    """Give the owner (us) write and search permission on every folder under ``top``, without recursion."""
    stack = [top]
    while stack:
        path = stack.pop()
        try:
            os.chmod(path, 0o700)
            with os.scandir(path) as entries:
                stack += [e.path for e in entries if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue


def remove_ipc() -> int:
    """IPC_RMID every System V shared memory segment, semaphore set and message queue we can see."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    removed = 0
    for kind, call in (("shm", libc.shmctl), ("sem", libc.semctl), ("msg", libc.msgctl)):
        try:
            with open(f"/proc/sysvipc/{kind}") as handle:
                rows = handle.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) < 2 or not fields[1].isdigit():
                continue
            ident = int(fields[1])
            result = call(ident, 0, 0) if kind == "sem" else call(ident, 0, None)  # 0 = IPC_RMID
            removed += result == 0
    return removed


def main() -> None:
    if sys.argv[1:] == ["--keeper"]:
        print(json.dumps([pid for pid, parent in processes().items() if parent == 1]))
        return
    print(json.dumps(reap(int(sys.argv[1]))))


if __name__ == "__main__":
    main()
