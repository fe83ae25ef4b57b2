"""`promptpo audit`: one row per candidate with what an auditor needs before trusting a policy."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from promptpo import gate
from promptpo.cascade import NOTHING_BEFORE
from promptpo.extract import findings, python_tree
from promptpo.records import RunFolder

FEW_EPISODES = 10
LEGACY_NOTHING_BEFORE = " and no candidate has succeeded yet"
"""What the cascade said before cascade.NOTHING_BEFORE; false where a round-mate had succeeded."""
LIMIT_OUTCOMES = {"timeout", "cpu_limit", "memory", "output_limit"}


@dataclass
class AuditRow:
    id: str
    round: int
    kind: str
    parent: str | None
    outcome: str
    mean_return: float | None
    std_return: float | None
    success_rate: float | None
    episodes: int
    env_steps: int
    findings: list[str] = field(default_factory=list)
    limit_hit: str | None = None
    flags: list[str] = field(default_factory=list)
    error: str = ""


def static_findings(code: str) -> list[str]:
    """Re-checked from the code as run, so older runs get today's checks too: the gate's reasons
    to refuse it first, then the audit's observations."""
    tree = python_tree(code)
    if tree is None:
        return []
    return [f"gate: {v}" for v in gate.check(code, tree)] + [f"{f.kind}: {f}" for f in findings(tree)]


def _mates_succeeded(records: list[dict], record: dict) -> str:
    """'; its round-mate r00c1 succeeded, evaluated alongside it' where one did: the cascade compares a candidate
    with the run's best as its round began, so a success found in the same round played no part in stopping it."""
    mates = [r["id"] for r in records if r.get("round") == record.get("round") and r["id"] != record["id"]
             and ((r.get("score") or {}).get("success_rate") or 0) > 0]
    if not mates:
        return ""
    return (f"; its round-mate{'s' if len(mates) > 1 else ''} {', '.join(mates)} succeeded, evaluated alongside it "
            "(the cascade compares with the best of earlier rounds only)")


def audit(run: RunFolder) -> list[AuditRow]:
    rows = []
    for record in run.candidates:
        score = record.get("score") or {}
        episodes = [e for e in ((record.get("evaluation") or {}).get("episodes") or []) if e.get("completed")]
        row = AuditRow(id=record["id"], round=record["round"], kind=record["kind"], parent=record.get("parent"),
                       outcome=record["outcome"], mean_return=score.get("mean_return"),
                       std_return=score.get("std_return"), success_rate=score.get("success_rate"),
                       episodes=len(episodes), env_steps=record.get("env_steps", 0),
                       findings=static_findings(run.code(record["id"])) if record["outcome"] != "no_code" else [],
                       limit_hit=record["outcome"] if record["outcome"] in LIMIT_OUTCOMES else None,
                       error=record.get("error", ""))
        stage = (record.get("evaluation") or {}).get("stage")
        if stage and not stage["passed"]:
            row.flags.append(f"stopped after its first {stage['episodes']} of {stage['of']} episodes: "
                             + stage["reason"].replace(LEGACY_NOTHING_BEFORE, NOTHING_BEFORE)
                             + _mates_succeeded(run.candidates, record))
        elif row.outcome == "ok":
            if row.episodes < FEW_EPISODES:
                row.flags.append(f"score rests on {row.episodes} episodes: run `promptpo verify`")
            if row.std_return is not None and row.mean_return and row.std_return > 0.5 * abs(row.mean_return):
                row.flags.append("returns vary widely across episodes")
        rows.append(row)
    return rows


def to_json(rows: list[AuditRow]) -> list[dict]:
    return [asdict(r) for r in rows]
