"""Per-worker control groups for the process sandbox: a pids limit (fork bombs) and a memory limit.

rlimits cannot stop a fork bomb (RLIMIT_NPROC counts every process of the user, and root is
exempt), so when this process may create cgroups (root, or a delegated cgroup v2 subtree) each
worker runs in its own cgroup with ``pids.max`` and a memory limit. The cgroup also lists every
process the candidate started, daemons included, so killing them all is exact.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")
_counter = itertools.count()


def _own_paths() -> dict[str, str]:
    """controller (or '' for the v2 hierarchy) -> this process's cgroup path."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


@cache
def layout() -> tuple[str, dict[str, Path]] | None:
    """('v1'|'v2', controller -> parent folder for worker cgroups), or None when unavailable."""
    try:
        own = _own_paths()
    except OSError:
        return None
    if (ROOT / "pids" / "tasks").exists() or (ROOT / "pids" / "cgroup.procs").exists():  # cgroup v1
        parents = {}
        for controller in ("pids", "memory"):
            parent = ROOT / controller / own.get(controller, "/").lstrip("/")
            if parent.is_dir() and os.access(parent, os.W_OK):
                parents[controller] = parent
        return ("v1", parents) if "pids" in parents else None
    parent = ROOT / own.get("", "/").lstrip("/")
    try:
        enabled = (parent / "cgroup.subtree_control").read_text().split()
    except OSError:
        return None
    if "pids" in enabled and os.access(parent, os.W_OK):
        return "v2", {"pids": parent, **({"memory": parent} if "memory" in enabled else {})}
    return None


def problem() -> str | None:
    return None if layout() is not None else "no writable pids cgroup (run as root or with a delegated cgroup)"


@dataclass
class WorkerCgroup:
    dirs: list[Path]
    """One folder per hierarchy the worker joins (v1: pids and memory; v2: one)."""

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.procs_files:
            try:
                found |= {int(p) for p in Path(path).read_text().split()}
            except OSError:
                continue
        return found

    def kill_all(self, timeout: float = 5.0) -> bool:
        """SIGKILL every process in the cgroup until it is empty; False if some would not die."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return True
            if time.monotonic() > deadline:
                return False
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.001)

    def remove(self) -> None:
        self.kill_all()
        for folder in self.dirs:
            deadline = time.monotonic() + 1.0
            while True:
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        log.warning("could not remove cgroup %s", folder)
                        break
                    time.sleep(0.001)  # the kernel releases an emptied cgroup a moment later


def create(pids_max: int, memory_bytes: int) -> WorkerCgroup | None:
    found = layout()
    if found is None:
        return None
    version, parents = found
    name = f"promptpo-{os.getpid()}-{next(_counter)}"
    dirs = []
    if version == "v1":
        for controller, parent in parents.items():
            folder = parent / name
            folder.mkdir()
            dirs.append(folder)
            if controller == "pids":
                (folder / "pids.max").write_text(str(pids_max))
            else:
                (folder / "memory.limit_in_bytes").write_text(str(memory_bytes))
    else:
        folder = parents["pids"] / name
        folder.mkdir()
        dirs.append(folder)
        (folder / "pids.max").write_text(str(pids_max))
        if "memory" in parents:
            (folder / "memory.max").write_text(str(memory_bytes))
            (folder / "memory.swap.max").write_text("0")
    return WorkerCgroup(dirs)


def sweep() -> list[str]:
    """Remove empty worker cgroups left by promptpo processes that are gone (killed -9, crashed)."""
    found = layout()
    if found is None:
        return []
    removed = []
    for parent in set(found[1].values()):
        for folder in parent.glob("promptpo-*"):
            try:
                owner = int(folder.name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if owner != os.getpid() and not Path(f"/proc/{owner}").exists():
                WorkerCgroup([folder]).remove()
                removed.append(str(folder))
    return removed


JOIN = 'while [ "$1" != "--" ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"'
"""A shell prologue that moves itself into the cgroups, then execs the worker command: every
process the worker ever starts is born inside them."""


def wrap(argv: list[str], group: WorkerCgroup) -> list[str]:
    return ["/bin/sh", "-c", JOIN, "sh", *group.procs_files, "--", *argv]
