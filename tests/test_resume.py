"""Crash safety: SIGKILL a real run at many points, resume it each time, and compare with a run
that was never interrupted."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ANSWERS, cli_env, only_run, read_json, run_cli
from llm_server import FakeLLMServer, answer

pytestmark = pytest.mark.slow

POLICIES = [
    "def act(obs):\n    for _ in range(100_000):\n        pass\n    return 1",
    "def act(obs):\n    for _ in range(100_000):\n        pass\n    x, v, a, w = obs\n    return int(a + 0.3 * w > 0)",
    "def act(obs):\n    for _ in range(100_000):\n        pass\n    x, v, a, w = obs\n    return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)",
]


def respond(body: dict):
    """The answer depends only on the prompt, so a replay must reproduce the run exactly: round 0's prompts (no
    candidate shown) get the good policy, later ones the middling one (2-3 shown) or the weak one (4-5 shown),
    which the cascade stops after its first stage (by design, not by the luck of a hash of the prompt text)."""
    shown = json.dumps(body["messages"], sort_keys=True).count("### Candidate")
    pick = 2 if shown == 0 else (shown // 2) % 2
    return answer(f"```python\n{POLICIES[pick]}\n```")


def optimize_args(out: Path, url: str) -> list[str]:
    return ["optimize", "gymnasium/CartPole-v1", "--model", "openai:fake-model", "--api-base", f"{url}/v1",
            "--rounds", "3", "--candidates", "2", "--episodes", "4", "--target", "1000", "--out", str(out),
            "--concurrency", "1"]  # one call at a time: the signal lands between candidates


def env_with_key() -> dict:
    return cli_env(OPENAI_API_KEY="sk-test-resume-0123456789")


def candidates_of(run: Path) -> dict:
    return {p.stem: {k: v for k, v in read_json(p).items() if k != "evaluation"} | {
        "returns": [e["episode_return"] for e in read_json(p)["evaluation"]["episodes"]]}
        for p in sorted((run / "candidates").glob("*.json"))}


def wait_for_progress(out: Path, seen: int, proc: subprocess.Popen, timeout: float = 300) -> int:
    """Wait until the run logs an event beyond the first ``seen`` (or the process ends); the new count."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        events = [p / "events.jsonl" for p in out.iterdir()] if out.exists() else []
        count = len(events[0].read_text().splitlines()) if events and events[0].exists() else 0
        if count > seen:
            return count
        time.sleep(0.05)
    return seen


def test_sigkill_anywhere_then_resume_loses_and_repeats_nothing(tmp_path):
    with FakeLLMServer(respond, delay=0.4) as reference_server:
        proc = run_cli(*optimize_args(tmp_path / "reference", reference_server.url), env=env_with_key())
        assert proc.returncode == 0, proc.stderr
        reference = next((tmp_path / "reference").iterdir())
        reference_calls = len(reference_server.requests)
    stages = [read_json(p)["evaluation"]["stage"] for p in (reference / "candidates").glob("*.json")]
    assert {s["passed"] for s in stages} == {True, False}  # the cascade stopped some candidates, not all

    out = tmp_path / "killed"
    kills = 0
    with FakeLLMServer(respond, delay=0.4) as server:
        victim = subprocess.Popen([sys.executable, "-m", "promptpo", *optimize_args(out, server.url)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env_with_key())
        # Kill at staggered moments after each (re)start has made progress — during LLM calls (0.4 s each),
        # evaluations and writes — so the test does not depend on how fast a busy machine starts Python.
        delays = [0.9, 0.5, 1.3, 0.2, 0.7, 1.1, 0.4]
        seen = 0
        for delay in delays:
            seen = wait_for_progress(out, seen, victim)
            time.sleep(delay)
            if victim.poll() is not None:
                break
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait()
            kills += 1
            run = next(out.iterdir())
            seen = len((run / "events.jsonl").read_text().splitlines())  # the next kill waits for the resume's own events
            for path in run.rglob("*.json"):
                json.loads(path.read_text())  # every file is whole, even right after a kill
            victim = subprocess.Popen([sys.executable, "-m", "promptpo", "resume", run.name, "--out", str(out)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                      env=env_with_key())
        _, err = victim.communicate(timeout=600)
        assert victim.returncode == 0, err
        requests = len(server.requests)
    assert kills >= 3
    run = next(out.iterdir())
    assert candidates_of(run) == candidates_of(reference)  # nothing lost, nothing duplicated, same results
    summary, expected = read_json(run / "summary.json"), read_json(reference / "summary.json")
    for key in ("status", "best_candidate", "best_score", "env_steps", "llm_calls", "candidates"):
        assert summary[key] == expected[key], key
    # Recorded answers were reused: at most one call per kill was asked again (the one in flight).
    assert reference_calls <= requests <= reference_calls + kills
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    logged = [e["id"] for e in events if e["event"] == "candidate"]
    assert sorted(logged) == sorted(candidates_of(run)) and len(logged) == len(set(logged))
    assert sum(e["event"] == "run_resume" for e in events) == kills
    for path in run.rglob("*.json"):
        json.loads(path.read_text())


def test_budgets_carry_over_on_resume(tmp_path):
    with FakeLLMServer(respond) as server:
        out = tmp_path / "runs"
        first = run_cli(*optimize_args(out, server.url), "--max-llm-calls", "2", env=env_with_key())
        assert first.returncode == 0, first.stderr
        run = next(out.iterdir())
        assert read_json(run / "summary.json")["status"] == "budget_exhausted"
        again = run_cli("resume", run.name, "--out", str(out), env=env_with_key())
        assert again.returncode == 2 and "already finished" in again.stderr
        # Pretend the run died instead: its spent budget must still count when it continues.
        summary = read_json(run / "summary.json")
        (run / "summary.json").write_text(json.dumps({**summary, "status": "running"}))
        calls_before = len(server.requests)
        resumed = run_cli("resume", run.name, "--out", str(out), env=env_with_key())
        assert resumed.returncode == 0, resumed.stderr
        final = read_json(run / "summary.json")
        assert final["status"] == "budget_exhausted" and final["llm_calls"] == 2
        assert len(server.requests) == calls_before  # both answers came from the run folder


@pytest.mark.parametrize("target, message", [("no-such-run", "no run folder"), ("CORRUPT", "not valid JSON")])
def test_resume_bad_folders(tmp_path, target, message):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "run.json").write_text("{")
    proc = run_cli("resume", target.replace("CORRUPT", str(corrupt)), cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


SCHEDULES = [(ANSWERS / "schedule" / name).read_text() for name in sorted(os.listdir(ANSWERS / "schedule"))]


def respond_schedule(body: dict):
    prompt = json.dumps(body["messages"], sort_keys=True)
    return answer(SCHEDULES[int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % len(SCHEDULES)])


def start(args: list[str], url: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "promptpo", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env_with_key())


def wait_for_file(pattern: str, out: Path, proc: subprocess.Popen, timeout: float = 300) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(out.glob(pattern)) if out.exists() else []
        if found:
            return found[0]
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    raise AssertionError(f"{pattern} did not appear")


def schedule_args(out: Path, url: str) -> list[str]:
    return ["schedule", "gymnasium/CartPole-v1", "--model", "openai:fake-model", "--api-base", f"{url}/v1",
            "--steps", "2048", "--rounds", "1", "--candidates", "3", "--eval-points", "2", "--eval-episodes", "2",
            "--out", str(out), "--concurrency", "1"]  # one call at a time: the signal lands between candidates


@pytest.mark.parametrize("kind, signum", [("optimize", signal.SIGTERM), ("schedule", signal.SIGTERM),
                                          ("optimize", signal.SIGHUP)])
def test_a_terminated_run_leaves_its_summary_and_resumes(tmp_path, kind, signum):
    out = tmp_path / "runs"
    responder = respond if kind == "optimize" else respond_schedule
    with FakeLLMServer(responder, delay=0.3) as server:
        args = optimize_args(out, server.url) if kind == "optimize" else schedule_args(out, server.url)
        victim = start(args, server.url)
        wait_for_file("*/candidates/r00c0.json", out, victim)
        victim.send_signal(signum)
        _, err = victim.communicate(timeout=120)
        assert victim.returncode == 130, err
        run = only_run(out)
        summary = read_json(run / "summary.json")
        name = "SIGTERM" if signum == signal.SIGTERM else "SIGHUP"
        assert summary["status"] == "interrupted" and name in summary["reason"]
        assert read_json(run / "run.json")["status"] == "interrupted"
        assert f"promptpo resume {run.name}" in err
        asked = len(server.requests)
        resumed = run_cli("resume", run.name, "--out", str(out), env=env_with_key())
        assert resumed.returncode == 0, resumed.stderr
        final = read_json(run / "summary.json")
        assert final["status"] in ("completed", "budget_exhausted", "target_reached")
        answered = summary["llm_calls"]
        # Recorded answers are replayed, not asked again; at most the one in flight at the signal is.
        assert len(server.requests) - asked <= final["llm_calls"] - answered + 1


def test_a_schedule_run_killed_after_its_first_candidate_is_finished_by_resume(tmp_path):
    out = tmp_path / "runs"
    with FakeLLMServer(respond_schedule, delay=0.2) as server:
        victim = start(schedule_args(out, server.url), server.url)
        first = wait_for_file("*/candidates/r00c0.json", out, victim)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        run = first.parent.parent
        recorded = read_json(first)
        calls_before = len(server.requests)
        resumed = run_cli("resume", run.name, "--out", str(out), env=env_with_key())
        assert resumed.returncode == 0, resumed.stderr
        summary = read_json(run / "summary.json")
        assert summary["status"] == "completed" and summary["candidates"] == 3 and summary["llm_calls"] == 3
        assert read_json(run / "candidates" / "r00c0.json")["curve"] == recorded["curve"]  # not trained again
        # The first answer came from the run folder; only the calls after it (and one in flight) went out.
        assert len(server.requests) - calls_before <= 3 - 1
        events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
        assert [e["id"] for e in events if e["event"] == "candidate"] == ["r00c0", "r00c1", "r00c2"]


def test_a_cut_short_last_event_is_dropped_when_the_run_resumes(tmp_path):
    """A kill cut events.jsonl's last line short: the resumed run's first event is not glued to it (that made the
    folder unreadable, 'events.jsonl:N is not JSON'); the cut line is dropped and an event says so."""
    import promptpo
    from promptpo.records import RunFolder
    from promptpo.resume import resume

    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps({"content": f"```python\n{code}\n```"}) + "\n" for code in POLICIES[1:] * 2))
    stopped: list[str] = []
    from promptpo.policy.task import PolicyTask

    evaluate, evaluated, release = PolicyTask.evaluate, [], threading.Event()

    def held_after_the_first(self, *args, **kwargs):  # no later evaluation ends before the signal is handled
        evaluated.append(1)
        if len(evaluated) > 1:
            release.wait(timeout=60)
        return evaluate(self, *args, **kwargs)

    def stop_after_the_first(kind, state):
        if kind == "candidate" and not stopped:
            stopped.append(state.last)
            os.kill(os.getpid(), signal.SIGINT)

    out = tmp_path / "runs"
    PolicyTask.evaluate = held_after_the_first
    try:
        first = promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{path}", rounds=2, candidates=2, episodes=2,
                                  cascade=0, target=1000, workers=1, out=out, observer=stop_after_the_first)
    finally:
        PolicyTask.evaluate = evaluate
        release.set()  # the one held in flight ends as an abandoned evaluation does after Ctrl-C
    assert first.status == "interrupted"
    run = first.run_dir
    events = run / "events.jsonl"
    whole = events.read_text()
    events.write_text(whole[:-20])  # the last line (run_end) cut short by a kill
    cut = whole[:-20].rpartition("\n")[2]

    assert resume(RunFolder(run)).status == "completed"
    lines = events.read_text().splitlines()
    logged = [json.loads(line) for line in lines]  # every line whole
    dropped = [e for e in logged if e["event"] == "events_cut_line"]
    assert len(dropped) == 1 and dropped[0]["chars"] == len(cut) and cut.startswith(dropped[0]["start"])
    facts = RunFolder(run).facts
    assert facts.status == "completed" and facts.env_steps == read_json(run / "summary.json")["env_steps"] > 0
    listed = run_cli("runs", "--out", str(out))
    assert listed.returncode == 0, listed.stderr
    assert run.name in listed.stdout
