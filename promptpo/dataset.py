"""`promptpo dataset export`: a run's prompt/answer pairs as chat-format JSONL for fine-tuning.

Each line is ``{"messages": [system, user, assistant], "metadata": {...}}`` (characters a JSONL reader would split a
line on, such as U+2028, written as escapes): the exact prompt
sent and the exact answer, with the score the answer earned and whether it improved on the
candidate it was asked to improve (or repair). Fine-tuning APIs read ``messages``; the metadata
is there to filter or weight examples (drop it if a provider rejects extra keys).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from promptpo.engine.runfolder import RunFolder
from promptpo.text import jsonl_safe


def _rank(record: dict | None) -> tuple[float, float, float] | None:
    """The record's rank key as promptpo.evaluate.Evaluation.rank_key made it (records from before the
    steps to success were kept rank by success, then return); None for no score or a stopped candidate."""
    score = (record or {}).get("score")
    if not score or score.get("complete") is False:
        return None
    success = score.get("success_rate")
    steps = score.get("mean_steps_to_success") if success is not None else None
    return (success if success is not None else 0.0, -(steps or 0.0), score["mean_return"])


def examples(run: RunFolder) -> Iterator[dict]:
    by_id = {r["id"]: r for r in run.candidates}
    for record in run.candidates:
        call = record.get("llm_call")
        messages = run.llm_messages(call) if call else []
        if not messages:
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


def export(runs: list[RunFolder], out: Path) -> int:
    count = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        for run in runs:
            for example in examples(run):
                handle.write(jsonl_safe(json.dumps(example, ensure_ascii=False)) + "\n")
                count += 1
    return count
