"""The one interface every isolation backend implements, and the pipe plumbing they share.

A :class:`Sandbox` starts :class:`Worker` processes. A worker is a byte channel to one fresh
``sandbox/worker.py`` process: frames go in on its stdin, come back on its stdout, and whatever
the candidate prints arrives on stderr, kept in a capped buffer. Reads and writes take a
deadline; past it the caller kills the worker. Nothing here interprets frames (see session.py).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields

from promptpo.options import option


@dataclass(frozen=True)
class Limits:
    """Resource limits for one candidate's worker."""

    act_timeout_s: float = field(default=5.0, metadata=option(
        "Seconds allowed per call into the sandboxed code (act or schedule).", flag="--act-timeout"))
    """Wall time allowed per act() call; a lock-step batch of k episodes gets k times this."""
    load_timeout_s: float = 30.0
    """Wall time to start the worker and run the code's top level."""
    candidate_wall_s: float = 600.0
    """Wall time for the whole evaluation of one candidate."""
    candidate_cpu_s: int = 300
    """CPU seconds the worker may use over one candidate (RLIMIT_CPU)."""
    memory_mb: int = 1024
    """Address-space limit of the worker (RLIMIT_AS)."""
    output_bytes: int = 64 * 1024
    """How much of what the code prints is kept; the rest is counted and dropped."""
    output_hard_bytes: int = 16 * 1024 * 1024
    """Printing more than this stops the candidate (output_limit)."""
    file_size_mb: int = 16
    """Largest file the code may write in its scratch space (RLIMIT_FSIZE, tmpfs size)."""
    open_files: int = 64
    """Open file descriptors (RLIMIT_NOFILE)."""
    processes: int = 64
    """Processes and threads the worker may have at once (a pids cgroup or the container's pids limit)."""
    guard: bool = True
    """In the worker, only the gate's modules import, as facades without private attributes, and the
    gate's forbidden builtins are absent (promptpo.gate). Off only to test the sandbox alone."""

    def worker_args(self) -> str:
        """The limits the worker applies to itself before any candidate code arrives."""
        return json.dumps({"cpu_s": self.candidate_cpu_s, "memory_mb": self.memory_mb,
                           "file_size_mb": self.file_size_mb, "open_files": self.open_files})

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_record(cls, data: dict | None) -> Limits:
        """The limits a run.json recorded; fields this version does not know are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


SPIN_S = 0.002
"""How long a reader polls before it sleeps (see PipeWorker.read_exact)."""


EXIT_WAIT_S = 0.2
"""How long closing a worker waits for it to end by itself before it is killed."""


class WorkerDied(Exception):
    """The worker closed its stdout: it exited or was killed."""


class Worker(ABC):
    """A started worker process seen as a byte channel."""

    @abstractmethod
    def write(self, data: bytes, deadline: float) -> None: ...

    @abstractmethod
    def read_exact(self, n: int, deadline: float) -> bytes:
        """Raise TimeoutError past the deadline, WorkerDied on end of stream."""

    @abstractmethod
    def kill(self) -> None:
        """Stop the worker and everything it started, now."""

    @abstractmethod
    def exit_code(self) -> int | None:
        """The process's exit status once it ended (waiting a little), None if it still runs."""

    @abstractmethod
    def output(self) -> tuple[str, int]:
        """(kept text of what the code printed, total bytes printed)."""

    _printed: CappedOutput

    @property
    def output_overflowed(self) -> bool:
        return self._printed.overflowed

    def exit_signal(self, code: int | None = None) -> int | None:
        return signal_of(self.exit_code() if code is None else code)

    def exit_description(self, code: int | None = None) -> str:
        """How the process ended, e.g. 'killed by SIGXCPU' (after kill or end of stream)."""
        code = self.exit_code() if code is None else code
        if code is None:
            return "still running"
        sig = signal_of(code)
        return f"killed by {signal.Signals(sig).name}" if sig else f"exited with code {code}"

    @abstractmethod
    def close(self) -> None:
        """Kill if still running and release pipes; safe to call twice."""

    @abstractmethod
    def host_pids(self) -> list[int]:
        """The worker's processes as the host numbers them (to read who they really are: promptpo.isolation.check)."""


class Sandbox(ABC):
    name: str

    @abstractmethod
    def start(self, limits: Limits) -> Worker: ...

    def describe(self) -> str:
        """One line for run.json and the display: what isolation is in force."""
        return self.name

    @property
    def isolated(self) -> bool:
        """False when the sandbox runs without network and file isolation."""
        return True

    def close(self) -> None:
        """Release what the backend holds for the run (containers, temp folders)."""

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CappedOutput:
    """What the candidate prints: the first and the last ``keep / 2`` bytes are kept (failures show at the
    end), the middle only counted; past ``hard`` bytes ``on_overflow`` is called once (the worker gets
    stopped)."""

    def __init__(self, keep: int, hard: int, on_overflow):
        self.keep, self.hard, self.on_overflow = keep, hard, on_overflow
        self.buffer = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.overflowed = False

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        head = self.keep - self.keep // 2
        if len(self.buffer) < head:
            taken = head - len(self.buffer)
            self.buffer += chunk[:taken]
            chunk = chunk[taken:]
        if chunk and self.keep // 2:
            self.tail += chunk[-(self.keep // 2):]
            del self.tail[:max(0, len(self.tail) - self.keep // 2)]
        if self.total > self.hard and not self.overflowed:
            self.overflowed = True
            self.on_overflow()

    def text(self) -> str:
        """At most ``keep`` characters: the "not kept" line takes its room from both ends."""
        head, tail = bytes(self.buffer), bytes(self.tail)
        middle = ""
        if self.total > len(head) + len(tail):
            room = len(f"\n... ({self.total:,} bytes in the middle not kept) ...\n")
            head, tail = head[:max(0, len(head) - (room + 1) // 2)], tail[room // 2:]
            middle = f"\n... ({self.total - len(head) - len(tail):,} bytes in the middle not kept) ...\n"
        return head.decode("utf-8", errors="replace") + middle + tail.decode("utf-8", errors="replace")


class OutputTap(threading.Thread):
    """Drains a pipe into a CappedOutput."""

    def __init__(self, fd: int, capped: CappedOutput):
        super().__init__(daemon=True)
        self.fd, self.capped = fd, capped

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.capped.feed(chunk)


def proc_stat(pid: int | str) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2:].split()


def descendants(pid: int) -> list[int]:
    """All living descendants of ``pid``, from /proc (children first found, grandchildren after)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = proc_stat(entry)
            if fields is not None:
                parents[int(entry)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    fields = proc_stat(pid)
    return fields is not None and fields[0] != b"Z"


def signal_of(code: int | None) -> int | None:
    """The signal that ended a process, also when a wrapper (bwrap, a shell) reports it as 128+N."""
    if code is None:
        return None
    number = -code if code < 0 else code - 128 if code > 128 else 0
    return number if number in {s.value for s in signal.Signals} else None


class FdChannel:
    """Frames to and from a worker over file descriptors (pipes, or a connected unix socket: one fd for both).

    Reads are buffered: one read usually brings a whole reply, which later calls then take from memory.
    The host polls for up to SPIN_S before it sleeps in select: in lock-step the reply is usually a fraction
    of a millisecond away, and sleeping would add a wake-up per step."""

    def __init__(self, write_fd: int, read_fd: int, stopped=None):
        """``stopped()``: true once the worker must be treated as gone (checked while a read waits)."""
        self._in, self._out = write_fd, read_fd
        self.stopped = stopped
        os.set_blocking(self._in, False)
        os.set_blocking(self._out, False)
        self._pending = bytearray()

    def write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            if self.stopped is not None and self.stopped():
                raise WorkerDied
            try:  # try first: the pipe almost always has room, so no select in the common case
                view = view[os.write(self._in, view):]
                continue
            except BlockingIOError:
                pass
            except OSError:
                raise WorkerDied from None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            select.select([], [self._in], [], remaining if self.stopped is None else min(remaining, 0.05))

    def read_exact(self, n: int, deadline: float) -> bytes:
        spin_until = time.monotonic() + SPIN_S
        while len(self._pending) < n:
            now = time.monotonic()
            if now >= deadline:
                raise TimeoutError
            if now >= spin_until:
                wait = deadline - now if self.stopped is None else min(deadline - now, 0.05)
                ready, _, _ = select.select([self._out], [], [], wait)
                if not ready:
                    if self.stopped is not None and self.stopped():  # only once nothing is left to read
                        raise WorkerDied
                    continue
            try:
                chunk = os.read(self._out, max(1 << 16, n - len(self._pending)))
            except BlockingIOError:
                continue
            except OSError:  # a socket the worker reset
                raise WorkerDied from None
            if not chunk:
                raise WorkerDied
            self._pending += chunk
        data = bytes(self._pending[:n])
        del self._pending[:n]
        return data


class PipeWorker(Worker):
    """A worker behind a subprocess.Popen whose stdin/stdout/stderr are pipes.

    The process must lead its own process group (``start_new_session=True``) so that ``kill``
    reaches everything it started that stayed in the group.
    """

    def __init__(self, proc: subprocess.Popen, limits: Limits, group=None, later=None):
        self.proc = proc
        self.group = group
        """The worker's cgroup (promptpo.isolation.cgroup.WorkerCgroup) when there is one."""
        self.later = later or (lambda work: work())
        """Runs housekeeping that need not hold up ``close`` (removing the emptied cgroup, a few ms in the
        kernel), e.g. on a sandbox's thread; by default at once."""
        self._channel = FdChannel(proc.stdin.fileno(), proc.stdout.fileno())
        self._printed = CappedOutput(limits.output_bytes, limits.output_hard_bytes, self.kill)
        self._tap = OutputTap(proc.stderr.fileno(), self._printed)
        self._tap.start()
        self._killed = False
        self._doomed: set[int] = set()

    def write(self, data: bytes, deadline: float) -> None:
        self._channel.write(data, deadline)

    def read_exact(self, n: int, deadline: float) -> bytes:
        return self._channel.read_exact(n, deadline)

    def kill(self) -> None:
        """SIGKILL the process group and every descendant (some left the group, e.g. bwrap's
        new session), and remember them so close() can wait until they are gone."""
        self._killed = True
        if self.group is None:  # a cgroup lists them all, exactly and at once
            self._doomed.update(descendants(self.proc.pid))
        for target in (lambda: os.killpg(self.proc.pid, signal.SIGKILL),
                       *(lambda p=p: os.kill(p, signal.SIGKILL) for p in self._doomed)):
            try:
                target()
            except (ProcessLookupError, PermissionError):
                pass
        if self.group is not None:
            self.group.kill_all()  # exact: daemons that left the process tree are still in the cgroup

    def host_pids(self) -> list[int]:
        return [self.proc.pid, *descendants(self.proc.pid)]

    def exit_code(self) -> int | None:
        try:
            return self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.wait(timeout=5)

    def output(self) -> tuple[str, int]:
        self._tap.join(timeout=2)
        return self._printed.text(), self._printed.total

    def close(self) -> None:
        if not self._killed:
            try:  # told to exit (PolicySession.close), a worker ends within milliseconds; no need to kill it
                self.proc.wait(timeout=EXIT_WAIT_S)
            except subprocess.TimeoutExpired:
                pass
        if self.group is None or self.proc.poll() is None or self.group.pids():
            self.kill()  # still running, or something it started may be
        self.exit_code()
        deadline = time.monotonic() + 5
        while any(alive(p) for p in self._doomed) and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.group is not None:
            self.later(self.group.remove)  # empty by now (kill_all waited), so removing it can wait
            self.group = None
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass
