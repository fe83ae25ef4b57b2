"""SAM-HRL-HS (promptpo.baselines.hrl): the manager, its workers and regions, the fitted HyperScore, the LLM manager."""

from __future__ import annotations

import json

import numpy as np
import pytest

from promptpo.baselines import hyperscore
from promptpo.baselines.hrl import WORKERS, HRLConfig, Manager, Worker, run_hrl
from promptpo.baselines.hyperparams import for_env
from promptpo.baselines.regions import SPACE, hyperparams, regions
from promptpo.baselines.tuners import SearchConfig
from promptpo.stats import hyperscore as score

from conftest import run_cli

CARTPOLE = "gymnasium/CartPole-v1"


def test_a_rigged_reward_makes_the_manager_prefer_its_region_and_worker():
    manager = Manager(len(WORKERS), len(regions()), seed=0)
    for _ in range(300):
        w, r = manager.choose()
        manager.update(w, r, 1.0 if (r == 7 and w == 2) else 0.0)
    pw, pr = manager.probabilities()
    assert pr.argmax() == 7 and pr[7] > 0.5 and pw.argmax() == 2 and pw[2] > 0.5
    fresh = Manager(len(WORKERS), len(regions()), seed=0)
    assert np.allclose(fresh.probabilities()[1], 1 / len(regions()))  # it was the rewards, not the start


@pytest.mark.parametrize("name", WORKERS)
def test_workers_stay_inside_their_region(name):
    hp = for_env(CARTPOLE)
    worker = Worker(name, seed=3)
    rng = np.random.default_rng(0)
    for region in regions()[::4]:
        for _ in range(6):
            trial, unit = worker.ask(region)
            assert region.contains(unit), (region, unit)
            values = hyperparams(unit, hp).values
            for k, d in enumerate(SPACE):  # the real values too: inside the region's part of each range
                lo, hi = region.bounds(k)
                inside = [d.value(lo + (hi - lo) * j / 50, hp) for j in range(51)]
                assert min(inside) - 1e-12 <= values[d.name] <= max(inside) + 1e-12, (d.name, region)
            worker.tell(region, trial, float(rng.normal()))
    assert values["n_steps"] * values["n_envs"] % values["batch_size"] == 0


def test_the_fit_raises_the_correlation_over_the_default_parameters():
    rng = np.random.default_rng(1)
    early = list(rng.uniform(0.01, 1.0, 40))
    final = [float(np.log(v)) + rng.normal(0, 0.05) for v in early]  # final returns follow ln(V), not a sigmoid
    fitted = hyperscore.fit(early, final, seed=0, trials=25)
    default = hyperscore._pearson([score(v) for v in early], final)
    assert fitted.trials == 40 and fitted.pearson >= default + 0.05 and fitted.pearson > 0.9
    for name, (low, high) in hyperscore.BOUNDS.items():
        assert low <= getattr(fitted, name) <= high
    assert fitted.spearman > 0.9  # the same for any increasing transform: recorded, not fitted


def test_a_small_search_counts_every_trials_steps_and_records_the_fit(tmp_path):
    search = SearchConfig(CARTPOLE, steps=8192, trial_steps=2048, eval_episodes=2, out=tmp_path)
    folder = run_hrl(HRLConfig(search, trials_per_activation=2, warmup=3, refit_every=1), seed=0)
    summary = json.loads((folder / "summary.json").read_text())
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    trials = [e for e in events if e["event"] == "trial"]
    curve = [json.loads(line) for line in (folder / "curve.jsonl").read_text().splitlines()]
    assert summary["trials"] == len(trials) == 4 and summary["env_steps"] == sum(t["steps"] for t in trials) == 8192
    assert curve[-1]["env_steps"] == 8192 and curve[-1]["episodes"] == summary["episodes"] > 0
    fits = [e for e in events if e["event"] == "hyperscore_fit"]
    assert [f["trials"] for f in fits] == [3, 4] and summary["hyperscore_fit"]["trials"] == 4
    assert all(k in summary["hyperscore_fit"] for k in ("beta", "gamma", "kappa", "pearson", "spearman"))
    assert all(100 <= t["hyperscore"] <= 200 for t in trials)
    activations = [e for e in events if e["event"] == "activation"]
    assert len(activations) == 2 and all(e["chooser"] == "manager" for e in activations)
    for t in trials:  # each trial ran where its activation sent it
        assert regions()[t["region"]].contains(t["unit"])
    shown = run_cli("compare", str(folder))
    assert shown.returncode == 0 and "hrl" in shown.stdout
    fit = summary["hyperscore_fit"]
    scored = run_cli("compare", str(folder), "--hyperscore-from", str(folder), "--json")
    assert scored.returncode == 0, scored.stderr
    data = json.loads(scored.stdout)
    [group] = data["groups"]
    final = summary["final_return"]
    assert group["hyperscore"] == pytest.approx(score(min(1.0, max(1e-6, final / 475)), fit["beta"], fit["gamma"],
                                                      fit["kappa"]))
    assert any(f"kappa {fit['kappa']:.4g}" in note for note in data["notes"])
    refused = run_cli("compare", str(folder), "--hyperscore-from", str(tmp_path / "nowhere"))
    assert refused.returncode != 0 and "no run folder" in refused.stderr


def test_an_llm_manager_is_obeyed_and_an_unusable_answer_falls_back_and_is_recorded(tmp_path):
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"content": a}) + "\n" for a in [
        'I would try random search in the low learning rates: {"worker": "random", "region": 3}',
        "TPE, somewhere sensible.",
        '{"worker": "cmaes", "region": 999}']))
    done = run_cli("baseline", "hrl", CARTPOLE, "--steps", "6144", "--trial-steps", "2048", "--trials-per-activation",
                   "1", "--eval-episodes", "2", "--manager", "llm", "--model", f"scripted:{answers}", "--out",
                   str(tmp_path / "runs"))
    assert done.returncode == 0, done.stderr[-2000:]
    [folder] = list((tmp_path / "runs").iterdir())
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    activations = [e for e in events if e["event"] == "activation"]
    assert [(a["chooser"], a["worker"], a["region"]) for a in activations][0] == ("llm", "random", 3)
    assert [a["chooser"] for a in activations] == ["llm", "fallback", "fallback"]
    fallbacks = [e for e in events if e["event"] == "manager_fallback"]
    assert "no JSON object" in fallbacks[0]["reason"] and "not an index from 0 to 30" in fallbacks[1]["reason"]
    assert [(a["worker"], a["region"]) for a in activations[1:]] == [(f["worker"], f["region"]) for f in fallbacks]
    prompt = (folder / "llm" / "0002.prompt.md").read_text()
    assert "trial 0: worker random, region 3" in prompt and '"worker": "tpe", "region": 0' in prompt
    assert (folder / "llm" / "0003.response.md").read_text() == '{"worker": "cmaes", "region": 999}'
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["choosers"] == {"manager": 0, "llm": 1, "fallback": 2}
    responses = [e for e in events if e["event"] == "llm_response"]
    assert summary["llm_calls"] == 3 == len(responses)  # compare and the runs page read these
    assert summary["prompt_tokens"] == sum(e["prompt_tokens"] for e in responses) > 0
    assert summary["completion_tokens"] == sum(e["completion_tokens"] for e in responses) > 0


def test_bad_hrl_options_are_one_line_errors(tmp_path):
    small = run_cli("baseline", "hrl", CARTPOLE, "--steps", "4096", "--trial-steps", "512", "--out", str(tmp_path))
    assert small.returncode != 0 and "--trial-steps 512 is less than two of the longest PPO rollouts" in small.stderr
    assert "Traceback" not in small.stderr
    no_model = run_cli("baseline", "hrl", CARTPOLE, "--steps", "4096", "--trial-steps", "2048", "--manager", "llm",
                       "--out", str(tmp_path))
    assert no_model.returncode != 0 and "--manager llm needs an LLM" in no_model.stderr
