"""Attacks on the web view (promptpo ui): a web page that points its own name at 127.0.0.1 (DNS rebinding) gets
nothing, and a candidate whose program (or its parent's) is enormous cannot hold the server: its page answers
without a diff, within a bound, while other requests go on; `promptpo diff` of such programs answers at once."""

from __future__ import annotations

import http.client
import json
import random
import threading
import time

from conftest import run_cli
from web import get, serve


def request_as(port: int, host: str, path: str = "/api/runs") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", path, skip_host=True)
    conn.putheader("Host", host)
    conn.endheaders()
    return conn.getresponse().status


def test_only_loopback_names_are_served_without_a_token(tmp_path):
    out = tmp_path / "runs"
    out.mkdir()
    ui, port = serve(out)
    try:
        for host in ("127.0.0.1", f"127.0.0.1:{port}", "localhost", f"localhost:{port}", f"[::1]:{port}"):
            assert request_as(port, host) == 200, host
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.nip.io", "localhost.evil.example",
                     "attacker.com:80", "0x7f000001"):
            assert request_as(port, host) == 400, host
    finally:
        ui.kill()
        ui.wait()
    ui, port = serve(out, "--token", "s3cret")
    try:  # with a token any name may reach it, and the token decides
        assert request_as(port, "my-lab-box.example", "/api/runs?token=s3cret") == 200
        assert request_as(port, "my-lab-box.example", "/api/runs") == 403
    finally:
        ui.kill()
        ui.wait()


def huge_program(seed: int, lines: int = 25_000) -> str:
    rng = random.Random(seed)
    body = "".join(f"x{rng.randrange(500)} = {rng.randrange(500)}\n" for _ in range(lines))
    return body + "\n\ndef act(obs):\n    return 0\n"


def big_run(tmp_path):
    """A real run whose two candidates (the second refines the first) are 25,000-line programs."""
    import promptpo

    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"content": f"```python\n{huge_program(seed)}```"}) + "\n" for seed in (1, 2)))
    result = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{answers}", out=tmp_path / "runs", rounds=2,
                               candidates=1, episodes=1, add_to_library=False, cascade=0, prompt_budget=60_000)
    return tmp_path / "runs", result.run_dir


def test_a_huge_diff_does_not_hold_the_web_view(tmp_path):
    out, run = big_run(tmp_path)
    ui, port = serve(out)
    try:
        answers = {}

        def candidate_page():
            started = time.monotonic()
            answers["page"] = get(port, f"/run/{run.name}/candidate/r01c0", timeout=60)
            answers["page_s"] = time.monotonic() - started

        worker = threading.Thread(target=candidate_page)
        worker.start()
        time.sleep(0.2)
        started = time.monotonic()
        assert get(port, "/api/runs")[0] == 200  # answered while the big page is built
        assert time.monotonic() - started < 5
        worker.join(60)
        status, body = answers["page"]
        assert status in (200, 503) and answers["page_s"] < 40
        if status == 200:
            assert b"no diff" in body
    finally:
        ui.kill()
        ui.wait()


def test_promptpo_diff_of_huge_programs_answers_at_once(tmp_path):
    out, run = big_run(tmp_path)
    started = time.monotonic()
    proc = run_cli("diff", run.name, "r00c0", "r01c0", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 20 and "past what is diffed here" in proc.stdout and "diff -u" in proc.stdout
