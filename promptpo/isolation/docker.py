"""The ``docker`` sandbox: one locked-down, labelled container per run; a fresh worker per candidate.

The container has no network, a read-only root, tmpfs scratch, a non-root user, no capabilities,
no-new-privileges, pids/memory (no swap)/CPU limits and an init process; nothing from the host
environment goes in. Each candidate's worker is a new ``docker exec`` process; when it ends (or
must be stopped) every process but init and the keeper is killed and the scratch folders are
emptied, so the next candidate sees nothing of the last. A container whose processes will not
die is replaced. Containers are removed when the run ends; ones left by a killed run are swept
at the next start.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from promptpo.errors import SandboxError
from promptpo.isolation.base import Limits, Sandbox, Worker, proc_stat
from promptpo.isolation.docker_worker import TOKEN_BYTES, DockerWorker, NoSocket, accept, close_quietly, local_daemon
from promptpo.isolation.image import docker_client, image_tag

log = logging.getLogger(__name__)

LABEL = "promptpo.sandbox"
SANDBOX_USER = "65534:65534"
CPUS = 1.0
RESERVED_PIDS = 8
"""Room in the container's pids limit for init, the keeper and the reaper."""
WORKER = ["python3", "-I", "-S", "/sandbox/worker/worker.py"]
REAP = ["python3", "-I", "-S", "/sandbox/worker/reap.py"]
REAP_TIMEOUT_S = 15.0
"""Longest a cleanup between candidates may take before the container is replaced instead."""
SCRATCH_INODES = 8192
"""Files and folders a candidate may create in /tmp and in /dev/shm."""
IPC = "/sandbox/ipc"
"""Where the container sees the host's folder of worker sockets: read-only, and not listable (mode 0711)."""


def _start_time(pid: int) -> str | None:
    fields = proc_stat(pid)
    return None if fields is None else fields[19].decode()


def owner_labels() -> dict[str, str]:
    pid = os.getpid()
    return {LABEL: "1", "promptpo.host": socket.gethostname(), "promptpo.pid": str(pid),
            "promptpo.pid_start": _start_time(pid) or ""}


def owner_alive(labels: dict[str, str]) -> bool:
    """Whether the process that made a container still runs (same pid and same start time)."""
    try:
        pid = int(labels.get("promptpo.pid", ""))
    except ValueError:
        return False
    return _start_time(pid) is not None and _start_time(pid) == labels.get("promptpo.pid_start")


def sweep(client) -> list[str]:
    """Remove promptpo containers of this host whose run is gone; returns their names."""
    removed = []
    for container in client.containers.list(all=True, filters={"label": f"{LABEL}=1"}):
        labels = container.labels or {}
        if labels.get("promptpo.host") == socket.gethostname() and not owner_alive(labels):
            try:
                container.remove(force=True)
                removed.append(container.name)
            except Exception as err:  # noqa: BLE001 - a container that vanished meanwhile is fine
                log.debug("could not remove %s: %s", container.name, err)
    if removed:
        log.warning("removed %d sandbox container(s) left behind by runs that died: %s", len(removed),
                    ", ".join(removed))
    for folder in Path(tempfile.gettempdir()).glob(f"{IPC_PREFIX}*-*-*"):  # their socket folders too
        pid, start = folder.name[len(IPC_PREFIX):].split("-")[:2]
        if pid.isdigit() and not owner_alive({"promptpo.pid": pid, "promptpo.pid_start": start}):
            shutil.rmtree(folder, ignore_errors=True)
    return removed


IPC_PREFIX = "promptpo-ipc-"
"""A run's socket folder is IPC_PREFIX + its pid and start time + a random part (swept once the run is gone)."""


def ipc_folder() -> str:
    pid = os.getpid()
    folder = tempfile.mkdtemp(prefix=f"{IPC_PREFIX}{pid}-{_start_time(pid) or 0}-")
    os.chmod(folder, 0o711)  # the sandbox user may reach a socket it is told the name of, not list them
    return folder


class DockerSandbox(Sandbox):
    name = "docker"

    def __init__(self, image: str | None = None):
        import docker

        self.docker = docker
        self.client = docker_client()
        self.image = image or os.environ.get("PROMPTPO_SANDBOX_IMAGE") or image_tag()
        try:
            self.client.images.get(self.image)
        except docker.errors.ImageNotFound:
            raise SandboxError(f"the sandbox image {self.image} is not built on this machine",
                               "run `promptpo sandbox build` (add --base IMAGE when no Python image can be pulled)") from None
        sweep(self.client)
        self.ipc_dir = ipc_folder()
        self.frames_over_socket = local_daemon()
        self._next: tuple[Limits, Future] | None = None
        """The next worker, being started in the background once the last one ended and the container was
        cleaned (so the next candidate finds one ready)."""
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="promptpo-docker")
        self._closing = False
        self.container = None
        self.keeper: int | None = None
        self._shape: tuple[int, int, int] | None = None

    def describe(self) -> str:
        return (f"docker ({self.image}: no network, read-only root, user 65534, no capabilities, "
                f"no-new-privileges, pids/memory/CPU limits without swap)")

    # -- the run's container ---------------------------------------------------------------
    def _container(self, limits: Limits):
        shape = (limits.memory_mb, limits.file_size_mb, limits.processes)
        if self.container is not None and shape != self._shape:
            self._remove()
        if self.container is not None:
            try:
                self.container.reload()
                running = self.container.status == "running"
            except self.docker.errors.APIError:
                running = False
            if not running:
                log.warning("the sandbox container stopped; starting a new one")
                self._remove()
        if self.container is None:
            self._create(limits)
            self._shape = shape
        return self.container

    def _create(self, limits: Limits) -> None:
        # An inode limit too: 400,000 empty files would make every cleanup take seconds.
        scratch = f"rw,nosuid,nodev,size={limits.file_size_mb * 4}m,nr_inodes={SCRATCH_INODES},mode=1777"
        shm = f"rw,nosuid,nodev,size=16m,nr_inodes={SCRATCH_INODES},mode=1777"
        try:
            self.container = self.client.containers.run(
                self.image, ["sleep", "infinity"], detach=True, init=True, network_mode="none", read_only=True,
                tmpfs={"/tmp": scratch, "/dev/shm": shm}, user=SANDBOX_USER, cap_drop=["ALL"], security_opt=["no-new-privileges"],
                pids_limit=limits.processes + RESERVED_PIDS, mem_limit=f"{limits.memory_mb}m", memswap_limit=f"{limits.memory_mb}m",
                nano_cpus=int(CPUS * 1e9), ipc_mode="private", cgroupns="private", hostname="sandbox",
                volumes={self.ipc_dir: {"bind": IPC, "mode": "ro,z"}},
                environment={}, labels=owner_labels(), working_dir="/tmp", stop_signal="SIGKILL")
            out = self._exec(REAP + ["--keeper"])
            keepers = json.loads(out)
        except self.docker.errors.APIError as err:
            self._remove()
            raise SandboxError(f"cannot start the sandbox container: {err.explanation or err}"[:300]) from None
        if len(keepers) != 1:
            self._remove()
            raise SandboxError(f"unexpected processes in a new sandbox container: {keepers}")
        self.keeper = keepers[0]
        log.info("sandbox container %s started", self.container.name)

    def _exec(self, command: list[str], timeout: float = REAP_TIMEOUT_S) -> str:
        """Run a helper in the container; one that does not finish in time (a leftover process may stop it
        with SIGSTOP) is a SandboxError, and the caller replaces the container."""
        done: list = []

        def run() -> None:
            try:
                done.append(self.container.exec_run(command, user=SANDBOX_USER, workdir="/tmp"))
            except Exception as err:  # noqa: BLE001 - handed to the caller
                done.append(err)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(timeout)
        if not done:
            raise SandboxError(f"{command[-1]} did not finish within {timeout:g} s in the sandbox container")
        if isinstance(done[0], Exception):
            raise done[0]
        result = done[0]
        if result.exit_code != 0:
            raise SandboxError(f"{command[-1]} failed in the sandbox container: {result.output[-300:]!r}")
        return result.output.decode()

    def reap(self) -> None:
        """Kill every candidate process and empty scratch; replace the container if that fails."""
        if self.container is None:
            return
        try:
            report = json.loads(self._exec(REAP + [str(self.keeper)]))
        except (SandboxError, self.docker.errors.APIError, ValueError) as err:
            log.warning("cleaning the sandbox container failed (%s); replacing it", err)
            self._remove()
            return
        if report["survivors"] or report.get("left"):
            log.warning("processes %s would not die or scratch files %s would not go; replacing the sandbox "
                        "container", report["survivors"], report.get("left"))
            self._remove()

    def _remove(self) -> None:
        if self.container is not None:
            try:
                self.container.remove(force=True)
            except self.docker.errors.APIError as err:
                log.warning("could not remove sandbox container %s: %s", self.container.name, err)
        self.container, self.keeper = None, None

    def close(self) -> None:
        self._closing = True
        pending, self._next = self._next, None
        if pending is not None:
            try:
                pending[1].result().discard()
            except Exception as err:  # noqa: BLE001 - the container goes below anyway
                log.debug("the spare worker did not start: %s", err)
        self._background.shutdown(wait=True)
        self._remove()
        shutil.rmtree(self.ipc_dir, ignore_errors=True)

    def after_worker(self, limits: Limits, reap: bool) -> None:
        """A worker ended: clean the container (unless its kill already did) and start the next worker, both in
        the background. Nothing of the next candidate runs before the cleaning finished: ``start`` waits for it."""
        if self._closing:
            if reap:
                self.reap()
            return
        self._next = (limits, self._background.submit(self._clean_and_start, limits, reap))

    def _clean_and_start(self, limits: Limits, reap: bool) -> Worker:
        if reap:
            self.reap()
        return self._fresh(limits)

    # -- workers ---------------------------------------------------------------------------
    def start(self, limits: Limits) -> Worker:
        """A worker that has seen no code: the one started in the background after the last worker ended (the
        container cleaned first), else a new one."""
        pending, self._next = self._next, None
        if pending is not None:
            try:
                worker = pending[1].result()
            except Exception as err:  # noqa: BLE001 - clean and start here instead
                log.warning("the next sandbox worker did not start in the background (%s); starting one now", err)
                self.reap()
                return self._fresh(limits)
            if pending[0] == limits and worker.exit_code(wait=False) is None:
                return worker
            worker.discard()  # other limits (or it died): killed, the container cleaned, and a new one
        return self._fresh(limits)

    def _fresh(self, limits: Limits) -> Worker:
        """A new worker. Where the daemon runs on this machine its frames travel over a unix socket of its own in
        the bind-mounted folder, not through the daemon's exec stream (which then keeps only what the code
        prints, and tells when the worker ends). The socket's name is random and unlisted; its listener accepts
        connections until one presents this start's token (sent on the worker's stdin), and is gone before any
        candidate code runs. A remote daemon, or a socket the worker cannot connect (some Docker Desktop and
        SELinux set-ups), falls back to frames in the exec stream for the rest of the run."""
        container = self._container(limits)
        if self.frames_over_socket:
            try:
                return self._start(container, limits, socket_frames=True)
            except NoSocket as err:
                log.warning("the sandbox worker could not connect its frame socket (%s); frames go through the "
                            "Docker daemon from now on, which is slower", err)
                self.frames_over_socket = False
                container = self._container(limits)
        return self._start(container, limits, socket_frames=False)

    def _start(self, container, limits: Limits, socket_frames: bool) -> Worker:
        api = self.client.api
        name = f"w-{secrets.token_hex(16)}.sock"
        path = os.path.join(self.ipc_dir, name)
        listener = raw = None
        try:
            command = WORKER + [limits.worker_args()]
            if socket_frames:
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                listener.bind(path)
                os.chmod(path, 0o666)  # the sandbox user connects; the folder's mode keeps the name unlisted
                listener.listen(1)
                command += ["--ipc", f"{IPC}/{name}"]
            exec_id = api.exec_create(container.id, command + ["/sandbox/lib"], stdin=True, stdout=True, stderr=True,
                                      user=SANDBOX_USER, workdir="/tmp")["Id"]
            raw = getattr(stream := api.exec_start(exec_id, socket=True), "_sock", stream)
            channel = None
            if socket_frames:
                token = secrets.token_hex(TOKEN_BYTES // 2).encode()
                raw.sendall(token)
                try:
                    channel = accept(listener, token)
                except OSError as err:
                    raise NoSocket(str(err)) from None
        except self.docker.errors.APIError as err:
            close_quietly(raw)
            self._remove()
            raise SandboxError(f"cannot start a worker in the sandbox container: {err.explanation or err}"[:300]) from None
        except NoSocket:
            close_quietly(raw)
            self._remove()
            raise
        finally:
            if listener is not None:
                listener.close()
                try:
                    os.unlink(path)
                except OSError:
                    pass
        return DockerWorker(self, exec_id, raw, limits, channel)
