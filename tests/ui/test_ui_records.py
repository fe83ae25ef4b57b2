"""`promptpo ui` says what the records say (promptpo.records): the best by the rank key in its charts, no LLM-call
chart for a run that asked no model, statuses and lineage colours from the records, trainings as trainings,
bench runs several folders down, compare's own table; and its charts work in Chromium with nothing fetched from
outside 127.0.0.1."""

from __future__ import annotations

import html
import json
import re
import shutil
import time
from pathlib import Path

import pytest
from conftest import ANSWERS, chromium_session, new_run, run_cli
from web import chart_data, serve

BENCH = "bench/mt1/promptpo/metaworld-reach/seed-0"
"""A bench's run folders sit five levels down (promptpo.bench)."""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("runs")
    runs = {
        # offline: no LLM; its first candidate succeeds at a return of ~200, later ones score up to ~1,700 and fail
        "offline": new_run(out, "optimize", "metaworld/reach", "--model", "offline", "--rounds", "1"),
        # the first candidate is stopped by the cascade after 2 failed episodes: the run ends with no best
        "stopped": new_run(out, "optimize", "metaworld/pick-place", "--model", f"scripted:{ANSWERS / 'pick_place'}",
                         "--episodes", "10", "--candidates", "1", "--rounds", "1"),
        "ppo": new_run(out, "baseline", "ppo", "gymnasium/CartPole-v1", "--steps", "1024", "--seeds", "1"),
        "cartpole": new_run(out, "optimize", "gymnasium/CartPole-v1", "--model",
                          f"scripted:{ANSWERS / 'cartpole_slow'}", "--candidates", "1", "--rounds", "1"),
    }
    bench = out / BENCH
    bench.mkdir(parents=True)
    shutil.copytree(runs["cartpole"], bench / runs["cartpole"].name)
    runs["bench"] = bench / runs["cartpole"].name
    return runs


@pytest.fixture(scope="module")
def client(corpus):
    from starlette.testclient import TestClient

    from promptpo.ui.app import make_app

    return TestClient(make_app(corpus["offline"].parent), base_url="http://127.0.0.1")


def _page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.text


def test_the_chart_s_best_is_the_engine_s_and_an_offline_run_has_no_calls_chart(corpus, client):
    from promptpo.records import RunFolder

    run = RunFolder(corpus["offline"])
    events = [e for e in run.events() if e.get("event") == "candidate" and e["outcome"] == "ok"]
    assert max(e["mean_return"] for e in events) > 2 * run.facts.best_score  # a failing candidate scored higher
    page = _page(client, f"/run/{run.name}")
    figures = {f["id"]: f for f in chart_data(page)}
    assert "chart-calls" not in figures  # it asked no model
    best = figures["chart-steps"]["data"][0]
    assert best["name"] == "best so far" and best["x"][0] == 0  # from 0 env steps
    assert best["y"][-1] == run.facts.best_success == 1.0 and best["x"][-1] == run.facts.env_steps
    assert f"mean return {run.facts.best_score:,.2f}" in best["text"][-1]
    assert all(f"mean return {e['mean_return']:,.2f}" not in " ".join(best["text"])
               for e in events if e["success_rate"] == 0)  # no failing candidate is ever the best so far
    row = next(r for r in client.get("/api/runs").json() if r["id"] == run.name)
    assert row["llm_calls"] == "-" and row["best"] == run.facts.best_score


def test_a_run_with_one_scored_point_draws_it(corpus, client):
    figures = chart_data(_page(client, f"/run/{corpus['cartpole'].name}"))
    best = next(f for f in figures if f["id"] == "chart-steps")["data"][0]
    assert "markers" in best["mode"] and [y for y in best["y"] if y is not None] and best["y"][-1] == 500.0
    calls = next(f for f in figures if f["id"] == "chart-calls")["data"][0]
    assert calls["x"] == [1] and calls["y"] == [500.0]


def test_status_and_node_colours_follow_the_records(corpus, client):
    page = _page(client, f"/run/{corpus['stopped'].name}")
    assert 'class="status-bad" id="status">completed, no candidate scored in full' in page
    assert 'id="node-r00c0" class="node stopped"' in page
    assert chart_data(page) == []  # nothing scored in full: no curve
    offline = _page(client, f"/run/{corpus['offline'].name}")
    assert 'class="status-good"' in offline and 'class="node best"' in offline and 'class="node nosuccess"' in offline


def test_a_ppo_run_page_shows_its_training(corpus, client):
    from promptpo.records import RunFolder

    facts = RunFolder(corpus["ppo"]).facts
    page = _page(client, f"/run/{corpus['ppo'].name}")
    assert 'id="candidate-count"' not in page and "best -" not in page
    assert f"mean return {facts.final_return:,.2f}" in page
    (figure,) = chart_data(page)
    line = figure["data"][0]
    assert line["x"][0] == 0 and line["x"][-1] == 1024 and line["y"][-1] == facts.final_return


def test_bench_runs_are_listed_and_served(corpus, client):
    rid = f"{BENCH}/{corpus['bench'].name}"
    assert rid in [r["id"] for r in client.get("/api/runs").json()]
    assert corpus["bench"].name in _page(client, f"/run/{rid}")
    assert "def act" in _page(client, f"/run/{rid}/candidate/r00c0")


def test_a_run_s_page_derives_its_own_facts_and_its_trainings_not_every_run_s(corpus, monkeypatch):
    """A running run's fragment is asked for every second: it derives the facts of that run and of the trainings its
    chart draws (the PPO run of its env), not those of every run in the folder."""
    from starlette.testclient import TestClient

    import promptpo.records.facts as facts
    import promptpo.records.run as run_module
    from promptpo.ui.app import make_app

    derived, real = [], facts.facts_of
    monkeypatch.setattr(run_module, "facts_of", lambda run, *given: derived.append(run.name) or real(run, *given))
    client = TestClient(make_app(corpus["offline"].parent), base_url="http://127.0.0.1")
    assert client.get(f"/run/{corpus['cartpole'].name}/live").status_code == 200
    assert sorted(derived) == sorted([corpus["cartpole"].name, corpus["ppo"].name])


def test_compare_shows_the_cli_s_table(corpus, client):
    ids = [corpus["ppo"].name, corpus["cartpole"].name]
    page = _page(client, "/compare?" + "&".join(f"run={i}" for i in ids))
    cli = run_cli("compare", *ids, "--out", str(corpus["ppo"].parent))
    assert cli.returncode == 0, cli.stderr
    table = page.split('<table class="compare" id="compare">')[1].split("</table>")[0]
    rows = [[html.unescape(c) for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", r)] for r in table.split("</tr>")[:-1]]
    assert rows[0][2] == "final return [95% CI]" and rows[0][8].startswith("vs PPO") and len(rows) == 3
    assert rows[1][0] == "ppo" and rows[2][8] != "-"  # the scripted run against PPO: ratio, saving, test
    for row in rows[1:]:  # the cells the CLI prints (the CLI wraps long ones)
        for cell in (row[1], row[2], row[4], row[6]):
            assert cell in cli.stdout, cell
    (figure,) = chart_data(page)
    groups = [t["legendgroup"] for t in figure["data"]]
    assert groups[0] == "ppo" and len(set(groups)) == 2 and sum(t["showlegend"] for t in figure["data"]) == 2
    assert figure["layout"]["legend"]["orientation"] == "h" and figure["layout"]["legend"]["y"] < 0  # below the plot


def test_charts_in_chromium_have_ticks_and_hover_and_fetch_nothing_outside(corpus, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    session = chromium_session(log=("browser", "performance"))
    ui, port = serve(corpus["offline"].parent)
    try:
        for path in (f"/run/{corpus['offline'].name}", f"/run/{corpus['ppo'].name}",
                     f"/compare?run={corpus['ppo'].name}&run={corpus['cartpole'].name}"):
            session.get(f"http://127.0.0.1:{port}{path}")
            charts = session.find_elements(By.CSS_SELECTOR, "div.chart .main-svg")
            assert charts, path
            chart = session.find_elements(By.CSS_SELECTOR, "div.chart")[0]
            assert len(chart.find_elements(By.CSS_SELECTOR, ".xtick")) > 2, path
            assert len(chart.find_elements(By.CSS_SELECTOR, ".ytick")) > 2, path
            ActionChains(session).move_to_element(chart.find_elements(By.CSS_SELECTOR, ".scatterlayer .point")[-1]) \
                .perform()
            hover = session.find_elements(By.CSS_SELECTOR, ".hoverlayer .hovertext")
            assert hover and "mean return" in hover[0].text, path
            problems = [e for e in session.get_log("browser") if e["level"] == "SEVERE"]
            assert not problems, problems
            requests = [json.loads(e["message"])["message"] for e in session.get_log("performance")]
            urls = {m["params"]["request"]["url"] for m in requests if m["method"] == "Network.requestWillBeSent"}
            assert urls and all(u.startswith((f"http://127.0.0.1:{port}/", "data:")) for u in urls), urls
    finally:
        session.quit()
        ui.kill()
        ui.wait()


def test_pages_may_load_only_from_the_server(client):
    for path in ("/", "/compare"):
        policy = client.get(path).headers["content-security-policy"]
        assert "default-src 'self'" in policy and "connect-src 'self'" in policy and "http" not in policy


def test_pages_run_only_the_scripts_the_server_serves(corpus, client):
    """No page holds an inline script or an on* handler (its CSP would refuse them): each <script> is a file from
    /static or a JSON data block, and /static serves those files and nothing else."""
    run = corpus["cartpole"].name
    for path in ("/", "/live/runs", "/compare", f"/compare?run={run}", f"/run/{run}", f"/run/{run}/live",
                 f"/run/{run}/candidate/r00c0"):
        page = _page(client, path)
        assert not re.search(r"<[^>]+\son\w+\s*=", page), path
        for tag, body in re.findall(r"<script([^>]*)>(.*?)</script>", page, re.DOTALL):
            source = re.search(r'src="(/static/[\w.]+)"', tag)
            assert 'type="application/json"' in tag or source and not body.strip(), (path, tag)
            if source:
                served = client.get(source.group(1))
                assert served.status_code == 200 and "javascript" in served.headers["content-type"], source.group(1)
    for path in ("/static/report.html.j2", "/static/base.html", "/static/..%2Fapp.py", "/static/x.js"):
        assert client.get(path).status_code == 404, path


def test_compare_draws_the_runs_its_table_samples(corpus, client):
    """The bench's copy of the CartPole run is a repeat of its seed: compare leaves it out, and so does the chart."""
    ids = [corpus["cartpole"].name, f"{BENCH}/{corpus['bench'].name}"]
    page = _page(client, "/compare?" + "&".join(f"run={i}" for i in ids))
    assert "left out (1 runs)" in html.unescape(page) and "a repeat of seed 0" in html.unescape(page)
    (figure,) = chart_data(page)
    assert len(figure["data"]) == 1


def test_a_running_run_s_chart_grows_and_keeps_its_zoom(corpus, tmp_path):

    run = tmp_path / "runs" / "live"
    shutil.copytree(corpus["offline"], run)
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "status": "running"}))
    session = chromium_session()
    ui, port = serve(run.parent)
    points = "return document.getElementById('chart-steps').data[1].x.length"
    try:
        session.get(f"http://127.0.0.1:{port}/run/live")
        session.execute_script("Plotly.relayout('chart-steps', {'xaxis.range': [100, 600]});")
        before = session.execute_script(points)
        # a candidate lands while the page is open: the engine saves its record the moment its evaluation ends
        # (its event comes when its wave ends)
        last, record = next((p, r) for p in sorted((run / "candidates").glob("*.json"), reverse=True)
                            if (r := json.loads(p.read_text()))["outcome"] == "ok")
        (run / "candidates" / "r09c0.py").write_text(last.with_suffix(".py").read_text())
        (run / "candidates" / "r09c0.json").write_text(json.dumps({**record, "id": "r09c0", "round": 9, "index": 0}))
        deadline = time.monotonic() + 20
        while session.execute_script(points) == before and time.monotonic() < deadline:
            time.sleep(0.2)
        assert session.execute_script(points) == before + 1
        assert session.execute_script("return document.getElementById('chart-steps').layout.xaxis.range") == [100, 600]
    finally:
        session.quit()
        ui.kill()
        ui.wait()
