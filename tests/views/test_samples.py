"""promptpo.views.samples: which runs a comparison samples (distinct seeds of one method, finished runs unless asked),
and reading the run folders patterns name, one unreadable folder among others left out with why."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import FIXTURES
from promptpo.errors import RunStoreError
from promptpo.records import Method
from promptpo.views.samples import RunRecord, find_runs, load_run, samples


def record(name: str, seed: int | None, method: Method = Method("ppo"), unfinished: str = "",
           env: str = "gymnasium/CartPole-v1") -> RunRecord:
    facts = SimpleNamespace(finished=not unfinished, unfinished=unfinished, method=method)
    return RunRecord(Path("runs") / name, env, method.name, seed, [], {}, facts)


def names(records: list[RunRecord]) -> list[str]:
    return [r.path.name for r in records]


def test_an_unfinished_run_is_left_out_with_why_unless_asked():
    runs = [record("20260101-a", 0), record("20260102-b", 1, unfinished="interrupted after 10 env steps")]
    kept, excluded = samples(runs)
    assert names(kept) == ["20260101-a"]
    assert excluded == ["20260102-b (gymnasium/CartPole-v1, ppo, seed 1): not finished — interrupted after 10 env "
                        "steps; --include-unfinished to count it"]
    kept, excluded = samples(runs, include_unfinished=True)
    assert names(kept) == ["20260101-a", "20260102-b"] and excluded == []


def test_a_second_run_of_a_seed_is_a_repeat_and_the_first_by_run_id_is_the_seeds():
    runs = [record("20260105-late", 0), record("20260101-early", 0), record("20260103-other", 1)]
    kept, excluded = samples(runs)
    assert names(kept) == ["20260101-early", "20260103-other"]  # in the order given
    assert excluded == ["20260105-late (gymnasium/CartPole-v1, ppo): a repeat of seed 0 (20260101-early is that "
                        "seed's run), not another seed"]


def test_a_finished_run_is_the_seeds_before_an_earlier_unfinished_one():
    runs = [record("20260101-cut", 0, unfinished="interrupted"), record("20260102-done", 0)]
    kept, excluded = samples(runs, include_unfinished=True)
    assert names(kept) == ["20260102-done"]
    assert "20260101-cut" in excluded[0] and "a repeat of seed 0" in excluded[0]


def test_runs_of_no_recorded_seed_are_never_repeats():
    kept, excluded = samples([record("a", None), record("b", None)])
    assert names(kept) == ["a", "b"] and excluded == []


def test_the_same_seed_in_another_env_or_method_is_no_repeat():
    runs = [record("a", 0), record("b", 0, env="gymnasium/Acrobot-v1"), record("c", 0, Method("optuna"))]
    kept, excluded = samples(runs)
    assert names(kept) == ["a", "b", "c"] and excluded == []


def test_methods_differing_in_settings_are_named_by_them_and_are_not_repeats():
    few, many = Method("promptpo (m)", (("rounds", "3"),)), Method("promptpo (m)", (("rounds", "10"),))
    kept, excluded = samples([record("a", 0, few), record("b", 0, many)])
    assert excluded == []
    assert [r.method for r in kept] == ["promptpo (m) [rounds=3]", "promptpo (m) [rounds=10]"]


def test_find_runs_reads_the_folders_and_leaves_an_unreadable_one_out_with_why(tmp_path):
    shutil.copytree(FIXTURES / "runs-before-engine", tmp_path / "runs")
    broken = tmp_path / "runs" / "zz-broken"
    broken.mkdir()
    (broken / "run.json").write_text("{not json")
    unreadable: list[str] = []
    records = find_runs([str(tmp_path / "runs")], tmp_path, unreadable)
    assert sorted(r.path.name for r in records) == ["policy", "schedule"]
    assert {r.env for r in records} == {"gymnasium/CartPole-v1"}
    assert len(unreadable) == 1 and unreadable[0].startswith("zz-broken: unreadable — ")
    with pytest.raises(RunStoreError, match="run.json is not valid JSON"):
        find_runs([str(broken)], tmp_path)  # the one folder named: its error is the error


def test_find_runs_with_none_readable_is_an_error(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text("[]")
    with pytest.raises(RunStoreError, match="no run folder could be read"):
        find_runs([str(tmp_path)], tmp_path)


def test_load_run_carries_the_facts():
    run = load_run(FIXTURES / "runs-before-engine" / "policy")
    assert (run.env, run.seed, run.facts.best) == ("gymnasium/CartPole-v1", 0, "r00c0")
    assert run.method == run.facts.method.name and run.summary["best_candidate"] == "r00c0"
    assert run.curve[0].env_steps == 0 and run.eval_every is None
