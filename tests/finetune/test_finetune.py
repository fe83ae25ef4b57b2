"""promptpo.finetune: a residual learner on top of a run's program (and the off-policy learners from scratch)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import sb3_contrib  # noqa: F401 - a hard requirement here: CI installs promptpo[baselines]
from conftest import read_json, run_cli, scripted

import promptpo
from finetune.swing import PENDULUM, SWING, config
from promptpo.finetune.config import ALGOS
from promptpo.finetune.folder import resumable, start
from promptpo.finetune.train import Finetuning, train


@pytest.mark.parametrize("algo", ALGOS)
def test_the_residual_starts_at_the_base_score(base_run, algo):
    """Step 0 of every learner is the base exactly: the same returns on the same episodes, and r = 0 everywhere."""
    cfg = config(base_run, algo=algo)
    store = start(cfg, 0)
    finetuning = Finetuning(cfg, 0, store)
    try:
        combined, _ = finetuning.evaluate()
        alone, _, _ = finetuning.play(finetuning.episodes, with_learner=False)
        assert combined == alone and len(combined) == 2
        features = np.random.default_rng(0).normal(size=(64, *finetuning.env.observation_space.shape)) * 5
        r, _ = finetuning.model.predict(features.astype(np.float32), deterministic=True)
        assert np.all(r == 0.0)
    finally:
        finetuning.close()


def test_env_steps_add_up_from_the_base_runs_spending(base_run):
    """The curve continues from what the program's run spent; every training step is counted once."""
    spent = read_json(base_run / "summary.json")["env_steps"]
    assert spent > 0
    folder = train(config(base_run), 0)
    curve = [json.loads(line) for line in (folder / "curve.jsonl").read_text().splitlines()]
    summary, meta = read_json(folder / "summary.json"), read_json(folder / "run.json")
    assert [p["env_steps"] for p in curve] == [spent, spent + 200, spent + 400, spent + 600]
    assert summary["env_steps"] == spent + 600 and summary["training_env_steps"] == 600
    assert summary["base_env_steps"] == spent and summary["status"] == "completed"
    assert meta["kind"] == "finetune" and meta["method"] == "promptpo+td3"
    assert meta["base"]["run"] == base_run.name and meta["base"]["sha256"]
    assert (folder / "base.py").read_text() == SWING
    judged = summary["judged"]
    assert judged["result"] in {"base", "finetuned"} and judged["episodes"] == 2
    assert curve[0]["mean_return"] == pytest.approx(curve[1]["mean_return"])  # still the warm-up: r held at 0
    assert summary["best_score"] == (judged["finetuned_return"] if judged["result"] == "finetuned"
                                     else judged["base_return"])


def test_the_warm_up_plays_the_base_and_the_actor_waits_for_the_critic(base_run):
    """Before learning starts the buffer holds small corrections (not SB3's uniform actions); the actor's weights do
    not move before warmup + critic_steps."""
    import torch

    cfg = config(base_run, steps=400, warmup=200, critic_steps=200, noise=0.05)
    finetuning = Finetuning(cfg, 0, start(cfg, 0))
    try:
        before = {k: v.clone() for k, v in finetuning.model.policy.actor.state_dict().items()}
        finetuning.model.learn(total_timesteps=399, reset_num_timesteps=False)  # its last update at step 399
        buffer = finetuning.model.replay_buffer.actions[:200].ravel()
        assert np.abs(buffer).max() < 0.3 and np.std(buffer) == pytest.approx(0.05, rel=0.3)
        after = finetuning.model.policy.actor.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)
        finetuning.model.learn(total_timesteps=201, reset_num_timesteps=False)
        moved = finetuning.model.policy.actor.state_dict()
        assert any(not torch.equal(before[k], moved[k]) for k in before)
    finally:
        finetuning.close()


def test_a_stopped_finetune_command_says_how_to_continue(base_run):
    """Ctrl-C in `promptpo finetune`: a non-zero exit and the `promptpo resume` line, as `optimize` says it."""
    import signal
    import subprocess
    import sys
    import time

    out = base_run.parent / "stopped"
    proc = subprocess.Popen([sys.executable, "-m", "promptpo", "finetune", str(base_run), "--out", str(out),
                             "--steps", "50000", "--eval-points", "50", "--eval-episodes", "1"],
                            cwd=base_run.parent.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list(out.glob("*/curve.jsonl")) or not list(out.glob("*/curve.jsonl"))[0].read_text():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    assert proc.returncode != 0 and "[interrupted]" in stdout, stderr
    assert f"continue it with: promptpo resume {folder.name} --out {out}" in " ".join(stderr.split())
    assert "Traceback" not in stderr


def test_a_stopped_finetuning_is_judged_where_it_stopped_with_finish(base_run, monkeypatch):
    """`promptpo resume --finish` trains no more: the learner is evaluated where it stopped (a stop between two
    evaluations left it unevaluated) and judged against the base as at the end; the run is then finished."""
    from promptpo.finetune import train as training
    from promptpo.records import RunFolder

    calls = {"n": 0}
    point = training.Finetuning.point

    def stopped_before_the_third(self):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return point(self)

    monkeypatch.setattr(training.Finetuning, "point", stopped_before_the_third)
    folder = train(config(base_run, steps=600), 2)
    monkeypatch.undo()
    assert read_json(folder / "summary.json")["training_env_steps"] == 400

    judged_from = {}

    def ctrl_c(self):  # a finish stopped in its judgement, which has loaded the best actor into the learner
        self._restore_actor()
        judged_from["checkpoint"] = (folder / "checkpoint.zip").stat().st_mtime_ns
        raise KeyboardInterrupt

    monkeypatch.setattr(training.Finetuning, "judge", ctrl_c)
    config_, seed, store = resumable(RunFolder(folder))
    train(config_, seed, store=store, finish=True)
    monkeypatch.undo()
    assert read_json(folder / "summary.json")["status"] == "interrupted"
    assert "finish" not in [e["event"] for e in RunFolder(folder).events()]  # no finish was made
    # the checkpoint is the one taken after the last evaluation (the last actor), not the best one loaded to judge
    assert (folder / "checkpoint.zip").stat().st_mtime_ns == judged_from["checkpoint"]

    proc = run_cli("resume", folder.name, "--out", str(folder.parent), "--finish")
    assert proc.returncode == 0, proc.stderr
    summary = read_json(folder / "summary.json")
    spent = summary["base_env_steps"]
    steps = [json.loads(line)["env_steps"] - spent for line in (folder / "curve.jsonl").read_text().splitlines()]
    assert steps == [0, 200, 400] and summary["training_env_steps"] == 400  # evaluated at 400, not trained on
    assert summary["status"] == "completed" and summary["reason"].startswith("ended at 400 of 600 training steps")
    judged = summary["judged"]
    assert judged["result"] in {"base", "finetuned"} and judged["episodes"] == 2
    assert summary["best_score"] == (judged["finetuned_return"] if judged["result"] == "finetuned"
                                     else judged["base_return"])
    events = [e["event"] for e in RunFolder(folder).events()]
    assert events.count("finish") == 1 and events.index("judged") < events.index("finish")
    assert "[completed]" in proc.stdout and "ended at 400 of 600" in proc.stdout
    shown = run_cli("show", folder.name, "--out", str(folder.parent))
    assert "400 of 600 training steps" in " ".join(shown.stdout.split()), shown.stdout  # not a full run's
    again = run_cli("resume", folder.name, "--out", str(folder.parent), "--finish")
    assert again.returncode != 0 and "already finished" in again.stderr and "Traceback" not in again.stderr


def test_finish_is_refused_in_one_line_for_a_run_with_no_learner(base_run):
    """An optimize run has no learner to judge: --finish says so and how to continue it, changing nothing."""
    before = (base_run / "summary.json").read_text()
    proc = run_cli("resume", base_run.name, "--out", str(base_run.parent), "--finish")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    said = proc.stderr.strip().splitlines()
    assert len(said) == 1 and "--finish" in said[0] and "no learner to judge" in said[0]
    assert "promptpo resume" not in said[0]  # a finished run: nothing to continue either
    assert (base_run / "summary.json").read_text() == before


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_an_interrupted_finetuning_resumes_where_it_stopped(base_run, monkeypatch, stop):
    """Ctrl-C (or SIGTERM, as `kill` sends) keeps a checkpoint; `promptpo resume` continues the learner, its buffer
    and its curve to the end."""
    import os
    import signal
    import threading

    from promptpo.finetune import train as training

    calls = {"n": 0}
    point = training.Finetuning.point

    def interrupted_at_the_second(self):
        calls["n"] += 1
        if calls["n"] == 3:
            if stop == "ctrl-c":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGTERM)
            threading.Event().wait(5)  # the handler raises in this (the main) thread meanwhile
        return point(self)

    monkeypatch.setattr(training.Finetuning, "point", interrupted_at_the_second)
    folder = train(config(base_run, steps=600), 1)
    monkeypatch.undo()
    summary = read_json(folder / "summary.json")
    assert summary["status"] == "interrupted" and summary["training_env_steps"] == 400
    assert summary["reason"] == ("stopped by the user (Ctrl-C)" if stop == "ctrl-c" else "stopped by SIGTERM")
    assert (folder / "checkpoint.zip").is_file() and (folder / "replay.pkl").is_file()
    proc = run_cli("resume", folder.name, "--out", str(folder.parent))
    assert proc.returncode == 0, proc.stderr
    summary = read_json(folder / "summary.json")
    spent = summary["base_env_steps"]
    steps = [json.loads(line)["env_steps"] - spent for line in (folder / "curve.jsonl").read_text().splitlines()]
    assert summary["status"] == "completed" and summary["training_env_steps"] == 600
    assert steps == [0, 200, 400, 600]  # the point the interruption lost is taken again, none twice
    again = run_cli("resume", folder.name, "--out", str(folder.parent))
    assert again.returncode != 0 and "already finished" in again.stderr and "Traceback" not in again.stderr


def test_a_new_or_resumed_learner_trains_on_one_thread(base_run):
    """torch's default, a thread a core, stalled a resumed SAC beside another learner on two cores (a few steps a
    second): a learner, new or resumed from its checkpoint, trains on one."""
    import torch

    cfg = config(base_run, steps=200)
    store = start(cfg, 0)
    for resumed in (False, True):
        torch.set_num_threads(2)
        finetuning = Finetuning(cfg, 0, store, resumed)
        try:
            assert torch.get_num_threads() == 1
            finetuning.checkpoint()
        finally:
            finetuning.close()


@pytest.mark.parametrize("state", ["this version's", "from before it kept the best's returns",
                                   "from before, its eval event changed"])
def test_a_roll_back_needs_a_fall_beyond_noise(base_run, monkeypatch, state):
    """A real-model Walker2d gait scored 1,443 ± 606 on the evaluation's ten episodes; every actor after it drew
    about 1,080 ± 420 and was rolled back, so nothing it learned survived. A fall is a mean below the best by more
    than --rollback that a one-sided Welch test tells from the best's spread (for a checkpoint whose state has no
    returns, read back once from its eval event; a changed one leaves the means to decide); a collapse is still one."""
    cfg = config(base_run, eval_episodes=10)
    store = start(cfg, 0)
    finetuning = Finetuning(cfg, 0, store)
    spread = [2100.0, 2050.0, 700.0, 2000.0, 650.0, 2080.0, 1900.0, 600.0, 2150.0, 2000.0]  # the best: 1,623
    draws = iter([spread,
                  [2000.0, 700.0, 650.0, 1900.0, 600.0, 2050.0, 640.0, 1950.0, 690.0, 620.0],  # 1,180: noise
                  [150.0, 160.0, 140.0, 155.0, 149.0, 151.0, 158.0, 143.0, 147.0, 152.0]])  # 150: a collapse
    monkeypatch.setattr(Finetuning, "evaluate", lambda self, episodes=None: (next(draws), [False] * 10))
    try:
        finetuning.point()
        if state != "this version's":  # resumed from a checkpoint whose state has no returns
            finetuning.checkpoint()
            finetuning.close()
            saved = store.root / "finetune_state.json"
            saved.write_text(json.dumps({k: v for k, v in read_json(saved).items() if k != "best_returns"}))
            if state.endswith("changed"):
                events = store.root / "events.jsonl"
                events.write_text(events.read_text().replace('"std_return": ', '"std_return": "x", "was": '))
            finetuning = Finetuning(cfg, 0, store, resumed=True)
        rollbacks = [finetuning.state["rollbacks"]]
        for _ in range(2):
            finetuning.point()
            rollbacks.append(finetuning.state["rollbacks"])
        assert rollbacks == ([0, 1, 2] if state.endswith("changed") else [0, 0, 1])
        assert finetuning.state["best_return"] == pytest.approx(np.mean(spread))
    finally:
        finetuning.close()


def assert_other_settings_are_another_method(folder, base_run):
    """A fine-tuning of other settings (a copy of ``folder`` whose run.json says --penalty 1, or another base
    program) is not a seed of the same method: compare keeps both, names each by the settings that differ (in the
    table too, where "[penalty=1]" is not markup), and show lists the settings."""
    out = folder.parent
    meta = read_json(folder / "run.json")
    twins = []
    for name, change in (("penalty", {"penalty": 1.0}), ("base", {})):
        twin = out / f"{folder.name[:-4]}{name[:4]}"
        shutil.copytree(folder, twin)
        base = dict(meta["base"], sha256="0" * 64) if name == "base" else meta["base"]
        (twin / "run.json").write_text(json.dumps({**meta, "id": twin.name, "base": base,
                                                   "config": {**meta["config"], **change, "base": base}}))
        twins.append(twin)
    names = [folder.name, *(t.name for t in twins)]
    compared = run_cli("compare", *names, "--json", "--out", str(out))
    groups = json.loads(compared.stdout)["groups"]
    assert len(groups) == 3 and all(len(g["runs"]) == 1 for g in groups), compared.stdout
    methods = sorted(g["method"] for g in groups)
    assert any("penalty=1" in m for m in methods) and any("penalty=0.1" in m for m in methods), methods
    assert any("base=000000000000" in m for m in methods), methods
    table = run_cli("compare", *names, "--out", str(out)).stdout
    for method in methods:  # "promptpo+td3 [base=327c6291d67e, penalty=0.1]" (wrapped, perhaps, not dropped)
        assert method.split(" ", 1)[1].split(",")[0] in table, (method, table)
    assert "a repeat of seed" not in table
    shown = run_cli("show", twins[0].name, "--out", str(out)).stdout
    assert "penalty=1," in shown and "residual_scale=0.1" in shown and "ramp=0" in shown, shown
    for twin in twins:
        shutil.rmtree(twin)


def test_tiny_end_to_end_finetune_verify_compare_and_load(base_run):
    """`promptpo finetune` through the CLI, then the views and load_policy on its folder."""
    out = base_run.parent
    before = {p.name for p in out.iterdir()}
    proc = run_cli("finetune", base_run.name, "--steps", "3000", "--warmup", "1000", "--critic-steps", "500",
                   "--eval-points", "3", "--eval-episodes", "2", "--judge-episodes", "3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    (folder,) = [out / n for n in {p.name for p in out.iterdir()} - before]
    assert f"run folder: {folder}" in proc.stdout and "fine-tuned" in proc.stdout
    summary = read_json(folder / "summary.json")
    assert summary["training_env_steps"] == 3000 and summary["judged"]["episodes"] == 3
    shown = run_cli("show", folder.name, "--out", str(out))
    assert shown.returncode == 0 and "promptpo+td3" in shown.stdout, shown.stderr
    compared = run_cli("compare", folder.name, base_run.name, "--json", "--out", str(out))
    assert compared.returncode == 0, compared.stderr
    methods = {g["method"] for g in json.loads(compared.stdout)["groups"]}
    assert "promptpo+td3" in methods
    assert_other_settings_are_another_method(folder, base_run)
    verified = run_cli("verify", folder.name, "--episodes", "3", "--out", str(out))
    assert verified.returncode == 0, verified.stderr
    assert "verified: mean return" in verified.stdout and list((folder / "verifications").glob("*.json"))
    played = run_cli("play", folder.name, "--episodes", "2", "--video", str(out.parent / "ft.gif"), "--out", str(out))
    assert played.returncode == 0 and "mean return" in played.stdout, played.stderr
    assert (out.parent / "ft.gif").stat().st_size > 1000
    reported = run_cli("report", folder.name, "--out", str(out), "-o", str(out.parent / "ft.html"))
    assert reported.returncode == 0, reported.stderr
    assert "promptpo+td3" in (out.parent / "ft.html").read_text()
    from web import get, serve

    ui, port = serve(out)
    try:
        listed_status, listed = get(port, "/")
        page_status, page = get(port, f"/run/{folder.name}")
    finally:
        ui.kill()
        ui.wait()
    assert listed_status == 200 and folder.name in listed.decode() and "promptpo+td3" in listed.decode()
    assert page_status == 200 and "promptpo+td3" in page.decode()
    policy = promptpo.load_policy(folder.name, out=out)
    try:
        import gymnasium as gym

        env = gym.make("Pendulum-v1")
        obs, _ = env.reset(seed=3)
        policy.reset()
        action = policy.act(obs)
        assert action.shape == (1,) and -2.0 <= action[0] <= 2.0
        assert (policy.model is None) == (summary["judged"]["result"] == "base")
    finally:
        policy.close()


def test_the_time_input_is_the_same_in_training_evaluation_and_a_loaded_policy(base_run):
    """--inputs obs+base+time: a program that keeps a clock acts on more than the observation, so the learner may see
    the fraction of the episode gone, t / horizon, from 0 at every reset; training's env, the evaluated policy and a
    policy loaded from the folder give it the same input at the same step."""
    from promptpo.finetune.policy import config_of, weights_only
    from promptpo.finetune.residual import CombinedPolicy, Correction
    from promptpo.records import RunFolder

    cfg = config(base_run, inputs="obs+base+time", steps=400, eval_points=1)
    horizon = 200  # Pendulum-v1's
    finetuning = Finetuning(cfg, 0, start(cfg, 0))
    try:
        assert finetuning.env.observation_space.shape == (3 + 1 + 1,)
        for episode in range(2):
            seen = [finetuning.env.reset(seed=episode)[0][-1]]
            seen += [finetuning.env.step(np.zeros(1))[0][-1] for _ in range(4)]
            assert seen == pytest.approx([t / horizon for t in range(5)])
    finally:
        finetuning.close()

    class Recorder:  # what the evaluated policy hands its learner
        def __init__(self):
            self.inputs = []

        def predict(self, features, deterministic):
            self.inputs.append(features)
            return np.zeros(1), None

    class Base:
        def reset(self, episode=None):
            pass

        def act(self, obs):
            return np.array([0.5])

        def close(self):
            self.closed = True

    from promptpo.envs import load_spec

    recorder = Recorder()
    base = Base()
    with CombinedPolicy(base, recorder, Correction.of(load_spec(PENDULUM), cfg)) as policy:
        for _ in range(2):
            policy.reset()
            for _ in range(3):
                policy.act(np.zeros(3))
    assert [round(float(f[-1]) * horizon) for f in recorder.inputs] == [0, 1, 2, 0, 1, 2]
    assert all(f[-2] == pytest.approx(0.5 / 2.0) for f in recorder.inputs)  # the base's action, scaled
    assert base.closed  # leaving the with-block closes the base's worker

    folder = RunFolder(train(cfg, 0))
    loaded = config_of(folder)
    assert loaded.inputs == "obs+base+time"
    model = weights_only(loaded, Correction.of(load_spec(PENDULUM), loaded), folder.path / "model.zip", 0)
    assert model.observation_space.shape == (5,)
    assert model.predict(np.zeros(5, np.float32), deterministic=True)[0].shape == (1,)


def test_learners_from_scratch_share_the_trainer(tmp_path):
    """`promptpo baseline td3|sac|tqc`: no base, the learner's whole action range, the same curve layout."""
    proc = run_cli("baseline", "sac", PENDULUM, "--steps", "600", "--eval-points", "2", "--eval-episodes", "2",
                   "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    (folder,) = list(tmp_path.iterdir())
    meta, summary = read_json(folder / "run.json"), read_json(folder / "summary.json")
    assert meta["kind"] == "sac" and meta["base"] is None and not (folder / "base.py").exists()
    assert summary["env_steps"] == 600 and summary["base_env_steps"] == 0
    steps = [json.loads(line)["env_steps"] for line in (folder / "curve.jsonl").read_text().splitlines()]
    assert steps == [0, 300, 600]


@pytest.mark.parametrize("args, message", [
    (["finetune", "nosuchrun", "--steps", "100"], "no run folder 'nosuchrun'"),
    (["baseline", "td3", "gymnasium/CartPole-v1", "--steps", "100"], "actions are discrete"),
    (["baseline", "tqc", PENDULUM, "--steps", "0"], "--steps must be at least 1"),
    (["finetune", "BASE", "--steps", "100", "--residual-scale", "0"], "--residual-scale must be in (0, 2]"),
    (["finetune", "BASE", "--steps", "100", "--algo", "dqn"], "'dqn' is not one of"),
    (["finetune", "BASE", "--steps", "100", "--inputs", "time"], "'time' is not one of"),
    (["finetune", "BASE", "--steps", "100", "--rollback", "-0.1"], "--rollback must be a number of at least 0"),
    (["finetune", "BASE", "--steps", "100", "--rollback", "nan"], "--rollback must be a number of at least 0"),
    (["finetune", "BASE", "--steps", "100", "--rollback", "inf"], "--rollback must be a number of at least 0"),
    (["finetune", "BASE", "--steps", "100", "--penalty", "nan"], "--penalty must be at least 0"),
    (["finetune", "BASE", "--steps", "100", "--noise", "-0.1"], "--noise must be in (0, 1]"),
    (["finetune", "BASE", "--steps", "100", "--noise", "nan"], "--noise must be in (0, 1]"),
])
def test_bad_input_is_one_clear_line(base_run, args, message):
    args = [base_run.name if a == "BASE" else a for a in args]
    proc = run_cli(*args, "--out", str(base_run.parent))
    assert proc.returncode != 0 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("tuned, base, kept", [
    ([-900.0, -950.0, -920.0], [-1000.0, -1010.0, -990.0], "finetuned"),  # better on every episode
    ([-1100.0, -1150.0, -1120.0], [-1000.0, -1010.0, -990.0], "base"),   # worse
    ([-960.0, -1060.0, -985.0], [-1000.0, -1010.0, -990.0], "base"),     # higher mean, within noise
])
def test_the_judgement_keeps_the_fine_tuned_policy_only_when_it_is_better_beyond_noise(base_run, monkeypatch,
                                                                                        tuned, base, kept):
    from promptpo.finetune import train as training

    cfg = config(base_run, judge_episodes=3)
    finetuning = Finetuning(cfg, 0, start(cfg, 0))
    try:
        finetuning.point()  # step 0: the base is the best so far
        finetuning.state["best_at"] = 200  # as if a later evaluation had been better
        monkeypatch.setattr(training, "play", lambda policy, *a, **k: (tuned if policy.model is not None else base,
                                                                       [False] * 3, [200] * 3))
        judged = finetuning.judge()
    finally:
        finetuning.close()
    assert judged["result"] == kept and judged["finetuned_return"] == pytest.approx(np.mean(tuned))
    assert judged["base_return"] == pytest.approx(np.mean(base))


def test_optimize_then_finetune_as_its_last_stage(tmp_path):
    """`optimize --finetune td3:STEPS`: the run, then a fine-tuning of its best whose curve starts at its env steps."""
    out = tmp_path / "runs"
    model = scripted(tmp_path / "answers.jsonl", f"```python\n{SWING}```")
    proc = run_cli("optimize", PENDULUM, "--model", model, "--rounds", "1", "--candidates", "1", "--episodes", "2",
                   "--no-library", "--finetune", "td3:1k", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    (run,) = [p for p in out.iterdir() if "-finetune-" not in p.name]
    (tuned,) = [p for p in out.iterdir() if "-finetune-" in p.name]
    meta, summary = read_json(tuned / "run.json"), read_json(tuned / "summary.json")
    assert meta["base"]["run"] == run.name and meta["steps"] == 1000
    assert summary["env_steps"] == read_json(run / "summary.json")["env_steps"] + 1000
    assert proc.stdout.splitlines()[-1].startswith(f"run folder: {tuned}")
    assert read_json(run / "run.json")["then"] == {"finetune": "td3:1k"}


def test_a_resumed_run_runs_its_finetune_stage_in_the_runs_own_sandbox(tmp_path):
    """`optimize --sandbox docker --finetune td3:1k` stopped by Ctrl-C before its end: `promptpo resume` finishes
    the run, then fine-tunes its best, with the base program in the sandbox backend the run chose."""
    import os
    import signal

    from promptpo.api import run
    from promptpo.policy.config import OptimizeConfig

    out = tmp_path / "runs"
    model = scripted(tmp_path / "answers.jsonl", *[f"```python\n{SWING.replace('4.0', str(4.0 + i))}```"
                                                   for i in range(4)])

    def stop_after_the_first(kind, state):
        if kind == "candidate":
            os.kill(os.getpid(), signal.SIGINT)

    config = OptimizeConfig(env=PENDULUM, model=model, rounds=2, candidates=1, episodes=2, out=out,
                            add_to_library=False, sandbox="docker", workers=1)
    first = run(config, stop_after_the_first, then={"finetune": "td3:1k"})
    assert first.status == "interrupted" and not [p for p in out.iterdir() if "-finetune-" in p.name]
    proc = run_cli("resume", first.run_dir.name, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    (tuned,) = [p for p in out.iterdir() if "-finetune-" in p.name]
    meta = read_json(tuned / "run.json")
    assert meta["base"]["run"] == first.run_dir.name and meta["steps"] == 1000
    assert meta["config"]["sandbox"] == "docker"


@pytest.fixture(scope="module")
def stopped_with_a_stage(tmp_path_factory) -> Path:
    """An optimize run with `--finetune td3:1k` that Ctrl-C stopped after its first candidate."""
    import os
    import signal

    from promptpo.api import run
    from promptpo.policy.config import OptimizeConfig

    out = tmp_path_factory.mktemp("stage") / "runs"
    model = scripted(out.parent / "answers.jsonl", *[f"```python\n{SWING}```"] * 3)

    def stop_after_the_first(kind, state):
        if kind == "candidate":
            os.kill(os.getpid(), signal.SIGINT)

    config = OptimizeConfig(env=PENDULUM, model=model, rounds=2, candidates=1, episodes=2, out=out,
                            add_to_library=False, workers=1)
    first = run(config, stop_after_the_first, then={"finetune": "td3:1k"})
    assert first.status == "interrupted"
    return first.run_dir


@pytest.mark.parametrize("then", ["td3:1k", {"finetune": "td3:inf"}, {"finetune": "td3:1e400"},
                                  {"finetune": "bogus"}, {"finetune": ["td3", 1000]}, {"finetune": "td3:1k", "x": 1},
                                  {"finetune": "td3:-5"}, {"finetune": "\x1b]0;pwned\x07:1k"}, 7, None])
def test_a_tampered_stage_in_run_json_is_refused_in_one_line(stopped_with_a_stage, tmp_path, then):
    """A copied folder whose run.json says what follows the run: resume refuses anything but what promptpo writes,
    in one line naming run.json, before it continues the run (None: no stage, the run just finishes)."""
    folder = tmp_path / "runs" / stopped_with_a_stage.name
    shutil.copytree(stopped_with_a_stage, folder)
    meta = read_json(folder / "run.json")
    meta["then"], meta["seed"] = then, "x"  # the top-level seed is not what the stage runs with
    (folder / "run.json").write_text(json.dumps(meta))
    proc = run_cli("resume", folder.name, "--out", str(folder.parent))
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr and "\x1b" not in proc.stderr
    if then is None:
        assert proc.returncode == 0, proc.stderr
        assert not [p for p in folder.parent.iterdir() if "-finetune-" in p.name]
        return
    assert proc.returncode != 0 and "run.json" in proc.stderr, proc.stderr
    assert proc.stderr.strip().startswith("promptpo: error:") and len(proc.stderr.strip().splitlines()) == 1
    assert read_json(folder / "summary.json")["status"] == "interrupted"  # refused before it continued


def test_the_penalty_changes_what_the_actor_maximizes_not_the_critic(base_run):
    """--penalty: TD3's actor sees Q - w·mean|Q|·mean r² (zero at r = 0), the critic's forward is untouched."""
    import torch

    cfg = config(base_run, penalty=2.0)
    finetuning = Finetuning(cfg, 0, start(cfg, 0))
    try:
        critic = finetuning.model.critic
        obs = torch.randn(8, *finetuning.env.observation_space.shape)
        zero, big = torch.zeros(8, 1), torch.full((8, 1), 0.5)
        plain = type(critic).q1_forward(critic, obs, big)
        assert torch.allclose(critic.q1_forward(obs, zero), type(critic).q1_forward(critic, obs, zero))
        expected = plain - 2.0 * plain.abs().mean() * 0.25
        assert torch.allclose(critic.q1_forward(obs, big), expected)
        assert torch.allclose(critic(obs, big)[0], plain)  # the critic's own loss reads the plain Q
    finally:
        finetuning.close()
