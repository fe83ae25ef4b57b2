"""promptpo.records.recover: a summary rebuilt from the events, candidates and calls when summary.json is lost, and
RunFolder marking it ``recovered``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES, read_json
from promptpo.records import RunFolder
from promptpo.records.folder import Folder
from promptpo.records.recover import rebuild

META = {"env": "gymnasium/CartPole-v1", "kind": "promptpo", "model": "scripted:x", "seed": 3}


def folder(path: Path, meta: dict | None = None, events: list[dict] = (), candidates: list[dict] = (),
           calls: dict[int, dict | None] | None = None, curve: list[dict] = ()) -> Path:
    """A run folder: ``calls`` maps a call number to its llm/NNNN.json (None: sent, never answered)."""
    path.mkdir(parents=True)
    (path / "run.json").write_text(json.dumps(META if meta is None else meta))
    (path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    if curve:
        (path / "curve.jsonl").write_text("".join(json.dumps(p) + "\n" for p in curve))
    (path / "candidates").mkdir()
    for record in candidates:
        (path / "candidates" / f"{record['id']}.json").write_text(json.dumps(record))
    (path / "llm").mkdir()
    for call, record in (calls or {}).items():
        (path / "llm" / f"{call:04d}.prompt.md").write_text("prompt")
        if record is not None:
            (path / "llm" / f"{call:04d}.response.md").write_text("answer")
            (path / "llm" / f"{call:04d}.json").write_text(json.dumps(record))
    return path


def candidate(cid: str, mean_return: float | None, env_steps: int = 100, outcome: str = "ok") -> dict:
    return {"id": cid, "round": int(cid[1:3]), "index": int(cid[4:]), "outcome": outcome, "env_steps": env_steps,
            "score": {"mean_return": mean_return, "std_return": 1.5, "success_rate": None} if mean_return is not None
            else None}


@pytest.mark.parametrize("fixture", ["runs-before-engine/policy", "runs-before-engine/schedule",
                                     "runs-before-the-move/policy", "runs-before-the-move/schedule",
                                     "runs-before-the-move/online"])
def test_a_lost_summary_of_a_real_run_is_rebuilt_with_what_it_said(tmp_path, fixture):
    run_path = shutil.copytree(FIXTURES / fixture, tmp_path / "run")
    stored = read_json(run_path / "summary.json")
    (run_path / "summary.json").unlink()
    run = RunFolder(run_path)
    assert run.recovered == "summary.json is missing"
    summary = run.summary
    for key in ("env", "model", "status", "reason", "best_candidate", "best_score", "best_success_rate",
                "llm_calls", "prompt_tokens", "completion_tokens", "env_steps"):
        assert summary[key] == stored.get(key), key
    assert summary["run_id"] == "run"
    assert summary["wall_time_s"] <= stored["wall_time_s"]  # from the first event to the last: a lower bound
    assert run.facts.recovered and run.facts.best == stored["best_candidate"]


def test_a_corrupt_summary_is_rebuilt_and_says_why(tmp_path):
    path = folder(tmp_path / "r", events=[{"event": "run_end", "status": "completed"}])
    (path / "summary.json").write_text('{"status": "comp')
    run = RunFolder(path)
    assert run.recovered.startswith("summary.json is not valid JSON")
    assert run.summary["status"] == "completed"


def test_a_run_with_no_recorded_end_was_interrupted(tmp_path):
    summary = rebuild(Folder(folder(tmp_path / "r", events=[{"event": "run_start"}])))
    assert summary["status"] == "interrupted"
    assert summary["reason"] == "the run stopped without recording its end"
    assert summary["seed"] == 3 and summary["model"] == "scripted:x"


def test_the_last_run_end_gives_status_and_reason(tmp_path):
    events = [{"event": "run_end", "status": "interrupted", "reason": "Ctrl-C"}, {"event": "run_start"},
              {"event": "run_end", "status": "budget_exhausted", "reason": "max env steps"}]
    summary = rebuild(Folder(folder(tmp_path / "r", events=events)))
    assert (summary["status"], summary["reason"]) == ("budget_exhausted", "max env steps")


def test_the_best_by_the_rank_key_counts_and_steps(tmp_path):
    events = [{"event": "candidate", "id": "r00c0", "total_env_steps": 100, "total_episodes": 2},
              {"event": "candidate", "id": "r00c1", "total_env_steps": 250, "total_episodes": 5}]
    candidates = [candidate("r00c0", 10.0), candidate("r00c1", 30.0, 150), candidate("r01c0", None, 50, "crashed")]
    summary = rebuild(Folder(folder(tmp_path / "r", events=events, candidates=candidates)))
    assert summary["best_candidate"] == "r00c1"
    assert (summary["best_score"], summary["best_std"]) == (30.0, 1.5)
    assert summary["candidates"] == 3
    assert summary["env_steps"] == 300  # the records' sum (100 + 150 + 50) exceeds the events' 250
    assert summary["episodes"] == 5


def test_no_candidate_scored_means_no_best(tmp_path):
    summary = rebuild(Folder(folder(tmp_path / "r", candidates=[candidate("r00c0", None, outcome="timeout")])))
    assert summary["best_candidate"] is None and summary["best_score"] is None


def test_calls_tokens_and_cost_from_the_call_records(tmp_path):
    calls = {1: {"prompt_tokens": 10, "completion_tokens": 2, "cost_usd": 0.001},
             2: {"prompt_tokens": 20, "completion_tokens": None, "cost_usd": 0.0025}, 3: None}
    summary = rebuild(Folder(folder(tmp_path / "r", calls=calls)))
    assert summary["llm_calls"] == 2  # the third was sent, never answered
    assert (summary["prompt_tokens"], summary["completion_tokens"]) == (30, 2)
    assert summary["cost_usd"] == pytest.approx(0.0035)


def test_one_call_of_unknown_cost_makes_the_cost_unknown(tmp_path):
    calls = {1: {"prompt_tokens": 1, "cost_usd": 0.5}, 2: {"prompt_tokens": 1, "cost_usd": None}}
    assert rebuild(Folder(folder(tmp_path / "r", calls=calls)))["cost_usd"] is None


def test_an_offline_runs_proposals_are_no_llm_calls(tmp_path):
    path = folder(tmp_path / "r", meta={**META, "backend": "offline"}, calls={1: {"prompt_tokens": 5}})
    summary = rebuild(Folder(path))
    assert (summary["llm_calls"], summary["prompt_tokens"]) == (0, 0)


def test_wall_time_from_the_first_event_to_the_last_skipping_unreadable_times(tmp_path):
    events = [{"event": "run_start", "t": "2026-01-01T00:00:00+00:00"}, {"event": "x", "t": "not a time"},
              {"event": "x"}, {"event": "run_end", "status": "completed", "t": "2026-01-01T00:01:30.5+00:00"}]
    assert rebuild(Folder(folder(tmp_path / "a", events=events)))["wall_time_s"] == 90.5
    assert rebuild(Folder(folder(tmp_path / "b", events=events[:1])))["wall_time_s"] is None


def test_a_training_is_rebuilt_from_its_curve(tmp_path):
    meta = {"env": "gymnasium/CartPole-v1", "kind": "ppo", "method": "ppo", "seed": 1}
    curve = [{"env_steps": 1000, "mean_return": 20.0, "episodes": 4},
             {"env_steps": 2048, "mean_return": 80.0, "success_rate": None, "episodes": 9}]
    events = [{"event": "eval", "env_steps": 4096}, {"event": "run_end", "status": "completed"}]
    summary = rebuild(Folder(folder(tmp_path / "r", meta=meta, events=events, curve=curve)))
    assert summary["method"] == "ppo" and summary["model"] == "ppo"  # no model: its kind
    assert summary["best_candidate"] is None
    assert summary["final_return"] == summary["best_score"] == 80.0
    assert summary["env_steps"] == 4096 and summary["episodes"] == 9
    assert "candidates" not in summary


def test_a_schedule_with_no_candidate_record_but_a_curve_reads_as_a_training(tmp_path):
    meta = {"env": "gymnasium/CartPole-v1", "kind": "schedule", "model": "scripted:s"}
    summary = rebuild(Folder(folder(tmp_path / "r", meta=meta, curve=[{"env_steps": 512, "mean_return": 9.0}])))
    assert summary["final_return"] == 9.0 and summary["env_steps"] == 512 and summary["method"] == "schedule"
