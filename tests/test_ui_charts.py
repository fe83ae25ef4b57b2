"""promptpo.views.charts: what a run page draws comes from the candidate records, as its header does."""

from __future__ import annotations

import json
from pathlib import Path

from test_ui import chart_data

from promptpo.records import RunFolder
from promptpo.views import charts


def candidate(cid: str, round_: int, env_steps: int, mean_return: float) -> dict:
    return {"id": cid, "round": round_, "index": 0, "kind": "initial" if round_ == 0 else "refine", "parent": None,
            "outcome": "ok", "env_steps": env_steps, "llm_call": None,
            "score": {"mean_return": mean_return, "std_return": 0.0, "success_rate": None, "complete": True}}


def mid_wave(root: Path) -> Path:
    """r00c0 taken in (its event says 1,200 env steps up to it: 200 of tuning and its own 1,000); r01c0 saved as
    its evaluation ended (record, best, summary.json) while its wave runs on, so no event of it yet."""
    folder = root / "20261206-110000-gymnasium-cartpole-v1-abcd"
    (folder / "candidates").mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"env": "gymnasium/CartPole-v1", "kind": "promptpo",
                                                 "target": "mean return >= 475", "config": {"candidates": 2}}))
    for record in (candidate("r00c0", 0, 1000, 100.0), candidate("r01c0", 1, 2500, 500.0)):
        (folder / "candidates" / f"{record['id']}.json").write_text(json.dumps(record))
        (folder / "candidates" / f"{record['id']}.py").write_text("def act(obs):\n    return 0\n")
    (folder / "events.jsonl").write_text(json.dumps({
        "event": "candidate", "id": "r00c0", "kind": "initial", "outcome": "ok", "env_steps": 1000,
        "mean_return": 100.0, "success_rate": None, "best": True, "total_env_steps": 1200, "total_episodes": 5}) + "\n")
    (folder / "summary.json").write_text(json.dumps({
        "status": "running", "best_candidate": "r01c0", "target": "mean return >= 475", "candidates": 2,
        "env_steps": 3700, "episodes": 10}))
    return folder


def test_a_candidate_saved_before_its_event_is_on_the_chart_and_is_its_best(tmp_path):
    run = RunFolder(mid_wave(tmp_path))
    assert run.facts.best == "r01c0"  # what the header says
    figure = charts.steps_figure(run)
    best, each = figure["data"][0], figure["data"][1]
    assert best["x"] == [0, 1200, 3700] and best["y"] == [None, 100.0, 500.0]
    assert each["x"] == [1200, 3700] and each["y"] == [100.0, 500.0] and "r01c0" in each["text"][1]
    assert run.facts.steps_to_target == 3700


def test_the_run_page_s_header_and_chart_agree_mid_wave(tmp_path):
    from starlette.testclient import TestClient

    from promptpo.ui.app import make_app

    folder = mid_wave(tmp_path)
    page = TestClient(make_app(tmp_path), base_url="http://127.0.0.1").get(f"/run/{folder.name}").text
    assert 'id="best">r01c0: mean return 500.00' in page
    assert "reached after 3,700 env steps" in page
    best = next(f for f in chart_data(page) if f["id"] == "chart-steps")["data"][0]
    assert best["y"][-1] == 500.0 and best["x"][-1] == 3700


def test_the_calls_chart_ends_at_the_run_s_best_when_a_tuned_candidate_is_it(tmp_path):
    """A tuned candidate asks no model (no llm_call): the calls chart skipped it, so its last point was the best
    before tuning while the header named the tuned one."""
    folder = mid_wave(tmp_path)
    (folder / "llm").mkdir()
    for name in ("0001.prompt.md", "0001.response.md"):
        (folder / "llm" / name).write_text("x")
    first = json.loads((folder / "candidates" / "r00c0.json").read_text())
    (folder / "candidates" / "r00c0.json").write_text(json.dumps({**first, "llm_call": 1}))
    tuned = json.loads((folder / "candidates" / "r01c0.json").read_text())
    (folder / "candidates" / "r01c0.json").write_text(json.dumps({**tuned, "round": 0, "index": 1, "kind": "tuned",
                                                                  "parent": "r00c0", "id": "r00c1"}))
    (folder / "candidates" / "r01c0.json").rename(folder / "candidates" / "r00c1.json")
    (folder / "candidates" / "r01c0.py").rename(folder / "candidates" / "r00c1.py")
    summary = json.loads((folder / "summary.json").read_text())
    (folder / "summary.json").write_text(json.dumps({**summary, "best_candidate": "r00c1"}))
    run = RunFolder(folder)
    assert run.facts.best == "r00c1"
    calls = charts.calls_figure(run)["data"][0]
    assert calls["x"] == [1, 1] and calls["y"] == [100.0, 500.0] and "best r00c1" in calls["text"][-1]
