"""What every view says of a run's facts in words: its status, its best, a training's final evaluation, its LLM calls
and a verification's verdict (the CLI's `runs` and `show`, the report, the UI's pages), so the views never word the
same fact two ways."""

from __future__ import annotations

from promptpo.records.facts import Facts
from promptpo.records.folder import PROGRAM_KINDS, score_text


def number(value, digits: int = 2) -> str:
    """A number as every page (ui, report) shows it: '-' for none, 1,234 for a count, 1,234.57 for a measure."""
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{value:,.{digits}f}" if isinstance(value, float) else str(value)


def best_text(facts: Facts) -> str:
    """The run's best in a table's cell (`runs`, `show`): its id; where the cascade stopped every candidate, the best
    of those, '(stopped early)'; else '-'."""
    if facts.best:
        return facts.best
    return f"{facts.best_stopped} (stopped early)" if facts.best_stopped else "-"


def best_scored(facts: Facts, record: dict | None = None) -> str:
    """The run's best with its score (the report, the UI's progress): 'r01c2: mean return 4,866.67, success rate
    1.00' from the facts, or, given the best's ``record``, its score as score_text words it (the report); where the
    cascade stopped every candidate, 'none scored in full (the best the cascade stopped early: r00c1)'; else 'none
    scored'."""
    if facts.best:
        score = score_text(record) if record is not None else f"mean return {number(facts.best_score)}" + (
            f", success rate {number(facts.best_success)}" if facts.best_success is not None else "")
        return f"{facts.best}: {score}"
    if facts.best_stopped:
        return f"none scored in full (the best the cascade stopped early: {facts.best_stopped})"
    return "none scored"


def final_text(facts: Facts) -> str:
    """A training's final evaluation: 'mean return 487.20, success rate 1.00'."""
    return f"mean return {number(facts.final_return)}" + (
        f", success rate {number(facts.final_success)}" if facts.final_success is not None else "")


def calls_text(facts: Facts) -> str:
    """LLM calls answered, and how many more were sent and never answered: '3', '3 (2 sent, unanswered)'; '-' for a
    run that asked no model (offline, a training)."""
    sent, answered = facts.calls_sent, facts.calls_answered
    if sent == 0 and answered == 0:
        return "-"
    return f"{answered:,}" + (f" ({sent - answered:,} sent, unanswered)" if sent > answered else "")


def status_text(facts: Facts) -> str:
    """The run's status as recorded, with what qualifies it: no candidate scored in full, a summary rebuilt from
    the other records."""
    text = facts.status
    if facts.kind in PROGRAM_KINDS and facts.best is None and facts.status != "running":
        text += ", no candidate scored in full"
    if facts.recovered:
        text += " (summary rebuilt from the records)"
    return text


def headline(check: dict) -> str:
    """A verification's one verdict, worded once: ``ok: ...``, ``GAP: ...`` or ``FAILED: ...`` (a policy's or a
    schedule's record, old or new)."""
    text = str(check.get("verdict", ""))
    failed = check.get("outcome", "ok") != "ok" or text.startswith("FAILED: ")
    label = "FAILED" if failed else "GAP" if check.get("gap") else "ok"
    return f"{label}: {text.removeprefix('FAILED: ')}"
