"""`promptpo dataset export`: a run's prompt/answer pairs as chat-format JSONL for fine-tuning.

Each line is ``{"messages": [system, user, assistant], "metadata": {...}}`` (characters a JSONL reader would split a
line on, such as U+2028, written as escapes): the exact prompt
sent and the exact answer, with the score the answer earned and whether it improved on the
candidate it was asked to improve (or repair). Fine-tuning APIs read ``messages``; the metadata
is there to filter or weight examples (drop it if a provider rejects extra keys).

Only a language model's answers are exported by default: the offline proposer's samples (CMA-ES over a program
template) were sent no prompt (their "prompt" is a placeholder line), and a run of it made most of a dataset of
them. ``offline=True`` keeps them; ``Exported`` says what was left out either way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from promptpo.records import RunFolder
from promptpo.text import jsonl_safe


def _rank(record: dict | None) -> tuple[float, float, float] | None:
    """The record's rank key as promptpo.policy.evaluation.Evaluation.rank_key made it (records from before the
    steps to success were kept rank by success, then return); None for no score or a stopped candidate."""
    score = (record or {}).get("score")
    if not score or score.get("complete") is False:
        return None
    success = score.get("success_rate")
    steps = score.get("mean_steps_to_success") if success is not None else None
    return (success if success is not None else 0.0, -(steps or 0.0), score["mean_return"])


@dataclass
class Exported:
    written: int = 0
    left_out: dict[str, int] = field(default_factory=dict)
    """Why candidates were not written, and how many each time."""

    def leave_out(self, why: str) -> None:
        self.left_out[why] = self.left_out.get(why, 0) + 1


OFFLINE = "offline-proposer samples (no prompt was sent: give --include-offline to keep them)"
NO_CALL = "candidates no answer made (tuned constants)"
NO_MESSAGES = "answers whose prompt was not recorded"


def offline_call(run: RunFolder, call: int) -> bool:
    """Whether ``call`` was answered by the offline proposer (its own record's model; else the run's backend)."""
    record = run.json(f"llm/{call:04d}.json") or {}
    model = record.get("model") or run.meta.get("model") or ""
    return str(model).startswith("offline") or (not record and run.meta.get("backend") == "offline")


def examples(run: RunFolder, offline: bool = False, tally: Exported | None = None) -> Iterator[dict]:
    """The run's examples; the offline proposer's only with ``offline``. ``tally`` counts what is left out."""
    tally = tally if tally is not None else Exported()
    by_id = {r["id"]: r for r in run.candidates}
    for record in run.candidates:
        call = record.get("llm_call")
        if not call:
            tally.leave_out(NO_CALL)
            continue
        if not offline and offline_call(run, call):
            tally.leave_out(OFFLINE)
            continue
        messages = run.llm_messages(call)
        if not messages:
            tally.leave_out(NO_MESSAGES)
            continue
        parent = by_id.get(record.get("parent"))
        mine, theirs = _rank(record), _rank(parent)
        improved = None if parent is None else (mine is not None and (theirs is None or mine > theirs))
        score = record.get("score") or {}
        yield {"messages": [*messages, {"role": "assistant", "content": run.llm_text(call, "response.md")}],
               "metadata": {"run": run.path.name, "env": run.meta["env"], "model": run.meta.get("model"),
                            "call": call, "candidate": record["id"], "kind": record["kind"],
                            "parent": record.get("parent"), "outcome": record["outcome"],
                            "mean_return": score.get("mean_return"), "success_rate": score.get("success_rate"),
                            "improved_on_parent": improved}}


def export(runs: list[RunFolder], out: Path, offline: bool = False) -> Exported:
    done = Exported()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        for run in runs:
            for example in examples(run, offline, done):
                handle.write(jsonl_safe(json.dumps(example, ensure_ascii=False)) + "\n")
                done.written += 1
    return done
