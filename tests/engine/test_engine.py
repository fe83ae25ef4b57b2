"""The one run engine: a task kind plugs in, and policy and schedule runs both go through it."""

from __future__ import annotations

import pytest

from conftest import ANSWERS, only_run, read_json, run_cli
from guess_kind import GuessTask, answers
from promptpo.engine.config import Budgets, RunConfig
from promptpo.engine.run import Engine
from promptpo.engine.store import RunStore
from promptpo.llm import make_backend
from promptpo.llm.base import GenParams


def test_a_new_task_kind_needs_only_its_class(tmp_path):
    task = GuessTask()
    config = RunConfig(env="toy/guess", rounds=3, candidates=2)
    engine = Engine(task, config, make_backend(answers(tmp_path, 10, 40, 41, 42, 0, 0), GenParams()),
                    RunStore.create(tmp_path, "run"))
    state = engine.execute()
    assert state.status == "target_reached" and state.best.id == "r01c1"
    assert task.calls == {"evaluate": 4, "record_fields": 4, "after_round": 1}
    refine = (engine.store.root / "llm" / "0003.prompt.md").read_text()
    assert "Improve on schedule r00c1" in refine  # round 1 slot 0 refines the best so far
    summary = read_json(engine.store.root / "summary.json")
    assert summary["best_score"] == 0.0 and summary["env_steps"] == 40 and summary["llm_calls"] == 4


def test_the_engine_reserves_budget_before_it_evaluates(tmp_path):
    task = GuessTask()
    config = RunConfig(env="toy/guess", rounds=5, candidates=1, budgets=Budgets(max_env_steps=25))
    engine = Engine(task, config, make_backend(answers(tmp_path, 1, 2, 3, 4, 5), GenParams()),
                    RunStore.create(tmp_path, "run"))
    state = engine.execute()
    assert state.status == "budget_exhausted" and state.env_steps == 20 and task.calls["evaluate"] == 2


def test_policy_and_schedule_runs_go_through_the_same_engine(tmp_path, monkeypatch):
    import promptpo
    from promptpo.api import run_schedule
    from promptpo.schedule.task import ScheduleConfig

    seen: list[tuple[str, str]] = []
    save = Engine.save  # every candidate of every kind is saved through it

    def counting(self, candidate):
        seen.append((self.task.name, candidate.id))
        return save(self, candidate)

    monkeypatch.setattr(Engine, "save", counting)
    promptpo.optimize("gymnasium/CartPole-v1", f"scripted:{ANSWERS / 'cartpole'}", out=tmp_path / "a", rounds=1,
                      candidates=1)
    run_schedule(ScheduleConfig(env="gymnasium/CartPole-v1", model=f"scripted:{ANSWERS / 'schedule'}", steps=1024,
                                rounds=1, candidates=1, eval_points=1, eval_episodes=1, out=tmp_path / "b"))
    assert seen == [("promptpo", "r00c0"), ("schedule", "r00c0")]


@pytest.mark.parametrize("command", ["optimize", "schedule"])
def test_every_run_option_is_on_both_commands(command):
    text = run_cli(command, "--help").stdout
    for option in ("--max-llm-calls", "--max-env-steps", "--max-cost", "--max-time", "--max-repairs",
                   "--prompt-budget", "--rounds", "--candidates", "--sandbox", "--seed", "--temperature", "--api-base"):
        assert option in text, option


def test_a_schedule_run_obeys_the_llm_call_budget(tmp_path):
    out = tmp_path / "runs"
    proc = run_cli("schedule", "gymnasium/CartPole-v1", "--model", f"scripted:{ANSWERS / 'schedule'}", "--steps",
                   "1024", "--rounds", "3", "--candidates", "2", "--eval-points", "1", "--eval-episodes", "1",
                   "--max-llm-calls", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    summary = read_json(only_run(out) / "summary.json")
    assert summary["status"] == "budget_exhausted" and summary["llm_calls"] == 1 and summary["candidates"] == 1


def test_a_wave_stops_evaluating_when_its_first_candidate_reaches_the_target(tmp_path):
    # Three answers asked together, one worker: the first hits 42, so the other two are never evaluated.
    task = GuessTask()
    config = RunConfig(env="toy/guess", rounds=2, candidates=3, workers=1)
    engine = Engine(task, config, make_backend(answers(tmp_path, 42, 41, 40), GenParams()),
                    RunStore.create(tmp_path, "run"))
    state = engine.execute()
    assert state.status == "target_reached" and state.reason == "r00c0 reached mean return >= 0"
    assert task.calls["evaluate"] == 1 and state.env_steps == 10 and state.llm_calls == 3
    records = [read_json(engine.store.root / "candidates" / f"r00c{i}.json") for i in range(3)]
    assert [r["outcome"] for r in records] == ["ok", "not_evaluated", "not_evaluated"]  # answers kept, not run
    assert all(r["error"] == "r00c0 reached mean return >= 0 before its evaluation started" and r["env_steps"] == 0
               for r in records[1:])
    summary = read_json(engine.store.root / "summary.json")
    assert summary["status"] == "target_reached" and summary["env_steps"] == 10 and summary["candidates"] == 3
