"""Which runs a comparison samples: each run folder as compare reads it (``RunRecord``, from promptpo.records'
facts), and of those, distinct seeds of one method.

A group's sample is the distinct seeds of one method (promptpo.records.facts.Method: the model string, a scripted
run's answer set, the library examples its first prompt showed, and the settings that make another method): a
second run of a seed is a repeat, not a seed, and a run that did not finish (interrupted, still running, stopped
short of its steps) is left out unless asked for; each run left out is named with why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from promptpo.errors import RunStoreError
from promptpo.records import Facts, Method, RunFolder, expand, open_runs
from promptpo.stats import CurvePoint


@dataclass
class RunRecord:
    path: Path
    env: str
    method: str
    seed: int | None
    curve: list[CurvePoint]
    summary: dict
    facts: Facts
    """What promptpo.records derived of the run (method, seed, whether it finished, steps spent)."""
    end_at_success: bool = False
    """Whether its evaluation episodes ended at their first success (returns then differ from full episodes)."""
    eval_every: int | None = None
    """Env steps between its evaluations (trainings: PPO, schedules, Optuna, PBT); None for a policy run, whose
    every candidate is an evaluation."""


def load_run(path: Path) -> RunRecord:
    """A run folder as compare reads it (promptpo.records)."""
    return record_of(RunFolder(path))


def record_of(folder: RunFolder) -> RunRecord:
    facts = folder.facts
    return RunRecord(folder.path, facts.env, facts.method.name, facts.seed, facts.curve, folder.summary, facts,
                     facts.end_at_success, facts.eval_every)


def find_runs(patterns: list[str], out: Path, unreadable: list[str] | None = None) -> list[RunRecord]:
    """Every run folder the patterns name (folders, run ids, globs, folders holding runs such as a bench's). A
    folder that cannot be read (run.json or a line amid its events not JSON) is a RunStoreError when it is the
    only one; among others it is left out, with a line in ``unreadable`` saying why."""
    folders = expand(patterns, out)
    if len(folders) == 1:
        return [load_run(folders[0])]  # the one folder named: why it cannot be read is the error
    runs, failed = open_runs(folders, read=lambda run: run.facts)  # what cannot be read fails here, once
    records = [record_of(run) for run in runs]
    problems = [f"{path.name}: unreadable — {err.message}" for path, err in failed.items()]
    if not records:
        raise RunStoreError(f"no run folder could be read ({problems[0]})", "the run folders are corrupt")
    if unreadable is not None:
        unreadable += problems
    return records


def samples(records: list[RunRecord], include_unfinished: bool = False) -> tuple[list[RunRecord], list[str]]:
    """The runs each group samples, and a line per run left out saying why: methods differing only in settings
    get those settings in their name; a run that did not finish is left out (unless ``include_unfinished``);
    of several runs of one seed of a method, the first finished one (by run id) is the seed's, the others are
    repeats."""
    excluded, kept = [], []
    for r in records:
        if not r.facts.finished and not include_unfinished:
            excluded.append(f"{r.path.name} ({r.env}, {r.method}, seed {r.seed}): not finished — "
                            f"{r.facts.unfinished}; --include-unfinished to count it")
            continue
        kept.append(r)
    methods: dict[str, list[Method]] = {}
    for r in kept:
        methods.setdefault(r.env, []).append(r.facts.method)
    for r in kept:
        r.method = r.facts.method.differing(methods[r.env])
    seen: dict[tuple, RunRecord] = {}
    chosen = []
    for r in sorted(kept, key=lambda r: (not r.facts.finished, r.path.name)):
        key = (r.env, r.method, r.seed)
        if r.seed is not None and key in seen:
            excluded.append(f"{r.path.name} ({r.env}, {r.method}): a repeat of seed {r.seed} "
                            f"({seen[key].path.name} is that seed's run), not another seed")
            continue
        seen[key] = r
        chosen.append(r)
    order = {id(r): i for i, r in enumerate(records)}
    return sorted(chosen, key=lambda r: order[id(r)]), excluded
