"""A suite's jobs: where each one stands in the bench folder, and running one (here or on a Ray node).

A job's folder holds its run folder(s). A job is done when one of them finished (completed, target
reached, a budget or the scripted answers ran out); an interrupted promptpo run is resumed; a failed
one counts as failed (``--retry-failed`` starts a new run beside it); anything else starts fresh.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from promptpo.bench.suite import Job
from promptpo.isolation.cluster import pack, unpack
from promptpo.errors import RunStoreError
from promptpo.outcome import RunStatus
from promptpo.records import PROGRAM_KINDS, RunFolder, run_folders

PLACEHOLDER = "{folder}"
"""Stands for the job's folder in a command sent to a Ray node (where the folder is a scratch copy)."""
RESUMABLE = (RunStatus.INTERRUPTED, RunStatus.RUNNING)


@dataclass
class Step:
    """What to do for a job now: skip it (done or failed), resume a run, or start one."""

    job: Job
    action: str
    """done, failed, resume or run."""
    argv: list[str]


def runs_of(folder: Path) -> list[tuple[Path, dict, dict]]:
    """(run folder, run.json, summary.json or {}) of every run in a job's folder, oldest first."""
    found = []
    for path in run_folders(folder):  # run ids start with their start time: path order is oldest first
        try:  # a lost summary is rebuilt from the run's other records (promptpo.records)
            run = RunFolder(path)
            found.append((run.path, run.meta, run.summary))
        except RunStoreError:
            continue
    return found


def plan(job: Job, bench: Path, model: str | None, retry_failed: bool = False) -> Step:
    folder = bench / job.key
    runs = runs_of(folder)
    statuses = [(RunStatus.read(summary.get("status") or meta.get("status")), path, meta)
                for path, meta, summary in runs]
    if any(status and status.finished for status, _, _ in statuses):
        return Step(job, "done", [])
    fresh = job.method.argv(job.task, job.seed, model, folder)
    if statuses:
        status, path, meta = statuses[-1]
        if status in RESUMABLE and meta.get("kind") in PROGRAM_KINDS:
            return Step(job, "resume", ["resume", path.name, "--out", str(folder)])
        if status is RunStatus.FAILED and not retry_failed:
            return Step(job, "failed", [])
    return Step(job, "run", fresh)


def run_here(argv: list[str]) -> tuple[int, str]:
    """One promptpo command in a child process (Ctrl-C reaches it too: it finishes its run as interrupted);
    returns its exit code and the end of what it printed to stderr."""
    proc = subprocess.run([sys.executable, "-m", "promptpo", *argv], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "CI": "true"})
    return proc.returncode, proc.stderr[-2000:]


def run_packed(argv: list[str], folder_name: str, packed: bytes) -> tuple[int, str, bytes]:
    """A job on whichever machine runs this (a Ray node): its folder unpacked into a scratch folder, the
    command run there, the folder packed up again. No shared filesystem needed."""
    with tempfile.TemporaryDirectory(prefix="promptpo-bench-") as scratch:
        folder = Path(scratch) / folder_name
        unpack(packed, folder)
        code, err = run_here([folder.as_posix() if a == PLACEHOLDER else a for a in argv])
        return code, err, pack(folder)
