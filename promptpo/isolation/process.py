"""The ``process`` sandbox: a worker process under bubblewrap (promptpo.isolation.bwrap), or a plain subprocess
as fallback.

In both modes the worker lowers its own rlimits (CPU, address space, file size, open files) before any candidate
code arrives, and, where this process may create cgroups, runs in a pids and memory cgroup of its own.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from promptpo.errors import SandboxError
from promptpo.isolation import bwrap, cgroup
from promptpo.isolation.base import Limits, PipeWorker, Sandbox, Worker
from promptpo.resources import data_dir

log = logging.getLogger(__name__)

NO_ISOLATION_WARNING = ("bubblewrap (bwrap) is not usable here: candidates run as plain subprocesses with "
                        "rlimits and a scrubbed environment, but NETWORK AND FILE ISOLATION ARE OFF. "
                        "Install bubblewrap (apt-get install bubblewrap) or use --sandbox docker.")


class ProcessSandbox(Sandbox):
    name = "process"

    def __init__(self, use_bwrap: bool | None = None, keep_spare: bool = True):
        problem = bwrap.problem()
        if use_bwrap and problem:
            raise SandboxError(f"bubblewrap was requested but {problem}", "install bubblewrap or drop the option")
        self.use_bwrap = problem is None if use_bwrap is None else use_bwrap
        self.problem = problem
        self.python = Path(os.path.realpath(sys.executable))
        self.worker_dir = data_dir("sandbox")
        self._scratch: list[str] = []
        self.keep_spare = keep_spare
        self._spare: tuple[Limits, Future] | None = None
        self._spawner: ThreadPoolExecutor | None = None
        """Workers are started from this one thread, which lives as long as the sandbox: bubblewrap's
        --die-with-parent kills a worker when the *thread* that started it ends, and evaluations run on
        threads that end with their wave."""
        self._pending: set[Future] = set()
        """Housekeeping handed to that thread (see _later), which close() waits for."""
        self.command = bwrap.Command(self.python, self.worker_dir)
        bwrap.sweep()
        self.use_cgroup = cgroup.problem() is None
        if self.use_cgroup:
            cgroup.sweep()
        if not self.use_bwrap:
            log.warning(NO_ISOLATION_WARNING)
        if not self.use_cgroup:
            log.warning("no pids/memory cgroup for the sandbox (%s): a fork bomb is only stopped by the act "
                        "timeout. Run as root, delegate a cgroup, or use --sandbox docker.", cgroup.problem())

    @property
    def isolated(self) -> bool:
        return self.use_bwrap

    def describe(self) -> str:
        groups = "pids and memory cgroup" if self.use_cgroup else f"NO cgroup ({cgroup.problem()})"
        if self.use_bwrap:
            user = f", as uid {bwrap.HOST_UID}" if bwrap.as_root() else ""
            return f"process (bubblewrap{user}: no network, read-only runtime, private tmpfs, rlimits, {groups})"
        return (f"process (NO bubblewrap: {self.problem or 'disabled'}; network and file isolation OFF, "
                f"rlimits, {groups})")

    def start(self, limits: Limits) -> Worker:
        """A fresh worker that has seen no code. One spare is kept warm (Python and numpy
        already imported, limits applied), so a candidate does not wait for interpreter start-up;
        the next spare is started in the background while this one works."""
        spare, self._spare = self._spare, None
        worker = None
        if spare is not None:
            try:
                worker = spare[1].result()
            except SandboxError:
                worker = None
            if worker is not None and (spare[0] != limits or worker.proc.poll() is not None):
                worker.close()
                worker = None
        if worker is None:
            worker = self._spawn(limits).result()
        if self.keep_spare:
            self._spare = (limits, self._spawn(limits))
        return worker

    def _spawn(self, limits: Limits) -> Future:
        return self._thread().submit(self._spawn_here, limits)

    def _later(self, work) -> None:
        """Housekeeping off the caller's path (a worker's emptied cgroup); close() waits for it. Done at once when
        the interpreter is exiting (its thread pools take no more work then: a policy closed at exit)."""
        try:
            future = self._thread().submit(work)
        except RuntimeError:
            work()
            return
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _thread(self) -> ThreadPoolExecutor:
        if self._spawner is None:
            self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="promptpo-spawn")
        return self._spawner

    def _spawn_here(self, limits: Limits) -> PipeWorker:
        if self.use_bwrap:
            argv, env, cwd = self.command.argv(limits.file_size_mb, limits.worker_args()), {}, "/"
        else:
            cwd = tempfile.mkdtemp(prefix="promptpo-scratch-")
            self._scratch.append(cwd)
            if bwrap.as_root():  # the worker is HOST_UID, not root: its scratch is its own
                os.chown(cwd, bwrap.HOST_UID, bwrap.HOST_UID)
            argv = self.command.plain(limits.worker_args())
            env = dict(bwrap.SANDBOX_ENV, HOME=cwd)
        # Address space, plus what the scratch tmpfs folders may hold, plus slack for the runtime.
        memory = (limits.memory_mb + 2 * limits.file_size_mb + 64) * 1024 * 1024
        group = cgroup.create(limits.processes, memory) if self.use_cgroup else None
        if group is not None:
            argv = cgroup.wrap(argv, group)
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=env, cwd=cwd, start_new_session=True, close_fds=True)
        except OSError as err:
            if group is not None:
                group.remove()
            raise SandboxError(f"cannot start the sandbox worker: {err}") from None
        return PipeWorker(proc, limits, group, later=self._later)

    def close(self) -> None:
        if self._spare is not None:
            try:
                self._spare[1].result().close()
            except SandboxError:
                pass
            self._spare = None
        for work in list(self._pending):
            work.result()
        if self._spawner is not None:
            self._spawner.shutdown(wait=False)
            self._spawner = None
        for path in self._scratch:
            shutil.rmtree(path, ignore_errors=True)
        self._scratch.clear()
        self.command.close()
