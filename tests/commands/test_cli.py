"""End-to-end runs of the real CLI in a subprocess, driven by scripted answers."""

from __future__ import annotations

import importlib.util
import json
import time

import pytest

from conftest import ANSWERS, cli_env, only_run, read_json, run_cli, succeeds_on_reach

pytestmark = pytest.mark.slow


def optimize(tmp_path, env_id: str, answers: str, *extra: str):
    out = tmp_path / "runs"
    proc = run_cli("optimize", env_id, "--model", f"scripted:{ANSWERS / answers}", "--out", str(out), *extra)
    assert "Traceback" not in proc.stderr, proc.stderr
    run = only_run(out)
    assert proc.stdout.strip().endswith(f"run folder: {run}"), proc.stdout
    return proc, run


def test_reach_p_controller_succeeds_in_the_process_sandbox(tmp_path):
    proc, run = optimize(tmp_path, "metaworld/reach", "reach", "--episodes", "10", "--concurrency", "1")
    assert proc.returncode == 0, proc.stderr
    summary = read_json(run / "summary.json")
    assert summary["status"] == "target_reached"
    assert summary["best_success_rate"] >= 0.9
    for key in ("env", "model", "status", "best_candidate", "best_score", "best_success_rate", "env_steps",
                "llm_calls", "prompt_tokens", "completion_tokens", "cost_usd", "wall_time_s"):
        assert key in summary
    meta = read_json(run / "run.json")
    assert meta["sandbox"].startswith("process (bubblewrap")
    assert meta["status"] == "target_reached" and meta["ended"]
    assert len(meta["episodes"]) == 10 and len({e["extras"]["task"] for e in meta["episodes"]}) == 10
    record = read_json(run / "candidates" / "r00c0.json")
    episodes = record["evaluation"]["episodes"]
    assert [e["seed"] for e in episodes] == [e["seed"] for e in meta["episodes"]]
    assert all(e["success"] and e["length"] == e["success_step"] < 500 for e in episodes)  # ended at success
    assert summary["env_steps"] == record["env_steps"] == sum(e["length"] for e in episodes)
    assert (run / "llm" / "0001.prompt.md").read_text().count("hand_pos") >= 1
    assert (run / "llm" / "0001.response.md").read_text() == (ANSWERS / "reach" / "001.md").read_text()
    events = [json.loads(line)["event"] for line in (run / "events.jsonl").read_text().splitlines()]
    assert events == ["run_start", "llm_request", "llm_response", "candidate", "run_end"]


def test_best_py_is_a_standalone_policy_for_a_plain_gymnasium_loop(tmp_path):
    _, run = optimize(tmp_path, "metaworld/reach", "reach", "--episodes", "2")

    spec = importlib.util.spec_from_file_location("best_policy", run / "best.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert succeeds_on_reach(module.Policy(), seed=7, steps=200)


def test_broken_answers_recover_through_repair_prompts(tmp_path):
    proc, run = optimize(tmp_path, "metaworld/reach", "reach_repair", "--episodes", "10", "--candidates", "1")
    assert proc.returncode == 0, proc.stderr
    first, second, third = (read_json(run / "candidates" / f"r00c{i}.json") for i in range(3))
    assert first["outcome"] == "syntax_error" and "SyntaxError" in first["error"]
    assert first["env_steps"] == 0
    assert second["outcome"] == "crashed" and second["parent"] == "r00c0" and second["kind"] == "repair"
    assert "gain" in second["evaluation"]["fault"]["traceback"]
    assert third["outcome"] == "ok" and third["parent"] == "r00c1"
    assert third["score"]["success_rate"] >= 0.9
    repair1 = (run / "llm" / "0002.prompt.md").read_text()
    repair2 = (run / "llm" / "0003.prompt.md").read_text()
    assert "Your last program failed" in repair1 and "SyntaxError" in repair1
    assert "AttributeError" in repair2 and "Traceback" in repair2
    summary = read_json(run / "summary.json")
    assert summary["status"] == "target_reached" and summary["llm_calls"] == 3
    assert summary["best_candidate"] == "r00c2"


def test_cartpole_reaches_475(tmp_path):
    proc, run = optimize(tmp_path, "gymnasium/CartPole-v1", "cartpole", "--episodes", "10")
    assert proc.returncode == 0, proc.stderr
    summary = read_json(run / "summary.json")
    assert summary["status"] == "target_reached"
    assert summary["best_score"] >= 475
    assert summary["best_success_rate"] is None  # CartPole defines no success


def test_doorkey_succeeds(tmp_path):
    proc, run = optimize(tmp_path, "minigrid/DoorKey-5x5", "doorkey", "--episodes", "10")
    assert proc.returncode == 0, proc.stderr
    summary = read_json(run / "summary.json")
    assert summary["best_success_rate"] >= 0.9
    assert "object type ids" in (run / "llm" / "0001.prompt.md").read_text()


def test_answers_running_out_stops_cleanly_with_the_best_so_far(tmp_path):
    # One working-but-weak CartPole answer and a target it cannot reach: the run stops when the
    # answers run out, keeps the candidate and says why.
    proc, run = optimize(tmp_path, "gymnasium/CartPole-v1", "cartpole", "--target", "1000", "--rounds", "2",
                         "--candidates", "2")
    assert proc.returncode == 0
    summary = read_json(run / "summary.json")
    assert summary["status"] == "answers_exhausted" and summary["best_candidate"] == "r00c0"
    assert "ran out" in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["optimize", "gymnasium/CartPol-v1", "--model", "manual"], "did you mean gymnasium/CartPole-v1"),
    (["optimize", "nowhere", "--model", "manual"], "unknown environment id"),
    (["optimize", "gymnasium/CartPole-v1", "--model", "gpt4"], "malformed model string"),
    (["optimize", "gymnasium/CartPole-v1", "--model", "foo:bar"], "unknown backend 'foo'"),
    (["optimize", "gymnasium/CartPole-v1", "--model", "openai/gpt-4o"], "OPENAI_API_KEY is not set"),
    (["optimize", "gymnasium/CartPole-v1", "--model", "anthropic:claude-sonnet-4-5"], "ANTHROPIC_API_KEY is not set"),
    (["optimize", "minigrid/DoorKey-5x5", "--model", "offline"], "offline proposer has no feature map"),
    (["optimize", "gymnasium/CartPole-v1", "--model", "scripted:/no/such/answers"], "scripted answers not found"),
    (["optimize", "gymnasium/CartPole-v1", "--model", "manual", "--max-env-steps", "-5"], "--max-env-steps must be"),
    (["optimize", "gymnasium/CartPole-v1", "--model", "manual", "--rounds", "x"], "'x' is not a valid integer"),
    (["optimize", "gymnasium/CartPole-v1", "--model", "manual", "--max-time", "soon"], "cannot read the duration"),
    (["optimize", "gymnasium/CartPole-v1", "--model", "manual", "--sandbox", "vm"], "unknown sandbox 'vm'"),
    (["optimize", "gymnasium/CartPole-v1", "--model", "manual", "--out", "/proc/promptpo"], "cannot write the run folder"),
    (["show", "no-such-run"], "no run folder"),
    (["optimize", "gymnasium/CartPole-v1", "--model", "manual", "--tune-constants", "--tune-evals", "1"],
     "--tune-evals must be at least 2 with --tune-constants (got 1)"),
    (["optimize", "gymnasium/CartPole-v1", "--model", "manual", "--act-timeout", "0"],
     "--act-timeout must be a positive number (got 0)"),
    (["schedule", "gymnasium/CartPole-v1", "--model", "manual", "--act-timeout", "-1"],
     "--act-timeout must be a positive number (got -1)"),
    (["optimize", "gymnasium/CartPole-v1", "--model", "offline", "--search", "islands", "--edit", "diff", "--reflect"],
     "--search islands, --edit diff, --reflect mean nothing to the offline proposer"),
    (["optimize", "gymnasium/CartPole-v1", "--temperature", "0.2", "--max-llm-calls", "5"],
     "--temperature 0.2, --max-llm-calls 5 mean nothing to the offline proposer (CMA-ES over a program template, "
     "no LLM), which runs when no --model is given"),
    (["schedule", "gymnasium/CartPole-v1", "--model", "offline", "--edit", "full"], "--edit full means nothing"),
])
def test_bad_input_gets_one_line_and_exit_2(tmp_path, args, message):
    env = cli_env()
    env.pop("OPENAI_API_KEY", None)
    env.pop("ANTHROPIC_API_KEY", None)
    proc = run_cli(*args, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("promptpo: error:"), proc.stderr
    assert message in lines[0]
    assert not (tmp_path / "runs").exists()  # bad input leaves nothing behind


def test_runs_and_show_list_what_was_recorded(tmp_path):
    _, run = optimize(tmp_path, "gymnasium/CartPole-v1", "cartpole")
    listing = run_cli("runs", "--out", str(run.parent))
    assert listing.returncode == 0 and run.name in listing.stdout and "target_reached" in listing.stdout
    shown = run_cli("show", run.name, "--out", str(run.parent))
    assert shown.returncode == 0 and "r00c0" in shown.stdout and "500" in shown.stdout


def test_help_is_fast_and_does_not_import_litellm():
    started = time.perf_counter()
    proc = run_cli("--help")
    assert proc.returncode == 0 and "optimize" in proc.stdout
    import subprocess
    import sys

    probe = subprocess.run([sys.executable, "-c", "import sys; from promptpo.cli import main\n"
                            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
                            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
                            "('litellm', 'gymnasium', 'metaworld', 'openai', 'anthropic', 'numpy')))"],
                           capture_output=True, text=True)
    assert probe.stdout.strip().splitlines()[-1] == "[]", probe.stdout
    assert time.perf_counter() - started < 10  # generous: the 0.5 s figure is measured by a benchmark


def test_envs_lists_every_spec_file():
    proc = run_cli("envs")
    assert proc.returncode == 0
    for env_id in ("metaworld/reach", "metaworld/pick-place", "gymnasium/CartPole-v1", "minigrid/DoorKey-5x5"):
        assert env_id in proc.stdout
