"""Waves: a round's calls in flight at once and its evaluations side by side, recorded as if one at a time."""

from __future__ import annotations

import hashlib
import json
import threading
import time

from conftest import cli_env, only_run, read_json, run_cli
from llm_server import FakeLLMServer, answer, status

POLICIES = [
    "def act(obs):\n    return int(obs[2] > 0)",  # (no randomness: each CLI run draws its own worker seeds)
    "def act(obs):\n    x, v, a, w = obs\n    return int(a + 0.3 * w > 0)",
    "def act(obs):\n    x, v, a, w = obs\n    return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)",
    "def act(obs):\n    return obs.missing  # crashes: repaired in the next wave",
]


class Responder:
    """Answers depend only on the prompt; counts how many requests it is answering at once; the first
    request it sees gets a 429 (when ``throttle_first``), or every answer waits its turn (``one_at_a_time``)."""

    def __init__(self, throttle_first: bool = False, one_at_a_time: bool = False):
        self.throttle_first, self.one_at_a_time = throttle_first, one_at_a_time
        self.lock, self.turn = threading.Lock(), threading.Lock()
        self.now, self.most = 0, 0

    def __call__(self, body: dict):
        with self.lock:
            if self.throttle_first:
                self.throttle_first = False
                return status(429, {"retry-after": "1"})
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            if self.one_at_a_time:
                with self.turn:
                    return self.reply(body)
            return self.reply(body)
        finally:
            with self.lock:
                self.now -= 1

    @staticmethod
    def reply(body: dict):
        time.sleep(0.5)  # a model thinking: long enough for the calls of a wave to overlap
        prompt = json.dumps(body["messages"], sort_keys=True)
        pick = int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % len(POLICIES)
        return answer(f"```python\n{POLICIES[pick]}\n```")


def run(tmp_path, name: str, responder: Responder, *extra: str):
    out = tmp_path / name
    with FakeLLMServer(responder) as server:
        proc = run_cli("optimize", "gymnasium/CartPole-v1", "--model", "openai:fake-model", "--api-base",
                       f"{server.url}/v1", "--rounds", "2", "--candidates", "4", "--episodes", "3",
                       "--target", "1000", "--seed", "3", "--out", str(out), *extra,
                       env=cli_env(OPENAI_API_KEY="sk-test-parallel-0123456789"))
    assert proc.returncode == 0, proc.stderr
    return only_run(out), len(server.requests)


def recorded(run) -> dict:
    """What a run folder says about its candidates and calls, without wall times and timestamps."""
    files = {}
    for path in sorted((run / "candidates").iterdir()):
        data = path.read_text()
        if path.suffix == ".json":
            record = json.loads(data)
            record["evaluation"].pop("wall_time_s", None) if record.get("evaluation") else None
            data = record
        files[f"candidates/{path.name}"] = data
    for path in sorted((run / "llm").glob("*.md")):
        files[f"llm/{path.name}"] = path.read_text()
    summary = read_json(run / "summary.json")
    files["summary"] = {k: summary[k] for k in ("best_candidate", "candidates", "llm_calls", "env_steps", "episodes",
                                                "best_score", "status")}
    return files


def test_a_wave_in_flight_at_once_records_the_same_run_as_one_answered_in_turn(tmp_path):
    wide = Responder(throttle_first=True)
    fast, asked_fast = run(tmp_path, "wide", wide, "--workers", "2")
    narrow = Responder(one_at_a_time=True)
    slow, asked_slow = run(tmp_path, "narrow", narrow, "--workers", "1")
    assert wide.most >= 2  # calls really were in flight together (the 429 backed off without holding them)
    assert asked_fast == asked_slow + 1  # the throttled request was retried, nothing else differs
    assert recorded(fast) == recorded(slow)
    events = [json.loads(line) for line in (fast / "events.jsonl").read_text().splitlines()]
    ids = [e["id"] for e in events if e["event"] == "candidate"]
    assert ids == sorted(ids)[:len(ids)] and ids[:4] == ["r00c0", "r00c1", "r00c2", "r00c3"]  # slot order
    first_wave = [e["call"] for e in events if e["event"] == "llm_request"][:4]
    assert first_wave == [1, 2, 3, 4]  # numbered in slot order before any answer came back
    repairs = [json.loads((fast / "candidates" / f"{i}.json").read_text()) for i in ids]
    assert any(r["kind"] == "repair" for r in repairs) or not any(r["outcome"] == "crashed" for r in repairs)


def test_a_wave_shares_the_history_it_started_from(tmp_path):
    fast, _ = run(tmp_path, "wide", Responder(), "--rounds", "2")
    prompts = [(fast / "llm" / f"{call:04d}.prompt.md").read_text() for call in range(1, 5)]
    assert all("candidate" in p for p in prompts)  # round 0: written from scratch, each told its slot
    assert len(set(prompts)) == 4  # ... and each asked for a distinct approach
    summary = read_json(fast / "summary.json")
    assert summary["llm_calls"] >= 8  # two rounds of four, however early the first answers scored


def test_parallel_evaluation_gives_every_episode_as_a_serial_one_does():
    from promptpo.policy.config import OptimizeConfig
    from promptpo.envs import load_spec
    from promptpo.isolation.process import ProcessSandbox
    from promptpo.policy.task import PolicyTask

    spec = load_spec("metaworld/reach")
    codes = [f"import numpy as np\n\ndef act(obs):\n    return np.append(np.clip({gain} * (obs[36:39] - obs[0:3]), "
             "-1, 1), np.random.uniform(-1, 1))" for gain in (1.0, 3.0, 10.0, 30.0)]

    def scores(workers: int) -> list:
        task = PolicyTask(OptimizeConfig(env=spec.id, episodes=3, cascade=0, workers=workers, salt="fixed"), spec,
                          ProcessSandbox())
        results: list = [None] * len(codes)
        try:
            def one(i: int) -> None:
                results[i] = task.evaluate(codes[i], task.config.limits, None)

            threads = [threading.Thread(target=one, args=(i,)) for i in range(len(codes))]
            for t in threads:
                t.start()
                if workers == 1:
                    t.join()
            for t in threads:
                t.join()
            assert len(task.lanes.made) == workers - 1  # one lane (sandbox and simulators) per worker
        finally:
            task.close()
        return [[(e.seed, e.episode_return, e.length, e.success_step, e.digest.action_mean) for e in r.episodes]
                for r in results]

    assert scores(2) == scores(1)


def test_a_wave_sends_only_what_its_budgets_can_pay_for(tmp_path):
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"content": f"```python\n{POLICIES[i % 3]}\n```"}) + "\n" for i in range(8)))

    def optimize(name: str, *budget: str) -> dict:
        out = tmp_path / name
        proc = run_cli("optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{answers}", "--rounds", "2",
                       "--candidates", "4", "--target", "1000", "--cascade", "0", "--out", str(out), *budget)
        assert proc.returncode == 0, proc.stderr
        return read_json(only_run(out) / "summary.json")

    steps = optimize("steps", "--max-env-steps", "6000")  # each evaluation may need 5 x 500 steps
    assert steps["status"] == "budget_exhausted" and steps["llm_calls"] == 2 and steps["env_steps"] <= 6000
    calls = optimize("calls", "--max-llm-calls", "6")  # a whole first round, then two of the second
    assert calls["status"] == "budget_exhausted" and calls["llm_calls"] == 6 and calls["candidates"] == 6


def test_a_wave_whose_first_answer_reaches_the_target_evaluates_only_it(tmp_path):
    # Three answers asked together, one worker: the first balances the pole to 500 (the target is 475), so the
    # other two are recorded but never evaluated, and the run ends having spent the first one's steps.
    answers = tmp_path / "answers"
    answers.mkdir()
    for i, policy in enumerate([POLICIES[2], POLICIES[0], POLICIES[1]], 1):
        (answers / f"{i:03d}.md").write_text(f"```python\n{policy}\n```")
    out = tmp_path / "runs"
    proc = run_cli("optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{answers}", "--rounds", "2",
                   "--candidates", "3", "--episodes", "2", "--workers", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    run = only_run(out)
    first, *rest = [read_json(run / "candidates" / f"r00c{i}.json") for i in range(3)]
    assert first["outcome"] == "ok" and first["score"]["mean_return"] >= 475
    assert [r["outcome"] for r in rest] == ["not_evaluated", "not_evaluated"]
    assert all(r["error"] == "r00c0 reached mean return >= 475 before its evaluation started" for r in rest)
    summary = read_json(run / "summary.json")
    assert summary["status"] == "target_reached" and summary["llm_calls"] == 3 and summary["candidates"] == 3
    assert summary["env_steps"] == first["env_steps"] == 1000
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert [e["total_env_steps"] for e in events if e["event"] == "candidate"] == [1000, 1000, 1000]
