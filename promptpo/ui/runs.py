"""What the web view reads from a runs folder: run folders, their candidates, curves and lineage.

Read-only: nothing here writes. Files are only ever opened by paths built from what the folder
holds (run ids found by walking it, candidate ids found in its records); a path a request names
(``inside``) is resolved and refused unless it stays inside the runs folder, symlinks followed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptpo import textdiff

MAX_DEPTH = 4
"""How deep under the runs folder run folders are looked for (a bench folder: method/task/seed-N/run)."""
MAX_TEXT = 400_000
"""Characters of a prompt, answer or program a page shows (the rest is cut, and says so)."""


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return None


def read_lines(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue  # a line being written
        if isinstance(value, dict):
            out.append(value)
    return out


def text_of(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"\n... [{len(text) - MAX_TEXT:,} more characters]"


def inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` if it is a file inside ``root`` once every symlink is resolved, else None."""
    base = os.path.realpath(root)
    target = os.path.realpath(os.path.join(base, relative))
    if os.path.commonpath([base, target]) != base or not os.path.isfile(target):
        return None
    return Path(target)


@dataclass
class Run:
    id: str
    path: Path
    meta: dict
    summary: dict

    @property
    def kind(self) -> str:
        return self.meta.get("kind", "promptpo")

    @property
    def status(self) -> str:
        return str(self.summary.get("status") or self.meta.get("status") or "running")

    @property
    def env(self) -> str:
        return str(self.meta.get("env", "?"))

    @property
    def model(self) -> str:
        return str(self.summary.get("model") or self.meta.get("model") or self.meta.get("method") or self.kind)

    def row(self) -> dict:
        s = self.summary
        tokens = (s.get("prompt_tokens") or 0) + (s.get("completion_tokens") or 0)
        return {"id": self.id, "kind": self.kind, "status": self.status, "env": self.env, "model": self.model,
                "best": s.get("best_score"), "success": s.get("best_success_rate"), "env_steps": s.get("env_steps"),
                "llm_calls": s.get("llm_calls"), "tokens": tokens or None, "cost": s.get("cost_usd"),
                "wall": s.get("wall_time_s"), "candidates": s.get("candidates")}


def find_runs(root: Path) -> dict[str, Run]:
    """Every run folder under ``root`` (a folder holding run.json), by id: its path relative to ``root``."""
    found: dict[str, Run] = {}
    base = Path(os.path.realpath(root))
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        depth = len(Path(dirpath).relative_to(base).parts)
        if "run.json" in filenames:
            meta = read_json(Path(dirpath) / "run.json")
            if isinstance(meta, dict):
                rel = str(Path(dirpath).relative_to(base))
                found[rel] = Run(rel, Path(dirpath), meta, read_json(Path(dirpath) / "summary.json") or {})
            dirnames[:] = []  # a run's own folders hold no runs
        elif depth >= MAX_DEPTH:
            dirnames[:] = []
        dirnames.sort()
    return dict(sorted(found.items(), key=lambda kv: kv[0], reverse=True))


@dataclass
class Node:
    record: dict
    children: list[Node] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.record.get("id"))


def candidates(run: Run) -> list[dict]:
    folder = run.path / "candidates"
    records = [read_json(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return sorted((r for r in records if isinstance(r, dict) and "id" in r),
                  key=lambda r: (r.get("llm_call") or 0, str(r["id"])))


def lineage(records: list[dict]) -> list[Node]:
    """Candidates as a forest: each under its parent (repairs, refinements, tuned variants), roots first."""
    nodes = {str(r["id"]): Node(r) for r in records}
    roots = []
    for r in records:
        parent = nodes.get(str(r.get("parent")))
        (parent.children if parent is not None and parent.record is not r else roots).append(nodes[str(r["id"])])
    return roots


def score_of(record: dict) -> str:
    score = record.get("score") or {}
    if not score or score.get("mean_return") is None:
        return str(record.get("outcome", "?"))
    text = f"{score['mean_return']:.1f}"
    if score.get("success_rate") is not None:
        text += f" ({score['success_rate']:.0%})"
    return text


def curve(run: Run) -> list[tuple[float, float]]:
    """(env steps, score) points: a policy run's best so far, a training's evaluations."""
    if run.kind == "promptpo":
        from promptpo.compare import promptpo_curve

        points = [(p.env_steps, p.mean_return) for p in promptpo_curve(read_lines(run.path / "events.jsonl"))]
        spent = run.summary.get("env_steps")
        if points and isinstance(spent, int) and spent > points[-1][0]:  # the best so far holds to the last step
            points.append((spent, points[-1][1]))
        return points
    return [(p["env_steps"], p["mean_return"]) for p in read_lines(run.path / "curve.jsonl")
            if isinstance(p.get("env_steps"), (int, float)) and isinstance(p.get("mean_return"), (int, float))]


def diff(parent_code: str, code: str, parent: str, child: str) -> str:
    """The diff a candidate's page shows (promptpo.textdiff), or a line saying why there is none."""
    problem = textdiff.too_large(parent_code, code)
    if problem is not None:
        return f"# no diff: {problem}\n"
    return textdiff.unified(parent_code, code, f"{parent}.py", f"{child}.py")
