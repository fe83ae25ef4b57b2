"""The ``docker`` sandbox: a fresh, locked-down, labelled container for every worker.

A container is one worker: its init's only child is ``worker.py``, started from nothing a candidate has touched,
and removed (with everything the candidate started, files and shared memory included) once the worker ends. No
process outlives its candidate, so nothing a candidate leaves behind can attach to, signal or read a later
worker, or answer the host's frames for it: each candidate (and each stage of one: the cascade's second stage,
verify batches, feedback functions) is scored in a container no other program ever ran in. The container has no
network, a read-only root, tmpfs scratch, a non-root user, no capabilities, no-new-privileges, pids/memory (no
swap)/CPU limits and an init process; nothing from the host environment goes in. The next container is started
in the background while a worker is in use, so a candidate rarely waits for one; containers left by a killed
run are swept at the next start.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import tempfile
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from promptpo.errors import SandboxError
from promptpo.isolation.base import Limits, Sandbox, Worker, proc_stat
from promptpo.isolation.docker_worker import TOKEN_BYTES, DockerWorker, NoSocket, accept, close_quietly, local_daemon
from promptpo.isolation.image import docker_client, image_tag

log = logging.getLogger(__name__)

LABEL = "promptpo.sandbox"
OWNER = "promptpo.sandbox_id"
SANDBOX_USER = "65534:65534"
CPUS = 1.0
RESERVED_PIDS = 2
"""Room in the container's pids limit for its init and the worker itself."""
WORKER = ["python3", "-I", "-S", "/sandbox/worker/worker.py"]
SCRATCH_INODES = 8192
"""Files and folders a candidate may create in /tmp and in /dev/shm."""
IPC = "/sandbox/ipc"
"""Where a container sees its own folder of the host's (read-only): the frame socket, and nothing else."""
SOCKET = "frames.sock"
FOLDER_MODE = 0o711
"""A container's socket folder: the sandbox user may reach the socket in it, and nobody may list it."""
IPC_PREFIX = "promptpo-ipc-"
"""A run's socket folder is IPC_PREFIX + its pid and start time + a random part (swept once the run is gone)."""


def _start_time(pid: int) -> str | None:
    fields = proc_stat(pid)
    return None if fields is None else fields[19].decode()


def owner_labels() -> dict[str, str]:
    pid = os.getpid()
    return {LABEL: "1", "promptpo.host": socket.gethostname(), "promptpo.pid": str(pid),
            "promptpo.pid_start": _start_time(pid) or ""}


def owner_alive(pid: str, start: str) -> bool:
    """Whether the process that made a container still runs (same pid and same start time)."""
    return pid.isdigit() and _start_time(int(pid)) is not None and _start_time(int(pid)) == start


def sweep(client) -> list[str]:
    """Remove promptpo containers of this host whose run is gone, and their socket folders; returns their names.
    (The low-level listing: containers other runs remove meanwhile must not make it fail.)"""
    removed = []
    for container in client.api.containers(all=True, filters={"label": f"{LABEL}=1"}):
        labels = container.get("Labels") or {}
        if labels.get("promptpo.host") == socket.gethostname() and not owner_alive(
                labels.get("promptpo.pid", ""), labels.get("promptpo.pid_start", "")):
            if remove_container(client, container["Id"]):
                removed.append((container.get("Names") or [container["Id"][:12]])[0].lstrip("/"))
    if removed:
        log.warning("removed %d sandbox container(s) left behind by runs that died: %s", len(removed),
                    ", ".join(removed))
    for folder in Path(tempfile.gettempdir()).glob(f"{IPC_PREFIX}*-*-*"):
        pid, start = folder.name[len(IPC_PREFIX):].split("-")[:2]
        if not owner_alive(pid, start):
            shutil.rmtree(folder, ignore_errors=True)
    return removed


def remove_container(client, ident: str) -> bool:
    """Remove a container (killing what runs in it); False if it was gone already or would not go."""
    import docker

    try:
        client.api.remove_container(ident, force=True)
        return True
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as err:
        log.warning("could not remove sandbox container %s: %s", ident[:12], err)
        return False


def ipc_folder() -> str:
    pid = os.getpid()
    folder = tempfile.mkdtemp(prefix=f"{IPC_PREFIX}{pid}-{_start_time(pid) or 0}-")
    os.chmod(folder, 0o711)  # the sandbox user may reach a folder it is told the name of, not list them
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
        self.ident = uuid.uuid4().hex
        """Labels this sandbox's containers: close() removes its own, never another sandbox's of this process."""
        self.ipc_dir = ipc_folder()
        self.frames_over_socket = local_daemon()
        self._next: tuple[Limits, Future] | None = None
        """The next worker, in a container being started in the background."""
        self._background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="promptpo-docker")
        """Starts the next container and removes finished ones, off the candidate's path."""
        self._removals: set[Future] = set()
        self._closing = False

    def describe(self) -> str:
        return (f"docker ({self.image}: a fresh container per worker, no network, read-only root, user 65534, "
                f"no capabilities, no-new-privileges, pids/memory/CPU limits without swap)")

    def start(self, limits: Limits) -> Worker:
        """A worker in a container that has run nothing else: the one started in the background after the last
        worker ended, else a new one."""
        pending, self._next = self._next, None
        worker = None
        if pending is not None:
            try:
                worker = pending[1].result()
            except Exception as err:  # noqa: BLE001 - start one here instead (and say why if that fails too)
                log.warning("the next sandbox container did not start in the background (%s)", err)
            if worker is not None and (pending[0] != limits or worker.exit_code(wait=False) is not None):
                worker.discard()
                worker = None
        if worker is None:
            worker = self._fresh(limits)
        return worker

    def _fresh(self, limits: Limits) -> DockerWorker:
        """A new container running a new worker. Where the daemon runs on this machine the worker's frames travel
        over a unix socket in the container's own bind-mounted folder, not through the daemon's attach stream
        (which then keeps only what the code prints, and tells when the worker ends); the socket's listener
        accepts connections until one presents this start's token (sent on the worker's stdin), and is gone
        before any candidate code runs. A remote daemon, or a socket the worker cannot connect (some Docker
        Desktop and SELinux set-ups), falls back to frames in the attach stream for the rest of the run."""
        if self.frames_over_socket:
            try:
                return self._start(limits, socket_frames=True)
            except NoSocket as err:
                log.warning("the sandbox worker could not connect its frame socket (%s); frames go through the "
                            "Docker daemon from now on, which is slower", err)
                self.frames_over_socket = False
        return self._start(limits, socket_frames=False)

    def _start(self, limits: Limits, socket_frames: bool) -> DockerWorker:
        api = self.client.api
        folder = os.path.join(self.ipc_dir, secrets.token_hex(16))
        os.mkdir(folder)
        os.chmod(folder, FOLDER_MODE)
        path = os.path.join(folder, SOCKET)
        # An inode limit too: 400,000 empty files would make removing the container take seconds.
        scratch = f"rw,nosuid,nodev,size={limits.file_size_mb * 4}m,nr_inodes={SCRATCH_INODES},mode=1777"
        shm = f"rw,nosuid,nodev,size=16m,nr_inodes={SCRATCH_INODES},mode=1777"
        command = WORKER + [limits.worker_args()] + (["--ipc", f"{IPC}/{SOCKET}"] if socket_frames else [])
        container = listener = raw = None
        try:
            if socket_frames:
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                listener.bind(path)
                os.chmod(path, 0o666)  # the sandbox user connects; the folder's mode keeps its name unlisted
                listener.listen(1)
            container = self.client.containers.create(
                self.image, command + ["/sandbox/lib"], stdin_open=True, detach=True, init=True, network_mode="none",
                read_only=True, tmpfs={"/tmp": scratch, "/dev/shm": shm}, user=SANDBOX_USER, cap_drop=["ALL"],
                security_opt=["no-new-privileges"], pids_limit=limits.processes + RESERVED_PIDS,
                mem_limit=f"{limits.memory_mb}m", memswap_limit=f"{limits.memory_mb}m", nano_cpus=int(CPUS * 1e9),
                ipc_mode="private", cgroupns="private", hostname="sandbox", volumes={folder: {"bind": IPC, "mode": "ro,z"}},
                environment={}, labels={**owner_labels(), OWNER: self.ident}, working_dir="/tmp", stop_signal="SIGKILL",
                log_config={"type": "none"})  # what it prints comes over the attach stream, capped; no log file
            stream = api.attach_socket(container.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            raw = getattr(stream, "_sock", stream)
            container.start()
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
            self._remove(container, folder)
            raise SandboxError(f"cannot start a sandbox container: {err.explanation or err}"[:300]) from None
        except BaseException:
            close_quietly(raw)
            self._remove(container, folder)
            raise
        finally:
            if listener is not None:
                listener.close()
                try:
                    os.unlink(path)
                except OSError:
                    pass
        return DockerWorker(self, container, raw, limits, channel, folder)

    def retire(self, worker: DockerWorker, spare: bool = True) -> None:
        """A worker ended: its container goes, with everything in it, and (``spare``) the next worker's container is
        started, both in the background: starting it while a candidate runs would take the evaluation's cores (at
        once, and no next worker, when the interpreter is exiting: a policy closed at exit)."""
        try:
            future = self._background.submit(self._remove, worker.container, worker.folder)
        except RuntimeError:
            self._remove(worker.container, worker.folder)
            return
        self._removals.add(future)
        future.add_done_callback(self._removals.discard)
        if spare and self._next is None and not self._closing:
            self._next = (worker.limits, self._background.submit(self._fresh, worker.limits))

    def _remove(self, container, folder: str) -> None:
        if container is not None:
            remove_container(self.client, container.id)
        shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        self._closing = True
        pending, self._next = self._next, None
        if pending is not None:
            try:
                pending[1].result().discard()
            except Exception as err:  # noqa: BLE001 - its container is swept below anyway
                log.debug("the spare worker did not start: %s", err)
        for future in list(self._removals):
            future.result()
        self._background.shutdown(wait=True)
        mine = [f"{LABEL}=1", f"promptpo.pid={os.getpid()}", f"{OWNER}={self.ident}"]
        for container in self.client.api.containers(all=True, filters={"label": mine}):
            remove_container(self.client, container["Id"])  # one whose removal failed, or a worker nobody closed
        shutil.rmtree(self.ipc_dir, ignore_errors=True)
