"""Steps that carry no information: episodes that end at their first success, and cascade evaluation
(a first stage of episodes; the rest only for a candidate that can still beat the best)."""

from __future__ import annotations

import json

import pytest

from conftest import ANSWERS, only_run, read_json, run_cli
from promptpo.policy.cascade import decide
from promptpo.candidate import Candidate, fitness_of, ranked, sample_key
from promptpo.policy.evaluation import EpisodeResult, Evaluation, Stage
from promptpo.extract import check_program
from promptpo.outcome import Outcome

pytestmark = pytest.mark.slow


def evaluation(successes: list[int | None], returns: list[float] | None = None, stage: Stage | None = None,
               length: int = 500) -> Evaluation:
    """An Evaluation of finished episodes; ``successes`` holds each episode's success step (None: none)."""
    returns = returns or [10.0] * len(successes)
    episodes = [EpisodeResult(i, i, {}, r, s or length, s is not None, s, completed=True)
                for i, (s, r) in enumerate(zip(successes, returns))]
    return Evaluation(Outcome.OK, episodes, sum(e.length for e in episodes), 0.0, stage=stage)


def candidate(id_: str, result: Evaluation) -> Candidate:
    return Candidate(id_, 0, 0, "initial", None, 1, check_program("def act(obs):\n    return 0\n", "policy"), result)


def test_sooner_success_ranks_higher_whatever_the_cut_short_returns():
    sooner = evaluation([30, 30], returns=[50.0, 50.0])   # ended at step 30: little return collected
    later = evaluation([300, 300], returns=[900.0, 900.0])
    assert sooner.rank_key() > later.rank_key()
    assert evaluation([30, None]).rank_key() < later.rank_key()  # success rate comes first
    assert evaluation([None, None], [5.0, 5.0]).rank_key() > evaluation([None, None], [1.0, 1.0]).rank_key()


def test_a_stopped_candidate_ranks_after_complete_ones_and_is_never_complete():
    stopped = evaluation([20, 20], stage=Stage(2, 10, False, "below the best"))
    full = evaluation([400] * 5 + [None] * 5, stage=Stage(2, 10, True, "went on"))
    assert stopped.rank_key() > full.rank_key()  # on its two episodes it looks better ...
    assert not candidate("a", stopped).complete and candidate("b", full).complete
    assert [c.id for c in ranked([candidate("a", stopped), candidate("b", full)])] == ["b", "a"]  # ... but ranks after
    assert sample_key(full) > sample_key(stopped) > sample_key(None)
    assert fitness_of([sample_key(stopped), sample_key(full), sample_key(full), sample_key(None)]) == [1.0, 0.0, 0.0, 2.0]


def test_the_cascade_rule():
    none = evaluation([None, None])
    assert not decide(none, None, by_success=True)[0]  # nothing has succeeded: a stage without success stops
    assert decide(evaluation([40, None]), None, by_success=True)[0]
    best = evaluation([50] * 9 + [None])  # success rate 0.9
    passed, reason = decide(none, best, by_success=True)
    assert not passed and "0/2" in reason and "0.90" in reason
    assert decide(evaluation([60, None]), best, by_success=True)[0]
    weak = evaluation([50] + [None] * 9)  # success rate 0.1: two failures are no evidence of being worse
    assert decide(none, weak, by_success=True)[0]
    # return runs: more than one standard error below the best's mean stops
    best_return = evaluation([None] * 4, returns=[400.0, 500.0, 450.0, 450.0])
    assert not decide(evaluation([None, None], [100.0, 120.0]), best_return, by_success=False)[0]
    assert decide(evaluation([None, None], [430.0, 440.0]), best_return, by_success=False)[0]
    assert decide(evaluation([None, None], [1.0, 1.0]), None, by_success=False)[0]


def optimize(tmp_path, env: str, answers: str, *args: str):
    out = tmp_path / "runs"
    proc = run_cli("optimize", env, "--model", f"scripted:{ANSWERS / answers}", "--out", str(out), *args)
    assert proc.returncode == 0, proc.stderr
    return proc, only_run(out)


def episodes_of(run, candidate_id: str) -> list[dict]:
    return read_json(run / "candidates" / f"{candidate_id}.json")["evaluation"]["episodes"]


def test_episodes_end_at_their_first_success_and_every_step_is_counted(tmp_path):
    _, run = optimize(tmp_path, "metaworld/reach", "reach", "--episodes", "4", "--cascade", "0")
    episodes = episodes_of(run, "r00c0")
    assert all(e["success"] and e["ended_at_success"] and e["length"] == e["success_step"] < 100 for e in episodes)
    summary = read_json(run / "summary.json")
    assert summary["env_steps"] == sum(e["length"] for e in episodes) == read_json(
        run / "candidates" / "r00c0.json")["env_steps"]
    assert read_json(run / "run.json")["end_at_success"] is True
    prompt = (run / "llm" / "0001.prompt.md").read_text()
    assert "ends at that first successful step" in prompt and "never end early" not in prompt

    _, full = optimize(tmp_path / "full", "metaworld/reach", "reach", "--episodes", "4", "--cascade", "0",
                       "--full-episodes")
    long = episodes_of(full, "r00c0")
    assert all(e["length"] == 500 and not e["ended_at_success"] for e in long)
    assert [e["success_step"] for e in long] == [e["success_step"] for e in episodes]  # same episodes, same success
    assert read_json(full / "summary.json")["env_steps"] == 4 * 500
    assert "never end early" in (full / "llm" / "0001.prompt.md").read_text()


def test_a_candidate_that_fails_its_first_stage_stops_there_and_cannot_become_best(tmp_path):
    proc, run = optimize(tmp_path, "metaworld/pick-place", "pick_place", "--episodes", "10", "--candidates", "1",
                         "--rounds", "3")
    first = read_json(run / "candidates" / "r00c0.json")
    stage = first["evaluation"]["stage"]
    assert stage["episodes"] == 2 and stage["of"] == 10 and not stage["passed"] and "0/2" in stage["reason"]
    assert len(first["evaluation"]["episodes"]) == 2 and first["env_steps"] == 2 * 500
    assert first["score"]["complete"] is False
    second = read_json(run / "candidates" / "r01c0.json")
    assert second["parent"] == "r00c0" and second["evaluation"]["stage"]["passed"]
    assert len(second["evaluation"]["episodes"]) == 10 and second["score"]["success_rate"] == 1.0
    summary = read_json(run / "summary.json")
    assert summary["best_candidate"] == "r01c0" and summary["status"] == "target_reached"
    assert summary["env_steps"] == first["env_steps"] + second["env_steps"]
    # the model was told what happened to the stopped candidate
    refine = (run / "llm" / "0002.prompt.md").read_text()
    assert "First stage (2 of 10 episodes): 0/2 successes" in refine and "cannot be the best" in refine
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert [e["best"] for e in events if e["event"] == "candidate"] == [False, True]
    shown = run_cli("show", run.name, "--out", str(run.parent))
    assert "2 of 10 (stopped)" in shown.stdout
    verified = run_cli("verify", run.name, "--episodes", "5", "--out", str(run.parent))
    assert verified.returncode == 0 and "ended at their first success" in verified.stdout


def test_a_run_whose_candidates_all_stop_early_has_no_best(tmp_path):
    _, run = optimize(tmp_path, "metaworld/pick-place", "pick_place", "--episodes", "10", "--candidates", "1",
                      "--rounds", "1")
    summary = read_json(run / "summary.json")
    assert summary["best_candidate"] is None and not (run / "best.py").exists()
    assert summary["env_steps"] == 1000


def test_the_budget_reserves_a_full_evaluation_before_a_cascade_starts(tmp_path):
    _, run = optimize(tmp_path, "metaworld/pick-place", "pick_place", "--episodes", "10", "--candidates", "1",
                      "--rounds", "3", "--max-env-steps", "5500")
    summary = read_json(run / "summary.json")
    # 1000 steps spent on the stopped first stage; the next candidate might need 5000 more: not asked for
    assert summary["status"] == "budget_exhausted" and summary["env_steps"] == 1000 and summary["llm_calls"] == 1
    assert "5000 more" in summary["reason"]


def test_cascade_off_evaluates_every_candidate_in_full(tmp_path):
    _, run = optimize(tmp_path, "metaworld/pick-place", "pick_place", "--episodes", "4", "--candidates", "1",
                      "--rounds", "2", "--cascade", "0")
    first = read_json(run / "candidates" / "r00c0.json")
    assert first["evaluation"]["stage"] is None and len(first["evaluation"]["episodes"]) == 4
    assert read_json(run / "summary.json")["best_candidate"] == "r01c0"


class GoalSeeker:
    """Stands in for a trained PPO model: a proportional controller towards the goal."""

    def predict(self, obs, deterministic=True):
        import numpy as np

        move = np.clip(10.0 * (obs[:, 36:39] - obs[:, 0:3]), -1.0, 1.0)
        return np.hstack([move, np.zeros((len(obs), 1))]), None


def test_ppo_is_evaluated_under_the_same_episode_ending_rule():
    from promptpo.baselines.ppo import Evaluator as PPOEvaluator
    from promptpo.envs import load_spec

    spec = load_spec("metaworld/reach")
    episodes = spec.episodes(0, 2)
    ended = PPOEvaluator(spec, episodes, 0, end_at_success=True)
    full = PPOEvaluator(spec, episodes, 0, end_at_success=False)
    try:
        (short, _, success_short), (long, _, success_long) = ended(GoalSeeker(), None), full(GoalSeeker(), None)
    finally:
        ended.close()
        full.close()
    assert success_short == success_long == 1.0
    assert short < long / 3  # the steps after success (collecting reward at the goal) were not run
