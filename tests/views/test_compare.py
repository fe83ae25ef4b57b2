"""`promptpo compare` on hand-built run folders whose numbers are known."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from conftest import run_cli
from promptpo.views.compare import compare, find_runs, to_json

PPO_REACH = {0: 10000, 1: 30000, 2: 20000}
PROMPTPO_REACH = {0: 2500, 1: 5000, 2: 2500}


def write(folder: Path, name: str, files: dict) -> Path:
    run = folder / name
    run.mkdir(parents=True)
    for rel, content in files.items():
        (run / rel).write_text(content if isinstance(content, str) else json.dumps(content))
    return run


def ppo_run(folder: Path, seed: int, reach: int | None, env: str = "gymnasium/CartPole-v1") -> Path:
    points = [{"env_steps": s, "episodes": s // 50, "mean_return": 500.0 if reach and s >= reach else 100.0 + s / 1000,
               "success_rate": None, "wall_time_s": s / 1000} for s in range(5000, 40001, 5000)]
    return write(folder, f"ppo-s{seed}", {
        "run.json": {"kind": "ppo", "method": "ppo", "env": env, "seed": seed},
        "summary.json": {"env": env, "status": "completed", "wall_time_s": 40.0, "llm_calls": 0, "cost_usd": 0.0},
        "curve.jsonl": "".join(json.dumps(p) + "\n" for p in points)})


def promptpo_run(folder: Path, seed: int, reach: int) -> Path:
    events = [{"event": "candidate", "outcome": "ok", "mean_return": 120.0, "success_rate": None,
               "total_env_steps": reach - 2500, "total_episodes": 5},
              {"event": "candidate", "outcome": "crashed", "mean_return": None, "success_rate": None,
               "total_env_steps": reach - 2500, "total_episodes": 5},
              {"event": "candidate", "outcome": "ok", "mean_return": 500.0, "success_rate": None,
               "total_env_steps": reach, "total_episodes": 10}]
    events = [e for e in events if e["total_env_steps"] > 0]
    return write(folder, f"promptpo-s{seed}", {
        "run.json": {"kind": "promptpo", "method": "promptpo (openai/gpt-4o)", "env": "gymnasium/CartPole-v1",
                     "config": {"seed": seed}},
        "summary.json": {"env": "gymnasium/CartPole-v1", "status": "target_reached", "wall_time_s": 30.0,
                         "llm_calls": 4, "prompt_tokens": 9000, "completion_tokens": 1000, "cost_usd": 0.05},
        "events.jsonl": "".join(json.dumps(e) + "\n" for e in events)})


@pytest.fixture
def runs(tmp_path) -> Path:
    for seed in range(3):
        ppo_run(tmp_path, seed, PPO_REACH[seed])
        promptpo_run(tmp_path, seed, PROMPTPO_REACH[seed])
    return tmp_path


def test_steps_to_target_ratio_and_welchs_test(runs):
    """promptpo's seed k and PPO's seed k share no randomness: the test is Welch's, never paired by seed number."""
    result = compare(find_runs([str(runs / "*")], runs), with_hyperscore=True)
    ppo, ours = (next(g for g in result.groups if g.method == m) for m in ("ppo", "promptpo (openai/gpt-4o)"))
    assert ppo.steps_to_target == [PPO_REACH[s] for s in ppo.seeds]
    assert ours.steps_to_target == [PROMPTPO_REACH[s] for s in ours.seeds]
    assert ours.episodes_to_target == [10, 10, 10]
    seeds = sorted(PPO_REACH)
    expected = scipy_stats.ttest_ind([PPO_REACH[s] for s in seeds], [PROMPTPO_REACH[s] for s in seeds], equal_var=False)
    assert ours.vs_ppo["test"] == "Welch's t-test" and not ours.vs_ppo["lower_bound"]
    assert ours.vs_ppo["ratio"] == pytest.approx(np.mean(list(PPO_REACH.values())) / np.mean(list(PROMPTPO_REACH.values())))
    assert ours.vs_ppo["p_value"] == pytest.approx(expected.pvalue)
    low, high = ppo.final_return.ci
    assert low <= ppo.final_return.mean <= high
    assert ours.final_return.mean == 500.0 and ours.llm_calls.mean == 4 and ours.tokens.mean == 10000
    assert ours.hyperscore == pytest.approx(100 * (1 + (1 / 3) ** 2))


def test_not_reached_stays_not_reached(tmp_path):
    ppo_run(tmp_path, 0, 10000)
    ppo_run(tmp_path, 1, None)
    ppo_run(tmp_path, 2, 20000)
    promptpo_run(tmp_path, 0, 2500)
    promptpo_run(tmp_path, 1, 5000)
    result = compare(find_runs([str(tmp_path / "*")], tmp_path))
    ppo, ours = (next(g for g in result.groups if g.method == m) for m in ("ppo", "promptpo (openai/gpt-4o)"))
    assert None in ppo.steps_to_target and ppo.reached == 2
    assert ppo.mean_steps() == 15000
    assert ours.vs_ppo["test"] == "Welch's t-test"
    data = to_json(result)
    assert data["groups"][0]["reached"] == "2/3"
    assert None in data["groups"][0]["steps_to_target"]


def test_a_seed_that_never_reaches_counts_as_its_budget(tmp_path):
    for seed, reach in ((0, 10000), (1, None), (2, 20000)):
        ppo_run(tmp_path, seed, reach)  # seed 1 spends its 40,000 steps without reaching
        promptpo_run(tmp_path, seed, PROMPTPO_REACH[seed])
    result = compare(find_runs([str(tmp_path / "*")], tmp_path))
    ppo, ours = (next(g for g in result.groups if g.method == m) for m in ("ppo", "promptpo (openai/gpt-4o)"))
    assert ppo.steps_or_spent() == [10000.0, 40000.0, 20000.0] and ppo.reached == 2
    assert ours.vs_ppo["test"] == "Welch's t-test" and "lower bound" in ours.vs_ppo["note"] and ours.vs_ppo["lower_bound"]
    assert ours.vs_ppo["ratio"] == pytest.approx(70000 / 10000)
    assert ours.vs_ppo["saved"] == pytest.approx(1 - 10000 / 70000)
    low, high = ours.vs_ppo["saved_ci95"]
    assert low <= ours.vs_ppo["saved"] <= high <= 1
    data = to_json(result)["groups"][0]
    assert data["env_steps"] == [40000, 40000, 40000] and data["final_return_std"]["mean"] > 0
    assert data["steps_to_target_ci95"][0] <= data["mean_steps_to_target"] == 15000 <= data["steps_to_target_ci95"][1]
    table = run_cli("compare", str(tmp_path / "*")).stdout
    assert "7.0x, +86%" in table and "*" in table and "a lower bound" in table
    from promptpo.views.plot import figure

    curves, savings = figure(find_runs([str(tmp_path / "*")], tmp_path), result).axes
    assert [t.get_text() for t in savings.get_yticklabels()] == ["promptpo (openai/gpt-4o)*"]
    assert savings.lines[-1].get_xdata()[0] == pytest.approx(ours.vs_ppo["saved"])  # the point is the saving


def test_nobody_reaching_is_reported_in_words(tmp_path):
    ppo_run(tmp_path, 0, None)
    ppo_run(tmp_path, 1, None)
    proc = run_cli("compare", str(tmp_path / "*"))
    assert proc.returncode == 0, proc.stderr
    assert "not reached" in proc.stdout and "0 (" not in proc.stdout


def test_cli_json_table_and_plots(runs, tmp_path):
    proc = run_cli("compare", str(runs / "*"), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["targets"] == {"gymnasium/CartPole-v1": "mean return >= 475"}
    assert {g["method"] for g in data["groups"]} == {"ppo", "promptpo (openai/gpt-4o)"}
    png, page = tmp_path / "curves.png", tmp_path / "curves.html"
    table = run_cli("compare", str(runs / "*"), "--plot", str(png), "--hyperscore")
    assert "6.0x" in table.stdout and "HyperScore" in table.stdout and "3/3 reached" in table.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    run_cli("compare", str(runs / "*"), "--plot", str(page))
    assert "data:image/png;base64," in page.read_text()


@pytest.mark.parametrize("args, message", [(["nothing/here/*"], "no run folder matches"),
                                           (["CORRUPT"], "not valid JSON")])
def test_bad_folders_give_one_line(tmp_path, args, message):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "run.json").write_text("{not json")
    args = [a.replace("CORRUPT", str(corrupt)) for a in args]
    proc = run_cli("compare", *args, cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_every_method_evaluates_on_the_same_grid_for_the_same_steps():
    from promptpo.baselines.hyperparams import for_env, rollout_steps
    from promptpo.baselines.ppo import PPOConfig
    from promptpo.baselines.tuners import SearchConfig
    from promptpo.schedule.task import ScheduleConfig

    hp = for_env("gymnasium/CartPole-v1")
    for steps in (50_000, 100_000, 8192):
        grids = {"ppo": PPOConfig("gymnasium/CartPole-v1", steps).grid(hp),
                 "schedule": ScheduleConfig(env="gymnasium/CartPole-v1", steps=steps).grid(hp),
                 "online": ScheduleConfig(env="gymnasium/CartPole-v1", steps=steps, online=True).grid(hp),
                 "optuna": SearchConfig("gymnasium/CartPole-v1", steps, steps // 4).grid(hp)}
        assert len(set(grids.values())) == 1, grids
        assert grids["ppo"] % rollout_steps(hp) == 0  # whole rollouts
    # PBT is evaluated once per --interval (what its exploit step needs), and records that as its grid
    assert PPOConfig("gymnasium/CartPole-v1", 50_000, eval_every=5000).grid(hp) == 5120  # rounded to rollouts (256)


def with_grid(run: Path, every: int) -> Path:
    meta = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**meta, "eval_every": every}))
    return run


def test_compare_refuses_curves_measured_on_different_grids(tmp_path):
    with_grid(ppo_run(tmp_path, 0, 10000), 2496)
    online = with_grid(ppo_run(tmp_path / "o", 0, 10000), 4992)
    meta = json.loads((online / "run.json").read_text())
    (online / "run.json").write_text(json.dumps({**meta, "kind": "online", "method": "promptpo online (x)"}))
    proc = run_cli("compare", str(tmp_path / "ppo-s0"), str(online))
    assert proc.returncode != 0 and "different intervals" in proc.stderr and "--allow-different-grids" in proc.stderr
    assert "Traceback" not in proc.stderr
    allowed = run_cli("compare", str(tmp_path / "ppo-s0"), str(online), "--allow-different-grids", "--json")
    assert allowed.returncode == 0, allowed.stderr
    data = json.loads(allowed.stdout)
    assert data["grids"]["gymnasium/CartPole-v1"] == [2496, 4992] and "different intervals" in data["notes"][0]
    same = run_cli("compare", str(tmp_path / "ppo-s0"), str(with_grid(online, 2496)))
    assert same.returncode == 0 and "evaluated every 2,496 env steps" in same.stdout


def test_a_search_reports_its_summary_final_return_not_its_curve_maximum(tmp_path):
    run = ppo_run(tmp_path, 0, 10000)  # its curve ends at 500
    meta = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**meta, "kind": "schedule", "method": "promptpo schedule (x)"}))
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "final_return": 215.3}))
    [group] = compare(find_runs([str(run)], tmp_path)).groups
    assert group.final_return.values == [215.3]


def test_the_auc_column_and_a_warning_below_five_seeds(runs):
    proc = run_cli("compare", str(runs / "ppo-s0"), str(runs / "ppo-s1"), "--json")
    group = json.loads(proc.stdout)["groups"][0]
    expected = []
    for seed in (0, 1):  # the curve as a step function over 0..40,000 steps, its first value before its first point
        points = [json.loads(line) for line in (runs / f"ppo-s{seed}" / "curve.jsonl").read_text().splitlines()]
        values = [points[0]["mean_return"]] + [p["mean_return"] for p in points[:-1]]  # each held 5,000 steps
        expected.append(np.mean(values))
    assert group["auc"]["values"] == pytest.approx(expected) and group["n"] == 2
    table = run_cli("compare", str(runs / "ppo-s0"), str(runs / "ppo-s1")).stdout
    assert "AUC" in table and "Fewer than 5 seeds" in table


def test_compare_says_when_returns_do_not_compare(tmp_path):
    """A run whose episodes ended at their first success and one whose episodes ran all their steps: returns do
    not compare (records.facts says how each ended, from run.json's end_at_success)."""
    ppo = ppo_run(tmp_path, 0, 10000)
    ours = promptpo_run(tmp_path, 0, 2500)
    meta = json.loads((ours / "run.json").read_text())
    (ours / "run.json").write_text(json.dumps({**meta, "end_at_success": True}))
    result = compare(find_runs([str(tmp_path / "*")], tmp_path))
    assert {g.episodes_end for g in result.groups} == {"at the first success", "after all their steps"}
    assert result.notes and "returns do not compare" in result.notes[0]
    assert not compare(find_runs([str(ppo)], tmp_path)).notes
