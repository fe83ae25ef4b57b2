"""promptpo.views.charts: what a run page draws comes from the candidate records, as its header does."""

from __future__ import annotations

import json

from web import chart_data, mid_wave

from promptpo.records import RunFolder
from promptpo.views import charts


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
