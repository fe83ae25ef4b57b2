"""`promptpo audit`: one row per candidate with what an auditor needs before trusting a policy."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from promptpo import gate
from promptpo.policy.cascade import NOTHING_BEFORE
from promptpo.extract import findings, python_tree
from promptpo.records import RunFolder
from promptpo.records.facts import complete, record_score

FEW_EPISODES = 10
LEGACY_NOTHING_BEFORE = (" and no candidate has succeeded yet", " and no candidate recorded before its round had succeeded")
"""What the cascade said before cascade.NOTHING_BEFORE: the first was false where a wave-mate had succeeded, the
second named the round where the cascade compares with the best as the candidate's wave began."""
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


def waves(run: RunFolder) -> dict[str, tuple[int, int, int]] | None:
    """Candidate id -> its wave (round, group, repair depth), as promptpo.engine.run.search forms them: a round's
    first proposals in groups of the wave's width (--concurrency; 0: all of the round's candidates), the answers of
    a group that could not be scored repaired together in the next wave, and their repairs in the one after. Ids
    are given in slot order when a wave is sent, so a group's first wave holds ``width`` consecutive indices.
    None when run.json does not say how many candidates a round had. Tuned candidates, made after the round's
    waves, are in none."""
    width = _width(run)
    if width is None:
        return None
    candidates = run.meta["config"]["candidates"]
    found: dict[str, tuple[int, int, int]] = {}
    rounds: dict[int, list[dict]] = {}
    for record in run.candidates:
        rounds.setdefault(int(record.get("round") or 0), []).append(record)
    for round_, records in rounds.items():
        group, end = -1, -1  # the current group's number, and the index just past its first wave
        for record in sorted(records, key=lambda r: int(r.get("index") or 0)):
            kind, index = record.get("kind"), int(record.get("index") or 0)
            if kind == "tuned":
                continue
            if kind == "repair":
                parent = found.get(str(record.get("parent")))
                if parent is not None:
                    found[record["id"]] = (round_, parent[1], parent[2] + 1)
                continue
            if index >= end:
                group += 1
                end = index + min(width, candidates - group * width)
            found[record["id"]] = (round_, group, 0)
    return found


def _width(run: RunFolder) -> int | None:
    """A wave's slots (promptpo.engine.run.Engine.wave_width), or None when run.json does not say."""
    config = run.meta.get("config") or {}
    candidates = config.get("candidates")
    if not isinstance(candidates, int) or candidates < 1:
        return None
    concurrency = config.get("concurrency", 1)  # runs from before --concurrency proposed one slot at a time
    return max(1, min(concurrency or candidates, candidates))


def _mates_succeeded(run: RunFolder, record: dict, known: dict[str, tuple[int, int, int]] | None) -> str:
    """'; its wave-mate r00c1 succeeded, evaluated alongside it' where one did: the cascade compares a candidate with
    the run's best as its wave began, so a success found in the same wave played no part in stopping it. A mate
    counts only when it was evaluated in full and succeeded (one the cascade stopped too never became the best).
    ``known``: the run's ``waves``."""
    def succeeded(mate: dict) -> bool:
        return (mate["id"] != record["id"] and mate.get("outcome") == "ok" and complete(mate)
                and (record_score(mate).get("success_rate") or 0) > 0)

    if known is not None:
        mine = known.get(record["id"])
        mates = [r["id"] for r in run.candidates if mine is not None and known.get(r["id"]) == mine and succeeded(r)]
        whole = mine is not None and mine[1:] == (0, 0) and _width(run) == run.meta["config"]["candidates"]
        what = "round-mate" if whole else "wave-mate"  # a wave of all its round's first proposals, or one of several
        if not mates:
            return ""
        return (f"; its {what}{'s' if len(mates) > 1 else ''} {', '.join(mates)} succeeded, evaluated alongside it "
                "(the cascade compares with the run's best as the wave began)")
    mates = [r["id"] for r in run.candidates if r.get("round") == record.get("round") and succeeded(r)]
    if not mates:
        return ""
    return (f"; {', '.join(mates)} of its round succeeded (in its wave, evaluated alongside it, or in an earlier one "
            "of the round: this run's records do not say how the round's slots were grouped)")


def audit(run: RunFolder) -> list[AuditRow]:
    rows, known = [], waves(run)
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
            reason = stage["reason"]
            for legacy in LEGACY_NOTHING_BEFORE:
                reason = reason.replace(legacy, NOTHING_BEFORE)
            row.flags.append(f"stopped after its first {stage['episodes']} of {stage['of']} episodes: {reason}"
                             + (_mates_succeeded(run, record, known) if reason.endswith(NOTHING_BEFORE) else ""))
        elif row.outcome == "ok":
            if record.get("evaluation") is not None and row.episodes < FEW_EPISODES:  # a training's score is its own
                row.flags.append(f"score rests on {row.episodes} episodes: run `promptpo verify`")
            if row.std_return is not None and row.mean_return and row.std_return > 0.5 * abs(row.mean_return):
                row.flags.append("returns vary widely across episodes")
        rows.append(row)
    return rows


def to_json(rows: list[AuditRow]) -> list[dict]:
    return [asdict(r) for r in rows]
