"""`promptpo report`: the records' numbers (promptpo.records), rounded, in one self-contained page whose plotly
charts are those `ui` draws; a run whose first candidate the cascade stopped, an offline run, a PPO run."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from conftest import ANSWERS, chromium_session, new_run, run_cli
from web import chart_data


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("runs")
    return {
        # r00c0 is stopped by the cascade after 2 of 10 episodes; r01c0 (call 2) succeeds
        "pick-place": new_run(out, "optimize", "metaworld/pick-place", "--model", f"scripted:{ANSWERS / 'pick_place'}",
                            "--episodes", "10", "--candidates", "1", "--rounds", "3"),
        "offline": new_run(out, "optimize", "metaworld/reach", "--model", "offline", "--rounds", "1"),
        "ppo": new_run(out, "baseline", "ppo", "gymnasium/CartPole-v1", "--steps", "1024", "--seeds", "1"),
    }


def report_of(run: Path, tmp_path: Path) -> str:
    page = tmp_path / f"{run.name}.html"
    proc = run_cli("report", run.name, "--out", str(run.parent), "-o", str(page))
    assert proc.returncode == 0, proc.stderr
    return page.read_text()


def settings_of(page: str) -> dict[str, str]:
    table = page.split("<table>", 1)[1].split("</table>", 1)[0]
    return {html.unescape(k): html.unescape(v) for k, v in re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", table)}


def test_a_run_whose_first_candidate_the_cascade_stopped(runs, tmp_path):
    page = report_of(runs["pick-place"], tmp_path)  # it crashed: x and y must have same first dimension
    figures = {f["id"]: f for f in chart_data(page)}
    steps = figures["chart-steps"]["data"][0]
    assert steps["x"][0] == 0 and steps["y"][0] is None  # from 0 env steps, nothing measured yet
    assert steps["y"][-1] == 1.0 and "r01c0" not in steps["text"][0]
    calls = figures["chart-calls"]["data"][0]
    assert calls["x"] == [2] and calls["y"] == [1.0] and "best r01c0" in calls["text"][0]
    settings = settings_of(page)
    best = json.loads((runs["pick-place"] / "summary.json").read_text())["best_score"]  # its episodes follow the secret
    assert settings["LLM calls"] == "2" and settings["best candidate"].startswith(f"r01c0: mean return {best:.2f}")
    assert settings["steps to target"] == f"{json.loads((runs['pick-place'] / 'summary.json').read_text())['env_steps']:,}"
    assert "class='node stopped'" in page and "class='node best'" in page


def test_an_offline_run_has_no_llm_calls_and_its_best_is_the_engine_s(runs, tmp_path):
    page = report_of(runs["offline"], tmp_path)
    figures = {f["id"]: f for f in chart_data(page)}
    assert "chart-calls" not in figures  # it drew a point at '9 LLM calls'
    assert settings_of(page)["LLM calls"] == "-"
    best = figures["chart-steps"]["data"][0]
    assert {y for y in best["y"] if y is not None} == {1.0}  # never a failing candidate with a higher return
    for key, value in settings_of(page).items():  # numbers rounded to at most 4 places (times of day aside)
        assert key in ("started", "ended") or not re.search(r"\d\.\d{5,}", value), (key, value)


def test_a_ppo_report_shows_its_training(runs, tmp_path):
    page = report_of(runs["ppo"], tmp_path)
    settings = settings_of(page)
    assert "None" not in " ".join(settings.values()) and "model" not in settings
    assert settings["method"] == "ppo" and settings["target compare uses"].startswith("mean return >= 475")
    assert settings["trained"] == "1,024 env steps of 1,024" and settings["trained network"] == "model.zip"
    (figure,) = chart_data(page)
    line = figure["data"][0]
    assert line["x"][0] == 0 and line["x"][-1] == 1024 and len(line["x"]) > 2  # its learning curve
    assert "Candidates (parent" not in page


def test_the_report_works_offline_in_chromium(runs, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    page = tmp_path / "report.html"
    page.write_text(report_of(runs["pick-place"], tmp_path))
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=[\"']?http", page.read_text())  # nothing loaded from elsewhere
    session = chromium_session(log=("browser", "performance"))
    try:
        session.get(page.as_uri())
        charts = session.find_elements(By.CSS_SELECTOR, "div.chart")
        assert [c.get_attribute("id") for c in charts] == ["chart-steps", "chart-calls"]
        assert len(charts[0].find_elements(By.CSS_SELECTOR, ".xtick")) > 2
        ActionChains(session).move_to_element(charts[0].find_elements(By.CSS_SELECTOR, ".scatterlayer .point")[-1]) \
            .perform()
        hover = session.find_elements(By.CSS_SELECTOR, ".hoverlayer .hovertext")
        best = json.loads((runs["pick-place"] / "summary.json").read_text())["best_score"]  # episodes follow the secret
        assert hover and f"mean return {best:.2f}" in hover[0].text
        assert not [e for e in session.get_log("browser") if e["level"] == "SEVERE"]
        requests = [json.loads(e["message"])["message"] for e in session.get_log("performance")]
        urls = {m["params"]["request"]["url"] for m in requests if m["method"] == "Network.requestWillBeSent"}
        assert urls == {page.as_uri()}, urls
    finally:
        session.quit()


def test_the_report_runs_only_the_scripts_it_carries(runs, tmp_path):
    """Its <meta> CSP names its inline scripts by SHA-256: a script or on* handler added to its HTML does not run,
    and its charts still draw."""
    import base64
    import hashlib

    text = report_of(runs["pick-place"], tmp_path)
    (policy,) = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', text)
    scripts = [body for tag, body in re.findall(r"<script([^>]*)>(.*?)</script>", text, re.DOTALL) if not tag]
    named = {f"sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}" for s in scripts}
    assert len(scripts) == 2 and set(re.findall(r"'(sha256-[^']+)'", html.unescape(policy))) == named
    page = tmp_path / "injected.html"
    page.write_text(text.replace("<h2>Progress</h2>", "<h2>Progress</h2><script>window.pwned = 1</script>"
                                 "<img src=x onerror='window.pwned = 2'>"))
    session = chromium_session()
    try:
        session.get(page.as_uri())
        assert session.execute_script("return window.pwned") is None
        assert len(session.execute_script("return document.querySelectorAll('div.chart .main-svg')")) > 0
    finally:
        session.quit()


def test_an_unreadable_verification_record_is_one_line_not_the_end_of_the_report(tmp_path):
    """A corrupt verifications/*.json stopped the whole report with a RunStoreError."""
    from web import mid_wave

    from promptpo.records import RunFolder
    from promptpo.views.report import report

    folder = mid_wave(tmp_path)
    (folder / "verifications").mkdir()
    (folder / "verifications" / "r01c0-20261206-112000.json").write_text('{"verified": {"episodes": 1')
    page = report(RunFolder(folder), tmp_path / "report.html").read_text()
    assert "Verification: its verification record cannot be read: " in html.unescape(page)
    assert "r01c0-20261206-112000.json is not valid JSON" in page
    assert '<h2 id="r00c0"' in page and '<h2 id="r01c0"' in page  # every candidate is still there
