"""A summary rebuilt from what else a run folder holds, when its summary.json is missing or corrupt.

The events, the candidate records and the LLM call records were written as things happened; the summary is
only their digest. What cannot be rebuilt (a mixture's per-model counts, a tuning share) is left out; the
folder says it was ``recovered`` so views can say so.
"""

from __future__ import annotations

from datetime import datetime

from promptpo.records.facts import best_of, criterion_of, record_score, seed_of
from promptpo.records.folder import Folder
from promptpo.outcome import RunStatus

ENDED = "run_end"


def rebuild(run: Folder) -> dict:
    """summary.json's fields, as far as the other records say them."""
    events = run.events()
    end = next((e for e in reversed(events) if e.get("event") == ENDED), None)
    status = (end or {}).get("status") or RunStatus.INTERRUPTED
    reason = (end or {}).get("reason") or ("" if end else "the run stopped without recording its end")
    calls = run.call_records() if run.asks_a_model else []
    _, answered = run.calls() if run.asks_a_model else ([], [])
    summary = {"run_id": run.name, "env": run.meta.get("env"), "model": run.meta.get("model") or run.kind,
               "status": status, "reason": reason, "seed": seed_of(run.meta),
               "llm_calls": len(answered), "prompt_tokens": sum(c.get("prompt_tokens") or 0 for c in calls),
               "completion_tokens": sum(c.get("completion_tokens") or 0 for c in calls),
               "cost_usd": _cost(calls), "wall_time_s": _wall(events)}
    if not run.has_programs or not run.candidates and run.curve():
        curve = run.curve()
        last = curve[-1] if curve else {}
        spent = max([int(p.get("env_steps") or 0) for p in curve] + [_steps(events)])
        return {**summary, "method": run.meta.get("method", run.kind), "best_candidate": None,
                "best_score": last.get("mean_return"), "best_success_rate": last.get("success_rate"),
                "final_return": last.get("mean_return"), "final_success_rate": last.get("success_rate"),
                "env_steps": spent, "episodes": int(last.get("episodes") or 0)}
    best = best_of(run.candidates, criterion_of(run.meta))  # a schedule run's --criterion, as the engine ranked
    score = record_score(best)
    return {**summary, "best_candidate": best["id"] if best else None, "candidates": len(run.candidates),
            "env_steps": max(_steps(events), sum(int(r.get("env_steps") or 0) for r in run.candidates)),
            "episodes": _episodes(events), "best_score": score.get("mean_return"),
            "best_std": score.get("std_return"), "best_success_rate": score.get("success_rate")}


def _steps(events: list[dict]) -> int:
    return max([int(e.get("total_env_steps") or e.get("env_steps") or 0) for e in events
                if e.get("event") in ("candidate", "eval")] + [0])


def _episodes(events: list[dict]) -> int:
    return max([int(e.get("total_episodes") or 0) for e in events if e.get("event") == "candidate"] + [0])


def _cost(calls: list[dict]) -> float | None:
    costs = [c.get("cost_usd") for c in calls]
    return None if any(c is None for c in costs) else round(sum(costs), 6)


def _wall(events: list[dict]) -> float | None:
    """Seconds from the first event to the last (a lower bound: time after the last event is not known)."""
    times = []
    for e in events:
        try:
            times.append(datetime.fromisoformat(str(e.get("t"))))
        except ValueError:
            continue
    return round((max(times) - min(times)).total_seconds(), 2) if len(times) > 1 else None
