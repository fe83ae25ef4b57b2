"""What a round at once buys: calls in flight together, evaluations side by side.

1. latency: a local OpenAI wire-format server that answers after a fixed delay (default 2 s); one round of 4
   CartPole candidates with --concurrency 4 vs 1 (an unreachable target, so every call is made).
2. workers: one round of 4 Meta-World reach candidates that never succeed (every episode runs its 500 steps),
   --workers 2 vs 1.

Writes benchmarks/results/parallel.json.

    python benchmarks/parallel.py [--delay 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))

from llm_server import FakeLLMServer, answer  # noqa: E402 - the tests' wire-format server

CARTPOLE = ["def act(obs):\n    return int(obs[2] > 0)",
            "def act(obs):\n    x, v, a, w = obs\n    return int(a + 0.3 * w > 0)",
            "def act(obs):\n    x, v, a, w = obs\n    return int(a + 0.5 * w + 0.01 * x + 0.1 * v > 0)",
            "def act(obs):\n    return 1"]
REACH = "import numpy as np\n\ndef act(obs):\n    return np.array([{x}, 0.0, 0.0, 0.0])  # drifts away: no success"


def promptpo(*args: str, env: dict | None = None) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "promptpo", "optimize", *args, "--out", tmp],
                              capture_output=True, text=True, env={**os.environ, **(env or {})})
        wall = time.perf_counter() - started
        if proc.returncode not in (0, 1):
            raise SystemExit(proc.stderr[-2000:])
        [summary] = [json.loads(p.read_text()) for p in Path(tmp).glob("*/summary.json")]
        return wall, summary


def latency(delay: float, repeats: int) -> dict:
    count = {"n": 0}

    def respond(body: dict):
        time.sleep(delay)
        count["n"] += 1
        return answer(f"```python\n{CARTPOLE[count['n'] % len(CARTPOLE)]}\n```")

    results = {}
    with FakeLLMServer(respond) as server:
        for concurrency in (4, 1):
            walls = []
            for _ in range(repeats):
                wall, summary = promptpo("gymnasium/CartPole-v1", "--model", "openai:fake-model", "--api-base",
                                         f"{server.url}/v1", "--rounds", "1", "--candidates", "4", "--target", "1000",
                                         "--concurrency", str(concurrency),
                                         env={"OPENAI_API_KEY": "sk-benchmark-0123456789"})
                assert summary["llm_calls"] == 4, summary
                walls.append(summary["wall_time_s"])
            results[f"concurrency_{concurrency}"] = {"median_run_s": round(statistics.median(walls), 2),
                                                     "runs_s": walls}
    fast = results["concurrency_4"]["median_run_s"]
    return {"answer_latency_s": delay, **results, "round_over_one_answer": round(fast / delay, 2),
            "speedup": round(results["concurrency_1"]["median_run_s"] / fast, 2)}


def workers(repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        answers = Path(tmp) / "answers.jsonl"
        answers.write_text("".join(json.dumps({"content": f"```python\n{REACH.format(x=x)}\n```"}) + "\n"
                                   for x in (-1.0, -0.5, 0.5, 1.0)))
        results = {}
        for count in (2, 1):
            walls = []
            for _ in range(repeats):
                _, summary = promptpo("metaworld/reach", "--model", f"scripted:{answers}", "--rounds", "1",
                                      "--candidates", "4", "--cascade", "0", "--workers", str(count))
                assert summary["env_steps"] == 4 * 5 * 500, summary
                walls.append(summary["wall_time_s"])
            results[f"workers_{count}"] = {"median_run_s": round(statistics.median(walls), 2), "runs_s": walls}
    return {**results, "speedup": round(results["workers_1"]["median_run_s"] / results["workers_2"]["median_run_s"], 2),
            "cores": os.cpu_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "parallel.json")
    args = parser.parse_args()
    result = {"benchmark": "parallel", "latency": latency(args.delay, args.repeats), "workers": workers(args.repeats)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
