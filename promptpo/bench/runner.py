"""Running a suite's jobs, here (``--jobs`` at once) or as Ray tasks, and the comparison at the end.

Every job is an ordinary promptpo command in its own process, writing its run folder under
``BENCH/method/task/seed-N``. With ``--executor ray`` a job is a Ray task: it unpacks the job's
folder (empty, or an interrupted run to resume) on the node that runs it, runs the command there, and
sends the folder back, so nodes need promptpo installed but no shared filesystem.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from promptpo.bench.jobs import PLACEHOLDER, Step, plan, run_here, run_packed
from promptpo.bench.suite import Suite
from promptpo.isolation.cluster import pack, unpack
from promptpo.engine.config import check_executor


@dataclass
class Outcome:
    key: str
    action: str
    code: int | None = None
    """The command's exit code (None for a job skipped as done or failed)."""
    error: str = ""
    wall_time_s: float = 0.0

    @property
    def ok(self) -> bool:
        # 0: finished; 1: ended by a budget (a normal end for a bench job); skipped jobs are what they were
        return self.action == "done" or self.code in (0, 1)


def run_suite(suite: Suite, bench: Path, model: str | None, executor: str = "local", jobs: int = 1,
              address: str | None = None, retry_failed: bool = False,
              on_change: Callable[[Outcome, bool], None] | None = None) -> list[Outcome]:
    """Each job once: finished ones skipped, interrupted ones resumed. ``on_change(outcome, started)``."""
    check_executor(executor)
    steps = [plan(job, bench, model, retry_failed) for job in suite.jobs()]
    outcomes = [Outcome(s.job.key, s.action) for s in steps if s.action in ("done", "failed")]
    todo = [s for s in steps if s.action in ("run", "resume")]
    notify = on_change or (lambda outcome, started: None)
    for outcome in outcomes:
        notify(outcome, False)
    if executor == "ray":
        outcomes += _on_ray(todo, bench, address, notify)
    else:
        outcomes += _here(todo, bench, max(1, jobs), notify)
    order = {job.key: i for i, job in enumerate(suite.jobs())}
    return sorted(outcomes, key=lambda o: order.get(o.key, 0))


def _here(todo: list[Step], bench: Path, jobs: int, notify) -> list[Outcome]:
    lock = threading.Lock()

    def one(step: Step) -> Outcome:
        (bench / step.job.key).mkdir(parents=True, exist_ok=True)
        outcome = Outcome(step.job.key, step.action)
        with lock:
            notify(outcome, True)
        started = time.monotonic()
        outcome.code, outcome.error = run_here(step.argv)
        outcome.wall_time_s = round(time.monotonic() - started, 2)
        with lock:
            notify(outcome, False)
        return outcome

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, todo))


def _on_ray(todo: list[Step], bench: Path, address: str | None, notify) -> list[Outcome]:
    from promptpo.isolation.cluster import each

    calls, outcomes = [], []
    for step in todo:
        folder = bench / step.job.key
        calls.append(([PLACEHOLDER if arg == str(folder) else arg for arg in step.argv], folder.name, pack(folder)))
        outcomes.append(Outcome(step.job.key, step.action))
        notify(outcomes[-1], True)
    started = time.monotonic()
    for i, made, problem in each(run_packed, calls, address):
        outcome = outcomes[i]
        if problem is None:
            outcome.code, outcome.error, packed = made
            unpack(packed, bench / todo[i].job.key)
        else:  # a task that died (its node went away) is a failed job
            outcome.code, outcome.error = -1, f"the Ray task failed: {type(problem).__name__}: {problem}"[:2000]
        outcome.wall_time_s = round(time.monotonic() - started, 2)
        notify(outcome, False)
    return outcomes
