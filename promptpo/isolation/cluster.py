"""Ray, when one machine is not enough: the connection, remote calls, and run folders shipped both ways.

``connect(address)`` joins the cluster at ``address`` (``--address``, else ``$RAY_ADDRESS``), or starts
a local Ray when neither is given. A task does its work on the node that runs it — a run's evaluation
sandboxes its candidate there (promptpo.policy.task.evaluate_on_node), a PPO seed trains there
(promptpo.baselines.ppo.train_packed), a bench job runs its command there (promptpo.bench.jobs) — and
what it made comes back to the driver: a result, or a run folder packed as .tar.gz. So nodes need
promptpo (with the same simulators) installed and no shared filesystem.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from promptpo.errors import ConfigError


def connect(address: str | None = None):
    """The ray module, initialised once per process."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray", "pip install 'promptpo[tuning]' (or ray) first") from None
    if not ray.is_initialized():
        ray.init(address=address or os.environ.get("RAY_ADDRESS") or None, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    return ray


class Remote:
    """``fn`` as a Ray task of one CPU: called like ``fn`` and waited for (from as many threads as the caller
    keeps in flight; ``slots`` is how many the cluster can run at once)."""

    def __init__(self, fn: Callable, address: str | None, retries: int = 1):
        self.ray = connect(address)
        self.task = self.ray.remote(num_cpus=1, max_retries=retries)(fn)
        self.slots = max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def __call__(self, *args: Any) -> Any:
        return self.ray.get(self.task.remote(*args))


class Host:
    """``fn(*fixed, *args)`` in a child process of its own, spawned (so it shares no interpreter lock with the
    run: simulators step in parallel for real); called like ``fn`` and waited for; closed with the run."""

    def __init__(self, fn: Callable, *fixed: Any):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.fn, self.fixed = fn, fixed
        self.pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

    def __call__(self, *args: Any) -> Any:
        return self.pool.submit(self.fn, *self.fixed, *args).result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def each(fn: Callable, calls: list[tuple], address: str | None) -> Iterator[tuple[int, Any, BaseException | None]]:
    """``fn(*args)`` for every ``args`` in ``calls`` as Ray tasks at once; yields (index, result, error) as
    each finishes (error: the exception a task ended with, its node gone included)."""
    ray = connect(address)
    task = ray.remote(num_cpus=1, max_retries=0)(fn)
    pending = {task.remote(*args): i for i, args in enumerate(calls)}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
        for ref in ready:
            index = pending.pop(ref)
            try:
                yield index, ray.get(ref), None
            except Exception as err:  # noqa: BLE001 - handed to the caller, who records it
                yield index, None, err


def pack(folder: Path) -> bytes:
    """A folder as a .tar.gz (what a Ray task sends back, or receives to resume)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        if folder.is_dir():
            tar.add(folder, arcname=".")
    return buffer.getvalue()


def unpack(data: bytes, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")  # no absolute paths, links out or devices
