"""The Docker sandbox's worker as a byte channel, and the frame socket it may connect (promptpo.isolation.docker).

Frames go over a unix socket of the worker's own in a read-only, unlisted bind mount where the daemon runs
on this machine; otherwise, and always for what the code prints, through the daemon's exec stream.
"""

from __future__ import annotations

import os
import secrets
import select
import socket
import struct
import threading
import time

from promptpo.isolation.base import CappedOutput, FdChannel, Limits, Worker, WorkerDied

TOKEN_BYTES = 32
CONNECT_TIMEOUT_S = 10.0
EXIT_WAIT_S = 1.0
"""How long the host waits for a worker whose channel ended to be seen as exited (a killed container stops in ~0.1 s)."""


class NoSocket(Exception):
    """The worker did not connect its frame socket in time."""


def close_quietly(sock) -> None:
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass


def local_daemon() -> bool:
    """Whether the Docker daemon runs on this machine (a unix socket), so a bind-mounted socket reaches it."""
    host = os.environ.get("DOCKER_HOST", "")
    return host == "" or host.startswith("unix://")


def accept(listener: socket.socket, token: bytes) -> socket.socket:
    """The first connection that presents ``token``, within CONNECT_TIMEOUT_S; any other is closed."""
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        listener.settimeout(max(0.01, deadline - time.monotonic()))
        conn, _ = listener.accept()  # socket.timeout (an OSError) past the deadline
        conn.settimeout(max(0.01, deadline - time.monotonic()))
        got = b""
        try:
            while len(got) < len(token):
                chunk = conn.recv(len(token) - len(got))
                if not chunk:
                    break
                got += chunk
        except OSError:
            pass
        if secrets.compare_digest(got, token):
            conn.settimeout(None)
            return conn
        conn.close()


class DockerWorker(Worker):
    """A worker that is a container's main process, behind the daemon's attach stream (stdout and stderr
    multiplexed out). Its frames go over its own unix socket (``channel``) when it has one; otherwise in the
    stream: stdin in, stdout out. Killing it kills the container's init, and with it every process inside."""

    HEADER = struct.Struct(">BxxxL")

    def __init__(self, sandbox, container, sock: socket.socket, limits: Limits,
                 channel: socket.socket | None = None, folder: str = ""):
        self.sandbox, self.container, self.sock, self.folder = sandbox, container, sock, folder
        self.sock.settimeout(None)
        self.channel = channel
        self._pending = bytearray()
        self._closed = False
        self._cond = threading.Condition()
        # Past the hard cap the reader thread only raises a flag (and keeps draining): stopping the
        # worker needs the docker API, which stalls while nobody reads this stream.
        self._printed = CappedOutput(limits.output_bytes, limits.output_hard_bytes, self._overflowed)
        self._frames = None if channel is None else FdChannel(
            channel.fileno(), channel.fileno(), stopped=lambda: self._closed or self._printed.overflowed)
        self._killed = False
        self._retired = False
        self._spare = True
        """Whether closing it starts the next worker in the background."""
        self.limits = limits
        self._reader = threading.Thread(target=self._demux, daemon=True)
        self._reader.start()

    def _demux(self) -> None:
        buffer = bytearray()
        while True:
            try:
                chunk = self.sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            while len(buffer) >= self.HEADER.size:
                stream, size = self.HEADER.unpack_from(buffer)
                if len(buffer) < self.HEADER.size + size:
                    break
                payload = bytes(buffer[self.HEADER.size:self.HEADER.size + size])
                del buffer[:self.HEADER.size + size]
                if stream == 1 and self.channel is None:
                    with self._cond:
                        self._pending += payload
                        self._cond.notify_all()
                else:
                    self._printed.feed(payload)
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _overflowed(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def write(self, data: bytes, deadline: float) -> None:
        if self._printed.overflowed:
            raise WorkerDied
        if self._frames is not None:
            return self._frames.write(data, deadline)
        # The stream stays in blocking mode (the reader thread relies on it): wait with select,
        # then send what fits without blocking.
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            _, ready, _ = select.select([], [self.sock], [], remaining)
            if not ready:
                continue
            try:
                view = view[self.sock.send(view, socket.MSG_DONTWAIT):]
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                raise WorkerDied from None

    def read_exact(self, n: int, deadline: float) -> bytes:
        if self._frames is not None:
            return self._frames.read_exact(n, deadline)
        with self._cond:
            while len(self._pending) < n:
                if self._closed or self._printed.overflowed:
                    raise WorkerDied
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                self._cond.wait(remaining)
            data = bytes(self._pending[:n])
            del self._pending[:n]
            return data

    def kill(self) -> None:
        if self._killed:
            return
        self._killed = True
        try:
            self.container.kill()
        except self.sandbox.docker.errors.APIError:
            pass  # it ended meanwhile
        self._shutdown()

    def _shutdown(self) -> None:
        for end in (self.channel, self.sock):
            try:
                if end is not None:
                    end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def exit_code(self, wait: bool = True) -> int | None:
        """The worker's exit status (the container's init passes it on: 128+N for a signal); None while it runs
        (after up to EXIT_WAIT_S when ``wait``)."""
        deadline = time.monotonic() + (EXIT_WAIT_S if wait else 0)
        while True:
            try:
                state = self.sandbox.client.api.inspect_container(self.container.id)["State"]
            except self.sandbox.docker.errors.APIError:
                return None
            if not state.get("Running"):
                return state.get("ExitCode")
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def host_pids(self) -> list[int]:
        try:
            listing = self.sandbox.client.api.top(self.container.id, ps_args="-eo pid")
        except self.sandbox.docker.errors.APIError:
            return []
        return [int(row[0]) for row in listing.get("Processes") or [] if row and str(row[0]).isdigit()]

    def output(self) -> tuple[str, int]:
        self._reader.join(timeout=2)
        return self._printed.text(), self._printed.total

    def close(self) -> None:
        if not self._killed:
            # Let a worker that was told to exit finish (its container stops with it), then remove the container.
            try:
                (self.channel or self.sock).shutdown(socket.SHUT_WR)  # end of its requests
            except OSError:
                pass
            with self._cond:
                self._cond.wait_for(lambda: self._closed, timeout=2)
        self._shutdown()
        self._reader.join(timeout=2)
        for end in (self.channel, self.sock):
            close_quietly(end)
        if not self._retired:
            self._retired = True
            self.sandbox.retire(self, spare=self._spare)

    def discard(self) -> None:
        """Close it without starting a next worker (a spare that is not wanted)."""
        self._spare = False
        self.kill()
        self.close()
