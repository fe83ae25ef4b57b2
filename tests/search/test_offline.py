"""The offline proposer (no LLM) and constant tuning, through the real CLI."""

from __future__ import annotations

import json
import math
import re

import pytest

from conftest import ANSWERS, cli_env, only_run, read_json, run_cli

pytestmark = pytest.mark.slow


def test_cartpole_with_no_model_configured_reaches_475(tmp_path):
    out = tmp_path / "runs"
    proc = run_cli("optimize", "gymnasium/CartPole-v1", "--out", str(out), env=cli_env())
    assert proc.returncode == 0, proc.stderr
    first_line = proc.stderr.splitlines()[0]
    assert "no model configured: using the offline proposer" in first_line and "--model" in proc.stderr
    run = only_run(out)
    summary = read_json(run / "summary.json")
    assert summary["status"] == "target_reached" and summary["best_score"] >= 475
    assert summary["llm_calls"] == 0 and summary["cost_usd"] == 0.0 and summary["proposals"] >= 1
    record = read_json(run / "candidates" / f"{summary['best_candidate']}.json")
    assert record["kind"] == "offline" and record["outcome"] == "ok"
    code = (run / "candidates" / f"{summary['best_candidate']}.py").read_text()
    assert "def act(obs)" in code and "W = np.array" in code and "pole_angle" in code  # an auditable program
    assert "offline proposer" in (run / "llm" / "0001.prompt.md").read_text()
    audit = run_cli("audit", run.name, "--out", str(out), "--json")
    assert audit.returncode == 0 and json.loads(audit.stdout)


def test_the_header_states_the_population_a_round_samples(tmp_path):
    # CMA-ES's default population for CartPole's 2 x (4 + 1) weights is 10: --candidates 2 is raised to it, and said.
    out = tmp_path / "runs"
    proc = run_cli("optimize", "gymnasium/CartPole-v1", "--model", "offline", "--rounds", "1", "--candidates", "2",
                   "--episodes", "2", "--target", "1000", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[0] == (
        "promptpo: optimizing gymnasium/CartPole-v1 with offline (CMA-ES): 10 candidates a round, one CMA-ES "
        "generation (CMA-ES's default population for 10 parameters; --candidates 2 is raised to it)")
    run = only_run(out)
    assert len(list((run / "candidates").glob("r00c*.py"))) == 10
    assert read_json(run / "run.json")["config"]["candidates"] == 10
    more = run_cli("optimize", "gymnasium/CartPole-v1", "--model", "offline", "--rounds", "1", "--candidates", "12",
                   "--episodes", "2", "--target", "1000", "--out", str(tmp_path / "more"))
    assert more.returncode == 0, more.stderr
    assert "12 candidates a round, one CMA-ES generation (--candidates)" in more.stderr.splitlines()[0]


def test_offline_reach_succeeds_with_the_spec_template(tmp_path):
    out = tmp_path / "runs"
    proc = run_cli("optimize", "metaworld/reach", "--model", "offline", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    summary = read_json(only_run(out) / "summary.json")
    assert summary["best_success_rate"] >= 0.9


def test_offline_reach_stops_spending_at_the_sample_that_reaches_the_target(tmp_path):
    # One CMA-ES generation on reach with one worker: a sample succeeds early in the round. Its later round-mates
    # are kept but not evaluated, the run ends target_reached having spent the steps up to that sample (not the
    # whole generation's), joins the library, and every view's steps to target are those steps.
    from promptpo.records import RunFolder

    def optimize(name: str):
        out = tmp_path / name
        proc = run_cli("optimize", "metaworld/reach", "--model", "offline", "--rounds", "1", "--episodes", "2",
                       "--max-env-steps", "6000", "--workers", "1", "--out", str(out))
        assert proc.returncode == 0, proc.stderr
        return proc, out, only_run(out)

    def records(run) -> list[dict]:
        found = [read_json(p) for p in (run / "candidates").glob("r00c*.json")]
        return sorted(found, key=lambda r: r["index"])

    proc, out, run = optimize("a")
    samples = records(run)
    first = next(i for i, r in enumerate(samples) if r["outcome"] == "ok" and r["score"]["success_rate"] == 1.0
                 and r["score"].get("complete", True))
    reached = samples[first]["id"]
    assert first < len(samples) - 1  # (the test means something only with samples after the one that reached)
    assert all(r["outcome"] != "not_evaluated" for r in samples[:first + 1])
    assert all(r["outcome"] == "not_evaluated" and r["env_steps"] == 0 and r["error"].startswith(f"{reached} reached")
               for r in samples[first + 1:])
    spent = sum(r["env_steps"] for r in samples[:first + 1])
    summary = read_json(run / "summary.json")
    assert summary["status"] == "target_reached" and summary["reason"].startswith(f"{reached} reached")
    assert summary["env_steps"] == spent and summary["best_candidate"] == reached
    assert RunFolder(run).facts.steps_to_target == spent
    shown = run_cli("show", run.name, "--out", str(out))
    assert re.search(rf"steps_to_target\W+{spent:,}\b", shown.stdout) and re.search(rf"env_steps\W+{spent:,}\b",
                                                                                    shown.stdout), shown.stdout
    assert "added to the library" in proc.stdout + proc.stderr
    listed = run_cli("library", "list")
    assert run.name in listed.stdout, listed.stdout

    _, _, again = optimize("b")  # one worker: the same samples evaluated and skipped, the same steps
    assert [(r["id"], r["outcome"], r["env_steps"]) for r in records(again)] == [
        (r["id"], r["outcome"], r["env_steps"]) for r in samples]
    assert read_json(again / "summary.json")["env_steps"] == spent


def test_offline_runs_resume(tmp_path):
    out = tmp_path / "runs"
    first = run_cli("optimize", "gymnasium/CartPole-v1", "--model", "offline", "--rounds", "2", "--target", "1000",
                    "--out", str(out))
    assert first.returncode == 0, first.stderr
    run = only_run(out)
    reference = {p.name: p.read_text() for p in (run / "candidates").glob("*.py")}
    summary = read_json(run / "summary.json")
    (run / "summary.json").write_text(json.dumps({**summary, "status": "running"}))  # as if it had died
    for stem in sorted({p.stem for p in (run / "candidates").glob("r01*")})[3:]:  # ... partway through round 1
        for suffix in (".py", ".json"):
            (run / "candidates" / f"{stem}{suffix}").unlink()
    resumed = run_cli("resume", run.name, "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert {p.name: p.read_text() for p in (run / "candidates").glob("*.py")} == reference  # CMA-ES replayed exactly


def test_constant_tuning_fixes_a_mistuned_controller_without_llm_calls(tmp_path):
    out = tmp_path / "runs"
    proc = run_cli("optimize", "metaworld/reach", "--model", f"scripted:{ANSWERS / 'reach_mistuned'}", "--rounds", "1",
                   "--candidates", "1", "--tune-constants", "--tune-share", "1", "--cascade", "0", "--out", str(out))
    # (--cascade 0: the controller is scored on all its episodes; one the cascade stopped is never tuned)
    assert proc.returncode == 0, proc.stderr
    run = only_run(out)
    summary = read_json(run / "summary.json")
    assert summary["llm_calls"] == 1 and summary["best_candidate"] == "r00c1"
    assert summary["best_success_rate"] >= 0.9
    parent, tuned = read_json(run / "candidates" / "r00c0.json"), read_json(run / "candidates" / "r00c1.json")
    assert parent["score"]["success_rate"] == 0.0
    assert tuned["kind"] == "tuned" and tuned["parent"] == "r00c0" and tuned["llm_call"] is None
    [gain] = tuned["tuned_constants"]  # only the declared constant; LIMIT and every bare literal left alone
    assert gain["name"] == "GAIN" and gain["line"] == 3 and gain["old"] == "0.1" and 0.3 < float(gain["new"]) <= 30
    code = (run / "candidates" / "r00c1.py").read_text()
    assert "LIMIT = 1.0" in code and "obs[36:39]" in code and code.count("\n") == (run / "candidates" / "r00c0.py").read_text().count("\n")
    assert summary["tuning_env_steps"] > 0 and summary["env_steps"] == summary["tuning_env_steps"] + parent["env_steps"]
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    [tuning] = [e for e in events if e["event"] == "tuning"]
    assert tuning["improved"] == "r00c1"
    assert summary["status"] == "target_reached"
    assert tuning["stopped_at_target"] and tuning["evaluations"] < 30  # a sample at the target ends the phase


def test_tuning_counts_against_the_env_step_budget(tmp_path):
    out = tmp_path / "runs"
    proc = run_cli("optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{ANSWERS / 'cartpole_flat'}",
                   "--rounds", "1", "--candidates", "1", "--tune-constants", "--tune-share", "1",
                   "--max-env-steps", "2700", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    summary = read_json(only_run(out) / "summary.json")
    assert summary["status"] == "budget_exhausted" and summary["env_steps"] <= 2700
    parent = read_json(only_run(out) / "candidates" / "r00c0.json")
    assert summary["tuning_env_steps"] == summary["env_steps"] - parent["env_steps"] > 0
    events = [json.loads(line) for line in (only_run(out) / "events.jsonl").read_text().splitlines()]
    [tuning] = [e for e in events if e["event"] == "tuning"]  # the phase the budget ended is recorded too
    assert tuning["stopped"] == "budget_exhausted" and tuning["env_steps"] == summary["tuning_env_steps"]
    assert tuning["evaluations"] == summary["tuning_evaluations"]


def test_a_tuning_phase_that_buys_nothing_stops_early_and_its_share_is_reported(tmp_path):
    from promptpo.policy.tuning import STALL_GENERATIONS

    out = tmp_path / "runs"
    proc = run_cli("optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{ANSWERS / 'cartpole_flat'}",
                   "--rounds", "1", "--candidates", "1", "--tune-constants", "--tune-share", "1", "--tune-evals", "60",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    run = only_run(out)
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    [tuning] = [e for e in events if e["event"] == "tuning"]
    assert tuning["stopped"] == "stalled" and tuning["improved"] is None
    popsize = 4 + int(3 * math.log(max(2, tuning["constants"])))  # CMA-ES's default population
    assert tuning["evaluations"] == STALL_GENERATIONS * popsize < 60  # three generations without a gain
    summary = read_json(run / "summary.json")
    assert summary["tuning_evaluations"] == tuning["evaluations"] and summary["tuning_env_steps"] == tuning["env_steps"]
    assert "constant tuning:" in proc.stderr and "of the env steps this run spent" in proc.stderr
    shown = run_cli("show", run.name, "--out", str(out))
    assert "constant tuning" in shown.stdout and f"{tuning['env_steps']:,} env steps" in shown.stdout


def test_tuning_spends_at_most_its_share_of_the_env_step_budget(tmp_path):
    out = tmp_path / "runs"
    answers = tmp_path / "answers"
    answers.mkdir()
    (answers / "001.md").write_text(  # balances every episode whatever its gain: each sample plays 5 x 500 steps
        '```python\nGAIN = 1.0\nTUNABLE = {"GAIN": (0.9, 1.1)}\n\n\ndef act(obs):\n    x, v, a, w = obs\n'
        '    return int(a + 0.5 * GAIN * w + 0.01 * x + 0.1 * v > 0)\n```')
    proc = run_cli("optimize", "gymnasium/CartPole-v1", "--model", f"scripted:{answers}", "--target", "10000",
                   "--rounds", "1", "--candidates", "1", "--tune-constants", "--tune-evals", "60",
                   "--max-env-steps", "100000", "--tune-share", "0.25", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    run = only_run(out)
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    [tuning] = [e for e in events if e["event"] == "tuning"]
    summary = read_json(run / "summary.json")
    assert tuning["stopped"] == "share" and 0 < tuning["evaluations"] < 60
    # an evaluation starts only if its worst case (5 episodes x 500 steps) still fits in 25% of 100,000 = 25,000 (at least one generation of samples fits: a phase starts)
    assert summary["tuning_env_steps"] == tuning["env_steps"]
    assert 25_000 - 2500 < tuning["env_steps"] <= 25_000
    prompt = (run / "llm" / "0001.prompt.md").read_text()
    assert "Constant tuning is on" in prompt and "TUNABLE = {" in prompt and "25%" in prompt
    assert "at most 100,000 env steps" in prompt
