"""`promptpo resume`: continue a run that died (Ctrl-C, SIGTERM, kill -9, a closed laptop).

Every run kind the engine drives resumes the same way: the run is replayed from the start with the
answers and evaluations its folder recorded (promptpo.engine.replay), so nothing finished is
redone, paid for or logged twice. Budgets carry over: spent tokens, cost, env steps and wall time
count again from the records. The kind the folder recorded says which config to read back (promptpo.engine.kinds),
and what follows the end is the kind's as for a new run (a policy run that reaches its target joins the library).
"""

from __future__ import annotations

from dataclasses import dataclass

from promptpo.api import Prepared, execute, prepare
from promptpo.engine import kinds
from promptpo.engine.replay import Replay
from promptpo.engine.store import RunStore
from promptpo.errors import RunStoreError
from promptpo.outcome import RunStatus
from promptpo.records import RunFolder


@dataclass
class Resumable:
    """A run checked and prepared to continue: ``prepared`` says what it runs (for a display), calling it runs it."""

    run: RunFolder
    prepared: Prepared
    """The kind, config, backend and spec the run recorded."""

    def __call__(self, observer=None):
        """Continue the run."""
        run, prepared = self.run, self.prepared
        return execute(prepared, RunStore(run.path), observer,
                       replay=lambda task: replay_for(run, prepared.backend.label, task), run_json=dict(run.meta),
                       elapsed=float(run.summary.get("wall_time_s") or 0.0))


def resumable(run: RunFolder) -> Resumable:
    """Check that ``run`` can continue and prepare it (its config, backend and sandbox), as a new run is."""
    kind = continuable(run)
    data = run.meta.get("config")
    if not isinstance(data, dict) or "env" not in data:
        raise RunStoreError(f"{run.path}/run.json has no run configuration", "the run folder is corrupt")
    return Resumable(run, prepare(kind.config.from_record(data, run.path.parent)))


def continuable(run: RunFolder) -> kinds.Kind:
    """``run``'s kind, where the engine can continue it: a RunStoreError says why not (a kind it does not drive, or
    a run that finished)."""
    kind = kinds.named(run.kind)
    if kind is None:
        raise RunStoreError(f"{run.path.name} is a {run.kind} run, which has nothing to resume",
                            "baselines run to the end or start again")
    status = RunStatus.read(run.summary.get("status") or run.meta.get("status"))
    if status and status.finished:
        raise RunStoreError(f"run {run.path.name} already finished ({status})", "nothing to resume")
    return kind


def resume(run: RunFolder, observer=None):
    """Continue ``run``; returns the finished run's RunResult."""
    return resumable(run)(observer)


def replay_for(run: RunFolder, label: str, task) -> Replay:
    """What ``run`` recorded, keyed the way ``task`` looks its evaluations up."""
    return Replay(run, label, key_of=lambda record: task.evaluation_key(run.code(record["id"])),
                  result_of=task.result_from_record)
