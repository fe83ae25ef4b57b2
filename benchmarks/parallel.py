"""What a round at once buys: calls in flight together, evaluations side by side.

1. latency: a local OpenAI wire-format server that answers after a fixed delay (default 2 s); one round of 4
   CartPole candidates with --concurrency 4 vs 1 (an unreachable target, so every call is made). The second of
   two rounds is timed from the run's own events, its first llm_request to its last candidate (so the CLI's
   start-up and the SDK's first import are not in it), and its evaluations' wall time is subtracted.
2. workers: 4 Meta-World reach evaluations that never succeed (every episode runs its 500 steps) at once
   through a policy task with 2 workers vs 1, its lanes made beforehand, in alternating pairs; beside it the
   machine's own ceiling: two independent processes evaluating 2 candidates each vs one process evaluating 4.
   `--four N` runs one whole command (4 evaluations with N workers, set-up included) for farm-bench.

Writes benchmarks/results/parallel.json.

    python benchmarks/parallel.py [--delay 2] [--repeats 3] [--only latency|workers]
    farm-bench -n 5 -- python benchmarks/parallel.py --four 2 --vs 'python benchmarks/parallel.py --four 1'
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
    """(the round's span from its events, summary.json) of one optimize run."""
    from datetime import datetime

    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "promptpo", "optimize", *args, "--out", tmp],
                              capture_output=True, text=True, env={**os.environ, **(env or {})})
        if proc.returncode not in (0, 1):
            raise SystemExit(proc.stderr[-2000:])
        [run] = [p.parent for p in Path(tmp).glob("*/summary.json")]
        events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
        last = max(json.loads(p.read_text())["round"] for p in (run / "candidates").glob("*.json"))
        times = [datetime.fromisoformat(e["t"]) for e in events
                 if (e["event"] == "llm_request" and e["call"] > 4 * last)
                 or (e["event"] == "candidate" and e["id"].startswith(f"r{last:02d}"))]
        summary = json.loads((run / "summary.json").read_text())
        summary["evaluation_s"] = sum(json.loads(p.read_text())["evaluation"]["wall_time_s"]
                                      for p in (run / "candidates").glob(f"r{last:02d}*.json"))
        return (max(times) - min(times)).total_seconds(), summary


def latency(delay: float, repeats: int) -> dict:
    count = {"n": 0}

    def respond(body: dict):
        time.sleep(delay)
        count["n"] += 1
        return answer(f"```python\n{CARTPOLE[count['n'] % len(CARTPOLE)]}\n```")

    results = {}
    with FakeLLMServer(respond) as server:
        for concurrency in (4, 1):
            spans = []
            for _ in range(repeats):
                span, summary = promptpo("gymnasium/CartPole-v1", "--model", "openai:fake-model", "--api-base",
                                         f"{server.url}/v1", "--rounds", "2", "--candidates", "4", "--target", "1000",
                                         "--concurrency", str(concurrency), "--workers", "1",
                                         env={"OPENAI_API_KEY": "sk-benchmark-0123456789"})
                assert summary["llm_calls"] == 8, summary
                spans.append((round(span, 2), round(span - summary["evaluation_s"], 2)))
            results[f"concurrency_{concurrency}"] = {
                "median_round_s": statistics.median(s for s, _ in spans),
                "median_waiting_s": statistics.median(w for _, w in spans),
                "rounds_s": [s for s, _ in spans], "waiting_s": [w for _, w in spans]}
    fast = results["concurrency_4"]
    return {"answer_latency_s": delay, **results,
            "waiting_over_one_answer": round(fast["median_waiting_s"] / delay, 2),
            "speedup": round(results["concurrency_1"]["median_round_s"] / fast["median_round_s"], 2),
            "note": "waiting = the round's span minus its evaluations' wall time (one worker, so they do not overlap)"}


def reach_task(workers: int):
    from promptpo.policy.config import OptimizeConfig
    from promptpo.envs import load_spec
    from promptpo.isolation.process import ProcessSandbox
    from promptpo.policy.task import PolicyTask

    spec = load_spec("metaworld/reach")
    return PolicyTask(OptimizeConfig(env=spec.id, episodes=5, cascade=0, workers=workers), spec, ProcessSandbox())


CODES = [REACH.format(x=x) for x in (-1.0, -0.5, 0.5, 1.0)]


def evaluate_at_once(task, codes=CODES) -> float:
    """Seconds to evaluate ``codes`` at once (one thread each, as a wave does)."""
    import threading

    threads = [threading.Thread(target=task.evaluate, args=(code, task.config.limits, None)) for code in codes]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def workers(repeats: int) -> dict:
    tasks = {n: reach_task(n) for n in (1, 2)}
    try:
        for task in tasks.values():
            evaluate_at_once(task)  # the lanes are made (a child process with its simulators) before anything is timed
        pairs = [(evaluate_at_once(tasks[1]), evaluate_at_once(tasks[2])) for _ in range(repeats)]
    finally:
        for task in tasks.values():
            task.close()
    one, two = [round(a, 2) for a, _ in pairs], [round(b, 2) for _, b in pairs]
    return {"workers_1_s": one, "workers_2_s": two, "median_1_s": statistics.median(one),
            "median_2_s": statistics.median(two),
            "median_pair_ratio": round(statistics.median(a / b for a, b in pairs), 2), "cores": os.cpu_count(),
            "ceiling": ceiling(repeats)}


def ceiling(repeats: int) -> dict:
    """What this machine allows at best: two separate processes (one sandbox each, nothing shared) evaluating
    two candidates each, vs one evaluating all four."""
    def timed(count: int, processes: int) -> float:
        command = [sys.executable, __file__, "--serial", str(count)]
        children = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                    for _ in range(processes)]
        for child in children:  # both set up before either starts its timed part
            child.stdout.readline()
        return max(float(child.communicate("go\n")[0].split()[-1]) for child in children)

    pairs = [(timed(4, 1), timed(2, 2)) for _ in range(repeats)]
    return {"one_process_s": [round(a, 2) for a, _ in pairs], "two_processes_s": [round(b, 2) for _, b in pairs],
            "median_pair_ratio": round(statistics.median(a / b for a, b in pairs), 2),
            "note": "each process builds its simulators and sandbox, then waits until both have, and times only its "
                    "evaluations"}


def serial(count: int) -> None:
    task = reach_task(1)
    try:
        task.evaluate(CODES[0], task.config.limits, None)  # simulators and worker made
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.perf_counter()
        for code in CODES[:count]:
            task.evaluate(code, task.config.limits, None)
        print(round(time.perf_counter() - started, 3))
    finally:
        task.close()


def four(workers_: int) -> None:
    task = reach_task(workers_)
    try:
        print(round(evaluate_at_once(task), 3))
    finally:
        task.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "parallel.json")
    parser.add_argument("--only", choices=["latency", "workers"], help="measure one part, keep the other's results")
    parser.add_argument("--four", type=int, metavar="N", help="evaluate 4 candidates with N workers, print seconds")
    parser.add_argument("--serial", type=int, metavar="K", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.four or args.serial:
        return four(args.four) if args.four else serial(args.serial)
    result = json.loads(args.out.read_text()) if args.only and args.out.exists() else {"benchmark": "parallel"}
    if args.only in (None, "latency"):
        result["latency"] = latency(args.delay, args.repeats)
    if args.only in (None, "workers"):
        result["workers"] = workers(args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
