"""What every view says of a run's facts in words: its status, its LLM calls and a verification's verdict (the CLI's `runs` and `show`,
the UI's pages), so the views never word the same fact two ways."""

from __future__ import annotations

from promptpo.records.facts import Facts
from promptpo.records.folder import PROGRAM_KINDS


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
