"""Hyperparameter schedules: sandboxed calls that steer SB3's PPO, validation, faults, online mode."""

from __future__ import annotations

import json
import signal
import tempfile
from pathlib import Path

import pytest

import stable_baselines3  # noqa: F401 - a hard requirement here: CI installs promptpo[baselines]
from conftest import ANSWERS, only_run, read_json, run_cli
from promptpo.baselines.hyperparams import for_env
from promptpo.baselines.ppo import Trainer
from promptpo.envs import load_spec
from promptpo.isolation.base import Limits
from promptpo.isolation.process import ProcessSandbox
from promptpo.schedule.steering import current, schedule_callback, validate


def train(code: str, steps: int = 2048, every: int = 1, limits: Limits | None = None):
    spec = load_spec("gymnasium/CartPole-v1")
    trainer = Trainer(spec, for_env(spec.id), 0, spec.episodes(0, 2))
    with ProcessSandbox() as sandbox:
        callback = schedule_callback(code, sandbox, limits or Limits(act_timeout_s=1.0), every, steps)
        trainer.learn(steps, 2, callbacks=(callback,))
    values = current(trainer.model)
    lr = trainer.model.policy.optimizer.param_groups[0]["lr"]
    trainer.close()
    return callback, values, lr, trainer


def test_validate_applies_refuses_and_clips():
    applied, refused = validate({"learning_rate": 3e-4, "ent_coef": 0.5, "warp": 1, "vf_coef": "x",
                                 "clip_range": float("nan"), "target_kl": None})
    assert applied == {"learning_rate": 3e-4, "target_kl": None}
    assert len(refused) == 4 and any("outside" in r for r in refused) and any("not adjustable" in r for r in refused)
    assert validate([1, 2])[1] == ["returned list, expected a dict of hyperparameters"]
    clipped, notes = validate({"learning_rate": 5.0}, clip=True)
    assert clipped == {"learning_rate": 0.01} and "clipped" in notes[0]


def test_a_sandboxed_schedule_changes_ppo_mid_training():
    code = ("def schedule(progress, metrics):\n"
            "    return {'learning_rate': 1e-3 * (1 - progress) + 1e-5, 'ent_coef': 0.02, 'vf_coef': 0.7}\n")
    callback, values, lr, trainer = train(code)
    assert callback.fault is None and len(callback.calls) == 2048 // 256
    rates = [c.applied["learning_rate"] for c in callback.calls]
    assert rates == sorted(rates, reverse=True) and rates[0] > rates[-1]
    assert values["learning_rate"] == pytest.approx(rates[-1]) and lr == pytest.approx(rates[-1])  # read back
    assert values["ent_coef"] == 0.02 and values["vf_coef"] == 0.7
    first = callback.calls[0]
    assert 0 < first.progress < 1 and first.returned["ent_coef"] == 0.02
    assert trainer.curve and trainer.model.num_timesteps >= 2048


def test_the_schedule_sees_the_last_updates_losses():
    code = ("LOSSES = ('value_loss', 'policy_loss', 'entropy', 'approx_kl', 'clip_fraction', 'explained_variance')\n"
            "def schedule(progress, metrics):\n"
            "    seen = all(metrics[k] is not None for k in LOSSES)\n"
            "    return {'ent_coef': 0.02 if seen else 0.0, 'vf_coef': 1.0 if metrics['recent_returns'] else 0.5,\n"
            "            'learning_rate': metrics['hyperparameters']['learning_rate'] * 0.5}\n")
    callback, _, _, _ = train(code, steps=1024)
    first, *later = callback.calls
    assert first.applied["ent_coef"] == 0.0  # before the first update there are no losses yet
    assert later and all(c.applied["ent_coef"] == 0.02 and c.applied["vf_coef"] == 1.0 for c in later)
    rates = [c.applied["learning_rate"] for c in callback.calls]
    assert rates[1] == pytest.approx(rates[0] / 2)  # it saw the value it set: halving compounds


def test_out_of_bounds_and_malformed_answers_are_refused_and_recorded():
    code = ("def schedule(progress, metrics):\n"
            "    if progress < 0.5:\n        return {'learning_rate': 10.0, 'clip_range': 0.1}\n"
            "    return ['not', 'a', 'dict']\n")
    callback, values, _, _ = train(code)
    assert callback.fault is None
    assert callback.calls[0].applied == {"clip_range": 0.1} and "outside" in callback.calls[0].refused[0]
    assert callback.calls[-1].applied == {} and "expected a dict" in callback.calls[-1].refused[0]
    assert values["learning_rate"] != 10.0 and values["clip_range"] == 0.1


@pytest.mark.parametrize("body, outcome", [("    while True:\n        pass", "timeout"),
                                           ("    raise RuntimeError('boom')", "crashed"),
                                           ("    return {'learning_rate': float('nan')}", "invalid_result")])
def test_a_hanging_or_crashing_schedule_is_switched_off_and_training_goes_on(body, outcome):
    code = f"def schedule(progress, metrics):\n{body}\n"
    callback, values, _, trainer = train(code, limits=Limits(act_timeout_s=0.5))
    assert callback.fault is not None and callback.fault.startswith(outcome)
    assert len(callback.calls) == 1 and callback.calls[0].fault == callback.fault
    assert trainer.model.num_timesteps >= 2048 and trainer.curve  # training finished anyway


def test_schedule_mode_through_the_cli(tmp_path):
    out = tmp_path / "runs"
    proc = run_cli("schedule", "gymnasium/CartPole-v1", "--model", f"scripted:{ANSWERS / 'schedule'}", "--steps",
                   "4096", "--rounds", "1", "--candidates", "2", "--eval-points", "2", "--eval-episodes", "2",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    run = only_run(out)
    meta, summary = read_json(run / "run.json"), read_json(run / "summary.json")
    assert meta["kind"] == "schedule" and summary["llm_calls"] == 2 and summary["env_steps"] == 2 * 4096
    for cid in ("r00c0", "r00c1"):
        record = read_json(run / "candidates" / f"{cid}.json")
        assert record["outcome"] == "ok" and record["schedule_calls"] and record["curve"]
        assert "def schedule" in (run / "candidates" / f"{cid}.py").read_text()
    assert summary["best_candidate"] in ("r00c0", "r00c1")
    assert "schedules" in proc.stderr and "8192/8192" in proc.stderr  # the progress bar: 2 x 4096 steps
    compared = run_cli("compare", str(run), "--json")
    assert json.loads(compared.stdout)["groups"][0]["method"] == f"promptpo schedule (scripted:{ANSWERS / 'schedule'})"


def test_online_mode_applies_and_records_scripted_answers(tmp_path):
    out = tmp_path / "runs"
    proc = run_cli("schedule", "gymnasium/CartPole-v1", "--online", "--model",
                   f"scripted:{ANSWERS / 'online' / 'answers.jsonl'}", "--steps", "8500", "--interval", "2000",
                   "--eval-points", "2", "--eval-episodes", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    run = only_run(out)
    decisions = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()
                 if '"online_decision"' in line]
    assert [d["env_steps"] for d in decisions] == [0, 2000, 4000, 6000, 8000]  # a say before training, too
    assert decisions[0]["applied"] == {}
    assert decisions[1]["applied"] == {"learning_rate": 0.0005}
    assert decisions[2]["applied"] == {"learning_rate": 0.0002, "clip_range": 0.15}
    assert decisions[3]["applied"] == {} and "no JSON object" in decisions[3]["refused"][0]
    assert decisions[4]["applied"] == {"learning_rate": 0.01} and any("not adjustable" in r for r in decisions[4]["refused"])
    last = (run / "llm" / "0005.prompt.md").read_text()  # each past decision with what was measured after it
    assert "at 0 steps: kept the current values; no evaluation since" in last
    grid = read_json(run / "run.json")["eval_every"]
    assert grid % 256 == 0 and abs(grid - 8448 / 2) <= 128  # --steps (in whole rollouts) / 2, in whole rollouts
    assert f"at 4000 steps: set {{'learning_rate': 0.0002, 'clip_range': 0.15}}; evaluations since: {grid} steps" in last
    for call in range(1, 6):
        assert (run / "llm" / f"{call:04d}.prompt.md").exists() and (run / "llm" / f"{call:04d}.response.md").exists()
    prompt = (run / "llm" / "0001.prompt.md").read_text()  # one system message of its own: JSON, clipped bounds
    assert "python" not in prompt.lower().split("# training so far")[0] and "one JSON object" in prompt
    assert "clipped to the nearest bound" in prompt and "refused, and the old value stays" not in prompt
    summary = read_json(run / "summary.json")
    assert summary["status"] == "completed" and summary["llm_calls"] == 5 and read_json(run / "run.json")["kind"] == "online"
    assert "online" in proc.stderr and "8448/8448" in proc.stderr and "best None" not in proc.stderr  # progress
    assert summary["env_steps"] == 8448  # 33 whole rollouts of 256: never past --steps 8500


def test_schedule_budget_below_one_rollout_is_refused(tmp_path):
    proc = run_cli("schedule", "gymnasium/Pendulum-v1", "--model", f"scripted:{ANSWERS / 'schedule'}", "--steps",
                   "3000", "--out", str(tmp_path / "runs"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--steps 3000 is less than one PPO rollout for gymnasium/Pendulum-v1 (4096 env steps" in proc.stderr


def test_optuna_baseline_counts_every_trial_and_compares(tmp_path):
    out = tmp_path / "runs"
    proc = run_cli("baseline", "optuna", "gymnasium/CartPole-v1", "--steps", "6144", "--trial-steps", "2048",
                   "--eval-points", "2", "--eval-episodes", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    run = only_run(out)
    summary = read_json(run / "summary.json")
    assert read_json(run / "run.json")["kind"] == "optuna" and summary["trials"] == 3
    assert summary["env_steps"] <= 6144 and summary["env_steps"] >= 2048
    curve = [json.loads(line) for line in (run / "curve.jsonl").read_text().splitlines()]
    assert curve[-1]["env_steps"] == summary["env_steps"]  # every trial's steps are in the curve
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    measured = [e["this_return"] for e in events if e["event"] == "eval"]
    assert [p["mean_return"] for p in curve] == measured  # what was measured, not a running maximum
    lasts = {}
    for e in events:
        if e["event"] == "eval":
            lasts[e["trial"]] = e["this_return"]
    assert summary["final_return"] == max(lasts.values())  # the best trial's last evaluation
    assert read_json(run / "run.json")["eval_every"] == 3072  # --steps 6144 / --eval-points 2
    assert "optuna seed 0" in proc.stderr and f"{summary['env_steps']}/6144" in proc.stderr  # the progress bar
    compared = json.loads(run_cli("compare", str(run), "--json").stdout)
    assert compared["groups"][0]["method"] == "optuna"


def test_pbt_baseline_with_a_local_ray(tmp_path):
    import ray

    from promptpo.baselines.tuners import SearchConfig, run_pbt, start_ray

    tune_files = set(Path(tempfile.gettempdir()).glob("promptpo-pbt-*"))
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGUSR1)
    start_ray(num_cpus=2)
    try:
        seen: list[int] = []
        run = run_pbt(SearchConfig("gymnasium/CartPole-v1", 8192, 1024, eval_episodes=2, population=4,
                                   out=tmp_path / "runs"), 0, lambda spent, best: seen.append(spent))
    finally:
        ray.shutdown()
    # Ray Tune's handlers, left installed, swallowed the next Ctrl-C of any later run in this process
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGUSR1)) == handlers
    summary, meta = read_json(run / "summary.json"), read_json(run / "run.json")
    assert meta["kind"] == "pbt" and meta["population"] == 4 and summary["status"] == "completed"
    assert summary["env_steps"] == 8192  # every member trains exactly its share (2048 = 8 rollouts), all counted
    assert seen[-1] == 8192 and max(seen) == 8192  # the progress bar's numbers
    assert set(Path(tempfile.gettempdir()).glob("promptpo-pbt-*")) - tune_files == set()  # Tune's checkpoints removed
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines() if '"eval"' in line]
    assert len({e["trial"] for e in events}) == 4  # the members
    decisions = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()
                 if '"pbt_decision"' in line]
    assert all(d["message"].startswith(("[PopulationBasedTraining]", "[pbt]")) for d in decisions)
    compared = json.loads(run_cli("compare", str(run), "--json").stdout)
    assert compared["groups"][0]["method"] == "pbt"


def test_pbt_decisions_are_recorded_not_printed(caplog):
    import logging

    from promptpo.baselines.tuners import _Decisions

    caplog.set_level(logging.INFO)
    with _Decisions() as decisions:
        logging.getLogger("ray.tune.schedulers.pbt").info("\n[PopulationBasedTraining] [Exploit] Cloning a into b\n")
    assert decisions.messages == ["[PopulationBasedTraining] [Exploit] Cloning a into b"]
    assert "Cloning" not in caplog.text  # not passed on to the terminal's handlers
    logging.getLogger("ray.tune.schedulers.pbt").info("after")
    assert decisions.messages == ["[PopulationBasedTraining] [Exploit] Cloning a into b"] and "after" in caplog.text


def test_offline_schedules_verify_audit_and_export(tmp_path):
    out = tmp_path / "runs"
    proc = run_cli("schedule", "gymnasium/CartPole-v1", "--model", "offline", "--steps", "2048", "--rounds", "1",
                   "--eval-points", "2", "--eval-episodes", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    run = only_run(out)
    summary = read_json(run / "summary.json")
    assert summary["llm_calls"] == 0 and summary["proposals"] == summary["candidates"] >= 4
    code = (run / "candidates" / "r00c0.py").read_text()
    assert "def schedule(progress, metrics)" in code and "CMA-ES" in code
    refused = run_cli("verify", run.name, "--episodes", "2", "--out", str(out))
    assert refused.returncode != 0 and "--seeds" in refused.stderr and "Traceback" not in refused.stderr
    checked = run_cli("verify", run.name, "--seeds", "2", "--out", str(out))
    assert checked.returncode == 0, checked.stderr
    verification = read_json(next((run / "verifications").glob("*.json")))
    assert verification["seeds"] == [1, 2] and verification["judged_on"] == "area under the curve"
    assert verification["test"].startswith("one-sided") and len(verification["verified"]) == 2
    replays = [out / name for name in verification["folders"]]
    for seed, folder in zip((1, 2), replays):  # laid out like a PPO run of that seed, on the same grid
        meta = read_json(folder / "run.json")
        assert meta["seed"] == seed and meta["status"] == "completed"
        assert meta["eval_every"] == read_json(run / "run.json")["eval_every"]
        assert read_json(folder / "summary.json")["auc"] == pytest.approx(verification["verified"][seed - 1])
        assert (folder / "curve.jsonl").read_text().count("\n") >= 2
    ppo = run_cli("baseline", "ppo", "gymnasium/CartPole-v1", "--steps", "2048", "--seeds", "2", "--first-seed", "1",
                  "--eval-points", "2", "--eval-episodes", "2", "--workers", "1", "--out", str(tmp_path / "ppo"))
    assert ppo.returncode == 0, ppo.stderr
    for replay, static in zip(replays, sorted((tmp_path / "ppo").iterdir(), key=lambda f: read_json(f / "run.json")["seed"])):
        assert read_json(replay / "run.json")["eval"] == read_json(static / "run.json")["eval"]  # same episodes, grid
    compared = json.loads(run_cli("compare", *map(str, replays), str(tmp_path / "ppo" / "*"), "--json").stdout)
    groups = {g["method"]: g for g in compared["groups"]}
    replayed = next(g for m, g in groups.items() if m.endswith("on fresh seeds"))
    assert replayed["seeds"] == groups["ppo"]["seeds"] == [1, 2] and replayed["vs_ppo"] is not None
    audit = json.loads(run_cli("audit", run.name, "--json", "--out", str(out)).stdout)
    assert len(audit) == summary["candidates"] and all(r["outcome"] == "ok" for r in audit)
    exported = tmp_path / "schedule.py"
    assert run_cli("export", run.name, "-o", str(exported), "--out", str(out)).returncode == 0
    assert "def schedule" in exported.read_text()


def test_a_curve_at_the_target_is_not_called_stalled_and_every_change_is_listed():
    from promptpo.envspec import Target
    from promptpo.stats import CurvePoint
    from promptpo.schedule.task import Training, digest
    from promptpo.schedule.steering import ScheduleCall

    curve = [CurvePoint(1000 * i, i, r) for i, r in enumerate([100.0, 500.0, 500.0, 500.0, 500.0], start=1)]
    calls = [ScheduleCall(256 * i, round(i / 20, 4), applied={"learning_rate": 1e-4 * i}) for i in range(1, 4)]
    training = Training(curve, calls, None, 5000, 420.0, 2000)
    lines = digest(training, Target("mean_return", 475.0))
    assert not any("stalled" in line for line in lines) and any("reached the target" in line for line in lines)
    changes = next(line for line in lines if "changed values" in line)
    assert changes.count(" set ") == 3 and "at 768 steps" in changes
    assert any("stalled" in line for line in digest(Training(curve, [], None, 5000, 420.0, None)))  # no target known


def test_schedule_prompts_carry_the_facts_a_schedule_needs(tmp_path):
    from promptpo.schedule.task import ScheduleConfig, ScheduleTask
    from promptpo.envs import load_spec
    from promptpo.isolation import make_sandbox

    config = ScheduleConfig(env="gymnasium/CartPole-v1", steps=2048, out=tmp_path)
    with make_sandbox("process") as box:
        task = ScheduleTask(config, load_spec(config.env), box)
        text = task.prompts.first(0).messages[1].content
    for fact in ("learning_rate 0.0003", "lin_X", "replaces that decay", "mean return >= 475",
                 "module-level variables keep their values"):
        assert fact in text, fact


def test_a_schedule_is_called_a_lucky_seed_only_when_fresh_seeds_do_significantly_worse():
    from promptpo.schedule.retrain import _verdict, fresh_seeds
    from promptpo.errors import ConfigError
    from promptpo.stats import CurvePoint
    from promptpo.schedule.task import ScheduleConfig, Training

    def trainings(aucs):
        return [Training([CurvePoint(1000, 1, a)], [], None, 1000, a, None) for a in aucs]

    config = ScheduleConfig(env="gymnasium/CartPole-v1")
    record = {"score": {"auc": 300.0, "mean_return": 480.0}}
    worse = _verdict(record, config, trainings([150.0, 160.0, 170.0, 155.0, 165.0]), None)
    assert worse["gap"] and "lucky seed" in worse["verdict"] and worse["p_value"] < 0.05
    better = _verdict(record, config, trainings([400.0, 420.0, 410.0, 430.0, 405.0]), None)
    assert not better["gap"] and better["p_value"] > 0.5
    same = _verdict(record, config, trainings([250.0, 350.0, 290.0, 320.0, 280.0]), None)
    assert not same["gap"] and same["verified_ci95"][0] < 300 < same["verified_ci95"][1]
    steps = ScheduleConfig(env="gymnasium/CartPole-v1", criterion="steps", steps=50_000)
    slow = [Training([CurvePoint(1000, 1, 100.0)], [], None, 50_000, 100.0, None, "steps") for _ in range(3)]
    judged = _verdict({"score": {"auc": 100.0, "steps_to_threshold": 20_000}}, steps, slow, None)
    assert judged["gap"] and judged["verified"] == [50_000] * 3  # never reached: the whole training
    assert fresh_seeds(0, 3, None) == [1, 2, 3]
    with pytest.raises(ConfigError, match="not fresh"):
        fresh_seeds(4, 3, 2)
