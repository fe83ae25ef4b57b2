"""The bubblewrap command line of a process-sandbox worker, and the unprivileged user it runs as.

The worker gets new user, pid, network, ipc, uts and cgroup namespaces (and may create none of its own), a cleared
environment, no capabilities,
a new session, read-only binds of only the Python runtime, numpy and the worker script, a /dev of five device
nodes, no /proc/sys, and a fresh size-capped tmpfs as its only writable place; it dies with its parent.

The sandbox's user never maps to host root. bubblewrap maps the sandbox's uid to the uid that starts it, so when
promptpo runs as root (CI, containers, many lab machines) the worker is started as :data:`HOST_UID` instead
(``setpriv``): host root files (``/proc/sys/kernel/core_pattern``, whose ``|program`` the kernel runs as root)
stay out of reach whatever the namespaces show. Folders of the runtime that user cannot reach (a Python under
``/root``) are first bound, in a mount namespace of the worker's own, onto empty folders it can reach.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from functools import cache
from pathlib import Path

HOST_UID = 65534
"""The host uid (and gid) a worker runs as when promptpo runs as root: ``nobody``."""
DEVICES = ("null", "zero", "full", "random", "urandom")
STAGE_PREFIX = "promptpo-stage-"
STAGE = 'while [ "$1" != "--" ]; do mount --bind "$1" "$2" || exit 96; shift 2; done; shift; exec "$@"'
"""A shell prologue (in a mount namespace of its own) that binds each source onto its stage folder, then execs."""
SANDBOX_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "LANG": "C.UTF-8", "HOME": "/tmp"}


def as_root() -> bool:
    return os.geteuid() == 0


@cache
def numpy_paths() -> tuple[Path, ...]:
    """numpy's package folder and, for wheels, its bundled libraries folder."""
    import numpy

    package = Path(numpy.__file__).resolve().parent
    return tuple(p for p in (package, package.parent / "numpy.libs") if p.is_dir())


def drop() -> list[str]:
    """The command prefix that runs what follows as HOST_UID with no groups and no capabilities (root only)."""
    return ["setpriv", f"--reuid={HOST_UID}", f"--regid={HOST_UID}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--"]


def reachable(path: Path) -> bool:
    """Whether HOST_UID can read ``path`` (every folder above it searchable by others, itself readable)."""
    try:
        for folder in [*reversed(path.parents)]:
            if not os.stat(folder).st_mode & stat.S_IXOTH:
                return False
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return bool(mode & stat.S_IROTH) and (not stat.S_ISDIR(mode) or bool(mode & stat.S_IXOTH))


@cache
def problem() -> str | None:
    """Why bubblewrap cannot be used here, or None when it works (as root: as HOST_UID)."""
    binary = shutil.which("bwrap")
    if binary is None:
        return "bwrap is not installed"
    probe = [binary, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"]
    if as_root():
        missing = [tool for tool in ("setpriv", "unshare", "mount") if shutil.which(tool) is None]
        if missing:
            return f"running as root, the sandbox drops to uid {HOST_UID} with {', '.join(missing)} (util-linux), missing here"
        probe = drop() + probe
    result = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        why = result.stderr.strip().splitlines()[-1:] or [str(result.returncode)]
        prefix = f"as uid {HOST_UID} " if as_root() else ""
        return f"bwrap cannot create namespaces {prefix}here: {why[0]}"
    return None


class Command:
    """Builds a worker's command line; holds the stage folders a root run needs (``close`` removes them)."""

    def __init__(self, python: Path, worker_dir: Path):
        self.python, self.worker_dir = python, worker_dir
        self.prefix = Path(sys.base_prefix).resolve()
        self._stage: str | None = None

    def binds(self) -> list[tuple[Path, str]]:
        """(host source, sandbox destination) of every read-only bind."""
        found = [(Path(p), p) for p in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc/ld.so.cache")
                 if os.path.exists(p)]
        if not str(self.prefix).startswith("/usr"):
            found.append((self.prefix, str(self.prefix)))
        found += [(path, f"/sandbox/lib/{path.name}") for path in numpy_paths()]
        return found + [(self.worker_dir, "/sandbox/worker")]

    def argv(self, file_size_mb: int, worker_args: str) -> list[str]:
        # --disable-userns: a candidate can create no namespace of its own (each would count against the sandbox
        # user's kernel quotas, which every later sandbox on the machine shares).
        args = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
                "--clearenv", "--cap-drop", "ALL", "--uid", "65534", "--gid", "65534", "--hostname", "sandbox"]
        staged: list[str] = []
        for index, (source, dest) in enumerate(self.binds()):
            args += ["--ro-bind", self._place(source, index, staged), dest]
        # Hide the interpreter's own site-packages: the worker needs numpy and nothing else.
        for key in ("purelib", "platlib"):
            site = Path(sysconfig.get_paths(vars={"base": str(self.prefix), "platbase": str(self.prefix)})[key])
            if site.is_dir() and site.is_relative_to(self.prefix):
                args += ["--tmpfs", str(site)]
        scratch = str(file_size_mb * 1024 * 1024)
        # /proc of its own pid namespace, without /proc/sys; a read-only /dev of five device nodes (no devpts,
        # whose mount would need a second user namespace mapping the sandbox's uid from 0) and a small /dev/shm.
        args += ["--proc", "/proc", "--tmpfs", "/proc/sys", "--remount-ro", "/proc/sys", "--tmpfs", "/dev"]
        for device in DEVICES:
            args += ["--dev-bind", f"/dev/{device}", f"/dev/{device}"]
        args += ["--size", scratch, "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
                 "--size", scratch, "--tmpfs", "/tmp", "--chdir", "/tmp"]
        for key, value in SANDBOX_ENV.items():
            args += ["--setenv", key, value]
        args += ["--remount-ro", "/"]  # the new root itself: only /tmp and /dev/shm stay writable
        args += [str(self.python), "-I", "-S", "/sandbox/worker/worker.py", worker_args, "/sandbox/lib"]
        return self._as_sandbox_user(args, staged)

    def plain(self, worker_args: str) -> list[str]:
        """The worker without bubblewrap (no network or file isolation): a plain process, and as root one of
        HOST_UID all the same, its runtime folders staged where that user can read them."""
        staged: list[str] = []
        prefix = self._place(self.prefix, 0, staged)
        python = os.path.join(prefix, os.path.relpath(self.python, self.prefix)) if self.python.is_relative_to(
            self.prefix) else str(self.python)
        libs = [self._place(path.parent, 1 + i, staged) for i, path in enumerate(numpy_paths()[:1])]
        worker = self._place(self.worker_dir, 9, staged)
        return self._as_sandbox_user([python, "-I", "-S", os.path.join(worker, "worker.py"), worker_args, *libs],
                                     staged)

    def _place(self, source: Path, index: int, staged: list[str]) -> str:
        """Where the worker reads ``source``: itself, or (as root, when HOST_UID cannot reach it) a stage folder
        it is bound onto (recorded in ``staged``)."""
        if not as_root() or reachable(source):
            return str(source)
        stage = os.path.join(self.stage(), str(index))
        os.makedirs(stage, mode=0o755, exist_ok=True)
        staged += [str(source), stage]
        return stage

    @staticmethod
    def _as_sandbox_user(args: list[str], staged: list[str]) -> list[str]:
        if not as_root():
            return args
        args = drop() + args
        if staged:
            args = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", STAGE, "sh", *staged,
                    "--", *args]
        return args

    def stage(self) -> str:
        if self._stage is None:
            self._stage = tempfile.mkdtemp(prefix=f"{STAGE_PREFIX}{os.getpid()}-")
            os.chmod(self._stage, 0o755)
        return self._stage

    def close(self) -> None:
        if self._stage is not None:
            shutil.rmtree(self._stage, ignore_errors=True)
            self._stage = None


def sweep() -> None:
    """Remove the (empty) stage folders of runs that are gone."""
    for folder in Path(tempfile.gettempdir()).glob(f"{STAGE_PREFIX}*-*"):
        pid = folder.name[len(STAGE_PREFIX):].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)
