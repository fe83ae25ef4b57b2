"""Running side by side on one machine: evaluation lanes (one candidate each, made when all are busy), and
whether a core is spare for a sandbox worker to poll on while its host streams requests."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager


class Lanes:
    """Evaluation lanes that run side by side: callables ``lane(code, limits, best) -> Evaluation`` with a
    ``close()``. The first is given; more are made by ``make`` when all are busy, up to ``limit``; past that a
    caller waits for a free one."""

    def __init__(self, first: Callable, make: Callable[[], Callable], limit: int = 1):
        self.make, self.limit = make, max(1, limit)
        self.idle: list[Callable] = [first]
        self.made: list[Callable | None] = []
        self.free = threading.Condition()

    @contextmanager
    def take(self):
        with self.free:
            while not self.idle and len(self.made) + 1 >= self.limit:
                self.free.wait()
            make = not self.idle
            lane = None if make else self.idle.pop()
            if make:
                self.made.append(None)  # its place, held while it is made
        if make:
            try:
                lane = self.make()
            except BaseException:
                with self.free:
                    self.made.remove(None)
                    self.free.notify()
                raise
            with self.free:
                self.made[self.made.index(None)] = lane
        try:
            yield lane
        finally:
            with self.free:
                self.idle.append(lane)
                self.free.notify()

    def close(self) -> None:
        """Close the lanes it made (the first belongs to whoever gave it)."""
        for lane in self.made:
            if lane is not None:
                lane.close()
        self.made.clear()


class SpareCore:
    """Whether a core is free for a worker to poll on while the host streams requests (sandbox/worker.py's Reader):
    fewer tasks runnable on the machine than the cores this process may use, the asking host counted. Read from
    /proc/loadavg's running count at most every ``every_s``, so another evaluation lane (in this process or a
    child), or any busy program, turns polling off within that time. Without /proc: never."""

    def __init__(self, every_s: float = 0.05, source: str = "/proc/loadavg"):
        self.every_s, self.source = every_s, source
        self.cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        self.checked, self.free = -1.0, False

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self.checked >= self.every_s:
            self.checked = now
            try:
                with open(self.source) as handle:
                    running = int(handle.read().split()[3].split("/")[0])
            except (OSError, ValueError, IndexError):
                running = self.cores
            self.free = running < self.cores
        return self.free


spare_core = SpareCore()
