"""What the web-view tests share: a `promptpo ui` server on a free port, a GET, the chart data a page carries,
and a run folder caught mid-wave (a candidate saved before its event)."""

from __future__ import annotations

import http.client
import io
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from conftest import cli_env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float = 60.0, what: str = "it"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def get(port: int, path: str, headers: dict | None = None, timeout: float = 10) -> tuple[int, bytes]:
    """A request with the path sent as written (no client-side normalisation of ../)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.read()


def serve(out: Path, *extra: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "promptpo", "ui", "--out", str(out), "--port", str(port), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env())
    try:
        wait_for(lambda: _up(port), 30, "promptpo ui to answer")
    except AssertionError:
        proc.kill()
        raise AssertionError(proc.stderr.read().decode()[-2000:]) from None
    return proc, port


def _up(port: int) -> bool:
    try:
        get(port, "/api/runs")
        return True
    except OSError:
        return False


def chart_data(page: str) -> list[dict]:
    """The figures a run or compare page carries for plotly.js."""
    import re

    found = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.DOTALL)
    assert found, "the page carries no chart data"
    return json.loads(found.group(1))["figures"]


def non_blank(png: bytes) -> bool:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    lo, hi = image.getextrema()
    return hi - lo > 100 and len(set(image.getdata())) > 8


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
