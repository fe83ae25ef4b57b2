"""`promptpo resume`: continue a run that died (Ctrl-C, SIGTERM, kill -9, a closed laptop).

Every run kind the engine drives resumes the same way: the run is replayed from the start with the
answers and evaluations its folder recorded (promptpo.engine.replay), so nothing finished is
redone, paid for or logged twice. Budgets carry over: spent tokens, cost, env steps and wall time
count again from the records.
"""

from __future__ import annotations

from promptpo.engine.replay import Replay
from promptpo.engine.runfolder import RunFolder
from promptpo.engine.store import RunStore
from promptpo.errors import RunStoreError

FINISHED = ("completed", "target_reached", "budget_exhausted", "answers_exhausted")
RESUMABLE = ("promptpo", "schedule", "online")


def resume(run: RunFolder, observer=None):
    """Continue ``run``; returns the finished Engine's result (policy runs: a RunResult)."""
    if run.kind not in RESUMABLE:
        raise RunStoreError(f"{run.path.name} is a {run.kind} run, which has nothing to resume",
                            "baselines run to the end or start again")
    status = run.summary.get("status") or run.meta.get("status")
    if status in FINISHED:
        raise RunStoreError(f"run {run.path.name} already finished ({status})", "nothing to resume")
    data = run.meta.get("config")
    if not isinstance(data, dict) or "env" not in data:
        raise RunStoreError(f"{run.path}/run.json has no run configuration", "the run folder is corrupt")
    elapsed = float(run.summary.get("wall_time_s") or 0.0)
    store = RunStore(run.path)
    if run.kind == "promptpo":
        from promptpo.api import execute, prepare
        from promptpo.config import OptimizeConfig

        prepared = prepare(OptimizeConfig.from_record(data, run.path.parent))
        run_kind = execute
    else:
        from promptpo.api import execute_schedule, prepare_schedule
        from promptpo.tasks.schedule import ScheduleConfig

        prepared = prepare_schedule(ScheduleConfig.from_record(data, run.path.parent))
        run_kind = execute_schedule
    return run_kind(prepared, store, observer, replay=lambda task: replay_for(run, prepared.backend.label, task),
                    run_json=dict(run.meta), elapsed=elapsed)


def replay_for(run: RunFolder, label: str, task) -> Replay:
    """What ``run`` recorded, keyed the way ``task`` looks its evaluations up."""
    return Replay(run, label, key_of=lambda record: task.evaluation_key(run.code(record["id"])),
                  result_of=task.result_from_record)
