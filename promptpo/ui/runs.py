"""What the web view reads from a runs folder, all of it through promptpo.records: the run folders (a bench's
several levels down too), each run's facts, its candidates as a lineage, and the colours their records earn.

Read-only: nothing here writes. Files are only ever opened by paths built from what the folder holds (run
folders found by walking it, candidate ids found in its records); a path a request names (``inside``) is
resolved and refused unless it stays inside the runs folder, symlinks followed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from promptpo.views import textdiff
from promptpo.errors import RunStoreError
from promptpo.records import (
    RunFolder,
    calls_text,
    newest_first,
    open_runs,
    run_folders,
    status_text,
)
from promptpo.records.facts import complete, record_score
from promptpo.outcome import RunStatus

MAX_TEXT = 400_000
"""Characters of a prompt, answer or program a page shows (the rest is cut, and says so)."""


def capped(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"\n... [{len(text) - MAX_TEXT:,} more characters]"


def inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` if it is a file inside ``root`` once every symlink is resolved, else None."""
    base = os.path.realpath(root)
    target = os.path.realpath(os.path.join(base, relative))
    if os.path.commonpath([base, target]) != base or not os.path.isfile(target):
        return None
    return Path(target)


@dataclass
class Listing:
    runs: dict[str, RunFolder]
    """Readable run folders by id (their path under the runs folder), newest first."""
    unreadable: list[str] = field(default_factory=list)
    """'id: why' for folders holding a run.json no reader can use (they never hide the others)."""

    def with_facts(self) -> Listing:
        """The runs whose facts can be derived (what a page listing them shows of each); a folder whose records
        cannot be read joins ``unreadable``, not served."""
        read = Listing({}, list(self.unreadable))
        for rid, run in self.runs.items():
            try:
                run.facts  # noqa: B018
            except RunStoreError as err:
                read.unreadable.append(f"{rid}: {err}")
                continue
            read.runs[rid] = run
        return read


def readable(run: RunFolder) -> bool:
    """Whether the run's facts can be derived (derived now, and kept): a folder whose records cannot be read is not
    served."""
    try:
        run.facts  # noqa: B018
    except RunStoreError:
        return False
    return True


def find_runs(root: Path) -> Listing:
    """Every run folder under ``root`` (promptpo.records.run_folders: a bench's several levels down too), opened but
    nothing derived: a view of one run derives that run's facts only (``Listing.with_facts`` derives them all)."""
    base = Path(os.path.realpath(root))

    def rel(path: Path) -> str:
        return str(path.relative_to(base)) if path != base else path.name

    runs, unreadable = open_runs(newest_first(run_folders(base)))
    return Listing({rel(run.path): run for run in runs}, [f"{rel(path)}: {err}" for path, err in unreadable.items()])


def status_class(run: RunFolder) -> str:
    """How a run's status is coloured: 'good' only when it reached its target, 'bad' when it failed or has no
    candidate scored in full, 'warn' when it stopped short (interrupted, recovered), 'running', else 'plain'."""
    facts = run.facts
    if facts.status == "running":
        return "running"
    if facts.status == RunStatus.FAILED or (run.has_programs and facts.best is None):
        return "bad"
    if facts.status == RunStatus.TARGET_REACHED or (facts.target and facts.steps_to_target is not None):
        return "good"
    return "warn" if facts.unfinished or facts.recovered else "plain"


def row(rid: str, run: RunFolder) -> dict:
    f = run.facts
    return {"id": rid, "kind": f.kind, "status": status_text(f), "status_class": status_class(run), "env": f.env,
            "method": f.method.name, "seed": f.seed, "best": f.best_score if run.has_programs else f.final_return,
            "success": f.best_success if run.has_programs else f.final_success,
            "candidates": f.candidates if run.has_programs else None, "env_steps": f.env_steps,
            "llm_calls": calls_text(f), "tokens": f.tokens or None, "cost": f.cost_usd, "wall": f.wall_time_s}


@dataclass
class Node:
    record: dict
    children: list[Node] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.record.get("id"))


def lineage(records: list[dict]) -> list[Node]:
    """Candidates as a forest: each under its parent (repairs, refinements, tuned variants), roots first."""
    nodes = {str(r["id"]): Node(r) for r in records}
    roots = []
    for r in records:
        parent = nodes.get(str(r.get("parent")))
        (parent.children if parent is not None and parent.record is not r else roots).append(nodes[str(r["id"])])
    return roots


def score_of(record: dict) -> str:
    score = record_score(record)
    if score.get("mean_return") is None:
        return str(record.get("outcome", "?"))
    text = f"{score['mean_return']:,.2f}"
    if score.get("success_rate") is not None:
        text += f" ({score['success_rate']:.0%})"
    return text + ("" if complete(record) else " stopped early")


def diff(parent_code: str, code: str, parent: str, child: str) -> str:
    """The diff a candidate's page shows (promptpo.views.textdiff), or a line saying why there is none."""
    problem = textdiff.too_large(parent_code, code)
    if problem is not None:
        return f"# no diff: {problem}\n"
    return textdiff.unified(parent_code, code, f"{parent}.py", f"{child}.py")
