"""`promptpo bench`: suites of ordinary runs, resumed where they stopped, here or as Ray tasks."""

from __future__ import annotations

import json

import pytest
from conftest import read_json, run_cli

SUITE = """
name = "tiny"
tasks = ["gymnasium/CartPole-v1"]
seeds = [0, 1]

[[methods]]
name = "offline"
kind = "promptpo"
model = "{model}"
options = { rounds = 2, candidates = 2, episodes = 2, max-env-steps = 3000 }
"""


def suite_file(tmp_path, text: str = SUITE):
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return path


def bench(tmp_path, *args: str):
    proc = run_cli("bench", str(suite_file(tmp_path)), "--model", "offline", "--out", str(tmp_path / "benches"), *args)
    summary = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
    return proc, summary


def run_of(tmp_path, seed: int):
    [run] = [p.parent for p in (tmp_path / "benches" / "tiny" / "offline" / "gymnasium-CartPole-v1" /
                                f"seed-{seed}").glob("*/run.json")]
    return run


def test_a_half_finished_suite_resumes_without_rerunning_finished_jobs(tmp_path):
    first, summary = bench(tmp_path)
    assert first.returncode == 0, first.stderr
    assert summary["ran"] == 2 and summary["failed"] == 0
    assert "CartPole-v1" in first.stdout  # compare's table at the end
    assert (tmp_path / "benches" / "tiny" / "comparison.json").is_file()
    done, cut = run_of(tmp_path, 0), run_of(tmp_path, 1)
    assert read_json(done / "run.json")["config"]["seed"] == 0 and read_json(cut / "run.json")["config"]["seed"] == 1
    untouched = (done / "events.jsonl").read_text()
    for name in ("summary.json", "run.json"):  # as a run killed mid-way leaves it
        record = read_json(cut / name)
        (cut / name).write_text(json.dumps({**record, "status": "interrupted"}))
    again, summary = bench(tmp_path, "--seeds", "3")  # and a job that never started
    assert again.returncode == 0, again.stderr
    assert summary == {**summary, "ran": 2, "skipped": 1, "failed": 0, "jobs": 3}
    assert (done / "events.jsonl").read_text() == untouched  # the finished job was not run again
    events = [json.loads(line)["event"] for line in (cut / "events.jsonl").read_text().splitlines()]
    assert "run_resume" in events and read_json(cut / "summary.json")["status"] != "interrupted"
    assert read_json(run_of(tmp_path, 2) / "run.json")["config"]["seed"] == 2
    listed = run_cli("bench", str(suite_file(tmp_path)), "--seeds", "3", "--list", "--out", str(tmp_path / "benches"))
    assert listed.stdout.count(": done") == 3


@pytest.mark.parametrize("suite, message", [
    ("no-such-suite", "no suite 'no-such-suite'"),
    ("BAD", "is malformed"),
])
def test_a_bad_suite_is_one_line_and_exit_2(tmp_path, suite, message):
    if suite == "BAD":
        suite = str(suite_file(tmp_path, 'name = "x"\ntasks = ["gymnasium/CartPole-v1"]\n'))
    proc = run_cli("bench", suite, "--model", "offline", "--out", str(tmp_path / "benches"))
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_the_shipped_suites_load():
    from promptpo.bench.suite import load, shipped

    assert {"mt1-6", "mt1-50", "classic", "hrl-hs"} <= set(shipped())
    assert len(load("mt1-50").tasks) == 50 and len(load("mt1-6").tasks) == 6
    mt1 = load("mt1-6")
    argv = mt1.methods[0].argv("metaworld/reach", 2, "offline", tmp := __import__("pathlib").Path("x"))
    assert argv[:4] == ["optimize", "metaworld/reach", "--model", "offline"] and "--max-env-steps" in argv
    assert mt1.methods[1].argv("metaworld/reach", 2, None, tmp)[:3] == ["baseline", "ppo", "metaworld/reach"]


def test_a_two_job_suite_runs_as_ray_tasks_on_a_local_head(tmp_path):
    proc, summary = bench(tmp_path, "--executor", "ray")
    assert proc.returncode == 0, proc.stderr
    assert summary["ran"] == 2 and summary["failed"] == 0
    for seed in (0, 1):  # each job's folder came back from the Ray task that ran it
        run = run_of(tmp_path, seed)
        assert read_json(run / "summary.json")["status"] in ("completed", "target_reached", "budget_exhausted")
        assert read_json(run / "run.json")["config"]["seed"] == seed
    again, summary = bench(tmp_path, "--executor", "ray")
    assert again.returncode == 0 and summary["skipped"] == 2 and summary["ran"] == 0


def test_a_runs_evaluations_as_ray_tasks_record_what_local_ones_do(tmp_path):
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"content": f"```python\n{code}\n```"}) + "\n" for code in (
        "def act(obs):\n    return int(obs[2] > 0)", "def act(obs):\n    x, v, a, w = obs\n    return int(a + 0.3 * w > 0)",
        "def act(obs):\n    return obs.missing", "def act(obs):\n    return 1")))
    folders = {}
    for executor in ("local", "ray"):
        out = tmp_path / executor
        proc = run_cli("optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{answers}", "--rounds", "1",
                       "--candidates", "3", "--episodes", "3", "--executor", executor, "--out", str(out))
        assert proc.returncode == 0, proc.stderr
        [folders[executor]] = [p.parent for p in out.glob("*/run.json")]

    def records(run):
        found = {}
        for path in sorted((run / "candidates").glob("*.json")):
            record = read_json(path)
            if record.get("evaluation"):
                record["evaluation"].pop("wall_time_s")
            found[path.name] = record
        return found

    assert records(folders["ray"]) == records(folders["local"])  # the nodes scored every episode alike
    assert read_json(folders["ray"] / "run.json")["config"]["executor"] == "ray"


def test_ppo_seeds_train_as_ray_tasks(tmp_path):
    out = tmp_path / "runs"
    proc = run_cli("baseline", "ppo", "gymnasium/CartPole-v1", "--steps", "2048", "--seeds", "2", "--eval-points", "2",
                   "--executor", "ray", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    runs = sorted(p.parent for p in out.glob("*/run.json"))
    # each folder came back from its task (named by the second its task started: the tasks may start in either order)
    assert sorted(read_json(r / "run.json")["seed"] for r in runs) == [0, 1]
    assert all(read_json(r / "summary.json")["env_steps"] >= 2048 and (r / "curve.jsonl").read_text() for r in runs)
