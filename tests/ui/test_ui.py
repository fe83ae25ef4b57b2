"""`promptpo ui` in a real headless Chromium (Selenium): a run in progress, its live page, its lineage and candidates,
and what the server refuses (paths out of the folder, symlinks, model-written HTML, non-loopback without a token)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, chromium_session, cli_env
from web import chart_data, get, non_blank, serve, wait_for

HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
FIRST = f"""My plan {HOSTILE}: push the way the pole leans.

```python
print("{HOSTILE.replace('"', "'")}")

def act(obs):
    x, v, a, w = obs
    return int(a > 0)
```"""
SECOND = """Add the angular velocity.

```python
def act(obs):
    x, v, a, w = obs
    return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)
```"""


@pytest.fixture
def browser():
    session = chromium_session()
    yield session
    session.quit()


def test_a_run_in_progress_in_the_browser(tmp_path, browser):
    from selenium.webdriver.common.by import By

    out = tmp_path / "runs"
    out.mkdir()
    run = subprocess.Popen([sys.executable, "-m", "promptpo", "optimize", "gymnasium/CartPole-v1", "--model", "manual",
                            "--rounds", "3", "--candidates", "1", "--episodes", "2", "--out", str(out)],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    ui, port = serve(out)
    try:
        folder = wait_for(lambda: next((p for p in out.iterdir() if (p / "llm" / "0001.prompt.md").exists()), None),
                          what="the run's first prompt")
        (folder / "llm" / "0001.response.md").write_text(FIRST)
        wait_for(lambda: (folder / "candidates" / "r00c0.json").exists(), what="the first candidate")

        browser.get(f"http://127.0.0.1:{port}/")
        link = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "a.run-link"), what="the run in the list")[0]
        assert link.text == folder.name
        assert non_blank(browser.get_screenshot_as_png())
        link.click()
        count = lambda: browser.find_element(By.ID, "candidate-count").text
        assert wait_for(lambda: count() == "1", what="one candidate")
        browser.execute_script("window.notReloaded = true;")
        (folder / "llm" / "0002.response.md").write_text(SECOND)
        wait_for(lambda: count() == "2", what="the count to grow on the open page")
        assert browser.execute_script("return window.notReloaded === true;")  # it grew without a reload
        assert non_blank(browser.get_screenshot_as_png())

        wait_for(lambda: browser.find_elements(By.ID, "node-r01c0"), what="the new node")[0].click()
        wait_for(lambda: browser.find_elements(By.ID, "candidate-id"), what="the candidate page")
        assert browser.find_element(By.ID, "candidate-id").text == "r01c0"
        assert "def act(obs):" in browser.find_element(By.ID, "code").text
        diff = browser.find_element(By.ID, "diff").text
        assert "-    return int(a > 0)" in diff and "+    return int(a + 0.5 * w" in diff
        assert non_blank(browser.get_screenshot_as_png())

        browser.get(f"http://127.0.0.1:{port}/run/{folder.name}/candidate/r00c0")  # the hostile answer: text only
        assert HOSTILE in browser.find_element(By.ID, "answer").text
        assert HOSTILE.replace('"', "'") in browser.find_element(By.ID, "output").text
        assert browser.title != "pwned" and not browser.find_elements(By.CSS_SELECTOR, "#answer img, #output img")
        assert "&lt;script&gt;" in browser.page_source

        browser.get(f"http://127.0.0.1:{port}/compare?run={folder.name}")
        assert browser.find_elements(By.ID, "compare") and non_blank(browser.get_screenshot_as_png())
        assert run.wait(timeout=120) == 0
    finally:
        run.kill()
        ui.kill()
        ui.wait()


def test_paths_out_of_the_folder_and_symlinks_are_404(tmp_path):
    out = tmp_path / "runs"
    folder = out / "20260101-000000-some-run"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"env": "gymnasium/CartPole-v1", "kind": "ppo"}))
    (folder / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"SECRET")
    os.symlink(secret, folder / "leak.png")
    os.symlink("/etc", folder / "etc")
    ui, port = serve(out)
    try:
        assert get(port, f"/run/{folder.name}/files/plot.png")[0] == 200
        for path in ("leak.png", "../../secret.png", "..%2F..%2Fsecret.png", "etc/passwd", "%2e%2e/%2e%2e/secret.png",
                     "/etc/passwd", "run.json"):
            status, body = get(port, f"/run/{folder.name}/files/{path}")
            assert status == 404 and b"SECRET" not in body and b"root:" not in body, path
        assert get(port, "/run/../../etc/passwd")[0] == 404
        assert get(port, "/run/nope/candidate/r00c0")[0] == 404
    finally:
        ui.kill()
        ui.wait()


def test_a_non_loopback_host_needs_a_token_and_the_token_is_checked(tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    refused = subprocess.run([sys.executable, "-m", "promptpo", "ui", "--out", str(out), "--host", "0.0.0.0"],
                             capture_output=True, text=True, env=cli_env(), timeout=60)
    assert refused.returncode != 0 and "--token" in refused.stderr and "Traceback" not in refused.stderr
    ui, port = serve(out, "--token", "s3cret")
    try:
        assert get(port, "/")[0] == 403
        assert get(port, "/?token=wrong")[0] == 403
        status, _ = get(port, "/?token=s3cret")
        assert status == 200
        assert get(port, "/api/runs", {"Cookie": "promptpo_token=s3cret"})[0] == 200
    finally:
        ui.kill()
        ui.wait()


def test_the_server_never_writes_to_the_runs_folder(tmp_path):
    source = ROOT / "tests" / "fixtures"
    out = tmp_path / "runs"
    shutil.copytree(next(p for p in source.rglob("run.json")).parent, out / "a-run")
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    ui, port = serve(out)
    try:
        for path in ("/", "/live/runs", "/api/runs", "/run/a-run", "/run/a-run/live", "/compare?run=a-run"):
            assert get(port, path)[0] == 200, path
    finally:
        ui.kill()
        ui.wait()
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_an_islands_run_shows_each_node_s_island_and_the_curve_against_llm_calls(tmp_path):
    import promptpo

    answers = tmp_path / "answers.jsonl"
    weak = "```python\ndef act(obs):\n    x, v, a, w = obs\n    return int(a > 0)\n```"
    answers.write_text("".join(json.dumps({"content": a}) + "\n" for a in [weak, weak, weak, SECOND]))
    result = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{answers}", out=tmp_path / "runs", rounds=2,
                               candidates=2, episodes=2, search="islands", islands=2)
    ui, port = serve(tmp_path / "runs")
    try:
        status, body = get(port, f"/run/{result.run_dir.name}/live")
    finally:
        ui.kill()
        ui.wait()
    text = body.decode()
    assert status == 200 and "r00c0 · initial" in text and "island 0" in text and "island 1" in text
    figures = {f["id"]: f for f in chart_data(text)}
    calls = figures["chart-calls"]
    assert calls["layout"]["xaxis"]["title"]["text"] == "LLM calls answered"
    assert calls["data"][0]["x"][-1] == 4  # four answers, the best held to the last
