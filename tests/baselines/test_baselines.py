"""PPO baselines: hyperparameters, run folders and learning curves (tiny budgets)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import cli_env, read_json, run_cli
from promptpo.baselines.hyperparams import for_env, ppo_kwargs, schedule

import stable_baselines3  # noqa: E402,F401 - a hard requirement here: CI installs promptpo[baselines]


def test_zoo_hyperparameters_and_their_source():
    cartpole = for_env("gymnasium/CartPole-v1")
    assert cartpole.tuned and "rl-baselines3-zoo" in cartpole.source
    assert cartpole.values["n_envs"] == 8 and cartpole.values["learning_rate"] == "lin_0.001"
    kwargs = ppo_kwargs(cartpole.values)
    assert "n_envs" not in kwargs and kwargs["learning_rate"](0.5) == pytest.approx(0.0005)
    assert schedule(0.2) == 0.2
    metaworld = for_env("metaworld/reach")
    assert not metaworld.tuned and "no Meta-World" in metaworld.source
    other = for_env("gymnasium/FrozenLake-v1")
    assert not other.tuned and "Stable-Baselines3 defaults" in other.source


def test_ppo_run_folders_and_curves(tmp_path):
    out = tmp_path / "runs"
    proc = run_cli("baseline", "ppo", "gymnasium/CartPole-v1", "--steps", "1024", "--seeds", "2",
                   "--eval-points", "4", "--eval-episodes", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "RL Zoo tuned" in proc.stderr
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(folders) == 2 and [f"run folder: {f}" in proc.stdout for f in folders] == [True, True]
    assert sorted(read_json(f / "run.json")["seed"] for f in folders) == [0, 1]
    for folder in folders:
        assert {"run.json", "summary.json", "events.jsonl", "curve.jsonl", "model.zip"} <= {p.name for p in folder.iterdir()}
        meta, summary = read_json(folder / "run.json"), read_json(folder / "summary.json")
        assert meta["kind"] == "ppo" and meta["status"] == "completed" and f"-s{meta['seed']}-" in folder.name
        assert len(meta["eval"]["episodes"]) == 2
        curve = [json.loads(line) for line in (folder / "curve.jsonl").read_text().splitlines()]
        steps = [p["env_steps"] for p in curve]
        assert steps == sorted(steps) and steps[0] == 256 and steps[-1] == summary["env_steps"] >= 1024
        assert all(p["mean_return"] > 0 and p["episodes"] >= 0 for p in curve)
        assert summary["final_return"] == curve[-1]["mean_return"] and summary["llm_calls"] == 0
    listing = run_cli("runs", "--out", str(out))
    assert all(f.name in listing.stdout for f in folders)
    shown = run_cli("show", folders[0].name, "--out", str(out))
    assert shown.returncode == 0 and "learning curve" in shown.stdout and "1,024" in shown.stdout
    assert "None" not in shown.stdout and "method" in shown.stdout  # no policy-run fields it does not have
    compared = run_cli("compare", str(out / "*"), "--json")
    assert json.loads(compared.stdout)["groups"][0]["method"] == "ppo"


def test_ppo_on_metaworld_uses_success_over_goal_variations(tmp_path):
    out = tmp_path / "runs"
    proc = run_cli("baseline", "ppo", "metaworld/reach", "--steps", "2000", "--seeds", "1", "--eval-points", "1",
                   "--eval-episodes", "3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "no Meta-World MT1 entry" in proc.stderr
    folder = next(out.iterdir())
    meta = read_json(folder / "run.json")
    from promptpo.envs import load_spec
    from promptpo.seeds import episode_secret

    promptpo_plan = load_spec("metaworld/reach").episodes(0, 3, episode_secret())  # what promptpo evaluates with seed 0
    assert [(e["seed"], e["extras"]["task"]) for e in meta["eval"]["episodes"]] == \
        [(e.seed, e.extras["task"]) for e in promptpo_plan]
    assert meta["end_at_success"] is True  # evaluated under promptpo's episode-ending rule
    curve = [json.loads(line) for line in (folder / "curve.jsonl").read_text().splitlines()]
    assert curve and curve[-1]["success_rate"] is not None and 0 <= curve[-1]["success_rate"] <= 1


def test_ctrl_c_keeps_what_was_logged(tmp_path):
    out = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "promptpo", "baseline", "ppo", "gymnasium/CartPole-v1",
                             "--steps", "2000000", "--seeds", "1", "--eval-points", "2000", "--eval-episodes", "1",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env(), start_new_session=True)
    deadline = time.monotonic() + 120
    curve = None
    while time.monotonic() < deadline:
        found = list(out.glob("*/curve.jsonl"))
        if found and len(found[0].read_text().splitlines()) >= 2:
            curve = found[0]
            break
        time.sleep(0.2)
    assert curve is not None, "no evaluation was logged"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the terminal's process group
    proc.communicate(timeout=120)
    folder = curve.parent
    summary, meta = read_json(folder / "summary.json"), read_json(folder / "run.json")
    assert summary["status"] == "interrupted" and meta["status"] == "interrupted"
    assert len(curve.read_text().splitlines()) >= 2 and (folder / "model.zip").exists()


@pytest.mark.parametrize("args, message", [
    (["ppo", "gymnasium/CartPole-v1", "--steps", "0"], "--steps must be at least 1"),
    (["ppo", "gymnasium/CartPole-v1", "--steps", "10", "--executor", "slurm"], "unknown executor"),
    (["ppo", "gymnasium/CartPole-v1", "--steps", "x"], "is not a valid integer"),
    (["ppo", "gymnasium/Pendulum-v1", "--steps", "4000"], "--steps 4000 is less than one PPO rollout"),
    (["optuna", "gymnasium/Pendulum-v1", "--steps", "40000", "--trial-steps", "2000"], "--trial-steps 2000 is less"),
    (["pbt", "gymnasium/Pendulum-v1", "--steps", "8192", "--interval", "4096"], "--steps / --population 2048 is less")])
def test_bad_baseline_input(tmp_path, args, message):
    proc = run_cli("baseline", *args, "--out", str(tmp_path / "runs"))
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not list((tmp_path / "runs").glob("*/run.json"))  # refused before any run folder


def test_training_stays_within_its_budget_and_leaves_no_temp_folders():
    from promptpo.baselines.ppo import Trainer
    from promptpo.envs import load_spec

    spec = load_spec("gymnasium/CartPole-v1")
    before = set(Path(tempfile.gettempdir()).glob("SB3-*"))
    trainer = Trainer(spec, for_env(spec.id), 0, spec.episodes(0, 2))
    assert trainer.rollout == 32 * 8
    trainer.learn(1000, 2)  # SB3 alone would finish the fourth rollout: 1024 steps
    assert trainer.model.num_timesteps == 768 and trainer.curve[-1].env_steps == 768
    trainer.learn(100, 1)  # less than one rollout: no training at all
    assert trainer.model.num_timesteps == 768
    trainer.close()
    assert set(Path(tempfile.gettempdir()).glob("SB3-*")) - before == set()  # SB3's default logger made one per learn()
